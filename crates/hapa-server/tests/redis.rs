//! Several hapa-server instances sharing one Redis (`--redis-url`): each test starts a
//! `redis-server` of its own on a loopback port (from the Debian package; `cargo xtask setup`
//! installs it) and real `hapa-server` processes on one SQLite data dir, so they share keys
//! the way instances on one PostgreSQL database do.

mod common;

use std::time::{Duration, Instant};

use common::services::{CountingModel, Instance, Redis, header};
use common::{TempDir, create_key, error_of};
use reqwest::StatusCode;
use serde_json::json;

fn data_dir() -> TempDir {
    let data = TempDir::new();
    std::fs::create_dir_all(&data.0).unwrap();
    data
}

/// The value of the metric line that starts with `series` (name and labels).
fn metric(text: &str, series: &str) -> Option<u64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Log lines whose message says `words`.
fn logged(instance: &Instance, words: &str) -> usize {
    instance.log().lines().filter(|line| line.contains(words)).count()
}

#[tokio::test]
async fn instances_on_one_database_share_each_keys_quota_exactly() {
    let redis = Redis::start();
    let data = data_dir();
    let ada = create_key(&data.0, "ada", "user");
    let bob = create_key(&data.0, "bob", "user");
    let url = redis.url();
    let flags = ["--redis-url", &url, "--rate-limit-user", "10"];
    let a = Instance::start(&data.0, "a", &flags);
    let b = Instance::start(&data.0, "b", &flags);
    let line = a.banner_line("hapa-server Redis:");
    assert_eq!(
        line,
        format!("hapa-server Redis: 127.0.0.1:{}/0, reachable: rate limits and cached answers are shared", redis.port)
    );

    // Taking turns, the two instances count down one quota.
    for n in 0..10 {
        let response = [&a, &b][n % 2].validate(&ada).await;
        assert_eq!(response.status(), 200, "request {n}");
        assert_eq!(header(&response, "ratelimit-policy"), "\"per-key\";q=10;w=60");
        assert_eq!(header(&response, "ratelimit"), format!("\"per-key\";r={}", 9 - n), "request {n}");
    }
    for instance in [&a, &b] {
        let limited = instance.validate(&ada).await;
        // One request comes back every 6 s.
        let retry_after: u64 = header(&limited, "retry-after").parse().unwrap();
        assert!((1..=6).contains(&retry_after), "Retry-After {retry_after}");
        assert_eq!(header(&limited, "ratelimit"), "\"per-key\";r=0");
        assert_eq!(error_of(limited, StatusCode::TOO_MANY_REQUESTS).await.code, "rate_limited");
    }

    // Forty at once, twenty on each: exactly the quota gets through (the script is atomic).
    let racing: Vec<_> = (0..40)
        .map(|n| {
            let (url, key) = ([&a, &b][n % 2].url("/api/v1/code/validate"), bob.clone());
            tokio::spawn(async move {
                let response = reqwest::Client::new()
                    .post(url)
                    .header("X-API-Key", key)
                    .json(&json!({ "code": "x = 1" }))
                    .send()
                    .await
                    .unwrap();
                response.status()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in racing {
        statuses.push(request.await.unwrap());
    }
    let allowed = statuses.iter().filter(|status| status.is_success()).count();
    let limited = statuses.iter().filter(|status| **status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((allowed, limited), (10, 30), "{statuses:?}");

    // Another database's key 1 is another key: the same Redis keeps its quota apart.
    let other = data_dir();
    let zed = create_key(&other.0, "zed", "user");
    let c = Instance::start(&other.0, "c", &flags);
    let response = c.validate(&zed).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "ratelimit"), "\"per-key\";r=9");
}

#[tokio::test]
async fn an_answer_cached_through_one_instance_is_a_hit_on_another_for_its_owner_only() {
    let redis = Redis::start();
    let model = CountingModel::start();
    let data = data_dir();
    let ada = create_key(&data.0, "ada", "user");
    let bob = create_key(&data.0, "bob", "user");
    let url = redis.url();
    let flags = [model.flags().as_slice(), &["--redis-url", &url]].concat();
    let a = Instance::start(&data.0, "a", &flags);
    let b = Instance::start(&data.0, "b", &flags);
    let line = a.banner_line("hapa-server response cache:");
    assert!(line.contains(&format!("over Redis at 127.0.0.1:{}/0", redis.port)), "{line}");

    let first = a.complete(&ada).await;
    assert_eq!((first.status().as_u16(), header(&first, "x-hapa-cache")), (200, "miss"));
    assert_eq!(model.requests(), 1);
    // B has never seen the request: its hit comes from Redis.
    let shared = b.complete(&ada).await;
    assert_eq!((shared.status().as_u16(), header(&shared, "x-hapa-cache")), (200, "hit"));
    let answer: serde_json::Value = shared.json().await.unwrap();
    assert_eq!(answer["completions"][0]["text"], "a + b");
    assert_eq!(model.requests(), 1, "a hit never reaches the model");
    // The same request from another key is that key's own.
    let other_owner = b.complete(&bob).await;
    assert_eq!((other_owner.status().as_u16(), header(&other_owner, "x-hapa-cache")), (200, "miss"));
    assert_eq!(model.requests(), 2);
}

#[tokio::test]
async fn without_redis_requests_are_served_per_instance_until_it_is_back() {
    let mut redis = Redis::start();
    let model = CountingModel::start();
    let data = data_dir();
    let root = create_key(&data.0, "root", "admin");
    let ada = create_key(&data.0, "ada", "user");
    let cat = create_key(&data.0, "cat", "user");
    let dee = create_key(&data.0, "dee", "user");
    let url = redis.url();
    let flags = [model.flags().as_slice(), &["--redis-url", &url, "--rate-limit-user", "5"]].concat();
    let a = Instance::start(&data.0, "a", &flags);
    let b = Instance::start(&data.0, "b", &flags);
    let metrics = a.metrics(&root).await;
    assert_eq!(metric(&metrics, "hapa_redis_up"), Some(1), "{metrics}");
    assert_eq!(metric(&metrics, "hapa_redis_fallbacks_total{use=\"rate_limit\"}"), Some(0), "{metrics}");

    redis.kill();
    for n in 0..20 {
        assert_eq!(a.validate(&root).await.status(), 200, "request {n} without Redis");
    }
    // Each instance limits on its own: A's five and B's five.
    for instance in [&a, &b] {
        for n in 0..5 {
            let response = instance.validate(&ada).await;
            assert_eq!(response.status(), 200, "request {n}");
            assert_eq!(header(&response, "ratelimit"), format!("\"per-key\";r={}", 4 - n));
        }
        assert_eq!(instance.validate(&ada).await.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    // The cache goes on in memory.
    assert_eq!(header(&a.complete(&dee).await, "x-hapa-cache"), "miss");
    assert_eq!(header(&a.complete(&dee).await, "x-hapa-cache"), "hit");
    assert_eq!(model.requests(), 1);
    let metrics = a.metrics(&root).await;
    assert!(metric(&metrics, "hapa_redis_fallbacks_total{use=\"cache\"}").unwrap() >= 2, "{metrics}");
    assert_eq!(metric(&metrics, "hapa_redis_up"), Some(0), "{metrics}");
    let fallbacks = metric(&metrics, "hapa_redis_fallbacks_total{use=\"rate_limit\"}").unwrap();
    assert!(fallbacks >= 26, "{metrics}");
    assert_eq!(logged(&a, "Redis is unreachable"), 1, "one warning per outage:\n{}", a.log());
    assert!(logged(&a, "\"level\":\"WARN\"") >= 1, "{}", a.log());

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&a.metrics(&root).await, "hapa_redis_up") != Some(1) {
        assert!(Instant::now() < deadline, "Redis is not used again 10 s after it is back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(logged(&a, "Redis is reachable"), 2, "at start and when it came back:\n{}", a.log());
    // Shared again: B goes on counting where A stopped, and nothing falls back any more.
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&b.metrics(&root).await, "hapa_redis_up") != Some(1) {
        assert!(Instant::now() < deadline, "B does not use Redis again 10 s after it is back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = metric(&a.metrics(&root).await, "hapa_redis_fallbacks_total{use=\"rate_limit\"}");
    assert_eq!(header(&a.validate(&cat).await, "ratelimit"), "\"per-key\";r=4");
    assert_eq!(header(&b.validate(&cat).await, "ratelimit"), "\"per-key\";r=3");
    let after = metric(&a.metrics(&root).await, "hapa_redis_fallbacks_total{use=\"rate_limit\"}");
    assert_eq!(before, after);
}

#[tokio::test]
async fn a_server_started_while_redis_is_down_serves_and_uses_it_once_it_answers() {
    let mut redis = Redis::start();
    redis.kill();
    let data = data_dir();
    let root = create_key(&data.0, "root", "admin");
    let url = redis.url();
    let a = Instance::start(&data.0, "a", &["--redis-url", &url]);
    let line = a.banner_line("hapa-server Redis:");
    assert!(line.contains("unreachable for now: limiting per instance and caching in memory"), "{line}");
    assert_eq!(a.validate(&root).await.status(), 200);
    let metrics = a.metrics(&root).await;
    assert_eq!(metric(&metrics, "hapa_redis_up"), Some(0), "{metrics}");
    assert_eq!(logged(&a, "Redis is unreachable"), 1, "{}", a.log());

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&a.metrics(&root).await, "hapa_redis_up") != Some(1) {
        assert!(Instant::now() < deadline, "Redis is not used 10 s after it answers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(logged(&a, "Redis is reachable"), 1, "{}", a.log());
}
