//! Bounded load against `canvass serve` on loopback: every answer acknowledged is stored,
//! exactly once, even when the server is killed mid-load; and two collectors on one
//! PostgreSQL database, as behind a load balancer.

mod collector;
mod pg;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use collector::{Client, KEY, Server, count, db, token, workspace};

const CLIENTS: usize = 200;
const ANSWERS: usize = 20_000;

/// Each client sends its share of answers on one keep-alive connection; returns the
/// deliveries whose answers were acknowledged with a 2xx.
async fn load(
    server: std::net::SocketAddr,
    links: Arc<Vec<(String, String)>>,
    deadline: Instant,
) -> Vec<String> {
    let per_client = links.len().div_ceil(CLIENTS);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let links = Arc::clone(&links);
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let Ok(mut client) = Client::connect(server).await else {
                    return acknowledged;
                };
                for (delivery, path) in links.iter().skip(c * per_client).take(per_client) {
                    if Instant::now() > deadline {
                        break;
                    }
                    match client.post(path, "score=9&solved=yes").await {
                        Ok(reply) if (200..300).contains(&reply.status) => {
                            acknowledged.push(delivery.clone())
                        }
                        Ok(reply) => panic!("unexpected status {}", reply.status),
                        Err(_) => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(client.await.unwrap());
    }
    acknowledged
}

fn links(prefix: &str) -> Arc<Vec<(String, String)>> {
    Arc::new(
        (0..ANSWERS)
            .map(|i| {
                let delivery = format!("{prefix}-{i}");
                let path = format!("/s/{}", token(1, &delivery, 3600));
                (delivery, path)
            })
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_answers_from_200_clients_are_stored_exactly_once() {
    let ws = workspace(1);
    let server = Server::start(ws.path());
    let started = Instant::now();
    let acknowledged = load(
        server.addr,
        links("load"),
        Instant::now() + Duration::from_secs(300),
    )
    .await;
    eprintln!(
        "{} answers from {CLIENTS} clients in {:.1?}",
        acknowledged.len(),
        started.elapsed()
    );
    assert_eq!(acknowledged.len(), ANSWERS);
    assert_eq!(
        count(ws.path(), "SELECT count(*) FROM responses WHERE counts = 1"),
        ANSWERS as i64
    );
    assert_eq!(
        count(
            ws.path(),
            "SELECT count(DISTINCT response_key) FROM responses"
        ),
        ANSWERS as i64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_acknowledged_before_a_sigkill_is_stored() {
    let ws = workspace(1);
    let mut server = Server::start(ws.path());
    let addr = server.addr;
    let running = tokio::spawn(load(
        addr,
        links("kill"),
        Instant::now() + Duration::from_secs(120),
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    let acknowledged = running.await.unwrap();
    assert!(
        !acknowledged.is_empty(),
        "some answers got through before the kill"
    );
    assert!(acknowledged.len() < ANSWERS, "the kill happened mid-load");
    let conn = db(ws.path());
    let mut stmt = conn
        .prepare("SELECT response_key FROM responses WHERE counts = 1")
        .unwrap();
    let stored: HashSet<String> = stmt
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|d| !stored.contains(*d))
        .collect();
    eprintln!(
        "killed after {} acknowledged answers; {} stored",
        acknowledged.len(),
        stored.len()
    );
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
}

/// A collector on another machine: its own copy of the workspace, the shared database.
fn collector_on(database: &str) -> (tempfile::TempDir, Server) {
    let ws = workspace(1);
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_canvass"));
    command
        .env("CANVASS_KEY", KEY)
        .env("CANVASS_DATABASE_URL", database)
        .arg("--workspace")
        .arg(ws.path())
        .args(["serve", "--bind", "127.0.0.1:0"]);
    let server = Server::from_command(command);
    (ws, server)
}

/// Half the clients answer through one collector, half through the other; every link is
/// answered twice, once through each, so that both decide on the same keys at once.
async fn load_on_both(
    a: std::net::SocketAddr,
    b: std::net::SocketAddr,
    links: Arc<Vec<(String, String)>>,
    deadline: Instant,
) -> Vec<String> {
    let (first, second) = tokio::join!(
        load(a, Arc::clone(&links), deadline),
        load(b, Arc::new(links.iter().rev().cloned().collect()), deadline)
    );
    first.into_iter().chain(second).collect()
}

fn counting_keys(scratch: &pg::Scratch) -> HashSet<String> {
    scratch
        .texts("SELECT response_key FROM responses WHERE counts = 1")
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_on_one_postgres_store_every_answer_once() {
    let Some(scratch) = pg::Scratch::new() else {
        return;
    };
    let (_a_ws, a) = collector_on(&scratch.url);
    let (_b_ws, b) = collector_on(&scratch.url);
    let links = Arc::new(links("lb").iter().take(4_000).cloned().collect::<Vec<_>>());
    let acknowledged = load_on_both(
        a.addr,
        b.addr,
        Arc::clone(&links),
        Instant::now() + Duration::from_secs(300),
    )
    .await;
    assert_eq!(
        acknowledged.len(),
        2 * links.len(),
        "every answer is acknowledged"
    );
    let counting = scratch.count("SELECT count(*) FROM responses WHERE counts = 1");
    assert_eq!(
        counting,
        links.len() as i64,
        "one answer counts for each link"
    );
    assert_eq!(
        scratch.count("SELECT count(DISTINCT response_key) FROM responses"),
        links.len() as i64
    );
    let stored = counting_keys(&scratch);
    assert!(acknowledged.iter().all(|d| stored.contains(d)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_of_one_collector_loses_no_acknowledged_answer_on_postgres() {
    let Some(scratch) = pg::Scratch::new() else {
        return;
    };
    let (_a_ws, mut a) = collector_on(&scratch.url);
    let (_b_ws, b) = collector_on(&scratch.url);
    let (a_addr, b_addr) = (a.addr, b.addr);
    let running = tokio::spawn(load_on_both(
        a_addr,
        b_addr,
        links("pgkill"),
        Instant::now() + Duration::from_secs(120),
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.kill();
    let acknowledged = running.await.unwrap();
    let stored = counting_keys(&scratch);
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|d| !stored.contains(*d))
        .collect();
    eprintln!(
        "one collector killed; {} acknowledged, {} stored",
        acknowledged.len(),
        stored.len()
    );
    assert!(!acknowledged.is_empty());
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
}
