//! Planning who receives what: audiences, windows and the other parts of a rule.
//!
//! This module holds the pieces of a rule that `check` validates and `plan`/`send`
//! evaluate, so that the two can never read a rule differently. The audience is streamed
//! one person at a time and every decision is taken against the store, so memory stays
//! flat however large the audience, and a rerun decides exactly as the first run did.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::model::{Channel, Rule, Survey};
use crate::store::{LedgerEntry, Status, Store, StoreError};
use crate::token::Key;
use crate::workspace::Workspace;

mod audience;
mod rule;
mod setup;
mod summary;
mod suppression;

use audience::has_overlong_value;
pub use audience::{AudienceReader, Person, people};
use rule::RuleParts;
pub use rule::{SendWindow, parse_moment};
pub use setup::{KeyPolicy, Setup, SetupError};
pub use summary::{Explanation, PlanSummary, explain, plan};
pub use suppression::{suppression_addresses, suppression_list};

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
    parts: RuleParts,
    seen: Mutex<HashSet<u128>>,
}

impl<'a> Planner<'a> {
    /// Parses the rule's parts; `suppressed` holds the recipient keys of the suppression
    /// files. The planner reads the store and never writes to it.
    pub fn new(
        target: Target<'a>,
        key: &'a Key,
        store: &'a Store,
        suppressed: &'a HashSet<String>,
        now: Timestamp,
    ) -> Result<Self, PlanError> {
        Ok(Planner {
            target,
            key,
            store,
            suppressed,
            now,
            parts: RuleParts::parse(&target)?,
            seen: Mutex::new(HashSet::new()),
        })
    }

    /// Whether the plan meets this recipient for the first time: a person listed twice
    /// gets one message. Keys are 16 bytes in hex ([`Key::recipient`]), kept as numbers
    /// so that a million of them take a few dozen megabytes.
    fn first_sight(&self, recipient: &str) -> bool {
        let id = u128::from_str_radix(recipient, 16).expect("recipient keys are hex");
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id)
    }

    /// Where the cap's period starts for a message about to be recorded: the ledger
    /// decides the cap again when it records the message, under its write lock, so that
    /// a concurrent run of another rule cannot reach the same person in between.
    pub fn cap_since(&self, due: &Due) -> Option<i64> {
        let first = due.seq == 0 && due.retry_of.is_none();
        self.parts
            .cap
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
        if !self.first_sight(&recipient) {
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
        match &self.parts.window {
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
            // A queued message was recorded but never handed over: the next run sends it.
            Status::Retrying | Status::Queued => return Ok(FollowUp::Retry(last)),
            Status::Handing | Status::Unknown => {
                return Ok(FollowUp::Skip(Skip::OutcomeUnknown));
            }
            Status::Failed | Status::Bounced => return Ok(FollowUp::Skip(Skip::Failed)),
            Status::Sent => {}
        }
        let Some((after, max)) = self.parts.reminder else {
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
        if let Some((after, within)) = self.parts.trigger
            && !self.triggered(person, after, within)
        {
            return Ok(Some(Skip::NotTriggered));
        }
        if let Some(sample) = self.target.rule.sample
            && self.key.unit_interval(recipient, &self.target.name()) >= sample
        {
            return Ok(Some(Skip::NotSampled));
        }
        if let Some(period) = self.parts.cap {
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
                let language = crate::locale::Locale::parse(wanted);
                survey
                    .locales
                    .iter()
                    .find(|l| l.eq_ignore_ascii_case(wanted))
                    .or_else(|| {
                        survey
                            .locales
                            .iter()
                            .find(|l| l.eq_ignore_ascii_case(language.language()))
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
