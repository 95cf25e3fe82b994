//! Inline completions for the host: the server call and the remote/local failover state.

use hapa_core::backend::{Backend, Failover, Mode};
use hapa_protocol::api::CompleteRequest;
use wasm_bindgen::prelude::*;

use crate::{client, to_js};

/// A remote completion: the text and how long the server took.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct RemoteCompletion {
    text: String,
    latency_ms: f64,
    model: String,
}

/// `POST /api/v1/code/complete`: the rest of the line at the cursor from the server. `signal`
/// aborts the HTTP request (the host combines VS Code's cancellation with its deadline).
#[wasm_bindgen(js_name = completeRemote, unchecked_return_type = "{ text: string; latencyMs: number; model: string }")]
pub async fn complete_remote(
    server_url: String,
    api_key: String,
    prefix: String,
    suffix: String,
    max_tokens: u32,
    timeout_ms: u32,
    signal: web_sys::AbortSignal,
) -> Result<JsValue, JsError> {
    let request = CompleteRequest {
        prefix,
        suffix: Some(suffix),
        file_path: None,
        max_tokens: Some(max_tokens),
        language: "python".to_owned(),
        mode: None,
    };
    let (answer, latency_ms) = client::complete(&server_url, &api_key, &request, timeout_ms, signal)
        .await
        .map_err(|error| JsError::new(&error.to_string()))?;
    let text = answer.completions.into_iter().next().map(|choice| choice.text).unwrap_or_default();
    to_js(&RemoteCompletion { text, latency_ms, model: answer.model })
}

/// Which backend answers the next completion (see `hapa_core::backend`); times in ms.
#[wasm_bindgen]
pub struct BackendChooser {
    state: Failover,
}

#[wasm_bindgen]
impl BackendChooser {
    /// `mode`: "auto", "remote" or "local" (anything else is "auto").
    #[wasm_bindgen(constructor)]
    pub fn new(mode: &str) -> BackendChooser {
        Self { state: Failover::new(parse_mode(mode)) }
    }

    /// The setting changed.
    #[wasm_bindgen(js_name = setMode)]
    pub fn set_mode(&mut self, mode: &str) {
        self.state.set_mode(parse_mode(mode));
    }

    /// "remote" or "local".
    pub fn choose(&self, now: f64) -> String {
        match self.state.choose(now) {
            Backend::Remote => "remote".to_owned(),
            Backend::Local => "local".to_owned(),
        }
    }

    /// Whether a failed remote request should be answered locally instead.
    #[wasm_bindgen(js_name = fallsBack)]
    pub fn falls_back(&self) -> bool {
        self.state.falls_back()
    }

    /// The server answered in `latency` ms.
    #[wasm_bindgen(js_name = remoteSucceeded)]
    pub fn remote_succeeded(&mut self, now: f64, latency: f64) {
        self.state.remote_succeeded(now, latency);
    }

    /// The server was unreachable, timed out or failed.
    #[wasm_bindgen(js_name = remoteFailed)]
    pub fn remote_failed(&mut self, now: f64) {
        self.state.remote_failed(now);
    }

    /// The local model answered.
    #[wasm_bindgen(js_name = localUsed)]
    pub fn local_used(&mut self) {
        self.state.local_used();
    }

    /// Status-bar words: "Remote 42 ms", "Local" or "Offline".
    pub fn label(&self, now: f64) -> String {
        self.state.label(now)
    }
}

fn parse_mode(mode: &str) -> Mode {
    match mode {
        "remote" => Mode::Remote,
        "local" => Mode::Local,
        _ => Mode::Auto,
    }
}
