//! Python source rebuilt from its tokens, without comments or layout: one-line signatures for
//! the context, and the canonical form of code that cache keys are built from.

use ruff_python_ast::token::{Token, TokenKind as T};
use ruff_text_size::{Ranged, TextRange};

/// The tokens lying inside `range`, in order.
pub(crate) fn tokens_in(tokens: &[Token], range: TextRange) -> &[Token] {
    let start = tokens.partition_point(|token| token.start() < range.start());
    let rest = &tokens[start..];
    // Tokens never overlap, so their ends grow with their starts.
    &rest[..rest.partition_point(|token| token.end() <= range.end())]
}

/// `tokens` of `source` on one line: comments and line breaks dropped, one space wherever the
/// source had any gap (none just inside brackets), and a trailing comma that only served a
/// multi-line layout (`b: str,\n)`) removed.
pub(crate) fn one_line(source: &str, tokens: &[Token]) -> String {
    let mut out = String::new();
    let mut previous: Option<&Token> = None;
    let mut line_broken = false;
    for token in tokens {
        match token.kind() {
            T::Comment | T::Indent | T::Dedent | T::EndOfFile => continue,
            T::Newline | T::NonLogicalNewline => {
                line_broken = true;
                continue;
            }
            _ => {}
        }
        let text = text_of(source, token);
        if text.is_empty() {
            continue;
        }
        if let Some(previous) = previous {
            if is_closing(token.kind()) && previous.kind() == T::Comma && line_broken {
                out.pop();
                out.truncate(out.trim_end().len());
            } else if has_gap(previous, token) && !is_opening(previous.kind()) && !is_closing(token.kind()) {
                out.push(' ');
            }
        }
        out.push_str(text);
        previous = Some(token);
        line_broken = false;
    }
    out
}

/// `tokens` of `source` in canonical layout: one logical line per line, tokens separated by
/// single spaces, comments and blank lines dropped, and indentation rewritten as block depth
/// relative to the first line: one tab per level deeper, one `<` per level shallower (a fragment
/// cut from a file may close blocks it never opened), `!` before a line that dedents to a
/// width no enclosing block has (an indentation error; kept distinct from valid code).
///
/// Depths come from comparing indentation widths, as Python does, not from the lexer's
/// indent tokens, so a fragment that starts inside a block normalises like a whole file.
///
/// `None` when the tokens do not account for every character that is not whitespace (the
/// lexer gave up somewhere), since dropping such text could make different code look equal.
pub(crate) fn canonical(source: &str, tokens: &[Token]) -> Option<String> {
    let mut out = String::with_capacity(source.len());
    let mut blocks = Blocks::default();
    let mut at_line_start = true;
    let mut covered = 0usize;
    for token in tokens {
        if !is_layout(source.get(covered..token.start().to_usize())?) {
            return None;
        }
        covered = covered.max(token.end().to_usize());
        let text = text_of(source, token);
        match token.kind() {
            T::Comment | T::NonLogicalNewline | T::EndOfFile | T::Indent | T::Dedent => {}
            T::Newline => {
                out.push('\n');
                at_line_start = true;
            }
            // Zero-width tokens, and whitespace the lexer could not place (a bad dedent).
            _ if text.trim().is_empty() => {}
            _ => {
                if at_line_start {
                    blocks.enter_line(indentation_width(source, token.start().to_usize()), &mut out);
                } else {
                    out.push(' ');
                }
                out.push_str(text);
                at_line_start = false;
            }
        }
    }
    is_layout(source.get(covered..)?).then_some(out)
}

/// The indentation widths of the open blocks, as Python's tokenizer keeps them.
#[derive(Default)]
struct Blocks {
    widths: Vec<usize>,
    /// Levels closed below the first line's, which the fragment never opened.
    closed_below_start: usize,
}

impl Blocks {
    /// Moves to a logical line indented `width` columns and writes its depth marker.
    fn enter_line(&mut self, width: usize, out: &mut String) {
        let mut inconsistent = false;
        if self.widths.last().is_none_or(|&top| width > top) {
            self.widths.push(width);
        } else {
            while self.widths.last().is_some_and(|&top| top > width) {
                self.widths.pop();
            }
            match self.widths.last() {
                None => {
                    self.closed_below_start += 1;
                    self.widths.push(width);
                }
                Some(&top) if top < width => {
                    inconsistent = true;
                    self.widths.push(width);
                }
                Some(_) => {}
            }
        }
        let levels = self.widths.len() - 1;
        if self.closed_below_start > 0 {
            out.extend(std::iter::repeat_n('<', self.closed_below_start));
        }
        out.extend(std::iter::repeat_n('\t', levels));
        if inconsistent {
            out.push('!');
        }
    }
}

/// Columns of whitespace before byte `at` on its line: tabs to the next multiple of eight and
/// form feeds back to zero, as Python's tokenizer counts them.
pub(crate) fn indentation_width(source: &str, at: usize) -> usize {
    let before = source.get(..at).unwrap_or_default();
    let line = &before[before.rfind(['\n', '\r']).map_or(0, |i| i + 1)..];
    line.chars().fold(0, |width, c| match c {
        '\t' => (width / 8 + 1) * 8,
        '\x0c' => 0,
        _ => width + 1,
    })
}

fn text_of<'s>(source: &'s str, token: &Token) -> &'s str {
    source.get(token.range().to_std_range()).unwrap_or_default()
}

/// Whitespace and line continuations: what lies between tokens when the lexer understood all.
fn is_layout(gap: &str) -> bool {
    gap.chars().all(|c| c.is_whitespace() || c == '\\')
}

fn has_gap(previous: &Token, next: &Token) -> bool {
    previous.end() < next.start()
}

fn is_opening(kind: T) -> bool {
    matches!(kind, T::Lpar | T::Lsqb | T::Lbrace)
}

fn is_closing(kind: T) -> bool {
    matches!(kind, T::Rpar | T::Rsqb | T::Rbrace)
}
