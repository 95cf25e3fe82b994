//! Messages between the extension host and the chat webview (`postMessage` both ways).
//!
//! Tagged by `type` so the TypeScript side can switch on it; every message the webview
//! sends is validated by the host like any untrusted input. Version:
//! [`crate::WEBVIEW_PROTOCOL_VERSION`].

use serde::{Deserialize, Serialize};

/// A message the webview sends to the extension host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum FromWebview {
    /// The app has mounted and can receive messages; carries its protocol version.
    Ready {
        /// The webview's [`crate::WEBVIEW_PROTOCOL_VERSION`].
        protocol: u32,
    },
    /// The user asked a question in the chat input.
    Ask {
        /// The question, as typed.
        text: String,
        /// Send the editor's selection (or, without one, the file up to the cursor) as context.
        with_context: bool,
    },
    /// The Stop button: end the answer being written.
    Stop,
    /// The New Chat button: forget the conversation.
    NewChat,
    /// A code block's Insert at Cursor / Replace Selection button.
    InsertCode {
        /// The code block's text.
        code: String,
        /// Where it goes.
        target: CodeTarget,
    },
    /// A code block's Copy button.
    CopyCode {
        /// The code block's text.
        code: String,
    },
    /// 👍 / 👎 on an answer.
    Rate {
        /// The answer's `request_id` from the server.
        request_id: String,
        /// Which thumb.
        rating: Rating,
    },
    /// A link in an answer was clicked. The host opens it only after checking its scheme
    /// (`hapa_core::links`); the webview itself never navigates.
    OpenLink {
        /// The link's target, as the answer wrote it.
        url: String,
    },
    /// A past chat was picked from the chat list: show it and continue it.
    OpenChat {
        /// The chat's [`ChatSummary::id`].
        id: String,
    },
    /// A past chat's delete button.
    DeleteChat {
        /// The chat's [`ChatSummary::id`].
        id: String,
    },
}

/// Where inserted code goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CodeTarget {
    /// At the cursor of the active Python editor.
    Cursor,
    /// In place of its selection.
    Selection,
}

/// 👍 or 👎.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Rating {
    /// 👍
    Up,
    /// 👎
    Down,
}

/// A message the host sends to the webview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum ToWebview {
    /// Something the user should read in the chat (plain text, never HTML).
    Notice {
        /// Plain text.
        text: String,
    },
    /// A question the user asked earlier: the host restores the workspace's chat with these and
    /// the answers' started / done / failed messages when the view (re)loads.
    Question {
        /// The question, as typed.
        text: String,
    },
    /// An answer begins; the webview shows an empty answer and a Stop button.
    AnswerStarted {
        /// The host's id for this answer, unique in the session.
        answer: u32,
        /// What the answer is about: the context sent with the question, in words (e.g.
        /// "selection of app.py, lines 3-9"), or `None` when none was sent.
        context: Option<String>,
    },
    /// The next piece of an answer's code.
    AnswerDelta {
        /// Which answer.
        answer: u32,
        /// Text to append.
        text: String,
    },
    /// An answer is complete.
    AnswerDone {
        /// Which answer.
        answer: u32,
        /// The whole code (the deltas' sum, possibly trimmed by the server).
        code: String,
        /// Words about the code, when the model gave any.
        explanation: Option<String>,
        /// The server's request id, for 👍 / 👎; `None` when the local model answered.
        request_id: Option<String>,
        /// Who answered, e.g. "hapa-server (hapa-code)".
        backend: String,
        /// How long the answer took, in milliseconds.
        elapsed_ms: f64,
        /// Whether the code parses as a Python module on its own.
        parses: bool,
        /// Whether the user stopped it before the end.
        stopped: bool,
    },
    /// An answer failed; `message` says what to do.
    AnswerFailed {
        /// Which answer.
        answer: u32,
        /// For people.
        message: String,
    },
    /// What a question would be sent with now, shown beside the context switch; sent when the
    /// view loads and whenever the editor's selection, the active editor or the pinned
    /// selection changes.
    ContextPreview {
        /// The context in words ("selection of app.py, lines 3-9", "app.py up to line 12"), or
        /// `None` when no Python editor is active (nothing would be sent).
        description: Option<String>,
        /// Whether it was pinned by "Add Selection to Chat" (sent even with the switch off).
        pinned: bool,
    },
    /// Forget the messages shown: the host is about to replay another chat (or none).
    Reset,
    /// The workspace's chats, for the chat list; sent when the view loads and whenever the
    /// list changes.
    Chats {
        /// Newest first.
        chats: Vec<ChatSummary>,
        /// The chat being shown, once it has a question (a new, empty chat is in no list).
        current: Option<String>,
    },
}

/// One chat in the chat list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChatSummary {
    /// The host's id for the chat.
    pub id: String,
    /// Its first question, shortened.
    pub title: String,
    /// How many questions it holds.
    pub questions: u32,
    /// When it last changed, in milliseconds since the Unix epoch.
    pub updated_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_by_type() {
        let ask: FromWebview = serde_json::from_str(r#"{"type":"ask","text":"hi","withContext":true}"#).unwrap();
        assert_eq!(ask, FromWebview::Ask { text: "hi".into(), with_context: true });
        assert!(serde_json::from_str::<FromWebview>(r#"{"type":"eval","code":"x"}"#).is_err());
        let insert: FromWebview =
            serde_json::from_str(r#"{"type":"insertCode","code":"x = 1","target":"selection"}"#).unwrap();
        assert_eq!(insert, FromWebview::InsertCode { code: "x = 1".into(), target: CodeTarget::Selection });
        let rate: FromWebview = serde_json::from_str(r#"{"type":"rate","requestId":"r1","rating":"down"}"#).unwrap();
        assert_eq!(rate, FromWebview::Rate { request_id: "r1".into(), rating: Rating::Down });
        assert!(serde_json::from_str::<FromWebview>(r#"{"type":"rate","requestId":"r1","rating":"meh"}"#).is_err());
        let notice = serde_json::to_string(&ToWebview::Notice { text: "<b>".into() }).unwrap();
        assert_eq!(notice, r#"{"type":"notice","text":"<b>"}"#);
        let delta = serde_json::to_string(&ToWebview::AnswerDelta { answer: 3, text: "x".into() }).unwrap();
        assert_eq!(delta, r#"{"type":"answerDelta","answer":3,"text":"x"}"#);
        let open: FromWebview = serde_json::from_str(r#"{"type":"openLink","url":"https://x.org"}"#).unwrap();
        assert_eq!(open, FromWebview::OpenLink { url: "https://x.org".into() });
        let chats = ToWebview::Chats {
            chats: vec![ChatSummary { id: "c1".into(), title: "sum".into(), questions: 2, updated_ms: 5.0 }],
            current: None,
        };
        assert_eq!(
            serde_json::to_string(&chats).unwrap(),
            r#"{"type":"chats","chats":[{"id":"c1","title":"sum","questions":2,"updatedMs":5.0}],"current":null}"#
        );
        assert_eq!(serde_json::to_string(&ToWebview::Reset).unwrap(), r#"{"type":"reset"}"#);
        let preview = ToWebview::ContextPreview { description: Some("app.py up to line 2".into()), pinned: false };
        assert_eq!(
            serde_json::to_string(&preview).unwrap(),
            r#"{"type":"contextPreview","description":"app.py up to line 2","pinned":false}"#
        );
    }
}
