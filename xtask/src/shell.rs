//! Running commands: each one printed before it runs, failures naming the command.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The repository root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    // `cargo run` sets CARGO_MANIFEST_DIR for the running binary too: prefer it, because a target
    // dir shared between clones may hold an xtask built in another clone (cargo does not rebuild
    // it when only the checkout's path changed), whose compile-time path names that other clone.
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir.parent().unwrap_or(Path::new(".")).to_path_buf()
}

/// Where HAPA keeps what it installs outside the clone, so CI and later runs reuse it:
/// `$HAPA_CACHE`, else `$XDG_CACHE_HOME/hapa`, else `~/.cache/hapa`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HAPA_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
    base.join("hapa")
}

/// The cargo target dir every build shares (cargo's own default when unset).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

/// `bin` of the tools dir (wasm-pack, wasm-bindgen) first, then the inherited `PATH`.
pub fn tool_path() -> std::ffi::OsString {
    let tools = cache_dir().join("tools/bin");
    let mut paths = vec![tools];
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(paths).unwrap_or_default()
}

/// A command with the tools dir on its `PATH`, run from the repository root.
pub fn cmd(program: &str) -> Command {
    let mut command = Command::new(program);
    command.current_dir(root()).env("PATH", tool_path());
    command
}

/// Runs `command` to completion; an error if it cannot start or exits non-zero.
pub fn run(command: &mut Command) -> anyhow::Result<()> {
    eprintln!("$ {}", describe(command));
    let status = command.status().with_context(|| format!("cannot start {}", describe(command)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(command));
    }
    Ok(())
}

/// Runs `command` and returns its stdout, or `None` when it cannot start or fails.
pub fn output(command: &mut Command) -> Option<String> {
    let out = command.output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `program` can be found on the tools `PATH`.
pub fn have(program: &str) -> bool {
    std::env::split_paths(&tool_path()).any(|dir| dir.join(program).is_file())
}

/// The command line as printed: API keys (`hapa_…`) in arguments are masked, so logs of
/// test runs carry none.
fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| mask_keys(&part.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Replaces what looks like a key (`hapa_` and 28 letters or digits) with `hapa_…`; file
/// names such as `hapa_wasm_bg.wasm` stay readable.
fn mask_keys(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("hapa_") {
        let body: String = rest[at + 5..].chars().take_while(char::is_ascii_alphanumeric).collect();
        out.push_str(&rest[..at]);
        if body.len() == 28 {
            out.push_str("hapa_…");
            rest = &rest[at + 5 + body.len()..];
        } else {
            out.push_str("hapa_");
            rest = &rest[at + 5..];
        }
    }
    out + rest
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_masked_in_printed_commands() {
        assert_eq!(super::mask_keys("X-API-Key: hapa_3Qmoe0Di4DnGOYax6EMbKh1s6QuO"), "X-API-Key: hapa_…");
        assert_eq!(super::mask_keys("--max-time"), "--max-time");
        assert_eq!(super::mask_keys("out/wasm/hapa_wasm_bg.wasm"), "out/wasm/hapa_wasm_bg.wasm");
    }
}
