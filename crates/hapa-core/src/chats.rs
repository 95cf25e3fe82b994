//! The workspace's chats as the extension host keeps them: every conversation's questions,
//! notices and finished answers, replayable into a freshly loaded chat view, and the list of
//! past chats it shows.
//!
//! The host records what it says to the view ([`ChatArchive::record`]) and what the user asks
//! ([`ChatArchive::question`]); deltas are not kept, only an answer's start and end. Bounded:
//! at most [`MAX_CHATS`] chats of [`MAX_ENTRIES`] entries each, oldest dropped first. Stored as
//! JSON by the host (VS Code's workspace state); anything unreadable there starts an empty
//! archive rather than failing, and the single-chat list of earlier versions is taken in as
//! one chat.

use hapa_protocol::webview::{ChatSummary, ToWebview};
use serde::{Deserialize, Serialize};

/// Chats kept per workspace.
pub const MAX_CHATS: usize = 30;
/// Entries kept per chat.
pub const MAX_ENTRIES: usize = 200;
/// Characters of the first question shown as a chat's title.
pub const TITLE_CHARS: usize = 60;

/// One thing said in a chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChatEntry {
    /// The user asked.
    Question {
        /// As typed.
        question: String,
    },
    /// HAPA told the user something.
    Notice {
        /// Plain text.
        notice: String,
    },
    /// An answer: how it started and how it ended (done or failed).
    Answer {
        /// The [`ToWebview::AnswerStarted`] message.
        started: ToWebview,
        /// The [`ToWebview::AnswerDone`] or [`ToWebview::AnswerFailed`] message.
        end: ToWebview,
    },
}

/// One conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chat {
    /// Unique in the archive.
    pub id: String,
    /// When it last changed, in milliseconds since the Unix epoch.
    pub updated_ms: f64,
    /// Oldest first.
    pub entries: Vec<ChatEntry>,
}

impl Chat {
    fn title(&self) -> String {
        let first = self.entries.iter().find_map(|entry| match entry {
            ChatEntry::Question { question } => Some(question.as_str()),
            _ => None,
        });
        let line = first.and_then(|q| q.lines().map(str::trim).find(|l| !l.is_empty())).unwrap_or("(no question)");
        if line.chars().count() > TITLE_CHARS {
            let mut title: String = line.chars().take(TITLE_CHARS - 1).collect();
            title.push('…');
            title
        } else {
            line.to_owned()
        }
    }

    fn summary(&self) -> ChatSummary {
        let questions = self.entries.iter().filter(|e| matches!(e, ChatEntry::Question { .. })).count();
        ChatSummary {
            id: self.id.clone(),
            title: self.title(),
            questions: u32::try_from(questions).unwrap_or(u32::MAX),
            updated_ms: self.updated_ms,
        }
    }

    /// The messages that show this chat in a fresh view.
    fn replay(&self) -> Vec<ToWebview> {
        let mut messages = Vec::with_capacity(self.entries.len() + 1);
        for entry in &self.entries {
            match entry {
                ChatEntry::Question { question } => messages.push(ToWebview::Question { text: question.clone() }),
                ChatEntry::Notice { notice } => messages.push(ToWebview::Notice { text: notice.clone() }),
                ChatEntry::Answer { started, end } => {
                    messages.push(started.clone());
                    messages.push(end.clone());
                }
            }
        }
        messages
    }
}

/// Every chat of a workspace and which one is being shown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatArchive {
    /// Oldest first.
    chats: Vec<Chat>,
    /// The chat new entries go to; `None` after New Chat, until something is said.
    current: Option<String>,
    /// Makes ids unique even within one millisecond.
    next_id: u64,
    /// Answers started and not ended yet, as `(chat id, started message)`.
    #[serde(skip)]
    unfinished: Vec<(String, ToWebview)>,
}

/// What the archive was stored as by an earlier version: one chat's entries.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Archive(ChatArchive),
    SingleChat(Vec<ChatEntry>),
}

impl ChatArchive {
    /// The archive stored as `json`, or an empty one when there is none or it cannot be read.
    pub fn from_json(json: Option<&str>, now_ms: f64) -> Self {
        match json.map(serde_json::from_str::<Stored>) {
            Some(Ok(Stored::Archive(archive))) => archive.bounded(),
            Some(Ok(Stored::SingleChat(entries))) if !entries.is_empty() => {
                let mut archive = Self::default();
                let id = archive.new_id(now_ms);
                archive.chats.push(Chat { id: id.clone(), updated_ms: now_ms, entries });
                archive.current = Some(id);
                archive.bounded()
            }
            _ => Self::default(),
        }
    }

    /// This archive as JSON, for the host to store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The user asked `text` in the current chat (a new one after New Chat).
    pub fn question(&mut self, text: &str, now_ms: f64) {
        self.add(ChatEntry::Question { question: text.to_owned() }, now_ms);
    }

    /// The host told the view `message`: notices are kept, answers once they end (with how
    /// they started). Returns whether the archive changed (and should be stored again).
    pub fn record(&mut self, message: &ToWebview, now_ms: f64) -> bool {
        match message {
            ToWebview::Notice { text } => {
                self.add(ChatEntry::Notice { notice: text.clone() }, now_ms);
                true
            }
            ToWebview::AnswerStarted { .. } => {
                let chat = self.current_or_new(now_ms);
                self.unfinished.push((chat, message.clone()));
                false
            }
            ToWebview::AnswerDone { answer, .. } | ToWebview::AnswerFailed { answer, .. } => {
                let Some(index) = self.unfinished.iter().position(|(_, started)| answer_id(started) == Some(*answer))
                else {
                    return false;
                };
                let (chat, started) = self.unfinished.remove(index);
                // The answer stays with the chat it was asked in, even after New Chat.
                match self.chats.iter_mut().find(|c| c.id == chat) {
                    Some(chat) => {
                        chat.entries.push(ChatEntry::Answer { started, end: message.clone() });
                        chat.updated_ms = now_ms;
                        trim(&mut chat.entries);
                        true
                    }
                    None => false,
                }
            }
            _ => false,
        }
    }

    /// New Chat: later entries start another chat; the current one stays in the list.
    pub fn new_chat(&mut self) {
        self.current = None;
    }

    /// Makes chat `id` the current one and returns the messages that show it (after a
    /// [`ToWebview::Reset`]); `None` when there is no such chat.
    pub fn open(&mut self, id: &str) -> Option<Vec<ToWebview>> {
        let chat = self.chats.iter().find(|c| c.id == id)?;
        let messages = chat.replay();
        self.current = Some(id.to_owned());
        Some(messages)
    }

    /// Forgets chat `id`. Returns whether it was the current chat (the view should be reset).
    pub fn delete(&mut self, id: &str) -> bool {
        self.chats.retain(|c| c.id != id);
        self.unfinished.retain(|(chat, _)| chat != id);
        if self.current.as_deref() == Some(id) {
            self.current = None;
            true
        } else {
            false
        }
    }

    /// The messages that show the current chat in a fresh view (none after New Chat).
    pub fn replay(&self) -> Vec<ToWebview> {
        self.current_chat().map(Chat::replay).unwrap_or_default()
    }

    /// The highest answer id any stored chat uses: new answers must not reuse one (the view
    /// ignores an answer id it already shows).
    pub fn last_answer_id(&self) -> u32 {
        let ids = self.chats.iter().flat_map(|c| &c.entries).filter_map(|entry| match entry {
            ChatEntry::Answer { started, .. } => answer_id(started),
            _ => None,
        });
        ids.max().unwrap_or(0)
    }

    /// The [`ToWebview::Chats`] message for the chat list.
    pub fn list(&self) -> ToWebview {
        ToWebview::Chats {
            chats: self.chats.iter().rev().map(Chat::summary).collect(),
            current: self.current_chat().map(|c| c.id.clone()),
        }
    }

    fn current_chat(&self) -> Option<&Chat> {
        let current = self.current.as_deref()?;
        self.chats.iter().find(|c| c.id == current)
    }

    fn add(&mut self, entry: ChatEntry, now_ms: f64) {
        let id = self.current_or_new(now_ms);
        if let Some(chat) = self.chats.iter_mut().find(|c| c.id == id) {
            chat.entries.push(entry);
            chat.updated_ms = now_ms;
            trim(&mut chat.entries);
        }
    }

    /// The current chat's id, starting a chat when there is none.
    fn current_or_new(&mut self, now_ms: f64) -> String {
        if let Some(chat) = self.current_chat() {
            return chat.id.clone();
        }
        let id = self.new_id(now_ms);
        self.chats.push(Chat { id: id.clone(), updated_ms: now_ms, entries: Vec::new() });
        self.current = Some(id.clone());
        if self.chats.len() > MAX_CHATS {
            let excess = self.chats.len() - MAX_CHATS;
            let dropped: Vec<String> = self.chats.drain(..excess).map(|c| c.id).collect();
            self.unfinished.retain(|(chat, _)| !dropped.contains(chat));
        }
        id
    }

    fn new_id(&mut self, now_ms: f64) -> String {
        self.next_id += 1;
        // Saturating cast: a bogus clock still gives a unique id through the counter.
        format!("{:x}-{}", now_ms.max(0.0) as u64, self.next_id)
    }

    fn bounded(mut self) -> Self {
        if self.chats.len() > MAX_CHATS {
            self.chats.drain(..self.chats.len() - MAX_CHATS);
        }
        for chat in &mut self.chats {
            trim(&mut chat.entries);
        }
        self.chats.retain(|c| !c.entries.is_empty());
        if self.current_chat().is_none() {
            self.current = None;
        }
        self
    }
}

fn answer_id(message: &ToWebview) -> Option<u32> {
    match message {
        ToWebview::AnswerStarted { answer, .. } => Some(*answer),
        _ => None,
    }
}

fn trim(entries: &mut Vec<ChatEntry>) {
    if entries.len() > MAX_ENTRIES {
        entries.drain(..entries.len() - MAX_ENTRIES);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(answer: u32) -> ToWebview {
        ToWebview::AnswerStarted { answer, context: None }
    }

    fn done(answer: u32, code: &str) -> ToWebview {
        ToWebview::AnswerDone {
            answer,
            code: code.to_owned(),
            explanation: None,
            request_id: Some(format!("req-{answer}")),
            backend: "hapa-server".to_owned(),
            elapsed_ms: 12.0,
            parses: true,
            stopped: false,
        }
    }

    fn titles(archive: &ChatArchive) -> Vec<String> {
        match archive.list() {
            ToWebview::Chats { chats, .. } => chats.into_iter().map(|c| c.title).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_chat_replays_its_questions_and_finished_answers_in_order() {
        let mut archive = ChatArchive::default();
        archive.question("sum of a list", 1.0);
        assert!(!archive.record(&started(1), 2.0));
        assert!(!archive.record(&ToWebview::AnswerDelta { answer: 1, text: "def".into() }, 2.5));
        assert!(archive.record(&done(1, "def total(xs):\n    return sum(xs)\n"), 3.0));
        archive.record(&ToWebview::Notice { text: "HAPA is still answering".into() }, 4.0);
        assert_eq!(
            archive.replay(),
            vec![
                ToWebview::Question { text: "sum of a list".into() },
                started(1),
                done(1, "def total(xs):\n    return sum(xs)\n"),
                ToWebview::Notice { text: "HAPA is still answering".into() },
            ]
        );
        assert_eq!(archive.last_answer_id(), 1);
    }

    #[test]
    fn new_chat_keeps_the_old_one_in_the_list_and_open_switches_back() {
        let mut archive = ChatArchive::default();
        archive.question("first question", 1.0);
        archive.new_chat();
        assert!(archive.replay().is_empty());
        // An empty new chat is in no list yet.
        assert_eq!(titles(&archive), ["first question"]);
        archive.question("second question", 2.0);
        assert_eq!(titles(&archive), ["second question", "first question"]);
        let ToWebview::Chats { chats, current } = archive.list() else { unreachable!() };
        assert_eq!(current.as_deref(), Some(chats[0].id.as_str()));
        let first = chats[1].id.clone();
        assert_eq!(archive.open(&first), Some(vec![ToWebview::Question { text: "first question".into() }]));
        archive.question("follow-up", 3.0);
        assert_eq!(archive.replay().len(), 2);
        assert_eq!(archive.open("no-such-chat"), None);
    }

    #[test]
    fn an_answer_stays_with_the_chat_it_was_asked_in() {
        let mut archive = ChatArchive::default();
        archive.question("slow one", 1.0);
        archive.record(&started(7), 1.0);
        archive.new_chat();
        archive.record(&done(7, "x = 1\n"), 2.0);
        assert!(archive.replay().is_empty());
        let ToWebview::Chats { chats, .. } = archive.list() else { unreachable!() };
        assert_eq!(archive.open(&chats[0].id).map(|m| m.len()), Some(3));
    }

    #[test]
    fn deleting_the_current_chat_empties_the_view() {
        let mut archive = ChatArchive::default();
        archive.question("keep me", 1.0);
        archive.new_chat();
        archive.question("delete me", 2.0);
        let ToWebview::Chats { chats, .. } = archive.list() else { unreachable!() };
        assert!(archive.delete(&chats[0].id));
        assert!(archive.replay().is_empty());
        assert_eq!(titles(&archive), ["keep me"]);
        assert!(!archive.delete(&chats[1].id));
        assert!(titles(&archive).is_empty());
    }

    #[test]
    fn titles_are_the_first_question_line_shortened() {
        let mut archive = ChatArchive::default();
        archive.record(&ToWebview::Notice { text: "no key".into() }, 1.0);
        assert_eq!(titles(&archive), ["(no question)"]);
        archive.question(&format!("\n  {}  \nsecond line", "w".repeat(100)), 2.0);
        let title = &titles(&archive)[0];
        assert_eq!(title.chars().count(), TITLE_CHARS);
        assert!(title.ends_with('…') && title.starts_with("www"), "{title}");
    }

    #[test]
    fn it_is_bounded_oldest_first() {
        let mut archive = ChatArchive::default();
        for n in 0..MAX_CHATS + 5 {
            archive.new_chat();
            archive.question(&format!("q{n}"), n as f64);
        }
        let titles = titles(&archive);
        assert_eq!(titles.len(), MAX_CHATS);
        assert_eq!(titles.last().map(String::as_str), Some("q5"));
        for n in 0..MAX_ENTRIES + 10 {
            archive.question(&format!("more {n}"), 100.0);
        }
        assert_eq!(archive.replay().len(), MAX_ENTRIES);
    }

    #[test]
    fn it_round_trips_through_json_and_survives_garbage() {
        let mut archive = ChatArchive::default();
        archive.question("a", 1.0);
        archive.record(&started(3), 1.0);
        archive.record(&done(3, "y = 2\n"), 2.0);
        let restored = ChatArchive::from_json(Some(&archive.to_json()), 9.0);
        assert_eq!(restored.replay(), archive.replay());
        assert_eq!(restored.list(), archive.list());
        for garbage in [None, Some(""), Some("{"), Some("42"), Some(r#"{"chats":"no"}"#), Some("[]")] {
            assert_eq!(ChatArchive::from_json(garbage, 1.0), ChatArchive::default(), "{garbage:?}");
        }
    }

    #[test]
    fn the_single_chat_of_earlier_versions_becomes_one_chat() {
        let legacy = r#"[{"question":"old question"},{"notice":"old notice"},
            {"started":{"type":"answerStarted","answer":4,"context":null},
             "end":{"type":"answerFailed","answer":4,"message":"server down"}}]"#;
        let archive = ChatArchive::from_json(Some(legacy), 5.0);
        assert_eq!(titles(&archive), ["old question"]);
        assert_eq!(archive.replay().len(), 4);
        assert_eq!(archive.last_answer_id(), 4);
    }
}
