//! The data model: surveys, distribution rules and workspace settings, as typed values.
//!
//! These types are deserialized from documents that already passed their JSON Schema, so
//! they only need to express meaning; positions stay in the document's span map.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A text shown to people: one string, or one per locale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Text {
    /// The same text in every locale (a single-locale survey).
    Plain(String),
    /// A translation per locale code.
    Localized(BTreeMap<String, String>),
}

impl Text {
    /// The text in `locale`, else in `fallback`, else any; a survey that passed `check`
    /// always has the locale asked for.
    pub fn get<'a>(&'a self, locale: &str, fallback: &str) -> &'a str {
        match self {
            Text::Plain(text) => text,
            Text::Localized(map) => map
                .get(locale)
                .or_else(|| map.get(fallback))
                .or_else(|| map.values().next())
                .map_or("", String::as_str),
        }
    }

    /// The locales this text has, `None` for a plain string (which fits every locale).
    pub fn locales(&self) -> Option<impl Iterator<Item = &str>> {
        match self {
            Text::Plain(_) => None,
            Text::Localized(map) => Some(map.keys().map(String::as_str)),
        }
    }
}

/// A questionnaire, versioned: answers to different versions are never mixed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Survey {
    /// Equal to the survey's folder name.
    pub id: String,
    /// Bumped when a change makes new answers incomparable with old ones.
    pub version: u32,
    /// The locales every text must carry; the first is the default.
    pub locales: Vec<String>,
    /// The survey's title (page title, e-mail heading).
    pub title: Text,
    /// A sentence shown before the questions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intro: Option<Text>,
    /// The questions, in the order shown.
    pub questions: Vec<Question>,
    /// The scores computed from the answers.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// The thank-you text after an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thanks: Option<Text>,
    /// A reward (a coupon code) shown only after a complete answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incentive: Option<Text>,
    /// The yes_no question asking whether the person may be contacted: only a `yes` lets
    /// an alert say who answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_consent: Option<String>,
}

impl Survey {
    /// The default locale, used when a recipient's locale is unknown.
    pub fn default_locale(&self) -> &str {
        self.locales.first().map_or("en", String::as_str)
    }

    /// The question with this id.
    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.id == id)
    }

    /// A short hash of the definition (canonical JSON of the typed survey), stored with
    /// every answer so that a report can tell exactly which wording was answered.
    pub fn definition_hash(&self) -> String {
        use sha2::Digest as _;
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(&sha2::Sha256::digest(&json)[..8])
    }

    /// The position of the question with this id.
    pub fn question_index(&self, id: &str) -> Option<usize> {
        self.questions.iter().position(|q| q.id == id)
    }
}

/// The kinds of question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionType {
    /// A numeric scale with declared ends (CSAT is 1–5).
    Rating,
    /// Net Promoter Score: 0–10.
    Nps,
    /// Customer Effort Score: the 1–7 agreement scale.
    Ces,
    /// Yes or no (first-contact resolution, checklist items).
    YesNo,
    /// One of a list of options.
    Choice,
    /// Free text.
    Text,
}

impl QuestionType {
    /// The name used in YAML.
    pub fn name(self) -> &'static str {
        match self {
            QuestionType::Rating => "rating",
            QuestionType::Nps => "nps",
            QuestionType::Ces => "ces",
            QuestionType::YesNo => "yes_no",
            QuestionType::Choice => "choice",
            QuestionType::Text => "text",
        }
    }

    /// Whether answers are numbers on a scale.
    pub fn is_scaled(self) -> bool {
        matches!(
            self,
            QuestionType::Rating | QuestionType::Nps | QuestionType::Ces
        )
    }
}

/// One question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Unique within the survey; the column name in imports and exports.
    pub id: String,
    /// What kind of answer it takes.
    #[serde(rename = "type")]
    pub kind: QuestionType,
    /// The question as asked.
    pub text: Text,
    /// A hint shown under the question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<Text>,
    /// Whether an answer is needed (when the question is shown).
    #[serde(default)]
    pub required: bool,
    /// The scale of a rating, or labels for the fixed nps and ces scales.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<Scale>,
    /// The options of a choice question.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<Choice>,
    /// A condition over earlier answers; the question is asked only when it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// The item's weight in a `weighted` metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// The id this question had before it was renamed, so answers stay comparable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// The longest text answer accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
}

/// The widest rating scale, in steps: a page shows one button per point, and past 101 a
/// person can no longer tell them apart; `check` refuses a wider one (E042).
pub const MAX_SCALE_STEPS: u64 = 100;

/// The longest free-text answer accepted when a question sets no `max_length`.
pub const DEFAULT_MAX_LENGTH: u32 = 2000;

impl Question {
    /// The inclusive range of a scaled question: the declared one for a rating, 0–10 for
    /// nps, 1–7 for ces.
    pub fn range(&self) -> Option<(i64, i64)> {
        match self.kind {
            QuestionType::Nps => Some((0, 10)),
            QuestionType::Ces => Some((1, 7)),
            QuestionType::Rating => {
                let scale = self.scale.as_ref()?;
                Some((scale.min?, scale.max?))
            }
            _ => None,
        }
    }

    /// The values an answer may take, for buttons and tick boxes (scaled and yes/no
    /// questions and choices; empty for text).
    pub fn values(&self) -> Vec<AnswerValue> {
        match self.kind {
            QuestionType::YesNo => vec![AnswerValue::word("yes"), AnswerValue::word("no")],
            QuestionType::Choice => self
                .options
                .iter()
                .map(|o| AnswerValue::word(&o.id))
                .collect(),
            QuestionType::Text => Vec::new(),
            _ => self
                .range()
                .map(|(lo, hi)| {
                    let last = hi.min(lo.saturating_add(MAX_SCALE_STEPS as i64));
                    (lo..=last).map(AnswerValue::Number).collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The label of a scale point, if the survey gives one.
    pub fn label(&self, value: i64) -> Option<&Text> {
        self.scale.as_ref()?.labels.get(&value.to_string())
    }

    /// The weight in a `weighted` metric.
    pub fn weight(&self) -> f64 {
        self.weight.unwrap_or(1.0)
    }

    /// Reads a raw answer (a form field, a CSV cell) as this question's value.
    pub fn parse_answer(&self, raw: &str) -> Result<AnswerValue, AnswerError> {
        let raw = raw.trim();
        match self.kind {
            QuestionType::Text => {
                let limit = self.max_length.unwrap_or(DEFAULT_MAX_LENGTH);
                if raw.chars().count() > limit as usize {
                    return Err(AnswerError::TooLong(limit));
                }
                Ok(AnswerValue::Word(raw.to_string()))
            }
            QuestionType::YesNo => match raw.to_ascii_lowercase().as_str() {
                "yes" | "true" | "1" | "y" => Ok(AnswerValue::word("yes")),
                "no" | "false" | "0" | "n" => Ok(AnswerValue::word("no")),
                _ => Err(AnswerError::NotYesNo),
            },
            QuestionType::Choice => {
                if self.options.iter().any(|o| o.id == raw) {
                    Ok(AnswerValue::word(raw))
                } else {
                    let ids = self.options.iter().map(|o| o.id.clone()).collect();
                    Err(AnswerError::NotAnOption(ids))
                }
            }
            _ => {
                let (lo, hi) = self.range().unwrap_or((i64::MIN, i64::MAX));
                match raw.parse::<i64>() {
                    Ok(n) if (lo..=hi).contains(&n) => Ok(AnswerValue::Number(n)),
                    _ => Err(AnswerError::OffTheScale(lo, hi)),
                }
            }
        }
    }

    /// Checks an already typed value (from JSON) against the question.
    pub fn accepts(&self, value: &AnswerValue) -> Result<(), AnswerError> {
        self.parse_answer(&value.to_string()).map(|_| ())
    }
}

/// Why a raw answer is not one its question accepts. Displayed, it says what the
/// question expects (`a whole number from 0 to 10`), for the message each edge words
/// around it: a form's field error, an import's cell, a metric's `values` in `check`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// A text over the question's limit of characters.
    #[error("a text of at most {0} characters")]
    TooLong(u32),
    /// A yes/no answer that reads as neither.
    #[error("`yes` or `no`")]
    NotYesNo,
    /// A choice that is none of the question's option ids (given here).
    #[error("one of {}", .0.join(", "))]
    NotAnOption(Vec<String>),
    /// A scaled answer that is not a whole number within the scale's ends (given here).
    #[error("a whole number from {0} to {1}")]
    OffTheScale(i64, i64),
}

/// A rating's scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    /// The lowest value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// The highest value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    /// Labels for chosen points, keyed by the value (the scale's ends at least).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, Text>,
}

/// One option of a choice question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// The stored value; unique within the question.
    pub id: String,
    /// What people read.
    pub text: Text,
}

/// An answer's value: a number on a scale, or a word (yes/no, an option id, free text).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AnswerValue {
    /// A scale point.
    Number(i64),
    /// yes/no, an option id, or text.
    Word(String),
}

impl AnswerValue {
    /// A word value.
    pub fn word(s: &str) -> Self {
        AnswerValue::Word(s.to_string())
    }

    /// The number, for scaled answers.
    pub fn as_number(&self) -> Option<i64> {
        match self {
            AnswerValue::Number(n) => Some(*n),
            AnswerValue::Word(_) => None,
        }
    }
}

impl fmt::Display for AnswerValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerValue::Number(n) => write!(f, "{n}"),
            AnswerValue::Word(w) => f.write_str(w),
        }
    }
}

/// How a metric turns answers into a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// % promoters − % detractors of an nps question.
    Nps,
    /// The share of answers among `values` (CSAT, FCR).
    TopBox,
    /// The mean of a scaled question (CES, ratings).
    Mean,
    /// A scorecard: items' weighted share of the maximum.
    Weighted,
}

/// A score computed from the answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// Unique within the survey.
    pub id: String,
    /// The method.
    pub kind: MetricKind,
    /// The question it scores (nps, top_box, mean).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// The answers that count as the top box.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<AnswerValue>,
    /// The items of a weighted scorecard.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub questions: Vec<String>,
    /// A human name for the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Text>,
}

/// The rules for sending one survey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Distribution {
    /// The survey these rules send; the folder's survey when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub survey: Option<String>,
    /// The rules.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Who is told when an answer arrives, and on which answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<Alert>,
}

/// An alert: a condition over an answer and where to say that it held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// Unique within the distribution file; names the alert in its messages.
    pub id: String,
    /// A `when` condition over the answer (any question of the survey).
    pub when: String,
    /// Where the alert goes.
    pub to: AlertTargets,
    /// The questions whose answers the alert carries (default: every answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    /// The audience columns that say who answered, carried only with the person's
    /// consent (default: the audience's key and name columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Vec<String>>,
}

/// An alert's destinations; URLs come from environment variables, never from the file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertTargets {
    /// The environment variable with a Standard Webhooks receiver's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_env: Option<String>,
    /// The environment variable with a Slack incoming-webhook URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_env: Option<String>,
    /// The environment variable with a Teams incoming-webhook (workflow) URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams_env: Option<String>,
    /// Mailboxes to e-mail, through the SMTP settings `send` uses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email: Vec<String>,
    /// The sender of alert e-mails (default: the `from` of the first e-mail rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// How a survey reaches people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// An e-mail with one-click links.
    Email,
    /// A Slack message posted to an incoming webhook.
    Slack,
    /// A Teams Adaptive Card posted to an incoming webhook.
    Teams,
    /// An open link for signatures and social posts.
    Link,
    /// A printed page with a QR code.
    Print,
}

impl Channel {
    /// The name used in YAML and the store.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Slack => "slack",
            Channel::Teams => "teams",
            Channel::Link => "link",
            Channel::Print => "print",
        }
    }
}

/// Who gets a survey, when, and through which channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique within the distribution file.
    pub id: String,
    /// The channel.
    pub channel: Channel,
    /// The people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Audience>,
    /// A milestone: a date-time column and a window after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    /// The fraction of people chosen, deterministically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<f64>,
    /// The frequency cap across every survey of the workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<Cap>,
    /// The days and hours when sending is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// Reminders to people who have not answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder: Option<Reminder>,
    /// The sending rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<Throttle>,
    /// How long a response link stays valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The e-mail's sender and subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailSettings>,
    /// The environment variable holding a Slack or Teams incoming-webhook URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_env: Option<String>,
    /// The question embedded as one-click buttons (default: the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embed: Option<String>,
}

/// An audience file and the meaning of its columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    /// A CSV or JSON Lines file, relative to the distribution file.
    pub file: String,
    /// The column holding the address.
    pub key: String,
    /// The column holding the recipient's locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// The column holding the recipient's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The column holding the recipient's IANA time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Columns usable as placeholders in the e-mail texts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placeholders: Vec<String>,
    /// Columns kept with the answers, for the report's segments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<String>,
}

impl Audience {
    /// Every column the rule names, with the key that names it (for diagnostics).
    pub fn columns(&self) -> Vec<(String, &str)> {
        let mut columns = vec![("key".to_string(), self.key.as_str())];
        for (name, column) in [
            ("locale", &self.locale),
            ("name", &self.name),
            ("timezone", &self.timezone),
        ] {
            if let Some(column) = column {
                columns.push((name.to_string(), column.as_str()));
            }
        }
        for (list, name) in [
            (&self.placeholders, "placeholders"),
            (&self.segments, "segments"),
        ] {
            for (i, column) in list.iter().enumerate() {
                columns.push((format!("{name}/{i}"), column.as_str()));
            }
        }
        columns
    }
}

/// Milestone sending: people whose `field` lies between `within` and `after` ago.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The column with the milestone's date-time (RFC 3339).
    pub field: String,
    /// How long after the milestone the survey goes out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// How long after `after` the person may still be picked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
}

/// A frequency cap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    /// At most one survey per this period, whatever the survey.
    pub once_per: String,
}

/// The days and hours when sending is allowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// `mon-fri` or a list of days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Days>,
    /// `09:00-17:00`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<String>,
    /// The zone, unless the audience gives one per person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// Days of the week, as a range or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Days {
    /// `mon-fri` or one day.
    Range(String),
    /// `[mon, wed, fri]`.
    List(Vec<String>),
}

/// Reminders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reminder {
    /// How long after the last message.
    pub after: String,
    /// How many at most.
    #[serde(default = "one")]
    pub max: u32,
}

fn one() -> u32 {
    1
}

/// The sending rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throttle {
    /// Messages per minute.
    pub per_minute: u32,
}

/// The e-mail's envelope texts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// `Name <address>`.
    pub from: String,
    /// Where replies go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// The subject, which may use placeholders.
    pub subject: Text,
}

/// Workspace settings from `canvass.yaml`; every key has a default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The workspace's name, for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The collector's public address, for response links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The unsubscribe mailbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsubscribe: Option<Unsubscribe>,
    /// Files of addresses never to contact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppression: Vec<String>,
    /// How long answers and ledger rows are kept (`365d`); `canvass prune` deletes older ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<String>,
    /// Report settings.
    #[serde(default)]
    pub report: ReportSettings,
    /// Interface words by locale, on top of the built-in ones: a new locale, or a
    /// workspace's own wording.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ui: crate::words::WordOverrides,
    /// Receivers of every survey's response events (a helpdesk, a data warehouse).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<WebhookSubscription>,
}

/// A receiver subscribed to response events, signed by the Standard Webhooks scheme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSubscription {
    /// Names the subscription in `canvass alerts` and in the store.
    pub id: String,
    /// The environment variable holding the receiver's URL.
    pub url_env: String,
    /// The events sent (default: both).
    #[serde(default = "every_response_event")]
    pub events: Vec<ResponseEvent>,
}

/// What happened to a response, as a webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResponseEvent {
    /// A first answer under its key.
    #[serde(rename = "response.created")]
    Created,
    /// An answer replacing one that counted.
    #[serde(rename = "response.updated")]
    Updated,
}

impl ResponseEvent {
    /// The event type as the payload names it.
    pub fn name(self) -> &'static str {
        match self {
            ResponseEvent::Created => "response.created",
            ResponseEvent::Updated => "response.updated",
        }
    }
}

fn every_response_event() -> Vec<ResponseEvent> {
    vec![ResponseEvent::Created, ResponseEvent::Updated]
}

/// Where unsubscribe requests by mail go.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unsubscribe {
    /// The mailbox of the `List-Unsubscribe` mailto link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailto: Option<String>,
}

/// How reports group and protect answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// The trend's period.
    #[serde(default)]
    pub period: Period,
    /// The smallest group whose score is shown.
    #[serde(default = "default_min_n")]
    pub min_n: u32,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            period: Period::Month,
            min_n: default_min_n(),
        }
    }
}

fn default_min_n() -> u32 {
    10
}

/// A trend period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// ISO weeks.
    Week,
    /// Calendar months.
    #[default]
    Month,
}

/// How long a response link stays valid when a rule says nothing.
pub const DEFAULT_LINK_LIFETIME: &str = "30d";

impl Rule {
    /// How long this rule's response links stay valid, in seconds (`expires`, else
    /// [`DEFAULT_LINK_LIFETIME`]); one reading for the links sent and those previewed.
    pub fn link_lifetime(&self) -> Result<i64, PartError> {
        parse_duration(self.expires.as_deref().unwrap_or(DEFAULT_LINK_LIFETIME))
    }
}

/// Why a part of a rule written as text (a duration, hours, days) does not parse. `check`
/// reports it at the part's position; `plan` and `send` refuse the rule with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartError {
    /// A duration without its unit.
    #[error("`{0}` has no unit: add m, h, d or w (e.g. `{0}d`)")]
    NoUnit(String),
    /// A duration that does not start with a number.
    #[error("`{0}` does not start with a whole number")]
    NotWholeNumber(String),
    /// A duration with an unknown unit.
    #[error("`{0}` is not a unit: use m, h, d or w")]
    NotUnit(String),
    /// A duration beyond what the clock counts.
    #[error("`{0}` is too long")]
    TooLong(String),
    /// Hours that are not `start-end`.
    #[error("`{0}` is not a range of hours")]
    NotHourRange(String),
    /// Hours whose end is not after their start.
    #[error("the hours `{0}` end before they start")]
    HoursBackwards(String),
    /// A time that is not `HH:MM`.
    #[error("`{0}` is not a time of day (HH:MM)")]
    NotClock(String),
    /// A time past the day's end.
    #[error("`{0}` is not a time of day (HH:MM, 00:00 to 24:00)")]
    ClockOutOfRange(String),
    /// A zone that is not in the IANA database.
    #[error("`{0}` is not an IANA time zone")]
    NotTimeZone(String),
    /// A day that is not a three-letter day name.
    #[error("`{0}` is not a day: use mon, tue, wed, thu, fri, sat, sun")]
    NotDay(String),
}

/// Parses a duration such as `30m`, `12h`, `7d` or `2w` into seconds.
pub fn parse_duration(text: &str) -> Result<i64, PartError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| PartError::NoUnit(text.into()))?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number
        .parse()
        .map_err(|_| PartError::NotWholeNumber(text.into()))?;
    let unit_seconds = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(PartError::NotUnit(unit.into())),
    };
    number
        .checked_mul(unit_seconds)
        .ok_or_else(|| PartError::TooLong(text.into()))
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Parses `09:00-17:00` into minutes after midnight, start inclusive and end exclusive.
pub fn parse_hours(text: &str) -> Result<(u32, u32), PartError> {
    let (start, end) = text
        .split_once('-')
        .ok_or_else(|| PartError::NotHourRange(text.into()))?;
    let (start, end) = (parse_clock(start)?, parse_clock(end)?);
    if start >= end {
        return Err(PartError::HoursBackwards(text.into()));
    }
    Ok((start, end))
}

fn parse_clock(text: &str) -> Result<u32, PartError> {
    let text = text.trim();
    let (h, m) = text
        .split_once(':')
        .ok_or_else(|| PartError::NotClock(text.into()))?;
    match (h.parse::<u32>(), m.parse::<u32>()) {
        (Ok(h), Ok(m)) if (h < 24 && m < 60) || (h == 24 && m == 0) => Ok(h * 60 + m),
        _ => Err(PartError::ClockOutOfRange(text.into())),
    }
}

/// Parses days of the week into a set indexed Monday = 0.
pub fn parse_days(days: &Days) -> Result<[bool; 7], PartError> {
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

fn day_index(name: &str) -> Result<usize, PartError> {
    DAY_NAMES
        .iter()
        .position(|d| *d == name.trim())
        .ok_or_else(|| PartError::NotDay(name.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert_eq!(parse_duration("30m"), Ok(1_800));
        assert!(parse_duration("7").is_err());
        assert!(parse_duration("7y").is_err());
        assert!(parse_duration("99999999999999999w").is_err());
    }

    #[test]
    fn answers_are_validated_by_type() {
        let q: Question = serde_json::from_value(serde_json::json!({
            "id": "r", "type": "rating", "text": "x", "scale": {"min": 1, "max": 5}
        }))
        .unwrap();
        assert_eq!(q.parse_answer("4"), Ok(AnswerValue::Number(4)));
        assert_eq!(q.parse_answer("6"), Err(AnswerError::OffTheScale(1, 5)));
        assert_eq!(
            q.parse_answer("four").unwrap_err().to_string(),
            "a whole number from 1 to 5"
        );
        let yn: Question =
            serde_json::from_value(serde_json::json!({"id": "y", "type": "yes_no", "text": "x"}))
                .unwrap();
        assert_eq!(yn.parse_answer("Yes"), Ok(AnswerValue::word("yes")));
        assert_eq!(yn.parse_answer("maybe"), Err(AnswerError::NotYesNo));
    }

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
