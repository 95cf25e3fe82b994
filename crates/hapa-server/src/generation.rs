//! Code generation and completion as a service: checks a request against the documented
//! limits, turns it into an inference [`Job`], and the [`Output`] into the wire answer
//! (generated code is validated with the same parser as `/api/v1/code/validate`).

use std::convert::Infallible;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::sse::Event;
use futures_util::Stream;
use hapa_model::{Sampling, StopRules};
use hapa_protocol::api::{
    CompleteRequest, CompleteResponse, CompletionChoice, CompletionMode, DEFAULT_COMPLETION_TOKENS, GenerateRequest,
    GenerateResponse, GenerateStatus, MAX_CODE_CHARS, MAX_COMPLETION_TOKENS, MAX_FILE_PATH_CHARS, MAX_QUESTION_CHARS,
    PYTHON, TextDelta,
};
use serde::Serialize;

use crate::cache::{CacheKey, ResponseCache};
use crate::error::ApiError;
use crate::inference::{Job, Output, Progress, Prompt, Running};

/// Most tokens of a generated answer.
pub const GENERATE_TOKENS: usize = 160;

/// 422 `unsupported_language` unless `language` is Python.
pub fn check_language(language: &str) -> Result<(), ApiError> {
    if language == PYTHON {
        return Ok(());
    }
    // Bound what is echoed: the value is the client's.
    Err(ApiError::UnsupportedLanguage { language: language.chars().take(40).collect() })
}

/// 422 unless `text` has at most `max` characters.
pub fn check_length(field: &str, text: &str, max: usize) -> Result<(), ApiError> {
    // Bytes bound characters from above: most texts need no counting.
    if text.len() <= max {
        return Ok(());
    }
    let chars = text.chars().count();
    if chars <= max {
        return Ok(());
    }
    Err(invalid(format!(
        "{field} has {chars} characters; at most {max} are accepted (send the part nearest the cursor)"
    )))
}

/// A 422 `invalid_request` with `message`.
pub fn invalid(message: String) -> ApiError {
    ApiError::BadRequest { status: StatusCode::UNPROCESSABLE_ENTITY, message }
}

/// The job for `POST /api/v1/code/generate`.
pub fn generate_job(request: &GenerateRequest) -> Result<Job, ApiError> {
    check_language(&request.language)?;
    check_length("user_question", &request.user_question, MAX_QUESTION_CHARS)?;
    if request.user_question.trim().is_empty() {
        return Err(invalid("user_question is blank; ask for the code you want".to_owned()));
    }
    if let Some(context) = &request.code_context {
        check_length("code_context", context, MAX_CODE_CHARS)?;
    }
    if let Some(path) = &request.file_path {
        check_length("file_path", path, MAX_FILE_PATH_CHARS)?;
    }
    Ok(Job {
        prompt: Prompt::Question { context: request.code_context.clone(), question: request.user_question.clone() },
        stop: StopRules::block(GENERATE_TOKENS),
        sampling: Sampling::Greedy,
        // The answer is judged on its own (`parses`), not trimmed to fit.
        syntax_aware: false,
    })
}

/// The job for `POST /api/v1/code/complete`: the rest of the line (or block), greedy, trimmed
/// to what keeps the file parseable.
pub fn complete_job(request: &CompleteRequest) -> Result<Job, ApiError> {
    check_language(&request.language)?;
    check_length("prefix", &request.prefix, MAX_CODE_CHARS)?;
    let suffix = request.suffix.clone().unwrap_or_default();
    check_length("suffix", &suffix, MAX_CODE_CHARS)?;
    if let Some(path) = &request.file_path {
        check_length("file_path", path, MAX_FILE_PATH_CHARS)?;
    }
    let max_tokens = request.max_tokens.unwrap_or(DEFAULT_COMPLETION_TOKENS);
    if !(1..=MAX_COMPLETION_TOKENS).contains(&max_tokens) {
        return Err(invalid(format!("max_tokens is {max_tokens}; it must be 1 to {MAX_COMPLETION_TOKENS}")));
    }
    let max_tokens = max_tokens as usize;
    let stop = match request.mode.unwrap_or(CompletionMode::Line) {
        CompletionMode::Line => StopRules::line(max_tokens),
        CompletionMode::Block => StopRules::block(max_tokens),
    };
    Ok(Job {
        prompt: Prompt::Infill { prefix: request.prefix.clone(), suffix },
        stop,
        sampling: Sampling::Greedy,
        syntax_aware: true,
    })
}

/// A count for the wire.
pub fn count(tokens: usize) -> u32 {
    u32::try_from(tokens).unwrap_or(u32::MAX)
}

/// The answer to `POST /api/v1/code/generate`, with the code validated.
pub fn generate_response(request_id: String, output: Output) -> GenerateResponse {
    let diagnostics = hapa_core::validate::module(&output.text);
    let syntax_errors = hapa_core::validate::to_syntax_errors(&output.text, &diagnostics);
    let empty = output.text.trim().is_empty();
    GenerateResponse {
        request_id,
        parses: syntax_errors.is_empty(),
        syntax_errors,
        status: if empty { GenerateStatus::Error } else { GenerateStatus::Success },
        error_message: empty.then(|| {
            "the model wrote no code for this question; rephrase it, or send the code it is about as code_context"
                .to_owned()
        }),
        generated_code: output.text,
        explanation: output.explanation,
        model: output.model,
        stop_reason: output.stop_reason,
        prompt_tokens: count(output.prompt_tokens),
        generated_tokens: count(output.generated_tokens),
    }
}

/// The answer to `POST /api/v1/code/complete`.
pub fn complete_response(id: String, output: Output) -> CompleteResponse {
    CompleteResponse {
        id,
        completions: vec![CompletionChoice { text: output.text }],
        model: output.model,
        stop_reason: output.stop_reason,
        prompt_tokens: count(output.prompt_tokens),
        generated_tokens: count(output.generated_tokens),
    }
}

/// An SSE event named `name` carrying `data` as JSON.
pub fn json_event(name: &str, data: &impl Serialize) -> Event {
    Event::default().event(name).json_data(data).unwrap_or_else(|error| {
        tracing::error!(%error, "an event could not be encoded");
        Event::default().event("error").data(r#"{"code":"internal","message":"internal error; see the server log"}"#)
    })
}

/// Where a streamed answer is cached once it is done: the cache and the answer's key there.
pub type CacheFill = (Arc<ResponseCache>, CacheKey<GenerateResponse>);

/// A streamed generation as server-sent events: `delta` events `{"text"}`, then one `done`
/// event with the whole [`GenerateResponse`], or one `error` event with an `ErrorBody`.
/// Dropping the stream (the client went away) cancels the generation. The answer is put in
/// `fill`'s cache before its `done` event, so a request repeated at once already finds it.
pub fn generate_events(
    request_id: String,
    running: Running,
    fill: Option<CacheFill>,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    futures_util::stream::unfold(Some((running, request_id, fill)), |state| async move {
        let (mut running, request_id, fill) = state?;
        let event = match running.next().await {
            Progress::Text(text) => {
                return Some((Ok(json_event("delta", &TextDelta { text })), Some((running, request_id, fill))));
            }
            Progress::Done(Ok(output)) => {
                let answer = generate_response(request_id, output);
                if let Some((cache, key)) = &fill {
                    cache.put(key, &answer).await;
                }
                json_event("done", &answer)
            }
            Progress::Done(Err(error)) => {
                let error = ApiError::from(error);
                tracing::warn!(%error, "a streamed generation failed");
                json_event("error", &error.body())
            }
        };
        Some((Ok(event), None))
    })
}

/// A cached answer as the events of a streamed generation: its code as one `delta` event
/// (none when it is empty), then the `done` event.
pub fn cached_events(answer: GenerateResponse) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    let delta = (!answer.generated_code.is_empty())
        .then(|| json_event("delta", &TextDelta { text: answer.generated_code.clone() }));
    let events: Vec<Event> = delta.into_iter().chain([json_event("done", &answer)]).collect();
    futures_util::stream::iter(events.into_iter().map(Ok))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_characters_not_bytes() {
        assert!(check_length("prefix", &"é".repeat(MAX_CODE_CHARS), MAX_CODE_CHARS).is_ok());
        let error = check_length("prefix", &"é".repeat(MAX_CODE_CHARS + 1), MAX_CODE_CHARS).unwrap_err();
        assert!(error.to_string().starts_with("prefix has 65537 characters"), "{error}");
    }

    #[test]
    fn other_languages_are_refused_by_name() {
        assert!(check_language("python").is_ok());
        let error = check_language(&format!("javascript{}", "x".repeat(100))).unwrap_err();
        assert_eq!(error.status_and_code().1, "unsupported_language");
        assert!(error.to_string().len() < 120, "{error}");
    }
}
