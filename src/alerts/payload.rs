//! The events' JSON (`schemas/webhook-event.schema.json`): what a receiver, a chat card
//! and an alert e-mail are made from. Built when the answer is stored, from the survey
//! as it was then, so that a later edit of the survey does not change what was said.
//! It never holds an identity: that is added at delivery, and only with consent.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{AnswerValue, Question, QuestionType, Survey};
use crate::store::Written;

/// One event, as posted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `alert.triggered`, `response.created` or `response.updated`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the answer was stored (RFC 3339).
    pub timestamp: String,
    /// What happened.
    pub data: EventData,
}

/// The body of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    /// The alert raised (`alert.triggered` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// The survey answered.
    pub survey: SurveyRef,
    /// The response.
    pub response: ResponseRef,
    /// The answers carried, in the survey's order.
    pub answers: Vec<AnswerItem>,
    /// The first scaled answer carried: the score a team reads first.
    pub score: Option<Score>,
    /// The answer to the survey's `contact_consent` question: `true` for yes, `false` for
    /// no or no answer, `null` when the survey asks none.
    pub contact_consent: Option<bool>,
    /// Who answered (audience columns), only when they consented; `null` otherwise.
    pub contact: Option<serde_json::Map<String, Value>>,
}

/// The survey of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyRef {
    /// Its id.
    pub id: String,
    /// The version answered.
    pub version: u32,
    /// Its title in its default locale.
    pub title: String,
}

/// The response of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseRef {
    /// The store's id of the answer (a replacement has a new one).
    pub id: i64,
    /// When it was given (RFC 3339).
    pub submitted_at: String,
    /// The locale answered in.
    pub locale: Option<String>,
    /// email | slack | teams | link | print | import.
    pub channel: String,
    /// oneclick | form | open | import.
    pub source: String,
    /// The distribution rule it came through.
    pub rule: Option<String>,
    /// Every required, shown question answered.
    pub complete: bool,
    /// The segment columns kept with it.
    pub segments: serde_json::Map<String, Value>,
}

/// One answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerItem {
    /// The question id.
    pub question: String,
    /// The question's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The question as asked, in the survey's default locale.
    pub text: String,
    /// The answer as stored: a number, `yes`/`no`, an option id or the text.
    pub value: Value,
    /// The answer in words (an option's or a scale point's label).
    pub label: String,
}

/// A scaled answer with its scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The question id.
    pub question: String,
    /// The answer.
    pub value: i64,
    /// The scale's lowest point.
    pub min: i64,
    /// The scale's highest point.
    pub max: i64,
}

/// What an answer and its survey give every event about it.
pub struct Answered<'a> {
    /// The stored response.
    pub written: &'a Written<'a>,
    /// The survey definition (the current one when its version is no longer known).
    pub survey: &'a Survey,
    /// The answers, parsed.
    pub answers: &'a serde_json::Map<String, Value>,
}

impl Answered<'_> {
    /// The event of type `kind`, carrying the answers `include` names (all when `None`).
    pub fn event(&self, kind: &str, alert: Option<&str>, include: Option<&[String]>) -> Event {
        let survey = self.survey;
        let locale = survey.default_locale();
        let carried = |id: &str| include.is_none_or(|list| list.iter().any(|i| i == id));
        let answers: Vec<AnswerItem> = survey
            .questions
            .iter()
            .filter(|q| carried(&q.id))
            .filter_map(|q| Some(answer_item(q, self.answers.get(&q.id)?, locale)))
            .collect();
        let score = answers.iter().find_map(|a| {
            let question = survey.question(&a.question)?;
            let (min, max) = question.range()?;
            Some(Score {
                question: a.question.clone(),
                value: a.value.as_i64()?,
                min,
                max,
            })
        });
        let w = self.written;
        Event {
            kind: kind.to_string(),
            timestamp: w.submitted_at.to_string(),
            data: EventData {
                alert: alert.map(str::to_string),
                survey: SurveyRef {
                    id: survey.id.clone(),
                    version: w.version,
                    title: survey.title.get(locale, locale).to_string(),
                },
                response: ResponseRef {
                    id: w.row,
                    submitted_at: w.submitted_at.to_string(),
                    locale: w.locale.map(str::to_string),
                    channel: w.channel.to_string(),
                    source: w.source.to_string(),
                    rule: w.rule.map(str::to_string),
                    complete: w.complete,
                    segments: serde_json::from_str(w.segments).unwrap_or_default(),
                },
                answers,
                score,
                contact_consent: consented(survey, self.answers),
                contact: None,
            },
        }
    }
}

/// The answer to the survey's consent question: `None` when it asks none.
pub fn consented(survey: &Survey, answers: &serde_json::Map<String, Value>) -> Option<bool> {
    let question = survey.contact_consent.as_deref()?;
    Some(answers.get(question).and_then(Value::as_str) == Some("yes"))
}

fn answer_item(question: &Question, value: &Value, locale: &str) -> AnswerItem {
    AnswerItem {
        question: question.id.clone(),
        kind: question.kind.name().to_string(),
        text: question.text.get(locale, locale).to_string(),
        value: value.clone(),
        label: label(question, value, locale),
    }
}

/// An answer in words: an option's text, a scale point's label after its number.
fn label(question: &Question, value: &Value, locale: &str) -> String {
    match (question.kind, value) {
        (QuestionType::Choice, Value::String(id)) => question
            .options
            .iter()
            .find(|o| &o.id == id)
            .map_or_else(|| id.clone(), |o| o.text.get(locale, locale).to_string()),
        (_, Value::Number(n)) => {
            let number = n.as_i64().unwrap_or_default();
            match (question.label(number), question.range()) {
                (Some(text), _) => format!("{number} ({})", text.get(locale, locale)),
                (None, Some((_, max))) => format!("{number} / {max}"),
                (None, None) => number.to_string(),
            }
        }
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    }
}

/// A stored answer as the `when` language compares it.
pub fn answer_value(value: &Value) -> Option<AnswerValue> {
    match value {
        Value::Number(n) => n.as_i64().map(AnswerValue::Number),
        Value::String(s) => Some(AnswerValue::word(s)),
        _ => None,
    }
}
