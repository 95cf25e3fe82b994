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
    let ask = js_sys::JSON::parse(r#"{"type":"ask","text":"hi"}"#).unwrap();
    assert!(hapa_wasm::parse_webview_message(ask).is_ok());
    for bad in [r#"{"type":"ask","text":"hi","role":"admin"}"#, r#"{"type":"eval"}"#, "42", "null"] {
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
