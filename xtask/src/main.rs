//! `cargo xtask`: HAPA's one build entry. It installs what the build needs (idempotently),
//! builds the WebAssembly packages and the extension, packages the .vsix, runs every test,
//! starts HAPA for a person to use and benchmarks it.
//!
//! It shells out to cargo, wasm-pack, npm and node; it must not contain product logic.

mod bench;
mod bench_editor;
mod dist;
mod eval_model;
mod run;
mod setup;
mod shell;
mod test;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Build, test and run HAPA")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install what the build and the tests need (wasm32 target, wasm-pack, wasm-bindgen-cli,
    /// npm packages, Debian packages, code-server); does nothing that is already done.
    Setup {
        /// Also install what only the end-to-end tests need (Chromium, code-server).
        #[arg(long)]
        e2e: bool,
    },
    /// Build the WebAssembly packages and the extension and package `dist/hapa-<version>.vsix`
    /// (the default).
    Dist,
    /// Every test: Rust, wasm (Node), TypeScript type-check, end to end in code-server.
    Test,
    /// Build everything, start hapa-server on 127.0.0.1:8000 and open HAPA in VS Code.
    Run,
    /// Evaluate the bundled model (reserved packages, natively and in WASM) and rewrite the
    /// figures of models/MODEL_CARD.md.
    EvalModel,
    /// Measure and print figures: `server` is hapa-server's cache-hit generate and validate
    /// under a load generator (oha) beside `GET /health`; `editor` is validation, prompt
    /// collection and completion latency as the extension sees them.
    Bench {
        what: bench::Target,
        /// How long each scenario runs.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Connections the load generator keeps open (on 2 cores, more only add latency).
        #[arg(long, default_value_t = 8)]
        connections: u32,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Dist) {
        Command::Setup { e2e } => setup::all(if e2e { setup::For::Tests } else { setup::For::Build }),
        Command::Dist => {
            setup::all(setup::For::Build)?;
            dist::build().map(|_| ())
        }
        Command::Test => test::all(),
        Command::Run => run::all(),
        Command::EvalModel => eval_model::all(),
        Command::Bench { what, seconds, connections } => bench::all(what, bench::Load { seconds, connections }),
    }
}
