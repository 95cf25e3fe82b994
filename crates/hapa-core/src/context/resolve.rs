//! Names this module imports from other workspace modules, resolved from their sources: stubs of
//! the names in `from pkg.mod import X`, the top-level signatures of `import pkg.mod`.

use std::collections::{BTreeMap, BTreeSet};

use ruff_python_ast::{Stmt, StmtImportFrom};

use super::ImportedDefinition;
use super::outline::Module;

/// How many `from .a import X` re-exports are followed to find where `X` is defined.
const MAX_REEXPORT_HOPS: usize = 3;

/// Workspace sources by dotted module name, each parsed at most once and only when imported.
pub(super) struct Workspace<'w> {
    sources: &'w BTreeMap<String, String>,
    parsed: BTreeMap<&'w str, Option<Module<'w>>>,
}

impl<'w> Workspace<'w> {
    pub(super) fn new(sources: &'w BTreeMap<String, String>) -> Self {
        Self { sources, parsed: BTreeMap::new() }
    }

    /// What `importer`'s module-level imports bring in from the workspace, in import order;
    /// `package` is the importer's package (Python's `__package__`), for relative imports.
    pub(super) fn imported_by(&mut self, importer: &Module, package: Option<&str>) -> Vec<ImportedDefinition> {
        let mut seen = BTreeSet::new();
        let mut found = Vec::new();
        for stmt in importer.module_level_statements() {
            let imported = match stmt {
                Stmt::Import(import) => {
                    import.names.iter().flat_map(|alias| self.whole_module(alias.name.as_str())).collect()
                }
                Stmt::ImportFrom(from) => self.names_from(from, package),
                _ => Vec::new(),
            };
            for definition in imported {
                if seen.insert((definition.module.clone(), definition.outline.clone())) {
                    found.push(definition);
                }
            }
        }
        found
    }

    /// What one `from <module> import <names>` brings in: whole submodules, or the stubs of the
    /// named definitions.
    fn names_from(&mut self, from: &StmtImportFrom, package: Option<&str>) -> Vec<ImportedDefinition> {
        let Some(base) = absolute_module(from.module.as_ref().map(|m| m.as_str()), from.level, package) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for alias in &from.names {
            let name = alias.name.as_str();
            let submodule = format!("{base}.{name}");
            if name == "*" {
                found.extend(self.whole_module(&base));
            } else if self.sources.contains_key(&submodule) {
                found.extend(self.whole_module(&submodule));
            } else {
                found.extend(self.definition(&base, name, 0));
            }
        }
        found
    }

    /// The top-level signatures and names of module `name`, if the workspace has it.
    fn whole_module(&mut self, name: &str) -> Vec<ImportedDefinition> {
        let Some(module) = self.module(name) else {
            return Vec::new();
        };
        module
            .module_level_statements()
            .into_iter()
            .flat_map(|stmt| match module.signature(stmt) {
                Some(signature) => vec![format!("{signature} ...")],
                None => module.variable_stubs(stmt),
            })
            .map(|outline| ImportedDefinition { module: name.to_owned(), outline })
            .collect()
    }

    /// The stub of `name` as module `base` defines it, following re-exports
    /// (`from .models import Point` in a package's `__init__`) up to [`MAX_REEXPORT_HOPS`].
    fn definition(&mut self, base: &str, name: &str, hops: usize) -> Option<ImportedDefinition> {
        let package = self.package_of(base);
        let module = self.module(base)?;
        let statements = module.module_level_statements();
        if let Some(stmt) = statements.iter().rev().find(|stmt| Module::defines(stmt, name)) {
            return Some(ImportedDefinition { module: base.to_owned(), outline: module.stub_of(stmt, name) });
        }
        if hops >= MAX_REEXPORT_HOPS {
            return None;
        }
        let (next_base, next_name) = statements.iter().rev().find_map(|stmt| match stmt {
            Stmt::ImportFrom(from) => {
                let alias =
                    from.names.iter().find(|alias| alias.asname.as_ref().unwrap_or(&alias.name).as_str() == name)?;
                let next_base =
                    absolute_module(from.module.as_ref().map(|m| m.as_str()), from.level, package.as_deref())?;
                Some((next_base, alias.name.to_string()))
            }
            _ => None,
        })?;
        self.definition(&next_base, &next_name, hops + 1)
    }

    fn module(&mut self, name: &str) -> Option<&Module<'w>> {
        let (key, source) = self.sources.get_key_value(name)?;
        self.parsed.entry(key.as_str()).or_insert_with(|| Module::parse(source)).as_ref()
    }

    /// The package a workspace module's relative imports start from: the module itself when
    /// other modules live under its name (it is a package's `__init__`), else its parent.
    fn package_of(&self, module: &str) -> Option<String> {
        let prefix = format!("{module}.");
        if self.sources.range(prefix.clone()..).next().is_some_and(|(key, _)| key.starts_with(&prefix)) {
            return Some(module.to_owned());
        }
        module.rsplit_once('.').map(|(parent, _)| parent.to_owned())
    }
}

/// The absolute name of the module in `from <dots><module> import ...`: `level` dots climb from
/// `package` (one dot is the package itself). `None` when the dots climb above the top.
fn absolute_module(module: Option<&str>, level: u32, package: Option<&str>) -> Option<String> {
    if level == 0 {
        return module.map(str::to_owned);
    }
    let mut parts: Vec<&str> = package?.split('.').filter(|part| !part.is_empty()).collect();
    let climb = usize::try_from(level - 1).ok()?;
    parts.truncate(parts.len().checked_sub(climb)?);
    parts.extend(module);
    (!parts.is_empty()).then(|| parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::absolute_module;

    #[test]
    fn relative_imports_climb_from_the_package() {
        assert_eq!(absolute_module(Some("models"), 1, Some("app.core")).as_deref(), Some("app.core.models"));
        assert_eq!(absolute_module(None, 1, Some("app")).as_deref(), Some("app"));
        assert_eq!(absolute_module(Some("util"), 2, Some("app.core")).as_deref(), Some("app.util"));
        assert_eq!(absolute_module(Some("util"), 3, Some("app")), None);
        assert_eq!(absolute_module(Some("util"), 1, None), None);
        assert_eq!(absolute_module(Some("os.path"), 0, None).as_deref(), Some("os.path"));
    }
}
