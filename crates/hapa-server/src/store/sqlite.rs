//! The embedded default database: SQLite in the data dir, WAL with `synchronous=FULL`, so what
//! was acknowledged survives `kill -9` and power loss.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use hapa_protocol::api::{FeedbackRecord, FeedbackRequest};

use super::{KeyInfo, StoreError, event_from_name, event_name, new_namespace, role_from_name};
use crate::auth::{Caller, Role};

/// File name of the database inside the data dir.
pub const DATABASE_FILE: &str = "hapa.sqlite3";

/// A pool of connections to the database file.
#[derive(Debug, Clone)]
pub(super) struct Sqlite {
    pool: SqlitePool,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS api_keys (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL,
    digest      TEXT NOT NULL UNIQUE,
    hint        TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    revoked_at  TEXT
);
CREATE TABLE IF NOT EXISTS feedback (
    id            INTEGER PRIMARY KEY,
    key_id        INTEGER NOT NULL REFERENCES api_keys(id),
    request_id    TEXT,
    completion_id TEXT,
    event         TEXT NOT NULL,
    comment       TEXT,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE IF NOT EXISTS response_cache (
    key         BLOB PRIMARY KEY,
    owner       INTEGER NOT NULL,
    body        TEXT NOT NULL,
    written_ms  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS response_cache_by_age ON response_cache (written_ms);
CREATE TABLE IF NOT EXISTS store_meta (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
";

impl Sqlite {
    /// Opens (creating if needed) the database in `data_dir`.
    pub(super) async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(DATABASE_FILE);
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        Ok(Self { pool, path })
    }

    /// The database file.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The database's namespace id, made on first use (see `Store::namespace`).
    pub(super) async fn namespace(&self) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO store_meta (name, value) VALUES ('namespace', ?) ON CONFLICT (name) DO NOTHING")
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
        let inserted = sqlx::query("INSERT INTO api_keys (name, role, digest, hint) VALUES (?, ?, ?, ?) RETURNING id")
            .bind(name)
            .bind(role.as_str())
            .bind(digest)
            .bind(hint)
            .fetch_one(&self.pool)
            .await;
        let id: i64 = match inserted {
            Ok(row) => row.get(0),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::DuplicateName(name.to_owned()));
            }
            Err(e) => return Err(e.into()),
        };
        let keys = self.list_keys().await?;
        keys.into_iter().find(|k| k.id == id).ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    /// Every key, oldest first.
    pub(super) async fn list_keys(&self) -> Result<Vec<KeyInfo>, StoreError> {
        let rows = sqlx::query("SELECT id, name, role, hint, created_at, revoked_at FROM api_keys ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(KeyInfo {
                    id: row.get("id"),
                    name: row.get("name"),
                    role: role_from_name(row.get("role"))?,
                    hint: row.get("hint"),
                    created_at: row.get("created_at"),
                    revoked_at: row.get("revoked_at"),
                })
            })
            .collect()
    }

    /// Revokes the key named `name`; `false` when there is no such active key.
    pub(super) async fn revoke_key(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') \
             WHERE name = ? AND revoked_at IS NULL",
        )
        .bind(name)
        .execute(&self.pool)
        .await?;
        crate::key_cache::note_revocation(&self.path).map_err(sqlx::Error::Io)?;
        Ok(done.rows_affected() == 1)
    }

    /// The caller a key digest belongs to, unless unknown or revoked.
    pub(super) async fn caller_for_digest(&self, digest: &str) -> Result<Option<Caller>, StoreError> {
        let row = sqlx::query("SELECT id, role FROM api_keys WHERE digest = ? AND revoked_at IS NULL")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok(Caller { key_id: row.get("id"), role: role_from_name(row.get("role"))? })).transpose()
    }

    /// Stores one feedback; when this returns, it is on disk (`synchronous=FULL`).
    pub(super) async fn record_feedback(&self, key_id: i64, feedback: &FeedbackRequest) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO feedback (key_id, request_id, completion_id, event, comment) \
             VALUES (?, ?, ?, ?, ?) RETURNING id",
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
        let rows = sqlx::query(
            "SELECT f.id, k.name, f.request_id, f.completion_id, f.event, f.comment, f.created_at \
             FROM feedback f JOIN api_keys k ON k.id = f.key_id ORDER BY f.id",
        )
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
impl Sqlite {
    /// The body and write time of the answer `owner` has under `key`, if it was written after
    /// `fresh_after_ms` and not after `now_ms` (a clock that stepped back finds nothing).
    pub(super) async fn cached_response(
        &self,
        key: &[u8],
        owner: i64,
        fresh_after_ms: i64,
        now_ms: i64,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let row = sqlx::query(
            "SELECT body, written_ms FROM response_cache \
             WHERE key = ? AND owner = ? AND written_ms > ? AND written_ms <= ?",
        )
        .bind(key)
        .bind(owner)
        .bind(fresh_after_ms)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
    }

    /// Stores `body` as `owner`'s answer under `key`, replacing any older one.
    pub(super) async fn store_cached_response(
        &self,
        key: &[u8],
        owner: i64,
        body: &str,
        written_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO response_cache (key, owner, body, written_ms) VALUES (?, ?, ?, ?) \
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

    /// Deletes the answers written at or before `stale_at_ms`, and all but the newest `keep`;
    /// how many were deleted.
    pub(super) async fn sweep_cached_responses(&self, stale_at_ms: i64, keep: u64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM response_cache WHERE written_ms <= ? OR key IN \
             (SELECT key FROM response_cache ORDER BY written_ms DESC LIMIT -1 OFFSET ?)",
        )
        .bind(stale_at_ms)
        .bind(i64::try_from(keep).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
