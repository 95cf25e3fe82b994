//! The bundled model through the runtime: tract decodes exactly what PyTorch decodes
//! (`models/parity.json`, written by `models/export.py`), decoding stops when the caller cancels,
//! and `hapa-model complete` answers JSON lines in order.

use std::io::Write;
use std::ops::ControlFlow;
use std::process::{Command, Stdio};

use hapa_model::network::{Network, Shape};
use hapa_model::tokenizer::Tokenizer;
use hapa_model::{CodeModel, CompletionRequest, ModelFiles, PromptReuse, StopReason, StopRules};

fn model_dir() -> String {
    std::env::var("HAPA_MODEL_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../models").to_owned())
}

fn load() -> CodeModel {
    let dir = model_dir();
    let read = |name: &str| std::fs::read(format!("{dir}/{name}")).unwrap_or_else(|e| panic!("{dir}/{name}: {e}"));
    let onnx = read("hapa-code.onnx");
    let tokenizer = String::from_utf8(read("tokenizer.json")).unwrap();
    let description = String::from_utf8(read("hapa-code.json")).unwrap();
    CodeModel::load(ModelFiles { onnx: &onnx, tokenizer_json: &tokenizer, description_json: &description }).unwrap()
}

#[derive(serde::Deserialize)]
struct Vector {
    prompt: Vec<u32>,
    greedy: Vec<u32>,
}

#[test]
fn greedy_decoding_matches_the_trainer() {
    let model = load();
    let vectors: Vec<Vector> =
        serde_json::from_str(&std::fs::read_to_string(format!("{}/parity.json", model_dir())).unwrap()).unwrap();
    assert!(!vectors.is_empty());
    for vector in vectors {
        let tokens = model.greedy_tokens(&vector.prompt, vector.greedy.len()).unwrap();
        assert_eq!(tokens, vector.greedy, "prompt {:?}", model.tokenizer().decode(&vector.prompt));
    }
}

#[test]
fn returning_break_from_the_callback_stops_decoding_between_tokens() {
    let model = load();
    let request = CompletionRequest {
        stop: StopRules {
            end_of_line: false,
            end_of_block: false,
            max_tokens: 64,
            stop_strings: Vec::new(),
            ignore_end_of_text: false,
        },
        syntax_aware: false,
        ..CompletionRequest::rest_of_line("import os\n\n\ndef main():\n    ", "", 64)
    };
    let mut pieces = 0;
    let completion = model
        .complete(&request, |_| {
            pieces += 1;
            ControlFlow::Break(())
        })
        .unwrap();
    assert_eq!(pieces, 1, "decoding went on after the callback asked it to stop");
    assert_eq!(completion.stop_reason, StopReason::Cancelled);
    assert!(completion.generated_tokens < 64);
}

#[test]
fn the_command_line_answers_each_json_line_in_order() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hapa-model"))
        .args(["complete", "--model", &format!("{}/hapa-code.onnx", model_dir()), "--max-tokens", "8"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let inputs = [r#"{"prefix": "def add(a, b):\n    return a", "suffix": "\n"}"#, r#"{"prefix": "x = [1, 2"}"#];
    child.stdin.take().unwrap().write_all(format!("{}\n{}\n", inputs[0], inputs[1]).as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let lines: Vec<serde_json::Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        let completion = line["completion"].as_str().expect("a completion string");
        assert!(!completion.contains('\n'), "more than the rest of the line: {completion:?}");
        assert_eq!(line.as_object().unwrap().len(), 1, "only the stable field: {line}");
    }
}

#[test]
fn the_command_line_names_a_bad_input_line() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hapa-model"))
        .args(["complete", "--model", &format!("{}/hapa-code.onnx", model_dir())])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"{\"prefix\": 3}\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("stdin line 1"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn an_empty_file_still_gets_an_answer() {
    let model = load();
    for (prefix, suffix) in [("", ""), ("", "\n"), ("\n", "")] {
        let completion = model
            .complete(&CompletionRequest::rest_of_line(prefix, suffix, 4), |_| ControlFlow::Continue(()))
            .unwrap_or_else(|e| panic!("{prefix:?}/{suffix:?}: {e}"));
        assert!(completion.prompt_tokens > 0);
    }
}

#[test]
fn a_partly_typed_word_is_finished_not_restarted() {
    let model = load();
    let prefix = "import os\n\n\ndef read_config(directory):\n    path = os.path.jo";
    let request = CompletionRequest::rest_of_line(prefix, "\n", 16);
    let (prompt, healed) = model.prompt(&request);
    assert_eq!(healed, "jo");
    assert_eq!(model.tokenizer().decode(&prompt), &prefix[..prefix.len() - 2]);
    let completion = model.complete(&request, |_| ControlFlow::Continue(())).unwrap();
    // Without healing this model wrote `joint(...)`'s continuation; the healed word is `join`.
    assert!(completion.text.starts_with("in("), "{:?}", completion.text);
    // Rewriting the healed piece does not use up the token budget: one token still adds text.
    let one = model.complete(&CompletionRequest::rest_of_line(prefix, "\n", 1), |_| ControlFlow::Continue(())).unwrap();
    assert_eq!(one.generated_tokens, 1, "{one:?}");
    assert!(completion.text.starts_with(&one.text) && !one.text.is_empty(), "{one:?}");
}

#[test]
fn typing_reuses_the_previous_prompt_and_completes_the_same() {
    let model = load();
    let mut reuse = PromptReuse::default();
    let file = "import os\n\n\ndef read_config(directory):\n    path = os.path.join(directory, 'config.ini')\n    with open(path) as handle:\n        return handle.read()\n\n\ndef write_config(directory, text):\n    path = os.path.join(directory, 'config.ini')\n";
    // Keystroke by keystroke through a new line, then an unrelated file (nothing to reuse).
    let typed = "    with open(pa";
    let mut requests: Vec<(String, String)> =
        (1..=typed.len()).map(|end| (format!("{file}{}", &typed[..end]), "\n".to_owned())).collect();
    requests.push(("class Stack:\n    def push(self, item):\n        self.".to_owned(), "\n".to_owned()));
    for (index, (prefix, suffix)) in requests.iter().enumerate() {
        let request = CompletionRequest::rest_of_line(prefix.as_str(), suffix.as_str(), 12);
        let cold = model.complete(&request, |_| ControlFlow::Continue(())).unwrap();
        let warm = model.complete_reusing(&request, &mut reuse, |_| ControlFlow::Continue(())).unwrap();
        assert_eq!(cold.reused_prompt_tokens, 0);
        assert_eq!(
            (&warm.text, warm.stop_reason, warm.generated_tokens, warm.prompt_tokens),
            (&cold.text, cold.stop_reason, cold.generated_tokens, cold.prompt_tokens),
            "{prefix:?}"
        );
        let last = index == requests.len() - 1;
        match (index, last) {
            (0, _) => assert_eq!(warm.reused_prompt_tokens, 0, "the first request has nothing to reuse"),
            (_, true) => assert_eq!(warm.reused_prompt_tokens, 0, "an unrelated file shares no start"),
            // The file above the cursor's line is the same from one keystroke to the next.
            _ => assert!(
                warm.reused_prompt_tokens >= model.tokenizer().encode(file).len() - 1,
                "keystroke {index}: reused {} of {}",
                warm.reused_prompt_tokens,
                warm.prompt_tokens
            ),
        }
    }
}

#[test]
fn a_prompt_prepared_while_the_cursor_rests_is_reused_by_the_next_keystroke() {
    let model = load();
    let mut reuse = PromptReuse::default();
    let file =
        "import os\n\n\ndef read_config(directory):\n    path = os.path.join(directory, 'config.ini')\n    with open(";
    let at_rest = CompletionRequest::rest_of_line(file, "\n", 12);
    let prompt_tokens = model.prompt(&at_rest).0.len();
    assert_eq!(model.prepare_reusing(&at_rest, &mut reuse).unwrap(), prompt_tokens);
    // Preparing the same place again computes nothing new but the prompt's last token.
    assert_eq!(model.prepare_reusing(&at_rest, &mut reuse).unwrap(), 1);

    let typed = CompletionRequest::rest_of_line(format!("{file}p"), "\n", 12);
    let cold = model.complete(&typed, |_| ControlFlow::Continue(())).unwrap();
    let warm = model.complete_reusing(&typed, &mut reuse, |_| ControlFlow::Continue(())).unwrap();
    assert_eq!((&warm.text, warm.prompt_tokens), (&cold.text, cold.prompt_tokens));
    assert!(
        warm.reused_prompt_tokens + 3 >= warm.prompt_tokens,
        "only the typed piece is computed: reused {} of {}",
        warm.reused_prompt_tokens,
        warm.prompt_tokens
    );
}

#[test]
fn a_line_before_auto_closed_brackets_is_completed_left_to_right_without_doubling_them() {
    let model = load();
    let prefix = "import os\n\n\ndef read_config(directory):\n    path = os.path.join(";
    let request = CompletionRequest::rest_of_line(prefix, ")\n", 16);
    let (prompt, healed) = model.prompt(&request);
    // Left to right: the prefix alone (less the healed piece), no FIM tokens, no suffix.
    assert_eq!(model.tokenizer().decode(&prompt), &prefix[..prefix.len() - healed.len()]);
    let completion = model.complete(&request, |_| ControlFlow::Continue(())).unwrap();
    assert!(!completion.text.is_empty() && !completion.text.ends_with(')'), "{completion:?}");
    let module = format!("{prefix}{})\n", completion.text);
    assert!(hapa_core::validate::module(&module).is_empty(), "{module}");
}

/// Files whose next line repeats, or nearly repeats, one written earlier.
const REPEATING: &[&str] = &[
    "def test_stack():\n    stack = Stack()\n    stack.push(1)\n    stack.push(2)\n    assert stack.pop() == 2\n    assert stack.pop() == 1\n    assert stack.is_empty()\n\n\ndef test_empty_stack():\n    stack = Stack()\n    assert st",
    "import argparse\n\n\ndef main():\n    parser = argparse.ArgumentParser()\n    parser.add_argument('--host', default='localhost')\n    parser.add_argument('--port', type=int, default=8080)\n    parser.add_argument('--verbose', action='store_true')\n    args = parser.parse_args()\n    print(args.host, args.port)\n\n\ndef other():\n    parser = argparse.ArgumentParser()\n    parser.add_argument('--po",
    "import json\n\n\ndef load(path):\n    with open(path) as handle:\n        return json.load(handle)\n\n\ndef save(path, data):\n    with open(path, 'w') as handle:\n        json.dump(data, handle)\n\n\ndef load_all(paths):\n    result = []\n    for path in paths:\n        with open(pa",
    "def area(shape):\n    if shape.kind == 'square':\n        return shape.side ** 2\n    if shape.kind == 'circle':\n        return 3.14159 * shape.radius ** 2\n    raise ValueError(f'unknown shape {shape.kind}')\n\n\ndef perimeter(shape):\n    if shape.kind == 'square':\n        return 4 * shape.side\n    if shape.kind == 'circle':\n        return 2 * 3.14159 * shape.radius\n    rai",
];

#[test]
fn a_line_is_scored_the_same_whatever_was_scored_before_it() {
    let model = load();
    let request = CompletionRequest::rest_of_line(REPEATING[0], "\n", 16);
    let (prompt, healed) = model.prompt(&request);
    let tokens = |text: &str| model.tokenizer().encode(&format!("{healed}{text}"));
    let (popped, empty) = (tokens("ack.pop() == 1"), tokens("ack.is_empty()"));
    let mut scorer = model.line_scorer(&prompt).unwrap();
    let first = scorer.score(&popped, f64::NEG_INFINITY).unwrap().unwrap();
    // Another line in between cuts the cache back to what the two share, then grows it again.
    scorer.score(&empty, f64::NEG_INFINITY).unwrap().unwrap();
    let again = scorer.score(&popped, f64::NEG_INFINITY).unwrap().unwrap();
    let cold = model.line_scorer(&prompt).unwrap().score(&popped, f64::NEG_INFINITY).unwrap().unwrap();
    assert!(first < 0.0 && (first - again).abs() < 1e-6 && (first - cold).abs() < 1e-6, "{first} {again} {cold}");
    // A floor above the score stops scoring: the line cannot win.
    assert_eq!(scorer.score(&popped, first + 0.5).unwrap(), None);
}

#[test]
fn an_earlier_line_replaces_the_models_own_only_when_the_model_finds_it_likelier() {
    let model = load();
    let mut taken = 0;
    for prefix in REPEATING {
        let request = CompletionRequest::rest_of_line(*prefix, "\n", 24);
        let chosen = model.complete(&request, |_| ControlFlow::Continue(())).unwrap();
        let own = CompletionRequest { earlier_lines: 0, ..request.clone() };
        let own = model.complete(&own, |_| ControlFlow::Continue(())).unwrap();
        assert!(!own.from_earlier_line);
        if !chosen.from_earlier_line {
            assert_eq!(chosen.text, own.text, "{prefix:?}");
            continue;
        }
        taken += 1;
        assert_ne!(chosen.text, own.text, "{prefix:?}");
        let rests = hapa_model::line_choice::earlier_line_rests(prefix, request.earlier_lines);
        assert!(rests.contains(&chosen.text.as_str()), "{:?} is not among {rests:?}", chosen.text);
        let (prompt, healed) = model.prompt(&request);
        let mut scorer = model.line_scorer(&prompt).unwrap();
        let mut score = |text: &str| {
            let tokens = model.tokenizer().encode(&format!("{healed}{text}"));
            scorer.score(&tokens, f64::NEG_INFINITY).unwrap().unwrap()
        };
        assert!(score(&chosen.text) > score(&own.text), "{:?} over {:?}", chosen.text, own.text);
        let check = hapa_core::splice::check(prefix, &chosen.text, "\n");
        assert!(check.new_errors.is_empty(), "{:?} breaks {prefix:?}: {check:?}", chosen.text);
    }
    // Weights trained again may prefer their own lines here; these files then need replacing
    // with ones where an earlier line wins, so that the choice stays exercised.
    assert!(taken >= 1, "no file took an earlier line");
}

#[test]
fn a_long_prompt_fed_at_once_gives_the_logits_of_feeding_it_token_by_token() {
    // `Network::feed` runs a long prompt through the graph in pieces; every piece must see the
    // cache the ones before it left, so the logits after it are those of one token a run.
    let dir = model_dir();
    let onnx = std::fs::read(format!("{dir}/hapa-code.onnx")).unwrap();
    let shape: Shape =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/hapa-code.json")).unwrap()).unwrap();
    let network = Network::from_onnx_bytes(&onnx, shape).unwrap();
    // The tokenizer alone: a whole `CodeModel` would optimise the graph a second time.
    let tokenizer = Tokenizer::from_json(&std::fs::read_to_string(format!("{dir}/tokenizer.json")).unwrap()).unwrap();
    let tokens = &tokenizer.encode(include_str!("../src/network.rs"))[..300];

    let mut at_once = network.new_cache().unwrap();
    let logits = network.feed(&mut at_once, tokens).unwrap();
    let mut one_by_one = network.new_cache().unwrap();
    let mut expected = Vec::new();
    for token in tokens {
        expected = network.feed(&mut one_by_one, std::slice::from_ref(token)).unwrap();
    }
    assert_eq!(at_once.positions(), tokens.len());
    assert_eq!(logits.len(), shape.vocab_size);
    let largest_gap = logits.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(largest_gap < 1e-3, "logits differ by up to {largest_gap}");
    let best = |values: &[f32]| (0..values.len()).max_by(|a, b| values[*a].total_cmp(&values[*b])).unwrap();
    assert_eq!(best(&logits), best(&expected));

    // And decoding goes on from the pieces' cache as from the single tokens' one.
    let next = best(&logits) as u32;
    let after_pieces = network.feed(&mut at_once, &[next]).unwrap();
    let after_tokens = network.feed(&mut one_by_one, &[next]).unwrap();
    assert_eq!(best(&after_pieces), best(&after_tokens));
}
