//! The HTTP routes: thin handlers that decode, call a service and encode.

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Extension, FromRequest, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::{Json, Router};
use hapa_protocol::api::{
    ErrorBody, FeedbackRequest, FeedbackResponse, HealthResponse, ValidateRequest, ValidateResponse,
};
use tower_http::trace::TraceLayer;

use crate::auth::{self, Caller, Permission};
use crate::error::ApiError;
use crate::limits;
use crate::openapi::RouteErrors;
use crate::state::AppState;

/// Largest request body accepted (413 above it): a big Python file with room to spare.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The whole API.
pub fn router(state: AppState) -> Router {
    let authenticated = Router::new()
        // Each route names the permission it needs; a role without it gets 403.
        .route(
            "/api/v1/code/validate",
            post(validate).route_layer(from_fn_with_state(Permission::Validation, auth::require)),
        )
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/api/v1/feedback", post(feedback).route_layer(from_fn_with_state(Permission::Feedback, auth::require)))
        // Layers run bottom-up: authenticate, then count against the key's quota.
        .route_layer(from_fn_with_state(state.clone(), limits::enforce))
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate));
    Router::new()
        .route("/health", get(health))
        .merge(authenticated)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// `Json<T>` whose rejections are [`ApiError`]s, so a bad body gets HAPA's JSON error.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::BadRequest { status: rejection.status(), message: rejection.body_text() }),
        }
    }
}

/// `GET /health`: answers as long as the process serves requests; needs no key.
#[utoipa::path(get, path = "/health", security(()), responses((status = 200, body = HealthResponse)))]
pub(crate) async fn health() -> Json<HealthResponse> {
    Json(HealthResponse { status: "ok".to_owned(), version: env!("CARGO_PKG_VERSION").to_owned() })
}

/// `POST /api/v1/code/validate`: every syntax error of a Python module.
#[utoipa::path(
    post,
    path = "/api/v1/code/validate",
    request_body = ValidateRequest,
    responses(
        (status = 200, description = "Every syntax error, 1-based like Python", body = ValidateResponse),
        RouteErrors,
    )
)]
pub(crate) async fn validate(ApiJson(request): ApiJson<ValidateRequest>) -> Result<Json<ValidateResponse>, ApiError> {
    // Parsing a few MB takes long enough to stall the async workers: run it beside them.
    let errors = tokio::task::spawn_blocking(move || {
        let diagnostics = hapa_core::validate::module(&request.code);
        hapa_core::validate::to_syntax_errors(&request.code, &diagnostics)
    })
    .await
    .map_err(|_| ApiError::Internal)?;
    Ok(Json(ValidateResponse { valid: errors.is_empty(), errors }))
}

/// `POST /api/v1/feedback`: 201 once the feedback is on disk.
#[utoipa::path(
    post,
    path = "/api/v1/feedback",
    request_body = FeedbackRequest,
    responses(
        (status = 201, description = "Stored durably", body = FeedbackResponse),
        RouteErrors,
    )
)]
pub(crate) async fn feedback(
    Extension(caller): Extension<Caller>,
    State(state): State<AppState>,
    ApiJson(feedback): ApiJson<FeedbackRequest>,
) -> Result<(StatusCode, Json<FeedbackResponse>), ApiError> {
    if let Some(message) = crate::feedback::problem(&feedback) {
        return Err(ApiError::BadRequest { status: StatusCode::UNPROCESSABLE_ENTITY, message });
    }
    let id = state.store.record_feedback(caller.key_id, &feedback).await?;
    Ok((StatusCode::CREATED, Json(FeedbackResponse { id })))
}

/// `GET /api/v1/openapi.json`: this API's OpenAPI 3.1 document (any valid key).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    responses((status = 200, description = "OpenAPI 3.1 JSON"), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody))
)]
pub(crate) async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(<crate::openapi::ApiDoc as utoipa::OpenApi>::openapi())
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    // Bound what we echo back: the path is attacker-controlled.
    let path: String = uri.path().chars().take(200).collect();
    ApiError::NotFound { method: method.to_string(), path }
}
