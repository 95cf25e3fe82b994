//! Bodies of the hapa-server HTTP API (`/health`, `/api/v1/...`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Answer of `GET /health`: the server is up and answering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HealthResponse {
    /// Always `"ok"` when the server answers at all.
    pub status: String,
    /// The server's version (its crate version).
    pub version: String,
}

/// One Python syntax error, positioned the way Python reports them: lines and columns are
/// 1-based, columns count Unicode scalar values, and the end is exclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SyntaxError {
    /// 1-based line of the first character of the error.
    pub line: u32,
    /// 1-based column of the first character of the error.
    pub column: u32,
    /// 1-based line just past the error.
    pub end_line: u32,
    /// 1-based column just past the error.
    pub end_column: u32,
    /// The parser's message, e.g. "Expected ')', found newline".
    pub message: String,
}

/// Body of `POST /api/v1/code/validate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// Python source to check.
    pub code: String,
}

/// Answer of `POST /api/v1/code/validate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ValidateResponse {
    /// Whether the code parses as a Python module.
    pub valid: bool,
    /// Every syntax error found (the parser recovers, so there may be several).
    pub errors: Vec<SyntaxError>,
}

/// What a user did with an answer or a completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum FeedbackEvent {
    /// A completion was shown.
    View,
    /// A completion was accepted (Tab) or an answer's code inserted.
    Accept,
    /// A completion was dismissed.
    Dismiss,
    /// 👍 on an answer.
    Up,
    /// 👎 on an answer.
    Down,
}

/// Body of `POST /api/v1/feedback`: exactly one of `request_id` / `completion_id`.
/// (Its OpenAPI schema is written out in [`openapi`], since "exactly one" is a `oneOf`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// The `request_id` of a generation answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The `id` of a completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_id: Option<String>,
    /// What happened.
    pub event: FeedbackEvent,
    /// Free text from the user (at most 4,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Answer of `POST /api/v1/feedback` (201): the feedback is on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FeedbackResponse {
    /// The stored feedback's id.
    pub id: i64,
}

/// One stored feedback, as `hapa-server feedback export` writes it (a JSON line each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FeedbackRecord {
    /// Its id.
    pub id: i64,
    /// The name of the key that sent it.
    pub key_name: String,
    /// What it was about and what happened, as sent.
    #[serde(flatten)]
    pub feedback: FeedbackRequest,
    /// When it was stored (UTC, ISO 8601).
    pub created_at: String,
}

/// Every error the server answers with: a stable machine-readable `code` and a message
/// for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// Stable identifier, e.g. `"not_found"`, `"invalid_json"`.
    pub code: String,
    /// What went wrong and what to do about it.
    pub message: String,
}

/// Answer of `GET /stats`: what the server has done since it started (roles with the
/// *stats* permission: admin, monitor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StatsResponse {
    /// Whole seconds since the server started.
    pub uptime_seconds: u64,
    /// One entry per route template that has answered at least once (`"unmatched"` for
    /// paths no route matches), sorted by route.
    pub routes: Vec<RouteStats>,
    /// The request cache's lookups.
    pub cache: CacheStats,
    /// The model that answers generation and completion.
    pub model: ModelStats,
}

/// Requests one route has answered and how long it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RouteStats {
    /// The route's template, e.g. `"/api/v1/code/validate"`, never a raw path.
    pub route: String,
    /// Requests answered, all statuses together.
    pub requests: u64,
    /// Requests answered by HTTP status, e.g. `{"200": 12, "401": 1}`.
    pub by_status: BTreeMap<String, u64>,
    /// Time to the answer's head, in milliseconds.
    pub latency_ms: LatencyPercentiles,
}

/// Latency percentiles in milliseconds (at least two significant digits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LatencyPercentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Request cache lookups since start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that missed.
    pub misses: u64,
    /// `hits / (hits + misses)`; `null` while there has been no lookup.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub hit_rate: Option<f64>,
}

/// Which model answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ModelStats {
    /// Where answers come from, e.g. `"local"`; `"none"` while no model is loaded.
    pub provider: String,
    /// The model's name; `null` while no model is loaded.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub name: Option<String>,
}

/// Longest feedback comment, in characters.
pub const MAX_FEEDBACK_COMMENT_CHARS: usize = 4_000;
/// Longest request or completion id, in characters.
pub const MAX_FEEDBACK_ID_CHARS: usize = 128;

/// OpenAPI schemas that the derive cannot express.
#[cfg(feature = "openapi")]
pub mod openapi {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Ref, Schema, Type};

    use super::{FeedbackRequest, MAX_FEEDBACK_COMMENT_CHARS, MAX_FEEDBACK_ID_CHARS};

    /// One or more characters, none of them a control character (C0, DEL or C1).
    const PRINTABLE: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$";
    /// No NUL.
    const NO_NUL: &str = "^[^\\u0000]*$";

    impl utoipa::PartialSchema for FeedbackRequest {
        fn schema() -> RefOr<Schema> {
            let about = |id: &str| {
                ObjectBuilder::new()
                    .property(
                        id,
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .min_length(Some(1))
                            .max_length(Some(MAX_FEEDBACK_ID_CHARS))
                            .pattern(Some(PRINTABLE)),
                    )
                    .required(id)
                    .property("event", Ref::from_schema_name("FeedbackEvent"))
                    .required("event")
                    .property(
                        "comment",
                        ObjectBuilder::new()
                            .schema_type(
                                [Type::String, Type::Null].into_iter().collect::<utoipa::openapi::schema::SchemaType>(),
                            )
                            .max_length(Some(MAX_FEEDBACK_COMMENT_CHARS))
                            .pattern(Some(NO_NUL)),
                    )
                    .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
                    .build()
            };
            OneOfBuilder::new()
                .description(Some("Feedback about one answer (request_id) or one completion (completion_id)."))
                .item(about("request_id"))
                .item(about("completion_id"))
                .into()
        }
    }

    impl utoipa::ToSchema for FeedbackRequest {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_round_trips_and_rejects_unknown_fields() {
        let health: HealthResponse = serde_json::from_str(r#"{"status":"ok","version":"0.1.0"}"#).unwrap();
        assert_eq!(health.status, "ok");
        assert_eq!(serde_json::to_string(&health).unwrap(), r#"{"status":"ok","version":"0.1.0"}"#);
        assert!(serde_json::from_str::<HealthResponse>(r#"{"status":"ok","version":"1","x":1}"#).is_err());
    }
}
