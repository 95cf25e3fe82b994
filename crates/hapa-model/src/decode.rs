//! From a cursor to a completion: the fill-in-the-middle prompt within the context window,
//! the decoding loop with its sampling and stop rules, and cancellation between tokens.

use std::ops::ControlFlow;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::tokenizer::{TokenId, Tokenizer};

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// Always the most likely token (deterministic).
    Greedy,
    /// Temperature, then the `top_k` most likely, then the smallest set reaching `top_p`
    /// probability; reproducible for a given seed.
    TopKTopP {
        /// Softmax temperature (> 0).
        temperature: f32,
        /// Keep at most this many candidates (0: no limit).
        top_k: usize,
        /// Keep the most likely candidates until their probabilities sum to this.
        top_p: f32,
        /// Seed of the random generator.
        seed: u64,
    },
}

/// When a completion ends (besides the model's own end-of-text token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopRules {
    /// Stop at the first newline: the rest of the current line only.
    pub end_of_line: bool,
    /// Stop before the first non-blank line indented less than the cursor's line (the end of the
    /// block being written).
    pub end_of_block: bool,
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Stop before any of these strings.
    pub stop_strings: Vec<String>,
    /// Never end at the model's end-of-text token: write until another rule stops (vLLM's
    /// `ignore_eos`, for load tests and anything that needs an exact length).
    pub ignore_end_of_text: bool,
}

impl StopRules {
    /// The rest of the current line, at most `max_tokens` tokens.
    pub fn line(max_tokens: usize) -> Self {
        Self { end_of_line: true, end_of_block: false, max_tokens, stop_strings: Vec::new(), ignore_end_of_text: false }
    }

    /// Lines up to the end of the current block, at most `max_tokens` tokens.
    pub fn block(max_tokens: usize) -> Self {
        Self { end_of_line: false, end_of_block: true, max_tokens, stop_strings: Vec::new(), ignore_end_of_text: false }
    }
}

/// Why decoding ended: the wire type, so the server passes it on as it is.
pub use hapa_protocol::api::StopReason;

/// The special tokens the prompt layout uses.
#[derive(Debug, Clone, Copy)]
pub struct SpecialTokens {
    /// Ends a middle.
    pub end_of_text: TokenId,
    /// Opens the prefix.
    pub fim_prefix: TokenId,
    /// Opens the suffix.
    pub fim_suffix: TokenId,
    /// Opens the middle, which the model then writes.
    pub fim_middle: TokenId,
}

/// Most suffix tokens a prompt carries (the model was trained with at most 128).
pub const MAX_SUFFIX_TOKENS: usize = 128;

/// The prompt for a cursor between `prefix` and `suffix`: `<|fim_prefix|> P <|fim_suffix|> S
/// <|fim_middle|>`, each part encoded on its own, within `budget` tokens. What is cut is what is
/// farthest from the cursor, in whole lines: the prefix's first lines and the suffix's last.
pub fn fim_prompt(
    tokenizer: &Tokenizer,
    special: SpecialTokens,
    prefix: &str,
    suffix: &str,
    budget: usize,
) -> Vec<TokenId> {
    let room = budget.saturating_sub(3);
    let suffix_ids = keep_first_lines(tokenizer, suffix, MAX_SUFFIX_TOKENS.min(room / 4));
    let prefix_ids = keep_last_lines(tokenizer, prefix, room - suffix_ids.len());
    let mut prompt = Vec::with_capacity(prefix_ids.len() + suffix_ids.len() + 3);
    prompt.push(special.fim_prefix);
    prompt.extend(prefix_ids);
    prompt.push(special.fim_suffix);
    prompt.extend(suffix_ids);
    prompt.push(special.fim_middle);
    prompt
}

/// The tokens of the longest tail of `text` that starts a line (or, for one over-long line, the
/// last `budget` tokens) and fits `budget`.
pub fn keep_last_lines(tokenizer: &Tokenizer, text: &str, budget: usize) -> Vec<TokenId> {
    let ids = tokenizer.encode(text);
    if ids.len() <= budget {
        return ids;
    }
    // Estimate where the kept tokens begin, then move to the next line start and re-encode, so
    // the kept text is encoded exactly as the trainer encodes a text that starts there.
    let dropped = tokenizer.decode_bytes(&ids[..ids.len() - budget]).len().min(text.len());
    let mut start = text[..].char_indices().map(|(i, _)| i).find(|i| *i >= dropped).unwrap_or(text.len());
    if let Some(newline) = text[start..].find('\n') {
        start += newline + 1;
    }
    let kept = tokenizer.encode(&text[start..]);
    if kept.len() <= budget { kept } else { kept[kept.len() - budget..].to_vec() }
}

/// The tokens of the longest head of `text` that ends a line (or the first `budget` tokens) and
/// fits `budget`.
fn keep_first_lines(tokenizer: &Tokenizer, text: &str, budget: usize) -> Vec<TokenId> {
    let ids = tokenizer.encode(text);
    if ids.len() <= budget {
        return ids;
    }
    // The kept tokens may end inside a multi-byte character: step back to a boundary.
    let mut kept_bytes = tokenizer.decode_bytes(&ids[..budget]).len().min(text.len());
    while !text.is_char_boundary(kept_bytes) {
        kept_bytes -= 1;
    }
    let end = text[..kept_bytes].rfind('\n').unwrap_or(0);
    let kept = tokenizer.encode(&text[..end]);
    if kept.is_empty() || kept.len() > budget { ids[..budget].to_vec() } else { kept }
}

/// Chooses tokens from logits.
pub struct Sampler {
    sampling: Sampling,
    rng: ChaCha8Rng,
}

impl Sampler {
    /// A sampler for one completion.
    pub fn new(sampling: Sampling) -> Self {
        let seed = match sampling {
            Sampling::Greedy => 0,
            Sampling::TopKTopP { seed, .. } => seed,
        };
        Self { sampling, rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    /// The next token, one that `allowed` accepts.
    pub fn pick(&mut self, logits: &[f32], allowed: impl Fn(TokenId) -> bool) -> TokenId {
        let allowed = |index: &usize| allowed(*index as TokenId);
        match self.sampling {
            Sampling::Greedy => argmax(logits, allowed),
            Sampling::TopKTopP { temperature, top_k, top_p, .. } => {
                let mut candidates: Vec<(usize, f32)> =
                    logits.iter().copied().enumerate().filter(|(i, _)| allowed(i)).collect();
                candidates.sort_by(|a, b| b.1.total_cmp(&a.1));
                if top_k > 0 {
                    candidates.truncate(top_k);
                }
                let temperature = temperature.max(1e-4);
                let top = candidates.first().map_or(0.0, |c| c.1);
                let mut weights: Vec<f32> = candidates.iter().map(|(_, l)| ((l - top) / temperature).exp()).collect();
                let total: f32 = weights.iter().sum();
                let mut running = 0.0;
                let mut keep = weights.len();
                for (index, weight) in weights.iter_mut().enumerate() {
                    *weight /= total;
                    running += *weight;
                    if running >= top_p {
                        keep = index + 1;
                        break;
                    }
                }
                let kept_total: f32 = weights[..keep].iter().sum();
                let mut draw = self.rng.random::<f32>() * kept_total;
                for (index, weight) in weights[..keep].iter().enumerate() {
                    draw -= weight;
                    if draw <= 0.0 {
                        return candidates[index].0 as TokenId;
                    }
                }
                candidates[keep - 1].0 as TokenId
            }
        }
    }
}

fn argmax(logits: &[f32], allowed: impl Fn(&usize) -> bool) -> TokenId {
    let mut best = (0usize, f32::NEG_INFINITY);
    for (index, logit) in logits.iter().enumerate() {
        if *logit > best.1 && allowed(&index) {
            best = (index, *logit);
        }
    }
    best.0 as TokenId
}

/// Token healing. A prompt that ends inside a word (`os.path.jo`) or after a space (`x = `) ends
/// on a token the trainer never saw there: the trainer's tokens for `join` or ` value` span the
/// cursor. So the prompt stops before the last piece of the cursor's line, and the first
/// generated tokens must spell that piece out again (any tokens do whose bytes agree with it),
/// which lets the model pick `join` as one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healing {
    pending: Vec<u8>,
}

impl Healing {
    /// The piece of `prefix` to take out of the prompt and have the model write again: the last
    /// pre-tokenizer piece of the cursor's line, unless that line holds nothing but indentation.
    pub fn piece<'a>(tokenizer: &Tokenizer, prefix: &'a str) -> &'a str {
        let line = cursor_line(prefix);
        if line.trim().is_empty() {
            return "";
        }
        // From the newline before the line, so the line's first piece splits as in the whole text.
        let from = prefix.len() - line.len() - usize::from(prefix.len() > line.len());
        tokenizer.last_piece(&prefix[from..])
    }

    /// Healing that must reproduce `piece`.
    pub fn new(piece: &str) -> Self {
        Self { pending: piece.as_bytes().to_vec() }
    }

    /// Whether a token whose text is `bytes` may come next: any token once the piece is written;
    /// until then, one that agrees with what is left of it (a prefix of it, or running past it).
    pub fn allows(&self, bytes: &[u8]) -> bool {
        self.pending.is_empty()
            || (!bytes.is_empty() && (bytes.starts_with(&self.pending) || self.pending.starts_with(bytes)))
    }

    /// Notes a chosen token's bytes; returns how many of them wrote the piece (the rest, if any,
    /// is new text).
    pub fn advance(&mut self, bytes: &[u8]) -> usize {
        let written = bytes.len().min(self.pending.len());
        self.pending.drain(..written);
        written
    }

    /// Whether the piece is still being written.
    pub fn is_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// Applies the stop rules to the text generated so far: `Break` with the text to keep and the
/// reason when decoding must end.
/// `cursor_line` is the part of the cursor's line before the cursor.
pub fn check_stop(rules: &StopRules, cursor_line: &str, text: &str) -> ControlFlow<(usize, StopReason)> {
    for stop in &rules.stop_strings {
        if let Some(at) = text.find(stop.as_str())
            && !stop.is_empty()
        {
            return ControlFlow::Break((at, StopReason::StopString));
        }
    }
    if rules.end_of_line
        && let Some(at) = text.find('\n')
    {
        return ControlFlow::Break((at, StopReason::EndOfLine));
    }
    if rules.end_of_block {
        // The block ends at the first complete later line indented less than the cursor's line,
        // or no deeper than it when the cursor's line opens a block (ends with a colon).
        let indent_of = |line: &str| line.len() - line.trim_start_matches([' ', '\t']).len();
        let cursor_indent = indent_of(cursor_line);
        let first_line = text.split('\n').next().unwrap_or_default();
        let opens_block = format!("{cursor_line}{first_line}").trim_end().ends_with(':');
        let mut offset = 0;
        for (index, line) in text.split_inclusive('\n').enumerate() {
            if index > 0 && line.ends_with('\n') && !line.trim().is_empty() {
                let indent = indent_of(line);
                if indent < cursor_indent || (opens_block && indent <= cursor_indent) {
                    // Keep up to the newline before this line, without trailing blank lines.
                    let kept = text[..offset].trim_end_matches(['\n', ' ', '\t', '\r']).len();
                    return ControlFlow::Break((kept, StopReason::EndOfBlock));
                }
            }
            offset += line.len();
        }
    }
    ControlFlow::Continue(())
}

/// Most bytes of source the line-ending check parses (a larger module is not checked).
const LINE_CHECK_LIMIT: usize = 256 * 1024;

/// Whether the cursor's line, completed by `text`, may end here: the module parses with it, or
/// its syntax errors all lie away from this line and the next non-blank one (someone else's
/// unfinished code, not this line's).
pub fn line_is_complete(prefix: &str, text: &str, suffix: &str) -> bool {
    if prefix.len() + text.len() + suffix.len() > LINE_CHECK_LIMIT {
        return true;
    }
    let module = format!("{prefix}{text}{suffix}");
    let near = hapa_core::splice::around_line_end(&module, prefix.len() + text.len());
    hapa_core::validate::module(&module).iter().all(|error| error.start < near.start || error.start > near.end)
}

/// The part of the cursor's line before the cursor.
pub fn cursor_line(prefix: &str) -> &str {
    &prefix[prefix.rfind('\n').map_or(0, |i| i + 1)..]
}

/// Copies of a repeated run of tokens a completion may write in a row before the model's next
/// choice is taken instead of another copy (see [`starts_another_copy`]).
pub const COPIES_ALLOWED: usize = 3;
/// The longest run, in tokens, that [`starts_another_copy`] looks for.
const LONGEST_REPEATED_RUN: usize = 8;

/// Whether `next` would start one more copy of a run of two to eight tokens that `generated`
/// already ends with [`COPIES_ALLOWED`] times in a row (`text, text, text, ` → `text`): the loop
/// a small greedy model falls into, which would otherwise run to `max_tokens`. One token over and
/// over (a line of `====`) is left alone.
pub fn starts_another_copy(generated: &[TokenId], next: TokenId) -> bool {
    (2..=LONGEST_REPEATED_RUN).any(|run| {
        let Some(start) = generated.len().checked_sub(run * COPIES_ALLOWED) else { return false };
        let tail = &generated[start..];
        let first = &tail[..run];
        first[0] == next && first.iter().any(|token| *token != next) && tail.chunks(run).all(|copy| copy == first)
    })
}

/// The rest of the cursor's line (`suffix` up to its first newline, spaces trimmed) when it holds
/// only closing brackets and quotes: what an editor types by itself after the cursor (`print(|)`).
/// The line is then completed left to right, as if they were not there, and the closers the model
/// writes itself are dropped again ([`without_closers`]).
pub fn auto_closed(suffix: &str) -> Option<&str> {
    let rest = suffix.split('\n').next().unwrap_or_default().trim();
    (!rest.is_empty() && rest.chars().all(|c| matches!(c, ')' | ']' | '}' | '"' | '\''))).then_some(rest)
}

/// `text` without the closers it ends with (trailing spaces aside) that already follow the
/// cursor: the longest start of `closers` that `text` ends with, as an editor types over a closer
/// it inserted itself (`x)` before `))` leaves `x`, and the line reads `x))`); `text` itself
/// when it ends with none of them.
pub fn without_closers<'t>(text: &'t str, closers: &str) -> &'t str {
    let trimmed = text.trim_end();
    closers
        .char_indices()
        .map(|(at, closer)| at + closer.len_utf8())
        .rev()
        .find_map(|end| trimmed.strip_suffix(&closers[..end]))
        .unwrap_or(text)
}
