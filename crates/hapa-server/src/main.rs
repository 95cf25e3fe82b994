//! `hapa-server`: HAPA's HTTP backend. This file is only the command line; the service is in
//! the library half of the crate.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::HeaderValue;
use clap::{Parser, Subcommand};
use hapa_server::auth::Role;
use hapa_server::limits::{AUTH_FAILURES_PER_MINUTE, AuthFailures, Quotas, RateLimits};
use hapa_server::metrics::Metrics;
use hapa_server::serve::{BODY_TIMEOUT_SECS, HEADER_TIMEOUT_SECS, parse_origin};
use hapa_server::store::Store;
use hapa_server::{AppState, ServeOptions, api_key};

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
        /// Failed authentications (no key, a wrong or revoked one) per client address and minute;
        /// past it the address gets 429 before any key lookup.
        #[arg(long, env = "HAPA_AUTH_FAILURE_LIMIT", default_value_t = AUTH_FAILURES_PER_MINUTE)]
        auth_failure_limit: NonZeroU32,
        /// Seconds a client may take to send a request's headers; the connection is closed after.
        #[arg(long, env = "HAPA_HEADER_TIMEOUT_SECS", default_value_t = HEADER_TIMEOUT_SECS)]
        header_timeout_secs: NonZeroU64,
        /// Seconds a client may take to send a request's body; answered 408 after.
        #[arg(long, env = "HAPA_BODY_TIMEOUT_SECS", default_value_t = BODY_TIMEOUT_SECS)]
        body_timeout_secs: NonZeroU64,
        /// An origin whose web pages may call the API (CORS), e.g. https://example.com; repeat it
        /// for several, or give HAPA_CORS_ORIGINS comma-separated. None by default.
        #[arg(long = "cors-origin", env = "HAPA_CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
        cors_origins: Vec<HeaderValue>,
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
        Command::Serve {
            bind,
            rate_limit_admin,
            rate_limit_user,
            rate_limit_monitor,
            auth_failure_limit,
            header_timeout_secs,
            body_timeout_secs,
            cors_origins,
        } => {
            let quotas = Quotas { admin: rate_limit_admin, user: rate_limit_user, monitor: rate_limit_monitor };
            let options = ServeOptions {
                header_timeout: Duration::from_secs(header_timeout_secs.get()),
                body_timeout: Duration::from_secs(body_timeout_secs.get()),
                cors_origins,
            };
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
            say(&format!(
                "hapa-server failed authentications per address and minute: {auth_failure_limit}; \
                 timeouts: headers {header_timeout_secs} s, body {body_timeout_secs} s; CORS origins: {}",
                if options.cors_origins.is_empty() {
                    "none".to_owned()
                } else {
                    options.cors_origins.iter().filter_map(|o| o.to_str().ok()).collect::<Vec<_>>().join(", ")
                }
            ));
            let state = AppState {
                store,
                limits: Arc::new(RateLimits::new(quotas)),
                auth_failures: Arc::new(AuthFailures::new(auth_failure_limit)),
                metrics: Arc::new(Metrics::new()),
            };
            hapa_server::serve(listener, state, options, shutdown).await?;
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
