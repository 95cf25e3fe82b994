//! The response cache on the OpenAI-compatible routes, through the real `hapa-server` binary.
//! The model is a fake OpenAI-compatible server in this process that counts the requests it
//! gets, so a hit is seen as a request that never reached it.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::Server;
use hapa_protocol::api::{OpenAiChatResponse, OpenAiCompletionResponse};
use serde_json::{Value, json};

/// A fake model: chat answers with a code block, completions with `a + b`.
struct FakeModel {
    base: String,
    requests: Arc<AtomicUsize>,
}

impl FakeModel {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                counted.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || answer(stream));
            }
        });
        Self { base, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn server(&self) -> Server {
        Server::start_with(&["--provider", "openai", "--openai-base-url", &self.base, "--openai-model", "fake-model"])
    }
}

/// Reads one request and answers it as a whole JSON body, then closes the connection.
fn answer(mut stream: std::net::TcpStream) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    let head = loop {
        let Ok(read @ 1..) = stream.read(&mut buffer) else { return };
        request.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&request).into_owned();
        let Some(end) = text.find("\r\n\r\n") else { continue };
        let length = text[..end]
            .lines()
            .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
            .and_then(|value| value.parse::<usize>().ok())
            .unwrap_or(0);
        if request.len() >= end + 4 + length {
            break text[..end].to_owned();
        }
    };
    let answer = if head.starts_with("POST /v1/chat/completions") {
        let content = "```python\ndef total(numbers):\n    return sum(numbers)\n```\n";
        json!({ "choices": [{ "message": { "role": "assistant", "content": content }, "finish_reason": "stop" }] })
    } else {
        json!({ "choices": [{ "text": "a + b", "finish_reason": "stop" }] })
    };
    let answer = answer.to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
        answer.len()
    );
}

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
    let model = FakeModel::start();
    let server = model.server();
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
    let model = FakeModel::start();
    let server = model.server();
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
