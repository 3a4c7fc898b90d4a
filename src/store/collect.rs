//! What `canvass serve` needs from the store: batched writes (answers, link fetches,
//! suppressions) committed in one transaction, the survey definitions answers were given
//! on, and the reads behind a landing page.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};

use super::sqlite::Sqlite;
use super::{NewResponse, Raise, StoreError, SuppressionReason, now_rfc3339};
use crate::model::Survey;

/// Survey definitions by version, so that an answer to an older version can be validated
/// against the questions it was asked with after the survey file has moved on.
const DEFINITIONS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS survey_definitions (
    survey          TEXT NOT NULL,
    version         INTEGER NOT NULL,
    definition_hash TEXT NOT NULL,
    definition      TEXT NOT NULL,         -- JSON of the typed survey
    first_seen      TEXT NOT NULL,
    PRIMARY KEY (survey, version)
);
";

/// The fetches recorded per link: enough to tell a scanner from a person (who fetches a
/// link a few times), while a flood on one link cannot fill the disk.
pub const MAX_FETCHES_PER_LINK: i64 = 20;

/// A fetch of a response link, for spotting scanners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkFetch {
    /// The delivery the link belongs to.
    pub delivery: String,
    /// The question of a one-click link.
    pub question: Option<String>,
    /// The value of a one-click link.
    pub value: Option<String>,
}

/// One write of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// A response, replacing the one that counted for its key.
    Response(Box<NewResponse>),
    /// A fetch of a one-click or unsubscribe link.
    Fetch(LinkFetch),
    /// An unsubscribe, by recipient key.
    Suppress(String),
}

/// The answers that count for a response key.
#[derive(Debug, Clone, PartialEq)]
pub struct CountedResponse {
    /// Question id → value.
    pub answers: BTreeMap<String, serde_json::Value>,
    /// Whether a person confirmed them.
    pub confirmed: bool,
}

/// What the ledger knows about a delivery that the response should carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryContext {
    /// The recipient's locale.
    pub locale: String,
    /// The segment columns, as JSON text.
    pub segments: String,
}

impl Sqlite {
    /// Commits a batch of writes in one transaction: one disk flush for many answers,
    /// with the alerts and events `raise` decides on for them. Either every write is
    /// durable when this returns `Ok`, or none is.
    pub fn commit_writes(
        &self,
        writes: &[Write],
        raise: Option<&dyn Raise>,
    ) -> Result<(), StoreError> {
        // Immediate: the outbox's deliverer writes to the store too, and a deferred
        // transaction that read before another connection committed could not write.
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(|e| self.error(e))?;
        let now = now_rfc3339();
        let result = writes.iter().try_for_each(|write| match write {
            Write::Response(response) => self.insert_response(response, raise).map(drop),
            Write::Fetch(fetch) => self
                .conn
                .prepare_cached(
                    "INSERT INTO link_fetches (delivery, fetched_at, question, value) \
                     SELECT ?1, ?2, ?3, ?4 \
                     WHERE (SELECT count(*) FROM link_fetches WHERE delivery = ?1) < ?5",
                )?
                .execute(params![
                    fetch.delivery,
                    now,
                    fetch.question,
                    fetch.value,
                    MAX_FETCHES_PER_LINK
                ])
                .map(drop),
            Write::Suppress(recipient) => self
                .conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO suppressions (recipient, reason, created_at) \
                     VALUES (?1, ?2, ?3)",
                )?
                .execute(params![
                    recipient,
                    SuppressionReason::Unsubscribed.name(),
                    now
                ])
                .map(drop),
        });
        result.and_then(|()| tx.commit()).map_err(|e| self.error(e))
    }

    /// Remembers the definition of each survey version served, keeping the first seen.
    pub fn record_definitions<'a>(
        &self,
        surveys: impl IntoIterator<Item = &'a Survey>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute_batch(DEFINITIONS_SCHEMA)
            .map_err(|e| self.error(e))?;
        let now = now_rfc3339();
        for survey in surveys {
            let json = serde_json::to_string(survey).unwrap_or_default();
            self.conn
                .execute(
                    "INSERT OR IGNORE INTO survey_definitions \
                     (survey, version, definition_hash, definition, first_seen) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        survey.id,
                        survey.version,
                        survey.definition_hash(),
                        json,
                        now
                    ],
                )
                .map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    /// Every recorded survey definition (the typed survey parses back from its JSON).
    pub fn definitions(&self) -> Result<Vec<Survey>, StoreError> {
        self.conn
            .execute_batch(DEFINITIONS_SCHEMA)
            .map_err(|e| self.error(e))?;
        let mut stmt = self
            .conn
            .prepare("SELECT definition FROM survey_definitions")
            .map_err(|e| self.error(e))?;
        let rows = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| self.error(e))?;
        Ok(rows
            .iter()
            .filter_map(|json| serde_json::from_str(json).ok())
            .collect())
    }

    /// The answers that count for a response key, if any.
    pub fn counted_response(
        &self,
        survey: &str,
        response_key: &str,
    ) -> Result<Option<CountedResponse>, StoreError> {
        let counting = self
            .counting_for_key(survey, response_key)
            .map_err(|e| self.error(e))?;
        Ok(counting.into_iter().last().map(|c| CountedResponse {
            answers: serde_json::from_str(&c.answers).unwrap_or_default(),
            confirmed: c.confirmed,
        }))
    }

    /// How many responses were ever stored for a response key, the replaced ones included.
    pub fn responses_stored(&self, survey: &str, response_key: &str) -> Result<u64, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT count(*) FROM response_keys k \
                 JOIN response_rows r ON r.id = k.response \
                 JOIN response_origins o ON o.id = r.origin \
                 WHERE k.key_hash = ?1 AND r.response_key = ?2 AND o.survey = ?3",
            )
            .and_then(|mut statement| {
                statement.query_row(
                    params![
                        super::batch::key_hash(survey, response_key),
                        response_key,
                        survey
                    ],
                    |row| row.get::<_, i64>(0),
                )
            })
            .map(i64::unsigned_abs)
            .map_err(|e| self.error(e))
    }

    /// The recipient key the ledger holds for a delivery.
    pub fn delivery_recipient(&self, delivery: &str) -> Result<Option<String>, StoreError> {
        self.text_where("SELECT recipient FROM deliveries WHERE id = ?1", delivery)
    }

    /// The locale and segments the ledger recorded for a delivery.
    pub fn delivery_context(&self, delivery: &str) -> Result<Option<DeliveryContext>, StoreError> {
        self.conn
            .prepare_cached("SELECT locale, segments FROM deliveries WHERE id = ?1")
            .and_then(|mut statement| {
                statement.query_row([delivery], |row| {
                    Ok(DeliveryContext {
                        locale: row.get(0)?,
                        segments: row.get(1)?,
                    })
                })
            })
            .optional()
            .map_err(|e| self.error(e))
    }

    /// Whether the store answers at all (for `/healthz`).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.conn
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(key: &str, confirmed: bool, score: i64) -> Write {
        Write::Response(Box::new(NewResponse {
            survey: "nps".into(),
            version: 1,
            definition_hash: "h".into(),
            response_key: key.into(),
            channel: "email".into(),
            source: "oneclick".into(),
            rule: None,
            locale: None,
            submitted_at: now_rfc3339(),
            confirmed,
            complete: true,
            answers: [(
                "score".to_string(),
                crate::model::AnswerValue::Number(score),
            )]
            .into(),
            segments: Default::default(),
        }))
    }

    #[test]
    fn a_provisional_answer_never_displaces_a_confirmed_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open_in(dir.path()).unwrap();
        store
            .commit_writes(&[response("d1", false, 1)], None)
            .unwrap();
        store
            .commit_writes(&[response("d1", true, 9)], None)
            .unwrap();
        store
            .commit_writes(&[response("d1", false, 0)], None)
            .unwrap();
        let counted = store.counted_response("nps", "d1").unwrap().unwrap();
        assert_eq!(counted.answers["score"], 9);
        assert!(counted.confirmed);
        store
            .commit_writes(&[response("d1", true, 7)], None)
            .unwrap();
        let counted = store.counted_response("nps", "d1").unwrap().unwrap();
        assert_eq!(counted.answers["score"], 7);
    }

    #[test]
    fn definitions_keep_the_first_seen_per_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open_in(dir.path()).unwrap();
        let survey: Survey = serde_json::from_value(serde_json::json!({
            "id": "s", "version": 1, "locales": ["en"], "title": "t",
            "questions": [{"id": "q", "type": "text", "text": "x"}]
        }))
        .unwrap();
        let mut changed = survey.clone();
        changed.title = crate::model::Text::Plain("changed".into());
        store.record_definitions([&survey]).unwrap();
        store.record_definitions([&changed]).unwrap();
        assert_eq!(store.definitions().unwrap(), vec![survey]);
    }
}
