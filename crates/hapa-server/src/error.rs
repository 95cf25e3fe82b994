//! The one error type handlers return: each variant maps to an HTTP status and a stable
//! `code`, and is sent as `hapa_protocol::api::ErrorBody` JSON.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hapa_protocol::api::ErrorBody;

use crate::store::StoreError;

/// An error a handler answers with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No route matches the request path.
    #[error("no such endpoint: {method} {path}; see the README for the API")]
    NotFound {
        /// The request method.
        method: String,
        /// The path that was asked for (truncated).
        path: String,
    },
    /// No key was presented.
    #[error("this endpoint needs an API key in the X-API-Key header (or Authorization: Bearer)")]
    MissingKey,
    /// The key is malformed, unknown or revoked; deliberately one answer for all three.
    #[error("the API key is not valid (mistyped, unknown or revoked)")]
    InvalidKey,
    /// The key is valid but its role lacks the permission.
    #[error("a key with role {role:?} may not use this endpoint")]
    Forbidden {
        /// The caller's role.
        role: &'static str,
    },
    /// The request body could not be used.
    #[error("{message}")]
    BadRequest {
        /// 400, 413, 415 or 422.
        status: StatusCode,
        /// What was wrong, for people.
        message: String,
    },
    /// The key used up its role's quota.
    #[error("rate limit reached for this key; retry in {retry_after_secs} s")]
    RateLimited {
        /// When one more request fits.
        retry_after_secs: u64,
    },
    /// Something failed inside the server; details are in its log, not in the answer.
    #[error("internal error; see the server log")]
    Internal,
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            Self::MissingKey => (StatusCode::UNAUTHORIZED, "missing_api_key"),
            Self::InvalidKey => (StatusCode::UNAUTHORIZED, "invalid_api_key"),
            Self::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            Self::BadRequest { status, .. } => (*status, bad_request_code(*status)),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

fn bad_request_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_request",
        _ => "invalid_json",
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store failed");
        Self::Internal
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut response =
            (status, Json(ErrorBody { code: code.to_owned(), message: self.to_string() })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}
