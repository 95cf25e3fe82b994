//! The real `hapa-server` binary on an ephemeral loopback port.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use hapa_protocol::api::{ErrorBody, HealthResponse};

/// A running `hapa-server serve`, killed when dropped.
struct Server {
    child: Child,
    base: String,
    _data: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Server {
    fn start() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let data = std::env::temp_dir().join(format!("hapa-server-test-{}-{n}", std::process::id()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_hapa-server"))
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("hapa-server starts");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("hapa-server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, base, _data: TempDir(data) }
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn health_answers_without_a_key() {
    let server = Server::start();
    let response = reqwest::get(format!("{}/health", server.base)).await.unwrap();
    assert_eq!(response.status(), 200);
    let health: HealthResponse = response.json().await.unwrap();
    assert_eq!(health, HealthResponse { status: "ok".into(), version: "0.1.0".into() });
}

#[tokio::test]
async fn unknown_paths_get_a_json_404() {
    let server = Server::start();
    let response = reqwest::get(format!("{}/v1/../admin%0d%0a", server.base)).await.unwrap();
    assert_eq!(response.status(), 404);
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.code, "not_found");
    assert!(body.message.starts_with("no such endpoint: GET /"), "{}", body.message);
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut server = Server::start();
    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}");
}
