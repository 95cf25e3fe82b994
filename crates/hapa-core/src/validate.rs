//! Python syntax validation with RustPython's (Ruff's) error-recovering parser: one parse
//! reports every syntax error in a module.
//!
//! The parser recurses on nested expressions, so pathological input (thousands of nested
//! brackets) would overflow the stack — fatally in WASM, where the stack is small and a
//! crash takes the extension host's core with it. A lexer pre-scan (the lexer does not
//! recurse) rejects such input the way CPython does, before the parser sees it.

use hapa_protocol::api::SyntaxError;
use hapa_protocol::editor::EditorDiagnostic;
use ruff_python_ast::{ModModule, PySourceType};
use ruff_python_parser::lexer::lex;
use ruff_python_parser::{Mode, Parsed, parse_unchecked_source};
use ruff_text_size::Ranged;

use crate::position::{LineIndex, Position};

/// CPython refuses more than 200 nested brackets ("too many nested parentheses"); so do we,
/// which also keeps the recursive parser far from the end of its stack.
pub const MAX_BRACKET_NESTING: usize = 200;

/// CPython refuses more than 100 indentation levels ("too many levels of indentation").
pub const MAX_INDENT_LEVELS: usize = 100;

/// Operators chained inside one expression, across its open brackets. Each may add a level
/// to the syntax tree, which the parser builds and drops recursively; 800 stays well inside
/// a 1 MiB stack (WASM's default) for every operator kind (measured: unary chains overflow
/// near 3,000).
pub const MAX_EXPRESSION_NESTING: usize = 800;

/// Sources larger than this are not parsed at all (a 10 MB generated file is not worth
/// freezing the editor for); the caller gets one diagnostic saying so.
pub const MAX_SOURCE_BYTES: usize = 16 * 1024 * 1024;

/// One syntax error, as a byte range of the source and the parser's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Byte offset where the error starts.
    pub start: usize,
    /// Byte offset just past the error (equal to `start` for an error at a point).
    pub end: usize,
    /// What is wrong, in the parser's words.
    pub message: String,
}

/// Every syntax error of `source` parsed as a Python module; empty when it parses.
pub fn module(source: &str) -> Vec<Diagnostic> {
    match parse_within_limits(source) {
        Err(refused) => vec![refused],
        Ok(parsed) => parsed
            .errors()
            .iter()
            .map(|error| Diagnostic {
                start: error.range().start().to_usize(),
                end: error.range().end().to_usize(),
                message: error.error.to_string(),
            })
            .collect(),
    }
}

/// `source` parsed as a module with the error-recovering parser, or why it was refused
/// (larger than [`MAX_SOURCE_BYTES`], or nested deeper than the recursive parser can safely
/// go). The one entry to the parser for the whole crate, so no caller can skip the guard.
pub(crate) fn parse_within_limits(source: &str) -> Result<Parsed<ModModule>, Diagnostic> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(Diagnostic {
            start: 0,
            end: 0,
            message: format!(
                "file is {} MB; HAPA validates files up to {} MB",
                source.len() / (1024 * 1024),
                MAX_SOURCE_BYTES / (1024 * 1024)
            ),
        });
    }
    if let Some(too_deep) = excessive_nesting(source) {
        return Err(too_deep);
    }
    Ok(parse_unchecked_source(source, PySourceType::Python))
}

/// A diagnostic when `source` nests deeper than the parser can safely recurse.
///
/// Three measures, each from the lexer's tokens: brackets ([`MAX_BRACKET_NESTING`]),
/// indentation levels ([`MAX_INDENT_LEVELS`]) and operators chained inside one expression
/// ([`MAX_EXPRESSION_NESTING`], counted along the open brackets and reset at commas and
/// statement ends, since each operator may add a level to the syntax tree).
fn excessive_nesting(source: &str) -> Option<Diagnostic> {
    use ruff_python_ast::token::TokenKind as T;
    // No text shorter than the smallest limit can exceed any of them.
    if source.len() <= MAX_INDENT_LEVELS {
        return None;
    }
    let mut lexer = lex(source, Mode::Module);
    // Operators counted in each open bracket level, and their sum.
    let mut per_level: Vec<usize> = vec![0];
    let mut chained = 0usize;
    let mut indents = 0usize;
    let problem = loop {
        let kind = lexer.next_token();
        match kind {
            T::EndOfFile => return None,
            T::Lpar | T::Lsqb | T::Lbrace => {
                per_level.push(0);
                if per_level.len() - 1 > MAX_BRACKET_NESTING {
                    break Nesting::Brackets;
                }
            }
            T::Rpar | T::Rsqb | T::Rbrace if per_level.len() > 1 => {
                chained -= per_level.pop().unwrap_or(0);
            }
            // An unmatched closer: the parser reports it; it nests nothing.
            T::Rpar | T::Rsqb | T::Rbrace => {}
            T::Comma | T::Semi | T::Newline => {
                if let Some(level) = per_level.last_mut() {
                    chained -= *level;
                    *level = 0;
                }
            }
            T::Indent => {
                indents += 1;
                if indents > MAX_INDENT_LEVELS {
                    break Nesting::Indentation;
                }
            }
            T::Dedent => indents = indents.saturating_sub(1),
            _ if kind.is_operator() || matches!(kind, T::If | T::Else | T::Lambda | T::Await) => {
                if let Some(level) = per_level.last_mut() {
                    *level += 1;
                }
                chained += 1;
                if chained > MAX_EXPRESSION_NESTING {
                    break Nesting::Operators;
                }
            }
            _ => {}
        }
    };
    // The lexer does not expose token offsets: a plain byte scan finds the first over-deep
    // bracket; the other two are reported at the start of the file, with the reason.
    let (start, message) = match problem {
        Nesting::Brackets => {
            let mut depth = 0usize;
            let start = source
                .bytes()
                .position(|b| {
                    match b {
                        b'(' | b'[' | b'{' => depth += 1,
                        b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                    depth > MAX_BRACKET_NESTING
                })
                .unwrap_or(0);
            (start, format!("too many nested parentheses (more than {MAX_BRACKET_NESTING})"))
        }
        Nesting::Indentation => (0, format!("too many levels of indentation (more than {MAX_INDENT_LEVELS})")),
        Nesting::Operators => (
            0,
            format!(
                "an expression chains more than {MAX_EXPRESSION_NESTING} operators; \
                 HAPA does not validate code nested this deeply"
            ),
        ),
    };
    let end = if start < source.len() { start + 1 } else { start };
    Some(Diagnostic { start, end, message })
}

enum Nesting {
    Brackets,
    Indentation,
    Operators,
}

/// The errors of [`module`] positioned for the wire (1-based, Unicode scalar columns).
pub fn to_syntax_errors(source: &str, diagnostics: &[Diagnostic]) -> Vec<SyntaxError> {
    resolve(source, diagnostics, |start, end, message| SyntaxError {
        line: start.line + 1,
        column: start.column_chars + 1,
        end_line: end.line + 1,
        end_column: end.column_chars + 1,
        message,
    })
}

/// The errors of [`module`] positioned for the editor (0-based, UTF-16 columns).
pub fn to_editor_diagnostics(source: &str, diagnostics: &[Diagnostic]) -> Vec<EditorDiagnostic> {
    resolve(source, diagnostics, |start, end, message| EditorDiagnostic {
        start_line: start.line,
        start_character: start.column_utf16,
        end_line: end.line,
        end_character: end.column_utf16,
        message,
    })
}

fn resolve<T>(source: &str, diagnostics: &[Diagnostic], make: impl Fn(Position, Position, String) -> T) -> Vec<T> {
    let index = LineIndex::new(source);
    diagnostics
        .iter()
        .map(|d| {
            let start = index.position(source, d.start);
            let end = index.position(source, d.end);
            make(start, end, d.message.clone())
        })
        .collect()
}
