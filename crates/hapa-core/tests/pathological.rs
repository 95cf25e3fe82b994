//! Inputs that crash recursive parsers: validation must answer, not overflow the stack.
//!
//! Each case runs on a thread with a 1 MiB stack, the size of a wasm32 module's default
//! stack, so what passes here also passes in the extension host's WASM.

use hapa_core::validate;

fn validate_on_small_stack(source: String) -> Vec<validate::Diagnostic> {
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || validate::module(&source))
        .unwrap()
        .join()
        .expect("validation must not overflow the stack")
}

#[test]
fn deeply_nested_brackets_are_rejected_like_cpython() {
    for (open, close) in [("(", ")"), ("[", "]"), ("{", "}")] {
        let source = format!("x = {}1{}\n", open.repeat(5000), close.repeat(5000));
        let diagnostics = validate_on_small_stack(source);
        assert_eq!(diagnostics.len(), 1);
        assert!(diagnostics[0].message.starts_with("too many nested parentheses"));
        assert_eq!(diagnostics[0].start, 4 + validate::MAX_BRACKET_NESTING);
    }
}

#[test]
fn nesting_at_the_limit_still_parses() {
    let n = validate::MAX_BRACKET_NESTING;
    let source = format!("x = {}1{}\n", "(".repeat(n), ")".repeat(n));
    assert_eq!(validate_on_small_stack(source), vec![]);
}

#[test]
fn brackets_inside_strings_and_comments_do_not_count() {
    let source = format!("s = '{}'\n# {}\n", "(".repeat(5000), "[".repeat(5000));
    assert_eq!(validate_on_small_stack(source), vec![]);
}

#[test]
fn unclosed_brackets_by_the_hundred_thousand_answer() {
    let source = "(".repeat(200_000);
    let diagnostics = validate_on_small_stack(source);
    assert!(!diagnostics.is_empty());
}

#[test]
fn long_operator_chains_answer_with_a_reason() {
    let ok = format!("x = 1{}\n", " + 1".repeat(500));
    assert_eq!(validate_on_small_stack(ok), vec![]);
    for chain in [
        format!("x = 1{}\n", " + 1".repeat(20_000)),
        format!("x = {}1\n", "-".repeat(20_000)),
        format!("x = {}y\n", "not ".repeat(20_000)),
        format!("x = {}0\n", "1 if c else ".repeat(3_000)),
        format!("x = 2{}\n", " ** 2".repeat(20_000)),
        format!("x = {}0\n", "lambda: ".repeat(20_000)),
        format!("x = a{}\n", ".b".repeat(20_000)),
        format!("x = ({}1)\n", "-(".repeat(150) + &"-".repeat(700)) + &")".repeat(150),
    ] {
        let diagnostics = validate_on_small_stack(chain);
        assert_eq!(diagnostics.len(), 1);
        assert!(diagnostics[0].message.contains("chains more than"), "{diagnostics:?}");
    }
}

#[test]
fn long_flat_data_is_not_mistaken_for_nesting() {
    let numbers: Vec<String> = (0..20_000).map(|i| format!("-{i}")).collect();
    let source = format!("table = [{}]\n", numbers.join(", "));
    assert_eq!(validate_on_small_stack(source), vec![]);
    let statements = "x = -1 + 2 * 3 if a else not b\n".repeat(5_000);
    assert_eq!(validate_on_small_stack(statements), vec![]);
}

#[test]
fn deep_indentation_is_rejected_like_cpython() {
    let mut source = String::new();
    for level in 0..1_000 {
        source += &" ".repeat(level);
        source += "if x:\n";
    }
    source += &" ".repeat(1_000);
    source += "pass\n";
    let diagnostics = validate_on_small_stack(source);
    assert_eq!(diagnostics.len(), 1);
    assert!(diagnostics[0].message.starts_with("too many levels of indentation"));
}

#[test]
fn nested_calls_parse() {
    let calls = format!("{}0{}\n", "print(".repeat(150), ")".repeat(150));
    assert_eq!(validate_on_small_stack(calls), vec![]);
}

/// Runs `f` on a thread with WASM's 1 MiB stack.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(1024 * 1024).spawn(f).unwrap().join().expect("must not overflow the stack")
}

#[test]
fn context_of_a_pathological_document_is_its_text_alone() {
    let source = format!("import os\nx = {}1{}\ny = \n", "(".repeat(5000), ")".repeat(5000));
    let cursor = source.len() - 1;
    let context =
        on_small_stack(move || hapa_core::context::collect(&hapa_core::context::Request::new(&source, cursor, 50)));
    assert!(context.imports.is_empty(), "the parser must not have seen it");
    assert_eq!(context.prefix, "y = ");
}

#[test]
fn pathological_workspace_modules_are_skipped() {
    let mut workspace = std::collections::BTreeMap::new();
    workspace.insert("deep".to_owned(), format!("def f(): return {}0\n", "-".repeat(20_000)));
    workspace.insert("fine".to_owned(), "def g(): ...\n".to_owned());
    let imported = on_small_stack(move || {
        let source = "import deep\nimport fine\n";
        let request = hapa_core::context::Request {
            workspace: Some(&workspace),
            ..hapa_core::context::Request::new(source, 0, 1000)
        };
        hapa_core::context::collect(&request).imported
    });
    let outlines: Vec<&str> = imported.iter().map(|d| d.outline.as_str()).collect();
    assert_eq!(outlines, ["def g(): ..."]);
}

#[test]
fn normalising_pathological_code_returns_it_as_is() {
    for source in
        [format!("x = {}1{}\n", "[".repeat(5000), "]".repeat(5000)), format!("x = 1{}\n", " + 1".repeat(20_000))]
    {
        let expected = source.clone();
        assert_eq!(on_small_stack(move || hapa_core::cache::normalise(&source)), expected);
    }
}
