//! Answers on PostgreSQL: the collector's group commits, imports, and the reads of reports
//! and landing pages.
//!
//! A batch is planned exactly as on SQLite ([`Plan`]: which rows are written, which count,
//! which stored rows stop counting), from the rows counting for its keys read under the
//! keys' locks, then written with one statement per table (arrays unnested by the server).

use std::collections::{BTreeMap, HashMap};

use postgres::GenericClient;
use postgres::fallible_iterator::FallibleIterator as _;

use super::{Postgres, flag, lock_space};
use crate::model::Survey;
use crate::store::batch::{Counting, EncodedResponse, Plan, ResponseOrigin, raised_by};
use crate::store::collect::{CountedResponse, DeliveryContext, MAX_FETCHES_PER_LINK, Write};
use crate::store::outbox::{NewMessage, Raise, Written};
use crate::store::{
    IMPORT_CHUNK, ImportOutcome, OUTBOX_REPLY, ReadError, StoreError, StoredResponse,
    SuppressionReason, now_rfc3339,
};

/// How a batch holds its keys against other writers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Locking {
    /// A collector's batch: its surveys shared, its keys exclusive.
    Keys,
    /// An import, whose transaction holds its survey exclusively already.
    Survey,
}

impl Postgres {
    /// Commits a group of writes in one transaction (see [`crate::store::Store::commit_writes`]):
    /// the answers as one batch, in order, then the link fetches and unsubscribes.
    pub fn commit_writes(
        &self,
        writes: &[Write],
        raise: Option<&dyn Raise>,
    ) -> Result<(), StoreError> {
        let responses: Vec<EncodedResponse> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Response(r) => Some(EncodedResponse::from(&**r)),
                _ => None,
            })
            .collect();
        self.in_transaction(|tx| {
            write_responses(tx, &responses, raise, Locking::Keys)?;
            let now = now_rfc3339();
            for write in writes {
                match write {
                    Write::Response(_) => {}
                    Write::Fetch(fetch) => {
                        tx.execute(
                            "INSERT INTO link_fetches (delivery, fetched_at, question, value) \
                             SELECT $1, $2, $3, $4 \
                             WHERE (SELECT count(*) FROM link_fetches WHERE delivery = $1) < $5",
                            &[
                                &fetch.delivery,
                                &now,
                                &fetch.question,
                                &fetch.value,
                                &MAX_FETCHES_PER_LINK,
                            ],
                        )?;
                    }
                    Write::Suppress(recipient) => {
                        tx.execute(
                            "INSERT INTO suppressions (recipient, reason, created_at) \
                             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                            &[recipient, &SuppressionReason::Unsubscribed.name(), &now],
                        )?;
                    }
                }
            }
            Ok(())
        })
    }

    /// Remembers the definition of each survey version served, keeping the first seen.
    pub fn record_definitions<'a>(
        &self,
        surveys: impl IntoIterator<Item = &'a Survey>,
    ) -> Result<(), StoreError> {
        let now = now_rfc3339();
        self.with(|c| {
            for survey in surveys {
                let json = serde_json::to_string(survey).unwrap_or_default();
                c.execute(
                    "INSERT INTO survey_definitions \
                     (survey, version, definition_hash, definition, first_seen) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    &[
                        &survey.id,
                        &i64::from(survey.version),
                        &survey.definition_hash(),
                        &json,
                        &now,
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// Every recorded survey definition.
    pub fn definitions(&self) -> Result<Vec<Survey>, StoreError> {
        let rows = self.with(|c| c.query("SELECT definition FROM survey_definitions", &[]))?;
        Ok(rows
            .iter()
            .filter_map(|row| serde_json::from_str(row.get::<_, &str>(0)).ok())
            .collect())
    }

    /// The answers that count for a response key, if any.
    pub fn counted_response(
        &self,
        survey: &str,
        response_key: &str,
    ) -> Result<Option<CountedResponse>, StoreError> {
        let counting = self.with(|c| counting_for(c, survey, &[response_key]))?;
        Ok(counting.into_iter().last().map(|c| CountedResponse {
            answers: serde_json::from_str(&c.answers).unwrap_or_default(),
            confirmed: c.confirmed,
        }))
    }

    /// How many responses were ever stored for a response key, the replaced ones included.
    pub fn responses_stored(&self, survey: &str, response_key: &str) -> Result<u64, StoreError> {
        self.with(|c| {
            let row = c.query_one(
                "SELECT count(*) FROM response_rows r JOIN response_origins o ON o.id = r.origin \
                 WHERE r.response_key = $1 AND o.survey = $2",
                &[&response_key, &survey],
            )?;
            Ok(row.get::<_, i64>(0).unsigned_abs())
        })
    }

    /// The recipient key the ledger holds for a delivery.
    pub fn delivery_recipient(&self, delivery: &str) -> Result<Option<String>, StoreError> {
        self.text_where("SELECT recipient FROM deliveries WHERE id = $1", delivery)
    }

    /// The locale and segments the ledger recorded for a delivery.
    pub fn delivery_context(&self, delivery: &str) -> Result<Option<DeliveryContext>, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT locale, segments FROM deliveries WHERE id = $1",
                &[&delivery],
            )?
            .map(|row| DeliveryContext {
                locale: row.get(0),
                segments: row.get(1),
            }))
        })
    }

    /// Whether the database answers at all (for `/healthz`).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.with(|c| c.simple_query("SELECT 1").map(drop))
    }

    /// Starts recording an imported file in one transaction that holds its survey, so
    /// that the import's decisions and a collector's cannot cross; `None` when a file with
    /// this digest was imported before.
    pub fn begin_import(
        &self,
        digest: &str,
        survey: &str,
    ) -> Result<Option<PgImport<'_>>, StoreError> {
        let mut import = PgImport {
            store: self,
            digest: digest.to_string(),
            survey: survey.to_string(),
            rows: 0,
            added: 0,
            pending: Vec::with_capacity(IMPORT_CHUNK),
            raise: None,
            open: true,
        };
        let seen = self.with(|c| {
            c.batch_execute("BEGIN")?;
            c.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&lock_space::SURVEY, &survey],
            )?;
            Ok(
                c.query_opt("SELECT 1 FROM imports WHERE digest = $1", &[&digest])?
                    .is_some(),
            )
        })?;
        if seen {
            import.rollback();
            return Ok(None);
        }
        Ok(Some(import))
    }

    /// Calls `each` with every counting, confirmed response of a survey in the order they
    /// were written, streamed from the server (memory does not grow with the answers).
    pub fn for_each_counting_response<E>(
        &self,
        survey: &str,
        mut each: impl FnMut(StoredResponse) -> Result<(), E>,
    ) -> Result<(), ReadError<E>> {
        let mut client = self.client.borrow_mut();
        let mut rows = client
            .query_raw(
                "SELECT o.version, r.response_key, o.channel, o.rule, r.locale, r.submitted_at, \
                 r.complete, r.answers, r.segments FROM response_rows r \
                 JOIN response_origins o ON o.id = r.origin \
                 WHERE o.survey = $1 AND r.counts = 1 AND r.confirmed = 1 ORDER BY r.id",
                [survey],
            )
            .map_err(|e| self.error(e))?;
        while let Some(row) = rows.next().map_err(|e| self.error(e))? {
            let response = stored_response(&row).map_err(|e| self.error(e))?;
            each(response).map_err(ReadError::Callback)?;
        }
        Ok(())
    }

    /// Distinct recipients with a message delivered per (survey version, rule): the
    /// denominator of the response rate (see the SQLite store).
    pub fn delivered_by_rule(
        &self,
        survey: &str,
    ) -> Result<BTreeMap<(u32, String), u64>, StoreError> {
        let outbox = format!("{OUTBOX_REPLY}%");
        let rows = self.with(|c| {
            c.query(
                "SELECT version, rule, count(DISTINCT recipient) FROM deliveries \
                 WHERE survey = $1 AND status = 'sent' AND coalesce(reply, '') NOT LIKE $2 \
                 GROUP BY version, rule",
                &[&survey, &outbox],
            )
        })?;
        Ok(rows
            .iter()
            .map(|row| {
                let version = u32::try_from(row.get::<_, i64>(0)).unwrap_or_default();
                ((version, row.get(1)), row.get::<_, i64>(2).unsigned_abs())
            })
            .collect())
    }

    /// Whether any of these deliveries has a counting response.
    pub fn answered(&self, survey: &str, deliveries: &[&str]) -> Result<bool, StoreError> {
        Ok(!self
            .with(|c| counting_for(c, survey, deliveries))?
            .is_empty())
    }
}

/// An import on PostgreSQL: one transaction (begun by [`Postgres::begin_import`]) that
/// holds its survey; rolled back when dropped uncommitted.
pub struct PgImport<'s> {
    store: &'s Postgres,
    digest: String,
    survey: String,
    rows: u64,
    added: usize,
    pending: Vec<EncodedResponse>,
    raise: Option<&'s dyn Raise>,
    open: bool,
}

impl<'s> PgImport<'s> {
    /// The import raising alerts and events on its rows.
    pub fn raising(mut self, raise: &'s dyn Raise) -> PgImport<'s> {
        self.raise = Some(raise);
        self
    }

    /// Records one imported response, written a chunk at a time.
    pub fn add(&mut self, response: EncodedResponse) -> Result<(), StoreError> {
        self.rows += 1;
        self.pending.push(response);
        if self.pending.len() >= IMPORT_CHUNK {
            self.write_pending()?;
        }
        Ok(())
    }

    fn write_pending(&mut self) -> Result<(), StoreError> {
        let (pending, raise) = (&self.pending, self.raise);
        self.added += self
            .store
            .with(|c| write_responses(c, pending, raise, Locking::Survey))?;
        self.pending.clear();
        Ok(())
    }

    /// Notes the file in the imports ledger and commits everything.
    pub fn commit(mut self) -> Result<ImportOutcome, StoreError> {
        self.write_pending()?;
        let rows = i64::try_from(self.rows).unwrap_or(i64::MAX);
        self.store.with(|c| {
            c.execute(
                "INSERT INTO imports (digest, survey, rows, imported_at) VALUES ($1, $2, $3, $4)",
                &[&self.digest, &self.survey, &rows, &now_rfc3339()],
            )?;
            c.batch_execute("COMMIT")
        })?;
        self.open = false;
        Ok(ImportOutcome::Imported { added: self.added })
    }

    fn rollback(&mut self) {
        if std::mem::take(&mut self.open) {
            // A failed rollback leaves the connection's transaction aborted; the server
            // discards it when the connection closes, so nothing is kept either way.
            let _ = self.store.with(|c| c.batch_execute("ROLLBACK"));
        }
    }
}

impl Drop for PgImport<'_> {
    fn drop(&mut self) {
        self.rollback();
    }
}

/// Stores a batch in order inside the caller's transaction (the SQLite store's rules:
/// see [`Plan`]), with the outbox messages `raise` adds. Returns the rows stored.
fn write_responses(
    c: &mut impl GenericClient,
    responses: &[EncodedResponse],
    raise: Option<&dyn Raise>,
    locking: Locking,
) -> Result<usize, postgres::Error> {
    if responses.is_empty() {
        return Ok(0);
    }
    if locking == Locking::Keys {
        lock_keys(c, responses)?;
    }
    let (group, counting) = counting_for_batch(c, responses)?;
    let mut plan = Plan::new(responses, &group, counting, 0);
    let ids = next_ids(c, plan.rows.len())?;
    for (row, id) in plan.rows.iter_mut().zip(ids) {
        row.id = id;
    }
    if !plan.superseded.is_empty() {
        c.execute(
            "UPDATE response_rows SET counts = 0 WHERE id = ANY($1)",
            &[&plan.superseded],
        )?;
    }
    insert_rows(c, &plan, responses)?;
    if let Some(raise) = raise {
        let mut messages = Vec::new();
        raised_by(&plan, responses, raise, |written, raised| {
            messages.extend(raised.iter().map(|m| (written_row(written), m.clone())));
            Ok::<_, postgres::Error>(())
        })?;
        super::outbox::add_messages(c, &messages)?;
    }
    Ok(plan.rows.len())
}

/// What the outbox keeps of a written response: its row and survey.
fn written_row(written: &Written<'_>) -> (i64, String) {
    (written.row, written.survey.to_string())
}

/// Takes the batch's surveys shared and its keys exclusive, each in sorted order, so that
/// two collectors never wait on each other in a circle.
fn lock_keys(
    c: &mut impl GenericClient,
    responses: &[EncodedResponse],
) -> Result<(), postgres::Error> {
    let mut surveys: Vec<&str> = responses.iter().map(|r| r.origin.survey.as_str()).collect();
    surveys.sort_unstable();
    surveys.dedup();
    let mut hashes: Vec<i64> = responses.iter().map(|r| r.key_hash).collect();
    hashes.sort_unstable();
    hashes.dedup();
    c.execute(
        "SELECT pg_advisory_xact_lock_shared($1, hashtext(s)) FROM unnest($2::text[]) AS s",
        &[&lock_space::SURVEY, &surveys],
    )?;
    c.execute(
        "SELECT pg_advisory_xact_lock(h) FROM unnest($1::bigint[]) AS h ORDER BY h",
        &[&hashes],
    )?;
    Ok(())
}

/// For each response the number of its (survey, key), and for each key its counting rows.
fn counting_for_batch(
    c: &mut impl GenericClient,
    responses: &[EncodedResponse],
) -> Result<(Vec<usize>, Vec<Vec<Counting>>), postgres::Error> {
    let mut numbers: HashMap<(&str, &str), usize> = HashMap::new();
    let group: Vec<usize> = responses
        .iter()
        .map(|r| {
            let next = numbers.len();
            *numbers
                .entry((r.origin.survey.as_str(), r.response_key.as_str()))
                .or_insert(next)
        })
        .collect();
    let mut hashes: Vec<i64> = responses.iter().map(|r| r.key_hash).collect();
    hashes.sort_unstable();
    hashes.dedup();
    let rows = c.query(
        "SELECT r.id, o.version, r.submitted_at, r.answers, r.segments, r.confirmed, \
         o.survey, r.response_key FROM response_rows r JOIN response_origins o ON o.id = r.origin \
         WHERE r.key_hash = ANY($1) AND r.counts = 1 ORDER BY r.id",
        &[&hashes],
    )?;
    let mut counting: Vec<Vec<Counting>> = (0..numbers.len()).map(|_| Vec::new()).collect();
    for row in &rows {
        let key = (row.get::<_, &str>(6), row.get::<_, &str>(7));
        if let Some(&number) = numbers.get(&key) {
            counting[number].push(counting_row(row));
        }
    }
    Ok((group, counting))
}

/// The counting rows of some keys of one survey.
fn counting_for(
    c: &mut impl GenericClient,
    survey: &str,
    keys: &[&str],
) -> Result<Vec<Counting>, postgres::Error> {
    let hashes: Vec<i64> = keys
        .iter()
        .map(|k| crate::store::batch::key_hash(survey, k))
        .collect();
    let rows = c.query(
        "SELECT r.id, o.version, r.submitted_at, r.answers, r.segments, r.confirmed \
         FROM response_rows r JOIN response_origins o ON o.id = r.origin \
         WHERE r.key_hash = ANY($1) AND r.counts = 1 AND o.survey = $2 \
         AND r.response_key = ANY($3) ORDER BY r.id",
        &[&hashes, &survey, &keys],
    )?;
    Ok(rows.iter().map(counting_row).collect())
}

fn counting_row(row: &postgres::Row) -> Counting {
    Counting {
        id: row.get(0),
        version: u32::try_from(row.get::<_, i64>(1)).unwrap_or_default(),
        submitted_at: row.get(2),
        answers: row.get(3),
        segments: row.get(4),
        confirmed: row.get::<_, i64>(5) != 0,
    }
}

/// `count` fresh row ids from the sequence.
fn next_ids(c: &mut impl GenericClient, count: usize) -> Result<Vec<i64>, postgres::Error> {
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    Ok(c.query(
        "SELECT nextval('response_rows_id') FROM generate_series(1, $1::bigint)",
        &[&count],
    )?
    .iter()
    .map(|row| row.get(0))
    .collect())
}

/// Writes the planned rows with one statement, their origins found or added first.
fn insert_rows(
    c: &mut impl GenericClient,
    plan: &Plan,
    responses: &[EncodedResponse],
) -> Result<(), postgres::Error> {
    let mut origins: Vec<(&ResponseOrigin, i64)> = Vec::new();
    let mut columns = RowColumns::default();
    for row in &plan.rows {
        let r = &responses[row.index];
        let origin = match origins.iter().find(|(o, _)| same_place(o, &r.origin)) {
            Some(&(_, id)) => id,
            None => {
                let id = origin_id(c, &r.origin)?;
                origins.push((&r.origin, id));
                id
            }
        };
        columns.push(row.id, origin, row.counts, r);
    }
    c.execute(
        "INSERT INTO response_rows (id, origin, key_hash, response_key, confirmed, locale, \
         submitted_at, complete, counts, answers, segments) \
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], \
         $5::bigint[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::text[], \
         $11::text[])",
        &[
            &columns.id,
            &columns.origin,
            &columns.key_hash,
            &columns.response_key,
            &columns.confirmed,
            &columns.locale,
            &columns.submitted_at,
            &columns.complete,
            &columns.counts,
            &columns.answers,
            &columns.segments,
        ],
    )?;
    Ok(())
}

/// The planned rows, column by column, as the server unnests them.
#[derive(Default)]
struct RowColumns<'r> {
    id: Vec<i64>,
    origin: Vec<i64>,
    key_hash: Vec<i64>,
    response_key: Vec<&'r str>,
    confirmed: Vec<i64>,
    locale: Vec<Option<&'r str>>,
    submitted_at: Vec<&'r str>,
    complete: Vec<i64>,
    counts: Vec<i64>,
    answers: Vec<&'r str>,
    segments: Vec<&'r str>,
}

impl<'r> RowColumns<'r> {
    fn push(&mut self, id: i64, origin: i64, counts: bool, r: &'r EncodedResponse) {
        self.id.push(id);
        self.origin.push(origin);
        self.key_hash.push(r.key_hash);
        self.response_key.push(&r.response_key);
        self.confirmed.push(flag(r.origin.confirmed));
        self.locale.push(r.locale.as_deref());
        self.submitted_at.push(&r.submitted_at);
        self.complete.push(flag(r.complete));
        self.counts.push(flag(counts));
        self.answers.push(&r.answers);
        self.segments.push(&r.segments);
    }
}

/// Whether two origins are one row of `response_origins` (`confirmed` is the row's own).
fn same_place(a: &ResponseOrigin, b: &ResponseOrigin) -> bool {
    a.survey == b.survey
        && a.version == b.version
        && a.definition_hash == b.definition_hash
        && a.channel == b.channel
        && a.source == b.source
        && a.rule == b.rule
}

/// The id of an origin, which gets one the first time any collector sees it.
fn origin_id(c: &mut impl GenericClient, o: &ResponseOrigin) -> Result<i64, postgres::Error> {
    let version = i64::from(o.version);
    let values: [&(dyn postgres::types::ToSql + Sync); 6] = [
        &o.survey,
        &version,
        &o.definition_hash,
        &o.channel,
        &o.source,
        &o.rule,
    ];
    if let Some(row) = c.query_opt(
        "INSERT INTO response_origins (survey, version, definition_hash, channel, source, rule) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
        &values,
    )? {
        return Ok(row.get(0));
    }
    Ok(c.query_one(
        "SELECT id FROM response_origins WHERE survey = $1 AND version = $2 \
         AND definition_hash = $3 AND channel = $4 AND source = $5 \
         AND rule IS NOT DISTINCT FROM $6",
        &values,
    )?
    .get(0))
}

fn stored_response(row: &postgres::Row) -> Result<StoredResponse, postgres::Error> {
    Ok(StoredResponse {
        version: u32::try_from(row.try_get::<_, i64>(0)?).unwrap_or_default(),
        response_key: row.try_get(1)?,
        channel: row.try_get(2)?,
        rule: row.try_get(3)?,
        locale: row.try_get(4)?,
        submitted_at: row.try_get(5)?,
        complete: row.try_get::<_, i64>(6)? != 0,
        answers: json_column(row, 7)?,
        segments: json_column(row, 8)?,
    })
}

/// A column of JSON text, parsed.
fn json_column<T: serde::de::DeserializeOwned + Default>(
    row: &postgres::Row,
    index: usize,
) -> Result<T, postgres::Error> {
    let text: &str = row.try_get(index)?;
    Ok(serde_json::from_str(text).unwrap_or_default())
}

/// The messages a batch raised, each with its response's row and survey.
pub(super) type Raised = Vec<((i64, String), NewMessage)>;
