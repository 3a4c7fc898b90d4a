//! Writing responses a batch at a time, the one path every answer takes into the store (a
//! served answer is a batch of one, an import a chunk of many).
//!
//! A batch is first planned in memory (which rows are written, which of them count, which
//! stored rows stop counting) and then written with multi-row statements: SQLite's cost
//! per statement is paid once per [`ROWS_PER_INSERT`] rows instead of once per row.

use rusqlite::{CachedStatement, Connection, OptionalExtension, params};

use super::Store;
use super::answers::NewResponse;

/// A response as the store writes it: its answers and segments already JSON and its key
/// already hashed. An import encodes its rows on the thread that reads the file, so the
/// thread that writes the store does only the store's work.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedResponse {
    survey: String,
    version: u32,
    definition_hash: String,
    response_key: String,
    channel: String,
    source: String,
    rule: Option<String>,
    locale: Option<String>,
    submitted_at: String,
    confirmed: bool,
    complete: bool,
    answers: String,
    segments: String,
    key_hash: i64,
}

impl From<NewResponse> for EncodedResponse {
    fn from(r: NewResponse) -> EncodedResponse {
        EncodedResponse {
            answers: serde_json::to_string(&r.answers).expect("answers serialize"),
            segments: serde_json::to_string(&r.segments).expect("segments serialize"),
            key_hash: key_hash(&r.survey, &r.response_key),
            survey: r.survey,
            version: r.version,
            definition_hash: r.definition_hash,
            response_key: r.response_key,
            channel: r.channel,
            source: r.source,
            rule: r.rule,
            locale: r.locale,
            submitted_at: r.submitted_at,
            confirmed: r.confirmed,
            complete: r.complete,
        }
    }
}

/// The key table's key of a response key: the first 8 bytes of SHA-256 over the survey
/// and the key (stable across versions and machines, unlike a hasher's seed). Two keys
/// with one hash are told apart by the rows' own columns.
pub(super) fn key_hash(survey: &str, response_key: &str) -> i64 {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update(survey.as_bytes());
    hasher.update([0]);
    hasher.update(response_key.as_bytes());
    let digest = hasher.finalize();
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// The stored response counting for a key, as compared with a new one.
pub(super) struct Counting {
    pub(super) id: i64,
    version: u32,
    submitted_at: String,
    pub(super) answers: String,
    segments: String,
    pub(super) confirmed: bool,
}

/// Rows one multi-row INSERT carries.
const ROWS_PER_INSERT: usize = 64;

const RESPONSE_COLUMNS: &str = "INSERT INTO responses (id, survey, version, definition_hash, \
     response_key, channel, source, rule, locale, submitted_at, confirmed, complete, counts, \
     answers, segments)";
const RESPONSE_WIDTH: usize = 15;
const KEY_COLUMNS: &str = "INSERT INTO response_keys (key_hash, response)";
const RESPONSES_WITH_HASH: &str = "SELECT response FROM response_keys WHERE key_hash = ?1";
const COUNTING_BY_ID: &str = "SELECT id, version, submitted_at, answers, segments, confirmed \
     FROM responses WHERE id = ?1 AND survey = ?2 AND response_key = ?3 AND counts = 1";

impl Store {
    /// Stores responses in order, each unless the one counting for its key is identical,
    /// or is confirmed while the new one is provisional (a link scanner's GET never
    /// displaces an answer a person confirmed); a stored response becomes the one that
    /// counts. Returns how many were stored.
    pub(super) fn write_responses(&self, responses: &[EncodedResponse]) -> rusqlite::Result<usize> {
        let (group, counting) = self.counting_for_keys(responses)?;
        let plan = Plan::new(responses, &group, counting, self.next_response_id()?);
        let mut supersede = self
            .conn
            .prepare_cached("UPDATE responses SET counts = 0 WHERE id = ?1")?;
        for id in &plan.superseded {
            supersede.execute([id])?;
        }
        insert_many(
            &self.conn,
            RESPONSE_COLUMNS,
            RESPONSE_WIDTH,
            &plan.rows,
            |s, at, row| bind_response(s, at, row, &responses[row.index]),
        )?;
        let mut keys: Vec<(i64, i64)> = plan
            .rows
            .iter()
            .map(|row| (responses[row.index].key_hash, row.id))
            .collect();
        keys.sort_unstable();
        self.index_keys(&keys)?;
        Ok(plan.rows.len())
    }

    /// The id the next response gets: ids are given here rather than by SQLite so that a
    /// batch knows them before its rows are written (the write transaction holds the
    /// table, so nothing else takes them).
    fn next_response_id(&self) -> rusqlite::Result<i64> {
        self.conn
            .query_row("SELECT coalesce(max(id), 0) + 1 FROM responses", [], |r| {
                r.get(0)
            })
    }

    /// The rows counting for each (survey, key) of `responses`, looked up in hash order:
    /// for each response the number of its key, and for each key its counting rows.
    /// Sorting brings a key's responses together, so no map of keys is needed.
    fn counting_for_keys(
        &self,
        responses: &[EncodedResponse],
    ) -> rusqlite::Result<(Vec<usize>, Vec<Vec<Counting>>)> {
        let key = |i: usize| {
            let r = &responses[i];
            (r.key_hash, r.survey.as_str(), r.response_key.as_str())
        };
        let mut order: Vec<usize> = (0..responses.len()).collect();
        order.sort_unstable_by(|&a, &b| key(a).cmp(&key(b)));
        let mut lookup = CountingLookup::new(&self.conn)?;
        let mut group = vec![0; responses.len()];
        let mut counting = Vec::new();
        let mut previous = None;
        for i in order {
            if previous != Some(key(i)) {
                let (hash, survey, response_key) = key(i);
                counting.push(lookup.find(hash, survey, response_key)?);
                previous = Some(key(i));
            }
            group[i] = counting.len() - 1;
        }
        Ok((group, counting))
    }

    /// The rows counting for a key: none or one, unless something outside canvass wrote
    /// to the store.
    pub(super) fn counting_for_key(
        &self,
        survey: &str,
        key: &str,
    ) -> rusqlite::Result<Vec<Counting>> {
        CountingLookup::new(&self.conn)?.find(key_hash(survey, key), survey, key)
    }

    /// Fills `response_keys` from the rows of a store that indexed them otherwise, in key
    /// order (once per store, so holding the keys in memory is fine).
    pub(super) fn index_existing_keys(&self) -> rusqlite::Result<()> {
        let mut rows = self
            .conn
            .prepare("SELECT id, survey, response_key FROM responses")?;
        let mut keys = rows
            .query_map([], |row| {
                let survey: String = row.get(1)?;
                let key: String = row.get(2)?;
                Ok((key_hash(&survey, &key), row.get::<_, i64>(0)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        keys.sort_unstable();
        self.index_keys(&keys)
    }

    /// Adds (key hash, response id) entries, sorted, to `response_keys`, so that each
    /// lands next to the one before it.
    fn index_keys(&self, sorted: &[(i64, i64)]) -> rusqlite::Result<()> {
        insert_many(&self.conn, KEY_COLUMNS, 2, sorted, |s, at, &(hash, id)| {
            s.raw_bind_parameter(at + 1, hash)?;
            s.raw_bind_parameter(at + 2, id)
        })
    }
}

/// A row of the batch to write.
struct PlannedRow {
    /// Its response in the batch.
    index: usize,
    id: i64,
    /// False when a later response of the same batch replaces it.
    counts: bool,
}

/// What holds a key's place while a batch is planned: a stored row, or a row of the batch.
enum Holder {
    Stored(Counting),
    Planned { row: usize },
}

/// A batch's writes, decided before any is made.
struct Plan {
    rows: Vec<PlannedRow>,
    /// Stored rows that stop counting.
    superseded: Vec<i64>,
}

impl Plan {
    /// Decides, response by response, whether it is written: `group` gives each response
    /// its key's number, `counting` each key's stored counting rows, `first_id` the id of
    /// the first row written.
    fn new(
        responses: &[EncodedResponse],
        group: &[usize],
        counting: Vec<Vec<Counting>>,
        first_id: i64,
    ) -> Plan {
        let mut holders: Vec<Vec<Holder>> = counting
            .into_iter()
            .map(|stored| stored.into_iter().map(Holder::Stored).collect())
            .collect();
        let mut plan = Plan {
            rows: Vec::with_capacity(responses.len()),
            superseded: Vec::new(),
        };
        for (index, (r, &key)) in responses.iter().zip(group).enumerate() {
            let holders = &mut holders[key];
            if holders
                .iter()
                .any(|h| plan.keeps_its_place(h, responses, r))
            {
                continue;
            }
            for holder in holders.drain(..) {
                match holder {
                    Holder::Stored(c) => plan.superseded.push(c.id),
                    Holder::Planned { row } => plan.rows[row].counts = false,
                }
            }
            holders.push(Holder::Planned {
                row: plan.rows.len(),
            });
            plan.rows.push(PlannedRow {
                index,
                id: first_id + plan.rows.len() as i64,
                counts: true,
            });
        }
        plan
    }

    /// Whether the row holding a key stays counting when `r` arrives: it is confirmed
    /// and `r` is not, or `r` repeats it.
    fn keeps_its_place(
        &self,
        holder: &Holder,
        responses: &[EncodedResponse],
        r: &EncodedResponse,
    ) -> bool {
        let (version, submitted_at, answers, segments, confirmed) = match holder {
            Holder::Stored(c) => (
                c.version,
                c.submitted_at.as_str(),
                c.answers.as_str(),
                c.segments.as_str(),
                c.confirmed,
            ),
            Holder::Planned { row } => {
                let p = &responses[self.rows[*row].index];
                let at = p.submitted_at.as_str();
                (
                    p.version,
                    at,
                    p.answers.as_str(),
                    p.segments.as_str(),
                    p.confirmed,
                )
            }
        };
        (confirmed && !r.confirmed)
            || (version == r.version
                && submitted_at == r.submitted_at
                && answers == r.answers
                && segments == r.segments
                && confirmed >= r.confirmed)
    }
}

fn bind_response(
    s: &mut CachedStatement<'_>,
    at: usize,
    row: &PlannedRow,
    r: &EncodedResponse,
) -> rusqlite::Result<()> {
    s.raw_bind_parameter(at + 1, row.id)?;
    s.raw_bind_parameter(at + 2, &r.survey)?;
    s.raw_bind_parameter(at + 3, r.version)?;
    s.raw_bind_parameter(at + 4, &r.definition_hash)?;
    s.raw_bind_parameter(at + 5, &r.response_key)?;
    s.raw_bind_parameter(at + 6, &r.channel)?;
    s.raw_bind_parameter(at + 7, &r.source)?;
    s.raw_bind_parameter(at + 8, &r.rule)?;
    s.raw_bind_parameter(at + 9, &r.locale)?;
    s.raw_bind_parameter(at + 10, &r.submitted_at)?;
    s.raw_bind_parameter(at + 11, r.confirmed)?;
    s.raw_bind_parameter(at + 12, r.complete)?;
    s.raw_bind_parameter(at + 13, row.counts)?;
    s.raw_bind_parameter(at + 14, &r.answers)?;
    s.raw_bind_parameter(at + 15, &r.segments)
}

/// Inserts `items` with `head` (`INSERT INTO table (columns)`) and `width` values each:
/// [`ROWS_PER_INSERT`] rows a statement, then the rest one by one, so that only two
/// statements per table are ever prepared. `bind` binds an item's values after the
/// `at`-th parameter.
fn insert_many<T>(
    conn: &Connection,
    head: &str,
    width: usize,
    items: &[T],
    bind: impl Fn(&mut CachedStatement<'_>, usize, &T) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let statement = |rows: usize| {
        let tuple = format!("({})", vec!["?"; width].join(", "));
        format!("{head} VALUES {}", vec![tuple; rows].join(", "))
    };
    let mut full = items.chunks_exact(ROWS_PER_INSERT);
    if full.len() > 0 {
        let mut many = conn.prepare_cached(&statement(ROWS_PER_INSERT))?;
        for chunk in &mut full {
            for (i, item) in chunk.iter().enumerate() {
                bind(&mut many, i * width, item)?;
            }
            many.raw_execute()?;
        }
    }
    let rest = full.remainder();
    if !rest.is_empty() {
        let mut one = conn.prepare_cached(&statement(1))?;
        for item in rest {
            bind(&mut one, 0, item)?;
            one.raw_execute()?;
        }
    }
    Ok(())
}

/// Finds the rows counting for a key: the key table's entries for its hash, then each row
/// by id (two statements of one seek each, prepared once for a batch; a join would be
/// planned again at every binding).
struct CountingLookup<'c> {
    ids: CachedStatement<'c>,
    row: CachedStatement<'c>,
}

impl<'c> CountingLookup<'c> {
    fn new(conn: &'c Connection) -> rusqlite::Result<CountingLookup<'c>> {
        Ok(CountingLookup {
            ids: conn.prepare_cached(RESPONSES_WITH_HASH)?,
            row: conn.prepare_cached(COUNTING_BY_ID)?,
        })
    }

    fn find(&mut self, hash: i64, survey: &str, key: &str) -> rusqlite::Result<Vec<Counting>> {
        let ids = self
            .ids
            .query_map([hash], |row| row.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut counting = Vec::new();
        for id in ids {
            let row = self
                .row
                .query_row(params![id, survey, key], |row| {
                    Ok(Counting {
                        id: row.get(0)?,
                        version: row.get(1)?,
                        submitted_at: row.get(2)?,
                        answers: row.get(3)?,
                        segments: row.get(4)?,
                        confirmed: row.get(5)?,
                    })
                })
                .optional()?;
            counting.extend(row);
        }
        Ok(counting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AnswerValue;

    fn response(key: &str, score: i64, confirmed: bool) -> NewResponse {
        NewResponse {
            survey: "nps".into(),
            version: 1,
            definition_hash: "h".into(),
            response_key: key.into(),
            channel: "email".into(),
            source: "form".into(),
            rule: None,
            locale: Some("en".into()),
            submitted_at: format!("2026-01-01T00:00:{score:02}Z"),
            confirmed,
            complete: true,
            answers: [("recommend".to_string(), AnswerValue::Number(score))].into(),
            segments: Default::default(),
        }
    }

    /// (key, score, counts) of every stored row, in id order.
    fn rows(store: &Store) -> Vec<(String, i64, bool)> {
        let mut statement = store
            .conn
            .prepare("SELECT response_key, answers, counts FROM responses ORDER BY id")
            .unwrap();
        statement
            .query_map([], |r| {
                let answers: String = r.get(1)?;
                let answers: serde_json::Value = serde_json::from_str(&answers).unwrap();
                Ok((r.get(0)?, answers["recommend"].as_i64().unwrap(), r.get(2)?))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn a_batch_decides_each_key_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).unwrap();
        store.record_responses(&[response("a", 1, true)]).unwrap();
        let batch = [
            response("a", 1, true),  // repeats the stored row: skipped
            response("b", 2, true),  // new key
            response("a", 3, false), // provisional after a confirmed answer: skipped
            response("b", 4, true),  // replaces the batch's own row for b
            response("a", 5, true),  // replaces the stored row for a
        ];
        assert_eq!(store.record_responses(&batch).unwrap(), 3);
        assert_eq!(
            rows(&store),
            [
                ("a".into(), 1, false),
                ("b".into(), 2, false),
                ("b".into(), 4, true),
                ("a".into(), 5, true),
            ]
        );
        let found = store.counting_for_key("nps", "b").unwrap();
        assert_eq!(found.len(), 1, "every written row is in the key table");
        assert_eq!(found[0].id, 3);
    }

    #[test]
    fn wide_and_single_row_statements_write_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).unwrap();
        let total = 2 * ROWS_PER_INSERT + 5;
        let batch: Vec<NewResponse> = (0..total)
            .map(|i| response(&format!("k{i}"), (i % 11) as i64, true))
            .collect();
        assert_eq!(store.record_responses(&batch).unwrap(), total);
        let stored = rows(&store);
        assert_eq!(stored.len(), total);
        for (i, (key, score, counts)) in stored.iter().enumerate() {
            assert_eq!(
                (key.as_str(), *score, *counts),
                (format!("k{i}").as_str(), (i % 11) as i64, true)
            );
            assert_eq!(
                store.counting_for_key("nps", key).unwrap()[0].id,
                i as i64 + 1
            );
        }
    }
}
