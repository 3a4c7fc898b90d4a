//! Finding and loading a workspace: `canvass.yaml`, `surveys/<id>/survey.yaml` and
//! `surveys/<id>/distribution.yaml`, each kept with its source and span map so that any
//! later step can point at a node.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::diag::{Code, Diagnostic};
pub use crate::document::{Document, display_path};
use crate::fsutil::Confined;
use crate::model::{Distribution, Rule, Settings, Survey};
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

impl SurveyEntry {
    /// The survey's distribution rules; none when it has no valid `distribution.yaml`,
    /// which renders, imports and reports treat alike.
    pub fn rules(&self) -> &[Rule] {
        self.distribution
            .as_ref()
            .map_or(&[][..], |d| &d.value.rules[..])
    }
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
    let (value, mut found) = kind.typed(&doc);
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
