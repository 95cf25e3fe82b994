//! The bindings under Node, as the extension host runs them (`wasm-pack test --node`).
//! `cargo xtask test` starts a real hapa-server and passes its URL in `HAPA_TEST_SERVER_URL`.

use hapa_protocol::editor::{EditorDiagnostic, KeyStatus, ServerHealth};
use hapa_wasm::client::{self, ClientError};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

fn env(name: &str) -> Option<String> {
    let process = js_sys::Reflect::get(&js_sys::global(), &"process".into()).ok()?;
    let env = js_sys::Reflect::get(&process, &"env".into()).ok()?;
    js_sys::Reflect::get(&env, &name.into()).ok()?.as_string()
}

#[wasm_bindgen_test]
fn validate_python_positions_errors_for_the_editor() {
    let value = hapa_wasm::validate_python("ok = 1\nbad = = 1\n").unwrap();
    let diagnostics: Vec<EditorDiagnostic> = serde_wasm_bindgen::from_value(value).unwrap();
    assert!(!diagnostics.is_empty());
    assert_eq!((diagnostics[0].start_line, diagnostics[0].start_character), (1, 6));
    let clean: Vec<EditorDiagnostic> =
        serde_wasm_bindgen::from_value(hapa_wasm::validate_python("x = 1\n").unwrap()).unwrap();
    assert_eq!(clean, vec![]);
}

#[wasm_bindgen_test]
fn deep_nesting_does_not_crash_the_wasm_stack() {
    let source = format!("x = {}1{}\n", "(".repeat(10_000), ")".repeat(10_000));
    let value = hapa_wasm::validate_python(&source).unwrap();
    let diagnostics: Vec<EditorDiagnostic> = serde_wasm_bindgen::from_value(value).unwrap();
    assert!(diagnostics[0].message.starts_with("too many nested parentheses"));
}

#[wasm_bindgen_test]
fn webview_messages_are_checked() {
    let ask = js_sys::JSON::parse(r#"{"type":"ask","text":"hi","withContext":false}"#).unwrap();
    assert!(hapa_wasm::parse_webview_message(ask).is_ok());
    for bad in [
        r#"{"type":"ask","text":"hi","withContext":false,"role":"admin"}"#,
        r#"{"type":"ask","text":"hi"}"#,
        r#"{"type":"eval"}"#,
        "42",
        "null",
    ] {
        let value = js_sys::JSON::parse(bad).unwrap();
        assert!(hapa_wasm::parse_webview_message(value).is_err(), "{bad} accepted");
    }
    assert!(hapa_wasm::parse_webview_message(JsValue::UNDEFINED).is_err());
}

#[wasm_bindgen_test]
async fn health_of_the_real_server() {
    let url = env("HAPA_TEST_SERVER_URL").expect("run through `cargo xtask test`, which starts hapa-server");
    let health: ServerHealth = client::health(&format!("{url}/"), 5_000).await.unwrap();
    assert_eq!(health.server_url, url);
    assert_eq!(health.health.status, "ok");
    assert!(health.latency_ms >= 0.0);
}

#[wasm_bindgen_test]
async fn a_stopped_server_is_reported_as_not_reachable() {
    // Port 9 (discard) on loopback: nothing listens there in the test environment.
    let error = client::health("http://127.0.0.1:9", 5_000).await.unwrap_err();
    assert!(matches!(error, ClientError::Unreachable { .. }), "{error:?}");
    assert!(error.to_string().starts_with("HAPA server at http://127.0.0.1:9 is not reachable"));
}

#[wasm_bindgen_test]
async fn a_non_hapa_answer_is_not_mistaken_for_health() {
    let url = env("HAPA_TEST_SERVER_URL").expect("run through `cargo xtask test`");
    // A path the server answers with 404 JSON: the client must report the status.
    let error = client::health(&format!("{url}/nothing-here"), 5_000).await.unwrap_err();
    assert!(matches!(error, ClientError::Status { status: 404, .. }), "{error:?}");
}

#[wasm_bindgen_test]
async fn the_servers_verdict_on_the_key() {
    let url = env("HAPA_TEST_SERVER_URL").expect("run through `cargo xtask test`");
    let key = env("HAPA_TEST_API_KEY").expect("run through `cargo xtask test`, which creates a key");
    let accepted = client::check(&url, Some(&key), 5_000).await.unwrap();
    assert_eq!(accepted.api_key, KeyStatus::Accepted);
    assert!(accepted.summary.ends_with("your API key is accepted."), "{}", accepted.summary);
    assert_eq!(client::check(&url, None, 5_000).await.unwrap().api_key, KeyStatus::Missing);
    // Well formed, never issued by this server.
    let stranger = hapa_core::api_key::from_random([42; 16]);
    let rejected = client::check(&url, Some(&stranger), 5_000).await.unwrap();
    assert_eq!(rejected.api_key, KeyStatus::Rejected);
    assert!(rejected.summary.contains("HAPA: Set API Key"), "{}", rejected.summary);
}

#[wasm_bindgen_test]
fn typed_keys_are_checked_before_they_are_stored() {
    let good = hapa_core::api_key::from_random([1; 16]);
    assert_eq!(hapa_wasm::api_key_problem(&good), None);
    let typo = good.replacen('0', "1", 1);
    assert!(hapa_wasm::api_key_problem(&typo).unwrap().contains("check for a typo"));
    assert!(hapa_wasm::api_key_problem("sk-123").unwrap().starts_with("a HAPA API key is"));
}

#[wasm_bindgen_test]
async fn an_answer_streams_from_the_real_server_and_takes_feedback() {
    let url = env("HAPA_TEST_SERVER_URL").expect("run through `cargo xtask test`");
    let key = env("HAPA_TEST_API_KEY").expect("run through `cargo xtask test`, which creates a key");
    let request = hapa_protocol::api::GenerateRequest {
        user_question: "return the sum of a list of numbers".to_owned(),
        code_context: Some("import math\n\n".to_owned()),
        language: "python".to_owned(),
        file_path: Some("app.py".to_owned()),
        stream: true,
    };
    let signal = web_sys::AbortSignal::timeout_with_u32(60_000);
    let mut deltas = Vec::new();
    let answer = client::generate_stream(&url, &key, &request, 60_000, signal, |text| deltas.push(text.to_owned()))
        .await
        .unwrap();
    assert_eq!(deltas.concat(), answer.generated_code, "the deltas add up to the answer");
    assert!(!answer.request_id.is_empty());
    assert_eq!(answer.parses, hapa_core::validate::module(&answer.generated_code).is_empty());

    let feedback = hapa_protocol::api::FeedbackRequest {
        request_id: Some(answer.request_id),
        completion_id: None,
        event: hapa_protocol::api::FeedbackEvent::Down,
        comment: None,
    };
    client::feedback(&url, &key, &feedback, 5_000).await.unwrap();

    // A stranger's key: the stream is refused with the server's words, before any delta.
    let stranger = hapa_core::api_key::from_random([7; 16]);
    let signal = web_sys::AbortSignal::timeout_with_u32(10_000);
    let error = client::generate_stream(&url, &stranger, &request, 10_000, signal, |_| panic!("no delta")).await;
    assert!(matches!(error, Err(ClientError::Status { status: 401, .. })), "{error:?}");
}

#[wasm_bindgen_test]
async fn stopping_an_answer_aborts_the_stream() {
    let url = env("HAPA_TEST_SERVER_URL").expect("run through `cargo xtask test`");
    let key = env("HAPA_TEST_API_KEY").expect("run through `cargo xtask test`, which creates a key");
    let request = hapa_protocol::api::GenerateRequest {
        user_question: "write a long module".to_owned(),
        code_context: None,
        language: "python".to_owned(),
        file_path: None,
        stream: true,
    };
    let controller = web_sys::AbortController::new().unwrap();
    controller.abort();
    let error = client::generate_stream(&url, &key, &request, 60_000, controller.signal(), |_| {}).await;
    assert!(matches!(error, Err(ClientError::Timeout { .. })), "an aborted request ends at once: {error:?}");
}

#[wasm_bindgen_test]
fn an_insertion_that_breaks_the_module_is_flagged_where_it_breaks() {
    #[derive(serde::Deserialize)]
    struct Check {
        acceptable: bool,
        problems: Vec<EditorDiagnostic>,
    }
    let good: Check =
        serde_wasm_bindgen::from_value(hapa_wasm::chat::check_insertion("x = 1\n", "y = 2\n", "z = 3\n").unwrap())
            .unwrap();
    assert!(good.acceptable && good.problems.is_empty());
    let bad: Check =
        serde_wasm_bindgen::from_value(hapa_wasm::chat::check_insertion("x = 1\n", "def f(:\n", "z = 3\n").unwrap())
            .unwrap();
    assert!(!bad.acceptable);
    assert_eq!(bad.problems[0].start_line, 1, "the error is on the inserted line");
}
