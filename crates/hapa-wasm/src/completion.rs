//! Inline completions for the host: the server call and the remote/local failover state.

use hapa_core::backend::{Backend, Failover, Mode};
use hapa_protocol::api::{CompleteRequest, FeedbackEvent, FeedbackRequest};
use wasm_bindgen::prelude::*;

use crate::{client, to_js};

/// A remote completion: the text, how long the server took, and its id (for feedback).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct RemoteCompletion {
    text: String,
    latency_ms: f64,
    model: String,
    id: String,
}

/// `POST /api/v1/code/complete`: the rest of the line at the cursor from the server. `signal`
/// aborts the HTTP request (the host combines VS Code's cancellation with its deadline).
#[wasm_bindgen(
    js_name = completeRemote,
    unchecked_return_type = "{ text: string; latencyMs: number; model: string; id: string }"
)]
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
    to_js(&RemoteCompletion { text, latency_ms, model: answer.model, id: answer.id })
}

/// `POST /api/v1/feedback` about a remote completion: `event` is "accept" (Tab) or "dismiss"
/// (shown, then passed over).
#[wasm_bindgen(js_name = sendCompletionFeedback)]
pub async fn send_completion_feedback(
    server_url: String,
    api_key: String,
    completion_id: String,
    #[wasm_bindgen(unchecked_param_type = "\"accept\" | \"dismiss\"")] event: String,
    timeout_ms: u32,
) -> Result<(), JsError> {
    let event = match event.as_str() {
        "accept" => FeedbackEvent::Accept,
        "dismiss" => FeedbackEvent::Dismiss,
        other => return Err(JsError::new(&format!("{other:?} is not a feedback event for a completion"))),
    };
    let request = FeedbackRequest { request_id: None, completion_id: Some(completion_id), event, comment: None };
    client::feedback(&server_url, &api_key, &request, timeout_ms)
        .await
        .map_err(|error| JsError::new(&error.to_string()))
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

/// How long a cached completion is served.
const COMPLETION_TTL_MS: u64 = 10 * 60 * 1000;

/// Completions already answered, so typing back to the same place (or an edit that only
/// touches whitespace or comments away from the cursor) asks no model again: the core's
/// [`Lru`](hapa_core::cache::Lru) (128 entries) keyed by
/// [`request_key`](hapa_core::cache::request_key) over the normalised code.
#[wasm_bindgen]
pub struct CompletionCache {
    entries: hapa_core::cache::Lru<String>,
}

impl Default for CompletionCache {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl CompletionCache {
    /// An empty cache.
    #[wasm_bindgen(constructor)]
    pub fn new() -> CompletionCache {
        CompletionCache { entries: hapa_core::cache::Lru::new(COMPLETION_TTL_MS, String::len) }
    }

    /// The completion stored for this request, if any. `backend` says who answers (e.g. the
    /// server's URL, or "local"): answers are never shared between backends.
    pub fn get(&mut self, backend: &str, prefix: &str, suffix: &str, max_tokens: u32, now_ms: f64) -> Option<String> {
        let key = completion_key(backend, prefix, suffix, max_tokens);
        self.entries.get(&key, millis(now_ms)).cloned()
    }

    /// Keeps `text` as the answer to this request.
    pub fn insert(&mut self, backend: &str, prefix: &str, suffix: &str, max_tokens: u32, text: String, now_ms: f64) {
        let key = completion_key(backend, prefix, suffix, max_tokens);
        self.entries.insert(key, text, millis(now_ms));
    }

    /// Forgets everything ("HAPA: Clear Cache"); returns how many entries there were.
    pub fn clear(&mut self) -> u32 {
        let count = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        self.entries.clear();
        count
    }
}

fn completion_key(backend: &str, prefix: &str, suffix: &str, max_tokens: u32) -> hapa_core::cache::RequestKey {
    let variant = format!("inline completion, {max_tokens} tokens");
    let context =
        hapa_core::context::Context { prefix: prefix.to_owned(), suffix: suffix.to_owned(), ..Default::default() };
    hapa_core::cache::request_key(
        &hapa_core::cache::KeyScope { owner: "", model: backend, variant: &variant },
        &context,
    )
}

/// `Date.now()` as the cache's clock (a bogus negative time counts as 0).
fn millis(now_ms: f64) -> u64 {
    now_ms.max(0.0) as u64
}

/// A completion's prompt, as `hapa_core::context` collects it.
#[derive(serde::Serialize)]
struct CompletionPrompt {
    /// The text before the cursor, within the budget, after a comment header of what the window
    /// does not show (names imported from workspace modules, imports out of sight).
    prefix: String,
    /// The text after the cursor, within the budget.
    suffix: String,
}

/// The prompt for a completion at the cursor of a document whose text is `before` + `after`:
/// the window around the cursor and what its workspace imports, within `token_budget`.
/// `package` is the document's package (for relative imports); `modules` maps the dotted names
/// of other workspace modules the host has open to their text.
#[wasm_bindgen(js_name = completionPrompt, unchecked_return_type = "{ prefix: string; suffix: string }")]
pub fn completion_prompt(
    before: &str,
    after: &str,
    package: Option<String>,
    #[wasm_bindgen(unchecked_param_type = "Record<string, string>")] modules: JsValue,
    token_budget: u32,
) -> Result<JsValue, JsError> {
    let modules: std::collections::BTreeMap<String, String> = serde_wasm_bindgen::from_value(modules)
        .map_err(|error| JsError::new(&format!("modules must map dotted names to source text: {error}")))?;
    let source = format!("{before}{after}");
    let request = hapa_core::context::Request {
        package: package.as_deref(),
        workspace: Some(&modules),
        ..hapa_core::context::Request::new(&source, before.len(), token_budget as usize)
    };
    let context = hapa_core::context::collect(&request);
    to_js(&CompletionPrompt { prefix: context.infill_prefix(), suffix: context.suffix })
}
