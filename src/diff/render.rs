//! The two forms of a [`DiffReport`]: Markdown to post as a pull-request comment, and JSON
//! for programs.

use std::fmt::Write as _;

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::{Change, Class, DiffReport, Status, SurveyDiff, plural};

/// Renders the report as JSON.
pub fn render_json(report: &DiffReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|_| "{}".to_string()) + "\n"
}

/// Renders the report as a pull-request comment: a one-line verdict, then a table per
/// survey, with reworded texts shown word by word as ~~old~~ **new**.
pub fn render_markdown(report: &DiffReport) -> String {
    let mut out = verdict(&report.surveys);
    let _ = writeln!(
        out,
        "\n\nCompared with {} (`{}`).",
        report.base.description, report.base.commit
    );
    for survey in &report.surveys {
        out.push('\n');
        out.push_str(&section(survey));
    }
    if !report.unreadable.is_empty() {
        out.push_str("\nNot compared, because they do not load (see `canvass check`):\n");
        for file in &report.unreadable {
            let _ = writeln!(out, "- {}", escape(file));
        }
    }
    out
}

fn verdict(surveys: &[SurveyDiff]) -> String {
    if surveys.is_empty() {
        return "**canvass:** no survey changed — ✅ nothing to review".to_string();
    }
    let head = format!(
        "**canvass:** {} survey{} changed — ",
        surveys.len(),
        plural(surveys.len())
    );
    let total = |class: Class| surveys.iter().map(|s| s.count(class)).sum::<usize>();
    let unbumped: Vec<&SurveyDiff> = surveys.iter().filter(|s| s.needs_version_bump()).collect();
    if !unbumped.is_empty() {
        let count = unbumped
            .iter()
            .map(|s| s.count(Class::Breaking))
            .sum::<usize>();
        let names: Vec<String> = unbumped.iter().map(|s| format!("`{}`", s.id)).collect();
        return format!(
            "{head}⚠️ {count} breaking change{} in {} without a version bump",
            plural(count),
            names.join(", ")
        );
    }
    let breaking = total(Class::Breaking);
    if breaking > 0 {
        return format!(
            "{head}🔶 {breaking} breaking change{}, with a version bump",
            plural(breaking)
        );
    }
    let counts: Vec<(usize, &str)> = [Class::Content, Class::Operational]
        .into_iter()
        .map(|class| (total(class), class.name()))
        .filter(|(n, _)| *n > 0)
        .collect();
    let last = counts.last().map_or(0, |(n, _)| *n);
    let words: Vec<String> = counts
        .iter()
        .map(|(n, name)| format!("{n} {name}"))
        .collect();
    format!(
        "{head}✅ {} change{}, nothing breaking",
        words.join(" and "),
        plural(last)
    )
}

fn section(survey: &SurveyDiff) -> String {
    let mut out = format!("### {} ({})\n\n", survey.id, versions(survey));
    out.push_str("| Change | Where | Class | Detail |\n|---|---|---|---|\n");
    for change in &survey.changes {
        let class = match change.class {
            Class::Breaking if survey.needs_version_bump() => "⚠️ **breaking**",
            Class::Breaking => "**breaking**",
            other => other.name(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {class} | {} |",
            cell(&change.change),
            cell(&change.location),
            detail(change)
        );
    }
    if survey.needs_version_bump() {
        let next = survey.base_version.unwrap_or(0) + 1;
        let _ = writeln!(
            out,
            "\n> ⚠️ Answers after these changes are not comparable with earlier ones: \
             bump `version` to {next} so that they are kept apart."
        );
    }
    out
}

fn versions(survey: &SurveyDiff) -> String {
    let (old, new) = (survey.base_version, survey.head_version);
    let span = match (old, new) {
        (Some(a), Some(b)) if a != b => format!("v{a} → v{b}"),
        (_, Some(v)) | (Some(v), None) => format!("v{v}"),
        (None, None) => "unreadable".to_string(),
    };
    match survey.status {
        Status::Added => format!("new, {span}"),
        Status::Removed => format!("removed, was {span}"),
        Status::Renamed => format!(
            "renamed from {}, {span}",
            survey.renamed_from.as_deref().unwrap_or("?")
        ),
        Status::Changed => span,
    }
}

fn detail(change: &Change) -> String {
    let shown = match (&change.old, &change.new) {
        (Some(Value::String(a)), Some(Value::String(b))) => Some(word_diff(a, b)),
        (Some(a), Some(b)) => Some(format!("{} {}", mark(&show(a), "~~"), mark(&show(b), "**"))),
        (Some(a), None) => Some(mark(&show(a), "~~")),
        (None, Some(b)) => Some(mark(&show(b), "**")),
        (None, None) => None,
    };
    let note = change.note.as_deref().map(cell);
    match (shown, note) {
        (Some(shown), Some(note)) => format!("{shown} — {note}"),
        (Some(text), None) | (None, Some(text)) => text,
        (None, None) => String::new(),
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A word-level diff: unchanged words as they are, removed ones struck through, added
/// ones in bold.
fn word_diff(old: &str, new: &str) -> String {
    let diff = TextDiff::configure().diff_words(old, new);
    let (mut out, mut removed, mut added) = (String::new(), String::new(), String::new());
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Equal => {
                flush(&mut out, &mut removed, &mut added);
                out.push_str(&escape(change.value()));
            }
            ChangeTag::Delete => removed.push_str(change.value()),
            ChangeTag::Insert => added.push_str(change.value()),
        }
    }
    flush(&mut out, &mut removed, &mut added);
    out
}

fn flush(out: &mut String, removed: &mut String, added: &mut String) {
    let both = !removed.trim().is_empty() && !added.trim().is_empty();
    out.push_str(&mark_keeping_spaces(removed, "~~"));
    if both {
        out.push(' ');
    }
    out.push_str(&mark_keeping_spaces(added, "**"));
    removed.clear();
    added.clear();
}

/// Wraps the words of `text` in `marker`, leaving its outer spaces outside (Markdown
/// ignores emphasis that starts or ends with a space).
fn mark_keeping_spaces(text: &str, marker: &str) -> String {
    let words = text.trim();
    if words.is_empty() {
        return escape(text);
    }
    let lead = text.len() - text.trim_start().len();
    let tail = text.trim_end().len();
    format!(
        "{}{}{}",
        escape(&text[..lead]),
        mark(words, marker),
        escape(&text[tail..])
    )
}

fn mark(text: &str, marker: &str) -> String {
    let words = text.trim();
    if words.is_empty() {
        return "(empty)".to_string();
    }
    format!("{marker}{}{marker}", escape(words))
}

/// Escapes a user's text for a table cell: Markdown's inline punctuation, the column
/// separator, and line breaks.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '<' | '>' | '|' | '!' | '&' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("<br>"),
            '\r' => {}
            _ => out.push(c),
        }
    }
    out
}

/// Makes canvass's own Markdown (ids in code spans) safe in a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_diffs_mark_only_the_changed_words() {
        assert_eq!(
            word_diff("How likely are you?", "How probable are you?"),
            "How ~~likely~~ **probable** are you?"
        );
        assert_eq!(word_diff("a b", "a b c"), "a b **c**");
        assert_eq!(word_diff("a b c", "a c"), "a ~~b~~ c");
    }

    fn survey(classes: &[Class], versions: (u32, u32)) -> SurveyDiff {
        SurveyDiff {
            id: "nps".to_string(),
            status: Status::Changed,
            renamed_from: None,
            base_version: Some(versions.0),
            head_version: Some(versions.1),
            changes: classes
                .iter()
                .map(|class| Change::new("x changed", "x", *class))
                .collect(),
        }
    }

    #[test]
    fn the_verdict_leads_with_what_needs_action() {
        use Class::*;
        assert!(verdict(&[]).contains("no survey changed"));
        assert_eq!(
            verdict(&[survey(&[Content, Content, Content, Operational], (1, 1))]),
            "**canvass:** 1 survey changed — ✅ 3 content and 1 operational change, nothing breaking"
        );
        assert_eq!(
            verdict(&[survey(&[Breaking, Content], (1, 1))]),
            "**canvass:** 1 survey changed — ⚠️ 1 breaking change in `nps` without a version bump"
        );
        assert_eq!(
            verdict(&[survey(&[Breaking, Breaking], (1, 2))]),
            "**canvass:** 1 survey changed — 🔶 2 breaking changes, with a version bump"
        );
    }

    #[test]
    fn cells_escape_markdown_and_pipes() {
        assert_eq!(escape("a|b *c* <d>\nx"), "a\\|b \\*c\\* \\<d\\><br>x");
        assert_eq!(word_diff("1 | 2", "1 | 3"), "1 \\| ~~2~~ **3**");
    }
}
