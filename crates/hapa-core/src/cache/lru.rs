//! A least-recently-used map from request keys to answers, bounded in entries and in bytes,
//! whose entries expire a fixed time after they were stored.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::RequestKey;

/// Entries an [`Lru`] holds unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 128;

/// Bytes an [`Lru`] holds unless told otherwise.
pub const DEFAULT_MAX_BYTES: usize = 4 * 1024 * 1024;

/// Bytes charged for each entry on top of its value's weight: the key, the index and the links.
pub const ENTRY_OVERHEAD_BYTES: usize = 64;

/// One entry may take at most this fraction (1/8) of the byte bound, so a single huge value is
/// refused instead of evicting nearly everything else.
const MAX_ENTRY_SHARE: usize = 8;

/// No slot: the end of the recency list.
const NONE: usize = usize::MAX;

/// A least-recently-used cache of `V` by [`RequestKey`], with a time to live and two bounds.
///
/// - **Time:** an entry lives `ttl_ms` from the `now_ms` it was inserted at; reading it does not
///   extend that. An expired entry is never returned (nor one stored "in the future", should the
///   host's clock step back) and is dropped when it is looked up, when it reaches the
///   least-recent end, or by [`Lru::purge_expired`].
/// - **Entries:** at most [`Lru::with_capacity`] ([`DEFAULT_CAPACITY`]).
/// - **Bytes:** an entry weighs `weigh(&value)` plus [`ENTRY_OVERHEAD_BYTES`]; the total stays
///   within [`Lru::with_max_bytes`] ([`DEFAULT_MAX_BYTES`]). A value heavier than an eighth of
///   that bound is refused (and any older value under its key removed), so one huge answer can
///   neither evict the rest nor grow the cache.
///
/// Inserting evicts least-recently-used entries until both bounds hold. `get`, `insert` and
/// `remove` are O(1): a hash index over a slab of entries linked in recency order.
pub struct Lru<V> {
    index: HashMap<RequestKey, usize, BuildHasherDefault<DigestHasher>>,
    slots: Vec<Slot<V>>,
    free: Vec<usize>,
    newest: usize,
    oldest: usize,
    bytes: usize,
    capacity: usize,
    max_bytes: usize,
    ttl_ms: u64,
    weigh: fn(&V) -> usize,
}

struct Slot<V> {
    key: RequestKey,
    value: Option<V>,
    bytes: usize,
    stored_ms: u64,
    newer: usize,
    older: usize,
}

impl<V> Lru<V> {
    /// An empty cache whose entries live `ttl_ms`, each weighing `weigh(&value)` bytes (plus
    /// [`ENTRY_OVERHEAD_BYTES`]), with the default bounds.
    pub fn new(ttl_ms: u64, weigh: fn(&V) -> usize) -> Self {
        Self {
            index: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            newest: NONE,
            oldest: NONE,
            bytes: 0,
            capacity: DEFAULT_CAPACITY,
            max_bytes: DEFAULT_MAX_BYTES,
            ttl_ms,
            weigh,
        }
    }

    /// Holds at most `entries` entries (0 stores nothing), evicting the least recent now if over.
    pub fn with_capacity(mut self, entries: usize) -> Self {
        self.capacity = entries;
        self.evict_until_room_for(0, 0);
        self
    }

    /// Holds at most `bytes` in total, evicting the least recent now if over.
    pub fn with_max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self.evict_until_room_for(0, 0);
        self
    }

    /// The value stored under `key`, unless it has expired by `now_ms`; marks it most recent.
    pub fn get(&mut self, key: &RequestKey, now_ms: u64) -> Option<&V> {
        let slot = *self.index.get(key)?;
        if !self.is_fresh(slot, now_ms) {
            self.remove_slot(slot);
            return None;
        }
        self.unlink(slot);
        self.link_newest(slot);
        self.slots[slot].value.as_ref()
    }

    /// Stores `value` under `key` as of `now_ms`, replacing any older value, evicting the least
    /// recent entries as the bounds require. False when the value is refused: heavier than an
    /// eighth of the byte bound, or a capacity of 0.
    pub fn insert(&mut self, key: RequestKey, value: V, now_ms: u64) -> bool {
        self.remove(&key);
        let bytes = (self.weigh)(&value).saturating_add(ENTRY_OVERHEAD_BYTES);
        if self.capacity == 0 || bytes > self.max_entry_bytes() {
            return false;
        }
        self.evict_until_room_for(1, bytes);
        let slot = Slot { key, value: Some(value), bytes, stored_ms: now_ms, newer: NONE, older: NONE };
        let index = match self.free.pop() {
            Some(free) => {
                self.slots[free] = slot;
                free
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        self.link_newest(index);
        self.index.insert(key, index);
        self.bytes += bytes;
        true
    }

    /// Removes and returns the value under `key`, expired or not.
    pub fn remove(&mut self, key: &RequestKey) -> Option<V> {
        let slot = *self.index.get(key)?;
        self.remove_slot(slot)
    }

    /// Drops every entry expired by `now_ms`, to release its memory before it is looked up or
    /// reaches the least-recent end. O(entries).
    pub fn purge_expired(&mut self, now_ms: u64) {
        let mut slot = self.oldest;
        while slot != NONE {
            let newer = self.slots[slot].newer;
            if !self.is_fresh(slot, now_ms) {
                self.remove_slot(slot);
            }
            slot = newer;
        }
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.free.clear();
        (self.newest, self.oldest, self.bytes) = (NONE, NONE, 0);
    }

    /// How many entries are stored, expired ones included until they are dropped.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The weight of every stored entry, overhead included.
    pub fn total_bytes(&self) -> usize {
        self.bytes
    }

    /// The heaviest entry, overhead included, that [`Lru::insert`] accepts.
    pub fn max_entry_bytes(&self) -> usize {
        self.max_bytes / MAX_ENTRY_SHARE
    }

    fn is_fresh(&self, slot: usize, now_ms: u64) -> bool {
        let stored = self.slots[slot].stored_ms;
        now_ms >= stored && now_ms - stored < self.ttl_ms
    }

    /// Evicts least-recent entries until `entries` more entries weighing `bytes` fit.
    fn evict_until_room_for(&mut self, entries: usize, bytes: usize) {
        while self.oldest != NONE && (self.len() + entries > self.capacity || self.bytes + bytes > self.max_bytes) {
            self.remove_slot(self.oldest);
        }
    }

    fn remove_slot(&mut self, slot: usize) -> Option<V> {
        self.unlink(slot);
        self.index.remove(&self.slots[slot].key);
        self.bytes -= self.slots[slot].bytes;
        self.free.push(slot);
        self.slots[slot].value.take()
    }

    fn unlink(&mut self, slot: usize) {
        let Slot { newer, older, .. } = self.slots[slot];
        match newer {
            NONE => self.newest = older,
            newer => self.slots[newer].older = older,
        }
        match older {
            NONE => self.oldest = newer,
            older => self.slots[older].newer = newer,
        }
    }

    fn link_newest(&mut self, slot: usize) {
        self.slots[slot].newer = NONE;
        self.slots[slot].older = self.newest;
        match self.newest {
            NONE => self.oldest = slot,
            newest => self.slots[newest].newer = slot,
        }
        self.newest = slot;
    }
}

/// Hashes a [`RequestKey`] by its first eight bytes: they are SHA-256 output already, so
/// hashing them again would only cost time.
#[derive(Default)]
pub(super) struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}
