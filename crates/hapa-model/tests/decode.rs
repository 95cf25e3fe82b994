//! Prompt layout and truncation, sampling and stop rules, with the real tokenizer.

use std::ops::ControlFlow;

use hapa_model::Sampling;
use hapa_model::decode::{
    COPIES_ALLOWED, Healing, MAX_SUFFIX_TOKENS, Sampler, SpecialTokens, StopReason, StopRules, auto_closed, check_stop,
    fim_prompt, line_is_complete, starts_another_copy, without_closers,
};
use hapa_model::tokenizer::Tokenizer;

const MODELS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models");

fn tokenizer() -> Tokenizer {
    Tokenizer::from_json(&std::fs::read_to_string(format!("{MODELS}/tokenizer.json")).unwrap()).unwrap()
}

fn special(tokenizer: &Tokenizer) -> SpecialTokens {
    let id = |name: &str| tokenizer.special(name).unwrap();
    SpecialTokens {
        end_of_text: id("<|endoftext|>"),
        fim_prefix: id("<|fim_prefix|>"),
        fim_suffix: id("<|fim_suffix|>"),
        fim_middle: id("<|fim_middle|>"),
    }
}

fn numbered_lines(count: usize) -> String {
    (0..count).map(|i| format!("value_{i} = compute({i}, {i})\n")).collect()
}

#[test]
fn a_short_prompt_is_laid_out_prefix_suffix_middle() {
    let tokenizer = tokenizer();
    let special = special(&tokenizer);
    let prompt = fim_prompt(&tokenizer, special, "x = ", "\nprint(x)\n", 512);
    let mut expected = vec![special.fim_prefix];
    expected.extend(tokenizer.encode("x = "));
    expected.push(special.fim_suffix);
    expected.extend(tokenizer.encode("\nprint(x)\n"));
    expected.push(special.fim_middle);
    assert_eq!(prompt, expected);
}

#[test]
fn a_long_prefix_loses_its_first_lines_and_keeps_the_cursor_line() {
    let tokenizer = tokenizer();
    let special = special(&tokenizer);
    let prefix = format!("{}result = ", numbered_lines(400));
    let prompt = fim_prompt(&tokenizer, special, &prefix, "", 256);
    assert!(prompt.len() <= 256, "{} tokens", prompt.len());
    let text = tokenizer.decode(&prompt[1..prompt.len() - 2]);
    assert!(text.ends_with("value_399 = compute(399, 399)\nresult = "), "{text:?}");
    assert!(text.starts_with("value_"), "cut inside a line: {text:?}");
    assert!(!text.contains("value_0 ="), "kept the farthest line");
}

#[test]
fn a_long_suffix_keeps_its_first_whole_lines_within_its_share() {
    let tokenizer = tokenizer();
    let special = special(&tokenizer);
    let suffix = numbered_lines(400);
    let prompt = fim_prompt(&tokenizer, special, "start = 1\n", &suffix, 512);
    let at = prompt.iter().position(|t| *t == special.fim_suffix).unwrap();
    let kept = &prompt[at + 1..prompt.len() - 1];
    assert!(kept.len() <= MAX_SUFFIX_TOKENS);
    let text = tokenizer.decode(kept);
    assert!(text.starts_with("value_0 = compute(0, 0)\n"), "{text:?}");
    assert!(text.ends_with(')'), "cut inside a line: {text:?}");
}

#[test]
fn cuts_never_split_a_character() {
    // Found by Schemathesis: a suffix of multi-byte characters with no newline, cut inside one.
    let tokenizer = tokenizer();
    let special = special(&tokenizer);
    let wide = "Ω≈ç√∫˜µ≤≥÷åß∂ƒ©˙∆˚¬…æœ∑´®†¥¨ˆøπ“‘¡™£¢∞§¶•ªº–≠".repeat(20);
    for budget in [8, 16, 40, 64, 200] {
        let prompt = fim_prompt(&tokenizer, special, &wide, &wide, budget);
        assert!(prompt.len() <= budget.max(3), "{} tokens for a budget of {budget}", prompt.len());
    }
}

#[test]
fn greedy_takes_the_best_allowed_token() {
    let mut sampler = Sampler::new(Sampling::Greedy);
    assert_eq!(sampler.pick(&[0.1, 3.0, 2.0], |_| true), 1);
    assert_eq!(sampler.pick(&[0.1, 3.0, 2.0], |token| token != 1), 2);
}

#[test]
fn seeded_sampling_is_reproducible_and_top_k_one_is_greedy() {
    let logits: Vec<f32> = (0..50).map(|i| ((i * 37) % 11) as f32 * 0.3).collect();
    let run = |seed| {
        let mut sampler = Sampler::new(Sampling::TopKTopP { temperature: 1.0, top_k: 20, top_p: 0.95, seed });
        (0..30).map(|_| sampler.pick(&logits, |_| true)).collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8), "different seeds drew the same 30 tokens");
    let mut top1 = Sampler::new(Sampling::TopKTopP { temperature: 0.7, top_k: 1, top_p: 1.0, seed: 3 });
    let mut greedy = Sampler::new(Sampling::Greedy);
    assert_eq!(top1.pick(&logits, |_| true), greedy.pick(&logits, |_| true));
}

/// Rules, the cursor's line before the cursor, the generated text, and what is kept (or `None`:
/// decoding goes on).
type StopCase = (StopRules, &'static str, &'static str, Option<(&'static str, StopReason)>);

#[test]
fn stop_rules_cut_where_they_should() {
    let cases: &[StopCase] = &[
        (StopRules::line(32), "x = ", "foo(1)\ny = 2", Some(("foo(1)", StopReason::EndOfLine))),
        (StopRules::line(32), "x = ", "foo(1", None),
        (
            StopRules::block(64),
            "    if ready:",
            "\n        go()\n        wait()\n    else:\n",
            Some(("\n        go()\n        wait()", StopReason::EndOfBlock)),
        ),
        (
            StopRules::block(64),
            "        total = ",
            "a + b\n        return total\n\ndef next_one():\n",
            Some(("a + b\n        return total", StopReason::EndOfBlock)),
        ),
        (
            StopRules { stop_strings: vec!["\n\n".into()], ..StopRules::block(64) },
            "x = ",
            "1\n\ny = 2",
            Some(("1", StopReason::StopString)),
        ),
    ];
    for (rules, cursor_line, text, expected) in cases {
        let got = match check_stop(rules, cursor_line, text) {
            ControlFlow::Break((keep, reason)) => Some((&text[..keep], reason)),
            ControlFlow::Continue(()) => None,
        };
        assert_eq!(got, *expected, "{cursor_line:?} + {text:?}");
    }
}

#[test]
fn healing_takes_back_the_last_piece_of_the_cursor_line() {
    let tokenizer = tokenizer();
    // (prefix, the piece the model writes again)
    let cases = [
        ("import os\npath = os.path.jo", "jo"),
        ("x = ", " "),
        ("total = count +", " +"),
        ("print(", "("),
        ("def f():\n    return valu", " valu"),
        ("items = [1, 2", " 2"),
        ("name = 'ab", "ab"),
        // Nothing on the line but indentation: nothing to heal.
        ("def f():\n    ", ""),
        ("def f():\n", ""),
        ("", ""),
        // One space of indentation splits as in the whole text: the newline piece takes it.
        ("if x:\n y", "y"),
        ("héllo = wör", " wör"),
    ];
    for (prefix, piece) in cases {
        assert_eq!(Healing::piece(&tokenizer, prefix), piece, "{prefix:?}");
        // The text before the piece encodes to a prefix of the whole text's tokens.
        let kept = tokenizer.encode(&prefix[..prefix.len() - piece.len()]);
        assert_eq!(kept[..], tokenizer.encode(prefix)[..kept.len()], "{prefix:?}");
    }
}

#[test]
fn healing_allows_tokens_that_agree_with_the_piece_until_it_is_written() {
    let mut healing = Healing::new("jo");
    assert!(healing.allows(b"j") && healing.allows(b"jo") && healing.allows(b"join"));
    assert!(!healing.allows(b"ja") && !healing.allows(b" jo") && !healing.allows(b""));
    assert_eq!(healing.advance(b"j"), 1);
    assert!(healing.is_pending() && healing.allows(b"oin") && !healing.allows(b"j"));
    assert_eq!(healing.advance(b"oin"), 1);
    assert!(!healing.is_pending() && healing.allows(b"anything") && healing.allows(b""));
}

#[test]
fn a_line_may_end_only_when_it_leaves_the_module_whole_around_it() {
    // (prefix, completion, suffix, may the line end here)
    let cases = [
        ("x = foo(", "1, 2)", "\ny = 2\n", true),
        ("x = foo(", "1, 2", "\ny = 2\n", false),
        ("x = ", "", "\ny = 2\n", false),
        ("if x", ":", "\n    pass\n", true),
        ("if x", "", "\n    pass\n", false),
        // A call that goes on over the next lines is complete once its last line is.
        ("call(", "a,", "\n     b)\n", true),
        // Someone else's broken code far below is not this line's fault.
        ("x = ", "1", "\ny = 2\n\n\ndef broken(:\n    pass\n", true),
        // Nor is broken code above it.
        ("def broken(:\n    pass\n\n\nx = ", "1", "\n", true),
    ];
    for (prefix, text, suffix, complete) in cases {
        assert_eq!(line_is_complete(prefix, text, suffix), complete, "{prefix:?} + {text:?} + {suffix:?}");
    }
}

#[test]
fn a_fourth_copy_of_a_repeated_run_is_refused() {
    assert_eq!(COPIES_ALLOWED, 3, "the cases below are written for three copies");
    // (tokens so far, next token, refused)
    let cases: &[(&[u32], u32, bool)] = &[
        // `text, text, text, ` then `text` again: a run of two tokens, three times.
        (&[7, 9, 7, 9, 7, 9], 7, true),
        (&[7, 9, 7, 9, 7, 9], 8, false),
        // Only two copies so far: a third is allowed.
        (&[7, 9, 7, 9], 7, false),
        // A run of three with something before it.
        (&[1, 2, 4, 5, 6, 4, 5, 6, 4, 5, 6], 4, true),
        // Copies that are not back to back do not count.
        (&[4, 5, 6, 1, 4, 5, 6, 4, 5, 6], 4, false),
        // One token repeated (a line of `====`) is left alone.
        (&[3, 3, 3, 3, 3, 3, 3], 3, false),
        // Eight-token runs are the longest looked for; nine are not.
        (&[1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8], 1, true),
        (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9], 1, false),
        (&[], 1, false),
    ];
    for (generated, next, refused) in cases {
        assert_eq!(starts_another_copy(generated, *next), *refused, "{generated:?} then {next}");
    }
}

#[test]
fn closers_the_editor_typed_after_the_cursor_are_recognised_and_not_written_twice() {
    // (suffix, the closers it starts with)
    let suffixes: &[(&str, Option<&str>)] = &[
        (")\n", Some(")")),
        ("))  \nx = 1\n", Some("))")),
        ("\"]\n", Some("\"]")),
        ("')", Some("')")),
        ("\n", None),
        ("", None),
        (", b)\n", None),
        ("):\n", None),
    ];
    for (suffix, closers) in suffixes {
        assert_eq!(auto_closed(suffix), *closers, "{suffix:?}");
    }
    // (completion, closers after the cursor, what is inserted)
    let completions = [
        ("directory, 'config.ini')", ")", "directory, 'config.ini'"),
        ("x))  ", "))", "x"),
        // The editor types over the closers it inserted: `x)` before `))` reads `x))`.
        ("x)", "))", "x"),
        ("a.txt'", "')", "a.txt"),
        ("f(x))", ")", "f(x)"),
        ("x", ")", "x"),
        ("x  ", ")", "x  "),
        ("x]", ")", "x]"),
        ("", ")", ""),
    ];
    for (text, closers, inserted) in completions {
        assert_eq!(without_closers(text, closers), inserted, "{text:?} before {closers:?}");
    }
}
