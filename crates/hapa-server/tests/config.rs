//! `hapa-server --config FILE`: the real binary reading a TOML file of settings, with flags and
//! environment variables over it and the built-in defaults under it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Server, TempDir, keys};
use reqwest::StatusCode;

/// `text` as `hapa.toml` in `dir` (created); its path.
fn config_file(dir: &TempDir, text: &str) -> PathBuf {
    std::fs::create_dir_all(&dir.0).unwrap();
    let path = dir.0.join("hapa.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A loopback port nobody listens on (as far as anyone can know without holding it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `hapa-server ARGS...` to its end; killed, and the test failed, if it is still running after
/// 10 s (a config file it should have refused and is serving with instead).
fn run_to_exit(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hapa-server"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{args:?} is still running after 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The rate-limit policy a user key of `server` is told on a request.
async fn user_quota(server: &Server) -> String {
    let key = server.key("quota", "user");
    let response = server.validate(Some(&key), "x = 1").await;
    assert_eq!(response.status(), 200);
    response.headers()["ratelimit-policy"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_config_file_sets_the_address_and_the_rate_limits() {
    let dir = TempDir::new();
    let port = free_port();
    let path = config_file(
        &dir,
        &format!("bind = \"127.0.0.1:{port}\"\nrate-limit-user = 2\nrate-limit-admin = 7\ncache-ttl-secs = 0\n"),
    );
    let server = Server::launch_exactly(&["--config", text(&path), "serve"], &[], false);
    assert_eq!(server.base, format!("http://127.0.0.1:{port}"));
    let banner = server.banner(6).join("\n");
    assert!(banner.contains("rate limits per key and minute: admin 7, user 2,"), "{banner}");
    assert!(banner.contains("hapa-server response cache: off"), "{banner}");
    assert!(banner.contains(&format!("hapa-server config file: {}", path.display())), "{banner}");

    let key = server.key("ivan", "user");
    for _ in 0..2 {
        let response = server.validate(Some(&key), "x = 1").await;
        assert_eq!(response.headers()["ratelimit-policy"], "\"per-key\";q=2;w=60");
    }
    assert_eq!(server.validate(Some(&key), "x = 1").await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn flags_and_environment_variables_win_over_the_file() {
    let dir = TempDir::new();
    let path = config_file(&dir, "rate-limit-user = 2\nrate-limit-admin = 7\nrate-limit-monitor = 9\n");
    // The file named by HAPA_CONFIG this time, the admin limit by the environment, the user
    // limit by a flag; only the monitor limit is left to the file.
    let env = [("HAPA_CONFIG", text(&path)), ("HAPA_RATE_LIMIT_ADMIN", "8")];
    let server = Server::launch(&["--rate-limit-user", "5"], &env, false);
    let banner = server.banner(6).join("\n");
    assert!(banner.contains("rate limits per key and minute: admin 8, user 5, monitor 9"), "{banner}");
    assert_eq!(user_quota(&server).await, "\"per-key\";q=5;w=60");

    let without_config = Server::start();
    assert!(without_config.banner(6).join("\n").contains("hapa-server config file: none"));
}

#[test]
fn keys_use_the_data_dir_of_the_file() {
    let dir = TempDir::new();
    let data = TempDir::new();
    let path = config_file(&dir, &format!("data-dir = {:?}\n", text(&data.0)));
    let created = run_to_exit(&["--config", text(&path), "keys", "create", "--name", "judy"]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    assert!(keys(&data.0, &["list"]).contains("judy\tuser\t"));
    // A flag still wins: the key made there is not in the file's data dir.
    let elsewhere = TempDir::new();
    let args = ["--config", text(&path), "--data-dir", text(&elsewhere.0), "keys", "create", "--name", "kim"];
    assert!(run_to_exit(&args).status.success());
    assert!(keys(&elsewhere.0, &["list"]).contains("kim\tuser\t"));
    assert!(!keys(&data.0, &["list"]).contains("kim"));
}

#[test]
fn mistakes_in_the_file_stop_the_server_with_a_message_that_names_them() {
    let cases = [
        ("rate-limit-usr = 3\n", "`rate-limit-usr` is not a setting (did you mean `rate-limit-user`?)"),
        ("[model]\ndir = \"models\"\n", "`model` is not a setting (the file has no tables"),
        ("rate-limit-user = \"many\"\n", "`rate-limit-user` must be an integer, not string"),
        ("bind = 8000\n", "`bind` must be a string, not integer"),
        ("provider = \"cloud\"\n", "`provider = \"cloud\"` is not valid: expected one of \"local\", \"openai\""),
        ("cache-ttl-secs = -1\n", "`cache-ttl-secs = -1` is not valid: "),
        ("bind = \"127.0.0.1:0\"\nbind = \"127.0.0.1:1\"\n", "is not valid TOML"),
    ];
    for (contents, message) in cases {
        let dir = TempDir::new();
        let path = config_file(&dir, contents);
        let out = run_to_exit(&["--config", text(&path), "serve", "--bind", "127.0.0.1:0"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{contents:?} was accepted");
        assert!(stderr.contains(message), "{contents:?}: {stderr}");
        assert!(stderr.contains(text(&path)), "{contents:?} does not name the file: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let missing = run_to_exit(&["--config", "/nonexistent/hapa.toml", "serve", "--bind", "127.0.0.1:0"]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("cannot read the config file /nonexistent/hapa.toml"), "{stderr}");
    assert!(stderr.contains("No such file"), "{stderr}");
}

#[test]
fn the_openai_provider_may_be_chosen_by_flag_and_set_up_in_the_file() {
    let dir = TempDir::new();
    let path = config_file(&dir, "openai-base-url = \"http://127.0.0.1:9/v1\"\nopenai-model = \"m\"\n");
    let server = Server::start_with(&["--config", text(&path), "--provider", "openai"]);
    let banner = server.banner(2).join("\n");
    assert!(banner.contains("hapa-server model: openai m at http://127.0.0.1:9/v1"), "{banner}");

    let data = TempDir::new();
    let out = run_to_exit(&["--data-dir", text(&data.0), "serve", "--bind", "127.0.0.1:0", "--provider", "openai"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--provider openai needs --openai-base-url"));
}

#[test]
fn the_example_config_is_valid_and_gives_the_built_in_defaults() {
    let example = run_to_exit(&["config", "example"]);
    assert!(example.status.success(), "{}", String::from_utf8_lossy(&example.stderr));
    let example = String::from_utf8(example.stdout).unwrap();
    for key in ["\ndata-dir = ", "\nbind = \"127.0.0.1:8000\"\n", "\nrate-limit-user = ", "\ncors-origin = []\n"] {
        assert!(example.contains(key), "{key:?} missing from\n{example}");
    }
    let dir = TempDir::new();
    let path = config_file(&dir, &example);
    let from_example = Server::start_with(&["--config", text(&path)]);
    let built_in = Server::start();
    // What each prints about itself, but for its own data dir and the config file line.
    let described = |server: &Server| {
        let data = server.data.0.display().to_string();
        server
            .banner(6)
            .iter()
            .filter(|line| !line.starts_with("hapa-server config file:"))
            .map(|line| line.replace(&data, "DATA"))
            .collect::<Vec<_>>()
    };
    assert_eq!(described(&from_example), described(&built_in));
}
