//! What templates see: a survey flattened into one locale, with every text resolved, every
//! answer value labelled and the interface words translated.
//!
//! Survey texts go into templates only as values of this model, never as template source,
//! so a `{{ … }}` or a `<script>` in a survey is data that the template escapes.

use std::sync::Arc;

use serde::Serialize;

use crate::model::{AnswerValue, Question, QuestionType, Survey, Text};
use crate::when::{Expr, Joined, Op};
use crate::words::{Ui, Words};

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
    /// When to answer a question that applies only after some answers, in words, for a
    /// page without scripts and for paper ("Answer only if you chose 1–3 above").
    pub applies: Option<String>,
    /// Whether the answers are points of a scale (rating, NPS, CES).
    pub scaled: bool,
    /// How many answers a row holds on a narrow screen and in e-mail: a scale of more
    /// than seven points breaks into rows of equal length (NPS: 0–5 and 6–10).
    pub columns: usize,
    /// How many answers a row holds on a wide screen: up to eleven in one row.
    pub wide_columns: usize,
    /// The short last row of a broken scale, moved to end under the row above so that the
    /// scale's last point stays at its end.
    pub shift: Option<Shift>,
    /// The longest text answer.
    pub max_length: Option<u32>,
}

/// Where the short last row of a scale starts.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Shift {
    /// The index of the answer that starts the last row.
    pub index: usize,
    /// The column (from 1) it starts in, so that the row ends in the last column.
    pub column: usize,
}

/// The most points of a scale in one row on a narrow screen (320 CSS pixels).
const NARROW_ROW: usize = 7;
/// The most points of a scale in one row on a wide screen.
const WIDE_ROW: usize = 11;

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
                .enumerate()
                .map(|(i, q)| {
                    let mut view = QuestionView::new(q, locale, fallback, &ui);
                    view.applies = applies(survey, i, &ui, &text);
                    view
                })
                .collect(),
            ui,
            value: std::sync::OnceLock::new(),
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
        let columns = row_length(choices.len(), NARROW_ROW);
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
            applies: None,
            scaled: question.kind.is_scaled(),
            columns,
            wide_columns: row_length(choices.len(), WIDE_ROW),
            shift: shift(choices.len(), columns),
            max_length: (question.kind == QuestionType::Text).then(|| {
                question
                    .max_length
                    .unwrap_or(crate::model::DEFAULT_MAX_LENGTH)
            }),
            choices,
        }
    }
}

/// How many of `count` answers a row holds when rows hold at most `most`: rows of equal
/// length but the last, which is at most one shorter.
fn row_length(count: usize, most: usize) -> usize {
    match count {
        0 => 0,
        _ => count.div_ceil(count.div_ceil(most)),
    }
}

/// Where the last row of `count` answers in rows of `columns` starts, when it is short.
fn shift(count: usize, columns: usize) -> Option<Shift> {
    let last = count
        .checked_rem(columns)
        .filter(|&r| r > 0 && count > columns)?;
    Some(Shift {
        index: count - last,
        column: columns - last + 1,
    })
}

/// When to answer the question at `index`, in words: the answers to earlier questions
/// that make it apply, or a general sentence for a condition that words cannot carry. The
/// nearest question above with answers to pick that is always asked is "above"; any
/// other is named.
/// `None` for a question always asked (or whose condition does not parse, which `check`
/// reports and which never hides it).
fn applies(
    survey: &Survey,
    index: usize,
    ui: &Ui,
    text: &dyn Fn(&Text) -> String,
) -> Option<String> {
    let expr = Expr::parse(survey.questions[index].when.as_deref()?).ok()?;
    let answers_of = |id: &str| {
        survey
            .question(id)
            .filter(|q| q.kind != QuestionType::Text)
            .map(Question::values)
    };
    let Some(description) = expr.describe(&answers_of) else {
        return Some(ui.applies_other.clone());
    };
    let above = survey.questions[..index]
        .iter()
        .rev()
        .find(|q| q.when.is_none() && q.kind != QuestionType::Text)
        .map(|q| q.id.as_str());
    let conditions: Vec<String> = description
        .parts
        .iter()
        .filter_map(|part| {
            let earlier = survey.question(&part.question)?;
            let answer = answer_words(earlier, &part.values, ui, text);
            Some(if above == Some(part.question.as_str()) {
                fill(&ui.applies_above, &[("answer", &answer)])
            } else {
                let question = text(&earlier.text);
                fill(
                    &ui.applies_question,
                    &[("answer", &answer), ("question", &question)],
                )
            })
        })
        .collect();
    let joiner = match description.joined {
        Joined::All => &ui.and,
        Joined::Any => &ui.or,
    };
    Some(fill(
        &ui.applies_if,
        &[("conditions", &list(&conditions, joiner))],
    ))
}

/// Answers to `question` as a person reads them: scale points in runs (`0–6`), yes and no
/// in the locale, options by their text.
fn answer_words(
    question: &Question,
    values: &[AnswerValue],
    ui: &Ui,
    text: &dyn Fn(&Text) -> String,
) -> String {
    let words: Vec<String> = match question.kind {
        kind if kind.is_scaled() => runs(values.iter().filter_map(AnswerValue::as_number)),
        _ => values
            .iter()
            .map(|value| {
                let id = value.to_string();
                match question.kind {
                    QuestionType::YesNo if id == "yes" => ui.yes.clone(),
                    QuestionType::YesNo => ui.no.clone(),
                    _ => question
                        .options
                        .iter()
                        .find(|o| o.id == id)
                        .map_or(id, |o| text(&o.text)),
                }
            })
            .collect(),
    };
    list(&words, &ui.or)
}

/// Ascending numbers as runs: `1, 2, 3, 5` is `1–3` and `5`.
fn runs(numbers: impl Iterator<Item = i64>) -> Vec<String> {
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for n in numbers {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == n => *last = n,
            _ => runs.push((n, n)),
        }
    }
    runs.into_iter()
        .map(|(low, high)| match low == high {
            true => low.to_string(),
            false => format!("{low}–{high}"),
        })
        .collect()
}

/// Items as a sentence lists them: `a`, `a or b`, `a, b or c`.
fn list(items: &[String], last_word: &str) -> String {
    match items {
        [] => String::new(),
        [only] => only.clone(),
        [rest @ .., last] => format!("{} {last_word} {last}", rest.join(", ")),
    }
}

/// A catalogue text with its `{name}` placeholders filled in one pass, so that a value
/// holding a placeholder's name (a survey text) is never filled in again.
pub(super) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            let value = values.iter().find(|(n, _)| *n == name)?.1;
            Some((value, close))
        });
        match value {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
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
    match crate::locale::Locale::parse(locale).language() {
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

    fn survey(questions: serde_json::Value) -> Survey {
        serde_json::from_value(serde_json::json!({
            "id": "s", "version": 1, "locales": ["en"], "title": "t", "questions": questions
        }))
        .unwrap()
    }

    fn applies_words(survey: &Survey) -> Vec<Option<String>> {
        let view = SurveyView::new(survey, "en", &Words::default());
        view.questions.into_iter().map(|q| q.applies).collect()
    }

    #[test]
    fn a_conditional_question_says_in_words_when_to_answer_it() {
        let survey = survey(serde_json::json!([
            {"id": "score", "type": "rating", "text": "How happy?", "scale": {"min": 1, "max": 5}},
            {"id": "channel", "type": "choice", "text": "How did you reach us?", "options": [
                {"id": "phone", "text": "Phone"}, {"id": "mail", "text": "E-mail"},
                {"id": "chat", "text": "Chat"}]},
            {"id": "why", "type": "text", "text": "Why?", "when": "score <= 3"},
            {"id": "call", "type": "yes_no", "text": "Called back?",
             "when": "channel == phone or channel == chat"},
            {"id": "both", "type": "text", "text": "Tell us",
             "when": "not score == 3 and channel != mail"},
            {"id": "odd", "type": "text", "text": "Odd", "when": "why == slow"}
        ]));
        assert_eq!(
            applies_words(&survey),
            [
                None,
                None,
                Some("Answer only if you chose 1–3 for “How happy?”".into()),
                Some("Answer only if you chose Phone or Chat above".into()),
                Some(
                    "Answer only if you chose 1–2 or 4–5 for “How happy?” and you chose \
                     Phone or Chat above"
                        .into()
                ),
                Some("Answer only if this applies to you".into()),
            ]
        );
    }

    #[test]
    fn placeholders_are_filled_once() {
        assert_eq!(
            fill(
                "{answer} for “{question}” {x}",
                &[("answer", "{question}"), ("question", "Q")]
            ),
            "{question} for “Q” {x}"
        );
    }

    #[test]
    fn long_scales_break_into_rows_that_end_at_the_end() {
        assert_eq!(
            (row_length(11, NARROW_ROW), row_length(11, WIDE_ROW)),
            (6, 11)
        );
        assert_eq!(row_length(7, NARROW_ROW), 7);
        assert_eq!(row_length(10, NARROW_ROW), 5);
        let nps = shift(11, 6).unwrap();
        assert_eq!((nps.index, nps.column), (6, 2));
        assert!(shift(10, 5).is_none());
        assert!(shift(5, 5).is_none());
        assert_eq!(runs([0, 1, 2, 4, 6, 7].into_iter()), ["0–2", "4", "6–7"]);
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
