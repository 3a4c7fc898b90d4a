//! `canvass import` and `canvass export`: answers gathered elsewhere, as CSV or JSON
//! Lines, one row per response.
//!
//! A row has a column per question id, `submitted_at` (RFC 3339), optionally `respondent`
//! and `locale`, and segment columns the survey's rules declare. Every row is validated
//! exactly as the web form validates ([`crate::answer::validate_response`]); every problem
//! is reported with its row and column, and the import is all or nothing. Respondent ids
//! are stored only as keyed hashes. Importing the same file twice adds nothing, and an
//! export imports back to the same answers.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use crate::answer::{is_complete, validate_response};
use crate::model::{AnswerValue, Survey};
use crate::store::{ImportOutcome, NewResponse, ReadError, Store, StoreError, StoredResponse};
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

/// One row as read: its line and its cells (empty = unanswered).
type RawRow = (usize, BTreeMap<String, String>);

/// Imports a file of answers into the workspace's store for `survey_id` (at `version`,
/// default the survey's current one). Returns what was done, or every problem found.
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
    let bytes = std::fs::read(path).map_err(io)?;
    let (columns, rows) = match Format::of_path(path) {
        Format::Csv => read_csv(&bytes).map_err(|source| ImportError::Csv {
            path: path.to_path_buf(),
            source,
        })?,
        Format::Jsonl => read_jsonl(&bytes),
    };
    let segments = declared_segments(workspace, survey_id);
    let mut errors = column_errors(survey, &segments, &columns);
    let (key, _) = Key::from_env_or_dev(&workspace.state_dir()).map_err(io)?;
    let context = RowContext {
        survey,
        version,
        segments: &segments,
        key: &key,
    };
    let mut responses = Vec::with_capacity(rows.len());
    let mut seen = HashMap::new();
    for (line, cells) in rows {
        match context.response(line, cells, &mut seen) {
            Ok(response) => responses.push(response),
            Err(mut row_errors) => errors.append(&mut row_errors),
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.row);
        return Err(ImportError::Invalid {
            path: path.to_path_buf(),
            errors,
        });
    }
    let digest = import_digest(survey_id, version, &bytes);
    let store = Store::open_in(&workspace.state_dir())?;
    Ok(store.record_import(&digest, survey_id, &responses)?)
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

fn column_errors(
    survey: &Survey,
    segments: &BTreeSet<String>,
    columns: &[String],
) -> Vec<RowError> {
    let mut known: Vec<&str> = vec![RESPONDENT, SUBMITTED_AT, LOCALE];
    known.extend(survey.questions.iter().map(|q| q.id.as_str()));
    known.extend(segments.iter().map(String::as_str));
    let mut errors: Vec<RowError> = columns
        .iter()
        .filter(|c| !known.contains(&c.as_str()))
        .map(|c| RowError {
            row: 1,
            column: c.clone(),
            message: match crate::schema::suggest(c, &known) {
                Some(best) => format!("unknown column; did you mean `{best}`?"),
                None => format!(
                    "unknown column: not a question of `{}`, nor respondent, submitted_at, \
                     locale or a segment its rules declare",
                    survey.id
                ),
            },
        })
        .collect();
    if !columns.iter().any(|c| c == SUBMITTED_AT) {
        errors.push(RowError {
            row: 1,
            column: SUBMITTED_AT.to_string(),
            message: "the column is missing; every row needs its RFC 3339 time".to_string(),
        });
    }
    errors
}

fn read_csv(bytes: &[u8]) -> Result<(Vec<String>, Vec<RawRow>), csv::Error> {
    let mut reader = csv::Reader::from_reader(bytes);
    let headers: Vec<String> = reader
        .headers()?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let cells = headers
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.clone(), v.to_string()))
            .collect();
        rows.push((line, cells));
    }
    Ok((headers, rows))
}

/// JSON Lines: each line an object; numbers, strings, booleans and null become cells.
/// A line that is not an object becomes a row with an `(line)` error cell.
fn read_jsonl(bytes: &[u8]) -> (Vec<String>, Vec<RawRow>) {
    let mut columns = BTreeSet::new();
    let mut rows = Vec::new();
    for (i, line) in String::from_utf8_lossy(bytes).lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let cells: BTreeMap<String, String> =
            match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line) {
                Ok(object) => object
                    .into_iter()
                    .map(|(k, v)| {
                        let text = match v {
                            serde_json::Value::Null => String::new(),
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (k, text)
                    })
                    .collect(),
                Err(e) => [(LINE_ERROR.to_string(), e.to_string())].into(),
            };
        columns.extend(cells.keys().filter(|k| *k != LINE_ERROR).cloned());
        rows.push((i + 1, cells));
    }
    (columns.into_iter().collect(), rows)
}

/// The cell a malformed JSON line is read into, reported as that line's error.
const LINE_ERROR: &str = "(line)";

/// What turning a row into a response needs.
struct RowContext<'a> {
    survey: &'a Survey,
    version: u32,
    segments: &'a BTreeSet<String>,
    key: &'a Key,
}

impl RowContext<'_> {
    fn response(
        &self,
        line: usize,
        mut cells: BTreeMap<String, String>,
        seen: &mut HashMap<String, usize>,
    ) -> Result<NewResponse, Vec<RowError>> {
        let error = |column: &str, message: String| RowError {
            row: line,
            column: column.to_string(),
            message,
        };
        if let Some(message) = cells.remove(LINE_ERROR) {
            return Err(vec![error(
                LINE_ERROR,
                format!("not a JSON object: {message}"),
            )]);
        }
        let mut errors = Vec::new();
        let respondent = cells.remove(RESPONDENT).unwrap_or_default();
        let submitted_at = cells.remove(SUBMITTED_AT).unwrap_or_default();
        let submitted = submitted_at.trim().parse::<jiff::Timestamp>();
        if submitted.is_err() {
            errors.push(error(
                SUBMITTED_AT,
                format!(
                    "expected an RFC 3339 time such as 2026-09-02T05:08:00Z, got `{submitted_at}`"
                ),
            ));
        }
        let locale = cells.remove(LOCALE).filter(|l| !l.trim().is_empty());
        if let Some(l) = &locale
            && !self.survey.locales.contains(l)
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
            .filter_map(|s| Some((s.clone(), cells.remove(s)?)))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let answers = validate_response(self.survey, &cells).map_err(|field_errors| {
            field_errors
                .into_iter()
                .filter(|f| self.survey.question(&f.question).is_some())
                .map(|f| error(&f.question, f.message))
                .collect::<Vec<_>>()
        });
        let answers = match answers {
            Ok(answers) if errors.is_empty() => answers,
            Ok(_) => return Err(errors),
            Err(mut field_errors) => {
                errors.append(&mut field_errors);
                return Err(errors);
            }
        };
        let submitted_at = submitted.map(|t| t.to_string()).unwrap_or_default();
        let response_key = self.response_key(&respondent, &submitted_at, &answers, seen);
        Ok(NewResponse {
            survey: self.survey.id.clone(),
            version: self.version,
            definition_hash: self.definition_hash(),
            response_key,
            channel: "import".to_string(),
            source: "import".to_string(),
            rule: None,
            locale,
            submitted_at,
            confirmed: true,
            complete: is_complete(self.survey, &answers),
            answers,
            segments,
        })
    }

    /// The hash of the definition validated against; empty when importing into another
    /// version than the one on disk, whose wording is unknown.
    fn definition_hash(&self) -> String {
        if self.version == self.survey.version {
            self.survey.definition_hash()
        } else {
            String::new()
        }
    }

    /// The respondent's keyed hash; a `key:` value as is; for an anonymous row a hash of
    /// its content and how many identical rows came before, so a re-import matches.
    fn response_key(
        &self,
        respondent: &str,
        submitted_at: &str,
        answers: &crate::answer::Answers,
        seen: &mut HashMap<String, usize>,
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
        let occurrence = seen.entry(content.clone()).or_insert(0);
        *occurrence += 1;
        let hash = sha2::Sha256::digest(format!("{content}\0{occurrence}").as_bytes());
        format!("row-{}", crate::token::hex(&hash[..16]))
    }
}

/// The imports ledger's key: the survey, the version and the file's bytes.
fn import_digest(survey: &str, version: u32, bytes: &[u8]) -> String {
    let mut hasher = sha2::Sha256::new();
    hasher.update(format!("{survey}\0{version}\0").as_bytes());
    hasher.update(bytes);
    crate::token::hex(&hasher.finalize())
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
