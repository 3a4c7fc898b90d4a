//! `key`, `forget` and `prune`: the signing key and the people's right to be forgotten.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;

use super::{Clock, Global};

#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    action: Option<KeyAction>,
}

/// What `canvass key` does besides printing a new key.
#[derive(Debug, Subcommand)]
enum KeyAction {
    /// Move the workspace from the old key (CANVASS_PREVIOUS_KEY, else the development key)
    /// to CANVASS_KEY: everyone in an audience file is re-keyed; keep CANVASS_PREVIOUS_KEY
    /// set for `serve` while links signed with the old key are still out.
    Rotate,
}

#[derive(Debug, clap::Args)]
pub struct ForgetArgs {
    /// Their addresses.
    addresses: Vec<String>,
    /// A file of addresses, one per line.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    #[command(flatten)]
    clock: Clock,
}

pub fn key(global: &Global, args: KeyArgs) -> anyhow::Result<ExitCode> {
    let Some(KeyAction::Rotate) = args.action else {
        println!("{}", canvass::token::generate());
        return Ok(ExitCode::SUCCESS);
    };
    let rotation = canvass::privacy::rotate(&global.workspace()?)?;
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
    Ok(ExitCode::SUCCESS)
}

pub fn forget(global: &Global, args: ForgetArgs) -> anyhow::Result<ExitCode> {
    let workspace = global.workspace()?;
    let mut addresses = args.addresses;
    if let Some(path) = &args.file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        addresses.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    if addresses.is_empty() {
        bail!("name the addresses to forget, or a --file of them");
    }
    let removed = canvass::privacy::forget(&workspace, &addresses)?;
    let people = if addresses.len() == 1 {
        "person"
    } else {
        "people"
    };
    println!(
        "forgot {} {people}: {} deliveries, {} responses, {} link fetches erased; they stay suppressed",
        addresses.len(),
        removed.deliveries,
        removed.responses,
        removed.fetches
    );
    Ok(ExitCode::SUCCESS)
}

pub fn prune(global: &Global, args: PruneArgs) -> anyhow::Result<ExitCode> {
    let removed = canvass::privacy::prune(&global.workspace()?, args.clock.now())?;
    println!(
        "pruned {} responses, {} deliveries, {} link fetches older than the retention period",
        removed.responses, removed.deliveries, removed.fetches
    );
    Ok(ExitCode::SUCCESS)
}
