//! `canvass check`: the meaning of surveys and rules, beyond what their schema can say.
//!
//! The schema catches shapes; this module catches what only a reader of the whole file can:
//! a `when` that names a later question, a label outside its scale, a translation missing,
//! a rule whose audience file lacks a column. Every problem is a diagnostic at its node.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::diag::{Code, Diagnostic};
use crate::locale::well_formed;
use crate::model::{
    AnswerValue, Audience, Distribution, MetricKind, Question, QuestionType, Rule, Survey, Text,
    Window, parse_duration,
};
use crate::placeholders::{allowed_placeholders, placeholders};
use crate::schema::{SchemaKind, suggest};
use crate::when::Expr;
use crate::words::Words;
use crate::workspace::{self, Document, Loaded, SurveyEntry, Workspace};

mod alerts;

/// What `canvass check` found, and how many files it read.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Every problem, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    /// How many files were checked.
    pub files: usize,
}

/// Checks a whole workspace: every file's syntax, schema and meaning.
pub fn check_workspace(root: &Path) -> CheckReport {
    let (ws, mut diagnostics) = Workspace::load(root);
    diagnostics.extend(check_loaded(&ws));
    diagnostics.extend(crate::render::check_overrides(root));
    let files = crate::render::override_count(root)
        + usize::from(ws.root.join(workspace::SETTINGS_FILE).exists())
        + ws.surveys
            .iter()
            .map(|s| 1 + usize::from(s.dir.join(workspace::DISTRIBUTION_FILE).exists()))
            .sum::<usize>();
    crate::diag::sort(&mut diagnostics);
    CheckReport { diagnostics, files }
}

/// Adds `check --base REV`'s version discipline to a report: breaking changes since `base`
/// need a `version` bump (E090), and a bump needs a breaking change (W091).
pub fn check_versions(
    report: &mut CheckReport,
    root: &Path,
    base: &str,
) -> Result<(), crate::diff::DiffError> {
    report
        .diagnostics
        .extend(crate::diff::version_discipline(root, Some(base))?);
    crate::diag::sort(&mut report.diagnostics);
    Ok(())
}

/// Checks only the named files (survey, distribution or settings files, or survey
/// folders), reading a distribution's survey beside it for cross-references.
pub fn check_paths(paths: &[PathBuf]) -> CheckReport {
    let mut diagnostics = Vec::new();
    let mut files = 0;
    for path in paths {
        if path.is_dir() && path.join(workspace::SURVEYS_DIR).is_dir() {
            let report = check_workspace(path);
            files += report.files;
            diagnostics.extend(report.diagnostics);
            continue;
        }
        let dir = if path.is_dir() {
            path.clone()
        } else {
            path.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        files += 1;
        match path.file_name().and_then(|n| n.to_str()) {
            Some(workspace::SETTINGS_FILE) => {
                let root = path.parent().unwrap_or(Path::new("."));
                let confined = crate::fsutil::Confined::definitions(root);
                if let Some(s) =
                    workspace::load_typed(path, SchemaKind::Workspace, &confined, &mut diagnostics)
                {
                    diagnostics.extend(check_settings(&s, root));
                }
            }
            Some(workspace::SURVEY_FILE | workspace::DISTRIBUTION_FILE) | None => {
                let only = path.is_file().then(|| path.clone());
                diagnostics.extend(check_folder(&dir, only.as_deref()));
            }
            Some(_) if path.is_dir() => diagnostics.extend(check_folder(&dir, None)),
            Some(other) => diagnostics.push(
                Diagnostic::file_error(
                    workspace::display_path(path),
                    Code::E001,
                    format!("`{other}` is not a canvass file"),
                )
                .with_help("name survey.yaml, distribution.yaml, canvass.yaml or a survey folder"),
            ),
        }
    }
    crate::diag::sort(&mut diagnostics);
    CheckReport { diagnostics, files }
}

fn check_folder(dir: &Path, only: Option<&Path>) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let entry = workspace::load_entry(dir.to_path_buf(), &mut diagnostics);
    let root = dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let ws = Workspace {
        root: root.to_path_buf(),
        settings: Default::default(),
        settings_doc: None,
        surveys: vec![entry],
    };
    diagnostics.extend(check_loaded(&ws));
    if let Some(only) = only {
        let name = workspace::display_path(only);
        diagnostics.retain(|d| d.file == name);
    }
    diagnostics
}

/// The meaning checks over a loaded workspace (syntax and schema problems were reported
/// by the loader).
pub fn check_loaded(ws: &Workspace) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let Some(doc) = &ws.settings_doc {
        let settings = Loaded {
            doc: doc.clone(),
            value: ws.settings.clone(),
        };
        out.extend(check_settings(&settings, &ws.root));
    }
    let words = Words::new(&ws.settings.ui);
    let per_survey = workspace::parallel_map(&ws.surveys, |entry| {
        let mut found = Vec::new();
        if let Some(survey) = &entry.survey {
            found.extend(check_survey(survey, &entry.folder));
            found.extend(check_words(survey, &words));
        }
        if let Some(distribution) = &entry.distribution {
            found.extend(check_distribution(distribution, entry, ws));
        }
        found
    });
    out.extend(per_survey.into_iter().flatten());
    out
}

fn check_settings(settings: &Loaded<crate::model::Settings>, root: &Path) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let doc = &settings.doc;
    if let Some(mailto) = settings
        .value
        .unsubscribe
        .as_ref()
        .and_then(|u| u.mailto.as_ref())
        && let Err(e) = lettre::Address::from_str(mailto)
    {
        out.push(doc.error(
            "/unsubscribe/mailto",
            Code::E073,
            format!("`{mailto}` is not an e-mail address: {e}"),
        ));
    }
    if let Some(base_url) = &settings.value.base_url
        && let Err(why) = base_url_problem(base_url)
    {
        out.push(
            doc.error("/base_url", Code::E077, format!("`{base_url}` {why}"))
                .with_help(
                    "give where `canvass serve` is reachable, e.g. `https://feedback.example.com`",
                ),
        );
    }
    let confined = crate::fsutil::Confined::workspace(root);
    for (i, file) in settings.value.suppression.iter().enumerate() {
        let pointer = format!("/suppression/{i}");
        match confined.open_in(root, file, crate::fsutil::MAX_DATA_BYTES) {
            Err(e) => out.push(
                doc.error(&pointer, Code::E074, e.to_string())
                    .with_help("paths are relative to canvass.yaml"),
            ),
            Ok(_) => warn_if_tracked(&root.join(file), &pointer, doc, &mut out),
        }
    }
    alerts::check_webhooks(&settings.value, doc, &mut out);
    out
}

/// Why `base_url` cannot start response links: it must be an absolute http(s) URL with a
/// host, and carry no credentials (they would be in every message), query or fragment
/// (links append a path to it).
fn base_url_problem(text: &str) -> Result<(), &'static str> {
    let url = url::Url::parse(text).map_err(|_| "is not an absolute URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("is not an http or https URL");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("carries credentials, which would be in every message");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("has a query or a fragment; response links add a path to it");
    }
    Ok(())
}

/// Checks a survey's meaning.
pub fn check_survey(loaded: &Loaded<Survey>, folder: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let (survey, doc) = (&loaded.value, &loaded.doc);
    if survey.id != folder {
        out.push(
            doc.error(
                "/id",
                Code::E021,
                format!(
                    "the survey id `{}` does not match its folder `{folder}`",
                    survey.id
                ),
            )
            .with_help(format!("rename the folder or set `id: {folder}`")),
        );
    }
    check_locales(survey, doc, &mut out);
    check_unique(
        survey.questions.iter().map(|q| q.id.as_str()),
        "/questions",
        "question",
        doc,
        &mut out,
    );
    check_unique(
        survey.metrics.iter().map(|m| m.id.as_str()),
        "/metrics",
        "metric",
        doc,
        &mut out,
    );
    for (i, question) in survey.questions.iter().enumerate() {
        let base = format!("/questions/{i}");
        check_scale(question, &base, doc, &mut out);
        check_unique(
            question.options.iter().map(|o| o.id.as_str()),
            &format!("{base}/options"),
            "option",
            doc,
            &mut out,
        );
        if let Some(when) = &question.when {
            check_when(when, i, survey, &format!("{base}/when"), doc, &mut out);
        }
    }
    let valid_locales: Vec<String> = survey
        .locales
        .iter()
        .filter(|l| well_formed(l).is_ok())
        .cloned()
        .collect();
    for (pointer, text) in survey_texts(survey) {
        check_text(text, &valid_locales, &pointer, doc, &mut out);
    }
    for (i, metric) in survey.metrics.iter().enumerate() {
        check_metric(metric, survey, &format!("/metrics/{i}"), doc, &mut out);
    }
    alerts::check_consent(survey, doc, &mut out);
    out
}

fn check_locales(survey: &Survey, doc: &Document, out: &mut Vec<Diagnostic>) {
    for (i, locale) in survey.locales.iter().enumerate() {
        if let Err(e) = well_formed(locale) {
            out.push(
                doc.error(
                    &format!("/locales/{i}"),
                    Code::E051,
                    format!("`{locale}` is not a valid BCP 47 language tag: {e}"),
                )
                .with_help("use a tag such as `en`, `sl`, `pt-BR` or `zh-Hant`"),
            );
        }
    }
}

/// A survey locale needs every interface word (E053), built in or from `ui:` in
/// `canvass.yaml`: the words it lacks would reach its respondents in English.
fn check_words(loaded: &Loaded<Survey>, words: &Words) -> Vec<Diagnostic> {
    let (survey, doc) = (&loaded.value, &loaded.doc);
    let valid = |l: &&String| well_formed(l).is_ok();
    let mut out = Vec::new();
    for (i, locale) in survey.locales.iter().enumerate().filter(|(_, l)| valid(l)) {
        let missing = words.missing(locale);
        if missing.is_empty() {
            continue;
        }
        let message = if missing.len() == words.keys().count() {
            format!(
                "canvass has no interface words for `{locale}`: {}",
                missing.join(", ")
            )
        } else {
            format!(
                "the interface words for `{locale}` lack {}",
                missing.join(", ")
            )
        };
        out.push(
            doc.error(&format!("/locales/{i}"), Code::E053, message).with_help(format!(
                "add them under `ui: {{ {locale}: … }}` in canvass.yaml; until then they show in English"
            )),
        );
    }
    out
}

fn check_unique<'a>(
    ids: impl Iterator<Item = &'a str>,
    list: &str,
    what: &str,
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, id) in ids.enumerate() {
        if let Some(prev) = first.get(id) {
            let line = doc.spans.value(&format!("{list}/{prev}/id")).start.line;
            out.push(
                doc.error(
                    &format!("{list}/{i}/id"),
                    Code::E020,
                    format!("duplicate {what} id `{id}` (first used on line {line})"),
                )
                .with_help(format!("give each {what} its own id")),
            );
        } else {
            first.insert(id, i);
        }
    }
}

fn check_scale(question: &Question, base: &str, doc: &Document, out: &mut Vec<Diagnostic>) {
    let Some(scale) = &question.scale else { return };
    if let (Some(min), Some(max)) = (scale.min, scale.max)
        && min >= max
    {
        out.push(doc.error(
            &format!("{base}/scale/max"),
            Code::E040,
            format!("the scale's max ({max}) must be above its min ({min})"),
        ));
        return;
    }
    if let (Some(min), Some(max)) = (scale.min, scale.max)
        && max.abs_diff(min) > crate::model::MAX_SCALE_STEPS
    {
        out.push(
            doc.error(
                &format!("{base}/scale/max"),
                Code::E042,
                format!(
                    "the scale {min}–{max} has {} points; a respondent can pick from at most {}",
                    max.abs_diff(min).saturating_add(1),
                    crate::model::MAX_SCALE_STEPS + 1
                ),
            )
            .with_help(format!(
                "make `max` at most {}",
                min.saturating_add_unsigned(crate::model::MAX_SCALE_STEPS)
            )),
        );
        return;
    }
    let Some((lo, hi)) = question.range() else {
        return;
    };
    for key in scale.labels.keys() {
        let pointer = format!("{base}/scale/labels/{key}");
        match key.parse::<i64>() {
            Ok(v) if (lo..=hi).contains(&v) => {}
            _ => out.push(
                doc.key_error(
                    &pointer,
                    Code::E041,
                    format!("the label `{key}` is outside the scale {lo}–{hi}"),
                )
                .with_help(format!("label a point from {lo} to {hi}")),
            ),
        }
    }
}

fn check_when(
    when: &str,
    index: usize,
    survey: &Survey,
    pointer: &str,
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    let expr = match Expr::parse(when) {
        Ok(expr) => expr,
        Err(e) => {
            out.push(diagnostic_in_string(
                doc,
                pointer,
                e.at,
                1,
                Code::E030,
                format!("the condition does not parse: {}", e.message),
            ));
            return;
        }
    };
    for comparison in expr.comparisons() {
        let name = &comparison.question;
        let at_name = |code, message: String| {
            diagnostic_in_string(
                doc,
                pointer,
                comparison.question_at,
                name.chars().count(),
                code,
                message,
            )
        };
        let Some(target_index) = survey.question_index(name) else {
            let known: Vec<&str> = survey.questions[..index]
                .iter()
                .map(|q| q.id.as_str())
                .collect();
            let mut d = at_name(
                Code::E031,
                format!("the condition names `{name}`, which is not a question of this survey"),
            );
            d.help = suggest(name, &known).map(|s| format!("did you mean `{s}`?"));
            out.push(d);
            continue;
        };
        if target_index >= index {
            out.push(at_name(
                Code::E032,
                format!("the condition names `{name}`, which is not asked before this question"),
            ).with_help("a condition may only use answers to earlier questions; move the question or change the condition"));
            continue;
        }
        let target = &survey.questions[target_index];
        if let Err((code, message)) =
            comparison_fits(target, comparison.op.is_ordering(), &comparison.value)
        {
            let width = comparison.value.to_string().chars().count();
            out.push(diagnostic_in_string(
                doc,
                pointer,
                comparison.value_at,
                width,
                code,
                format!("`{name}` {message}"),
            ));
        }
    }
}

/// Whether a value (and operator) can be compared with a question's answers, or the
/// code and the words of why not.
fn comparison_fits(
    question: &Question,
    ordering: bool,
    value: &AnswerValue,
) -> Result<(), (Code, String)> {
    match (question.kind, value) {
        (kind, AnswerValue::Number(n)) if kind.is_scaled() => {
            let (lo, hi) = question.range().unwrap_or((i64::MIN, i64::MAX));
            if (lo..=hi).contains(n) {
                Ok(())
            } else {
                Err((
                    Code::E034,
                    format!("out of range: {n} is outside the scale {lo}–{hi}"),
                ))
            }
        }
        (kind, _) if kind.is_scaled() => Err((
            Code::E033,
            format!("is a {} question: compare it with a number", kind.name()),
        )),
        (_, _) if ordering => Err((
            Code::E033,
            format!(
                "is a {} question: only `==` and `!=` apply",
                question.kind.name()
            ),
        )),
        (QuestionType::YesNo, AnswerValue::Word(w)) if w == "yes" || w == "no" => Ok(()),
        (QuestionType::YesNo, _) => Err((
            Code::E033,
            "is a yes_no question: compare it with `yes` or `no`".into(),
        )),
        (QuestionType::Choice, v) => {
            let ids: Vec<&str> = question.options.iter().map(|o| o.id.as_str()).collect();
            if ids.contains(&v.to_string().as_str()) {
                Ok(())
            } else {
                Err((
                    Code::E033,
                    format!("has no option `{v}`: its options are {}", ids.join(", ")),
                ))
            }
        }
        _ => Ok(()),
    }
}

/// A diagnostic pointing inside a string value, `at` characters from its start.
fn diagnostic_in_string(
    doc: &Document,
    pointer: &str,
    at: usize,
    width: usize,
    code: Code,
    message: String,
) -> Diagnostic {
    let span = doc.spans.value(pointer);
    let text = &doc.source.text;
    let quoted = text[span.start.offset..].starts_with(['"', '\'']);
    let same_line = !text[span.start.offset..span.end.offset.max(span.start.offset)].contains('\n');
    let mut d = doc.error(pointer, code, message);
    if same_line {
        let column = span.start.column - 1 + usize::from(quoted) + at;
        let start = doc.source.pos(span.start.line, column);
        let end = doc.source.pos(span.start.line, column + width.max(1));
        d.span = crate::load::Span { start, end };
    }
    d
}

/// Every text of a survey with its pointer.
pub fn survey_texts(survey: &Survey) -> Vec<(String, &Text)> {
    let mut texts = vec![("/title".to_string(), &survey.title)];
    for (key, text) in [
        ("intro", &survey.intro),
        ("thanks", &survey.thanks),
        ("incentive", &survey.incentive),
    ] {
        if let Some(text) = text {
            texts.push((format!("/{key}"), text));
        }
    }
    for (i, q) in survey.questions.iter().enumerate() {
        texts.push((format!("/questions/{i}/text"), &q.text));
        if let Some(help) = &q.help {
            texts.push((format!("/questions/{i}/help"), help));
        }
        if let Some(scale) = &q.scale {
            for (key, label) in &scale.labels {
                texts.push((format!("/questions/{i}/scale/labels/{key}"), label));
            }
        }
        for (j, option) in q.options.iter().enumerate() {
            texts.push((format!("/questions/{i}/options/{j}/text"), &option.text));
        }
    }
    for (i, m) in survey.metrics.iter().enumerate() {
        if let Some(title) = &m.title {
            texts.push((format!("/metrics/{i}/title"), title));
        }
    }
    texts
}

fn check_text(
    text: &Text,
    locales: &[String],
    pointer: &str,
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    let Some(given) = text.locales() else {
        if locales.len() > 1 {
            out.push(
                doc.error(
                    pointer,
                    Code::E050,
                    format!(
                        "`{}` is a single string, but the survey has {} locales",
                        &pointer[1..],
                        locales.len()
                    ),
                )
                .with_help(format!("give a text for each of {}", locales.join(", "))),
            );
        }
        return;
    };
    let given: HashSet<&str> = given.collect();
    for locale in locales {
        if !given.contains(locale.as_str()) {
            out.push(
                doc.error(
                    pointer,
                    Code::E050,
                    format!("`{}` is missing the `{locale}` translation", &pointer[1..]),
                )
                .with_help(format!(
                    "add `{locale}: …`; every text needs every locale the survey declares"
                )),
            );
        }
    }
    let declared: HashSet<&str> = locales.iter().map(String::as_str).collect();
    for locale in given.iter().filter(|l| !declared.contains(*l)) {
        out.push(
            doc.key_warning(
                &format!("{pointer}/{locale}"),
                Code::W052,
                format!("the locale `{locale}` is not declared in `locales`"),
            )
            .with_help("add it to `locales` or remove this translation"),
        );
    }
}

fn check_metric(
    metric: &crate::model::Metric,
    survey: &Survey,
    base: &str,
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    let targets: Vec<(String, &str)> = match metric.kind {
        MetricKind::Weighted => metric
            .questions
            .iter()
            .enumerate()
            .map(|(i, q)| (format!("{base}/questions/{i}"), q.as_str()))
            .collect(),
        _ => metric
            .question
            .iter()
            .map(|q| (format!("{base}/question"), q.as_str()))
            .collect(),
    };
    if targets.is_empty() {
        let key = if metric.kind == MetricKind::Weighted {
            "questions"
        } else {
            "question"
        };
        out.push(
            doc.error(
                base,
                Code::E060,
                format!("the metric `{}` names no question", metric.id),
            )
            .with_help(format!("add `{key}:`")),
        );
    }
    for (pointer, id) in targets {
        let Some(question) = survey.question(id) else {
            let known: Vec<&str> = survey.questions.iter().map(|q| q.id.as_str()).collect();
            let mut d = doc.error(
                &pointer,
                Code::E060,
                format!(
                    "the metric `{}` names `{id}`, which is not a question of this survey",
                    metric.id
                ),
            );
            d.help = suggest(id, &known).map(|s| format!("did you mean `{s}`?"));
            out.push(d);
            continue;
        };
        if let Err(why) = metric_fits(metric.kind, question.kind) {
            out.push(doc.error(
                &pointer,
                Code::E061,
                format!("`{id}` is a {} question; {why}", question.kind.name()),
            ));
            continue;
        }
        for (i, value) in metric.values.iter().enumerate() {
            if let Err(expected) = question.accepts(value) {
                out.push(doc.error(
                    &format!("{base}/values/{i}"),
                    Code::E062,
                    format!("`{value}` is not an answer to `{id}`: expected {expected}"),
                ));
            }
        }
    }
}

fn metric_fits(metric: MetricKind, question: QuestionType) -> Result<(), &'static str> {
    let fits = match metric {
        MetricKind::Nps => question == QuestionType::Nps,
        MetricKind::Mean => question.is_scaled(),
        MetricKind::TopBox => question != QuestionType::Text,
        MetricKind::Weighted => question.is_scaled() || question == QuestionType::YesNo,
    };
    if fits {
        return Ok(());
    }
    Err(match metric {
        MetricKind::Nps => "an nps metric needs an nps question",
        MetricKind::Mean => "a mean needs a rating, nps or ces question",
        MetricKind::TopBox => "a top_box needs a question with set answers, not text",
        MetricKind::Weighted => "a weighted scorecard takes yes_no and scaled items",
    })
}

fn check_distribution(
    loaded: &Loaded<Distribution>,
    entry: &SurveyEntry,
    ws: &Workspace,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let (dist, doc) = (&loaded.value, &loaded.doc);
    if let Some(named) = &dist.survey
        && named != &entry.folder
    {
        let known: Vec<&str> = ws.surveys.iter().map(|s| s.folder.as_str()).collect();
        let message = if ws.survey(named).is_some() {
            format!(
                "these rules sit beside `{}` but name the survey `{named}`",
                entry.folder
            )
        } else {
            format!("the rules name the survey `{named}`, which does not exist")
        };
        let mut d = doc.error("/survey", Code::E022, message);
        d.help = suggest(named, &known)
            .map(|s| format!("did you mean `{s}`?"))
            .or(Some(format!("set `survey: {}`", entry.folder)));
        out.push(d);
    }
    check_unique(
        dist.rules.iter().map(|r| r.id.as_str()),
        "/rules",
        "rule",
        doc,
        &mut out,
    );
    let survey = entry.survey.as_ref().map(|s| &s.value);
    for (i, rule) in dist.rules.iter().enumerate() {
        check_rule(
            rule,
            survey,
            &format!("/rules/{i}"),
            doc,
            &entry.dir,
            &mut out,
        );
    }
    alerts::check_alerts(dist, entry, doc, &mut out);
    out
}

fn check_rule(
    rule: &Rule,
    survey: Option<&Survey>,
    base: &str,
    doc: &Document,
    dir: &Path,
    out: &mut Vec<Diagnostic>,
) {
    let durations = [
        ("expires", rule.expires.as_ref()),
        (
            "trigger/after",
            rule.trigger.as_ref().and_then(|t| t.after.as_ref()),
        ),
        (
            "trigger/within",
            rule.trigger.as_ref().and_then(|t| t.within.as_ref()),
        ),
        ("cap/once_per", rule.cap.as_ref().map(|c| &c.once_per)),
        ("reminder/after", rule.reminder.as_ref().map(|r| &r.after)),
    ];
    for (key, value) in durations {
        if let Some(value) = value
            && let Err(e) = parse_duration(value)
        {
            out.push(
                doc.error(
                    &format!("{base}/{key}"),
                    Code::E071,
                    format!("the duration {e}"),
                )
                .with_help("write a number and a unit: 30m, 12h, 7d, 2w"),
            );
        }
    }
    if let Some(window) = &rule.window {
        check_window(window, &format!("{base}/window"), doc, out);
    }
    if let Some(email) = &rule.email {
        check_mailbox(&email.from, &format!("{base}/email/from"), doc, out);
        if let Some(reply_to) = &email.reply_to {
            check_mailbox(reply_to, &format!("{base}/email/reply_to"), doc, out);
        }
        if let Some(survey) = survey {
            check_rule_text(
                &email.subject,
                survey,
                &format!("{base}/email/subject"),
                doc,
                out,
            );
        }
        let allowed = allowed_placeholders(rule.audience.as_ref());
        check_placeholders(
            &email.subject,
            &allowed,
            &format!("{base}/email/subject"),
            doc,
            out,
        );
    }
    if let (Some(embed), Some(survey)) = (&rule.embed, survey) {
        match survey.question(embed) {
            None => out.push(doc.error(&format!("{base}/embed"), Code::E079, format!("the rule embeds `{embed}`, which is not a question of this survey"))),
            Some(q) if q.kind == QuestionType::Text => out.push(doc.error(&format!("{base}/embed"), Code::E082, format!("`{embed}` is a text question; only a question with set answers can be one-click buttons"))),
            Some(_) => {}
        }
    }
    if let Some(audience) = &rule.audience {
        check_audience(audience, rule, &format!("{base}/audience"), doc, dir, out);
    }
}

fn check_rule_text(
    text: &Text,
    survey: &Survey,
    pointer: &str,
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    let Some(given) = text.locales() else { return };
    for locale in given {
        if !survey.locales.iter().any(|l| l == locale) {
            out.push(doc.key_error(
                &format!("{pointer}/{locale}"),
                Code::E070,
                format!("the survey `{}` has no locale `{locale}`", survey.id),
            ));
        }
    }
    for locale in &survey.locales {
        if text.locales().is_some_and(|mut g| !g.any(|l| l == locale)) {
            out.push(doc.error(
                pointer,
                Code::E050,
                format!("the subject is missing the `{locale}` translation"),
            ));
        }
    }
}

fn check_placeholders(
    text: &Text,
    allowed: &[String],
    pointer: &str,
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    let variants: Vec<(String, &str)> = match text {
        Text::Plain(s) => vec![(pointer.to_string(), s.as_str())],
        Text::Localized(map) => map
            .iter()
            .map(|(l, s)| (format!("{pointer}/{l}"), s.as_str()))
            .collect(),
    };
    for (pointer, s) in variants {
        for (name, at) in placeholders(s) {
            if !allowed.contains(&name) {
                let mut d = diagnostic_in_string(
                    doc,
                    &pointer,
                    at,
                    name.chars().count() + 4,
                    Code::E080,
                    format!("unknown placeholder `{{{{ {name} }}}}`"),
                );
                d.help = Some(match suggest(&name, allowed) {
                    Some(s) => format!(
                        "did you mean `{s}`? placeholders here: {}",
                        allowed.join(", ")
                    ),
                    None => format!(
                        "placeholders here: {} (declare audience columns under `audience.placeholders`)",
                        allowed.join(", ")
                    ),
                });
                out.push(d);
            }
        }
    }
}

fn check_mailbox(value: &str, pointer: &str, doc: &Document, out: &mut Vec<Diagnostic>) {
    if let Err(e) = lettre::message::Mailbox::from_str(value) {
        out.push(
            doc.error(
                pointer,
                Code::E073,
                format!("`{value}` is not an e-mail address: {e}"),
            )
            .with_help("write `Name <address@example.com>` or `address@example.com`"),
        );
    }
}

fn check_window(window: &Window, base: &str, doc: &Document, out: &mut Vec<Diagnostic>) {
    if let Some(tz) = &window.timezone
        && jiff::tz::TimeZone::get(tz).is_err()
    {
        let mut d = doc.error(
            &format!("{base}/timezone"),
            Code::E072,
            format!("`{tz}` is not an IANA time zone"),
        );
        d.help = Some("use a name such as Europe/Ljubljana, America/New_York or UTC".into());
        out.push(d);
    }
    if let Some(hours) = &window.hours
        && let Err(e) = crate::model::parse_hours(hours)
    {
        out.push(
            doc.error(&format!("{base}/hours"), Code::E076, e.to_string())
                .with_help("write `HH:MM-HH:MM`, such as `09:00-17:00`"),
        );
    }
    if let Some(days) = &window.days
        && let Err(e) = crate::model::parse_days(days)
    {
        out.push(
            doc.error(&format!("{base}/days"), Code::E076, e.to_string())
                .with_help("write `mon-fri` or a list such as `[mon, wed, fri]`"),
        );
    }
}

fn check_audience(
    audience: &Audience,
    rule: &Rule,
    base: &str,
    doc: &Document,
    dir: &Path,
    out: &mut Vec<Diagnostic>,
) {
    let header = match crate::fsutil::audience_header(dir, &audience.file) {
        Ok(header) => header,
        Err(e) => {
            out.push(
                doc.error(
                    &format!("{base}/file"),
                    Code::E074,
                    format!("the audience file: {e}"),
                )
                .with_help("the path is relative to this distribution file"),
            );
            return;
        }
    };
    warn_if_tracked(&dir.join(&audience.file), &format!("{base}/file"), doc, out);
    let mut named = audience.columns();
    if let Some(trigger) = &rule.trigger {
        named.push(("../trigger/field".to_string(), trigger.field.as_str()));
    }
    for (key, column) in named {
        if !header.iter().any(|h| h == column) {
            let pointer = if let Some(rest) = key.strip_prefix("../") {
                format!("{}/{rest}", base.trim_end_matches("/audience"))
            } else {
                format!("{base}/{key}")
            };
            let mut d = doc.error(
                &pointer,
                Code::E075,
                format!("the audience file has no column `{column}`"),
            );
            // Only a close match is named: a diagnostic never lists what another file holds.
            d.help = Some(match suggest(column, &header) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "name a column of the file's header row".to_string(),
            });
            out.push(d);
        }
    }
}

/// W078: a file of addresses committed to git is personal data in every clone, unless
/// its addresses are all at domains reserved for examples (test data).
fn warn_if_tracked(path: &Path, pointer: &str, doc: &Document, out: &mut Vec<Diagnostic>) {
    if crate::diff::is_tracked(path) && holds_real_addresses(path) {
        out.push(
            doc.warning(
                pointer,
                Code::W078,
                "this file of addresses is tracked by git, so every clone holds personal data",
            )
            .with_help(
                "remove it from the repository (`git rm --cached`), list it in .gitignore and \
                 keep it in CANVASS_DATA_DIR or another folder outside git",
            ),
        );
    }
}

/// How much of a file is looked at for real addresses.
const ADDRESS_SCAN_BYTES: u64 = 64 * 1024;

/// Whether the start of a file holds an address outside the domains RFC 2606 and 6761
/// reserve for examples and tests.
fn holds_real_addresses(path: &Path) -> bool {
    use std::io::Read as _;
    let mut text = String::new();
    let read = std::fs::File::open(path)
        .and_then(|file| file.take(ADDRESS_SCAN_BYTES).read_to_string(&mut text));
    if read.is_err() {
        return true;
    }
    text.split(|c: char| c.is_whitespace() || ",;\"'<>".contains(c))
        .filter_map(|word| word.split_once('@').map(|(_, domain)| domain))
        .filter(|domain| domain.contains('.'))
        .any(|domain| !is_reserved_domain(domain))
}

fn is_reserved_domain(domain: &str) -> bool {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    ["example.com", "example.net", "example.org"].contains(&domain.as_str())
        || [
            ".example",
            ".test",
            ".invalid",
            ".localhost",
            ".example.com",
            ".example.net",
            ".example.org",
        ]
        .iter()
        .any(|suffix| domain.ends_with(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_domains_are_not_personal_data() {
        assert!(is_reserved_domain("acme.example"));
        assert!(is_reserved_domain("Example.COM"));
        assert!(is_reserved_domain("mail.example.org"));
        assert!(!is_reserved_domain("gmail.com"));
        assert!(!is_reserved_domain("example.com.evil.net"));
    }

    #[test]
    fn base_urls_are_absolute_http_without_credentials_query_or_fragment() {
        assert!(base_url_problem("https://feedback.example.com").is_ok());
        assert!(base_url_problem("http://localhost:8080/survey/").is_ok());
        for bad in [
            "feedback.example.com",
            "/survey",
            "ftp://example.com",
            "https://u@example.com",
            "https://example.com/?a=1",
            "https://example.com/#top",
            "mailto:a@example.com",
        ] {
            assert!(base_url_problem(bad).is_err(), "{bad}");
        }
    }
}
