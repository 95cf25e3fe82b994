//! The model prompt for a job: the text before and after the insertion point, built with
//! `hapa_core::prompt` (shared with the extension's local model, so offline answers see the same
//! prompt as the server's).

pub use hapa_core::prompt::*;

use crate::inference::Prompt;

/// The text before and after the insertion point for a prompt.
pub fn infill(prompt: &Prompt) -> (String, String) {
    match prompt {
        Prompt::Infill { prefix, suffix } => (tail(prefix).to_owned(), head(suffix).to_owned()),
        Prompt::Question { context, question } => (question_prefix(context.as_deref(), question), String::new()),
        Prompt::Chat(messages) => (chat_prefix(messages), String::new()),
    }
}
