//! The real `hapa-server` binary on an ephemeral loopback port, with its real SQLite store.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use hapa_protocol::api::{
    ErrorBody, FeedbackEvent, FeedbackRecord, FeedbackResponse, HealthResponse, ValidateResponse,
};
use reqwest::StatusCode;

/// A data dir removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self(std::env::temp_dir().join(format!("hapa-server-test-{}-{n}", std::process::id())))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn hapa_server(data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hapa-server"));
    command.arg("--data-dir").arg(data).stderr(Stdio::null());
    command
}

/// `hapa-server keys ...`; its stdout, or a panic with its stderr.
fn keys(data: &Path, args: &[&str]) -> String {
    cli(data, &[&["keys"], args].concat())
}

/// `hapa-server ARGS...` on `data`; its stdout, or a panic with its stderr.
fn cli(data: &Path, args: &[&str]) -> String {
    let out = hapa_server(data).args(args).stderr(Stdio::piped()).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn create_key(data: &Path, name: &str, role: &str) -> String {
    let out = keys(data, &["create", "--name", name, "--role", role]);
    out.lines().last().unwrap().to_owned()
}

/// A running `hapa-server serve`, killed when dropped.
struct Server {
    child: Child,
    base: String,
    data: TempDir,
}

impl Server {
    fn start() -> Self {
        Self::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Self {
        let data = TempDir::new();
        let mut child = hapa_server(&data.0)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("hapa-server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("hapa-server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, base, data }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn key(&self, name: &str, role: &str) -> String {
        create_key(&self.data.0, name, role)
    }

    async fn validate(&self, key: Option<&str>, code: &str) -> reqwest::Response {
        let mut request =
            reqwest::Client::new().post(self.url("/api/v1/code/validate")).json(&serde_json::json!({ "code": code }));
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        request.send().await.unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn error_of(response: reqwest::Response, status: StatusCode) -> ErrorBody {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}

#[tokio::test]
async fn health_answers_without_a_key() {
    let server = Server::start();
    let response = reqwest::get(server.url("/health")).await.unwrap();
    assert_eq!(response.status(), 200);
    let health: HealthResponse = response.json().await.unwrap();
    assert_eq!(health, HealthResponse { status: "ok".into(), version: "0.1.0".into() });
}

#[tokio::test]
async fn unknown_paths_get_a_json_404() {
    let server = Server::start();
    let response = reqwest::get(server.url("/v1/../admin%0d%0a")).await.unwrap();
    let body = error_of(response, StatusCode::NOT_FOUND).await;
    assert_eq!(body.code, "not_found");
    assert!(body.message.starts_with("no such endpoint: GET /"), "{}", body.message);
}

#[tokio::test]
async fn validate_needs_a_valid_key() {
    let server = Server::start();
    let missing = server.validate(None, "x = 1").await;
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    assert_eq!(error_of(missing, StatusCode::UNAUTHORIZED).await.code, "missing_api_key");

    let key = server.key("alice", "user");
    let mut typo = key.clone();
    typo.replace_range(8..9, if &key[8..9] == "a" { "b" } else { "a" });
    let unknown = format!("hapa_{}", &create_key(&TempDir::new().0, "elsewhere", "user")[5..]);
    for bad in [typo.as_str(), "hapa_short", unknown.as_str(), &format!("{key}\n")[..key.len()].replace('h', "H")] {
        let body = error_of(server.validate(Some(bad), "x = 1").await, StatusCode::UNAUTHORIZED).await;
        assert_eq!(body.code, "invalid_api_key", "{bad}");
    }

    let ok = server.validate(Some(&key), "x = 1\n").await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<ValidateResponse>().await.unwrap(), ValidateResponse { valid: true, errors: vec![] });
}

#[tokio::test]
async fn bearer_is_accepted_and_conflicting_keys_are_not() {
    let server = Server::start();
    let key = server.key("bob", "monitor");
    let client = reqwest::Client::new();
    for scheme in ["Bearer", "bearer"] {
        let response = client
            .post(server.url("/api/v1/code/validate"))
            .header("Authorization", format!("{scheme} {key}"))
            .json(&serde_json::json!({ "code": "pass" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
    }
    let other = server.key("carol", "user");
    let response = client
        .post(server.url("/api/v1/code/validate"))
        .header("Authorization", format!("Bearer {key}"))
        .header("X-API-Key", other)
        .json(&serde_json::json!({ "code": "pass" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn revocation_takes_effect_at_once() {
    let server = Server::start();
    let key = server.key("dave", "user");
    assert_eq!(server.validate(Some(&key), "x = 1").await.status(), 200);
    keys(&server.data.0, &["revoke", "--name", "dave"]);
    let body = error_of(server.validate(Some(&key), "x = 1").await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body.code, "invalid_api_key");
    let listing = keys(&server.data.0, &["list"]);
    assert!(listing.contains("dave\tuser\thapa_"), "{listing}");
    assert!(listing.contains("revoked"), "{listing}");
    assert!(!listing.contains(&key), "a listing must never show a key");
}

#[tokio::test]
async fn validate_reports_every_error_python_style() {
    let server = Server::start();
    let key = server.key("erin", "user");
    let response = server.validate(Some(&key), "def f(:\n    pass\nx = = 1\n").await;
    let report: ValidateResponse = response.json().await.unwrap();
    assert!(!report.valid);
    let lines: Vec<u32> = report.errors.iter().map(|e| e.line).collect();
    assert!(lines.contains(&1) && lines.contains(&3), "{report:?}");
    assert!(report.errors.iter().all(|e| e.column >= 1 && !e.message.is_empty()));

    let deep = format!("x = {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let report: ValidateResponse = server.validate(Some(&key), &deep).await.json().await.unwrap();
    assert!(report.errors[0].message.starts_with("too many nested parentheses"));
    // The server survived it.
    assert_eq!(reqwest::get(server.url("/health")).await.unwrap().status(), 200);
}

#[tokio::test]
async fn bad_bodies_get_json_4xx() {
    let server = Server::start();
    let key = server.key("frank", "user");
    let client = reqwest::Client::new();
    let send = |body: Vec<u8>, content_type: &'static str| {
        client
            .post(server.url("/api/v1/code/validate"))
            .header("X-API-Key", &key)
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let cases: [(&[u8], &str, StatusCode, &str); 6] = [
        (b"{\"code\": ", "application/json", StatusCode::BAD_REQUEST, "invalid_json"),
        (b"[]", "application/json", StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (
            b"{\"code\": \"x\", \"role\": \"admin\"}",
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (b"{\"code\": \"\\ud800\"}", "application/json", StatusCode::BAD_REQUEST, "invalid_json"),
        (b"\xc3\x28", "application/json", StatusCode::BAD_REQUEST, "invalid_json"),
        (b"{\"code\": \"x\"}", "text/plain", StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
    ];
    for (body, content_type, status, code) in cases {
        let response = send(body.to_vec(), content_type).await.unwrap();
        let error = error_of(response, status).await;
        assert_eq!(error.code, code, "{}", String::from_utf8_lossy(body));
    }
    let huge = serde_json::to_vec(&serde_json::json!({ "code": "x".repeat(5 * 1024 * 1024) })).unwrap();
    let error = error_of(send(huge, "application/json").await.unwrap(), StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(error.code, "payload_too_large");
}

#[tokio::test]
async fn each_key_gets_its_roles_quota_then_429_with_retry_after() {
    let server = Server::start_with(&["--rate-limit-user", "3"]);
    let key = server.key("grace", "user");
    for remaining in ["2", "1", "0"] {
        let response = server.validate(Some(&key), "x = 1").await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["ratelimit-policy"], "\"per-key\";q=3;w=60");
        assert_eq!(response.headers()["ratelimit"], format!("\"per-key\";r={remaining}"));
    }
    let limited = server.validate(Some(&key), "x = 1").await;
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(error_of(limited, StatusCode::TOO_MANY_REQUESTS).await.code, "rate_limited");
    // Other keys keep their own quota; unauthenticated requests are not counted for anyone.
    let other = server.key("heidi", "user");
    assert_eq!(server.validate(Some(&other), "x = 1").await.status(), 200);
    assert_eq!(server.validate(None, "x = 1").await.status(), 401);
}

async fn send_feedback(server: &Server, key: &str, body: serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/api/v1/feedback"))
        .header("X-API-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn feedback_is_stored_for_roles_that_may_send_it() {
    let server = Server::start();
    let user = server.key("ivan", "user");
    let monitor = server.key("judy", "monitor");
    let body = serde_json::json!({ "request_id": "req-1", "event": "down", "comment": "wrong import ✗" });

    let forbidden = send_feedback(&server, &monitor, body.clone()).await;
    assert_eq!(error_of(forbidden, StatusCode::FORBIDDEN).await.code, "forbidden");

    let created = send_feedback(&server, &user, body).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let FeedbackResponse { id } = created.json().await.unwrap();

    for bad in [
        serde_json::json!({ "event": "up" }),
        serde_json::json!({ "request_id": "r", "completion_id": "c", "event": "up" }),
        serde_json::json!({ "request_id": "r", "event": "up", "comment": "a\u{0}b" }),
        serde_json::json!({ "request_id": "r", "event": "love" }),
    ] {
        let response = send_feedback(&server, &user, bad.clone()).await;
        assert_eq!(error_of(response, StatusCode::UNPROCESSABLE_ENTITY).await.code, "invalid_request", "{bad}");
    }

    let exported = cli(&server.data.0, &["feedback", "export"]);
    let records: Vec<FeedbackRecord> = exported.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].id, id);
    assert_eq!(records[0].key_name, "ivan");
    assert_eq!(records[0].feedback.event, FeedbackEvent::Down);
    assert_eq!(records[0].feedback.comment.as_deref(), Some("wrong import ✗"));
}

#[tokio::test]
async fn acknowledged_feedback_survives_kill_9() {
    let mut server = Server::start();
    let key = server.key("kim", "user");
    let client = reqwest::Client::new();
    let url = server.url("/api/v1/feedback");
    // Four writers send until the server dies; every 201 they got is a promise.
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (client, url, key) = (client.clone(), url.clone(), key.clone());
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for n in 0.. {
                    let body = serde_json::json!({ "completion_id": format!("w{writer}-{n}"), "event": "accept" });
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
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(acknowledged.len() > 20, "only {} writes acknowledged before the kill", acknowledged.len());

    let exported = cli(&server.data.0, &["feedback", "export"]);
    let stored: std::collections::HashSet<i64> =
        exported.lines().map(|l| serde_json::from_str::<FeedbackRecord>(l).unwrap().id).collect();
    let lost: Vec<_> = acknowledged.iter().filter(|id| !stored.contains(id)).collect();
    assert!(lost.is_empty(), "acknowledged but lost after kill -9: {lost:?}");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let server = Server::start();
    let without_key = reqwest::get(server.url("/api/v1/openapi.json")).await.unwrap();
    assert_eq!(without_key.status(), 401);
    let key = server.key("liam", "monitor");
    let response =
        reqwest::Client::new().get(server.url("/api/v1/openapi.json")).header("X-API-Key", &key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let spec: serde_json::Value = response.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths: Vec<&str> = spec["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    for path in ["/health", "/api/v1/code/validate", "/api/v1/feedback", "/api/v1/openapi.json"] {
        assert!(paths.contains(&path), "{path} missing from {paths:?}");
    }
    let schemas = &spec["components"]["schemas"];
    assert_eq!(schemas["ValidateRequest"]["required"], serde_json::json!(["code"]));
    assert_eq!(schemas["FeedbackEvent"]["enum"], serde_json::json!(["view", "accept", "dismiss", "up", "down"]));
    assert_eq!(spec["components"]["securitySchemes"]["api_key"]["name"], "X-API-Key");
    for path in ["/api/v1/code/validate", "/api/v1/feedback"] {
        let responses = &spec["paths"][path]["post"]["responses"];
        for status in ["400", "401", "403", "413", "415", "422", "429"] {
            let schema = &responses[status]["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(schema, "#/components/schemas/ErrorBody", "{path} {status}");
        }
    }
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut server = Server::start();
    let pid = server.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
}
