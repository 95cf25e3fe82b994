//! Installs what the build and the tests need and a fresh machine lacks. Every step checks
//! first and does nothing when its tool is already there at the right version, so running
//! it on every build costs a few milliseconds.

use anyhow::{Context, bail};

use crate::shell::{cache_dir, cmd, have, output, root, run};

/// wasm-pack's version; wasm-bindgen-cli's comes from Cargo.lock (they must match exactly).
const WASM_PACK_VERSION: &str = "0.15.1";

/// Debian packages the tests need: Chromium and its WebDriver (the webview's component tests),
/// what code-server's native modules build against (tests/e2e/install-code-server.sh), and the
/// PostgreSQL and Redis servers that hapa-server's scale-out tests start on loopback
/// (crates/hapa-server/tests/postgres.rs and redis.rs).
const TEST_PACKAGES: &[&str] =
    &["chromium", "chromium-driver", "ripgrep", "libkrb5-dev", "pkg-config", "postgresql", "redis-server"];

/// Schemathesis, the OpenAPI fuzzer the tests run against hapa-server (from PyPI).
const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// oha, the HTTP load generator `cargo xtask bench` drives (the newest that builds with our rustc).
pub const OHA_VERSION: &str = "1.16.0";

/// What the caller is about to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum For {
    /// `cargo xtask dist`: Rust to wasm, npm packages.
    Build,
    /// `cargo xtask test` and `run`: also Chromium and code-server.
    Tests,
}

/// Installs everything needed `for` a purpose.
pub fn all(purpose: For) -> anyhow::Result<()> {
    rust_components()?;
    wasm_target()?;
    wasm_bindgen_cli()?;
    wasm_pack()?;
    npm_packages()?;
    match purpose {
        For::Build => Ok(()),
        For::Tests => {
            debian_packages(TEST_PACKAGES)?;
            schemathesis()?;
            code_server()
        }
    }
}

/// clippy and rustfmt, which the tests run (rustup's default profile has them; minimal lacks them).
fn rust_components() -> anyhow::Result<()> {
    let installed = output(cmd("rustup").args(["component", "list", "--installed"])).unwrap_or_default();
    let missing: Vec<&str> =
        ["clippy", "rustfmt"].into_iter().filter(|c| !installed.lines().any(|line| line.starts_with(c))).collect();
    if missing.is_empty() {
        return Ok(());
    }
    run(cmd("rustup").args(["component", "add"]).args(&missing))
}

fn wasm_target() -> anyhow::Result<()> {
    let installed = output(cmd("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if installed.lines().any(|line| line.trim() == "wasm32-unknown-unknown") {
        return Ok(());
    }
    run(cmd("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

/// The `wasm-bindgen` version Cargo.lock pins; the CLI must be exactly this version.
pub fn locked_wasm_bindgen_version() -> anyhow::Result<String> {
    #[derive(serde::Deserialize)]
    struct Lock {
        package: Vec<Package>,
    }
    #[derive(serde::Deserialize)]
    struct Package {
        name: String,
        version: String,
    }
    let text = std::fs::read_to_string(root().join("Cargo.lock")).context("reading Cargo.lock")?;
    let lock: Lock = toml::from_str(&text).context("parsing Cargo.lock")?;
    lock.package
        .into_iter()
        .find(|package| package.name == "wasm-bindgen")
        .map(|package| package.version)
        .context("Cargo.lock has no wasm-bindgen")
}

fn installed_version(program: &str) -> Option<String> {
    if !have(program) {
        return None;
    }
    let out = output(cmd(program).arg("--version"))?;
    out.split_whitespace().nth(1).map(str::to_owned)
}

fn cargo_install(krate: &str, version: &str, locked: bool) -> anyhow::Result<()> {
    let tools = cache_dir().join("tools");
    let mut install = cmd("cargo");
    install.args(["install", "--root"]).arg(&tools).args([krate, "--version", version]);
    if locked {
        install.arg("--locked");
    }
    // `cargo install` must not build into the workspace's target dir.
    install.env_remove("CARGO_TARGET_DIR");
    run(&mut install)
}

fn wasm_bindgen_cli() -> anyhow::Result<()> {
    let wanted = locked_wasm_bindgen_version()?;
    if installed_version("wasm-bindgen").as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    // Not `--locked`: its lock file pins a webpki-roots release the registry no longer serves.
    cargo_install("wasm-bindgen-cli", &wanted, false)
}

fn wasm_pack() -> anyhow::Result<()> {
    if installed_version("wasm-pack").as_deref() == Some(WASM_PACK_VERSION) {
        return Ok(());
    }
    cargo_install("wasm-pack", WASM_PACK_VERSION, true)
}

/// oha, for `cargo xtask bench` only. With its default TLS (rustls): the bench speaks plain
/// HTTP, but oha 1.16 does not build without a TLS feature.
pub fn oha() -> anyhow::Result<()> {
    if installed_version("oha").as_deref() == Some(OHA_VERSION) {
        return Ok(());
    }
    cargo_install("oha", OHA_VERSION, true)
}

/// `npm ci` when node_modules does not match package-lock.json.
fn npm_packages() -> anyhow::Result<()> {
    let lock = std::fs::read(root().join("package-lock.json")).context("reading package-lock.json")?;
    let stamp = root().join("node_modules/.hapa-installed-lock");
    if std::fs::read(&stamp).is_ok_and(|installed| installed == lock) {
        return Ok(());
    }
    run(cmd("npm").args(["ci", "--no-audit", "--no-fund"]))?;
    std::fs::write(&stamp, lock)?;
    Ok(())
}

fn debian_installed(package: &str) -> bool {
    output(cmd("dpkg-query").args(["-W", "-f=${Status}", package]))
        .is_some_and(|status| status.contains("install ok installed"))
}

/// Installs missing Debian packages (as root, with apt-get).
fn debian_packages(packages: &[&str]) -> anyhow::Result<()> {
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !debian_installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = output(cmd("id").arg("-u")).is_some_and(|uid| uid.trim() == "0");
    if !is_root || !have("apt-get") {
        bail!(
            "the tests need these Debian packages: {0}; install them with \
             `sudo apt-get install {0}` and run again",
            missing.join(" ")
        );
    }
    run(cmd("apt-get").arg("update").env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(cmd("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// The directory code-server is installed into.
pub fn code_server_dir() -> std::path::PathBuf {
    cache_dir().join("code-server")
}

/// The `code-server` launcher inside [`code_server_dir`].
pub fn code_server_bin() -> std::path::PathBuf {
    code_server_dir().join("node_modules/.bin/code-server")
}

fn code_server() -> anyhow::Result<()> {
    run(cmd("bash").arg("tests/e2e/install-code-server.sh").arg(code_server_dir()))
}

/// The `st` command of the Schemathesis virtualenv.
pub fn schemathesis_bin() -> std::path::PathBuf {
    cache_dir().join(format!("schemathesis-{SCHEMATHESIS_VERSION}/bin/st"))
}

/// A virtualenv with Schemathesis, outside the clone so later runs reuse it; one left broken
/// by an interrupted install is made anew.
fn schemathesis() -> anyhow::Result<()> {
    let st = schemathesis_bin();
    let st = st.to_str().context("non-UTF-8 path")?;
    if output(cmd(st).arg("--version")).is_some_and(|v| v.contains(SCHEMATHESIS_VERSION)) {
        return Ok(());
    }
    let venv = cache_dir().join(format!("schemathesis-{SCHEMATHESIS_VERSION}"));
    let _ = std::fs::remove_dir_all(&venv);
    run(cmd("python3").args(["-m", "venv"]).arg(&venv))?;
    run(cmd(venv.join("bin/pip").to_str().context("non-UTF-8 path")?)
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("schemathesis=={SCHEMATHESIS_VERSION}")))
}
