//! `canvass import` and `canvass export`: answers gathered elsewhere, as CSV or JSON
//! Lines, one row per response.
//!
//! A row has a column per question id, `submitted_at` (RFC 3339), optionally `respondent`
//! and `locale`, and segment columns the survey's rules declare. Every row is validated
//! exactly as the web form validates ([`crate::answer::Validator`]); every problem
//! is reported with its row and column, and the import is all or nothing. Respondent ids
//! are stored only as keyed hashes. Importing the same file twice adds nothing, and an
//! export imports back to the same answers.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use crate::answer::Validator;
use crate::model::{AnswerValue, Survey};
use crate::store::{
    Import, ImportOutcome, NewResponse, ReadError, Store, StoreError, StoredResponse,
};
use crate::token::Key;
use crate::workspace::Workspace;

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
            self.row, self.column, self.message
        )
    }
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
    #[error("{path}: {} problem{} found; nothing was imported", errors.len(), if errors.len() == 1 { "" } else { "s" })]
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
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "ndjson") => Format::Jsonl,
            _ => Format::Csv,
        }
    }
}

/// Imports a file of answers into the workspace's store for `survey_id` (at `version`,
/// default the survey's current one). Returns what was done, or every problem found.
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
) -> Result<ImportOutcome, ImportError> {
    let survey = find_survey(workspace, survey_id)?;
    let version = version.unwrap_or(survey.version);
    let io = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let digest = import_digest(survey_id, version, path).map_err(io)?;
    let store = Store::open_in(&workspace.state_dir())?;
    let Some(import) = store.begin_import(&digest, survey_id)? else {
        return Ok(ImportOutcome::AlreadyImported);
    };
    let segments = declared_segments(workspace, survey_id);
    let (key, _) = Key::from_env_or_dev(&workspace.state_dir()).map_err(io)?;
    let mut sink = RowSink {
        context: RowContext::new(survey, version, &segments, &key),
        import: Some(import),
        errors: Vec::new(),
        seen: HashMap::new(),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let reader = std::io::BufReader::with_capacity(1 << 16, file);
    let read = match Format::of_path(path) {
        Format::Csv => read_csv(reader, &mut sink),
        Format::Jsonl => read_jsonl(reader, &mut sink),
    };
    read.map_err(|e| match e {
        RowsError::Csv(source) => ImportError::Csv {
            path: path.to_path_buf(),
            source,
        },
        RowsError::Io(source) => io(source),
        RowsError::Store(e) => ImportError::Store(e),
    })?;
    sink.finish(path)
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
        .and_then(|e| e.distribution.as_ref())
        .into_iter()
        .flat_map(|d| &d.value.rules)
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
    Store(StoreError),
}

fn read_csv(reader: impl std::io::Read, sink: &mut RowSink<'_, '_>) -> Result<(), RowsError> {
    let mut reader = csv::Reader::from_reader(reader);
    let headers: Vec<String> = reader
        .headers()
        .map_err(RowsError::Csv)?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut unknown = BTreeSet::new();
    sink.column_errors(1, headers.iter().map(String::as_str), &mut unknown);
    if !headers.iter().any(|c| c == SUBMITTED_AT) {
        sink.errors.push(RowError {
            row: 1,
            column: SUBMITTED_AT.to_string(),
            message: "the column is missing; every row needs its RFC 3339 time".to_string(),
        });
        sink.abandon();
    }
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(RowsError::Csv)? {
        let line = record.position().map_or(0, |p| p.line() as usize);
        let row = CsvRow {
            headers: &headers,
            record: &record,
        };
        sink.row(line, &row).map_err(RowsError::Store)?;
    }
    Ok(())
}

/// JSON Lines: each line an object; numbers, strings, booleans and null become cells. An
/// unknown member is reported on the first line that has it.
fn read_jsonl(reader: impl std::io::BufRead, sink: &mut RowSink<'_, '_>) -> Result<(), RowsError> {
    let mut unknown = BTreeSet::new();
    for (i, line) in reader.lines().enumerate() {
        let line_number = i + 1;
        let line = line.map_err(RowsError::Io)?;
        if line.trim().is_empty() {
            continue;
        }
        let object = match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&line)
        {
            Ok(object) => object,
            Err(e) => {
                sink.errors.push(RowError {
                    row: line_number,
                    column: "(line)".to_string(),
                    message: format!("not a JSON object: {e}"),
                });
                sink.abandon();
                continue;
            }
        };
        let cells: JsonRow = object
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, text)
            })
            .collect();
        sink.column_errors(
            line_number,
            cells.iter().map(|(c, _)| c.as_str()),
            &mut unknown,
        );
        sink.row(line_number, &cells).map_err(RowsError::Store)?;
    }
    Ok(())
}

/// Where validated rows go: into the import's transaction while no problem has been found;
/// after the first, only problems are collected and the transaction is rolled back.
struct RowSink<'s, 'a> {
    context: RowContext<'a>,
    import: Option<Import<'s>>,
    errors: Vec<RowError>,
    /// Anonymous rows seen so far, by content hash: how many identical rows came before.
    seen: HashMap<[u8; 32], usize>,
}

impl RowSink<'_, '_> {
    fn row(&mut self, line: usize, cells: &dyn Cells) -> Result<(), StoreError> {
        match self.context.response(line, cells, &mut self.seen) {
            Ok(response) => match &mut self.import {
                Some(import) => import.add(&response),
                None => Ok(()),
            },
            Err(mut row_errors) => {
                self.errors.append(&mut row_errors);
                self.abandon();
                Ok(())
            }
        }
    }

    /// Rolls the import back: a problem was found, so nothing will be stored.
    fn abandon(&mut self) {
        self.import = None;
    }

    /// Reports each column that is neither a question, nor respondent, submitted_at,
    /// locale or a declared segment, once, at the first row that has it.
    fn column_errors<'c>(
        &mut self,
        row: usize,
        columns: impl Iterator<Item = &'c str>,
        reported: &mut BTreeSet<String>,
    ) {
        let survey = self.context.survey;
        let mut known: Vec<&str> = vec![RESPONDENT, SUBMITTED_AT, LOCALE];
        known.extend(survey.questions.iter().map(|q| q.id.as_str()));
        known.extend(self.context.segments.iter().map(String::as_str));
        for column in columns {
            if known.contains(&column) || !reported.insert(column.to_string()) {
                continue;
            }
            let message = match crate::schema::suggest(column, &known) {
                Some(best) => format!("unknown column; did you mean `{best}`?"),
                None => format!(
                    "unknown column: not a question of `{}`, nor respondent, submitted_at, \
                     locale or a segment its rules declare",
                    survey.id
                ),
            };
            self.errors.push(RowError {
                row,
                column: column.to_string(),
                message,
            });
            self.abandon();
        }
    }

    fn finish(self, path: &Path) -> Result<ImportOutcome, ImportError> {
        match self.import {
            Some(import) if self.errors.is_empty() => Ok(import.commit()?),
            _ => {
                let mut errors = self.errors;
                errors.sort_by_key(|e| e.row);
                Err(ImportError::Invalid {
                    path: path.to_path_buf(),
                    errors,
                })
            }
        }
    }
}

/// What turning a row into a response needs, worked out once per import.
struct RowContext<'a> {
    survey: &'a Survey,
    validator: Validator<'a>,
    version: u32,
    definition_hash: String,
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
        RowContext {
            survey,
            validator: Validator::new(survey),
            version,
            definition_hash,
            segments,
            key,
        }
    }

    fn response(
        &self,
        line: usize,
        cells: &dyn Cells,
        seen: &mut HashMap<[u8; 32], usize>,
    ) -> Result<NewResponse, Vec<RowError>> {
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
                    "expected an RFC 3339 time such as 2026-09-02T05:08:00Z, got `{submitted_at}`"
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
                    "expected one of {}, got `{l}`",
                    self.survey.locales.join(", ")
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
        let answers = match self.validator.validate(|id| cells.get(id)) {
            Ok(answers) if errors.is_empty() => answers,
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
        Ok(NewResponse {
            survey: self.survey.id.clone(),
            version: self.version,
            definition_hash: self.definition_hash.clone(),
            response_key,
            channel: "import".to_string(),
            source: "import".to_string(),
            rule: None,
            locale: locale.map(str::to_string),
            submitted_at,
            confirmed: true,
            complete: self.validator.is_complete(&answers),
            answers,
            segments,
        })
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
        format!("row-{}", crate::token::hex(&hash[..16]))
    }
}

/// The imports ledger's key: the survey, the version and the file's bytes, read in
/// blocks.
fn import_digest(survey: &str, version: u32, path: &Path) -> std::io::Result<String> {
    let mut hasher = sha2::Sha256::new();
    hasher.update(format!("{survey}\0{version}\0").as_bytes());
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(crate::token::hex(&hasher.finalize()))
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
