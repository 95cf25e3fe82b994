//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and the
//! protocol types' schemas, served at `GET /api/v1/openapi.json`.

use hapa_protocol::api::{
    ErrorBody, FeedbackEvent, FeedbackRequest, FeedbackResponse, HealthResponse, SyntaxError, ValidateRequest,
    ValidateResponse,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The whole API's description.
#[derive(OpenApi)]
#[openapi(
    info(title = "hapa-server", description = "HAPA's backend: Python code generation, completion, validation and feedback."),
    paths(crate::routes::health, crate::routes::validate, crate::routes::feedback, crate::routes::openapi_json),
    components(schemas(
        HealthResponse,
        ValidateRequest,
        ValidateResponse,
        SyntaxError,
        FeedbackRequest,
        FeedbackEvent,
        FeedbackResponse,
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
