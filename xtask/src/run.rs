//! `cargo xtask run`: builds everything, starts hapa-server on 127.0.0.1:8000 and opens HAPA
//! in VS Code: the `code` on PATH when there is one, otherwise a local code-server on
//! 127.0.0.1:8080 with the extension installed and pointed at the server. Ctrl-C stops all.

use std::process::Stdio;

use crate::shell::{cmd, have, root, run, target_dir};
use crate::test::Server;
use crate::{dist, setup};

const SERVER_BIND: &str = "127.0.0.1:8000";
const CODE_SERVER_BIND: &str = "127.0.0.1:8080";

/// Builds, starts and opens everything; returns when the server stops (Ctrl-C).
pub fn all() -> anyhow::Result<()> {
    let use_desktop_code = have("code");
    setup::all(if use_desktop_code { setup::For::Build } else { setup::For::Tests })?;
    let vsix = dist::build()?;
    run(cmd("cargo").args(["build", "--locked", "-p", "hapa-server"]))?;
    let data_dir = root().join(".hapa/data");
    let mut server = Server::start_with(&target_dir().join("debug/hapa-server"), SERVER_BIND, &data_dir, &[])?;
    eprintln!("hapa-server is serving {} (data in {})", server.url, data_dir.display());
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let key = server.create_key(&format!("dev-{seconds}"), "admin")?;
    eprintln!("development API key (role admin; stored only as a hash, shown once):\n\n    {key}\n");

    let _editor = if use_desktop_code {
        run(cmd("code").arg("--install-extension").arg(&vsix).arg("--force"))?;
        eprintln!(
            "HAPA is installed in VS Code (`code`); its default server URL is {}. \
             Run \"HAPA: Set API Key\" there and paste the key above.",
            server.url
        );
        None
    } else {
        let dir = root().join(".hapa/code-server");
        let user_data = dir.join("user-data");
        let extensions = dir.join("extensions");
        std::fs::create_dir_all(user_data.join("User"))?;
        let settings = serde_json::json!({
            "hapa.serverUrl": server.url,
            "workbench.startupEditor": "none",
        });
        std::fs::write(user_data.join("User/settings.json"), serde_json::to_string_pretty(&settings)?)?;
        let code_server = setup::code_server_bin();
        run(cmd(code_server.to_str().unwrap_or("code-server"))
            .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
            .arg("--config")
            .arg(dir.join("config.yaml"))
            .arg("--user-data-dir")
            .arg(&user_data)
            .arg("--extensions-dir")
            .arg(&extensions)
            .arg("--install-extension")
            .arg(&vsix)
            .arg("--force"))?;
        let child = cmd(code_server.to_str().unwrap_or("code-server"))
            // The extension moves this key into SecretStorage on first start.
            .env("HAPA_API_KEY", &key)
            // Keep code-server's own files under .hapa/, not in ~/.config.
            .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
            .arg("--config")
            .arg(dir.join("config.yaml"))
            .args(["--auth", "none", "--bind-addr", CODE_SERVER_BIND])
            .args(["--disable-telemetry", "--disable-update-check"])
            .arg("--user-data-dir")
            .arg(&user_data)
            .arg("--extensions-dir")
            .arg(&extensions)
            .arg(root().join("tests/e2e/fixtures/workspace"))
            .stdout(Stdio::null())
            .spawn()?;
        eprintln!("HAPA is open in VS Code (code-server) at http://{CODE_SERVER_BIND}/ — Ctrl-C stops everything.");
        Some(KillOnDrop(child))
    };
    server.wait()
}

/// A child process killed when the handle drops (on return or Ctrl-C unwinding).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
