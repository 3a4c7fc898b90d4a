//! Files: reads confined to the folders a workspace may name, and writes that never leave
//! a half-written file behind.
//!
//! A pull request can edit `canvass.yaml` and the survey files, and CI runs `canvass check`
//! on it, so a path in those files must not reach the CI machine's secrets: every file a
//! workspace names is resolved (symlinks included) and must lie inside the workspace, or
//! inside the folder the `CANVASS_DATA_DIR` environment variable names (where audiences
//! with personal data live, outside the repository; a pull request cannot set it), never
//! inside `.git`, and be a regular file no larger than its limit.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

/// The environment variable naming a folder outside the workspace from which audience and
/// suppression files may be read.
pub const DATA_DIR_ENV: &str = "CANVASS_DATA_DIR";

/// The largest audience or suppression file read.
pub const MAX_DATA_BYTES: u64 = 1 << 32;

/// Why a file a workspace names was not read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The path resolves outside the folders files may come from.
    #[error(
        "`{0}` is outside the workspace; keep it inside, or set {DATA_DIR_ENV} to the folder that holds it"
    )]
    Outside(String),
    /// The path resolves into the repository's `.git` folder.
    #[error("`{0}` is inside `.git`, which canvass never reads")]
    InGit(String),
    /// A directory, device, pipe or socket.
    #[error("`{0}` is not a regular file (a folder, a device, a pipe or a socket)")]
    NotRegular(String),
    /// Larger than its limit.
    #[error("`{name}` is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The path as named.
        name: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The file cannot be found or read.
    #[error("cannot read `{name}`: {source}")]
    Io {
        /// The path as named.
        name: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The folders a workspace's files may come from.
#[derive(Debug, Clone)]
pub struct Confined {
    roots: Vec<PathBuf>,
}

impl Confined {
    /// The workspace at `root`, and the data folder when `CANVASS_DATA_DIR` names one.
    pub fn workspace(root: &Path) -> Confined {
        let data = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty());
        let roots = std::iter::once(root.to_path_buf())
            .chain(data.map(PathBuf::from))
            .filter_map(|r| r.canonicalize().ok())
            .collect();
        Confined { roots }
    }

    /// The workspace at `root` only: for survey definitions and templates, which belong in
    /// the repository.
    pub fn definitions(root: &Path) -> Confined {
        Confined {
            roots: root.canonicalize().into_iter().collect(),
        }
    }

    /// The file at `path`, opened for reading after checking where it resolves, that it is
    /// a regular file and that it is at most `limit` bytes; the reader stops at `limit`
    /// even if the file grows (or its size lies, as in `/proc`).
    pub fn open(&self, path: &Path, limit: u64) -> Result<std::io::Take<File>, FileError> {
        self.open_named(path, crate::workspace::display_path(path), limit)
    }

    /// The file `name` relative to `base` (see [`Confined::open`]); errors name it as
    /// written, not by the machine's path to it.
    pub fn open_in(
        &self,
        base: &Path,
        name: &str,
        limit: u64,
    ) -> Result<std::io::Take<File>, FileError> {
        self.open_named(&base.join(name), name.to_string(), limit)
    }

    fn open_named(
        &self,
        path: &Path,
        name: String,
        limit: u64,
    ) -> Result<std::io::Take<File>, FileError> {
        let io = |source| FileError::Io {
            name: name.clone(),
            source,
        };
        let resolved = path.canonicalize().map_err(io)?;
        let inside = self
            .roots
            .iter()
            .find_map(|r| resolved.strip_prefix(r).ok());
        let Some(relative) = inside else {
            return Err(FileError::Outside(name));
        };
        if relative
            .components()
            .any(|c| c == Component::Normal(".git".as_ref()))
        {
            return Err(FileError::InGit(name));
        }
        let metadata = std::fs::metadata(&resolved).map_err(io)?;
        if !metadata.is_file() {
            return Err(FileError::NotRegular(name));
        }
        if metadata.len() > limit {
            return Err(FileError::TooLarge {
                name,
                size: metadata.len(),
                limit,
            });
        }
        Ok(File::open(&resolved).map_err(io)?.take(limit))
    }

    /// The text of the file `name` relative to `base` (see [`Confined::open_in`]); not
    /// UTF-8 is an error.
    pub fn read_in(&self, base: &Path, name: &str, limit: u64) -> Result<String, FileError> {
        let mut text = String::new();
        self.open_in(base, name, limit)?
            .read_to_string(&mut text)
            .map_err(|source| FileError::Io {
                name: name.to_string(),
                source,
            })?;
        Ok(text)
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over
/// `path`, so a reader (or a crash) sees either the old file or the new one. The file gets
/// the mode a newly created file gets (the user's umask), not the temporary file's 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .permissions(normal_permissions())
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// 0666, from which creating the file takes the user's umask away, as for any new file.
#[cfg(unix)]
fn normal_permissions() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o666)
}

#[cfg(not(unix))]
fn normal_permissions() -> std::fs::Permissions {
    let file = tempfile::tempfile().expect("a temporary file can be made");
    file.metadata().expect("it has metadata").permissions()
}

/// A CSV reader whose records end at `\n`, so that `Position::line` is the record's line
/// in files with CRLF endings too (the csv crate's CRLF terminator leaves the `\n` to the
/// next record, whose line it then reports one too low). A `\r` before the `\n` stays at the
/// end of the last field, where the trimming every reader of these files does removes it.
pub fn csv_reader<R: std::io::Read>(read: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(read)
}

/// Whether an audience file is JSON Lines (by its extension) rather than CSV.
pub fn is_jsonl(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("ndjson"))
}

/// The longest header (CSV) or first record (JSON Lines) `check` reads of an audience.
const MAX_HEADER_BYTES: u64 = 1 << 16;

/// The column names of an audience file, reading only its header (CSV) or first record
/// (JSON Lines) and never more than 64 KiB of it, so that checking a large audience stays
/// instant and a file with no line ends cannot fill the memory.
pub fn audience_header(dir: &Path, file: &str) -> Result<Vec<String>, String> {
    let path = dir.join(file);
    let path = path.as_path();
    let file = Confined::workspace(crate::workspace::root_of(dir))
        .open_in(dir, file, MAX_DATA_BYTES)
        .map_err(|e| e.to_string())?;
    let file = file.into_inner().take(MAX_HEADER_BYTES);
    if is_jsonl(path) {
        let mut first = String::new();
        BufReader::new(file)
            .read_line(&mut first)
            .map_err(|e| e.to_string())?;
        let record: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&first)
            .map_err(|e| format!("line 1 is not a JSON object: {e}"))?;
        return Ok(record.keys().cloned().collect());
    }
    let mut reader = csv::Reader::from_reader(file);
    let header = reader.headers().map_err(|e| e.to_string())?;
    Ok(header.iter().map(|h| h.trim().to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_known_by_their_extension_in_any_case() {
        assert!(is_jsonl(Path::new("answers.JSONL")));
        assert!(is_jsonl(Path::new("people.ndjson")));
        assert!(!is_jsonl(Path::new("people.csv")));
    }

    #[cfg(unix)]
    #[test]
    fn written_files_get_the_umask_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.md");
        write_atomic(&path, b"x").unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), mode(&plain));
        assert_ne!(mode(&path), 0o600);
    }

    #[test]
    fn files_outside_or_not_regular_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join(".git/config"), "token").unwrap();
        std::fs::write(root.join("a.csv"), "email\n").unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        let confined = Confined::definitions(&root);
        assert!(confined.read_in(&root, "a.csv", 100).is_ok());
        let refused = |name: &str| confined.read_in(&root, name, 100).unwrap_err();
        assert!(matches!(refused("../secret"), FileError::Outside(_)));
        assert!(matches!(refused("/etc/passwd"), FileError::Outside(_)));
        assert!(matches!(refused(".git/config"), FileError::InGit(_)));
        assert!(matches!(refused("."), FileError::NotRegular(_)));
        assert!(matches!(
            confined.read_in(&root, "a.csv", 2).unwrap_err(),
            FileError::TooLarge { size: 6, .. }
        ));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link.csv")).unwrap();
            assert!(matches!(refused("link.csv"), FileError::Outside(_)));
            std::os::unix::fs::symlink("/dev/zero", root.join("zero.csv")).unwrap();
            assert!(matches!(refused("zero.csv"), FileError::Outside(_)));
        }
    }
}
