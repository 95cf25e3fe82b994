//! Every request observed: its id (`X-Request-Id`, kept from the client when sane, generated
//! otherwise, echoed on the answer), its span and log line, and its metrics.
//!
//! What is logged is chosen here, field by field: the request id, method, route template,
//! status and latency. Never headers (keys travel in them), never bodies (prompts and code),
//! never the raw path (it may carry anything a client typed).
//!
//! Which requests get a line of their own at `info`: every failed one (4xx, 5xx), every slow
//! one ([`SLOW_REQUEST`]), and successful ones up to [`ROUTINE_LINES_PER_SECOND`] a second. Past
//! that budget a successful request's line is written at `debug` only, and the first request of a
//! later second logs one `info` line saying how many went without one. Formatting and writing a
//! JSON line costs as much as answering a cached request, so a busy server would otherwise spend
//! a quarter of its time on lines that say "200, fast" thousands of times a second; `/stats` and
//! `/metrics` still count every request, and `RUST_LOG=debug` brings every line back.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;
use tracing::field::Empty;
use tracing::{Instrument, Level};

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

/// Successful, fast requests that get an `info` line of their own, per second at most.
pub const ROUTINE_LINES_PER_SECOND: u32 = 50;

/// A request that takes this long or longer is always logged.
pub const SLOW_REQUEST: Duration = Duration::from_millis(500);

/// What [`track`] needs: the metrics every request is counted in, and the log's budget.
#[derive(Debug)]
pub struct Observer {
    metrics: Arc<Metrics>,
    budget: LineBudget,
}

impl Observer {
    /// Counts requests in `metrics` and logs them within [`ROUTINE_LINES_PER_SECOND`].
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics, budget: LineBudget::new(ROUTINE_LINES_PER_SECOND) }
    }
}

/// Middleware, inside the request id layers: runs the request in a span that carries its id,
/// method and route, counts it in [`Metrics`], and logs one line with its status and latency
/// (recorded on the span) if it failed, was slow, or fits the second's budget (see the module's
/// documentation).
pub async fn track(State(observer): State<Arc<Observer>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or(UNMATCHED, MatchedPath::as_str).to_owned();
    let method = request.method().clone();
    let id = request.headers().get(&REQUEST_ID).and_then(|id| id.to_str().ok()).unwrap_or_default();
    // Created for every request, so that whatever is logged while it runs carries its id.
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
    observer.metrics.record_request(&route, &method, status, latency);
    let routine = status < 400 && latency < SLOW_REQUEST;
    let level = if !routine || observer.budget.admit() {
        Level::INFO
    } else if tracing::enabled!(Level::DEBUG) {
        Level::DEBUG
    } else {
        return response;
    };
    // Recorded only on spans that are logged: each record re-encodes the span's JSON fields.
    span.record("status", status);
    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
    span.in_scope(|| {
        if level == Level::INFO {
            tracing::info!("answered");
        } else {
            tracing::debug!("answered");
        }
    });
    response
}

/// How many routine lines have been written this second, and how many were not.
#[derive(Debug)]
struct LineBudget {
    per_second: u32,
    started: Instant,
    window: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    /// Whole seconds since `started`.
    second: u64,
    written: u32,
    skipped: u64,
}

impl LineBudget {
    fn new(per_second: u32) -> Self {
        Self { per_second, started: Instant::now(), window: Mutex::new(Window::default()) }
    }

    /// Whether one more routine line fits this second. The first request of a new second
    /// logs how many went without a line since the last such report.
    fn admit(&self) -> bool {
        self.admit_at(self.started.elapsed().as_secs())
    }

    fn admit_at(&self, second: u64) -> bool {
        let mut window = self.window.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if window.second != second {
            let skipped = std::mem::take(&mut window.skipped);
            *window = Window { second, written: 0, skipped: 0 };
            if skipped > 0 {
                drop(window);
                tracing::info!(
                    skipped,
                    per_second = self.per_second,
                    "requests answered successfully without a line of their own (over the log's budget a \
                     second; /stats and /metrics count them all)"
                );
                return self.admit_at(second);
            }
        }
        if window.written < self.per_second {
            window.written += 1;
            true
        } else {
            window.skipped += 1;
            false
        }
    }

    /// Routine requests not logged since the last report.
    #[cfg(test)]
    fn skipped(&self) -> u64 {
        self.window.lock().unwrap().skipped
    }
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

    #[test]
    fn routine_lines_are_budgeted_per_second() {
        let budget = LineBudget::new(3);
        let admitted = |second| (0..5).filter(|_| budget.admit_at(second)).count();
        assert_eq!(admitted(0), 3);
        assert_eq!(budget.skipped(), 2);
        assert_eq!(admitted(0), 0, "the second's budget is spent");
        assert_eq!(budget.skipped(), 7);
        assert_eq!(admitted(1), 3, "a new second, a new budget");
        assert_eq!(budget.skipped(), 2, "and the count starts again once reported");
    }
}
