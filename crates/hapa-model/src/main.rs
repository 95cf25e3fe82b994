//! `hapa-model`: the local model from the command line, for evaluation and scripting.
//!
//! `hapa-model complete` reads JSON lines `{"prefix": "...", "suffix": "..."}` on stdin and writes
//! one JSON line `{"completion": "..."}` per input, in order: the rest of the current line,
//! greedy, syntax-aware. This interface is stable.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hapa_model::{CodeModel, CompletionRequest, ModelFiles, PromptReuse, eval};

/// HAPA's local code model.
#[derive(Debug, Parser)]
#[command(name = "hapa-model", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Complete the rest of the line for each JSON line {"prefix", "suffix"} on stdin.
    Complete {
        /// The ONNX model; tokenizer.json and the .json description are read beside it.
        #[arg(long, env = "HAPA_MODEL", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/hapa-code.onnx"))]
        model: PathBuf,
        /// Most tokens to generate for each completion.
        #[arg(long, default_value_t = 32)]
        max_tokens: usize,
        /// Also report stop reason, token counts and milliseconds in each output line.
        #[arg(long)]
        verbose: bool,
        /// Earlier lines of the file the model's line is weighed against (0: its own line only).
        #[arg(long, default_value_t = hapa_model::line_choice::EARLIER_LINES)]
        earlier_lines: usize,
    },
    /// Evaluate on line-completion cases (JSON lines {"prefix", "suffix", "target", "package"},
    /// as models/eval_cases.py writes them) against the repeat-a-similar-line baseline; times each
    /// case cold and as typing (the keystroke before it completed first, its prompt reused) and a
    /// fixed 512-token prompt + 24-token completion cold; prints one JSON report.
    Eval {
        /// The ONNX model; tokenizer.json and the .json description are read beside it.
        #[arg(long, env = "HAPA_MODEL", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/hapa-code.onnx"))]
        model: PathBuf,
        /// The cases file.
        #[arg(long)]
        cases: PathBuf,
        /// Most tokens to generate for each completion.
        #[arg(long, default_value_t = 32)]
        max_tokens: usize,
        /// Repetitions of the fixed-size latency measurement.
        #[arg(long, default_value_t = 20)]
        repeats: usize,
    },
}

#[derive(serde::Deserialize)]
struct Input {
    prefix: String,
    #[serde(default)]
    suffix: String,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Complete { model, max_tokens, verbose, earlier_lines } => {
            complete(&load(&model)?, max_tokens, verbose, earlier_lines)
        }
        Command::Eval { model, cases, max_tokens, repeats } => evaluate(&load(&model)?, &cases, max_tokens, repeats),
    }
}

fn load(model: &std::path::Path) -> anyhow::Result<CodeModel> {
    let onnx = std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
    let read = |path: PathBuf| std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()));
    let tokenizer = read(model.with_file_name("tokenizer.json"))?;
    let description = read(model.with_extension("json"))?;
    Ok(CodeModel::load(ModelFiles { onnx: &onnx, tokenizer_json: &tokenizer, description_json: &description })?)
}

fn complete(model: &CodeModel, max_tokens: usize, verbose: bool, earlier_lines: usize) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (number, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let input: Input = serde_json::from_str(&line)
            .with_context(|| format!("stdin line {}: expected {{\"prefix\", \"suffix\"}}", number + 1))?;
        let started = std::time::Instant::now();
        let request = CompletionRequest {
            earlier_lines,
            ..CompletionRequest::rest_of_line(input.prefix, input.suffix, max_tokens)
        };
        let completion = model.complete(&request, |_| std::ops::ControlFlow::Continue(()))?;
        let mut answer = serde_json::json!({ "completion": completion.text });
        if verbose {
            answer["stop_reason"] = serde_json::to_value(completion.stop_reason)?;
            answer["prompt_tokens"] = completion.prompt_tokens.into();
            answer["generated_tokens"] = completion.generated_tokens.into();
            answer["trimmed"] = completion.trimmed.into();
            answer["from_earlier_line"] = completion.from_earlier_line.into();
            answer["ms"] = (started.elapsed().as_secs_f64() * 1000.0).into();
        }
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct Case {
    package: String,
    prefix: String,
    suffix: String,
    target: String,
}

#[derive(Default)]
struct Tally {
    cases: usize,
    exact: usize,
    similarity: f64,
    parseable: usize,
    latency_ms: Vec<f64>,
    tokens: usize,
    seconds: f64,
    /// Completions that are the rest of an earlier line, chosen over the model's own line.
    from_earlier_line: usize,
}

impl Tally {
    fn add(&mut self, case: &Case, prediction: &str) {
        self.cases += 1;
        self.exact += usize::from(eval::exact_match(prediction, &case.target));
        self.similarity += eval::edit_similarity(prediction, &case.target);
        let module = format!("{}{prediction}{}", case.prefix, case.suffix);
        self.parseable += usize::from(hapa_core::validate::module(&module).is_empty());
    }

    fn report(&mut self) -> serde_json::Value {
        let share = |n: usize| if self.cases == 0 { 0.0 } else { 100.0 * n as f64 / self.cases as f64 };
        let mut report = serde_json::json!({
            "cases": self.cases,
            "exact_match": share(self.exact),
            "edit_similarity": if self.cases == 0 { 0.0 } else { self.similarity / self.cases as f64 },
            "parseable": share(self.parseable),
        });
        if !self.latency_ms.is_empty() {
            report["latency_ms"] = serde_json::json!({
                "p50": eval::percentile(&mut self.latency_ms, 0.5),
                "p95": eval::percentile(&mut self.latency_ms, 0.95),
            });
            report["tokens_per_second"] = (self.tokens as f64 / self.seconds.max(1e-9)).into();
            report["from_earlier_line"] = share(self.from_earlier_line).into();
        }
        report
    }
}

fn evaluate(model: &CodeModel, cases: &std::path::Path, max_tokens: usize, repeats: usize) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(cases).with_context(|| format!("reading {}", cases.display()))?;
    let cases: Vec<Case> = text.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    let (mut ours, mut baseline) = (Tally::default(), Tally::default());
    // The model's own line, not weighed against earlier lines: what `line_choice` adds.
    let mut own_line = Tally::default();
    let mut by_package: std::collections::BTreeMap<String, Tally> = Default::default();
    let mut typing = Typing::default();
    let mut before_closers = Tally::default();
    for case in &cases {
        let started = std::time::Instant::now();
        let request = CompletionRequest::rest_of_line(case.prefix.clone(), case.suffix.clone(), max_tokens);
        let completion = model.complete(&request, |_| std::ops::ControlFlow::Continue(()))?;
        let seconds = started.elapsed().as_secs_f64();
        ours.add(case, &completion.text);
        ours.latency_ms.push(seconds * 1000.0);
        ours.tokens += completion.generated_tokens;
        ours.from_earlier_line += usize::from(completion.from_earlier_line);
        ours.seconds += seconds;
        by_package.entry(case.package.clone()).or_default().add(case, &completion.text);
        baseline.add(case, &eval::repeat_similar_line(&case.prefix));
        let own = CompletionRequest { earlier_lines: 0, ..request.clone() };
        own_line.add(case, &model.complete(&own, |_| std::ops::ControlFlow::Continue(()))?.text);
        typing.add(model, case, &completion.text, max_tokens)?;
        if let Some(case) = before_auto_closed(case) {
            let request = CompletionRequest::rest_of_line(case.prefix.clone(), case.suffix.clone(), max_tokens);
            before_closers.add(&case, &model.complete(&request, |_| std::ops::ControlFlow::Continue(()))?.text);
        }
    }

    // Fixed work: a 512-token prompt (the end of the longest case's prefix) and 24 new tokens.
    let longest = cases.iter().max_by_key(|case| case.prefix.len()).context("no cases")?;
    let prompt = model.prompt_from_end(&longest.prefix, 509);
    let mut fixed = Vec::new();
    for _ in 0..repeats {
        let started = std::time::Instant::now();
        model.decode_exactly(&prompt, 24)?;
        fixed.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let report = serde_json::json!({
        "model": ours.report(),
        "baseline": baseline.report(),
        "own_line": own_line.report(),
        "typing": typing.report(),
        "before_auto_closed": before_closers.report(),
        "by_package": by_package.iter_mut().map(|(name, tally)| (name.clone(), tally.report())).collect::<serde_json::Map<_, _>>(),
        "fixed_512_prompt_24_tokens_ms": {
            "prompt_tokens": prompt.len(),
            "p50": eval::percentile(&mut fixed, 0.5),
            "p95": eval::percentile(&mut fixed, 0.95),
        },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Line completions as the editor asks for them while someone types: the case's previous
/// keystroke (its prefix less the last character) is completed first, then the case itself is
/// timed with that completion's cache reused.
#[derive(Default)]
struct Typing {
    latency_ms: Vec<f64>,
    same_as_cold: usize,
    reused_tokens: usize,
    prompt_tokens: usize,
}

impl Typing {
    fn add(&mut self, model: &CodeModel, case: &Case, cold: &str, max_tokens: usize) -> anyhow::Result<()> {
        let mut reuse = PromptReuse::default();
        let previous = &case.prefix[..case.prefix.char_indices().last().map_or(0, |(at, _)| at)];
        let go_on = |_: &str| std::ops::ControlFlow::Continue(());
        model.complete_reusing(
            &CompletionRequest::rest_of_line(previous, case.suffix.as_str(), max_tokens),
            &mut reuse,
            go_on,
        )?;
        let request = CompletionRequest::rest_of_line(case.prefix.as_str(), case.suffix.as_str(), max_tokens);
        let started = std::time::Instant::now();
        let completion = model.complete_reusing(&request, &mut reuse, go_on)?;
        self.latency_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        self.same_as_cold += usize::from(completion.text == cold);
        self.reused_tokens += completion.reused_prompt_tokens;
        self.prompt_tokens += completion.prompt_tokens;
        Ok(())
    }

    fn report(&mut self) -> serde_json::Value {
        let cases = self.latency_ms.len().max(1) as f64;
        serde_json::json!({
            "latency_ms": {
                "p50": eval::percentile(&mut self.latency_ms, 0.5),
                "p95": eval::percentile(&mut self.latency_ms, 0.95),
            },
            "reused_prompt_share": 100.0 * self.reused_tokens as f64 / self.prompt_tokens.max(1) as f64,
            "same_as_cold": 100.0 * self.same_as_cold as f64 / cases,
        })
    }
}

/// The case as it is in an editor that closes brackets and quotes by itself: the closers that end
/// the target (`join(a, b)` → `)`) already follow the cursor, and the target is what comes before
/// them; `None` when the target does not end with a closer or is nothing but closers.
fn before_auto_closed(case: &Case) -> Option<Case> {
    let target = case.target.trim_end();
    let text = target.trim_end_matches([')', ']', '}', '"', '\'']);
    (text.len() < target.len() && !text.trim().is_empty()).then(|| Case {
        package: case.package.clone(),
        prefix: case.prefix.clone(),
        suffix: format!("{}{}", &target[text.len()..], case.suffix),
        target: text.to_owned(),
    })
}
