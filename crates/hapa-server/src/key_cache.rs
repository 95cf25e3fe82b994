//! The API keys this server has recently authenticated, in memory: key digest → [`Caller`] for
//! active keys, so that a request with a known key does no database round trip.
//!
//! Revocation must still take effect at once, also when `hapa-server keys revoke` runs as another
//! process against the same store. So every lookup first checks a *revocation stamp*, and any
//! change flushes the whole cache:
//!
//! [`note_revocation`] (called by the SQLite store after a revocation commits) appends a byte to
//! [`REVOCATIONS_FILE`] beside the database and syncs it; the stamp is that file's metadata (one
//! `stat`, about a microsecond). The file only grows, so no two revocations leave the same stamp,
//! however close together they come.
//!
//! With PostgreSQL there is no cache ([`KeyCache::for_store`]): a revocation made through another
//! instance or host could only be announced (`NOTIFY`), and an announcement arrives a moment
//! after the revoking command returns, so every request asks the database instead.
//!
//! Only hits are cached: an unknown digest is asked of the database every time, so a key created
//! while the server runs works on its first request (and guessing is bounded by
//! [`crate::limits::AuthFailures`], not by this cache). A lookup that raced a revocation cannot put
//! the revoked key back: an answer read from the database is kept only if no revocation was seen
//! since the lookup began ([`KeyCache::caller`]).
//!
//! The map is keyed by the key's SHA-256, never the key; a digest's hash and comparison leak
//! nothing usable about the key, as the database's index lookup on the same digest does not.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use crate::auth::Caller;
use crate::store::{Store, StoreError};

/// The file in the data dir that grows by one byte per revocation.
pub const REVOCATIONS_FILE: &str = "revocations";

/// Active keys kept at most; past it an arbitrary one is forgotten for each new one (and simply
/// looked up again next time).
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Records a revocation for the servers that run on the database whose file is `database_file`
/// (SQLite): appends a byte to [`REVOCATIONS_FILE`] beside it and syncs it. Call it after the
/// revocation has committed; an error means running servers may not have seen it.
pub fn note_revocation(database_file: &Path) -> std::io::Result<()> {
    let marker = database_file.with_file_name(REVOCATIONS_FILE);
    let mut file = OpenOptions::new().create(true).append(true).open(marker)?;
    file.write_all(b"r")?;
    file.sync_data()
}

/// Digest → caller for active keys; see the module's documentation. Shared by every request.
#[derive(Debug)]
pub struct KeyCache {
    /// `None`: switched off, every lookup asks the database.
    cached: Option<Cached>,
}

#[derive(Debug)]
struct Cached {
    revocations: Revocations,
    capacity: usize,
    state: Mutex<State>,
}

/// Where revocations are noted: [`REVOCATIONS_FILE`] at this path.
#[derive(Debug)]
struct Revocations(PathBuf);

/// What the revocation source said when last asked. Any difference means "something was
/// revoked", never which key, so the whole cache goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    /// Not asked yet.
    Unknown,
    /// No revocations file (yet), or it could not be read: then nothing is cached at all.
    Unreadable,
    /// The revocations file's identity, length and modification time.
    File { device: u64, inode: u64, length: u64, modified: Option<SystemTime> },
}

#[derive(Debug)]
struct State {
    stamp: Stamp,
    /// Bumped at every flush: an answer from the database is kept only under the epoch its
    /// lookup began in.
    epoch: u64,
    callers: HashMap<String, Caller>,
}

impl KeyCache {
    /// A cache that follows the revocations file in `data_dir` (SQLite's data dir).
    pub fn watching_file(data_dir: &Path) -> Self {
        Self::with(Revocations(data_dir.join(REVOCATIONS_FILE)))
    }

    /// The cache for `store`: following the revocations file beside an SQLite database; none
    /// for PostgreSQL (see the module's documentation).
    pub fn for_store(store: &Store) -> Self {
        match store.sqlite_file().and_then(Path::parent) {
            Some(data_dir) => Self::watching_file(data_dir),
            None => Self::disabled(),
        }
    }

    /// No cache: every lookup asks the database.
    pub fn disabled() -> Self {
        Self { cached: None }
    }

    /// The same cache holding at most `capacity` keys (zero switches it off).
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        match &mut self.cached {
            Some(_) if capacity == 0 => self.cached = None,
            Some(cached) => cached.capacity = capacity,
            None => {}
        }
        self
    }

    fn with(revocations: Revocations) -> Self {
        let state = State { stamp: Stamp::Unknown, epoch: 0, callers: HashMap::new() };
        Self { cached: Some(Cached { revocations, capacity: DEFAULT_CAPACITY, state: Mutex::new(state) }) }
    }

    /// Whether lookups are cached at all.
    pub fn is_enabled(&self) -> bool {
        self.cached.is_some()
    }

    /// The caller the key with this digest belongs to, unless it is unknown or revoked: from
    /// memory when this key was seen since the last revocation, else from `store` (and then
    /// remembered, if it is active and nothing was revoked meanwhile).
    pub async fn caller(&self, store: &Store, digest: &str) -> Result<Option<Caller>, StoreError> {
        let epoch = match self.lookup(digest) {
            Ok(caller) => return Ok(Some(caller)),
            Err(epoch) => epoch,
        };
        let found = store.caller_for_digest(digest).await?;
        if let (Some(epoch), Some(caller)) = (epoch, &found) {
            self.remember(epoch, digest, caller);
        }
        Ok(found)
    }

    /// The remembered caller for `digest`, or the epoch to [`KeyCache::remember`] the database's
    /// answer under (`None` when the cache is off).
    fn lookup(&self, digest: &str) -> Result<Caller, Option<u64>> {
        let Some(cached) = &self.cached else { return Err(None) };
        let state = cached.current();
        state.callers.get(digest).cloned().ok_or(Some(state.epoch))
    }

    /// Keeps `caller` for `digest`, unless a revocation was seen since `epoch` began: it may be
    /// this key's, and what the database said before it must not outlive it (the next request
    /// asks again).
    fn remember(&self, epoch: u64, digest: &str, caller: &Caller) {
        let Some(cached) = &self.cached else { return };
        let mut state = cached.current();
        if state.epoch != epoch || state.stamp == Stamp::Unreadable {
            return;
        }
        if state.callers.len() >= cached.capacity
            && let Some(evicted) = state.callers.keys().next().cloned()
        {
            state.callers.remove(&evicted);
        }
        state.callers.insert(digest.to_owned(), caller.clone());
    }

    /// Keys held in memory.
    pub fn len(&self) -> usize {
        self.cached.as_ref().map_or(0, |cached| cached.lock().callers.len())
    }

    /// Whether no key is held in memory.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Cached {
    /// The state, flushed first if a revocation happened since it was last looked at. The stamp
    /// is read under the lock, so stamps are seen in the order they were made and a late reader
    /// cannot bring back an older one.
    fn current(&self) -> MutexGuard<'_, State> {
        let mut state = self.lock();
        let stamp = self.revocations.stamp();
        if stamp != state.stamp {
            state.callers.clear();
            state.epoch += 1;
            state.stamp = stamp;
        }
        state
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The map is consistent between statements; a panic elsewhere cannot break it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Revocations {
    fn stamp(&self) -> Stamp {
        match std::fs::metadata(&self.0) {
            Ok(metadata) => file_stamp(&metadata),
            // Missing until the first revocation: nothing was revoked since the server started
            // that this file would tell, and the database is the truth until then.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Stamp::File { device: 0, inode: 0, length: 0, modified: None }
            }
            Err(_) => Stamp::Unreadable,
        }
    }
}

#[cfg(unix)]
fn file_stamp(metadata: &std::fs::Metadata) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    Stamp::File {
        device: metadata.dev(),
        inode: metadata.ino(),
        length: metadata.len(),
        modified: metadata.modified().ok(),
    }
}

#[cfg(not(unix))]
fn file_stamp(metadata: &std::fs::Metadata) -> Stamp {
    Stamp::File { device: 0, inode: 0, length: metadata.len(), modified: metadata.modified().ok() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    /// A store in a fresh directory (removed at the end of the test), with one key.
    struct Fixture {
        dir: PathBuf,
        store: Store,
    }

    impl Fixture {
        async fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("hapa-key-cache-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let store = Store::open_sqlite(&dir).await.unwrap();
            store.create_key("ada", Role::User, "digest-ada", "hapa_ada…").await.unwrap();
            Self { dir, store }
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[tokio::test]
    async fn a_revocation_noted_in_the_data_dir_flushes_at_once() {
        let fixture = Fixture::new("flush").await;
        // The cache watches a directory of its own, so that the store's revocation below is not
        // noted where it looks until the test says so.
        let watched = fixture.dir.join("watched");
        std::fs::create_dir_all(&watched).unwrap();
        let note = || note_revocation(&watched.join(crate::store::DATABASE_FILE)).unwrap();
        let cache = KeyCache::watching_file(&watched);
        let ada = cache.caller(&fixture.store, "digest-ada").await.unwrap().expect("active");
        assert_eq!(ada.role, Role::User);
        assert_eq!(cache.len(), 1, "an active key is remembered");
        assert_eq!(cache.caller(&fixture.store, "digest-nobody").await.unwrap(), None);
        assert_eq!(cache.len(), 1, "an unknown digest is not");

        assert!(fixture.store.revoke_key("ada").await.unwrap());
        assert_eq!(cache.caller(&fixture.store, "digest-ada").await.unwrap(), Some(ada), "not noted: from memory");
        note();
        assert_eq!(cache.caller(&fixture.store, "digest-ada").await.unwrap(), None, "noted: asked again");
        assert!(cache.is_empty());

        // Notes in quick succession still differ (the file grows), so each one flushes.
        fixture.store.create_key("bob", Role::Monitor, "digest-bob", "hapa_bob…").await.unwrap();
        for _ in 0..3 {
            assert!(cache.caller(&fixture.store, "digest-bob").await.unwrap().is_some());
            assert_eq!(cache.len(), 1);
            note();
            assert_eq!(cache.lookup("digest-bob").map_err(|_| ()), Err(()), "flushed");
        }
    }

    #[tokio::test]
    async fn the_store_notes_its_revocations_beside_the_database() {
        let fixture = Fixture::new("store").await;
        let cache = KeyCache::watching_file(&fixture.dir);
        assert!(cache.caller(&fixture.store, "digest-ada").await.unwrap().is_some());
        assert!(fixture.store.revoke_key("ada").await.unwrap());
        assert_eq!(cache.caller(&fixture.store, "digest-ada").await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_answer_read_before_a_revocation_is_not_kept_after_it() {
        let fixture = Fixture::new("race").await;
        let announce = || note_revocation(&fixture.dir.join(crate::store::DATABASE_FILE)).unwrap();
        let cache = KeyCache::watching_file(&fixture.dir);
        let caller = Caller { key_id: 1, role: Role::User };
        // A lookup misses; while the database is asked, a revocation is noted: the answer
        // (read before it, perhaps) is not remembered.
        let Err(Some(epoch)) = cache.lookup("digest") else { panic!("an empty cache missed") };
        announce();
        cache.remember(epoch, "digest", &caller);
        assert!(cache.is_empty());
        // Without a revocation in between it is, until the next one.
        let Err(Some(epoch)) = cache.lookup("digest") else { panic!("still empty") };
        cache.remember(epoch, "digest", &caller);
        assert_eq!(cache.lookup("digest"), Ok(caller));
        announce();
        assert!(cache.lookup("digest").is_err());
        assert!(cache.is_empty());
    }

    #[tokio::test]
    async fn an_sqlite_store_gets_a_cache_beside_its_database() {
        let fixture = Fixture::new("for-store").await;
        let cache = KeyCache::for_store(&fixture.store);
        assert!(cache.is_enabled());
        assert!(cache.caller(&fixture.store, "digest-ada").await.unwrap().is_some());
        assert!(fixture.store.revoke_key("ada").await.unwrap());
        assert_eq!(cache.caller(&fixture.store, "digest-ada").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_disabled_cache_always_asks_the_store() {
        let fixture = Fixture::new("off").await;
        for cache in [KeyCache::disabled(), KeyCache::watching_file(&fixture.dir).with_capacity(0)] {
            assert!(!cache.is_enabled());
            assert!(cache.caller(&fixture.store, "digest-ada").await.unwrap().is_some());
            assert!(cache.is_empty());
        }
        let bounded = KeyCache::watching_file(&fixture.dir).with_capacity(1);
        fixture.store.create_key("bob", Role::Admin, "digest-bob", "hapa_bob…").await.unwrap();
        for digest in ["digest-ada", "digest-bob", "digest-ada"] {
            assert!(bounded.caller(&fixture.store, digest).await.unwrap().is_some());
            assert_eq!(bounded.len(), 1);
        }
    }
}
