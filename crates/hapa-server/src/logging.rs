//! Structured logs: JSON lines on stderr, filtered by `RUST_LOG` (default `info`). A request's
//! line carries its span (request id, method, route, status, latency); every failed or slow
//! request has one, successful ones within a budget per second (see [`crate::observe`]);
//! headers and bodies are never logged.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; call once at start-up.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        // The request span is one level deep: "span" says it all, a "spans" list would repeat it.
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
