//! Opening a workspace for `plan` and `send`: checked, with its store, its key and its
//! suppression list, and no transport, so that planning never needs mail settings and
//! never creates anything but the store.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::{PlanError, Planner, Target, suppression_list, targets};
use crate::store::{Store, StoreError};
use crate::token::{Key, TokenError};
use crate::workspace::Workspace;

/// Which key a run may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPolicy {
    /// `CANVASS_KEY` only: links go to real people and must stay valid wherever the
    /// collector runs.
    Workspace,
    /// `CANVASS_KEY`, else the local development key (plans, outbox runs).
    DevAllowed,
}

/// Why a workspace cannot be opened for planning or sending.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The workspace does not pass `canvass check`.
    #[error("the workspace has {0} error(s); run `canvass check` and fix them first")]
    Invalid(usize),
    /// The key is missing or weak.
    #[error("a real send signs links with the workspace key: {0}")]
    Key(TokenError),
    /// The development key could not be read or made.
    #[error("cannot use the development key in {path}: {source}")]
    DevKey {
        /// The state folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The store failed, or belongs to another key.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A suppression file could not be read.
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// Everything a `plan` or `send` run opens once.
pub struct Setup {
    /// The workspace, checked.
    pub ws: Workspace,
    /// Its state store.
    pub store: Store,
    /// The signing and hashing key.
    pub key: Key,
    /// Whether the key is the local development key.
    pub dev_key: bool,
    suppressed: HashSet<String>,
}

impl Setup {
    /// Loads and checks the workspace (any error stops here), then opens its store with
    /// the key the policy allows.
    pub fn open(root: &Path, policy: KeyPolicy) -> Result<Setup, SetupError> {
        let (ws, problems) = Workspace::load(root);
        let errors = crate::diag::count(&problems).0;
        let mut checked = crate::check::check_loaded(&ws);
        checked.retain(|d| d.severity == crate::diag::Severity::Error);
        if errors + checked.len() > 0 {
            return Err(SetupError::Invalid(errors + checked.len()));
        }
        let (key, dev_key) = match policy {
            KeyPolicy::Workspace => (Key::from_env().map_err(SetupError::Key)?, false),
            KeyPolicy::DevAllowed => {
                let state = ws.state_dir();
                Key::from_env_or_dev(&state).map_err(|source| SetupError::DevKey {
                    path: state,
                    source,
                })?
            }
        };
        let store = Store::open_for_key(&ws.state_dir(), &key)?;
        let suppressed = suppression_list(&ws, &key)?;
        Ok(Setup {
            ws,
            store,
            key,
            dev_key,
            suppressed,
        })
    }

    /// The rules a selector names (`survey` or `survey/rule`; every rule when `None`).
    pub fn targets(&self, selector: Option<&str>) -> Result<Vec<Target<'_>>, PlanError> {
        targets(&self.ws, selector)
    }

    /// A planner for one rule at `now`.
    pub fn planner<'s>(
        &'s self,
        target: Target<'s>,
        now: Timestamp,
    ) -> Result<Planner<'s>, PlanError> {
        Planner::new(target, &self.key, &self.store, &self.suppressed, now)
    }
}
