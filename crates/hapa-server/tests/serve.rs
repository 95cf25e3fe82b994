//! The real `hapa-server` binary on an ephemeral loopback port, with its real SQLite store.

mod common;

use std::process::Command;

use common::{Server, TempDir, cli, create_key, error_of, keys};
use hapa_protocol::api::{
    ErrorBody, FeedbackEvent, FeedbackRecord, FeedbackResponse, HealthResponse, LatencyPercentiles, StatsResponse,
    ValidateResponse,
};
use reqwest::StatusCode;

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
    for path in ["/health", "/api/v1/code/validate", "/api/v1/feedback", "/api/v1/openapi.json", "/stats", "/metrics"] {
        assert!(paths.contains(&path), "{path} missing from {paths:?}");
    }
    let schemas = &spec["components"]["schemas"];
    assert_eq!(schemas["ValidateRequest"]["required"], serde_json::json!(["code"]));
    assert_eq!(schemas["FeedbackEvent"]["enum"], serde_json::json!(["view", "accept", "dismiss", "up", "down"]));
    assert_eq!(spec["components"]["securitySchemes"]["api_key"]["name"], "X-API-Key");
    for path in ["/api/v1/code/validate", "/api/v1/feedback"] {
        let responses = &spec["paths"][path]["post"]["responses"];
        for status in ["400", "401", "403", "408", "413", "415", "422", "429"] {
            let schema = &responses[status]["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(schema, "#/components/schemas/ErrorBody", "{path} {status}");
        }
    }
    for path in ["/stats", "/metrics"] {
        let responses = &spec["paths"][path]["get"]["responses"];
        for status in ["401", "403", "429"] {
            let schema = &responses[status]["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(schema, "#/components/schemas/ErrorBody", "{path} {status}");
        }
        assert!(responses.get("400").is_none(), "{path} takes no body");
    }
    let stats = &spec["paths"]["/stats"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(stats, "#/components/schemas/StatsResponse");
    assert!(spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]["text/plain"].is_object());
    assert_eq!(schemas["CacheStats"]["required"], serde_json::json!(["hits", "misses", "hit_rate"]));
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut server = Server::start();
    let pid = server.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn stats_and_metrics_are_for_admin_and_monitor_keys() {
    let server = Server::start();
    let admin = server.key("mia", "admin");
    let monitor = server.key("noah", "monitor");
    let user = server.key("olivia", "user");
    for path in ["/stats", "/metrics"] {
        assert_eq!(error_of(server.get(path, None).await, StatusCode::UNAUTHORIZED).await.code, "missing_api_key");
        assert_eq!(error_of(server.get(path, Some(&user)).await, StatusCode::FORBIDDEN).await.code, "forbidden");
        for key in [&admin, &monitor] {
            assert_eq!(server.get(path, Some(key)).await.status(), 200, "{path}");
        }
    }
}

#[tokio::test]
async fn metrics_and_stats_count_requests_by_route_template_never_by_raw_path() {
    let server = Server::start();
    let key = server.key("peter", "admin");
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let response = client
            .post(server.url("/api/v1/code/validate?token=s3cr3t-query"))
            .header("X-API-Key", &key)
            .json(&serde_json::json!({ "code": "x = 1" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(server.validate(None, "x = 1").await.status(), 401);
    assert_eq!(server.get("/api/v1/keys/4242?token=s3cr3t-query", None).await.status(), 404);

    let response = server.get("/metrics", Some(&key)).await;
    assert_eq!(response.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let text = response.text().await.unwrap();
    for line in [
        "hapa_http_requests_total{route=\"/api/v1/code/validate\",method=\"POST\",status=\"200\"} 2",
        "hapa_http_requests_total{route=\"/api/v1/code/validate\",method=\"POST\",status=\"401\"} 1",
        "hapa_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1",
        "hapa_http_request_duration_seconds_bucket{route=\"/api/v1/code/validate\",le=\"+Inf\"} 3",
        "hapa_http_request_duration_seconds_count{route=\"/api/v1/code/validate\"} 3",
        "hapa_auth_failures_total 1",
        "hapa_rate_limited_total{limit=\"per_key\"} 0",
        "hapa_cache_hits_total 0",
        "hapa_model_info{provider=\"none\",name=\"\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} missing from\n{text}");
    }
    assert!(!text.contains("4242") && !text.contains("s3cr3t"), "a raw path or query leaked into\n{text}");
    let uptime = text.lines().find_map(|l| l.strip_prefix("hapa_uptime_seconds ")).unwrap();
    assert!(uptime.parse::<f64>().unwrap() >= 0.0);

    let stats: serde_json::Value = server.get("/stats", Some(&key)).await.json().await.unwrap();
    // `null`, present: no cache lookup has happened, so there is no rate to report.
    assert_eq!(stats["cache"], serde_json::json!({ "hits": 0, "misses": 0, "hit_rate": null }));
    assert_eq!(stats["model"], serde_json::json!({ "provider": "none", "name": null }));
    let stats: StatsResponse = serde_json::from_value(stats).unwrap();
    let routes: Vec<&str> = stats.routes.iter().map(|r| r.route.as_str()).collect();
    assert_eq!(routes, ["/api/v1/code/validate", "/metrics", "unmatched"]);
    let validate = &stats.routes[0];
    assert_eq!(validate.requests, 3);
    assert_eq!(validate.by_status, [("200".to_owned(), 2), ("401".to_owned(), 1)].into());
    let LatencyPercentiles { p50, p95, p99 } = validate.latency_ms;
    assert!(0.0 < p50 && p50 <= p95 && p95 <= p99 && p99 < 10_000.0, "{:?}", validate.latency_ms);
    assert!(stats.uptime_seconds < 600);
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let server = Server::start();
    let key = server.key("quinn", "user");
    let client = reqwest::Client::new();
    let send = |path: &'static str, id: Option<&str>| {
        let mut request = client.get(server.url(path)).header("X-API-Key", &key);
        if let Some(id) = id {
            request = request.header("X-Request-Id", id);
        }
        async move {
            let response = request.send().await.unwrap();
            response
                .headers()
                .get_all("x-request-id")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let is_generated = |id: &str| {
        id.len() == 36
            && id.bytes().filter(|&b| b == b'-').count() == 4
            && id.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())
    };
    // Generated for 200, 403 and 404 alike, and different each time.
    let mut seen = std::collections::HashSet::new();
    for path in ["/health", "/stats", "/nowhere", "/health"] {
        let ids = send(path, None).await;
        assert!(matches!(ids.as_slice(), [id] if is_generated(id)), "{path}: {ids:?}");
        assert!(seen.insert(ids[0].clone()), "{ids:?} repeated");
    }
    // A sane id from the client is kept.
    let sane = "client-42_ABC-".to_owned() + &"x".repeat(50);
    for path in ["/health", "/stats", "/nowhere"] {
        assert_eq!(send(path, Some(&sane)).await, [sane.as_str()], "{path}");
    }
    // Anything else is replaced, not echoed.
    for insane in ["x".repeat(65).as_str(), "has space", "semi;colon", "quote\"d"] {
        let ids = send("/health", Some(insane)).await;
        assert!(matches!(ids.as_slice(), [id] if is_generated(id)), "{insane:?}: {ids:?}");
    }
    let twice = client.get(server.url("/health")).header("X-Request-Id", "one").header("X-Request-Id", "two");
    let response = twice.send().await.unwrap();
    assert!(is_generated(response.headers()["x-request-id"].to_str().unwrap()));
}

#[tokio::test]
async fn logs_are_json_lines_with_id_route_status_and_latency_but_no_key_or_code() {
    let server = Server::start_logging(&[]);
    let key = server.key("rosa", "user");
    let unknown = create_key(&TempDir::new().0, "elsewhere", "user");
    let client = reqwest::Client::new();
    let response = client
        .post(server.url("/api/v1/code/validate"))
        .header("X-API-Key", &key)
        .header("X-Request-Id", "log-check-1")
        .json(&serde_json::json!({ "code": "PASSWORD = 'do-not-log-me'" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = client.get(server.url("/stats")).header("Authorization", format!("Bearer {unknown}")).send().await;
    assert_eq!(response.unwrap().status(), 401);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let log = loop {
        let log = server.log();
        if log.lines().filter(|l| l.contains("\"answered\"")).count() >= 2 || std::time::Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let lines: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let span = lines
        .iter()
        .map(|line| &line["span"])
        .find(|span| span["request_id"] == "log-check-1")
        .unwrap_or_else(|| panic!("no line for the request in\n{log}"));
    assert_eq!(span["route"], "/api/v1/code/validate");
    assert_eq!(span["method"], "POST");
    assert_eq!(span["status"], 200);
    assert!(span["latency_ms"].as_f64().unwrap() > 0.0, "{span}");
    assert!(lines.iter().any(|line| line["span"]["route"] == "/stats" && line["span"]["status"] == 401), "{log}");
    for secret in [key.as_str(), unknown.as_str(), "do-not-log-me"] {
        assert!(!log.contains(secret), "{secret:?} logged:\n{log}");
    }
}

/// Every `access-control-*` header of an answer.
fn cors_headers(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|n| n.starts_with("access-control-"))
        .collect()
}

async fn preflight(server: &Server, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, server.url("/api/v1/code/validate"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "x-api-key,content-type")
        .send()
        .await
        .unwrap()
}

async fn get_from(server: &Server, origin: &str) -> reqwest::Response {
    reqwest::Client::new().get(server.url("/health")).header("Origin", origin).send().await.unwrap()
}

#[tokio::test]
async fn cors_is_closed_by_default() {
    let server = Server::start();
    assert_eq!(cors_headers(&get_from(&server, "https://evil.example").await), Vec::<String>::new());
    assert_eq!(cors_headers(&preflight(&server, "https://evil.example").await), Vec::<String>::new());
    let key = server.key("sam", "user");
    let response =
        reqwest::Client::new().get(server.url("/stats")).header("X-API-Key", key).header("Origin", "null").send().await;
    assert_eq!(cors_headers(&response.unwrap()), Vec::<String>::new());
}

#[tokio::test]
async fn cors_allows_exactly_the_configured_origins() {
    let by_flag =
        Server::start_with(&["--cors-origin", "https://app.example", "--cors-origin", "http://127.0.0.1:9000/"]);
    let by_env = Server::launch(&[], &[("HAPA_CORS_ORIGINS", "https://app.example,http://127.0.0.1:9000")], false);
    for server in [&by_flag, &by_env] {
        for origin in ["https://app.example", "http://127.0.0.1:9000"] {
            let response = preflight(server, origin).await;
            assert!(response.status().is_success(), "{}", response.status());
            assert_eq!(response.headers()["access-control-allow-origin"], origin);
            let allowed = response.headers()["access-control-allow-headers"].to_str().unwrap();
            assert!(allowed.contains("x-api-key") && allowed.contains("content-type"), "{allowed}");
            assert_eq!(get_from(server, origin).await.headers()["access-control-allow-origin"], origin);
        }
        for origin in ["https://evil.example", "https://app.example.evil.example", "http://127.0.0.1:9001", "null"] {
            let response = preflight(server, origin).await;
            assert!(response.headers().get("access-control-allow-origin").is_none(), "{origin}");
            assert!(get_from(server, origin).await.headers().get("access-control-allow-origin").is_none(), "{origin}");
        }
    }
}

/// Reads until the server closes the connection (at most 10 s): what it sent, and when it closed.
fn read_until_closed(stream: &mut std::net::TcpStream) -> (Vec<u8>, std::time::Instant) {
    use std::io::Read;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    assert!(read.is_ok(), "still connected after 10 s ({read:?}); got {:?}", String::from_utf8_lossy(&answer));
    (answer, std::time::Instant::now())
}

#[test]
fn clients_that_stall_their_headers_or_body_are_cut_off() {
    use std::io::Write;
    use std::time::{Duration, Instant};
    let server = Server::start_with(&["--header-timeout-secs", "1", "--body-timeout-secs", "1"]);
    let key = server.key("tina", "user");
    let second = Duration::from_secs(1);

    // Half the headers, then silence: the connection is closed after the header timeout.
    let mut stream = std::net::TcpStream::connect(server.address()).unwrap();
    let started = Instant::now();
    stream.write_all(b"POST /api/v1/code/validate HTTP/1.1\r\nHost: hapa\r\nContent-Ty").unwrap();
    let (answer, closed) = read_until_closed(&mut stream);
    let waited = closed - started;
    assert!(waited >= second * 9 / 10 && waited < second * 5, "closed after {waited:?}");
    assert!(answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"), "{}", String::from_utf8_lossy(&answer));

    // Whole headers, then a body that trickles in a byte every 200 ms: however steadily it
    // comes, the request is answered 408 once the body deadline passes, and the connection closed.
    let mut stream = std::net::TcpStream::connect(server.address()).unwrap();
    let started = Instant::now();
    let head = format!(
        "POST /api/v1/code/validate HTTP/1.1\r\nHost: hapa\r\nX-API-Key: {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for _ in 0..50 {
            if writer.write_all(b" ").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let (answer, closed) = read_until_closed(&mut stream);
    let waited = closed - started;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(waited >= second * 9 / 10 && waited < second * 5, "answered and closed after {waited:?}");
    trickle.join().unwrap();

    // A client that sends in time is served as before.
    let mut stream = std::net::TcpStream::connect(server.address()).unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: hapa\r\nConnection: close\r\n\r\n").unwrap();
    let (answer, _) = read_until_closed(&mut stream);
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
}

#[tokio::test]
async fn an_address_that_fails_authentication_too_often_is_refused_for_a_while() {
    let server = Server::start_with(&["--auth-failure-limit", "3"]);
    let key = server.key("uma", "user");
    let monitor = server.key("victor", "monitor");
    assert_eq!(server.validate(Some("hapa_wrong"), "x = 1").await.status(), 401);
    assert_eq!(server.validate(None, "x = 1").await.status(), 401);
    // Successes do not count.
    for _ in 0..5 {
        assert_eq!(server.validate(Some(&key), "x = 1").await.status(), 200);
    }
    // The third failure uses up the quota: from now on even the right key is refused, before
    // any lookup, with a Retry-After.
    assert_eq!(server.validate(Some(&monitor[..monitor.len() - 1]), "x = 1").await.status(), 401);
    let refused = server.validate(Some(&key), "x = 1").await;
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(error_of(refused, StatusCode::TOO_MANY_REQUESTS).await.code, "too_many_auth_failures");
    assert_eq!(server.get("/stats", Some(&monitor)).await.status(), 429);
    assert_eq!(server.get("/health", None).await.status(), 200, "/health needs no key and stays open");

    // Another address is not affected.
    let elsewhere = reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, 2])).build().unwrap();
    let response = elsewhere.get(server.url("/metrics")).header("X-API-Key", &monitor).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for line in ["hapa_auth_failures_total 3", "hapa_rate_limited_total{limit=\"auth_failures\"} 2"] {
        assert!(text.lines().any(|l| l == line), "{line:?} missing from\n{text}");
    }
}

#[tokio::test]
async fn deeply_nested_json_gets_a_json_4xx_and_the_server_lives_on() {
    let server = Server::start();
    let key = server.key("wendy", "admin");
    let client = reqwest::Client::new();
    let depth = 100_000;
    for body in [
        "[".repeat(depth),
        format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        format!("{{\"code\": {}", "[".repeat(depth)),
        "{\"a\":".repeat(depth),
        format!("{{\"request_id\": \"r\", \"event\": \"up\", \"comment\": {}", "{\"a\":".repeat(depth)),
    ] {
        for path in ["/api/v1/code/validate", "/api/v1/feedback"] {
            let response = client
                .post(server.url(path))
                .header("X-API-Key", &key)
                .header("Content-Type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = response.status();
            assert!(status == 400 || status == 422, "{path} {}: {status}", &body[..20]);
            let error: ErrorBody = response.json().await.unwrap();
            assert!(["invalid_json", "invalid_request"].contains(&error.code.as_str()), "{error:?}");
        }
    }
    assert_eq!(server.get("/health", None).await.status(), 200);
}
