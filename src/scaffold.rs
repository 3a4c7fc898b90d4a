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

/// `canvass new TEMPLATE ID`: writes `surveys/ID/survey.yaml`, an empty
/// `distribution.yaml` and the schemas their `$schema` lines name when `schemas/` lacks
/// them; returns the files written.
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
    let mut files = vec![
        (dir.join(SURVEY_FILE), with_id(template, id)),
        (dir.join(DISTRIBUTION_FILE), empty_distribution(id)),
    ];
    files.extend(schemas(root).filter(|(path, _)| !path.exists()));
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
        lt: \"Kaip mums sekėsi?\"
        cs: \"Jak jsme si vedli?\"
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

/// The workflow `canvass init` writes, with `{version}` and `{repository}` to fill: checks
/// on every push and pull request, and a pull-request comment kept up to date under its
/// own marker. Only the commenting job may write to pull requests.
const INIT_WORKFLOW: &str = "\
# Checks surveys on every push and pull request; on a pull request, also checks that
# breaking changes bump the survey's `version`, and comments with what changed in meaning.
name: canvass
on:
  push:
  pull_request:
permissions:
  contents: read
jobs:
  check:
    runs-on: ubuntu-latest
    env:
      BASE: origin/${{ github.base_ref }}
    steps:
      - uses: actions/checkout@v5
        with:
          # canvass diff reads the base branch's files from git: fetch the history.
          fetch-depth: 0
          persist-credentials: false
      - name: Cache canvass
        id: cache
        uses: actions/cache@v4
        with:
          path: ~/.cargo/bin/canvass
          key: canvass-${{ runner.os }}-{version}
      - name: Install canvass {version}
        if: steps.cache.outputs.cache-hit != 'true'
        run: cargo install --git {repository} --tag v{version} --locked canvass
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
      - name: Keep the description for the comment
        if: ${{ !cancelled() && steps.describe.outcome == 'success' }}
        uses: actions/upload-artifact@v5
        with:
          name: canvass-diff
          path: canvass-diff.md
  comment:
    needs: check
    if: ${{ !cancelled() && github.event_name == 'pull_request' }}
    runs-on: ubuntu-latest
    permissions:
      pull-requests: write
    # Pull requests from forks get a read-only token: the comment fails, the run does not.
    continue-on-error: true
    steps:
      - uses: actions/download-artifact@v5
        with:
          name: canvass-diff
      - name: Comment on the pull request
        env:
          GH_TOKEN: ${{ github.token }}
          COMMENTS: repos/${{ github.repository }}/issues/${{ github.event.pull_request.number }}/comments
          EDIT: repos/${{ github.repository }}/issues/comments
        run: |
          marker='<!-- canvass diff -->'
          { echo \"$marker\"; cat canvass-diff.md; } > comment.md
          id=\"$(gh api --paginate \"$COMMENTS\" --jq \".[] | select(.body | startswith(\\\"$marker\\\")) | .id\" | head -n 1)\"
          if [ -n \"$id\" ]; then
            gh api --method PATCH \"$EDIT/$id\" -F body=@comment.md > /dev/null
          else
            gh api \"$COMMENTS\" -F body=@comment.md > /dev/null
          fi
";

/// The workflow for this canvass: installed from its repository at its own version's tag.
fn workflow() -> String {
    INIT_WORKFLOW
        .replace("{version}", env!("CARGO_PKG_VERSION"))
        .replace("{repository}", env!("CARGO_PKG_REPOSITORY"))
}

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
        (root.join(".github/workflows/canvass.yml"), workflow()),
    ];
    if !root.join(".gitignore").exists() {
        files.push((root.join(".gitignore"), INIT_GITIGNORE.to_string()));
    }
    files.extend(schemas(root));
    write_new(&files)?;
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

/// Every schema file, as `schemas/` of the workspace at `root` holds it for editors.
fn schemas(root: &Path) -> impl Iterator<Item = (PathBuf, String)> + '_ {
    SchemaKind::ALL.into_iter().map(move |kind| {
        (
            root.join("schemas").join(kind.file_name()),
            kind.text().to_string(),
        )
    })
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

    fn workflow_json() -> serde_json::Value {
        let source = crate::load::Source::new("canvass.yml", workflow());
        crate::load::to_json(crate::load::parse(&source).unwrap()).0
    }

    #[test]
    fn the_workflow_comments_even_when_the_check_fails() {
        let json = workflow_json();
        let steps = json["jobs"]["check"]["steps"].as_array().unwrap();
        let step = |name: &str| steps.iter().find(|s| s["name"] == name).unwrap();
        assert!(
            step("Describe the change")["if"]
                .as_str()
                .unwrap()
                .contains("!cancelled()")
        );
        assert!(
            json["jobs"]["comment"]["if"]
                .as_str()
                .unwrap()
                .contains("!cancelled()")
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
    fn the_workflow_installs_this_version_and_writes_only_where_it_comments() {
        let json = workflow_json();
        let version = env!("CARGO_PKG_VERSION");
        let text = workflow();
        assert!(text.contains(&format!(
            "cargo install --git {} --tag v{version} --locked canvass",
            env!("CARGO_PKG_REPOSITORY")
        )));
        assert!(!text.contains("{version}") && !text.contains("{repository}"));
        assert_eq!(json["permissions"], serde_json::json!({"contents": "read"}));
        assert_eq!(json["jobs"]["check"].get("permissions"), None);
        assert_eq!(
            json["jobs"]["comment"]["permissions"],
            serde_json::json!({"pull-requests": "write"})
        );
        let run = json["jobs"]["comment"]["steps"][1]["run"].as_str().unwrap();
        assert!(run.contains("<!-- canvass diff -->") && !run.contains("--edit-last"));
    }

    #[test]
    fn unknown_templates_get_a_suggestion() {
        let err = template("nsp").unwrap_err().to_string();
        assert!(err.contains("did you mean `nps`"), "{err}");
    }
}
