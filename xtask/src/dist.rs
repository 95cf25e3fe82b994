//! `cargo xtask dist`: the WebAssembly packages listed in `wasm-pack.toml`, the extension
//! bundle (esbuild) and `dist/hapa-<version>.vsix` (vsce).

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::shell::{cmd, root, run, target_dir};

/// One entry of `wasm-pack.toml`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct WasmPackage {
    /// The crate's directory, relative to the repository root.
    #[serde(rename = "crate")]
    krate: String,
    /// wasm-pack's `--target` (`nodejs`, `web`...).
    target: String,
    /// Where the package goes, relative to the repository root.
    out_dir: String,
    /// wasm-opt's optimisation flag: `-Oz` for size (the webview), `-O0` to strip names and debug
    /// information only (the core: LLVM has optimised it, and -O3 made it no faster).
    wasm_opt: String,
    /// Built with WebAssembly's relaxed SIMD as well (its own target dir, so that the two sets
    /// of compiler flags do not rebuild each other's dependencies).
    #[serde(default)]
    relaxed_simd: bool,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WasmPackList {
    package: Vec<WasmPackage>,
}

fn wasm_packages() -> anyhow::Result<Vec<WasmPackage>> {
    let text = std::fs::read_to_string(root().join("wasm-pack.toml"))?;
    Ok(toml::from_str::<WasmPackList>(&text).context("parsing wasm-pack.toml")?.package)
}

/// Builds everything and packages the .vsix; returns its path.
pub fn build() -> anyhow::Result<PathBuf> {
    let root = root();
    for package in wasm_packages()? {
        let out_dir = root.join(&package.out_dir);
        let mut build = cmd("wasm-pack");
        build
            .args(["build", "--release", "--no-pack", "--target", &package.target, "--out-dir"])
            .arg(&out_dir)
            .arg(root.join(&package.krate));
        if package.relaxed_simd {
            build
                .env("CARGO_TARGET_DIR", target_dir().join("relaxed-simd"))
                .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS", "-C target-feature=+simd128,+relaxed-simd");
        }
        run(&mut build)?;
        std::fs::remove_file(out_dir.join(".gitignore")).ok();
        optimise_wasm(&out_dir, &package.wasm_opt, package.relaxed_simd)?;
    }
    std::fs::copy(root.join("webview/style.css"), root.join("out/webview/style.css"))?;
    run(cmd("node_modules/.bin/esbuild").args([
        "extension/src/extension.ts",
        "--bundle",
        "--platform=node",
        "--format=cjs",
        "--target=node20",
        "--external:vscode",
        // The wasm-bindgen package is loaded lazily at run time from out/wasm.
        "--external:./wasm/hapa_wasm.js",
        "--outfile=out/extension.js",
        "--log-level=warning",
    ]))?;
    // The local model's worker thread (decoding is synchronous WebAssembly).
    run(cmd("node_modules/.bin/esbuild").args([
        "extension/src/modelWorker.ts",
        "--bundle",
        "--platform=node",
        "--format=cjs",
        "--target=node20",
        "--external:./wasm/hapa_wasm.js",
        "--external:./wasm-relaxed/hapa_wasm.js",
        "--outfile=out/model-worker.js",
        "--log-level=warning",
    ]))?;
    let version = package_version()?;
    std::fs::create_dir_all(root.join("dist"))?;
    let vsix = root.join(format!("dist/hapa-{version}.vsix"));
    run(cmd("node_modules/.bin/vsce")
        .args(["package", "--no-dependencies", "--no-rewrite-relative-links", "--out"])
        .arg(&vsix))?;
    let size = std::fs::metadata(&vsix)?.len();
    eprintln!("packaged {} ({:.1} MB)", vsix.display(), size as f64 / 1e6);
    Ok(vsix)
}

/// The WebAssembly features rustc enables by default for wasm32-unknown-unknown, plus the
/// 128-bit SIMD that `.cargo/config.toml` turns on (tract's matrix kernels need it), all of
/// which Node 20 and VS Code's webviews run. Not `--all-features`: that lets wasm-opt emit
/// typed function references, which Node 20 refuses to compile.
const WASM_FEATURES: &[&str] = &[
    "--enable-simd",
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// Shrinks each .wasm in `dir` with wasm-opt from npm's `binaryen` package (a devDependency):
/// wasm-pack's own would be downloaded, which this project cannot do, and Debian's (version
/// 108) breaks wasm-bindgen's externref table.
fn optimise_wasm(dir: &Path, level: &str, relaxed_simd: bool) -> anyhow::Result<()> {
    let wasm_opt = root().join("node_modules/.bin/wasm-opt");
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "wasm") {
            run(cmd(wasm_opt.to_str().unwrap_or("wasm-opt"))
                .args([level, "--strip-debug", "--strip-producers"])
                .args(WASM_FEATURES)
                .args(relaxed_simd.then_some("--enable-relaxed-simd"))
                .arg(&path)
                .arg("-o")
                .arg(&path))?;
        }
    }
    Ok(())
}

/// The extension's version, from package.json.
pub fn package_version() -> anyhow::Result<String> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        version: String,
    }
    let text = std::fs::read_to_string(root().join("package.json"))?;
    let manifest: Manifest = serde_json::from_str(&text).context("parsing package.json")?;
    Ok(manifest.version)
}
