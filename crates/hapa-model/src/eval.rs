//! Line-completion metrics (CodeXGLUE's definitions) and the trivial baseline the model is
//! compared against in the same run.

/// Exact match: the prediction equals the target, ignoring surrounding whitespace.
pub fn exact_match(prediction: &str, target: &str) -> bool {
    prediction.trim() == target.trim()
}

/// Edit similarity in 0..=100: CodeXGLUE's `fuzz.ratio`, i.e. `2·LCS / (|a| + |b|)` over
/// characters (Levenshtein with substitutions costing two); 100 when both are empty.
pub fn edit_similarity(prediction: &str, target: &str) -> f64 {
    let a: Vec<char> = prediction.trim().chars().collect();
    let b: Vec<char> = target.trim().chars().collect();
    if a.is_empty() && b.is_empty() {
        return 100.0;
    }
    let mut previous = vec![0usize; b.len() + 1];
    let mut current = vec![0usize; b.len() + 1];
    for x in &a {
        for (j, y) in b.iter().enumerate() {
            current[j + 1] = if x == y { previous[j] + 1 } else { current[j].max(previous[j + 1]) };
        }
        std::mem::swap(&mut previous, &mut current);
    }
    200.0 * previous[b.len()] as f64 / (a.len() + b.len()) as f64
}

/// The trivial baseline: the rest of the nearest earlier line that starts with what the cursor's
/// line already holds (indentation aside); nothing when no earlier line does.
pub fn repeat_similar_line(prefix: &str) -> String {
    let start = prefix.rfind('\n').map_or(0, |i| i + 1);
    let typed = prefix[start..].trim_start();
    prefix[..start]
        .lines()
        .rev()
        .map(str::trim_start)
        .find(|line| line.len() > typed.len() && line.starts_with(typed))
        .map(|line| line[typed.len()..].to_owned())
        .unwrap_or_default()
}

/// The value at quantile `q` (0..=1) of `values` (sorted here), or 0 for none.
pub fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_similarity_follows_the_lcs_ratio() {
        assert_eq!(edit_similarity("abc", "abc"), 100.0);
        assert_eq!(edit_similarity("", "abc"), 0.0);
        assert_eq!(edit_similarity("", ""), 100.0);
        // LCS("kitten", "sitting") = 4 ("ittn"): 2·4 / 13.
        assert!((edit_similarity("kitten", "sitting") - 800.0 / 13.0).abs() < 1e-9);
    }

    #[test]
    fn exact_match_ignores_surrounding_whitespace_only() {
        assert!(exact_match(" x)\n", "x)"));
        assert!(!exact_match("x )", "x)"));
    }

    #[test]
    fn baseline_repeats_the_nearest_matching_earlier_line() {
        let prefix = "    self.a = a\n    self.b = b\n    self.";
        assert_eq!(repeat_similar_line(prefix), "b = b");
        assert_eq!(repeat_similar_line("x = 1\nprint("), "");
    }

    #[test]
    fn percentiles_pick_from_the_sorted_values() {
        let mut values = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&mut values, 0.5), 3.0);
        assert_eq!(percentile(&mut values, 1.0), 5.0);
    }
}
