//! HAPA's HTTP backend as a library: the router, its handlers and the services behind them,
//! so tests can run the real thing on an ephemeral port.
//!
//! Handlers in [`routes`] are thin: they decode a request, call a service, encode the answer.
//! Every body type comes from `hapa-protocol`; this crate must not define wire types of its
//! own, and must not know about VS Code or wasm.

pub mod error;
pub mod logging;
pub mod routes;

use std::future::Future;

use tokio::net::TcpListener;

/// Serves the API on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, routes::router()).with_graceful_shutdown(shutdown).await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}
