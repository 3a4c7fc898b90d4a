//! `plan` and `send`: who receives what, then sending it, with a confirmation and a
//! progress bar for people at a terminal.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::ValueEnum;

use canvass::plan::{self, KeyPolicy, Setup};
use canvass::send::{Mailer, Reply, SendOptions, SmtpLimits, Started, unknown_note};

use super::{Clock, Global, failed_if, plural, positive_seconds, to_json};

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum PlanFormat {
    /// Counts for people.
    #[default]
    Human,
    /// A JSON array with one object per rule.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
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
}

#[derive(Debug, clap::Args)]
pub struct SendArgs {
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
}

pub fn plan(global: &Global, args: PlanArgs) -> anyhow::Result<ExitCode> {
    let setup = Setup::open(&global.root()?, KeyPolicy::DevAllowed)?;
    let now = args.clock.now();
    let planners = setup
        .targets(args.target.as_deref())?
        .into_iter()
        .map(|target| setup.planner(target, now))
        .collect::<Result<Vec<_>, _>>()?;
    match &args.explain {
        Some(address) => {
            let explained = planners
                .iter()
                .map(|p| plan::explain(p, address))
                .collect::<Result<Vec<_>, _>>()?;
            match args.format {
                PlanFormat::Json => println!("{}", to_json(&explained)),
                PlanFormat::Human => explained.iter().for_each(|e| {
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
                }),
            }
        }
        None => {
            let summaries = planners
                .iter()
                .map(plan::plan)
                .collect::<Result<Vec<_>, _>>()?;
            match args.format {
                PlanFormat::Json => println!("{}", to_json(&summaries)),
                PlanFormat::Human => summaries.iter().for_each(|s| print!("{}", s.describe())),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn send(global: &Global, args: SendArgs) -> anyhow::Result<ExitCode> {
    let limits = SmtpLimits {
        connections: u32::try_from(args.workers).unwrap_or(u32::MAX),
        timeout: args.smtp_timeout,
    };
    let (setup, mailer) = Mailer::open(&global.root()?, limits)?;
    let mut options = SendOptions::new(args.clock.now());
    options.dry_run = args.dry_run;
    options.limit = args.limit;
    options.resend_unknown = args.resend_unknown;
    options.workers = args.workers;
    options.retry.backoff = Duration::from_millis(args.retry_backoff_ms);
    let target = args.target.as_deref();
    match &args.to {
        Some(to) => test_send(&setup, &mailer, target, to, options.now),
        None => send_rules(&setup, &mailer, target, &options, args.yes),
    }
}

/// One message per locale to one address, outside the ledger.
fn test_send(
    setup: &Setup,
    mailer: &Mailer,
    target: Option<&str>,
    to: &str,
    now: jiff::Timestamp,
) -> anyhow::Result<ExitCode> {
    let sender = mailer.sender(setup);
    let mut failed = false;
    for target in setup.targets(target)? {
        for (locale, reply) in sender.send_test(target, to, now)? {
            failed |= !matches!(reply, Reply::Accepted(_));
            println!(
                "{} [{locale}] test to {to}: {}",
                target.name(),
                reply.describe()
            );
        }
    }
    Ok(failed_if(failed))
}

/// Plans every rule, asks once for the total, then sends rule by rule.
fn send_rules(
    setup: &Setup,
    mailer: &Mailer,
    target: Option<&str>,
    options: &SendOptions,
    yes: bool,
) -> anyhow::Result<ExitCode> {
    let sender = mailer.sender(setup);
    let runs = setup
        .targets(target)?
        .into_iter()
        .map(|target| sender.start(target, options))
        .collect::<Result<Vec<_>, _>>()?;
    let mut total = 0;
    for run in &runs {
        let summary = plan::plan(&setup.planner(run.target(), options.now)?)?;
        total += options
            .limit
            .map_or(summary.due(), |l| l.min(summary.due()));
        print!("{}", summary.describe());
    }
    let destination = match &mailer.outbox {
        Some(dir) => format!("the outbox {}", dir.display()),
        None => "the SMTP server".to_string(),
    };
    if mailer.mail.is_remote() && !options.dry_run {
        let targets: Vec<_> = runs.iter().map(Started::target).collect();
        for missing in canvass::send::preflight(&setup.ws, &targets) {
            eprintln!("warning: {missing}");
        }
    }
    if total == 0 {
        for run in &runs {
            print!("{}", unknown_note(run.unknown()));
        }
        println!("nothing to send");
        return Ok(ExitCode::SUCCESS);
    }
    if !yes && !options.dry_run && !confirm(total, &destination)? {
        return Ok(ExitCode::from(1));
    }
    let bar = progress_bar(total);
    let progress = |_accepted: bool| bar.inc(1);
    let mut failed = false;
    for run in runs {
        let name = run.target().name();
        let report = run.send(options, &progress)?;
        bar.suspend(|| print!("{}", report.describe(&name, options.dry_run)));
        failed |= !report.failed.is_empty() || !report.deferred.is_empty();
    }
    bar.finish_and_clear();
    Ok(failed_if(failed))
}

/// Asks at the terminal; without one, `--yes` is required.
fn confirm(total: u64, destination: &str) -> anyhow::Result<bool> {
    let messages = format!("{total} message{}", plural(total as usize));
    if !std::io::stdin().is_terminal() {
        bail!(
            "about to send {messages} to {destination}; pass --yes to confirm without a terminal"
        );
    }
    eprint!("send {messages} to {destination}? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// A bar on a terminal's stderr; nothing when the output is a log.
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
