//! Inference behind one interface, so handlers never know which model answers: a [`Job`] goes
//! in, a [`Running`] generation comes out, yielding text as it is written and then the
//! [`Output`]. Providers: [`crate::local`] (the bundled model) and [`crate::upstream`] (any
//! OpenAI-compatible server).
//!
//! Every generation has a deadline and is cancelled between tokens when its [`Running`] is
//! dropped before the end (the client went away) or the deadline passes; the decoding loop
//! sees that through a shared [`Cancellation`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use hapa_model::{Sampling, StopReason, StopRules};
use hapa_protocol::api::OpenAiChatMessage;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::ApiError;
use crate::local::LocalModel;
use crate::metrics::{Cancel, Metrics};
use crate::upstream::Upstream;

/// What the model is asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// Fill in the middle: write what goes between `prefix` and `suffix`.
    Infill {
        /// The text before the insertion point.
        prefix: String,
        /// The text after it.
        suffix: String,
    },
    /// A question about code, answered with code that continues `context`.
    Question {
        /// The code the answer continues, if any.
        context: Option<String>,
        /// What to write, in words.
        question: String,
    },
    /// A conversation, answered with the next assistant message.
    Chat(Vec<OpenAiChatMessage>),
}

/// One generation to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// What to write.
    pub prompt: Prompt,
    /// When to stop.
    pub stop: StopRules,
    /// How to choose tokens.
    pub sampling: Sampling,
    /// Trim the text to its longest prefix that keeps the module parseable (infill only).
    pub syntax_aware: bool,
}

/// A finished generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// What the model wrote, after stop rules (and syntax trimming when asked).
    pub text: String,
    /// Words that came with the code (upstream chat models), if any.
    pub explanation: Option<String>,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// Tokens of the prompt the model saw.
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// The model's name.
    pub model: String,
}

/// Why a generation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InferenceError {
    /// The model cannot be loaded (the message names the file and what to do).
    #[error("{0}")]
    Unavailable(String),
    /// No model slot came free before the deadline.
    #[error("the model is busy")]
    Busy,
    /// The deadline passed while the model was writing.
    #[error("the model did not finish within {0:?}")]
    Timeout(Duration),
    /// Running the model failed (details logged where it happened).
    #[error("the model failed")]
    Failed,
    /// The upstream server failed or answered nonsense.
    #[error("{0}")]
    Upstream(String),
    /// The upstream server did not finish before the deadline.
    #[error("the upstream server did not finish within {0:?}")]
    UpstreamTimeout(Duration),
}

impl From<InferenceError> for ApiError {
    fn from(error: InferenceError) -> Self {
        match error {
            InferenceError::Unavailable(message) => ApiError::ModelUnavailable { message },
            InferenceError::Busy => ApiError::ModelBusy,
            InferenceError::Timeout(deadline) => ApiError::ModelTimeout { seconds: deadline.as_secs_f64() },
            InferenceError::Failed => ApiError::ModelFailed,
            InferenceError::Upstream(message) => ApiError::Upstream { message },
            InferenceError::UpstreamTimeout(deadline) => ApiError::UpstreamTimeout { seconds: deadline.as_secs_f64() },
        }
    }
}

/// Where answers come from.
#[derive(Debug)]
pub enum Provider {
    /// The bundled model, run in this process.
    Local(LocalModel),
    /// An OpenAI-compatible server.
    OpenAi(Upstream),
}

/// The provider and the deadline every generation gets.
#[derive(Debug)]
pub struct Inference {
    /// Who answers.
    pub provider: Provider,
    /// Longest a generation may take, waiting for a model slot or the upstream server's answer
    /// included (loading the local model, once, is not).
    pub deadline: Duration,
    /// What the response cache keys answers by: see [`Inference::cache_identity`].
    cache_identity: String,
}

impl Inference {
    /// `provider`, giving each generation at most `deadline`.
    pub fn new(provider: Provider, deadline: Duration) -> Self {
        let cache_identity = match &provider {
            Provider::Local(model) => format!("local:{}@{}", crate::local::MODEL_NAME, model.fingerprint()),
            Provider::OpenAi(upstream) => format!("openai:{}@{}", upstream.model_name(), upstream.base_url()),
        };
        Self { provider, deadline, cache_identity }
    }

    /// Which model answers, as precisely as this server can tell, for the response cache's
    /// keys: the bundled model with a fingerprint of its files as they were when the server
    /// started (so a server restarted on other weights never answers from the old ones'
    /// cached answers, also in SQLite or Redis), or the upstream model's name and address.
    pub fn cache_identity(&self) -> &str {
        &self.cache_identity
    }

    /// Starts `job`; errors that come before any text (the model cannot be loaded, every slot
    /// stays busy) are returned here, so a handler can still answer with a status.
    pub async fn start(&self, job: Job) -> Result<Running, InferenceError> {
        match &self.provider {
            Provider::Local(model) => model.start(job, self.deadline).await,
            Provider::OpenAi(upstream) => upstream.start(job, self.deadline).await,
        }
    }

    /// Starts `job` and waits for its end.
    pub async fn run(&self, job: Job) -> Result<Output, InferenceError> {
        self.start(job).await?.finish().await
    }

    /// The name answers report for the model.
    pub fn model_name(&self) -> String {
        match &self.provider {
            Provider::Local(_) => crate::local::MODEL_NAME.to_owned(),
            Provider::OpenAi(upstream) => upstream.model_name().to_owned(),
        }
    }

    /// One line for the serve banner: which model answers, from where.
    pub fn describe(&self) -> String {
        let what = match &self.provider {
            Provider::Local(model) => model.describe(),
            Provider::OpenAi(upstream) => upstream.describe(),
        };
        format!("{what}; deadline {} s per request", self.deadline.as_secs_f64())
    }
}

/// How a generation is stopped early, shared between the request and the decoding loop.
#[derive(Debug, Default)]
pub struct Cancellation {
    cancelled: AtomicBool,
    /// 0 until cancelled, then 1 + the [`Cancel`] (the first reason wins).
    reason: AtomicU8,
}

impl Cancellation {
    /// Asks the generation to stop at its next token; the first reason is kept.
    pub fn cancel(&self, reason: Cancel) {
        let code = match reason {
            Cancel::Disconnect => 1,
            Cancel::Deadline => 2,
        };
        let _ = self.reason.compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.cancelled.store(true, Ordering::Release);
    }

    /// Whether the generation should stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Why it was cancelled, if it was.
    pub fn reason(&self) -> Option<Cancel> {
        match self.reason.load(Ordering::Acquire) {
            1 => Some(Cancel::Disconnect),
            2 => Some(Cancel::Deadline),
            _ => None,
        }
    }
}

/// What a generation reports, in order: text pieces, then one end.
#[derive(Debug)]
pub enum Progress {
    /// The next piece of the final text.
    Text(String),
    /// The end.
    Done(Result<Output, InferenceError>),
}

/// A generation in progress. Dropping it before its end cancels it (a client that went away).
#[derive(Debug)]
pub struct Running {
    progress: mpsc::UnboundedReceiver<Progress>,
    cancellation: Arc<Cancellation>,
    deadline: Instant,
    timeout: InferenceError,
    finished: bool,
    /// A task to abort on cancellation (a provider without a decoding loop to watch the flag),
    /// and where to count that.
    abort: Option<(tokio::task::AbortHandle, Arc<Metrics>)>,
}

impl Running {
    /// A generation whose worker reports on `progress` and watches `cancellation`; past
    /// `deadline` it is cancelled and ends with `timeout`.
    pub fn new(
        progress: mpsc::UnboundedReceiver<Progress>,
        cancellation: Arc<Cancellation>,
        deadline: Instant,
        timeout: InferenceError,
    ) -> Self {
        Self { progress, cancellation, deadline, timeout, finished: false, abort: None }
    }

    /// Also aborts `task` when cancelled before it finished, counting that in `metrics`.
    pub fn with_abort(mut self, task: tokio::task::AbortHandle, metrics: Arc<Metrics>) -> Self {
        self.abort = Some((task, metrics));
        self
    }

    fn cancel(&mut self, reason: Cancel) {
        self.cancellation.cancel(reason);
        if let Some((task, metrics)) = self.abort.take()
            && !task.is_finished()
        {
            task.abort();
            metrics.generation_cancelled(reason);
        }
    }

    /// The next piece of text, or the end. After the end it keeps returning
    /// [`InferenceError::Failed`]; callers stop at the first `Done`.
    pub async fn next(&mut self) -> Progress {
        if self.finished {
            return Progress::Done(Err(InferenceError::Failed));
        }
        let progress = tokio::select! {
            biased;
            progress = self.progress.recv() => match progress {
                Some(progress) => progress,
                // The worker ended without a result: it panicked.
                None => {
                    tracing::error!("a generation's worker stopped without a result");
                    Progress::Done(Err(InferenceError::Failed))
                }
            },
            () = tokio::time::sleep_until(self.deadline) => {
                self.cancel(Cancel::Deadline);
                Progress::Done(Err(self.timeout.clone()))
            }
        };
        if matches!(progress, Progress::Done(_)) {
            self.finished = true;
        }
        progress
    }

    /// Waits for the end, dropping the text pieces (the output holds the whole text).
    pub async fn finish(mut self) -> Result<Output, InferenceError> {
        loop {
            if let Progress::Done(result) = self.next().await {
                return result;
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.finished {
            self.cancel(Cancel::Disconnect);
        }
    }
}

/// Decides how much of the text written so far may be sent to a client as it streams, so that
/// what was sent is always a prefix of the final text: stop rules may still cut the tail.
/// Held back are the start of a stop string, and with `end_of_block` trailing whitespace and
/// any line indented out of the block (the block rule cuts such a line with the blank lines
/// before it); with syntax-aware trimming, everything until the end.
#[derive(Debug, Clone)]
pub struct Holdback {
    stop: StopRules,
    hold_all: bool,
    /// The part of the cursor's line before the cursor (the block rule measures from it).
    cursor_line: String,
    text: String,
    sent: usize,
}

impl Holdback {
    /// For a job's stop rules and the prompt's text before the cursor; `hold_all` when the
    /// final text is only known at the end.
    pub fn new(stop: &StopRules, prefix: &str, hold_all: bool) -> Self {
        let cursor_line = hapa_model::decode::cursor_line(prefix).to_owned();
        Self { stop: stop.clone(), hold_all, cursor_line, text: String::new(), sent: 0 }
    }

    /// Adds a decoded piece; returns the text that may now be sent, if any.
    pub fn push(&mut self, piece: &str) -> Option<String> {
        self.text.push_str(piece);
        let safe = self.safe_len();
        if safe <= self.sent {
            return None;
        }
        let released = self.text[self.sent..safe].to_owned();
        self.sent = safe;
        Some(released)
    }

    /// The rest of `final_text` after what was sent; `None` when nothing is left (or, which
    /// should not happen, when what was sent is not a prefix of it).
    pub fn finish(&mut self, final_text: &str) -> Option<String> {
        let sent = &self.text[..self.sent];
        if !final_text.starts_with(sent) {
            tracing::warn!(
                sent = sent.len(),
                final_len = final_text.len(),
                "streamed text is not a prefix of the final text"
            );
            return None;
        }
        let rest = &final_text[sent.len()..];
        self.text = final_text.to_owned();
        self.sent = final_text.len();
        (!rest.is_empty()).then(|| rest.to_owned())
    }

    fn safe_len(&self) -> usize {
        if self.hold_all {
            return 0;
        }
        let text = self.text.as_str();
        let mut safe = text.len();
        if self.stop.end_of_block {
            safe = self.block_safe_len();
        }
        for stop in &self.stop.stop_strings {
            // The longest tail of the text that a stop string starts with.
            let held = stop
                .char_indices()
                .skip(1)
                .map(|(at, _)| at)
                .filter(|&at| text.ends_with(&stop[..at]))
                .max()
                .unwrap_or(0);
            safe = safe.min(text.len() - held);
        }
        safe
    }

    /// The end of the last non-blank text that the block rule will keep: it cuts at the first
    /// later line indented less than the cursor's line (or no deeper, when the first line opens
    /// a block), and trims the whitespace before that line. A line's indentation is known at
    /// its first non-blank character, before the line is complete.
    fn block_safe_len(&self) -> usize {
        const TRIMMED: [char; 4] = ['\n', ' ', '\t', '\r'];
        let indent_of = |line: &str| line.len() - line.trim_start_matches([' ', '\t']).len();
        let cursor_indent = indent_of(&self.cursor_line);
        let first_line = self.text.split('\n').next().unwrap_or_default();
        let opens_block = format!("{}{first_line}", self.cursor_line).trim_end().ends_with(':');
        let mut safe = 0;
        let mut offset = 0;
        for (index, line) in self.text.split_inclusive('\n').enumerate() {
            let start = offset;
            offset += line.len();
            if line.trim().is_empty() {
                continue;
            }
            if index > 0 {
                let indent = indent_of(line);
                if indent < cursor_indent || (opens_block && indent <= cursor_indent) {
                    break;
                }
            }
            safe = start + line.trim_end_matches(TRIMMED).len();
        }
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(holdback: &mut Holdback, pieces: &[&str], final_text: &str) -> String {
        let mut sent = String::new();
        for piece in pieces {
            sent.extend(holdback.push(piece));
        }
        sent.extend(holdback.finish(final_text));
        sent
    }

    #[test]
    fn a_block_streams_whole_lines_and_never_what_the_block_rule_cuts() {
        let rules = StopRules::block(100);
        let mut holdback = Holdback::new(&rules, "# question\n", false);
        assert_eq!(holdback.push("def f():\n  "), Some("def f():".to_owned()));
        assert_eq!(holdback.push("  ret"), Some("\n    ret".to_owned()));
        assert_eq!(holdback.push("urn 1 \n"), Some("urn 1".to_owned()));
        // Blank lines, and a line out of the block, are held.
        assert_eq!(holdback.push("\n\nprint"), None);
        assert_eq!(holdback.push("(f())\n"), None);
        assert_eq!(holdback.finish("def f():\n    return 1"), None);

        let mut holdback = Holdback::new(&rules, "", false);
        let sent = stream(&mut holdback, &["x = 1\n", "y = 2", "\n\n"], "x = 1\ny = 2\n\n");
        assert_eq!(sent, "x = 1\ny = 2\n\n");

        // Inside a function body, a line back at the function's level ends the block.
        let mut holdback = Holdback::new(&rules, "def g():\n    ", false);
        assert_eq!(holdback.push("a = 1\n    b"), Some("a = 1\n    b".to_owned()));
        assert_eq!(holdback.push(" = 2\nc = 3"), Some(" = 2".to_owned()));
    }

    #[test]
    fn the_start_of_a_stop_string_is_held_back() {
        let rules = StopRules { stop_strings: vec!["\nclass".to_owned()], ..StopRules::block(100) };
        let rules = StopRules { end_of_block: false, ..rules };
        let mut holdback = Holdback::new(&rules, "", false);
        assert_eq!(holdback.push("a = 1\ncl"), Some("a = 1".to_owned()));
        assert_eq!(holdback.push("ose()"), Some("\nclose()".to_owned()));
        assert_eq!(stream(&mut Holdback::new(&rules, "", false), &["b\n", "cla"], "b"), "b");
    }

    #[test]
    fn syntax_aware_jobs_send_only_the_final_text() {
        let mut holdback = Holdback::new(&StopRules::line(10), "", true);
        assert_eq!(holdback.push("foo(1, "), None);
        assert_eq!(holdback.finish("foo(1"), Some("foo(1".to_owned()));
    }
}
