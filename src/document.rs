//! One loaded YAML file: its text, its JSON form and the position of every node, so that
//! any later step (the schema, the checks, the diff) can point at what it is about.

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::diag::{Code, Diagnostic};
use crate::fsutil::{Confined, FileError};
use crate::load::{self, LoadError, Source, SpanMap};

/// A loaded YAML file: its text, its JSON form, and where each node is.
#[derive(Debug, Clone)]
pub struct Document {
    /// The file's text and display name.
    pub source: Arc<Source>,
    /// The tree as JSON.
    pub json: Value,
    /// Node positions by JSON Pointer.
    pub spans: SpanMap,
}

impl Document {
    /// Parses a text; `name` is what diagnostics show.
    pub fn parse(
        name: impl Into<String>,
        text: impl Into<String>,
    ) -> Result<Self, Box<Diagnostic>> {
        let source = Arc::new(Source::new(name, text));
        let node = load::parse(&source).map_err(|e| Box::new(load_diagnostic(&source, &e)))?;
        let (json, spans) = load::to_json(node);
        Ok(Document {
            source,
            json,
            spans,
        })
    }

    /// Reads and parses a file, which must resolve inside `confined`'s folders, be a
    /// regular file and be at most [`load::MAX_FILE_BYTES`] long.
    pub fn read(path: &Path, confined: &Confined) -> Result<Self, Box<Diagnostic>> {
        let name = display_path(path);
        // One byte over the limit is read, to tell a file at the limit from a longer one.
        let limit = load::MAX_FILE_BYTES as u64 + 1;
        let mut bytes = Vec::new();
        let read = confined.open(path, limit).and_then(|mut file| {
            file.read_to_end(&mut bytes)
                .map_err(|source| FileError::Io {
                    name: name.clone(),
                    source,
                })
        });
        let too_large = |message: String| {
            Box::new(
                Diagnostic::file_error(&name, Code::E003, message)
                    .with_help("survey files are small; is this the right file?"),
            )
        };
        match read {
            Ok(_) if bytes.len() > load::MAX_FILE_BYTES => {
                let e = LoadError::TooLarge { size: bytes.len() };
                return Err(too_large(e.to_string()));
            }
            Ok(_) => {}
            Err(e @ FileError::TooLarge { .. }) => return Err(too_large(e.to_string())),
            Err(e) => {
                return Err(Box::new(
                    Diagnostic::file_error(&name, Code::E001, e.to_string())
                        .with_help("canvass reads only regular files inside the workspace"),
                ));
            }
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            Box::new(
                Diagnostic::file_error(&name, Code::E001, format!("the file is not UTF-8: {e}"))
                    .with_help("save the file as UTF-8"),
            )
        })?;
        Document::parse(name, text)
    }

    /// An error at the value at `pointer`.
    pub fn error(&self, pointer: &str, code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(&self.source, self.spans.value(pointer), code, message)
    }

    /// A warning at the value at `pointer`.
    pub fn warning(&self, pointer: &str, code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic::warning(&self.source, self.spans.value(pointer), code, message)
    }

    /// An error at the key of the entry at `pointer`.
    pub fn key_error(&self, pointer: &str, code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(&self.source, self.spans.key(pointer), code, message)
    }

    /// A warning at the key of the entry at `pointer`.
    pub fn key_warning(&self, pointer: &str, code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic::warning(&self.source, self.spans.key(pointer), code, message)
    }
}

fn load_diagnostic(source: &Arc<Source>, error: &LoadError) -> Diagnostic {
    let (code, help) = match error {
        LoadError::Syntax { .. } => (
            Code::E002,
            "fix the YAML syntax here; a YAML-aware editor shows it too",
        ),
        LoadError::DuplicateKey { .. } => (Code::E004, "remove or rename one of the two keys"),
        LoadError::MultipleDocuments { .. } => (
            Code::E002,
            "remove the `---` line and what follows, or split the file",
        ),
        LoadError::UnknownAnchor { .. } => (
            Code::E002,
            "define the anchor (`&name`) before the alias (`*name`)",
        ),
        _ => (
            Code::E003,
            "canvass refuses files this large or deep to stay safe; simplify the file",
        ),
    };
    Diagnostic::error(source, error.span(), code, error.to_string()).with_help(help)
}

/// A path as a user should see it: relative to the current folder when inside it.
pub fn display_path(path: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| {
            let cwd = cwd.canonicalize().ok()?;
            let absolute = path.canonicalize().ok()?;
            absolute.strip_prefix(&cwd).ok().map(Path::to_path_buf)
        })
        .unwrap_or_else(|| path.to_path_buf());
    relative.to_string_lossy().replace('\\', "/")
}
