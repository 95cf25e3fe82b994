//! Generation and completion through the real `hapa-server` binary and the bundled model on an
//! ephemeral loopback port. Nothing here depends on what the model writes, only on the shape of
//! the answers: the model file is replaced as training goes on.

mod common;

use std::time::Duration;

use common::{Server, error_of};
use hapa_protocol::api::{CompleteResponse, GenerateResponse, GenerateStatus, StatsResponse};
use reqwest::StatusCode;
use serde_json::{Value, json};

const COMPLETE: &str = "/api/v1/code/complete";
const GENERATE: &str = "/api/v1/code/generate";
const COMPLETIONS: &str = "/v1/completions";
const CHAT: &str = "/v1/chat/completions";

/// A completion request that writes for long (256 tokens, past any end-of-text token): time to
/// cancel it.
fn long_completion(stream: bool) -> Value {
    json!({ "prompt": "import os\n\ndef main():\n    ", "max_tokens": 256, "ignore_eos": true, "stream": stream })
}

/// The events of a server-sent event stream: (event name, data).
fn events(body: &str) -> Vec<(String, String)> {
    body.replace("\r\n", "\n")
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = String::from("message");
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push(value.strip_prefix(' ').unwrap_or(value));
                }
            }
            (name, data.join("\n"))
        })
        .collect()
}

fn content_type(response: &reqwest::Response) -> String {
    response.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_owned()
}

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"].to_str().unwrap().to_owned()
}

/// The value of a metric line (`name{labels} value`) in `/metrics`.
async fn metric(server: &Server, key: &str, series: &str) -> Option<f64> {
    let text = server.get("/metrics", Some(key)).await.text().await.unwrap();
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Waits up to 10 s for a metric to reach `at_least`; its last value.
async fn metric_reaches(server: &Server, key: &str, series: &str, at_least: f64) -> f64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let value = metric(server, key, series).await.unwrap_or(0.0);
        if value >= at_least || std::time::Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn complete_returns_a_completion_and_the_model() {
    let server = Server::start();
    let key = server.key("ada", "user");
    let admin = server.key("root", "admin");
    let stats: StatsResponse = server.get("/stats", Some(&admin)).await.json().await.unwrap();
    assert_eq!(stats.model.provider, "none", "nothing is loaded before the first use");

    let body = json!({ "prefix": "def add(a, b):\n    return ", "suffix": "\n", "language": "python" });
    let response = server.post(COMPLETE, Some(&key), &[], &body).await;
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    let answer: CompleteResponse = response.json().await.unwrap();
    assert_eq!(answer.id, id, "the completion id is the request id, for feedback");
    assert_eq!(answer.completions.len(), 1);
    assert_eq!(answer.model, "hapa-code");
    assert!(answer.prompt_tokens > 0 && answer.generated_tokens <= 32, "{answer:?}");

    let body = json!({ "prefix": "for i in range(3):\n", "language": "python", "max_tokens": 5, "mode": "block" });
    let answer: CompleteResponse = server.post(COMPLETE, Some(&key), &[], &body).await.json().await.unwrap();
    assert!(answer.generated_tokens <= 5, "{answer:?}");

    let stats: StatsResponse = server.get("/stats", Some(&admin)).await.json().await.unwrap();
    assert_eq!((stats.model.provider.as_str(), stats.model.name.as_deref()), ("local", Some("hapa-code")));
    let info = metric(&server, &admin, "hapa_model_info{provider=\"local\",name=\"hapa-code\"}").await;
    assert_eq!(info, Some(1.0));
}

#[tokio::test]
async fn generation_routes_need_a_role_that_may_generate() {
    let server = Server::start();
    let monitor = server.key("mon", "monitor");
    let user = server.key("usr", "user");
    let admin = server.key("adm", "admin");
    let routes = [
        (COMPLETE, json!({ "prefix": "x = ", "language": "python", "max_tokens": 2 })),
        (GENERATE, json!({ "user_question": "add two numbers", "language": "python" })),
        (COMPLETIONS, json!({ "prompt": "x = ", "max_tokens": 2 })),
        (CHAT, json!({ "messages": [{ "role": "user", "content": "add two numbers" }], "max_tokens": 2 })),
    ];
    for (path, body) in &routes {
        let openai = path.starts_with("/v1/");
        let none = server.post(path, None, &[], body).await;
        assert_eq!(none.status(), 401, "{path}");
        let error: Value = none.json().await.unwrap();
        let code = if openai { &error["error"]["code"] } else { &error["code"] };
        assert_eq!(code, "missing_api_key", "{path}: {error}");
        if openai {
            assert_eq!(error["error"]["type"], "authentication_error", "{error}");
        }
        let forbidden = server.post(path, Some(&monitor), &[], body).await;
        assert_eq!(forbidden.status(), 403, "{path}");
        let error: Value = forbidden.json().await.unwrap();
        let code = if openai { &error["error"]["code"] } else { &error["code"] };
        assert_eq!(code, "forbidden", "{path}: {error}");
        for key in [&user, &admin] {
            assert_eq!(server.post(path, Some(key), &[], body).await.status(), 200, "{path}");
        }
    }
}

#[tokio::test]
async fn bad_generation_requests_get_clear_4xx() {
    let server = Server::start();
    let key = server.key("bea", "user");
    for (path, body) in [
        (COMPLETE, json!({ "prefix": "x = ", "language": "javascript" })),
        (GENERATE, json!({ "user_question": "sort a list", "language": "javascript" })),
    ] {
        let error = error_of(server.post(path, Some(&key), &[], &body).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error.code, "unsupported_language", "{path}");
        assert!(error.message.contains("\"javascript\"") && error.message.contains("python"), "{}", error.message);
    }
    let too_long = "x".repeat(65_537);
    for (path, body, field) in [
        (COMPLETE, json!({ "prefix": too_long, "language": "python" }), "prefix"),
        (COMPLETE, json!({ "prefix": "", "suffix": too_long, "language": "python" }), "suffix"),
        (GENERATE, json!({ "user_question": "x".repeat(4097), "language": "python" }), "user_question"),
        (GENERATE, json!({ "user_question": "q", "code_context": too_long, "language": "python" }), "code_context"),
        (GENERATE, json!({ "user_question": " \n\t", "language": "python" }), "user_question"),
        (COMPLETE, json!({ "prefix": "", "language": "python", "max_tokens": 0 }), "max_tokens"),
        (COMPLETE, json!({ "prefix": "", "language": "python", "max_tokens": 129 }), "max_tokens"),
        (COMPLETE, json!({ "prefix": "", "language": "python", "role": "admin" }), "role"),
        (COMPLETE, json!({ "prefix": "" }), "language"),
    ] {
        let error = error_of(server.post(path, Some(&key), &[], &body).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error.code, "invalid_request", "{path} {field}");
        assert!(error.message.contains(field), "{path} {field}: {}", error.message);
    }
    // The OpenAI-compatible routes refuse in OpenAI's shape.
    for body in [
        json!({ "prompt": "x", "temperature": 3 }),
        json!({ "prompt": "x", "n": 2 }),
        json!({ "prompt": "x", "stop": ["a", "b", "c", "d", "e"] }),
        json!({ "prompt": "x", "max_tokens": 257 }),
        json!({ "prompt": "x", "logit_bias": {} }),
    ] {
        let response = server.post(COMPLETIONS, Some(&key), &[], &body).await;
        assert_eq!(response.status(), 422, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["type"], "invalid_request_error", "{error}");
        assert_eq!(error["error"]["code"], "invalid_request", "{error}");
        assert!(!error["error"]["message"].as_str().unwrap().is_empty());
    }
    let response = server.post(CHAT, Some(&key), &[], &json!({ "messages": [] })).await;
    assert_eq!(response.status(), 422);
}

#[tokio::test]
async fn generate_answers_with_code_and_whether_it_parses() {
    let server = Server::start();
    let key = server.key("cy", "user");
    let body = json!({
        "user_question": "return the sum of a list of numbers",
        "code_context": "import math\n\n",
        "language": "python",
        "file_path": "../../etc/passwd",
    });
    let response = server.post(GENERATE, Some(&key), &[], &body).await;
    assert_eq!(response.status(), 200);
    assert!(content_type(&response).starts_with("application/json"));
    let id = request_id(&response);
    let answer: GenerateResponse = response.json().await.unwrap();
    assert_eq!(answer.request_id, id);
    assert_eq!(answer.model, "hapa-code");
    assert!(answer.generated_tokens <= 160 && answer.prompt_tokens > 0, "{answer:?}");
    // `parses` and the errors are what the parser says about the code itself.
    let diagnostics = hapa_core::validate::module(&answer.generated_code);
    assert_eq!(answer.parses, diagnostics.is_empty(), "{answer:?}");
    assert_eq!(answer.syntax_errors, hapa_core::validate::to_syntax_errors(&answer.generated_code, &diagnostics));
    let blank = answer.generated_code.trim().is_empty();
    assert_eq!(answer.status, if blank { GenerateStatus::Error } else { GenerateStatus::Success }, "{answer:?}");
    assert_eq!(answer.error_message.is_some(), blank);
}

#[tokio::test]
async fn generate_streams_deltas_then_one_done_event() {
    let server = Server::start();
    let key = server.key("dee", "user");
    let body = json!({ "user_question": "print the numbers from 1 to 10", "language": "python" });
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let requests = [
        server.post(GENERATE, Some(&key), &[("Accept", "application/json, text/event-stream")], &body).await,
        server.post(GENERATE, Some(&key), &[], &streamed).await,
    ];
    for response in requests {
        assert_eq!(response.status(), 200);
        assert!(content_type(&response).starts_with("text/event-stream"), "{}", content_type(&response));
        let id = request_id(&response);
        let events = events(&response.text().await.unwrap());
        let (last, deltas) = events.split_last().expect("at least one event");
        assert_eq!(last.0, "done", "the stream ends with one done event: {events:?}");
        assert!(deltas.iter().all(|(name, _)| name == "delta"), "{events:?}");
        let done: GenerateResponse = serde_json::from_str(&last.1).expect("done carries the JSON answer");
        assert_eq!(done.request_id, id);
        let streamed: String = deltas
            .iter()
            .map(|(_, data)| serde_json::from_str::<Value>(data).unwrap()["text"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(streamed, done.generated_code, "the deltas add up to the code");
        assert!(!deltas.is_empty() || done.generated_code.is_empty(), "{events:?}");
        assert_eq!(done.parses, hapa_core::validate::module(&done.generated_code).is_empty());
    }
}

#[tokio::test]
async fn a_client_that_goes_away_stops_the_model() {
    let server = Server::start();
    let key = server.key("eve", "user");
    let admin = server.key("root", "admin");
    let cancelled = "hapa_generations_cancelled_total{reason=\"disconnect\"}";
    assert_eq!(metric(&server, &admin, cancelled).await, Some(0.0));

    // Mid-stream: read the first chunk, then hang up.
    let mut response = server.post(COMPLETIONS, Some(&key), &[], &long_completion(true)).await;
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().expect("a first chunk");
    assert!(first.starts_with(b"data: "), "{}", String::from_utf8_lossy(&first));
    drop(response);
    assert_eq!(metric_reaches(&server, &admin, cancelled, 1.0).await, 1.0, "decoding did not stop");

    // Before the answer's head: a JSON request given up while the model writes.
    let body = long_completion(false);
    let request = server.post(COMPLETIONS, Some(&key), &[], &body);
    assert!(tokio::time::timeout(Duration::from_millis(400), request).await.is_err(), "answered too soon");
    assert_eq!(metric_reaches(&server, &admin, cancelled, 2.0).await, 2.0, "decoding did not stop");
    assert_eq!(reqwest::get(server.url("/health")).await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_generation_past_its_deadline_is_a_504_and_stops() {
    let server = Server::start_with(&["--model-timeout-secs", "0.3"]);
    let key = server.key("fay", "user");
    let admin = server.key("root", "admin");
    let response = server.post(COMPLETIONS, Some(&key), &[], &long_completion(false)).await;
    assert_eq!(response.status(), 504);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "model_timeout", "{error}");
    assert_eq!(error["error"]["type"], "server_error", "{error}");

    // Streamed, the deadline ends the stream with an error chunk.
    let response = server.post(COMPLETIONS, Some(&key), &[], &long_completion(true)).await;
    assert_eq!(response.status(), 200);
    let events = events(&response.text().await.unwrap());
    let last: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_eq!(last["error"]["code"], "model_timeout", "{events:?}");
    let deadline = "hapa_generations_cancelled_total{reason=\"deadline\"}";
    assert_eq!(metric_reaches(&server, &admin, deadline, 2.0).await, 2.0);
}

#[tokio::test]
async fn a_missing_model_is_a_503_that_names_the_file() {
    let server = Server::start_with(&["--model-dir", "/nonexistent/hapa-models"]);
    let banner = server.banner(2).join("\n");
    assert!(banner.contains("hapa-server store: SQLite at "), "{banner}");
    assert!(banner.contains("hapa-server model: local hapa-code from /nonexistent/hapa-models"), "{banner}");
    assert!(banner.contains("MISSING hapa-code.onnx, tokenizer.json, hapa-code.json"), "{banner}");

    let key = server.key("gil", "user");
    for (path, body) in [
        (COMPLETE, json!({ "prefix": "x = ", "language": "python" })),
        (GENERATE, json!({ "user_question": "q", "language": "python", "stream": true })),
    ] {
        let error = error_of(server.post(path, Some(&key), &[], &body).await, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(error.code, "model_unavailable", "{path}");
        assert!(error.message.contains("hapa-code.onnx is missing"), "{}", error.message);
        assert!(!error.message.contains("/nonexistent"), "the server's paths stay private: {}", error.message);
    }
    let response = server.post(COMPLETIONS, Some(&key), &[], &json!({ "prompt": "x" })).await;
    assert_eq!(response.status(), 503);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "model_unavailable", "{error}");
}

#[tokio::test]
async fn openai_compatible_routes_answer_in_openais_shapes() {
    let server = Server::start();
    let key = server.key("hal", "user");

    let body = json!({ "model": "anything", "prompt": "def f(x):\n    return ", "suffix": "\n", "max_tokens": 8, "temperature": 0 });
    let response = server.post(COMPLETIONS, Some(&key), &[], &body).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["object"], "text_completion");
    assert!(answer["id"].as_str().unwrap().starts_with("cmpl-"), "{answer}");
    assert_eq!(answer["model"], "hapa-code");
    assert!(answer["created"].as_u64().unwrap() > 1_700_000_000);
    assert!(answer["choices"][0]["text"].is_string(), "{answer}");
    assert!(["stop", "length"].contains(&answer["choices"][0]["finish_reason"].as_str().unwrap()), "{answer}");
    let usage = &answer["usage"];
    assert!(usage["completion_tokens"].as_u64().unwrap() <= 8, "{answer}");
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );

    // vLLM's ignore_eos: the answer runs to max_tokens, past the end-of-text token.
    let body = json!({ "prompt": "x = 1\n", "max_tokens": 40, "temperature": 0, "ignore_eos": true });
    let answer: Value = server.post(COMPLETIONS, Some(&key), &[], &body).await.json().await.unwrap();
    assert_eq!(answer["usage"]["completion_tokens"], 40, "{answer}");
    assert_eq!(answer["choices"][0]["finish_reason"], "length", "{answer}");

    let messages = json!([
        { "role": "system", "content": "You are a helpful assistant." },
        { "role": "user", "content": "Write a function that reverses a string." },
    ]);
    let body = json!({ "messages": messages, "max_tokens": 16, "seed": 1 });
    let answer: Value = server.post(CHAT, Some(&key), &[], &body).await.json().await.unwrap();
    assert_eq!(answer["object"], "chat.completion");
    assert!(answer["id"].as_str().unwrap().starts_with("chatcmpl-"), "{answer}");
    assert_eq!(answer["choices"][0]["message"]["role"], "assistant");
    assert!(answer["choices"][0]["message"]["content"].is_string(), "{answer}");
    assert!(answer["usage"]["completion_tokens"].as_u64().unwrap() <= 16, "{answer}");

    // Streamed: chunks of the same shape, the last with a finish reason, then [DONE].
    for (path, body) in [
        (COMPLETIONS, json!({ "prompt": "import ", "max_tokens": 12, "stream": true })),
        (CHAT, json!({ "messages": messages, "max_tokens": 12, "stream": true })),
    ] {
        let response = server.post(path, Some(&key), &[], &body).await;
        assert_eq!(response.status(), 200);
        assert!(content_type(&response).starts_with("text/event-stream"));
        let events = events(&response.text().await.unwrap());
        let (done, chunks) = events.split_last().unwrap();
        assert_eq!(done.1, "[DONE]", "{events:?}");
        let chunks: Vec<Value> = chunks.iter().map(|(_, data)| serde_json::from_str(data).unwrap()).collect();
        let (last, pieces) = chunks.split_last().expect("a final chunk");
        assert!(last["choices"][0]["finish_reason"].is_string(), "{last}");
        let id = &chunks[0]["id"];
        for chunk in &chunks {
            assert_eq!(&chunk["id"], id, "one id for the whole stream");
            assert_eq!(chunk["model"], "hapa-code");
        }
        if path == CHAT {
            assert_eq!(chunks[0]["object"], "chat.completion.chunk");
            assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
            assert!(pieces.iter().skip(1).all(|c| c["choices"][0]["delta"]["content"].is_string()), "{chunks:?}");
        } else {
            assert_eq!(chunks[0]["object"], "text_completion");
            assert!(pieces.iter().all(|c| c["choices"][0]["finish_reason"].is_null()), "{chunks:?}");
        }
    }
}

#[tokio::test]
async fn the_openapi_document_describes_generation() {
    let server = Server::start();
    let key = server.key("ivy", "monitor");
    let spec: Value = server.get("/api/v1/openapi.json", Some(&key)).await.json().await.unwrap();
    for path in [COMPLETE, GENERATE, COMPLETIONS, CHAT] {
        let responses = &spec["paths"][path]["post"]["responses"];
        assert!(responses["200"]["content"]["application/json"].is_object(), "{path}");
        for status in ["401", "403", "422", "503", "504"] {
            let schema = responses[status]["content"]["application/json"]["schema"]["$ref"].as_str();
            let expected = if path.starts_with("/v1/") { "OpenAiErrorBody" } else { "ErrorBody" };
            assert_eq!(schema, Some(format!("#/components/schemas/{expected}").as_str()), "{path} {status}");
        }
    }
    for path in [GENERATE, COMPLETIONS, CHAT] {
        assert!(spec["paths"][path]["post"]["responses"]["200"]["content"]["text/event-stream"].is_object(), "{path}");
    }
    let schemas = &spec["components"]["schemas"];
    assert_eq!(schemas["GenerateRequest"]["properties"]["language"]["enum"], json!(["python"]));
    assert_eq!(schemas["CompleteRequest"]["properties"]["max_tokens"]["maximum"], json!(128));
    // A seed is any u64, as the server reads it (not int64, which stops at 2^63 - 1).
    for request in ["OpenAiCompletionRequest", "OpenAiChatRequest"] {
        let seed = &schemas[request]["properties"]["seed"];
        assert_eq!((&seed["minimum"], &seed["maximum"]), (&json!(0), &json!(u64::MAX)), "{request}");
    }
    let user = server.key("ivo", "user");
    let past_u64 = json!({ "prompt": "x = ", "max_tokens": 1, "seed": 18_446_744_073_709_551_616.0_f64 });
    let refused = server.post(COMPLETIONS, Some(&user), &[], &past_u64).await;
    assert!(refused.status().is_client_error(), "a seed past u64 is refused: {}", refused.status());
}

/// A server whose provider is another hapa-server, through its OpenAI-compatible routes.
#[tokio::test]
async fn the_openai_provider_forwards_to_another_server() {
    let upstream = Server::start();
    let upstream_key = upstream.key("relay", "user");
    let base = upstream.url("/v1");
    // Without the response cache, so that each request here is relayed.
    let flags = [
        "--provider",
        "openai",
        "--openai-base-url",
        base.as_str(),
        "--openai-model",
        "hapa-code",
        "--cache-ttl-secs",
        "0",
    ];
    let server = Server::launch(&flags, &[("HAPA_OPENAI_API_KEY", upstream_key.as_str())], false);
    let banner = server.banner(2).join("\n");
    assert!(banner.contains(&format!("hapa-server model: openai hapa-code at {base}")), "{banner}");
    assert!(!banner.contains(&upstream_key), "the key is never printed");
    let key = server.key("joe", "user");

    let body = json!({ "prefix": "def add(a, b):\n    return ", "language": "python", "max_tokens": 8 });
    let response = server.post(COMPLETE, Some(&key), &[], &body).await;
    assert_eq!(response.status(), 200);
    let answer: CompleteResponse = response.json().await.unwrap();
    assert_eq!(answer.model, "hapa-code");
    assert!(!answer.completions[0].text.contains('\n'), "a line completion stays on its line: {answer:?}");

    let body = json!({ "user_question": "sum a list", "code_context": "import math\n", "language": "python" });
    let answer: GenerateResponse = server.post(GENERATE, Some(&key), &[], &body).await.json().await.unwrap();
    assert_eq!(answer.parses, hapa_core::validate::module(&answer.generated_code).is_empty());
    let response = server.post(GENERATE, Some(&key), &[("Accept", "text/event-stream")], &body).await;
    let events = events(&response.text().await.unwrap());
    let (last, deltas) = events.split_last().unwrap();
    assert_eq!(last.0, "done", "{events:?}");
    let done: GenerateResponse = serde_json::from_str(&last.1).unwrap();
    let streamed: String = deltas
        .iter()
        .map(|(_, data)| serde_json::from_str::<Value>(data).unwrap()["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(streamed, done.generated_code);
    // The upstream counted the relayed requests as its own.
    let admin = upstream.key("root", "admin");
    let relayed = "hapa_http_requests_total{route=\"/v1/chat/completions\",method=\"POST\",status=\"200\"}";
    assert_eq!(metric(&upstream, &admin, relayed).await, Some(2.0));

    // A refused key upstream is a 502 here, never a hang or a 500.
    let wrong = Server::launch(&flags, &[("HAPA_OPENAI_API_KEY", "hapa_wrong")], false);
    let key = wrong.key("kim", "user");
    let error = error_of(wrong.post(COMPLETE, Some(&key), &[], &body_complete()).await, StatusCode::BAD_GATEWAY).await;
    assert_eq!(error.code, "upstream_error");
    assert!(error.message.contains("401"), "{}", error.message);
    assert!(!error.message.contains("hapa_wrong"), "{}", error.message);
}

fn body_complete() -> Value {
    json!({ "prefix": "x = ", "language": "python", "max_tokens": 4 })
}

/// An upstream that accepts connections and never answers, or is not there at all.
#[tokio::test]
async fn an_upstream_that_hangs_or_is_gone_is_a_504_or_502() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging = format!("http://{}/v1", silent.local_addr().unwrap());
    let server = Server::start_with(&[
        "--provider",
        "openai",
        "--openai-base-url",
        &hanging,
        "--openai-model",
        "m",
        "--model-timeout-secs",
        "0.5",
    ]);
    let key = server.key("lee", "user");
    let started = std::time::Instant::now();
    let error =
        error_of(server.post(COMPLETE, Some(&key), &[], &body_complete()).await, StatusCode::GATEWAY_TIMEOUT).await;
    assert_eq!(error.code, "upstream_timeout");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());

    let gone = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1", listener.local_addr().unwrap())
    };
    let server = Server::start_with(&["--provider", "openai", "--openai-base-url", &gone, "--openai-model", "m"]);
    let key = server.key("max", "user");
    let error = error_of(server.post(COMPLETE, Some(&key), &[], &body_complete()).await, StatusCode::BAD_GATEWAY).await;
    assert_eq!(error.code, "upstream_error");
    drop(silent);
}

/// A fake upstream on loopback that answers every request with `head` and then `body` chunks,
/// forever when `endless`.
fn fake_upstream(head: &'static str, body: &'static str, endless: bool) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                // Read the request head and its body, then answer.
                let mut request = Vec::new();
                let mut byte = [0u8; 4096];
                while let Ok(read @ 1..) = stream.read(&mut byte) {
                    request.extend_from_slice(&byte[..read]);
                    let text = String::from_utf8_lossy(&request);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let _ = stream.write_all(head.as_bytes());
                while stream.write_all(body.as_bytes()).is_ok() && endless {
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
        }
    });
    base
}

/// Upstreams that ignore `stream`, send nonsense or never stop: bounded answers, never a hang.
#[tokio::test]
async fn odd_upstreams_get_bounded_answers() {
    let json = fake_upstream(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 56\r\n\r\n",
        r#"{"choices":[{"text":"42\nrest","finish_reason":"stop"}]}"#,
        false,
    );
    let nonsense =
        fake_upstream("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n", "data: {oops\n\n", false);
    let endless = fake_upstream(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n",
        "data: {\"choices\":[{\"text\":\"1\"}]}\n\n",
        true,
    );
    let start =
        |base: &str| Server::start_with(&["--provider", "openai", "--openai-base-url", base, "--openai-model", "m"]);

    let server = start(&json);
    let key = server.key("ned", "user");
    let answer: CompleteResponse = server.post(COMPLETE, Some(&key), &[], &body_complete()).await.json().await.unwrap();
    assert_eq!(answer.completions[0].text, "42", "the line rule applies to a whole-JSON answer too");

    let server = start(&nonsense);
    let key = server.key("ole", "user");
    let error = error_of(server.post(COMPLETE, Some(&key), &[], &body_complete()).await, StatusCode::BAD_GATEWAY).await;
    assert_eq!(error.code, "upstream_error");

    let server = start(&endless);
    let key = server.key("pia", "user");
    let started = std::time::Instant::now();
    let answer: CompleteResponse = server.post(COMPLETE, Some(&key), &[], &body_complete()).await.json().await.unwrap();
    assert_eq!(answer.generated_tokens, 4, "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
