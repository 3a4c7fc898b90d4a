//! `canvass diff`: what a change to surveys and rules means, for the people reviewing it.
//!
//! A line diff of YAML shows that something moved; a reviewer needs to know whether answers
//! collected after the change can still be compared with answers collected before. This
//! module compares the files at a git revision with the working tree by meaning, and
//! classes every change:
//!
//! - **breaking**: answers after it are not comparable with answers before (a scale, a
//!   type, options, a condition, the wording in the default locale, a metric's
//!   definition), so the survey's `version` must go up;
//! - **content**: what people read but not what answers mean (translations, labels'
//!   wording, order, new questions);
//! - **operational**: who gets it, when and how (the distribution rules).
//!
//! [`version_discipline`] turns the breaking changes into `check` diagnostics.

mod git;
mod render;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::diag::{Code, Diagnostic, plural};
use crate::model::{Alert, Distribution, Question, Rule, Survey, Text};
use crate::schema::SchemaKind;
use crate::workspace::{DISTRIBUTION_FILE, Document, SURVEY_FILE, SURVEYS_DIR, Workspace};

pub use git::{Base, Repo, is_tracked};
pub use render::{render_json, render_markdown};

/// Why the comparison could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// git is not installed or could not start.
    #[error("cannot run git: {0}")]
    NoGit(std::io::Error),
    /// The workspace is not in a git repository.
    #[error("{} is not inside a git repository; `canvass diff` compares with a git revision", .0.display())]
    NotARepository(PathBuf),
    /// A git command failed.
    #[error("`git {command}` failed: {stderr}")]
    Git {
        /// The arguments.
        command: String,
        /// What git said.
        stderr: String,
    },
    /// The base revision is not in this clone.
    #[error("the base `{rev}` is not in this clone; {hint}")]
    MissingRevision {
        /// The revision asked for.
        rev: String,
        /// How to fetch it.
        hint: String,
    },
    /// HEAD and the base have no common commit in this clone.
    #[error("HEAD and `{rev}` have no common commit in this clone; {hint}")]
    NoCommonHistory {
        /// The revision asked for.
        rev: String,
        /// How to fetch more history.
        hint: String,
    },
    /// No base was given and no default branch exists.
    #[error(
        "no default branch to compare with (tried {}); pass --base REV, or {hint}",
        "origin/HEAD, origin/main, main, master"
    )]
    NoDefaultBranch {
        /// How to fetch one.
        hint: String,
    },
}

/// How a change affects the answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Answers after it are not comparable with answers before.
    Breaking,
    /// What people read changes, not what answers mean.
    Content,
    /// Who gets the survey, when, how.
    Operational,
}

impl Class {
    /// The word used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Class::Breaking => "breaking",
            Class::Content => "content",
            Class::Operational => "operational",
        }
    }
}

/// Which file of a survey folder a change is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// `survey.yaml`.
    Survey,
    /// `distribution.yaml`.
    Distribution,
}

/// One change, by meaning.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// What happened: "wording changed", "option added".
    pub change: String,
    /// The node: a question id and locale, a rule and field.
    #[serde(rename = "where")]
    pub location: String,
    /// Its effect on the answers.
    pub class: Class,
    /// The file it is in.
    pub file: FileKind,
    /// The JSON Pointer of the node in the working tree's file (its parent when removed),
    /// so that `check` can point at it.
    pub pointer: String,
    /// The value before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The value after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    /// An explanation or advice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Change {
    fn new(change: impl Into<String>, location: impl Into<String>, class: Class) -> Self {
        Change {
            change: change.into(),
            location: location.into(),
            class,
            file: FileKind::Survey,
            pointer: String::new(),
            old: None,
            new: None,
            note: None,
        }
    }

    fn at(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = pointer.into();
        self
    }

    fn values(mut self, old: Option<Value>, new: Option<Value>) -> Self {
        self.old = old;
        self.new = new;
        self
    }

    fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    fn in_distribution(mut self) -> Self {
        self.file = FileKind::Distribution;
        self
    }
}

/// What happened to a survey folder as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// New in the working tree.
    Added,
    /// Gone from the working tree.
    Removed,
    /// The folder and id changed, the content did not.
    Renamed,
    /// Edited in place.
    Changed,
}

/// The changes to one survey folder.
#[derive(Debug, Clone, Serialize)]
pub struct SurveyDiff {
    /// The survey's id (its folder name; the old one for a removed survey).
    pub id: String,
    /// What happened to the folder.
    pub status: Status,
    /// The old id of a renamed survey.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    /// The `version` at the base.
    pub base_version: Option<u32>,
    /// The `version` in the working tree.
    pub head_version: Option<u32>,
    /// Every change, survey file first.
    pub changes: Vec<Change>,
}

impl SurveyDiff {
    /// How many changes of `class` there are.
    pub fn count(&self, class: Class) -> usize {
        self.changes.iter().filter(|c| c.class == class).count()
    }

    /// Whether `version` went up.
    pub fn version_bumped(&self) -> bool {
        matches!((self.base_version, self.head_version), (Some(b), Some(h)) if h > b)
    }

    /// Whether answers would be mixed across a breaking change: the survey existed on both
    /// sides, changed in a breaking way, and kept its version.
    pub fn needs_version_bump(&self) -> bool {
        matches!(self.status, Status::Changed | Status::Renamed)
            && self.count(Class::Breaking) > 0
            && !self.version_bumped()
    }
}

/// Everything `canvass diff` found.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// What the working tree was compared with.
    pub base: Base,
    /// The surveys that changed, by id.
    pub surveys: Vec<SurveyDiff>,
    /// Files that could not be read on one side (syntax or schema errors), left out of the
    /// comparison; `canvass check` says what is wrong with them.
    pub unreadable: Vec<String>,
}

/// Compares the surveys and rules at `base` (default: the merge base with the default
/// branch) with the working tree of the workspace at `root`.
pub fn diff_workspace(root: &Path, base: Option<&str>) -> Result<DiffReport, DiffError> {
    let comparison = Comparison::load(root, base)?;
    Ok(DiffReport {
        surveys: comparison.surveys(),
        base: comparison.base,
        unreadable: comparison.unreadable,
    })
}

/// `check --base`: an error (E090) at every breaking change of a survey whose `version`
/// did not go up, and a warning (W091) at a `version` that went up for no breaking change.
pub fn version_discipline(root: &Path, base: Option<&str>) -> Result<Vec<Diagnostic>, DiffError> {
    let comparison = Comparison::load(root, base)?;
    let mut out = Vec::new();
    for diff in comparison.surveys() {
        let Some(loaded) = comparison
            .workspace
            .survey(&diff.id)
            .and_then(|e| e.survey.as_ref())
        else {
            continue;
        };
        out.extend(discipline(&diff, &loaded.doc, &comparison.base));
    }
    Ok(out)
}

fn discipline(diff: &SurveyDiff, doc: &Document, base: &Base) -> Vec<Diagnostic> {
    let (Some(old), Some(new)) = (diff.base_version, diff.head_version) else {
        return Vec::new();
    };
    let line = doc.spans.value("/version").start.line;
    if diff.needs_version_bump() {
        return diff
            .changes
            .iter()
            .filter(|c| c.class == Class::Breaking)
            .map(|c| {
                doc.error(
                    &c.pointer,
                    Code::E090,
                    format!(
                        "breaking change without a version bump: {} ({}) since {}",
                        c.change, c.location, base.commit
                    ),
                )
                .with_help(format!(
                    "answers after this change are not comparable with earlier ones: \
                     change `version: {new}` on line {line} to `version: {}`",
                    old + 1
                ))
            })
            .collect();
    }
    if diff.version_bumped() && diff.count(Class::Breaking) == 0 {
        return vec![
            doc.warning(
                "/version",
                Code::W091,
                format!(
                    "`version` went from {old} to {new}, but nothing changed that breaks \
                     comparability with earlier answers"
                ),
            )
            .with_help(format!(
                "keep `version: {old}` so that answers before and after stay together; \
                 content and operational changes need no bump"
            )),
        ];
    }
    Vec::new()
}

/// The two sides, read and typed.
struct Comparison {
    base: Base,
    before: Snapshot,
    workspace: Workspace,
    unreadable: Vec<String>,
}

/// A survey folder's typed files.
#[derive(Debug, Default, Clone)]
struct Folder {
    survey: Option<Survey>,
    distribution: Option<Distribution>,
}

type Snapshot = BTreeMap<String, Folder>;

impl Comparison {
    fn load(root: &Path, base: Option<&str>) -> Result<Self, DiffError> {
        let repo = git::Repo::open(root)?;
        let base = repo.base(base)?;
        let mut unreadable = Vec::new();
        let before = read_revision(&repo, &base, &mut unreadable)?;
        let (workspace, _) = Workspace::load(root);
        for entry in &workspace.surveys {
            for (file, loaded) in [
                (SURVEY_FILE, entry.survey.is_some()),
                (DISTRIBUTION_FILE, entry.distribution.is_some()),
            ] {
                if !loaded && entry.dir.join(file).exists() {
                    unreadable.push(format!("{SURVEYS_DIR}/{}/{file}", entry.folder));
                }
            }
        }
        Ok(Comparison {
            base,
            before,
            workspace,
            unreadable,
        })
    }

    fn surveys(&self) -> Vec<SurveyDiff> {
        let after: Snapshot = self
            .workspace
            .surveys
            .iter()
            .map(|e| {
                let folder = Folder {
                    survey: e.survey.as_ref().map(|l| l.value.clone()),
                    distribution: e.distribution.as_ref().map(|l| l.value.clone()),
                };
                (e.folder.clone(), folder)
            })
            .collect();
        compare(&self.before, &after)
    }
}

fn read_revision(
    repo: &git::Repo,
    base: &Base,
    unreadable: &mut Vec<String>,
) -> Result<Snapshot, DiffError> {
    let mut snapshot = Snapshot::new();
    for file in repo.survey_files(&base.commit)? {
        let Some(relative) = repo.relative(&file) else {
            continue;
        };
        let parts: Vec<&str> = relative.split('/').collect();
        let [_, folder, name] = parts[..] else {
            continue;
        };
        let kind = match name {
            SURVEY_FILE => SchemaKind::Survey,
            DISTRIBUTION_FILE => SchemaKind::Distribution,
            _ => continue,
        };
        let text = repo.show(&base.commit, &file)?;
        let entry = snapshot.entry(folder.to_string()).or_default();
        let typed = Document::parse(format!("{}:{relative}", base.commit), text).ok();
        let read = match kind {
            SchemaKind::Survey => {
                entry.survey = typed.and_then(|d| kind.typed(&d).0);
                entry.survey.is_some()
            }
            _ => {
                entry.distribution = typed.and_then(|d| kind.typed(&d).0);
                entry.distribution.is_some()
            }
        };
        if !read {
            unreadable.push(format!("{relative} at {}", base.commit));
        }
    }
    Ok(snapshot)
}

/// Compares two snapshots folder by folder, pairing a removed and an added survey whose
/// content is the same but for the id as a rename.
fn compare(before: &Snapshot, after: &Snapshot) -> Vec<SurveyDiff> {
    let mut removed: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    let mut out = Vec::new();
    for (id, folder) in after {
        let diff = match before.get(id) {
            Some(old) => compare_folder(id, old, folder, Status::Changed),
            None => match removed
                .iter()
                .position(|r| same_but_id(&before[*r], folder))
            {
                Some(i) => {
                    let old_id = removed.remove(i);
                    let mut diff = compare_folder(id, &before[old_id], folder, Status::Renamed);
                    diff.renamed_from = Some(old_id.clone());
                    diff.changes.insert(
                        0,
                        Change::new("survey renamed", format!("`{id}`"), Class::Content)
                            .at("/id")
                            .values(Some(old_id.as_str().into()), Some(id.as_str().into()))
                            .note("answers collected before keep the old id"),
                    );
                    diff
                }
                None => whole_survey(id, folder, Status::Added),
            },
        };
        if diff.status != Status::Changed || !diff.changes.is_empty() {
            out.push(diff);
        }
    }
    out.extend(
        removed
            .into_iter()
            .map(|id| whole_survey(id, &before[id], Status::Removed)),
    );
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn same_but_id(old: &Folder, new: &Folder) -> bool {
    match (&old.survey, &new.survey) {
        (Some(old), Some(new)) => old.questions == new.questions && old.metrics == new.metrics,
        _ => false,
    }
}

fn whole_survey(id: &str, folder: &Folder, status: Status) -> SurveyDiff {
    let questions = folder.survey.as_ref().map_or(0, |s| s.questions.len());
    let rules = folder.distribution.as_ref().map_or(0, |d| d.rules.len());
    let verb = if status == Status::Added {
        "added"
    } else {
        "removed"
    };
    let change = Change::new(
        format!("survey {verb}"),
        format!("`{id}`"),
        Class::Operational,
    )
    .at("")
    .note(format!(
        "{questions} question{}, {rules} rule{}",
        plural(questions),
        plural(rules)
    ));
    let version = folder.survey.as_ref().map(|s| s.version);
    SurveyDiff {
        id: id.to_string(),
        status,
        renamed_from: None,
        base_version: version.filter(|_| status == Status::Removed),
        head_version: version.filter(|_| status == Status::Added),
        changes: vec![change],
    }
}

fn compare_folder(id: &str, old: &Folder, new: &Folder, status: Status) -> SurveyDiff {
    let mut changes = Vec::new();
    if let (Some(old), Some(new)) = (&old.survey, &new.survey) {
        compare_surveys(old, new, &mut changes);
    }
    compare_distributions(
        old.distribution.as_ref(),
        new.distribution.as_ref(),
        &mut changes,
    );
    SurveyDiff {
        id: id.to_string(),
        status,
        renamed_from: None,
        base_version: old.survey.as_ref().map(|s| s.version),
        head_version: new.survey.as_ref().map(|s| s.version),
        changes,
    }
}

fn compare_surveys(old: &Survey, new: &Survey, out: &mut Vec<Change>) {
    let locale = new.default_locale();
    if old.locales != new.locales {
        let mut change = Change::new("locales changed", "survey", Class::Content)
            .at("/locales")
            .values(
                Some(old.locales.join(", ").into()),
                Some(new.locales.join(", ").into()),
            );
        if old.default_locale() != locale {
            change = change.note(format!("the default locale is now `{locale}`"));
        }
        out.push(change);
    }
    for (key, a, b) in [
        ("title", Some(&old.title), Some(&new.title)),
        ("intro", old.intro.as_ref(), new.intro.as_ref()),
        ("thanks", old.thanks.as_ref(), new.thanks.as_ref()),
        ("incentive", old.incentive.as_ref(), new.incentive.as_ref()),
    ] {
        let place = TextPlace {
            what: key,
            location: key.to_string(),
            pointer: format!("/{key}"),
            meaningful: false,
        };
        compare_text(&place, a, b, locale, out);
    }
    if old.contact_consent != new.contact_consent {
        out.push(
            Change::new("contact consent changed", "survey", Class::Operational)
                .at("/contact_consent")
                .values(
                    old.contact_consent.clone().map(Value::from),
                    new.contact_consent.clone().map(Value::from),
                )
                .note("decides which alerts may say who answered"),
        );
    }
    let renames = compare_questions(old, new, locale, out);
    compare_metrics(old, new, &renames, out);
}

/// Where a text is, and whether its default-locale wording carries the answers' meaning.
struct TextPlace {
    what: &'static str,
    location: String,
    pointer: String,
    meaningful: bool,
}

fn per_locale(text: Option<&Text>, default: &str) -> BTreeMap<String, String> {
    match text {
        None => BTreeMap::new(),
        Some(Text::Plain(s)) => BTreeMap::from([(default.to_string(), s.clone())]),
        Some(Text::Localized(map)) => map.clone(),
    }
}

fn compare_text(
    place: &TextPlace,
    old: Option<&Text>,
    new: Option<&Text>,
    default: &str,
    out: &mut Vec<Change>,
) {
    if old == new {
        return;
    }
    let (before, after) = (per_locale(old, default), per_locale(new, default));
    let localized = matches!(new, Some(Text::Localized(_)));
    let locales: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for locale in locales {
        let (a, b) = (before.get(locale), after.get(locale));
        if a == b {
            continue;
        }
        let change = match (a, b) {
            (None, Some(_)) if old.is_some() => format!("{} translation added", place.what),
            (Some(_), None) if new.is_some() => format!("{} translation removed", place.what),
            (None, _) => format!("{} added", place.what),
            (_, None) => format!("{} removed", place.what),
            _ => format!("{} changed", place.what),
        };
        let rewording = a.is_some() && b.is_some() && locale == default && place.meaningful;
        let breaking = rewording && !same_words(a.map_or("", |s| s), b.map_or("", |s| s));
        let pointer = if localized {
            format!("{}/{}", place.pointer, crate::load::pointer_segment(locale))
        } else {
            place.pointer.clone()
        };
        let mut change = Change::new(
            change,
            format!("{} · {locale}", place.location),
            if breaking {
                Class::Breaking
            } else {
                Class::Content
            },
        )
        .at(pointer)
        .values(a.map(|s| s.as_str().into()), b.map(|s| s.as_str().into()));
        if rewording && !breaking {
            change = change.note("punctuation or case only");
        }
        out.push(change);
    }
}

/// Whether two texts have the same words, ignoring case and punctuation.
fn same_words(a: &str, b: &str) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    words(a) == words(b)
}

/// Compares the questions; returns the renames (old id → new id) declared by `replaces`.
fn compare_questions(
    old: &Survey,
    new: &Survey,
    locale: &str,
    out: &mut Vec<Change>,
) -> HashMap<String, String> {
    let renames: HashMap<String, String> = new
        .questions
        .iter()
        .filter_map(|q| {
            let replaced = q.replaces.as_ref()?;
            (old.question(replaced).is_some()
                && new.question(replaced).is_none()
                && old.question(&q.id).is_none())
            .then(|| (replaced.clone(), q.id.clone()))
        })
        .collect();
    let counterpart = |q: &Question| -> Option<&Question> {
        old.question(&q.id).or_else(|| {
            q.replaces
                .as_ref()
                .filter(|r| renames.get(*r) == Some(&q.id))
                .and_then(|r| old.question(r))
        })
    };
    let mut unmatched_new = Vec::new();
    for (i, q) in new.questions.iter().enumerate() {
        let base = format!("/questions/{i}");
        match counterpart(q) {
            Some(before) => {
                if before.id != q.id {
                    out.push(
                        Change::new("question renamed", format!("`{}`", q.id), Class::Content)
                            .at(format!("{base}/id"))
                            .values(Some(before.id.as_str().into()), Some(q.id.as_str().into()))
                            .note(format!(
                                "`replaces: {}` keeps answers comparable",
                                before.id
                            )),
                    );
                }
                compare_question(before, q, &base, locale, out);
            }
            None => unmatched_new.push((i, q)),
        }
    }
    let matched: BTreeSet<&str> = new
        .questions
        .iter()
        .filter_map(|q| counterpart(q).map(|b| b.id.as_str()))
        .collect();
    for gone in old
        .questions
        .iter()
        .filter(|q| !matched.contains(q.id.as_str()))
    {
        let twin = unmatched_new
            .iter()
            .position(|(_, q)| same_but_question_id(gone, q));
        match twin {
            Some(k) => {
                let (i, q) = unmatched_new.remove(k);
                out.push(
                    Change::new(
                        "question renamed without `replaces`",
                        format!("`{}`", q.id),
                        Class::Breaking,
                    )
                    .at(format!("/questions/{i}/id"))
                    .values(Some(gone.id.as_str().into()), Some(q.id.as_str().into()))
                    .note(format!(
                        "answers to `{}` and `{}` are not joined; add `replaces: {}` to keep them comparable",
                        gone.id, q.id, gone.id
                    )),
                );
            }
            None => out.push(
                Change::new("question removed", format!("`{}`", gone.id), Class::Content)
                    .at("/questions")
                    .values(Some(gone.text.get(locale, locale).into()), None),
            ),
        }
    }
    for (i, q) in unmatched_new {
        out.push(
            Change::new("question added", format!("`{}`", q.id), Class::Content)
                .at(format!("/questions/{i}"))
                .values(None, Some(q.text.get(locale, locale).into()))
                .note(q.kind.name()),
        );
    }
    compare_order(old, new, &renames, out);
    renames
}

fn same_but_question_id(old: &Question, new: &Question) -> bool {
    new.replaces.is_none()
        && Question {
            id: new.id.clone(),
            ..old.clone()
        } == *new
}

/// Reports the questions whose place among the kept questions changed.
fn compare_order(
    old: &Survey,
    new: &Survey,
    renames: &HashMap<String, String>,
    out: &mut Vec<Change>,
) {
    let new_id = |id: &str| renames.get(id).cloned().unwrap_or_else(|| id.to_string());
    let kept_before: Vec<String> = old
        .questions
        .iter()
        .map(|q| new_id(&q.id))
        .filter(|id| new.question(id).is_some())
        .collect();
    let kept_after: Vec<String> = new
        .questions
        .iter()
        .map(|q| q.id.clone())
        .filter(|id| kept_before.contains(id))
        .collect();
    let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &kept_before, &kept_after);
    for op in ops {
        if let similar::DiffOp::Insert {
            new_index, new_len, ..
        } = op
        {
            for id in &kept_after[new_index..new_index + new_len] {
                let from = kept_before.iter().position(|b| b == id).unwrap_or(0) + 1;
                let to = new_index + 1;
                let i = new.question_index(id).unwrap_or(0);
                out.push(
                    Change::new("question moved", format!("`{id}`"), Class::Content)
                        .at(format!("/questions/{i}"))
                        .note(format!(
                            "from position {from} to {to} among the kept questions"
                        )),
                );
            }
        }
    }
}

fn compare_question(
    old: &Question,
    new: &Question,
    base: &str,
    locale: &str,
    out: &mut Vec<Change>,
) {
    let id = format!("`{}`", new.id);
    let field = |name: &str, class: Class, a: Value, b: Value| {
        Change::new(format!("{name} changed"), id.clone(), class)
            .at(format!("{base}/{name}"))
            .values(Some(a), Some(b))
    };
    if old.kind != new.kind {
        out.push(field(
            "type",
            Class::Breaking,
            old.kind.name().into(),
            new.kind.name().into(),
        ));
    } else if old.range() != new.range() {
        out.push(field(
            "scale",
            Class::Breaking,
            range_text(old).into(),
            range_text(new).into(),
        ));
    }
    for (what, pointer, a, b, meaningful) in [
        ("wording", "text", Some(&old.text), Some(&new.text), true),
        ("help", "help", old.help.as_ref(), new.help.as_ref(), false),
    ] {
        let place = TextPlace {
            what,
            location: id.clone(),
            pointer: format!("{base}/{pointer}"),
            meaningful,
        };
        compare_text(&place, a, b, locale, out);
    }
    if old.required != new.required {
        out.push(field(
            "required",
            Class::Content,
            old.required.into(),
            new.required.into(),
        ));
    }
    if old.when != new.when {
        let show = |w: &Option<String>| w.clone().unwrap_or_else(|| "always".to_string());
        out.push(
            field(
                "when",
                Class::Breaking,
                show(&old.when).into(),
                show(&new.when).into(),
            )
            .note("the question is now asked of different people"),
        );
    }
    if old.weight() != new.weight() {
        out.push(field(
            "weight",
            Class::Breaking,
            old.weight().into(),
            new.weight().into(),
        ));
    }
    if old.max_length != new.max_length {
        let show = |m: Option<u32>| m.map_or(Value::Null, Value::from);
        out.push(field(
            "max_length",
            Class::Content,
            show(old.max_length),
            show(new.max_length),
        ));
    }
    compare_labels(old, new, base, &id, locale, out);
    compare_options(old, new, base, &id, locale, out);
}

fn range_text(q: &Question) -> String {
    q.range()
        .map_or_else(|| "none".to_string(), |(lo, hi)| format!("{lo}–{hi}"))
}

fn compare_labels(
    old: &Question,
    new: &Question,
    base: &str,
    id: &str,
    locale: &str,
    out: &mut Vec<Change>,
) {
    let labels = |q: &Question| {
        q.scale
            .as_ref()
            .map(|s| s.labels.clone())
            .unwrap_or_default()
    };
    let (before, after) = (labels(old), labels(new));
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for key in keys {
        let place = TextPlace {
            what: "label",
            location: format!("{id} label {key}"),
            pointer: format!("{base}/scale/labels/{key}"),
            meaningful: false,
        };
        compare_text(&place, before.get(key), after.get(key), locale, out);
    }
}

fn compare_options(
    old: &Question,
    new: &Question,
    base: &str,
    id: &str,
    locale: &str,
    out: &mut Vec<Change>,
) {
    for (j, option) in new.options.iter().enumerate() {
        let pointer = format!("{base}/options/{j}");
        let location = format!("{id} option `{}`", option.id);
        match old.options.iter().find(|o| o.id == option.id) {
            None => out.push(
                Change::new("option added", location, Class::Breaking)
                    .at(pointer)
                    .values(None, Some(option.text.get(locale, locale).into())),
            ),
            Some(before) => {
                let place = TextPlace {
                    what: "option wording",
                    location,
                    pointer: format!("{pointer}/text"),
                    meaningful: false,
                };
                compare_text(&place, Some(&before.text), Some(&option.text), locale, out);
            }
        }
    }
    for gone in missing_from(&old.options, &new.options, |x| x.id.as_str()) {
        out.push(
            Change::new(
                "option removed",
                format!("{id} option `{}`", gone.id),
                Class::Breaking,
            )
            .at(format!("{base}/options"))
            .values(Some(gone.text.get(locale, locale).into()), None),
        );
    }
    let order = |q: &Question| -> Vec<String> { q.options.iter().map(|o| o.id.clone()).collect() };
    let (mut before, mut after) = (order(old), order(new));
    before.retain(|o| after.contains(o));
    after.retain(|o| before.contains(o));
    if before != after {
        out.push(
            Change::new("options reordered", id.to_string(), Class::Content)
                .at(format!("{base}/options"))
                .values(
                    Some(before.join(", ").into()),
                    Some(after.join(", ").into()),
                ),
        );
    }
}

fn compare_metrics(
    old: &Survey,
    new: &Survey,
    renames: &HashMap<String, String>,
    out: &mut Vec<Change>,
) {
    let locale = new.default_locale();
    let renamed = |id: &String| renames.get(id).unwrap_or(id).clone();
    for (i, metric) in new.metrics.iter().enumerate() {
        let pointer = format!("/metrics/{i}");
        let location = format!("metric `{}`", metric.id);
        let Some(before) = old.metrics.iter().find(|m| m.id == metric.id) else {
            out.push(
                Change::new("metric added", location, Class::Content)
                    .at(pointer)
                    .values(None, Some(definition(metric))),
            );
            continue;
        };
        let mut comparable = before.clone();
        comparable.question = comparable.question.as_ref().map(renamed);
        comparable.questions = comparable.questions.iter().map(renamed).collect();
        comparable.title.clone_from(&metric.title);
        if comparable != *metric {
            out.push(
                Change::new("metric changed", location.clone(), Class::Breaking)
                    .at(pointer.clone())
                    .values(Some(definition(before)), Some(definition(metric))),
            );
        }
        let place = TextPlace {
            what: "metric title",
            location,
            pointer: format!("{pointer}/title"),
            meaningful: false,
        };
        compare_text(
            &place,
            before.title.as_ref(),
            metric.title.as_ref(),
            locale,
            out,
        );
    }
    for gone in missing_from(&old.metrics, &new.metrics, |x| x.id.as_str()) {
        out.push(
            Change::new(
                "metric removed",
                format!("metric `{}`", gone.id),
                Class::Content,
            )
            .at("/metrics")
            .values(Some(definition(gone)), None),
        );
    }
}

/// A metric's definition without its title, as a compact string.
fn definition(metric: &crate::model::Metric) -> Value {
    let mut value = serde_json::to_value(metric).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.shift_remove("id");
        map.shift_remove("title");
    }
    value.to_string().into()
}

fn compare_distributions(
    old: Option<&Distribution>,
    new: Option<&Distribution>,
    out: &mut Vec<Change>,
) {
    let empty = Distribution {
        survey: None,
        rules: Vec::new(),
        alerts: Vec::new(),
    };
    let (old, new) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    if old.survey != new.survey {
        out.push(
            Change::new("survey changed", "distribution", Class::Operational)
                .in_distribution()
                .at("/survey")
                .values(
                    old.survey.clone().map(Value::from),
                    new.survey.clone().map(Value::from),
                ),
        );
    }
    compare_listed(
        &Listed {
            what: "rule",
            list: "/rules",
            id: |r: &Rule| r.id.as_str(),
            note: |r: &Rule| r.channel.name().to_string(),
        },
        &old.rules,
        &new.rules,
        out,
    );
    compare_listed(
        &Listed {
            what: "alert",
            list: "/alerts",
            id: |a: &Alert| a.id.as_str(),
            note: |a: &Alert| format!("when {}", a.when),
        },
        &old.alerts,
        &new.alerts,
        out,
    );
}

/// A list of a distribution file whose items have ids (rules, alerts): how to name them.
struct Listed<T> {
    what: &'static str,
    list: &'static str,
    id: fn(&T) -> &str,
    note: fn(&T) -> String,
}

/// Items added, removed, and every changed leaf of the others: all operational, since
/// they change who is contacted or told, and when.
fn compare_listed<T: serde::Serialize>(
    listed: &Listed<T>,
    old: &[T],
    new: &[T],
    out: &mut Vec<Change>,
) {
    let what = listed.what;
    for (i, item) in new.iter().enumerate() {
        let location = format!("{what} `{}`", (listed.id)(item));
        let pointer = format!("{}/{i}", listed.list);
        let value = serde_json::to_value(item).unwrap_or_default();
        match old.iter().find(|o| (listed.id)(o) == (listed.id)(item)) {
            None => out.push(
                Change::new(format!("{what} added"), location, Class::Operational)
                    .in_distribution()
                    .at(pointer)
                    .note((listed.note)(item)),
            ),
            Some(before) => {
                let before = serde_json::to_value(before).unwrap_or_default();
                let mut leaves = Vec::new();
                changed_leaves("", Some(&before), Some(&value), &mut leaves);
                for (path, a, b) in leaves {
                    out.push(
                        Change::new(
                            format!("{} changed", field_name(&path)),
                            format!("{location} {path}"),
                            Class::Operational,
                        )
                        .in_distribution()
                        .at(format!("{pointer}/{}", path.replace('.', "/")))
                        .values(a, b),
                    );
                }
            }
        }
    }
    for gone in missing_from(old, new, listed.id) {
        out.push(
            Change::new(
                format!("{what} removed"),
                format!("{what} `{}`", (listed.id)(gone)),
                Class::Operational,
            )
            .in_distribution()
            .at(listed.list)
            .note((listed.note)(gone)),
        );
    }
}

/// The items of `old` whose id is in none of `new`.
fn missing_from<'a, T>(old: &'a [T], new: &[T], id: fn(&T) -> &str) -> impl Iterator<Item = &'a T> {
    old.iter()
        .filter(move |o| !new.iter().any(|n| id(n) == id(o)))
}

/// The name of the rule's key a dotted path is under: `sample`, `audience`, and for the
/// e-mail's texts the text itself (`subject`), since reviewers look for those by name.
fn field_name(path: &str) -> &str {
    let mut segments = path.split('.');
    match (segments.next(), segments.next()) {
        (Some("email"), Some(text)) => text,
        (Some(top), _) => top,
        (None, _) => path,
    }
}

/// The leaves that differ between two JSON values, as dotted paths with both values.
fn changed_leaves(
    path: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    out: &mut Vec<(String, Option<Value>, Option<Value>)>,
) {
    if old == new {
        return;
    }
    if let (Some(Value::Object(a)), Some(Value::Object(b))) = (old, new) {
        let keys: Vec<&String> = b
            .keys()
            .chain(a.keys().filter(|k| !b.contains_key(*k)))
            .collect();
        for key in keys {
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            changed_leaves(&child, a.get(key), b.get(key), out);
        }
        return;
    }
    out.push((path.to_string(), old.cloned(), new.cloned()));
}
