//! The servers that the scale-out tests run beside hapa-server, each its own process on a free
//! loopback port with its files in a temporary directory: PostgreSQL and Redis from their
//! Debian packages (`cargo xtask setup` installs them; a test fails, never skips, without
//! them), several `hapa-server serve` instances on one data dir, and a model that counts the
//! requests it gets.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{Server, TempDir, hapa_server, listening};

/// What to do when a server's binaries are missing.
const SETUP: &str = "run `cargo xtask setup` (it installs the Debian packages postgresql and redis-server)";

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs `command`, panicking with its output unless it succeeds.
fn run(command: &mut Command, what: &str) {
    let out = command.output().unwrap_or_else(|error| panic!("{what}: cannot run {command:?}: {error}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// A PostgreSQL cluster of its own: `initdb` into a temporary directory, then a postmaster on
/// 127.0.0.1 and a free port, its unix socket in that directory too. Stopped (immediately,
/// as a crash would) and removed when dropped.
pub struct Postgres {
    bin: PathBuf,
    dir: TempDir,
    /// `postgres://hapa@127.0.0.1:PORT/postgres`: the superuser `hapa`, trusted on loopback.
    pub url: String,
}

impl Postgres {
    pub fn start() -> Self {
        let bin = Self::binaries();
        let dir = TempDir::new();
        std::fs::create_dir_all(&dir.0).unwrap();
        // initdb refuses to run as root: then the cluster belongs to the `postgres` user.
        let as_root = is_root();
        if as_root {
            run(
                Command::new("chown").arg("postgres:postgres").arg(&dir.0),
                "giving the cluster's directory to postgres",
            );
        }
        let data = dir.0.join("data");
        let port = free_port();
        run(
            Self::command(&bin, "initdb", as_root).arg("-D").arg(&data).args([
                "-U",
                "hapa",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ]),
            "initdb",
        );
        let options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1", dir.0.display());
        run(
            Self::command(&bin, "pg_ctl", as_root)
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.0.join("postgres.log"))
                .args(["-o", &options, "-w", "-t", "30", "start"]),
            "pg_ctl start",
        );
        Self { bin, dir, url: format!("postgres://hapa@127.0.0.1:{port}/postgres") }
    }

    /// The newest installed server's bin directory (Debian keeps each major version apart).
    fn binaries() -> PathBuf {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse().ok()?;
                let bin = entry.path().join("bin");
                bin.join("initdb").is_file().then_some((version, bin))
            })
            .collect();
        versions.sort();
        match versions.pop() {
            Some((_, bin)) => bin,
            None => panic!("PostgreSQL's server (initdb, pg_ctl) is not in /usr/lib/postgresql/*/bin: {SETUP}"),
        }
    }

    fn command(bin: &Path, program: &str, as_root: bool) -> Command {
        let program = bin.join(program);
        if as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Self::command(&self.bin, "pg_ctl", is_root())
            .arg("-D")
            .arg(self.dir.0.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// A `redis-server` of its own on 127.0.0.1 and a fixed port, without persistence, so a
/// restart starts empty. Killed when dropped.
pub struct Redis {
    child: Option<Child>,
    dir: TempDir,
    pub port: u16,
}

impl Redis {
    pub fn start() -> Self {
        let dir = TempDir::new();
        std::fs::create_dir_all(&dir.0).unwrap();
        let mut redis = Self { child: None, dir, port: free_port() };
        redis.restart();
        redis
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port, and waits until it answers `PING`.
    pub fn restart(&mut self) {
        self.kill();
        let spawned = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                panic!("redis-server is not installed: {SETUP}")
            }
            Err(error) => panic!("cannot start redis-server: {error}"),
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers_ping() {
            assert!(Instant::now() < deadline, "redis-server on port {} did not answer PING in 10 s", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut answer = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut answer).is_ok() && &answer == b"+PONG\r\n"
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A header's value, or "" when it is absent.
pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).map_or("", |value| value.to_str().unwrap())
}

/// A `hapa-server serve` on a data dir it does not own (several may share one), its log
/// (stderr) kept in a file. Killed when dropped.
pub struct Instance {
    child: Child,
    pub base: String,
    log: PathBuf,
    /// What it printed after the first line, once it was listening.
    banner: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Instance {
    /// `hapa-server --data-dir DATA serve --bind 127.0.0.1:0 ARGS...`, once it listens.
    pub fn start(data: &Path, name: &str, args: &[&str]) -> Self {
        let log = data.join(format!("{name}.log"));
        let mut command = hapa_server(data);
        command
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = command.spawn().expect("hapa-server starts");
        let (base, banner) =
            listening(&mut child, |line| format!("{name}: unexpected first line {line:?}; log: {}", read(&log)));
        Self { child, base, log, banner }
    }

    /// `POST /api/v1/code/validate` of `x = 1` with `key`.
    pub async fn validate(&self, key: &str) -> reqwest::Response {
        self.post_json("/api/v1/code/validate", key, serde_json::json!({ "code": "x = 1" })).await
    }

    /// `POST /api/v1/code/complete` of a one-line body with `key`.
    pub async fn complete(&self, key: &str) -> reqwest::Response {
        let body = serde_json::json!({ "prefix": "def add(a, b):\n    return ", "language": "python" });
        self.post_json("/api/v1/code/complete", key, body).await
    }

    async fn post_json(&self, path: &str, key: &str, body: serde_json::Value) -> reqwest::Response {
        reqwest::Client::new().post(self.url(path)).header("X-API-Key", key).json(&body).send().await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        read(&self.log)
    }

    /// The banner line that starts with `prefix`, once printed (at most 10 s).
    pub fn banner_line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(line) = self.banner.lock().unwrap().iter().find(|line| line.starts_with(prefix)) {
                return line.clone();
            }
            assert!(Instant::now() < deadline, "no banner line {prefix:?} in {:?}", self.banner.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `GET /metrics` with an admin or monitor `key`.
    pub async fn metrics(&self, key: &str) -> String {
        let response = reqwest::Client::new().get(self.url("/metrics")).header("X-API-Key", key).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// What [`CountingModel`] answers a chat question with (the code is its fenced block).
pub const CHAT_ANSWER: &str = "Here it is:\n```python\ndef total(numbers):\n    return sum(numbers)\n```\n";

/// An OpenAI-compatible model server that answers chat questions with [`CHAT_ANSWER`] (with no
/// code when the question mentions "nothing"), completions with `a + b`, and counts the requests
/// it gets, so a cache hit is seen as a request that never reached it.
pub struct CountingModel {
    base: String,
    requests: Arc<AtomicUsize>,
}

impl CountingModel {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                counted.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || answer(stream));
            }
        });
        Self { base, requests }
    }

    /// Requests it has been sent so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The flags that make a hapa-server ask it (as the model `counting-model`).
    pub fn flags(&self) -> Vec<&str> {
        vec!["--provider", "openai", "--openai-base-url", &self.base, "--openai-model", "counting-model"]
    }

    /// A hapa-server that asks it, with `extra` flags.
    pub fn server(&self, extra: &[&str]) -> Server {
        Server::start_with(&[self.flags().as_slice(), extra].concat())
    }
}

/// Reads one request and answers it as a whole JSON body (hapa-server accepts that in place of a
/// stream), then closes the connection.
fn answer(mut stream: TcpStream) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    let (head, body) = loop {
        let Ok(read @ 1..) = stream.read(&mut buffer) else { return };
        request.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&request).into_owned();
        let Some(end) = text.find("\r\n\r\n") else { continue };
        let length = text[..end]
            .lines()
            .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
            .and_then(|value| value.parse::<usize>().ok())
            .unwrap_or(0);
        if request.len() >= end + 4 + length {
            break (text[..end].to_owned(), text[end + 4..].to_owned());
        }
    };
    let answer = if head.starts_with("POST /v1/chat/completions") {
        let content = if body.contains("nothing") { "" } else { CHAT_ANSWER };
        serde_json::json!({ "choices": [{ "message": { "role": "assistant", "content": content }, "finish_reason": "stop" }] })
    } else {
        serde_json::json!({ "choices": [{ "text": "a + b", "finish_reason": "stop" }] })
    };
    let answer = answer.to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
        answer.len()
    );
}
