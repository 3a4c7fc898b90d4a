//! `canvass init` and `canvass new`: a working workspace and surveys from the library.
//!
//! The built-in library (`surveys/` in canvass's own repository) is embedded in the
//! binary, so `canvass new nps feedback` works offline and always matches the schemas of
//! the canvass version that wrote it.

use std::path::{Path, PathBuf};

use crate::schema::SchemaKind;
use crate::workspace::{DISTRIBUTION_FILE, SETTINGS_FILE, SURVEY_FILE, SURVEYS_DIR};

/// A built-in survey template.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    /// The name given to `canvass new`.
    pub name: &'static str,
    /// One line on when to use it.
    pub summary: &'static str,
    /// The survey file.
    pub survey: &'static str,
}

macro_rules! template {
    ($name:literal, $summary:literal) => {
        Template {
            name: $name,
            summary: $summary,
            survey: include_str!(concat!("../surveys/", $name, "/survey.yaml")),
        }
    };
}

/// The built-in library, in the order `canvass new --list` shows it.
pub const TEMPLATES: [Template; 8] = [
    template!(
        "csat",
        "customer satisfaction: a 1–5 rating after an interaction"
    ),
    template!("nps", "Net Promoter Score: 0–10 likelihood to recommend"),
    template!("ces", "Customer Effort Score: 1–7, how easy it was"),
    template!("milestone", "sent N days after sign-up or purchase"),
    template!(
        "fcr",
        "first-contact resolution: was it solved the first time"
    ),
    template!("mystery-shopper", "an evaluator's weighted checklist"),
    template!("call-qa", "a weighted call-monitoring scorecard"),
    template!("suggestion-box", "open, voluntary feedback"),
];

/// Why scaffolding failed.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// No template of that name.
    #[error("there is no template `{name}`{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownTemplate {
        /// The name asked for.
        name: String,
        /// A close name.
        suggestion: Option<String>,
    },
    /// The id is not a valid survey id.
    #[error(
        "`{0}` is not a valid survey id: use lower-case letters, digits, `-` and `_`, starting with a letter or digit"
    )]
    BadId(String),
    /// The target exists; canvass never overwrites a user's file.
    #[error("{0} already exists; canvass does not overwrite it")]
    Exists(PathBuf),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Finds a template by name.
pub fn template(name: &str) -> Result<&'static Template, ScaffoldError> {
    TEMPLATES
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| ScaffoldError::UnknownTemplate {
            name: name.to_string(),
            suggestion: crate::schema::suggest(name, &TEMPLATES.map(|t| t.name)),
        })
}

/// Whether `id` is a valid survey id (the schema's pattern).
pub fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && id.len() <= 64
}

/// The survey text of `template` with its id replaced, comments and layout kept.
pub fn with_id(template: &Template, id: &str) -> String {
    let mut out = String::with_capacity(template.survey.len());
    let mut replaced = false;
    for line in template.survey.split_inclusive('\n') {
        if !replaced && line.starts_with("id:") {
            out.push_str(&format!("id: {id}\n"));
            replaced = true;
        } else {
            out.push_str(line);
        }
    }
    out
}

/// `canvass new TEMPLATE ID`: writes `surveys/ID/survey.yaml` and an empty
/// `distribution.yaml`; returns the files written.
pub fn new_survey(
    root: &Path,
    template_name: &str,
    id: &str,
) -> Result<Vec<PathBuf>, ScaffoldError> {
    let template = template(template_name)?;
    if !valid_id(id) {
        return Err(ScaffoldError::BadId(id.to_string()));
    }
    let dir = root.join(SURVEYS_DIR).join(id);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    let files = [
        (dir.join(SURVEY_FILE), with_id(template, id)),
        (dir.join(DISTRIBUTION_FILE), empty_distribution(id)),
    ];
    write_new(&files)?;
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

fn empty_distribution(id: &str) -> String {
    format!(
        "# yaml-language-server: $schema=../../schemas/distribution.schema.json\n\
         # Who gets `{id}`, when and how: see `canvass schema distribution` or the README.\n\
         survey: {id}\n\
         rules: []\n"
    )
}

const INIT_SETTINGS: &str = "\
# yaml-language-server: $schema=schemas/workspace.schema.json
# Workspace settings. Every key is optional.
name: My company
# Where `canvass serve` is reachable from your customers (response links point here).
base_url: https://feedback.example.com
unsubscribe:
  mailto: unsubscribe@example.com
report:
  period: month
  min_n: 10
";

const INIT_DISTRIBUTION: &str = "\
# yaml-language-server: $schema=../../schemas/distribution.schema.json
survey: support-csat
rules:
  - id: after-ticket
    channel: email
    audience:
      # Audience files hold personal data: keep real ones outside the repository.
      file: ../../audiences/example.csv
      key: email
      locale: locale
      name: first_name
    cap: { once_per: 30d }
    expires: 14d
    email:
      from: \"Support <support@example.com>\"
      subject:
        en: \"{{ name }}, how did we do?\"
        sl: \"{{ name }}, kako smo se odrezali?\"
        lt: \"{{ name }}, kaip mums sekėsi?\"
        cs: \"{{ name }}, jak jsme si vedli?\"
        ms: \"{{ name }}, bagaimana prestasi kami?\"
";

const INIT_AUDIENCE: &str = "\
email,first_name,locale
ana@example.com,Ana,sl
tom@example.com,Tom,en
";

const INIT_GITIGNORE: &str = "\
# canvass's local state: the delivery ledger, answers and the outbox.
.canvass/
";

const INIT_WORKFLOW: &str = "\
# Checks surveys on every push and pull request; on a pull request, also checks that
# breaking changes bump the survey's `version`, and comments with what changed in meaning.
name: canvass
on:
  push:
  pull_request:
permissions:
  contents: read
  pull-requests: write
jobs:
  check:
    runs-on: ubuntu-latest
    env:
      BASE: origin/${{ github.base_ref }}
    steps:
      - uses: actions/checkout@v4
        with:
          # canvass diff reads the base branch's files from git: fetch the history.
          fetch-depth: 0
      - run: cargo install canvass --locked
      - name: Check surveys
        if: github.event_name != 'pull_request'
        run: canvass check --format github
      - name: Check surveys and version discipline
        if: github.event_name == 'pull_request'
        run: canvass check --base \"$BASE\" --format github
      - name: Summaries are up to date
        run: canvass report --check
      - name: Describe the change
        id: describe
        if: ${{ !cancelled() && github.event_name == 'pull_request' }}
        run: canvass diff --base \"$BASE\" --format md > canvass-diff.md
      - name: Comment on the pull request
        # Pull requests from forks get a read-only token: the comment fails, the job does not.
        if: ${{ !cancelled() && steps.describe.outcome == 'success' }}
        continue-on-error: true
        env:
          GH_TOKEN: ${{ github.token }}
          PR: ${{ github.event.pull_request.number }}
        run: gh pr comment \"$PR\" --body-file canvass-diff.md --edit-last || gh pr comment \"$PR\" --body-file canvass-diff.md
";

/// `canvass init [DIR]`: a workspace that passes `canvass check` as it is; returns the
/// files written. Refuses to touch a folder that already has a `canvass.yaml`.
pub fn init(root: &Path) -> Result<Vec<PathBuf>, ScaffoldError> {
    if root.join(SETTINGS_FILE).exists() {
        return Err(ScaffoldError::Exists(root.join(SETTINGS_FILE)));
    }
    let survey_dir = root.join(SURVEYS_DIR).join("support-csat");
    if survey_dir.exists() {
        return Err(ScaffoldError::Exists(survey_dir));
    }
    let csat = template("csat")?;
    let mut files = vec![
        (root.join(SETTINGS_FILE), INIT_SETTINGS.to_string()),
        (survey_dir.join(SURVEY_FILE), with_id(csat, "support-csat")),
        (
            survey_dir.join(DISTRIBUTION_FILE),
            INIT_DISTRIBUTION.to_string(),
        ),
        (
            root.join("audiences/example.csv"),
            INIT_AUDIENCE.to_string(),
        ),
        (
            root.join(".github/workflows/canvass.yml"),
            INIT_WORKFLOW.to_string(),
        ),
    ];
    if !root.join(".gitignore").exists() {
        files.push((root.join(".gitignore"), INIT_GITIGNORE.to_string()));
    }
    for kind in SchemaKind::ALL {
        files.push((
            root.join("schemas").join(kind.file_name()),
            kind.text().to_string(),
        ));
    }
    write_new(&files)?;
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

/// Writes files that must not exist yet, creating folders; on failure nothing is left
/// half-written.
fn write_new(files: &[(PathBuf, String)]) -> Result<(), ScaffoldError> {
    if let Some((path, _)) = files.iter().find(|(p, _)| p.exists()) {
        return Err(ScaffoldError::Exists(path.clone()));
    }
    let mut written = Vec::new();
    for (path, text) in files {
        let result = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| crate::fsutil::write_atomic(path, text.as_bytes()));
        if let Err(source) = result {
            for done in &written {
                let _ = std::fs::remove_file(done);
            }
            return Err(ScaffoldError::Io {
                path: path.clone(),
                source,
            });
        }
        written.push(path.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated() {
        assert!(valid_id("support-csat"));
        assert!(!valid_id("Support"));
        assert!(!valid_id("-x"));
        assert!(!valid_id(""));
    }

    #[test]
    fn every_template_has_its_own_id_line() {
        for t in TEMPLATES {
            assert!(
                t.survey.contains(&format!("\nid: {}\n", t.name)),
                "{}",
                t.name
            );
            assert!(with_id(&t, "abc").contains("\nid: abc\n"));
        }
    }

    #[test]
    fn the_workflow_comments_even_when_the_check_fails() {
        let source = crate::load::Source::new("canvass.yml", INIT_WORKFLOW);
        let (json, _) = crate::load::to_json(crate::load::parse(&source).unwrap());
        let steps = json["jobs"]["check"]["steps"].as_array().unwrap();
        let step = |name: &str| steps.iter().find(|s| s["name"] == name).unwrap();
        for name in ["Describe the change", "Comment on the pull request"] {
            assert!(step(name)["if"].as_str().unwrap().contains("!cancelled()"));
        }
        assert!(
            step("Comment on the pull request")["if"]
                .as_str()
                .unwrap()
                .contains("steps.describe.outcome")
        );
        assert!(
            step("Check surveys and version discipline")["run"]
                .as_str()
                .unwrap()
                .contains("--base")
        );
        assert_eq!(steps[0]["with"]["fetch-depth"], 0);
    }

    #[test]
    fn unknown_templates_get_a_suggestion() {
        let err = template("nsp").unwrap_err().to_string();
        assert!(err.contains("did you mean `nps`"), "{err}");
    }
}
