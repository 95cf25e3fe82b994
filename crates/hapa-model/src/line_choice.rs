//! Choosing the line: the model's greedy line against the rests of earlier lines of the file.
//!
//! Greedy decoding picks the likeliest token at each step, not the likeliest line, and a small
//! model often fails to copy a line it has just seen (`self.b = b` after `self.a = a`, the next
//! `assert` of a run of them). So a line completion is also scored against the rests of the
//! nearest earlier lines that start like the cursor's line: each candidate's log-probability under
//! the model, line end included, and the likeliest wins. Only the model decides: an earlier line
//! that the model finds less likely than its own line is never taken.

use crate::ModelError;
use crate::network::{Cache, Network};
use crate::tokenizer::TokenId;

/// Earlier lines a line completion is weighed against, at most.
pub const EARLIER_LINES: usize = 6;
/// Tokens fed to score the earlier lines of one completion, at most (each costs a decoding step;
/// when they are spent, the lines not yet scored lose to the model's own).
pub const SCORING_STEPS: usize = 12;

/// The rests of the nearest earlier lines (nearest first, each once, at most `limit`) that start
/// with what the cursor's line already holds, indentation aside, and go on past it.
pub fn earlier_line_rests(prefix: &str, limit: usize) -> Vec<&str> {
    let start = prefix.rfind('\n').map_or(0, |i| i + 1);
    let typed = prefix[start..].trim_start();
    let mut rests: Vec<&str> = Vec::new();
    for line in prefix[..start].lines().rev().map(str::trim_start) {
        if rests.len() == limit {
            break;
        }
        if let Some(rest) = line.strip_prefix(typed)
            && !rest.trim().is_empty()
            && !rests.contains(&rest)
        {
            rests.push(rest);
        }
    }
    rests
}

/// Scores token sequences that follow one prompt: the log-probability the model gives them,
/// then the end of the line. Sequences share the cache as far as they share tokens, so scoring
/// the greedy line again costs nothing and a candidate costs one step per token after the tokens
/// it shares with what was scored before.
pub struct LineScorer<'a> {
    network: &'a Network,
    cache: Cache,
    /// Positions of the prompt in the cache.
    prompt_len: usize,
    /// Tokens after the prompt that the cache holds.
    held: Vec<TokenId>,
    /// `logits[i]`: the next-token logits after the prompt and `held[..i]`.
    logits: Vec<Vec<f32>>,
    /// Whether a token ends the line (a newline starts it, or it is end-of-text).
    ends_line: &'a [bool],
    /// Tokens that may still be fed.
    steps_left: usize,
}

impl<'a> LineScorer<'a> {
    /// Over a cache that holds the prompt (`prompt_len` positions) then `held`, with the logits
    /// after each prefix of `held` (`logits.len() == held.len() + 1`).
    pub fn new(
        network: &'a Network,
        cache: Cache,
        prompt_len: usize,
        held: Vec<TokenId>,
        logits: Vec<Vec<f32>>,
        ends_line: &'a [bool],
    ) -> Self {
        debug_assert_eq!(logits.len(), held.len() + 1);
        debug_assert_eq!(cache.positions(), prompt_len + held.len());
        Self { network, cache, prompt_len, held, logits, ends_line, steps_left: usize::MAX }
    }

    /// Feeds at most `steps` more tokens: a sequence that would need more scores `None`.
    pub fn limit_steps(&mut self, steps: usize) {
        self.steps_left = steps;
    }

    /// The log-probability of `tokens` then a line end, or `None` as soon as it is known to fall
    /// below `floor` (log-probabilities only fall as tokens are added) or the steps run out.
    pub fn score(&mut self, tokens: &[TokenId], floor: f64) -> Result<Option<f64>, ModelError> {
        let shared = self.held.iter().zip(tokens).take_while(|(a, b)| a == b).count();
        // Positions past both are of no use to this sequence; those it shares are kept.
        if shared < self.held.len() && shared < tokens.len() {
            self.cache.truncate(self.prompt_len + shared)?;
            self.held.truncate(shared);
            self.logits.truncate(shared + 1);
        }
        let mut total = 0.0;
        for (index, token) in tokens.iter().enumerate() {
            total += log_probability(&self.logits[index], |t| t == *token as usize);
            if total < floor {
                return Ok(None);
            }
            if index >= self.held.len() {
                if self.steps_left == 0 {
                    return Ok(None);
                }
                self.steps_left -= 1;
                let next = self.network.feed(&mut self.cache, &[*token])?;
                self.held.push(*token);
                self.logits.push(next);
            }
        }
        total += log_probability(&self.logits[tokens.len()], |t| self.ends_line[t]);
        Ok((total >= floor).then_some(total))
    }

    /// The cache and every token after the prompt it holds (for the next completion's reuse).
    pub fn into_cache(self) -> (Cache, Vec<TokenId>) {
        (self.cache, self.held)
    }
}

/// The log of the probability mass `logits` put on the tokens `chosen` picks.
fn log_probability(logits: &[f32], chosen: impl Fn(usize) -> bool) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let (mut all, mut picked) = (0.0, 0.0);
    for (token, logit) in logits.iter().enumerate() {
        let weight = (*logit as f64 - max).exp();
        all += weight;
        if chosen(token) {
            picked += weight;
        }
    }
    (picked / all).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_lines_that_start_like_the_cursor_line_are_candidates_nearest_first() {
        let prefix = "    self.a = a\n    self.b = b\n    x = 1\n    self.b = b\n    self.";
        assert_eq!(earlier_line_rests(prefix, 6), ["b = b", "a = a"]);
        assert_eq!(earlier_line_rests(prefix, 1), ["b = b"]);
        // Nothing typed yet: the nearest lines themselves.
        assert_eq!(earlier_line_rests("a = 1\n\nb = 2\n    ", 6), ["b = 2", "a = 1"]);
        // A line no longer than what is typed has no rest.
        assert!(earlier_line_rests("print(x)\nprint(x)", 6).is_empty());
    }

    #[test]
    fn log_probability_is_the_log_of_the_chosen_mass() {
        let logits = [0.0f32, 0.0, (2.0f32).ln()];
        assert!((log_probability(&logits, |t| t == 2) - 0.5f64.ln()).abs() < 1e-9);
        assert!((log_probability(&logits, |t| t < 2) - 0.5f64.ln()).abs() < 1e-9);
    }
}
