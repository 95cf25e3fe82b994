//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and the
//! protocol types' schemas, served at `GET /api/v1/openapi.json`.

use hapa_protocol::api::{
    CacheStats, CompleteRequest, CompleteResponse, CompletionChoice, CompletionMode, ErrorBody, FeedbackEvent,
    FeedbackRequest, FeedbackResponse, GenerateRequest, GenerateResponse, GenerateStatus, HealthResponse,
    LatencyPercentiles, ModelStats, OpenAiAssistantMessage, OpenAiChatChoice, OpenAiChatChunk, OpenAiChatChunkChoice,
    OpenAiChatDelta, OpenAiChatMessage, OpenAiChatRequest, OpenAiChatResponse, OpenAiCompletionChoice,
    OpenAiCompletionRequest, OpenAiCompletionResponse, OpenAiError, OpenAiErrorBody, OpenAiFinishReason, OpenAiRole,
    OpenAiUsage, RouteStats, StatsResponse, StopReason, SyntaxError, TextDelta, ValidateRequest, ValidateResponse,
};
use std::collections::BTreeMap;

use utoipa::openapi::RefOr;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Ref, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The whole API's description.
#[derive(OpenApi)]
#[openapi(
    info(title = "hapa-server", description = "HAPA's backend: Python code generation, completion, validation and feedback."),
    paths(
        crate::routes::health,
        crate::routes::validate,
        crate::routes::complete,
        crate::routes::generate,
        crate::openai::completions,
        crate::openai::chat_completions,
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
        ErrorBody,
        CompleteRequest,
        CompleteResponse,
        CompletionChoice,
        CompletionMode,
        GenerateRequest,
        GenerateResponse,
        GenerateStatus,
        StopReason,
        TextDelta,
        OpenAiCompletionRequest,
        OpenAiCompletionResponse,
        OpenAiCompletionChoice,
        OpenAiChatRequest,
        OpenAiChatMessage,
        OpenAiRole,
        OpenAiChatResponse,
        OpenAiChatChoice,
        OpenAiAssistantMessage,
        OpenAiChatChunk,
        OpenAiChatChunkChoice,
        OpenAiChatDelta,
        OpenAiFinishReason,
        OpenAiUsage,
        OpenAiError,
        OpenAiErrorBody
    )),
    modifiers(&KeySchemes, &EventStreams),
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

/// Describes the events of each `text/event-stream` answer (the annotations can only name a
/// type): each event an object `{event, data}` as an SSE parser reads it, its `data` JSON of
/// the documented schema (`contentMediaType` / `contentSchema`).
struct EventStreams;

impl Modify for EventStreams {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let streams = [
            ("/api/v1/code/generate", generate_event()),
            ("/v1/completions", openai_event("OpenAiCompletionResponse")),
            ("/v1/chat/completions", openai_event("OpenAiChatChunk")),
        ];
        for (path, event) in streams {
            let content = openapi.paths.paths.get_mut(path).and_then(|item| item.post.as_mut()).and_then(|operation| {
                match operation.responses.responses.get_mut("200") {
                    Some(RefOr::T(response)) => response.content.get_mut("text/event-stream"),
                    _ => None,
                }
            });
            if let Some(content) = content {
                content.schema = Some(event.into());
            }
        }
    }
}

/// `data` holding JSON of the schema `schema` (a `$ref` or an `anyOf`).
fn json_data(schema: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "type": "string", "contentMediaType": "application/json", "contentSchema": schema })
}

fn schema_ref(name: &str) -> serde_json::Value {
    serde_json::json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn generate_event() -> Schema {
    let kind = |event: &str, schema: &str| {
        serde_json::json!({
            "if": { "properties": { "event": { "const": event } } },
            "then": { "properties": { "data": json_data(schema_ref(schema)) } },
        })
    };
    ObjectBuilder::new()
        .description(Some(
            "One server-sent event: `delta` events (data: TextDelta), then one `done` (data: GenerateResponse) or \
             `error` (data: ErrorBody)",
        ))
        .property("event", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["delta", "done", "error"])))
        .required("event")
        .property("data", ObjectBuilder::new().schema_type(Type::String))
        .required("data")
        .extensions(Some(Extensions::from_iter([(
            "allOf",
            serde_json::json!([
                kind("delta", "TextDelta"),
                kind("done", "GenerateResponse"),
                kind("error", "ErrorBody")
            ]),
        )])))
        .into()
}

fn openai_event(chunk: &str) -> Schema {
    let data = ObjectBuilder::new().schema_type(Type::String).extensions(Some(Extensions::from_iter([
        ("if", serde_json::json!({ "const": "[DONE]" })),
        ("else", json_data(serde_json::json!({ "anyOf": [schema_ref(chunk), schema_ref("OpenAiErrorBody")] }))),
    ])));
    ObjectBuilder::new()
        .description(Some(format!(
            "One server-sent event: `data:` a {chunk} (or an OpenAiErrorBody, which ends the stream), the last one \
             `[DONE]`"
        )))
        .property("data", data)
        .required("data")
        .into()
}

/// The error answers of every keyed route, each an [`ErrorBody`]; routes without a body list
/// them with `responses(..., KeyErrors)`.
pub struct KeyErrors;

/// [`KeyErrors`] and the answers to a bad JSON body; routes with a body list them with
/// `responses(..., RouteErrors)` instead of repeating them.
pub struct RouteErrors;

/// [`RouteErrors`] and the model's own failures, for the routes that generate.
pub struct ModelRouteErrors;

/// [`ModelRouteErrors`] in OpenAI's shape ([`OpenAiErrorBody`]), for the `/v1/...` routes.
pub struct OpenAiRouteErrors;

const KEY_ERRORS: [(u16, &str); 3] = [
    (401, "No key, or a malformed, unknown or revoked one"),
    (403, "The key's role lacks the permission"),
    (429, "The key's rate limit is used up, or this address failed authentication too often; see Retry-After"),
];

const MODEL_ERRORS: [(u16, &str); 5] = [
    (
        422,
        "The JSON does not describe a valid request, or breaks a documented limit, or `language` is not \"python\" (`unsupported_language`)",
    ),
    (500, "The model failed (`model_failed`)"),
    (502, "The upstream model server failed (`upstream_error`, provider openai)"),
    (
        503,
        "The model cannot be loaded (`model_unavailable`, the message names the file) or stayed busy until the deadline (`model_busy`, with Retry-After)",
    ),
    (504, "The model did not finish within the deadline (`model_timeout`, `upstream_timeout`)"),
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

impl utoipa::IntoResponses for ModelRouteErrors {
    fn responses() -> BTreeMap<String, utoipa::openapi::RefOr<Response>> {
        // Later entries win: the 422 that also names the limits.
        error_responses(&[KEY_ERRORS.as_slice(), BODY_ERRORS.as_slice(), MODEL_ERRORS.as_slice()].concat())
    }
}

impl utoipa::IntoResponses for OpenAiRouteErrors {
    fn responses() -> BTreeMap<String, utoipa::openapi::RefOr<Response>> {
        let errors = [KEY_ERRORS.as_slice(), BODY_ERRORS.as_slice(), MODEL_ERRORS.as_slice()].concat();
        errors_with_schema(&errors, "OpenAiErrorBody")
    }
}

fn error_responses(errors: &[(u16, &str)]) -> BTreeMap<String, utoipa::openapi::RefOr<Response>> {
    errors_with_schema(errors, "ErrorBody")
}

fn errors_with_schema(errors: &[(u16, &str)], schema: &str) -> BTreeMap<String, utoipa::openapi::RefOr<Response>> {
    errors
        .iter()
        .map(|(status, description)| {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build();
            let response =
                ResponseBuilder::new().description(*description).content("application/json", content).build();
            (status.to_string(), response.into())
        })
        .collect()
}
