//! API keys against the real `hapa-server` binary while `hapa-server keys …` runs as another
//! process on the same data dir: the server keeps active keys' lookups in memory
//! (`hapa_server::key_cache`), and neither a revocation nor a new key may wait for that memory.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use common::{Server, create_key, error_of, keys};
use reqwest::StatusCode;

/// A server whose address-level limit on failed authentications never gets in the way: these
/// tests send many requests with revoked keys on purpose.
fn server() -> Server {
    Server::start_with(&["--auth-failure-limit", "100000"])
}

#[tokio::test]
async fn a_revocation_by_the_cli_refuses_the_very_next_request_even_under_load() {
    let server = Arc::new(server());
    let key = server.key("erin", "user");
    let other = server.key("frank", "user");
    // Both keys are in the server's memory now.
    assert_eq!(server.validate(Some(&key), "x = 1").await.status(), 200);
    assert_eq!(server.validate(Some(&other), "x = 1").await.status(), 200);

    // Requests with the key keep coming while it is revoked; each one notes when it was sent.
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (server, key, stop) = (server.clone(), key.clone(), stop.clone());
            tokio::spawn(async move {
                let mut sent = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let at = Instant::now();
                    sent.push((at, server.validate(Some(&key), "x = 1").await.status()));
                }
                sent
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let data = server.data.0.clone();
    tokio::task::spawn_blocking(move || keys(&data, &["revoke", "--name", "erin"])).await.unwrap();
    let revoked = Instant::now();
    let body = error_of(server.validate(Some(&key), "x = 1").await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body.code, "invalid_api_key");
    stop.store(true, Ordering::SeqCst);

    let mut before = 0;
    for task in load {
        for (at, status) in task.await.unwrap() {
            if at > revoked {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "a request sent after the revocation returned");
            } else if status == StatusCode::OK {
                before += 1;
            }
        }
    }
    assert!(before > 0, "the load ran before the revocation");
    // The flush forgot every key; the one still active is looked up again and works.
    assert_eq!(server.validate(Some(&other), "x = 1").await.status(), 200);
    assert_eq!(server.validate(Some(&key), "x = 1").await.status(), 401);
}

#[tokio::test]
async fn revocations_in_quick_succession_each_take_effect() {
    let server = server();
    let names = ["g1", "g2", "g3", "g4"];
    let keys_made: Vec<String> = names.iter().map(|name| server.key(name, "user")).collect();
    for key in &keys_made {
        assert_eq!(server.validate(Some(key), "x = 1").await.status(), 200);
    }
    for (i, name) in names.iter().enumerate() {
        keys(&server.data.0, &["revoke", "--name", name]);
        assert_eq!(server.validate(Some(&keys_made[i]), "x = 1").await.status(), 401, "{name}");
        for (j, key) in keys_made.iter().enumerate().skip(i + 1) {
            assert_eq!(server.validate(Some(key), "x = 1").await.status(), 200, "{} still active", names[j]);
        }
    }
}

#[tokio::test]
async fn a_key_made_while_the_server_runs_works_on_its_first_request() {
    let server = server();
    let old = server.key("hana", "user");
    assert_eq!(server.validate(Some(&old), "x = 1").await.status(), 200);
    // A well-formed key the server does not know is refused, and that refusal is not
    // remembered against keys made afterwards.
    let stranger = create_key(&common::TempDir::new().0, "elsewhere", "user");
    assert_eq!(server.validate(Some(&stranger), "x = 1").await.status(), 401);
    for n in 0..3 {
        let new = server.key(&format!("ivan{n}"), "monitor");
        assert_eq!(server.validate(Some(&new), "x = 1").await.status(), 200, "key {n}");
        // Its role is the one it was made with, not a remembered one.
        assert_eq!(server.post("/api/v1/feedback", Some(&new), &[], &serde_json::json!({})).await.status(), 403);
    }
    assert_eq!(server.validate(Some(&stranger), "x = 1").await.status(), 401);
}
