//! The one error type handlers return: each variant maps to an HTTP status and a stable
//! `code`, and is sent as `hapa_protocol::api::ErrorBody` JSON.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hapa_protocol::api::ErrorBody;

/// An error a handler answers with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No route matches the request path.
    #[error("no such endpoint: {method} {path}; see GET /api/v1/openapi.json for the API")]
    NotFound {
        /// The request method.
        method: String,
        /// The path that was asked for.
        path: String,
    },
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = ErrorBody { code: code.to_owned(), message: self.to_string() };
        (status, Json(body)).into_response()
    }
}
