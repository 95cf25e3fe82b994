//! The connection loop: HTTP/1.1 over TCP with hyper, so that a client that dawdles over its
//! request headers is disconnected (axum's own `serve` has no such timeout), each request
//! knows its peer's address, and shutdown drains the requests in flight.

use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::routes;
use crate::state::AppState;

/// Default of [`ServeOptions::header_timeout`], in seconds.
pub const HEADER_TIMEOUT_SECS: NonZeroU64 = NonZeroU64::new(10).unwrap();
/// Default of [`ServeOptions::body_timeout`], in seconds: 4 MiB at ~1 Mbit/s.
pub const BODY_TIMEOUT_SECS: NonZeroU64 = NonZeroU64::new(30).unwrap();

/// How the server treats connections and browsers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// Longest a client may take to send a request's headers (and longest an idle keep-alive
    /// connection is kept); the connection is closed after it.
    pub header_timeout: Duration,
    /// Longest a client may take to send a request's body, from the end of its headers; the
    /// request is answered 408 after it.
    pub body_timeout: Duration,
    /// Origins (`scheme://host[:port]`) whose pages may call the API from a browser; none by
    /// default, and then no CORS header is ever sent.
    pub cors_origins: Vec<HeaderValue>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            cors_origins: Vec::new(),
        }
    }
}

/// Checks an origin given for CORS: `http` or `https`, a host, an optional port, nothing else
/// (a trailing `/` is dropped), since browsers send exactly that in `Origin`.
pub fn parse_origin(text: &str) -> Result<HeaderValue, String> {
    let origin = text.strip_suffix('/').unwrap_or(text);
    let host = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    let valid = host.is_some_and(|host| {
        !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    });
    if !valid {
        return Err(format!("{text:?} is not an origin like https://example.com or http://127.0.0.1:8080"));
    }
    HeaderValue::from_str(origin).map_err(|error| format!("{text:?}: {error}"))
}

/// Serves the API on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = routes::router(state.clone(), &options);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(options.header_timeout);
    let connections = GracefulShutdown::new();
    let auth_failures = state.auth_failures.clone();
    let cache = state.cache.clone();
    let pruning = tokio::spawn(async move {
        // The first tick is at once: answers that expired while the server was down go too.
        let mut every_minute = tokio::time::interval(Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            auth_failures.prune();
            cache.sweep().await;
        }
    });
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    pause_after_accept_error(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            router.clone().oneshot(request.map(Body::new))
        });
        let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that went away or timed out is not the server's error.
            let _ = connection.await;
        });
    }
    drop(listener);
    pruning.abort();
    connections.shutdown().await;
    Ok(())
}

/// After a failed `accept`: nothing for errors of one connection; a pause when the process is
/// out of file descriptors or memory, so the loop does not spin (as `axum::serve` does).
async fn pause_after_accept_error(error: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for (given, kept) in [
            ("https://example.com", "https://example.com"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
            ("http://[::1]:3000", "http://[::1]:3000"),
            ("vscode-webview://x", ""),
            ("*", ""),
            ("https://example.com/path", ""),
            ("https://", ""),
            ("example.com", ""),
            ("https://a.example\r\nX: y", ""),
        ] {
            assert_eq!(
                parse_origin(given).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default(),
                kept,
                "{given}"
            );
        }
    }
}
