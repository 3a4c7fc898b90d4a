//! `check` and `diff`: what the files mean, for people, CI and pull requests.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::ValueEnum;

use canvass::diag;

use super::{Global, failed_if, plural};

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum Format {
    /// For people: compiler-style diagnostics.
    #[default]
    Human,
    /// A JSON array of {file, line, column, severity, code, message}.
    Json,
    /// GitHub Actions workflow commands (annotations).
    Github,
}

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum DiffFormat {
    /// A pull-request comment: a verdict and a table per survey.
    #[default]
    Md,
    /// The changes as JSON, for programs.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Files or folders to check (default: the whole workspace).
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Fail on warnings too.
    #[arg(long)]
    deny_warnings: bool,
    /// Also check version discipline against this git revision: a breaking change
    /// needs a `version` bump, and a bump needs a breaking change.
    #[arg(long, value_name = "REV")]
    base: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The revision to compare with (default: the merge base with the default branch).
    #[arg(long, value_name = "REV")]
    base: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: DiffFormat,
}

pub fn check(global: &Global, args: CheckArgs) -> anyhow::Result<ExitCode> {
    if let Some(missing) = args.paths.iter().find(|p| !p.exists()) {
        bail!("{} does not exist", missing.display());
    }
    // The workspace is found once, and only when the whole of it is checked or compared.
    let needs_root = args.paths.is_empty() || args.base.is_some();
    let root = needs_root.then(|| global.root()).transpose()?;
    let mut report = match &root {
        Some(root) if args.paths.is_empty() => canvass::check::check_workspace(root),
        _ => canvass::check::check_paths(&args.paths),
    };
    if let Some((base, root)) = args.base.as_ref().zip(root.as_ref()) {
        canvass::check::check_versions(&mut report, root, base)?;
    }
    let diagnostics = &report.diagnostics;
    match args.format {
        Format::Human => print!("{}", diag::render_human(diagnostics, global.color)),
        Format::Json => print!("{}", diag::render_json(diagnostics)),
        Format::Github => print!("{}", diag::render_github(diagnostics)),
    }
    let (errors, warnings) = diag::count(diagnostics);
    if matches!(args.format, Format::Human) {
        eprintln!(
            "checked {} file{}: {errors} error{}, {warnings} warning{}",
            report.files,
            plural(report.files),
            plural(errors),
            plural(warnings)
        );
    }
    Ok(failed_if(
        errors > 0 || (args.deny_warnings && warnings > 0),
    ))
}

pub fn diff(global: &Global, args: DiffArgs) -> anyhow::Result<ExitCode> {
    let report = canvass::diff::diff_workspace(&global.root()?, args.base.as_deref())?;
    eprintln!(
        "compared with {} ({})",
        report.base.description, report.base.commit
    );
    match args.format {
        DiffFormat::Md => print!("{}", canvass::diff::render_markdown(&report)),
        DiffFormat::Json => print!("{}", canvass::diff::render_json(&report)),
    }
    Ok(ExitCode::SUCCESS)
}
