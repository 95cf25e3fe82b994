//! Data-driven tests of `hapa_core::context::collect`: each `tests/context/*.py` fixture is a
//! document (and optionally workspace modules) with the cursor marked `$0` and an optional
//! selection between `$[` and `$]`; the collected context must equal its `.expected` file
//! (refresh with `UPDATE_EXPECT=1 cargo test -p hapa-core`).
//!
//! Fixture directives, each on a line of its own: `#- budget N` (default 1000), `#- package P`,
//! `#- module NAME` (the lines up to the next directive are that workspace module) and
//! `#- document` (the lines after it are the document; without it, the whole fixture is).

mod common;

use std::collections::BTreeMap;

use hapa_core::context::{self, Context, Request, estimate_tokens};

const CURSOR: &str = "$0";
const SELECTION_START: &str = "$[";
const SELECTION_END: &str = "$]";

struct Fixture {
    document: String,
    cursor: usize,
    selection: Option<std::ops::Range<usize>>,
    budget: usize,
    package: Option<String>,
    workspace: BTreeMap<String, String>,
}

fn parse_fixture(text: &str) -> Fixture {
    let mut budget = 1000;
    let mut package = None;
    let mut workspace = BTreeMap::new();
    let mut sections: Vec<(Option<String>, String)> = vec![(None, String::new())];
    for line in text.split_inclusive('\n') {
        let Some(directive) = line.strip_prefix("#- ") else {
            sections.last_mut().unwrap().1.push_str(line);
            continue;
        };
        let (name, value) = directive.trim().split_once(' ').unwrap_or((directive.trim(), ""));
        match name {
            "budget" => budget = value.parse().unwrap(),
            "package" => package = Some(value.to_owned()),
            "module" => sections.push((Some(value.to_owned()), String::new())),
            "document" => sections.push((None, String::new())),
            other => panic!("unknown fixture directive {other}"),
        }
    }
    let mut document = String::new();
    for (module, source) in sections {
        match module {
            Some(name) => {
                workspace.insert(name, source);
            }
            None if !source.trim().is_empty() => document = source,
            None => {}
        }
    }
    let (document, cursor, selection) = take_markers(&document);
    Fixture { document, cursor, selection, budget, package, workspace }
}

/// The document without its markers, the cursor (the selection's end when unmarked) and the
/// selection.
fn take_markers(marked: &str) -> (String, usize, Option<std::ops::Range<usize>>) {
    let mut text = marked.to_owned();
    let mut take = |marker: &str| {
        let at = text.find(marker)?;
        text.replace_range(at..at + marker.len(), "");
        Some(at)
    };
    // Markers are removed in text order so each offset holds in the final text.
    let mut positions: Vec<(usize, &str)> =
        [CURSOR, SELECTION_START, SELECTION_END].into_iter().filter_map(|m| Some((marked.find(m)?, m))).collect();
    positions.sort();
    let mut found = BTreeMap::new();
    for (_, marker) in positions {
        found.insert(marker, take(marker).unwrap());
    }
    let selection = found.get(SELECTION_START).zip(found.get(SELECTION_END)).map(|(&s, &e)| s..e);
    let cursor = found.get(CURSOR).copied().or(selection.as_ref().map(|s| s.end)).expect("fixture has no cursor");
    (text, cursor, selection)
}

fn collect(fixture: &Fixture, cursor: usize, budget: usize) -> Context {
    context::collect(&Request {
        selection: fixture.selection.clone(),
        package: fixture.package.as_deref(),
        workspace: Some(&fixture.workspace),
        ..Request::new(&fixture.document, cursor, budget)
    })
}

fn render(context: &Context, budget: usize) -> String {
    let mut out = format!("tokens: {} of {budget}\n", context.estimated_tokens);
    let mut section = |name: &str, lines: Vec<String>| {
        if !lines.is_empty() {
            out += &format!("-- {name}\n{}\n", lines.join("\n"));
        }
    };
    section("scopes", context.scopes.clone());
    section("imports", context.imports.clone());
    section("imported", context.imported.iter().map(|d| format!("[{}]\n{}", d.module, d.outline)).collect());
    section("definitions", context.definitions.clone());
    section("selection", context.selection.iter().cloned().collect());
    section("window", vec![format!("{}{CURSOR}{}", context.prefix, context.suffix)]);
    let infill = context.infill_prefix();
    let header = infill.strip_suffix(context.prefix.as_str()).expect("the infill prefix ends with the window's prefix");
    section("infill header", header.lines().map(str::to_owned).collect());
    out
}

#[test]
fn fixtures_collect_the_expected_context() {
    for path in common::python_fixtures("tests/context") {
        let fixture = parse_fixture(&std::fs::read_to_string(&path).unwrap());
        let context = collect(&fixture, fixture.cursor, fixture.budget);
        expect_test::expect_file![path.with_extension("expected")].assert_eq(&render(&context, fixture.budget));
    }
}

/// Every cursor position (inside characters too) and a range of budgets, on every fixture: the
/// context stays within budget, its window is the text around the cursor, nothing panics.
#[test]
fn any_cursor_and_budget_stays_within_budget_around_the_cursor() {
    for path in common::python_fixtures("tests/context") {
        let fixture = parse_fixture(&std::fs::read_to_string(&path).unwrap());
        let text = &fixture.document;
        for cursor in (0..=text.len() + 2).step_by(3) {
            for budget in [0, 1, 7, 40, 150, 100_000] {
                let context = collect(&fixture, cursor, budget);
                let at = text.floor_char_boundary(cursor);
                let name = path.display();
                assert!(context.estimated_tokens <= budget, "{name}: over budget at {cursor}/{budget}");
                assert!(text[..at].ends_with(&context.prefix), "{name}: prefix at {cursor}/{budget}");
                assert!(text[at..].starts_with(&context.suffix), "{name}: suffix at {cursor}/{budget}");
                let texts = [&context.prefix, &context.suffix].into_iter().chain(&context.selection);
                assert!(texts.map(|t| estimate_tokens(t)).sum::<usize>() <= context.estimated_tokens);
            }
        }
    }
}

#[test]
fn an_unlimited_budget_keeps_the_whole_document() {
    for path in common::python_fixtures("tests/context") {
        let fixture = parse_fixture(&std::fs::read_to_string(&path).unwrap());
        let context = collect(&fixture, fixture.cursor, usize::MAX / 8);
        assert_eq!(context.prefix + &context.suffix, fixture.document, "{}", path.display());
    }
}

/// Odd texts (lone `\r` line ends, tabs, emoji, NULs, unfinished statements), every cursor
/// position and several budgets: collection and keying answer, within budget.
#[test]
fn odd_sources_never_panic() {
    let mut workspace = BTreeMap::new();
    workspace.insert("pkg".to_owned(), "from .pkg import x\nfrom . import *\n".to_owned());
    workspace.insert("pkg.pkg".to_owned(), "from .. import x\n".to_owned());
    let sources = [
        "",
        "\r\r\n\r",
        "def f(\r    x):\r  😀 = 1\r",
        "\t\tif x:\n\t  y\n  \tz",
        "class",
        "@",
        "from . import\nfrom .... import x\nimport\n",
        "from pkg import x\nfrom .pkg import *\n",
        "\0\0def \0",
        "x = '''unclosed\n\ndef g(): pass",
        "def f(): return\n    \n        ",
        "async def f[T: (int, str)](*, a=lambda: (yield)) -> T:\n  class A(B, **k): x: int = 1",
    ];
    for source in sources {
        for cursor in 0..=source.len() + 1 {
            for budget in [0, 3, 1000] {
                let request = Request {
                    selection: Some(cursor..0),
                    package: Some("pkg"),
                    workspace: Some(&workspace),
                    ..Request::new(source, cursor, budget)
                };
                let context = context::collect(&request);
                assert!(context.estimated_tokens <= budget, "{source:?} at {cursor}/{budget}");
                hapa_core::cache::request_key(&hapa_core::cache::KeyScope::default(), &context);
            }
        }
    }
}
