//! One `send` per rule at a time: an OS file lock beside a SQLite store, an advisory
//! lock in a PostgreSQL store that several machines share; either is released when the
//! process ends however it ends.

use std::fs::File;
use std::path::Path;

use super::SendError;
use crate::plan::Target;
use crate::store::Store;

/// The lock folder inside the state folder.
pub const LOCKS_DIR: &str = "locks";

/// An exclusive lock on one rule, released when dropped or when the process dies.
#[derive(Debug)]
pub enum RuleLock {
    /// A lock file's OS lock.
    File(File),
    /// The store's advisory lock, held by the store's connection.
    Store,
}

impl RuleLock {
    /// Takes the lock of a rule where the store's other users can see it, or reports who
    /// holds it.
    pub fn acquire(
        state_dir: &Path,
        target: &Target,
        store: &Store,
    ) -> Result<RuleLock, SendError> {
        match store.lock_rule(&target.survey.id, &target.rule.id)? {
            Some(true) => Ok(RuleLock::Store),
            Some(false) => Err(SendError::Locked(target.name(), store.place())),
            None => RuleLock::acquire_file(state_dir, target),
        }
    }

    fn acquire_file(state_dir: &Path, target: &Target) -> Result<RuleLock, SendError> {
        let dir = state_dir.join(LOCKS_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| SendError::Io {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(format!("{}-{}.lock", target.survey.id, target.rule.id));
        let io = |source| SendError::Io {
            path: path.clone(),
            source,
        };
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(RuleLock::File(file)),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(SendError::Locked(target.name(), path.display().to_string()))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}
