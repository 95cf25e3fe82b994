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

/// The only language generation and completion accept.
pub const PYTHON: &str = "python";
/// Longest `prefix` and `suffix` of a completion, and `code_context` of a generation, in
/// characters (the model sees far less; the server keeps the text nearest the cursor).
pub const MAX_CODE_CHARS: usize = 65_536;
/// Longest `user_question`, in characters.
pub const MAX_QUESTION_CHARS: usize = 4_096;
/// Longest `file_path`, in characters.
pub const MAX_FILE_PATH_CHARS: usize = 1_024;
/// Most tokens one completion may ask for.
pub const MAX_COMPLETION_TOKENS: u32 = 128;
/// Tokens a completion gets when it names no `max_tokens`.
pub const DEFAULT_COMPLETION_TOKENS: u32 = 32;

/// Body of `POST /api/v1/code/generate`: a question about Python code, answered with code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// What to write, in words (at most 4,096 characters, not blank).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 4096, pattern = "\\S"))]
    pub user_question: String,
    /// The code the answer continues, e.g. the file up to the cursor (at most 65,536
    /// characters; the model sees its end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 65536))]
    pub code_context: Option<String>,
    /// Must be `"python"`; anything else is answered 422 `unsupported_language`.
    #[cfg_attr(feature = "openapi", schema(schema_with = openapi::python_only))]
    pub language: String,
    /// The file being edited, for context (at most 1,024 characters; never opened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 1024))]
    pub file_path: Option<String>,
    /// Stream the answer as server-sent events (as `Accept: text/event-stream` does).
    #[serde(default)]
    pub stream: bool,
}

/// Whether a generation produced an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum GenerateStatus {
    /// `generated_code` holds the answer.
    Success,
    /// The model produced no code; `error_message` says what to try.
    Error,
}

/// Why the model stopped writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model ended its answer itself.
    EndOfText,
    /// The line was complete (line completions).
    EndOfLine,
    /// The block was complete: the next line was indented less.
    EndOfBlock,
    /// A stop string came.
    StopString,
    /// The token budget was used up.
    MaxTokens,
    /// The model's context window was full.
    ContextFull,
    /// The request was cancelled.
    Cancelled,
}

/// Answer of `POST /api/v1/code/generate` (also the `done` event of its stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GenerateResponse {
    /// This request's id (its `X-Request-Id`), for `POST /api/v1/feedback`.
    pub request_id: String,
    /// The code the model wrote (possibly empty).
    pub generated_code: String,
    /// Words about the code, when the model gave any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// `success`, or `error` when the model wrote no code.
    pub status: GenerateStatus,
    /// What went wrong, with `status: error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Whether `generated_code` parses as a Python module on its own.
    pub parses: bool,
    /// Its syntax errors when it does not (1-based, like Python).
    pub syntax_errors: Vec<SyntaxError>,
    /// The model that wrote it.
    pub model: String,
    /// Why the model stopped.
    pub stop_reason: StopReason,
    /// Tokens of the prompt the model saw.
    pub prompt_tokens: u32,
    /// Tokens the model generated.
    pub generated_tokens: u32,
}

/// Data of a `delta` event in a streamed generation: the next piece of `generated_code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TextDelta {
    /// Text to append.
    pub text: String,
}

/// How much a completion writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CompletionMode {
    /// The rest of the cursor's line (the default).
    Line,
    /// Lines up to the end of the block the cursor is in.
    Block,
}

/// Body of `POST /api/v1/code/complete`: fill in the middle between `prefix` and `suffix`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    /// The text before the cursor (at most 65,536 characters; the model sees its end).
    #[cfg_attr(feature = "openapi", schema(max_length = 65536))]
    pub prefix: String,
    /// The text after the cursor (at most 65,536 characters; the model sees its start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 65536))]
    pub suffix: Option<String>,
    /// The file being edited, for context (at most 1,024 characters; never opened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 1024))]
    pub file_path: Option<String>,
    /// Most tokens to write: 1 to 128, default 32.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "whole::optional")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 128))]
    pub max_tokens: Option<u32>,
    /// Must be `"python"`; anything else is answered 422 `unsupported_language`.
    #[cfg_attr(feature = "openapi", schema(schema_with = openapi::python_only))]
    pub language: String,
    /// `line` (default) or `block`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<CompletionMode>,
}

/// One completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CompletionChoice {
    /// Text to insert at the cursor (empty when the model had nothing that keeps the file
    /// parseable).
    pub text: String,
}

/// Answer of `POST /api/v1/code/complete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CompleteResponse {
    /// This completion's id (its request's `X-Request-Id`), for `POST /api/v1/feedback`.
    pub id: String,
    /// The completions, best first (one today).
    pub completions: Vec<CompletionChoice>,
    /// The model that wrote them.
    pub model: String,
    /// Why the model stopped.
    pub stop_reason: StopReason,
    /// Tokens of the prompt the model saw.
    pub prompt_tokens: u32,
    /// Tokens the model generated (before the stop rules and syntax trimming cut text).
    pub generated_tokens: u32,
}

/// Most tokens an OpenAI-compatible request may ask for.
pub const MAX_OPENAI_TOKENS: u32 = 256;
/// Most stop strings, and longest one in characters, of an OpenAI-compatible request.
pub const MAX_STOP_STRINGS: usize = 4;
/// Longest stop string, in characters.
pub const MAX_STOP_CHARS: usize = 64;
/// Most messages of a chat request.
pub const MAX_CHAT_MESSAGES: usize = 64;

/// `stop` of an OpenAI-compatible request: one string or up to four.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OpenAiStop {
    /// One stop string.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// Body of `POST /v1/completions` (OpenAI's legacy completions, the subset HAPA serves).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OpenAiCompletionRequest {
    /// Accepted and ignored: the server's model answers (its name is in the answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub model: Option<String>,
    /// The text to continue (the prefix, with `suffix` for fill-in-the-middle).
    #[cfg_attr(feature = "openapi", schema(max_length = 65536))]
    pub prompt: String,
    /// The text after the insertion point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 65536))]
    pub suffix: Option<String>,
    /// Most tokens to write: 1 to 256, default 16.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "whole::optional")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 256))]
    pub max_tokens: Option<u32>,
    /// 0 (greedy) to 2, default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 2))]
    pub temperature: Option<f64>,
    /// Nucleus sampling: above 0, at most 1 (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0, maximum = 1))]
    pub top_p: Option<f64>,
    /// Stop before any of these (up to 4, each at most 64 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = openapi::stop))]
    pub stop: Option<OpenAiStop>,
    /// Answer with server-sent events, ending with `data: [DONE]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Makes sampling reproducible (with the same model).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "whole::optional")]
    #[cfg_attr(feature = "openapi", schema(schema_with = openapi::seed))]
    pub seed: Option<u64>,
    /// Completions to write: only 1 is served.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "whole::optional")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1))]
    pub n: Option<u32>,
    /// Accepted and ignored (OpenAI's end-user id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub user: Option<String>,
    /// vLLM's extension: write past the model's end-of-text token, until `max_tokens` or a stop
    /// string (load tests use it for answers of an exact length).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_eos: Option<bool>,
}

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OpenAiRole {
    /// Instructions (a completion model cannot follow them; the local model ignores them).
    System,
    /// The person asking.
    User,
    /// An earlier answer.
    Assistant,
}

/// One message of a chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OpenAiChatMessage {
    /// Who wrote it.
    pub role: OpenAiRole,
    /// What it says (at most 65,536 characters).
    #[cfg_attr(feature = "openapi", schema(max_length = 65536))]
    pub content: String,
}

/// Body of `POST /v1/chat/completions` (the subset HAPA serves).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OpenAiChatRequest {
    /// Accepted and ignored: the server's model answers (its name is in the answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub model: Option<String>,
    /// The conversation so far (1 to 64 messages).
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 64))]
    pub messages: Vec<OpenAiChatMessage>,
    /// Most tokens to write: 1 to 256, default 160.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "whole::optional")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 256))]
    pub max_tokens: Option<u32>,
    /// 0 (greedy) to 2, default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 2))]
    pub temperature: Option<f64>,
    /// Nucleus sampling: above 0, at most 1 (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0, maximum = 1))]
    pub top_p: Option<f64>,
    /// Stop before any of these (up to 4, each at most 64 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = openapi::stop))]
    pub stop: Option<OpenAiStop>,
    /// Answer with server-sent events, ending with `data: [DONE]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Makes sampling reproducible (with the same model).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "whole::optional")]
    #[cfg_attr(feature = "openapi", schema(schema_with = openapi::seed))]
    pub seed: Option<u64>,
    /// Answers to write: only 1 is served.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "whole::optional")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1))]
    pub n: Option<u32>,
    /// Accepted and ignored (OpenAI's end-user id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub user: Option<String>,
}

/// Why an OpenAI-compatible answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OpenAiFinishReason {
    /// The model ended, or a stop rule or string did.
    Stop,
    /// `max_tokens` or the context window was reached.
    Length,
}

/// Tokens used by an OpenAI-compatible request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenAiUsage {
    /// Tokens of the prompt the model saw.
    pub prompt_tokens: u32,
    /// Tokens the model generated.
    pub completion_tokens: u32,
    /// Their sum.
    pub total_tokens: u32,
}

/// One choice of a completion answer or chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenAiCompletionChoice {
    /// The text (a piece of it, in a chunk).
    pub text: String,
    /// Always 0.
    pub index: u32,
    /// Why it ended; `null` in chunks before the last.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub finish_reason: Option<OpenAiFinishReason>,
}

/// Answer of `POST /v1/completions`, and each chunk of its stream (chunks carry no `usage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenAiCompletionResponse {
    /// `cmpl-` and the request id.
    pub id: String,
    /// `"text_completion"`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The model that answered.
    pub model: String,
    /// One choice.
    pub choices: Vec<OpenAiCompletionChoice>,
    /// Tokens used (not in stream chunks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<OpenAiUsage>,
}

/// A chat message the model wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenAiAssistantMessage {
    /// `"assistant"`.
    pub role: String,
    /// The answer.
    pub content: String,
}

/// One choice of a chat answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenAiChatChoice {
    /// Always 0.
    pub index: u32,
    /// The answer.
    pub message: OpenAiAssistantMessage,
    /// Why it ended.
    pub finish_reason: OpenAiFinishReason,
}

/// Answer of `POST /v1/chat/completions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenAiChatResponse {
    /// `chatcmpl-` and the request id.
    pub id: String,
    /// `"chat.completion"`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The model that answered.
    pub model: String,
    /// One choice.
    pub choices: Vec<OpenAiChatChoice>,
    /// Tokens used.
    pub usage: OpenAiUsage,
}

/// What a chat chunk adds to the answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenAiChatDelta {
    /// `"assistant"`, in the first chunk only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Text to append.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// One choice of a chat chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenAiChatChunkChoice {
    /// Always 0.
    pub index: u32,
    /// What this chunk adds.
    pub delta: OpenAiChatDelta,
    /// Why the answer ended; `null` before the last chunk.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub finish_reason: Option<OpenAiFinishReason>,
}

/// One chunk of a streamed `POST /v1/chat/completions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenAiChatChunk {
    /// `chatcmpl-` and the request id (the same in every chunk).
    pub id: String,
    /// `"chat.completion.chunk"`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The model that answers.
    pub model: String,
    /// One choice.
    pub choices: Vec<OpenAiChatChunkChoice>,
}

/// What went wrong, in OpenAI's shape (only on the `/v1/...` routes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenAiError {
    /// What went wrong and what to do about it.
    pub message: String,
    /// OpenAI's category, e.g. `"invalid_request_error"`, `"authentication_error"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// HAPA's stable code, the same as `ErrorBody.code` on other routes.
    pub code: String,
}

/// An error answer of the `/v1/...` routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenAiErrorBody {
    /// The error.
    pub error: OpenAiError,
}

/// Integers as JSON Schema counts them: `16` and `16.0` alike; a fraction, a negative number or
/// one too large for the field is refused.
mod whole {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::Deserializer;
    use serde::de::{self, Unexpected};

    struct Whole<T>(PhantomData<T>);

    impl<'de, T: TryFrom<u64>> de::Visitor<'de> for Whole<T> {
        type Value = Option<T>;

        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("a whole number in range, or null")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_any(self)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
            match T::try_from(value) {
                Ok(value) => Ok(Some(value)),
                Err(_) => Err(E::invalid_value(Unexpected::Unsigned(value), &self)),
            }
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
            match u64::try_from(value) {
                Ok(value) => self.visit_u64(value),
                Err(_) => Err(E::invalid_value(Unexpected::Signed(value), &self)),
            }
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
            // 2^64: the first float past u64::MAX.
            if value.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&value) {
                self.visit_u64(value as u64)
            } else {
                Err(E::invalid_value(Unexpected::Float(value), &self))
            }
        }
    }

    /// For `Option<u32>`, `Option<u64>` fields (with `#[serde(default)]`).
    pub fn optional<'de, D: Deserializer<'de>, T: TryFrom<u64>>(deserializer: D) -> Result<Option<T>, D::Error> {
        deserializer.deserialize_option(Whole(PhantomData))
    }
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

    /// `language`: `"python"`, the only value served.
    pub fn python_only() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([super::PYTHON]))
            .description(Some("The source language; only \"python\" is served."))
            .into()
    }

    /// `seed`: any whole number a u64 holds, or null. utoipa writes a u64 as `format: int64`,
    /// which promises no more than 2^63 - 1 while the server takes up to 2^64 - 1: the bounds
    /// are said here instead.
    pub fn seed() -> Schema {
        // A u64 is a usize where the server runs (64-bit); the document is only made there.
        const _: () = assert!(usize::BITS == u64::BITS, "the OpenAPI document is made on 64-bit targets");
        ObjectBuilder::new()
            .schema_type([Type::Integer, Type::Null].into_iter().collect::<utoipa::openapi::schema::SchemaType>())
            .minimum(Some(0))
            .maximum(Some(utoipa::Number::UInt(usize::MAX)))
            .description(Some("Makes sampling reproducible (with the same model)."))
            .into()
    }

    /// `stop`: a string or up to four, each at most 64 characters, or null.
    pub fn stop() -> Schema {
        let one = || ObjectBuilder::new().schema_type(Type::String).max_length(Some(super::MAX_STOP_CHARS));
        OneOfBuilder::new()
            .item(one())
            .item(utoipa::openapi::schema::ArrayBuilder::new().items(one()).max_items(Some(super::MAX_STOP_STRINGS)))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_may_be_written_as_floats() {
        let request = |json: &str| serde_json::from_str::<CompleteRequest>(json).map(|r| r.max_tokens);
        assert_eq!(request(r#"{"prefix":"","language":"python","max_tokens":16}"#).unwrap(), Some(16));
        assert_eq!(request(r#"{"prefix":"","language":"python","max_tokens":16.0}"#).unwrap(), Some(16));
        assert_eq!(request(r#"{"prefix":"","language":"python","max_tokens":null}"#).unwrap(), None);
        assert_eq!(request(r#"{"prefix":"","language":"python"}"#).unwrap(), None);
        for bad in ["16.5", "-1", "4294967296", "\"16\"", "1e300"] {
            let json = format!(r#"{{"prefix":"","language":"python","max_tokens":{bad}}}"#);
            assert!(request(&json).is_err(), "{bad}");
        }
        let seed = serde_json::from_str::<OpenAiCompletionRequest>(r#"{"prompt":"","seed":1.8e19}"#).unwrap().seed;
        assert_eq!(seed, Some(18_000_000_000_000_000_000));
    }

    #[test]
    fn health_round_trips_and_rejects_unknown_fields() {
        let health: HealthResponse = serde_json::from_str(r#"{"status":"ok","version":"0.1.0"}"#).unwrap();
        assert_eq!(health.status, "ok");
        assert_eq!(serde_json::to_string(&health).unwrap(), r#"{"status":"ok","version":"0.1.0"}"#);
        assert!(serde_json::from_str::<HealthResponse>(r#"{"status":"ok","version":"1","x":1}"#).is_err());
    }
}
