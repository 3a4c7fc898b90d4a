//! The command line: the arguments of every command (clap), and one module per group of
//! commands that calls the library and shows what it returns. Nothing here decides
//! anything a library caller would need; it only chooses words, formats and exit codes.

mod alerts;
mod answers;
mod checks;
mod files;
mod privacy;
mod sending;
mod serving;
mod store;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};

use canvass::diag::plural;

/// Survey-as-code: check, render, send, collect and score customer surveys kept in git.
#[derive(Debug, Parser)]
#[command(name = "canvass", version, about, propagate_version = true)]
pub struct Cli {
    /// The workspace folder (default: the nearest folder upwards with canvass.yaml or surveys/).
    #[arg(long, short = 'w', global = true, value_name = "DIR")]
    workspace: Option<PathBuf>,
    /// When to colour the output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a workspace: settings, a survey with rules, schemas, a CI workflow.
    Init(files::InitArgs),
    /// Copy a survey from the built-in library into surveys/ID/.
    New(files::NewArgs),
    /// Check surveys and rules: syntax, schema and meaning.
    Check(checks::CheckArgs),
    /// Describe what changed in surveys and rules since a git revision, by meaning.
    Diff(checks::DiffArgs),
    /// Show who would receive what now, and why everyone else is skipped (counts only).
    Plan(sending::PlanArgs),
    /// Send a survey by its rules over SMTP (or to .canvass/outbox/ when no server is set).
    Send(sending::SendArgs),
    /// Render a survey to files: e-mail (.eml), web page, Slack, Teams, text or print.
    Render(files::RenderArgs),
    /// Serve a live preview of every survey, format and locale on 127.0.0.1.
    Preview(serving::PreviewArgs),
    /// Collect answers over HTTP: one-click links, the web form, the open link, unsubscribe.
    Serve(serving::ServeArgs),
    /// List the alerts and webhook events not delivered yet; `--deliver` makes one attempt
    /// at each now (for a machine where `serve` is not running).
    Alerts(alerts::AlertsArgs),
    /// Print a new random signing key, to export as CANVASS_KEY; `key rotate` moves the
    /// workspace to a new one.
    Key(privacy::KeyArgs),
    /// Erase everything stored about these people (ledger, answers, link fetches); they
    /// stay suppressed so that nothing reaches them again.
    #[command(disable_version_flag = true)]
    Forget(privacy::ForgetArgs),
    /// Delete answers, ledger rows and link fetches older than `retention` in canvass.yaml.
    Prune(privacy::PruneArgs),
    /// The state store: `store migrate` brings its schema up to date, `store copy` moves
    /// the SQLite store into PostgreSQL.
    Store(store::StoreArgs),
    /// Import answers gathered elsewhere (CSV or JSON Lines), validated like the web form.
    #[command(disable_version_flag = true)]
    Import(answers::ImportArgs),
    /// Write the answers that count, one row per response, in the shape import reads.
    #[command(disable_version_flag = true)]
    Export(answers::ExportArgs),
    /// Write each survey's results/summary.md, summary.json and charts from the answers.
    Report(answers::ReportArgs),
    /// Print a survey's free-text answers, newest last. They are never written to the
    /// repository: free text can hold personal data.
    Comments(answers::CommentsArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions(files::CompletionsArgs),
    /// Print the man page (roff).
    Man,
    /// Print a JSON Schema.
    Schema(files::SchemaArgs),
}

/// What every command may use: where the workspace is and whether to colour.
struct Global {
    workspace: Option<PathBuf>,
    color: bool,
}

impl Global {
    /// The workspace folder: `--workspace`, or the nearest one upwards.
    fn root(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.workspace {
            if !dir.is_dir() {
                bail!("the workspace folder {} does not exist", dir.display());
            }
            return Ok(dir.clone());
        }
        let cwd = std::env::current_dir().context("cannot read the current folder")?;
        canvass::workspace::find_root(&cwd).context(
            "no canvass workspace here (no canvass.yaml or surveys/ in this folder or above); \
             run `canvass init` or pass --workspace DIR",
        )
    }

    /// The workspace, loaded; files with problems are left out (`canvass check` reports
    /// them).
    fn workspace(&self) -> anyhow::Result<canvass::workspace::Workspace> {
        Ok(canvass::workspace::Workspace::load(&self.root()?).0)
    }
}

/// The clock, fixed for tests and reproducible plans.
#[derive(Debug, clap::Args)]
struct Clock {
    /// Plan as if it were this instant (RFC 3339).
    #[arg(long, hide = true, env = "CANVASS_NOW", value_parser = parse_now)]
    now: Option<jiff::Timestamp>,
}

impl Clock {
    fn now(&self) -> jiff::Timestamp {
        self.now.unwrap_or_else(jiff::Timestamp::now)
    }
}

/// A positive number of seconds, such as `30` or `0.5`.
fn positive_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 3600.0 => Ok(Duration::from_secs_f64(seconds)),
        _ => Err(format!(
            "`{text}` is not a number of seconds from 0.001 to 3600"
        )),
    }
}

fn parse_now(text: &str) -> Result<jiff::Timestamp, String> {
    text.parse()
        .map_err(|e| format!("not an RFC 3339 instant: {e}"))
}

/// Runs one command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    let global = Global {
        workspace: cli.workspace,
        color,
    };
    match cli.command {
        Command::Init(args) => files::init(args),
        Command::New(args) => files::new(&global, args),
        Command::Check(args) => checks::check(&global, args),
        Command::Diff(args) => checks::diff(&global, args),
        Command::Plan(args) => sending::plan(&global, args),
        Command::Send(args) => sending::send(&global, args),
        Command::Render(args) => files::render(&global, args),
        Command::Preview(args) => serving::preview(&global, args),
        Command::Serve(args) => serving::serve(&global, args),
        Command::Alerts(args) => alerts::alerts(&global, args),
        Command::Key(args) => privacy::key(&global, args),
        Command::Forget(args) => privacy::forget(&global, args),
        Command::Prune(args) => privacy::prune(&global, args),
        Command::Store(args) => store::store(&global, args),
        Command::Import(args) => answers::import(&global, args),
        Command::Export(args) => answers::export(&global, args),
        Command::Report(args) => answers::report(&global, args),
        Command::Comments(args) => answers::comments(&global, args),
        Command::Completions(args) => files::completions(args),
        Command::Man => files::man(),
        Command::Schema(args) => files::schema(args),
    }
}

/// An error and its causes in one line, each cause once: a library error that already
/// quotes its source is not followed by the same words again.
pub fn chain(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// Pretty JSON of a value that serializes (every value canvass prints does).
fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Exit 1 when a command found problems, else 0.
fn failed_if(failed: bool) -> ExitCode {
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints what a command created or wrote, one path per line.
fn print_paths(verb: &str, paths: &[PathBuf]) {
    for path in paths {
        println!("{verb} {}", path.display());
    }
}

/// The path as the user would type it from the workspace.
fn shown(path: &Path) -> String {
    canvass::workspace::display_path(path)
}
