//! The `openai` provider: generation and completion forwarded to any OpenAI-compatible server
//! (`--openai-base-url`, e.g. `http://127.0.0.1:8001/v1`, another hapa-server included), always
//! streamed, so that a client that goes away or a deadline that passes closes the upstream
//! request too. Completions go to `/completions` (with `suffix`), questions and chats to
//! `/chat/completions`; a chat model's answer is split into its first fenced code block (the
//! code) and the words around it (the explanation).
//!
//! Everything upstream is bounded: the answer head and every chunk must come before the
//! request's deadline (504 otherwise), an answer stops being read past [`MAX_ANSWER_BYTES`],
//! and anything but a 2xx stream of JSON chunks is a 502. The API key (env
//! `HAPA_OPENAI_API_KEY`) is sent as a bearer token and never logged or shown.

use std::sync::Arc;
use std::time::Duration;

use hapa_model::decode::{check_stop, cursor_line};
use hapa_model::{Sampling, StopReason};
use hapa_protocol::api::{OpenAiChatMessage, OpenAiRole, PYTHON};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::inference::{Cancellation, Holdback, InferenceError, Job, Output, Progress, Prompt, Running};
use crate::metrics::Metrics;
use crate::prompt::{self, Segment};

/// Most bytes of an upstream answer that are read (text and the JSON around it).
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// What a chat model is told when it is asked a question about code.
const SYSTEM_PROMPT: &str = "You write Python code. Answer with one ```python fenced block that continues the \
                             given code, and at most a few sentences about it.";

/// Longest wait for a connection to the upstream server (the deadline bounds the rest).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An OpenAI-compatible server.
pub struct Upstream {
    client: reqwest::Client,
    base_url: String,
    model: String,
    api_key: Option<String>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Upstream")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// A client for the server at `base_url` (`http://`, up to and including its `/v1`), asking
    /// for `model`.
    pub fn new(base_url: &str, model: &str, api_key: Option<String>, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let base_url = base_url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base_url)
            .map_err(|error| anyhow::anyhow!("--openai-base-url {base_url:?} is not a URL: {error}"))?;
        if parsed.scheme() == "https" {
            // reqwest is built without TLS (no TLS stack in the dependency tree yet).
            anyhow::bail!(
                "--openai-base-url {base_url:?}: this build speaks plain HTTP only; use http:// (a server on this \
                 host or network, or a TLS-terminating proxy in front of an https one)"
            );
        }
        if parsed.scheme() != "http" || parsed.host_str().is_none() {
            anyhow::bail!(
                "--openai-base-url {base_url:?} must be http://HOST[:PORT]/PATH, e.g. http://127.0.0.1:8001/v1"
            );
        }
        if model.trim().is_empty() {
            anyhow::bail!("--openai-model is empty; name the upstream model to ask");
        }
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // A redirect could carry the key elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { client, base_url, model: model.to_owned(), api_key: api_key.filter(|key| !key.is_empty()), metrics })
    }

    /// The model's name, as answers report it.
    pub fn model_name(&self) -> &str {
        &self.model
    }

    /// The server's base URL, as configured.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// For the serve banner.
    pub fn describe(&self) -> String {
        format!(
            "openai {} at {} ({})",
            self.model,
            self.base_url,
            if self.api_key.is_some() { "with the key from HAPA_OPENAI_API_KEY" } else { "no API key" }
        )
    }

    /// Sends `job` upstream and waits (at most `timeout`) for the answer's head; the body is read
    /// by a task that stops when the returned [`Running`] is dropped or its deadline passes.
    pub async fn start(&self, job: Job, timeout: Duration) -> Result<Running, InferenceError> {
        let deadline = Instant::now() + timeout;
        let (path, body) = self.request_body(&job);
        let mut request = self.client.post(format!("{}{path}", self.base_url)).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = match tokio::time::timeout_at(deadline, request.send()).await {
            Err(_) => return Err(InferenceError::UpstreamTimeout(timeout)),
            Ok(Err(error)) => {
                tracing::warn!(error = %error.without_url(), "the upstream model server could not be reached");
                return Err(InferenceError::Upstream(
                    "the upstream model server could not be reached; see the server log".to_owned(),
                ));
            }
            Ok(Ok(response)) => response,
        };
        if !response.status().is_success() {
            return Err(refusal(response, deadline, timeout).await);
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        let cancellation = Arc::new(Cancellation::default());
        let reader = tokio::spawn(read_stream(response, job, self.model.clone(), sender));
        Ok(Running::new(receiver, cancellation, deadline, InferenceError::UpstreamTimeout(timeout))
            .with_abort(reader.abort_handle(), self.metrics.clone()))
    }

    fn request_body(&self, job: &Job) -> (&'static str, Value) {
        let mut body = json!({ "model": self.model, "max_tokens": job.stop.max_tokens, "stream": true });
        match job.sampling {
            Sampling::Greedy => body["temperature"] = json!(0.0),
            Sampling::TopKTopP { temperature, top_p, seed, .. } => {
                body["temperature"] = json!(temperature);
                body["top_p"] = json!(top_p);
                body["seed"] = json!(seed);
            }
        }
        let mut stop = job.stop.stop_strings.clone();
        if job.stop.end_of_line && stop.len() < 4 {
            stop.push("\n".to_owned());
        }
        if !stop.is_empty() {
            body["stop"] = json!(stop);
        }
        if job.stop.ignore_end_of_text {
            body["ignore_eos"] = json!(true);
        }
        match &job.prompt {
            Prompt::Infill { prefix, suffix } => {
                let (prefix, suffix) = (prompt::tail(prefix), prompt::head(suffix));
                body["prompt"] = json!(prefix);
                if !suffix.is_empty() {
                    body["suffix"] = json!(suffix);
                }
                ("/completions", body)
            }
            Prompt::Question { context, question } => {
                body["messages"] = json!(question_messages(context.as_deref().map(prompt::tail), question));
                ("/chat/completions", body)
            }
            Prompt::Chat(messages) => {
                body["messages"] = json!(messages);
                ("/chat/completions", body)
            }
        }
    }
}

/// The error for a non-2xx upstream answer, with the upstream's message when it sent one.
async fn refusal(response: reqwest::Response, deadline: Instant, timeout: Duration) -> InferenceError {
    let status = response.status();
    let body = match tokio::time::timeout_at(deadline, bounded_body(response, 16 * 1024)).await {
        Ok(body) => body,
        Err(_) => return InferenceError::UpstreamTimeout(timeout),
    };
    let message = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|value| {
            let message = value.pointer("/error/message").or_else(|| value.get("message"))?;
            message.as_str().map(|text| text.chars().take(300).collect::<String>())
        })
        .unwrap_or_default();
    tracing::warn!(%status, %message, "the upstream model server refused a request");
    InferenceError::Upstream(format!("the upstream model server answered {status}: {message}"))
}

async fn bounded_body(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= limit {
            body.truncate(limit);
            break;
        }
    }
    body
}

/// Reads the server-sent chunks of an upstream answer and reports them on `sender`.
async fn read_stream(
    mut response: reqwest::Response,
    job: Job,
    model: String,
    sender: mpsc::UnboundedSender<Progress>,
) {
    let mut answer = Answer::new(&job);
    let is_json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        // A server that ignores `stream: true` answers with the whole JSON at once.
        let body = bounded_body(response, MAX_ANSWER_BYTES).await;
        let result = match answer.push_chunk(&String::from_utf8_lossy(&body)) {
            Ok(reason) => Ok(reason.unwrap_or(StopReason::EndOfText)),
            Err(error) => Err(error),
        };
        return finish(answer, result, model, &sender);
    }
    let mut buffer: Vec<u8> = Vec::new();
    let mut read = 0usize;
    let result = 'read: loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            // A stream that ends without [DONE] ends all the same.
            Ok(None) => break 'read Ok(StopReason::EndOfText),
            Err(error) => {
                tracing::warn!(error = %error.without_url(), "the upstream answer broke off");
                break 'read Err(InferenceError::Upstream("the upstream answer broke off; retry".to_owned()));
            }
        };
        read += chunk.len();
        buffer.extend_from_slice(&chunk);
        while let Some(newline) = buffer.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = buffer.drain(..=newline).collect();
            let line = String::from_utf8_lossy(&line);
            let Some(data) = line.trim_end().strip_prefix("data:") else { continue };
            let data = data.trim_start();
            if data == "[DONE]" {
                break 'read Ok(StopReason::EndOfText);
            }
            match answer.push_chunk(data) {
                Ok(Some(reason)) => break 'read Ok(reason),
                Ok(None) => {}
                Err(error) => break 'read Err(error),
            }
            for text in answer.releasable() {
                if sender.send(Progress::Text(text)).is_err() {
                    return;
                }
            }
        }
        if read > MAX_ANSWER_BYTES {
            break 'read Ok(StopReason::MaxTokens);
        }
    };
    drop(response);
    finish(answer, result, model, &sender);
}

/// Reports the end of an answer: what was not streamed yet, then the output.
fn finish(
    mut answer: Answer,
    result: Result<StopReason, InferenceError>,
    model: String,
    sender: &mpsc::UnboundedSender<Progress>,
) {
    for text in answer.releasable() {
        let _ = sender.send(Progress::Text(text));
    }
    let done = result.map(|reason| {
        let (output, rest) = answer.finish(reason, model);
        if let Some(rest) = rest {
            let _ = sender.send(Progress::Text(rest));
        }
        output
    });
    let _ = sender.send(Progress::Done(done));
}

/// An upstream answer as it arrives: the text, the stop rules applied to it, and what may be
/// streamed on.
struct Answer {
    job: Job,
    /// Whether the answer is a chat model's (code in fences, words around it).
    chat: bool,
    text: String,
    /// Piece boundaries in `text`, where syntax-aware trimming may cut.
    cuts: Vec<usize>,
    chunks: usize,
    finish: Option<StopReason>,
    holdback: Holdback,
    /// What was streamed of a chat answer's code.
    sent_code: usize,
    pending: Vec<String>,
}

impl Answer {
    fn new(job: &Job) -> Self {
        let chat = matches!(job.prompt, Prompt::Question { .. });
        Self {
            holdback: Holdback::new(
                &job.stop,
                match &job.prompt {
                    Prompt::Infill { prefix, .. } => prefix,
                    _ => "",
                },
                job.syntax_aware,
            ),
            job: job.clone(),
            chat,
            text: String::new(),
            cuts: Vec::new(),
            chunks: 0,
            finish: None,
            sent_code: 0,
            pending: Vec::new(),
        }
    }

    /// Adds one `data:` payload; `Some` when the stop rules end the answer.
    fn push_chunk(&mut self, data: &str) -> Result<Option<StopReason>, InferenceError> {
        let value: Value = serde_json::from_str(data)
            .map_err(|_| InferenceError::Upstream("the upstream model server sent a malformed chunk".to_owned()))?;
        if let Some(message) = value.pointer("/error/message").and_then(Value::as_str) {
            let message: String = message.chars().take(300).collect();
            return Err(InferenceError::Upstream(format!("the upstream model server failed: {message}")));
        }
        let choice = value.pointer("/choices/0");
        let piece = choice
            .and_then(|choice| {
                choice
                    .get("text")
                    .or_else(|| choice.pointer("/delta/content"))
                    .or_else(|| choice.pointer("/message/content"))
            })
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(reason) = choice.and_then(|choice| choice.get("finish_reason")).and_then(Value::as_str) {
            self.finish = Some(if reason == "length" { StopReason::MaxTokens } else { StopReason::EndOfText });
        }
        if piece.is_empty() {
            return Ok(None);
        }
        self.chunks += 1;
        self.cuts.push(self.text.len());
        let before = self.text.len();
        self.text.push_str(piece);
        if let Prompt::Infill { prefix, .. } = &self.job.prompt
            && let std::ops::ControlFlow::Break((keep, reason)) =
                check_stop(&self.job.stop, cursor_line(prefix), &self.text)
        {
            self.text.truncate(keep);
            if let Some(kept) = self.text.get(before..).filter(|kept| !kept.is_empty()) {
                let kept = kept.to_owned();
                self.pending.extend(self.holdback.push(&kept));
            }
            return Ok(Some(reason));
        }
        if self.chat {
            // Stream the first fenced block's complete lines (the rest may be words).
            let code = streaming_code(&self.text);
            if code.len() > self.sent_code {
                self.pending.push(code[self.sent_code..].to_owned());
                self.sent_code = code.len();
            }
        } else {
            let piece = piece.to_owned();
            self.pending.extend(self.holdback.push(&piece));
        }
        if self.chunks >= self.job.stop.max_tokens {
            return Ok(Some(StopReason::MaxTokens));
        }
        Ok(None)
    }

    fn releasable(&mut self) -> Vec<String> {
        std::mem::take(&mut self.pending)
    }

    /// The output, and the text not streamed yet.
    fn finish(mut self, reason: StopReason, model: String) -> (Output, Option<String>) {
        let reason = self.finish.filter(|_| reason == StopReason::EndOfText).unwrap_or(reason);
        let (text, explanation, rest) = if self.chat {
            let (code, explanation) = split_answer(&self.text);
            let sent = streaming_code(&self.text)[..self.sent_code].to_owned();
            let rest = code.strip_prefix(sent.as_str()).filter(|rest| !rest.is_empty()).map(str::to_owned);
            (code, explanation, rest)
        } else {
            let mut text = self.text.clone();
            if self.job.syntax_aware
                && let Prompt::Infill { prefix, suffix } = &self.job.prompt
                && !text.is_empty()
            {
                let cuts: Vec<usize> = self.cuts.iter().copied().filter(|cut| *cut < text.len()).collect();
                let kept = hapa_core::splice::longest_acceptable(prefix, &text, suffix, &cuts).map_or(0, str::len);
                text.truncate(kept);
            }
            let rest = self.holdback.finish(&text);
            (text, None, rest)
        };
        let output =
            Output { text, explanation, stop_reason: reason, prompt_tokens: 0, generated_tokens: self.chunks, model };
        (output, rest)
    }
}

/// The complete lines of the first fenced block so far (nothing before a fence opens).
fn streaming_code(text: &str) -> &str {
    let segments = prompt::fenced_segments(text);
    let Some(Segment::Code(code)) = segments.into_iter().find(|segment| matches!(segment, Segment::Code(_))) else {
        return "";
    };
    // An unfinished last line could still turn out to be the closing fence.
    match code.rfind('\n') {
        Some(newline) => &code[..=newline],
        None => "",
    }
}

/// A chat model's answer as code (its first fenced block, or all of it without fences) and
/// the words around it.
pub fn split_answer(text: &str) -> (String, Option<String>) {
    let segments = prompt::fenced_segments(text);
    let Some(code) = segments.iter().find_map(|segment| match segment {
        Segment::Code(code) => Some(*code),
        Segment::Prose(_) => None,
    }) else {
        return (text.to_owned(), None);
    };
    let words: Vec<&str> = segments
        .iter()
        .filter_map(|segment| match segment {
            Segment::Prose(prose) if !prose.trim().is_empty() => Some(prose.trim()),
            _ => None,
        })
        .collect();
    (code.to_owned(), (!words.is_empty()).then(|| words.join("\n\n")))
}

/// The chat messages of a question, as this provider sends them (for tests and logs).
pub fn question_messages(context: Option<&str>, question: &str) -> Vec<OpenAiChatMessage> {
    let mut content = context.map(|code| prompt::fence(code, PYTHON)).unwrap_or_default();
    content.push_str(question);
    vec![
        OpenAiChatMessage { role: OpenAiRole::System, content: SYSTEM_PROMPT.to_owned() },
        OpenAiChatMessage { role: OpenAiRole::User, content },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_answer_splits_into_code_and_words() {
        let (code, words) = split_answer("Here:\n```python\nx = 1\n```\nDone.");
        assert_eq!(code, "x = 1\n");
        assert_eq!(words.as_deref(), Some("Here:\n\nDone."));
        assert_eq!(split_answer("x = 2"), ("x = 2".to_owned(), None));
        assert_eq!(streaming_code("Here:\n```python\nx = 1\ny ="), "x = 1\n");
        assert_eq!(streaming_code("Here is"), "");
    }

    #[test]
    fn a_question_sent_upstream_reads_back_as_the_local_prompt() {
        let messages = question_messages(Some("import os"), "list files");
        assert_eq!(prompt::chat_prefix(&messages), prompt::question_prefix(Some("import os"), "list files"));
    }
}
