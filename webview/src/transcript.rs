//! The conversation shown in the chat: an ordered list of messages with stable ids.

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    /// The person using the extension.
    User,
    /// HAPA: the extension host or, later, the model.
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

/// One message in the transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Unique within its transcript; the list is keyed by it, so re-rendering after a push
    /// creates one new item instead of rebuilding all of them.
    pub id: u64,
    /// Who wrote it.
    pub author: Author,
    /// Plain text, shown as text.
    pub text: String,
}

/// The messages of one chat, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    messages: Vec<Message>,
    next_id: u64,
}

impl Transcript {
    /// Appends a message and returns its id.
    pub fn push(&mut self, author: Author, text: impl Into<String>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.messages.push(Message { id, author, text: text.into() });
        id
    }

    /// The messages, oldest first.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// Whether nothing has been said yet.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_their_order_and_get_distinct_ids() {
        let mut transcript = Transcript::default();
        assert!(transcript.is_empty());
        let first = transcript.push(Author::User, "write fizzbuzz");
        let second = transcript.push(Author::Hapa, "not yet");
        let third = transcript.push(Author::User, "write fizzbuzz");
        assert!(first != second && second != third && first != third);
        let texts: Vec<_> = transcript.messages().iter().map(|m| (m.author, m.text.as_str())).collect();
        assert_eq!(
            texts,
            [(Author::User, "write fizzbuzz"), (Author::Hapa, "not yet"), (Author::User, "write fizzbuzz"),]
        );
    }
}
