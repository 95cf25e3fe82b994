//! `cargo xtask bench server`: hapa-server's cache-hit `generate` and `validate` under a load
//! generator (oha), with authentication and rate limiting on, beside `GET /health` measured in
//! the same run as the floor of the HTTP stack. It prints figures and asserts no timing: it fails
//! only when the server does not start or answers wrongly (a 429 included).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::setup;
use crate::shell::{cmd, run, target_dir};
use crate::test::Server;

/// What `cargo xtask bench` measures.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Target {
    /// hapa-server's release build on loopback.
    Server,
    /// What a person typing waits for: validation and prompts on a 5,000-line module, native
    /// and WebAssembly, and inline-completion latency (see `bench_editor`).
    Editor,
}

/// How hard each scenario pushes.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// How long each scenario runs.
    pub seconds: u64,
    /// Connections the load generator keeps open.
    pub connections: u32,
}

/// The issue's targets, for the 2-core machine.
const TARGET_HITS_PER_SEC: f64 = 20_000.0;
const TARGET_P99_MS: f64 = 5.0;

/// The bench key's quota per minute. GCRA lets a minute's quota through at once, so this is
/// consulted on every request but cannot say no to a bench of a few million requests.
const USER_QUOTA_PER_MINUTE: u32 = 60_000_000;

const GENERATE: &str = "/api/v1/code/generate";
const VALIDATE: &str = "/api/v1/code/validate";

/// The cached question: a context the bundled model continues with code, so the answer is a
/// success and therefore cached (answers with `status: error` never are).
const QUESTION: &str = "return the sum of a and b";
const QUESTION_CONTEXT: &str = "def add(a, b):\n";

/// What `validate` parses under load: 50 lines of ordinary Python.
const SNIPPET: &str = r#"import dataclasses
import json
from pathlib import Path


@dataclasses.dataclass
class Order:
    id: int
    customer: str
    items: list[tuple[str, int, float]]
    paid: bool = False

    def total(self) -> float:
        return sum(quantity * price for _, quantity, price in self.items)

    def describe(self) -> str:
        state = "paid" if self.paid else "open"
        return f"order {self.id} for {self.customer}: {self.total():.2f} ({state})"


def load_orders(path: Path) -> list[Order]:
    with path.open() as file:
        raw = json.load(file)
    orders = []
    for entry in raw:
        items = [(name, int(quantity), float(price)) for name, quantity, price in entry["items"]]
        orders.append(Order(entry["id"], entry["customer"], items, entry.get("paid", False)))
    return orders


def by_customer(orders: list[Order]) -> dict[str, list[Order]]:
    grouped: dict[str, list[Order]] = {}
    for order in orders:
        grouped.setdefault(order.customer, []).append(order)
    return grouped


def unpaid_total(orders: list[Order]) -> float:
    return sum(order.total() for order in orders if not order.paid)


def main() -> None:
    orders = load_orders(Path("orders.json"))
    for customer, theirs in sorted(by_customer(orders).items()):
        print(customer, len(theirs), f"{unpaid_total(theirs):.2f}")
        for order in theirs:
            print("  ", order.describe())


if __name__ == "__main__":
    main()
"#;

/// Runs the bench for `target`.
pub fn all(target: Target, load: Load) -> anyhow::Result<()> {
    match target {
        Target::Server => server(load),
        Target::Editor => crate::bench_editor::run(),
    }
}

fn server(load: Load) -> anyhow::Result<()> {
    setup::oha()?;
    run(cmd("cargo").args(["build", "--release", "--locked", "-p", "hapa-server"]))?;
    let dir = target_dir().join("bench");
    let data = dir.join("server-data");
    // A fresh store: an empty response cache, and key names that never collide.
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&dir)?;
    let log_path = dir.join("hapa-server.log");
    let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let quota = USER_QUOTA_PER_MINUTE.to_string();
    // Monitor keys get a quota of 1, to show below that the limiter refuses what is over it.
    let flags = ["--rate-limit-user", quota.as_str(), "--rate-limit-monitor", "1"];
    let server =
        Server::start_logging_to(&target_dir().join("release/hapa-server"), "127.0.0.1:0", &data, &flags, log.into())?;
    let address = server.url.strip_prefix("http://").context("the server's URL is not http://")?.to_owned();
    let user = server.create_key("bench", "user")?;

    let limited = rate_limit_check(&server, &address)?;
    eprintln!("{limited}");
    let generate_body = serde_json::json!({
        "user_question": QUESTION,
        "code_context": QUESTION_CONTEXT,
        "language": "python",
    })
    .to_string();
    let hit_policy = warm_cache(&address, &user, &generate_body)?;
    eprintln!("the cache is warm: the second generate answered X-Hapa-Cache: hit ({hit_policy})");
    let validate_body = serde_json::json!({ "code": SNIPPET }).to_string();
    let checked = post(&address, VALIDATE, &user, &validate_body)?;
    let valid = serde_json::from_str::<serde_json::Value>(&checked.body).ok().and_then(|v| v["valid"].as_bool());
    if checked.status != 200 || valid != Some(true) {
        bail!(
            "validate answered {} {:?} for the valid snippet; expected 200 with valid: true",
            checked.status,
            checked.body
        );
    }

    let generate_file = dir.join("generate.json");
    let validate_file = dir.join("validate.json");
    std::fs::write(&generate_file, &generate_body)?;
    std::fs::write(&validate_file, &validate_body)?;
    let health = Scenario { name: "GET /health (floor, no key)", path: "/health", key: None, body: None };
    let generate =
        Scenario { name: "POST generate, cache hit", path: GENERATE, key: Some(&user), body: Some(&generate_file) };
    let validate =
        Scenario { name: "POST validate, 50 lines", path: VALIDATE, key: Some(&user), body: Some(&validate_file) };

    let floor = measure(&server.url, &health, None, load, &dir)?;
    let hits_at_max = measure(&server.url, &generate, None, load, &dir)?;
    let validated = measure(&server.url, &validate, None, load, &dir)?;
    let half = (hits_at_max.ok_per_sec / 2.0).max(1.0);
    let hits_at_half = measure(&server.url, &generate, Some(half), load, &dir)?;
    let (hits, misses) = cache_counts(&server, &address)?;
    drop(server);

    println!();
    println!("hapa-server release build, {}, oha {} on the same machine", machine(), setup::OHA_VERSION);
    println!(
        "{} s per scenario, {} connections, auth and rate limiting on (user quota {USER_QUOTA_PER_MINUTE}/min)",
        load.seconds, load.connections
    );
    println!();
    let at_half = format!("POST generate, cache hit, at {half:.0}/s");
    let rows = [
        (health.name, &floor),
        (generate.name, &hits_at_max),
        (validate.name, &validated),
        (at_half.as_str(), &hits_at_half),
    ];
    println!("{:<40} {:>10} {:>9} {:>9} {:>8} {:>7}", "scenario", "2xx/s", "p50 ms", "p99 ms", "non-2xx", "errors");
    for (name, f) in rows {
        println!(
            "{name:<40} {:>10.0} {:>9.2} {:>9.2} {:>8} {:>7}",
            f.ok_per_sec,
            f.p50_ms,
            f.p99_ms,
            f.non_2xx.values().sum::<u64>(),
            f.errors.values().sum::<u64>()
        );
    }
    println!();
    let max = hits_at_max.ok_per_sec;
    println!(
        "target >= {TARGET_HITS_PER_SEC:.0} cache-hit generate/s: {max:.0}/s, target {}",
        if max >= TARGET_HITS_PER_SEC { "met" } else { "missed" }
    );
    let p99 = hits_at_half.p99_ms;
    println!(
        "target p99 <= {TARGET_P99_MS} ms at half that rate ({:.0}/s served): {p99:.2} ms, target {}",
        hits_at_half.ok_per_sec,
        if p99 <= TARGET_P99_MS { "met" } else { "missed" }
    );
    println!("{limited}");
    println!("response cache over the whole run: {hits} hits, {misses} miss (the warm-up)");
    let log_bytes = std::fs::metadata(&log_path).map_or(0, |m| m.len());
    println!(
        "server log (JSON lines: every failed or slow request, successful ones up to 50 a second, \
         RUST_LOG={}): {:.1} MB in {}",
        std::env::var("RUST_LOG").unwrap_or_else(|_| "info, the default".to_owned()),
        log_bytes as f64 / 1e6,
        log_path.display()
    );

    let wrong: Vec<String> = rows
        .into_iter()
        .filter(|(_, f)| !f.non_2xx.is_empty() || !f.errors.is_empty())
        .map(|(name, f)| format!("{name}: statuses {:?}, errors {:?}", f.non_2xx, f.errors))
        .collect();
    if !wrong.is_empty() {
        let throttled = rows.into_iter().any(|(_, f)| f.non_2xx.contains_key("429"));
        bail!(
            "the bench failed, some answers were wrong{}:\n{}",
            if throttled { " (429: the key was throttled, so these are not cache-hit figures)" } else { "" },
            wrong.join("\n")
        );
    }
    if misses != 1 {
        bail!("the cache missed {misses} times; only the warm-up should miss, so these are not cache-hit figures");
    }
    Ok(())
}

/// Shows the limiter refuses what is over a quota: a monitor key (quota 1 a minute) gets its
/// first validate answered and its second refused.
fn rate_limit_check(server: &Server, address: &str) -> anyhow::Result<String> {
    let monitor = server.create_key("bench-monitor", "monitor")?;
    let body = serde_json::json!({ "code": "x = 1\n" }).to_string();
    let first = post(address, VALIDATE, &monitor, &body)?.status;
    let second = post(address, VALIDATE, &monitor, &body)?.status;
    if (first, second) != (200, 429) {
        bail!("a monitor key with a quota of 1 a minute got {first} then {second}; expected 200 then 429");
    }
    Ok(format!(
        "rate limiting is enforced: a monitor key (quota 1/min) got 200 then 429; the bench's user key has \
         {USER_QUOTA_PER_MINUTE}/min, checked on every request"
    ))
}

/// Asks the question twice: the model answers the first (a miss), the cache the second (a
/// hit, with the same code). Returns the hit's `RateLimit-Policy`.
fn warm_cache(address: &str, key: &str, body: &str) -> anyhow::Result<String> {
    let mut codes = Vec::new();
    for expected in ["miss", "hit"] {
        let answer = post(address, GENERATE, key, body)?;
        let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap_or_default();
        let cache = answer.header("x-hapa-cache").unwrap_or("none");
        if answer.status != 200 || json["status"] != "success" || cache != expected {
            bail!(
                "generate answered {} with X-Hapa-Cache: {cache} (expected 200, {expected}, status success): {}",
                answer.status,
                answer.body
            );
        }
        codes.push(json["generated_code"].clone());
        if expected == "hit" {
            if codes[0] != codes[1] {
                bail!("the cache hit's code {} differs from the model's {}", codes[1], codes[0]);
            }
            return answer
                .header("ratelimit-policy")
                .map(|p| format!("RateLimit-Policy: {p}"))
                .context("the hit carries no RateLimit-Policy header: is the rate limiter off for generate?");
        }
    }
    unreachable!("the loop returns on the hit")
}

/// The response cache's hits and misses, from `GET /stats` (an admin key: monitor's quota is spent).
fn cache_counts(server: &Server, address: &str) -> anyhow::Result<(u64, u64)> {
    let admin = server.create_key("bench-admin", "admin")?;
    let answer = request(address, "GET", "/stats", Some(&admin), "")?;
    let stats: serde_json::Value = serde_json::from_str(&answer.body).context("GET /stats did not answer JSON")?;
    let count = |name: &str| stats["cache"][name].as_u64().with_context(|| format!("/stats has no cache.{name}"));
    Ok((count("hits")?, count("misses")?))
}

/// One load: a route, the key it is sent with and the file its JSON body is in (POST when set).
struct Scenario<'a> {
    name: &'static str,
    path: &'static str,
    key: Option<&'a str>,
    body: Option<&'a Path>,
}

/// What one load measured.
#[derive(Debug)]
struct Figures {
    /// 2xx answers per second over the run.
    ok_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Answers other than 2xx, by status.
    non_2xx: BTreeMap<String, u64>,
    /// Requests that got no answer, by reason.
    errors: BTreeMap<String, u64>,
}

/// The part of oha's `--output-format json` report read here.
#[derive(Deserialize)]
struct Report {
    summary: Summary,
    metrics: Metrics,
    #[serde(rename = "statusCodeDistribution")]
    statuses: BTreeMap<String, u64>,
    #[serde(rename = "errorDistribution")]
    errors: BTreeMap<String, u64>,
}

#[derive(Deserialize)]
struct Summary {
    /// Seconds the run took.
    total: f64,
}

#[derive(Deserialize)]
struct Metrics {
    latency_ms: Latency,
}

/// Milliseconds; null when nothing was answered.
#[derive(Deserialize)]
struct Latency {
    p50: Option<f64>,
    p99: Option<f64>,
}

/// Runs oha against `scenario` for `load.seconds`, as fast as it can or at `rate` a second.
fn measure(url: &str, scenario: &Scenario, rate: Option<f64>, load: Load, dir: &Path) -> anyhow::Result<Figures> {
    let report = dir.join("oha-report.json");
    let mut oha = cmd("oha");
    oha.args(["--no-tui", "--output-format", "json", "-o"]).arg(&report);
    oha.args(["-z", &format!("{}s", load.seconds), "-c", &load.connections.to_string()]);
    if let Some(key) = scenario.key {
        oha.args(["-H", &format!("X-API-Key: {key}")]);
    }
    if let Some(body) = scenario.body {
        oha.args(["-m", "POST", "-T", "application/json", "-D"]).arg(body);
    }
    if let Some(rate) = rate {
        // Latency from when each request was due, not when it went out, so a stall counts
        // against the requests queued behind it (no coordinated omission).
        oha.args(["-q", &format!("{rate:.0}"), "--latency-correction"]);
    }
    oha.arg(format!("{url}{}", scenario.path));
    run(&mut oha)?;
    let text = std::fs::read_to_string(&report).with_context(|| format!("reading {}", report.display()))?;
    let report: Report = serde_json::from_str(&text).context("oha's JSON report")?;
    let ok: u64 = report.statuses.iter().filter(|(status, _)| status.starts_with('2')).map(|(_, n)| n).sum();
    Ok(Figures {
        ok_per_sec: ok as f64 / report.summary.total,
        p50_ms: report.metrics.latency_ms.p50.unwrap_or(f64::NAN),
        p99_ms: report.metrics.latency_ms.p99.unwrap_or(f64::NAN),
        non_2xx: report.statuses.into_iter().filter(|(status, _)| !status.starts_with('2')).collect(),
        // oha cuts the requests in flight when the time is up; those are no error of the server's.
        errors: report.errors.into_iter().filter(|(reason, _)| reason != "aborted due to deadline").collect(),
    })
}

/// "2 cores (CPU model)", for the figures' context.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name")?.split_once(':').map(|(_, name)| name.trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cores} cores ({model})")
}

/// One whole answer to a request sent with `Connection: close`.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field.trim().eq_ignore_ascii_case(name).then_some(value.trim())
        })
    }
}

fn post(address: &str, path: &str, key: &str, body: &str) -> anyhow::Result<Answer> {
    request(address, "POST", path, Some(key), body)
}

/// A single HTTP/1.1 request on its own connection. Plain `std`: the checks around the load
/// need answers' headers, which the load generator does not report.
fn request(address: &str, method: &str, path: &str, key: Option<&str>, body: &str) -> anyhow::Result<Answer> {
    let mut stream = TcpStream::connect(address).with_context(|| format!("connecting to {address}"))?;
    // The first generate loads and runs the model (its own deadline is 20 s by default).
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    if let Some(key) = key {
        head.push_str("X-API-Key: ");
        head.push_str(key);
        head.push_str("\r\n");
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).with_context(|| format!("reading the answer to {method} {path}"))?;
    let (head, body) = answer.split_once("\r\n\r\n").with_context(|| format!("{method} {path}: no HTTP answer"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("{method} {path}: no status in {head:?}"))?;
    Ok(Answer { status, head: head.to_owned(), body: body.to_owned() })
}
