//! Benchmark: durable one-click answers per second through `canvass serve`, with p50/p99
//! latency, from a loopback load generator (wrk with `serve.lua` when installed, else a
//! built-in Rust generator). Every answer counted was committed before its reply.
//!
//! `cargo bench --bench serve` (set BENCH_SECS and BENCH_CLIENTS to change the load).

#[path = "../collector/mod.rs"]
mod collector;

use std::io::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use collector::{Client, Server, count, token, workspace};

fn main() {
    let secs: u64 = env_or("BENCH_SECS", 10);
    let clients: usize = env_or("BENCH_CLIENTS", 200);
    let ws = workspace(1);
    let server = Server::start(ws.path());
    let paths: Vec<String> = (0..200_000)
        .map(|i| {
            format!(
                "/r/{}?q=score&v={}",
                token(1, &format!("b{i}"), 86_400),
                i % 11
            )
        })
        .collect();
    let (answered, rate, p50, p99, tool) = if Command::new("wrk").arg("--version").output().is_ok()
    {
        with_wrk(&server, &paths, secs, clients)
    } else {
        with_rust(&server, &paths, secs, clients)
    };
    let stored = count(ws.path(), "SELECT count(*) FROM responses");
    println!(
        "serve one-click ({tool}, {clients} connections, {secs}s): {rate:.0} durable answers/s, \
         p50 {p50:.2} ms, p99 {p99:.2} ms; {answered} answered, {stored} stored"
    );
    assert!(
        stored as u64 >= answered,
        "every acknowledged answer is stored"
    );
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs wrk; returns (answers, answers/s, p50 ms, p99 ms, tool).
fn with_wrk(
    server: &Server,
    paths: &[String],
    secs: u64,
    clients: usize,
) -> (u64, f64, f64, f64, &'static str) {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for path in paths {
        writeln!(file, "{path}").unwrap();
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bench/serve.lua");
    let threads = 2;
    let output = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &clients.to_string()])
        .args(["-d", &format!("{secs}s"), "--latency", "-s", script])
        .arg(server.url(""))
        .arg("--")
        .arg(file.path())
        .arg(threads.to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        !text.contains("Non-2xx"),
        "every request must be answered with 2xx:\n{text}"
    );
    let field = |prefix: &str| -> Option<&str> {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    let answered = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk's output:\n{text}"));
    let rate = field("Requests/sec:")
        .and_then(|r| r.parse().ok())
        .unwrap_or(0.0);
    (
        answered,
        rate,
        millis(field("50%")),
        millis(field("99%")),
        "wrk",
    )
}

/// wrk's latency (`1.23ms`, `850.00us`, `1.02s`) in milliseconds.
fn millis(text: Option<&str>) -> f64 {
    let text = text.unwrap_or_default();
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (text, f64::NAN)
    };
    number.parse::<f64>().unwrap_or(f64::NAN) * factor
}

/// The built-in generator: `clients` keep-alive connections for `secs` seconds.
fn with_rust(
    server: &Server,
    paths: &[String],
    secs: u64,
    clients: usize,
) -> (u64, f64, f64, f64, &'static str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let addr = server.addr;
    let paths = std::sync::Arc::new(paths.to_vec());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut latencies: Vec<Duration> = runtime.block_on(async {
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let paths = std::sync::Arc::clone(&paths);
                tokio::spawn(async move {
                    let mut client = Client::connect(addr).await.unwrap();
                    let mut latencies = Vec::new();
                    for path in paths.iter().skip(c).step_by(clients) {
                        if Instant::now() > deadline {
                            break;
                        }
                        let sent = Instant::now();
                        let reply = client.get(path).await.unwrap();
                        assert_eq!(reply.status, 200);
                        latencies.push(sent.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all
    });
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    let answered = latencies.len() as u64;
    (
        answered,
        answered as f64 / elapsed,
        at(0.5),
        at(0.99),
        "built-in",
    )
}
