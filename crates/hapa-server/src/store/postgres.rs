//! PostgreSQL (`--database-url postgres://…`), the database several instances share. The
//! tables are those of SQLite with PostgreSQL's types; times are `timestamptz`, shown in the
//! same ISO 8601 UTC form. A commit returns once it is durable (the default
//! `synchronous_commit = on`), so a 201 for feedback is as safe as with SQLite.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Row};

use hapa_protocol::api::{FeedbackRecord, FeedbackRequest};

use super::{KeyInfo, StoreError, event_from_name, event_name, new_namespace, role_from_name};
use crate::auth::{Caller, Role};

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    ["postgres://", "postgresql://"]
        .iter()
        .any(|scheme| url.get(..scheme.len()).is_some_and(|s| s.eq_ignore_ascii_case(scheme)))
}

/// How long a request waits for a free connection (or for PostgreSQL to answer a connect)
/// before it fails, rather than hanging while the database is unreachable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// An arbitrary constant: the advisory lock that makes instances create the tables one at a
/// time (`CREATE TABLE IF NOT EXISTS` run concurrently can fail on PostgreSQL's catalog).
const SCHEMA_LOCK: i64 = 0x6861_7061_7363_6865;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS api_keys (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL,
    digest      TEXT NOT NULL UNIQUE,
    hint        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at  TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS feedback (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_id        BIGINT NOT NULL REFERENCES api_keys(id),
    request_id    TEXT,
    completion_id TEXT,
    event         TEXT NOT NULL,
    comment       TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS response_cache (
    key         BYTEA PRIMARY KEY,
    owner       BIGINT NOT NULL,
    body        TEXT NOT NULL,
    written_ms  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS response_cache_by_age ON response_cache (written_ms);
CREATE TABLE IF NOT EXISTS store_meta (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
";

/// A `timestamptz` column as SQLite's stores it: `2025-01-31T12:00:00Z`.
macro_rules! iso_utc {
    ($column:literal) => {
        concat!("to_char(", $column, " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
    };
}

/// A pool of connections to the database.
#[derive(Debug, Clone)]
pub(super) struct Postgres {
    pool: PgPool,
    /// `user@host:port/database`, never the password.
    address: String,
}

impl Postgres {
    /// Connects, and creates the tables if they are missing.
    pub(super) async fn open(url: &str) -> Result<Self, StoreError> {
        if !is_postgres_url(url) {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        }
        let options = PgConnectOptions::from_str(url)?.application_name("hapa-server");
        let address = address(&options);
        // One connection of its own first: the pool would only say that it timed out, where
        // this says why (refused, unknown host, wrong password...).
        let mut connection = tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in 5 s")))??;
        let mut schema = connection.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(SCHEMA_LOCK).execute(&mut *schema).await?;
        sqlx::raw_sql(SCHEMA).execute(&mut *schema).await?;
        schema.commit().await?;
        connection.close().await?;
        let pool = PgPoolOptions::new().max_connections(16).acquire_timeout(ACQUIRE_TIMEOUT).connect_lazy_with(options);
        Ok(Self { pool, address })
    }

    /// `user@host:port/database`.
    pub(super) fn address(&self) -> &str {
        &self.address
    }

    /// The database's namespace id, made on first use (see `Store::namespace`).
    pub(super) async fn namespace(&self) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO store_meta (name, value) VALUES ('namespace', $1) ON CONFLICT (name) DO NOTHING")
            .bind(new_namespace()?)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query("SELECT value FROM store_meta WHERE name = 'namespace'").fetch_one(&self.pool).await?;
        Ok(row.get(0))
    }

    /// Stores a new key by its digest.
    pub(super) async fn create_key(
        &self,
        name: &str,
        role: Role,
        digest: &str,
        hint: &str,
    ) -> Result<KeyInfo, StoreError> {
        let inserted = sqlx::query(concat!(
            "INSERT INTO api_keys (name, role, digest, hint) VALUES ($1, $2, $3, $4) \
             RETURNING id, name, role, hint, ",
            iso_utc!("created_at"),
            ", ",
            iso_utc!("revoked_at"),
        ))
        .bind(name)
        .bind(role.as_str())
        .bind(digest)
        .bind(hint)
        .fetch_one(&self.pool)
        .await;
        match inserted {
            Ok(row) => key_info(&row),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::DuplicateName(name.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// Every key, oldest first.
    pub(super) async fn list_keys(&self) -> Result<Vec<KeyInfo>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT id, name, role, hint, ",
            iso_utc!("created_at"),
            ", ",
            iso_utc!("revoked_at"),
            " FROM api_keys ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_info).collect()
    }

    /// Revokes the key named `name`; `false` when there is no such active key.
    pub(super) async fn revoke_key(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The caller a key digest belongs to, unless unknown or revoked.
    pub(super) async fn caller_for_digest(&self, digest: &str) -> Result<Option<Caller>, StoreError> {
        let row = sqlx::query("SELECT id, role FROM api_keys WHERE digest = $1 AND revoked_at IS NULL")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok(Caller { key_id: row.get("id"), role: role_from_name(row.get("role"))? })).transpose()
    }

    /// Stores one feedback; when this returns, it is committed.
    pub(super) async fn record_feedback(&self, key_id: i64, feedback: &FeedbackRequest) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO feedback (key_id, request_id, completion_id, event, comment) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(key_id)
        .bind(&feedback.request_id)
        .bind(&feedback.completion_id)
        .bind(event_name(feedback.event))
        .bind(&feedback.comment)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get(0))
    }

    /// Every stored feedback, oldest first.
    pub(super) async fn all_feedback(&self) -> Result<Vec<FeedbackRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT f.id, k.name, f.request_id, f.completion_id, f.event, f.comment, ",
            iso_utc!("f.created_at"),
            " FROM feedback f JOIN api_keys k ON k.id = f.key_id ORDER BY f.id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(FeedbackRecord {
                    id: row.get(0),
                    key_name: row.get(1),
                    feedback: FeedbackRequest {
                        request_id: row.get(2),
                        completion_id: row.get(3),
                        event: event_from_name(row.get(4))?,
                        comment: row.get(5),
                    },
                    created_at: row.get(6),
                })
            })
            .collect()
    }
}

/// The response cache's table (see `Store::cached_response`).
impl Postgres {
    pub(super) async fn cached_response(
        &self,
        key: &[u8],
        owner: i64,
        fresh_after_ms: i64,
        now_ms: i64,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let row = sqlx::query(
            "SELECT body, written_ms FROM response_cache \
             WHERE key = $1 AND owner = $2 AND written_ms > $3 AND written_ms <= $4",
        )
        .bind(key)
        .bind(owner)
        .bind(fresh_after_ms)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
    }

    pub(super) async fn store_cached_response(
        &self,
        key: &[u8],
        owner: i64,
        body: &str,
        written_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO response_cache (key, owner, body, written_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, body = excluded.body, \
             written_ms = excluded.written_ms",
        )
        .bind(key)
        .bind(owner)
        .bind(body)
        .bind(written_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn sweep_cached_responses(&self, stale_at_ms: i64, keep: u64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM response_cache WHERE written_ms <= $1 OR key IN \
             (SELECT key FROM response_cache ORDER BY written_ms DESC OFFSET $2)",
        )
        .bind(stale_at_ms)
        .bind(i64::try_from(keep).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

/// `url` as `user@host:port/database`, without its password, for messages; or a placeholder
/// when it does not parse.
pub fn redacted_url(url: &str) -> String {
    PgConnectOptions::from_str(url)
        .map_or_else(|_| "(a URL that does not parse)".to_owned(), |options| address(&options))
}

/// Where `options` connect: `user@host:port/database` or `user@socket/database`.
fn address(options: &PgConnectOptions) -> String {
    let place = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    let user = options.get_username();
    format!("{user}@{place}/{}", options.get_database().unwrap_or(user))
}

/// A row of `id, name, role, hint, created_at, revoked_at`.
fn key_info(row: &sqlx::postgres::PgRow) -> Result<KeyInfo, StoreError> {
    Ok(KeyInfo {
        id: row.get(0),
        name: row.get(1),
        role: role_from_name(row.get(2))?,
        hint: row.get(3),
        created_at: row.get(4),
        revoked_at: row.get(5),
    })
}
