//! `store migrate` and `store copy`: the state store's schema, and the move of a
//! workspace's SQLite store into PostgreSQL.

use std::process::ExitCode;

use anyhow::Context as _;
use canvass::store::{STATE_DB, Store};
use clap::Subcommand;

use super::Global;

#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    action: StoreAction,
}

/// What `canvass store` does.
#[derive(Debug, Subcommand)]
enum StoreAction {
    /// Create the store, or bring its schema up to date (every command also does this
    /// when it opens the store): the database CANVASS_DATABASE_URL names, else
    /// .canvass/state.db.
    Migrate,
    /// Copy the workspace's SQLite store (.canvass/state.db) into an empty PostgreSQL
    /// database, every row with its id and history, in one transaction.
    Copy {
        /// The PostgreSQL URL (default: CANVASS_DATABASE_URL, which keeps a password off
        /// the command line).
        #[arg(long, value_name = "URL")]
        to: Option<String>,
    },
}

pub fn store(global: &Global, args: StoreArgs) -> anyhow::Result<ExitCode> {
    let ws = global.workspace()?;
    match args.action {
        StoreAction::Migrate => {
            let store = Store::open_in(&ws.state_dir())?;
            println!("the store at {} is up to date", store.place());
        }
        StoreAction::Copy { to } => {
            let url = to
                .or_else(canvass::store::database_url)
                .context("name the PostgreSQL database with --to or CANVASS_DATABASE_URL")?;
            let source_path = ws.state_dir().join(STATE_DB);
            anyhow::ensure!(
                source_path.exists(),
                "there is no SQLite store to copy at {}",
                source_path.display()
            );
            let source = Store::open(&source_path)?;
            let target = Store::connect(&url)?;
            let copied = canvass::store::copy::copy(&source, &target)?;
            for (table, rows) in &copied {
                println!("{table}: {rows} rows");
            }
            println!(
                "copied {} into {}; set CANVASS_DATABASE_URL to use it",
                source.place(),
                target.place()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
