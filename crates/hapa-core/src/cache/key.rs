//! Cache keys: a SHA-256 over who asks, which model answers and the request's context, with its
//! code normalised so that edits touching only whitespace or comments map to the same key.

use std::fmt;
use std::hash::{Hash, Hasher};

use ruff_python_parser::{LexicalErrorType, ParseError, ParseErrorType};
use ruff_text_size::Ranged;
use sha2::{Digest, Sha256};

use crate::compact;
use crate::context::Context;
use crate::validate;

/// Names the layout of the key material; change it whenever that layout changes, so keys from
/// different versions never meet.
const KEY_FORMAT: &str = "hapa-request-key/1";

/// A SHA-256 of a request, as built by [`request_key`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestKey([u8; 32]);

impl RequestKey {
    /// The 32 bytes of the digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for RequestKey {
    /// The digest in lowercase hexadecimal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestKey({self})")
    }
}

impl Hash for RequestKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut first = [0; 8];
        first.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(first));
    }
}

/// Whose request it is and what answers it: requests that differ in any field never share a key.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyScope<'a> {
    /// Who the answer belongs to (a user, workspace or tenant id): owners never share entries.
    pub owner: &'a str,
    /// The model that answers.
    pub model: &'a str,
    /// Anything else that changes the answer, as the host writes it: the request kind
    /// (completion, chat, fix), sampling settings, a prompt template version. Empty if none.
    pub variant: &'a str,
}

/// The cache key of a request for `context`, within `scope`.
///
/// The code is part of the key in [`normalise`]d form, except what lies next to the cursor,
/// which the model's answer depends on to the character: the cursor's line (both halves) is
/// taken as is, and the comment lines just above it (blank lines between ignored) are taken
/// trimmed, since a comment the user just wrote is often the instruction being completed.
/// Scopes, imports, definitions and imported stubs are normalised too.
pub fn request_key(scope: &KeyScope<'_>, context: &Context) -> RequestKey {
    let mut material = Material::default();
    material.field("format", KEY_FORMAT);
    material.field("owner", scope.owner);
    material.field("model", scope.model);
    material.field("variant", scope.variant);

    let (before, cursor_line_before) = split_at_last_line(&context.prefix);
    material.field("prefix", &normalise(before));
    material.field("comments above cursor", &comments_just_above(before));
    material.field("cursor line before", cursor_line_before);
    let (cursor_line_after, after) = split_after_first_line(&context.suffix);
    material.field("cursor line after", cursor_line_after);
    material.field("suffix", &normalise(after));
    material.field("selection", &context.selection.as_deref().map(normalise).unwrap_or_default());
    material.field("has selection", if context.selection.is_some() { "yes" } else { "no" });

    material.list("scopes", context.scopes.iter().map(|scope| normalise(scope)));
    material.list("imports", context.imports.iter().map(|import| normalise(import)));
    material.list(
        "imported",
        context.imported.iter().flat_map(|definition| [definition.module.clone(), normalise(&definition.outline)]),
    );
    material.list("definitions", context.definitions.iter().map(|definition| normalise(definition)));
    material.finish()
}

/// `code` rebuilt from its significant tokens: comments, blank lines and line continuations
/// dropped, one logical line per line, tokens separated by one space, indentation rewritten as
/// block depth (one tab per level; see the `compact` module for fragments that start inside a
/// block), so re-indenting (two spaces to four) or re-wrapping a call keeps the same form.
///
/// Falls back to `code` as is when the parser must not see it (`validate`'s limits), when the
/// lexer reports an error other than one about indentation (which is recomputed anyway) on any
/// line but the last (a fragment cut at the cursor may end inside a string or brackets), or
/// when the tokens do not account for every character that is not whitespace.
pub fn normalise(code: &str) -> String {
    let Ok(parsed) = validate::parse_within_limits(code) else {
        return code.to_owned();
    };
    if parsed.errors().iter().any(|error| does_not_lex(code, error)) {
        return code.to_owned();
    }
    compact::canonical(code, parsed.tokens()).unwrap_or_else(|| code.to_owned())
}

/// Whether `error` is a lexical error that may lose text: not about indentation, and not on
/// the last line, where a fragment cut at the cursor ends.
fn does_not_lex(code: &str, error: &ParseError) -> bool {
    let lexical = matches!(&error.error, ParseErrorType::Lexical(kind) if *kind != LexicalErrorType::IndentationError);
    let before_last_line =
        code.get(error.range().end().to_usize()..).is_some_and(|rest| rest.trim_end().contains(['\n', '\r']));
    lexical && before_last_line
}

/// `text` split before its last line.
fn split_at_last_line(text: &str) -> (&str, &str) {
    text.split_at(text.rfind(['\n', '\r']).map_or(0, |i| i + 1))
}

/// `text` split after its first line break.
fn split_after_first_line(text: &str) -> (&str, &str) {
    let Some(first_break) = text.find(['\n', '\r']) else {
        return (text, "");
    };
    let crlf = text[first_break..].starts_with("\r\n");
    text.split_at(first_break + if crlf { 2 } else { 1 })
}

/// The comment lines that end `text`, trimmed, blank lines between them ignored.
fn comments_just_above(text: &str) -> String {
    let mut comments: Vec<&str> = text
        .lines()
        .rev()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .take_while(|line| line.starts_with('#'))
        .collect();
    comments.reverse();
    comments.join("\n")
}

/// The hashed key material: every field is framed by its length, so no two different requests
/// can produce the same byte stream by moving text from one field to the next.
#[derive(Default)]
struct Material(Sha256);

impl Material {
    fn field(&mut self, name: &str, value: &str) {
        self.framed(name.as_bytes());
        self.framed(value.as_bytes());
    }

    fn list(&mut self, name: &str, values: impl Iterator<Item = String>) {
        self.framed(name.as_bytes());
        let values: Vec<String> = values.collect();
        self.0.update((values.len() as u64).to_le_bytes());
        for value in values {
            self.framed(value.as_bytes());
        }
    }

    fn framed(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    fn finish(self) -> RequestKey {
        RequestKey(self.0.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_line_is_split_off_both_halves() {
        assert_eq!(split_at_last_line("a\nb\ncurs"), ("a\nb\n", "curs"));
        assert_eq!(split_at_last_line("no break"), ("", "no break"));
        assert_eq!(split_after_first_line("or)\r\nrest\n"), ("or)\r\n", "rest\n"));
        assert_eq!(split_after_first_line("only"), ("only", ""));
    }

    #[test]
    fn comments_just_above_skip_blank_lines_and_stop_at_code() {
        let text = "x = 1\n# old\ny = 2\n  # sort the list\n\n  # descending\n";
        assert_eq!(comments_just_above(text), "# sort the list\n# descending");
        assert_eq!(comments_just_above("x = 1\n"), "");
    }
}
