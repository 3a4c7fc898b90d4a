//! The delivery ledger: every message is recorded before it is handed over and updated
//! after, so that a run killed at any point can be resumed without sending twice.
//!
//! A batch is recorded `queued` in one durable commit, which is also where the frequency
//! cap is decided (under SQLite's write lock, so two runs of different rules cannot both
//! reach one person). Each message then turns `handing` in a commit of its own just before
//! the transport takes it: a run killed at any moment leaves at most one `handing` message
//! per connection, and its `queued` ones simply go out on the next run.

use std::collections::BTreeMap;
use std::str::FromStr;

use jiff::Timestamp;
use rusqlite::params;

use super::StoreError;
use super::sqlite::Sqlite;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Recorded with its batch, not yet given to the transport; found at start, it is due.
    Queued,
    /// Being handed to the server; found at start, the outcome is unknown.
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
            Status::Queued => "queued",
            Status::Handing => "handing",
            Status::Sent => "sent",
            Status::Retrying => "retrying",
            Status::Failed => "failed",
            Status::Bounced => "bounced",
            Status::Unknown => "unknown",
        }
    }

    pub(super) fn parse(name: &str) -> Status {
        match name {
            "queued" => Status::Queued,
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
    /// For a capped rule's first message: the start of the cap's period (Unix seconds).
    /// The message is not recorded when anyone reached the recipient since then.
    pub cap_since: Option<i64>,
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

pub(super) fn stamp(time: Timestamp) -> String {
    time.round(jiff::Unit::Second).unwrap_or(time).to_string()
}

impl Sqlite {
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
            .prepare_cached(REACHED_SINCE)
            .and_then(|mut s| s.exists(params![recipient, since, ""]))
            .map_err(|e| self.error(e))
    }

    /// Moves a rule's deliveries from one status to another; how many moved.
    pub(super) fn move_status(
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

    /// In one durable transaction under the write lock, records a batch `queued` (new
    /// rows, or retries of existing ones), except first messages the cap now forbids,
    /// whose ids are returned. The sync also makes every hand log commit before it durable.
    pub fn queue_batch(
        &self,
        queued: &[Handing],
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        write_batch(&self.conn, queued, &stamp(now)).map_err(|e| self.error(e))
    }

    /// A second connection, for the workers' threads to log each hand-over as it happens.
    pub fn hand_log(&self, now: Timestamp) -> Result<SqliteHandLog, StoreError> {
        let conn = super::sqlite::connect(&self.path).map_err(|e| self.error(e))?;
        // It only updates rows by their key: a small page cache is enough.
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA cache_size = -2048;")
            .map_err(|e| self.error(e))?;
        Ok(SqliteHandLog {
            conn: std::sync::Mutex::new(conn),
            path: self.path.clone(),
            now: stamp(now),
        })
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
}

/// Whether another first message (?3 is the one being decided) went, goes or may have
/// gone to recipient ?1 since ?2: the frequency cap's question.
pub(super) const REACHED_SINCE: &str = "SELECT 1 FROM deliveries
    WHERE recipient = ?1 AND created_at > ?2 AND seq = 0 AND id <> ?3
    AND status IN ('sent', 'queued', 'handing', 'unknown', 'retrying') LIMIT 1";

/// Logs each message as the transport takes it (`handing`) and as it answers (the
/// outcome), one small commit each, so that a killed run leaves only the messages in
/// the transport's hands unknown. The commits are not synced to disk one by one
/// (`synchronous = NORMAL`): they survive the process being killed, which is what they
/// guard against, and the next batch's durable commit syncs them.
pub struct SqliteHandLog {
    conn: std::sync::Mutex<rusqlite::Connection>,
    path: std::path::PathBuf,
    now: String,
}

impl SqliteHandLog {
    /// Records that the message is being handed over now.
    pub fn handing(&self, id: &str) -> Result<(), StoreError> {
        self.update(id, Status::Handing, None)
    }

    /// Records what the transport answered.
    pub fn settle(&self, outcome: &Outcome) -> Result<(), StoreError> {
        self.update(&outcome.id, outcome.status, Some(&outcome.reply))
    }

    fn update(&self, id: &str, status: Status, reply: Option<&str>) -> Result<(), StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        conn.prepare_cached(
            "UPDATE deliveries SET status = ?2, reply = coalesce(?3, reply), updated_at = ?4
             WHERE id = ?1",
        )
        .and_then(|mut s| s.execute(params![id, status.name(), reply, self.now]))
        .map(drop)
        .map_err(|source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }
}

fn write_batch(
    conn: &rusqlite::Connection,
    queued: &[Handing],
    now: &str,
) -> rusqlite::Result<Vec<String>> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let mut capped = Vec::new();
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO deliveries (id, survey, version, rule, channel, recipient, seq,
                 locale, segments, status, attempts, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'queued', 1, ?10, ?10)
             ON CONFLICT (id) DO UPDATE SET status = 'queued', attempts = attempts + 1,
                 updated_at = ?10",
        )?;
        let mut reached = tx.prepare_cached(REACHED_SINCE)?;
        for h in queued {
            if let Some(since) = h.cap_since {
                let since = stamp(Timestamp::from_second(since).unwrap_or_default());
                if reached.exists(params![h.recipient, since, h.id])? {
                    capped.push(h.id.clone());
                    continue;
                }
            }
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
    tx.commit()?;
    Ok(capped)
}
