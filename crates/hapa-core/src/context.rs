//! Context collection for a completion or chat request: the text around the cursor and what the
//! syntax tree says about it (enclosing scopes, imports, definitions, names imported from other
//! workspace modules), all within a token budget.
//!
//! Works on code the user is in the middle of typing: the error-recovering parser's tree is used
//! as far as it goes, and a source the parser must not see (see [`crate::validate`]) still gets
//! its prefix and suffix, just no extra context.
//!
//! # Budget
//!
//! Tokens are estimated with [`estimate_tokens`] (characters / 4, rounded up); the context's
//! [`Context::estimated_tokens`] (the sum over every text in it) never exceeds the budget.
//! Space is handed out in this order, each part keeping what is nearest the cursor:
//!
//! 1. **The selection**, if any, from its start, in whole lines (cut inside its first line only
//!    when that line alone is over budget). It may take the whole budget.
//! 2. **The cursor window** is guaranteed three quarters of what is left, or what it needs if
//!    less. Within it the suffix gets up to a quarter, more when the prefix needs less; the
//!    prefix gets the rest. The prefix is cut from its start and the suffix from its end, in
//!    whole lines (inside the cursor's line only when that line alone is over budget).
//! 3. **The extra context** gets what the window leaves, in this priority order: enclosing
//!    scopes (innermost first), the module's imports, names imported from workspace modules (in
//!    import order), then the module's own definitions (nearest the cursor first). Each entry
//!    is kept whole or skipped; a skipped entry does not stop smaller ones after it.
//! 4. Whatever the extra context leaves unused goes back to the cursor window.

mod budget;
mod outline;
mod resolve;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

pub use budget::{CHARS_PER_TOKEN, estimate_tokens};
use budget::{fit_window, keep_head_lines, pack};
use outline::{Definition, Module};
use resolve::Workspace;

/// What a context is collected from. Offsets are bytes into `source`.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The document's text.
    pub source: &'a str,
    /// The cursor, clamped to the text and back to a character boundary.
    pub cursor: usize,
    /// The selection, clamped like the cursor; an empty one counts as none.
    pub selection: Option<Range<usize>>,
    /// The most tokens, as [`estimate_tokens`] counts them, the whole context may take.
    pub token_budget: usize,
    /// The document's package (Python's `__package__`: `app.core` for `app/core/views.py` and
    /// for `app/core/__init__.py`), to resolve relative imports; `None` if unknown.
    pub package: Option<&'a str>,
    /// Sources of other workspace modules by dotted name (`app.core.models`; a package's
    /// `__init__.py` under the package's name), as the host chose to provide them.
    pub workspace: Option<&'a BTreeMap<String, String>>,
}

impl<'a> Request<'a> {
    /// A request with no selection, no package and no workspace modules.
    pub fn new(source: &'a str, cursor: usize, token_budget: usize) -> Self {
        Self { source, cursor, selection: None, token_budget, package: None, workspace: None }
    }
}

/// The context of one request, ready for a prompt. Every list is in source order unless noted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The text before the cursor, cut from its start to whole lines.
    pub prefix: String,
    /// The text after the cursor, cut from its end to whole lines.
    pub suffix: String,
    /// The selected text, if there was a selection.
    pub selection: Option<String>,
    /// Signatures of the functions and classes around the cursor, innermost first:
    /// `def bar(self, x: int) -> str:`, then `class Foo(Base):`.
    pub scopes: Vec<String>,
    /// How many of [`Context::scopes`], counted from the outermost, begin above the cursor
    /// window: their headers are not in [`Context::prefix`].
    pub scopes_above_window: usize,
    /// The module's imports, one line each, comments dropped.
    pub imports: Vec<String>,
    /// What the imports bring in from the provided workspace modules, in import order.
    pub imported: Vec<ImportedDefinition>,
    /// The module's own definitions: `def f(x):`, `class A(B):`, `NAME`, `name: int`.
    pub definitions: Vec<String>,
    /// The sum of [`estimate_tokens`] over every text above; at most the request's budget.
    pub estimated_tokens: usize,
}

/// A definition another workspace module provides, as a stub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedDefinition {
    /// The dotted name of the module that defines it.
    pub module: String,
    /// Decorators, signature and `...` for a function; for a class also its fields and method
    /// signatures; `NAME = ...`, `name: T` or `name: T = ...` for a variable.
    pub outline: String,
}

impl Context {
    /// The prefix a fill-in-the-middle model is given: [`Context::prefix`] after a header of
    /// Python comments with what the cursor window does not show — the names this module
    /// imports from workspace modules (their stubs, grouped by module), then the module's
    /// imports that fell outside the window, then the signatures of the functions and classes
    /// the cursor is in whose headers are above the window (outermost first, indented by
    /// depth). Comments, so the module parses as it did, and no header at all when there is
    /// nothing to add.
    pub fn infill_prefix(&self) -> String {
        let mut header = String::new();
        let mut module: Option<&str> = None;
        for definition in &self.imported {
            if module != Some(definition.module.as_str()) {
                module = Some(definition.module.as_str());
                header.push_str(&format!("# From {}:\n", definition.module));
            }
            for line in definition.outline.lines() {
                header.push_str("#   ");
                header.push_str(line);
                header.push('\n');
            }
        }
        let unseen: Vec<&String> =
            self.imports.iter().filter(|import| !self.prefix.contains(import.as_str())).collect();
        if !unseen.is_empty() {
            header.push_str("# This module imports:\n");
            for import in unseen {
                header.push_str("#   ");
                header.push_str(import);
                header.push('\n');
            }
        }
        let hidden = self.scopes.iter().rev().take(self.scopes_above_window);
        for (depth, scope) in hidden.enumerate() {
            if depth == 0 {
                header.push_str("# The cursor is inside:\n");
            }
            header.push_str("#   ");
            header.push_str(&"  ".repeat(depth));
            header.push_str(scope);
            header.push('\n');
        }
        header + &self.prefix
    }
}

/// Collects the context of `request` (see the module documentation for the budget policy).
pub fn collect(request: &Request<'_>) -> Context {
    let source = request.source;
    let cursor = source.floor_char_boundary(request.cursor);
    let mut left = request.token_budget;

    let selection = selected_text(source, request.selection.clone()).map(|text| keep_head_lines(text, left));
    left -= selection.map_or(0, estimate_tokens);

    let (prefix, suffix) = source.split_at(cursor);
    let window_reserve = (estimate_tokens(prefix) + estimate_tokens(suffix)).min(left - left / 4);
    let (extras, extras_cost) = Extras::gather(request, cursor).pack(left - window_reserve);
    let (prefix, suffix) = fit_window(prefix, suffix, left - extras_cost);

    let mut context = Context {
        prefix: prefix.to_owned(),
        suffix: suffix.to_owned(),
        selection: selection.map(str::to_owned),
        scopes_above_window: extras.scope_starts.iter().filter(|&&start| start < cursor - prefix.len()).count(),
        scopes: extras.scopes,
        imports: extras.imports,
        imported: extras.imported,
        definitions: extras.definitions,
        estimated_tokens: 0,
    };
    context.estimated_tokens = estimated_tokens(&context);
    context
}

/// The selected text, with the range clamped to `source` and its character boundaries.
fn selected_text(source: &str, selection: Option<Range<usize>>) -> Option<&str> {
    let Range { start, end } = selection?;
    let (start, end) = (source.floor_char_boundary(start), source.floor_char_boundary(end));
    let text = &source[start.min(end)..start.max(end)];
    (!text.is_empty()).then_some(text)
}

fn estimated_tokens(context: &Context) -> usize {
    let texts = [&context.prefix, &context.suffix]
        .into_iter()
        .chain(&context.selection)
        .chain(&context.scopes)
        .chain(&context.imports)
        .chain(context.imported.iter().map(|definition| &definition.outline))
        .chain(&context.definitions);
    texts.map(|text| estimate_tokens(text)).sum()
}

/// The extra context: everything but the prefix, suffix and selection.
#[derive(Default)]
struct Extras {
    scopes: Vec<String>,
    /// Where each scope begins (bytes), for whether the window shows its header.
    scope_starts: Vec<usize>,
    imports: Vec<String>,
    imported: Vec<ImportedDefinition>,
    definitions: Vec<String>,
    /// For each definition, how far it lies from the cursor in bytes (0 when around it).
    distances: Vec<usize>,
}

/// Which list an extra entry belongs to, in priority order, and its index there.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Entry {
    Scope(usize),
    Import(usize),
    Imported(usize),
    Definition(usize),
}

impl Extras {
    /// Every candidate for the extra context; none when the source cannot be parsed.
    fn gather(request: &Request<'_>, cursor: usize) -> Self {
        let Some(module) = Module::parse(request.source) else {
            return Self::default();
        };
        let scopes = module.enclosing_scopes(cursor);
        let scope_ranges: BTreeSet<_> = scopes.iter().map(|scope| (scope.range.start(), scope.range.end())).collect();
        let definitions: Vec<Definition> = module
            .definitions()
            .into_iter()
            .filter(|definition| !scope_ranges.contains(&(definition.range.start(), definition.range.end())))
            .collect();
        let imported = match request.workspace {
            Some(sources) => Workspace::new(sources).imported_by(&module, request.package),
            None => Vec::new(),
        };
        Self {
            scope_starts: scopes.iter().map(|scope| scope.range.start().to_usize()).collect(),
            scopes: scopes.into_iter().map(|scope| scope.text).collect(),
            imports: module.imports().into_iter().map(|import| import.text).collect(),
            imported,
            distances: definitions.iter().map(|definition| distance(definition, cursor)).collect(),
            definitions: definitions.into_iter().map(|definition| definition.text).collect(),
        }
    }

    /// The entries that fit `budget`, taken in priority order, and their cost.
    fn pack(self, budget: usize) -> (Self, usize) {
        let mut nearest_first: Vec<usize> = (0..self.definitions.len()).collect();
        nearest_first.sort_by_key(|&index| self.distances[index]);
        let candidates: Vec<(Entry, &str)> =
            (self.scopes.iter().enumerate().map(|(i, s)| (Entry::Scope(i), s.as_str())))
                .chain(self.imports.iter().enumerate().map(|(i, s)| (Entry::Import(i), s.as_str())))
                .chain(self.imported.iter().enumerate().map(|(i, d)| (Entry::Imported(i), d.outline.as_str())))
                .chain(nearest_first.iter().map(|&i| (Entry::Definition(i), self.definitions[i].as_str())))
                .collect();
        let (taken, cost) = pack(candidates, budget);
        let taken: BTreeSet<Entry> = taken.into_iter().collect();
        let packed = Self {
            scope_starts: keep_taken(self.scope_starts, &taken, Entry::Scope),
            scopes: keep_taken(self.scopes, &taken, Entry::Scope),
            imports: keep_taken(self.imports, &taken, Entry::Import),
            imported: keep_taken(self.imported, &taken, Entry::Imported),
            definitions: keep_taken(self.definitions, &taken, Entry::Definition),
            distances: Vec::new(),
        };
        (packed, cost)
    }
}

fn keep_taken<T>(items: Vec<T>, taken: &BTreeSet<Entry>, entry: fn(usize) -> Entry) -> Vec<T> {
    items.into_iter().enumerate().filter(|(index, _)| taken.contains(&entry(*index))).map(|(_, item)| item).collect()
}

fn distance(definition: &Definition, cursor: usize) -> usize {
    let (start, end) = (definition.range.start().to_usize(), definition.range.end().to_usize());
    if cursor < start { start - cursor } else { cursor.saturating_sub(end) }
}
