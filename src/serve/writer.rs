//! The group-commit writer: one thread owns the store's write connection, gathers the
//! writes that arrive while the previous commit is flushing (and for a moment more), and
//! commits them in one transaction. Each request waits for its own batch's commit, so a
//! respondent is never told "thank you" for an answer that is not yet on disk.

use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::alerts::Wake;
use crate::store::{Raise, Store, Write};

/// The most writes committed in one transaction.
const MAX_BATCH: usize = 1024;
/// How long a small batch waits for company before it is committed.
const LINGER: Duration = Duration::from_millis(2);

/// Why a write did not become durable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the answer could not be saved: {0}")]
pub struct WriteError(String);

struct Job {
    write: Write,
    done: oneshot::Sender<Result<(), WriteError>>,
}

/// What answers raise, and whom to tell that they did.
#[derive(Clone)]
pub struct Raising {
    /// Decides the alerts and events of each answer, written in its transaction.
    pub raise: Arc<dyn Raise>,
    /// Woken after each commit, so that alerts leave at once.
    pub wake: Arc<Wake>,
}

/// The handle requests use to write; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    /// Why the last commit failed; `None` once one succeeds. `/healthz` reports it, so a
    /// load balancer stops sending respondents to a server that cannot save (a full disk).
    failing: Arc<Mutex<Option<String>>>,
}

impl Writer {
    /// Starts the writer thread over a store of its own; answers raise alerts and events
    /// when `raising` says how.
    pub fn start(store: Store, raising: Option<Raising>) -> std::io::Result<Writer> {
        let (jobs, queue) = mpsc::channel();
        let failing = Arc::new(Mutex::new(None));
        let state = Arc::clone(&failing);
        std::thread::Builder::new()
            .name("canvass-writer".into())
            .spawn(move || run(store, raising.as_ref(), &queue, &state))?;
        Ok(Writer { jobs, failing })
    }

    /// Whether the last commit succeeded, or why it failed.
    pub fn health(&self) -> Result<(), String> {
        let failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        failing.clone().map_or(Ok(()), Err)
    }

    /// Writes durably: returns once the write's transaction has committed.
    pub async fn write(&self, write: Write) -> Result<(), WriteError> {
        let (done, committed) = oneshot::channel();
        self.jobs
            .send(Job { write, done })
            .map_err(|_| WriteError("the writer has stopped".into()))?;
        committed
            .await
            .map_err(|_| WriteError("the writer has stopped".into()))?
    }
}

fn run(
    store: Store,
    raising: Option<&Raising>,
    queue: &mpsc::Receiver<Job>,
    failing: &Mutex<Option<String>>,
) {
    while let Ok(first) = queue.recv() {
        let batch = gather(first, queue);
        let (writes, waiters): (Vec<Write>, Vec<_>) =
            batch.into_iter().map(|job| (job.write, job.done)).unzip();
        let outcome = store
            .commit_writes(&writes, raising.map(|r| r.raise.as_ref()))
            .map_err(|e| WriteError(e.to_string()));
        if let (Ok(()), Some(raising)) = (&outcome, raising) {
            raising.wake.notify();
        }
        *failing.lock().unwrap_or_else(|e| e.into_inner()) =
            outcome.as_ref().err().map(|e| e.0.clone());
        for waiter in waiters {
            // A request whose client went away no longer waits; its write is committed.
            let _ = waiter.send(outcome.clone());
        }
    }
}

/// Takes what is queued, then waits up to [`LINGER`] for more while the batch is small.
fn gather(first: Job, queue: &mpsc::Receiver<Job>) -> Vec<Job> {
    let mut batch = vec![first];
    let deadline = Instant::now() + LINGER;
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(job) => batch.push(job),
            Err(mpsc::TryRecvError::Disconnected) => break,
            Err(mpsc::TryRecvError::Empty) => {
                let left = deadline.saturating_duration_since(Instant::now());
                match queue.recv_timeout(left) {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LinkFetch;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_are_all_committed() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Writer::start(Store::open_in(dir.path()).unwrap(), None).unwrap();
        let tasks: Vec<_> = (0..500)
            .map(|i| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .write(Write::Fetch(LinkFetch {
                            delivery: format!("d{i}"),
                            question: None,
                            value: None,
                        }))
                        .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let db = rusqlite::Connection::open(dir.path().join(crate::store::STATE_DB)).unwrap();
        let fetches: i64 = db
            .query_row("SELECT count(*) FROM link_fetches", [], |row| row.get(0))
            .unwrap();
        assert_eq!(fetches, 500);
        assert_eq!(writer.health(), Ok(()));
    }

    #[tokio::test]
    async fn a_failing_commit_is_reported_until_one_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Writer::start(Store::open_in(dir.path()).unwrap(), None).unwrap();
        let fetch = || {
            Write::Fetch(LinkFetch {
                delivery: "d".into(),
                question: None,
                value: None,
            })
        };
        let db = dir.path().join(crate::store::STATE_DB);
        let other = rusqlite::Connection::open(&db).unwrap();
        other
            .execute_batch("ALTER TABLE link_fetches RENAME TO moved")
            .unwrap();
        assert!(writer.write(fetch()).await.is_err());
        assert!(writer.health().is_err());
        other
            .execute_batch("ALTER TABLE moved RENAME TO link_fetches")
            .unwrap();
        writer.write(fetch()).await.unwrap();
        assert_eq!(writer.health(), Ok(()));
    }
}
