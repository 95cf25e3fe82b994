//! The link to Redis (`--redis-url`), which instances of hapa-server share: per-key rate limits
//! (`crate::limits`) and the response cache's second level (`crate::cache`).
//!
//! Redis is a help, never a dependency: when it cannot be reached, each request is served
//! without it at once (the in-process limiter, the in-memory cache) instead of waiting on it.
//! The link is either up or down. A command that fails takes it down; while down, requests do
//! not try Redis at all, and a probe (`PING`, every second) brings it back up. Each change is
//! logged once (a warning when it goes down, so one per outage, not one per request) and shown
//! in the `hapa_redis_up` gauge; every request served without Redis while it is configured is
//! counted in `hapa_redis_fallbacks_total`.
//!
//! Every key is prefixed with the store's namespace (`crate::store::Store::namespace`): key ids
//! mean the same keys only within one database, so instances share Redis keys exactly when they
//! share the database.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::metrics::{Metrics, RedisUse};

/// Longest a request waits on Redis before it goes on without it.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// How often the link is probed, up or down.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// A `--redis-url` that parses: `redis://[:password@]host[:port][/db]` or
/// `redis+unix:///path`. Shown without its password.
#[derive(Clone)]
pub struct RedisUrl {
    /// Boxed: a client is several hundred bytes, and the URL sits in the command line's enum.
    client: Box<redis::Client>,
}

impl RedisUrl {
    /// Checks `text` as a Redis URL, for the flag's value parser.
    pub fn parse(text: &str) -> Result<Self, String> {
        redis::Client::open(text).map(|client| Self { client: Box::new(client) }).map_err(|error| {
            format!("{text:?} is not a Redis URL like redis://127.0.0.1:6379 or redis://:password@host:6379/0: {error}")
        })
    }
}

impl fmt::Display for RedisUrl {
    /// Where Redis is: address and database number, never the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.client.get_connection_info();
        write!(f, "{}/{}", info.addr(), info.redis_settings().db())
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

/// The shared connection to Redis and whether it is usable now; shared by every request.
pub struct RedisLink {
    connection: ConnectionManager,
    url: RedisUrl,
    prefix: String,
    up: AtomicBool,
    metrics: Arc<Metrics>,
}

impl fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLink").field("url", &self.url).field("up", &self.is_up()).finish_non_exhaustive()
    }
}

impl RedisLink {
    /// A link to `url` for the store whose namespace is `namespace`, down until its first
    /// probe succeeds. Connecting happens on the first probe; `serve` awaits one before it
    /// says whether Redis is reachable, then [`RedisLink::keep_probing`].
    pub fn new(url: RedisUrl, namespace: &str, metrics: Arc<Metrics>) -> Result<Self, redis::RedisError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            // One attempt per reconnection: the probe tries again a second later anyway.
            .set_number_of_retries(0);
        let connection = ConnectionManager::new_lazy_with_config(*url.client.clone(), config)?;
        metrics.set_redis_up(false);
        Ok(Self { connection, url, prefix: format!("hapa:{namespace}:"), up: AtomicBool::new(false), metrics })
    }

    /// Where Redis is, without the password.
    pub fn url(&self) -> &RedisUrl {
        &self.url
    }

    /// Whether the last command or probe succeeded.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// `hapa:{namespace}:{kind}:{rest}`, the name of one of this store's keys in Redis.
    pub fn key(&self, kind: &str, rest: &str) -> String {
        format!("{}{kind}:{rest}", self.prefix)
    }

    /// `PING`s Redis and marks the link up or down by the answer; whether it is up.
    pub async fn probe(&self) -> bool {
        let answer =
            self.command(|mut connection| async move { redis::cmd("PING").query_async::<()>(&mut connection).await });
        match answer.await {
            Ok(()) => self.mark_up(),
            Err(error) => self.mark_down(&error),
        }
        self.is_up()
    }

    /// Probes every [`PROBE_INTERVAL`] for as long as the link lives, so an outage is noticed
    /// without traffic and the end of one is noticed at all.
    pub fn keep_probing(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let link = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(PROBE_INTERVAL);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(link) = link.upgrade() else { return };
                link.probe().await;
            }
        })
    }

    /// Runs `command` for `purpose` if the link is up; `None` (counted as a fallback) when it
    /// is down or the command fails, which takes it down.
    pub async fn run<T, F, Fut>(&self, purpose: RedisUse, command: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !self.is_up() {
            self.metrics.redis_fallback(purpose);
            return None;
        }
        match self.command(command).await {
            Ok(value) => Some(value),
            Err(error) => {
                self.mark_down(&error);
                self.metrics.redis_fallback(purpose);
                None
            }
        }
    }

    /// `command` on the shared connection, given at most [`COMMAND_TIMEOUT`] (connecting
    /// included).
    async fn command<T, F, Fut>(&self, command: F) -> redis::RedisResult<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(COMMAND_TIMEOUT, command(self.connection.clone())).await {
            Ok(answer) => answer,
            Err(_) => Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()),
        }
    }

    fn mark_up(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            self.metrics.set_redis_up(true);
            tracing::info!(redis = %self.url, "Redis is reachable: rate limits and the response cache are shared");
        }
    }

    fn mark_down(&self, error: &redis::RedisError) {
        if self.up.swap(false, Ordering::Relaxed) {
            self.metrics.set_redis_up(false);
            tracing::warn!(
                redis = %self.url,
                %error,
                "Redis is unreachable: rate limits are per instance and cached answers come from memory \
                 until it is back"
            );
        }
    }
}
