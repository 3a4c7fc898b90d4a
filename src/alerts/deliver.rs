//! Delivering the outbox: claim a batch of due messages, prepare each (the person looked
//! up when they consented, the rendering for its target), hand them over in parallel on
//! pooled keep-alive connections, and record every outcome in one transaction.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use super::chat::Card;
use super::contact::{Contacts, Lookup};
use super::payload::Event;
use super::sign::{Secret, SecretError};
use crate::send::{Reply, SendError, Smtp, SmtpLimits, Transport};
use crate::store::{Attempt, Claim, Lease, OutboxMessage, Store, StoreError, TargetKind};
use crate::token::Key;
use crate::workspace::Workspace;

/// Messages claimed at once.
const BATCH: usize = 512;
/// How long a woken background deliverer lets messages gather: a batch a few times a
/// second instead of a claim after every commit of answers.
const GATHER: Duration = Duration::from_millis(100);
/// Messages handed over at the same time.
const WORKERS: usize = 16;
/// How long a receiver may take to answer.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How long a claim holds: longer than any attempt can take.
const LEASE: Lease = 120;
/// The longest wait between two attempts of one message.
const MAX_DELAY: Duration = Duration::from_secs(12 * 3600);
/// How long an idle background deliverer sleeps before it looks again anyway.
const IDLE: Duration = Duration::from_secs(30);

/// When refused messages are tried again: `first` after the first attempt, twice as
/// long after each next one (at most 12 hours), `attempts` times in all, then failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// The wait after the first refused attempt.
    pub first: Duration,
    /// Attempts before the message is given up.
    pub attempts: u32,
}

impl Default for Retry {
    /// 1 minute doubling up to 12 hours, 15 attempts: about three days.
    fn default() -> Self {
        Retry {
            first: Duration::from_secs(60),
            attempts: 15,
        }
    }
}

impl Retry {
    /// When to try again after `attempts` attempts (Unix seconds), `None` to give up.
    pub fn retry_at(&self, now: i64, attempts: u32) -> Option<i64> {
        if attempts >= self.attempts {
            return None;
        }
        let doublings = attempts.saturating_sub(1).min(30);
        let delay = self.first.saturating_mul(1 << doublings).min(MAX_DELAY);
        Some(now + delay.as_secs().max(1) as i64)
    }
}

/// How a delivery run ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    /// Messages the receivers took.
    pub delivered: usize,
    /// Messages refused that will be tried again.
    pub retrying: usize,
    /// Messages refused for good.
    pub failed: usize,
}

impl Drained {
    fn count(&mut self, attempts: &[Attempt]) {
        for attempt in attempts {
            match attempt {
                Attempt::Delivered { .. } => self.delivered += 1,
                Attempt::Refused { retry_at: None, .. } => self.failed += 1,
                Attempt::Refused { .. } => self.retrying += 1,
            }
        }
    }
}

/// Wakes a background deliverer when answers raised messages.
#[derive(Debug, Default)]
pub struct Wake {
    raised: Mutex<bool>,
    signal: Condvar,
}

impl Wake {
    /// Says that messages are waiting.
    pub fn notify(&self) {
        *self.raised.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.signal.notify_one();
    }

    /// Waits for [`Wake::notify`] or `timeout`, whichever comes first.
    fn wait(&self, timeout: Duration) {
        let raised = self.raised.lock().unwrap_or_else(|e| e.into_inner());
        let (mut raised, _) = self
            .signal
            .wait_timeout_while(raised, timeout, |raised| !*raised)
            .unwrap_or_else(|e| e.into_inner());
        *raised = false;
    }
}

/// A message ready to hand over.
enum Prepared {
    /// An HTTP POST of JSON; signed for a Standard Webhooks receiver.
    Post {
        url: String,
        body: String,
        signed: bool,
    },
    /// An e-mail.
    Email(Box<lettre::Message>),
}

/// Why a message was not handed over or not taken.
struct Refusal {
    reply: String,
    /// Trying again cannot help (a permanent SMTP refusal, a receiver gone for good).
    permanent: bool,
}

impl Refusal {
    fn again(reply: impl Into<String>) -> Refusal {
        Refusal {
            reply: reply.into(),
            permanent: false,
        }
    }
}

/// Delivers a workspace's outbox.
pub struct Deliverer {
    ws: Workspace,
    key: Key,
    store: Store,
    retry: Retry,
    hands: Hands,
}

/// What hands messages over, shared by the worker threads.
struct Hands {
    agent: ureq::Agent,
    secret: Result<Secret, SecretError>,
    /// The SMTP server, or the local outbox folder; opened for the first e-mail.
    mail: OnceLock<Result<Box<dyn Transport>, SendError>>,
    state_dir: std::path::PathBuf,
}

impl Deliverer {
    /// A deliverer over the workspace's store (which must be under `key`). The signing
    /// secret is read from the environment now; without one, webhook messages wait.
    pub fn new(ws: Workspace, key: Key, retry: Retry) -> Result<Deliverer, StoreError> {
        let store = Store::open_for_key(&ws.state_dir(), &key)?;
        store.relax_syncs_for_delivery()?;
        store.release_orphaned_leases(is_running)?;
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .max_redirects(0)
            .max_idle_connections_per_host(WORKERS)
            .user_agent(concat!("canvass/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Deliverer {
            hands: Hands {
                agent,
                secret: Secret::from_env(),
                mail: OnceLock::new(),
                state_dir: ws.state_dir(),
            },
            ws,
            key,
            store,
            retry,
        })
    }

    /// Delivers what is due, batch after batch, until nothing is; with `every`, makes one
    /// attempt at every pending and failed message instead, due or not.
    pub fn drain(&self, every: bool) -> Result<Drained, StoreError> {
        let contacts = Contacts::new(&self.ws, &self.key);
        let mut drained = Drained::default();
        let mut after = 0;
        loop {
            let claim = if every {
                Claim::Every { after }
            } else if self.store.message_due()? {
                Claim::Due
            } else {
                break;
            };
            let batch = self.store.claim_messages(BATCH, LEASE, claim)?;
            let Some(last) = batch.iter().map(|m| m.id).max() else {
                break;
            };
            after = last;
            let attempts = self.attempt(&batch, &contacts);
            self.store.record_attempts(&attempts)?;
            drained.count(&attempts);
        }
        Ok(drained)
    }

    /// Delivers in the background for as long as the process lives: whenever `wake` is
    /// notified, when a retry falls due, and every half minute anyway. A failing store is
    /// tried again at the next turn; `canvass alerts` shows what waits.
    pub fn run(self, wake: &Wake) {
        loop {
            let _ = self.drain(false);
            let now = jiff::Timestamp::now().as_second();
            let wait = match self.store.next_message_due() {
                Ok(Some(due)) => Duration::from_secs(due.saturating_sub(now).max(0) as u64),
                _ => IDLE,
            };
            wake.wait(wait.clamp(GATHER, IDLE));
            std::thread::sleep(GATHER);
        }
    }

    /// One attempt at each message: prepared in turn (lookups read the store), handed
    /// over by up to [`WORKERS`] threads.
    fn attempt(&self, batch: &[OutboxMessage], contacts: &Contacts) -> Vec<Attempt> {
        let prepared: Vec<Result<Prepared, Refusal>> =
            batch.iter().map(|m| self.prepare(m, contacts)).collect();
        let next = AtomicUsize::new(0);
        let hands = &self.hands;
        let results: Mutex<Vec<(usize, Result<String, Refusal>)>> = Mutex::default();
        std::thread::scope(|scope| {
            for _ in 0..WORKERS.min(batch.len()) {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(ready) = prepared.get(i) else { break };
                        let outcome = match ready {
                            Ok(p) => hands.hand_over(&batch[i], p),
                            Err(r) => Err(Refusal {
                                reply: r.reply.clone(),
                                permanent: r.permanent,
                            }),
                        };
                        results
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((i, outcome));
                    }
                });
            }
        });
        let now = jiff::Timestamp::now().as_second();
        let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
        results.sort_by_key(|(i, _)| *i);
        results
            .into_iter()
            .map(|(i, outcome)| self.outcome(&batch[i], outcome, now))
            .collect()
    }

    fn outcome(&self, m: &OutboxMessage, outcome: Result<String, Refusal>, now: i64) -> Attempt {
        match outcome {
            Ok(reply) => Attempt::Delivered { id: m.id, reply },
            Err(refusal) => Attempt::Refused {
                id: m.id,
                retry_at: if refusal.permanent {
                    None
                } else {
                    self.retry.retry_at(now, m.attempts)
                },
                reply: refusal.reply,
            },
        }
    }

    /// The message as its target takes it, with the person's columns when they consented.
    fn prepare(&self, m: &OutboxMessage, contacts: &Contacts) -> Result<Prepared, Refusal> {
        let mut event: Event = serde_json::from_str(&m.payload).map_err(|e| Refusal {
            reply: format!("the stored event is not an event: {e}"),
            permanent: true,
        })?;
        if let Some(lookup) = &m.contact {
            let lookup: Lookup = serde_json::from_str(lookup)
                .map_err(|e| Refusal::again(format!("the stored lookup: {e}")))?;
            event.data.contact = contacts
                .find(&self.store, &m.survey, &lookup)
                .map_err(|e| Refusal::again(format!("cannot look the respondent up: {e}")))?;
        }
        let post = |body: String, signed: bool| -> Result<Prepared, Refusal> {
            Ok(Prepared::Post {
                url: url_from_env(&m.address)?,
                body,
                signed,
            })
        };
        match m.target {
            TargetKind::Webhook => post(to_json(&event), true),
            TargetKind::Slack => post(Card::new(&event).slack().to_string(), false),
            TargetKind::Teams => post(Card::new(&event).teams_message().to_string(), false),
            TargetKind::Email => self.email(m, &event).map(|e| Prepared::Email(Box::new(e))),
        }
    }

    /// An alert e-mail from the alert's `from` (or the first e-mail rule's) to its mailbox.
    fn email(&self, m: &OutboxMessage, event: &Event) -> Result<lettre::Message, Refusal> {
        let permanent = |reply: String| Refusal {
            reply,
            permanent: true,
        };
        let from = self
            .sender(&m.survey, &m.subscription)
            .ok_or_else(|| permanent("no sender: give the alert `to.from`".into()))?;
        let (subject, body) = Card::new(event).email();
        lettre::Message::builder()
            .from(from.parse().map_err(|e| permanent(format!("from: {e}")))?)
            .to(m
                .address
                .parse()
                .map_err(|e| permanent(format!("to: {e}")))?)
            .subject(subject)
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| permanent(e.to_string()))
    }

    fn sender(&self, survey: &str, alert: &str) -> Option<String> {
        let distribution = &self.ws.survey(survey)?.distribution.as_ref()?.value;
        let named = distribution
            .alerts
            .iter()
            .find(|a| a.id == alert)
            .and_then(|a| a.to.from.clone());
        named.or_else(|| {
            distribution
                .rules
                .iter()
                .find_map(|r| r.email.as_ref().map(|e| e.from.clone()))
        })
    }
}

impl Hands {
    fn hand_over(&self, m: &OutboxMessage, prepared: &Prepared) -> Result<String, Refusal> {
        match prepared {
            Prepared::Post { url, body, signed } => self.post(m, url, body, *signed),
            Prepared::Email(message) => self.send_mail(message),
        }
    }

    /// POSTs JSON; a Standard Webhooks message is signed at this attempt's time, so that
    /// a receiver's tolerance for old timestamps holds on a retry hours later.
    fn post(
        &self,
        m: &OutboxMessage,
        url: &str,
        body: &str,
        signed: bool,
    ) -> Result<String, Refusal> {
        let mut request = self
            .agent
            .post(url)
            .header("Content-Type", "application/json")
            .header("webhook-id", &m.message_id);
        if signed {
            let secret = self
                .secret
                .as_ref()
                .map_err(|e| Refusal::again(e.to_string()))?;
            let timestamp = jiff::Timestamp::now().as_second();
            request = request
                .header("webhook-timestamp", timestamp.to_string())
                .header(
                    "webhook-signature",
                    secret.sign(&m.message_id, timestamp, body),
                );
        }
        let response = request
            .send(body.as_bytes())
            .map_err(|e| Refusal::again(e.to_string()))?;
        let status = response.status();
        let words = format!("HTTP {}", status.as_u16());
        match status.as_u16() {
            200..=299 => Ok(words),
            410 => Err(Refusal {
                reply: format!("{words}: the receiver is gone"),
                permanent: true,
            }),
            _ => Err(Refusal::again(words)),
        }
    }

    fn send_mail(&self, message: &lettre::Message) -> Result<String, Refusal> {
        let transport = self
            .mail
            .get_or_init(|| mail_transport(&self.state_dir))
            .as_ref()
            .map_err(|e| Refusal::again(e.to_string()))?;
        match transport.deliver(crate::send::Outgoing::Email(Box::new(message.clone()))) {
            Reply::Accepted(words) => Ok(words),
            Reply::Transient(words) | Reply::Unknown(words) => Err(Refusal::again(words)),
            Reply::Permanent { reply, .. } => Err(Refusal {
                reply,
                permanent: true,
            }),
        }
    }
}

/// The SMTP server `send` uses, or without one its local outbox folder, signed alike.
fn mail_transport(state_dir: &std::path::Path) -> Result<Box<dyn Transport>, SendError> {
    match Smtp::from_env(SmtpLimits::default())? {
        Some(smtp) => Ok(Box::new(smtp)),
        None => Ok(Box::new(crate::send::local_outbox(state_dir)?)),
    }
}

/// Whether a process runs (a signal 0 reaches it, or it belongs to someone else).
fn is_running(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let status = unsafe { libc::kill(pid, 0) };
    status == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The http(s) URL in an environment variable.
fn url_from_env(name: &str) -> Result<String, Refusal> {
    let url = std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            Refusal::again(format!("{name} is not set: set it to the receiver's URL"))
        })?;
    match url::Url::parse(url.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u.into()),
        _ => Err(Refusal::again(format!("{name} is not an http(s) URL"))),
    }
}

fn to_json(event: &Event) -> String {
    serde_json::to_string(event).expect("events serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_up_to_twelve_hours_then_give_up() {
        let retry = Retry::default();
        assert_eq!(retry.retry_at(0, 1), Some(60));
        assert_eq!(retry.retry_at(0, 2), Some(120));
        assert_eq!(retry.retry_at(0, 11), Some(12 * 3600));
        assert_eq!(retry.retry_at(0, 14), Some(12 * 3600));
        assert_eq!(retry.retry_at(0, 15), None);
    }

    #[test]
    fn a_wake_ends_the_wait_at_once() {
        let wake = std::sync::Arc::new(Wake::default());
        let waker = std::sync::Arc::clone(&wake);
        let started = std::time::Instant::now();
        let thread = std::thread::spawn(move || waker.notify());
        wake.wait(Duration::from_secs(20));
        thread.join().unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
