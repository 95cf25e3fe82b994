//! Tests of `hapa_core::cache`: the normalisation behind request keys (data-driven: each
//! `tests/cache/normalise/*.py` must normalise to its `.expected`; refresh with
//! `UPDATE_EXPECT=1 cargo test -p hapa-core`), pairs of edits that must keep or change the key
//! (`tests/cache/{same,different}/*.py`: the text before and after a `#- edited` line, cursor
//! marked `$0`), and the LRU's expiry, eviction order and size bound.

mod common;

use std::path::Path;

use hapa_core::cache::{self, ENTRY_OVERHEAD_BYTES, KeyScope, Lru, RequestKey};
use hapa_core::context::{self, Request};

const ALICE: KeyScope<'static> = KeyScope { owner: "alice", model: "qwen2.5-coder-1.5b", variant: "completion" };

/// The key of a completion request at the `$0` in `marked`.
fn key_at_cursor(scope: &KeyScope<'_>, marked: &str) -> RequestKey {
    let cursor = marked.find("$0").expect("fixture has no $0");
    let source = marked.replacen("$0", "", 1);
    let context = context::collect(&Request::new(&source, cursor, 100_000));
    cache::request_key(scope, &context)
}

fn before_and_after(path: &Path) -> (String, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let (before, after) = text.split_once("#- edited\n").expect("fixture has no `#- edited` line");
    (before.to_owned(), after.to_owned())
}

#[test]
fn normalisation_matches_fixtures() {
    for path in common::python_fixtures("tests/cache/normalise") {
        let source = std::fs::read_to_string(&path).unwrap();
        expect_test::expect_file![path.with_extension("expected")].assert_eq(&cache::normalise(&source));
    }
}

#[test]
fn whitespace_and_comment_edits_keep_the_key() {
    for path in common::python_fixtures("tests/cache/same") {
        let (before, after) = before_and_after(&path);
        assert_ne!(before, after, "{}: the edit changes nothing", path.display());
        assert_eq!(key_at_cursor(&ALICE, &before), key_at_cursor(&ALICE, &after), "{}", path.display());
    }
}

#[test]
fn code_edits_change_the_key() {
    for path in common::python_fixtures("tests/cache/different") {
        let (before, after) = before_and_after(&path);
        assert_ne!(key_at_cursor(&ALICE, &before), key_at_cursor(&ALICE, &after), "{}", path.display());
    }
}

#[test]
fn owners_models_and_variants_never_share_keys() {
    let code = "def add(a, b):\n    return $0\n";
    let others = [
        KeyScope { owner: "bob", ..ALICE },
        KeyScope { model: "starcoder2-3b", ..ALICE },
        KeyScope { variant: "chat", ..ALICE },
        // Moving text between fields must not collide: each field is length-framed.
        KeyScope { owner: "alicequ", model: "en2.5-coder-1.5b", ..ALICE },
    ];
    for other in others {
        assert_ne!(key_at_cursor(&ALICE, code), key_at_cursor(&other, code), "{other:?}");
    }
    assert_eq!(key_at_cursor(&ALICE, code), key_at_cursor(&ALICE, code));
}

#[test]
fn keys_print_as_sha256_hex() {
    let key = key_at_cursor(&ALICE, "x = $0\n");
    let hex = key.to_string();
    assert_eq!(hex.len(), 64);
    assert!(hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(hex[..2], format!("{:02x}", key.as_bytes()[0]));
}

fn key(n: u8) -> RequestKey {
    key_at_cursor(&ALICE, &format!("value = {n}$0\n"))
}

fn text_cache(ttl_ms: u64) -> Lru<String> {
    Lru::new(ttl_ms, String::len)
}

#[test]
fn entries_expire_after_their_time_to_live() {
    let mut cache = text_cache(1_000);
    cache.insert(key(1), "one".into(), 10_000);
    assert_eq!(cache.get(&key(1), 10_999).map(String::as_str), Some("one"));
    // Reading does not extend the life of an entry.
    assert_eq!(cache.get(&key(1), 11_000), None);
    assert!(cache.is_empty(), "an expired entry is dropped when looked up");
}

#[test]
fn a_clock_that_steps_back_misses_instead_of_serving_stale_answers() {
    let mut cache = text_cache(1_000);
    cache.insert(key(1), "one".into(), 10_000);
    assert_eq!(cache.get(&key(1), 9_000), None);
}

#[test]
fn the_least_recently_used_entry_is_evicted_first() {
    let mut cache = text_cache(60_000).with_capacity(3);
    for n in 1..=3 {
        cache.insert(key(n), n.to_string(), 0);
    }
    cache.get(&key(1), 1); // 2 is now the least recently used
    cache.insert(key(4), "4".into(), 2);
    assert_eq!(cache.get(&key(2), 3), None);
    for n in [1, 3, 4] {
        assert!(cache.get(&key(n), 3).is_some(), "{n} was evicted");
    }
    assert_eq!(cache.len(), 3);
}

#[test]
fn the_default_capacity_is_128_entries() {
    let mut cache = text_cache(60_000);
    for n in 0..=200 {
        cache.insert(key(n), String::new(), 0);
    }
    assert_eq!(cache.len(), 128);
    assert!(cache.get(&key(200 - 128), 0).is_none());
    assert!(cache.get(&key(200 - 127), 0).is_some());
}

#[test]
fn total_size_stays_within_the_byte_bound() {
    let entry = 100 + ENTRY_OVERHEAD_BYTES;
    let mut cache = text_cache(60_000).with_max_bytes(8 * entry + 7);
    for n in 0..20 {
        assert!(cache.insert(key(n), "x".repeat(100), 0));
        assert!(cache.total_bytes() <= 8 * entry + 7);
    }
    assert_eq!(cache.len(), 8);
    assert_eq!(cache.total_bytes(), 8 * entry);
}

#[test]
fn one_huge_value_is_refused_without_evicting_anything() {
    let mut cache = text_cache(60_000).with_max_bytes(64 * 1024);
    for n in 0..10 {
        cache.insert(key(n), "x".repeat(100), 0);
    }
    let before = cache.total_bytes();
    assert!(!cache.insert(key(99), "x".repeat(1024 * 1024), 0));
    assert!(!cache.insert(key(98), "x".repeat(cache.max_entry_bytes()), 0), "overhead counts too");
    assert_eq!((cache.len(), cache.total_bytes()), (10, before));
    assert!(cache.insert(key(97), "x".repeat(cache.max_entry_bytes() - ENTRY_OVERHEAD_BYTES), 0));
}

#[test]
fn replacing_a_value_reweighs_it_and_a_refused_one_drops_the_old() {
    let mut cache = text_cache(60_000).with_max_bytes(64 * 1024);
    cache.insert(key(1), "x".repeat(1000), 0);
    cache.insert(key(1), "x".repeat(10), 5);
    assert_eq!(cache.total_bytes(), 10 + ENTRY_OVERHEAD_BYTES);
    assert_eq!(cache.get(&key(1), 6).map(String::len), Some(10));
    assert!(!cache.insert(key(1), "x".repeat(1024 * 1024), 7));
    assert_eq!(cache.get(&key(1), 8), None, "a stale value must not outlive its replacement");
    assert_eq!(cache.total_bytes(), 0);
}

#[test]
fn purging_releases_expired_entries_anywhere_in_the_order() {
    let mut cache = text_cache(1_000);
    cache.insert(key(1), "old".into(), 0);
    cache.insert(key(2), "new".into(), 900);
    cache.get(&key(1), 950); // the old entry is now the most recent
    cache.purge_expired(1_500);
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.get(&key(2), 1_500).map(String::as_str), Some("new"));
}

#[test]
fn a_capacity_of_zero_stores_nothing() {
    let mut cache = text_cache(1_000).with_capacity(0);
    assert!(!cache.insert(key(1), "one".into(), 0));
    assert!(cache.get(&key(1), 0).is_none());
}

#[test]
fn shrinking_the_bounds_evicts_at_once() {
    let mut cache = text_cache(1_000);
    for n in 0..10 {
        cache.insert(key(n), "x".into(), 0);
    }
    let mut cache = cache.with_capacity(4);
    assert_eq!(cache.len(), 4);
    assert!(cache.get(&key(9), 0).is_some() && cache.get(&key(5), 0).is_none());
    cache.clear();
    assert!(cache.is_empty() && cache.total_bytes() == 0);
}
