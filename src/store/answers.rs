//! Answers: recording responses, confirming one-click answers, reading them back for
//! reports and exports, the ledger of imported files, and delivery counts for response
//! rates.
//!
//! A response key names one response opportunity (a delivery, an open-link session, an
//! imported respondent). A second answer under the same key replaces the first: both rows
//! are kept, and `counts` marks the one that counts, so nothing is ever lost.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Row, params};

use super::batch::{EncodedResponse, HELD_KEYS, HeldKeys};
use super::outbox::Raise;
use super::sqlite::Sqlite;
pub use super::types::{NewResponse, Segments};
use super::{OUTBOX_REPLY, StoreError, now_rfc3339};
use crate::answer::Answers;

/// A stored response that counts, as the report and the export read it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    /// The survey version answered.
    pub version: u32,
    /// The response key.
    pub response_key: String,
    /// The channel.
    pub channel: String,
    /// The rule, if any.
    pub rule: Option<String>,
    /// The locale, if known.
    pub locale: Option<String>,
    /// RFC 3339, UTC.
    pub submitted_at: String,
    /// Every required, shown question answered.
    pub complete: bool,
    /// The answers.
    pub answers: Answers,
    /// The segment values.
    pub segments: Segments,
}

/// Why reading responses stopped: the store failed, or the caller's callback did.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E> {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The callback returned an error.
    #[error(transparent)]
    Callback(E),
}

/// An import being recorded: one transaction, committed by [`Import::commit`] and rolled
/// back when dropped, so a failed import leaves nothing behind.
pub struct SqliteImport<'s> {
    store: &'s Sqlite,
    tx: rusqlite::Transaction<'s>,
    digest: String,
    survey: String,
    rows: u64,
    added: usize,
    /// Responses not yet written: they go to the store a chunk at a time.
    pending: Vec<EncodedResponse>,
    /// Key entries of the rows written, not yet in the key table.
    held: HeldKeys,
    /// What raises alerts and events on the rows written; none unless asked, so that
    /// loading history does not flood a team.
    raise: Option<&'s dyn Raise>,
}

/// Imported responses written together: their keys are looked up in key order, which keeps
/// the key table's pages in the cache.
pub const IMPORT_CHUNK: usize = 16_384;

impl<'s> SqliteImport<'s> {
    /// The import raising alerts and events on its rows (`import --alerts`), in its own
    /// transaction.
    pub fn raising(self, raise: &'s dyn Raise) -> SqliteImport<'s> {
        SqliteImport {
            raise: Some(raise),
            ..self
        }
    }

    /// Records one imported response (skipped when identical to the one counting for its
    /// key, which may be an earlier row of the same import).
    pub fn add(&mut self, response: EncodedResponse) -> Result<(), StoreError> {
        self.rows += 1;
        self.pending.push(response);
        if self.pending.len() >= IMPORT_CHUNK {
            self.write_pending()?;
        }
        Ok(())
    }

    fn write_pending(&mut self) -> Result<(), StoreError> {
        let added = self
            .store
            .write_responses(&self.pending, &mut self.held, self.raise)
            .map_err(|e| self.store.error(e))?;
        self.added += added;
        self.pending.clear();
        if self.held.len() >= HELD_KEYS {
            self.write_held()?;
        }
        Ok(())
    }

    fn write_held(&mut self) -> Result<(), StoreError> {
        self.held.write(self.store).map_err(|e| self.store.error(e))
    }

    /// Notes the file in the imports ledger and commits everything.
    pub fn commit(mut self) -> Result<ImportOutcome, StoreError> {
        self.write_pending()?;
        self.write_held()?;
        let store = self.store;
        store
            .conn
            .execute(
                "INSERT INTO imports (digest, survey, rows, imported_at) VALUES (?1, ?2, ?3, ?4)",
                params![self.digest, self.survey, self.rows as i64, now_rfc3339()],
            )
            .map_err(|e| store.error(e))?;
        self.tx.commit().map_err(|e| store.error(e))?;
        Ok(ImportOutcome::Imported { added: self.added })
    }
}

/// Whether an import was applied or had been applied before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    /// The rows were recorded; `added` is how many were new (an identical row already
    /// counting under its key is not stored again).
    Imported {
        /// Rows stored.
        added: usize,
    },
    /// A file with this digest was imported before; nothing was done.
    AlreadyImported,
}

impl Sqlite {
    /// Starts recording an imported file, in one transaction that [`Import::commit`]
    /// commits and dropping rolls back; `None` when a file with this digest was imported
    /// before.
    pub fn begin_import(
        &self,
        digest: &str,
        survey: &str,
    ) -> Result<Option<SqliteImport<'_>>, StoreError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.error(e))?;
        let seen = self
            .conn
            .query_row("SELECT 1 FROM imports WHERE digest = ?1", [digest], |_| {
                Ok(())
            })
            .optional()
            .map_err(|e| self.error(e))?;
        Ok(seen.is_none().then(|| SqliteImport {
            store: self,
            tx,
            digest: digest.to_string(),
            survey: survey.to_string(),
            rows: 0,
            added: 0,
            pending: Vec::with_capacity(IMPORT_CHUNK),
            held: HeldKeys::for_import(),
            raise: None,
        }))
    }

    /// Stores one response unless the one counting for its key is identical, or is
    /// confirmed while this one is provisional (see [`Store::write_responses`]). Returns
    /// whether it was stored.
    pub(super) fn insert_response(
        &self,
        r: &NewResponse,
        raise: Option<&dyn Raise>,
    ) -> rusqlite::Result<bool> {
        Ok(self.write_batch(&[r.into()], raise)? == 1)
    }

    /// Calls `each` with every counting, confirmed response of a survey, in the order they
    /// were written (a scan of the table: no index to keep up on every write), one row at
    /// a time, so memory does not grow with the number of answers.
    pub fn for_each_counting_response<E>(
        &self,
        survey: &str,
        mut each: impl FnMut(StoredResponse) -> Result<(), E>,
    ) -> Result<(), ReadError<E>> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT version, response_key, channel, rule, locale, submitted_at, complete, \
                 answers, segments FROM responses \
                 WHERE survey = ?1 AND counts = 1 AND confirmed = 1 ORDER BY id",
            )
            .map_err(|e| self.error(e))?;
        let mut rows = statement.query([survey]).map_err(|e| self.error(e))?;
        while let Some(row) = rows.next().map_err(|e| self.error(e))? {
            let response = stored_response(row).map_err(|e| self.error(e))?;
            each(response).map_err(ReadError::Callback)?;
        }
        Ok(())
    }

    /// Distinct recipients with at least one message delivered (status `sent`, and not
    /// only written to the local outbox, which reaches nobody), per (survey version,
    /// rule): the denominator of the response rate.
    pub fn delivered_by_rule(
        &self,
        survey: &str,
    ) -> Result<BTreeMap<(u32, String), u64>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT version, rule, COUNT(DISTINCT recipient) FROM deliveries \
                 WHERE survey = ?1 AND status = 'sent' AND coalesce(reply, '') NOT LIKE ?2 \
                 GROUP BY version, rule",
            )
            .map_err(|e| self.error(e))?;
        let outbox = format!("{OUTBOX_REPLY}%");
        let rows = statement
            .query_map([survey, outbox.as_str()], |row| {
                Ok(((row.get(0)?, row.get(1)?), row.get::<_, i64>(2)? as u64))
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.error(e))
    }
}

fn stored_response(row: &Row<'_>) -> rusqlite::Result<StoredResponse> {
    let json = |index: usize| -> rusqlite::Result<String> { row.get(index) };
    let answers = serde_json::from_str(&json(7)?).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let segments = serde_json::from_str(&json(8)?).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(StoredResponse {
        version: row.get(0)?,
        response_key: row.get(1)?,
        channel: row.get(2)?,
        rule: row.get(3)?,
        locale: row.get(4)?,
        submitted_at: row.get(5)?,
        complete: row.get(6)?,
        answers,
        segments,
    })
}

/// What the tests write and confirm with, in one call each; the collector and import
/// go through their own batched paths.
#[cfg(test)]
impl Sqlite {
    /// Records responses in one transaction. Each new response becomes the one that counts
    /// for its (survey, response key); the older ones stay, no longer counting. A response
    /// identical to the one already counting for its key is skipped, so replaying the same
    /// answers adds nothing. Returns how many rows were stored.
    pub fn record_responses(&self, responses: &[NewResponse]) -> Result<usize, StoreError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.error(e))?;
        let encoded: Vec<EncodedResponse> = responses.iter().map(Into::into).collect();
        let added = self
            .write_batch(&encoded, None)
            .map_err(|e| self.error(e))?;
        tx.commit().map_err(|e| self.error(e))?;
        Ok(added)
    }

    /// Confirms the counting response of a key (a one-click answer followed by the form's
    /// POST, which a link scanner does not make). Returns whether there was one to confirm.
    pub(super) fn confirm_response(
        &self,
        survey: &str,
        response_key: &str,
    ) -> Result<bool, StoreError> {
        let counting = self
            .counting_for_key(survey, response_key)
            .map_err(|e| self.error(e))?;
        let mut confirm = self
            .conn
            .prepare_cached("UPDATE response_rows SET confirmed = 1 WHERE id = ?1")
            .map_err(|e| self.error(e))?;
        for c in &counting {
            confirm.execute([c.id]).map_err(|e| self.error(e))?;
        }
        Ok(!counting.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AnswerValue;

    fn response(key: &str, at: &str, score: i64) -> NewResponse {
        NewResponse {
            survey: "nps".into(),
            version: 1,
            definition_hash: "h".into(),
            response_key: key.into(),
            channel: "email".into(),
            source: "form".into(),
            rule: Some("r".into()),
            locale: Some("en".into()),
            submitted_at: at.into(),
            confirmed: true,
            complete: true,
            answers: [("recommend".to_string(), AnswerValue::Number(score))].into(),
            segments: [("plan".to_string(), "pro".to_string())].into(),
        }
    }

    fn encoded(key: &str, at: &str, score: i64) -> EncodedResponse {
        (&response(key, at, score)).into()
    }

    fn counting(store: &Sqlite) -> Vec<(String, i64)> {
        let mut seen = Vec::new();
        store
            .for_each_counting_response("nps", |r| {
                seen.push((r.response_key, r.answers["recommend"].as_number().unwrap()));
                Ok::<_, std::convert::Infallible>(())
            })
            .unwrap();
        seen
    }

    #[test]
    fn provisional_answers_count_once_confirmed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open_in(dir.path()).unwrap();
        let mut r = response("d1", "2026-01-02T00:00:00Z", 7);
        r.confirmed = false;
        store.record_responses(&[r]).unwrap();
        assert!(counting(&store).is_empty());
        assert!(store.confirm_response("nps", "d1").unwrap());
        assert!(!store.confirm_response("nps", "unknown").unwrap());
        assert_eq!(counting(&store), [("d1".into(), 7)]);
    }

    #[test]
    fn an_import_larger_than_a_chunk_replaces_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open_in(dir.path()).unwrap();
        let mut import = store.begin_import("d", "nps").unwrap().unwrap();
        let total = IMPORT_CHUNK + 3;
        for i in 0..total {
            import
                .add(encoded(&format!("k{i}"), "2026-01-02T00:00:00Z", 5))
                .unwrap();
        }
        // In the second chunk: k0 answered again, k1 repeated as it was.
        import
            .add(encoded("k0", "2026-01-05T00:00:00Z", 9))
            .unwrap();
        import
            .add(encoded("k1", "2026-01-02T00:00:00Z", 5))
            .unwrap();
        assert_eq!(
            import.commit().unwrap(),
            ImportOutcome::Imported { added: total + 1 }
        );
        let seen = counting(&store);
        assert_eq!(seen.len(), total);
        assert_eq!(seen.last().unwrap(), &("k0".to_string(), 9));
        assert!(!seen[..total - 1].iter().any(|(k, _)| k == "k0"));
    }

    /// A store as canvass wrote it with schema 1 or 2 (`extra` adds what that version
    /// had): a `responses` table with two rows from two origins, one without a rule.
    fn store_of_schema(dir: &std::path::Path, extra: &str) -> Sqlite {
        let path = dir.join(super::super::STATE_DB);
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE responses (id INTEGER PRIMARY KEY, survey TEXT NOT NULL, \
             version INTEGER NOT NULL, definition_hash TEXT NOT NULL, \
             response_key TEXT NOT NULL, channel TEXT NOT NULL, source TEXT NOT NULL, \
             rule TEXT, locale TEXT, submitted_at TEXT NOT NULL, confirmed INTEGER NOT NULL, \
             complete INTEGER NOT NULL, counts INTEGER NOT NULL, answers TEXT NOT NULL, \
             segments TEXT NOT NULL DEFAULT '{{}}');
             INSERT INTO responses VALUES (1, 'nps', 1, 'h', 'a', 'email', 'form', 'r', 'en',
                 '2026-01-02T00:00:00Z', 1, 1, 1, '{{\"recommend\":3}}', '{{}}');
             INSERT INTO responses VALUES (2, 'nps', 1, 'h', 'b', 'link', 'open', NULL, 'en',
                 '2026-01-02T00:00:01Z', 1, 1, 1, '{{\"recommend\":8}}', '{{\"shop\":\"x\"}}');
             {extra}"
        ))
        .unwrap();
        drop(conn);
        Sqlite::open(&path).unwrap()
    }

    /// What every migrated store must show: both rows, readable, replaceable, each key
    /// in the key table once, the shared values split out and no `responses` table left.
    fn assert_migrated(store: &Sqlite) {
        assert_eq!(counting(store), [("a".into(), 3), ("b".into(), 8)]);
        let (channel, rule, segments): (String, Option<String>, String) = store
            .conn
            .query_row(
                "SELECT channel, rule, segments FROM responses WHERE id = 2",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            (channel.as_str(), rule, segments.as_str()),
            ("link", None, r#"{"shop":"x"}"#)
        );
        store
            .record_responses(&[response("a", "2026-01-03T00:00:00Z", 10)])
            .unwrap();
        assert_eq!(
            counting(store),
            [("b".into(), 8), ("a".into(), 10)],
            "the old row is replaced"
        );
        let count = |sql: &str| -> i64 { store.conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT COUNT(*) FROM response_keys"), 3);
        assert_eq!(count("SELECT COUNT(*) FROM response_origins"), 2);
        assert_eq!(
            count(
                "SELECT COUNT(*) FROM sqlite_schema WHERE type IN ('table', 'index') AND tbl_name = 'responses'"
            ),
            0
        );
        assert_eq!(
            count("PRAGMA user_version"),
            super::super::sqlite::SCHEMA_VERSION
        );
    }

    #[test]
    fn a_store_of_schema_1_keeps_its_answers_and_their_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_of_schema(
            dir.path(),
            "CREATE INDEX responses_counting ON responses (survey, counts, confirmed, submitted_at);
             CREATE INDEX responses_key ON responses (survey, response_key);
             PRAGMA user_version = 1;",
        );
        assert_migrated(&store);
    }

    #[test]
    fn a_store_of_schema_2_keeps_its_answers_and_their_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            super::super::batch::key_hash("nps", "a"),
            super::super::batch::key_hash("nps", "b"),
        );
        let store = store_of_schema(
            dir.path(),
            &format!(
                "CREATE TABLE response_keys (key_hash INTEGER NOT NULL, response INTEGER NOT NULL, \
                 PRIMARY KEY (key_hash, response)) WITHOUT ROWID;
                 INSERT INTO response_keys VALUES ({a}, 1), ({b}, 2);
                 PRAGMA user_version = 2;"
            ),
        );
        assert_migrated(&store);
    }

    #[test]
    fn an_import_dropped_unfinished_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open_in(dir.path()).unwrap();
        let mut import = store.begin_import("d", "nps").unwrap().unwrap();
        import.add(encoded("k", "2026-01-02T00:00:00Z", 5)).unwrap();
        drop(import);
        assert!(counting(&store).is_empty());
        assert!(store.begin_import("d", "nps").unwrap().is_some());
    }

    #[test]
    fn delivered_counts_people_reached_per_rule() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open_in(dir.path()).unwrap();
        for (id, rule, recipient, seq, status) in [
            ("1", "r", "p1", 0, "sent"),
            ("2", "r", "p1", 1, "sent"),
            ("3", "r", "p2", 0, "failed"),
            ("4", "s", "p3", 0, "sent"),
        ] {
            store
                .conn
                .execute(
                    "INSERT INTO deliveries (id, survey, version, rule, channel, recipient, seq, \
                     locale, status, created_at, updated_at) \
                     VALUES (?1, 'nps', 1, ?2, 'email', ?3, ?4, 'en', ?5, 't', 't')",
                    params![id, rule, recipient, seq, status],
                )
                .unwrap();
        }
        let delivered = store.delivered_by_rule("nps").unwrap();
        assert_eq!(delivered[&(1, "r".to_string())], 1);
        assert_eq!(delivered[&(1, "s".to_string())], 1);
    }
}
