//! Planning who receives what: audiences, windows and the other parts of a rule.
//!
//! This module holds the pieces of a rule that `check` validates and `plan`/`send`
//! evaluate, so that the two can never read a rule differently. The audience is streamed
//! one person at a time and every decision is taken against the store, so memory stays
//! flat however large the audience, and a rerun decides exactly as the first run did.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::model::{Audience, Channel, Days, Rule, Survey, Window, parse_duration};
use crate::store::{LedgerEntry, Status, Store, StoreError};
use crate::token::Key;
use crate::workspace::Workspace;

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Parses `09:00-17:00` into minutes after midnight, start inclusive and end exclusive.
pub fn parse_hours(text: &str) -> Result<(u32, u32), String> {
    let (start, end) = text
        .split_once('-')
        .ok_or_else(|| format!("`{text}` is not a range of hours"))?;
    let (start, end) = (parse_clock(start)?, parse_clock(end)?);
    if start >= end {
        return Err(format!("the hours `{text}` end before they start"));
    }
    Ok((start, end))
}

fn parse_clock(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let (h, m) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}` is not a time of day (HH:MM)"))?;
    match (h.parse::<u32>(), m.parse::<u32>()) {
        (Ok(h), Ok(m)) if (h < 24 && m < 60) || (h == 24 && m == 0) => Ok(h * 60 + m),
        _ => Err(format!(
            "`{text}` is not a time of day (HH:MM, 00:00 to 24:00)"
        )),
    }
}

/// Parses days of the week into a set indexed Monday = 0.
pub fn parse_days(days: &Days) -> Result<[bool; 7], String> {
    let mut set = [false; 7];
    let items: Vec<&str> = match days {
        Days::Range(text) => text.split(',').collect(),
        Days::List(list) => list.iter().map(String::as_str).collect(),
    };
    for item in items {
        let item = item.trim().to_ascii_lowercase();
        let (from, to) = item.split_once('-').unwrap_or((&item, &item));
        let (from, to) = (day_index(from)?, day_index(to)?);
        let mut day = from;
        loop {
            set[day] = true;
            if day == to {
                break;
            }
            day = (day + 1) % 7;
        }
    }
    Ok(set)
}

fn day_index(name: &str) -> Result<usize, String> {
    DAY_NAMES
        .iter()
        .position(|d| *d == name.trim())
        .ok_or_else(|| format!("`{name}` is not a day: use {}", DAY_NAMES.join(", ")))
}

/// Whether an audience file is JSON Lines (by its extension) rather than CSV.
pub fn is_jsonl(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("ndjson"))
}

/// The longest header (CSV) or first record (JSON Lines) `check` reads of an audience.
const MAX_HEADER_BYTES: u64 = 1 << 16;

/// The file a workspace names, opened through its confinement (see [`crate::fsutil`]).
pub type Confined = std::io::Take<File>;

/// The column names of an audience file, reading only its header (CSV) or first record
/// (JSON Lines) and never more than 64 KiB of it, so that checking a large audience stays
/// instant and a file with no line ends cannot fill the memory.
pub fn audience_header(dir: &Path, file: &str) -> Result<Vec<String>, String> {
    let path = dir.join(file);
    let path = path.as_path();
    let file = crate::fsutil::Confined::workspace(crate::workspace::root_of(dir))
        .open_in(dir, file, crate::fsutil::MAX_DATA_BYTES)
        .map_err(|e| e.to_string())?;
    let file = file.into_inner().take(MAX_HEADER_BYTES);
    if is_jsonl(path) {
        let mut first = String::new();
        BufReader::new(file)
            .read_line(&mut first)
            .map_err(|e| e.to_string())?;
        let record: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&first)
            .map_err(|e| format!("line 1 is not a JSON object: {e}"))?;
        return Ok(record.keys().cloned().collect());
    }
    let mut reader = csv::Reader::from_reader(file);
    let header = reader.headers().map_err(|e| e.to_string())?;
    Ok(header.iter().map(|h| h.trim().to_string()).collect())
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The selector names no survey with a valid distribution.
    #[error("no survey `{0}` with valid rules in this workspace; run `canvass check`")]
    NoSurvey(String),
    /// The selector names no rule of the survey.
    #[error("the survey `{survey}` has no rule `{rule}` (its rules: {known})")]
    NoRule {
        /// The survey.
        survey: String,
        /// The rule asked for.
        rule: String,
        /// The rules it has.
        known: String,
    },
    /// The rule's channel sends nothing (link, print).
    #[error("the rule `{0}` is a {1} rule: it publishes a link, there is nothing to send")]
    NotSendable(String, &'static str),
    /// A part of the rule does not parse (`canvass check` reports it with its position).
    #[error("the rule `{rule}` is invalid: {message}; run `canvass check`")]
    InvalidRule {
        /// The rule.
        rule: String,
        /// What is wrong.
        message: String,
    },
    /// The audience or a suppression file could not be read.
    #[error("cannot read {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One rule of one survey, with everything needed to evaluate it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The survey sent.
    pub survey: &'a Survey,
    /// The rule.
    pub rule: &'a Rule,
    /// The survey's folder, which audience paths are relative to.
    pub dir: &'a Path,
}

impl Target<'_> {
    /// `survey/rule`, the name used in messages, locks and sampling.
    pub fn name(&self) -> String {
        format!("{}/{}", self.survey.id, self.rule.id)
    }
}

/// The rules a `SURVEY[/RULE]` selector names (`None`: every sendable rule of the
/// workspace, in survey order).
pub fn targets<'a>(
    ws: &'a Workspace,
    selector: Option<&str>,
) -> Result<Vec<Target<'a>>, PlanError> {
    let Some(selector) = selector else {
        return Ok(ws
            .surveys
            .iter()
            .flat_map(entry_targets)
            .filter(|t| sendable(t.rule).is_ok())
            .collect());
    };
    let (survey, rule) = match selector.split_once('/') {
        Some((survey, rule)) => (survey, Some(rule)),
        None => (selector, None),
    };
    let entry = ws
        .survey(survey)
        .ok_or_else(|| PlanError::NoSurvey(survey.to_string()))?;
    let all = entry_targets(entry);
    if all.is_empty() {
        return Err(PlanError::NoSurvey(survey.to_string()));
    }
    let Some(rule) = rule else {
        return Ok(all
            .into_iter()
            .filter(|t| sendable(t.rule).is_ok())
            .collect());
    };
    let target = all
        .iter()
        .find(|t| t.rule.id == rule)
        .copied()
        .ok_or_else(|| PlanError::NoRule {
            survey: survey.to_string(),
            rule: rule.to_string(),
            known: all
                .iter()
                .map(|t| t.rule.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    sendable(target.rule)?;
    Ok(vec![target])
}

fn entry_targets(entry: &crate::workspace::SurveyEntry) -> Vec<Target<'_>> {
    let (Some(survey), Some(distribution)) = (&entry.survey, &entry.distribution) else {
        return Vec::new();
    };
    distribution
        .value
        .rules
        .iter()
        .map(|rule| Target {
            survey: &survey.value,
            rule,
            dir: &entry.dir,
        })
        .collect()
}

fn sendable(rule: &Rule) -> Result<(), PlanError> {
    match rule.channel {
        Channel::Link | Channel::Print => {
            Err(PlanError::NotSendable(rule.id.clone(), rule.channel.name()))
        }
        _ => Ok(()),
    }
}

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
        reader: csv::Reader<Confined>,
        header: Vec<String>,
        record: csv::StringRecord,
    },
    Jsonl {
        lines: BufReader<Confined>,
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
        let source = if is_jsonl(&path) {
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

fn non_empty(value: &str) -> Option<String> {
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

/// Why a person receives nothing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    /// The address column is empty or not an e-mail address.
    InvalidAddress,
    /// The same address appears earlier in the audience.
    Duplicate,
    /// Unsubscribed, bounced, or listed in a suppression file.
    Suppressed,
    /// The rule already reached them (and owes no reminder).
    AlreadySent,
    /// They answered, so no reminder.
    Answered,
    /// A reminder is owed, but not yet.
    ReminderNotDue,
    /// An earlier run handed a message over and died before the reply (`--resend-unknown`).
    OutcomeUnknown,
    /// The server refused an earlier message permanently.
    Failed,
    /// The milestone column is empty, unreadable, or outside the trigger's window.
    NotTriggered,
    /// Outside the rule's sample.
    NotSampled,
    /// Another survey reached them within the cap's period.
    Capped,
    /// Not a sending day or hour where they are.
    OutsideWindow,
    /// The name or a placeholder value is longer than [`MAX_VALUE_CHARS`]: it would make
    /// header lines that mail servers refuse.
    ValueTooLong,
}

/// The longest name or placeholder value an e-mail takes. Names and placeholders go into
/// `To` and `Subject`, and a long run without spaces cannot be folded, so a longer value
/// is refused at plan time, pointed at by its audience line, instead of by the server.
pub const MAX_VALUE_CHARS: usize = 200;

/// How many audience lines a plan lists for each reason that needs fixing in the file.
pub const LINES_LISTED: usize = 20;

impl Skip {
    /// The reason as shown in the plan.
    pub fn name(self) -> &'static str {
        match self {
            Skip::InvalidAddress => "invalid address",
            Skip::Duplicate => "duplicate",
            Skip::Suppressed => "suppressed",
            Skip::AlreadySent => "already sent",
            Skip::Answered => "answered",
            Skip::ReminderNotDue => "reminder not due",
            Skip::OutcomeUnknown => "outcome unknown",
            Skip::Failed => "failed before",
            Skip::NotTriggered => "not triggered",
            Skip::NotSampled => "not sampled",
            Skip::Capped => "capped",
            Skip::OutsideWindow => "outside window",
            Skip::ValueTooLong => "value too long",
        }
    }

    /// Whether the reason is a mistake in the audience file, so the plan lists its lines.
    pub fn lists_lines(self) -> bool {
        matches!(self, Skip::InvalidAddress | Skip::ValueTooLong)
    }
}

/// A message to send: the first (`seq` 0) or a reminder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// 0 for the first message, 1.. for reminders.
    pub seq: u32,
    /// The locale the message is written in.
    pub locale: String,
    /// The recipient key.
    pub recipient: String,
    /// The ledger id when an earlier attempt of this very message did not go through.
    pub retry_of: Option<String>,
}

/// What the rule does with one person now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send this message.
    Send(Due),
    /// Nothing, for this reason.
    Skip(Skip),
}

/// A rule's parts, parsed once, evaluated for each person.
pub struct Planner<'a> {
    target: Target<'a>,
    key: &'a Key,
    store: &'a Store,
    suppressed: &'a HashSet<String>,
    now: Timestamp,
    trigger: Option<(i64, Option<i64>)>,
    cap: Option<i64>,
    reminder: Option<(i64, u32)>,
    window: Option<SendWindow>,
}

impl<'a> Planner<'a> {
    /// Parses the rule's parts; `suppressed` holds the recipient keys of the suppression files.
    pub fn new(
        target: Target<'a>,
        key: &'a Key,
        store: &'a Store,
        suppressed: &'a HashSet<String>,
        now: Timestamp,
    ) -> Result<Self, PlanError> {
        let rule = target.rule;
        let invalid = |message: String| PlanError::InvalidRule {
            rule: target.name(),
            message,
        };
        let duration = |text: &str| parse_duration(text).map_err(invalid);
        let trigger = match &rule.trigger {
            None => None,
            Some(t) => Some((
                t.after.as_deref().map_or(Ok(0), duration)?,
                t.within.as_deref().map(duration).transpose()?,
            )),
        };
        let cap = rule
            .cap
            .as_ref()
            .map(|c| duration(&c.once_per))
            .transpose()?;
        let reminder = match &rule.reminder {
            None => None,
            Some(r) => Some((duration(&r.after)?, r.max)),
        };
        let window = rule
            .window
            .as_ref()
            .map(SendWindow::new)
            .transpose()
            .map_err(invalid)?;
        store.forget_seen()?;
        Ok(Planner {
            target,
            key,
            store,
            suppressed,
            now,
            trigger,
            cap,
            reminder,
            window,
        })
    }

    /// Where the cap's period starts for a message about to be recorded: the ledger
    /// decides the cap again when it records the message, under its write lock, so that
    /// a concurrent run of another rule cannot reach the same person in between.
    pub fn cap_since(&self, due: &Due) -> Option<i64> {
        let first = due.seq == 0 && due.retry_of.is_none();
        self.cap
            .filter(|_| first)
            .map(|period| self.now.as_second() - period)
    }

    /// The rule planned.
    pub fn target(&self) -> Target<'a> {
        self.target
    }

    /// The decision for one person (for a channel-wide rule, the channel).
    pub fn decide(&self, person: &Person) -> Result<Decision, PlanError> {
        if self.target.rule.channel == Channel::Email
            && lettre::Address::from_str(&person.address).is_err()
        {
            return Ok(Decision::Skip(Skip::InvalidAddress));
        }
        if self.target.rule.channel == Channel::Email && has_overlong_value(person) {
            return Ok(Decision::Skip(Skip::ValueTooLong));
        }
        let recipient = self.key.recipient(&person.address);
        if !self.store.first_sight(&recipient)? {
            return Ok(Decision::Skip(Skip::Duplicate));
        }
        if self.suppressed.contains(&recipient) || self.store.suppression(&recipient)?.is_some() {
            return Ok(Decision::Skip(Skip::Suppressed));
        }
        let (survey, rule) = (&self.target.survey.id, &self.target.rule.id);
        let history = self.store.history(survey, rule, &recipient)?;
        let seq = match self.follow_up(&history)? {
            FollowUp::Skip(skip) => return Ok(Decision::Skip(skip)),
            FollowUp::Retry(entry) => {
                return Ok(self.in_window(
                    person,
                    Due {
                        seq: entry.seq,
                        locale: entry.locale.clone(),
                        recipient,
                        retry_of: Some(entry.id.clone()),
                    },
                ));
            }
            FollowUp::Send(seq) => seq,
        };
        if seq == 0
            && let Some(skip) = self.first_message_skip(person, &recipient)?
        {
            return Ok(Decision::Skip(skip));
        }
        let locale = self.locale(person);
        Ok(self.in_window(
            person,
            Due {
                seq,
                locale,
                recipient,
                retry_of: None,
            },
        ))
    }

    fn in_window(&self, person: &Person, due: Due) -> Decision {
        let zone = person
            .timezone
            .as_deref()
            .and_then(|tz| TimeZone::get(tz).ok());
        match &self.window {
            Some(window) if !window.allows(self.now, zone) => Decision::Skip(Skip::OutsideWindow),
            _ => Decision::Send(due),
        }
    }

    /// What the ledger says about this rule and person: nothing yet, a message to
    /// retry, a reminder owed, or a reason to stop.
    fn follow_up<'h>(&self, history: &'h [LedgerEntry]) -> Result<FollowUp<'h>, PlanError> {
        let Some(last) = history.last() else {
            return Ok(FollowUp::Send(0));
        };
        match last.status {
            Status::Retrying => return Ok(FollowUp::Retry(last)),
            Status::Queued | Status::Handing | Status::Unknown => {
                return Ok(FollowUp::Skip(Skip::OutcomeUnknown));
            }
            Status::Failed | Status::Bounced => return Ok(FollowUp::Skip(Skip::Failed)),
            Status::Sent => {}
        }
        let Some((after, max)) = self.reminder else {
            return Ok(FollowUp::Skip(Skip::AlreadySent));
        };
        if last.seq >= max {
            return Ok(FollowUp::Skip(Skip::AlreadySent));
        }
        let ids: Vec<&str> = history.iter().map(|e| e.id.as_str()).collect();
        if self.store.answered(&self.target.survey.id, &ids)? {
            return Ok(FollowUp::Skip(Skip::Answered));
        }
        if last.created_at.as_second() + after > self.now.as_second() {
            return Ok(FollowUp::Skip(Skip::ReminderNotDue));
        }
        Ok(FollowUp::Send(last.seq + 1))
    }

    fn first_message_skip(
        &self,
        person: &Person,
        recipient: &str,
    ) -> Result<Option<Skip>, PlanError> {
        if let Some((after, within)) = self.trigger
            && !self.triggered(person, after, within)
        {
            return Ok(Some(Skip::NotTriggered));
        }
        if let Some(sample) = self.target.rule.sample
            && self.key.unit_interval(recipient, &self.target.name()) >= sample
        {
            return Ok(Some(Skip::NotSampled));
        }
        if let Some(period) = self.cap {
            let since = self.now.as_second() - period;
            if self.store.contacted_since(recipient, since)? {
                return Ok(Some(Skip::Capped));
            }
        }
        Ok(None)
    }

    fn triggered(&self, person: &Person, after: i64, within: Option<i64>) -> bool {
        let zone = person
            .timezone
            .as_deref()
            .and_then(|tz| TimeZone::get(tz).ok())
            .unwrap_or(TimeZone::UTC);
        let Some(milestone) = person
            .milestone
            .as_deref()
            .and_then(|m| parse_moment(m, &zone))
        else {
            return false;
        };
        let due = milestone.as_second() + after;
        let now = self.now.as_second();
        due <= now && within.is_none_or(|within| now < due + within)
    }

    /// The person's locale when the survey has it (or its language), else the default.
    pub fn locale(&self, person: &Person) -> String {
        let survey = self.target.survey;
        person
            .locale
            .as_deref()
            .and_then(|wanted| {
                let language = wanted.split(['-', '_']).next().unwrap_or(wanted);
                survey
                    .locales
                    .iter()
                    .find(|l| l.eq_ignore_ascii_case(wanted))
                    .or_else(|| {
                        survey
                            .locales
                            .iter()
                            .find(|l| l.eq_ignore_ascii_case(language))
                    })
            })
            .map_or_else(|| survey.default_locale().to_string(), String::clone)
    }
}

enum FollowUp<'h> {
    Send(u32),
    Retry(&'h LedgerEntry),
    Skip(Skip),
}

/// Reads a milestone: an RFC 3339 instant, or a local date-time or date in `zone`.
pub fn parse_moment(text: &str, zone: &TimeZone) -> Option<Timestamp> {
    if let Ok(instant) = Timestamp::from_str(text) {
        return Some(instant);
    }
    let civil = jiff::civil::DateTime::from_str(text)
        .or_else(|_| {
            jiff::civil::Date::from_str(text).map(|d| d.to_datetime(jiff::civil::Time::midnight()))
        })
        .ok()?;
    civil.to_zoned(zone.clone()).ok().map(|z| z.timestamp())
}

/// A rule's sending window, parsed.
#[derive(Debug, Clone)]
pub struct SendWindow {
    days: [bool; 7],
    minutes: Option<(u32, u32)>,
    zone: TimeZone,
}

impl SendWindow {
    /// Parses a window; its zone is UTC when it names none.
    pub fn new(window: &Window) -> Result<SendWindow, String> {
        let zone = match &window.timezone {
            Some(tz) => {
                TimeZone::get(tz).map_err(|_| format!("`{tz}` is not an IANA time zone"))?
            }
            None => TimeZone::UTC,
        };
        Ok(SendWindow {
            days: window.days.as_ref().map_or(Ok([true; 7]), parse_days)?,
            minutes: window.hours.as_deref().map(parse_hours).transpose()?,
            zone,
        })
    }

    /// Whether `now` is a sending day and hour in `zone` (the person's), else the window's zone.
    pub fn allows(&self, now: Timestamp, zone: Option<TimeZone>) -> bool {
        let local = now.to_zoned(zone.unwrap_or_else(|| self.zone.clone()));
        let day = local.weekday().to_monday_zero_offset() as usize;
        let minute = local.hour() as u32 * 60 + local.minute() as u32;
        self.days[day]
            && self
                .minutes
                .is_none_or(|(start, end)| (start..end).contains(&minute))
    }
}

/// The recipient keys of everyone in the workspace's suppression files.
pub fn suppression_list(ws: &Workspace, key: &Key) -> Result<HashSet<String>, PlanError> {
    Ok(suppression_addresses(ws)?
        .iter()
        .map(|address| key.recipient(address))
        .collect())
}

/// The addresses of the workspace's suppression files (CSV with an `email` column, or one
/// address per line).
pub fn suppression_addresses(ws: &Workspace) -> Result<Vec<String>, PlanError> {
    let mut addresses = Vec::new();
    for file in &ws.settings.suppression {
        let path = ws.root.join(file);
        let error = |message: String| PlanError::File {
            path: path.clone(),
            message,
        };
        let text = crate::fsutil::Confined::workspace(&ws.root)
            .read_in(&ws.root, file, crate::fsutil::MAX_DATA_BYTES)
            .map_err(|e| error(e.to_string()))?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut column = None;
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| error(e.to_string()))?;
            if i == 0
                && let Some(at) = record
                    .iter()
                    .position(|c| c.trim().eq_ignore_ascii_case("email"))
            {
                column = Some(at);
                continue;
            }
            if let Some(address) = record.get(column.unwrap_or(0)).and_then(non_empty) {
                addresses.push(address);
            }
        }
    }
    Ok(addresses)
}

/// The counts of a plan: who gets what, and why the others do not.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlanSummary {
    /// `survey/rule`.
    pub rule: String,
    /// The channel.
    pub channel: &'static str,
    /// People in the audience (1 for a channel-wide rule).
    pub audience: u64,
    /// First messages due now.
    pub first: u64,
    /// Reminders due now.
    pub reminders: u64,
    /// Messages retried after a temporary failure of an earlier run.
    pub retries: u64,
    /// Messages due, by locale.
    pub by_locale: BTreeMap<String, u64>,
    /// People skipped, by reason.
    pub skipped: BTreeMap<Skip, u64>,
    /// The first audience lines skipped for a mistake in the file ([`Skip::lists_lines`]).
    pub lines: BTreeMap<Skip, Vec<u64>>,
}

impl PlanSummary {
    /// Messages due now.
    pub fn due(&self) -> u64 {
        self.first + self.reminders + self.retries
    }

    /// Turns a message counted due into one skipped for the cap: the ledger found, when
    /// recording it, that a concurrent run had just reached the person.
    pub fn recount_capped(&mut self, due: &Due) {
        if let Some(n) = self.by_locale.get_mut(&due.locale) {
            *n = n.saturating_sub(1);
        }
        self.first = self.first.saturating_sub(1);
        *self.skipped.entry(Skip::Capped).or_default() += 1;
    }

    /// Adds the decision for the person at an audience line.
    pub fn count(&mut self, decision: &Decision, line: u64) {
        self.audience += 1;
        match decision {
            Decision::Skip(skip) => {
                *self.skipped.entry(*skip).or_default() += 1;
                if skip.lists_lines() {
                    let lines = self.lines.entry(*skip).or_default();
                    if lines.len() < LINES_LISTED {
                        lines.push(line);
                    }
                }
            }
            Decision::Send(due) => {
                *self.by_locale.entry(due.locale.clone()).or_default() += 1;
                match (due.retry_of.is_some(), due.seq) {
                    (true, _) => self.retries += 1,
                    (false, 0) => self.first += 1,
                    (false, _) => self.reminders += 1,
                }
            }
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

/// Plans a rule: every person's decision, counted.
pub fn plan(planner: &Planner) -> Result<PlanSummary, PlanError> {
    let target = planner.target();
    let mut summary = PlanSummary {
        rule: target.name(),
        channel: target.rule.channel.name(),
        ..PlanSummary::default()
    };
    for person in people(&target)? {
        let person = person?;
        summary.count(&planner.decide(&person)?, person.line);
    }
    Ok(summary)
}

/// Whether a value that goes into the headers is too long for them.
fn has_overlong_value(person: &Person) -> bool {
    let long = |value: &String| value.chars().count() > MAX_VALUE_CHARS;
    person.name.as_ref().is_some_and(long) || person.placeholders.values().any(long)
}

/// One person's decision, for `plan --explain`.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// `survey/rule`.
    pub rule: String,
    /// The audience line, `None` when the address is not in the audience.
    pub line: Option<u64>,
    /// `send` or the reason for skipping.
    pub decision: String,
    /// The locale of the message due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// 0 for the first message, 1.. for a reminder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u32>,
}

/// Explains what the rule does with one address (its first line in the audience).
pub fn explain(planner: &Planner, address: &str) -> Result<Explanation, PlanError> {
    let target = planner.target();
    let wanted = address.trim().to_lowercase();
    let mut explanation = Explanation {
        rule: target.name(),
        line: None,
        decision: "not in the audience".to_string(),
        locale: None,
        seq: None,
    };
    for person in people(&target)? {
        let person = person?;
        if person.address.trim().to_lowercase() != wanted {
            continue;
        }
        explanation.line = Some(person.line);
        match planner.decide(&person)? {
            Decision::Send(due) => {
                explanation.decision = if due.seq == 0 {
                    "send"
                } else {
                    "send a reminder"
                }
                .to_string();
                explanation.locale = Some(due.locale);
                explanation.seq = Some(due.seq);
            }
            Decision::Skip(skip) => explanation.decision = skip.name().to_string(),
        }
        break;
    }
    Ok(explanation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_and_days() {
        assert_eq!(parse_hours("09:00-17:30"), Ok((540, 1050)));
        assert!(parse_hours("17:00-09:00").is_err());
        assert!(parse_hours("25:00-26:00").is_err());
        let week = parse_days(&Days::Range("mon-fri".into())).unwrap();
        assert_eq!(week, [true, true, true, true, true, false, false]);
        let wrap = parse_days(&Days::Range("sat-mon".into())).unwrap();
        assert_eq!(wrap, [true, false, false, false, false, true, true]);
        assert!(parse_days(&Days::List(vec!["mon".into(), "funday".into()])).is_err());
    }
}
