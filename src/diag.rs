//! Diagnostics: what every check returns, and the three ways the CLI prints them.
//!
//! The library never prints. Checks produce [`Diagnostic`] values; the edge chooses human
//! output (a compiler's `file:line:col: error[E012]: …` with the source line and a caret),
//! a stable JSON array for programs, or GitHub workflow commands for annotations.

use std::fmt::Write as _;
use std::sync::Arc;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use serde::Serialize;

use crate::load::{Source, Span};

/// How bad a problem is. Errors fail `canvass check`; warnings fail only with
/// `--deny-warnings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look, does not fail the build by default.
    Warning,
    /// Must be fixed.
    Error,
}

/// Declares [`Code`] from one table: each code once, with the sentence the README's
/// table shows for it (a test keeps the two equal).
macro_rules! codes {
    ($($code:ident => $meaning:literal,)*) => {
        /// Every code a diagnostic can carry: stable, and each with one meaning.
        /// `E…` are errors, `W…` warnings.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $(
                #[doc = $meaning]
                $code,
            )*
        }

        impl Code {
            /// Every code, in the README's order.
            pub const ALL: &[Code] = &[$(Code::$code),*];

            /// The code as it is printed and documented, such as `E012`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$code => stringify!($code),)*
                }
            }

            /// What the code means, as the README says it.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Code::$code => $meaning,)*
                }
            }
        }
    };
}

codes! {
    E001 => "A file cannot be read, is not UTF-8, is missing (`survey.yaml` in a survey folder), is not a canvass file, or is not a regular file inside the workspace (a symlink out of it, a device, a pipe).",
    E002 => "YAML syntax error (also: more than one document, an alias to an unknown anchor).",
    E003 => "The file is over 1 MiB, nests too deeply, or its aliases expand too far (an alias bomb).",
    E004 => "A mapping repeats a key.",
    E010 => "Unknown key (with a did-you-mean when one is close).",
    E011 => "A value has the wrong type or shape.",
    E012 => "A required key is missing.",
    E013 => "A value breaks a schema constraint: a pattern, an enum, a range, a duration's form, or a key its question type does not allow.",
    E020 => "Two questions, options, metrics or rules share an id.",
    E021 => "The survey's `id` does not match its folder's name.",
    E022 => "`distribution.yaml` names a survey that is not the one beside it or does not exist.",
    E030 => "A `when:` condition does not parse.",
    E031 => "A `when:` condition names a question that does not exist.",
    E032 => "A `when:` condition names the question itself or a later one.",
    E033 => "A `when:` condition compares a question with a value of the wrong kind.",
    E034 => "A `when:` condition compares a scaled question with a number outside its scale.",
    E040 => "A scale's `max` is not above its `min`.",
    E041 => "A scale label is not a point of the scale.",
    E042 => "A rating scale has more than 101 points (a page shows one button per point).",
    E050 => "A text lacks a translation for one of the survey's locales.",
    E051 => "A locale is not a valid BCP 47 language tag.",
    W052 => "A text carries a locale the survey does not declare.",
    E053 => "A survey locale lacks interface words (neither built in nor under `ui:` in `canvass.yaml`); the message names the keys.",
    E060 => "A metric names a question that does not exist, or none.",
    E061 => "A metric's kind does not fit its question's type.",
    E062 => "A metric's `values` are not answers its question accepts.",
    E070 => "A rule (its `locales` or a subject's translations) names a locale the survey lacks.",
    E071 => "A duration cannot be read (e.g. too large).",
    E072 => "A time zone is not an IANA time zone name.",
    E073 => "An e-mail address (`from`, `reply_to`, `unsubscribe.mailto`) is not valid.",
    E074 => "An audience or suppression file does not exist, cannot be read, or is not a regular file inside the workspace or `CANVASS_DATA_DIR`.",
    E075 => "The audience file lacks a column the rule names.",
    E076 => "A sending window's hours or days cannot be read.",
    E077 => "`base_url` in `canvass.yaml` is not an absolute http(s) URL with a host, or carries credentials, a query or a fragment.",
    W078 => "An audience or suppression file of real addresses is tracked by git (files whose addresses are all at domains reserved for examples, such as `example.com` or `*.example`, are test data).",
    E079 => "A rule's `embed` names a question the survey does not have.",
    E080 => "A text uses an unknown `{{ placeholder }}`.",
    E082 => "A rule's `embed` names a text question: one-click buttons need set answers.",
    E085 => "A template override in `templates/` does not parse (at its line), or runs out of its instruction budget (a loop that never ends).",
    E086 => "A template override fails when rendered with sample data.",
    W087 => "A file in `templates/` overrides no built-in template.",
    E100 => "An alert's `include` names a question the survey does not have.",
    E101 => "An alert's `identity` names a column that the audience of one of the survey's rules lacks.",
    E102 => "`contact_consent` names no question of the survey, or one that is not yes_no.",
    E103 => "An alert e-mails but has no sender: no `to.from` and no e-mail rule beside it.",
    W104 => "An alert names `identity` columns, but the survey has no `contact_consent`, so they are never carried.",
    E090 => "(`check --base`) A breaking change without a `version` bump.",
    W091 => "(`check --base`) A `version` bump without any breaking change.",
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One problem, anchored to a node of a file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// The file's text, for the snippet; absent when the file could not be read.
    pub source: Option<Arc<Source>>,
    /// The file as the user should see it.
    pub file: String,
    /// The node the problem is about.
    pub span: Span,
    /// Error or warning.
    pub severity: Severity,
    /// A stable code such as `E012`, documented in the README.
    pub code: Code,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What to do about it, when canvass can tell.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span` of `source`.
    pub fn error(source: &Arc<Source>, span: Span, code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            file: source.name.clone(),
            source: Some(Arc::clone(source)),
            span,
            severity: Severity::Error,
            code,
            message: message.into(),
            help: None,
        }
    }

    /// A warning at `span` of `source`.
    pub fn warning(
        source: &Arc<Source>,
        span: Span,
        code: Code,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(source, span, code, message)
        }
    }

    /// An error about a file that has no text to show (unreadable, missing).
    pub fn file_error(file: impl Into<String>, code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            source: None,
            file: file.into(),
            span: Span::default(),
            severity: Severity::Error,
            code,
            message: message.into(),
            help: None,
        }
    }

    /// Adds advice on what to do.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The 1-based line, at least 1.
    pub fn line(&self) -> usize {
        self.span.start.line.max(1)
    }

    /// The 1-based column, at least 1.
    pub fn column(&self) -> usize {
        self.span.start.column.max(1)
    }

    /// The header line: `file:line:col: error[E012]: message`.
    pub fn header(&self) -> String {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        format!(
            "{}:{}:{}: {level}[{}]: {}",
            self.file,
            self.line(),
            self.column(),
            self.code,
            self.message
        )
    }
}

/// Sorts diagnostics by file and position, the order a reader works through them.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (&a.file, a.line(), a.column(), a.code).cmp(&(&b.file, b.line(), b.column(), b.code))
    });
}

/// Renders diagnostics for a person: the header, the source line with a caret, the help.
pub fn render_human(diagnostics: &[Diagnostic], color: bool) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut out = String::new();
    for diagnostic in diagnostics {
        let _ = writeln!(out, "{}", styled_header(diagnostic, color));
        if let Some(source) = &diagnostic.source {
            out.push_str(&renderer.render(&[snippet_group(diagnostic, source)]));
            out.push('\n');
        } else if let Some(help) = &diagnostic.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        out.push('\n');
    }
    out
}

fn styled_header(diagnostic: &Diagnostic, color: bool) -> String {
    let header = diagnostic.header();
    if !color {
        return header;
    }
    let paint = match diagnostic.severity {
        Severity::Error => "\x1b[1;31m",
        Severity::Warning => "\x1b[1;33m",
    };
    format!("\x1b[1m{header}\x1b[0m").replacen(
        &format!(": {}", severity_word(diagnostic)),
        &format!(": {paint}{}\x1b[0m\x1b[1m", severity_word(diagnostic)),
        1,
    )
}

fn severity_word(diagnostic: &Diagnostic) -> String {
    let level = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    format!("{level}[{}]", diagnostic.code)
}

fn snippet_group<'a>(diagnostic: &'a Diagnostic, source: &'a Source) -> Group<'a> {
    let level = match diagnostic.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    let (start, end) = caret_range(diagnostic.span, source);
    let snippet = Snippet::source(source.text.as_str())
        .path(source.name.as_str())
        .annotation(AnnotationKind::Primary.span(start..end));
    let mut group = Group::with_level(level.clone()).element(snippet);
    if let Some(help) = &diagnostic.help {
        group = group.element(Level::HELP.message(help.as_str()));
    }
    group
}

/// The byte range to underline: the node, cut at the end of its first line.
fn caret_range(span: Span, source: &Source) -> (usize, usize) {
    let start = span.start.offset.min(source.text.len());
    let line_end = source.text[start..]
        .find(['\r', '\n'])
        .map_or(source.text.len(), |i| start + i);
    let end = span.end.offset.clamp(start, line_end);
    if end > start {
        return (start, end);
    }
    let next = source.text[start..line_end]
        .chars()
        .next()
        .map_or(start, |c| start + c.len_utf8());
    (start, next)
}

/// The stable machine form: `{file, line, column, severity, code, message}`.
#[derive(Debug, Serialize)]
struct JsonDiagnostic<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    severity: Severity,
    code: Code,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<&'a str>,
}

/// Renders diagnostics as a JSON array (the order of [`sort`]).
pub fn render_json(diagnostics: &[Diagnostic]) -> String {
    let items: Vec<JsonDiagnostic<'_>> = diagnostics
        .iter()
        .map(|d| JsonDiagnostic {
            file: &d.file,
            line: d.line(),
            column: d.column(),
            severity: d.severity,
            code: d.code,
            message: &d.message,
            help: d.help.as_deref(),
        })
        .collect();
    serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".to_string()) + "\n"
}

/// Renders diagnostics as GitHub Actions workflow commands, which become annotations on
/// the pull request's changed lines.
pub fn render_github(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let command = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut message = format!("[{}] {}", d.code, d.message);
        if let Some(help) = &d.help {
            let _ = write!(message, " (help: {help})");
        }
        let _ = writeln!(
            out,
            "::{command} file={},line={},col={},title={}::{}",
            escape_property(&d.file),
            d.line(),
            d.column(),
            escape_property(&format!("canvass {}", d.code)),
            escape_data(&message)
        );
    }
    out
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The English plural ending for a count, for the messages canvass writes to operators
/// (respondents' words come from the locale's catalogue instead).
pub fn plural<N: PartialEq + From<u8>>(n: N) -> &'static str {
    if n == N::from(1) { "" } else { "s" }
}

/// Counts errors and warnings, for the summary line and the exit status.
pub fn count(diagnostics: &[Diagnostic]) -> (usize, usize) {
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    (errors, diagnostics.len() - errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's table of codes is [`Code`]: the same codes, in the same order, with
    /// the same sentences. Adding a code means adding its row, and the other way round;
    /// a row of the table that does not read as a code and its meaning fails too, so a
    /// code cannot hide in the README behind a typo.
    #[test]
    fn the_readme_table_is_the_list_of_codes() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
        let (_, section) = readme
            .split_once("\n## Diagnostics codes\n")
            .expect("the README has a section of codes");
        let section = section.split("\n## ").next().unwrap_or(section);
        let table: Vec<(String, String)> = section
            .lines()
            .filter(|line| line.starts_with('|'))
            .filter(|line| *line != "| Code | Meaning |" && !line.starts_with("|--"))
            .map(|line| {
                let row = line.strip_prefix("| ").and_then(|l| l.strip_suffix(" |"));
                let (code, meaning) = row
                    .and_then(|r| r.split_once(" | "))
                    .filter(|(code, _)| Code::ALL.iter().any(|c| c.as_str() == *code))
                    .unwrap_or_else(|| panic!("not a row of a known code: {line}"));
                (code.to_string(), meaning.to_string())
            })
            .collect();
        let codes: Vec<(String, String)> = Code::ALL
            .iter()
            .map(|c| (c.as_str().to_string(), c.meaning().to_string()))
            .collect();
        assert_eq!(table, codes);
    }

    fn sample() -> Diagnostic {
        let source = Arc::new(Source::new("s.yaml", "id: x\nversion: zwei\n"));
        let span = Span {
            start: source.pos(2, 9),
            end: source.pos(2, 13),
        };
        Diagnostic::error(&source, span, Code::E011, "`version` must be an integer")
            .with_help("write a whole number, such as 2")
    }

    #[test]
    fn human_output_has_compiler_header_and_caret() {
        let text = render_human(&[sample()], false);
        assert!(text.starts_with("s.yaml:2:10: error[E011]: `version` must be an integer\n"));
        assert!(text.contains("version: zwei"));
        assert!(text.contains("^^^^"));
        assert!(text.contains("help: write a whole number"));
    }

    #[test]
    fn github_output_escapes_properties() {
        let mut d = sample();
        d.file = "a,b:c.yaml".into();
        d.message = "50% done\nnext".into();
        let out = render_github(&[d]);
        assert!(out.starts_with("::error file=a%2Cb%3Ac.yaml,line=2,col=10,"));
        assert!(out.contains("50%25 done%0Anext"));
    }

    #[test]
    fn json_output_is_stable() {
        let out = render_json(&[sample()]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v[0]["line"], 2);
        assert_eq!(v[0]["column"], 10);
        assert_eq!(v[0]["code"], "E011");
        assert_eq!(v[0]["severity"], "error");
    }
}
