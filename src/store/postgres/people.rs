//! A person's data on PostgreSQL: suppressions, erasure, a subject access export and
//! the retention period (the SQLite store's rules, see its erase and suppressions).

use postgres::types::Type;
use serde_json::{Value, json};

use super::Postgres;
use crate::store::erase::THEIR_RESPONSES;
use crate::store::{Removed, StoreError, SuppressionReason, now_rfc3339};

/// [`THEIR_RESPONSES`] with PostgreSQL's parameters.
fn their_responses() -> String {
    THEIR_RESPONSES.replace('?', "$")
}

impl Postgres {
    /// Records a suppression; the first reason recorded is kept.
    pub fn suppress(&self, recipient: &str, reason: SuppressionReason) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO suppressions (recipient, reason, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                &[&recipient, &reason.name(), &now_rfc3339()],
            )
            .map(drop)
        })
    }

    /// Why a recipient is suppressed, if they are.
    pub fn suppression(&self, recipient: &str) -> Result<Option<String>, StoreError> {
        self.text_where(
            "SELECT reason FROM suppressions WHERE recipient = $1",
            recipient,
        )
    }

    /// Erases everything about these recipients in one transaction; each stays
    /// suppressed (`erased`) and the erasure is recorded without naming anyone.
    pub fn forget(&self, recipients: &[String]) -> Result<Removed, StoreError> {
        let theirs = their_responses();
        self.in_transaction(|tx| {
            let mut removed = Removed::default();
            for recipient in recipients {
                removed.responses += delete_responses(tx, &theirs, recipient)?;
                removed.fetches += tx.execute(
                    "DELETE FROM link_fetches WHERE delivery IN \
                     (SELECT id FROM deliveries WHERE recipient = $1)",
                    &[recipient],
                )?;
                removed.deliveries +=
                    tx.execute("DELETE FROM deliveries WHERE recipient = $1", &[recipient])?;
                tx.execute(
                    "INSERT INTO suppressions (recipient, reason, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (recipient) DO UPDATE SET reason = $2",
                    &[recipient, &SuppressionReason::Erased.name(), &now_rfc3339()],
                )?;
            }
            let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            tx.execute(
                "INSERT INTO erasures (erased_at, people, deliveries, responses) \
                 VALUES ($1, $2, $3, $4)",
                &[
                    &now_rfc3339(),
                    &count(recipients.len() as u64),
                    &count(removed.deliveries),
                    &count(removed.responses),
                ],
            )?;
            Ok(removed)
        })
    }

    /// Everything stored about a recipient, as JSON (a subject access request).
    pub fn respondent_data(&self, recipient: &str) -> Result<Value, StoreError> {
        let theirs = their_responses();
        self.with(|c| {
            let mut rows = |sql: &str| -> Result<Vec<Value>, postgres::Error> {
                Ok(c.query(sql, &[&recipient])?.iter().map(row_json).collect())
            };
            let deliveries = rows(
                "SELECT id, survey, version, rule, channel, seq, locale, segments, status, \
                        attempts, reply, created_at, updated_at \
                 FROM deliveries WHERE recipient = $1 ORDER BY created_at, id",
            )?;
            let responses = rows(&format!(
                "SELECT r.id, o.survey, o.version, o.channel, o.source, o.rule, r.locale, \
                        r.submitted_at, r.confirmed, r.complete, r.counts, r.answers, r.segments \
                 FROM response_rows r JOIN response_origins o ON o.id = r.origin \
                 WHERE r.id IN ({theirs}) ORDER BY r.id"
            ))?;
            let suppression =
                rows("SELECT reason, created_at FROM suppressions WHERE recipient = $1")?;
            Ok(json!({
                "recipient_key": recipient,
                "suppression": suppression.first().cloned(),
                "deliveries": deliveries,
                "responses": responses,
            }))
        })
    }

    /// Deletes what is older than `cutoff` (RFC 3339), in one transaction.
    pub fn prune(&self, cutoff: &str) -> Result<Removed, StoreError> {
        self.in_transaction(|tx| {
            Ok(Removed {
                responses: delete_responses(
                    tx,
                    "SELECT id FROM response_rows WHERE submitted_at < $1",
                    cutoff,
                )?,
                fetches: tx
                    .execute("DELETE FROM link_fetches WHERE fetched_at < $1", &[&cutoff])?,
                deliveries: tx
                    .execute("DELETE FROM deliveries WHERE created_at < $1", &[&cutoff])?,
            })
        })
    }
}

/// Deletes the response rows `select` names, with the alerts and events they raised.
fn delete_responses(
    tx: &mut postgres::Transaction<'_>,
    select: &str,
    value: &str,
) -> Result<u64, postgres::Error> {
    tx.execute(
        &format!("DELETE FROM outbox WHERE response IN ({select})"),
        &[&value],
    )?;
    tx.execute(
        &format!("DELETE FROM response_rows WHERE id IN ({select})"),
        &[&value],
    )
}

/// A row as a JSON object; text holding JSON (answers, segments) is kept as JSON.
fn row_json(row: &postgres::Row) -> Value {
    let object = row
        .columns()
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let value = match *column.type_() {
                Type::INT8 => row
                    .get::<_, Option<i64>>(i)
                    .map_or(Value::Null, |n| json!(n)),
                _ => row
                    .get::<_, Option<String>>(i)
                    .map_or(Value::Null, |text| crate::store::erase::text_json(&text)),
            };
            (column.name().to_string(), value)
        })
        .collect();
    Value::Object(object)
}
