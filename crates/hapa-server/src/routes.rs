//! The HTTP routes: thin handlers that decode, call a service and encode.

use axum::Json;
use axum::Router;
use axum::http::{Method, Uri};
use axum::routing::get;
use hapa_protocol::api::HealthResponse;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;

/// The whole API.
pub fn router() -> Router {
    Router::new()
        .route("/health", get(health))
        .fallback(not_found)
        .layer(TraceLayer::new_for_http())
}

/// `GET /health`: answers as long as the process serves requests; needs no key.
async fn health() -> Json<HealthResponse> {
    Json(HealthResponse { status: "ok".to_owned(), version: env!("CARGO_PKG_VERSION").to_owned() })
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    // Bound what we echo back: the path is attacker-controlled.
    let path: String = uri.path().chars().take(200).collect();
    ApiError::NotFound { method: method.to_string(), path }
}
