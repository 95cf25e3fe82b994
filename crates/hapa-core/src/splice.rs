//! Generated code is judged in place: spliced between the text before and after the cursor and
//! the whole module re-parsed. An insertion is acceptable when it adds no syntax error the
//! module did not already have (a half-typed line's own error is not the insertion's fault):
//! none at all, or, when the module was already broken, no more errors than before and none
//! inside the inserted text.

use crate::validate::{self, Diagnostic};

/// What splicing an insertion into a module does to its syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpliceCheck {
    /// Errors of the spliced module that the module without the insertion did not have, with
    /// offsets in the spliced module. Empty: the insertion is acceptable.
    pub new_errors: Vec<Diagnostic>,
    /// Whether the spliced module parses with no error at all.
    pub parses: bool,
    /// How many syntax errors the spliced module has in all (0 when it parses).
    pub errors: usize,
}

/// Checks `insertion` placed between `before` and `after`.
pub fn check(before: &str, insertion: &str, after: &str) -> SpliceCheck {
    let spliced = format!("{before}{insertion}{after}");
    check_errors(before, insertion, validate::module(&spliced), &mut Baseline::new(before, after))
}

/// The errors of the module without any insertion, parsed once however many insertions are
/// checked against it.
struct Baseline<'a> {
    before: &'a str,
    after: &'a str,
    errors: Option<Vec<Diagnostic>>,
}

impl<'a> Baseline<'a> {
    fn new(before: &'a str, after: &'a str) -> Self {
        Self { before, after, errors: None }
    }

    fn errors(&mut self) -> &[Diagnostic] {
        self.errors.get_or_insert_with(|| validate::module(&format!("{}{}", self.before, self.after)))
    }
}

/// [`check`], given the spliced module's `errors`.
fn check_errors(before: &str, insertion: &str, errors: Vec<Diagnostic>, baseline: &mut Baseline<'_>) -> SpliceCheck {
    if errors.is_empty() {
        return SpliceCheck { new_errors: Vec::new(), parses: true, errors: 0 };
    }
    let count = errors.len();
    // Error recovery may word a pre-existing error differently once text is inserted before it,
    // so an insertion is also acceptable when it adds no error count and no error inside itself.
    let baseline = baseline.errors();
    let inserted = before.len()..before.len() + insertion.len();
    let inside = errors.iter().any(|error| inserted.contains(&error.start));
    if !baseline.is_empty() && count <= baseline.len() && !inside {
        return SpliceCheck { new_errors: Vec::new(), parses: false, errors: count };
    }
    let shift = |offset: usize| if offset >= before.len() { offset + insertion.len() } else { offset };
    let unmatched: Vec<Diagnostic> = errors
        .iter()
        .filter(|error| !baseline.iter().any(|old| shift(old.start) == error.start && old.message == error.message))
        .cloned()
        .collect();
    let new_errors = if unmatched.is_empty() { errors } else { unmatched };
    SpliceCheck { new_errors, parses: false, errors: count }
}

/// From the start of the line `at` lies on to the end of the next non-blank line after it (the
/// module's end when none follows): where an insertion ending at `at` can be to blame for a
/// syntax error (an unclosed bracket shows on the next line).
pub fn around_line_end(module: &str, at: usize) -> std::ops::Range<usize> {
    let line_start = module[..at].rfind('\n').map_or(0, |i| i + 1);
    let mut end = at;
    for (index, line) in module[at..].split_inclusive('\n').enumerate() {
        end += line.len();
        if index > 0 && !line.trim().is_empty() {
            break;
        }
    }
    line_start..end
}

/// The longest prefix of `completion`, cut at one of `cuts` (byte offsets into it, any order;
/// its full length is always tried first), whose insertion adds no syntax error; `None` when
/// even the shortest non-empty cut does, so the completion is dropped.
pub fn longest_acceptable<'a>(before: &str, completion: &'a str, after: &str, cuts: &[usize]) -> Option<&'a str> {
    let mut lengths: Vec<usize> = cuts
        .iter()
        .copied()
        .filter(|cut| *cut > 0 && *cut < completion.len() && completion.is_char_boundary(*cut))
        .collect();
    lengths.push(completion.len());
    lengths.sort_unstable_by(|a, b| b.cmp(a));
    lengths.dedup();
    let mut baseline = Baseline::new(before, after);
    lengths.into_iter().filter(|length| *length > 0).map(|length| &completion[..length]).find(|candidate| {
        let errors = validate::module(&format!("{before}{candidate}{after}"));
        check_errors(before, candidate, errors, &mut baseline).new_errors.is_empty()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_char(text: &str) -> Vec<usize> {
        text.char_indices().map(|(i, _)| i).collect()
    }

    #[test]
    fn an_insertion_that_completes_a_line_is_acceptable() {
        let result = check("def f(x):\n    return x", " + 1", "\n");
        assert!(result.parses && result.new_errors.is_empty(), "{result:?}");
    }

    #[test]
    fn an_existing_error_elsewhere_is_not_blamed_on_the_insertion() {
        let result = check("def f(x):\n    return x", " + 1", "\n\ndef g(:\n    pass\n");
        assert!(!result.parses);
        assert!(result.new_errors.is_empty(), "{result:?}");
        assert_eq!(result.errors, validate::module("def f(x):\n    return x + 1\n\ndef g(:\n    pass\n").len());
        assert!(result.errors > 0);
    }

    #[test]
    fn a_line_still_being_typed_is_not_blamed_on_the_insertion() {
        let result = check("x = foo(", "a, ", "\n");
        assert!(!result.parses);
        assert!(result.new_errors.is_empty(), "{result:?}");
    }

    #[test]
    fn an_insertion_that_breaks_the_module_is_flagged_where_it_breaks() {
        let result = check("x = 1\n", "def broken(:\n", "y = 2\n");
        assert!(!result.new_errors.is_empty());
        assert!(result.new_errors[0].start >= "x = 1\n".len(), "{result:?}");
    }

    #[test]
    fn a_completion_is_trimmed_to_its_longest_parseable_prefix() {
        let completion = "a, b))  # extra paren";
        let kept = longest_acceptable("x = foo(", completion, "\n", &every_char(completion));
        assert_eq!(kept, Some("a, b)"));
    }

    #[test]
    fn the_region_an_insertion_answers_for_runs_to_the_next_non_blank_line() {
        let module = "a = 1\nb = (2\n\n    + 3)\nc = 4\n";
        let at = "a = 1\nb = (2".len();
        assert_eq!(&module[around_line_end(module, at)], "b = (2\n\n    + 3)\n");
        assert_eq!(around_line_end("x = (", 5), 0..5);
    }

    #[test]
    fn a_completion_with_no_acceptable_prefix_is_dropped() {
        assert_eq!(longest_acceptable("x = 1\n", ")", "\n", &[]), None);
    }
}
