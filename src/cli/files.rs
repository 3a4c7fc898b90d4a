//! The commands that write or print files: `init`, `new`, `render`, `completions`, `man`
//! and `schema`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use canvass::render::output;
use canvass::schema::SchemaKind;

use super::{Cli, Global, print_paths};

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The folder (created if missing).
    #[arg(default_value = ".")]
    dir: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The template (see --list).
    #[arg(required_unless_present = "list")]
    template: Option<String>,
    /// The new survey's id and folder name.
    #[arg(required_unless_present = "list")]
    id: Option<String>,
    /// List the templates.
    #[arg(long)]
    list: bool,
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
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
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Which file's schema.
    #[arg(value_enum)]
    kind: SchemaKind,
}

pub fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    let files = canvass::scaffold::init(&args.dir)?;
    print_paths("created", &files);
    println!("next: edit the survey, then run `canvass check`");
    Ok(ExitCode::SUCCESS)
}

pub fn new(global: &Global, args: NewArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        for t in canvass::scaffold::TEMPLATES {
            println!("{:<16} {}", t.name, t.summary);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let root = global.root()?;
    let (template, id) = (
        args.template.unwrap_or_default(),
        args.id.unwrap_or_default(),
    );
    let files = canvass::scaffold::new_survey(&root, &template, &id)?;
    print_paths("created", &files);
    Ok(ExitCode::SUCCESS)
}

pub fn render(global: &Global, args: RenderArgs) -> anyhow::Result<ExitCode> {
    let (ws, _) = canvass::workspace::Workspace::load(&global.root()?);
    let renderer = canvass::render::Renderer::for_workspace(&ws)?;
    let (key, _) = canvass::token::Key::from_env_or_dev(&ws.state_dir())
        .context("cannot read the development key")?;
    let recipient = match &args.recipient {
        Some(path) => output::read_recipient(path)?,
        None => canvass::render::Recipient::sample(),
    };
    let request = output::Request {
        survey: &args.survey,
        format: args.format,
        locale: args.locale.as_deref(),
        recipient: &recipient,
    };
    let files = output::write(&ws, &renderer, &key, &request, &args.out)?;
    print_paths("wrote", &files);
    Ok(ExitCode::SUCCESS)
}

pub fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(args.shell, &mut command, "canvass", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

pub fn man() -> anyhow::Result<ExitCode> {
    let command = <Cli as clap::CommandFactory>::command();
    clap_mangen::Man::new(command).render(&mut std::io::stdout())?;
    Ok(ExitCode::SUCCESS)
}

pub fn schema(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    print!("{}", args.kind.text());
    Ok(ExitCode::SUCCESS)
}
