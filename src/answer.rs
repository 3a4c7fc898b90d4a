//! Validating one response against its survey, the same way for every channel.
//!
//! The web form, the one-click landing page and `canvass import` all call
//! [`validate_response`], so an answer accepted by one is accepted by all: types, ranges,
//! choices, `required` and the `when` logic (a question whose condition is false must be
//! left empty).

use std::collections::BTreeMap;

use crate::model::{AnswerValue, Survey};
use crate::when::Expr;

/// One problem with one question's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The question id (the form field, the import column).
    pub question: String,
    /// What was expected, for the person.
    pub message: String,
}

/// The typed answers of a valid response.
pub type Answers = BTreeMap<String, AnswerValue>;

/// Validates raw answers (question id → text as typed; empty means unanswered). Returns
/// the typed answers, or every problem found.
pub fn validate_response(
    survey: &Survey,
    raw: &BTreeMap<String, String>,
) -> Result<Answers, Vec<FieldError>> {
    let mut errors = Vec::new();
    for id in raw.keys() {
        if survey.question(id).is_none() {
            errors.push(FieldError {
                question: id.clone(),
                message: format!("`{id}` is not a question of the survey `{}`", survey.id),
            });
        }
    }
    let mut answers = Answers::new();
    for question in &survey.questions {
        let given = raw
            .get(&question.id)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty());
        let shown = is_shown(question.when.as_deref(), &answers);
        match (given, shown) {
            (Some(_), false) => errors.push(FieldError {
                question: question.id.clone(),
                message: format!(
                    "must be empty: it is asked only when {}",
                    question.when.as_deref().unwrap_or_default()
                ),
            }),
            (Some(text), true) => match question.parse_answer(text) {
                Ok(value) => {
                    answers.insert(question.id.clone(), value);
                }
                Err(expected) => errors.push(FieldError {
                    question: question.id.clone(),
                    message: format!("expected {expected}, got `{text}`"),
                }),
            },
            (None, true) if question.required => errors.push(FieldError {
                question: question.id.clone(),
                message: "an answer is required".to_string(),
            }),
            (None, _) => {}
        }
    }
    if errors.is_empty() {
        Ok(answers)
    } else {
        Err(errors)
    }
}

/// Whether a question with this condition is shown, given the answers so far. A
/// condition that does not parse never hides a question (`check` reports it).
pub fn is_shown(when: Option<&str>, answers: &Answers) -> bool {
    when.and_then(|w| Expr::parse(w).ok())
        .is_none_or(|expr| expr.eval(&|q| answers.get(q).cloned()))
}

/// Whether every required question that is shown has an answer.
pub fn is_complete(survey: &Survey, answers: &Answers) -> bool {
    survey.questions.iter().all(|q| {
        !q.required || answers.contains_key(&q.id) || !is_shown(q.when.as_deref(), answers)
    })
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
        assert_eq!(questions, ["extra", "why", "solved"]);
        let missing = validate_response(&survey(), &raw(&[])).unwrap_err();
        assert_eq!(missing[0].message, "an answer is required");
    }
}
