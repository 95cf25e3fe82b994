//! The HTTP routes: thin handlers that decode, call a service and encode, and the layers every
//! request passes through.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Extension, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{from_fn, from_fn_with_state, map_request};
use axum::response::sse::Sse;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hapa_protocol::api::{
    CompleteRequest, CompleteResponse, ErrorBody, FeedbackRequest, FeedbackResponse, GenerateRequest, GenerateResponse,
    HealthResponse, StatsResponse, ValidateRequest, ValidateResponse,
};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::{RequestBodyDeadlineLayer, TimeoutError};

use crate::auth::{self, Caller, Permission};
use crate::cache::{self, Outcome};
use crate::error::ApiError;
use crate::openapi::{KeyErrors, ModelRouteErrors, RouteErrors};
use crate::serve::ServeOptions;
use crate::state::AppState;
use crate::{generation, limits, metrics, observe, openai};

/// Largest request body accepted (413 above it): a big Python file with room to spare.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The whole API.
pub fn router(state: AppState, options: &ServeOptions) -> Router {
    // Handlers and authentication share one `Arc`: axum clones a route's state several times a
    // request, and an `AppState` clone is one contended reference count per service.
    let shared = Arc::new(state.clone());
    let needs = |permission| from_fn_with_state(permission, auth::require);
    let authenticated = Router::new()
        // Each route names the permission it needs; a role without it gets 403.
        .route("/api/v1/code/validate", post(validate).route_layer(needs(Permission::Validation)))
        .route("/api/v1/code/complete", post(complete).route_layer(needs(Permission::CodeCompletion)))
        .route("/api/v1/code/generate", post(generate).route_layer(needs(Permission::CodeGeneration)))
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/api/v1/feedback", post(feedback).route_layer(needs(Permission::Feedback)))
        .route("/stats", get(stats).route_layer(needs(Permission::Stats)))
        .route("/metrics", get(prometheus_metrics).route_layer(needs(Permission::Stats)))
        // Layers run bottom-up: authenticate, then count against the key's quota.
        .route_layer(from_fn_with_state(shared.clone(), limits::enforce))
        .route_layer(from_fn_with_state(shared.clone(), auth::authenticate));
    // The same keys, permissions and quotas; errors re-shaped as OpenAI's (outermost).
    let openai_compatible = Router::new()
        .route("/v1/completions", post(openai::completions).route_layer(needs(Permission::CodeCompletion)))
        .route("/v1/chat/completions", post(openai::chat_completions).route_layer(needs(Permission::CodeGeneration)))
        .route_layer(from_fn_with_state(shared.clone(), limits::enforce))
        .route_layer(from_fn_with_state(shared.clone(), auth::authenticate))
        .route_layer(from_fn(openai::openai_errors));
    let mut router = Router::new()
        .route("/health", get(health))
        .merge(authenticated)
        .merge(openai_compatible)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // However slowly a body trickles in, it holds the connection no longer than this.
        .layer(RequestBodyDeadlineLayer::new(options.body_timeout));
    // Without configured origins there is no CORS layer at all: no Access-Control-* header is
    // ever sent, so browsers keep other sites' pages from reading answers.
    if !options.cors_origins.is_empty() {
        router = router.layer(cors(options.cors_origins.clone()));
    }
    // Outermost last: a sane client id is kept or a fresh one set, echoed on the answer, and
    // `track` sees it along with the matched route.
    router
        .layer(from_fn_with_state(Arc::new(observe::Observer::new(state.metrics.clone())), observe::track))
        .layer(PropagateRequestIdLayer::new(observe::REQUEST_ID))
        .layer(SetRequestIdLayer::new(observe::REQUEST_ID, MakeRequestUuid))
        .layer(map_request(observe::drop_insane_request_id))
        .with_state(shared)
}

/// CORS for exactly `origins`: what the API's callers send and may read, nothing more.
fn cors(origins: Vec<HeaderValue>) -> CorsLayer {
    const RATE_LIMIT: HeaderName = HeaderName::from_static("ratelimit");
    const RATE_LIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("x-api-key"),
            observe::REQUEST_ID,
        ])
        .expose_headers([observe::REQUEST_ID, header::RETRY_AFTER, RATE_LIMIT, RATE_LIMIT_POLICY, cache::CACHE_HEADER])
        .max_age(Duration::from_secs(600))
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
            Err(rejection) if body_timed_out(&rejection) => Err(ApiError::RequestTimeout),
            Err(rejection) => Err(ApiError::BadRequest { status: rejection.status(), message: rejection.body_text() }),
        }
    }
}

/// Whether reading the body failed because its deadline passed.
fn body_timed_out(rejection: &JsonRejection) -> bool {
    std::iter::successors(Some(rejection as &(dyn std::error::Error + 'static)), |error| error.source())
        .any(|error| error.is::<TimeoutError>())
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

/// The request's id (`X-Request-Id`, set by the request id layer before any handler).
pub fn request_id(headers: &HeaderMap) -> String {
    headers.get(&observe::REQUEST_ID).and_then(|id| id.to_str().ok()).unwrap_or_default().to_owned()
}

/// Whether the client asked for server-sent events.
fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|media| media.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case("text/event-stream"))
}

/// `response` with [`cache::CACHE_HEADER`] saying `outcome`; unchanged when the cache is off.
pub(crate) fn with_cache_outcome(response: impl IntoResponse, outcome: Option<Outcome>) -> Response {
    let mut response = response.into_response();
    if let Some(outcome) = outcome {
        response.headers_mut().insert(cache::CACHE_HEADER, outcome.header_value());
    }
    response
}

/// `POST /api/v1/code/complete`: fill in the middle at the cursor (the *code_completion*
/// permission), from the key's response cache when it holds the answer. A client that goes
/// away stops the model between tokens.
#[utoipa::path(
    post,
    path = "/api/v1/code/complete",
    request_body = CompleteRequest,
    responses(
        (status = 200, description = "The completion: the rest of the line (or block), trimmed to what keeps the file parseable", body = CompleteResponse,
            headers(("X-Hapa-Cache" = String, description = "`hit` when the answer came from this key's response cache, `miss` when the model wrote it; absent when the cache is off"))),
        ModelRouteErrors,
    )
)]
pub(crate) async fn complete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CompleteRequest>,
) -> Result<Response, ApiError> {
    let job = generation::complete_job(&request)?;
    // After authentication and the rate limit (route layers): a hit costs quota like any request.
    let key = state.cache.key::<CompleteResponse>(caller.key_id, state.inference.cache_identity(), &job);
    if let Some(key) = &key
        && let Some(answer) = state.cache.get(key, request_id(&headers)).await
    {
        return Ok(with_cache_outcome(Json(answer), Some(Outcome::Hit)));
    }
    let output = state.inference.run(job).await?;
    let answer = generation::complete_response(request_id(&headers), output);
    if let Some(key) = &key {
        state.cache.put(key, &answer).await;
    }
    Ok(with_cache_outcome(Json(answer), key.map(|_| Outcome::Miss)))
}

/// `POST /api/v1/code/generate`: Python code for a question (the *code_generation*
/// permission), as JSON or, with `Accept: text/event-stream` or `"stream": true`, as
/// server-sent events; from the key's response cache when it holds the answer (streamed: the
/// whole code as one `delta`, then `done`). A client that goes away stops the model between
/// tokens.
#[utoipa::path(
    post,
    path = "/api/v1/code/generate",
    request_body = GenerateRequest,
    responses(
        (status = 200, description = "The answer; or, streamed, server-sent events: `delta` events with `TextDelta` data (pieces of `generated_code`, in order), then one `done` event with the whole `GenerateResponse`, or one `error` event with an `ErrorBody` (e.g. `model_timeout`)",
            content((GenerateResponse = "application/json"), (String = "text/event-stream")),
            headers(("X-Hapa-Cache" = String, description = "`hit` when the answer came from this key's response cache, `miss` when the model wrote it; absent when the cache is off"))),
        ModelRouteErrors,
    )
)]
pub(crate) async fn generate(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<GenerateRequest>,
) -> Result<Response, ApiError> {
    let stream = request.stream || accepts_event_stream(&headers);
    let job = generation::generate_job(&request)?;
    // After authentication and the rate limit (route layers): a hit costs quota like any request.
    let key = state.cache.key::<GenerateResponse>(caller.key_id, state.inference.cache_identity(), &job);
    if let Some(key) = &key
        && let Some(answer) = state.cache.get(key, request_id(&headers)).await
    {
        let response = if stream {
            Sse::new(generation::cached_events(answer)).into_response()
        } else {
            Json(answer).into_response()
        };
        return Ok(with_cache_outcome(response, Some(Outcome::Hit)));
    }
    let outcome = key.as_ref().map(|_| Outcome::Miss);
    // Errors before the first token (no model, all slots busy) still get a status.
    let running = state.inference.start(job).await?;
    if stream {
        let fill = key.map(|key| (state.cache.clone(), key));
        let events = generation::generate_events(request_id(&headers), running, fill);
        return Ok(with_cache_outcome(Sse::new(events), outcome));
    }
    let answer = generation::generate_response(request_id(&headers), running.finish().await?);
    if let Some(key) = &key {
        state.cache.put(key, &answer).await;
    }
    Ok(with_cache_outcome(Json(answer), outcome))
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
    State(state): State<Arc<AppState>>,
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

/// `GET /stats`: uptime, requests and latency by route, cache and model (the *stats*
/// permission: admin, monitor).
#[utoipa::path(
    get,
    path = "/stats",
    responses(
        (status = 200, description = "What the server has done since it started", body = StatsResponse),
        KeyErrors,
    )
)]
pub(crate) async fn stats(State(state): State<Arc<AppState>>) -> Json<StatsResponse> {
    Json(state.metrics.stats())
}

/// `GET /metrics`: the same record in the Prometheus text format, version 0.0.4 (the *stats*
/// permission: admin, monitor).
#[utoipa::path(
    get,
    path = "/metrics",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
        KeyErrors,
    )
)]
pub(crate) async fn prometheus_metrics(
    State(state): State<Arc<AppState>>,
) -> Result<([(header::HeaderName, &'static str); 1], String), ApiError> {
    let text = state.metrics.prometheus_text().map_err(|_| ApiError::Internal)?;
    Ok(([(header::CONTENT_TYPE, metrics::PROMETHEUS_CONTENT_TYPE)], text))
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    // Bound what we echo back: the path is attacker-controlled.
    let path: String = uri.path().chars().take(200).collect();
    ApiError::NotFound { method: method.to_string(), path }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    /// Today's bodies are flat structs that refuse a nested value at its first bracket; a body
    /// type that takes any JSON (`serde_json::Value`) meets serde_json's recursion limit (128)
    /// instead, which must be a 400, not a stack overflow.
    #[tokio::test]
    async fn json_nested_past_serde_jsons_limit_is_a_400() {
        for depth in [129, 100_000] {
            let request = Request::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("[".repeat(depth) + &"]".repeat(depth)))
                .unwrap();
            match ApiJson::<serde_json::Value>::from_request(request, &()).await {
                Err(ApiError::BadRequest { status, message }) => {
                    assert_eq!(status, StatusCode::BAD_REQUEST);
                    assert!(message.contains("recursion limit exceeded"), "{message}");
                }
                other => panic!("depth {depth}: {:?}", other.map(|ApiJson(v)| v.to_string().len())),
            }
        }
        let request = Request::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("[".repeat(127) + &"]".repeat(127)))
            .unwrap();
        assert!(ApiJson::<serde_json::Value>::from_request(request, &()).await.is_ok());
    }
}
