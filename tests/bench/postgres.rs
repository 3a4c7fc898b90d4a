//! Benchmark: the store on PostgreSQL beside SQLite, in one run. Durable one-click answers
//! per second through `canvass serve` (one instance on SQLite, one and two instances on one
//! PostgreSQL database, the load split between them as a load balancer would), then
//! `canvass import` and `canvass report` of a million generated answers on each store,
//! whose summaries must be byte-identical.
//!
//! Needs a PostgreSQL server: `CANVASS_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres
//! cargo bench --bench postgres` (`.ci/run` shows how to start a throwaway one). Set
//! BENCH_SECS, BENCH_CLIENTS and CANVASS_BENCH_IMPORT_ROWS to change the load.

#[path = "../collector/mod.rs"]
mod collector;
#[path = "../pg/mod.rs"]
mod pg;

mod answers_csv;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use collector::{Client, KEY, Server, count, token, workspace};

fn main() {
    if std::env::var_os(pg::SERVER_ENV).is_none() {
        println!(
            "postgres bench: set {} to a PostgreSQL server's URL",
            pg::SERVER_ENV
        );
        return;
    }
    let secs: u64 = env_or("BENCH_SECS", 10);
    let clients: usize = env_or("BENCH_CLIENTS", 200);
    serve_on_each_store(secs, clients);
    import_and_report_on_each_store(env_or("CANVASS_BENCH_IMPORT_ROWS", 1_000_000));
}

fn serve_on_each_store(secs: u64, clients: usize) {
    let ws = workspace(1);
    let sqlite = [collector(ws.path(), None)];
    let rate = load(&sqlite, secs, clients, "sq");
    let stored = count(ws.path(), "SELECT count(*) FROM responses");
    println!("serve one-click, SQLite, 1 instance: {rate:.0} durable answers/s ({stored} stored)");
    for instances in [1, 2] {
        let scratch = pg::Scratch::new().expect("a PostgreSQL server");
        let copies: Vec<_> = (0..instances).map(|_| workspace(1)).collect();
        let servers: Vec<Server> = copies
            .iter()
            .map(|ws| collector(ws.path(), Some(&scratch.url)))
            .collect();
        let rate = load(&servers, secs, clients, &format!("pg{instances}"));
        drop(servers);
        let stored = scratch.count("SELECT count(*) FROM responses");
        println!(
            "serve one-click, PostgreSQL, {instances} instance(s) on one database: {rate:.0} \
             durable answers/s ({stored} stored)"
        );
    }
}

fn collector(root: &Path, database: Option<&str>) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_canvass"));
    command
        .env("CANVASS_KEY", KEY)
        .env_remove("CANVASS_DATABASE_URL");
    if let Some(url) = database {
        command.env("CANVASS_DATABASE_URL", url);
    }
    command
        .arg("--workspace")
        .arg(root)
        .args(["serve", "--bind", "127.0.0.1:0"]);
    Server::from_command(command)
}

/// One-click answers from `clients` keep-alive connections for `secs`, the connections
/// dealt round the servers; returns the acknowledged (so committed) answers per second.
fn load(servers: &[Server], secs: u64, clients: usize, prefix: &str) -> f64 {
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let paths: std::sync::Arc<Vec<String>> = std::sync::Arc::new(
        (0..400_000)
            .map(|i| {
                let link = token(1, &format!("{prefix}{i}"), 86_400);
                format!("/r/{link}?q=score&v={}", i % 11)
            })
            .collect(),
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let answered: usize = runtime.block_on(async {
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let (paths, addr) = (std::sync::Arc::clone(&paths), addrs[c % addrs.len()]);
                tokio::spawn(async move {
                    let mut client = Client::connect(addr).await.unwrap();
                    let mut answered = 0;
                    for path in paths.iter().skip(c).step_by(clients) {
                        if Instant::now() > deadline {
                            break;
                        }
                        let reply = client.get(path).await.unwrap();
                        assert!((200..300).contains(&reply.status), "{}", reply.status);
                        answered += 1;
                    }
                    answered
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap();
        }
        total
    });
    answered as f64 / started.elapsed().as_secs_f64()
}

fn import_and_report_on_each_store(rows: usize) {
    let dir = tempfile::tempdir().unwrap();
    let answers = dir.path().join("answers.csv");
    answers_csv::generate(&answers, rows, true);
    let scratch = pg::Scratch::new().expect("a PostgreSQL server");
    let mut summaries = Vec::new();
    for (store, database) in [("SQLite", None), ("PostgreSQL", Some(scratch.url.as_str()))] {
        let root = dir.path().join(store);
        std::fs::create_dir_all(root.join("surveys/bench")).unwrap();
        std::fs::write(root.join("surveys/bench/survey.yaml"), answers_csv::SURVEY).unwrap();
        let import = timed(
            &root,
            database,
            &["import", "--survey", "bench", answers.to_str().unwrap()],
        );
        let report = timed(&root, database, &["report"]);
        println!(
            "{store}: import of {rows} rows {import:.2} s ({:.0} rows/s), report {report:.2} s \
             ({:.0} answers/s)",
            rows as f64 / import,
            rows as f64 / report
        );
        summaries.push(std::fs::read(root.join("surveys/bench/results/summary.md")).unwrap());
    }
    assert_eq!(
        summaries[0], summaries[1],
        "both stores report the same bytes"
    );
}

/// Runs a canvass command on a workspace and returns its wall time in seconds.
fn timed(root: &Path, database: Option<&str>, args: &[&str]) -> f64 {
    let mut command = Command::new(env!("CARGO_BIN_EXE_canvass"));
    command
        .env("CANVASS_KEY", KEY)
        .env_remove("CANVASS_DATABASE_URL");
    if let Some(url) = database {
        command.env("CANVASS_DATABASE_URL", url);
    }
    let started = Instant::now();
    let output = command
        .arg("--workspace")
        .arg(root)
        .args(args)
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    seconds
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
