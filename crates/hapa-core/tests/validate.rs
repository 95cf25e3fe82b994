//! Data-driven tests of `hapa_core::validate`: every `tests/validate/ok/*.py` parses clean;
//! every `tests/validate/err/*.py` yields exactly the diagnostics in its `.expected` file
//! (refresh with `UPDATE_EXPECT=1 cargo test -p hapa-core`).

mod common;

use hapa_core::validate;

/// One line per error, as Python positions them: `line:col-end_line:end_col message`.
fn render(source: &str) -> String {
    let diagnostics = validate::module(source);
    validate::to_syntax_errors(source, &diagnostics)
        .iter()
        .map(|e| format!("{}:{}-{}:{} {}\n", e.line, e.column, e.end_line, e.end_column, e.message))
        .collect()
}

#[test]
fn valid_modules_have_no_errors() {
    for path in common::python_fixtures("tests/validate/ok") {
        let source = std::fs::read_to_string(&path).unwrap();
        assert_eq!(render(&source), "", "{}", path.display());
    }
}

#[test]
fn broken_modules_report_every_error() {
    for path in common::python_fixtures("tests/validate/err") {
        let source = std::fs::read_to_string(&path).unwrap();
        let rendered = render(&source);
        assert!(!rendered.is_empty(), "{} parsed clean", path.display());
        expect_test::expect_file![path.with_extension("expected")].assert_eq(&rendered);
    }
}

#[test]
fn editor_positions_are_zero_based_utf16() {
    let source = "s = '😀' +\n";
    let diagnostics = validate::module(source);
    let editor = validate::to_editor_diagnostics(source, &diagnostics);
    let wire = validate::to_syntax_errors(source, &diagnostics);
    assert_eq!(editor.len(), 1);
    // The emoji is one Python column but two UTF-16 units.
    assert_eq!(editor[0].start_line + 1, wire[0].line);
    assert_eq!(editor[0].start_character, wire[0].column);
}
