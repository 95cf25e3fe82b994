//! What the server has done since it started, kept in one place that both `GET /stats` (JSON)
//! and `GET /metrics` (Prometheus text format) read.
//!
//! Requests are counted by route *template* (axum's `MatchedPath`, `"unmatched"` when no route
//! matches), method and status, never by raw path, so the number of series stays bounded
//! whatever paths clients send. Latency is kept per route twice: in fixed Prometheus buckets
//! and in an HDR histogram for the percentiles of `/stats`.
//!
//! Later features report through the same handle: [`Metrics::cache_hit`] /
//! [`Metrics::cache_miss`] for the request cache, [`Metrics::set_model`] for the model,
//! [`Metrics::generation_cancelled`] for generations stopped before they finished,
//! [`Metrics::set_redis_up`] / [`Metrics::redis_fallback`] for the link to Redis.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use axum::http::Method;
use hapa_protocol::api::{CacheStats, LatencyPercentiles, ModelStats, RouteStats, StatsResponse};
use hdrhistogram::Histogram;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// The route label of requests that no route matched.
pub const UNMATCHED: &str = "unmatched";

/// The `Content-Type` of [`Metrics::prometheus_text`].
pub const PROMETHEUS_CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds of the latency histogram's buckets, in seconds (Prometheus' usual spread, up
/// to the minute a generation may take).
const BUCKETS: [f64; 15] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Longest latency the percentiles resolve (an hour, in µs); longer ones count as this.
const LONGEST_MICROS: u64 = 3_600_000_000;

/// Which rate limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// A key's quota per minute.
    PerKey,
    /// An address's quota of failed authentications.
    AuthFailures,
}

impl Limit {
    fn label(self) -> &'static str {
        match self {
            Limit::PerKey => "per_key",
            Limit::AuthFailures => "auth_failures",
        }
    }
}

/// Why a generation was stopped before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// The client went away (closed the connection or the stream).
    Disconnect,
    /// The request's deadline passed.
    Deadline,
}

impl Cancel {
    fn label(self) -> &'static str {
        match self {
            Cancel::Disconnect => "disconnect",
            Cancel::Deadline => "deadline",
        }
    }
}

/// What a request would have used Redis for, had it been reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisUse {
    /// The key's shared rate limit (the in-process limiter counted it instead).
    RateLimit,
    /// The response cache's second level (only memory was consulted or written).
    Cache,
}

impl RedisUse {
    fn label(self) -> &'static str {
        match self {
            RedisUse::RateLimit => "rate_limit",
            RedisUse::Cache => "cache",
        }
    }
}

/// The shared record; cheap to update from every request.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    requests: Mutex<Requests>,
    auth_failures: AtomicU64,
    rate_limited_per_key: AtomicU64,
    rate_limited_auth_failures: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    cancelled_disconnect: AtomicU64,
    cancelled_deadline: AtomicU64,
    model: RwLock<ModelStats>,
    /// Whether `--redis-url` is set: the Redis series are only reported then.
    redis_configured: AtomicBool,
    redis_up: AtomicBool,
    redis_fallbacks_rate_limit: AtomicU64,
    redis_fallbacks_cache: AtomicU64,
}

#[derive(Debug, Default)]
struct Requests {
    /// By (route, method, status).
    counts: HashMap<(String, &'static str, u16), u64>,
    /// By route.
    latency: HashMap<String, Latency>,
}

#[derive(Debug, Clone)]
struct Latency {
    /// Requests per bucket of [`BUCKETS`], the last one for those above them all.
    buckets: [u64; BUCKETS.len() + 1],
    count: u64,
    sum_seconds: f64,
    /// In microseconds, two significant digits (~27 KiB per route).
    micros: Histogram<u64>,
}

impl Latency {
    fn new() -> Self {
        // Constant bounds, checked by every test that records a request.
        let micros =
            Histogram::new_with_bounds(1, LONGEST_MICROS, 2).expect("1 µs to 1 h at 2 digits are valid bounds");
        Self { buckets: [0; BUCKETS.len() + 1], count: 0, sum_seconds: 0.0, micros }
    }

    fn record(&mut self, latency: Duration) {
        let seconds = latency.as_secs_f64();
        let bucket = BUCKETS.iter().position(|&bound| seconds <= bound).unwrap_or(BUCKETS.len());
        self.buckets[bucket] += 1;
        self.count += 1;
        self.sum_seconds += seconds;
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).clamp(1, LONGEST_MICROS);
        self.micros.saturating_record(micros);
    }

    fn percentiles(&self) -> LatencyPercentiles {
        let ms = |quantile| self.micros.value_at_quantile(quantile) as f64 / 1000.0;
        LatencyPercentiles { p50: ms(0.50), p95: ms(0.95), p99: ms(0.99) }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty record; uptime counts from now.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            requests: Mutex::default(),
            auth_failures: AtomicU64::new(0),
            rate_limited_per_key: AtomicU64::new(0),
            rate_limited_auth_failures: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            cancelled_disconnect: AtomicU64::new(0),
            cancelled_deadline: AtomicU64::new(0),
            model: RwLock::new(ModelStats { provider: "none".to_owned(), name: None }),
            redis_configured: AtomicBool::new(false),
            redis_up: AtomicBool::new(false),
            redis_fallbacks_rate_limit: AtomicU64::new(0),
            redis_fallbacks_cache: AtomicU64::new(0),
        }
    }

    /// Records one answered request. `route` is the matched route template or [`UNMATCHED`].
    pub fn record_request(&self, route: &str, method: &Method, status: u16, latency: Duration) {
        let mut requests = self.lock_requests();
        *requests.counts.entry((route.to_owned(), method_label(method), status)).or_default() += 1;
        match requests.latency.get_mut(route) {
            Some(histogram) => histogram.record(latency),
            None => {
                let mut histogram = Latency::new();
                histogram.record(latency);
                requests.latency.insert(route.to_owned(), histogram);
            }
        }
    }

    /// A request presented no key, or a malformed, unknown or revoked one.
    pub fn auth_failure(&self) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// A request was refused with 429 by `limit`.
    pub fn rate_limited(&self, limit: Limit) {
        self.refusals(limit).fetch_add(1, Ordering::Relaxed);
    }

    fn refusals(&self, limit: Limit) -> &AtomicU64 {
        match limit {
            Limit::PerKey => &self.rate_limited_per_key,
            Limit::AuthFailures => &self.rate_limited_auth_failures,
        }
    }

    /// The request cache answered a lookup.
    pub fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// The request cache had no answer for a lookup.
    pub fn cache_miss(&self) {
        self.cache_misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Which model now answers: `provider` such as `"local"`, and its name.
    pub fn set_model(&self, provider: &str, name: Option<&str>) {
        let mut model = self.model.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        *model = ModelStats { provider: provider.to_owned(), name: name.map(str::to_owned) };
    }

    /// A generation stopped early: decoding saw the cancellation and ended between tokens.
    pub fn generation_cancelled(&self, reason: Cancel) {
        self.cancellations(reason).fetch_add(1, Ordering::Relaxed);
    }

    fn cancellations(&self, reason: Cancel) -> &AtomicU64 {
        match reason {
            Cancel::Disconnect => &self.cancelled_disconnect,
            Cancel::Deadline => &self.cancelled_deadline,
        }
    }

    /// Redis is configured, and now reachable (`true`) or not.
    pub fn set_redis_up(&self, up: bool) {
        self.redis_configured.store(true, Ordering::Relaxed);
        self.redis_up.store(up, Ordering::Relaxed);
    }

    /// A request went without Redis for `purpose` because it was unreachable.
    pub fn redis_fallback(&self, purpose: RedisUse) {
        self.redis_fallbacks(purpose).fetch_add(1, Ordering::Relaxed);
    }

    fn redis_fallbacks(&self, purpose: RedisUse) -> &AtomicU64 {
        match purpose {
            RedisUse::RateLimit => &self.redis_fallbacks_rate_limit,
            RedisUse::Cache => &self.redis_fallbacks_cache,
        }
    }

    fn lock_requests(&self) -> MutexGuard<'_, Requests> {
        // A panic while holding the lock leaves counts that are still counts.
        self.requests.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn model(&self) -> ModelStats {
        self.model.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn cache(&self) -> CacheStats {
        let hits = self.cache_hits.load(Ordering::Relaxed);
        let misses = self.cache_misses.load(Ordering::Relaxed);
        let lookups = hits + misses;
        // No lookup yet means no rate, not a rate of 0.
        let hit_rate = (lookups > 0).then(|| hits as f64 / lookups as f64);
        CacheStats { hits, misses, hit_rate }
    }

    /// The body of `GET /stats`.
    pub fn stats(&self) -> StatsResponse {
        let requests = self.lock_requests();
        let mut routes: BTreeMap<&str, RouteStats> = BTreeMap::new();
        for ((route, _method, status), &count) in &requests.counts {
            let entry = routes.entry(route).or_insert_with(|| RouteStats {
                route: route.clone(),
                requests: 0,
                by_status: BTreeMap::new(),
                // Recorded together with the count, so always there.
                latency_ms: requests
                    .latency
                    .get(route)
                    .map_or(LatencyPercentiles { p50: 0.0, p95: 0.0, p99: 0.0 }, Latency::percentiles),
            });
            entry.requests += count;
            *entry.by_status.entry(status.to_string()).or_default() += count;
        }
        StatsResponse {
            uptime_seconds: self.started.elapsed().as_secs(),
            routes: routes.into_values().collect(),
            cache: self.cache(),
            model: self.model(),
        }
    }

    /// The body of `GET /metrics`: the Prometheus text format, version 0.0.4.
    pub fn prometheus_text(&self) -> Result<String, std::fmt::Error> {
        let snapshot = {
            let requests = self.lock_requests();
            Snapshot {
                uptime_seconds: self.started.elapsed().as_secs_f64(),
                counts: requests.counts.iter().map(|(key, &count)| (key.clone(), count)).collect(),
                latency: requests
                    .latency
                    .iter()
                    .map(|(route, latency)| (route.clone(), (latency.buckets, latency.count, latency.sum_seconds)))
                    .collect(),
                auth_failures: self.auth_failures.load(Ordering::Relaxed),
                rate_limited: [Limit::PerKey, Limit::AuthFailures]
                    .map(|limit| (limit.label(), self.refusals(limit).load(Ordering::Relaxed))),
                cancelled: [Cancel::Disconnect, Cancel::Deadline]
                    .map(|reason| (reason.label(), self.cancellations(reason).load(Ordering::Relaxed))),
                cache: self.cache(),
                model: self.model(),
                redis: self.redis_configured.load(Ordering::Relaxed).then(|| RedisSnapshot {
                    up: self.redis_up.load(Ordering::Relaxed),
                    fallbacks: [RedisUse::RateLimit, RedisUse::Cache]
                        .map(|purpose| (purpose.label(), self.redis_fallbacks(purpose).load(Ordering::Relaxed))),
                }),
            }
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(snapshot));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)?;
        Ok(text)
    }
}

/// The method as a label: the standard ones by name, anything else as `"other"`, so a client
/// cannot create series at will.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// A copy of the record taken under the lock, encoded after it is released.
#[derive(Debug)]
struct Snapshot {
    uptime_seconds: f64,
    counts: BTreeMap<(String, &'static str, u16), u64>,
    latency: BTreeMap<String, ([u64; BUCKETS.len() + 1], u64, f64)>,
    auth_failures: u64,
    rate_limited: [(&'static str, u64); 2],
    cancelled: [(&'static str, u64); 2],
    cache: CacheStats,
    model: ModelStats,
    /// `None` without `--redis-url`.
    redis: Option<RedisSnapshot>,
}

/// The link to Redis, when there is one.
#[derive(Debug)]
struct RedisSnapshot {
    up: bool,
    fallbacks: [(&'static str, u64); 2],
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // Counters get their `_total` suffix from the encoder.
        let mut requests = encoder.encode_descriptor(
            "hapa_http_requests",
            "HTTP requests answered, by route template, method and status.",
            None,
            MetricType::Counter,
        )?;
        for ((route, method, status), count) in &self.counts {
            let status = status.to_string();
            let labels = [("route", route.as_str()), ("method", method), ("status", status.as_str())];
            requests.encode_family(&labels)?.encode_counter::<NoLabelSet, _, u64>(count, None)?;
        }

        let mut latency = encoder.encode_descriptor(
            "hapa_http_request_duration_seconds",
            "Time from a request's arrival to its answer's head, by route template.",
            None,
            MetricType::Histogram,
        )?;
        for (route, (buckets, count, sum)) in &self.latency {
            let bounds = BUCKETS.iter().copied().chain([f64::INFINITY]);
            let buckets: Vec<(f64, u64)> = bounds.zip(buckets.iter().copied()).collect();
            latency
                .encode_family(&[("route", route.as_str())])?
                .encode_histogram::<NoLabelSet>(*sum, *count, &buckets, None)?;
        }

        let mut limited = encoder.encode_descriptor(
            "hapa_rate_limited",
            "Requests refused with 429, by limit: per_key (a key's quota) or auth_failures (an address's failed authentications).",
            None,
            MetricType::Counter,
        )?;
        for (limit, count) in &self.rate_limited {
            limited.encode_family(&[("limit", *limit)])?.encode_counter::<NoLabelSet, _, u64>(count, None)?;
        }

        let mut cancelled = encoder.encode_descriptor(
            "hapa_generations_cancelled",
            "Generations stopped between tokens before they finished, by reason: disconnect (the client went away) or deadline.",
            None,
            MetricType::Counter,
        )?;
        for (reason, count) in &self.cancelled {
            cancelled.encode_family(&[("reason", *reason)])?.encode_counter::<NoLabelSet, _, u64>(count, None)?;
        }

        encoder
            .encode_descriptor(
                "hapa_auth_failures",
                "Requests with no key, or a malformed, unknown or revoked one.",
                None,
                MetricType::Counter,
            )?
            .encode_counter::<NoLabelSet, _, u64>(&self.auth_failures, None)?;
        encoder
            .encode_descriptor(
                "hapa_cache_hits",
                "Request cache lookups answered from the cache.",
                None,
                MetricType::Counter,
            )?
            .encode_counter::<NoLabelSet, _, u64>(&self.cache.hits, None)?;
        encoder
            .encode_descriptor("hapa_cache_misses", "Request cache lookups that missed.", None, MetricType::Counter)?
            .encode_counter::<NoLabelSet, _, u64>(&self.cache.misses, None)?;
        encoder
            .encode_descriptor("hapa_uptime_seconds", "Seconds since the server started.", None, MetricType::Gauge)?
            .encode_gauge(&self.uptime_seconds)?;
        let name = self.model.name.as_deref().unwrap_or("");
        encoder
            .encode_descriptor(
                "hapa_model",
                "The model that answers (name empty while none is loaded).",
                None,
                MetricType::Info,
            )?
            .encode_info(&[("provider", self.model.provider.as_str()), ("name", name)])?;
        if let Some(redis) = &self.redis {
            encoder
                .encode_descriptor(
                    "hapa_redis_up",
                    "Whether Redis (--redis-url) answered the last command or probe: 1 shared, 0 per instance.",
                    None,
                    MetricType::Gauge,
                )?
                .encode_gauge(&i64::from(redis.up))?;
            let mut fallbacks = encoder.encode_descriptor(
                "hapa_redis_fallbacks",
                "Requests served without Redis while it was unreachable, by use: rate_limit (the in-process limiter counted them) or cache (memory only).",
                None,
                MetricType::Counter,
            )?;
            for (purpose, count) in &redis.fallbacks {
                fallbacks.encode_family(&[("use", *purpose)])?.encode_counter::<NoLabelSet, _, u64>(count, None)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_buckets_come_from_the_recorded_latencies() {
        let metrics = Metrics::new();
        for ms in 1..=100 {
            metrics.record_request("/r", &Method::GET, 200, Duration::from_millis(ms));
        }
        metrics.record_request("/r", &Method::from_bytes(b"BREW").unwrap(), 405, Duration::from_millis(1));
        let stats = metrics.stats();
        let [route] = stats.routes.as_slice() else { panic!("{stats:?}") };
        assert_eq!(route.requests, 101);
        assert_eq!(route.by_status, BTreeMap::from([("200".to_owned(), 100), ("405".to_owned(), 1)]));
        // Two significant digits: within 1 %.
        let near = |value: f64, expected: f64| (value - expected).abs() <= expected * 0.01;
        assert!(near(route.latency_ms.p50, 50.0), "{:?}", route.latency_ms);
        assert!(near(route.latency_ms.p95, 95.0), "{:?}", route.latency_ms);
        assert!(near(route.latency_ms.p99, 99.0), "{:?}", route.latency_ms);
        assert_eq!(stats.cache, CacheStats { hits: 0, misses: 0, hit_rate: None });

        let text = metrics.prometheus_text().unwrap();
        assert!(text.contains("hapa_http_requests_total{route=\"/r\",method=\"GET\",status=\"200\"} 100\n"), "{text}");
        assert!(text.contains("hapa_http_requests_total{route=\"/r\",method=\"other\",status=\"405\"} 1\n"), "{text}");
        // Cumulative: 1 ms twice, then 2 and 3 ms are under 5 ms, ..., 100 under 100 ms.
        assert!(text.contains("hapa_http_request_duration_seconds_bucket{route=\"/r\",le=\"0.001\"} 2\n"), "{text}");
        assert!(text.contains("hapa_http_request_duration_seconds_bucket{route=\"/r\",le=\"0.005\"} 6\n"), "{text}");
        assert!(text.contains("hapa_http_request_duration_seconds_bucket{route=\"/r\",le=\"0.1\"} 101\n"), "{text}");
        assert!(text.contains("hapa_http_request_duration_seconds_bucket{route=\"/r\",le=\"+Inf\"} 101\n"), "{text}");
        assert!(text.contains("hapa_http_request_duration_seconds_count{route=\"/r\"} 101\n"), "{text}");
        assert!(text.contains("hapa_model_info{provider=\"none\",name=\"\"} 1\n"), "{text}");
    }

    #[test]
    fn the_cache_hit_rate_is_null_until_a_lookup() {
        let metrics = Metrics::new();
        assert_eq!(metrics.stats().cache.hit_rate, None);
        metrics.cache_hit();
        metrics.cache_hit();
        metrics.cache_hit();
        metrics.cache_miss();
        assert_eq!(metrics.stats().cache, CacheStats { hits: 3, misses: 1, hit_rate: Some(0.75) });
        metrics.set_model("local", Some("hapa-tiny"));
        assert_eq!(metrics.stats().model, ModelStats { provider: "local".into(), name: Some("hapa-tiny".into()) });
        let text = metrics.prometheus_text().unwrap();
        assert!(text.contains("hapa_cache_hits_total 3\n") && text.contains("hapa_cache_misses_total 1\n"), "{text}");
    }

    #[test]
    fn redis_series_appear_once_redis_is_configured() {
        let metrics = Metrics::new();
        assert!(!metrics.prometheus_text().unwrap().contains("hapa_redis"), "no Redis, no series");
        metrics.set_redis_up(true);
        metrics.set_redis_up(false);
        metrics.redis_fallback(RedisUse::RateLimit);
        metrics.redis_fallback(RedisUse::RateLimit);
        metrics.redis_fallback(RedisUse::Cache);
        let text = metrics.prometheus_text().unwrap();
        assert!(text.contains("\nhapa_redis_up 0\n"), "{text}");
        assert!(text.contains("hapa_redis_fallbacks_total{use=\"rate_limit\"} 2\n"), "{text}");
        assert!(text.contains("hapa_redis_fallbacks_total{use=\"cache\"} 1\n"), "{text}");
    }
}
