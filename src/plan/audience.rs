//! Reading an audience: the header (for `check`), then one person at a time, so memory
//! stays flat however large the file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use super::{MAX_VALUE_CHARS, PlanError, Target};
use crate::model::Audience;

/// An audience file, opened through its confinement (see [`crate::fsutil`]).
type Opened = std::io::Take<File>;

/// One person of an audience, as the rule's columns name them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    /// The line in the audience file, to point at a person without printing the address.
    pub line: u64,
    /// The address (the `key` column).
    pub address: String,
    /// The `locale` column.
    pub locale: Option<String>,
    /// The `name` column.
    pub name: Option<String>,
    /// The `timezone` column.
    pub timezone: Option<String>,
    /// The trigger's date-time column.
    pub milestone: Option<String>,
    /// The `placeholders` columns.
    pub placeholders: BTreeMap<String, String>,
    /// The `segments` columns.
    pub segments: BTreeMap<String, String>,
}

/// Streams the people of an audience file, CSV or JSON Lines, one record in memory at a time.
pub struct AudienceReader {
    path: PathBuf,
    audience: Audience,
    trigger_field: Option<String>,
    source: Records,
}

enum Records {
    Csv {
        reader: csv::Reader<Opened>,
        header: Vec<String>,
        record: csv::StringRecord,
    },
    Jsonl {
        lines: BufReader<Opened>,
        buffer: String,
        line: u64,
    },
}

impl AudienceReader {
    /// Opens the audience of a rule (a channel-wide rule has none).
    pub fn open(target: &Target) -> Result<Option<AudienceReader>, PlanError> {
        let Some(audience) = &target.rule.audience else {
            return Ok(None);
        };
        let path = target.dir.join(&audience.file);
        let file_error = |message: String| PlanError::File {
            path: path.clone(),
            message,
        };
        let root = crate::workspace::root_of(target.dir);
        let file = crate::fsutil::Confined::workspace(root)
            .open_in(target.dir, &audience.file, crate::fsutil::MAX_DATA_BYTES)
            .map_err(|e| file_error(e.to_string()))?;
        let source = if crate::fsutil::is_jsonl(&path) {
            Records::Jsonl {
                lines: BufReader::new(file),
                buffer: String::new(),
                line: 0,
            }
        } else {
            let mut reader = crate::fsutil::csv_reader(file);
            let header = reader
                .headers()
                .map_err(|e| file_error(e.to_string()))?
                .iter()
                .map(|h| h.trim().to_string())
                .collect();
            Records::Csv {
                reader,
                header,
                record: csv::StringRecord::new(),
            }
        };
        Ok(Some(AudienceReader {
            path,
            audience: audience.clone(),
            trigger_field: target.rule.trigger.as_ref().map(|t| t.field.clone()),
            source,
        }))
    }

    fn person(&self, line: u64, get: impl Fn(&str) -> Option<String>) -> Person {
        let columns = |names: &[String]| {
            names
                .iter()
                .filter_map(|c| get(c).map(|v| (c.clone(), v)))
                .collect()
        };
        let optional = |column: &Option<String>| column.as_deref().and_then(&get);
        Person {
            line,
            address: get(&self.audience.key).unwrap_or_default(),
            locale: optional(&self.audience.locale),
            name: optional(&self.audience.name),
            timezone: optional(&self.audience.timezone),
            milestone: optional(&self.trigger_field),
            placeholders: columns(&self.audience.placeholders),
            segments: columns(&self.audience.segments),
        }
    }

    fn error(&self, line: u64, message: impl std::fmt::Display) -> PlanError {
        PlanError::File {
            path: self.path.clone(),
            message: format!("line {line}: {message}"),
        }
    }
}

pub(super) fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}

impl Iterator for AudienceReader {
    type Item = Result<Person, PlanError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.source {
            Records::Csv {
                reader,
                header,
                record,
            } => {
                let result = reader.read_record(record);
                let line = record.position().map_or(0, |p| p.line());
                match result {
                    Ok(false) => None,
                    Err(e) => Some(Err(self.error(line, e))),
                    Ok(true) => {
                        let (header, record) = (header.clone(), record.clone());
                        Some(Ok(self.person(line, |column| {
                            let at = header.iter().position(|h| h == column)?;
                            record.get(at).and_then(non_empty)
                        })))
                    }
                }
            }
            Records::Jsonl {
                lines,
                buffer,
                line,
            } => loop {
                buffer.clear();
                *line += 1;
                let at = *line;
                match lines.read_line(buffer) {
                    Ok(0) => return None,
                    Err(e) => return Some(Err(self.error(at, e))),
                    Ok(_) if buffer.trim().is_empty() => continue,
                    Ok(_) => {}
                }
                let parsed =
                    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(buffer);
                return Some(match parsed {
                    Err(e) => Err(self.error(at, format!("not a JSON object: {e}"))),
                    Ok(object) => Ok(self.person(at, |column| match object.get(column)? {
                        serde_json::Value::String(s) => non_empty(s),
                        serde_json::Value::Null => None,
                        other => Some(other.to_string()),
                    })),
                });
            },
        }
    }
}

/// The people of a rule, or the channel itself for a channel-wide webhook rule.
pub fn people(
    target: &Target,
) -> Result<Box<dyn Iterator<Item = Result<Person, PlanError>>>, PlanError> {
    Ok(match AudienceReader::open(target)? {
        Some(reader) => Box::new(reader),
        None => Box::new(std::iter::once(Ok(channel_person(target)))),
    })
}

/// A channel-wide rule's single "recipient": the webhook it posts to.
fn channel_person(target: &Target) -> Person {
    Person {
        line: 0,
        address: format!(
            "{}:{}",
            target.rule.channel.name(),
            target.rule.webhook_env.as_deref().unwrap_or_default()
        ),
        ..Person::default()
    }
}

/// Whether a value that goes into the headers is too long for them.
pub(super) fn has_overlong_value(person: &Person) -> bool {
    let long = |value: &String| value.chars().count() > MAX_VALUE_CHARS;
    person.name.as_ref().is_some_and(long) || person.placeholders.values().any(long)
}
