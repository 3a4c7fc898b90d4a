//! The `canvass` command line: parses arguments and calls the library.

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use canvass::plan::{self, PlanSummary};
use canvass::send::{self, Reply, RuleReport, SendOptions, Setup, SmtpLimits};

use canvass::diag::{self, Diagnostic};
use canvass::render::output;
use canvass::schema::SchemaKind;

/// mimalloc: rendering and folding allocate many small, short-lived strings, which it
/// serves markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Survey-as-code: check, render, send, collect and score customer surveys kept in git.
#[derive(Debug, Parser)]
#[command(name = "canvass", version, about, propagate_version = true)]
struct Cli {
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

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
enum Format {
    /// For people: compiler-style diagnostics.
    #[default]
    Human,
    /// A JSON array of {file, line, column, severity, code, message}.
    Json,
    /// GitHub Actions workflow commands (annotations).
    Github,
}

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
enum DiffFormat {
    /// A pull-request comment: a verdict and a table per survey.
    #[default]
    Md,
    /// The changes as JSON, for programs.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a workspace: settings, a survey with rules, schemas, a CI workflow.
    Init {
        /// The folder (created if missing).
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Copy a survey from the built-in library into surveys/ID/.
    New {
        /// The template (see --list).
        #[arg(required_unless_present = "list")]
        template: Option<String>,
        /// The new survey's id and folder name.
        #[arg(required_unless_present = "list")]
        id: Option<String>,
        /// List the templates.
        #[arg(long)]
        list: bool,
    },
    /// Check surveys and rules: syntax, schema and meaning.
    Check {
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
    },
    /// Describe what changed in surveys and rules since a git revision, by meaning.
    Diff {
        /// The revision to compare with (default: the merge base with the default branch).
        #[arg(long, value_name = "REV")]
        base: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: DiffFormat,
    },
    /// Show who would receive what now, and why everyone else is skipped (counts only).
    Plan {
        /// SURVEY or SURVEY/RULE.
        #[arg(required_unless_present = "all")]
        target: Option<String>,
        /// Every survey and rule of the workspace.
        #[arg(long, conflicts_with = "target")]
        all: bool,
        /// What the rules do with this one address.
        #[arg(long, value_name = "ADDRESS")]
        explain: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: PlanFormat,
        #[command(flatten)]
        clock: Clock,
    },
    /// Send a survey by its rules over SMTP (or to .canvass/outbox/ when no server is set).
    Send {
        /// SURVEY or SURVEY/RULE.
        #[arg(required_unless_present = "all")]
        target: Option<String>,
        /// Every survey and rule of the workspace.
        #[arg(long, conflicts_with = "target")]
        all: bool,
        /// Plan and render everything, send and record nothing.
        #[arg(long)]
        dry_run: bool,
        /// Send at most N messages per rule.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        /// A test send to this address: one message per locale, not recorded.
        #[arg(long, value_name = "ADDRESS")]
        to: Option<String>,
        /// Send again the messages whose outcome a killed run left unknown.
        #[arg(long)]
        resend_unknown: bool,
        /// The first wait before retrying a temporary failure, in milliseconds.
        #[arg(long, hide = true, default_value_t = 2000)]
        retry_backoff_ms: u64,
        /// Messages handed over at once.
        #[arg(long, hide = true, default_value_t = 8)]
        workers: usize,
        /// Seconds to wait for the SMTP server at each step; three steps in a row without
        /// an answer stop the run.
        #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = positive_seconds)]
        smtp_timeout: Duration,
        #[command(flatten)]
        clock: Clock,
    },
    /// Render a survey to files: e-mail (.eml), web page, Slack, Teams, text or print.
    Render {
        /// The survey id.
        survey: String,
        /// The format.
        #[arg(long, value_enum)]
        format: output::Format,
        /// One locale (default: every locale of the survey).
        #[arg(long)]
        locale: Option<String>,
        /// A JSON file with the recipient: {"address", "name", "values"} (default: a sample).
        #[arg(long, value_name = "FILE.json")]
        recipient: Option<PathBuf>,
        /// The folder to write into.
        #[arg(long, value_name = "DIR", default_value = ".")]
        out: PathBuf,
    },
    /// Serve a live preview of every survey, format and locale on 127.0.0.1.
    Preview {
        /// The port (0 picks a free one).
        #[arg(long, default_value_t = 7878)]
        port: u16,
    },
    /// Collect answers over HTTP: one-click links, the web form, the open link, unsubscribe.
    Serve {
        /// The address to listen on; port 0 picks a free port. The first line printed is
        /// the address bound.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: std::net::SocketAddr,
        /// A reverse proxy (address or CIDR range, repeatable) whose X-Forwarded-For names
        /// the client, for the open link's per-client limit.
        #[arg(long, value_name = "ADDRESS", value_parser = address_range)]
        trust_proxy: Vec<ipnet::IpNet>,
        #[command(flatten)]
        retry: AlertRetry,
    },
    /// List the alerts and webhook events not delivered yet; `--deliver` makes one attempt
    /// at each now (for a machine where `serve` is not running).
    Alerts {
        /// Attempt every pending and failed delivery once, then list what is left.
        #[arg(long)]
        deliver: bool,
        #[command(flatten)]
        retry: AlertRetry,
    },
    /// Print a new random signing key, to export as CANVASS_KEY; `key rotate` moves the
    /// workspace to a new one.
    Key {
        #[command(subcommand)]
        action: Option<KeyAction>,
    },
    /// Erase everything stored about these people (ledger, answers, link fetches); they
    /// stay suppressed so that nothing reaches them again.
    #[command(disable_version_flag = true)]
    Forget {
        /// Their addresses.
        addresses: Vec<String>,
        /// A file of addresses, one per line.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Delete answers, ledger rows and link fetches older than `retention` in canvass.yaml.
    Prune {
        #[command(flatten)]
        clock: Clock,
    },
    /// Import answers gathered elsewhere (CSV or JSON Lines), validated like the web form.
    #[command(disable_version_flag = true)]
    Import {
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
    },
    /// Write the answers that count, one row per response, in the shape import reads.
    #[command(disable_version_flag = true)]
    Export {
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
    },
    /// Write each survey's results/summary.md, summary.json and charts from the answers.
    Report {
        /// The surveys (default: all).
        surveys: Vec<String>,
        /// Write nothing; exit 1 when a committed summary is not what report would write.
        #[arg(long)]
        check: bool,
    },
    /// Print a survey's free-text answers, newest last. They are never written to the
    /// repository: free text can hold personal data.
    Comments {
        /// The survey.
        survey: String,
        /// Only answers from this date (2026-11-01) or time (RFC 3339) on.
        #[arg(long)]
        since: Option<String>,
        /// Only responses whose answers meet this condition, as in `when:` (`recommend <= 6`).
        #[arg(long)]
        when: Option<String>,
    },
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
    /// Print a JSON Schema.
    Schema {
        /// Which file's schema.
        #[arg(value_enum)]
        kind: SchemaKind,
    },
}

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
enum PlanFormat {
    /// Counts for people.
    #[default]
    Human,
    /// A JSON array with one object per rule.
    Json,
}

/// What `canvass key` does besides printing a new key.
#[derive(Debug, Subcommand)]
enum KeyAction {
    /// Move the workspace from the old key (CANVASS_PREVIOUS_KEY, else the development key)
    /// to CANVASS_KEY: everyone in an audience file is re-keyed; keep CANVASS_PREVIOUS_KEY
    /// set for `serve` while links signed with the old key are still out.
    Rotate,
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

fn parse_now(text: &str) -> Result<jiff::Timestamp, String> {
    text.parse()
        .map_err(|e| format!("not an RFC 3339 instant: {e}"))
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = Cli::parse();
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    match run(cli, color) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Rust ignores SIGPIPE, which turns `canvass … | head` into a panic on the next print;
/// a command-line tool should end quietly instead, as ripgrep and coreutils do.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread starts; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn workspace_root(cli_workspace: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(dir) = cli_workspace {
        if !dir.is_dir() {
            return Err(format!(
                "the workspace folder {} does not exist",
                dir.display()
            ));
        }
        return Ok(dir);
    }
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    canvass::workspace::find_root(&cwd).ok_or_else(|| {
        "no canvass workspace here (no canvass.yaml or surveys/ in this folder or above); \
         run `canvass init` or pass --workspace DIR"
            .to_string()
    })
}

fn run(cli: Cli, color: bool) -> Result<ExitCode, String> {
    match cli.command {
        Command::Init { dir } => {
            let files = canvass::scaffold::init(&dir).map_err(|e| e.to_string())?;
            for file in files {
                println!("created {}", file.display());
            }
            println!("next: edit the survey, then run `canvass check`");
            Ok(ExitCode::SUCCESS)
        }
        Command::New { list: true, .. } => {
            for t in canvass::scaffold::TEMPLATES {
                println!("{:<16} {}", t.name, t.summary);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::New { template, id, .. } => {
            let root = workspace_root(cli.workspace)?;
            let (template, id) = (template.unwrap_or_default(), id.unwrap_or_default());
            let files =
                canvass::scaffold::new_survey(&root, &template, &id).map_err(|e| e.to_string())?;
            for file in files {
                println!("created {}", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            paths,
            format,
            deny_warnings,
            base,
        } => {
            let mut report = if paths.is_empty() {
                canvass::check::check_workspace(&workspace_root(cli.workspace.clone())?)
            } else {
                if let Some(missing) = paths.iter().find(|p| !p.exists()) {
                    return Err(format!("{} does not exist", missing.display()));
                }
                canvass::check::check_paths(&paths)
            };
            if let Some(base) = base {
                let root = workspace_root(cli.workspace)?;
                canvass::check::check_versions(&mut report, &root, &base)
                    .map_err(|e| e.to_string())?;
            }
            print_diagnostics(&report.diagnostics, format, color);
            let (errors, warnings) = diag::count(&report.diagnostics);
            if matches!(format, Format::Human) {
                eprintln!(
                    "checked {} file{}: {errors} error{}, {warnings} warning{}",
                    report.files,
                    plural(report.files),
                    plural(errors),
                    plural(warnings)
                );
            }
            let failed = errors > 0 || (deny_warnings && warnings > 0);
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Diff { base, format } => {
            let root = workspace_root(cli.workspace)?;
            let report =
                canvass::diff::diff_workspace(&root, base.as_deref()).map_err(|e| e.to_string())?;
            eprintln!(
                "compared with {} ({})",
                report.base.description, report.base.commit
            );
            match format {
                DiffFormat::Md => print!("{}", canvass::diff::render_markdown(&report)),
                DiffFormat::Json => print!("{}", canvass::diff::render_json(&report)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan {
            target,
            explain,
            format,
            clock,
            ..
        } => {
            let root = workspace_root(cli.workspace)?;
            plan_command(
                &root,
                target.as_deref(),
                explain.as_deref(),
                format,
                clock.now(),
            )
        }
        Command::Send {
            target,
            dry_run,
            limit,
            yes,
            to,
            resend_unknown,
            retry_backoff_ms,
            workers,
            smtp_timeout,
            clock,
            ..
        } => {
            let root = workspace_root(cli.workspace)?;
            let limits = SmtpLimits {
                connections: u32::try_from(workers).unwrap_or(u32::MAX),
                timeout: smtp_timeout,
            };
            let setup = Setup::open(&root, limits).map_err(|e| e.to_string())?;
            let mut options = SendOptions::new(clock.now());
            options.dry_run = dry_run;
            options.limit = limit;
            options.resend_unknown = resend_unknown;
            options.workers = workers;
            options.retry.backoff = Duration::from_millis(retry_backoff_ms);
            match to {
                Some(to) => test_send(&setup, target.as_deref(), &to, options.now),
                None => send_command(&setup, target.as_deref(), &options, yes),
            }
        }
        Command::Render {
            survey,
            format,
            locale,
            recipient,
            out,
        } => {
            let root = workspace_root(cli.workspace)?;
            let (ws, _) = canvass::workspace::Workspace::load(&root);
            let renderer =
                canvass::render::Renderer::for_workspace(&ws).map_err(|e| e.to_string())?;
            let (key, _) = canvass::token::Key::from_env_or_dev(&ws.state_dir())
                .map_err(|e| format!("cannot read the development key: {e}"))?;
            let recipient = match recipient {
                Some(path) => output::read_recipient(&path).map_err(|e| e.to_string())?,
                None => canvass::render::Recipient::sample(),
            };
            let request = output::Request {
                survey: &survey,
                format,
                locale: locale.as_deref(),
                recipient: &recipient,
            };
            let files =
                output::write(&ws, &renderer, &key, &request, &out).map_err(|e| e.to_string())?;
            for file in files {
                println!("wrote {}", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Preview { port } => {
            let root = workspace_root(cli.workspace)?;
            let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let preview = canvass::preview::Preview::bind(&root, port)
                    .await
                    .map_err(|e| e.to_string())?;
                let addr = preview.addr().map_err(|e| e.to_string())?;
                println!("preview at http://{addr}/ (Ctrl-C stops it)");
                preview.run().await.map_err(|e| e.to_string())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Alerts { deliver, retry } => {
            let workspace = load_workspace(cli.workspace)?;
            alerts_command(workspace, deliver, retry.policy())
        }
        Command::Serve {
            bind,
            trust_proxy,
            retry,
        } => {
            let root = workspace_root(cli.workspace)?;
            let previous_key = match std::env::var(canvass::privacy::PREVIOUS_KEY_ENV) {
                Ok(text) => Some(
                    canvass::token::Key::from_base64(&text)
                        .map_err(|e| format!("{}: {e}", canvass::privacy::PREVIOUS_KEY_ENV))?,
                ),
                Err(_) => None,
            };
            let options = canvass::serve::ServeOptions {
                trusted_proxies: trust_proxy,
                previous_key,
                alert_retry: retry.policy(),
                ..Default::default()
            };
            serve(&root, bind, options)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Key { action: None } => {
            println!("{}", canvass::token::generate());
            Ok(ExitCode::SUCCESS)
        }
        Command::Key {
            action: Some(KeyAction::Rotate),
        } => {
            let workspace = load_workspace(cli.workspace)?;
            let rotation = canvass::privacy::rotate(&workspace).map_err(|e| e.to_string())?;
            print_rotation(&rotation);
            Ok(ExitCode::SUCCESS)
        }
        Command::Forget { addresses, file } => {
            let workspace = load_workspace(cli.workspace)?;
            let mut addresses = addresses;
            if let Some(path) = file {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                addresses.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from),
                );
            }
            if addresses.is_empty() {
                return Err("name the addresses to forget, or a --file of them".into());
            }
            let removed =
                canvass::privacy::forget(&workspace, &addresses).map_err(|e| e.to_string())?;
            println!(
                "forgot {} {}: {} deliveries, {} responses, {} link fetches erased; they stay suppressed",
                addresses.len(),
                if addresses.len() == 1 {
                    "person"
                } else {
                    "people"
                },
                removed.deliveries,
                removed.responses,
                removed.fetches
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Prune { clock } => {
            let workspace = load_workspace(cli.workspace)?;
            let removed =
                canvass::privacy::prune(&workspace, clock.now()).map_err(|e| e.to_string())?;
            println!(
                "pruned {} responses, {} deliveries, {} link fetches older than the retention period",
                removed.responses, removed.deliveries, removed.fetches
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Import {
            file,
            survey,
            version,
            alerts,
        } => {
            let workspace = load_workspace(cli.workspace)?;
            match canvass::import::import_file(&workspace, &file, &survey, version, alerts) {
                Ok(canvass::import::Imported {
                    outcome: canvass::store::ImportOutcome::Imported { added },
                    dropped,
                }) => {
                    print_dropped(&file, &dropped);
                    println!("imported {added} response{} into `{survey}`", plural(added));
                    Ok(ExitCode::SUCCESS)
                }
                Ok(canvass::import::Imported {
                    outcome: canvass::store::ImportOutcome::AlreadyImported,
                    ..
                }) => {
                    println!("{} was imported before; nothing to do", file.display());
                    Ok(ExitCode::SUCCESS)
                }
                Err(canvass::import::ImportError::Invalid { path, errors }) => {
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
                Err(e) => Err(e.to_string()),
            }
        }
        Command::Export {
            respondent: Some(address),
            output,
            ..
        } => {
            let workspace = load_workspace(cli.workspace)?;
            let data = canvass::privacy::respondent_data(&workspace, &address)
                .map_err(|e| e.to_string())?;
            let text = serde_json::to_string_pretty(&data).map_err(|e| e.to_string())?;
            match output {
                Some(path) => canvass::fsutil::write_atomic(&path, format!("{text}\n").as_bytes())
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
                None => println!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            survey,
            version,
            format,
            output,
            ..
        } => {
            let survey = survey.unwrap_or_default();
            let workspace = load_workspace(cli.workspace)?;
            let mut out: Box<dyn std::io::Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let rows = canvass::import::export(&workspace, &survey, version, format, &mut out)
                .map_err(|e| e.to_string())?;
            out.flush().map_err(|e| e.to_string())?;
            eprintln!("exported {rows} response{}", plural(rows));
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { surveys, check } => {
            let workspace = load_workspace(cli.workspace)?;
            if check && !canvass::report::has_store(&workspace) {
                eprintln!(
                    "no answers store in this checkout (.canvass/state.db): the scores cannot be \
                     recomputed here, so only the committed summaries' shape is checked"
                );
            }
            let changed =
                canvass::report::report(&workspace, &surveys, check).map_err(|e| e.to_string())?;
            let verb = if check { "stale" } else { "wrote" };
            for path in &changed {
                println!("{verb} {}", canvass::workspace::display_path(path));
            }
            Ok(if check && !changed.is_empty() {
                eprintln!("the summaries are out of date: run `canvass report` and commit them");
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Comments {
            survey,
            since,
            when,
        } => {
            let workspace = load_workspace(cli.workspace)?;
            print_comments(&workspace, &survey, since.as_deref(), when.as_deref())
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "canvass", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let command = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(command)
                .render(&mut std::io::stdout())
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema { kind } => {
            print!("{}", kind.text());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs the collector until interrupted; answers are committed before each reply, so
/// stopping at any moment loses nothing that was acknowledged.
fn serve(
    root: &std::path::Path,
    bind: std::net::SocketAddr,
    options: canvass::serve::ServeOptions,
) -> Result<(), String> {
    use std::io::Write as _;
    let key = serving_key(root, bind)?;
    let app = canvass::serve::App::open(root, key, options).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        println!("listening on http://{address}");
        let _ = std::io::stdout().flush();
        tokio::select! {
            result = app.run(listener) => result.map_err(|e| e.to_string()),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

/// When refused alerts are tried again.
#[derive(Debug, clap::Args)]
struct AlertRetry {
    /// Seconds before a refused alert or webhook event is tried again; each next wait is
    /// twice as long, up to 12 hours.
    #[arg(long, value_name = "SECONDS", env = "CANVASS_ALERT_RETRY", default_value = "60", value_parser = positive_seconds)]
    alert_retry: Duration,
}

impl AlertRetry {
    fn policy(&self) -> canvass::alerts::Retry {
        canvass::alerts::Retry {
            first: self.alert_retry,
            ..Default::default()
        }
    }
}

/// `canvass alerts [--deliver]`: what waits in the outbox, after one attempt at each when
/// asked. Exits 1 when `--deliver` leaves something undelivered.
fn alerts_command(
    workspace: canvass::workspace::Workspace,
    deliver: bool,
    retry: canvass::alerts::Retry,
) -> Result<ExitCode, String> {
    let (key, _) = canvass::token::Key::from_env_or_dev(&workspace.state_dir())
        .map_err(|e| format!("cannot read the development key: {e}"))?;
    let state = workspace.state_dir();
    let deliverer = canvass::alerts::Deliverer::new(workspace, key.clone(), retry)
        .map_err(|e| e.to_string())?;
    if deliver {
        let drained = deliverer.drain(true).map_err(|e| e.to_string())?;
        println!(
            "delivered {}, will retry {}, failed {}",
            drained.delivered, drained.retrying, drained.failed
        );
    }
    let store = canvass::store::Store::open_for_key(&state, &key).map_err(|e| e.to_string())?;
    let waiting = store.undelivered_messages().map_err(|e| e.to_string())?;
    for m in &waiting {
        let next = jiff::Timestamp::from_second(m.next_attempt_at)
            .map_or_else(|_| m.next_attempt_at.to_string(), |t| t.to_string());
        let when = if m.status == "failed" {
            "given up".to_string()
        } else {
            format!("next attempt {next}")
        };
        println!(
            "{} {} {}/{} to {} {}: {} attempt{}, {when}; last reply: {}",
            m.status,
            m.event,
            m.survey,
            m.subscription,
            m.target.name(),
            m.address,
            m.attempts,
            plural(m.attempts as usize),
            m.last_reply.as_deref().unwrap_or("none yet")
        );
    }
    if waiting.is_empty() {
        println!("nothing waits: every alert and event was delivered");
    }
    Ok(if deliver && !waiting.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// An address (`127.0.0.1`, `::1`) or a CIDR range (`10.0.0.0/8`).
fn address_range(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{text}` is neither an IP address nor a CIDR range"))
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

/// `CANVASS_KEY`, or on a loopback address without it the development key that signs the
/// outbox's links, so that a local trial answers its own test e-mails.
fn serving_key(
    root: &std::path::Path,
    bind: std::net::SocketAddr,
) -> Result<canvass::token::Key, String> {
    use canvass::token::{Key, TokenError};
    match Key::from_env() {
        Err(TokenError::NoKey) if bind.ip().is_loopback() => {
            let state = root.join(canvass::workspace::STATE_DIR);
            let (key, _) = Key::from_env_or_dev(&state)
                .map_err(|e| format!("cannot read the development key: {e}"))?;
            eprintln!(
                "warning: CANVASS_KEY is not set, so {bind} serves with the development key \
                 that signs the outbox's links; set CANVASS_KEY before serving anyone else"
            );
            Ok(key)
        }
        result => result.map_err(|e| e.to_string()),
    }
}

/// Loads the workspace; files with problems are left out (`canvass check` reports them).
fn load_workspace(cli_workspace: Option<PathBuf>) -> Result<canvass::workspace::Workspace, String> {
    let root = workspace_root(cli_workspace)?;
    Ok(canvass::workspace::Workspace::load(&root).0)
}

fn plan_command(
    root: &std::path::Path,
    target: Option<&str>,
    explain: Option<&str>,
    format: PlanFormat,
    now: jiff::Timestamp,
) -> Result<ExitCode, String> {
    let setup = Setup::open(root, SmtpLimits::default()).map_err(|e| e.to_string())?;
    let sender = setup.sender().map_err(|e| e.to_string())?;
    let targets = plan::targets(&setup.ws, target).map_err(|e| e.to_string())?;
    let mut explained = Vec::new();
    let mut summaries = Vec::new();
    for target in targets {
        let planner = sender
            .planner(target, &setup.store, now)
            .map_err(|e| e.to_string())?;
        match explain {
            Some(address) => explained.push(plan::explain(&planner, address)),
            None => summaries.push(plan::plan(&planner)),
        }
    }
    let explained: Vec<_> = explained
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let summaries: Vec<_> = summaries
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    match (format, explain) {
        (PlanFormat::Json, Some(_)) => println!("{}", to_json(&explained)),
        (PlanFormat::Json, None) => println!("{}", to_json(&summaries)),
        (PlanFormat::Human, Some(address)) => {
            for e in &explained {
                let line = e
                    .line
                    .map(|l| format!(" (audience line {l})"))
                    .unwrap_or_default();
                let locale = e
                    .locale
                    .as_ref()
                    .map(|l| format!(" in {l}"))
                    .unwrap_or_default();
                println!("{}: {address}{line}: {}{locale}", e.rule, e.decision);
            }
        }
        (PlanFormat::Human, None) => summaries.iter().for_each(print_plan),
    }
    Ok(ExitCode::SUCCESS)
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn print_plan(summary: &PlanSummary) {
    println!(
        "{} ({}): {} in the audience, {} to send now",
        summary.rule,
        summary.channel,
        summary.audience,
        summary.due()
    );
    if summary.due() > 0 {
        let locales: Vec<String> = summary
            .by_locale
            .iter()
            .map(|(l, n)| format!("{l} {n}"))
            .collect();
        println!(
            "  send: {} first, {} reminders, {} retries ({})",
            summary.first,
            summary.reminders,
            summary.retries,
            locales.join(", ")
        );
    }
    if !summary.skipped.is_empty() {
        let reasons: Vec<String> = summary
            .skipped
            .iter()
            .map(|(reason, n)| match summary.lines.get(reason) {
                Some(lines) => format!("{} {n} ({})", reason.name(), audience_lines(lines, *n)),
                None => format!("{} {n}", reason.name()),
            })
            .collect();
        println!("  skip: {}", reasons.join(", "));
    }
}

fn print_rotation(rotation: &canvass::privacy::Rotation) {
    let r = &rotation.rekeyed;
    println!(
        "re-keyed from {} addresses in the audience and suppression files: {} deliveries, {} suppressions, {} imported responses",
        rotation.addresses, r.deliveries, r.suppressions, r.responses
    );
    if rotation.stale_deliveries + rotation.stale_suppressions > 0 {
        println!(
            "not re-keyed (no audience file names them any more): {} deliveries, {} suppressions; \
             the new key does not recognise these people",
            rotation.stale_deliveries, rotation.stale_suppressions
        );
    }
    println!(
        "keep the old key in {} for `canvass serve` until the links it signed expire",
        canvass::privacy::PREVIOUS_KEY_ENV
    );
}

/// `line 4` or `lines 4, 9 and 3 more`: where to fix the audience file, never the address.
fn audience_lines(lines: &[u64], count: u64) -> String {
    let listed: Vec<String> = lines.iter().map(u64::to_string).collect();
    let more = count.saturating_sub(lines.len() as u64);
    let word = if count == 1 { "line" } else { "lines" };
    match more {
        0 => format!("audience {word} {}", listed.join(", ")),
        more => format!("audience {word} {} and {more} more", listed.join(", ")),
    }
}

fn test_send(
    setup: &Setup,
    target: Option<&str>,
    to: &str,
    now: jiff::Timestamp,
) -> Result<ExitCode, String> {
    let sender = setup.sender().map_err(|e| e.to_string())?;
    let mut failed = false;
    for target in plan::targets(&setup.ws, target).map_err(|e| e.to_string())? {
        let replies = sender
            .send_test(target, to, now)
            .map_err(|e| e.to_string())?;
        for (locale, reply) in replies {
            failed |= !matches!(reply, Reply::Accepted(_));
            println!(
                "{} [{locale}] test to {to}: {}",
                target.name(),
                reply_words(&reply)
            );
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn reply_words(reply: &Reply) -> String {
    match reply {
        Reply::Accepted(words) => format!("accepted: {words}"),
        Reply::Transient(words) => format!("refused for now: {words}"),
        Reply::Unknown(words) => format!("outcome unknown: {words}"),
        Reply::Permanent { reply, .. } => format!("refused: {reply}"),
    }
}

fn send_command(
    setup: &Setup,
    target: Option<&str>,
    options: &SendOptions,
    yes: bool,
) -> Result<ExitCode, String> {
    let sender = setup.sender().map_err(|e| e.to_string())?;
    let targets = plan::targets(&setup.ws, target).map_err(|e| e.to_string())?;
    let mut total = 0;
    for target in &targets {
        let planner = sender
            .planner(*target, &setup.store, options.now)
            .map_err(|e| e.to_string())?;
        let summary = plan::plan(&planner).map_err(|e| e.to_string())?;
        // With --resend-unknown the messages of unknown outcome are due too, even when
        // nothing else is.
        let unknown = summary.skipped.get(&plan::Skip::OutcomeUnknown).copied();
        let due = summary.due() + unknown.filter(|_| options.resend_unknown).unwrap_or(0);
        total += options.limit.map_or(due, |l| l.min(due));
        print_plan(&summary);
    }
    let destination = match &setup.outbox {
        Some(dir) => format!("the outbox {}", dir.display()),
        None => "the SMTP server".to_string(),
    };
    if setup.mail.is_remote() && !options.dry_run {
        for missing in send::preflight(&setup.ws, &targets) {
            eprintln!("warning: {missing}");
        }
    }
    if total == 0 {
        println!("nothing to send");
        return Ok(ExitCode::SUCCESS);
    }
    if !yes && !options.dry_run && !confirm(total, &destination)? {
        return Ok(ExitCode::from(1));
    }
    let bar = progress_bar(total);
    let progress = |_accepted: bool| bar.inc(1);
    let mut failed = false;
    for target in targets {
        let report = sender
            .send(&setup.store, target, options, &progress)
            .map_err(|e| e.to_string())?;
        bar.suspend(|| print_report(&target.name(), &report, options.dry_run));
        failed |= !report.failed.is_empty() || !report.deferred.is_empty();
    }
    bar.finish_and_clear();
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn confirm(total: u64, destination: &str) -> Result<bool, String> {
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "about to send {total} message{} to {destination}; pass --yes to confirm without a terminal",
            plural(total as usize)
        ));
    }
    eprint!(
        "send {total} message{} to {destination}? [y/N] ",
        plural(total as usize)
    );
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| e.to_string())?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn progress_bar(total: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} messages, {per_sec}, ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

fn print_report(rule: &str, report: &RuleReport, dry_run: bool) {
    let verb = if dry_run { "would send" } else { "sent" };
    println!(
        "{rule}: {verb} {} ({} after a retry), {} failed, {} deferred",
        report.sent,
        report.retried,
        report.failed.len(),
        report.deferred.len()
    );
    if report.unknown > 0 {
        println!(
            "  {} message{} may or may not have gone out (outcome unknown: an interrupted run, \
             or a connection lost after the message was handed over); they are not sent again \
             unless you pass --resend-unknown",
            report.unknown,
            plural(report.unknown)
        );
    }
    for failure in &report.failed {
        println!(
            "  failed: audience line {}: {}",
            failure.line, failure.reply
        );
    }
    for failure in &report.deferred {
        println!(
            "  deferred (a rerun retries): audience line {}: {}",
            failure.line, failure.reply
        );
    }
}

fn print_diagnostics(diagnostics: &[Diagnostic], format: Format, color: bool) {
    match format {
        Format::Human => print!("{}", diag::render_human(diagnostics, color)),
        Format::Json => print!("{}", diag::render_json(diagnostics)),
        Format::Github => print!("{}", diag::render_github(diagnostics)),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Warns about the answers an import left out, each at its row, then how many in all.
fn print_dropped(file: &Path, dropped: &canvass::import::DroppedCells) {
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

/// Prints the free-text answers that pass the filter, one block per answer, then a count.
fn print_comments(
    workspace: &canvass::workspace::Workspace,
    id: &str,
    since: Option<&str>,
    when: Option<&str>,
) -> Result<(), canvass::report::ReportError> {
    use canvass::report::comments;
    let survey = canvass::report::survey_named(workspace, id)?;
    let filter = comments::Filter {
        since: since.map(comments::parse_since).transpose()?,
        when: when.map(comments::parse_condition).transpose()?,
    };
    let found = comments::comments(workspace, survey, &filter)?;
    let mut previous = None;
    for comment in &found {
        let context: Vec<String> = comment
            .context
            .iter()
            .map(|(q, v)| format!("{q} = {}", comments::printable(v)))
            .collect();
        let header = format!(
            "{} · v{} · {} · {}",
            comment.submitted_at,
            comment.version,
            comment.locale.as_deref().unwrap_or("–"),
            context.join(", ")
        );
        if previous.as_ref() != Some(&header) {
            println!("\n{header}");
        }
        println!(
            "  {}: {}",
            comment.question,
            comments::printable(&comment.text)
        );
        previous = Some(header);
    }
    println!("\n{} comment{}", found.len(), plural(found.len()));
    Ok(())
}
