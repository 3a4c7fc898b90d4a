//! The `canvass` command line: parses arguments and calls the library.

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use canvass::diag::{self, Diagnostic};
use canvass::schema::SchemaKind;

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
    },
    /// Collect answers over HTTP: one-click links, the web form, the open link, unsubscribe.
    Serve {
        /// The address to listen on; port 0 picks a free port. The first line printed is
        /// the address bound.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: std::net::SocketAddr,
    },
    /// Print a new random signing key, to export as CANVASS_KEY.
    Key,
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
    },
    /// Write the answers that count, one row per response, in the shape import reads.
    #[command(disable_version_flag = true)]
    Export {
        /// The survey.
        #[arg(long)]
        survey: String,
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
    /// Print a JSON Schema.
    Schema {
        /// Which file's schema.
        #[arg(value_enum)]
        kind: SchemaKind,
    },
}

fn main() -> ExitCode {
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
        } => {
            let report = if paths.is_empty() {
                canvass::check::check_workspace(&workspace_root(cli.workspace)?)
            } else {
                if let Some(missing) = paths.iter().find(|p| !p.exists()) {
                    return Err(format!("{} does not exist", missing.display()));
                }
                canvass::check::check_paths(&paths)
            };
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
        Command::Serve { bind } => {
            let root = workspace_root(cli.workspace)?;
            serve(&root, bind)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Key => {
            println!("{}", canvass::token::generate());
            Ok(ExitCode::SUCCESS)
        }
        Command::Import {
            file,
            survey,
            version,
        } => {
            let workspace = load_workspace(cli.workspace)?;
            match canvass::import::import_file(&workspace, &file, &survey, version) {
                Ok(canvass::store::ImportOutcome::Imported { added }) => {
                    println!("imported {added} response{} into `{survey}`", plural(added));
                    Ok(ExitCode::SUCCESS)
                }
                Ok(canvass::store::ImportOutcome::AlreadyImported) => {
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
            survey,
            version,
            format,
            output,
        } => {
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
        Command::Schema { kind } => {
            print!("{}", kind.text());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs the collector until interrupted; answers are committed before each reply, so
/// stopping at any moment loses nothing that was acknowledged.
fn serve(root: &std::path::Path, bind: std::net::SocketAddr) -> Result<(), String> {
    use std::io::Write as _;
    let key = canvass::token::Key::from_env().map_err(|e| e.to_string())?;
    let app = canvass::serve::App::open(root, key, canvass::serve::OpenLinkLimit::default())
        .map_err(|e| e.to_string())?;
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

/// Loads the workspace; files with problems are left out (`canvass check` reports them).
fn load_workspace(cli_workspace: Option<PathBuf>) -> Result<canvass::workspace::Workspace, String> {
    let root = workspace_root(cli_workspace)?;
    Ok(canvass::workspace::Workspace::load(&root).0)
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
