//! Every request observed: its id (`X-Request-Id`, kept from the client when sane, generated
//! otherwise, echoed on the answer), its span and log line, and its metrics.
//!
//! What is logged is chosen here, field by field: the request id, method, route template,
//! status and latency. Never headers (keys travel in them), never bodies (prompts and code),
//! never the raw path (it may carry anything a client typed).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing::field::Empty;

use crate::metrics::{Metrics, UNMATCHED};

/// The header that carries the request id both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id kept from a client.
pub const MAX_REQUEST_ID_CHARS: usize = 64;

/// Whether a client's request id is kept: 1 to 64 of `A-Z a-z 0-9 - _`, so it is safe to log
/// and to echo.
pub fn is_sane_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_CHARS).contains(&id.len())
        && id.iter().all(|&byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// Request middleware, before the id is set: drops a client's request id unless it is exactly
/// one sane value, so that a fresh one is generated in its place.
pub async fn drop_insane_request_id(mut request: Request) -> Request {
    let mut ids = request.headers().get_all(&REQUEST_ID).iter();
    let sane = match (ids.next(), ids.next()) {
        (Some(id), None) => is_sane_request_id(id.as_bytes()),
        (None, _) => true,
        (Some(_), Some(_)) => false,
    };
    if !sane {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

/// Middleware, inside the request id layers: runs the request in a span that carries its id,
/// method and route, then records status and latency on the span, logs one line and counts
/// the request in [`Metrics`].
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or(UNMATCHED, MatchedPath::as_str).to_owned();
    let method = request.method().clone();
    let id = request.headers().get(&REQUEST_ID).and_then(|id| id.to_str().ok()).unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
        status = Empty,
        latency_ms = Empty,
    );
    let response = next.run(request).instrument(span.clone()).await;
    let latency = started.elapsed();
    let status = response.status().as_u16();
    span.record("status", status);
    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
    span.in_scope(|| tracing::info!("answered"));
    metrics.record_request(&route, &method, status, latency);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_kept() {
        for sane in ["a", "0f8fad5b-d9cb-469f-a165-70867728950e", "trace_42", &"x".repeat(64)] {
            assert!(is_sane_request_id(sane.as_bytes()), "{sane}");
        }
        for insane in ["", &"x".repeat(65), "a b", "a\r\nSet-Cookie: x", "ünïcode", "id;drop", "a/b"] {
            assert!(!is_sane_request_id(insane.as_bytes()), "{insane:?}");
        }
    }
}
