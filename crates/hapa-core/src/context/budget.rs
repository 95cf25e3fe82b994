//! The token budget: how text is counted, how the prefix, suffix and selection are cut to whole
//! lines, and how the extra context is packed into what is left.

/// Characters per token in [`estimate_tokens`]. BPE tokenizers average three to five
/// characters per token on code; four errs on the side of sending a little less.
pub const CHARS_PER_TOKEN: usize = 4;

/// Approximate tokens in `text`: one per [`CHARS_PER_TOKEN`] Unicode scalar values, rounded up.
/// Cheap, monotone and the same everywhere (no tokenizer needed), which is what a budget needs.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(CHARS_PER_TOKEN)
}

/// The longest end of `text` that fits `budget` and starts at a line start; when not even the
/// last line fits, as many of its last characters as fit.
pub(super) fn keep_tail_lines(text: &str, budget: usize) -> &str {
    let Some(earliest) = earliest_start_within(text, budget) else {
        return text;
    };
    match next_line_start(text, earliest) {
        Some(start) => &text[start..],
        None => &text[earliest..],
    }
}

/// The longest start of `text` that fits `budget` and ends at a line end; when not even the
/// first line fits, as many of its first characters as fit.
pub(super) fn keep_head_lines(text: &str, budget: usize) -> &str {
    let Some(latest) = latest_end_within(text, budget) else {
        return text;
    };
    match previous_line_end(text, latest) {
        Some(end) => &text[..end],
        None => &text[..latest],
    }
}

/// The cursor window: the suffix may take a quarter of `budget`, more if the prefix needs less;
/// the prefix takes the rest. Both are cut to whole lines away from the cursor.
pub(super) fn fit_window<'s>(prefix: &'s str, suffix: &'s str, budget: usize) -> (&'s str, &'s str) {
    let prefix_needs = estimate_tokens(prefix);
    if prefix_needs + estimate_tokens(suffix) <= budget {
        return (prefix, suffix);
    }
    let suffix_allowance = (budget / 4).max(budget.saturating_sub(prefix_needs));
    let suffix = keep_head_lines(suffix, suffix_allowance);
    let prefix = keep_tail_lines(prefix, budget - estimate_tokens(suffix));
    (prefix, suffix)
}

/// Takes `items` in the order given while they fit `budget`; an item too large for what is left
/// is skipped, so a smaller one after it may still fit. Returns the taken items and their cost.
pub(super) fn pack<T>(items: Vec<(T, &str)>, budget: usize) -> (Vec<T>, usize) {
    let mut used = 0;
    let mut taken = Vec::new();
    for (item, text) in items {
        let cost = estimate_tokens(text);
        if used + cost <= budget {
            used += cost;
            taken.push(item);
        }
    }
    (taken, used)
}

fn max_chars(budget: usize) -> usize {
    budget.saturating_mul(CHARS_PER_TOKEN)
}

/// The byte offset from which the rest of `text` has exactly the budget's characters, or `None`
/// when all of `text` fits.
fn earliest_start_within(text: &str, budget: usize) -> Option<usize> {
    let max = max_chars(budget);
    if max == 0 {
        return (!text.is_empty()).then_some(text.len());
    }
    let (start, _) = text.char_indices().rev().nth(max - 1)?;
    // `nth(max - 1)` exists when there are at least `max` characters; exactly `max` fit.
    (start > 0).then_some(start)
}

/// The byte offset up to which `text` has exactly the budget's characters, or `None` when all of
/// `text` fits.
fn latest_end_within(text: &str, budget: usize) -> Option<usize> {
    let max = max_chars(budget);
    text.char_indices().nth(max).map(|(end, _)| end)
}

/// Whether a line starts at byte `at` (`\n`, `\r\n` and a lone `\r` end lines).
fn is_line_start(bytes: &[u8], at: usize) -> bool {
    match at.checked_sub(1).map(|before| bytes[before]) {
        None => true,
        Some(b'\n') => true,
        Some(b'\r') => bytes.get(at) != Some(&b'\n'),
        Some(_) => false,
    }
}

fn next_line_start(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    (from..=text.len()).find(|&at| is_line_start(bytes, at))
}

fn previous_line_end(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    (1..=from).rev().find(|&at| is_line_start(bytes, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_and_heads_are_whole_lines() {
        let text = "aaaa\nbbbb\ncccc";
        assert_eq!(keep_tail_lines(text, 3), "bbbb\ncccc");
        assert_eq!(keep_head_lines(text, 3), "aaaa\nbbbb\n");
        assert_eq!(keep_tail_lines(text, 100), text);
        assert_eq!(keep_head_lines(text, 100), text);
        assert_eq!(keep_tail_lines(text, 0), "");
        assert_eq!(keep_head_lines(text, 0), "");
    }

    #[test]
    fn a_line_longer_than_the_budget_is_cut_inside() {
        let text = "x\n0123456789é";
        assert_eq!(keep_tail_lines(text, 1), "789é");
        assert_eq!(keep_head_lines("0123456789\nx", 1), "0123");
    }

    #[test]
    fn crlf_pairs_are_never_split() {
        assert_eq!(keep_tail_lines("ab\r\ncd", 1), "cd");
        assert_eq!(keep_head_lines("ab\r\ncd", 1), "ab\r\n");
    }

    #[test]
    fn the_suffix_gets_at_least_a_quarter_when_it_needs_it() {
        let prefix = "p\n".repeat(100);
        let suffix = "s\n".repeat(100);
        let (p, s) = fit_window(&prefix, &suffix, 40);
        assert_eq!((estimate_tokens(p), estimate_tokens(s)), (30, 10));
        let (p, s) = fit_window("short\n", &suffix, 40);
        assert_eq!((p, estimate_tokens(s)), ("short\n", 38));
    }
}
