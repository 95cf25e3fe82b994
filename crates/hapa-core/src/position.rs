//! Byte offsets into source text, turned into the line/column pairs each consumer wants:
//! Python's (1-based, Unicode scalar columns) for the wire, the editor's (0-based, UTF-16
//! code units) for VS Code.

/// Where each line of a text starts, for turning byte offsets into line/column pairs.
///
/// Lines end at `\n`, `\r\n` or a lone `\r`, as Python's tokenizer counts them.
#[derive(Debug, Clone)]
pub struct LineIndex {
    line_starts: Vec<usize>,
}

/// A position resolved against a [`LineIndex`]. All fields are 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 0-based line number.
    pub line: u32,
    /// 0-based column, counted in Unicode scalar values (Python's view).
    pub column_chars: u32,
    /// 0-based column, counted in UTF-16 code units (VS Code's and the LSP's view).
    pub column_utf16: u32,
}

impl LineIndex {
    /// Indexes the line starts of `text`.
    pub fn new(text: &str) -> Self {
        let bytes = text.as_bytes();
        let mut line_starts = vec![0];
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => line_starts.push(i + 1),
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                    line_starts.push(i + 2);
                    i += 1;
                }
                b'\r' => line_starts.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        Self { line_starts }
    }

    /// Resolves a byte offset of `text` (the same text this index was built from). Offsets
    /// past the end, or inside a multi-byte character, are clamped to a valid boundary.
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let before = &text[self.line_starts[line]..offset];
        Position {
            line: to_u32(line),
            column_chars: to_u32(before.chars().count()),
            column_utf16: to_u32(before.encode_utf16().count()),
        }
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_kind_of_line_ending() {
        let text = "a\nb\r\nc\rd";
        let index = LineIndex::new(text);
        let lines: Vec<u32> = [0, 2, 5, 7].iter().map(|&o| index.position(text, o).line).collect();
        assert_eq!(lines, [0, 1, 2, 3]);
    }

    #[test]
    fn columns_in_chars_and_utf16() {
        let text = "x = '😀é' + y";
        let index = LineIndex::new(text);
        let y = text.find('y').unwrap();
        let pos = index.position(text, y);
        assert_eq!((pos.line, pos.column_chars, pos.column_utf16), (0, 11, 12));
    }

    #[test]
    fn clamps_offsets_inside_characters_and_past_the_end() {
        let text = "é";
        let index = LineIndex::new(text);
        assert_eq!(index.position(text, 1).column_chars, 0);
        assert_eq!(index.position(text, 99).column_chars, 1);
    }
}
