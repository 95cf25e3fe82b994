//! The response cache: answers of `POST /api/v1/code/generate` and `/complete` kept for the key
//! that asked, in two levels. L1 is a bounded in-memory LRU (`hapa_core::cache::Lru`, the one
//! the extension uses); L2 is a table in the server's store (SQLite or PostgreSQL), so answers
//! survive a restart, or with `--redis-url` Redis, so instances share them (each answer under
//! its owner and digest, expiring with its TTL; while Redis is unreachable only L1 is used).
//! An L2 hit is copied into L1. Both levels forget an answer [`CacheSettings::ttl`] after it was
//! written: an expired answer is never served, and [`ResponseCache::sweep`] deletes it.
//!
//! An answer is found again only by the same key (API key id), for the same model, route and
//! prompt: see [`ResponseCache::key`]. Every hit gets the request id of the request it answers,
//! since feedback names answers by request id.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderName, HeaderValue};
use hapa_core::cache::{KeyScope, Lru, RequestKey, request_key};
use hapa_core::context::Context;
use hapa_model::{Sampling, StopRules};
use hapa_protocol::api::{
    CompleteResponse, GenerateResponse, GenerateStatus, OpenAiChatMessage, OpenAiRole, StopReason,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::inference::{Job, Prompt};
use crate::metrics::{Metrics, RedisUse};
use crate::redis_link::RedisLink;
use crate::store::Store;

/// Default of [`CacheSettings::ttl`], in seconds.
pub const DEFAULT_TTL_SECS: u64 = 3600;

/// Default of [`CacheSettings::entries`].
pub const DEFAULT_ENTRIES: usize = 1024;

/// Bytes of answers L1 holds at most, whatever its entry count: answers are a few KiB, so this
/// only binds when someone raises `--cache-entries` far past the default.
pub const MEMORY_BYTES: usize = 32 * 1024 * 1024;

/// Answers the SQLite table keeps at most (the newest): a bound on the disk a busy server's
/// cache takes within one TTL.
pub const STORED_ENTRIES: u64 = 100_000;

/// The answer header that says whether the cache answered: `hit` or `miss`; absent when the
/// cache is off.
pub const CACHE_HEADER: HeaderName = HeaderName::from_static("x-hapa-cache");

/// Names the layout of the key material. Change it whenever that layout changes, so answers
/// keyed the old way are never found again (they expire and are swept).
const KEY_FORMAT: &str = "hapa-response-cache/1";

/// How long answers are kept and how many are held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// How long an answer is served after it was written; zero turns the cache off.
    pub ttl: Duration,
    /// Answers held in memory (L1); zero leaves only the SQLite table.
    pub entries: usize,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self { ttl: Duration::from_secs(DEFAULT_TTL_SECS), entries: DEFAULT_ENTRIES }
    }
}

/// Whether a lookup found an answer, as [`CACHE_HEADER`] says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The answer came from the cache; the model was not asked.
    Hit,
    /// The model answered.
    Miss,
}

impl Outcome {
    /// The value of [`CACHE_HEADER`].
    pub fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
        })
    }
}

/// An answer type the cache keeps.
pub trait CachedAnswer: Clone + Serialize + DeserializeOwned {
    /// The route that answers with it. It is part of the key, so one route's answer is never
    /// read back as another's.
    const ROUTE: &'static str;

    /// Whether this answer may be served again: a whole answer, neither a failure nor one cut
    /// short by a cancellation.
    fn is_whole(&self) -> bool;

    /// Sets the request id the answer carries.
    fn set_request_id(&mut self, id: String);
}

impl CachedAnswer for GenerateResponse {
    const ROUTE: &'static str = "generate";

    fn is_whole(&self) -> bool {
        self.status == GenerateStatus::Success && self.stop_reason != StopReason::Cancelled
    }

    fn set_request_id(&mut self, id: String) {
        self.request_id = id;
    }
}

impl CachedAnswer for CompleteResponse {
    const ROUTE: &'static str = "complete";

    /// An empty completion is a whole answer too: the model had nothing that keeps the file
    /// parseable, and greedy decoding would say so again.
    fn is_whole(&self) -> bool {
        self.stop_reason != StopReason::Cancelled
    }

    fn set_request_id(&mut self, id: String) {
        self.id = id;
    }
}

/// Where a `T` answer is cached: its digest, and the API key it belongs to.
pub struct CacheKey<T> {
    digest: RequestKey,
    owner: i64,
    answer: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for CacheKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheKey").field("digest", &self.digest).field("owner", &self.owner).finish()
    }
}

impl<T> Clone for CacheKey<T> {
    fn clone(&self) -> Self {
        Self { digest: self.digest, owner: self.owner, answer: PhantomData }
    }
}

/// Answers by key, in memory over the store or Redis. Shared by every request.
pub struct ResponseCache {
    settings: CacheSettings,
    memory: Mutex<Lru<Arc<str>>>,
    store: Store,
    /// L2 in place of the store's table, when configured.
    redis: Option<Arc<RedisLink>>,
    metrics: Arc<Metrics>,
}

impl fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseCache")
            .field("settings", &self.settings)
            .field("in_memory", &self.entries_in_memory())
            .finish_non_exhaustive()
    }
}

impl ResponseCache {
    /// A cache over `store`'s table, counting its lookups in `metrics`.
    pub fn new(store: Store, metrics: Arc<Metrics>, settings: CacheSettings) -> Self {
        let ttl_ms = millis(settings.ttl);
        let memory =
            Lru::new(ttl_ms, |body: &Arc<str>| body.len()).with_capacity(settings.entries).with_max_bytes(MEMORY_BYTES);
        Self { settings, memory: Mutex::new(memory), store, redis: None, metrics }
    }

    /// This cache with Redis, through `link`, as its second level in place of the store's
    /// table: answers written by one instance are found by the others.
    pub fn shared_through(mut self, link: Arc<RedisLink>) -> Self {
        self.redis = Some(link);
        self
    }

    /// Whether answers are kept at all (a TTL above zero).
    pub fn is_enabled(&self) -> bool {
        !self.settings.ttl.is_zero()
    }

    /// One line for the serve banner.
    pub fn describe(&self) -> String {
        if !self.is_enabled() {
            return "off (--cache-ttl-secs 0)".to_owned();
        }
        let second = match &self.redis {
            Some(link) => format!("Redis at {} (shared by the instances on this database)", link.url()),
            None => format!("the {}", self.store.describe()),
        };
        format!(
            "answers kept {} s per API key, {} in memory over {second}",
            self.settings.ttl.as_secs(),
            self.settings.entries
        )
    }

    /// Where the answer to `job`, asked by the API key `owner` of `model`, is cached; `None`
    /// when the cache is off.
    ///
    /// The key is a SHA-256 over the owner, the model, the route (`T`) and the job: the prompt
    /// exactly as the model sees it, except that the question's whitespace is normalised
    /// ([`normalise_question`]), and the stop rules and sampling. Keying on the job rather than
    /// the request means that whatever starts to change the prompt changes the key too; today
    /// `file_path` does not, so requests that differ only in it share an answer.
    pub fn key<T: CachedAnswer>(&self, owner: i64, model: &str, job: &Job) -> Option<CacheKey<T>> {
        self.is_enabled().then(|| CacheKey { digest: digest::<T>(owner, model, job), owner, answer: PhantomData })
    }

    /// The answer cached under `key`, carrying `request_id`, unless none is or it has expired.
    /// Counts a hit or a miss.
    pub async fn get<T: CachedAnswer>(&self, key: &CacheKey<T>, request_id: String) -> Option<T> {
        self.get_at(key, request_id, now_ms()).await
    }

    /// Keeps `answer` under `key` if it is whole ([`CachedAnswer::is_whole`]). A store that
    /// fails is logged, not reported: the answer is served all the same.
    pub async fn put<T: CachedAnswer>(&self, key: &CacheKey<T>, answer: &T) {
        self.put_at(key, answer, now_ms()).await;
    }

    /// Drops expired answers from both levels and the oldest stored ones past
    /// [`STORED_ENTRIES`]; `serve` runs it every minute.
    pub async fn sweep(&self) {
        self.sweep_at(now_ms()).await;
    }

    /// Answers held in memory, expired ones included until they are dropped.
    pub fn entries_in_memory(&self) -> usize {
        self.lock_memory().len()
    }

    async fn get_at<T: CachedAnswer>(&self, key: &CacheKey<T>, request_id: String, now: u64) -> Option<T> {
        let found = self.find(key, now).await;
        match &found {
            Some(_) => self.metrics.cache_hit(),
            None => self.metrics.cache_miss(),
        }
        let mut answer = found?;
        answer.set_request_id(request_id);
        Some(answer)
    }

    async fn find<T: CachedAnswer>(&self, key: &CacheKey<T>, now: u64) -> Option<T> {
        let in_memory = self.lock_memory().get(&key.digest, now).cloned();
        if let Some(body) = in_memory {
            return self.decode(key, &body);
        }
        let (body, written) = match &self.redis {
            Some(link) => self.find_in_redis(link, key, now).await?,
            None => self.find_stored(key, now).await?,
        };
        let answer = self.decode(key, &body)?;
        // Stamped with the time it was first written, so it expires in memory when it does in L2.
        self.lock_memory().insert(key.digest, Arc::from(body), written);
        Some(answer)
    }

    /// The body and write time of `key`'s answer in the store's table.
    async fn find_stored<T>(&self, key: &CacheKey<T>, now: u64) -> Option<(String, u64)> {
        let fresh_since = now.saturating_sub(millis(self.settings.ttl));
        let stored = self
            .store
            .cached_response(key.digest.as_bytes(), key.owner, sql_millis(fresh_since), sql_millis(now))
            .await;
        match stored {
            Ok(found) => found.map(|(body, written)| (body, u64::try_from(written).unwrap_or_default())),
            Err(error) => {
                tracing::warn!(%error, "the response cache could not be read; asking the model");
                None
            }
        }
    }

    /// The body of `key`'s answer in Redis, and when it was written as told by the time it has
    /// left to live there (Redis expires it at written + TTL).
    async fn find_in_redis<T>(&self, link: &RedisLink, key: &CacheKey<T>, now: u64) -> Option<(String, u64)> {
        let name = redis_key(link, key);
        let (body, left_ms): (Option<String>, i64) = link
            .run(RedisUse::Cache, |mut connection| async move {
                redis::pipe().get(&name).pttl(&name).query_async(&mut connection).await
            })
            .await?;
        let left = u64::try_from(left_ms).ok()?;
        let written = (now + left.min(millis(self.settings.ttl))).saturating_sub(millis(self.settings.ttl));
        Some((body?, written))
    }

    /// The answer in `body`, or `None` (and it is forgotten in memory) when it does not decode:
    /// written by a server whose answer type differed.
    fn decode<T: CachedAnswer>(&self, key: &CacheKey<T>, body: &str) -> Option<T> {
        match serde_json::from_str(body) {
            Ok(answer) => Some(answer),
            Err(error) => {
                tracing::debug!(%error, "a cached answer does not decode; asking the model");
                self.lock_memory().remove(&key.digest);
                None
            }
        }
    }

    async fn put_at<T: CachedAnswer>(&self, key: &CacheKey<T>, answer: &T, now: u64) {
        if !answer.is_whole() {
            return;
        }
        // Each hit gets its own request id; the first request's is not kept.
        let mut stored = answer.clone();
        stored.set_request_id(String::new());
        let body = match serde_json::to_string(&stored) {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(%error, "an answer could not be encoded for the response cache");
                return;
            }
        };
        // Written before the client has its answer: one fsync (or one round trip to Redis)
        // beside a generation's hundreds of milliseconds, and an answer the client has seen is
        // then found after a restart, or by the other instances, too.
        match &self.redis {
            Some(link) => {
                let (name, ttl) = (redis_key(link, key), millis(self.settings.ttl));
                let body = body.as_str();
                // A failure is counted as a fallback and logged once by the link.
                let _: Option<()> = link
                    .run(RedisUse::Cache, |mut connection| async move {
                        redis::cmd("SET").arg(&name).arg(body).arg("PX").arg(ttl).query_async(&mut connection).await
                    })
                    .await;
            }
            None => {
                let written =
                    self.store.store_cached_response(key.digest.as_bytes(), key.owner, &body, sql_millis(now)).await;
                if let Err(error) = written {
                    tracing::warn!(%error, "an answer could not be written to the response cache");
                }
            }
        }
        self.lock_memory().insert(key.digest, Arc::from(body), now);
    }

    async fn sweep_at(&self, now: u64) {
        if !self.is_enabled() {
            return;
        }
        self.lock_memory().purge_expired(now);
        // Redis expires its answers itself; the table is swept all the same, of what a run
        // without Redis left there.
        let stale = now.saturating_sub(millis(self.settings.ttl));
        match self.store.sweep_cached_responses(sql_millis(stale), STORED_ENTRIES).await {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "expired answers removed from the response cache"),
            Err(error) => tracing::warn!(%error, "the response cache could not be swept"),
        }
    }

    fn lock_memory(&self) -> MutexGuard<'_, Lru<Arc<str>>> {
        // Every operation leaves the LRU consistent before it could panic.
        self.memory.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The name of `key`'s answer in Redis: under the store's namespace, the owner and the digest
/// (which covers the owner already; naming it too keeps one owner's answers apart even by eye).
fn redis_key<T>(link: &RedisLink, key: &CacheKey<T>) -> String {
    link.key("cache", &format!("{}:{}", key.owner, key.digest))
}

/// `question` trimmed, with every run of whitespace (newlines included) made one space, so a
/// question retyped with different spacing finds the same answer.
pub fn normalise_question(question: &str) -> String {
    question.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The digest of `job` answered by `model` on `T`'s route for `owner`.
///
/// The route and job are hashed here; the result goes to `hapa_core::cache::request_key` as the
/// scope's variant, beside the owner and the model, so the key is the same [`RequestKey`] that
/// `hapa_core`'s LRU indexes. Its context is left empty: the server keys on the prompt exactly
/// (already in the variant), not on the normalised code the extension keys on.
fn digest<T: CachedAnswer>(owner: i64, model: &str, job: &Job) -> RequestKey {
    let mut material = Framed::default();
    material.text("format", KEY_FORMAT);
    material.text("route", T::ROUTE);
    frame_job(&mut material, job);
    let variant = material.finish_hex();
    let owner = owner.to_string();
    request_key(&KeyScope { owner: &owner, model, variant: &variant }, &Context::default())
}

/// Adds every part of `job` that changes the answer. The destructuring is exhaustive on
/// purpose: a new field does not compile until it is keyed here.
fn frame_job(material: &mut Framed, job: &Job) {
    let Job { prompt, stop, sampling, syntax_aware } = job;
    match prompt {
        Prompt::Question { context, question } => {
            material.text("prompt", "question");
            material.text("question", &normalise_question(question));
            material.optional("context", context.as_deref());
        }
        Prompt::Infill { prefix, suffix } => {
            material.text("prompt", "infill");
            material.text("prefix", prefix);
            material.text("suffix", suffix);
        }
        Prompt::Chat(messages) => {
            material.text("prompt", "chat");
            material.number("messages", messages.len() as u64);
            for OpenAiChatMessage { role, content } in messages {
                let role = match role {
                    OpenAiRole::System => "system",
                    OpenAiRole::User => "user",
                    OpenAiRole::Assistant => "assistant",
                };
                material.text("role", role);
                material.text("content", content);
            }
        }
    }
    let StopRules { end_of_line, end_of_block, max_tokens, stop_strings, ignore_end_of_text } = stop;
    material.flag("end of line", *end_of_line);
    material.flag("end of block", *end_of_block);
    material.number("max tokens", *max_tokens as u64);
    material.number("stop strings", stop_strings.len() as u64);
    for stop in stop_strings {
        material.text("stop string", stop);
    }
    material.flag("ignore end of text", *ignore_end_of_text);
    match sampling {
        Sampling::Greedy => material.text("sampling", "greedy"),
        Sampling::TopKTopP { temperature, top_k, top_p, seed } => {
            material.text("sampling", "top-k top-p");
            material.number("temperature", u64::from(temperature.to_bits()));
            material.number("top k", *top_k as u64);
            material.number("top p", u64::from(top_p.to_bits()));
            material.number("seed", *seed);
        }
    }
    material.flag("syntax aware", *syntax_aware);
}

/// SHA-256 over named fields. Every name and value goes in preceded by its length, and an
/// optional value by whether it is there, so two different field lists can never hash the same
/// bytes by moving text from one field into the next.
#[derive(Default)]
struct Framed(Sha256);

impl Framed {
    fn text(&mut self, name: &str, value: &str) {
        self.bytes(name.as_bytes());
        self.bytes(value.as_bytes());
    }

    fn optional(&mut self, name: &str, value: Option<&str>) {
        self.bytes(name.as_bytes());
        match value {
            None => self.0.update([0]),
            Some(value) => {
                self.0.update([1]);
                self.bytes(value.as_bytes());
            }
        }
    }

    fn number(&mut self, name: &str, value: u64) {
        self.bytes(name.as_bytes());
        self.bytes(&value.to_le_bytes());
    }

    fn flag(&mut self, name: &str, value: bool) {
        self.number(name, u64::from(value));
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    fn finish_hex(self) -> String {
        self.0.finalize().iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

/// Now, in milliseconds since the Unix epoch: answers outlive the process, so the clock must too.
fn now_ms() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, millis)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A time in milliseconds as SQLite's integers hold it.
fn sql_millis(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use hapa_protocol::api::CompletionChoice;

    use super::*;

    const TTL_MS: u64 = 60_000;
    const T0: u64 = 1_700_000_000_000;

    fn question(context: Option<&str>, question: &str) -> Job {
        Job {
            prompt: Prompt::Question { context: context.map(str::to_owned), question: question.to_owned() },
            stop: StopRules::block(crate::generation::GENERATE_TOKENS),
            sampling: Sampling::Greedy,
            syntax_aware: false,
        }
    }

    fn generate_key(owner: i64, job: &Job) -> RequestKey {
        digest::<GenerateResponse>(owner, "hapa-code", job)
    }

    fn completion(text: &str, stop_reason: StopReason) -> CompleteResponse {
        CompleteResponse {
            id: "first".to_owned(),
            completions: vec![CompletionChoice { text: text.to_owned() }],
            model: "hapa-code".to_owned(),
            stop_reason,
            prompt_tokens: 3,
            generated_tokens: 1,
        }
    }

    /// A cache over a fresh store in its own directory (removed at the end of the test).
    struct Fixture {
        dir: std::path::PathBuf,
        store: Store,
        metrics: Arc<Metrics>,
    }

    impl Fixture {
        async fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("hapa-cache-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let store = Store::open_sqlite(&dir).await.unwrap();
            Self { dir, store, metrics: Arc::new(Metrics::new()) }
        }

        /// A cache on the fixture's store, as a server (re)started on it has.
        fn cache(&self, entries: usize) -> ResponseCache {
            let settings = CacheSettings { ttl: Duration::from_millis(TTL_MS), entries };
            ResponseCache::new(self.store.clone(), self.metrics.clone(), settings)
        }

        fn hits_and_misses(&self) -> (u64, u64) {
            let stats = self.metrics.stats().cache;
            (stats.hits, stats.misses)
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn complete_key(cache: &ResponseCache, owner: i64, prefix: &str) -> CacheKey<CompleteResponse> {
        let job = Job {
            prompt: Prompt::Infill { prefix: prefix.to_owned(), suffix: String::new() },
            stop: StopRules::line(32),
            sampling: Sampling::Greedy,
            syntax_aware: true,
        };
        cache.key(owner, "hapa-code", &job).unwrap()
    }

    #[test]
    fn fields_are_framed_so_text_cannot_move_between_them() {
        let base = generate_key(1, &question(Some("ab"), "c"));
        assert_ne!(base, generate_key(1, &question(Some("a"), "bc")));
        assert_ne!(base, generate_key(1, &question(Some("abc"), "")));
        assert_ne!(generate_key(1, &question(None, "q")), generate_key(1, &question(Some(""), "q")));
        // The owner and the model are framed too: "1" + "2model" is not "12" + "model".
        let job = question(None, "q");
        assert_ne!(digest::<GenerateResponse>(1, "2model", &job), digest::<GenerateResponse>(12, "model", &job));
    }

    #[test]
    fn the_owner_model_route_and_context_all_change_the_key() {
        let job = question(Some("import math\n"), "sum a list");
        let key = generate_key(1, &job);
        assert_eq!(key, generate_key(1, &job), "a key is deterministic");
        assert_ne!(key, generate_key(2, &job), "owners never share");
        assert_ne!(key, digest::<GenerateResponse>(1, "other-model", &job));
        assert_ne!(key, digest::<CompleteResponse>(1, "hapa-code", &job));
        assert_ne!(key, generate_key(1, &question(Some("import  math\n"), "sum a list")), "context is exact");
        let longer = Job { stop: StopRules::block(161), ..job.clone() };
        assert_ne!(key, generate_key(1, &longer));
    }

    #[test]
    fn only_whitespace_in_the_question_is_normalised() {
        assert_eq!(normalise_question("  sum   a\n\tlist \r\n"), "sum a list");
        let key = generate_key(7, &question(None, "sum a list"));
        assert_eq!(key, generate_key(7, &question(None, "\n sum  a\tlist  ")));
        assert_ne!(key, generate_key(7, &question(None, "sum a List")));
        assert_ne!(key, generate_key(7, &question(None, "suma list")));
    }

    #[tokio::test]
    async fn an_answer_is_served_until_its_ttl_from_memory_and_from_disk() {
        let fixture = Fixture::new("ttl").await;
        let cache = fixture.cache(8);
        let key = complete_key(&cache, 1, "x = ");
        assert_eq!(cache.get_at(&key, "a".to_owned(), T0).await, None);
        cache.put_at(&key, &completion("1", StopReason::EndOfLine), T0).await;

        let hit = cache.get_at(&key, "b".to_owned(), T0 + TTL_MS - 1).await.expect("fresh in memory");
        assert_eq!((hit.id.as_str(), hit.completions[0].text.as_str()), ("b", "1"), "a hit gets the new id");
        assert_eq!(cache.get_at(&key, "c".to_owned(), T0 + TTL_MS).await, None, "expired in memory");

        // A restarted server has only the table, which expires answers at the same moment.
        let restarted = fixture.cache(8);
        assert_eq!(restarted.entries_in_memory(), 0);
        assert!(restarted.get_at(&key, "d".to_owned(), T0 + TTL_MS - 1).await.is_some(), "fresh on disk");
        assert_eq!(restarted.entries_in_memory(), 1, "a hit on disk is copied to memory");
        let restarted = fixture.cache(8);
        assert_eq!(restarted.get_at(&key, "e".to_owned(), T0 + TTL_MS).await, None, "expired on disk");
        assert_eq!(fixture.hits_and_misses(), (2, 3));
    }

    #[tokio::test]
    async fn memory_holds_the_newest_entries_and_disk_the_rest() {
        let fixture = Fixture::new("bound").await;
        let cache = fixture.cache(2);
        let keys: Vec<_> = ["a", "b", "c"].iter().map(|prefix| complete_key(&cache, 1, prefix)).collect();
        for (at, key) in keys.iter().enumerate() {
            cache.put_at(key, &completion(&at.to_string(), StopReason::EndOfLine), T0 + at as u64).await;
        }
        assert_eq!(cache.entries_in_memory(), 2);
        let oldest = cache.get_at(&keys[0], "x".to_owned(), T0 + 10).await.expect("evicted, but on disk");
        assert_eq!(oldest.completions[0].text, "0");
        assert_eq!(cache.entries_in_memory(), 2);
    }

    #[tokio::test]
    async fn another_owner_never_reads_an_answer_and_partial_answers_are_not_kept() {
        let fixture = Fixture::new("owner").await;
        let cache = fixture.cache(8);
        let mine = complete_key(&cache, 1, "x = ");
        cache.put_at(&mine, &completion("1", StopReason::EndOfLine), T0).await;
        assert!(cache.get_at(&complete_key(&cache, 2, "x = "), String::new(), T0).await.is_none());
        // Even a forged key with the same digest finds nothing on disk under another owner.
        let forged = CacheKey::<CompleteResponse> { owner: 2, ..mine.clone() };
        assert!(fixture.cache(8).get_at(&forged, String::new(), T0).await.is_none());

        let cancelled = complete_key(&cache, 1, "y = ");
        cache.put_at(&cancelled, &completion("2", StopReason::Cancelled), T0).await;
        assert!(cache.get_at(&cancelled, String::new(), T0).await.is_none());
    }

    #[tokio::test]
    async fn a_sweep_deletes_expired_answers_and_the_oldest_past_the_bound() {
        let fixture = Fixture::new("sweep").await;
        let cache = fixture.cache(8);
        let old = complete_key(&cache, 1, "old");
        let new = complete_key(&cache, 1, "new");
        cache.put_at(&old, &completion("1", StopReason::EndOfLine), T0).await;
        cache.put_at(&new, &completion("2", StopReason::EndOfLine), T0 + 10).await;
        cache.sweep_at(T0 + TTL_MS + 5).await;
        assert_eq!(cache.entries_in_memory(), 1);
        let restarted = fixture.cache(8);
        assert!(restarted.get_at(&old, String::new(), T0).await.is_none(), "deleted, not just expired");
        assert!(restarted.get_at(&new, String::new(), T0 + TTL_MS + 5).await.is_some());

        let third = complete_key(&cache, 1, "third");
        cache.put_at(&third, &completion("3", StopReason::EndOfLine), T0 + 20).await;
        assert_eq!(fixture.store.sweep_cached_responses(0, 1).await.unwrap(), 1, "all but the newest go");
        let restarted = fixture.cache(8);
        assert!(restarted.get_at(&new, String::new(), T0 + 20).await.is_none());
        assert!(restarted.get_at(&third, String::new(), T0 + 20).await.is_some());
    }

    #[tokio::test]
    async fn a_zero_ttl_turns_the_cache_off() {
        let fixture = Fixture::new("off").await;
        let settings = CacheSettings { ttl: Duration::ZERO, entries: 8 };
        let cache = ResponseCache::new(fixture.store.clone(), fixture.metrics.clone(), settings);
        assert!(!cache.is_enabled());
        assert!(cache.key::<CompleteResponse>(1, "hapa-code", &question(None, "q")).is_none());
    }
}
