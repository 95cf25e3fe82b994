//! The response cache on the OpenAI-compatible routes, through the real `hapa-server` binary.
//! The model is [`CountingModel`], which counts the requests it gets, so a hit is seen as a
//! request that never reached it.

mod common;

use common::Server;
use common::services::CountingModel;
use hapa_protocol::api::{OpenAiChatResponse, OpenAiCompletionResponse};
use serde_json::{Value, json};

fn cache_header(response: &reqwest::Response) -> Option<String> {
    response.headers().get("x-hapa-cache").map(|value| value.to_str().unwrap().to_owned())
}

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"].to_str().unwrap().to_owned()
}

/// POSTs `body` to `path` with `key`: the cache header, the request id and the JSON answer.
async fn ask(server: &Server, path: &str, key: &str, body: &Value) -> (Option<String>, String, Value) {
    let response = server.post(path, Some(key), &[], body).await;
    assert_eq!(response.status(), 200, "{path}");
    (cache_header(&response), request_id(&response), response.json().await.unwrap())
}

#[tokio::test]
async fn a_repeated_chat_hits_the_cache_and_another_owner_does_not() {
    let model = CountingModel::start();
    let server = model.server(&[]);
    let ada = server.key("ada", "user");
    let bob = server.key("bob", "user");
    let chat = json!({ "messages": [{ "role": "user", "content": "sum a list" }], "temperature": 0 });

    let (cache, id, first) = ask(&server, "/v1/chat/completions", &ada, &chat).await;
    assert_eq!(cache.as_deref(), Some("miss"));
    let first: OpenAiChatResponse = serde_json::from_value(first).unwrap();
    assert_eq!(first.id, format!("chatcmpl-{id}"));
    let (cache, id, second) = ask(&server, "/v1/chat/completions", &ada, &chat).await;
    assert_eq!(cache.as_deref(), Some("hit"));
    let second: OpenAiChatResponse = serde_json::from_value(second).unwrap();
    assert_eq!(
        second,
        OpenAiChatResponse { id: format!("chatcmpl-{id}"), ..first.clone() },
        "the same answer, its own id"
    );
    assert_eq!(model.requests(), 1, "a hit never reaches the model");

    // Another key asking exactly the same is answered by the model.
    let (cache, _, _) = ask(&server, "/v1/chat/completions", &bob, &chat).await;
    assert_eq!(cache.as_deref(), Some("miss"));
    assert_eq!(model.requests(), 2);
    // So is the same key with another conversation.
    let other = json!({ "messages": [{ "role": "user", "content": "sum a set" }], "temperature": 0 });
    assert_eq!(ask(&server, "/v1/chat/completions", &ada, &other).await.0.as_deref(), Some("miss"));
    assert_eq!(model.requests(), 3);
}

#[tokio::test]
async fn completions_are_cached_when_greedy_or_seeded_and_never_when_streamed_or_random() {
    let model = CountingModel::start();
    let server = model.server(&[]);
    let key = server.key("cy", "user");
    let greedy = json!({ "prompt": "def add(a, b):\n    return ", "temperature": 0, "max_tokens": 8 });
    let (cache, _, first) = ask(&server, "/v1/completions", &key, &greedy).await;
    assert_eq!(cache.as_deref(), Some("miss"));
    let (cache, id, second) = ask(&server, "/v1/completions", &key, &greedy).await;
    assert_eq!(cache.as_deref(), Some("hit"));
    let (first, second): (OpenAiCompletionResponse, OpenAiCompletionResponse) =
        (serde_json::from_value(first).unwrap(), serde_json::from_value(second).unwrap());
    assert_eq!(second, OpenAiCompletionResponse { id: format!("cmpl-{id}"), ..first });
    assert_eq!(model.requests(), 1);

    // The same prompt on the native route is not the OpenAI route's answer.
    let native = json!({ "prefix": "def add(a, b):\n    return ", "language": "python", "max_tokens": 8 });
    let response = server.post("/api/v1/code/complete", Some(&key), &[], &native).await;
    assert_eq!(cache_header(&response).as_deref(), Some("miss"));
    assert_eq!(model.requests(), 2);

    // Seeded sampling repeats, so it is cached; unseeded sampling is not, nor is a stream.
    let seeded = json!({ "prompt": "x = ", "temperature": 0.8, "seed": 7 });
    assert_eq!(ask(&server, "/v1/completions", &key, &seeded).await.0.as_deref(), Some("miss"));
    assert_eq!(ask(&server, "/v1/completions", &key, &seeded).await.0.as_deref(), Some("hit"));
    assert_eq!(model.requests(), 3);
    let random = json!({ "prompt": "x = ", "temperature": 0.8 });
    for _ in 0..2 {
        assert_eq!(ask(&server, "/v1/completions", &key, &random).await.0, None);
    }
    assert_eq!(model.requests(), 5);
    let streamed =
        json!({ "prompt": "def add(a, b):\n    return ", "temperature": 0, "max_tokens": 8, "stream": true });
    let response = server.post("/v1/completions", Some(&key), &[], &streamed).await;
    assert_eq!(response.status(), 200);
    assert_eq!(cache_header(&response), None);
    assert!(response.text().await.unwrap().contains("[DONE]"));
    assert_eq!(model.requests(), 6, "a stream asks the model even when the answer is cached");
}
