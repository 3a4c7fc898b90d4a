//! `canvass report`: each survey's summary written as `surveys/<id>/results/summary.md`,
//! `summary.json` and the SVG charts the Markdown embeds.
//!
//! The output depends only on the answers and the survey, never on the time of the run,
//! so committed summaries change only when the answers do and `--check` can tell CI
//! whether they are current. `summary.json` keeps full precision; only the Markdown rounds.

mod svg;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::model::{MetricKind, Survey};
use crate::score::{Fold, MetricResult, Summary, VersionSummary, stats::Interval};
use crate::store::{ReadError, STATE_DB, Store, StoreError, StoredResponse};
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
    let db = workspace.state_dir().join(STATE_DB);
    if !db.exists() {
        return Ok(fold.finish(&Default::default(), settings.min_n));
    }
    let (sender, receiver) = std::sync::mpsc::sync_channel(4);
    let delivered = std::thread::scope(|scope| {
        let reader = scope.spawn(|| read_responses(&db, &survey.id, sender));
        for batch in receiver {
            batch.iter().for_each(|r| fold.add(r));
        }
        reader.join().expect("the reader does not panic")
    })?;
    Ok(fold.finish(&delivered, settings.min_n))
}

/// Responses sent from the reading thread to the folding one at a time.
const BATCH: usize = 1024;

/// Reads a survey's counting responses on a thread of its own (decoding rows takes as
/// long as folding them), sends them in batches, then returns the deliveries per rule.
fn read_responses(
    db: &Path,
    survey: &str,
    sender: std::sync::mpsc::SyncSender<Vec<StoredResponse>>,
) -> Result<BTreeMap<(u32, String), u64>, StoreError> {
    let store = Store::open(db)?;
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
pub fn report(
    workspace: &Workspace,
    surveys: &[String],
    check: bool,
) -> Result<Vec<PathBuf>, ReportError> {
    if check && !has_store(workspace) {
        return invalid_summaries(workspace, surveys);
    }
    let mut changed = Vec::new();
    for survey in selected(workspace, surveys)? {
        let summary = summarize(workspace, survey)?;
        for file in render(workspace, &summary) {
            let current = std::fs::read(&file.path).ok();
            if current.as_deref() == Some(file.bytes.as_slice()) {
                continue;
            }
            if !check {
                write(&file)?;
            }
            changed.push(file.path);
        }
    }
    Ok(changed)
}

/// Whether the workspace holds an answers store; a fresh clone, as in CI, has none.
pub fn has_store(workspace: &Workspace) -> bool {
    workspace.state_dir().join(STATE_DB).exists()
}

/// Without a store the scores cannot be recomputed, so `--check` checks what it can: every
/// committed `summary.json` parses and has the shape of the summary schema. Returns those
/// that do not.
fn invalid_summaries(workspace: &Workspace, ids: &[String]) -> Result<Vec<PathBuf>, ReportError> {
    let mut invalid = Vec::new();
    for survey in selected(workspace, ids)? {
        let path = workspace
            .root
            .join(SURVEYS_DIR)
            .join(&survey.id)
            .join(RESULTS_DIR)
            .join("summary.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let valid = serde_json::from_str(&text)
            .is_ok_and(|value| crate::schema::SchemaKind::Summary.errors(&value).is_empty());
        if !valid {
            invalid.push(path);
        }
    }
    Ok(invalid)
}

fn selected<'a>(workspace: &'a Workspace, ids: &[String]) -> Result<Vec<&'a Survey>, ReportError> {
    if ids.is_empty() {
        return Ok(workspace
            .surveys
            .iter()
            .filter_map(|e| e.survey.as_ref().map(|s| &s.value))
            .collect());
    }
    ids.iter()
        .map(|id| {
            workspace
                .survey(id)
                .and_then(|e| e.survey.as_ref())
                .map(|s| &s.value)
                .ok_or_else(|| ReportError::UnknownSurvey(id.clone()))
        })
        .collect()
}

fn write(file: &ResultFile) -> Result<(), ReportError> {
    let wrap = |source| ReportError::Write {
        path: file.path.clone(),
        source,
    };
    if let Some(parent) = file.path.parent() {
        std::fs::create_dir_all(parent).map_err(wrap)?;
    }
    crate::fsutil::write_atomic(&file.path, &file.bytes).map_err(wrap)
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
        if version.responses == 1 { "" } else { "s" }
    );
    md.push_str("| Metric | Score | 95% interval | n | Method |\n|---|---:|---|---:|---|\n");
    for metric in &version.metrics {
        table_row(
            &mut md,
            &[
                &metric_name(metric),
                &format_score(metric.kind, metric.score),
                &format_interval(metric.kind, metric.interval),
                &metric.n,
                &metric.method,
            ],
        );
    }
    md.push('\n');
    for metric in &version.metrics {
        md.push_str(&metric_details(metric, v, dir, files));
    }
    md.push_str(&distributions_markdown(version, dir, files));
    md.push_str(&trend_markdown(summary, version, dir, files));
    md.push_str(&segments_markdown(summary, version));
    md.push_str(&response_rates_markdown(version));
    md
}

fn metric_details(
    metric: &MetricResult,
    version: u32,
    dir: &Path,
    files: &mut Vec<ResultFile>,
) -> String {
    let mut md = String::new();
    if let Some(shares) = &metric.shares {
        let name = format!("v{version}-{}-groups.svg", metric.id);
        files.push(ResultFile {
            path: dir.join(&name),
            bytes: svg::nps_bar(&metric_name(metric), shares).into_bytes(),
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
                    &item.question,
                    &item.weight,
                    &format_score(MetricKind::Weighted, item.score),
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
    let mut md = String::from("### Distribution of answers\n\n");
    for distribution in &version.distributions {
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
            "![Answers to `{}` (n = {})]({name})\n",
            distribution.question, distribution.n
        );
    }
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
        let name = format!("v{}-{}-trend.svg", version.version, metric.id);
        files.push(ResultFile {
            path: dir.join(&name),
            bytes: svg::trend(&metric_name(metric), metric.kind, &version.trend, i).into_bytes(),
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
                            "{:.3}{}",
                            t.p_value,
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
                    &format_score(metric.kind, m.score),
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
        let _ = write!(
            md,
            "#### {0}\n\n| {0} | Responses |",
            markdown_text(&dimension.dimension)
        );
        for metric in &version.metrics {
            let _ = write!(md, " {} |", markdown_text(&metric_name(metric)));
        }
        md.push_str("\n|---|---:|");
        md.push_str(&"---:|".repeat(version.metrics.len()));
        md.push('\n');
        for cell in &dimension.cells {
            let responses = cell.responses.map_or(hidden.clone(), |n| n.to_string());
            let _ = write!(md, "| {} | {responses} |", markdown_text(&cell.value));
            for (metric, result) in cell.metrics.iter().zip(&version.metrics) {
                let text = match metric.suppressed {
                    Some(crate::score::Suppression::MinN) => hidden.clone(),
                    Some(crate::score::Suppression::Complementary) => "hidden".to_string(),
                    None => format!(
                        "{} ({}; n = {})",
                        format_score(result.kind, metric.score),
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

fn response_rates_markdown(version: &VersionSummary) -> String {
    if version.response_rates.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "### Response rate\n\n| Rule | Responses | People reached | Rate |\n|---|---:|---:|---:|\n",
    );
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

/// A score rounded for people: NPS in signed points, shares in percent, means to two
/// decimals; "–" when there is none.
pub fn format_score(kind: MetricKind, score: Option<f64>) -> String {
    match (kind, score) {
        (_, None) => "–".to_string(),
        (MetricKind::Nps, Some(x)) => format!("{x:+.1}"),
        (MetricKind::Mean, Some(x)) => format!("{x:.2}"),
        (_, Some(x)) => format!("{x:.1}%"),
    }
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
            format_score(kind, Some(i.low)),
            format_score(kind, Some(i.high))
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn every_table_cell_is_escaped() {
        let mut md = String::new();
        table_row(&mut md, &[&"a|b", &12]);
        assert_eq!(md, "| a\\|b | 12 |\n");
    }
}
