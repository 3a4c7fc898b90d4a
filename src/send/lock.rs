//! One `send` per rule at a time on this machine: an OS file lock, released when the
//! process ends however it ends.

use std::fs::File;
use std::path::Path;

use super::SendError;
use crate::plan::Target;

/// The lock folder inside the state folder.
pub const LOCKS_DIR: &str = "locks";

/// An exclusive OS lock on one rule, released when dropped or when the process dies.
#[derive(Debug)]
pub struct RuleLock {
    _file: File,
}

impl RuleLock {
    /// Takes the lock of a rule, or reports who holds it.
    pub fn acquire(state_dir: &Path, target: &Target) -> Result<RuleLock, SendError> {
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
            Ok(()) => Ok(RuleLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(SendError::Locked(target.name(), path)),
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}
