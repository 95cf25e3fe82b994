//! OpenAI-compatible routes, `POST /v1/completions` and `POST /v1/chat/completions`: a faithful
//! subset (model, prompt / messages, suffix, max_tokens, temperature, top_p, stop, stream, seed,
//! n = 1, user, and vLLM's ignore_eos) served by the same provider, keys and permissions as `/api/v1`, so OpenAI
//! clients and editors work against HAPA unchanged. Errors on these routes take OpenAI's shape
//! `{"error": {"message", "type", "code"}}` ([`openai_errors`]); `code` is HAPA's stable code.
//!
//! Whole (non-streamed) answers that would come out the same again, greedy (`temperature: 0`)
//! or with the client's `seed`, are kept in the key's response cache like `/api/v1`'s
//! (`X-Hapa-Cache: hit` / `miss`); a sampled answer without a seed never is, since its random
//! seed makes every request a new one.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use hapa_model::{Sampling, StopReason, StopRules};
use hapa_protocol::api::{
    ErrorBody, MAX_CHAT_MESSAGES, MAX_CODE_CHARS, MAX_OPENAI_TOKENS, MAX_STOP_CHARS, MAX_STOP_STRINGS,
    OpenAiAssistantMessage, OpenAiChatChoice, OpenAiChatChunk, OpenAiChatChunkChoice, OpenAiChatDelta,
    OpenAiChatRequest, OpenAiChatResponse, OpenAiCompletionChoice, OpenAiCompletionRequest, OpenAiCompletionResponse,
    OpenAiError, OpenAiErrorBody, OpenAiFinishReason, OpenAiStop, OpenAiUsage,
};

use crate::auth::Caller;
use crate::cache::{CacheKey, CachedAnswer, Outcome};
use crate::error::ApiError;
use crate::generation::{GENERATE_TOKENS, check_length, count, invalid};
use crate::inference::{Job, Output, Progress, Prompt, Running};
use crate::openapi::OpenAiRouteErrors;
use crate::routes::{ApiJson, request_id, with_cache_outcome};
use crate::state::AppState;

/// Tokens of a completion that names no `max_tokens` (OpenAI's default).
pub const DEFAULT_COMPLETION_TOKENS: u32 = 16;
/// Tokens of a chat answer that names no `max_tokens`.
pub const DEFAULT_CHAT_TOKENS: u32 = GENERATE_TOKENS as u32;
/// Longest `model` and `user`, in characters.
const MAX_NAME_CHARS: usize = 256;

/// The job for `POST /v1/completions`: a raw continuation of `prompt` (before `suffix`).
pub fn completion_job(request: &OpenAiCompletionRequest) -> Result<Job, ApiError> {
    check_common(request.model.as_deref(), request.user.as_deref(), request.n)?;
    check_length("prompt", &request.prompt, MAX_CODE_CHARS)?;
    let suffix = request.suffix.clone().unwrap_or_default();
    check_length("suffix", &suffix, MAX_CODE_CHARS)?;
    let stop = StopRules {
        end_of_line: false,
        end_of_block: false,
        max_tokens: max_tokens(request.max_tokens, DEFAULT_COMPLETION_TOKENS)?,
        stop_strings: stop_strings(request.stop.as_ref())?,
        ignore_end_of_text: request.ignore_eos.unwrap_or(false),
    };
    Ok(Job {
        prompt: Prompt::Infill { prefix: request.prompt.clone(), suffix },
        stop,
        sampling: sampling(request.temperature, request.top_p, request.seed)?,
        syntax_aware: false,
    })
}

/// The job for `POST /v1/chat/completions`: code that continues the conversation, to the end of
/// its block (as `/api/v1/code/generate` writes it).
pub fn chat_job(request: &OpenAiChatRequest) -> Result<Job, ApiError> {
    check_common(request.model.as_deref(), request.user.as_deref(), request.n)?;
    if request.messages.is_empty() || request.messages.len() > MAX_CHAT_MESSAGES {
        return Err(invalid(format!(
            "messages has {} entries; send 1 to {MAX_CHAT_MESSAGES} (the latest matter most)",
            request.messages.len()
        )));
    }
    for message in &request.messages {
        check_length("a message's content", &message.content, MAX_CODE_CHARS)?;
    }
    let stop = StopRules {
        stop_strings: stop_strings(request.stop.as_ref())?,
        ..StopRules::block(max_tokens(request.max_tokens, DEFAULT_CHAT_TOKENS)?)
    };
    Ok(Job {
        prompt: Prompt::Chat(request.messages.clone()),
        stop,
        sampling: sampling(request.temperature, request.top_p, request.seed)?,
        syntax_aware: false,
    })
}

fn check_common(model: Option<&str>, user: Option<&str>, n: Option<u32>) -> Result<(), ApiError> {
    check_length("model", model.unwrap_or_default(), MAX_NAME_CHARS)?;
    check_length("user", user.unwrap_or_default(), MAX_NAME_CHARS)?;
    match n {
        None | Some(1) => Ok(()),
        Some(n) => Err(invalid(format!("n is {n}; this server writes one choice (n = 1)"))),
    }
}

fn max_tokens(asked: Option<u32>, default: u32) -> Result<usize, ApiError> {
    let tokens = asked.unwrap_or(default);
    if !(1..=MAX_OPENAI_TOKENS).contains(&tokens) {
        return Err(invalid(format!("max_tokens is {tokens}; it must be 1 to {MAX_OPENAI_TOKENS}")));
    }
    Ok(tokens as usize)
}

fn stop_strings(stop: Option<&OpenAiStop>) -> Result<Vec<String>, ApiError> {
    let strings = match stop {
        None => Vec::new(),
        Some(OpenAiStop::One(one)) => vec![one.clone()],
        Some(OpenAiStop::Many(many)) => many.clone(),
    };
    if strings.len() > MAX_STOP_STRINGS {
        return Err(invalid(format!("stop has {} strings; at most {MAX_STOP_STRINGS} are accepted", strings.len())));
    }
    for stop in &strings {
        check_length("a stop string", stop, MAX_STOP_CHARS)?;
    }
    Ok(strings)
}

/// OpenAI's sampling parameters: temperature 0 is greedy; otherwise nucleus sampling, seeded.
fn sampling(temperature: Option<f64>, top_p: Option<f64>, seed: Option<u64>) -> Result<Sampling, ApiError> {
    let temperature = temperature.unwrap_or(1.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(invalid(format!("temperature is {temperature}; it must be 0 to 2")));
    }
    let top_p = top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(invalid(format!("top_p is {top_p}; it must be above 0 and at most 1")));
    }
    if temperature == 0.0 {
        return Ok(Sampling::Greedy);
    }
    let seed = match seed {
        Some(seed) => seed,
        None => {
            let mut random = [0u8; 8];
            getrandom::fill(&mut random).map_err(|error| {
                tracing::error!(%error, "no randomness for a sampling seed");
                ApiError::Internal
            })?;
            u64::from_le_bytes(random)
        }
    };
    Ok(Sampling::TopKTopP { temperature: temperature as f32, top_k: 0, top_p: top_p as f32, seed })
}

fn finish_reason(reason: StopReason) -> OpenAiFinishReason {
    match reason {
        StopReason::MaxTokens | StopReason::ContextFull => OpenAiFinishReason::Length,
        _ => OpenAiFinishReason::Stop,
    }
}

fn usage(output: &Output) -> OpenAiUsage {
    let (prompt, completion) = (count(output.prompt_tokens), count(output.generated_tokens));
    OpenAiUsage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt.saturating_add(completion),
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// Who answers a stream, for every chunk.
#[derive(Debug, Clone)]
struct Header {
    id: String,
    created: u64,
    model: String,
}

fn completion_chunk(header: &Header, text: String, finish: Option<OpenAiFinishReason>) -> OpenAiCompletionResponse {
    OpenAiCompletionResponse {
        id: header.id.clone(),
        object: "text_completion".to_owned(),
        created: header.created,
        model: header.model.clone(),
        choices: vec![OpenAiCompletionChoice { text, index: 0, finish_reason: finish }],
        usage: None,
    }
}

fn chat_chunk(header: &Header, delta: OpenAiChatDelta, finish: Option<OpenAiFinishReason>) -> OpenAiChatChunk {
    OpenAiChatChunk {
        id: header.id.clone(),
        object: "chat.completion.chunk".to_owned(),
        created: header.created,
        model: header.model.clone(),
        choices: vec![OpenAiChatChunkChoice { index: 0, delta, finish_reason: finish }],
    }
}

fn data(value: &impl serde::Serialize) -> Event {
    Event::default().json_data(value).unwrap_or_else(|error| {
        tracing::error!(%error, "a chunk could not be encoded");
        Event::default().data(
            r#"{"error":{"message":"internal error; see the server log","type":"server_error","code":"internal"}}"#,
        )
    })
}

/// Which route a stream answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Completion,
    Chat,
}

/// A generation as OpenAI's stream: `data: {chunk}` events (a chat's first one carries the
/// role), a last chunk with the finish reason, then `data: [DONE]`; on failure one
/// `data: {"error": ...}` and the end. Dropping the stream cancels the generation.
fn chunks(kind: Kind, header: Header, running: Running) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    enum State {
        Start(Running),
        Streaming(Running),
        Done,
        Finished,
    }
    let first = if kind == Kind::Chat { State::Start(running) } else { State::Streaming(running) };
    futures_util::stream::unfold((first, header), move |(state, header)| async move {
        match state {
            State::Start(running) => {
                let delta = OpenAiChatDelta { role: Some("assistant".to_owned()), content: Some(String::new()) };
                let event = data(&chat_chunk(&header, delta, None));
                Some((Ok(event), (State::Streaming(running), header)))
            }
            State::Streaming(mut running) => {
                let event = match running.next().await {
                    Progress::Text(text) => {
                        let event = match kind {
                            Kind::Completion => data(&completion_chunk(&header, text, None)),
                            Kind::Chat => {
                                let delta = OpenAiChatDelta { role: None, content: Some(text) };
                                data(&chat_chunk(&header, delta, None))
                            }
                        };
                        return Some((Ok(event), (State::Streaming(running), header)));
                    }
                    Progress::Done(Ok(output)) => {
                        let finish = Some(finish_reason(output.stop_reason));
                        let event = match kind {
                            Kind::Completion => data(&completion_chunk(&header, String::new(), finish)),
                            Kind::Chat => data(&chat_chunk(&header, OpenAiChatDelta::default(), finish)),
                        };
                        return Some((Ok(event), (State::Done, header)));
                    }
                    Progress::Done(Err(error)) => {
                        let error = ApiError::from(error);
                        tracing::warn!(%error, "a streamed completion failed");
                        data(&openai_body(&error.body(), error.status_and_code().0))
                    }
                };
                Some((Ok(event), (State::Finished, header)))
            }
            State::Done => Some((Ok(Event::default().data("[DONE]")), (State::Finished, header))),
            State::Finished => None,
        }
    })
}

/// `POST /v1/completions`: OpenAI's completions (with `suffix` for fill-in-the-middle).
#[utoipa::path(
    post,
    path = "/v1/completions",
    request_body = OpenAiCompletionRequest,
    responses(
        (status = 200, description = "The completion, or with `stream: true` server-sent `data:` chunks (the same shape without `usage`) ending with `data: [DONE]`",
            content((OpenAiCompletionResponse = "application/json"), (String = "text/event-stream")),
            headers(("X-Hapa-Cache" = String, description = "Unstreamed, greedy or seeded requests only: `hit` when the answer came from this key's response cache, `miss` when the model wrote it"))),
        OpenAiRouteErrors,
    )
)]
pub(crate) async fn completions(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<OpenAiCompletionRequest>,
) -> Result<Response, ApiError> {
    let job = completion_job(&request)?;
    let key = cache_key(&state, &caller, &job, request.stream, request.seed);
    if let Some(key) = &key
        && let Some(answer) = state.cache.get(key, request_id(&headers)).await
    {
        return Ok(with_cache_outcome(Json(answer), Some(Outcome::Hit)));
    }
    let running = state.inference.start(job).await?;
    let header = Header {
        id: format!("cmpl-{}", request_id(&headers)),
        created: unix_seconds(),
        model: state.inference.model_name(),
    };
    if request.stream == Some(true) {
        return Ok(Sse::new(chunks(Kind::Completion, header, running)).into_response());
    }
    let output = running.finish().await?;
    let finish = Some(finish_reason(output.stop_reason));
    let usage = usage(&output);
    let whole = output.stop_reason != StopReason::Cancelled;
    let mut answer = completion_chunk(&Header { model: output.model.clone(), ..header }, output.text, finish);
    answer.usage = Some(usage);
    if let Some(key) = key.as_ref().filter(|_| whole) {
        state.cache.put(key, &answer).await;
    }
    Ok(with_cache_outcome(Json(answer), key.map(|_| Outcome::Miss)))
}

/// `POST /v1/chat/completions`: OpenAI's chat completions.
#[utoipa::path(
    post,
    path = "/v1/chat/completions",
    request_body = OpenAiChatRequest,
    responses(
        (status = 200, description = "The answer, or with `stream: true` server-sent `data:` chunks (`OpenAiChatChunk`) ending with `data: [DONE]`",
            content((OpenAiChatResponse = "application/json"), (String = "text/event-stream")),
            headers(("X-Hapa-Cache" = String, description = "Unstreamed, greedy or seeded requests only: `hit` when the answer came from this key's response cache, `miss` when the model wrote it"))),
        OpenAiRouteErrors,
    )
)]
pub(crate) async fn chat_completions(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<OpenAiChatRequest>,
) -> Result<Response, ApiError> {
    let job = chat_job(&request)?;
    let key = cache_key(&state, &caller, &job, request.stream, request.seed);
    if let Some(key) = &key
        && let Some(answer) = state.cache.get(key, request_id(&headers)).await
    {
        return Ok(with_cache_outcome(Json(answer), Some(Outcome::Hit)));
    }
    let running = state.inference.start(job).await?;
    let header = Header {
        id: format!("chatcmpl-{}", request_id(&headers)),
        created: unix_seconds(),
        model: state.inference.model_name(),
    };
    if request.stream == Some(true) {
        return Ok(Sse::new(chunks(Kind::Chat, header, running)).into_response());
    }
    let output = running.finish().await?;
    let whole = output.stop_reason != StopReason::Cancelled;
    let answer = OpenAiChatResponse {
        id: header.id,
        object: "chat.completion".to_owned(),
        created: header.created,
        usage: usage(&output),
        choices: vec![OpenAiChatChoice {
            index: 0,
            message: OpenAiAssistantMessage { role: "assistant".to_owned(), content: output.text },
            finish_reason: finish_reason(output.stop_reason),
        }],
        model: output.model,
    };
    if let Some(key) = key.as_ref().filter(|_| whole) {
        state.cache.put(key, &answer).await;
    }
    Ok(with_cache_outcome(Json(answer), key.map(|_| Outcome::Miss)))
}

/// Where the answer to `job` is cached for `caller`: only for a whole answer (not streamed) that
/// the model would write again, greedy or with the client's seed; `None` otherwise or when the
/// cache is off.
fn cache_key<T: CachedAnswer>(
    state: &AppState,
    caller: &Caller,
    job: &Job,
    stream: Option<bool>,
    seed: Option<u64>,
) -> Option<CacheKey<T>> {
    let repeatable = job.sampling == Sampling::Greedy || seed.is_some();
    if stream == Some(true) || !repeatable {
        return None;
    }
    state.cache.key(caller.key_id, state.inference.cache_identity(), job)
}

/// `/v1/completions`' answers in the response cache. Cancelled answers are never put (the
/// handler checks the stop reason); an empty completion is whole, as `/api/v1/code/complete`'s.
impl CachedAnswer for OpenAiCompletionResponse {
    const ROUTE: &'static str = "openai-completions";

    fn is_whole(&self) -> bool {
        true
    }

    fn set_request_id(&mut self, id: String) {
        self.id = format!("cmpl-{id}");
    }
}

/// `/v1/chat/completions`' answers in the response cache, as [`OpenAiCompletionResponse`]'s.
impl CachedAnswer for OpenAiChatResponse {
    const ROUTE: &'static str = "openai-chat";

    fn is_whole(&self) -> bool {
        true
    }

    fn set_request_id(&mut self, id: String) {
        self.id = format!("chatcmpl-{id}");
    }
}

/// OpenAI's error category for a status.
fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        500.. => "server_error",
        _ => "invalid_request_error",
    }
}

fn openai_body(error: &ErrorBody, status: StatusCode) -> OpenAiErrorBody {
    OpenAiErrorBody {
        error: OpenAiError {
            message: error.message.clone(),
            kind: error_type(status).to_owned(),
            code: error.code.clone(),
        },
    }
}

/// Error bodies above this are not HAPA's and pass unchanged.
const LARGEST_ERROR_BODY: usize = 64 * 1024;

/// Route middleware of the `/v1/...` routes, outside authentication: every HAPA error answer
/// (`ErrorBody`) is re-shaped as OpenAI's `{"error": {...}}`, status and headers kept.
pub async fn openai_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if status.is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, LARGEST_ERROR_BODY).await else {
        tracing::error!("an error answer's body could not be read");
        return ApiError::Internal.into_response();
    };
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(error) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            let body = serde_json::to_vec(&openai_body(&error, status)).unwrap_or_default();
            Response::from_parts(parts, Body::from(body))
        }
        Err(_) => Response::from_parts(parts, Body::from(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_follows_openai() {
        assert_eq!(sampling(Some(0.0), None, None).unwrap(), Sampling::Greedy);
        let Sampling::TopKTopP { temperature, top_p, seed, .. } = sampling(None, Some(0.5), Some(7)).unwrap() else {
            panic!("not sampled")
        };
        assert_eq!((temperature, top_p, seed), (1.0, 0.5, 7));
        for (temperature, top_p) in [(Some(2.5), None), (Some(-0.1), None), (None, Some(0.0)), (None, Some(1.5))] {
            assert!(sampling(temperature, top_p, None).is_err(), "{temperature:?} {top_p:?}");
        }
    }

    #[test]
    fn stop_strings_are_bounded() {
        assert_eq!(stop_strings(Some(&OpenAiStop::One("\n".into()))).unwrap(), ["\n"]);
        assert!(stop_strings(Some(&OpenAiStop::Many(vec!["a".into(); 5]))).is_err());
        assert!(stop_strings(Some(&OpenAiStop::One("x".repeat(65)))).is_err());
    }
}
