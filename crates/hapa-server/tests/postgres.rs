//! hapa-server on PostgreSQL (`--database-url postgres://…`): each test starts a PostgreSQL
//! cluster of its own on a loopback port (from the Debian package; `cargo xtask setup`
//! installs it) and the real `hapa-server` binary on it, for the CLI and for `serve`.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::services::{CountingModel, Instance, Postgres, Redis, header};
use common::{TempDir, cli, error_of, hapa_server};
use hapa_protocol::api::{FeedbackEvent, FeedbackRecord, FeedbackResponse};
use hapa_server::store::Store;
use reqwest::StatusCode;
use serde_json::json;

/// `--database-url URL` followed by `args`.
fn on<'a>(postgres: &'a Postgres, args: &[&'a str]) -> Vec<&'a str> {
    [&["--database-url", postgres.url.as_str()], args].concat()
}

/// `hapa-server ARGS...` on `data`, which must fail; its stderr.
fn failure(data: &TempDir, args: &[&str]) -> String {
    let out = hapa_server(&data.0).args(args).stderr(Stdio::piped()).output().unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn exported_feedback(data: &TempDir, postgres: &Postgres) -> Vec<FeedbackRecord> {
    let exported = cli(&data.0, &on(postgres, &["feedback", "export"]));
    exported.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

#[tokio::test]
async fn keys_feedback_and_revocation_are_shared_by_instances_on_one_database() {
    let postgres = Postgres::start();
    let data = TempDir::new();
    std::fs::create_dir_all(&data.0).unwrap();
    let created = cli(&data.0, &on(&postgres, &["keys", "create", "--name", "ada", "--role", "user"]));
    let key = created.lines().last().unwrap().to_owned();
    let stderr = failure(&data, &on(&postgres, &["keys", "create", "--name", "ada"]));
    assert!(stderr.contains("a key named \"ada\" already exists"), "{stderr}");

    let a = Instance::start(&data.0, "a", &["--database-url", &postgres.url]);
    let b = Instance::start(&data.0, "b", &["--database-url", &postgres.url]);
    let port = postgres.url.rsplit_once(':').unwrap().1.split('/').next().unwrap();
    let store_line = a.banner_line("hapa-server store:");
    assert_eq!(store_line, format!("hapa-server store: PostgreSQL at hapa@127.0.0.1:{port}/postgres"));
    assert!(!data.0.join(hapa_server::store::DATABASE_FILE).exists(), "no SQLite database beside PostgreSQL");

    assert_eq!(a.validate(&key).await.status(), 200);
    assert_eq!(b.validate(&key).await.status(), 200);
    let body = json!({ "request_id": "req-1", "event": "up", "comment": "spot on ✓" });
    let created = reqwest::Client::new()
        .post(b.url("/api/v1/feedback"))
        .header("X-API-Key", &key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let FeedbackResponse { id } = created.json().await.unwrap();
    let records = exported_feedback(&data, &postgres);
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].id, records[0].key_name.as_str()), (id, "ada"));
    assert_eq!(records[0].feedback.event, FeedbackEvent::Up);
    assert_eq!(records[0].feedback.comment.as_deref(), Some("spot on ✓"));
    let at = &records[0].created_at;
    assert!(at.len() == 20 && at.as_bytes()[10] == b'T' && at.ends_with('Z'), "ISO 8601 UTC, as SQLite's: {at}");

    // Revoking through the CLI takes effect at once on every instance: the very next request
    // after `keys revoke` returns is refused, wherever it goes.
    let store = Store::open_postgres(&postgres.url).await.unwrap();
    let digest = hapa_server::api_key::digest(&key);
    assert!(store.caller_for_digest(&digest).await.unwrap().is_some());
    cli(&data.0, &on(&postgres, &["keys", "revoke", "--name", "ada"]));
    assert_eq!(store.caller_for_digest(&digest).await.unwrap(), None, "revoked when `keys revoke` returns");
    for instance in [&a, &b] {
        for _ in 0..3 {
            let refused = error_of(instance.validate(&key).await, StatusCode::UNAUTHORIZED).await;
            assert_eq!(refused.code, "invalid_api_key");
        }
    }
    let listing = cli(&data.0, &on(&postgres, &["keys", "list"]));
    assert!(listing.contains("ada\tuser\thapa_") && listing.contains("\trevoked 20"), "{listing}");
    assert!(!listing.contains(&key), "a listing never shows a key");
    let again = failure(&data, &on(&postgres, &["keys", "revoke", "--name", "ada"]));
    assert!(again.contains("no active key named \"ada\""), "{again}");
}

#[tokio::test]
async fn acknowledged_feedback_survives_kill_9_on_postgres() {
    let postgres = Postgres::start();
    let data = TempDir::new();
    std::fs::create_dir_all(&data.0).unwrap();
    let created = cli(&data.0, &on(&postgres, &["keys", "create", "--name", "kim", "--role", "user"]));
    let key = created.lines().last().unwrap().to_owned();
    let mut server = Instance::start(&data.0, "server", &["--database-url", &postgres.url]);
    let client = reqwest::Client::new();
    let url = server.url("/api/v1/feedback");
    // Four writers send until the server dies; every 201 they got is a promise.
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (client, url, key) = (client.clone(), url.clone(), key.clone());
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for n in 0.. {
                    let body = json!({ "completion_id": format!("w{writer}-{n}"), "event": "accept" });
                    let Ok(response) = client.post(&url).header("X-API-Key", &key).json(&body).send().await else {
                        break;
                    };
                    if response.status() != StatusCode::CREATED {
                        break;
                    }
                    let Ok(FeedbackResponse { id }) = response.json().await else { break };
                    acknowledged.push(id);
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.kill(); // SIGKILL
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(acknowledged.len() > 20, "only {} writes acknowledged before the kill", acknowledged.len());
    let stored: std::collections::HashSet<i64> =
        exported_feedback(&data, &postgres).into_iter().map(|record| record.id).collect();
    let lost: Vec<_> = acknowledged.iter().filter(|id| !stored.contains(id)).collect();
    assert!(lost.is_empty(), "acknowledged but lost after kill -9: {lost:?}");
}

#[test]
fn a_database_url_that_is_not_postgres_is_refused_clearly() {
    let data = TempDir::new();
    let stderr = failure(&data, &["--database-url", "mysql://db/hapa", "keys", "list"]);
    assert!(stderr.contains("--database-url must be a PostgreSQL URL"), "{stderr}");
    let nobody = format!("postgres://hapa:secret@127.0.0.1:{}/hapa", common::services::free_port());
    let stderr = failure(&data, &["--database-url", &nobody, "keys", "list"]);
    assert!(stderr.contains("cannot open the PostgreSQL database at hapa@127.0.0.1:"), "{stderr}");
    assert!(!stderr.contains("secret"), "the password is never shown: {stderr}");
}

/// The scale-out setup as deployed: two instances with nothing on disk in common (a data dir
/// each, as on two hosts), one PostgreSQL and one Redis. A key made once works on both, an
/// answer cached through one is a hit on the other, and both count down one quota.
#[tokio::test]
async fn instances_on_two_hosts_share_keys_answers_and_quotas_through_postgres_and_redis() {
    let postgres = Postgres::start();
    let redis = Redis::start();
    let model = CountingModel::start();
    let (host_a, host_b) = (TempDir::new(), TempDir::new());
    for host in [&host_a, &host_b] {
        std::fs::create_dir_all(&host.0).unwrap();
    }
    let created = cli(&host_a.0, &on(&postgres, &["keys", "create", "--name", "ada", "--role", "user"]));
    let key = created.lines().last().unwrap().to_owned();
    let redis_url = redis.url();
    let flags = [on(&postgres, &["--redis-url", &redis_url, "--rate-limit-user", "4"]), model.flags()].concat();
    let a = Instance::start(&host_a.0, "a", &flags);
    let b = Instance::start(&host_b.0, "b", &flags);

    let first = a.complete(&key).await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "x-hapa-cache"), "miss");
    let second = b.complete(&key).await;
    assert_eq!(second.status(), 200);
    assert_eq!(header(&second, "x-hapa-cache"), "hit", "written through a, found by b");
    assert_eq!(model.requests(), 1, "the model was asked once");

    // Two of the four requests a minute are used: one more on each, then both refuse.
    for instance in [&a, &b] {
        let response = instance.validate(&key).await;
        assert_eq!(response.status(), 200);
    }
    for instance in [&a, &b] {
        let limited = instance.validate(&key).await;
        assert!(!header(&limited, "retry-after").is_empty(), "Retry-After on a 429");
        assert_eq!(error_of(limited, StatusCode::TOO_MANY_REQUESTS).await.code, "rate_limited");
    }
}
