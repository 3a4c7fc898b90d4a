//! The delivery ledger on PostgreSQL (the SQLite store's rules, see its ledger): a batch
//! queued in one commit where the frequency cap is decided under one lock for every
//! machine, each hand-over logged on a connection of its own.

use std::collections::BTreeMap;
use std::str::FromStr as _;
use std::sync::Mutex;

use jiff::Timestamp;
use postgres::Client;

use super::{Postgres, lock_space};
use crate::store::ledger::{REACHED_SINCE, stamp};
use crate::store::{Handing, LedgerEntry, Outcome, Status, StoreError};

/// [`REACHED_SINCE`] with PostgreSQL's parameters.
fn reached_since() -> String {
    REACHED_SINCE.replace('?', "$")
}

impl Postgres {
    /// The deliveries of one rule to one recipient, oldest first.
    pub fn history(
        &self,
        survey: &str,
        rule: &str,
        recipient: &str,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let rows = self.with(|c| {
            c.query(
                "SELECT id, seq, locale, status, created_at FROM deliveries \
                 WHERE survey = $1 AND rule = $2 AND recipient = $3 ORDER BY seq",
                &[&survey, &rule, &recipient],
            )
        })?;
        Ok(rows
            .iter()
            .map(|row| LedgerEntry {
                id: row.get(0),
                seq: u32::try_from(row.get::<_, i64>(1)).unwrap_or_default(),
                locale: row.get(2),
                status: Status::parse(row.get(3)),
                created_at: Timestamp::from_str(row.get(4)).unwrap_or_default(),
            })
            .collect())
    }

    /// Whether any survey went (or may have gone) to the recipient since `since`.
    pub fn contacted_since(&self, recipient: &str, since: i64) -> Result<bool, StoreError> {
        let since = stamp(Timestamp::from_second(since).unwrap_or_default());
        self.with(|c| {
            Ok(c.query_opt(&reached_since(), &[&recipient, &since, &""])?
                .is_some())
        })
    }

    /// Moves a rule's deliveries from one status to another; how many moved.
    pub(in crate::store) fn move_status(
        &self,
        survey: &str,
        rule: &str,
        from: &str,
        to: &str,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let changed = self.with(|c| {
            c.execute(
                "UPDATE deliveries SET status = $4, updated_at = $3 \
                 WHERE survey = $1 AND rule = $2 AND status = $5",
                &[&survey, &rule, &stamp(now), &to, &from],
            )
        })?;
        Ok(usize::try_from(changed).unwrap_or(usize::MAX))
    }

    /// Records a batch `queued` in one transaction, except first messages the cap now
    /// forbids, whose ids are returned. The cap's lock makes the decisions of every
    /// machine's runs one after the other.
    pub fn queue_batch(
        &self,
        queued: &[Handing],
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let now = stamp(now);
        let reached = reached_since();
        self.in_transaction(|tx| {
            tx.execute("SELECT pg_advisory_xact_lock($1, 0)", &[&lock_space::CAP])?;
            let insert = tx.prepare(
                "INSERT INTO deliveries (id, survey, version, rule, channel, recipient, seq, \
                     locale, segments, status, attempts, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', 1, $10, $10) \
                 ON CONFLICT (id) DO UPDATE SET status = 'queued', \
                     attempts = deliveries.attempts + 1, updated_at = $10",
            )?;
            let reached = tx.prepare(&reached)?;
            let mut capped = Vec::new();
            for h in queued {
                if let Some(since) = h.cap_since {
                    let since = stamp(Timestamp::from_second(since).unwrap_or_default());
                    if tx
                        .query_opt(&reached, &[&h.recipient, &since, &h.id])?
                        .is_some()
                    {
                        capped.push(h.id.clone());
                        continue;
                    }
                }
                tx.execute(
                    &insert,
                    &[
                        &h.id,
                        &h.survey,
                        &i64::from(h.version),
                        &h.rule,
                        &h.channel,
                        &h.recipient,
                        &i64::from(h.seq),
                        &h.locale,
                        &h.segments,
                        &now,
                    ],
                )?;
            }
            Ok(capped)
        })
    }

    /// A second connection, for the senders' threads to log each hand-over.
    pub fn hand_log(&self, now: Timestamp) -> Result<PgHandLog, StoreError> {
        let second = Postgres::connect_only(&self.url)?;
        second.with(|c| c.batch_execute("SET synchronous_commit = off"))?;
        Ok(PgHandLog {
            client: Mutex::new(second.client.into_inner()),
            place: second.place,
            now: stamp(now),
        })
    }

    /// The number of a rule's deliveries by status.
    pub fn ledger_counts(
        &self,
        survey: &str,
        rule: &str,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        let rows = self.with(|c| {
            c.query(
                "SELECT status, count(*) FROM deliveries WHERE survey = $1 AND rule = $2 \
                 GROUP BY status",
                &[&survey, &rule],
            )
        })?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get::<_, i64>(1).unsigned_abs()))
            .collect())
    }

    /// Takes the rule's send lock for as long as this connection lives (a run that dies
    /// loses its connection, and the lock with it); false when another run holds it.
    pub fn lock_rule(&self, survey: &str, rule: &str) -> Result<bool, StoreError> {
        let name = format!("{survey}/{rule}");
        self.with(|c| {
            Ok(c.query_one(
                "SELECT pg_try_advisory_lock($1, hashtext($2))",
                &[&lock_space::RULE, &name],
            )?
            .get(0))
        })
    }
}

/// Logs hand-overs on a connection of its own. Its commits are not waited for on disk
/// (`synchronous_commit = off`): they survive the process being killed, which is what they
/// guard against, and the next batch's commit makes them durable.
pub struct PgHandLog {
    client: Mutex<Client>,
    place: String,
    now: String,
}

impl PgHandLog {
    /// Records that the message is being handed over now.
    pub fn handing(&self, id: &str) -> Result<(), StoreError> {
        self.update(id, Status::Handing, None)
    }

    /// Records what the transport answered.
    pub fn settle(&self, outcome: &Outcome) -> Result<(), StoreError> {
        self.update(&outcome.id, outcome.status, Some(&outcome.reply))
    }

    fn update(&self, id: &str, status: Status, reply: Option<&str>) -> Result<(), StoreError> {
        let mut client = self.client.lock().unwrap_or_else(|e| e.into_inner());
        client
            .execute(
                "UPDATE deliveries SET status = $2, reply = coalesce($3, reply), updated_at = $4 \
                 WHERE id = $1",
                &[&id, &status.name(), &reply, &self.now],
            )
            .map(drop)
            .map_err(|source| StoreError::Postgres {
                place: self.place.clone(),
                source,
            })
    }
}
