//! Bounded load against `canvass serve` on loopback: every answer acknowledged is stored,
//! exactly once, even when the server is killed mid-load.

mod collector;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use collector::{Client, Server, count, db, token, workspace};

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
