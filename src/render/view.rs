//! What templates see: a survey flattened into one locale, with every text resolved, every
//! answer value labelled and the interface words translated.
//!
//! Survey texts go into templates only as values of this model, never as template source,
//! so a `{{ … }}` or a `<script>` in a survey is data that the template escapes.

use std::sync::Arc;

use serde::Serialize;

use super::words::{Ui, Words};
use crate::model::{Question, QuestionType, Survey, Text};
use crate::when::{Expr, Op};

/// One survey in one locale.
#[derive(Debug, Clone, Serialize)]
pub struct SurveyView {
    /// The survey id.
    pub id: String,
    /// The BCP 47 locale the texts are in (the page's `lang`).
    pub lang: String,
    /// `ltr` or `rtl`, from the locale's language.
    pub dir: &'static str,
    /// The title.
    pub title: String,
    /// The sentence before the questions.
    pub intro: Option<String>,
    /// The thank-you text.
    pub thanks: Option<String>,
    /// The questions in order.
    pub questions: Vec<QuestionView>,
    /// The interface words in this locale.
    #[serde(serialize_with = "serialize_ui")]
    pub ui: Arc<Ui>,
    /// This view as a template value, made on first use so that a batch of messages
    /// converts the survey once.
    #[serde(skip)]
    value: std::sync::OnceLock<minijinja::Value>,
    /// The e-mail bodies compiled for this view, so that a batch renders them once.
    #[serde(skip)]
    pub(super) emails: super::email::EmailCache,
}

/// One question in one locale.
#[derive(Debug, Clone, Serialize)]
pub struct QuestionView {
    /// The question id: the form field's name.
    pub id: String,
    /// The question type's YAML name (`nps`, `rating`, …).
    pub kind: &'static str,
    /// The question as asked.
    pub text: String,
    /// A hint under the question.
    pub help: Option<String>,
    /// Whether an answer is needed when the question is shown.
    pub required: bool,
    /// The answers to pick from (empty for free text).
    pub choices: Vec<ChoiceView>,
    /// The scale's low end with its label (`0 = Not at all likely`), shown beside the
    /// buttons because mail clients drop ARIA.
    pub low_end: Option<String>,
    /// The scale's high end with its label.
    pub high_end: Option<String>,
    /// Both ends in one line, for plain text and chat.
    pub ends: Option<String>,
    /// The `when` condition as JSON for the page's script, when the question has one.
    pub when: Option<String>,
    /// The longest text answer.
    pub max_length: Option<u32>,
}

/// One answer a person can pick.
#[derive(Debug, Clone, Serialize)]
pub struct ChoiceView {
    /// The submitted value.
    pub value: String,
    /// What people read on the button or beside the box.
    pub label: String,
    /// The scale label of this point, when the survey gives one.
    pub note: Option<String>,
    /// The one-click link (e-mail and chat only).
    pub href: Option<String>,
}

impl SurveyView {
    /// Flattens `survey` into `locale` (falling back to the survey's default locale), with
    /// the interface words of `locale` from `words`.
    pub fn new(survey: &Survey, locale: &str, words: &Words) -> SurveyView {
        let fallback = survey.default_locale();
        let text = |t: &Text| t.get(locale, fallback).to_string();
        let ui = words.ui(locale);
        SurveyView {
            id: survey.id.clone(),
            lang: locale.to_string(),
            dir: direction(locale),
            title: text(&survey.title),
            intro: survey.intro.as_ref().map(text),
            thanks: survey.thanks.as_ref().map(text),
            questions: survey
                .questions
                .iter()
                .map(|q| QuestionView::new(q, locale, fallback, &ui))
                .collect(),
            ui,
            value: std::sync::OnceLock::new(),
            emails: Default::default(),
        }
    }

    /// This view as a template value (cheap to clone: reference-counted).
    pub fn value(&self) -> minijinja::Value {
        self.value
            .get_or_init(|| minijinja::Value::from_serialize(self))
            .clone()
    }

    /// The question with this id.
    pub fn question(&self, id: &str) -> Option<&QuestionView> {
        self.questions.iter().find(|q| q.id == id)
    }
}

impl QuestionView {
    fn new(question: &Question, locale: &str, fallback: &str, ui: &Ui) -> QuestionView {
        let text = |t: &Text| t.get(locale, fallback).to_string();
        let choices = question
            .values()
            .into_iter()
            .map(|value| {
                let value = value.to_string();
                let label = match question.kind {
                    QuestionType::YesNo if value == "yes" => ui.yes.clone(),
                    QuestionType::YesNo => ui.no.clone(),
                    QuestionType::Choice => question
                        .options
                        .iter()
                        .find(|o| o.id == value)
                        .map_or_else(|| value.clone(), |o| text(&o.text)),
                    _ => value.clone(),
                };
                let note = value
                    .parse::<i64>()
                    .ok()
                    .and_then(|n| question.label(n))
                    .map(text);
                ChoiceView {
                    value,
                    label,
                    note,
                    href: None,
                }
            })
            .collect::<Vec<_>>();
        let end = |choice: Option<&ChoiceView>| {
            let c = choice.filter(|_| question.kind.is_scaled())?;
            Some(format!("{} = {}", c.label, c.note.as_deref()?))
        };
        let (low_end, high_end) = (end(choices.first()), end(choices.last()));
        let ends = match (&low_end, &high_end) {
            (Some(low), Some(high)) => Some(format!("{low}, {high}")),
            (low, high) => low.clone().or_else(|| high.clone()),
        };
        QuestionView {
            id: question.id.clone(),
            kind: question.kind.name(),
            text: text(&question.text),
            help: question.help.as_ref().map(text),
            required: question.required,
            low_end,
            high_end,
            ends,
            when: question
                .when
                .as_deref()
                .and_then(|w| Expr::parse(w).ok())
                .map(|e| condition_json(&e).to_string()),
            max_length: (question.kind == QuestionType::Text).then(|| {
                question
                    .max_length
                    .unwrap_or(crate::model::DEFAULT_MAX_LENGTH)
            }),
            choices,
        }
    }
}

/// A condition as JSON for the page's script: `{"and": [a, b]}`, `{"or": …}`,
/// `{"not": a}` and `{"q": id, "op": "<=", "v": 3}`.
fn condition_json(expr: &Expr) -> serde_json::Value {
    use serde_json::json;
    match expr {
        Expr::And(a, b) => json!({"and": [condition_json(a), condition_json(b)]}),
        Expr::Or(a, b) => json!({"or": [condition_json(a), condition_json(b)]}),
        Expr::Not(a) => json!({"not": condition_json(a)}),
        Expr::Compare(c) => json!({
            "q": c.question,
            "op": c.op.symbol(),
            "v": c.value,
            "ord": c.op != Op::Eq && c.op != Op::Ne,
        }),
    }
}

/// The words as a template sees them (serde serializes no `Arc` without its `rc` feature).
fn serialize_ui<S: serde::Serializer>(ui: &Arc<Ui>, serializer: S) -> Result<S::Ok, S::Error> {
    ui.as_ref().serialize(serializer)
}

/// The writing direction of a locale's language.
pub fn direction(locale: &str) -> &'static str {
    let language = locale.split(['-', '_']).next().unwrap_or("");
    match language.to_ascii_lowercase().as_str() {
        "ar" | "he" | "fa" | "ur" | "yi" | "ps" | "sd" | "ug" | "dv" | "ckb" => "rtl",
        _ => "ltr",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_to_left_languages() {
        assert_eq!(direction("ar-EG"), "rtl");
        assert_eq!(direction("he"), "rtl");
        assert_eq!(direction("en-GB"), "ltr");
    }

    #[test]
    fn conditions_become_json() {
        let expr = Expr::parse("a <= 3 and not b == yes").unwrap();
        assert_eq!(
            condition_json(&expr).to_string(),
            r#"{"and":[{"q":"a","op":"<=","v":3,"ord":true},{"not":{"q":"b","op":"==","v":"yes","ord":false}}]}"#
        );
    }
}
