//! The delivery ledger: every message is recorded before it is handed over and updated
//! after, so that a run killed at any point can be resumed without sending twice.

use std::collections::BTreeMap;
use std::str::FromStr;

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Recorded and being handed to the server; found at start, the outcome is unknown.
    Handing,
    /// The server accepted it.
    Sent,
    /// The server refused it for now (4xx); a later attempt may succeed.
    Retrying,
    /// The server refused it for good (5xx).
    Failed,
    /// The address does not exist (5xx on the recipient).
    Bounced,
    /// An earlier run died while handing it over: it may or may not have gone out.
    Unknown,
}

impl Status {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Handing => "handing",
            Status::Sent => "sent",
            Status::Retrying => "retrying",
            Status::Failed => "failed",
            Status::Bounced => "bounced",
            Status::Unknown => "unknown",
        }
    }

    fn parse(name: &str) -> Status {
        match name {
            "handing" => Status::Handing,
            "sent" => Status::Sent,
            "retrying" => Status::Retrying,
            "failed" => Status::Failed,
            "bounced" => Status::Bounced,
            _ => Status::Unknown,
        }
    }
}

/// One row of the ledger, as planning needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The delivery id (carried in the token).
    pub id: String,
    /// 0 for the first message, 1.. for reminders.
    pub seq: u32,
    /// The locale it was written in.
    pub locale: String,
    /// Where it stands.
    pub status: Status,
    /// When it was first recorded.
    pub created_at: Timestamp,
}

/// A message about to be handed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handing {
    /// The delivery id.
    pub id: String,
    /// The survey.
    pub survey: String,
    /// The survey's version.
    pub version: u32,
    /// The rule.
    pub rule: String,
    /// The channel's name.
    pub channel: String,
    /// The recipient key.
    pub recipient: String,
    /// 0 for the first message, 1.. for reminders.
    pub seq: u32,
    /// The message's locale.
    pub locale: String,
    /// The segment columns, as JSON.
    pub segments: String,
}

/// The outcome of a hand-over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The delivery id.
    pub id: String,
    /// The new status.
    pub status: Status,
    /// The server's reply.
    pub reply: String,
}

fn stamp(time: Timestamp) -> String {
    time.round(jiff::Unit::Second).unwrap_or(time).to_string()
}

impl Store {
    /// The deliveries of one rule to one recipient, oldest first.
    pub fn history(
        &self,
        survey: &str,
        rule: &str,
        recipient: &str,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT id, seq, locale, status, created_at FROM deliveries
                 WHERE survey = ?1 AND rule = ?2 AND recipient = ?3 ORDER BY seq",
            )
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map(params![survey, rule, recipient], |row| {
                let created: String = row.get(4)?;
                Ok(LedgerEntry {
                    id: row.get(0)?,
                    seq: row.get(1)?,
                    locale: row.get(2)?,
                    status: Status::parse(&row.get::<_, String>(3)?),
                    created_at: Timestamp::from_str(&created).unwrap_or_default(),
                })
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e))
    }

    /// Whether any of these deliveries has a counting response.
    pub fn answered(&self, survey: &str, deliveries: &[&str]) -> Result<bool, StoreError> {
        for id in deliveries {
            let counting = self
                .counting_for_key(survey, id)
                .map_err(|e| self.error(e))?;
            if !counting.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether any survey of the workspace went (or may have gone) to the recipient since
    /// `since` (Unix seconds): the frequency cap.
    pub fn contacted_since(&self, recipient: &str, since: i64) -> Result<bool, StoreError> {
        let since = stamp(Timestamp::from_second(since).unwrap_or_default());
        self.conn
            .prepare_cached(
                "SELECT 1 FROM deliveries WHERE recipient = ?1 AND created_at > ?2 AND seq = 0
                 AND status IN ('sent', 'handing', 'unknown', 'retrying') LIMIT 1",
            )
            .and_then(|mut s| s.exists(params![recipient, since]))
            .map_err(|e| self.error(e))
    }

    /// Marks the deliveries of a rule left `handing` by a run that died as `unknown`, and
    /// returns how many there were.
    pub fn mark_unknown(
        &self,
        survey: &str,
        rule: &str,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        self.move_status(survey, rule, "handing", "unknown", now)
    }

    /// Turns a rule's `unknown` deliveries back into retries (`--resend-unknown`).
    pub fn retry_unknown(
        &self,
        survey: &str,
        rule: &str,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        self.move_status(survey, rule, "unknown", "retrying", now)
    }

    fn move_status(
        &self,
        survey: &str,
        rule: &str,
        from: &str,
        to: &str,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "UPDATE deliveries SET status = ?4, updated_at = ?3
                 WHERE survey = ?1 AND rule = ?2 AND status = ?5",
                params![survey, rule, stamp(now), to, from],
            )
            .map_err(|e| self.error(e))
    }

    /// In one durable transaction: records the outcomes of the messages just handed over,
    /// then marks the next ones `handing` (new rows, or retries of existing ones). One
    /// commit per batch keeps the ledger exact at the cost of one disk sync per batch.
    pub fn commit_batch(
        &self,
        outcomes: &[Outcome],
        handing: &[Handing],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        write_batch(&self.conn, outcomes, handing, &stamp(now)).map_err(|e| self.error(e))
    }

    /// The number of a rule's deliveries by status, for the summary.
    pub fn ledger_counts(
        &self,
        survey: &str,
        rule: &str,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT status, COUNT(*) FROM deliveries WHERE survey = ?1 AND rule = ?2 GROUP BY status",
            )
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map(params![survey, rule], |row| {
                Ok((row.get(0)?, row.get::<_, i64>(1)?.unsigned_abs()))
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e))
    }

    /// Starts a plan's memory of the recipients seen, kept in a temporary table so that
    /// finding duplicates in a large audience costs no memory.
    pub fn forget_seen(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS seen (recipient TEXT PRIMARY KEY) WITHOUT ROWID;
                 DELETE FROM temp.seen;",
            )
            .map_err(|e| self.error(e))
    }

    /// Whether this is the first time the plan meets the recipient.
    pub fn first_sight(&self, recipient: &str) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO temp.seen (recipient) VALUES (?1)")
            .and_then(|mut s| s.execute([recipient]))
            .map(|n| n == 1)
            .map_err(|e| self.error(e))
    }

    /// The status of one delivery, for tests and `--explain`.
    pub fn delivery_status(&self, id: &str) -> Result<Option<Status>, StoreError> {
        self.conn
            .query_row("SELECT status FROM deliveries WHERE id = ?1", [id], |row| {
                row.get::<_, String>(0)
            })
            .optional()
            .map(|s| s.as_deref().map(Status::parse))
            .map_err(|e| self.error(e))
    }
}

fn write_batch(
    conn: &rusqlite::Connection,
    outcomes: &[Outcome],
    handing: &[Handing],
    now: &str,
) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut update = tx.prepare_cached(
            "UPDATE deliveries SET status = ?2, reply = ?3, updated_at = ?4 WHERE id = ?1",
        )?;
        for outcome in outcomes {
            update.execute(params![
                outcome.id,
                outcome.status.name(),
                outcome.reply,
                now
            ])?;
        }
        let mut insert = tx.prepare_cached(
            "INSERT INTO deliveries (id, survey, version, rule, channel, recipient, seq,
                 locale, segments, status, attempts, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'handing', 1, ?10, ?10)
             ON CONFLICT (id) DO UPDATE SET status = 'handing', attempts = attempts + 1,
                 updated_at = ?10",
        )?;
        for h in handing {
            insert.execute(params![
                h.id,
                h.survey,
                h.version,
                h.rule,
                h.channel,
                h.recipient,
                h.seq,
                h.locale,
                h.segments,
                now
            ])?;
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handing(id: &str, recipient: &str, seq: u32) -> Handing {
        Handing {
            id: id.into(),
            survey: "nps".into(),
            version: 1,
            rule: "r".into(),
            channel: "email".into(),
            recipient: recipient.into(),
            seq,
            locale: "en".into(),
            segments: "{}".into(),
        }
    }

    #[test]
    fn a_batch_is_recorded_then_settled() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).unwrap();
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        store
            .commit_batch(&[], &[handing("d1", "a", 0), handing("d2", "b", 0)], now)
            .unwrap();
        assert!(store.contacted_since("a", 1_700_000_000).unwrap());
        let outcome = |id: &str, status| Outcome {
            id: id.into(),
            status,
            reply: "250 ok".into(),
        };
        store
            .commit_batch(
                &[outcome("d1", Status::Sent), outcome("d2", Status::Retrying)],
                &[],
                now,
            )
            .unwrap();
        assert_eq!(store.mark_unknown("nps", "r", now).unwrap(), 0);
        store
            .commit_batch(&[], &[handing("d2", "b", 0)], now)
            .unwrap();
        assert_eq!(store.mark_unknown("nps", "r", now).unwrap(), 1);
        let history = store.history("nps", "r", "b").unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].status, Status::Unknown);
        assert_eq!(history[0].created_at, now);
        let counts = store.ledger_counts("nps", "r").unwrap();
        assert_eq!(counts.get("sent"), Some(&1));
        assert!(!store.contacted_since("a", 1_800_000_000).unwrap());
    }

    #[test]
    fn duplicates_are_seen_once_per_plan() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).unwrap();
        store.forget_seen().unwrap();
        assert!(store.first_sight("a").unwrap());
        assert!(!store.first_sight("a").unwrap());
        store.forget_seen().unwrap();
        assert!(store.first_sight("a").unwrap());
    }
}
