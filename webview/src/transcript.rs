//! The conversation shown in the chat, free of the DOM: the user's questions, the host's
//! notices and HAPA's answers, each answer following its lifecycle as the host's messages
//! arrive (started → code streamed in → done, stopped or failed).

use hapa_protocol::webview::{Rating, ToWebview};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    /// The person using the extension.
    User,
    /// HAPA: the extension host or the model.
    Hapa,
}

impl Author {
    /// Value of the message's `data-author` attribute, for styling and tests.
    pub fn as_str(self) -> &'static str {
        match self {
            Author::User => "user",
            Author::Hapa => "hapa",
        }
    }

    /// The name shown above the message.
    pub fn label(self) -> &'static str {
        match self {
            Author::User => "You",
            Author::Hapa => "HAPA",
        }
    }
}

/// Where an answer is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerState {
    /// Code is still arriving.
    Streaming,
    /// Complete.
    Done,
    /// Ended early because the user pressed Stop; what arrived is kept.
    Stopped,
    /// The host gave up on it; [`Answer::error`] says why.
    Failed,
}

impl AnswerState {
    /// Value of the answer's `data-state` attribute, for styling and tests.
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerState::Streaming => "streaming",
            AnswerState::Done => "done",
            AnswerState::Stopped => "stopped",
            AnswerState::Failed => "failed",
        }
    }
}

/// What the host reports about a finished (done or stopped) answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    /// Words about the code, when the model gave any.
    pub explanation: Option<String>,
    /// The server's request id, needed to rate the answer; `None` for the local model.
    pub request_id: Option<String>,
    /// Who answered.
    pub backend: String,
    /// How long it took.
    pub elapsed_ms: f64,
    /// Whether the code parses as a Python module on its own.
    pub parses: bool,
}

impl Finish {
    /// The line under a finished answer: "{backend} · {elapsed, rounded} ms".
    pub fn meta(&self) -> String {
        // Saturating: a negative or NaN duration (a host bug) shows as 0 rather than panicking.
        let ms = self.elapsed_ms.round().max(0.0) as u64;
        format!("{} · {ms} ms", self.backend)
    }
}

/// One of HAPA's answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The host's id for it.
    pub id: u32,
    /// What was sent as context, in words; `None` when nothing was.
    pub context: Option<String>,
    /// The code so far; once finished, exactly the host's final code.
    pub code: String,
    /// Where it is in its lifecycle.
    pub state: AnswerState,
    /// Set once it is done or stopped.
    pub finish: Option<Finish>,
    /// Set once it failed: what to tell the user.
    pub error: Option<String>,
    /// The user's 👍 / 👎, once given (an answer is rated at most once).
    pub rating: Option<Rating>,
}

/// What a message holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Plain text: a question or a notice.
    Text(String),
    /// An answer.
    Answer(Answer),
}

/// One message in the transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Unique within its transcript, even across [`Transcript::clear`]; the list is keyed by
    /// it, so a change re-renders one item instead of all of them.
    pub id: u64,
    /// Who wrote it.
    pub author: Author,
    /// What it says.
    pub body: Body,
}

/// The messages of one chat, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    messages: Vec<Message>,
    next_id: u64,
}

impl Transcript {
    /// Appends a text message and returns its id.
    pub fn push(&mut self, author: Author, text: impl Into<String>) -> u64 {
        self.push_body(author, Body::Text(text.into()))
    }

    fn push_body(&mut self, author: Author, body: Body) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.messages.push(Message { id, author, body });
        id
    }

    /// Applies a message from the host. Returns whether anything changed: messages about
    /// answers this transcript does not hold (e.g. from before New Chat), a second start of
    /// the same answer, and news of an answer that already ended are all ignored.
    pub fn apply(&mut self, message: ToWebview) -> bool {
        match message {
            ToWebview::Notice { text } => {
                self.push(Author::Hapa, text);
                true
            }
            ToWebview::Question { text } => {
                self.push(Author::User, text);
                true
            }
            ToWebview::AnswerStarted { answer, context } => {
                if self.answer(answer).is_some() {
                    return false;
                }
                let body = Body::Answer(Answer {
                    id: answer,
                    context,
                    code: String::new(),
                    state: AnswerState::Streaming,
                    finish: None,
                    error: None,
                    rating: None,
                });
                self.push_body(Author::Hapa, body);
                true
            }
            ToWebview::AnswerDelta { answer, text } => self.streaming(answer).map(|a| a.code.push_str(&text)).is_some(),
            ToWebview::AnswerDone { answer, code, explanation, request_id, backend, elapsed_ms, parses, stopped } => {
                self.streaming(answer)
                    .map(|a| {
                        a.code = code;
                        a.state = if stopped { AnswerState::Stopped } else { AnswerState::Done };
                        a.finish = Some(Finish { explanation, request_id, backend, elapsed_ms, parses });
                    })
                    .is_some()
            }
            ToWebview::AnswerFailed { answer, message } => self
                .streaming(answer)
                .map(|a| {
                    a.state = AnswerState::Failed;
                    a.error = Some(message);
                })
                .is_some(),
            ToWebview::Reset => {
                let changed = !self.messages.is_empty();
                self.clear();
                changed
            }
            // The chat list and the context preview are not part of the conversation (the app
            // keeps them).
            ToWebview::Chats { .. } | ToWebview::ContextPreview { .. } => false,
        }
    }

    /// Records the user's rating of a finished answer and returns the server's request id to
    /// send it with; `None` (nothing recorded) when the answer cannot be rated or already was.
    pub fn rate(&mut self, answer: u32, rating: Rating) -> Option<String> {
        let answer = self.answer_mut(answer).filter(|a| a.rating.is_none())?;
        let request_id = answer.finish.as_ref()?.request_id.clone()?;
        answer.rating = Some(rating);
        Some(request_id)
    }

    /// Forgets every message (New Chat). Ids are not reused, so nothing stale can match.
    pub fn clear(&mut self) {
        self.messages.clear();
    }

    /// The messages, oldest first.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The answer with the host's id `answer`, if this transcript holds it.
    pub fn answer(&self, answer: u32) -> Option<&Answer> {
        self.messages.iter().find_map(|m| match &m.body {
            Body::Answer(a) if a.id == answer => Some(a),
            _ => None,
        })
    }

    fn answer_mut(&mut self, answer: u32) -> Option<&mut Answer> {
        // Newest first: the answer being streamed is almost always the last message.
        self.messages.iter_mut().rev().find_map(|m| match &mut m.body {
            Body::Answer(a) if a.id == answer => Some(a),
            _ => None,
        })
    }

    fn streaming(&mut self, answer: u32) -> Option<&mut Answer> {
        self.answer_mut(answer).filter(|a| a.state == AnswerState::Streaming)
    }

    /// Whether an answer is still being written (the Stop button shows, Send waits).
    pub fn is_streaming(&self) -> bool {
        self.messages.iter().any(|m| matches!(&m.body, Body::Answer(a) if a.state == AnswerState::Streaming))
    }

    /// Whether nothing has been said yet.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Step::User;

    /// What a test does to the transcript.
    enum Step {
        User(&'static str),
        Host(ToWebview),
        Rate(u32, Rating),
        Clear,
    }

    fn started(answer: u32, context: Option<&str>) -> Step {
        Step::Host(ToWebview::AnswerStarted { answer, context: context.map(Into::into) })
    }

    fn delta(answer: u32, text: &str) -> Step {
        Step::Host(ToWebview::AnswerDelta { answer, text: text.into() })
    }

    fn done(answer: u32, code: &str, request_id: Option<&str>, stopped: bool) -> Step {
        Step::Host(ToWebview::AnswerDone {
            answer,
            code: code.into(),
            explanation: Some("Adds.".into()),
            request_id: request_id.map(Into::into),
            backend: "local".into(),
            elapsed_ms: 12.5,
            parses: true,
            stopped,
        })
    }

    fn failed(answer: u32, message: &str) -> Step {
        Step::Host(ToWebview::AnswerFailed { answer, message: message.into() })
    }

    /// Runs `steps` on a fresh transcript and compares a one-line-per-message summary (then
    /// `streaming` when an answer is still being written, then what each rating sent) with
    /// `expected`.
    fn check(steps: Vec<Step>, expected: &str) {
        let mut transcript = Transcript::default();
        let mut rated = Vec::new();
        for step in steps {
            match step {
                Step::User(text) => {
                    transcript.push(Author::User, text);
                }
                Step::Host(message) => {
                    transcript.apply(message);
                }
                Step::Rate(answer, rating) => {
                    let sent = transcript.rate(answer, rating);
                    rated.push(format!("rate {answer} {rating:?} sends {sent:?}"));
                }
                Step::Clear => transcript.clear(),
            }
        }
        let mut lines: Vec<String> = transcript
            .messages()
            .iter()
            .map(|m| match &m.body {
                Body::Text(text) => format!("{}: {text}", m.author.as_str()),
                Body::Answer(a) => {
                    let mut line = format!("answer {} {} {:?}", a.id, a.state.as_str(), a.code);
                    if let Some(context) = &a.context {
                        line += &format!(" context={context:?}");
                    }
                    if let Some(finish) = &a.finish {
                        line += &format!(" meta={:?} request={:?}", finish.meta(), finish.request_id);
                    }
                    if let Some(error) = &a.error {
                        line += &format!(" error={error:?}");
                    }
                    if let Some(rating) = a.rating {
                        line += &format!(" rated={rating:?}");
                    }
                    line
                }
            })
            .collect();
        if transcript.is_streaming() {
            lines.push("streaming".into());
        }
        lines.extend(rated);
        assert_eq!(lines.join("\n"), expected.trim());
    }

    #[test]
    fn questions_and_notices_keep_their_order() {
        check(
            vec![
                User("write fizzbuzz"),
                Step::Host(ToWebview::Notice { text: "<b>open a file</b>".into() }),
                User("again"),
            ],
            "user: write fizzbuzz\nhapa: <b>open a file</b>\nuser: again",
        );
    }

    #[test]
    fn a_restored_chat_reads_as_it_was_asked() {
        check(
            vec![
                Step::Host(ToWebview::Question { text: "sum a list".into() }),
                started(4, Some("app.py up to line 3")),
                done(4, "sum(xs)", Some("r4"), false),
                Step::Host(ToWebview::Question { text: "again".into() }),
                started(5, None),
                failed(5, "server down"),
            ],
            r#"
user: sum a list
answer 4 done "sum(xs)" context="app.py up to line 3" meta="local · 13 ms" request=Some("r4")
user: again
answer 5 failed "" error="server down"
"#,
        );
    }

    #[test]
    fn answer_streams_then_done_replaces_the_code() {
        check(
            vec![
                User("add"),
                started(1, Some("selection of a.py, lines 1-2")),
                delta(1, "def add(a, b):\n"),
                delta(1, "    return a + b\n\n"),
            ],
            r#"
user: add
answer 1 streaming "def add(a, b):\n    return a + b\n\n" context="selection of a.py, lines 1-2"
streaming
"#,
        );
        check(
            vec![
                started(1, None),
                delta(1, "def add(a, b):\n"),
                done(1, "def add(a, b):\n    return a + b", Some("r1"), false),
            ],
            r#"answer 1 done "def add(a, b):\n    return a + b" meta="local · 13 ms" request=Some("r1")"#,
        );
    }

    #[test]
    fn stopped_and_failed_answers_end_streaming() {
        check(
            vec![started(1, None), delta(1, "x ="), done(1, "x =", None, true)],
            r#"answer 1 stopped "x =" meta="local · 13 ms" request=None"#,
        );
        check(
            vec![started(2, None), delta(2, "x"), failed(2, "server at 127.0.0.1:8000 did not answer")],
            r#"answer 2 failed "x" error="server at 127.0.0.1:8000 did not answer""#,
        );
    }

    #[test]
    fn messages_for_unknown_or_ended_answers_are_ignored() {
        check(
            vec![
                delta(7, "lost"),
                done(7, "lost", None, false),
                failed(7, "lost"),
                started(1, None),
                started(1, Some("again")),
                delta(1, "a"),
                done(1, "a", None, false),
                delta(1, "late"),
                failed(1, "late"),
                done(1, "late", None, false),
            ],
            r#"answer 1 done "a" meta="local · 13 ms" request=None"#,
        );
    }

    #[test]
    fn answers_are_rated_once_and_only_with_a_request_id() {
        check(
            vec![
                started(1, None),
                Step::Rate(1, Rating::Up),
                done(1, "a", Some("r1"), false),
                Step::Rate(1, Rating::Down),
                Step::Rate(1, Rating::Up),
                started(2, None),
                done(2, "b", None, false),
                Step::Rate(2, Rating::Up),
            ],
            r#"
answer 1 done "a" meta="local · 13 ms" request=Some("r1") rated=Down
answer 2 done "b" meta="local · 13 ms" request=None
rate 1 Up sends None
rate 1 Down sends Some("r1")
rate 1 Up sends None
rate 2 Up sends None
"#,
        );
    }

    #[test]
    fn new_chat_forgets_everything_including_the_streaming_answer() {
        check(
            vec![User("q"), started(1, None), delta(1, "x"), Step::Clear, delta(1, "y"), done(1, "xy", None, false)],
            "",
        );
        let mut transcript = Transcript::default();
        let before = transcript.push(Author::User, "q");
        transcript.clear();
        assert!(transcript.is_empty());
        assert!(transcript.push(Author::User, "q") != before, "ids are not reused after New Chat");
    }

    #[test]
    fn reset_makes_room_for_another_chat_and_the_chat_list_is_not_a_message() {
        check(
            vec![
                User("in chat A"),
                started(1, None),
                done(1, "a = 1", None, false),
                Step::Host(ToWebview::Chats { chats: Vec::new(), current: None }),
                Step::Host(ToWebview::Reset),
                Step::Host(ToWebview::Question { text: "in chat B".into() }),
                started(2, None),
                done(2, "b = 2", Some("r2"), false),
            ],
            r#"
user: in chat B
answer 2 done "b = 2" meta="local · 13 ms" request=Some("r2")
"#,
        );
        let mut transcript = Transcript::default();
        assert!(!transcript.apply(ToWebview::Reset), "an empty chat does not change");
        assert!(!transcript.apply(ToWebview::Chats { chats: Vec::new(), current: None }));
    }

    #[test]
    fn meta_rounds_the_elapsed_time() {
        let finish = |elapsed_ms| {
            Finish { explanation: None, request_id: None, backend: "hapa-server".into(), elapsed_ms, parses: true }
                .meta()
        };
        assert_eq!(finish(1234.4), "hapa-server · 1234 ms");
        assert_eq!(finish(0.5), "hapa-server · 1 ms");
        assert_eq!(finish(f64::NAN), "hapa-server · 0 ms");
    }
}
