//! The HTTP client for hapa-server, over the host's `fetch` (gloo-net), so the same code runs
//! in Node's extension host, a browser host or a worker. Answers that say "later" (429 with
//! `Retry-After`, 5xx) are retried within the caller's deadline ([`hapa_core::retry`]); Stop and
//! deadlines abort the request at any point.

use gloo_net::http::{Request, RequestBuilder, Response};
use hapa_core::retry::RetryPolicy;
use hapa_core::sse::EventReader;
use hapa_protocol::api::{
    CompleteRequest, CompleteResponse, ErrorBody, FeedbackRequest, GenerateRequest, GenerateResponse, HealthResponse,
    TextDelta, ValidateRequest,
};
use hapa_protocol::editor::{KeyStatus, ServerCheck, ServerHealth};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Why a call to the server failed, worded for the person who has to fix it.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientError {
    /// The configured URL is not an http(s) URL.
    BadUrl {
        /// The URL as configured.
        url: String,
    },
    /// Nothing answered in time.
    Timeout {
        /// The server's base URL.
        url: String,
        /// How long we waited.
        ms: u32,
    },
    /// The connection failed (refused, DNS, TLS, reset...).
    Unreachable {
        /// The server's base URL.
        url: String,
        /// What `fetch` said.
        detail: String,
    },
    /// The server answered, but not with success.
    Status {
        /// The server's base URL.
        url: String,
        /// The route asked.
        route: &'static str,
        /// The HTTP status.
        status: u16,
        /// The `message` of the server's JSON error, when it sent one.
        message: Option<String>,
    },
    /// The server started a streamed answer, then ended it with an error of its own (the model
    /// timed out, its upstream failed...).
    Stream {
        /// The server's base URL.
        url: String,
        /// The `message` of the stream's `error` event.
        message: String,
    },
    /// The server answered 2xx with a body that is not what HAPA's server sends.
    Body {
        /// The server's base URL.
        url: String,
        /// The decoding error.
        detail: String,
    },
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const WHAT_TO_DO: &str = "Start it with `cargo xtask run` (or `hapa-server serve`), \
                                  or set `hapa.serverUrl` to where it runs.";
        match self {
            Self::BadUrl { url } => write!(
                f,
                "HAPA server URL {url:?} is not an http:// or https:// URL; fix the setting `hapa.serverUrl`."
            ),
            Self::Timeout { url, ms } => {
                write!(f, "HAPA server at {url} is not reachable: no answer within {ms} ms. {WHAT_TO_DO}")
            }
            Self::Unreachable { url, detail } => {
                write!(f, "HAPA server at {url} is not reachable ({detail}). {WHAT_TO_DO}")
            }
            Self::Status { url, route, status: 401, .. } if *route != "/health" => write!(
                f,
                "HAPA server at {url} rejects your API key (unknown or revoked): run \"HAPA: Set API Key\" with a current key."
            ),
            Self::Status { url, route, status, message: Some(message) } => {
                write!(f, "HAPA server at {url} answered HTTP {status} to {route}: {message}")
            }
            Self::Status { url, route, status, message: None } => {
                write!(f, "HAPA server at {url} answered HTTP {status} to {route}; see the server's log.")
            }
            Self::Stream { url, message } => {
                write!(f, "HAPA server at {url} stopped the answer: {message}")
            }
            Self::Body { url, detail } => write!(
                f,
                "The server at {url} answered with something other than what HAPA's server sends \
                 ({detail}); is `hapa.serverUrl` pointing at a HAPA server?"
            ),
        }
    }
}

impl std::error::Error for ClientError {}

/// The base URL without trailing slashes, or an error when it is not http(s).
fn base_url(url: &str) -> Result<String, ClientError> {
    let trimmed = url.trim().trim_end_matches('/');
    if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        Ok(trimmed.to_owned())
    } else {
        Err(ClientError::BadUrl { url: url.to_owned() })
    }
}

const VALIDATE: &str = "/api/v1/code/validate";
const COMPLETE: &str = "/api/v1/code/complete";
const GENERATE: &str = "/api/v1/code/generate";
const FEEDBACK: &str = "/api/v1/feedback";
/// Longest single event of a streamed answer (the whole answer is bounded by the server).
const MAX_EVENT_BYTES: usize = 1 << 20;

/// Sends `request` (with `json` as its body, if any) with a deadline of `timeout_ms`,
/// mapping transport failures.
async fn send(
    url: &str,
    timeout_ms: u32,
    request: RequestBuilder,
    json: Option<&impl serde::Serialize>,
) -> Result<Response, ClientError> {
    send_with(url, timeout_ms, web_sys::AbortSignal::timeout_with_u32(timeout_ms), request, json).await
}

/// As [`send_with`], sent again while the server answers "later" (429 / 5xx, see
/// [`hapa_core::retry`]) and the deadline of `timeout_ms` allows; then the last answer is
/// returned as it came. `build` makes each attempt's request.
async fn send_retrying(
    url: &str,
    timeout_ms: u32,
    signal: web_sys::AbortSignal,
    build: impl Fn() -> RequestBuilder,
    json: Option<&impl serde::Serialize>,
) -> Result<Response, ClientError> {
    let policy = RetryPolicy::default();
    let started = js_sys::Date::now();
    let mut attempt = 1;
    loop {
        let response = send_with(url, timeout_ms, signal.clone(), build(), json).await?;
        if response.ok() {
            return Ok(response);
        }
        let left = (f64::from(timeout_ms) - (js_sys::Date::now() - started)).max(0.0) as u32;
        let retry_after = response.headers().get("retry-after");
        let status = response.status();
        let Some(delay) = policy.delay_ms(attempt, status, retry_after.as_deref(), left, js_sys::Math::random()) else {
            return Ok(response);
        };
        if !sleep(delay, &signal).await {
            return Err(ClientError::Timeout { url: url.to_owned(), ms: timeout_ms });
        }
        attempt += 1;
    }
}

/// Waits `ms` (the host's `setTimeout`); `false` when `signal` aborts first.
async fn sleep(ms: u32, signal: &web_sys::AbortSignal) -> bool {
    let timer = js_sys::Promise::new(&mut |resolve, _reject| {
        let set_timeout = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("setTimeout"))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        match set_timeout {
            Some(set_timeout) => {
                let _ = set_timeout.call2(&JsValue::NULL, &resolve, &JsValue::from(ms));
            }
            // No timer in this host: do not wait at all.
            None => {
                let _ = resolve.call0(&JsValue::NULL);
            }
        }
    });
    let mut abort = aborted(signal);
    unless_aborted(JsFuture::from(timer), &mut abort).await.is_some()
}

/// Resolves once `signal` aborts (at once if it already has), through a listener of its own.
///
/// `fetch` alone is not enough: Node's fetch follows the signal of the `Request` it is given
/// through a weak reference, so after a garbage collection an abort may never reach the request
/// (nodejs/node#55428). Racing every await of a request against this makes Stop and deadlines
/// hold regardless; the caller then cancels what is left (the body stream).
pub(crate) fn aborted(signal: &web_sys::AbortSignal) -> JsFuture {
    let signal = signal.clone();
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        if signal.aborted() {
            let _ = resolve.call0(&JsValue::NULL);
        } else {
            let _ = signal.add_event_listener_with_callback("abort", &resolve);
        }
    });
    JsFuture::from(promise)
}

/// `future`, unless `abort` resolves first (then `None`).
async fn unless_aborted<T>(future: impl std::future::Future<Output = T>, abort: &mut JsFuture) -> Option<T> {
    match futures_util::future::select(std::pin::pin!(future), abort).await {
        futures_util::future::Either::Left((value, _)) => Some(value),
        futures_util::future::Either::Right(_) => None,
    }
}

/// As [`send`], aborted by `signal` (the caller's deadline and cancellation together).
async fn send_with(
    url: &str,
    timeout_ms: u32,
    signal: web_sys::AbortSignal,
    request: RequestBuilder,
    json: Option<&impl serde::Serialize>,
) -> Result<Response, ClientError> {
    let mut abort = aborted(&signal);
    let request = request.abort_signal(Some(&signal));
    let request = match json {
        Some(body) => match request.json(body) {
            Ok(request) => request,
            Err(error) => return Err(ClientError::Body { url: url.to_owned(), detail: error.to_string() }),
        },
        None => match request.build() {
            Ok(request) => request,
            Err(error) => return Err(ClientError::Body { url: url.to_owned(), detail: error.to_string() }),
        },
    };
    let Some(sent) = unless_aborted(request.send(), &mut abort).await else {
        return Err(ClientError::Timeout { url: url.to_owned(), ms: timeout_ms });
    };
    sent.map_err(|error| {
        if signal.aborted() {
            ClientError::Timeout { url: url.to_owned(), ms: timeout_ms }
        } else {
            ClientError::Unreachable { url: url.to_owned(), detail: fetch_failure(&error) }
        }
    })
}

/// `GET /health`, bounded by `timeout_ms`.
pub async fn health(server_url: &str, timeout_ms: u32) -> Result<ServerHealth, ClientError> {
    let url = base_url(server_url)?;
    let started = js_sys::Date::now();
    let response = send(&url, timeout_ms, Request::get(&format!("{url}/health")), None::<&()>).await?;
    if !response.ok() {
        return Err(ClientError::Status { url, route: "/health", status: response.status(), message: None });
    }
    let health: HealthResponse =
        response.json().await.map_err(|error| ClientError::Body { url: url.clone(), detail: error.to_string() })?;
    Ok(ServerHealth { server_url: url, health, latency_ms: js_sys::Date::now() - started })
}

/// `POST /api/v1/code/complete` with `api_key`; `signal` aborts it (VS Code cancelled the
/// request, or the caller's deadline of `timeout_ms` passed). Returns the answer and its latency.
pub async fn complete(
    server_url: &str,
    api_key: &str,
    request: &CompleteRequest,
    timeout_ms: u32,
    signal: web_sys::AbortSignal,
) -> Result<(CompleteResponse, f64), ClientError> {
    let url = base_url(server_url)?;
    let started = js_sys::Date::now();
    let http = || Request::post(&format!("{url}{COMPLETE}")).header("X-API-Key", api_key);
    let response = send_retrying(&url, timeout_ms, signal, http, Some(request)).await?;
    if !response.ok() {
        return Err(status_error(url, COMPLETE, response).await);
    }
    let answer: CompleteResponse =
        response.json().await.map_err(|error| ClientError::Body { url: url.clone(), detail: error.to_string() })?;
    Ok((answer, js_sys::Date::now() - started))
}

/// An error answer: its status and the `message` of its JSON body, when it has one.
async fn status_error(url: String, route: &'static str, response: Response) -> ClientError {
    let status = response.status();
    let message = response.json::<ErrorBody>().await.ok().map(|body| body.message);
    ClientError::Status { url, route, status, message }
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// A `fetch` response's body (a WHATWG `ReadableStream` of bytes).
    type BodyStream;
    #[wasm_bindgen(method, js_name = getReader)]
    fn get_reader(this: &BodyStream) -> BodyReader;

    /// Its default reader.
    type BodyReader;
    #[wasm_bindgen(method)]
    fn read(this: &BodyReader) -> js_sys::Promise;
    #[wasm_bindgen(method)]
    fn cancel(this: &BodyReader) -> js_sys::Promise;
}

/// `POST /api/v1/code/generate` as a stream: `on_delta` sees each piece of code as the server
/// sends it; the answer is the final `done` event. `signal` aborts the request and the stream
/// (Stop, or the caller's deadline of `timeout_ms`).
pub async fn generate_stream(
    server_url: &str,
    api_key: &str,
    request: &GenerateRequest,
    timeout_ms: u32,
    signal: web_sys::AbortSignal,
    mut on_delta: impl FnMut(&str),
) -> Result<GenerateResponse, ClientError> {
    let url = base_url(server_url)?;
    // Retried only before the stream starts: a refusal says "later" in its status.
    let http = || {
        Request::post(&format!("{url}{GENERATE}")).header("X-API-Key", api_key).header("Accept", "text/event-stream")
    };
    let response = send_retrying(&url, timeout_ms, signal.clone(), http, Some(request)).await?;
    if !response.ok() {
        return Err(status_error(url, GENERATE, response).await);
    }
    let broken = |detail: String| ClientError::Body { url: url.clone(), detail };
    let body = response.body().ok_or_else(|| broken("the answer has no body".to_owned()))?;
    let reader = body.unchecked_into::<BodyStream>().get_reader();
    let mut events = EventReader::new(MAX_EVENT_BYTES);
    let mut abort = aborted(&signal);
    loop {
        let Some(chunk) = unless_aborted(JsFuture::from(reader.read()), &mut abort).await else {
            // Cancelling the body ends the request, whether or not fetch saw the abort.
            let _ = reader.cancel();
            return Err(ClientError::Timeout { url: url.clone(), ms: timeout_ms });
        };
        let chunk = chunk.map_err(|error| {
            if signal.aborted() {
                ClientError::Timeout { url: url.clone(), ms: timeout_ms }
            } else {
                ClientError::Unreachable { url: url.clone(), detail: js_message(&error) }
            }
        })?;
        let done = js_sys::Reflect::get(&chunk, &JsValue::from_str("done")).map(|done| done.is_truthy());
        if done.unwrap_or(true) {
            return Err(broken("the stream ended before its `done` event".to_owned()));
        }
        let bytes = js_sys::Reflect::get(&chunk, &JsValue::from_str("value"))
            .ok()
            .and_then(|value| value.dyn_into::<js_sys::Uint8Array>().ok())
            .ok_or_else(|| broken("a chunk of the stream is not bytes".to_owned()))?;
        for event in events.feed(&bytes.to_vec()).map_err(|error| broken(error.to_string()))? {
            match event.name.as_str() {
                "delta" => {
                    let delta: TextDelta =
                        serde_json::from_str(&event.data).map_err(|error| broken(error.to_string()))?;
                    on_delta(&delta.text);
                }
                "done" => return serde_json::from_str(&event.data).map_err(|error| broken(error.to_string())),
                "error" => {
                    let error: ErrorBody =
                        serde_json::from_str(&event.data).map_err(|error| broken(error.to_string()))?;
                    return Err(ClientError::Stream { url: url.clone(), message: error.message });
                }
                _ => {}
            }
        }
    }
}

/// `POST /api/v1/feedback`: an event about an answer, by its request id.
pub async fn feedback(
    server_url: &str,
    api_key: &str,
    request: &FeedbackRequest,
    timeout_ms: u32,
) -> Result<(), ClientError> {
    let url = base_url(server_url)?;
    let http = || Request::post(&format!("{url}{FEEDBACK}")).header("X-API-Key", api_key);
    let deadline = web_sys::AbortSignal::timeout_with_u32(timeout_ms);
    let response = send_retrying(&url, timeout_ms, deadline, http, Some(request)).await?;
    if !response.ok() {
        return Err(status_error(url, FEEDBACK, response).await);
    }
    Ok(())
}

fn js_message(error: &JsValue) -> String {
    error.dyn_ref::<js_sys::Error>().map_or_else(|| format!("{error:?}"), |error| String::from(error.message()))
}

/// Health, then whether `api_key` is accepted (by validating a one-line module with it).
pub async fn check(server_url: &str, api_key: Option<&str>, timeout_ms: u32) -> Result<ServerCheck, ClientError> {
    let health = health(server_url, timeout_ms).await?;
    let url = &health.server_url;
    let api_key_status = match api_key {
        None => KeyStatus::Missing,
        Some(key) => {
            let body = ValidateRequest { code: "pass\n".to_owned() };
            let request = Request::post(&format!("{url}{VALIDATE}")).header("X-API-Key", key);
            let response = send(url, timeout_ms, request, Some(&body)).await?;
            match response.status() {
                200..=299 => KeyStatus::Accepted,
                401 => KeyStatus::Rejected,
                status => {
                    return Err(ClientError::Status { url: url.clone(), route: VALIDATE, status, message: None });
                }
            }
        }
    };
    let ok =
        format!("HAPA server at {url} is ok (version {}, {} ms)", health.health.version, health.latency_ms.round());
    let summary = match api_key_status {
        KeyStatus::Accepted => format!("{ok}; your API key is accepted."),
        KeyStatus::Missing => format!("{ok}; no API key is set: run \"HAPA: Set API Key\"."),
        KeyStatus::Rejected => format!(
            "{ok}, but it rejects your API key (unknown or revoked): run \"HAPA: Set API Key\" with a current key."
        ),
    };
    Ok(ServerCheck { health, api_key: api_key_status, summary })
}

/// Node's `fetch` rejects with a bare "fetch failed"; say the part a person can act on.
fn fetch_failure(error: &gloo_net::Error) -> String {
    match error {
        gloo_net::Error::JsError(js) if js.message == "fetch failed" => "connection failed".to_owned(),
        gloo_net::Error::JsError(js) => js.message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_accepts_http_and_trims() {
        assert_eq!(base_url(" http://127.0.0.1:8000/ ").unwrap(), "http://127.0.0.1:8000");
        assert!(matches!(base_url("file:///etc/passwd"), Err(ClientError::BadUrl { .. })));
        assert!(matches!(base_url("127.0.0.1:8000"), Err(ClientError::BadUrl { .. })));
    }
}
