//! HAPA's local code model runtime: the bundled decoder (an ONNX graph run by tract), its
//! tokenizer and decoding, the same code natively (inside hapa-server and the `hapa-model`
//! command) and in WASM (inside the extension host).
//!
//! It knows tensors, tokens, sampling and stop rules; it must not know HTTP, VS Code,
//! wasm-bindgen or the file system: callers hand it the model's bytes, so both hosts can embed
//! it. Python syntax comes from `hapa-core` (a completion that would break the module is trimmed
//! to its longest parseable prefix, or dropped).

use std::ops::ControlFlow;

pub mod decode;
pub mod eval;
pub mod line_choice;
pub mod network;
pub mod tokenizer;
pub mod wasm_kernel;

pub use decode::{Sampling, StopReason, StopRules};
use decode::{SpecialTokens, check_stop, cursor_line, fim_prompt};
use line_choice::{EARLIER_LINES, LineScorer, earlier_line_rests};
use network::{Network, Shape};
use tokenizer::{TokenId, Tokenizer};

/// How many times one completion may refuse to end its line while the module does not parse.
const LINE_END_REFUSALS: usize = 8;

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The bytes are not an ONNX model tract can read, type and optimise.
    #[error("not a usable ONNX model: {0}")]
    Load(String),
    /// The model description (`hapa-code.json`) or tokenizer is unusable.
    #[error("model description: {0}")]
    Description(String),
    /// Running the graph failed.
    #[error("model run failed: {0}")]
    Run(String),
}

/// The files that make up a model, as bytes and text (the caller reads them).
pub struct ModelFiles<'a> {
    /// `hapa-code.onnx`.
    pub onnx: &'a [u8],
    /// `tokenizer.json`.
    pub tokenizer_json: &'a str,
    /// `hapa-code.json`: shape facts and special token ids.
    pub description_json: &'a str,
}

/// The graph signature this runtime feeds (`format` in `hapa-code.json`): 2 is one key and one
/// value tensor per layer (see `models/export.py`).
const GRAPH_FORMAT: u32 = 2;

#[derive(serde::Deserialize)]
struct Description {
    format: u32,
    #[serde(flatten)]
    shape: Shape,
    trained_sequence: usize,
    special_tokens: SpecialTokenIds,
}

#[derive(serde::Deserialize)]
struct SpecialTokenIds {
    end_of_text: TokenId,
    fim_prefix: TokenId,
    fim_suffix: TokenId,
    fim_middle: TokenId,
}

/// What to complete and how.
#[derive(Debug, Clone)]
pub struct CompletionRequest {
    /// Text before the cursor.
    pub prefix: String,
    /// Text after the cursor.
    pub suffix: String,
    /// When to stop.
    pub stop: StopRules,
    /// How to choose tokens.
    pub sampling: Sampling,
    /// Trim the completion to its longest prefix that keeps the module parseable (dropping it
    /// when none does).
    pub syntax_aware: bool,
    /// Earlier lines of the file that a greedy, syntax-aware line completion is weighed against
    /// (see [`line_choice`]); 0: the model's own line only.
    pub earlier_lines: usize,
}

impl CompletionRequest {
    /// The editor's inline case: the rest of the current line, greedy, syntax-aware.
    pub fn rest_of_line(prefix: impl Into<String>, suffix: impl Into<String>, max_tokens: usize) -> Self {
        Self {
            prefix: prefix.into(),
            suffix: suffix.into(),
            stop: StopRules::line(max_tokens),
            sampling: Sampling::Greedy,
            syntax_aware: true,
            earlier_lines: EARLIER_LINES,
        }
    }
}

/// A finished completion.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Completion {
    /// The text to insert at the cursor (possibly empty).
    pub text: String,
    /// Why decoding ended.
    pub stop_reason: StopReason,
    /// Tokens in the prompt after truncation to the context window.
    pub prompt_tokens: usize,
    /// Tokens generated (before stop rules and syntax trimming cut text), at most `max_tokens`:
    /// those that only wrote a healed piece of the prefix again are not counted.
    pub generated_tokens: usize,
    /// Whether syntax-aware trimming shortened or dropped the decoded text.
    pub trimmed: bool,
    /// Prompt tokens whose keys and values came from the previous completion's cache instead of
    /// being computed again (see [`PromptReuse`]; always 0 without it).
    pub reused_prompt_tokens: usize,
    /// Whether the text is the rest of an earlier line of the file, which the model found likelier
    /// than the line it wrote itself (see [`line_choice`]).
    pub from_earlier_line: bool,
}

/// The key/value cache one completion leaves behind, so that the next completion whose prompt
/// starts the same way (the editor's next keystroke: the same file above the cursor) computes
/// only the tokens after the shared start.
///
/// One per user: how fast a completion comes back tells whether its prompt began like the one
/// before, so a model shared between users (the server) must not keep one.
#[derive(Default)]
pub struct PromptReuse {
    held: Option<(Vec<TokenId>, network::Cache)>,
}

impl PromptReuse {
    /// Takes the held cache, cut back to the longest start its tokens share with `prompt` (at
    /// most all but the prompt's last token, whose logits are needed), or nothing when they share
    /// no token.
    fn take_for(&mut self, prompt: &[TokenId]) -> Result<Option<(network::Cache, usize)>, ModelError> {
        let Some((fed, mut cache)) = self.held.take() else { return Ok(None) };
        let shared = fed.iter().zip(prompt).take_while(|(a, b)| a == b).count().min(prompt.len().saturating_sub(1));
        if shared == 0 {
            return Ok(None);
        }
        cache.truncate(shared)?;
        Ok(Some((cache, shared)))
    }
}

/// A line the model wrote: as written (scored), and as the editor would show it.
#[derive(Clone, Copy)]
struct Line<'a> {
    written: &'a str,
    shown: &'a str,
    /// The tokens the model wrote it in, the healed piece's first, when they spell the healed
    /// piece and the line exactly: scored from the cache as they are, not encoded and fed again.
    tokens: Option<&'a [TokenId]>,
}

/// The bundled model, loaded once: tokenizer, graph and prompt layout.
pub struct CodeModel {
    tokenizer: Tokenizer,
    network: Network,
    special: SpecialTokens,
    context_window: usize,
    /// By token id: whether the token ends a line (it starts with a newline, or ends the text).
    ends_line: Vec<bool>,
}

impl CodeModel {
    /// Loads the model from its files' contents.
    pub fn load(files: ModelFiles<'_>) -> Result<Self, ModelError> {
        let description: Description =
            serde_json::from_str(files.description_json).map_err(|e| ModelError::Description(e.to_string()))?;
        if description.format != GRAPH_FORMAT {
            return Err(ModelError::Description(format!(
                "graph format {} (this runtime reads format {GRAPH_FORMAT}: export the model again with models/export.py)",
                description.format
            )));
        }
        let tokenizer =
            Tokenizer::from_json(files.tokenizer_json).map_err(|e| ModelError::Description(e.to_string()))?;
        if tokenizer.vocab_size() != description.shape.vocab_size {
            return Err(ModelError::Description(format!(
                "tokenizer has {} tokens, the model {}",
                tokenizer.vocab_size(),
                description.shape.vocab_size
            )));
        }
        let ids = description.special_tokens;
        let special = SpecialTokens {
            end_of_text: ids.end_of_text,
            fim_prefix: ids.fim_prefix,
            fim_suffix: ids.fim_suffix,
            fim_middle: ids.fim_middle,
        };
        let network = Network::from_onnx_bytes(files.onnx, description.shape)?;
        let context_window = description.trained_sequence.min(description.shape.max_positions);
        let ends_line = (0..tokenizer.vocab_size())
            .map(|id| id == special.end_of_text as usize || tokenizer.text_bytes(id as TokenId).starts_with(b"\n"))
            .collect();
        Ok(Self { tokenizer, network, special, context_window, ends_line })
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Positions a prompt plus its completion may use.
    pub fn context_window(&self) -> usize {
        self.context_window
    }

    /// The prompt for a request (after truncation to the context window) and the piece of the
    /// prefix it leaves for the model to write again (token healing, see [`decode::Healing`]).
    ///
    /// When the rest of the cursor's line is blank, or holds only closers the editor typed by
    /// itself ([`decode::auto_closed`]), and only that line is wanted, the prompt is the prefix
    /// alone, left to right: the bundled model, briefly trained, continues text far better than it
    /// fills a middle (see MODEL_CARD), and nothing after the line can change that line.
    pub fn prompt<'a>(&self, request: &'a CompletionRequest) -> (Vec<TokenId>, &'a str) {
        let healed = decode::Healing::piece(&self.tokenizer, &request.prefix);
        let prefix = &request.prefix[..request.prefix.len() - healed.len()];
        let budget = self.context_window.saturating_sub(request.stop.max_tokens).max(16);
        let rest_of_line = request.suffix.split('\n').next().unwrap_or_default();
        if request.stop.end_of_line
            && (rest_of_line.trim().is_empty() || decode::auto_closed(&request.suffix).is_some())
        {
            let left_to_right = decode::keep_last_lines(&self.tokenizer, prefix, budget);
            // An empty prefix has nothing to continue: the FIM layout is never empty.
            if !left_to_right.is_empty() {
                return (left_to_right, healed);
            }
        }
        (fim_prompt(&self.tokenizer, self.special, prefix, &request.suffix, budget), healed)
    }

    /// Completes a request. `on_text` sees each newly decoded piece of text as it arrives (before
    /// syntax-aware trimming, which needs the whole completion) and can stop decoding by returning
    /// `Break` (cancellation: checked between tokens).
    pub fn complete(
        &self,
        request: &CompletionRequest,
        on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Completion, ModelError> {
        self.complete_with(request, None, on_text)
    }

    /// [`complete`](Self::complete), starting from what `reuse` holds of the previous
    /// completion's prompt and leaving this one's cache in it. The completion is the same as
    /// without reuse.
    pub fn complete_reusing(
        &self,
        request: &CompletionRequest,
        reuse: &mut PromptReuse,
        on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Completion, ModelError> {
        self.complete_with(request, Some(reuse), on_text)
    }

    /// Computes the key/value cache of `request`'s prompt into `reuse` without generating
    /// anything, so that a completion asked for soon after (the next keystroke, whose prompt
    /// starts the same way) computes only what its prompt adds. Idle time's work: the editor
    /// calls it once the cursor has come to rest somewhere new. Returns the prompt tokens
    /// computed now (those `reuse` already held are not computed again).
    pub fn prepare_reusing(&self, request: &CompletionRequest, reuse: &mut PromptReuse) -> Result<usize, ModelError> {
        let (prompt, _) = self.prompt(request);
        let (mut cache, reused) = self.cache_for(&prompt, Some(reuse))?;
        self.network.feed(&mut cache, &prompt[reused..])?;
        let computed = prompt.len() - reused;
        reuse.held = Some((prompt, cache));
        Ok(computed)
    }

    /// A cache for `prompt`: what `reuse` holds of its start, or an empty one; with the prompt
    /// tokens it already holds.
    fn cache_for(
        &self,
        prompt: &[TokenId],
        reuse: Option<&mut PromptReuse>,
    ) -> Result<(network::Cache, usize), ModelError> {
        match reuse.map(|reuse| reuse.take_for(prompt)).transpose()?.flatten() {
            Some(reused) => Ok(reused),
            None => Ok((self.network.new_cache()?, 0)),
        }
    }

    /// A [`LineScorer`] for token sequences that follow `prompt` (a completion scores its own
    /// line in the cache it decoded in; this one starts cold).
    pub fn line_scorer(&self, prompt: &[TokenId]) -> Result<LineScorer<'_>, ModelError> {
        let mut cache = self.network.new_cache()?;
        let logits = self.network.feed(&mut cache, prompt)?;
        Ok(LineScorer::new(&self.network, cache, prompt.len(), Vec::new(), vec![logits], &self.ends_line))
    }

    fn complete_with(
        &self,
        request: &CompletionRequest,
        mut reuse: Option<&mut PromptReuse>,
        mut on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Completion, ModelError> {
        let (prompt, healed) = self.prompt(request);
        let mut healing = decode::Healing::new(healed);
        let (mut cache, reused_prompt_tokens) = self.cache_for(&prompt, reuse.as_deref_mut())?;
        // Every token the cache holds, in order (what the next completion may reuse).
        let mut fed = prompt.clone();
        let mut sampler = decode::Sampler::new(request.sampling);
        let mut banned = vec![self.special.fim_prefix, self.special.fim_suffix, self.special.fim_middle];
        if request.stop.ignore_end_of_text {
            banned.push(self.special.end_of_text);
        }
        let cursor_line = cursor_line(&request.prefix);
        // Closers after the cursor that a left-to-right prompt ignored: the model writes its own,
        // which the line guard and the result leave out.
        let closers = decode::auto_closed(&request.suffix)
            .filter(|_| request.stop.end_of_line && prompt.first() != Some(&self.special.fim_prefix));
        let without_closers =
            |text: &'_ str| closers.map_or(text, |closers| decode::without_closers(text, closers)).len();

        let mut logits = self.network.feed(&mut cache, &prompt[reused_prompt_tokens..])?;
        // A greedy, syntax-aware line is weighed against earlier lines of the file once written
        // (see `line_choice`): the logits after each token fed, kept for scoring.
        let choosing_line = request.earlier_lines > 0
            && request.syntax_aware
            && request.stop.end_of_line
            && matches!(request.sampling, Sampling::Greedy);
        let mut logits_along = if choosing_line { vec![logits.clone()] } else { Vec::new() };
        let mut generated: Vec<TokenId> = Vec::new();
        // Tokens spent writing the healed piece again do not count against `max_tokens`.
        let mut healing_tokens = 0;
        let mut text = String::new();
        let mut cuts = Vec::new();
        let mut stop_reason = StopReason::MaxTokens;
        // Syntax-aware line completion: the line may not end while it leaves the module broken
        // around it (an unclosed bracket, a missing operand); the model's next choice is taken
        // instead, a few times at most.
        let line_guard = request.syntax_aware && request.stop.end_of_line;
        let mut refusals_left = LINE_END_REFUSALS;
        while generated.len() - healing_tokens < request.stop.max_tokens {
            let mut refused: Vec<TokenId> = Vec::new();
            let token = loop {
                let token = sampler.pick(&logits, |token| {
                    !banned.contains(&token)
                        && !refused.contains(&token)
                        && (!healing.is_pending() || healing.allows(self.tokenizer.text_bytes(token)))
                });
                if refusals_left > 0 && decode::starts_another_copy(&generated, token) {
                    refused.push(token);
                    refusals_left -= 1;
                    continue;
                }
                let ends_line = token == self.special.end_of_text || self.tokenizer.text_bytes(token).contains(&b'\n');
                if ends_line
                    && refusals_left > 0
                    && line_guard
                    && !healing.is_pending()
                    && !decode::line_is_complete(&request.prefix, &text[..without_closers(&text)], &request.suffix)
                {
                    refused.push(token);
                    refusals_left -= 1;
                    continue;
                }
                break token;
            };
            if token == self.special.end_of_text {
                stop_reason = StopReason::EndOfText;
                break;
            }
            let bytes = self.tokenizer.text_bytes(token);
            healing_tokens += usize::from(healing.advance(bytes) == bytes.len());
            generated.push(token);
            let decoded = self.tokenizer.decode(&generated);
            // The healed piece is the prefix's, not the completion's; hold back a trailing
            // partial character until its other bytes arrive.
            let stable = decoded.get(healed.len()..).unwrap_or_default().trim_end_matches('\u{fffd}');
            if stable.len() > text.len() && stable.starts_with(text.as_str()) {
                let before = text.len();
                cuts.push(before);
                text.push_str(&stable[before..]);
                let stop = check_stop(&request.stop, cursor_line, &text);
                if let ControlFlow::Break((keep, _)) = stop {
                    text.truncate(keep);
                }
                let shown = &text[before.min(text.len())..];
                let cancelled = !shown.is_empty() && on_text(shown).is_break();
                if let ControlFlow::Break((_, reason)) = stop {
                    stop_reason = reason;
                    break;
                }
                if cancelled {
                    stop_reason = StopReason::Cancelled;
                    break;
                }
            }
            if cache.positions() >= self.network.shape().max_positions {
                stop_reason = StopReason::ContextFull;
                break;
            }
            logits = self.network.feed(&mut cache, &[token])?;
            fed.push(token);
            if choosing_line {
                logits_along.push(logits.clone());
            }
        }

        let written = text.clone();
        text.truncate(without_closers(&text));
        let mut trimmed = false;
        if request.syntax_aware && !text.is_empty() {
            cuts.retain(|cut| *cut < text.len());
            let kept = hapa_core::splice::longest_acceptable(&request.prefix, &text, &request.suffix, &cuts)
                .map_or(0, str::len);
            trimmed = kept < text.len();
            text.truncate(kept);
        }
        let mut from_earlier_line = false;
        if choosing_line && stop_reason != StopReason::Cancelled {
            let after_prompt = fed.split_off(prompt.len());
            let mut scorer =
                LineScorer::new(&self.network, cache, prompt.len(), after_prompt, logits_along, &self.ends_line);
            // The line as the model wrote it, closers it typed over included, unless trimming cut it.
            let written = if trimmed { text.as_str() } else { written.as_str() };
            let spelled = format!("{healed}{written}");
            // The longest run of generated tokens no longer than the line, if it spells it exactly.
            let tokens = (0..=generated.len())
                .rev()
                .map(|end| &generated[..end])
                .find_map(|tokens| {
                    let decoded = self.tokenizer.decode(tokens);
                    (decoded.len() <= spelled.len()).then(|| (decoded == spelled).then_some(tokens))
                })
                .flatten();
            let greedy = Line { written, shown: &text, tokens };
            if let Some(earlier) = self.likelier_earlier_line(&mut scorer, request, healed, greedy, closers)? {
                text = earlier;
                trimmed = false;
                from_earlier_line = true;
                stop_reason = StopReason::EndOfLine;
            }
            let held;
            (cache, held) = scorer.into_cache();
            fed.extend(held);
        }
        if let Some(reuse) = reuse {
            reuse.held = Some((fed, cache));
        }
        Ok(Completion {
            text,
            stop_reason,
            prompt_tokens: prompt.len(),
            generated_tokens: generated.len() - healing_tokens,
            trimmed,
            reused_prompt_tokens,
            from_earlier_line,
        })
    }

    /// The rest of an earlier line of the file that the model finds likelier, line end included,
    /// than `greedy` (the line it wrote), and that leaves the module no worse off: the likeliest
    /// such, with the closers the editor typed by itself left out as from the model's line; `None`
    /// when no earlier line beats the model's own.
    fn likelier_earlier_line(
        &self,
        scorer: &mut LineScorer<'_>,
        request: &CompletionRequest,
        healed: &str,
        greedy: Line<'_>,
        closers: Option<&str>,
    ) -> Result<Option<String>, ModelError> {
        let rests = earlier_line_rests(&request.prefix, request.earlier_lines);
        if rests.is_empty() {
            return Ok(None);
        }
        let tokens_of = |text: &str| self.tokenizer.encode(&format!("{healed}{text}"));
        let greedy_tokens = greedy.tokens.map_or_else(|| tokens_of(greedy.written), <[TokenId]>::to_vec);
        let Some(mut best) = scorer.score(&greedy_tokens, f64::NEG_INFINITY)? else { return Ok(None) };
        scorer.limit_steps(line_choice::SCORING_STEPS);
        // The module's errors with the model's own line, counted only once an earlier line wins
        // on likelihood (seldom).
        let mut greedy_errors = None;
        let mut count_greedy_errors = || {
            *greedy_errors.get_or_insert_with(|| {
                hapa_core::validate::module(&format!("{}{}{}", request.prefix, greedy.shown, request.suffix)).len()
            })
        };
        let cursor_line = cursor_line(&request.prefix);
        let mut chosen = None;
        for rest in rests {
            let shown = closers.map_or(rest, |closers| decode::without_closers(rest, closers));
            let tokens = tokens_of(rest);
            if rest == greedy.written
                || tokens.len() > request.stop.max_tokens
                || check_stop(&request.stop, cursor_line, rest).is_break()
            {
                continue;
            }
            let Some(score) = scorer.score(&tokens, best)? else { continue };
            if score <= best {
                continue;
            }
            // No new syntax error, and no more errors in all than the model's own line leaves
            // (a line that makes the module parse is not traded for one that does not).
            let check = hapa_core::splice::check(&request.prefix, shown, &request.suffix);
            if check.new_errors.is_empty() && check.errors <= count_greedy_errors() {
                best = score;
                chosen = Some(shown.to_owned());
            }
        }
        Ok(chosen)
    }

    /// Greedy tokens for a ready-made prompt, with no stop rule but the end-of-text token (for
    /// conformance tests against the trainer's own decoding).
    pub fn greedy_tokens(&self, prompt: &[TokenId], steps: usize) -> Result<Vec<TokenId>, ModelError> {
        self.greedy(prompt, steps, true)
    }

    /// Exactly `steps` greedy tokens (end-of-text does not stop it): a fixed amount of work for
    /// latency benchmarks.
    pub fn decode_exactly(&self, prompt: &[TokenId], steps: usize) -> Result<Vec<TokenId>, ModelError> {
        self.greedy(prompt, steps, false)
    }

    /// The last `prefix_tokens` tokens of `prefix` laid out as a fill-in-the-middle prompt with
    /// an empty suffix: the fixed work latency benchmarks time, natively and in WASM alike.
    pub fn prompt_from_end(&self, prefix: &str, prefix_tokens: usize) -> Vec<TokenId> {
        let ids = self.tokenizer.encode(prefix);
        let mut prompt = vec![self.special.fim_prefix];
        prompt.extend_from_slice(&ids[ids.len().saturating_sub(prefix_tokens)..]);
        prompt.extend([self.special.fim_suffix, self.special.fim_middle]);
        prompt
    }

    fn greedy(&self, prompt: &[TokenId], steps: usize, stop_at_end: bool) -> Result<Vec<TokenId>, ModelError> {
        let mut cache = self.network.new_cache()?;
        let mut logits = self.network.feed(&mut cache, prompt)?;
        let mut out = Vec::new();
        let mut sampler = decode::Sampler::new(Sampling::Greedy);
        for _ in 0..steps {
            let token = sampler.pick(&logits, |_| true);
            out.push(token);
            if stop_at_end && token == self.special.end_of_text {
                break;
            }
            logits = self.network.feed(&mut cache, &[token])?;
        }
        Ok(out)
    }
}
