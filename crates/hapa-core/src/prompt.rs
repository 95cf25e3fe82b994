//! Prompts for a code completion model (the server's, and the extension's when offline), built
//! honestly: it continues code and does not follow instructions, so a question becomes a Python
//! comment after the code it is about, and a chat becomes the code its messages quote (fenced
//! blocks, earlier answers) with the prose of the user's messages as comments. System messages
//! are left out: nothing would obey them.
//!
//! Only the text nearest the cursor reaches the model (its context window holds a few hundred
//! tokens), so prompts are cut to [`MAX_CODE_CHARS`] characters before they are tokenized.

use hapa_protocol::api::{MAX_CODE_CHARS, OpenAiChatMessage, OpenAiRole};

/// `context` (its end), then the question as comment lines, then a fresh line for the answer.
pub fn question_prefix(context: Option<&str>, question: &str) -> String {
    let mut prefix = context.map(|context| tail(context).to_owned()).unwrap_or_default();
    if !prefix.is_empty() && !prefix.ends_with('\n') {
        prefix.push('\n');
    }
    prefix.push_str(&comment(question));
    prefix
}

/// Each line of `text` (trimmed of blank lines around it) as a `# ` comment line. Every line
/// break Python knows (`\n`, `\r\n`, `\r`) starts a new comment, so no text escapes into code.
pub fn comment(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let mut out = String::new();
    for line in text.trim_matches(['\n', '\r', ' ', '\t']).split(['\n', '\r']) {
        let line = line.trim_end();
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// A conversation as code: fenced blocks and earlier answers verbatim, the user's prose as
/// comments, system messages left out; its end when it is long.
pub fn chat_prefix(messages: &[OpenAiChatMessage]) -> String {
    let mut prefix = String::new();
    for message in messages {
        let segments = fenced_segments(&message.content);
        let has_code = segments.iter().any(|segment| matches!(segment, Segment::Code(_)));
        for segment in segments {
            let text = match (message.role, segment) {
                (OpenAiRole::System, _) => continue,
                (_, Segment::Code(code)) => code.to_owned(),
                // An answer without fences is code (this server's answers are).
                (OpenAiRole::Assistant, Segment::Prose(prose)) if !has_code => prose.to_owned(),
                (_, Segment::Prose(prose)) if prose.trim().is_empty() => continue,
                (_, Segment::Prose(prose)) => comment(prose),
            };
            prefix.push_str(&text);
            if !prefix.is_empty() && !prefix.ends_with('\n') {
                prefix.push('\n');
            }
        }
    }
    tail(&prefix).to_owned()
}

/// A part of a message: prose, or the inside of a fenced code block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Text outside fences.
    Prose(&'a str),
    /// The lines inside a fence (an unclosed fence runs to the end).
    Code(&'a str),
}

/// Splits markdown-ish text at its code fences: a line of three or more backticks or tildes
/// (after at most three spaces) opens one, and a line of at least as many of the same closes it.
pub fn fenced_segments(text: &str) -> Vec<Segment<'_>> {
    let mut segments = Vec::new();
    let mut start = 0;
    let mut open: Option<(char, usize, usize)> = None; // (fence char, length, code start)
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let line_start = offset;
        offset += line.len();
        let content = line.trim_end_matches(['\n', '\r']);
        let indent = content.len() - content.trim_start_matches(' ').len();
        if indent > 3 {
            continue;
        }
        let bare = &content[indent..];
        let Some(fence_char) = bare.chars().next().filter(|c| *c == '`' || *c == '~') else { continue };
        let run = bare.len() - bare.trim_start_matches(fence_char).len();
        if run < 3 {
            continue;
        }
        match open {
            None => {
                segments.push(Segment::Prose(&text[start..line_start]));
                open = Some((fence_char, run, offset));
            }
            Some((open_char, length, code_start))
                if fence_char == open_char && run >= length && bare[run..].trim().is_empty() =>
            {
                segments.push(Segment::Code(&text[code_start..line_start]));
                open = None;
                start = offset;
            }
            Some(_) => {}
        }
    }
    match open {
        Some((_, _, code_start)) => segments.push(Segment::Code(&text[code_start..])),
        None => segments.push(Segment::Prose(&text[start..])),
    }
    segments.retain(|segment| !matches!(segment, Segment::Prose("")));
    segments
}

/// `code` in a fence that none of its lines can close.
pub fn fence(code: &str, language: &str) -> String {
    let longest = code
        .lines()
        .map(|line| line.trim_start().len() - line.trim_start().trim_start_matches('`').len())
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let newline = if code.ends_with('\n') || code.is_empty() { "" } else { "\n" };
    format!("{fence}{language}\n{code}{newline}{fence}\n")
}

/// The last [`MAX_CODE_CHARS`] characters of `text`, from a line start when there is one.
pub fn tail(text: &str) -> &str {
    if text.len() <= MAX_CODE_CHARS {
        return text;
    }
    let Some((cut, _)) = text.char_indices().rev().nth(MAX_CODE_CHARS - 1) else { return text };
    let kept = &text[cut..];
    match kept.find('\n') {
        Some(newline) if newline + 1 < kept.len() => &kept[newline + 1..],
        _ => kept,
    }
}

/// The first [`MAX_CODE_CHARS`] characters of `text`, to a line end when there is one.
pub fn head(text: &str) -> &str {
    let Some((cut, _)) = text.char_indices().nth(MAX_CODE_CHARS) else { return text };
    let kept = &text[..cut];
    match kept.rfind('\n') {
        Some(newline) if newline > 0 => &kept[..=newline],
        _ => kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(role: OpenAiRole, content: &str) -> OpenAiChatMessage {
        OpenAiChatMessage { role, content: content.to_owned() }
    }

    #[test]
    fn a_question_is_a_comment_after_its_context() {
        assert_eq!(
            question_prefix(Some("import os"), "list files\nrecursively"),
            "import os\n# list files\n# recursively\n"
        );
        assert_eq!(question_prefix(None, "  sort\r\n\r\nit\rnow  \n"), "# sort\n#\n# it\n# now\n");
        assert_eq!(question_prefix(Some("x = 1\n"), "y"), "x = 1\n# y\n");
    }

    #[test]
    fn a_chat_keeps_code_and_comments_prose() {
        let messages = [
            message(OpenAiRole::System, "You are helpful."),
            message(OpenAiRole::User, "Given\n```python\nimport os\n```\nlist the files"),
            message(OpenAiRole::Assistant, "files = os.listdir()"),
            message(OpenAiRole::User, "now sort them"),
        ];
        assert_eq!(
            chat_prefix(&messages),
            "# Given\nimport os\n# list the files\nfiles = os.listdir()\n# now sort them\n"
        );
    }

    #[test]
    fn fences_nest_by_length_and_round_trip() {
        let code = "s = '''\n```\nnot a fence end\n```\n'''\n";
        let fenced = fence(code, "python");
        assert!(fenced.starts_with("````python\n"), "{fenced}");
        let text = format!("intro\n{fenced}question");
        assert_eq!(
            fenced_segments(&text),
            [Segment::Prose("intro\n"), Segment::Code(code), Segment::Prose("question")]
        );
        assert_eq!(fenced_segments("```\nopen"), [Segment::Code("open")]);
        assert_eq!(fenced_segments("plain"), [Segment::Prose("plain")]);
        let messages = [message(OpenAiRole::User, &format!("{}question", fence("x = 1", "python")))];
        assert_eq!(chat_prefix(&messages), question_prefix(Some("x = 1"), "question"));
    }

    #[test]
    fn long_text_is_cut_far_from_the_cursor_at_a_line_boundary() {
        let long = "é = 1\n".repeat(MAX_CODE_CHARS);
        let kept = tail(&long);
        assert!(kept.chars().count() <= MAX_CODE_CHARS && kept.starts_with("é = 1\n"));
        let kept = head(&long);
        assert!(kept.chars().count() <= MAX_CODE_CHARS && kept.ends_with("é = 1\n"));
        assert_eq!(tail("short"), "short");
        assert_eq!(head("short"), "short");
    }
}
