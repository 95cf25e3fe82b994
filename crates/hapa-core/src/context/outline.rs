//! What the syntax tree says about a module: the signatures of its definitions, the scopes that
//! enclose the cursor, its imports and the names it defines at module level.

use ruff_python_ast::token::TokenKind as T;
use ruff_python_ast::{Decorator, ExceptHandler, Expr, ModModule, Stmt};
use ruff_python_parser::Parsed;
use ruff_text_size::{Ranged, TextRange, TextSize};

use crate::compact;
use crate::validate;

/// A module's source with its recovered syntax tree.
pub(super) struct Module<'s> {
    source: &'s str,
    parsed: Parsed<ModModule>,
}

/// A line of extra context and the byte range it describes in its module.
pub(super) struct Definition {
    pub(super) text: String,
    pub(super) range: TextRange,
}

impl<'s> Module<'s> {
    /// Parses `source`, or `None` when the parser must not see it (see
    /// `validate::parse_within_limits`).
    pub(super) fn parse(source: &'s str) -> Option<Self> {
        let parsed = validate::parse_within_limits(source).ok()?;
        Some(Self { source, parsed })
    }

    /// The module's top-level statements.
    pub(super) fn body(&self) -> &[Stmt] {
        &self.parsed.syntax().body
    }

    /// The source of `range` on one line, without comments.
    pub(super) fn one_line(&self, range: TextRange) -> String {
        compact::one_line(self.source, compact::tokens_in(self.parsed.tokens(), range))
    }

    /// `def name(params) -> returns:` or `class Name(bases):`, without decorators; `None` for
    /// other statements.
    pub(super) fn signature(&self, stmt: &Stmt) -> Option<String> {
        let range = self.header_range(stmt)?;
        Some(format!("{}:", self.one_line(range)))
    }

    /// From the `def`, `async` or `class` keyword to the end of the signature.
    fn header_range(&self, stmt: &Stmt) -> Option<TextRange> {
        let (after_decorators, end) = match stmt {
            Stmt::FunctionDef(def) => (
                def.decorator_list.last().map(Ranged::end),
                [
                    Some(def.name.end()),
                    def.type_params.as_ref().map(|t| t.end()),
                    Some(def.parameters.end()),
                    def.returns.as_ref().map(|r| r.end()),
                ],
            ),
            Stmt::ClassDef(class) => (
                class.decorator_list.last().map(Ranged::end),
                [
                    Some(class.name.end()),
                    class.type_params.as_ref().map(|t| t.end()),
                    class.arguments.as_ref().map(|a| a.end()),
                    None,
                ],
            ),
            _ => return None,
        };
        let end = end.into_iter().flatten().max()?;
        let search = TextRange::new(after_decorators.unwrap_or(stmt.start()).min(end), end);
        let keyword = compact::tokens_in(self.parsed.tokens(), search)
            .iter()
            .find(|token| matches!(token.kind(), T::Def | T::Async | T::Class))?;
        Some(TextRange::new(keyword.start(), end))
    }

    /// Signatures of the functions and classes around `cursor`, innermost first.
    pub(super) fn enclosing_scopes(&self, cursor: usize) -> Vec<Definition> {
        let mut chain = Vec::new();
        self.find_enclosing(self.body(), cursor, &mut chain);
        chain
            .into_iter()
            .rev()
            .filter_map(|stmt| Some(Definition { text: self.signature(stmt)?, range: stmt.range() }))
            .collect()
    }

    /// Pushes onto `chain` the definitions in `body` that enclose `cursor`, outermost first;
    /// true when one was found.
    fn find_enclosing<'a>(&self, body: &'a [Stmt], cursor: usize, chain: &mut Vec<&'a Stmt>) -> bool {
        for stmt in body {
            match stmt {
                Stmt::FunctionDef(_) | Stmt::ClassDef(_) => {
                    if self.encloses(stmt, cursor) {
                        chain.push(stmt);
                        self.find_enclosing(definition_body(stmt), cursor, chain);
                        return true;
                    }
                }
                _ => {
                    if child_bodies(stmt).into_iter().any(|inner| self.find_enclosing(inner, cursor, chain)) {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Whether `cursor` is in the body of the definition `stmt`: inside its range after the
    /// signature, or below its last statement on a blank line indented deeper than the
    /// definition (where the user is adding to the body and the parser has not seen it yet).
    fn encloses(&self, stmt: &Stmt, cursor: usize) -> bool {
        let Some(header) = self.header_range(stmt) else {
            return false;
        };
        let cursor_at = TextSize::try_from(cursor).unwrap_or(TextSize::new(u32::MAX));
        if cursor_at <= header.end() {
            return false;
        }
        cursor_at <= stmt.end() || self.continues_block(stmt, cursor)
    }

    fn continues_block(&self, stmt: &Stmt, cursor: usize) -> bool {
        let Some(gap) = self.source.get(stmt.end().to_usize()..cursor) else {
            return false;
        };
        let mut lines = gap.split(['\n', '\r']);
        let cursor_line = lines.next_back().unwrap_or_default();
        let only_trivia_between = lines.all(|line| {
            let line = line.trim_start();
            line.is_empty() || line.starts_with('#')
        });
        let on_a_later_line = gap.contains(['\n', '\r']);
        let blank_before_cursor = cursor_line.chars().all(char::is_whitespace);
        on_a_later_line
            && only_trivia_between
            && blank_before_cursor
            && compact::indentation_width(self.source, cursor)
                > compact::indentation_width(self.source, stmt.start().to_usize())
    }

    /// The statements that run when the module is imported: the module's body, including the
    /// bodies of module-level `if`, `try`, `with`, `for` and `while`, but not of functions or
    /// classes.
    pub(super) fn module_level_statements(&self) -> Vec<&Stmt> {
        let mut statements = Vec::new();
        collect_module_level(self.body(), &mut statements);
        statements
    }

    /// The module's imports, each on one line.
    pub(super) fn imports(&self) -> Vec<Definition> {
        self.module_level_statements()
            .into_iter()
            .filter(|stmt| matches!(stmt, Stmt::Import(_) | Stmt::ImportFrom(_)))
            .map(|stmt| Definition { text: self.one_line(stmt.range()), range: stmt.range() })
            .collect()
    }

    /// The module's own definitions: function and class signatures, assigned names (with their
    /// annotation when there is one) and type aliases.
    pub(super) fn definitions(&self) -> Vec<Definition> {
        self.module_level_statements()
            .into_iter()
            .flat_map(|stmt| {
                self.definition_lines(stmt).into_iter().map(|text| Definition { text, range: stmt.range() })
            })
            .collect()
    }

    fn definition_lines(&self, stmt: &Stmt) -> Vec<String> {
        match stmt {
            Stmt::FunctionDef(_) | Stmt::ClassDef(_) => self.signature(stmt).into_iter().collect(),
            _ => self.bound_names(stmt),
        }
    }

    /// The names an assignment or type alias defines: `x`, `x: int`, `type Alias = ...`.
    fn bound_names(&self, stmt: &Stmt) -> Vec<String> {
        match stmt {
            Stmt::Assign(assign) => assigned_names(&assign.targets),
            Stmt::AnnAssign(assign) => match assign.target.as_ref() {
                Expr::Name(name) => {
                    vec![format!("{}: {}", name.id, self.one_line(assign.annotation.range()))]
                }
                _ => Vec::new(),
            },
            Stmt::TypeAlias(alias) => vec![self.one_line(alias.range())],
            _ => Vec::new(),
        }
    }

    /// The variables an assignment defines, stub style: `NAME = ...`, `name: int`,
    /// `name: int = ...` (the `...` says there is a value without spelling it out).
    pub(super) fn variable_stubs(&self, stmt: &Stmt) -> Vec<String> {
        match stmt {
            Stmt::Assign(_) => self.bound_names(stmt).into_iter().map(|name| format!("{name} = ...")).collect(),
            Stmt::AnnAssign(assign) if assign.value.is_some() => {
                self.bound_names(stmt).into_iter().map(|line| format!("{line} = ...")).collect()
            }
            _ => self.bound_names(stmt),
        }
    }

    /// Whether `stmt` defines `name` at module level (a definition or an assignment).
    pub(super) fn defines(stmt: &Stmt, name: &str) -> bool {
        match stmt {
            Stmt::FunctionDef(def) => def.name.as_str() == name,
            Stmt::ClassDef(class) => class.name.as_str() == name,
            Stmt::Assign(assign) => assigned_names(&assign.targets).iter().any(|bound| bound == name),
            Stmt::AnnAssign(assign) => {
                matches!(assign.target.as_ref(), Expr::Name(n) if n.id.as_str() == name)
            }
            Stmt::TypeAlias(alias) => {
                matches!(alias.name.as_ref(), Expr::Name(n) if n.id.as_str() == name)
            }
            _ => false,
        }
    }

    /// `stmt` as a stub, the way another module sees it: decorators, the signature and `...`
    /// for a function; for a class, also its fields and method signatures, one level deep.
    pub(super) fn stub(&self, stmt: &Stmt) -> String {
        match stmt {
            Stmt::FunctionDef(def) => self.decorated_stub(&def.decorator_list, stmt, "", " ..."),
            Stmt::ClassDef(class) => {
                let members: Vec<String> = class.body.iter().flat_map(|member| self.member_stub(member)).collect();
                if members.is_empty() {
                    return self.decorated_stub(&class.decorator_list, stmt, "", " ...");
                }
                let header = self.decorated_stub(&class.decorator_list, stmt, "", "");
                format!("{header}\n{}", members.join("\n"))
            }
            _ => self.variable_stubs(stmt).join("\n"),
        }
    }

    /// The stub of `name` as `stmt` defines it: only that name of a multiple assignment.
    pub(super) fn stub_of(&self, stmt: &Stmt, name: &str) -> String {
        match stmt {
            Stmt::Assign(_) => format!("{name} = ..."),
            _ => self.stub(stmt),
        }
    }

    fn member_stub(&self, member: &Stmt) -> Vec<String> {
        match member {
            Stmt::FunctionDef(def) => {
                vec![self.decorated_stub(&def.decorator_list, member, "    ", " ...")]
            }
            Stmt::ClassDef(class) => {
                vec![self.decorated_stub(&class.decorator_list, member, "    ", " ...")]
            }
            _ => self.variable_stubs(member).into_iter().map(|line| format!("    {line}")).collect(),
        }
    }

    /// The decorators and signature of `stmt`, each line indented by `indent`, the signature
    /// followed by `body`.
    fn decorated_stub(&self, decorators: &[Decorator], stmt: &Stmt, indent: &str, body: &str) -> String {
        let mut lines: Vec<String> =
            decorators.iter().map(|decorator| format!("{indent}{}", self.one_line(decorator.range()))).collect();
        lines.push(format!("{indent}{}{body}", self.signature(stmt).unwrap_or_default()));
        lines.join("\n")
    }
}

fn collect_module_level<'a>(body: &'a [Stmt], out: &mut Vec<&'a Stmt>) {
    for stmt in body {
        out.push(stmt);
        if !matches!(stmt, Stmt::FunctionDef(_) | Stmt::ClassDef(_)) {
            for inner in child_bodies(stmt) {
                collect_module_level(inner, out);
            }
        }
    }
}

/// The names bound by assignment `targets`, unpacking tuples and lists (`first, *rest = ...`).
fn assigned_names(targets: &[Expr]) -> Vec<String> {
    let mut names = Vec::new();
    targets.iter().for_each(|target| collect_target_names(target, &mut names));
    names
}

fn collect_target_names(target: &Expr, names: &mut Vec<String>) {
    match target {
        Expr::Name(name) => names.push(name.id.to_string()),
        Expr::Tuple(tuple) => tuple.elts.iter().for_each(|elt| collect_target_names(elt, names)),
        Expr::List(list) => list.elts.iter().for_each(|elt| collect_target_names(elt, names)),
        Expr::Starred(starred) => collect_target_names(&starred.value, names),
        _ => {}
    }
}

fn definition_body(stmt: &Stmt) -> &[Stmt] {
    match stmt {
        Stmt::FunctionDef(def) => &def.body,
        Stmt::ClassDef(class) => &class.body,
        _ => &[],
    }
}

/// The statement lists nested in a compound statement other than a definition.
fn child_bodies(stmt: &Stmt) -> Vec<&[Stmt]> {
    match stmt {
        Stmt::If(s) => std::iter::once(&s.body[..]).chain(s.elif_else_clauses.iter().map(|c| &c.body[..])).collect(),
        Stmt::For(s) => vec![&s.body, &s.orelse],
        Stmt::While(s) => vec![&s.body, &s.orelse],
        Stmt::With(s) => vec![&s.body],
        Stmt::Try(s) => std::iter::once(&s.body[..])
            .chain(s.handlers.iter().map(|h| match h {
                ExceptHandler::ExceptHandler(h) => &h.body[..],
            }))
            .chain([&s.orelse[..], &s.finalbody[..]])
            .collect(),
        Stmt::Match(s) => s.cases.iter().map(|case| &case.body[..]).collect(),
        _ => Vec::new(),
    }
}
