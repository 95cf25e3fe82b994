//! The response cache through the real `hapa-server` binary on a loopback port. The model is
//! [`CountingModel`], an OpenAI-compatible server in this process that always writes the same
//! code and counts the requests it gets, so a hit is seen as a request that never reached it.

mod common;

use common::services::CountingModel;
use common::{Server, error_of};
use hapa_protocol::api::{CompleteResponse, GenerateResponse, GenerateStatus, StatsResponse};
use reqwest::StatusCode;
use serde_json::{Value, json};

const COMPLETE: &str = "/api/v1/code/complete";
const GENERATE: &str = "/api/v1/code/generate";

fn question(text: &str) -> Value {
    json!({ "user_question": text, "code_context": "import math\n", "language": "python" })
}

fn cache_header(response: &reqwest::Response) -> Option<&str> {
    response.headers().get("x-hapa-cache").map(|value| value.to_str().unwrap())
}

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"].to_str().unwrap().to_owned()
}

/// `/stats`' cache hits and misses.
async fn hits_and_misses(server: &Server, admin: &str) -> (u64, u64) {
    let stats: StatsResponse = server.get("/stats", Some(admin)).await.json().await.unwrap();
    (stats.cache.hits, stats.cache.misses)
}

/// The events of a server-sent event stream: (event name, data).
fn events(body: &str) -> Vec<(String, String)> {
    body.replace("\r\n", "\n")
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let name = block.lines().find_map(|line| line.strip_prefix("event:")).unwrap_or("message");
            let data: Vec<&str> = block.lines().filter_map(|line| line.strip_prefix("data:")).map(str::trim).collect();
            (name.trim().to_owned(), data.join("\n"))
        })
        .collect()
}

#[tokio::test]
async fn a_repeated_request_hits_the_cache_and_another_owner_does_not() {
    let model = CountingModel::start();
    let server = model.server(&[]);
    let ada = server.key("ada", "user");
    let bob = server.key("bob", "user");
    let admin = server.key("root", "admin");

    let response = server.post(GENERATE, Some(&ada), &[], &question("sum a list of numbers")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(cache_header(&response), Some("miss"));
    let first_id = request_id(&response);
    let first: GenerateResponse = response.json().await.unwrap();
    assert_eq!((first.status, first.request_id.as_str()), (GenerateStatus::Success, first_id.as_str()));
    assert_eq!(first.generated_code, "def total(numbers):\n    return sum(numbers)\n");

    // The same question retyped with other spacing: answered from the cache, under a new id.
    let retyped = question("  sum a list\n of   numbers ");
    let response = server.post(GENERATE, Some(&ada), &[], &retyped).await;
    assert_eq!(cache_header(&response), Some("hit"));
    let second_id = request_id(&response);
    let second: GenerateResponse = response.json().await.unwrap();
    assert_eq!(second.request_id, second_id, "the answer names its own request, for feedback");
    assert_ne!(second_id, first_id);
    assert_eq!(second, GenerateResponse { request_id: second_id, ..first.clone() });
    assert_eq!(model.requests(), 1, "a hit never reaches the model");
    assert_eq!(hits_and_misses(&server, &admin).await, (1, 1));

    // Streamed, a hit is the whole code as one delta, then the done event.
    let response = server.post(GENERATE, Some(&ada), &[("Accept", "text/event-stream")], &retyped).await;
    assert_eq!(cache_header(&response), Some("hit"));
    let id = request_id(&response);
    let events = events(&response.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["delta", "done"], "{events:?}");
    assert_eq!(serde_json::from_str::<Value>(&events[0].1).unwrap()["text"], first.generated_code.as_str());
    let done: GenerateResponse = serde_json::from_str(&events[1].1).unwrap();
    assert_eq!(done, GenerateResponse { request_id: id, ..first.clone() });

    // Another key asking exactly the same is answered by the model.
    let response = server.post(GENERATE, Some(&bob), &[], &question("sum a list of numbers")).await;
    assert_eq!(cache_header(&response), Some("miss"));
    assert_eq!(model.requests(), 2);
    assert_eq!(hits_and_misses(&server, &admin).await, (2, 2));

    // Completions are cached the same way.
    let body = json!({ "prefix": "def add(a, b):\n    return ", "language": "python" });
    let response = server.post(COMPLETE, Some(&ada), &[], &body).await;
    assert_eq!(cache_header(&response), Some("miss"));
    let first: CompleteResponse = response.json().await.unwrap();
    let response = server.post(COMPLETE, Some(&ada), &[], &body).await;
    assert_eq!(cache_header(&response), Some("hit"));
    let id = request_id(&response);
    let second: CompleteResponse = response.json().await.unwrap();
    assert_eq!(second, CompleteResponse { id, ..first });
    assert_eq!(model.requests(), 3);
    assert_eq!(hits_and_misses(&server, &admin).await, (3, 3));
}

#[tokio::test]
async fn a_restarted_server_answers_from_the_database() {
    let model = CountingModel::start();
    let mut server = model.server(&[]);
    let key = server.key("cy", "user");
    // Streamed on a miss: the answer is cached once its done event is sent.
    let response = server.post(GENERATE, Some(&key), &[("Accept", "text/event-stream")], &question("sum")).await;
    assert_eq!(cache_header(&response), Some("miss"));
    let events = events(&response.text().await.unwrap());
    let done: GenerateResponse = serde_json::from_str(&events.last().unwrap().1).unwrap();

    server.restart(&model.flags());
    let admin = server.key("root", "admin");
    assert_eq!(hits_and_misses(&server, &admin).await, (0, 0), "a new process starts counting afresh");
    let response = server.post(GENERATE, Some(&key), &[], &question("sum")).await;
    assert_eq!(cache_header(&response), Some("hit"));
    let answer: GenerateResponse = response.json().await.unwrap();
    assert_eq!(answer.generated_code, done.generated_code);
    assert_ne!(answer.request_id, done.request_id);
    assert_eq!(model.requests(), 1);
    assert_eq!(hits_and_misses(&server, &admin).await, (1, 0));
}

#[tokio::test]
async fn a_server_restarted_on_another_model_does_not_answer_from_the_old_ones_cache() {
    let model = CountingModel::start();
    let mut server = model.server(&[]);
    let key = server.key("di", "user");
    let response = server.post(GENERATE, Some(&key), &[], &question("sum")).await;
    assert_eq!(cache_header(&response), Some("miss"));

    // The same data dir (so the same cache table), another upstream model: asked afresh.
    let other: Vec<&str> =
        model.flags().into_iter().map(|flag| if flag == "counting-model" { "other-model" } else { flag }).collect();
    server.restart(&other);
    let response = server.post(GENERATE, Some(&key), &[], &question("sum")).await;
    assert_eq!(cache_header(&response), Some("miss"), "another model's answer is not reused");
    assert_eq!(model.requests(), 2);
    // Back on the first model, its answer is still there.
    server.restart(&model.flags());
    let response = server.post(GENERATE, Some(&key), &[], &question("sum")).await;
    assert_eq!(cache_header(&response), Some("hit"));
    assert_eq!(model.requests(), 2);
}

#[tokio::test]
async fn a_ttl_of_zero_turns_the_cache_off() {
    let model = CountingModel::start();
    let server = model.server(&["--cache-ttl-secs", "0"]);
    let banner = server.banner(3).join("\n");
    assert!(banner.contains("hapa-server response cache: off"), "{banner}");
    let key = server.key("dee", "user");
    let admin = server.key("root", "admin");
    for _ in 0..2 {
        let response = server.post(GENERATE, Some(&key), &[], &question("sum")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(cache_header(&response), None);
    }
    assert_eq!(model.requests(), 2);
    assert_eq!(hits_and_misses(&server, &admin).await, (0, 0), "no lookup is counted");
}

#[tokio::test]
async fn answers_without_code_are_not_cached() {
    let model = CountingModel::start();
    let server = model.server(&[]);
    let key = server.key("eve", "user");
    for _ in 0..2 {
        let response = server.post(GENERATE, Some(&key), &[], &question("write nothing")).await;
        assert_eq!(cache_header(&response), Some("miss"));
        let answer: GenerateResponse = response.json().await.unwrap();
        assert_eq!(answer.status, GenerateStatus::Error);
    }
    assert_eq!(model.requests(), 2);
}

#[tokio::test]
async fn a_hit_still_needs_a_key_and_counts_against_its_quota() {
    let model = CountingModel::start();
    let server = model.server(&["--rate-limit-user", "2"]);
    let key = server.key("fay", "user");
    let response = server.post(GENERATE, Some(&key), &[], &question("sum")).await;
    assert_eq!(cache_header(&response), Some("miss"));
    let error = error_of(server.post(GENERATE, None, &[], &question("sum")).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(error.code, "missing_api_key");
    let response = server.post(GENERATE, Some(&key), &[], &question("sum")).await;
    assert_eq!(cache_header(&response), Some("hit"));
    let error =
        error_of(server.post(GENERATE, Some(&key), &[], &question("sum")).await, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(error.code, "rate_limited");
    assert_eq!(model.requests(), 1);
}
