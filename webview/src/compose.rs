//! What the composer does with a keystroke and with the text in its input, and what it says
//! a question will be sent with, free of the DOM.

/// What the composer hands to the app when the user sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The question, trimmed (see [`message_text`]).
    pub text: String,
    /// Whether the "Use selection / file as context" box was checked.
    pub with_context: bool,
}

/// What a key press in the chat input should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    /// Send the message (and keep the key from inserting a newline).
    Send,
    /// Let the textarea handle the key as usual.
    Default,
}

/// The parts of a `keydown` event that decide what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPress<'a> {
    /// `KeyboardEvent.key`, e.g. `"Enter"`.
    pub key: &'a str,
    /// Whether Shift was held.
    pub shift: bool,
    /// Whether an input method (IME) composition is in progress: its Enter confirms the
    /// composition and must not send a half-typed message.
    pub composing: bool,
}

/// Enter sends; Shift+Enter, and Enter that ends an IME composition, insert text as usual.
pub fn key_action(press: KeyPress<'_>) -> KeyAction {
    if press.key == "Enter" && !press.shift && !press.composing { KeyAction::Send } else { KeyAction::Default }
}

/// The message to send for the input's current text, or `None` when there is nothing to
/// send. Surrounding whitespace (such as a trailing Shift+Enter newline) is dropped; the
/// text in between is kept as typed.
pub fn message_text(input: &str) -> Option<String> {
    let text = input.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// What the host says a question would be sent with now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContextPreview {
    /// The context in words; `None` when no Python editor is active.
    pub description: Option<String>,
    /// Pinned by "Add Selection to Chat": sent even with the switch off.
    pub pinned: bool,
}

impl ContextPreview {
    /// The line under the context switch, given whether the switch is on.
    pub fn line(&self, switch_on: bool) -> String {
        match (&self.description, self.pinned, switch_on) {
            (Some(description), true, _) => format!("Sends the added {description}."),
            (Some(description), false, true) => format!("Sends the {description}."),
            (None, _, true) => "No Python editor is active: only the question is sent.".to_owned(),
            (_, _, false) => "Only the question is sent.".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(key: &str, shift: bool, composing: bool) -> KeyAction {
        key_action(KeyPress { key, shift, composing })
    }

    #[test]
    fn enter_sends_and_shift_enter_does_not() {
        assert_eq!(press("Enter", false, false), KeyAction::Send);
        assert_eq!(press("Enter", true, false), KeyAction::Default);
        assert_eq!(press("Enter", false, true), KeyAction::Default);
        assert_eq!(press("a", false, false), KeyAction::Default);
    }

    #[test]
    fn blank_input_sends_nothing() {
        assert_eq!(message_text(""), None);
        assert_eq!(message_text(" \n\t "), None);
    }

    #[test]
    fn message_keeps_inner_text_as_typed() {
        assert_eq!(message_text("  def f():\n    return 1\n").as_deref(), Some("def f():\n    return 1"));
    }

    #[test]
    fn the_preview_says_what_goes_with_the_question() {
        let selection = ContextPreview { description: Some("selection of app.py, lines 3-9".into()), pinned: false };
        assert_eq!(selection.line(true), "Sends the selection of app.py, lines 3-9.");
        assert_eq!(selection.line(false), "Only the question is sent.");
        let pinned = ContextPreview { pinned: true, ..selection };
        assert_eq!(pinned.line(false), "Sends the added selection of app.py, lines 3-9.");
        let nothing = ContextPreview::default();
        assert_eq!(nothing.line(true), "No Python editor is active: only the question is sent.");
        assert_eq!(nothing.line(false), "Only the question is sent.");
    }
}
