//! What the data-driven test files share: finding their fixtures.

use std::path::{Path, PathBuf};

/// The `.py` fixtures in `dir` (relative to the crate), sorted; fails when there are none, so a
/// moved folder cannot make a test pass vacuously.
pub fn python_fixtures(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "py"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}
