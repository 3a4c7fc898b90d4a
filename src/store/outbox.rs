//! The outbox of alerts and webhook events: each message is written in the transaction
//! that stores its answer, so that a crash between the commit and the delivery loses
//! nothing, and keeps its `webhook-id` through every retry, so that a receiver can count
//! it once.
//!
//! A deliverer *claims* due messages (a lease of [`Lease`] seconds, so that a second
//! deliverer, or `canvass alerts --deliver` beside a running `serve`, leaves them alone)
//! and records the outcome of each attempt; a deliverer killed mid-attempt leaves its
//! lease to run out, and the message is attempted again.

use rusqlite::{Row, params};

use super::sqlite::Sqlite;
use super::{StoreError, now_rfc3339};

/// The outbox table, created at open.
pub(super) const OUTBOX_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    id              INTEGER PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,  -- the webhook-id, the same on every attempt
    event           TEXT NOT NULL,         -- alert.triggered | response.created | response.updated
    survey          TEXT NOT NULL,
    subscription    TEXT NOT NULL,         -- the alert's or the webhook's id
    target          TEXT NOT NULL,         -- webhook | slack | teams | email
    address         TEXT NOT NULL,         -- the environment variable with the URL, or a mailbox
    response        INTEGER NOT NULL,      -- response_rows.id
    payload         TEXT NOT NULL,         -- the event's JSON, never with an identity
    contact         TEXT,                  -- JSON: where to look the person up, when they consented
    created_at      TEXT NOT NULL,
    status          TEXT NOT NULL,         -- pending | delivered | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,      -- Unix seconds
    leased_until    INTEGER,               -- Unix seconds: a deliverer is attempting it
    leased_by       INTEGER,               -- the process id of that deliverer
    last_reply      TEXT,                  -- what the receiver answered, or why it could not be reached
    delivered_at    TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
";

/// Seconds a claimed message is left to the deliverer that claimed it.
pub type Lease = i64;

/// Which messages a deliverer claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The pending ones whose attempt is due.
    Due,
    /// Every pending and failed one raised after the message with this row id, due or
    /// not: an operator delivering by hand, one pass over the outbox.
    Every {
        /// The last row id already claimed in this pass (0 to start).
        after: i64,
    },
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// A Standard Webhooks receiver (signed).
    Webhook,
    /// A Slack incoming webhook (Block Kit).
    Slack,
    /// A Teams incoming webhook (Adaptive Card).
    Teams,
    /// A mailbox, through the SMTP settings of `send`.
    Email,
}

impl TargetKind {
    /// The name the store and `canvass alerts` use.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Webhook => "webhook",
            TargetKind::Slack => "slack",
            TargetKind::Teams => "teams",
            TargetKind::Email => "email",
        }
    }

    pub(super) fn parse(name: &str) -> TargetKind {
        match name {
            "slack" => TargetKind::Slack,
            "teams" => TargetKind::Teams,
            "email" => TargetKind::Email,
            _ => TargetKind::Webhook,
        }
    }
}

/// A response just written, as whoever raises events on it sees it.
#[derive(Debug, Clone, Copy)]
pub struct Written<'a> {
    /// Its row id.
    pub row: i64,
    /// The survey id.
    pub survey: &'a str,
    /// The survey version answered.
    pub version: u32,
    /// email | slack | teams | link | print | import.
    pub channel: &'a str,
    /// oneclick | form | open | import.
    pub source: &'a str,
    /// The distribution rule, when it came through one.
    pub rule: Option<&'a str>,
    /// The response key (a delivery id for answers through a rule's links).
    pub response_key: &'a str,
    /// The locale answered in.
    pub locale: Option<&'a str>,
    /// RFC 3339, UTC.
    pub submitted_at: &'a str,
    /// Every required, shown question answered.
    pub complete: bool,
    /// False for a one-click answer a link scanner may have made.
    pub confirmed: bool,
    /// The answers, as JSON.
    pub answers: &'a str,
    /// The segments, as JSON.
    pub segments: &'a str,
    /// The answers, as JSON, of the confirmed response this one replaces as the one that
    /// counts; `None` for a first answer (or one that replaces only a provisional click).
    pub replaced: Option<&'a str>,
}

/// Decides which messages a written response raises. Implemented by
/// [`crate::alerts::Alerts`]; the store only writes what it is given, in the response's
/// own transaction.
pub trait Raise: Send + Sync {
    /// Adds the messages `written` raises to `out`.
    fn raise(&self, written: &Written<'_>, out: &mut Vec<NewMessage>);
}

/// A message to add to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The event type.
    pub event: String,
    /// The alert's or the webhook's id.
    pub subscription: String,
    /// Where it goes.
    pub target: TargetKind,
    /// The environment variable with the URL, or the mailbox.
    pub address: String,
    /// The event's JSON (`type`, `timestamp`, `data`), with no identity in it.
    pub payload: String,
    /// Where to look the person up at delivery, when they consented.
    pub contact: Option<String>,
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Its row id.
    pub id: i64,
    /// The `webhook-id`.
    pub message_id: String,
    /// The event type.
    pub event: String,
    /// The survey id.
    pub survey: String,
    /// The alert's or the webhook's id.
    pub subscription: String,
    /// Where it goes.
    pub target: TargetKind,
    /// The environment variable with the URL, or the mailbox.
    pub address: String,
    /// The event's JSON.
    pub payload: String,
    /// Where to look the person up, when they consented.
    pub contact: Option<String>,
    /// pending | delivered | failed.
    pub status: String,
    /// Attempts made so far (a claim counts as one).
    pub attempts: u32,
    /// When the next attempt is due (Unix seconds).
    pub next_attempt_at: i64,
    /// The receiver's last answer.
    pub last_reply: Option<String>,
    /// When it was raised (RFC 3339).
    pub created_at: String,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver took it.
    Delivered {
        /// The message's row id.
        id: i64,
        /// What the receiver answered.
        reply: String,
    },
    /// Not taken; tried again at `retry_at`, or never again when `None`.
    Refused {
        /// The message's row id.
        id: i64,
        /// What the receiver answered, or why it could not be reached.
        reply: String,
        /// The next attempt (Unix seconds); `None` gives up (failed).
        retry_at: Option<i64>,
    },
}

pub(super) const COLUMNS: &str = "id, message_id, event, survey, subscription, target, address, payload, \
     contact, status, attempts, next_attempt_at, last_reply, created_at";

fn message(row: &Row<'_>) -> rusqlite::Result<OutboxMessage> {
    Ok(OutboxMessage {
        id: row.get(0)?,
        message_id: row.get(1)?,
        event: row.get(2)?,
        survey: row.get(3)?,
        subscription: row.get(4)?,
        target: TargetKind::parse(&row.get::<_, String>(5)?),
        address: row.get(6)?,
        payload: row.get(7)?,
        contact: row.get(8)?,
        status: row.get(9)?,
        attempts: row.get(10)?,
        next_attempt_at: row.get(11)?,
        last_reply: row.get(12)?,
        created_at: row.get(13)?,
    })
}

/// A fresh `webhook-id`: `msg_`, the milliseconds since 1970 in 12 hex digits, then 10
/// random bytes, unique across stores (a receiver may hear from several). Ids in the order
/// they are raised land at the end of the unique index, so a commit of many alerts
/// touches a few index pages instead of one random page per message.
pub(super) fn new_message_id() -> String {
    let millis = jiff::Timestamp::now().as_millisecond().max(0) as u64;
    let mut random = [0u8; 10];
    getrandom::fill(&mut random).expect("the operating system provides randomness");
    format!(
        "msg_{:012x}{}",
        millis & 0xffff_ffff_ffff,
        hex::encode(random)
    )
}

pub(super) fn now_seconds() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The earliest due time of a pending message no deliverer holds, read off `outbox_due`.
const NEXT_DUE: &str = "SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending' \
     AND (leased_until IS NULL OR leased_until <= ?1)";

impl Sqlite {
    /// Adds the messages a written response raised, due at once; inside the caller's
    /// transaction.
    pub(super) fn add_messages(
        &self,
        written: &Written<'_>,
        messages: &[NewMessage],
    ) -> rusqlite::Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut insert = self.conn.prepare_cached(
            "INSERT INTO outbox (message_id, event, survey, subscription, target, address, \
             response, payload, contact, created_at, status, next_attempt_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending', ?11)",
        )?;
        let (created, due) = (now_rfc3339(), now_seconds());
        for m in messages {
            insert.execute(params![
                new_message_id(),
                m.event,
                written.survey,
                m.subscription,
                m.target.name(),
                m.address,
                written.row,
                m.payload,
                m.contact,
                created,
                due
            ])?;
        }
        Ok(())
    }

    /// Claims up to `limit` messages for `lease` seconds: the pending ones due now, oldest
    /// due first, or with [`Claim::Every`] every pending and failed one in the order raised
    /// (an operator's `canvass alerts --deliver`). Messages another deliverer holds are
    /// left alone. Each claim counts as an attempt.
    pub fn claim_messages(
        &self,
        limit: usize,
        lease: Lease,
        claim: Claim,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let now = now_seconds();
        let (which, order, after) = match claim {
            Claim::Due => (
                "status = 'pending' AND next_attempt_at <= ?1 AND id > ?4",
                "next_attempt_at, id",
                0,
            ),
            Claim::Every { after } => ("status IN ('pending', 'failed') AND id > ?4", "id", after),
        };
        let sql = format!(
            "UPDATE outbox SET attempts = attempts + 1, leased_until = ?1 + ?2, leased_by = ?5 \
             WHERE id IN (SELECT id FROM outbox WHERE {which} \
                 AND (leased_until IS NULL OR leased_until <= ?1) ORDER BY {order} LIMIT ?3) \
             RETURNING {COLUMNS}"
        );
        let run = || -> rusqlite::Result<Vec<OutboxMessage>> {
            let tx = rusqlite::Transaction::new_unchecked(
                &self.conn,
                rusqlite::TransactionBehavior::Immediate,
            )?;
            let mut claimed = self
                .conn
                .prepare_cached(&sql)?
                .query_map(
                    params![now, lease, limit as i64, after, std::process::id()],
                    message,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            tx.commit()?;
            match claim {
                Claim::Due => claimed.sort_by_key(|m| (m.next_attempt_at, m.id)),
                Claim::Every { .. } => claimed.sort_by_key(|m| m.id),
            }
            Ok(claimed)
        };
        run().map_err(|e| self.error(e))
    }

    /// Lets this connection commit claims and outcomes without waiting for the disk
    /// (`synchronous = NORMAL`; answers keep their full syncs on their own connection).
    /// A claim or outcome lost to a power cut only means one more attempt under the same
    /// `webhook-id`, which receivers count once, while a sync per delivery batch would
    /// take the disk from the answers' commits.
    pub fn relax_syncs_for_delivery(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("PRAGMA synchronous = NORMAL;")
            .map_err(|e| self.error(e))
    }

    /// Ends the leases of deliverers that are no longer running (killed mid-attempt), so
    /// that a restarted `serve` attempts their messages at once; `running` tells whether a
    /// process id is alive.
    pub fn release_orphaned_leases(
        &self,
        running: impl Fn(u32) -> bool,
    ) -> Result<usize, StoreError> {
        let run = || -> rusqlite::Result<usize> {
            let holders: Vec<u32> = self
                .conn
                .prepare("SELECT DISTINCT leased_by FROM outbox WHERE leased_until > ?1")?
                .query_map([now_seconds()], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut released = 0;
            for pid in holders.into_iter().filter(|&pid| !running(pid)) {
                released += self.conn.execute(
                    "UPDATE outbox SET leased_until = NULL WHERE leased_by = ?1",
                    [pid],
                )?;
            }
            Ok(released)
        };
        run().map_err(|e| self.error(e))
    }

    /// Whether a pending message is due now (a read, so that an idle deliverer takes no
    /// write lock from the answers).
    pub fn message_due(&self) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE status = 'pending' \
                 AND next_attempt_at <= ?1 AND (leased_until IS NULL OR leased_until <= ?1))",
            )
            .and_then(|mut s| s.query_row([now_seconds()], |row| row.get(0)))
            .map_err(|e| self.error(e))
    }

    /// Records how attempts ended, in one transaction, and releases their leases.
    pub fn record_attempts(&self, attempts: &[Attempt]) -> Result<(), StoreError> {
        let run = || -> rusqlite::Result<()> {
            let tx = rusqlite::Transaction::new_unchecked(
                &self.conn,
                rusqlite::TransactionBehavior::Immediate,
            )?;
            let now = now_rfc3339();
            let mut delivered = self.conn.prepare_cached(
                "UPDATE outbox SET status = 'delivered', delivered_at = ?2, last_reply = ?3, \
                 leased_until = NULL WHERE id = ?1",
            )?;
            let mut refused = self.conn.prepare_cached(
                "UPDATE outbox SET status = CASE WHEN ?3 IS NULL THEN 'failed' ELSE 'pending' END, \
                 next_attempt_at = coalesce(?3, next_attempt_at), last_reply = ?2, \
                 leased_until = NULL WHERE id = ?1",
            )?;
            for attempt in attempts {
                match attempt {
                    Attempt::Delivered { id, reply } => {
                        delivered.execute(params![id, now, reply])?;
                    }
                    Attempt::Refused {
                        id,
                        reply,
                        retry_at,
                    } => {
                        refused.execute(params![id, reply, retry_at])?;
                    }
                }
            }
            drop((delivered, refused));
            tx.commit()
        };
        run().map_err(|e| self.error(e))
    }

    /// The messages not delivered (pending and failed), oldest first, for
    /// `canvass alerts`.
    pub fn undelivered_messages(&self) -> Result<Vec<OutboxMessage>, StoreError> {
        self.conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM outbox WHERE status != 'delivered' ORDER BY id"
            ))
            .and_then(|mut s| s.query_map([], message)?.collect())
            .map_err(|e| self.error(e))
    }

    /// When the earliest pending message no deliverer holds is due (Unix seconds), if any
    /// is; see [`crate::store::Store::next_message_due`].
    pub fn next_message_due(&self) -> Result<Option<i64>, StoreError> {
        self.conn
            .prepare_cached(NEXT_DUE)
            .and_then(|mut s| s.query_row([now_seconds()], |row| row.get(0)))
            .map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(row: i64) -> Written<'static> {
        Written {
            row,
            survey: "nps",
            version: 1,
            channel: "email",
            source: "form",
            rule: None,
            response_key: "d",
            locale: None,
            submitted_at: "2026-01-01T00:00:00Z",
            complete: true,
            confirmed: true,
            answers: "{}",
            segments: "{}",
            replaced: None,
        }
    }

    fn new_message() -> NewMessage {
        NewMessage {
            event: "alert.triggered".into(),
            subscription: "detractors".into(),
            target: TargetKind::Webhook,
            address: "HOOK".into(),
            payload: "{}".into(),
            contact: None,
        }
    }

    #[test]
    fn a_claimed_message_is_left_alone_until_its_lease_ends() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open_in(dir.path()).unwrap();
        store.add_messages(&written(1), &[new_message()]).unwrap();
        let first = store.claim_messages(10, 60, Claim::Due).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].attempts, 1);
        assert!(
            store
                .claim_messages(10, 60, Claim::Every { after: 0 })
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.release_orphaned_leases(|_| true).unwrap(), 0);
        assert_eq!(store.release_orphaned_leases(|_| false).unwrap(), 1);
        let taken_over = store.claim_messages(10, 60, Claim::Every { after: 0 });
        assert_eq!(
            taken_over.unwrap().len(),
            1,
            "a dead deliverer's lease ends"
        );
        store
            .record_attempts(&[Attempt::Refused {
                id: first[0].id,
                reply: "HTTP 500".into(),
                retry_at: Some(now_seconds() - 1),
            }])
            .unwrap();
        let again = store.claim_messages(10, 60, Claim::Due).unwrap();
        assert_eq!(again[0].message_id, first[0].message_id, "one webhook-id");
        assert_eq!(again[0].attempts, 3);
        store
            .record_attempts(&[Attempt::Delivered {
                id: again[0].id,
                reply: "HTTP 204".into(),
            }])
            .unwrap();
        assert!(
            store
                .claim_messages(10, 0, Claim::Every { after: 0 })
                .unwrap()
                .is_empty()
        );
        assert!(store.undelivered_messages().unwrap().is_empty());
        assert_eq!(store.next_message_due().unwrap(), None);
    }

    #[test]
    fn the_next_due_time_is_read_off_the_index_not_the_waiting_messages() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open_in(dir.path()).unwrap();
        let plan: Vec<String> = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {NEXT_DUE}"))
            .unwrap()
            .query_map([0], |row| row.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            plan.iter()
                .all(|step| step.contains("USING INDEX outbox_due")),
            "{plan:?}"
        );
    }

    #[test]
    fn message_ids_are_unique_and_sort_in_the_order_raised() {
        let first = new_message_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_message_id();
        assert!(first < second, "{first} then {second}");
        assert_eq!(first.len(), "msg_".len() + 12 + 20);
        assert!(first[4..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(new_message_id(), new_message_id());
    }

    #[test]
    fn a_message_given_up_is_failed_and_delivered_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open_in(dir.path()).unwrap();
        store.add_messages(&written(1), &[new_message()]).unwrap();
        let claimed = store.claim_messages(10, 60, Claim::Due).unwrap();
        store
            .record_attempts(&[Attempt::Refused {
                id: claimed[0].id,
                reply: "HTTP 410".into(),
                retry_at: None,
            }])
            .unwrap();
        let listed = store.undelivered_messages().unwrap();
        assert_eq!(listed[0].status, "failed");
        assert_eq!(listed[0].last_reply.as_deref(), Some("HTTP 410"));
        assert!(store.claim_messages(10, 60, Claim::Due).unwrap().is_empty());
        assert_eq!(
            store
                .claim_messages(10, 60, Claim::Every { after: 0 })
                .unwrap()
                .len(),
            1
        );
    }
}
