//! The thin wasm-bindgen layer the VS Code extension host loads (`wasm-pack --target nodejs`).
//!
//! Each export converts JavaScript values to Rust, calls `hapa-core` (or, for network calls,
//! the API client in [`client`]) and converts the answer back with serde-wasm-bindgen. Logic
//! belongs in `hapa-core` (and `hapa-model` for the local model, see [`model`]); this crate
//! must not grow any, and must not know VS Code: it sees
//! strings and plain objects, never editor types.

use hapa_protocol::editor::EditorDiagnostic;
use hapa_protocol::webview::FromWebview;
use serde::Serialize;
use wasm_bindgen::prelude::*;

pub mod chat;
pub mod client;
pub mod completion;
pub mod history;
pub mod model;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** A syntax error positioned for VS Code: 0-based lines, UTF-16 columns. */
export interface EditorDiagnostic {
    startLine: number;
    startCharacter: number;
    endLine: number;
    endCharacter: number;
    message: string;
}
/** A message from the chat webview, once the host has checked it (see hapa-protocol). */
export type FromWebview =
    | { type: "ready"; protocol: number }
    | { type: "ask"; text: string; withContext: boolean }
    | { type: "stop" }
    | { type: "newChat" }
    | { type: "insertCode"; code: string; target: "cursor" | "selection" }
    | { type: "copyCode"; code: string }
    | { type: "rate"; requestId: string; rating: "up" | "down" }
    | { type: "openLink"; url: string }
    | { type: "openChat"; id: string }
    | { type: "deleteChat"; id: string };
/** A message the host sends to the chat webview. */
export type ToWebview =
    | { type: "notice"; text: string }
    | { type: "question"; text: string }
    | { type: "answerStarted"; answer: number; context?: string | null }
    | { type: "answerDelta"; answer: number; text: string }
    | {
          type: "answerDone";
          answer: number;
          code: string;
          explanation?: string | null;
          requestId?: string | null;
          backend: string;
          elapsedMs: number;
          parses: boolean;
          stopped: boolean;
      }
    | { type: "answerFailed"; answer: number; message: string }
    | { type: "contextPreview"; description?: string | null; pinned: boolean }
    | { type: "reset" }
    | { type: "chats"; chats: ChatSummary[]; current?: string | null };
/** One chat in the chat list. */
export interface ChatSummary {
    id: string;
    title: string;
    questions: number;
    updatedMs: number;
}
/** A successful `GET /health`. */
export interface ServerHealth {
    serverUrl: string;
    health: { status: string; version: string };
    latencyMs: number;
}
/** "HAPA: Check Server": health, then whether the key works; `summary` is for people. */
export interface ServerCheck {
    health: ServerHealth;
    apiKey: "accepted" | "missing" | "rejected";
    summary: string;
}
"#;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// Every syntax error of a Python module, positioned for the editor.
#[wasm_bindgen(js_name = validatePython, unchecked_return_type = "EditorDiagnostic[]")]
pub fn validate_python(source: &str) -> Result<JsValue, JsError> {
    let diagnostics: Vec<EditorDiagnostic> =
        hapa_core::validate::to_editor_diagnostics(source, &hapa_core::validate::module(source));
    to_js(&diagnostics)
}

/// Checks the server's health and, when a key is given, that it accepts the key; rejects with
/// a message that says what to do.
#[wasm_bindgen(js_name = checkServer, unchecked_return_type = "ServerCheck")]
pub async fn check_server(server_url: String, api_key: Option<String>, timeout_ms: u32) -> Result<JsValue, JsError> {
    let report = client::check(&server_url, api_key.as_deref(), timeout_ms)
        .await
        .map_err(|error| JsError::new(&error.to_string()))?;
    to_js(&report)
}

/// What is wrong with a typed API key, or `undefined` when it is well formed (the server
/// still decides whether it is known).
#[wasm_bindgen(js_name = apiKeyProblem)]
pub fn api_key_problem(key: &str) -> Option<String> {
    hapa_core::api_key::check(key).err().map(|problem| problem.to_string())
}

/// The chat question for an editor request about `what` ("the selection of app.py, lines
/// 3-9"): `task` is `explain`, `fix` (with the syntax errors in `problems`), `docstring` or
/// `tests`.
#[wasm_bindgen(js_name = editorTaskQuestion)]
pub fn editor_task_question(
    #[wasm_bindgen(unchecked_param_type = "\"explain\" | \"fix\" | \"docstring\" | \"tests\"")] task: &str,
    what: &str,
    problems: Vec<String>,
) -> Result<String, JsError> {
    Ok(editor_task(task)?.question(what, &problems))
}

/// The title of the progress shown while `task`'s answer about `what` comes.
#[wasm_bindgen(js_name = editorTaskProgress)]
pub fn editor_task_progress(
    #[wasm_bindgen(unchecked_param_type = "\"explain\" | \"fix\" | \"docstring\" | \"tests\"")] task: &str,
    what: &str,
) -> Result<String, JsError> {
    Ok(editor_task(task)?.progress(what))
}

fn editor_task(name: &str) -> Result<hapa_core::tasks::EditorTask, JsError> {
    hapa_core::tasks::EditorTask::from_name(name)
        .ok_or_else(|| JsError::new(&format!("{name:?} is not an editor task (explain, fix, docstring, tests)")))
}

/// The host <-> webview protocol version this core speaks; the webview's `ready` must match.
#[wasm_bindgen(js_name = webviewProtocolVersion)]
pub fn webview_protocol_version() -> u32 {
    hapa_protocol::WEBVIEW_PROTOCOL_VERSION
}

/// Why a link from an answer must not be opened, or `undefined` when it may (http, https,
/// mailto only).
#[wasm_bindgen(js_name = linkProblem)]
pub fn link_problem(url: &str) -> Option<String> {
    hapa_protocol::links::openable(url).err().map(|refusal| refusal.to_string())
}

/// Checks a message posted by the chat webview against the protocol; throws a description of
/// what is wrong when it does not match (the webview is untrusted input).
#[wasm_bindgen(js_name = parseWebviewMessage, unchecked_return_type = "FromWebview")]
pub fn parse_webview_message(
    #[wasm_bindgen(unchecked_param_type = "unknown")] message: JsValue,
) -> Result<JsValue, JsError> {
    let message: FromWebview = serde_wasm_bindgen::from_value(message)
        .map_err(|error| JsError::new(&format!("not a HAPA webview message: {error}")))?;
    to_js(&message)
}

fn to_js(value: &impl Serialize) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|error| JsError::new(&error.to_string()))
}
