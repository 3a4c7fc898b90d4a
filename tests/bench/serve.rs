//! Benchmark: durable one-click answers per second through `canvass serve`, with p50/p99
//! latency, from a loopback load generator (wrk with `serve.lua` when installed, else a
//! built-in Rust generator). Every answer counted was committed before its reply.
//!
//! Then confirmed answers (the landing page's POST, which is what raises alerts), without
//! alerts and with an alert on every answer (its outbox message committed with the
//! answer), and the rate at which `canvass alerts --deliver` drains that outbox to a local
//! receiver.
//!
//! `cargo bench --bench serve` (set BENCH_SECS and BENCH_CLIENTS to change the load;
//! `CANVASS_BIN` serves the one-click answers with another build of the binary).

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
    let binary = std::env::var_os("CANVASS_BIN")
        .map_or_else(|| env!("CARGO_BIN_EXE_canvass").into(), Into::into);
    let server = Server::start_with(ws.path(), binary);
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
        let gets: Vec<(String, Option<String>)> = paths.iter().map(|p| (p.clone(), None)).collect();
        with_rust(&server, &gets, secs, clients)
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
    drop(server);
    confirmed_with_and_without_alerts(secs, clients);
}

/// Confirmed answers without alerts, then with an alert on every answer, then the drain
/// of the outbox those answers filled.
fn confirmed_with_and_without_alerts(secs: u64, clients: usize) {
    let plain = confirmed_run(false, secs, clients);
    let alerted = confirmed_run(true, secs, clients);
    println!(
        "alert on every answer: {:.0} vs {:.0} durable answers/s ({:+.1}%)",
        alerted.0,
        plain.0,
        (alerted.0 / plain.0 - 1.0) * 100.0
    );
    let ws = alerted.1;
    let pending = count(
        ws.path(),
        "SELECT count(*) FROM outbox WHERE status = 'pending'",
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (url, received) = runtime.block_on(sink());
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_canvass"))
        .env("CANVASS_KEY", collector::KEY)
        .env("CANVASS_WEBHOOK_SECRET", SECRET)
        .env("BENCH_HOOK", url)
        .arg("--workspace")
        .arg(ws.path())
        .args(["alerts", "--deliver"])
        .output()
        .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let delivered = count(
        ws.path(),
        "SELECT count(*) FROM outbox WHERE status = 'delivered'",
    );
    println!(
        "outbox drain (canvass alerts --deliver, signed, to a local receiver): {delivered} of \
         {pending} delivered in {elapsed:.2}s, {:.0} deliveries/s; the receiver counted {}",
        delivered as f64 / elapsed,
        received.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert_eq!(
        delivered,
        pending,
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// The signing secret of the benchmark's webhook.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Confirms one-click answers (POST) for `secs`; with `alert`, every answer raises an
/// alert to a webhook whose URL is not set yet, so its messages wait in the outbox.
/// Returns the durable answers per second and the workspace.
fn confirmed_run(alert: bool, secs: u64, clients: usize) -> (f64, tempfile::TempDir) {
    let ws = workspace(1);
    if alert {
        std::fs::write(
            ws.path().join("surveys/fb/distribution.yaml"),
            "survey: fb\nrules: []\nalerts:\n  - id: every\n    when: score >= 0\n    \
             to: { webhook_env: BENCH_HOOK }\n",
        )
        .unwrap();
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_canvass"));
    command
        .env("CANVASS_KEY", collector::KEY)
        .env("CANVASS_WEBHOOK_SECRET", SECRET)
        .env_remove("BENCH_HOOK")
        .arg("--workspace")
        .arg(ws.path())
        .args(["serve", "--bind", "127.0.0.1:0"]);
    let server = Server::from_command(command);
    let posts: Vec<(String, Option<String>)> = (0..200_000)
        .map(|i| {
            (
                format!("/r/{}", token(1, &format!("c{i}"), 86_400)),
                Some(format!("q=score&v={}", i % 11)),
            )
        })
        .collect();
    let (answered, rate, p50, p99, _) = with_rust(&server, &posts, secs, clients);
    drop(server);
    let stored = count(ws.path(), "SELECT count(*) FROM responses");
    let raised = count(ws.path(), "SELECT count(*) FROM outbox");
    println!(
        "serve confirmed answers{} (built-in, {clients} connections, {secs}s): {rate:.0} durable \
         answers/s, p50 {p50:.2} ms, p99 {p99:.2} ms; {answered} answered, {stored} stored, \
         {raised} alerts raised",
        if alert {
            " with an alert on every answer"
        } else {
            ""
        }
    );
    assert!(
        stored as u64 >= answered,
        "every acknowledged answer is stored"
    );
    if alert {
        assert!(
            raised as u64 >= answered,
            "every acknowledged answer raised its alert"
        );
    }
    (rate, ws)
}

/// A local webhook receiver that answers 204 to everything and counts requests.
async fn sink() -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let received = std::sync::Arc::new(AtomicU64::new(0));
    let counter = std::sync::Arc::clone(&received);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let counter = std::sync::Arc::clone(&counter);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_request| {
                    counter.fetch_add(1, Ordering::Relaxed);
                    async {
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(204)
                                .body(http_body_util::Empty::<hyper::body::Bytes>::new())
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, received)
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

/// The built-in generator: `clients` keep-alive connections for `secs` seconds, each
/// request a GET of its path or a POST of its form.
fn with_rust(
    server: &Server,
    paths: &[(String, Option<String>)],
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
                    for (path, form) in paths.iter().skip(c).step_by(clients) {
                        if Instant::now() > deadline {
                            break;
                        }
                        let sent = Instant::now();
                        let reply = match form {
                            None => client.get(path).await.unwrap(),
                            Some(form) => client.post(path, form).await.unwrap(),
                        };
                        assert!((200..300).contains(&reply.status), "{}", reply.status);
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
