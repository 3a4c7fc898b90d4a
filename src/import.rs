//! `canvass import` and `canvass export`: answers gathered elsewhere, as CSV or JSON
//! Lines, one row per response.
//!
//! A row has a column per question id, `submitted_at` (RFC 3339), optionally `respondent`
//! and `locale`, and segment columns the survey's rules declare. Every row is validated
//! exactly as the web form validates ([`crate::answer::Validator`]); every problem
//! is reported with its row and column, and the import is all or nothing. Respondent ids
//! are stored only as keyed hashes. Importing the same file twice adds nothing, and an
//! export imports back to the same answers.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::Digest as _;

use crate::answer::{Validated, Validator, excerpt};
use crate::model::{AnswerValue, Question, Survey};
use crate::store::{
    EncodedResponse, IMPORT_CHUNK, Import, ImportOutcome, ReadError, ResponseOrigin, Store,
    StoreError, StoredResponse,
};
use crate::token::Key;
use crate::workspace::{SurveyEntry, Workspace};

/// The column holding the respondent's id (hashed before it is stored).
pub const RESPONDENT: &str = "respondent";
/// The column holding the answer's time.
pub const SUBMITTED_AT: &str = "submitted_at";
/// The column holding the answer's locale.
pub const LOCALE: &str = "locale";
/// The prefix of a respondent value that is already a stored response key (as exports
/// write it), kept as is instead of hashed again.
pub const KEY_PREFIX: &str = "key:";

/// One problem in an imported file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The line in the file (1 is a CSV's header).
    pub row: usize,
    /// The column.
    pub column: String,
    /// What was expected.
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "row {}, column `{}`: {}",
            self.row,
            excerpt(&self.column),
            self.message
        )
    }
}

/// The cells an import left out because their question did not apply to the row's other
/// answers (its `when` was false), for the operator to review: the rest of each row is
/// stored, as the web form stores the rest of a form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DroppedCells {
    /// How many cells were dropped.
    pub total: usize,
    /// The first [`DROPPED_LISTED`] of them, at their row and column.
    pub listed: Vec<RowError>,
}

/// How many dropped cells an import lists; past that it counts them, so a paper batch of
/// a million rows does not keep a million messages.
pub const DROPPED_LISTED: usize = 100;

impl DroppedCells {
    fn add(&mut self, row: usize, question: &Question) {
        self.total += 1;
        if self.listed.len() < DROPPED_LISTED {
            self.listed.push(RowError {
                row,
                column: question.id.clone(),
                message: format!(
                    "left out: the question is asked only when {}",
                    question.when.as_deref().unwrap_or_default()
                ),
            });
        }
    }
}

/// What an import did.
#[derive(Debug)]
pub struct Imported {
    /// Whether rows were stored.
    pub outcome: ImportOutcome,
    /// The answers left out because their question did not apply.
    pub dropped: DroppedCells,
}

/// Why an import or export failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// No survey with this id loaded.
    #[error(
        "no survey `{0}` in the workspace (or its survey.yaml has errors; run `canvass check`)"
    )]
    UnknownSurvey(String),
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The CSV is malformed.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: csv::Error,
    },
    /// Rows failed validation; nothing was imported.
    #[error("{path}: {} problem{} found; nothing was imported", errors.len(), crate::diag::plural(errors.len()))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem, in file order.
        errors: Vec<RowError>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The format of an exported or imported file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header.
    #[default]
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl Format {
    /// JSON Lines for `.jsonl` and `.ndjson` files, CSV otherwise.
    pub fn of_path(path: &Path) -> Format {
        if crate::fsutil::is_jsonl(path) {
            Format::Jsonl
        } else {
            Format::Csv
        }
    }
}

/// Imports a file of answers into the workspace's store for `survey_id` (at `version`,
/// default the survey's current one). Returns what was done, or every problem found.
/// With `alerts`, the rows raise alerts and webhook events as served answers do, in the
/// import's transaction; without it none, so that loading history floods no one.
///
/// The file is streamed twice: once for its digest (an imported file is recognised before
/// any work), then row by row into one transaction that is rolled back at the first
/// problem, while the rest of the file is still validated so that every problem is listed.
/// Memory does not grow with the number of rows.
pub fn import_file(
    workspace: &Workspace,
    path: &Path,
    survey_id: &str,
    version: Option<u32>,
    alerts: bool,
) -> Result<Imported, ImportError> {
    let survey = find_survey(workspace, survey_id)?;
    let raise = alerts.then(|| crate::alerts::Alerts::for_workspace(workspace));
    let version = version.unwrap_or(survey.version);
    let io = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let digest = import_digest(survey_id, version, path).map_err(io)?;
    let (key, _) = Key::from_env_or_dev(&workspace.state_dir()).map_err(io)?;
    let store = Store::open_for_key(&workspace.state_dir(), &key)?;
    let Some(import) = store.begin_import(&digest, survey_id)? else {
        return Ok(Imported {
            outcome: ImportOutcome::AlreadyImported,
            dropped: DroppedCells::default(),
        });
    };
    let import = match &raise {
        Some(raise) => import.raising(raise),
        None => import,
    };
    let segments = declared_segments(workspace, survey_id);
    let file = std::fs::File::open(path).map_err(io)?;
    let mut rows = RowReader::new(RowContext::new(survey, version, &segments, &key));
    let format = Format::of_path(path);
    // Room for two of the store's chunks, so that reading goes on while one is written.
    let (sender, receiver) = std::sync::mpsc::sync_channel(2 * IMPORT_CHUNK / BATCH_ROWS);
    let (read, stored) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let reader = std::io::BufReader::with_capacity(1 << 16, file);
            match format {
                Format::Csv => rows.read_csv(reader, &sender),
                Format::Jsonl => rows.read_jsonl(reader, &sender),
            }
            .map(|()| rows.dropped)
        });
        let stored = store_rows(import, receiver);
        (reader.join().expect("the reader does not panic"), stored)
    });
    let dropped = read.map_err(|e| match e {
        RowsError::Csv(source) => ImportError::Csv {
            path: path.to_path_buf(),
            source,
        },
        RowsError::Io(source) => io(source),
    })?;
    match stored? {
        Ok(import) => Ok(Imported {
            outcome: import.commit()?,
            dropped,
        }),
        Err(mut errors) => {
            errors.sort_by_key(|e| e.row);
            Err(ImportError::Invalid {
                path: path.to_path_buf(),
                errors,
            })
        }
    }
}

/// Rows sent from the reading thread to the storing one at a time.
const BATCH_ROWS: usize = 1024;

/// One row read: the response to store (encoded on the reading thread), or its problems.
type Parsed = Result<EncodedResponse, Vec<RowError>>;

/// Stores rows as the reading thread sends them, until the first problem; from then on
/// only problems are collected and the import is rolled back (dropped). Returns the import
/// to commit, or every problem found.
fn store_rows(
    import: Import<'_>,
    receiver: std::sync::mpsc::Receiver<Vec<Parsed>>,
) -> Result<Result<Import<'_>, Vec<RowError>>, StoreError> {
    let mut import = Some(import);
    let mut errors = Vec::new();
    for parsed in receiver.into_iter().flatten() {
        match (parsed, &mut import) {
            (Ok(response), Some(import)) => import.add(response)?,
            (Ok(_), None) => {}
            (Err(mut problems), _) => {
                errors.append(&mut problems);
                import = None;
            }
        }
    }
    Ok(import.filter(|_| errors.is_empty()).ok_or(errors))
}

fn find_survey<'a>(workspace: &'a Workspace, id: &str) -> Result<&'a Survey, ImportError> {
    workspace
        .survey(id)
        .and_then(|e| e.survey.as_ref())
        .map(|s| &s.value)
        .ok_or_else(|| ImportError::UnknownSurvey(id.to_string()))
}

/// The segment columns the survey's rules keep with answers.
fn declared_segments(workspace: &Workspace, survey_id: &str) -> BTreeSet<String> {
    workspace
        .survey(survey_id)
        .into_iter()
        .flat_map(SurveyEntry::rules)
        .filter_map(|r| r.audience.as_ref())
        .flat_map(|a| a.segments.iter().cloned())
        .collect()
}

/// One row's cells by column name; an absent or empty cell is an unanswered question.
trait Cells {
    fn get(&self, column: &str) -> Option<&str>;
}

/// A CSV record read under its header.
struct CsvRow<'a> {
    headers: &'a [String],
    record: &'a csv::StringRecord,
}

impl Cells for CsvRow<'_> {
    fn get(&self, column: &str) -> Option<&str> {
        let index = self.headers.iter().position(|h| h == column)?;
        self.record.get(index)
    }
}

/// A JSON line's members, as text.
type JsonRow = Vec<(String, String)>;

impl Cells for JsonRow {
    fn get(&self, column: &str) -> Option<&str> {
        self.iter()
            .find(|(c, _)| c == column)
            .map(|(_, v)| v.as_str())
    }
}

/// Why reading rows stopped early.
enum RowsError {
    Csv(csv::Error),
    Io(std::io::Error),
}

/// Reads rows and turns them into responses (or problems), on a thread of its own, and
/// sends them on in batches.
struct RowReader<'a> {
    context: RowContext<'a>,
    /// The columns a file may have: respondent, submitted_at, locale, the questions and
    /// the declared segments.
    known: Vec<&'a str>,
    /// Anonymous rows seen so far, by content hash: how many identical rows came before.
    seen: HashMap<[u8; 32], usize>,
    /// Unknown columns already reported.
    reported: BTreeSet<String>,
    dropped: DroppedCells,
    batch: Vec<Parsed>,
}

/// Where a reader sends its batches.
type Sender = std::sync::mpsc::SyncSender<Vec<Parsed>>;

impl<'a> RowReader<'a> {
    fn new(context: RowContext<'a>) -> RowReader<'a> {
        let mut known: Vec<&str> = vec![RESPONDENT, SUBMITTED_AT, LOCALE];
        known.extend(context.survey.questions.iter().map(|q| q.id.as_str()));
        known.extend(context.segments.iter().map(String::as_str));
        RowReader {
            context,
            known,
            seen: HashMap::new(),
            reported: BTreeSet::new(),
            dropped: DroppedCells::default(),
            batch: Vec::with_capacity(BATCH_ROWS),
        }
    }

    fn read_csv(&mut self, reader: impl std::io::Read, sender: &Sender) -> Result<(), RowsError> {
        let mut reader = crate::fsutil::csv_reader(reader);
        let headers: Vec<String> = reader
            .headers()
            .map_err(RowsError::Csv)?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        self.unknown_columns(1, headers.iter().map(String::as_str));
        self.repeated_columns(&headers);
        if !headers.iter().any(|c| c == SUBMITTED_AT) {
            self.problem(
                1,
                SUBMITTED_AT,
                "the column is missing; every row needs its RFC 3339 time".to_string(),
            );
        }
        let mut record = csv::StringRecord::new();
        while reader.read_record(&mut record).map_err(RowsError::Csv)? {
            let line = record.position().map_or(0, |p| p.line() as usize);
            let row = CsvRow {
                headers: &headers,
                record: &record,
            };
            if !self.row(line, &row, sender) {
                break;
            }
        }
        self.flush(sender);
        Ok(())
    }

    /// JSON Lines: each line an object; numbers, strings, booleans and null become cells.
    /// An unknown member is reported on the first line that has it.
    fn read_jsonl(
        &mut self,
        reader: impl std::io::BufRead,
        sender: &Sender,
    ) -> Result<(), RowsError> {
        for (i, line) in reader.lines().enumerate() {
            let line_number = i + 1;
            let line = line.map_err(RowsError::Io)?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Members>(&line) {
                Ok(Members(members)) => {
                    let cells = json_cells(members);
                    self.unknown_columns(line_number, cells.iter().map(|(c, _)| c.as_str()));
                    if !self.row(line_number, &cells, sender) {
                        break;
                    }
                }
                Err(e) => self.problem(line_number, "(line)", json_problem(&e)),
            }
        }
        self.flush(sender);
        Ok(())
    }

    /// Reads one row; false when the storing side has stopped (a store error, which the
    /// import reports), so reading stops too.
    fn row(&mut self, line: usize, cells: &dyn Cells, sender: &Sender) -> bool {
        let parsed = self.context.response(line, cells, &mut self.seen);
        let parsed = parsed.map(|(response, dropped)| {
            for id in dropped {
                let question = self.context.survey.question(&id);
                question.into_iter().for_each(|q| self.dropped.add(line, q));
            }
            response
        });
        self.batch.push(parsed);
        self.batch.len() < BATCH_ROWS || self.flush(sender)
    }

    fn problem(&mut self, row: usize, column: &str, message: String) {
        self.batch.push(Err(vec![RowError {
            row,
            column: column.to_string(),
            message,
        }]));
    }

    /// Sends the batch; false when the storing side has stopped.
    fn flush(&mut self, sender: &Sender) -> bool {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_ROWS));
        sender.send(batch).is_ok()
    }

    /// Reports each column named twice in a CSV header: which of the two cells counts
    /// would be a guess, so the file is refused instead.
    fn repeated_columns(&mut self, headers: &[String]) {
        let mut first = HashMap::new();
        for (i, header) in headers.iter().enumerate() {
            if let Some(earlier) = first.insert(header.as_str(), i) {
                let message = format!(
                    "the column is repeated (header cells {} and {}); keep one of them",
                    earlier + 1,
                    i + 1
                );
                self.problem(1, header, message);
            }
        }
    }

    /// Reports each column that is neither a question, nor respondent, submitted_at,
    /// locale or a declared segment, once, at the first row that has it.
    fn unknown_columns<'c>(&mut self, row: usize, columns: impl Iterator<Item = &'c str>) {
        for column in columns {
            if self.known.contains(&column) || !self.reported.insert(column.to_string()) {
                continue;
            }
            let message = match crate::schema::suggest(column, &self.known) {
                Some(best) => format!("unknown column; did you mean `{best}`?"),
                None => format!(
                    "unknown column: not a question of `{}`, nor respondent, submitted_at, \
                     locale or a segment its rules declare",
                    self.context.survey.id
                ),
            };
            self.problem(row, column, message);
        }
    }
}

/// A JSON object's members in their order, read so that a repeated key is an error at
/// its position (serde_json's own map would keep the last value silently).
struct Members(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Members, D::Error> {
        deserializer.deserialize_map(MembersVisitor)
    }
}

struct MembersVisitor;

impl<'de> serde::de::Visitor<'de> for MembersVisitor {
    type Value = Members;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
        let mut members: Vec<(String, serde_json::Value)> = Vec::new();
        // Hashes first, so a line with thousands of keys is not compared pair by pair.
        let (state, mut hashes) = (std::hash::RandomState::new(), HashSet::new());
        while let Some(key) = map.next_key::<String>()? {
            let fresh = hashes.insert(std::hash::BuildHasher::hash_one(&state, &key));
            if !fresh && members.iter().any(|(k, _)| *k == key) {
                return Err(serde::de::Error::custom(format!(
                    "the key `{}` is repeated; keep one of them",
                    excerpt(&key)
                )));
            }
            members.push((key, map.next_value()?));
        }
        Ok(Members(members))
    }
}

/// Why a line is not a row, with its column and at most an excerpt of what it holds.
fn json_problem(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let what = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(what, _)| what);
    format!(
        "not a JSON object: {} (at column {})",
        excerpt(what),
        error.column()
    )
}

/// A JSON object's members as text cells: null is empty, strings as they are, numbers and
/// booleans as JSON writes them.
fn json_cells(members: Vec<(String, serde_json::Value)>) -> JsonRow {
    members
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect()
}

/// What turning a row into a response needs, worked out once per import.
struct RowContext<'a> {
    survey: &'a Survey,
    validator: Validator<'a>,
    /// What every imported row has in common.
    origin: Arc<ResponseOrigin>,
    segments: &'a BTreeSet<String>,
    key: &'a Key,
}

impl<'a> RowContext<'a> {
    /// The definition hash is the one validated against; empty when importing into
    /// another version than the one on disk, whose wording is unknown.
    fn new(
        survey: &'a Survey,
        version: u32,
        segments: &'a BTreeSet<String>,
        key: &'a Key,
    ) -> RowContext<'a> {
        let definition_hash = if version == survey.version {
            survey.definition_hash()
        } else {
            String::new()
        };
        let origin = ResponseOrigin {
            survey: survey.id.clone(),
            version,
            definition_hash,
            channel: "import".to_string(),
            source: "import".to_string(),
            rule: None,
            confirmed: true,
        };
        RowContext {
            survey,
            validator: Validator::new(survey),
            origin: Arc::new(origin),
            segments,
            key,
        }
    }

    fn response(
        &self,
        line: usize,
        cells: &dyn Cells,
        seen: &mut HashMap<[u8; 32], usize>,
    ) -> Result<(EncodedResponse, Vec<String>), Vec<RowError>> {
        let error = |column: &str, message: String| RowError {
            row: line,
            column: column.to_string(),
            message,
        };
        let mut errors = Vec::new();
        let submitted_at = cells.get(SUBMITTED_AT).unwrap_or_default();
        let submitted = submitted_at.trim().parse::<jiff::Timestamp>();
        if submitted.is_err() {
            errors.push(error(
                SUBMITTED_AT,
                format!(
                    "expected an RFC 3339 time such as 2026-09-02T05:08:00Z, got `{}`",
                    excerpt(submitted_at)
                ),
            ));
        }
        let respondent = cells.get(RESPONDENT).unwrap_or_default().trim();
        if let Some(key) = respondent.strip_prefix(KEY_PREFIX)
            && !is_exported_key(key)
        {
            errors.push(error(
                RESPONDENT,
                format!(
                    "`{}` is not a key `canvass export` writes (`key:` and 32 hex digits, or a \
                     delivery, session or row key); write the address itself without `key:`, \
                     and canvass stores only its keyed hash",
                    excerpt(respondent)
                ),
            ));
        }
        let locale = cells.get(LOCALE).filter(|l| !l.trim().is_empty());
        if let Some(l) = locale
            && !self.survey.locales.iter().any(|known| known == l)
        {
            errors.push(error(
                LOCALE,
                format!(
                    "expected one of {}, got `{}`",
                    self.survey.locales.join(", "),
                    excerpt(l)
                ),
            ));
        }
        let segments: BTreeMap<String, String> = self
            .segments
            .iter()
            .filter_map(|s| Some((s.clone(), cells.get(s)?)))
            .filter(|(_, v)| !v.is_empty())
            .map(|(s, v)| (s, v.to_string()))
            .collect();
        let Validated { answers, dropped } = match self.validator.validate(|id| cells.get(id)) {
            Ok(valid) if errors.is_empty() => valid,
            Ok(_) => return Err(errors),
            Err(field_errors) => {
                errors.extend(
                    field_errors
                        .into_iter()
                        .map(|f| error(&f.question, f.message)),
                );
                return Err(errors);
            }
        };
        let submitted_at = submitted.map(|t| t.to_string()).unwrap_or_default();
        let respondent = cells.get(RESPONDENT).unwrap_or_default();
        let response_key = self.response_key(respondent, &submitted_at, &answers, seen);
        let response = EncodedResponse::new(
            &self.origin,
            response_key,
            locale.map(str::to_string),
            submitted_at,
            self.validator.is_complete(&answers),
            &answers,
            &segments,
        );
        Ok((response, dropped))
    }

    /// The respondent's keyed hash; a `key:` value as is; for an anonymous row a hash of
    /// its content and how many identical rows came before, so a re-import matches.
    fn response_key(
        &self,
        respondent: &str,
        submitted_at: &str,
        answers: &crate::answer::Answers,
        seen: &mut HashMap<[u8; 32], usize>,
    ) -> String {
        let respondent = respondent.trim();
        if let Some(key) = respondent.strip_prefix(KEY_PREFIX) {
            return key.to_string();
        }
        if !respondent.is_empty() {
            return self.key.recipient(respondent);
        }
        let content = format!(
            "{submitted_at}\0{}",
            serde_json::to_string(answers).unwrap_or_default()
        );
        let occurrence = seen
            .entry(sha2::Sha256::digest(content.as_bytes()).into())
            .or_insert(0);
        *occurrence += 1;
        let hash = sha2::Sha256::digest(format!("{content}\0{occurrence}").as_bytes());
        format!("row-{}", hex::encode(&hash[..16]))
    }
}

/// Whether a `key:` value is a response key as `canvass export` writes them: a recipient
/// key (32 hex digits), a delivery id (24), an open session (`open-` and 32) or an
/// anonymous row (`row-` and 32). Anything else would store an address unhashed or merge
/// unrelated people.
fn is_exported_key(key: &str) -> bool {
    let hex = |text: &str, digits: usize| {
        text.len() == digits
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    hex(key, 32)
        || hex(key, 24)
        || key.strip_prefix("open-").is_some_and(|k| hex(k, 32))
        || key.strip_prefix("row-").is_some_and(|k| hex(k, 32))
}

/// The imports ledger's key: the survey, the version and the file's bytes, read in
/// blocks.
fn import_digest(survey: &str, version: u32, path: &Path) -> std::io::Result<String> {
    let mut hasher = sha2::Sha256::new();
    hasher.update(format!("{survey}\0{version}\0").as_bytes());
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Writes the answers that count for `survey_id` (at `version`, default the current
/// one), one row per response, in the shape `import` reads. Returns the rows written.
pub fn export(
    workspace: &Workspace,
    survey_id: &str,
    version: Option<u32>,
    format: Format,
    out: &mut dyn Write,
) -> Result<usize, ImportError> {
    let survey = find_survey(workspace, survey_id)?;
    let version = version.unwrap_or(survey.version);
    let store = Store::open_in(&workspace.state_dir())?;
    let mut segment_columns = BTreeSet::new();
    read_version(&store, survey_id, version, |r| {
        segment_columns.extend(r.segments.keys().cloned());
        Ok(())
    })?;
    let mut columns = vec![RESPONDENT.to_string(), SUBMITTED_AT.to_string()];
    columns.extend(survey.questions.iter().map(|q| q.id.clone()));
    columns.push(LOCALE.to_string());
    columns.extend(segment_columns);
    let mut rows = 0;
    let io = |source| ImportError::Io {
        path: PathBuf::from("-"),
        source,
    };
    match format {
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(&columns).map_err(csv_error)?;
            read_version(&store, survey_id, version, |r| {
                rows += 1;
                let cells = export_cells(&columns, &r);
                writer
                    .write_record(cells.iter().map(|(_, v)| v.to_string()))
                    .map_err(csv_error)
            })?;
            writer.flush().map_err(io)?;
        }
        Format::Jsonl => read_version(&store, survey_id, version, |r| {
            rows += 1;
            jsonl_line(&export_cells(&columns, &r), out).map_err(io)
        })?,
    }
    Ok(rows)
}

fn csv_error(source: csv::Error) -> ImportError {
    ImportError::Csv {
        path: PathBuf::from("-"),
        source,
    }
}

fn read_version(
    store: &Store,
    survey: &str,
    version: u32,
    mut each: impl FnMut(StoredResponse) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    store
        .for_each_counting_response(survey, |r| {
            if r.version == version {
                each(r)
            } else {
                Ok(())
            }
        })
        .map_err(|e| match e {
            ReadError::Store(e) => ImportError::Store(e),
            ReadError::Callback(e) => e,
        })
}

/// A response's cells in column order; `None` for an empty cell.
fn export_cells<'a>(columns: &'a [String], r: &StoredResponse) -> Vec<(&'a str, Cell)> {
    columns
        .iter()
        .map(|c| {
            let cell = match c.as_str() {
                RESPONDENT => Some(Cell::Text(format!("{KEY_PREFIX}{}", r.response_key))),
                SUBMITTED_AT => Some(Cell::Text(r.submitted_at.clone())),
                LOCALE => r.locale.clone().map(Cell::Text),
                _ => r
                    .answers
                    .get(c)
                    .map(|v| match v {
                        AnswerValue::Number(n) => Cell::Number(*n),
                        AnswerValue::Word(w) => Cell::Text(w.clone()),
                    })
                    .or_else(|| r.segments.get(c).cloned().map(Cell::Text)),
            };
            (c.as_str(), cell.unwrap_or(Cell::Empty))
        })
        .collect()
}

/// An exported cell.
enum Cell {
    Empty,
    Number(i64),
    Text(String),
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Empty => Ok(()),
            Cell::Number(n) => write!(f, "{n}"),
            Cell::Text(t) => f.write_str(t),
        }
    }
}

fn jsonl_line(cells: &[(&str, Cell)], out: &mut dyn Write) -> std::io::Result<()> {
    let object: serde_json::Map<String, serde_json::Value> = cells
        .iter()
        .filter_map(|(column, cell)| {
            let value = match cell {
                Cell::Empty => return None,
                Cell::Number(n) => serde_json::Value::from(*n),
                Cell::Text(t) => serde_json::Value::from(t.as_str()),
            };
            Some((column.to_string(), value))
        })
        .collect();
    serde_json::to_writer(&mut *out, &object)?;
    out.write_all(b"\n")
}
