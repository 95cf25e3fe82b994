//! The chat's calls for the host: a streamed answer from the server, feedback on it, and the
//! check every insertion of generated code goes through.

use hapa_protocol::api::{FeedbackEvent, FeedbackRequest, GenerateRequest};
use hapa_protocol::editor::EditorDiagnostic;
use wasm_bindgen::prelude::*;

use crate::{client, to_js};

/// A finished answer from the server.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct RemoteAnswer {
    code: String,
    explanation: Option<String>,
    request_id: String,
    model: String,
    parses: bool,
    /// What went wrong when the model wrote nothing.
    error_message: Option<String>,
}

/// `POST /api/v1/code/generate`, streamed: `on_delta(text)` is called with each piece of code as
/// it arrives; resolves with the whole answer. `signal` aborts it (Stop, or the host's deadline).
#[wasm_bindgen(
    js_name = generateStream,
    unchecked_return_type = "{ code: string; explanation?: string; requestId: string; model: string; parses: boolean; errorMessage?: string }"
)]
#[allow(clippy::too_many_arguments)]
pub async fn generate_stream(
    server_url: String,
    api_key: String,
    question: String,
    code_context: Option<String>,
    file_path: Option<String>,
    timeout_ms: u32,
    signal: web_sys::AbortSignal,
    #[wasm_bindgen(unchecked_param_type = "(text: string) => void")] on_delta: js_sys::Function,
) -> Result<JsValue, JsError> {
    let request = GenerateRequest {
        user_question: question,
        code_context,
        language: "python".to_owned(),
        file_path,
        stream: true,
    };
    let deliver = |text: &str| {
        // A throwing callback is the host's bug; the stream goes on regardless.
        let _ = on_delta.call1(&JsValue::NULL, &JsValue::from_str(text));
    };
    let answer = client::generate_stream(&server_url, &api_key, &request, timeout_ms, signal, deliver)
        .await
        .map_err(|error| JsError::new(&error.to_string()))?;
    to_js(&RemoteAnswer {
        code: answer.generated_code,
        explanation: answer.explanation,
        request_id: answer.request_id,
        model: answer.model,
        parses: answer.parses,
        error_message: answer.error_message,
    })
}

/// `POST /api/v1/feedback` about an answer: `event` is "up", "down" or "accept".
#[wasm_bindgen(js_name = sendFeedback)]
pub async fn send_feedback(
    server_url: String,
    api_key: String,
    request_id: String,
    #[wasm_bindgen(unchecked_param_type = "\"up\" | \"down\" | \"accept\"")] event: String,
    timeout_ms: u32,
) -> Result<(), JsError> {
    let event = match event.as_str() {
        "up" => FeedbackEvent::Up,
        "down" => FeedbackEvent::Down,
        "accept" => FeedbackEvent::Accept,
        other => return Err(JsError::new(&format!("{other:?} is not a feedback event for an answer"))),
    };
    let request = FeedbackRequest { request_id: Some(request_id), completion_id: None, event, comment: None };
    client::feedback(&server_url, &api_key, &request, timeout_ms)
        .await
        .map_err(|error| JsError::new(&error.to_string()))
}

/// What inserting generated code does to a module's syntax.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct InsertionCheck {
    /// It adds no syntax error.
    acceptable: bool,
    /// The module with it parses with no error at all.
    parses: bool,
    /// The errors it adds, positioned in the module with the insertion in place.
    problems: Vec<EditorDiagnostic>,
}

/// Splices `insertion` between `before` and `after` and re-parses the module (see
/// `hapa_core::splice`).
#[wasm_bindgen(
    js_name = checkInsertion,
    unchecked_return_type = "{ acceptable: boolean; parses: boolean; problems: EditorDiagnostic[] }"
)]
pub fn check_insertion(before: &str, insertion: &str, after: &str) -> Result<JsValue, JsError> {
    let check = hapa_core::splice::check(before, insertion, after);
    let spliced = format!("{before}{insertion}{after}");
    to_js(&InsertionCheck {
        acceptable: check.new_errors.is_empty(),
        parses: check.parses,
        problems: hapa_core::validate::to_editor_diagnostics(&spliced, &check.new_errors),
    })
}
