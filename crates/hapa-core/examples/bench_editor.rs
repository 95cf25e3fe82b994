//! Times what the editor asks of the core on every keystroke, on a 5,000-line Python module:
//! validation and the completion prompt (context collection plus the infill prefix).
//!
//!     cargo run --release -p hapa-core --example bench_editor [-- FILE]
//!
//! Writes the module to FILE (default `$CARGO_TARGET_DIR/bench/editor-5000.py`) so that
//! `tests/bench/editor.mjs` times the WebAssembly build on the very same text.

use std::path::PathBuf;
use std::time::Instant;

use hapa_core::context::{Request, collect};

const LINES: usize = 5_000;
const WARM_UPS: usize = 3;
const RUNS: usize = 30;
/// The extension's `CONTEXT_TOKENS`.
const TOKEN_BUDGET: usize = 2_500;

fn main() {
    let path = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
        target.join("bench/editor-5000.py")
    });
    let source = module(LINES);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("cannot create the folder of the generated module");
    }
    std::fs::write(&path, &source).expect("cannot write the generated module");
    // After the indentation of the middle line: where a completion is asked for after Enter.
    let line_start = source.match_indices('\n').nth(LINES / 2 - 1).map_or(0, |(at, _)| at + 1);
    let cursor = line_start + source[line_start..].len() - source[line_start..].trim_start_matches(' ').len();

    let problems = hapa_core::validate::module(&source);
    assert!(problems.is_empty(), "the generated module does not parse: {problems:?}");
    println!("{} ({LINES} lines, {} KB); cursor at byte {cursor}", path.display(), source.len() / 1024);
    println!("native      operation                          min ms    p50 ms    p95 ms");
    report("validate::module", || hapa_core::validate::module(&source).len());
    report("context::collect + infill_prefix", || {
        collect(&Request::new(&source, cursor, TOKEN_BUDGET)).infill_prefix().len()
    });
}

/// Runs `operation` after warm-ups and prints min / p50 / p95 of its wall time.
fn report(name: &str, mut operation: impl FnMut() -> usize) {
    for _ in 0..WARM_UPS {
        std::hint::black_box(operation());
    }
    let mut ms: Vec<f64> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(operation());
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    println!("native      {name:<34} {:>6.2}    {:>6.2}    {:>6.2}", ms[0], at(0.5), at(0.95));
}

/// A module of `lines` lines as people write them: a docstring, imports, then classes with
/// documented methods and free functions, names varied by index. Deterministic.
fn module(lines: usize) -> String {
    let mut out = String::from(
        "\"\"\"Inventory records: loading, validation and reports (generated for HAPA's benchmarks).\"\"\"\n\n\
         from __future__ import annotations\n\n\
         import json\nimport logging\nimport os\nfrom collections import defaultdict\n\
         from dataclasses import dataclass, field\nfrom pathlib import Path\n\
         from typing import Iterable, Optional\n\nlog = logging.getLogger(__name__)\n",
    );
    let mut count = out.lines().count();
    for index in 0.. {
        let next = block(index);
        let more = next.lines().count();
        if count + more > lines {
            break;
        }
        out.push_str(&next);
        count += more;
    }
    // Whole blocks stop short of `lines`: settings fill the rest.
    for n in count..lines {
        out.push_str(&format!("RETRY_DELAY_{n} = {}\n", n % 17));
    }
    out
}

/// One class and one function, about fifty lines.
fn block(i: usize) -> String {
    let kind = ["Item", "Order", "Shelf", "Supplier", "Invoice"][i % 5];
    let field = ["quantity", "price", "weight", "capacity", "discount"][i % 5];
    format!(
        r#"

# --- {kind} records, group {i} ---------------------------------------------------------


@dataclass
class {kind}Record{i}:
    """A {kind_lower} as read from the group {i} export."""

    name: str
    {field}: float = 0.0
    tags: list[str] = field(default_factory=list)
    parent: Optional[str] = None

    def validate(self) -> list[str]:
        """Problems with this record, empty when there are none."""
        problems = []
        if not self.name:
            problems.append("{kind_lower} {i} has no name")
        if self.{field} < 0:
            problems.append(f"{{self.name}}: negative {field} {{self.{field}}}")
        return problems

    def to_json(self) -> str:
        payload = {{"name": self.name, "{field}": self.{field}, "tags": sorted(self.tags)}}
        if self.parent is not None:
            payload["parent"] = self.parent
        return json.dumps(payload, sort_keys=True)

    @classmethod
    def from_row(cls, row: dict[str, str]) -> "{kind}Record{i}":
        tags = [tag.strip() for tag in row.get("tags", "").split(",") if tag.strip()]
        return cls(row["name"], float(row.get("{field}", 0) or 0), tags, row.get("parent"))


def load_{kind_lower}_group_{i}(folder: Path, limit: int = {limit}) -> list[{kind}Record{i}]:
    """Reads up to `limit` records of group {i} from `folder`, skipping broken lines."""
    records = []
    path = folder / "{kind_lower}_{i}.jsonl"
    if not path.exists():
        log.warning("missing %s", path)
        return records
    for number, line in enumerate(path.read_text().splitlines()):
        if number >= limit:
            break
        try:
            records.append({kind}Record{i}.from_row(json.loads(line)))
        except (KeyError, ValueError) as error:
            log.debug("line %d of %s: %s", number, path, error)
    return records


def summarise_group_{i}(records: Iterable[{kind}Record{i}]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for record in records:
        for tag in record.tags or ["untagged"]:
            totals[tag] += record.{field}
    return dict(totals)
"#,
        kind_lower = kind.to_lowercase(),
        limit = 100 + i * 7 % 900,
    )
}
