//! Durable state: API keys, feedback, and the response cache's second level (`crate::cache`),
//! in one of two databases behind the same [`Store`]:
//!
//! - SQLite in the data dir, the embedded default ([`sqlite`]): WAL and `synchronous=FULL`, so
//!   what was acknowledged survives `kill -9` and power loss.
//! - PostgreSQL, with `--database-url postgres://…` ([`postgres`]), which several instances
//!   share; a commit is durable before it returns (PostgreSQL's default `synchronous_commit`).
//!
//! Both behave the same: key names are unique, a revoked key is refused by the next lookup,
//! feedback is stored before its 201. Each database also holds a random [`Store::namespace`]
//! made when it is first opened, so that what instances share outside it (Redis) is shared by
//! exactly the instances that share the database, whose key ids mean the same keys.

mod postgres;
mod sqlite;

use std::path::Path;

use hapa_protocol::api::{FeedbackEvent, FeedbackRecord, FeedbackRequest};

use crate::auth::{Caller, Role};

pub use postgres::{is_postgres_url, redacted_url};
pub use sqlite::DATABASE_FILE;

/// The store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (IO, corruption, busy beyond the timeout, unreachable...).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A key with this name already exists.
    #[error("a key named {0:?} already exists; pick another name or revoke it first")]
    DuplicateName(String),
    /// A stored feedback event is not one this server knows (a newer server wrote it?).
    #[error("stored feedback event {0:?} is unknown to this server")]
    UnknownEvent(String),
    /// A stored role is not one this server knows (a newer server wrote it?).
    #[error("stored role {0:?} is unknown to this server")]
    UnknownRole(String),
    /// `--database-url` names a database this server cannot use.
    #[error(
        "--database-url must be a PostgreSQL URL (postgres://user:password@host:port/database), \
         not {0:?}; leave it out to use SQLite in --data-dir"
    )]
    UnsupportedUrl(String),
}

/// One API key as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Store id; owner of what the key creates.
    pub id: i64,
    /// Human name, unique.
    pub name: String,
    /// What the key may do.
    pub role: Role,
    /// The key's first characters, to recognise it.
    pub hint: String,
    /// When it was created (UTC, ISO 8601).
    pub created_at: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
}

/// Handle to the database; cheap to clone (a pool).
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    namespace: String,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

/// Calls the same method on whichever database the store has.
macro_rules! on_backend {
    ($store:expr, $database:ident => $call:expr) => {
        match &$store.backend {
            Backend::Sqlite($database) => $call,
            Backend::Postgres($database) => $call,
        }
    };
}

impl Store {
    /// Opens (creating if needed) the SQLite database in `data_dir`.
    pub async fn open_sqlite(data_dir: &Path) -> Result<Self, StoreError> {
        let database = sqlite::Sqlite::open(data_dir).await?;
        let namespace = database.namespace().await?;
        Ok(Self { backend: Backend::Sqlite(database), namespace })
    }

    /// Connects to the PostgreSQL database at `url` and creates its tables if they are missing
    /// (one instance at a time, so instances started together do not race).
    pub async fn open_postgres(url: &str) -> Result<Self, StoreError> {
        let database = postgres::Postgres::open(url).await?;
        let namespace = database.namespace().await?;
        Ok(Self { backend: Backend::Postgres(database), namespace })
    }

    /// Where the data is, for the serve banner and errors: a file, or PostgreSQL's address and
    /// database (never the password).
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Sqlite(database) => format!("SQLite at {}", database.path().display()),
            Backend::Postgres(database) => format!("PostgreSQL at {}", database.address()),
        }
    }

    /// The SQLite database file; `None` for PostgreSQL.
    pub fn sqlite_file(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite(database) => Some(database.path()),
            Backend::Postgres(_) => None,
        }
    }

    /// A random id made when the database was created (32 hex digits). Instances that share
    /// the database share it, and key ids are only meaningful within it, so whatever is keyed
    /// by key id outside the database (in Redis) is prefixed with it.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Stores a new key by its digest.
    pub async fn create_key(&self, name: &str, role: Role, digest: &str, hint: &str) -> Result<KeyInfo, StoreError> {
        on_backend!(self, database => database.create_key(name, role, digest, hint).await)
    }

    /// Every key, oldest first.
    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>, StoreError> {
        on_backend!(self, database => database.list_keys().await)
    }

    /// Revokes the key named `name`; `false` when there is no such active key. With SQLite
    /// the revocation is also noted beside the database file for the servers running on it
    /// ([`crate::key_cache::note_revocation`]).
    pub async fn revoke_key(&self, name: &str) -> Result<bool, StoreError> {
        on_backend!(self, database => database.revoke_key(name).await)
    }

    /// The caller a key digest belongs to, unless unknown or revoked.
    pub async fn caller_for_digest(&self, digest: &str) -> Result<Option<Caller>, StoreError> {
        on_backend!(self, database => database.caller_for_digest(digest).await)
    }

    /// Stores one feedback; when this returns, it is durable.
    pub async fn record_feedback(&self, key_id: i64, feedback: &FeedbackRequest) -> Result<i64, StoreError> {
        on_backend!(self, database => database.record_feedback(key_id, feedback).await)
    }

    /// Every stored feedback, oldest first.
    pub async fn all_feedback(&self) -> Result<Vec<FeedbackRecord>, StoreError> {
        on_backend!(self, database => database.all_feedback().await)
    }
}

/// The response cache's table: answers as JSON by key digest, each with the API key it belongs
/// to and when it was written (milliseconds since the Unix epoch). Freshness is decided by the
/// reader's TTL, not stored, so a server restarted with a shorter TTL serves nothing older.
impl Store {
    /// The body and write time of the answer `owner` has under `key`, if it was written after
    /// `fresh_after_ms` and not after `now_ms` (a clock that stepped back finds nothing).
    pub async fn cached_response(
        &self,
        key: &[u8],
        owner: i64,
        fresh_after_ms: i64,
        now_ms: i64,
    ) -> Result<Option<(String, i64)>, StoreError> {
        on_backend!(self, database => database.cached_response(key, owner, fresh_after_ms, now_ms).await)
    }

    /// Stores `body` as `owner`'s answer under `key`, replacing any older one.
    pub async fn store_cached_response(
        &self,
        key: &[u8],
        owner: i64,
        body: &str,
        written_ms: i64,
    ) -> Result<(), StoreError> {
        on_backend!(self, database => database.store_cached_response(key, owner, body, written_ms).await)
    }

    /// Deletes the answers written at or before `stale_at_ms`, and all but the newest `keep`;
    /// how many were deleted.
    pub async fn sweep_cached_responses(&self, stale_at_ms: i64, keep: u64) -> Result<u64, StoreError> {
        on_backend!(self, database => database.sweep_cached_responses(stale_at_ms, keep).await)
    }
}

/// A new namespace id: 128 random bits as hex.
fn new_namespace() -> Result<String, StoreError> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random)
        .map_err(|error| StoreError::Database(sqlx::Error::Protocol(format!("no randomness available: {error}"))))?;
    Ok(random.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// A role as stored, back to a [`Role`].
fn role_from_name(name: String) -> Result<Role, StoreError> {
    name.parse().map_err(|_| StoreError::UnknownRole(name))
}

const EVENTS: [(FeedbackEvent, &str); 5] = [
    (FeedbackEvent::View, "view"),
    (FeedbackEvent::Accept, "accept"),
    (FeedbackEvent::Dismiss, "dismiss"),
    (FeedbackEvent::Up, "up"),
    (FeedbackEvent::Down, "down"),
];

fn event_name(event: FeedbackEvent) -> &'static str {
    EVENTS.iter().find(|(e, _)| *e == event).map_or("view", |(_, name)| name)
}

fn event_from_name(name: String) -> Result<FeedbackEvent, StoreError> {
    EVENTS.iter().find(|(_, n)| *n == name).map(|(event, _)| *event).ok_or(StoreError::UnknownEvent(name))
}
