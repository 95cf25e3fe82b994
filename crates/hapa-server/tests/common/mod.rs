//! What the server's integration tests share: the real `hapa-server` binary on an ephemeral
//! loopback port, with its real SQLite store in a temporary directory.

// Each test file uses its own part of this module.
#![allow(dead_code)]

pub mod services;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hapa_protocol::api::ErrorBody;
use reqwest::StatusCode;

/// A data dir removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self(std::env::temp_dir().join(format!("hapa-server-test-{}-{n}", std::process::id())))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn hapa_server(data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hapa-server"));
    command.arg("--data-dir").arg(data).stderr(Stdio::null());
    command
}

/// `hapa-server keys ...`; its stdout, or a panic with its stderr.
pub fn keys(data: &Path, args: &[&str]) -> String {
    cli(data, &[&["keys"], args].concat())
}

/// `hapa-server ARGS...` on `data`; its stdout, or a panic with its stderr.
pub fn cli(data: &Path, args: &[&str]) -> String {
    let out = hapa_server(data).args(args).stderr(Stdio::piped()).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

pub fn create_key(data: &Path, name: &str, role: &str) -> String {
    let out = keys(data, &["create", "--name", name, "--role", role]);
    out.lines().last().unwrap().to_owned()
}

pub const LOG_FILE: &str = "server.log";

/// Reads the first line `child` (a `hapa-server serve` with piped stdout) prints, which must say
/// where it listens, and keeps the lines after it (the banner) as they come: its base URL and
/// those lines. `failure` words the panic for any other first line.
pub fn listening(child: &mut Child, failure: impl FnOnce(&str) -> String) -> (String, Arc<Mutex<Vec<String>>>) {
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let Some(base) = line.trim().strip_prefix("hapa-server listening on ") else { panic!("{}", failure(&line)) };
    let base = base.to_owned();
    let banner = Arc::new(Mutex::new(Vec::new()));
    let lines = banner.clone();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
    (base, banner)
}

/// A running `hapa-server serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub data: TempDir,
    banner: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Self {
        Self::launch(extra, &[], false)
    }

    /// Started with its log (stderr) kept in [`Server::log`].
    pub fn start_logging(extra: &[&str]) -> Self {
        Self::launch(extra, &[], true)
    }

    pub fn launch(extra: &[&str], env: &[(&str, &str)], keep_log: bool) -> Self {
        Self::launch_exactly(&[&["serve", "--bind", "127.0.0.1:0"], extra].concat(), env, keep_log)
    }

    /// `hapa-server ARGS...` on a new data dir: unlike [`Server::launch`], ARGS say `serve` and
    /// nothing says where to listen but them (or a config file).
    pub fn launch_exactly(args: &[&str], env: &[(&str, &str)], keep_log: bool) -> Self {
        let data = TempDir::new();
        std::fs::create_dir_all(&data.0).unwrap();
        let (child, base, banner) = Self::spawn(&data.0, args, env, keep_log);
        Self { child, base, data, banner }
    }

    /// Kills the server (SIGKILL, as a crash would) and starts it again on the same data dir
    /// with `extra` flags, on a new port.
    pub fn restart(&mut self, extra: &[&str]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let args = [&["serve", "--bind", "127.0.0.1:0"], extra].concat();
        (self.child, self.base, self.banner) = Self::spawn(&self.data.0, &args, &[], false);
    }

    /// `hapa-server ARGS...` on `data`, once it listens: the process, its base URL and the lines
    /// it prints after the first.
    fn spawn(
        data: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        keep_log: bool,
    ) -> (Child, String, Arc<Mutex<Vec<String>>>) {
        let mut command = hapa_server(data);
        command.args(args).envs(env.iter().copied()).stdout(Stdio::piped());
        if keep_log {
            command.stderr(std::fs::File::create(data.join(LOG_FILE)).unwrap());
        }
        let mut child = command.spawn().expect("hapa-server starts");
        let (base, banner) = listening(&mut child, |line| format!("unexpected first line {line:?}"));
        (child, base, banner)
    }

    /// The lines printed after the first, once `count` of them have come (at most 10 s).
    pub fn banner(&self, count: usize) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let lines = self.banner.lock().unwrap().clone();
            if lines.len() >= count || std::time::Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// POSTs `body` as JSON to `path` with `key` (as `X-API-Key`) and any `headers`.
    pub async fn post(
        &self,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> reqwest::Response {
        let mut request = reqwest::Client::new().post(self.url(path)).json(body);
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `host:port`, for raw TCP.
    pub fn address(&self) -> &str {
        self.base.strip_prefix("http://").unwrap()
    }

    /// What the server has logged so far (only when started with [`Server::start_logging`]).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.0.join(LOG_FILE)).unwrap()
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> reqwest::Response {
        let mut request = reqwest::Client::new().get(self.url(path));
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        request.send().await.unwrap()
    }

    pub fn key(&self, name: &str, role: &str) -> String {
        create_key(&self.data.0, name, role)
    }

    pub async fn validate(&self, key: Option<&str>, code: &str) -> reqwest::Response {
        let mut request =
            reqwest::Client::new().post(self.url("/api/v1/code/validate")).json(&serde_json::json!({ "code": code }));
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        request.send().await.unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn error_of(response: reqwest::Response, status: StatusCode) -> ErrorBody {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}
