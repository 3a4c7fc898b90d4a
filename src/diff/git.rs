//! The little of git that `canvass diff` needs, through the `git` command: which commit
//! to compare with, which survey files it holds, and their text.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use super::DiffError;
use crate::workspace::SURVEYS_DIR;

/// The branches tried, in order, when no base is given.
const DEFAULT_BRANCHES: [&str; 4] = ["origin/HEAD", "origin/main", "main", "master"];

/// The commit the working tree is compared with, and how it was chosen.
#[derive(Debug, Clone, Serialize)]
pub struct Base {
    /// The revision as given, or the default branch that was used.
    pub rev: String,
    /// The abbreviated commit compared with.
    pub commit: String,
    /// A phrase for people: "the merge base of HEAD and `origin/main`".
    pub description: String,
}

/// A workspace inside a git repository.
#[derive(Debug)]
pub struct Repo {
    dir: PathBuf,
    /// The workspace's path from the repository's top, `""` or ending in `/`.
    prefix: String,
}

/// Whether git tracks the file (false outside a repository or without git): audience and
/// suppression files hold addresses, which do not belong in the repository.
pub fn is_tracked(path: &Path) -> bool {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return false;
    };
    Command::new("git")
        .arg("-C")
        .arg(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
        .args(["ls-files", "--error-unmatch", "--"])
        .arg(name)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

impl Repo {
    /// Opens the repository holding the workspace at `root`.
    pub fn open(root: &Path) -> Result<Repo, DiffError> {
        let repo = Repo {
            dir: root.to_path_buf(),
            prefix: String::new(),
        };
        let prefix = repo
            .try_git(&["rev-parse", "--show-prefix"])?
            .ok_or_else(|| DiffError::NotARepository(root.to_path_buf()))?;
        Ok(Repo {
            prefix: prefix.trim().to_string(),
            ..repo
        })
    }

    /// Resolves the commit to compare with: the merge base of HEAD and `rev`, or of HEAD
    /// and the default branch when `rev` is `None`.
    pub fn base(&self, rev: Option<&str>) -> Result<Base, DiffError> {
        let rev = match rev {
            Some(rev) => rev.to_string(),
            None => self.default_branch()?,
        };
        let commit = self
            .try_git(&[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{rev}^{{commit}}"),
            ])?
            .ok_or_else(|| DiffError::MissingRevision {
                hint: self.fetch_hint(&rev),
                rev: rev.clone(),
            })?;
        let merge_base = self
            .try_git(&["merge-base", "HEAD", commit.trim()])?
            .ok_or_else(|| DiffError::NoCommonHistory {
                hint: self.fetch_hint(&rev),
                rev: rev.clone(),
            })?;
        let description = if merge_base.trim() == commit.trim() {
            format!("`{rev}`")
        } else {
            format!("the merge base of HEAD and `{rev}`")
        };
        let short = self.git(&["rev-parse", "--short=7", merge_base.trim()])?;
        Ok(Base {
            rev,
            commit: short.trim().to_string(),
            description,
        })
    }

    /// The survey files at `commit`, as paths from the repository's top.
    pub fn survey_files(&self, commit: &str) -> Result<Vec<String>, DiffError> {
        let surveys = format!("{}{SURVEYS_DIR}/", self.prefix);
        let listing = self.git(&[
            "ls-tree",
            "-r",
            "--name-only",
            "--full-tree",
            commit,
            "--",
            &surveys,
        ])?;
        Ok(listing.lines().map(str::to_string).collect())
    }

    /// The path of `file` relative to the workspace, when it is inside it.
    pub fn relative<'a>(&self, file: &'a str) -> Option<&'a str> {
        file.strip_prefix(&self.prefix)
    }

    /// A file's text at `commit`.
    pub fn show(&self, commit: &str, file: &str) -> Result<String, DiffError> {
        self.git(&["show", &format!("{commit}:{file}")])
    }

    fn default_branch(&self) -> Result<String, DiffError> {
        for branch in DEFAULT_BRANCHES {
            let spec = format!("{branch}^{{commit}}");
            if self
                .try_git(&["rev-parse", "--verify", "--quiet", &spec])?
                .is_some()
            {
                return Ok(branch.to_string());
            }
        }
        Err(DiffError::NoDefaultBranch {
            hint: self.fetch_hint("main"),
        })
    }

    /// How to get the missing history, worded for a shallow clone when this is one.
    fn fetch_hint(&self, rev: &str) -> String {
        let branch = rev.strip_prefix("origin/").unwrap_or("main");
        let shallow = self
            .try_git(&["rev-parse", "--is-shallow-repository"])
            .ok()
            .flatten()
            .is_some_and(|out| out.trim() == "true");
        if shallow {
            format!(
                "this clone is shallow: fetch the history with `git fetch --unshallow`, \
                 or enough of it with `git fetch --depth=50 origin {branch}` \
                 (in GitHub Actions, give actions/checkout `fetch-depth: 0`)"
            )
        } else {
            format!("fetch it with `git fetch origin {branch}`, or pass another --base")
        }
    }

    /// The last commit that changed `path` (relative to the workspace), `None` when none
    /// did or the file differs from it (a summary written from an uncommitted survey must
    /// not name a commit that does not hold its wording).
    pub fn last_commit(&self, path: &str) -> Result<Option<String>, DiffError> {
        let changed = self.try_git(&["status", "--porcelain", "--", path])?;
        if changed.is_none_or(|out| !out.trim().is_empty()) {
            return Ok(None);
        }
        let commit = self.try_git(&["log", "-1", "--format=%H", "--", path])?;
        Ok(commit
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty()))
    }

    /// Runs git; a failure is an error.
    fn git(&self, args: &[&str]) -> Result<String, DiffError> {
        let output = self.command(args)?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        Err(DiffError::Git {
            command: args.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }

    /// Runs git; a failure is `None` (an answer, not an error).
    fn try_git(&self, args: &[&str]) -> Result<Option<String>, DiffError> {
        let output = self.command(args)?;
        Ok(output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned()))
    }

    fn command(&self, args: &[&str]) -> Result<std::process::Output, DiffError> {
        Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .output()
            .map_err(DiffError::NoGit)
    }
}
