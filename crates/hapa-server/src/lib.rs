//! HAPA's HTTP backend as a library: the router, its handlers and the services behind them,
//! so tests can run the real thing on an ephemeral port.
//!
//! Handlers in [`routes`] are thin: they decode a request, call a service, encode the answer.
//! Every body type comes from `hapa-protocol`; this crate must not define wire types of its
//! own, and must not know about VS Code or wasm.

pub mod api_key;
pub mod auth;
pub mod cache;
pub mod config_file;
pub mod error;
pub mod feedback;
pub mod generation;
pub mod inference;
pub mod key_cache;
pub mod limits;
pub mod local;
pub mod logging;
pub mod metrics;
pub mod observe;
pub mod openai;
pub mod openapi;
pub mod prompt;
pub mod redis_link;
pub mod routes;
pub mod serve;
pub mod state;
pub mod store;
pub mod upstream;

use std::future::Future;

pub use serve::{ServeOptions, serve};
pub use state::AppState;

/// A future that resolves on SIGTERM or Ctrl-C (SIGINT). The handlers are installed when
/// this is called, not when the future is first polled, so a signal that arrives right after
/// start-up is not lost to the default action (which would kill the process mid-request).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).ok();
        let mut interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            let terminate = async {
                match terminate.as_mut() {
                    Some(s) => drop(s.recv().await),
                    None => std::future::pending().await,
                }
            };
            let interrupt = async {
                match interrupt.as_mut() {
                    Some(s) => drop(s.recv().await),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = terminate => {},
                () = interrupt => {},
            }
            tracing::info!("shutting down: draining in-flight requests");
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: draining in-flight requests");
    }
}
