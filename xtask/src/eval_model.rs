//! `cargo xtask eval-model`: regenerates the figures of `models/MODEL_CARD.md`.
//!
//! Builds the evaluation cases from the reserved packages (`models/eval_cases.py`), runs
//! `hapa-model eval` natively (quality against the baseline, latency) and
//! `tests/model/bench-wasm.mjs` on the WebAssembly build (latency), writes both reports to
//! `models/eval-report.json` and rewrites the card's figures section from them.

use anyhow::Context;
use serde_json::Value;

use crate::shell::{cache_dir, cmd, root, run, target_dir};
use crate::{dist, setup};

const BEGIN: &str = "<!-- figures: written by `cargo xtask eval-model`; edit outside these markers -->";
const END: &str = "<!-- end of figures -->";
/// Cases timed in WebAssembly (all of them are timed natively).
const WASM_CASES: &str = "100";

pub fn all() -> anyhow::Result<()> {
    setup::all(setup::For::Build)?;
    dist::build()?;
    let eval_dir = cache_dir().join("eval");
    run(cmd("python3").arg("models/eval_cases.py").arg("--out").arg(&eval_dir))?;
    let cases = eval_dir.join("cases.jsonl");

    run(cmd("cargo").args(["build", "--release", "--locked", "-p", "hapa-model", "--bin", "hapa-model"]))?;
    let native = capture(
        cmd(target_dir().join("release/hapa-model").to_str().context("non-UTF-8 path")?)
            .args(["eval", "--cases"])
            .arg(&cases),
    )?;
    // Both WebAssembly builds: the one with relaxed SIMD (which VS Code's Electron runs; Node 20
    // only behind the flag) and the plain one (Node 20 as it is, code-server).
    let bench = |flags: &[&str]| {
        capture(cmd("node").args(flags).arg("tests/model/bench-wasm.mjs").arg(&cases).args([WASM_CASES, "20"]))
    };
    let wasm = bench(&["--experimental-wasm-relaxed-simd"])?;
    anyhow::ensure!(wasm["build"] == "wasm-relaxed", "the relaxed-SIMD build did not load: {}", wasm["build"]);
    let wasm_plain = bench(&[])?;

    let models = root().join("models");
    let description: Value = serde_json::from_str(&std::fs::read_to_string(models.join("hapa-code.json"))?)?;
    let size = std::fs::metadata(models.join("hapa-code.onnx"))?.len();
    let report = serde_json::json!({
        "native": native,
        "wasm": wasm,
        "wasm_plain": wasm_plain,
        "model_bytes": size,
        "model": description,
    });
    std::fs::write(models.join("eval-report.json"), serde_json::to_string_pretty(&report)? + "\n")?;

    let card_path = models.join("MODEL_CARD.md");
    let card = std::fs::read_to_string(&card_path)?;
    let (head, rest) = card.split_once(BEGIN).context("MODEL_CARD.md lacks the figures marker")?;
    let (_, tail) = rest.split_once(END).context("MODEL_CARD.md lacks the end-of-figures marker")?;
    std::fs::write(&card_path, format!("{head}{BEGIN}\n{}{END}{tail}", figures(&report)))?;
    eprintln!("wrote models/eval-report.json and the figures of models/MODEL_CARD.md");
    Ok(())
}

fn capture(command: &mut std::process::Command) -> anyhow::Result<Value> {
    eprintln!("$ {command:?}");
    let out = command.stderr(std::process::Stdio::inherit()).output()?;
    anyhow::ensure!(out.status.success(), "{command:?} failed ({})", out.status);
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn figures(report: &Value) -> String {
    let n = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let (native, wasm, model) = (&report["native"], &report["wasm"], &report["native"]["model"]);
    let baseline = &report["native"]["baseline"];
    let training = &report["model"]["training"];
    let fixed_native = n(&native["fixed_512_prompt_24_tokens_ms"]["p50"]);
    let fixed_wasm = n(&wasm["fixed_512_prompt_24_tokens_ms"]["p50"]);
    let mut out = String::new();
    out.push_str(&format!(
        "Next-line completion, {} cases from the reserved packages (cursor at a random character of a \
         non-blank line; target: the rest of the line).\n\n",
        model["cases"]
    ));
    out.push_str("| | exact match | edit similarity | parseable after insertion | target |\n|---|---|---|---|---|\n");
    out.push_str(&format!(
        "| HAPA model | {:.1}% | {:.1} | {:.1}% | EM ≥ 25%, ES ≥ 55, ≥ 95% parseable |\n",
        n(&model["exact_match"]),
        n(&model["edit_similarity"]),
        n(&model["parseable"])
    ));
    let own_line = &native["own_line"];
    out.push_str(&format!(
        "| the model's own line only (not weighed against earlier lines) | {:.1}% | {:.1} | {:.1}% | |\n",
        n(&own_line["exact_match"]),
        n(&own_line["edit_similarity"]),
        n(&own_line["parseable"])
    ));
    out.push_str(&format!(
        "| baseline: repeat the nearest earlier line that starts the same way | {:.1}% | {:.1} | {:.1}% | |\n\n",
        n(&baseline["exact_match"]),
        n(&baseline["edit_similarity"]),
        n(&baseline["parseable"])
    ));
    out.push_str(&format!(
        "In {:.1}% of the cases HAPA's completion is the rest of an earlier line that starts the same way, \
         which the model itself scored above the line it wrote, line end included (`line_choice` in \
         hapa-model).\n\n",
        n(&model["from_earlier_line"])
    ));
    let closers = &native["before_auto_closed"];
    out.push_str(&format!(
        "The same cases as an editor that closes brackets and quotes by itself has them: {} of them end \
         with closers, which are moved after the cursor (the target is what comes before them). \
         Exact match {:.1}%, edit similarity {:.1}, parseable {:.1}%.\n\n",
        closers["cases"],
        n(&closers["exact_match"]),
        n(&closers["edit_similarity"]),
        n(&closers["parseable"])
    ));
    out.push_str("| by package | cases | exact match | edit similarity | parseable |\n|---|---|---|---|---|\n");
    if let Some(packages) = native["by_package"].as_object() {
        for (name, figures) in packages {
            out.push_str(&format!(
                "| {name} | {} | {:.1}% | {:.1} | {:.1}% |\n",
                figures["cases"],
                n(&figures["exact_match"]),
                n(&figures["edit_similarity"]),
                n(&figures["parseable"])
            ));
        }
    }
    let plain = &report["wasm_plain"];
    let fixed_plain = n(&plain["fixed_512_prompt_24_tokens_ms"]["p50"]);
    out.push_str(
        "\n| speed (one thread) | native | WASM, relaxed SIMD (VS Code) | WASM, SIMD128 only (Node 20, code-server) | target |\n|---|---|---|---|---|\n",
    );
    let p50_p95 = |v: &Value| format!("{:.0} / {:.0}", n(&v["p50"]), n(&v["p95"]));
    let fixed = |r: &Value| p50_p95(&r["fixed_512_prompt_24_tokens_ms"]);
    out.push_str(&format!(
        "| 512-token prompt + 24 tokens, p50 / p95 ms | {} | {} | {} | WASM p50 ≤ 150 ms |\n",
        fixed(native),
        fixed(wasm),
        fixed(plain)
    ));
    out.push_str(&format!(
        "| WASM time ÷ native time | | {:.2}× | {:.2}× | ≤ 2.5× |\n",
        fixed_wasm / fixed_native,
        fixed_plain / fixed_native
    ));
    out.push_str(&format!(
        "| line completion latency p50 / p95 ms (native: all cases, WASM: first {}) | {} | {} | {} | |\n",
        wasm["cases"],
        p50_p95(&model["latency_ms"]),
        p50_p95(&wasm["latency_ms"]),
        p50_p95(&plain["latency_ms"])
    ));
    out.push_str(&format!(
        "| line completion while typing: the previous keystroke's cache reused ({:.0}% of prompt tokens), p50 / p95 ms | {} | {} | {} | |\n",
        n(&native["typing"]["reused_prompt_share"]),
        p50_p95(&native["typing"]["latency_ms"]),
        p50_p95(&wasm["typing"]["latency_ms"]),
        p50_p95(&plain["typing"]["latency_ms"])
    ));
    out.push_str(&format!(
        "| decoding tokens/s (whole completions, prompt included) | {:.0} | {:.0} | {:.0} | |\n",
        n(&model["tokens_per_second"]),
        n(&wasm["tokens_per_second"]),
        n(&plain["tokens_per_second"])
    ));
    out.push_str(&format!(
        "| model load ms (WASM) | | {:.0} | {:.0} | |\n\n",
        n(&wasm["load_ms"]),
        n(&plain["load_ms"])
    ));
    out.push_str(&format!(
        "Model file {:.1} MB (float32). Training: {:.1} M tokens in {:.0} min, {} steps.\n",
        n(&report["model_bytes"]) / 1e6,
        n(&training["tokens"]) / 1e6,
        n(&training["seconds"]) / 60.0,
        training["step"]
    ));
    out
}
