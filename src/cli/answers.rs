//! The answers in and out: `import`, `export`, `report` and `comments`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use canvass::import::{DroppedCells, ImportError, Imported};
use canvass::store::ImportOutcome;

use super::{Global, failed_if, plural, shown};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The file (`.jsonl`/`.ndjson` for JSON Lines, CSV otherwise).
    file: PathBuf,
    /// The survey the answers belong to.
    #[arg(long)]
    survey: String,
    /// The survey version answered (default: the current one).
    #[arg(long)]
    version: Option<u32>,
    /// Raise the alerts and webhook events the rows meet (off, so that loading
    /// history floods no one).
    #[arg(long)]
    alerts: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The survey.
    #[arg(long, required_unless_present = "respondent")]
    survey: Option<String>,
    /// Everything stored about one person instead, as JSON (a subject access request).
    #[arg(long, value_name = "ADDRESS", conflicts_with_all = ["survey", "version", "format"])]
    respondent: Option<String>,
    /// The survey version (default: the current one).
    #[arg(long)]
    version: Option<u32>,
    /// The format.
    #[arg(long, value_enum, default_value_t)]
    format: canvass::import::Format,
    /// The file to write (default: standard output).
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The surveys (default: all).
    surveys: Vec<String>,
    /// Write nothing; exit 1 when a committed summary is not what report would write.
    #[arg(long)]
    check: bool,
}

#[derive(Debug, clap::Args)]
pub struct CommentsArgs {
    /// The survey.
    survey: String,
    /// Only answers from this date (2026-11-01) or time (RFC 3339) on.
    #[arg(long)]
    since: Option<String>,
    /// Only responses whose answers meet this condition, as in `when:` (`recommend <= 6`).
    #[arg(long)]
    when: Option<String>,
}

pub fn import(global: &Global, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let workspace = global.workspace()?;
    let file = &args.file;
    match canvass::import::import_file(&workspace, file, &args.survey, args.version, args.alerts) {
        Ok(Imported {
            outcome: ImportOutcome::Imported { added },
            dropped,
        }) => {
            print_dropped(file, &dropped);
            println!(
                "imported {added} response{} into `{}`",
                plural(added),
                args.survey
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(Imported {
            outcome: ImportOutcome::AlreadyImported,
            ..
        }) => {
            println!("{} was imported before; nothing to do", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportError::Invalid { path, errors }) => {
            for error in &errors {
                eprintln!("{}: {error}", path.display());
            }
            eprintln!(
                "{} problem{} found; nothing was imported",
                errors.len(),
                plural(errors.len())
            );
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

/// Warns about the answers an import left out, each at its row, then how many in all.
fn print_dropped(file: &Path, dropped: &DroppedCells) {
    for cell in &dropped.listed {
        eprintln!("{}: warning: {cell}", file.display());
    }
    if dropped.total > dropped.listed.len() {
        eprintln!(
            "{}: warning: {} more answers left out",
            file.display(),
            dropped.total - dropped.listed.len()
        );
    }
    if dropped.total > 0 {
        eprintln!(
            "{} answer{} to questions that did not apply left out; the rest of each row is imported",
            dropped.total,
            plural(dropped.total)
        );
    }
}

pub fn export(global: &Global, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let workspace = global.workspace()?;
    let cannot_write = |path: &Path| format!("cannot write {}", path.display());
    if let Some(address) = &args.respondent {
        let data = canvass::privacy::respondent_data(&workspace, address)?;
        let text = serde_json::to_string_pretty(&data)?;
        match &args.output {
            Some(path) => canvass::fsutil::write_atomic(path, format!("{text}\n").as_bytes())
                .with_context(|| cannot_write(path))?,
            None => println!("{text}"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let survey = args.survey.unwrap_or_default();
    let mut out: Box<dyn std::io::Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| cannot_write(path))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let rows = canvass::import::export(&workspace, &survey, args.version, args.format, &mut out)?;
    out.flush()?;
    eprintln!("exported {rows} response{}", plural(rows));
    Ok(ExitCode::SUCCESS)
}

pub fn report(global: &Global, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let workspace = global.workspace()?;
    if args.check && !canvass::report::has_store(&workspace) {
        eprintln!(
            "no answers store in this checkout (.canvass/state.db): the scores cannot be \
             recomputed here, so only the committed summaries' shape is checked"
        );
    }
    let changed = canvass::report::report(&workspace, &args.surveys, args.check)?;
    let verb = if args.check { "stale" } else { "wrote" };
    for path in &changed {
        println!("{verb} {}", shown(path));
    }
    let stale = args.check && !changed.is_empty();
    if stale {
        eprintln!("the summaries are out of date: run `canvass report` and commit them");
    }
    Ok(failed_if(stale))
}

/// Prints the free-text answers that pass the filter (the library lays them out).
pub fn comments(global: &Global, args: CommentsArgs) -> anyhow::Result<ExitCode> {
    use canvass::report::comments;
    let workspace = global.workspace()?;
    let survey = canvass::report::survey_named(&workspace, &args.survey)?;
    let filter = comments::Filter {
        since: args
            .since
            .as_deref()
            .map(comments::parse_since)
            .transpose()?,
        when: args
            .when
            .as_deref()
            .map(comments::parse_condition)
            .transpose()?,
    };
    let found = comments::comments(&workspace, survey, &filter)?;
    print!("{}", comments::terminal_text(&found));
    Ok(ExitCode::SUCCESS)
}
