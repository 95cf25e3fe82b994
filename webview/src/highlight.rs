//! Python syntax highlighting for code blocks, free of the DOM: splits code into tokens whose
//! texts, joined, are the code exactly.
//!
//! It is a lexer for colours, not a parser: it never fails, and it copes with the half-written
//! code of an answer that is still streaming (an unterminated string runs to the end of its
//! line, or to the end of the code for triple quotes).

/// What a token is, as far as colouring goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Anything left uncoloured: names, operators, whitespace.
    Plain,
    /// A reserved word such as `def` or `None`.
    Keyword,
    /// A string or bytes literal, prefix and quotes included.
    String,
    /// From `#` to the end of the line.
    Comment,
    /// An integer, float or imaginary literal.
    Number,
}

impl TokenKind {
    /// The CSS class of the `<span>` around a token of this kind; `None` for plain text,
    /// which is rendered as a bare text node.
    pub fn class(self) -> Option<&'static str> {
        match self {
            TokenKind::Plain => None,
            TokenKind::Keyword => Some("hapa-tok-keyword"),
            TokenKind::String => Some("hapa-tok-string"),
            TokenKind::Comment => Some("hapa-tok-comment"),
            TokenKind::Number => Some("hapa-tok-number"),
        }
    }
}

/// A slice of the code and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// What it is.
    pub kind: TokenKind,
    /// Its text, borrowed from the code.
    pub text: &'a str,
}

/// Python 3's hard keywords. (Soft keywords such as `match` are often plain names.)
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

/// Splits `code` into tokens. Adjacent plain text is merged into one token, so the DOM gets
/// as few nodes as possible; joining the tokens' texts gives `code` back unchanged.
pub fn tokens(code: &str) -> Vec<Token<'_>> {
    // Byte ranges first, so merging neighbours is just moving an end.
    let mut spans: Vec<(TokenKind, usize, usize)> = Vec::new();
    let mut start = 0;
    while let Some(first) = code[start..].chars().next() {
        let rest = &code[start..];
        let (kind, len) = if first == '#' {
            (TokenKind::Comment, rest.find('\n').unwrap_or(rest.len()))
        } else if let Some(len) = string_len(rest) {
            (TokenKind::String, len)
        } else if first.is_ascii_digit() || (first == '.' && rest[1..].starts_with(|c: char| c.is_ascii_digit())) {
            (TokenKind::Number, number_len(rest))
        } else if is_name_start(first) {
            let len = rest.find(|c: char| !is_name_continue(c)).unwrap_or(rest.len());
            let kind = if KEYWORDS.contains(&&rest[..len]) { TokenKind::Keyword } else { TokenKind::Plain };
            (kind, len)
        } else {
            (TokenKind::Plain, first.len_utf8())
        };
        match spans.last_mut() {
            Some((TokenKind::Plain, _, end)) if kind == TokenKind::Plain => *end += len,
            _ => spans.push((kind, start, start + len)),
        }
        start += len;
    }
    spans.into_iter().map(|(kind, start, end)| Token { kind, text: &code[start..end] }).collect()
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_name_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// The length of the string literal `text` starts with, if it starts with one: an optional
/// prefix (`r`, `b`, `f`, `rb`, … in any case), then a quote.
fn string_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let prefix = (0..=2).find(|&n| {
        bytes.get(n).is_some_and(|b| matches!(b, b'\'' | b'"'))
            && bytes[..n].iter().all(u8::is_ascii_alphabetic)
            && is_string_prefix(&text[..n])
    })?;
    let body = &text[prefix..];
    let quote = body[..1].repeat(if body.starts_with(&body[..1].repeat(3)) { 3 } else { 1 });
    let triple = quote.len() == 3;
    let mut i = quote.len();
    while let Some(c) = body[i..].chars().next() {
        if body[i..].starts_with(&quote) {
            return Some(prefix + i + quote.len());
        }
        if c == '\n' && !triple {
            // Unterminated: the string ends with its line.
            return Some(prefix + i);
        }
        // A backslash keeps the next character from closing the string (in raw strings too).
        i += c.len_utf8();
        if c == '\\' {
            i += body[i..].chars().next().map_or(0, char::len_utf8);
        }
    }
    // Unterminated at the end of the code, as while an answer streams.
    Some(text.len())
}

fn is_string_prefix(prefix: &str) -> bool {
    matches!(
        prefix.to_ascii_lowercase().as_str(),
        "" | "r" | "u" | "b" | "f" | "t" | "br" | "rb" | "fr" | "rf" | "tr" | "rt"
    )
}

/// The length of the number `text` starts with: digits, letters (hex digits, exponents, `j`),
/// underscores, dots, and a sign right after a decimal exponent.
fn number_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    let hex = bytes.starts_with(b"0x") || bytes.starts_with(b"0X");
    let mut len = 0;
    while let Some(&b) = bytes.get(len) {
        let exponent_sign = matches!(b, b'+' | b'-') && !hex && len > 0 && matches!(bytes[len - 1], b'e' | b'E');
        if !(b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || exponent_sign) {
            break;
        }
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens as `[kw def]`, `[str 'a']`, `[com # x]`, `[num 1]`, with plain text bare.
    fn render(code: &str) -> String {
        tokens(code)
            .iter()
            .map(|t| match t.kind {
                TokenKind::Plain => t.text.to_owned(),
                TokenKind::Keyword => format!("[kw {}]", t.text),
                TokenKind::String => format!("[str {}]", t.text),
                TokenKind::Comment => format!("[com {}]", t.text),
                TokenKind::Number => format!("[num {}]", t.text),
            })
            .collect()
    }

    fn check(code: &str, expected: &str) {
        let tokens = tokens(code);
        assert_eq!(tokens.iter().map(|t| t.text).collect::<String>(), code, "tokens must join to the code");
        assert!(tokens.iter().all(|t| !t.text.is_empty()), "empty token in {tokens:?}");
        assert!(
            tokens.windows(2).all(|w| !(w[0].kind == TokenKind::Plain && w[1].kind == TokenKind::Plain)),
            "unmerged plain tokens in {tokens:?}"
        );
        assert_eq!(render(code), expected, "for {code:?}");
    }

    #[test]
    fn highlights_python() {
        let cases = [
            ("", ""),
            ("def f(x):\n    return x", "[kw def] f(x):\n    [kw return] x"),
            ("x = None  # nothing", "x = [kw None]  [com # nothing]"),
            ("defined = 1", "defined = [num 1]"),
            ("s = 'it''s'", "s = [str 'it'][str 's']"),
            (r#"s = "a \" b""#, r#"s = [str "a \" b"]"#),
            (r#"p = r"C:\dir\" + x"#, r#"p = [str r"C:\dir\" + x]"#),
            ("f'{x}' b\"y\" rb'z'", "[str f'{x}'] [str b\"y\"] [str rb'z']"),
            ("\"\"\"doc\nstring\"\"\"\nx", "[str \"\"\"doc\nstring\"\"\"]\nx"),
            ("'''open\nstill open", "[str '''open\nstill open]"),
            ("'unterminated\nx = 1", "[str 'unterminated]\nx = [num 1]"),
            ("'", "[str ']"),
            ("n = 0x1F + 1_000 + 3.14e-5j + .5", "n = [num 0x1F] + [num 1_000] + [num 3.14e-5j] + [num .5]"),
            ("x1 = a.b2", "x1 = a.b2"),
            ("print('# not a comment')", "print([str '# not a comment'])"),
            ("név = 'ü' # é", "név = [str 'ü'] [com # é]"),
            ("<img src=x onerror=alert(1)>", "<img src=x onerror=alert([num 1])>"),
            ("async with a as b: pass", "[kw async] [kw with] a [kw as] b: [kw pass]"),
        ];
        for (code, expected) in cases {
            check(code, expected);
        }
    }

    #[test]
    fn every_prefix_of_code_tokenises_to_itself() {
        // Streaming shows every prefix of the answer; none may lose or duplicate text.
        let code = "def f(s='a\\'b', n=1e5):\n    \"\"\"Doc.\"\"\"\n    return s * n  # é\n";
        for end in (0..=code.len()).filter(|&i| code.is_char_boundary(i)) {
            let prefix = &code[..end];
            assert_eq!(tokens(prefix).iter().map(|t| t.text).collect::<String>(), prefix);
        }
    }
}
