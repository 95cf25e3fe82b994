//! Reading server-sent events as their bytes arrive: the chat streams hapa-server's answers
//! (`text/event-stream`) in chunks that may split a line, an event or a UTF-8 character
//! anywhere. [`EventReader`] buffers what is incomplete and hands back whole events, following
//! the WHATWG rules the server's side (axum) writes to: `event:` names the event, `data:` lines
//! join with newlines, a blank line dispatches, `:` lines are comments, CR/LF/CRLF all end lines.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field, `"message"` when absent.
    pub name: String,
    /// The `data:` lines joined by newlines.
    pub data: String,
}

/// Turns chunks of a stream into events. Bounded: an event longer than `max_event_bytes` is an
/// error rather than unbounded memory.
#[derive(Debug)]
pub struct EventReader {
    bytes: Vec<u8>,
    name: Option<String>,
    data: Option<String>,
    max_event_bytes: usize,
    pending_bytes: usize,
    /// A CR ended the last line; an LF right after it belongs to that line ending.
    after_cr: bool,
}

/// The stream broke the rules the reader keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// One event grew past the bound.
    TooLong {
        /// The bound, in bytes.
        max_event_bytes: usize,
    },
    /// A line is not UTF-8.
    NotUtf8,
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLong { max_event_bytes } => write!(f, "an event of the stream is over {max_event_bytes} bytes"),
            Self::NotUtf8 => write!(f, "the stream is not UTF-8"),
        }
    }
}

impl std::error::Error for StreamError {}

impl EventReader {
    /// A reader that refuses events over `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        Self { bytes: Vec::new(), name: None, data: None, max_event_bytes, pending_bytes: 0, after_cr: false }
    }

    /// Feeds the next chunk; returns the events it completes, in order.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Event>, StreamError> {
        let mut events = Vec::new();
        for &byte in chunk {
            let after_cr = std::mem::replace(&mut self.after_cr, false);
            match byte {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.bytes);
                    let line = String::from_utf8(line).map_err(|_| StreamError::NotUtf8)?;
                    if let Some(event) = self.line(&line) {
                        events.push(event);
                    }
                }
                _ => {
                    self.bytes.push(byte);
                    self.pending_bytes += 1;
                    if self.pending_bytes > self.max_event_bytes {
                        return Err(StreamError::TooLong { max_event_bytes: self.max_event_bytes });
                    }
                }
            }
        }
        Ok(events)
    }

    fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            self.pending_bytes = 0;
            let name = self.name.take();
            let data = self.data.take()?;
            return Some(Event { name: name.unwrap_or_else(|| "message".to_owned()), data });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.name = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, data: &str) -> Event {
        Event { name: name.to_owned(), data: data.to_owned() }
    }

    /// Every split of the stream into two chunks gives the same events as one chunk.
    fn read_split_everywhere(stream: &str) -> Vec<Event> {
        let whole = EventReader::new(1 << 20).feed(stream.as_bytes()).unwrap();
        for cut in 0..=stream.len() {
            let mut reader = EventReader::new(1 << 20);
            let (a, b) = stream.as_bytes().split_at(cut);
            let mut events = reader.feed(a).unwrap();
            events.extend(reader.feed(b).unwrap());
            assert_eq!(events, whole, "split at byte {cut}");
        }
        whole
    }

    #[test]
    fn events_come_out_whole_however_the_stream_is_cut() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("event: delta\ndata: {\"text\":\"é\"}\n\n", &[("delta", "{\"text\":\"é\"}")]),
            ("data: a\ndata: b\n\n", &[("message", "a\nb")]),
            ("event:done\r\ndata:x\r\n\r\n", &[("done", "x")]),
            ("event: done\rdata: x\r\r", &[("done", "x")]),
            (": keep-alive\n\nevent: delta\ndata: 1\n\nevent: done\ndata: 2\n\n", &[("delta", "1"), ("done", "2")]),
            ("event: delta\n\n", &[]),
            ("data: no end yet\n", &[]),
            ("data:  two spaces\nid: 4\nretry: 10\n\n", &[("message", " two spaces")]),
        ];
        for (stream, expected) in cases {
            let expected: Vec<Event> = expected.iter().map(|(name, data)| event(name, data)).collect();
            assert_eq!(read_split_everywhere(stream), expected, "{stream:?}");
        }
    }

    #[test]
    fn an_endless_event_is_refused_and_bad_bytes_are_an_error() {
        let mut reader = EventReader::new(16);
        assert_eq!(reader.feed(b"data: 0123456789abcdef"), Err(StreamError::TooLong { max_event_bytes: 16 }));
        let mut reader = EventReader::new(16);
        assert!(reader.feed(b"data: 0123\n\ndata: 0123\n\n").unwrap().len() == 2, "the bound is per event");
        assert_eq!(EventReader::new(16).feed(b"data: \xff\n\n"), Err(StreamError::NotUtf8));
    }
}
