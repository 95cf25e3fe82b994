//! `cargo xtask bench editor`: what a person typing in the editor waits for, printed as figures
//! (no timing is asserted). Validation and prompt collection on a 5,000-line module natively
//! and in WebAssembly, then inline-completion latency from the local model (WebAssembly) and
//! from hapa-server's release build on loopback, then the local model's own latency bench.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

use anyhow::{Context, bail, ensure};

use crate::shell::{self, cache_dir, cmd, root, target_dir};

/// Runs every editor benchmark in turn; fails only when one cannot run.
pub fn run() -> anyhow::Result<()> {
    ensure!(
        root().join("out/wasm/hapa_wasm.js").is_file(),
        "out/wasm/hapa_wasm.js is missing: run `cargo xtask dist` first"
    );
    let module = target_dir().join("bench/editor-5000.py");
    shell::run(
        cmd("cargo")
            .args(["run", "--release", "--locked", "-p", "hapa-core", "--example", "bench_editor", "--"])
            .arg(&module),
    )?;

    shell::run(cmd("cargo").args(["build", "--release", "--locked", "-p", "hapa-server", "--bin", "hapa-server"]))?;
    let server =
        BenchServer::start(&target_dir().join("release/hapa-server"), &target_dir().join("bench/editor-server"))?;
    let key = server.create_key()?;
    // The script reads the module from $CARGO_TARGET_DIR/bench, where the example wrote it.
    shell::run(
        cmd("node").arg("tests/bench/editor.mjs").arg(&server.url).arg(&key).env("CARGO_TARGET_DIR", target_dir()),
    )?;
    drop(server);

    // The bundled model's bench on the reserved packages (cases as `cargo xtask eval-model`
    // builds them; downloading their wheels needs the network once).
    let eval = cache_dir().join("eval");
    match shell::run(cmd("python3").arg("models/eval_cases.py").arg("--out").arg(&eval)) {
        Ok(()) => {
            shell::run(cmd("node").arg("tests/model/bench-wasm.mjs").arg(eval.join("cases.jsonl")).args(["40", "10"]))?
        }
        Err(error) => eprintln!("skipping tests/model/bench-wasm.mjs: no evaluation cases ({error:#})"),
    }
    Ok(())
}

/// `hapa-server serve` on an ephemeral port with a fresh store, stopped when dropped.
struct BenchServer {
    child: Child,
    bin: std::path::PathBuf,
    data_dir: std::path::PathBuf,
    url: String,
}

impl BenchServer {
    fn start(bin: &Path, data_dir: &Path) -> anyhow::Result<Self> {
        // A fresh store each run, so the key name is free and no cached answer is left over.
        let _ = std::fs::remove_dir_all(data_dir);
        let mut child = cmd(bin.to_str().context("non-UTF-8 path")?)
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .stdout(Stdio::piped())
            // A log line per request: not what the figures are about.
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut stdout = BufReader::new(child.stdout.take().context("hapa-server has no stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        // Drained, so the server never blocks on a full pipe.
        std::thread::spawn(move || stdout.lines().map_while(Result::ok).for_each(drop));
        match line.trim().strip_prefix("hapa-server listening on ") {
            Some(url) => Ok(Self { url: url.to_owned(), child, bin: bin.to_owned(), data_dir: data_dir.to_owned() }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("hapa-server did not start (it printed {line:?})")
            }
        }
    }

    /// A user key, from `hapa-server keys create` (it prints the key last).
    fn create_key(&self) -> anyhow::Result<String> {
        let out = cmd(self.bin.to_str().context("non-UTF-8 path")?)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["keys", "create", "--name", "bench-editor", "--role", "user"])
            .output()?;
        ensure!(out.status.success(), "hapa-server keys create failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout)?.lines().last().map(str::to_owned).context("keys create printed no key")
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
