//! `hapa-server`: HAPA's HTTP backend. This file is only the command line; the service is in
//! the library half of the crate.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// HAPA's backend: code generation, completion, validation and feedback for the HAPA extension.
#[derive(Debug, Parser)]
#[command(name = "hapa-server", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API until SIGTERM or Ctrl-C.
    Serve {
        /// Address to listen on; port 0 picks a free port (the chosen address is printed).
        #[arg(long, env = "HAPA_BIND", default_value = "127.0.0.1:8000")]
        bind: SocketAddr,
        /// Directory for the embedded database and caches; created if missing.
        #[arg(long, env = "HAPA_DATA_DIR", default_value = ".hapa/data")]
        data_dir: PathBuf,
    },
}

/// Prints a line on stdout; a reader that went away (a closed pipe) must not stop the server.
fn say(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    hapa_server::logging::init();
    match cli.command {
        Command::Serve { bind, data_dir } => {
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .with_context(|| format!("cannot listen on {bind}"))?;
            let local = listener.local_addr()?;
            // The first line is what tests and `cargo xtask run` wait for; keep its shape.
            say(&format!("hapa-server listening on http://{local}"));
            say(&format!("hapa-server data dir: {}", data_dir.display()));
            hapa_server::serve(listener, hapa_server::shutdown_signal()).await?;
        }
    }
    Ok(())
}
