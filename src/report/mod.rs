//! `canvass report`: each survey's summary written as `surveys/<id>/results/summary.md`,
//! `summary.json` and the SVG charts the Markdown embeds.
//!
//! The output depends only on the answers and the survey, never on the time of the run,
//! so committed summaries change only when the answers do and `--check` can tell CI
//! whether they are current. `summary.json` keeps full precision; only the Markdown rounds.

pub mod comments;
mod svg;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::model::{MetricKind, Survey};
use crate::score::{Fold, Method, MetricResult, Summary, VersionSummary, stats::Interval};
use crate::store::{ReadError, Store, StoreError, StoredResponse};
use crate::workspace::{SURVEYS_DIR, Workspace};

/// The folder, inside a survey's folder, that holds its results.
pub const RESULTS_DIR: &str = "results";

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// No survey with this id loaded.
    #[error(
        "no survey `{0}` in the workspace (or its survey.yaml has errors; run `canvass check`)"
    )]
    UnknownSurvey(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A results folder resolves outside the workspace (a symlink).
    #[error(
        "{} is outside the workspace (a symlinked folder); results are written only inside it",
        .0.display()
    )]
    Outside(PathBuf),
    /// A segment value looks like personal data; the summary would be committed.
    #[error(
        "survey `{survey}`: a value of the segment `{dimension}` looks like an e-mail address \
         or a phone number, and summaries are committed to the repository; nothing was \
         written. Segment by a category (a plan, a region), never by a person"
    )]
    PersonalValue {
        /// The survey.
        survey: String,
        /// The segment column.
        dimension: String,
    },
    /// A `--since` value is neither a date nor a time.
    #[error("--since `{0}`: expected a date such as 2026-11-01 or an RFC 3339 time")]
    Since(String),
    /// A `--when` condition does not parse.
    #[error("--when `{condition}`, column {at}: {message}")]
    Condition {
        /// The condition as given.
        condition: String,
        /// The 1-based character where it goes wrong.
        at: usize,
        /// What was expected.
        message: String,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// One file of a survey's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultFile {
    /// Where it goes.
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Folds a survey's counting responses from the store (none when the workspace has no
/// store yet) into its summary.
pub fn summarize(workspace: &Workspace, survey: &Survey) -> Result<Summary, StoreError> {
    let settings = &workspace.settings.report;
    let mut fold = Fold::new(survey, settings.period);
    let state_dir = workspace.state_dir();
    let mut summary = if Store::exists_in(&state_dir) {
        let (sender, receiver) = std::sync::mpsc::sync_channel(4);
        let delivered = std::thread::scope(|scope| {
            let reader = scope.spawn(|| read_responses(&state_dir, &survey.id, sender));
            for batch in receiver {
                batch.iter().for_each(|r| fold.add(r));
            }
            reader.join().expect("the reader does not panic")
        })?;
        fold.finish(&delivered, settings.min_n)
    } else {
        fold.finish(&Default::default(), settings.min_n)
    };
    summary.definition.commit = survey_commit(workspace, &survey.id);
    if let Some(entry) = workspace.survey(&survey.id)
        && entry.distribution.is_some()
    {
        summary.list_rules(entry.rules().iter().map(|r| r.id.as_str()));
    }
    Ok(summary)
}

/// The last commit of the survey's `survey.yaml`, when git knows one that holds it as it is.
fn survey_commit(workspace: &Workspace, id: &str) -> Option<String> {
    let repo = crate::diff::Repo::open(&workspace.root).ok()?;
    let path = format!("{SURVEYS_DIR}/{id}/{}", crate::workspace::SURVEY_FILE);
    repo.last_commit(&path).ok().flatten()
}

/// Responses sent from the reading thread to the folding one at a time.
const BATCH: usize = 1024;

/// Reads a survey's counting responses on a thread of its own (decoding rows takes as
/// long as folding them), sends them in batches, then returns the deliveries per rule.
fn read_responses(
    state_dir: &Path,
    survey: &str,
    sender: std::sync::mpsc::SyncSender<Vec<StoredResponse>>,
) -> Result<BTreeMap<(u32, String), u64>, StoreError> {
    let store = Store::open_in(state_dir)?;
    let mut batch = Vec::with_capacity(BATCH);
    let read = store.for_each_counting_response(survey, |r| {
        batch.push(r);
        if batch.len() == BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            sender.send(full).map_err(|_| ())?;
        }
        Ok(())
    });
    match read {
        Ok(()) | Err(ReadError::Callback(())) => {}
        Err(ReadError::Store(e)) => return Err(e),
    }
    let _ = sender.send(batch);
    drop(sender);
    store.delivered_by_rule(survey)
}

/// The files of a survey's results: the Markdown, the JSON and the charts.
pub fn render(workspace: &Workspace, summary: &Summary) -> Vec<ResultFile> {
    let dir = workspace
        .root
        .join(SURVEYS_DIR)
        .join(&summary.survey)
        .join(RESULTS_DIR);
    let mut json = serde_json::to_string_pretty(summary).expect("summaries serialize");
    json.push('\n');
    let mut files = vec![ResultFile {
        path: dir.join("summary.json"),
        bytes: json.into_bytes(),
    }];
    let mut markdown = format!(
        "# {} — results\n\n<!-- Written by `canvass report` from the answers; do not edit. -->\n\n",
        markdown_text(&summary.title)
    );
    for version in &summary.versions {
        markdown.push_str(&version_markdown(summary, version, &dir, &mut files));
    }
    files.insert(
        0,
        ResultFile {
            path: dir.join("summary.md"),
            bytes: markdown.into_bytes(),
        },
    );
    files
}

/// Writes (or, with `check`, compares) the results of the surveys named, or of all.
/// Returns the files that were written, or with `check` those that are stale.
///
/// A store that holds no answers to a survey (a fresh clone, as in CI, has no store; a
/// checkout that has only sent has no answers) cannot recompute its committed summary, so
/// `--check` then checks what it can: the committed `summary.json` has the summary's shape.
pub fn report(
    workspace: &Workspace,
    surveys: &[String],
    check: bool,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut changed = Vec::new();
    for survey in selected(workspace, surveys)? {
        let summary = summarize(workspace, survey)?;
        refuse_personal_values(&summary)?;
        if check && summary.versions.iter().all(|v| v.responses == 0) {
            changed.extend(invalid_summary(workspace, &survey.id));
            continue;
        }
        let files = render(workspace, &summary);
        for stale in stale_charts(&files) {
            if !check {
                ensure_inside(&workspace.root, stale.parent().unwrap_or(&stale), &stale)?;
                std::fs::remove_file(&stale).map_err(|source| ReportError::Write {
                    path: stale.clone(),
                    source,
                })?;
            }
            changed.push(stale);
        }
        for file in files {
            let current = std::fs::read(&file.path).ok();
            if current.as_deref() == Some(file.bytes.as_slice()) {
                continue;
            }
            if !check {
                write(&workspace.root, &file)?;
            }
            changed.push(file.path);
        }
    }
    Ok(changed)
}

/// Refuses a summary whose segment values look like e-mail addresses or phone numbers
/// (a segment column holding addresses is the usual mistake).
fn refuse_personal_values(summary: &Summary) -> Result<(), ReportError> {
    for version in &summary.versions {
        for dimension in &version.segments {
            if dimension
                .cells
                .iter()
                .any(|cell| looks_personal(&cell.value))
            {
                return Err(ReportError::PersonalValue {
                    survey: summary.survey.clone(),
                    dimension: dimension.dimension.clone(),
                });
            }
        }
    }
    Ok(())
}

/// An e-mail address (`x@y.z`) or a phone number: only digits, spaces, dots, dashes,
/// parentheses and a leading `+`, with 9 or more digits, or 7 after a `+` (a date such as
/// 2026-01-15 has 8).
fn looks_personal(value: &str) -> bool {
    let value = value.trim();
    let email = value
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let enough = digits >= 9 || (value.starts_with('+') && digits >= 7);
    let phone = enough
        && value
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || " .-()".contains(c) || (c == '+' && i == 0));
    email || phone
}

/// The charts an earlier report wrote that this one does not (a question nobody answers
/// any more, a metric removed): left behind, they would be committed beside a summary
/// that no longer shows them.
fn stale_charts(files: &[ResultFile]) -> Vec<PathBuf> {
    let Some(dir) = files.first().and_then(|f| f.path.parent()) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut stale: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| is_chart(p) && !files.iter().any(|f| &f.path == p))
        .collect();
    stale.sort();
    stale
}

/// Whether a file is one of the charts `report` names `v<version>-<id>-<kind>.svg`.
fn is_chart(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let Some(rest) = name.strip_prefix('v').and_then(|r| r.strip_suffix(".svg")) else {
        return false;
    };
    let (version, id) = rest.split_once('-').unwrap_or_default();
    !version.is_empty()
        && version.bytes().all(|b| b.is_ascii_digit())
        && ["-distribution", "-trend", "-groups"]
            .iter()
            .any(|kind| id.ends_with(kind))
}

/// Whether the workspace holds an answers store; a fresh clone, as in CI, has none.
pub fn has_store(workspace: &Workspace) -> bool {
    Store::exists_in(&workspace.state_dir())
}

/// The committed `summary.json` of a survey when it does not parse or lacks the summary
/// schema's shape (an absent one is fine: nothing was committed).
fn invalid_summary(workspace: &Workspace, id: &str) -> Option<PathBuf> {
    let path = workspace
        .root
        .join(SURVEYS_DIR)
        .join(id)
        .join(RESULTS_DIR)
        .join("summary.json");
    let text = std::fs::read_to_string(&path).ok()?;
    let valid = serde_json::from_str(&text)
        .is_ok_and(|value| crate::schema::SchemaKind::Summary.errors(&value).is_empty());
    (!valid).then_some(path)
}

fn selected<'a>(workspace: &'a Workspace, ids: &[String]) -> Result<Vec<&'a Survey>, ReportError> {
    if ids.is_empty() {
        return Ok(workspace
            .surveys
            .iter()
            .filter_map(|e| e.survey.as_ref().map(|s| &s.value))
            .collect());
    }
    ids.iter().map(|id| survey_named(workspace, id)).collect()
}

/// The loaded survey with this id; an error that says to run `check` when it is absent
/// or did not load.
pub fn survey_named<'a>(workspace: &'a Workspace, id: &str) -> Result<&'a Survey, ReportError> {
    workspace
        .survey(id)
        .and_then(|e| e.survey.as_ref())
        .map(|s| &s.value)
        .ok_or_else(|| ReportError::UnknownSurvey(id.to_string()))
}

/// Writes one result file, only inside the workspace: a survey or results folder that is
/// a symlink to elsewhere would otherwise have `report` write outside the repository.
fn write(root: &Path, file: &ResultFile) -> Result<(), ReportError> {
    let wrap = |source| ReportError::Write {
        path: file.path.clone(),
        source,
    };
    if let Some(parent) = file.path.parent() {
        std::fs::create_dir_all(parent).map_err(wrap)?;
        ensure_inside(root, parent, &file.path)?;
    }
    crate::fsutil::write_atomic(&file.path, &file.bytes).map_err(wrap)
}

/// Refuses to touch `path` when its folder `dir` resolves outside the workspace.
fn ensure_inside(root: &Path, dir: &Path, path: &Path) -> Result<(), ReportError> {
    match (dir.canonicalize(), root.canonicalize()) {
        (Ok(dir), Ok(root)) if dir.starts_with(&root) => Ok(()),
        _ => Err(ReportError::Outside(path.to_path_buf())),
    }
}

fn version_markdown(
    summary: &Summary,
    version: &VersionSummary,
    dir: &Path,
    files: &mut Vec<ResultFile>,
) -> String {
    let v = version.version;
    let mut md = format!("## Version {v}\n\n");
    let span = match (&version.first_submitted, &version.last_submitted) {
        (Some(first), Some(last)) => format!(
            ", submitted from {} to {}",
            first.get(..10).unwrap_or(first),
            last.get(..10).unwrap_or(last)
        ),
        _ => String::new(),
    };
    let _ = writeln!(
        md,
        "{} response{}{span}. Intervals are 95%; `n` counts the answers to each metric's question.\n",
        version.responses,
        crate::diag::plural(version.responses)
    );
    if summary.definition.version == v {
        md.push_str(&definition_line(&summary.definition));
    }
    md.push_str(&trend_break(summary, version));
    md.push_str(&headlines_markdown(summary, version));
    md.push_str(
        "| Metric | Score | 95% interval | n | Of which | Method |\n|---|---:|---|---:|---|---|\n",
    );
    for metric in &version.metrics {
        table_row(
            &mut md,
            &[
                &metric_name(metric),
                &crate::score::format_score(metric.kind, metric.score),
                &format_interval(metric.kind, metric.interval),
                &sample_size(metric.n, summary.min_n),
                &counted(metric),
                &method_name(metric.method),
            ],
        );
    }
    md.push_str(&methods_footnote(version));
    for metric in &version.metrics {
        md.push_str(&metric_details(metric, v, dir, files));
    }
    md.push_str(&distributions_markdown(version, dir, files));
    md.push_str(&comments_markdown(summary, version));
    md.push_str(&trend_markdown(summary, version, dir, files));
    md.push_str(&segments_markdown(summary, version));
    md.push_str(&response_rates_markdown(version));
    md
}

/// Which survey wording produced these scores: the version, its definition hash and the
/// commit of its `survey.yaml`.
fn definition_line(definition: &crate::score::Definition) -> String {
    let commit = definition.commit.as_deref().map_or_else(
        || {
            " (not from a commit: the survey file is outside git or has uncommitted changes)"
                .to_string()
        },
        |c| format!(", `survey.yaml` at commit `{}`", c.get(..12).unwrap_or(c)),
    );
    format!(
        "Answers validated against version {}, definition `{}`{commit}.\n\n",
        definition.version, definition.hash
    )
}

/// Where the trend breaks because the survey's version changed: a version's answers are
/// scored on their own, so the periods of one version are never compared with another's.
fn trend_break(summary: &Summary, version: &VersionSummary) -> String {
    let place = summary
        .versions
        .iter()
        .position(|v| v.version == version.version)
        .unwrap_or_default();
    let newer = place.checked_sub(1).map(|i| &summary.versions[i]);
    let older = summary.versions.get(place + 1);
    let day = |at: &Option<String>| {
        at.as_deref().map_or(String::new(), |t| {
            format!(" on {}", t.get(..10).unwrap_or(t))
        })
    };
    let mut md = String::new();
    if let Some(older) = older {
        let _ = writeln!(
            md,
            "⟂ **The trend breaks here.** Version {} starts anew{}; its answers are never \
             compared with version {}'s (below).\n",
            version.version,
            day(&version.first_submitted),
            older.version
        );
    }
    if let Some(newer) = newer {
        let _ = writeln!(
            md,
            "⟂ **The trend of version {} ends here**{}; version {} (above) starts anew and is \
             never compared with it.\n",
            version.version,
            day(&version.last_submitted),
            newer.version
        );
    }
    md
}

/// One sentence per metric that a person reads in five seconds: the latest period's
/// score, the change from the period before and whether it means anything.
fn headlines_markdown(summary: &Summary, version: &VersionSummary) -> String {
    let mut md = String::new();
    for (i, metric) in version.metrics.iter().enumerate() {
        let _ = writeln!(md, "- {}", headline(summary, version, i, metric));
    }
    md.push('\n');
    md
}

fn headline(
    summary: &Summary,
    version: &VersionSummary,
    i: usize,
    metric: &MetricResult,
) -> String {
    let name = markdown_text(&metric_name(metric));
    let latest = version.trend.iter().rev().find(|p| p.metrics[i].n > 0);
    let Some(point) = latest else {
        return format!("**{name}**: no answers yet.");
    };
    let m = &point.metrics[i];
    let mut text = format!(
        "**{name}: {}** in {} (95% interval {}; n = {})",
        crate::score::format_score(metric.kind, m.score),
        point.period,
        format_interval(metric.kind, m.interval),
        m.n
    );
    match &m.change {
        Some(change) => text.push_str(&change_words(metric.kind, change)),
        None => text.push_str("; the first period with answers"),
    }
    text.push('.');
    if m.n < u64::from(summary.min_n) {
        let _ = write!(
            text,
            " ⚠ Small sample: fewer than {} answers, read it as anecdote rather than a score.",
            summary.min_n
        );
    }
    text
}

/// "up 2.8 from 2026-10; not a significant change, p = 0.88".
fn change_words(kind: MetricKind, change: &crate::score::Change) -> String {
    let direction = match change.delta {
        d if d > 0.0 => "up",
        d if d < 0.0 => "down",
        _ => "unchanged",
    };
    let amount = format_delta(kind, change.delta.abs());
    let amount = amount.trim_start_matches('+');
    let verdict = match &change.test {
        Some(t) if t.significant => format!("a significant change, {}", p_words(t.p_value)),
        Some(t) => format!("not a significant change, {}", p_words(t.p_value)),
        None => "too few answers to test the change".to_string(),
    };
    if direction == "unchanged" {
        format!(", unchanged from {}; {verdict}", change.from)
    } else {
        format!(", {direction} {amount} from {}; {verdict}", change.from)
    }
}

/// A p-value as a table shows it: two decimals, three below 0.1 (where 0.05 is decided),
/// "< 0.001" below that rather than a rounded 0.000.
fn p_value(p: f64) -> String {
    match p {
        p if p < 0.001 => "< 0.001".to_string(),
        p if p < 0.1 => format!("{p:.3}"),
        p => format!("{p:.2}"),
    }
}

/// A p-value in a sentence: "p = 0.88", "p < 0.001".
fn p_words(p: f64) -> String {
    let value = p_value(p);
    if value.starts_with('<') {
        format!("p {value}")
    } else {
        format!("p = {value}")
    }
}

/// `n`, flagged when it is below the smallest group a score is shown for in segments.
fn sample_size(n: u64, min_n: u32) -> String {
    if n > 0 && n < u64::from(min_n) {
        format!("{n} (small sample)")
    } else {
        n.to_string()
    }
}

/// The people behind a score: NPS groups, top-box answers; nothing when nobody answered.
fn counted(metric: &MetricResult) -> String {
    match (&metric.groups, metric.hits) {
        _ if metric.n == 0 => "–".to_string(),
        (Some(g), _) => format!(
            "{}, {}, {}",
            counted_people(g.promoters, "promoter"),
            counted_people(g.passives, "passive"),
            counted_people(g.detractors, "detractor")
        ),
        (None, Some(hits)) => format!("{hits} of {} in the top box", metric.n),
        _ => "–".to_string(),
    }
}

/// "1 promoter", "3 promoters".
fn counted_people(n: u64, group: &str) -> String {
    format!("{n} {group}{}", crate::diag::plural(n))
}

/// A method as a reader knows it; [`methods_footnote`] says what it is.
fn method_name(method: Method) -> &'static str {
    match method {
        Method::NpsWaldClipped => "Wald interval, clipped",
        Method::TopBoxWilson => "Wilson interval",
        Method::MeanTClipped => "t interval, clipped",
        Method::WeightedShareTClipped => "t interval of shares, clipped",
    }
}

/// What a method computes, in a sentence.
fn method_explanation(method: Method) -> &'static str {
    match method {
        Method::NpsWaldClipped => {
            "% promoters (9–10) − % detractors (0–6) in points; its interval from the \
             standard error of the per-answer score, cut off at −100 and +100"
        }
        Method::TopBoxWilson => {
            "the share of answers in the top box; Wilson score interval, which stays \
             within 0–100 % on its own"
        }
        Method::MeanTClipped => {
            "the mean answer; t interval with n − 1 degrees of freedom, cut off at the ends \
             of the question's scale"
        }
        Method::WeightedShareTClipped => {
            "the weighted share of the maximum per response, averaged; t interval, cut off \
             at 0 and 100 %"
        }
    }
}

/// Explains each method the table names, once.
fn methods_footnote(version: &VersionSummary) -> String {
    let methods: std::collections::BTreeSet<Method> =
        version.metrics.iter().map(|m| m.method).collect();
    let mut md = String::from("\n");
    for method in methods {
        let _ = writeln!(
            md,
            "*{}* (`{}`): {}.  ",
            method_name(method),
            method.id(),
            method_explanation(method)
        );
    }
    md.push('\n');
    md
}

fn metric_details(
    metric: &MetricResult,
    version: u32,
    dir: &Path,
    files: &mut Vec<ResultFile>,
) -> String {
    let mut md = String::new();
    if let (Some(shares), Some(groups)) = (&metric.shares, &metric.groups) {
        let name = format!("v{version}-{}-groups.svg", metric.id);
        files.push(ResultFile {
            path: dir.join(&name),
            bytes: svg::nps_bar(&metric_name(metric), shares, groups).into_bytes(),
        });
        let _ = writeln!(
            md,
            "![{}: {:.1}% detractors, {:.1}% passives, {:.1}% promoters]({name})\n",
            metric_name(metric),
            shares.detractors,
            shares.passives,
            shares.promoters
        );
    }
    if !metric.items.is_empty() {
        let _ = writeln!(
            md,
            "**{}** by item:\n\n| Item | Weight | Score | n |\n|---|---:|---:|---:|",
            metric_name(metric)
        );
        for item in &metric.items {
            table_row(
                &mut md,
                &[
                    &item.text,
                    &item.weight,
                    &crate::score::format_score(MetricKind::Weighted, item.score),
                    &item.n,
                ],
            );
        }
        md.push('\n');
    }
    md
}

fn distributions_markdown(
    version: &VersionSummary,
    dir: &Path,
    files: &mut Vec<ResultFile>,
) -> String {
    let answered: Vec<_> = version.distributions.iter().filter(|d| d.n > 0).collect();
    if answered.is_empty() {
        return String::new();
    }
    let mut md = String::from("### Distribution of answers\n\n");
    for distribution in answered {
        let name = format!(
            "v{}-{}-distribution.svg",
            version.version, distribution.question
        );
        files.push(ResultFile {
            path: dir.join(&name),
            bytes: svg::distribution(distribution).into_bytes(),
        });
        let _ = writeln!(
            md,
            "![Answers to “{}” (n = {})]({name})\n",
            markdown_text(&distribution.text),
            distribution.n
        );
    }
    md
}

/// How many answered each free-text question, and how to read them; the texts stay out
/// of the repository.
fn comments_markdown(summary: &Summary, version: &VersionSummary) -> String {
    if version.comments.is_empty() {
        return String::new();
    }
    let mut md = String::from("### Comments\n\n| Question | Answers |\n|---|---:|\n");
    for comments in &version.comments {
        table_row(&mut md, &[&comments.text, &comments.n]);
    }
    let _ = writeln!(
        md,
        "\nRead them with `canvass comments {}` (free text can hold personal data, so it is \
         never written here).\n",
        summary.survey
    );
    md
}

fn trend_markdown(
    summary: &Summary,
    version: &VersionSummary,
    dir: &Path,
    files: &mut Vec<ResultFile>,
) -> String {
    if version.trend.is_empty() {
        return String::new();
    }
    let mut md = format!("### Trend by {}\n\n", summary.period);
    for (i, metric) in version.metrics.iter().enumerate() {
        if metric.n == 0 {
            continue;
        }
        let name = format!("v{}-{}-trend.svg", version.version, metric.id);
        files.push(ResultFile {
            path: dir.join(&name),
            bytes: svg::trend(
                &metric_name(metric),
                summary.period,
                metric.kind,
                &version.trend,
                i,
            )
            .into_bytes(),
        });
        let _ = writeln!(
            md,
            "**{0}**\n\n![{0} by {1} with its 95% interval]({name})\n",
            markdown_text(&metric_name(metric)),
            summary.period
        );
        md.push_str(
            "| Period | n | Score | 95% interval | Change | p-value |\n|---|---:|---:|---|---:|---:|\n",
        );
        for point in &version.trend {
            let m = &point.metrics[i];
            let (change, p) = match &m.change {
                Some(c) => (
                    format_delta(metric.kind, c.delta),
                    c.test.map_or("–".to_string(), |t| {
                        format!(
                            "{}{}",
                            p_value(t.p_value),
                            if t.significant { " (significant)" } else { "" }
                        )
                    }),
                ),
                None => ("–".to_string(), "–".to_string()),
            };
            table_row(
                &mut md,
                &[
                    &point.period,
                    &m.n,
                    &crate::score::format_score(metric.kind, m.score),
                    &format_interval(metric.kind, m.interval),
                    &change,
                    &p,
                ],
            );
        }
        md.push('\n');
    }
    md
}

fn segments_markdown(summary: &Summary, version: &VersionSummary) -> String {
    if version.segments.is_empty() {
        return String::new();
    }
    let hidden = format!("n < {}", summary.min_n);
    let mut md = format!(
        "### Segments\n\nA cell with fewer than {} answers shows no score; when only one cell \
         of a segment is hidden, the next smallest is hidden too (\"hidden\"), so no small \
         group can be singled out.\n\n",
        summary.min_n
    );
    for dimension in &version.segments {
        let name = dimension_name(&dimension.dimension);
        let _ = write!(md, "#### {0}\n\n| {0} | Responses |", markdown_text(&name));
        for metric in &version.metrics {
            let _ = write!(md, " {} |", markdown_text(&metric_name(metric)));
        }
        md.push_str("\n|---|---:|");
        md.push_str(&"---:|".repeat(version.metrics.len()));
        md.push('\n');
        for cell in &dimension.cells {
            let responses = cell.responses.map_or(hidden.clone(), |n| n.to_string());
            let value = segment_value(&dimension.dimension, &cell.value);
            let _ = write!(md, "| {} | {responses} |", markdown_text(&value));
            for (metric, result) in cell.metrics.iter().zip(&version.metrics) {
                let text = match metric.suppressed {
                    Some(crate::score::Suppression::MinN) => hidden.clone(),
                    Some(crate::score::Suppression::Complementary) => "hidden".to_string(),
                    None => format!(
                        "{} ({}; n = {})",
                        crate::score::format_score(result.kind, metric.score),
                        format_interval(result.kind, metric.interval),
                        metric.n.unwrap_or_default()
                    ),
                };
                let _ = write!(md, " {text} |");
            }
            md.push('\n');
        }
        md.push('\n');
    }
    md
}

/// A segment dimension as a heading: the fixed ones in words, a segment column as its
/// audience names it.
fn dimension_name(dimension: &str) -> String {
    match dimension {
        "locale" => "Language".to_string(),
        "channel" => "Channel".to_string(),
        "rule" => "Rule".to_string(),
        column => column.to_string(),
    }
}

/// A channel as people say it (`import` is "Imported"), a locale by its language's name
/// with its tag (`Czech (cs)`); other values as they are.
fn segment_value(dimension: &str, value: &str) -> String {
    let named = match dimension {
        "channel" => channel_name(value),
        "locale" => language_name(value).map(|name| format!("{name} ({value})")),
        _ => None,
    };
    named.unwrap_or_else(|| value.to_string())
}

/// A channel's name in words.
fn channel_name(channel: &str) -> Option<String> {
    let name = match channel {
        "email" => "E-mail",
        "slack" => "Slack",
        "teams" => "Teams",
        "link" => "Open link",
        "print" => "Paper",
        "import" => "Imported",
        _ => return None,
    };
    Some(name.to_string())
}

/// The English name of the language of a locale canvass ships interface words for.
fn language_name(locale: &str) -> Option<&'static str> {
    Some(match crate::locale::Locale::parse(locale).language() {
        "en" => "English",
        "sl" => "Slovenian",
        "lt" => "Lithuanian",
        "cs" => "Czech",
        "ms" => "Malay",
        "de" => "German",
        "fr" => "French",
        "es" => "Spanish",
        _ => return None,
    })
}

/// Each rule's answers over the people its messages reached, and apart from the rates
/// the answers that came through no rule.
fn response_rates_markdown(version: &VersionSummary) -> String {
    let through_rules: u64 = version.response_rates.iter().map(|r| r.responses).sum();
    let apart = version.responses.saturating_sub(through_rules);
    if version.response_rates.is_empty() && apart == 0 {
        return String::new();
    }
    let mut md = String::from("### Response rate\n\n");
    if !version.response_rates.is_empty() {
        md.push_str("| Rule | Responses | People reached | Rate |\n|---|---:|---:|---:|\n");
        for rate in &version.response_rates {
            table_row(
                &mut md,
                &[
                    &rate.rule,
                    &rate.responses,
                    &rate.delivered,
                    &rate.rate.map_or("–".to_string(), |r| format!("{r:.1}%")),
                ],
            );
        }
        md.push_str(
            "\nA rule's rate counts the answers that came through its own messages over the \
             people they reached; messages written to the local outbox reached nobody and are \
             not counted, so a rule that has only written to the outbox has no rate (–).\n",
        );
    }
    if apart > 0 {
        if !version.response_rates.is_empty() {
            md.push('\n');
        }
        let _ = writeln!(
            md,
            "{apart} response{} came through no rule (imported, or from the open link) and \
             {} not in any rate.",
            crate::diag::plural(apart),
            if apart == 1 { "is" } else { "are" }
        );
    }
    md.push('\n');
    md
}

/// Appends a Markdown table row, each cell's text escaped.
fn table_row(md: &mut String, cells: &[&dyn std::fmt::Display]) {
    md.push('|');
    for cell in cells {
        let _ = write!(md, " {} |", markdown_text(&cell.to_string()));
    }
    md.push('\n');
}

/// Text from the answers or the survey as literal Markdown: segment values come from
/// audience files and imports, so a `|` must not split a table cell, raw HTML must not
/// reach the page GitHub renders, and no link, emphasis or line break may be injected.
fn markdown_text(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        // Inside a word (`recommend_mean`) an underscore is never emphasis, so ids stay
        // readable in the committed Markdown.
        let inside_word = |i: usize| {
            i > 0
                && chars[i - 1].is_alphanumeric()
                && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric())
        };
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '_' if inside_word(i) => out.push(c),
            '\\' | '|' | '`' | '*' | '_' | '[' | ']' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn metric_name(metric: &MetricResult) -> String {
    metric.title.clone().unwrap_or_else(|| metric.id.clone())
}

fn format_delta(kind: MetricKind, delta: f64) -> String {
    match kind {
        MetricKind::Mean => format!("{delta:+.2}"),
        MetricKind::Nps => format!("{delta:+.1}"),
        _ => format!("{delta:+.1} pp"),
    }
}

fn format_interval(kind: MetricKind, interval: Option<Interval>) -> String {
    match interval {
        None => "–".to_string(),
        Some(i) => format!(
            "{} to {}",
            crate::score::format_score(kind, Some(i.low)),
            crate::score::format_score(kind, Some(i.high))
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_phone_numbers_look_personal_categories_do_not() {
        for personal in [
            "ana@example.com",
            "+386 41 123 456",
            "(555) 123-4567 89",
            "0041791234567",
        ] {
            assert!(looks_personal(personal), "{personal}");
        }
        for category in [
            "enterprise",
            "eu-west",
            "2026-01-15",
            "@handle",
            "v2.1",
            "12345",
        ] {
            assert!(!looks_personal(category), "{category}");
        }
    }

    #[test]
    fn markdown_text_keeps_cells_and_html_literal() {
        assert_eq!(
            markdown_text("a|b <img src=x onerror=alert(1)> [x](y)\n**z**"),
            "a\\|b &lt;img src=x onerror=alert(1)&gt; \\[x\\](y) \\*\\*z\\*\\*"
        );
        assert_eq!(markdown_text("Enterprise EU"), "Enterprise EU");
        assert_eq!(markdown_text("nps_wald _x_"), "nps_wald \\_x\\_");
    }

    #[test]
    fn p_values_never_round_to_zero() {
        assert_eq!(p_words(0.0004), "p < 0.001");
        assert_eq!(p_words(0.0412), "p = 0.041");
        assert_eq!(p_value(0.8797), "0.88");
    }

    #[test]
    fn segment_values_read_as_words() {
        assert_eq!(segment_value("channel", "import"), "Imported");
        assert_eq!(segment_value("locale", "cs"), "Czech (cs)");
        assert_eq!(segment_value("locale", "sl-SI"), "Slovenian (sl-SI)");
        assert_eq!(segment_value("locale", "hr"), "hr");
        assert_eq!(segment_value("plan", "email"), "email");
    }

    #[test]
    fn every_table_cell_is_escaped() {
        let mut md = String::new();
        table_row(&mut md, &[&"a|b", &12]);
        assert_eq!(md, "| a\\|b | 12 |\n");
    }
}
