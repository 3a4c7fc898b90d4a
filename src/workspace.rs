//! Finding and loading a workspace: `canvass.yaml`, `surveys/<id>/survey.yaml` and
//! `surveys/<id>/distribution.yaml`, each kept with its source and span map so that any
//! later step can point at a node.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::diag::{Code, Diagnostic};
use crate::fsutil::{Confined, FileError};
use crate::load::{self, LoadError, Source, SpanMap};
use crate::model::{Distribution, Settings, Survey};
use crate::schema::SchemaKind;

/// The workspace settings file.
pub const SETTINGS_FILE: &str = "canvass.yaml";
/// A survey's questionnaire.
pub const SURVEY_FILE: &str = "survey.yaml";
/// A survey's distribution rules.
pub const DISTRIBUTION_FILE: &str = "distribution.yaml";
/// The folder of surveys.
pub const SURVEYS_DIR: &str = "surveys";
/// Local state, never committed.
pub const STATE_DIR: &str = ".canvass";

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

    /// Validates against `kind`'s schema and deserializes. A document with schema errors
    /// is still typed when pruning the offending keys leaves a valid shape, so that
    /// `check` can report its meaning problems in the same run; the errors are returned
    /// beside it.
    pub fn typed<T: DeserializeOwned>(&self, kind: SchemaKind) -> (Option<T>, Vec<Diagnostic>) {
        let problems = kind.validate(self);
        if problems.is_empty() {
            return match serde_json::from_value(self.json.clone()) {
                Ok(value) => (Some(value), problems),
                Err(e) => (
                    None,
                    vec![self.error(
                        "",
                        Code::E011,
                        format!("the file does not fit the format: {e}"),
                    )],
                ),
            };
        }
        let mut pruned = self.json.clone();
        let prunable = kind.invalid_keys(self).iter().all(|(object, key)| {
            pruned
                .pointer_mut(object)
                .and_then(Value::as_object_mut)
                .is_some_and(|map| map.shift_remove(key).is_some())
        });
        let value = prunable
            .then(|| serde_json::from_value(pruned).ok())
            .flatten();
        (value, problems)
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

/// A file loaded and typed, with its document for positions.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    /// The document it came from.
    pub doc: Document,
    /// The typed value.
    pub value: T,
}

/// One `surveys/<id>/` folder.
#[derive(Debug, Clone)]
pub struct SurveyEntry {
    /// The folder's name, which the survey's id must equal.
    pub folder: String,
    /// The folder.
    pub dir: PathBuf,
    /// The questionnaire, when it loaded and passed its schema.
    pub survey: Option<Loaded<Survey>>,
    /// The rules, when present, loaded and valid.
    pub distribution: Option<Loaded<Distribution>>,
}

/// A whole workspace, as far as it could be loaded.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The folder holding `canvass.yaml` and `surveys/`.
    pub root: PathBuf,
    /// Settings, defaults where `canvass.yaml` is absent or broken.
    pub settings: Settings,
    /// The settings file, when present and valid.
    pub settings_doc: Option<Document>,
    /// Every survey folder, sorted by name.
    pub surveys: Vec<SurveyEntry>,
}

impl Workspace {
    /// Loads everything under `root`, returning the problems found on the way (syntax and
    /// schema errors); files with problems are left out of the typed model.
    pub fn load(root: &Path) -> (Workspace, Vec<Diagnostic>) {
        let mut problems = Vec::new();
        let settings_path = root.join(SETTINGS_FILE);
        let mut settings = Settings::default();
        let mut settings_doc = None;
        if settings_path.exists()
            && let Some(loaded) = load_typed::<Settings>(
                &settings_path,
                SchemaKind::Workspace,
                &Confined::definitions(root),
                &mut problems,
            )
        {
            settings = loaded.value;
            settings_doc = Some(loaded.doc);
        }
        let loaded = parallel_map(&survey_dirs(root), |dir| {
            let mut found = Vec::new();
            (load_entry(dir.clone(), &mut found), found)
        });
        let mut surveys = Vec::with_capacity(loaded.len());
        for (entry, mut found) in loaded {
            surveys.push(entry);
            problems.append(&mut found);
        }
        let workspace = Workspace {
            root: root.to_path_buf(),
            settings,
            settings_doc,
            surveys,
        };
        (workspace, problems)
    }

    /// The survey with this id.
    pub fn survey(&self, id: &str) -> Option<&SurveyEntry> {
        self.surveys.iter().find(|s| s.folder == id)
    }

    /// The local state folder, `.canvass/`.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }
}

/// Maps `f` over `items` on every core, keeping the order: a workspace may hold hundreds of
/// surveys, and parsing and validating each is independent of the others.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = items.len().div_ceil(threads).max(1);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|chunk| scope.spawn(move || chunk.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Loads one survey folder.
pub fn load_entry(dir: PathBuf, problems: &mut Vec<Diagnostic>) -> SurveyEntry {
    let folder = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let confined = Confined::definitions(root_of(&dir));
    let survey_path = dir.join(SURVEY_FILE);
    let survey = if survey_path.exists() {
        load_typed(&survey_path, SchemaKind::Survey, &confined, problems)
    } else {
        problems.push(
            Diagnostic::file_error(
                display_path(&survey_path),
                Code::E001,
                "the survey folder has no survey.yaml",
            )
            .with_help("create it with `canvass new TEMPLATE ID`, or remove the folder"),
        );
        None
    };
    let distribution_path = dir.join(DISTRIBUTION_FILE);
    let distribution = distribution_path
        .exists()
        .then(|| {
            load_typed(
                &distribution_path,
                SchemaKind::Distribution,
                &confined,
                problems,
            )
        })
        .flatten();
    SurveyEntry {
        folder,
        dir,
        survey,
        distribution,
    }
}

/// The workspace root a survey folder (`<root>/surveys/<id>`) belongs to, which the files
/// its rules name are confined to.
pub fn root_of(survey_dir: &Path) -> &Path {
    survey_dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."))
}

/// Reads, parses, validates and deserializes one file, adding its problems to `problems`.
pub fn load_typed<T: DeserializeOwned>(
    path: &Path,
    kind: SchemaKind,
    confined: &Confined,
    problems: &mut Vec<Diagnostic>,
) -> Option<Loaded<T>> {
    let doc = match Document::read(path, confined) {
        Ok(doc) => doc,
        Err(d) => {
            problems.push(*d);
            return None;
        }
    };
    let (value, mut found) = doc.typed(kind);
    problems.append(&mut found);
    value.map(|value| Loaded { doc, value })
}

fn survey_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root.join(SURVEYS_DIR)) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    dirs.sort();
    dirs
}

/// Finds the workspace root: the nearest folder, from `start` upwards, that holds
/// `canvass.yaml` or a `surveys/` folder.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    let start = start.canonicalize().ok()?;
    start
        .ancestors()
        .find(|dir| dir.join(SETTINGS_FILE).is_file() || dir.join(SURVEYS_DIR).is_dir())
        .map(Path::to_path_buf)
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
