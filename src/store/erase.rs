//! A person's data: everything stored about one recipient key, gathered for a subject
//! access request or erased for good, and old data pruned after the retention period.

use rusqlite::params;
use serde_json::{Value, json};

use super::sqlite::Sqlite;
use super::{StoreError, SuppressionReason, now_rfc3339};

/// What canvass keeps of an erasure: when and how much, never whom.
pub(super) const ERASURES_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS erasures (
    erased_at   TEXT NOT NULL,
    people      INTEGER NOT NULL,
    deliveries  INTEGER NOT NULL,
    responses   INTEGER NOT NULL
);
";

/// The responses of a recipient: those given through their deliveries' links, and those
/// imported under their respondent key.
pub(super) const THEIR_RESPONSES: &str = "SELECT id FROM response_rows WHERE response_key = ?1
    OR response_key IN (SELECT id FROM deliveries WHERE recipient = ?1)";

/// How much an erasure or a pruning removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Removed {
    /// Ledger rows.
    pub deliveries: u64,
    /// Stored responses, replaced ones included.
    pub responses: u64,
    /// Recorded link fetches.
    pub fetches: u64,
}

impl Sqlite {
    /// Erases everything about these recipients in one transaction: their ledger rows,
    /// responses and link fetches. Each stays suppressed (`erased`), so that no later send
    /// reaches them, and the erasure is recorded without naming anyone.
    pub fn forget(&self, recipients: &[String]) -> Result<Removed, StoreError> {
        let run = || -> rusqlite::Result<Removed> {
            let tx = rusqlite::Transaction::new_unchecked(
                &self.conn,
                rusqlite::TransactionBehavior::Immediate,
            )?;
            let mut removed = Removed::default();
            for recipient in recipients {
                removed.responses += self.delete_responses(THEIR_RESPONSES, params![recipient])?;
                removed.fetches += self.conn.execute(
                    "DELETE FROM link_fetches WHERE delivery IN \
                     (SELECT id FROM deliveries WHERE recipient = ?1)",
                    [recipient],
                )? as u64;
                removed.deliveries += self
                    .conn
                    .execute("DELETE FROM deliveries WHERE recipient = ?1", [recipient])?
                    as u64;
                self.conn.execute(
                    "INSERT INTO suppressions (recipient, reason, created_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (recipient) DO UPDATE SET reason = ?2",
                    params![recipient, SuppressionReason::Erased.name(), now_rfc3339()],
                )?;
            }
            self.conn.execute(
                "INSERT INTO erasures (erased_at, people, deliveries, responses)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    now_rfc3339(),
                    recipients.len() as i64,
                    removed.deliveries as i64,
                    removed.responses as i64
                ],
            )?;
            tx.commit()?;
            Ok(removed)
        };
        run().map_err(|e| self.error(e))
    }

    /// Everything stored about a recipient, as JSON: their suppression, their deliveries
    /// and the answers they gave (a subject access request).
    pub fn respondent_data(&self, recipient: &str) -> Result<Value, StoreError> {
        let run = || -> rusqlite::Result<Value> {
            let deliveries = self.rows_as_json(
                "SELECT id, survey, version, rule, channel, seq, locale, segments, status,
                        attempts, reply, created_at, updated_at
                 FROM deliveries WHERE recipient = ?1 ORDER BY created_at, id",
                recipient,
            )?;
            let responses = self.rows_as_json(
                &format!(
                    "SELECT r.id, o.survey, o.version, o.channel, o.source, o.rule, r.locale,
                            r.submitted_at, r.confirmed, r.complete, r.counts, r.answers,
                            r.segments
                     FROM response_rows r JOIN response_origins o ON o.id = r.origin
                     WHERE r.id IN ({THEIR_RESPONSES}) ORDER BY r.id"
                ),
                recipient,
            )?;
            let suppression = self.rows_as_json(
                "SELECT reason, created_at FROM suppressions WHERE recipient = ?1",
                recipient,
            )?;
            Ok(json!({
                "recipient_key": recipient,
                "suppression": suppression.as_array().and_then(|rows| rows.first()).cloned(),
                "deliveries": deliveries,
                "responses": responses,
            }))
        };
        run().map_err(|e| self.error(e))
    }

    /// Deletes responses submitted, ledger rows created and fetches made before `cutoff`
    /// (RFC 3339), in one transaction: the retention period.
    pub fn prune(&self, cutoff: &str) -> Result<Removed, StoreError> {
        let run = || -> rusqlite::Result<Removed> {
            let tx = rusqlite::Transaction::new_unchecked(
                &self.conn,
                rusqlite::TransactionBehavior::Immediate,
            )?;
            let removed = Removed {
                responses: self.delete_responses(
                    "SELECT id FROM response_rows WHERE submitted_at < ?1",
                    params![cutoff],
                )?,
                fetches: self
                    .conn
                    .execute("DELETE FROM link_fetches WHERE fetched_at < ?1", [cutoff])?
                    as u64,
                deliveries: self
                    .conn
                    .execute("DELETE FROM deliveries WHERE created_at < ?1", [cutoff])?
                    as u64,
            };
            tx.commit()?;
            Ok(removed)
        };
        run().map_err(|e| self.error(e))
    }

    /// Deletes the response rows `select` names, with their entries in the key table and
    /// the alerts and events they raised (which carry their answers).
    fn delete_responses(
        &self,
        select: &str,
        args: impl rusqlite::Params + Clone,
    ) -> rusqlite::Result<u64> {
        self.conn.execute(
            &format!("DELETE FROM outbox WHERE response IN ({select})"),
            args.clone(),
        )?;
        self.conn.execute(
            &format!("DELETE FROM response_keys WHERE response IN ({select})"),
            args.clone(),
        )?;
        let deleted = self.conn.execute(
            &format!("DELETE FROM response_rows WHERE id IN ({select})"),
            args,
        )?;
        Ok(deleted as u64)
    }

    fn rows_as_json(&self, sql: &str, recipient: &str) -> rusqlite::Result<Value> {
        let mut statement = self.conn.prepare(sql)?;
        let names: Vec<String> = statement.column_names().map(str::to_string).collect();
        let rows = statement.query_map([recipient], |row| {
            let mut object = serde_json::Map::new();
            for (i, name) in names.iter().enumerate() {
                object.insert(name.clone(), column_json(row.get_ref(i)?));
            }
            Ok(Value::Object(object))
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map(Value::Array)
    }
}

/// A text column as JSON: text holding JSON (answers, segments) is kept as JSON, the
/// same from either backend.
pub(super) fn text_json(text: &str) -> Value {
    match text.chars().next() {
        Some('{' | '[') => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.into()))
        }
        _ => Value::String(text.into()),
    }
}

/// A column as JSON; text holding JSON (answers, segments) is kept as JSON.
fn column_json(value: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => json!(n),
        ValueRef::Real(x) => json!(x),
        ValueRef::Text(bytes) => text_json(&String::from_utf8_lossy(bytes)),
        ValueRef::Blob(bytes) => json!(hex::encode(bytes)),
    }
}
