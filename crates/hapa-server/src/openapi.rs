//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and the
//! protocol types' schemas, served at `GET /api/v1/openapi.json`.

use hapa_protocol::api::{
    CacheStats, ErrorBody, FeedbackEvent, FeedbackRequest, FeedbackResponse, HealthResponse, LatencyPercentiles,
    ModelStats, RouteStats, StatsResponse, SyntaxError, ValidateRequest, ValidateResponse,
};
use std::collections::BTreeMap;

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::Ref;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The whole API's description.
#[derive(OpenApi)]
#[openapi(
    info(title = "hapa-server", description = "HAPA's backend: Python code generation, completion, validation and feedback."),
    paths(
        crate::routes::health,
        crate::routes::validate,
        crate::routes::feedback,
        crate::routes::openapi_json,
        crate::routes::stats,
        crate::routes::prometheus_metrics
    ),
    components(schemas(
        HealthResponse,
        ValidateRequest,
        ValidateResponse,
        SyntaxError,
        FeedbackRequest,
        FeedbackEvent,
        FeedbackResponse,
        StatsResponse,
        RouteStats,
        LatencyPercentiles,
        CacheStats,
        ModelStats,
        ErrorBody
    )),
    modifiers(&KeySchemes),
    security(("api_key" = []), ("bearer" = []))
)]
pub struct ApiDoc;

/// Declares the two ways to present a key.
struct KeySchemes;

impl Modify for KeySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))));
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("hapa_…").build()),
        );
    }
}

/// The error answers of every keyed route, each an [`ErrorBody`]; routes without a body list
/// them with `responses(..., KeyErrors)`.
pub struct KeyErrors;

/// [`KeyErrors`] and the answers to a bad JSON body; routes with a body list them with
/// `responses(..., RouteErrors)` instead of repeating them.
pub struct RouteErrors;

const KEY_ERRORS: [(u16, &str); 3] = [
    (401, "No key, or a malformed, unknown or revoked one"),
    (403, "The key's role lacks the permission"),
    (429, "The key's rate limit is used up, or this address failed authentication too often; see Retry-After"),
];

const BODY_ERRORS: [(u16, &str); 5] = [
    (400, "The body is not valid JSON"),
    (408, "The body did not arrive within the server's body timeout"),
    (413, "The body is larger than 4 MiB"),
    (415, "The body is not application/json"),
    (422, "The JSON does not describe a valid request"),
];

impl utoipa::IntoResponses for KeyErrors {
    fn responses() -> BTreeMap<String, utoipa::openapi::RefOr<Response>> {
        error_responses(&KEY_ERRORS)
    }
}

impl utoipa::IntoResponses for RouteErrors {
    fn responses() -> BTreeMap<String, utoipa::openapi::RefOr<Response>> {
        error_responses(&[KEY_ERRORS.as_slice(), BODY_ERRORS.as_slice()].concat())
    }
}

fn error_responses(errors: &[(u16, &str)]) -> BTreeMap<String, utoipa::openapi::RefOr<Response>> {
    errors
        .iter()
        .map(|(status, description)| {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
            let response =
                ResponseBuilder::new().description(*description).content("application/json", content).build();
            (status.to_string(), response.into())
        })
        .collect()
}
