//! Validating one response against its survey, the same way for every channel.
//!
//! The web form, the one-click landing page and `canvass import` all call
//! [`validate_response`], so an answer accepted by one is accepted by all: types, ranges,
//! choices, `required` and the `when` logic. An answer to a question whose condition is
//! false is dropped, not refused: a form without scripts shows every question and a paper
//! sheet cannot hide one, so a person who answered one that does not apply has done
//! nothing wrong (SurveyJS and ODK drop such values too).

use std::collections::BTreeMap;

use crate::model::{AnswerError, AnswerValue, Survey};
use crate::when::Expr;

/// One problem with one question's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The question id (the form field, the import column).
    pub question: String,
    /// What was expected, in the operator's words (for `import`): it may quote the value
    /// and the survey's ids.
    pub message: String,
    /// What went wrong, for the person's words (see [`crate::words::Ui::problem`]).
    pub problem: Problem,
}

/// What went wrong with an answer, without words: a respondent reads it in their locale,
/// and never the survey's ids or conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// A required question shown but unanswered.
    Required,
    /// A text over its question's limit of characters.
    TooLong(u32),
    /// A value that is not one of the question's answers.
    Invalid,
    /// A field that is no question of the survey.
    NotAQuestion,
}

/// The typed answers of a valid response.
pub type Answers = BTreeMap<String, AnswerValue>;

/// A valid response: its answers, and the questions answered that did not apply.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Validated {
    /// The typed answers kept.
    pub answers: Answers,
    /// The ids of questions answered although their `when` was false, in survey order;
    /// their answers are not kept.
    pub dropped: Vec<String>,
}

/// Validates raw answers (question id → text as typed; empty means unanswered). Returns
/// the typed answers, or every problem found.
pub fn validate_response(
    survey: &Survey,
    raw: &BTreeMap<String, String>,
) -> Result<Answers, Vec<FieldError>> {
    let mut errors: Vec<FieldError> = raw
        .keys()
        .filter(|id| survey.question(id).is_none())
        .map(|id| FieldError {
            question: id.clone(),
            message: format!("`{id}` is not a question of the survey `{}`", survey.id),
            problem: Problem::NotAQuestion,
        })
        .collect();
    match Validator::new(survey).validate(|id| raw.get(id).map(String::as_str)) {
        Ok(valid) if errors.is_empty() => Ok(valid.answers),
        Ok(_) => Err(errors),
        Err(mut field_errors) => {
            errors.append(&mut field_errors);
            Err(errors)
        }
    }
}

/// Whether every required question that is shown has an answer.
pub fn is_complete(survey: &Survey, answers: &Answers) -> bool {
    Validator::new(survey).is_complete(answers)
}

/// A survey with its `when` conditions parsed once, for validating many responses (an
/// import of a million rows parses each condition once, not once a row).
#[derive(Debug, Clone)]
pub struct Validator<'a> {
    survey: &'a Survey,
    /// Per question, its parsed condition; `None` when it has none or it does not parse
    /// (a condition that does not parse never hides a question; `check` reports it).
    conditions: Vec<Option<Expr>>,
}

impl<'a> Validator<'a> {
    /// Parses the survey's conditions.
    pub fn new(survey: &'a Survey) -> Validator<'a> {
        let conditions = survey
            .questions
            .iter()
            .map(|q| q.when.as_deref().and_then(|w| Expr::parse(w).ok()))
            .collect();
        Validator { survey, conditions }
    }

    /// Validates one response whose raw text per question id `raw` looks up (empty or
    /// absent means unanswered). Returns the typed answers with the questions dropped
    /// because they did not apply, or every problem found.
    pub fn validate<'r>(
        &self,
        raw: impl Fn(&str) -> Option<&'r str>,
    ) -> Result<Validated, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut valid = Validated::default();
        for (question, condition) in self.survey.questions.iter().zip(&self.conditions) {
            let given = raw(&question.id).map(str::trim).filter(|s| !s.is_empty());
            let shown = is_shown(condition.as_ref(), &valid.answers);
            let problem = match (given, shown) {
                (Some(_), false) => {
                    valid.dropped.push(question.id.clone());
                    None
                }
                (Some(text), true) => match question.parse_answer(text) {
                    Ok(value) => {
                        valid.answers.insert(question.id.clone(), value);
                        None
                    }
                    Err(expected) => Some((
                        format!("expected {expected}, got `{}`", excerpt(text)),
                        Problem::from(&expected),
                    )),
                },
                (None, true) if question.required => {
                    Some(("an answer is required".to_string(), Problem::Required))
                }
                (None, _) => None,
            };
            errors.extend(problem.map(|(message, problem)| FieldError {
                question: question.id.clone(),
                message,
                problem,
            }));
        }
        if errors.is_empty() {
            Ok(valid)
        } else {
            Err(errors)
        }
    }

    /// The answers of a response still being given (a one-click answer on top of the
    /// earlier ones): every answer that parses and applies is kept, an unanswered
    /// required question is no error, and what does not apply is dropped, so changing a
    /// score keeps the comment and loses only the answers its new value makes moot.
    pub fn partial<'r>(&self, raw: impl Fn(&str) -> Option<&'r str>) -> Validated {
        let mut valid = Validated::default();
        for (question, condition) in self.survey.questions.iter().zip(&self.conditions) {
            let Some(text) = raw(&question.id).map(str::trim).filter(|s| !s.is_empty()) else {
                continue;
            };
            if !is_shown(condition.as_ref(), &valid.answers) {
                valid.dropped.push(question.id.clone());
            } else if let Ok(value) = question.parse_answer(text) {
                valid.answers.insert(question.id.clone(), value);
            }
        }
        valid
    }

    /// Whether every required question that is shown has an answer.
    pub fn is_complete(&self, answers: &Answers) -> bool {
        self.survey
            .questions
            .iter()
            .zip(&self.conditions)
            .all(|(q, condition)| {
                !q.required || answers.contains_key(&q.id) || !is_shown(condition.as_ref(), answers)
            })
    }
}

/// The most characters of a value an error message quotes.
pub const EXCERPT_CHARS: usize = 80;

/// A value as an error message quotes it: whole when short, else its first
/// [`EXCERPT_CHARS`] characters and an ellipsis, so a 50 MB cell makes a one-line error
/// instead of echoing itself into a terminal or a CI log.
pub fn excerpt(value: &str) -> std::borrow::Cow<'_, str> {
    match value.char_indices().nth(EXCERPT_CHARS) {
        None => value.into(),
        Some((end, _)) => format!("{}…", &value[..end]).into(),
    }
}

/// What is wrong with an answer its question refused: too long for a text, else not one
/// of its answers.
impl From<&AnswerError> for Problem {
    /// What a respondent is told about a refused answer: a text's limit, else that the
    /// value is not one of the question's.
    fn from(error: &AnswerError) -> Problem {
        match error {
            AnswerError::TooLong(limit) => Problem::TooLong(*limit),
            _ => Problem::Invalid,
        }
    }
}

/// Whether a question with this (parsed) condition is shown, given the answers so far.
fn is_shown(condition: Option<&Expr>, answers: &Answers) -> bool {
    condition.is_none_or(|expr| expr.eval(&|q| answers.get(q).cloned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn survey() -> Survey {
        serde_json::from_value(serde_json::json!({
            "id": "s", "version": 1, "locales": ["en"], "title": "t",
            "questions": [
                {"id": "score", "type": "rating", "text": "x", "required": true,
                 "scale": {"min": 1, "max": 5}},
                {"id": "why", "type": "text", "text": "y", "when": "score <= 3"},
                {"id": "solved", "type": "yes_no", "text": "z"}
            ]
        }))
        .unwrap()
    }

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn valid_responses_are_typed() {
        let answers =
            validate_response(&survey(), &raw(&[("score", "2"), ("why", "slow")])).unwrap();
        assert_eq!(answers["score"], AnswerValue::Number(2));
        assert!(is_complete(&survey(), &answers));
    }

    #[test]
    fn every_problem_is_reported() {
        let errors = validate_response(
            &survey(),
            &raw(&[
                ("score", "5"),
                ("why", "great"),
                ("solved", "maybe"),
                ("extra", "1"),
            ]),
        )
        .unwrap_err();
        let questions: Vec<&str> = errors.iter().map(|e| e.question.as_str()).collect();
        assert_eq!(questions, ["extra", "solved"]);
        let missing = validate_response(&survey(), &raw(&[])).unwrap_err();
        assert_eq!(missing[0].message, "an answer is required");
        assert_eq!(missing[0].problem, Problem::Required);
    }

    #[test]
    fn an_answer_that_does_not_apply_is_dropped_and_the_rest_kept() {
        let survey = survey();
        let raw = raw(&[("score", "5"), ("why", "great"), ("solved", "yes")]);
        let valid = Validator::new(&survey)
            .validate(|id| raw.get(id).map(String::as_str))
            .unwrap();
        assert_eq!(valid.dropped, ["why"]);
        assert_eq!(
            valid.answers.keys().collect::<Vec<_>>(),
            ["score", "solved"]
        );
        assert_eq!(validate_response(&survey, &raw).unwrap(), valid.answers);
    }

    #[test]
    fn a_partial_response_keeps_what_applies() {
        let survey = survey();
        let raw = raw(&[("score", "2"), ("why", "slow"), ("solved", "maybe")]);
        let kept = Validator::new(&survey).partial(|id| raw.get(id).map(String::as_str));
        assert_eq!(kept.answers.keys().collect::<Vec<_>>(), ["score", "why"]);
        let raw = raw_with(&raw, "score", "5");
        let kept = Validator::new(&survey).partial(|id| raw.get(id).map(String::as_str));
        assert_eq!(kept.answers.keys().collect::<Vec<_>>(), ["score"]);
        assert_eq!(kept.dropped, ["why"]);
    }

    fn raw_with(raw: &BTreeMap<String, String>, id: &str, value: &str) -> BTreeMap<String, String> {
        let mut raw = raw.clone();
        raw.insert(id.to_string(), value.to_string());
        raw
    }

    #[test]
    fn a_long_value_is_quoted_in_part() {
        let long = "é".repeat(10_000);
        let errors = validate_response(&survey(), &raw(&[("score", &long)])).unwrap_err();
        let quoted = errors[0].message.split('`').nth(1).unwrap();
        assert_eq!(quoted.chars().count(), EXCERPT_CHARS + 1, "{quoted}");
        assert!(quoted.ends_with('…'));
        assert_eq!(excerpt("short"), "short");
        assert_eq!(excerpt(&"x".repeat(EXCERPT_CHARS)).len(), EXCERPT_CHARS);
    }
}
