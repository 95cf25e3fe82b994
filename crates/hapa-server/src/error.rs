//! The one error type handlers return: each variant maps to an HTTP status and a stable
//! `code`, and is sent as `hapa_protocol::api::ErrorBody` JSON.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
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
    /// Too many failed authentications came from the caller's address; refused before any
    /// key lookup, so guessing keys stays slow.
    #[error("too many failed authentications from this address; check the API key and retry in {retry_after_secs} s")]
    TooManyAuthFailures {
        /// When this address may try again.
        retry_after_secs: u64,
    },
    /// The request body did not arrive within the server's body timeout.
    #[error("the request body did not arrive in time; send it in one go, or a smaller one")]
    RequestTimeout,
    /// The request asks for a language other than Python.
    #[error("language {language:?} is not supported; HAPA generates and completes \"python\" only")]
    UnsupportedLanguage {
        /// What was asked for (truncated).
        language: String,
    },
    /// The model could not be loaded; the message says which file is missing or unusable.
    #[error("{message}")]
    ModelUnavailable {
        /// What is wrong and what the operator should do.
        message: String,
    },
    /// Every model slot stayed busy until the request's deadline.
    #[error("the model is busy with other requests; retry in a moment")]
    ModelBusy,
    /// The model did not finish within the request's deadline.
    #[error("the model did not finish within {seconds} s; ask for fewer tokens, or retry")]
    ModelTimeout {
        /// The deadline.
        seconds: f64,
    },
    /// Running the model failed; details are in the server log.
    #[error("the model failed; see the server log")]
    ModelFailed,
    /// The upstream model server (provider `openai`) failed or answered nonsense.
    #[error("{message}")]
    Upstream {
        /// What went wrong upstream.
        message: String,
    },
    /// The upstream model server did not answer within the request's deadline.
    #[error("the upstream model server did not answer within {seconds} s; retry, or check it")]
    UpstreamTimeout {
        /// The deadline.
        seconds: f64,
    },
    /// Something failed inside the server; details are in its log, not in the answer.
    #[error("internal error; see the server log")]
    Internal,
}

impl ApiError {
    /// The HTTP status and stable code this error is answered with.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            Self::MissingKey => (StatusCode::UNAUTHORIZED, "missing_api_key"),
            Self::InvalidKey => (StatusCode::UNAUTHORIZED, "invalid_api_key"),
            Self::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            Self::BadRequest { status, .. } => (*status, bad_request_code(*status)),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::TooManyAuthFailures { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_auth_failures"),
            Self::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            Self::UnsupportedLanguage { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "unsupported_language"),
            Self::ModelUnavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "model_unavailable"),
            Self::ModelBusy => (StatusCode::SERVICE_UNAVAILABLE, "model_busy"),
            Self::ModelTimeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "model_timeout"),
            Self::ModelFailed => (StatusCode::INTERNAL_SERVER_ERROR, "model_failed"),
            Self::Upstream { .. } => (StatusCode::BAD_GATEWAY, "upstream_error"),
            Self::UpstreamTimeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
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

impl ApiError {
    /// The JSON body of this error, for answers that carry it outside a plain response (a
    /// stream's `error` event).
    pub fn body(&self) -> ErrorBody {
        ErrorBody { code: self.status_and_code().1.to_owned(), message: self.to_string() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut response =
            (status, Json(ErrorBody { code: code.to_owned(), message: self.to_string() })).into_response();
        let headers = response.headers_mut();
        match self {
            Self::MissingKey | Self::InvalidKey => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::RateLimited { retry_after_secs } | Self::TooManyAuthFailures { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            Self::ModelBusy => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
            }
            // The rest of the body may still be on its way; don't wait for it on this connection.
            Self::RequestTimeout => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}
