//! `hapa-server`: HAPA's HTTP backend. This file is only the command line; the service is in
//! the library half of the crate.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::HeaderValue;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use hapa_server::auth::Role;
use hapa_server::cache::{self, CacheSettings, ResponseCache};
use hapa_server::config_file;
use hapa_server::inference::{Inference, Provider};
use hapa_server::limits::{AUTH_FAILURES_PER_MINUTE, AuthFailures, Quotas, RateLimits};
use hapa_server::local::{DEFAULT_MODEL_DIR, LocalModel};
use hapa_server::metrics::Metrics;
use hapa_server::redis_link::{RedisLink, RedisUrl};
use hapa_server::serve::{BODY_TIMEOUT_SECS, HEADER_TIMEOUT_SECS, parse_origin};
use hapa_server::store::Store;
use hapa_server::upstream::Upstream;
use hapa_server::{AppState, ServeOptions, api_key};

/// HAPA's backend: code generation, completion, validation and feedback for the HAPA extension.
#[derive(Debug, Parser)]
#[command(name = "hapa-server", version, about)]
struct Cli {
    /// A TOML file of settings, each keyed by its flag's long name (`hapa-server config example`
    /// writes one); flags and environment variables win over it.
    #[arg(long, global = true, env = "HAPA_CONFIG")]
    config: Option<PathBuf>,
    /// Directory for the embedded database; created if missing.
    #[arg(long, global = true, env = "HAPA_DATA_DIR", default_value = ".hapa/data")]
    data_dir: PathBuf,
    /// A PostgreSQL database to use instead of SQLite in --data-dir, e.g.
    /// postgres://hapa:secret@db.internal:5432/hapa; instances that share it share keys and
    /// feedback. Prefer the environment variable or the config file for a URL with a password:
    /// flags show in process listings.
    #[arg(long, global = true, env = "HAPA_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
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
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        cache: CacheArgs,
        /// A Redis server that instances on the same database share per-key rate limits and
        /// cached answers through, e.g. redis://127.0.0.1:6379 or redis://:secret@cache:6379/0.
        /// While it is unreachable each instance limits on its own and caches in memory.
        #[arg(long, env = "HAPA_REDIS_URL", hide_env_values = true, value_parser = RedisUrl::parse)]
        redis_url: Option<RedisUrl>,
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
    /// About the config file (--config).
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

/// The subcommands whose flags a config file may set, besides the top-level ones.
const CONFIG_SECTIONS: &[&str] = &["serve"];

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Print a config file with every setting at its built-in default, each explained.
    Example,
}

/// Which model answers generation and completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProviderKind {
    /// The bundled model in --model-dir, run in this process.
    Local,
    /// An OpenAI-compatible server at --openai-base-url (key in env HAPA_OPENAI_API_KEY).
    Openai,
}

#[derive(Debug, clap::Args)]
struct ModelArgs {
    /// Where generation and completion come from.
    #[arg(long, env = "HAPA_PROVIDER", value_enum, default_value_t = ProviderKind::Local)]
    provider: ProviderKind,
    /// The local model's directory: hapa-code.onnx, tokenizer.json, hapa-code.json. Loaded on
    /// first use; missing files are answered 503 model_unavailable.
    #[arg(long, env = "HAPA_MODEL_DIR", default_value = DEFAULT_MODEL_DIR)]
    model_dir: PathBuf,
    /// Generations the local model runs at once; more wait (until their deadline, then 503).
    /// Default: the number of CPUs.
    #[arg(long, env = "HAPA_MODEL_CONCURRENCY")]
    model_concurrency: Option<NonZeroU64>,
    /// Seconds a generation may take, waiting for the model included; 504 model_timeout after
    /// (decimals allowed).
    #[arg(long, env = "HAPA_MODEL_TIMEOUT_SECS", default_value_t = 20.0, value_parser = positive_seconds)]
    model_timeout_secs: f64,
    // Not `required_if_eq`: clap does not count a config file's value (a default to clap) as
    // given, so `inference` checks these two instead.
    /// With --provider openai: the server's base URL, up to and including /v1.
    #[arg(long, env = "HAPA_OPENAI_BASE_URL")]
    openai_base_url: Option<String>,
    /// With --provider openai: the model to ask for.
    #[arg(long, env = "HAPA_OPENAI_MODEL")]
    openai_model: Option<String>,
}

/// The response cache of generate and complete.
#[derive(Debug, clap::Args)]
struct CacheArgs {
    /// Seconds an answer of generate or complete is served again to the same key for the same
    /// request, from memory or the database; 0 turns the cache off.
    #[arg(long, env = "HAPA_CACHE_TTL_SECS", default_value_t = cache::DEFAULT_TTL_SECS)]
    cache_ttl_secs: u64,
    /// Answers the cache holds in memory (the most recently used); the rest are read back from
    /// the database.
    #[arg(long, env = "HAPA_CACHE_ENTRIES", default_value_t = cache::DEFAULT_ENTRIES)]
    cache_entries: usize,
}

impl CacheArgs {
    fn settings(&self) -> CacheSettings {
        CacheSettings { ttl: Duration::from_secs(self.cache_ttl_secs), entries: self.cache_entries }
    }
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0 => Ok(seconds),
        _ => Err(format!("{text:?} is not a number of seconds between 0 and 3600")),
    }
}

impl ModelArgs {
    fn inference(self, metrics: &Arc<Metrics>) -> anyhow::Result<Inference> {
        let provider = match self.provider {
            ProviderKind::Local => {
                let concurrency = match self.model_concurrency {
                    Some(n) => usize::try_from(n.get()).unwrap_or(usize::MAX),
                    None => std::thread::available_parallelism().map_or(1, |n| n.get()),
                };
                Provider::Local(LocalModel::new(self.model_dir, concurrency, metrics.clone()))
            }
            ProviderKind::Openai => {
                let (Some(base_url), Some(model)) = (&self.openai_base_url, &self.openai_model) else {
                    anyhow::bail!(
                        "--provider openai needs --openai-base-url and --openai-model (or HAPA_OPENAI_BASE_URL \
                         and HAPA_OPENAI_MODEL, or openai-base-url and openai-model in the config file)"
                    );
                };
                // The key only from the environment: flags show up in process listings.
                let key = std::env::var("HAPA_OPENAI_API_KEY").ok();
                let upstream = Upstream::new(base_url, model, key, metrics.clone())?;
                metrics.set_model("openai", Some(upstream.model_name()));
                Provider::OpenAi(upstream)
            }
        };
        Ok(Inference::new(provider, Duration::from_secs_f64(self.model_timeout_secs)))
    }
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

/// PostgreSQL at `database_url` when given, else SQLite in `data_dir`.
async fn open_store(data_dir: &Path, database_url: Option<&str>) -> anyhow::Result<Store> {
    if let Some(url) = database_url {
        return Store::open_postgres(url).await.map_err(|error| match error {
            hapa_server::store::StoreError::UnsupportedUrl(_) => anyhow::Error::new(error),
            error => anyhow::Error::new(error)
                .context(format!("cannot open the PostgreSQL database at {}", hapa_server::store::redacted_url(url))),
        });
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    Store::open_sqlite(data_dir).await.with_context(|| format!("cannot open the database in {}", data_dir.display()))
}

/// The link to Redis at `url`, probed once so the banner can say whether it answers.
async fn connect_redis(url: RedisUrl, store: &Store, metrics: &Arc<Metrics>) -> anyhow::Result<Arc<RedisLink>> {
    let link = Arc::new(
        RedisLink::new(url.clone(), store.namespace(), metrics.clone())
            .with_context(|| format!("cannot use Redis at {url}"))?,
    );
    if !link.probe().await {
        tracing::warn!(
            redis = %url,
            "Redis is unreachable: rate limits are per instance and cached answers come from memory until it is back"
        );
    }
    link.keep_probing();
    Ok(link)
}

/// The command line with the config file's values as the flags' defaults, and the file used.
fn parse_command_line() -> anyhow::Result<(Cli, Option<PathBuf>)> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let config = config_file::requested(Cli::command(), &args);
    let mut command = Cli::command();
    if let Some(path) = &config {
        command = config_file::apply(command, path, CONFIG_SECTIONS)?;
    }
    let cli = Cli::from_arg_matches(&command.get_matches_from(args)).unwrap_or_else(|error| error.exit());
    Ok((cli, config))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (cli, config) = parse_command_line()?;
    hapa_server::logging::init();
    if let Command::Config { action: ConfigAction::Example } = cli.command {
        // The built-in defaults, whatever --config says: they come from the flags' definitions.
        say(config_file::example(&Cli::command(), CONFIG_SECTIONS).trim_end());
        return Ok(());
    }
    let store = open_store(&cli.data_dir, cli.database_url.as_deref()).await?;
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
            model,
            cache,
            redis_url,
        } => {
            let metrics = Arc::new(Metrics::new());
            let inference = Arc::new(model.inference(&metrics)?);
            let quotas = Quotas { admin: rate_limit_admin, user: rate_limit_user, monitor: rate_limit_monitor };
            let mut cache = ResponseCache::new(store.clone(), metrics.clone(), cache.settings());
            let mut limits = RateLimits::new(quotas);
            let redis = match redis_url {
                Some(url) => Some(connect_redis(url, &store, &metrics).await?),
                None => None,
            };
            if let Some(link) = &redis {
                cache = cache.shared_through(link.clone());
                limits = limits.shared_through(link.clone());
            }
            let cache = Arc::new(cache);
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
            say(&format!("hapa-server store: {}", store.describe()));
            say(&format!("hapa-server model: {}", inference.describe()));
            say(&format!("hapa-server response cache: {}", cache.describe()));
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
            say(&match &config {
                Some(path) => format!(
                    "hapa-server config file: {}",
                    std::path::absolute(path).as_deref().unwrap_or(path).display()
                ),
                None => "hapa-server config file: none (flags, environment and built-in defaults)".to_owned(),
            });
            say(&match &redis {
                Some(link) if link.is_up() => {
                    format!("hapa-server Redis: {}, reachable: rate limits and cached answers are shared", link.url())
                }
                Some(link) => format!(
                    "hapa-server Redis: {}, unreachable for now: limiting per instance and caching in memory \
                     until it answers",
                    link.url()
                ),
                None => "hapa-server Redis: none (rate limits and cached answers are per instance)".to_owned(),
            });
            let state = AppState {
                keys: Arc::new(hapa_server::key_cache::KeyCache::for_store(&store)),
                store,
                limits: Arc::new(limits),
                auth_failures: Arc::new(AuthFailures::new(auth_failure_limit)),
                metrics,
                inference,
                cache,
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
        Command::Config { action: ConfigAction::Example } => unreachable!("answered before the store is opened"),
    }
    Ok(())
}
