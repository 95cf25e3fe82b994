//! `hapa-server`: HAPA's HTTP backend. This file is only the command line; the service is in
//! the library half of the crate.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hapa_server::auth::Role;
use hapa_server::limits::{Quotas, RateLimits};
use hapa_server::store::Store;
use hapa_server::{AppState, api_key};

/// HAPA's backend: code generation, completion, validation and feedback for the HAPA extension.
#[derive(Debug, Parser)]
#[command(name = "hapa-server", version, about)]
struct Cli {
    /// Directory for the embedded database; created if missing.
    #[arg(long, global = true, env = "HAPA_DATA_DIR", default_value = ".hapa/data")]
    data_dir: PathBuf,
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
        /// Requests per minute for each admin key.
        #[arg(long, env = "HAPA_RATE_LIMIT_ADMIN", default_value_t = Quotas::default().admin)]
        rate_limit_admin: NonZeroU32,
        /// Requests per minute for each user key.
        #[arg(long, env = "HAPA_RATE_LIMIT_USER", default_value_t = Quotas::default().user)]
        rate_limit_user: NonZeroU32,
        /// Requests per minute for each monitor key.
        #[arg(long, env = "HAPA_RATE_LIMIT_MONITOR", default_value_t = Quotas::default().monitor)]
        rate_limit_monitor: NonZeroU32,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Read stored feedback.
    Feedback {
        #[command(subcommand)]
        action: FeedbackAction,
    },
}

#[derive(Debug, Subcommand)]
enum FeedbackAction {
    /// Every stored feedback as JSON lines, oldest first.
    Export,
}

#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Create a key; it is printed once, as the last line of stdout, and stored only as a hash.
    Create {
        /// A unique name, e.g. the person or service it is for.
        #[arg(long)]
        name: String,
        /// admin (everything), user (generate, complete, validate, feedback) or monitor
        /// (validate, stats, metrics).
        #[arg(long, default_value = "user")]
        role: Role,
    },
    /// List keys (names, roles, hints; never the keys).
    List,
    /// Revoke a key by name; requests with it fail at once.
    Revoke {
        /// The key's name.
        #[arg(long)]
        name: String,
    },
}

/// Prints a line on stdout; a reader that went away (a closed pipe) must not stop the server.
fn say(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

async fn open_store(data_dir: &Path) -> anyhow::Result<Store> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    Store::open_sqlite(data_dir).await.with_context(|| format!("cannot open the database in {}", data_dir.display()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    hapa_server::logging::init();
    let store = open_store(&cli.data_dir).await?;
    match cli.command {
        Command::Serve { bind, rate_limit_admin, rate_limit_user, rate_limit_monitor } => {
            let quotas = Quotas { admin: rate_limit_admin, user: rate_limit_user, monitor: rate_limit_monitor };
            let listener =
                tokio::net::TcpListener::bind(bind).await.with_context(|| format!("cannot listen on {bind}"))?;
            let local = listener.local_addr()?;
            let shutdown = hapa_server::shutdown_signal();
            // The first line is what tests and `cargo xtask run` wait for; keep its shape.
            say(&format!("hapa-server listening on http://{local}"));
            say(&format!(
                "hapa-server store: SQLite at {}",
                cli.data_dir.join(hapa_server::store::DATABASE_FILE).display()
            ));
            say(&format!(
                "hapa-server rate limits per key and minute: admin {}, user {}, monitor {}",
                quotas.admin, quotas.user, quotas.monitor
            ));
            let state = AppState { store, limits: Arc::new(RateLimits::new(quotas)) };
            hapa_server::serve(listener, state, shutdown).await?;
        }
        Command::Keys { action: KeysAction::Create { name, role } } => {
            let key = api_key::generate()?;
            let info = store.create_key(&name, role, &api_key::digest(&key), &api_key::hint(&key)).await?;
            say(&format!("created key {:?} (role {}); it is shown only now:", info.name, info.role.as_str()));
            say(&key);
        }
        Command::Keys { action: KeysAction::List } => {
            for key in store.list_keys().await? {
                let state = key.revoked_at.map_or("active".to_owned(), |at| format!("revoked {at}"));
                say(&format!("{}\t{}\t{}\t{}\t{state}", key.name, key.role.as_str(), key.hint, key.created_at));
            }
        }
        Command::Feedback { action: FeedbackAction::Export } => {
            for record in store.all_feedback().await? {
                say(&serde_json::to_string(&record)?);
            }
        }
        Command::Keys { action: KeysAction::Revoke { name } } => {
            if !store.revoke_key(&name).await? {
                anyhow::bail!("no active key named {name:?}");
            }
            say(&format!("revoked key {name:?}"));
        }
    }
    Ok(())
}
