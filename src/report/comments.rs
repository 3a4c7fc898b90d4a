//! `canvass comments`: the free-text answers of a survey, for reading in a terminal.
//!
//! Free text is where people write names, order numbers and e-mail addresses, so the
//! verbatims never go into the committed summary (which only counts them); they are read
//! from the store on demand, filtered by time and by a condition over the other answers.

use std::fmt::Write as _;

use crate::model::{QuestionType, Survey};
use crate::store::{ReadError, Store};
use crate::when::Expr;
use crate::workspace::Workspace;

use super::ReportError;

/// Which comments to show.
#[derive(Debug, Default)]
pub struct Filter {
    /// Only answers submitted at or after this time.
    pub since: Option<jiff::Timestamp>,
    /// Only answers whose other answers meet this condition (`recommend <= 6`).
    pub when: Option<Expr>,
}

/// One free-text answer with what gives it context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// When it was submitted (RFC 3339, UTC).
    pub submitted_at: String,
    /// The survey version answered.
    pub version: u32,
    /// The response's locale, when known.
    pub locale: Option<String>,
    /// The text question answered.
    pub question: String,
    /// The answer, as given.
    pub text: String,
    /// The response's scored answers (`recommend = 3`), in survey order.
    pub context: Vec<(String, String)>,
}

/// Parses `--when`: the same conditions as a question's `when`.
pub fn parse_condition(text: &str) -> Result<Expr, ReportError> {
    Expr::parse(text).map_err(|e| ReportError::Condition {
        condition: text.to_string(),
        at: e.at + 1,
        message: e.message,
    })
}

/// Parses `--since`: a date (midnight UTC) or an RFC 3339 time.
pub fn parse_since(text: &str) -> Result<jiff::Timestamp, ReportError> {
    let trimmed = text.trim();
    let date = || {
        trimmed
            .parse::<jiff::civil::Date>()
            .ok()?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp())
    };
    trimmed
        .parse::<jiff::Timestamp>()
        .ok()
        .or_else(date)
        .ok_or_else(|| ReportError::Since(text.to_string()))
}

/// A comment as one terminal line: control characters (an escape sequence in an answer
/// could rewrite the operator's terminal) and line breaks become spaces.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The counting responses' free-text answers that pass `filter`, oldest first.
pub fn comments(
    workspace: &Workspace,
    survey: &Survey,
    filter: &Filter,
) -> Result<Vec<Comment>, ReportError> {
    let state_dir = workspace.state_dir();
    if !Store::exists_in(&state_dir) {
        return Ok(Vec::new());
    }
    let since = filter.since.map(|t| t.to_string());
    let mut found = Vec::new();
    let store = Store::open_in(&state_dir)?;
    let read = store.for_each_counting_response::<()>(&survey.id, |r| {
        let recent = since
            .as_deref()
            .is_none_or(|s| r.submitted_at.as_str() >= s);
        let meets = |expr: &Expr| expr.eval(&|q| r.answers.get(q).cloned());
        if recent && filter.when.as_ref().is_none_or(meets) {
            found.extend(response_comments(survey, &r));
        }
        Ok(())
    });
    match read {
        Ok(()) | Err(ReadError::Callback(())) => {}
        Err(ReadError::Store(e)) => return Err(e.into()),
    }
    found.sort_by(|a, b| a.submitted_at.cmp(&b.submitted_at));
    Ok(found)
}

/// The comments as the terminal shows them: one block per response (its time, version,
/// locale and scored answers), a line per comment, then how many there are; every value
/// passed through [`printable`].
pub fn terminal_text(comments: &[Comment]) -> String {
    let mut text = String::new();
    let mut previous = None;
    for comment in comments {
        let context: Vec<String> = comment
            .context
            .iter()
            .map(|(q, v)| format!("{q} = {}", printable(v)))
            .collect();
        let header = format!(
            "{} · v{} · {} · {}",
            comment.submitted_at,
            comment.version,
            printable(comment.locale.as_deref().unwrap_or("–")),
            context.join(", ")
        );
        if previous.as_ref() != Some(&header) {
            let _ = write!(text, "\n{header}\n");
        }
        let _ = writeln!(text, "  {}: {}", comment.question, printable(&comment.text));
        previous = Some(header);
    }
    let n = comments.len();
    let _ = writeln!(text, "\n{n} comment{}", crate::diag::plural(n));
    text
}

fn response_comments(survey: &Survey, r: &crate::store::StoredResponse) -> Vec<Comment> {
    let context: Vec<(String, String)> = survey
        .questions
        .iter()
        .filter(|q| q.kind != QuestionType::Text)
        .filter_map(|q| Some((q.id.clone(), r.answers.get(&q.id)?.to_string())))
        .collect();
    survey
        .questions
        .iter()
        .filter(|q| q.kind == QuestionType::Text)
        .filter_map(|q| {
            let text = r.answers.get(&q.id)?.to_string();
            Some(Comment {
                submitted_at: r.submitted_at.clone(),
                version: r.version,
                locale: r.locale.clone(),
                question: q.id.clone(),
                text,
                context: context.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_date_or_a_time() {
        assert_eq!(
            parse_since("2026-11-01").unwrap().to_string(),
            "2026-11-01T00:00:00Z"
        );
        assert_eq!(
            parse_since("2026-11-01T10:00:00+01:00")
                .unwrap()
                .to_string(),
            "2026-11-01T09:00:00Z"
        );
        assert!(parse_since("last week").is_err());
    }

    #[test]
    fn comments_of_one_response_share_its_heading() {
        let comment = |question: &str, text: &str| Comment {
            submitted_at: "2026-11-02T10:00:00Z".into(),
            version: 1,
            locale: Some("en".into()),
            question: question.into(),
            text: text.into(),
            context: vec![("recommend".into(), "3".into())],
        };
        assert_eq!(
            terminal_text(&[
                comment("reason", "Slow"),
                comment("improve", "Faster\u{1b}")
            ]),
            "\n2026-11-02T10:00:00Z · v1 · en · recommend = 3\n  reason: Slow\n  \
             improve: Faster \n\n2 comments\n"
        );
        assert_eq!(terminal_text(&[]), "\n0 comments\n");
    }

    #[test]
    fn terminal_escapes_are_not_printed() {
        assert_eq!(printable("ok\u{1b}[2Jbad\nline"), "ok [2Jbad line");
    }

    #[test]
    fn a_condition_that_does_not_parse_says_where() {
        let error = parse_condition("recommend <=").unwrap_err().to_string();
        assert!(error.contains("recommend <="), "{error}");
        assert!(error.contains("column"), "{error}");
    }
}
