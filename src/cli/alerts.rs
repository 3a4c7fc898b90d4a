//! `alerts`: what waits in the alert outbox, and delivering it where `serve` does not run.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use super::{Global, failed_if, plural, positive_seconds};

#[derive(Debug, clap::Args)]
pub struct AlertsArgs {
    /// Attempt every pending and failed delivery once, then list what is left.
    #[arg(long)]
    deliver: bool,
    #[command(flatten)]
    retry: AlertRetry,
}

/// When refused alerts are tried again.
#[derive(Debug, clap::Args)]
pub struct AlertRetry {
    /// Seconds before a refused alert or webhook event is tried again; each next wait is
    /// twice as long, up to 12 hours.
    #[arg(long, value_name = "SECONDS", env = "CANVASS_ALERT_RETRY", default_value = "60", value_parser = positive_seconds)]
    alert_retry: Duration,
}

impl AlertRetry {
    /// The retry policy these arguments ask for.
    pub fn policy(&self) -> canvass::alerts::Retry {
        canvass::alerts::Retry {
            first: self.alert_retry,
            ..Default::default()
        }
    }
}

/// `canvass alerts [--deliver]`: what waits in the outbox, after one attempt at each when
/// asked. Exits 1 when `--deliver` leaves something undelivered.
pub fn alerts(global: &Global, args: AlertsArgs) -> anyhow::Result<ExitCode> {
    let workspace = global.workspace()?;
    let state = workspace.state_dir();
    let (key, _) =
        canvass::token::Key::from_env_or_dev(&state).context("cannot read the development key")?;
    let deliverer = canvass::alerts::Deliverer::new(workspace, key.clone(), args.retry.policy())?;
    if args.deliver {
        let drained = deliverer.drain(true)?;
        println!(
            "delivered {}, will retry {}, failed {}",
            drained.delivered, drained.retrying, drained.failed
        );
    }
    let store = canvass::store::Store::open_for_key(&state, &key)?;
    let waiting = store.undelivered_messages()?;
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
    Ok(failed_if(args.deliver && !waiting.is_empty()))
}
