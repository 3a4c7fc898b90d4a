//! The outbox on PostgreSQL (the SQLite store's rules, see its outbox): deliverers on any
//! machine claim with `FOR UPDATE SKIP LOCKED`, and a lease is held by the deliverer's
//! connection, so a lease whose connection is gone (its process died, on whichever
//! machine) is released at once.

use postgres::GenericClient;

use super::Postgres;
use super::answers::Raised;
use crate::store::outbox::{COLUMNS, new_message_id, now_seconds};
use crate::store::{Attempt, Claim, Lease, OutboxMessage, StoreError, TargetKind, now_rfc3339};

/// Adds the messages a batch raised, due at once, in the batch's transaction.
pub(super) fn add_messages(
    c: &mut impl GenericClient,
    raised: &Raised,
) -> Result<(), postgres::Error> {
    if raised.is_empty() {
        return Ok(());
    }
    let (created, due) = (now_rfc3339(), now_seconds());
    let insert = c.prepare(
        "INSERT INTO outbox (message_id, event, survey, subscription, target, address, \
         response, payload, contact, created_at, status, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11)",
    )?;
    for ((row, survey), m) in raised {
        c.execute(
            &insert,
            &[
                &new_message_id(),
                &m.event,
                survey,
                &m.subscription,
                &m.target.name(),
                &m.address,
                row,
                &m.payload,
                &m.contact,
                &created,
                &due,
            ],
        )?;
    }
    Ok(())
}

fn message(row: &postgres::Row) -> OutboxMessage {
    OutboxMessage {
        id: row.get(0),
        message_id: row.get(1),
        event: row.get(2),
        survey: row.get(3),
        subscription: row.get(4),
        target: TargetKind::parse(row.get(5)),
        address: row.get(6),
        payload: row.get(7),
        contact: row.get(8),
        status: row.get(9),
        attempts: u32::try_from(row.get::<_, i64>(10)).unwrap_or(u32::MAX),
        next_attempt_at: row.get(11),
        last_reply: row.get(12),
        created_at: row.get(13),
    }
}

impl Postgres {
    /// Claims up to `limit` messages for `lease` seconds, skipping those another
    /// deliverer is claiming at this moment.
    pub fn claim_messages(
        &self,
        limit: usize,
        lease: Lease,
        claim: Claim,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let now = now_seconds();
        let (which, order, after) = match claim {
            Claim::Due => (
                "status = 'pending' AND next_attempt_at <= $1 AND id > $4",
                "next_attempt_at, id",
                0,
            ),
            Claim::Every { after } => ("status IN ('pending', 'failed') AND id > $4", "id", after),
        };
        let sql = format!(
            "UPDATE outbox SET attempts = attempts + 1, leased_until = $1 + $2, \
             leased_by = pg_backend_pid() \
             WHERE id IN (SELECT id FROM outbox WHERE {which} \
                 AND (leased_until IS NULL OR leased_until <= $1) ORDER BY {order} LIMIT $3 \
                 FOR UPDATE SKIP LOCKED) \
             RETURNING {COLUMNS}"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.with(|c| c.query(&sql, &[&now, &lease, &limit, &after]))?;
        let mut claimed: Vec<OutboxMessage> = rows.iter().map(message).collect();
        match claim {
            Claim::Due => claimed.sort_by_key(|m| (m.next_attempt_at, m.id)),
            Claim::Every { .. } => claimed.sort_by_key(|m| m.id),
        }
        Ok(claimed)
    }

    /// Lets this connection's claims and outcomes commit without waiting for the disk: a
    /// lost one means one more attempt under the same `webhook-id`.
    pub fn relax_syncs_for_delivery(&self) -> Result<(), StoreError> {
        self.with(|c| c.batch_execute("SET synchronous_commit = off"))
    }

    /// Ends the leases whose deliverer's connection is gone. Process ids mean nothing
    /// across machines, so the server's own list of connections decides, not `_running`.
    pub fn release_orphaned_leases(
        &self,
        _running: impl Fn(u32) -> bool,
    ) -> Result<usize, StoreError> {
        let released = self.with(|c| {
            c.execute(
                "UPDATE outbox SET leased_until = NULL WHERE leased_until > $1 \
                 AND leased_by NOT IN (SELECT pid FROM pg_stat_activity)",
                &[&now_seconds()],
            )
        })?;
        Ok(usize::try_from(released).unwrap_or(usize::MAX))
    }

    /// Whether a pending message is due now.
    pub fn message_due(&self) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.query_one(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE status = 'pending' \
                 AND next_attempt_at <= $1 AND (leased_until IS NULL OR leased_until <= $1))",
                &[&now_seconds()],
            )?
            .get(0))
        })
    }

    /// Records how attempts ended, in one transaction, and releases their leases.
    pub fn record_attempts(&self, attempts: &[Attempt]) -> Result<(), StoreError> {
        let now = now_rfc3339();
        self.in_transaction(|tx| {
            for attempt in attempts {
                match attempt {
                    Attempt::Delivered { id, reply } => tx.execute(
                        "UPDATE outbox SET status = 'delivered', delivered_at = $2, \
                         last_reply = $3, leased_until = NULL WHERE id = $1",
                        &[id, &now, reply],
                    )?,
                    Attempt::Refused {
                        id,
                        reply,
                        retry_at,
                    } => tx.execute(
                        "UPDATE outbox SET status = CASE WHEN $3::bigint IS NULL THEN 'failed' \
                         ELSE 'pending' END, next_attempt_at = coalesce($3, next_attempt_at), \
                         last_reply = $2, leased_until = NULL WHERE id = $1",
                        &[id, reply, retry_at],
                    )?,
                };
            }
            Ok(())
        })
    }

    /// The messages not delivered, oldest first.
    pub fn undelivered_messages(&self) -> Result<Vec<OutboxMessage>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE status != 'delivered' ORDER BY id");
        let rows = self.with(|c| c.query(&sql, &[]))?;
        Ok(rows.iter().map(message).collect())
    }

    /// When the earliest pending message no deliverer holds is due (Unix seconds); see
    /// [`crate::store::Store::next_message_due`].
    pub fn next_message_due(&self) -> Result<Option<i64>, StoreError> {
        self.with(|c| {
            Ok(c.query_one(
                "SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending' \
                 AND (leased_until IS NULL OR leased_until <= $1)",
                &[&now_seconds()],
            )?
            .get(0))
        })
    }
}
