//! Writing responses a batch at a time, the one path every answer takes into the store (a
//! served answer is a batch of one, an import a chunk of many).
//!
//! A batch is first planned in memory (which rows are written, which of them count, which
//! stored rows stop counting) and then written with multi-row statements: SQLite's cost
//! per statement is paid once per [`ROWS_PER_STATEMENT`] rows instead of once per row.

use std::sync::Arc;

use rusqlite::{CachedStatement, Connection, OptionalExtension, params};

use super::outbox::{NewMessage, Raise, Written};
use super::sqlite::Sqlite;
use super::types::{NewResponse, Segments};
use crate::answer::Answers;

/// What the responses from one place have in common: an import's rows share one, a
/// served answer has its own. A batch binds it once per statement, not once per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseOrigin {
    /// The survey id.
    pub survey: String,
    /// The survey version answered.
    pub version: u32,
    /// [`crate::model::Survey::definition_hash`] of the definition answered.
    pub definition_hash: String,
    /// email | slack | teams | link | print | import.
    pub channel: String,
    /// oneclick | form | open | import.
    pub source: String,
    /// The distribution rule, when the response came from one.
    pub rule: Option<String>,
    /// False for a one-click answer a link scanner may have made.
    pub confirmed: bool,
}

/// A response as the store writes it: its answers and segments already JSON and its key
/// already hashed. An import encodes its rows on the thread that reads the file, so the
/// thread that writes the store does only the store's work.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedResponse {
    pub(super) origin: Arc<ResponseOrigin>,
    pub(super) response_key: String,
    pub(super) locale: Option<String>,
    pub(super) submitted_at: String,
    pub(super) complete: bool,
    pub(super) answers: String,
    pub(super) segments: String,
    pub(super) key_hash: i64,
}

impl EncodedResponse {
    /// Encodes one response from `origin`; the fields are those of [`NewResponse`].
    pub fn new(
        origin: &Arc<ResponseOrigin>,
        response_key: String,
        locale: Option<String>,
        submitted_at: String,
        complete: bool,
        answers: &Answers,
        segments: &Segments,
    ) -> EncodedResponse {
        EncodedResponse {
            answers: serde_json::to_string(answers).expect("answers serialize"),
            segments: serde_json::to_string(segments).expect("segments serialize"),
            key_hash: key_hash(&origin.survey, &response_key),
            origin: Arc::clone(origin),
            response_key,
            locale,
            submitted_at,
            complete,
        }
    }
}

impl From<&NewResponse> for EncodedResponse {
    fn from(r: &NewResponse) -> EncodedResponse {
        let origin = Arc::new(ResponseOrigin {
            survey: r.survey.clone(),
            version: r.version,
            definition_hash: r.definition_hash.clone(),
            channel: r.channel.clone(),
            source: r.source.clone(),
            rule: r.rule.clone(),
            confirmed: r.confirmed,
        });
        EncodedResponse::new(
            &origin,
            r.response_key.clone(),
            r.locale.clone(),
            r.submitted_at.clone(),
            r.complete,
            &r.answers,
            &r.segments,
        )
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
    pub(super) version: u32,
    pub(super) submitted_at: String,
    pub(super) answers: String,
    pub(super) segments: String,
    pub(super) confirmed: bool,
}

/// Rows one multi-row INSERT carries, and hashes one key lookup reads.
const ROWS_PER_STATEMENT: usize = 64;

/// A response row: its origin's id and `confirmed` are the statement's first two
/// parameters, shared by every row; `#` is one of the row's own.
const RESPONSE_ROWS: MultiRow = MultiRow {
    head: "INSERT INTO response_rows (origin, confirmed, response_key, locale, \
           submitted_at, complete, counts, answers, segments)",
    shared: 2,
    tuple: "(?1, ?2, #, #, #, #, #, #, #)",
};
const KEY_ROWS: MultiRow = MultiRow {
    head: "INSERT INTO response_keys (key_hash, response)",
    shared: 0,
    tuple: "(#, #)",
};
const COUNTING_BY_ID: &str = "SELECT id, version, submitted_at, answers, segments, confirmed \
     FROM responses WHERE id = ?1 AND survey = ?2 AND response_key = ?3 AND counts = 1";

impl Sqlite {
    /// Stores responses in order, each unless the one counting for its key is identical,
    /// or is confirmed while the new one is provisional (a link scanner's GET never
    /// displaces an answer a person confirmed); a stored response becomes the one that
    /// counts. The key entries of the rows written join `held`, for the caller to write;
    /// the messages `raise` decides on for the rows written go to the outbox, in the same
    /// transaction. Returns how many were stored.
    pub(super) fn write_responses(
        &self,
        responses: &[EncodedResponse],
        held: &mut HeldKeys,
        raise: Option<&dyn Raise>,
    ) -> rusqlite::Result<usize> {
        let (group, counting) = self.counting_for_keys(responses, held)?;
        let plan = Plan::new(responses, &group, counting, self.next_response_id()?);
        let mut supersede = self
            .conn
            .prepare_cached("UPDATE response_rows SET counts = 0 WHERE id = ?1")?;
        for id in &plan.superseded {
            supersede.execute([id])?;
        }
        RESPONSE_ROWS.insert(
            &self.conn,
            &plan.rows,
            |a, b| same_origin(&responses[a.index], &responses[b.index]),
            |s, row| {
                let origin = &responses[row.index].origin;
                s.raw_bind_parameter(1, self.origin_id(origin)?)?;
                s.raw_bind_parameter(2, origin.confirmed)
            },
            |s, at, row| bind_own(s, at, row, &responses[row.index]),
        )?;
        self.check_planned_ids(&plan)?;
        if let Some(raise) = raise {
            raised_by(&plan, responses, raise, |written, messages| {
                self.add_messages(written, messages)
            })?;
        }
        held.extend(
            plan.rows
                .iter()
                .map(|row| (responses[row.index].key_hash, row.id)),
        );
        Ok(plan.rows.len())
    }

    /// [`Store::write_responses`] with the key entries written at once: a batch that is
    /// the whole of its transaction.
    pub(super) fn write_batch(
        &self,
        responses: &[EncodedResponse],
        raise: Option<&dyn Raise>,
    ) -> rusqlite::Result<usize> {
        let mut held = HeldKeys::default();
        let added = self.write_responses(responses, &mut held, raise)?;
        held.write(self)?;
        Ok(added)
    }

    /// The id of an origin in `response_origins`, which gets it the first time it is seen.
    fn origin_id(&self, o: &ResponseOrigin) -> rusqlite::Result<i64> {
        let values = params![
            o.survey,
            o.version,
            o.definition_hash,
            o.channel,
            o.source,
            o.rule
        ];
        let found = self
            .conn
            .prepare_cached(
                "SELECT id FROM response_origins WHERE survey = ?1 AND version = ?2 \
                 AND definition_hash = ?3 AND channel = ?4 AND source = ?5 AND rule IS ?6",
            )?
            .query_row(values, |r| r.get(0))
            .optional()?;
        if let Some(id) = found {
            return Ok(id);
        }
        self.conn
            .prepare_cached(
                "INSERT INTO response_origins (survey, version, definition_hash, channel, \
                 source, rule) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(values)?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Fails unless SQLite gave the rows the ids the plan gave them. Rows are inserted
    /// without an id, so SQLite appends each after the table's last row with no seek;
    /// that is `max(id) + 1`, as planned, since the write transaction holds the table.
    fn check_planned_ids(&self, plan: &Plan) -> rusqlite::Result<()> {
        let Some(last) = plan.rows.last() else {
            return Ok(());
        };
        let written = self.conn.last_insert_rowid();
        if written == last.id {
            return Ok(());
        }
        Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_INTERNAL),
            Some(format!(
                "response rows were given ids up to {written} where {} was planned",
                last.id
            )),
        ))
    }

    /// The id SQLite gives the next response row (`max(id) + 1`), known before the rows
    /// are written so that a batch can plan with its ids (the write transaction holds the
    /// table, so nothing else takes them; [`Store::check_planned_ids`] makes sure).
    fn next_response_id(&self) -> rusqlite::Result<i64> {
        self.conn.query_row(
            "SELECT coalesce(max(id), 0) + 1 FROM response_rows",
            [],
            |r| r.get(0),
        )
    }

    /// The rows counting for each (survey, key) of `responses`: for each response the
    /// number of its key, and for each key its counting rows. Sorting brings a key's
    /// responses together (no map of keys is needed) and lets the key table be read in
    /// order, [`ROWS_PER_STATEMENT`] hashes a statement.
    fn counting_for_keys(
        &self,
        responses: &[EncodedResponse],
        held: &HeldKeys,
    ) -> rusqlite::Result<(Vec<usize>, Vec<Vec<Counting>>)> {
        let key = |i: usize| {
            let r = &responses[i];
            (
                r.key_hash,
                r.origin.survey.as_str(),
                r.response_key.as_str(),
            )
        };
        let mut order: Vec<usize> = (0..responses.len()).collect();
        order.sort_unstable_by(|&a, &b| key(a).cmp(&key(b)));
        let mut group = vec![0; responses.len()];
        let mut distinct: Vec<usize> = Vec::new();
        for i in order {
            if distinct.last().is_none_or(|&d| key(d) != key(i)) {
                distinct.push(i);
            }
            group[i] = distinct.len() - 1;
        }
        let mut lookup = CountingLookup::new(&self.conn)?;
        let mut hashes: Vec<i64> = distinct.iter().map(|&i| key(i).0).collect();
        hashes.dedup();
        let entries = lookup.entries(&hashes, held)?;
        let mut counting = Vec::with_capacity(distinct.len());
        for i in distinct {
            let (hash, survey, response_key) = key(i);
            counting.push(lookup.rows(&entries, hash, survey, response_key)?);
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
        KEY_ROWS.insert(
            &self.conn,
            sorted,
            |_, _| true,
            |_, _| Ok(()),
            |s, at, &(hash, id)| {
                s.raw_bind_parameter(at + 1, hash)?;
                s.raw_bind_parameter(at + 2, id)
            },
        )
    }
}

/// Key entries of rows written to `response_rows` but not yet to `response_keys`. An import holds
/// them until it ends, or until [`HELD_KEYS`] are held, and then writes them in one pass
/// in hash order: a chunk's entries, scattered over the whole key table, would otherwise
/// dirty most of its pages at every chunk. Lookups read both the table and these.
#[derive(Debug, Default)]
pub(super) struct HeldKeys {
    /// (hash, response id), in the order written.
    entries: Vec<(i64, i64)>,
    /// For each entry, the place of the one before it with the same hash.
    earlier: Vec<Option<u32>>,
    /// For each hash, the place of its latest entry. The hashes are SHA-256 already, so
    /// they are their own hash (nobody can choose them to collide in the map).
    latest: nohash_hasher::IntMap<i64, u32>,
}

/// How many key entries an import holds before writing them (about 50 MB of memory).
pub(super) const HELD_KEYS: usize = 1 << 20;

impl HeldKeys {
    /// Room for [`HELD_KEYS`] entries at once, for an import: growing there rehashes the
    /// whole map each time it doubles.
    pub(super) fn for_import() -> HeldKeys {
        let mut held = HeldKeys::default();
        held.entries.reserve(HELD_KEYS);
        held.earlier.reserve(HELD_KEYS);
        held.latest.reserve(HELD_KEYS);
        held
    }

    /// How many entries are held.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Holds the entries of a batch's written rows.
    fn extend(&mut self, entries: impl Iterator<Item = (i64, i64)>) {
        for (hash, id) in entries {
            let place = u32::try_from(self.entries.len()).expect("held keys are written first");
            self.earlier.push(self.latest.insert(hash, place));
            self.entries.push((hash, id));
        }
    }

    /// The held (hash, response id) entries of a hash, latest first.
    fn of(&self, hash: i64) -> impl Iterator<Item = (i64, i64)> + '_ {
        std::iter::successors(self.latest.get(&hash).copied(), |&place| {
            self.earlier[place as usize]
        })
        .map(|place| self.entries[place as usize])
    }

    /// Writes the held entries to the key table, in hash order, and forgets them.
    pub(super) fn write(&mut self, store: &Sqlite) -> rusqlite::Result<()> {
        let mut sorted = std::mem::take(self).entries;
        sorted.sort_unstable();
        store.index_keys(&sorted)
    }
}

/// A row of the batch to write.
pub(super) struct PlannedRow {
    /// Its response in the batch.
    pub(super) index: usize,
    pub(super) id: i64,
    /// False when a later response of the same batch replaces it.
    pub(super) counts: bool,
    /// The answers (JSON) of the confirmed row it takes the place of, if any.
    pub(super) replaced: Option<String>,
}

/// Hands each planned row to `raise` and what it raises to `add`, which writes it to the
/// outbox in the batch's transaction: one way for every backend to see a written row.
pub(super) fn raised_by<E>(
    plan: &Plan,
    responses: &[EncodedResponse],
    raise: &dyn Raise,
    mut add: impl FnMut(&Written<'_>, &[NewMessage]) -> Result<(), E>,
) -> Result<(), E> {
    let mut messages = Vec::new();
    for row in &plan.rows {
        let r = &responses[row.index];
        let written = Written {
            row: row.id,
            survey: &r.origin.survey,
            version: r.origin.version,
            channel: &r.origin.channel,
            source: &r.origin.source,
            rule: r.origin.rule.as_deref(),
            response_key: &r.response_key,
            locale: r.locale.as_deref(),
            submitted_at: &r.submitted_at,
            complete: r.complete,
            confirmed: r.origin.confirmed,
            answers: &r.answers,
            segments: &r.segments,
            replaced: row.replaced.as_deref(),
        };
        messages.clear();
        raise.raise(&written, &mut messages);
        add(&written, &messages)?;
    }
    Ok(())
}

/// What holds a key's place while a batch is planned: a stored row, or a row of the batch.
enum Holder {
    Stored(Counting),
    Planned { row: usize },
}

/// A batch's writes, decided before any is made.
pub(super) struct Plan {
    pub(super) rows: Vec<PlannedRow>,
    /// Stored rows that stop counting.
    pub(super) superseded: Vec<i64>,
}

impl Plan {
    /// Decides, response by response, whether it is written: `group` gives each response
    /// its key's number, `counting` each key's stored counting rows, `first_id` the id of
    /// the first row written.
    pub(super) fn new(
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
            let mut replaced = None;
            for holder in holders.drain(..) {
                match holder {
                    Holder::Stored(c) => {
                        plan.superseded.push(c.id);
                        replaced = c.confirmed.then_some(c.answers).or(replaced);
                    }
                    Holder::Planned { row } => {
                        plan.rows[row].counts = false;
                        let earlier = &responses[plan.rows[row].index];
                        replaced = earlier
                            .origin
                            .confirmed
                            .then(|| earlier.answers.clone())
                            .or(replaced);
                    }
                }
            }
            holders.push(Holder::Planned {
                row: plan.rows.len(),
            });
            plan.rows.push(PlannedRow {
                index,
                id: first_id + plan.rows.len() as i64,
                counts: true,
                replaced,
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
                    p.origin.version,
                    at,
                    p.answers.as_str(),
                    p.segments.as_str(),
                    p.origin.confirmed,
                )
            }
        };
        let new = &r.origin;
        (confirmed && !new.confirmed)
            || (version == new.version
                && submitted_at == r.submitted_at
                && answers == r.answers
                && segments == r.segments
                && confirmed >= new.confirmed)
    }
}

/// Whether two responses share their origin's values (an import's rows share one).
fn same_origin(a: &EncodedResponse, b: &EncodedResponse) -> bool {
    Arc::ptr_eq(&a.origin, &b.origin) || a.origin == b.origin
}

fn bind_own(
    s: &mut CachedStatement<'_>,
    at: usize,
    row: &PlannedRow,
    r: &EncodedResponse,
) -> rusqlite::Result<()> {
    s.raw_bind_parameter(at + 1, &r.response_key)?;
    s.raw_bind_parameter(at + 2, &r.locale)?;
    s.raw_bind_parameter(at + 3, &r.submitted_at)?;
    s.raw_bind_parameter(at + 4, r.complete)?;
    s.raw_bind_parameter(at + 5, row.counts)?;
    s.raw_bind_parameter(at + 6, &r.answers)?;
    s.raw_bind_parameter(at + 7, &r.segments)
}

/// A multi-row INSERT: `head` (`INSERT INTO table (columns)`), then per row `tuple`, whose
/// `?1`…`?shared` are bound once per statement and whose each `#` is a row's own value.
struct MultiRow {
    head: &'static str,
    shared: usize,
    tuple: &'static str,
}

/// A statement of a [`MultiRow`] and whether its shared values are bound for the run at
/// hand.
struct Prepared<'c> {
    statement: CachedStatement<'c>,
    bound: bool,
}

impl MultiRow {
    /// How many of a row's values are its own.
    fn own(&self) -> usize {
        self.tuple.matches('#').count()
    }

    /// The statement for `rows` rows, own parameters numbered after the shared ones.
    fn sql(&self, rows: usize) -> String {
        let mut sql = format!("{} VALUES ", self.head);
        let mut next = self.shared;
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            for (i, part) in self.tuple.split('#').enumerate() {
                if i > 0 {
                    next += 1;
                    sql.push_str(&format!("?{next}"));
                }
                sql.push_str(part);
            }
        }
        debug_assert_eq!(next, self.shared + rows * self.own());
        sql
    }

    /// Inserts `items` in runs that `same` finds sharing their shared values: each run
    /// [`ROWS_PER_STATEMENT`] rows a statement, then the rest one by one, so that only two
    /// statements per table are ever prepared. `bind_shared` binds a run's shared values,
    /// `bind_own` an item's own values after the `at`-th parameter.
    fn insert<'c, T>(
        &self,
        conn: &'c Connection,
        items: &[T],
        same: impl Fn(&T, &T) -> bool,
        bind_shared: impl Fn(&mut CachedStatement<'c>, &T) -> rusqlite::Result<()>,
        bind_own: impl Fn(&mut CachedStatement<'c>, usize, &T) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        let own = self.own();
        let mut wide: Option<Prepared<'c>> = None;
        let mut single: Option<Prepared<'c>> = None;
        for run in items.chunk_by(|a, b| same(a, b)) {
            for p in [&mut wide, &mut single].into_iter().flatten() {
                p.bound = false;
            }
            let mut full = run.chunks_exact(ROWS_PER_STATEMENT);
            for rows in &mut full {
                let p = self.prepared(conn, &mut wide, ROWS_PER_STATEMENT)?;
                if !p.bound {
                    bind_shared(&mut p.statement, &rows[0])?;
                    p.bound = true;
                }
                for (i, item) in rows.iter().enumerate() {
                    bind_own(&mut p.statement, self.shared + i * own, item)?;
                }
                p.statement.raw_execute()?;
            }
            for item in full.remainder() {
                let p = self.prepared(conn, &mut single, 1)?;
                if !p.bound {
                    bind_shared(&mut p.statement, item)?;
                    p.bound = true;
                }
                bind_own(&mut p.statement, self.shared, item)?;
                p.statement.raw_execute()?;
            }
        }
        Ok(())
    }

    fn prepared<'p, 'c>(
        &self,
        conn: &'c Connection,
        slot: &'p mut Option<Prepared<'c>>,
        rows: usize,
    ) -> rusqlite::Result<&'p mut Prepared<'c>> {
        if slot.is_none() {
            let statement = conn.prepare_cached(&self.sql(rows))?;
            *slot = Some(Prepared {
                statement,
                bound: false,
            });
        }
        Ok(slot.as_mut().expect("prepared above"))
    }
}

/// Finds the rows counting for keys: the key table's entries for their hashes, then each
/// row by id (separate statements: with SQLite's STAT4 a join would be planned again at
/// every binding).
struct CountingLookup<'c> {
    conn: &'c Connection,
    row: CachedStatement<'c>,
}

impl<'c> CountingLookup<'c> {
    fn new(conn: &'c Connection) -> rusqlite::Result<CountingLookup<'c>> {
        Ok(CountingLookup {
            conn,
            row: conn.prepare_cached(COUNTING_BY_ID)?,
        })
    }

    /// The rows counting for one key.
    fn find(&mut self, hash: i64, survey: &str, key: &str) -> rusqlite::Result<Vec<Counting>> {
        let entries = self.entries(&[hash], &HeldKeys::default())?;
        self.rows(&entries, hash, survey, key)
    }

    /// The (hash, response id) entries for distinct `hashes`, sorted: the key table's,
    /// read [`ROWS_PER_STATEMENT`] hashes a statement (a short last list repeats its last
    /// hash: an IN list is a set), and those `held` has not written yet.
    fn entries(&self, hashes: &[i64], held: &HeldKeys) -> rusqlite::Result<Vec<(i64, i64)>> {
        let mut statement = self.conn.prepare_cached(&entries_sql())?;
        let mut entries = Vec::new();
        for chunk in hashes.chunks(ROWS_PER_STATEMENT) {
            for i in 0..ROWS_PER_STATEMENT {
                statement.raw_bind_parameter(i + 1, chunk[i.min(chunk.len() - 1)])?;
            }
            let mut rows = statement.raw_query();
            while let Some(row) = rows.next()? {
                entries.push((row.get(0)?, row.get(1)?));
            }
        }
        entries.extend(hashes.iter().flat_map(|&hash| held.of(hash)));
        entries.sort_unstable();
        Ok(entries)
    }

    /// The counting rows of one key among the sorted `entries`.
    fn rows(
        &mut self,
        entries: &[(i64, i64)],
        hash: i64,
        survey: &str,
        key: &str,
    ) -> rusqlite::Result<Vec<Counting>> {
        let start = entries.partition_point(|&(h, _)| h < hash);
        let mut counting = Vec::new();
        for &(_, id) in entries[start..].iter().take_while(|&&(h, _)| h == hash) {
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

/// The key table's entries for [`ROWS_PER_STATEMENT`] hashes.
fn entries_sql() -> String {
    let list: Vec<String> = (1..=ROWS_PER_STATEMENT).map(|i| format!("?{i}")).collect();
    format!(
        "SELECT key_hash, response FROM response_keys WHERE key_hash IN ({})",
        list.join(", ")
    )
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
    fn rows(store: &Sqlite) -> Vec<(String, i64, bool)> {
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
        let store = Sqlite::open_in(dir.path()).unwrap();
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
        let store = Sqlite::open_in(dir.path()).unwrap();
        let total = 3 * ROWS_PER_STATEMENT + 5;
        // Rows 70..80 come from another channel: three runs of shared values, the first
        // and last long enough for the wide statement.
        let channel = |i: usize| {
            if (70..80).contains(&i) {
                "link"
            } else {
                "email"
            }
        };
        let batch: Vec<NewResponse> = (0..total)
            .map(|i| NewResponse {
                channel: channel(i).into(),
                ..response(&format!("k{i}"), (i % 11) as i64, true)
            })
            .collect();
        assert_eq!(store.record_responses(&batch).unwrap(), total);
        let channels: Vec<String> = store
            .conn
            .prepare("SELECT channel FROM responses ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let expected: Vec<String> = (0..total).map(|i| channel(i).to_string()).collect();
        assert_eq!(channels, expected);
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

    #[test]
    fn held_entries_chain_a_hashs_rows_latest_first() {
        let mut held = HeldKeys::default();
        held.extend([(7, 1), (3, 2), (7, 3)].into_iter());
        assert_eq!(held.of(7).collect::<Vec<_>>(), [(7, 3), (7, 1)]);
        assert_eq!(held.of(3).collect::<Vec<_>>(), [(3, 2)]);
        assert_eq!(held.of(5).count(), 0);
        assert_eq!(held.len(), 3);
    }

    #[test]
    fn keys_held_or_written_find_their_counting_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open_in(dir.path()).unwrap();
        let encode = |batch: &[NewResponse]| -> Vec<EncodedResponse> {
            batch.iter().map(Into::into).collect()
        };
        let mut held = HeldKeys::default();
        let first = encode(&[response("a", 1, true), response("b", 2, true)]);
        assert_eq!(store.write_responses(&first, &mut held, None).unwrap(), 2);
        // Both keys are only held: the second batch finds them there.
        let second = encode(&[response("a", 1, true), response("b", 4, true)]);
        assert_eq!(store.write_responses(&second, &mut held, None).unwrap(), 1);
        held.write(&store).unwrap();
        assert_eq!(held.len(), 0);
        // Now a and b are in the table, and b's replacement is held.
        let third = encode(&[
            response("a", 5, true),
            response("b", 4, true),
            response("c", 6, true),
        ]);
        assert_eq!(store.write_responses(&third, &mut held, None).unwrap(), 2);
        let fourth = encode(&[response("a", 5, true), response("c", 7, true)]);
        assert_eq!(store.write_responses(&fourth, &mut held, None).unwrap(), 1);
        held.write(&store).unwrap();
        assert_eq!(
            rows(&store),
            [
                ("a".into(), 1, false),
                ("b".into(), 2, false),
                ("b".into(), 4, true),
                ("a".into(), 5, true),
                ("c".into(), 6, false),
                ("c".into(), 7, true),
            ]
        );
        let entries: i64 = store
            .conn
            .query_row("SELECT count(*) FROM response_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(entries, 6, "every written row is in the key table once");
    }
}
