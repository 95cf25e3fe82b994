//! Messages between the extension host and the chat webview (`postMessage` both ways).
//!
//! Tagged by `type` so the TypeScript side can switch on it; every message the webview
//! sends is validated by the host like any untrusted input.

use serde::{Deserialize, Serialize};

/// A message the webview sends to the extension host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
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
    },
}

/// A message the extension host sends to the webview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum ToWebview {
    /// Something the user should read in the chat (e.g. that answering is not available yet).
    Notice {
        /// Plain text; rendered as text, never as HTML.
        text: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_by_type() {
        let ask: FromWebview = serde_json::from_str(r#"{"type":"ask","text":"hi"}"#).unwrap();
        assert_eq!(ask, FromWebview::Ask { text: "hi".into() });
        assert!(serde_json::from_str::<FromWebview>(r#"{"type":"eval","code":"x"}"#).is_err());
        let notice = serde_json::to_string(&ToWebview::Notice { text: "<b>".into() }).unwrap();
        assert_eq!(notice, r#"{"type":"notice","text":"<b>"}"#);
    }
}
