//! `cargo xtask test`: every test HAPA has, cheapest first, stopping at the first failure.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use anyhow::{Context, bail};

use crate::shell::{cmd, root, run, target_dir};
use crate::{dist, setup};

/// Crates that must keep compiling to wasm32 although no wasm-pack package builds them yet.
const WASM_CHECKED: &[&str] = &["hapa-protocol", "hapa-core", "hapa-model"];

/// Runs every suite.
pub fn all() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    setup::all(setup::For::Tests)?;
    // Tidy first: formatting and lints are the cheapest failures to find.
    run(cmd("cargo").args(["fmt", "--all", "--check"]))?;
    run(cmd("cargo").args(["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]))?;
    run(cmd("cargo").args(["test", "--workspace", "--locked"]))?;
    // The corpus builder's exclusion of the reserved evaluation packages (standard library only).
    run(cmd("python3").args(["-m", "unittest", "discover", "-s", "models", "-p", "test_*.py"]))?;
    let mut check = cmd("cargo");
    // Libraries only: hapa-model's command-line binary is native by design.
    check.args(["check", "--locked", "--lib", "--target", "wasm32-unknown-unknown"]);
    for krate in WASM_CHECKED {
        check.args(["-p", krate]);
    }
    run(&mut check)?;
    let vsix = dist::build()?;
    run(cmd("node_modules/.bin/tsc").args(["-p", ".", "--noEmit"]))?;
    let server_bin = target_dir().join("debug/hapa-server");
    {
        // Unthrottled for an admin key and for failed authentication (the fuzzer sends many
        // deliberately bad keys), so it is not answered 429 all along.
        let server =
            Server::start(&server_bin, &["--rate-limit-admin", "100000000", "--auth-failure-limit", "100000000"])?;
        let key = server.create_key("wasm-tests", "user")?;
        // The Rust API client, compiled to wasm, against the real server.
        run(cmd("wasm-pack")
            .args(["test", "--node", "crates/hapa-wasm"])
            .env("HAPA_TEST_SERVER_URL", &server.url)
            .env("HAPA_TEST_API_KEY", key))?;
        // Schemathesis fuzzes every route of the generated OpenAPI document: no 5xx, every
        // answer as documented, every schema-valid request accepted.
        // It runs in its report folder: it keeps a cache of the crashes it found in `.schemathesis`
        // under its working directory, which belongs in the target dir, not in the clone.
        let admin = server.create_key("schemathesis", "admin")?;
        let reports = target_dir().join("schemathesis");
        std::fs::create_dir_all(&reports)?;
        run(cmd(setup::schemathesis_bin().to_str().context("non-UTF-8 path")?)
            .args(["run", &format!("{}/api/v1/openapi.json", server.url), "--checks", "all"])
            .args(["--max-time", "45", "--header", &format!("X-API-Key: {admin}")])
            .arg("--report-dir")
            .arg(&reports)
            .current_dir(&reports))?;
    }
    // The leptos components in headless Chromium; `--chromedriver` stops wasm-pack from
    // trying to download one.
    run(cmd("wasm-pack").args([
        "test",
        "--headless",
        "--chrome",
        "--chromedriver",
        "/usr/bin/chromedriver",
        "webview",
    ]))?;
    // The bundled model in the WebAssembly build decodes what PyTorch and native tract decode:
    // the plain build, then (with the flag that VS Code's Electron needs not) the one with relaxed
    // SIMD, which the model worker loads wherever the engine runs it.
    run(cmd("node").args(["--test", "tests/model/"]))?;
    run(cmd("node").args(["--experimental-wasm-relaxed-simd", "--test", "tests/model/"]))?;
    run(cmd("node")
        .args(["--test", "--test-concurrency=1", "tests/e2e/"])
        .env("HAPA_VSIX", &vsix)
        .env("HAPA_SERVER_BIN", &server_bin)
        .env("HAPA_CODE_SERVER", setup::code_server_bin()))?;
    eprintln!("all tests passed in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// `hapa-server serve` on an ephemeral port, stopped when dropped.
pub struct Server {
    child: Child,
    bin: std::path::PathBuf,
    data_dir: std::path::PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Server {
    /// Starts the server binary on an ephemeral port with a fresh store and `extra` flags
    /// for `serve`, and waits for its "listening on" line.
    pub fn start(bin: &std::path::Path, extra: &[&str]) -> anyhow::Result<Self> {
        let data = target_dir().join("xtask-server-data");
        // A fresh store each run, so key names never collide.
        let _ = std::fs::remove_dir_all(&data);
        Self::start_with(bin, "127.0.0.1:0", &data, extra)
    }

    /// Creates an API key with `hapa-server keys create`; returns the key.
    pub fn create_key(&self, name: &str, role: &str) -> anyhow::Result<String> {
        let out = cmd(self.bin.to_str().context("non-UTF-8 path")?)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["keys", "create", "--name", name, "--role", role])
            .output()?;
        if !out.status.success() {
            bail!("hapa-server keys create failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let stdout = String::from_utf8(out.stdout)?;
        stdout.lines().last().map(str::to_owned).context("keys create printed nothing")
    }

    /// Starts the server on `bind` with its data in `data_dir` and `extra` flags for `serve`.
    pub fn start_with(
        bin: &std::path::Path,
        bind: &str,
        data_dir: &std::path::Path,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        Self::start_logging_to(bin, bind, data_dir, extra, Stdio::inherit())
    }

    /// As [`Server::start_with`], with the server's log (stderr, a line per request) sent to
    /// `log`: under load that is far too much for a terminal.
    pub fn start_logging_to(
        bin: &std::path::Path,
        bind: &str,
        data_dir: &std::path::Path,
        extra: &[&str],
        log: Stdio,
    ) -> anyhow::Result<Self> {
        let mut child = cmd(bin.to_str().context("non-UTF-8 path")?)
            .current_dir(root())
            .args(["serve", "--bind", bind, "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        // Keep draining (and showing) what the server prints after its first line.
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                eprintln!("{line}");
            }
        });
        match line.trim().strip_prefix("hapa-server listening on ") {
            Some(url) => Ok(Self { url: url.to_owned(), child, bin: bin.to_owned(), data_dir: data_dir.to_owned() }),
            None => {
                let _ = child.kill();
                bail!("hapa-server did not start (it printed {line:?})")
            }
        }
    }

    /// Waits until the server exits (it stops on Ctrl-C).
    pub fn wait(&mut self) -> anyhow::Result<()> {
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
