//! `canvass diff` and `canvass check --base` on real git repositories made in temporary
//! folders: every kind of change classed, the pull-request comment, renamed, added and
//! removed surveys, a workspace in a subfolder, and shallow clones.

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::Command as Canvass;
use predicates::str::contains;
use serde_json::Value;

const SURVEY: &str = "\
id: nps
version: 1
locales: [en, sl]
title: { en: Would you recommend us?, sl: Bi nas priporočili? }
questions:
  - id: recommend
    type: nps
    required: true
    text:
      en: How likely are you to recommend us to a friend?
      sl: Kako verjetno je, da bi nas priporočili prijatelju?
    scale:
      labels:
        0: { en: Not at all likely, sl: Sploh ni verjetno }
        10: { en: Extremely likely, sl: Zelo verjetno }
  - id: reason
    type: text
    text: { en: What is the main reason for your score?, sl: Kaj je glavni razlog za vašo oceno? }
  - id: channel
    type: choice
    when: recommend <= 6
    text: { en: How did you contact us?, sl: Kako ste nas kontaktirali? }
    options:
      - { id: phone, text: { en: Phone, sl: Telefon } }
      - { id: email, text: { en: E-mail, sl: E-pošta } }
  - id: satisfaction
    type: rating
    text: { en: How satisfied are you?, sl: Kako zadovoljni ste? }
    scale: { min: 1, max: 5 }
metrics:
  - { id: nps, kind: nps, question: recommend }
  - { id: csat, kind: top_box, question: satisfaction, values: [4, 5] }
thanks: { en: Thank you!, sl: Hvala! }
";

const DISTRIBUTION: &str = "\
survey: nps
rules:
  - id: relationship
    channel: email
    audience:
      file: ../../audiences/customers.csv
      key: email
      locale: locale
    trigger: { field: signed_up, after: 30d, within: 7d }
    sample: 0.8
    cap: { once_per: 90d }
    window: { days: mon-fri, hours: \"09:00-17:00\", timezone: Europe/Ljubljana }
    reminder: { after: 5d, max: 1 }
    email:
      from: \"Acme <support@example.com>\"
      subject: { en: How are we doing?, sl: Kako nam gre? }
";

const AUDIENCE: &str = "email,locale,signed_up\nana@example.com,sl,2024-01-01T09:00:00Z\n";

const REASON: &str = "  - id: reason
    type: text
    text: { en: What is the main reason for your score?, sl: Kaj je glavni razlog za vašo oceno? }
";

/// A git repository in a temporary folder, holding a workspace at `workspace`.
struct Repo {
    dir: tempfile::TempDir,
    workspace: PathBuf,
}

impl Repo {
    /// A repository whose `main` holds the nps survey, on a branch `change`.
    fn new() -> Repo {
        Repo::in_subfolder("")
    }

    fn in_subfolder(sub: &str) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join(sub);
        let repo = Repo { dir, workspace };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.write("surveys/nps/survey.yaml", SURVEY);
        repo.write("surveys/nps/distribution.yaml", DISTRIBUTION);
        repo.write("audiences/customers.csv", AUDIENCE);
        repo.commit("base");
        repo.git(&["checkout", "-q", "-b", "change"]);
        repo
    }

    fn top(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str]) -> String {
        git(self.top(), args)
    }

    fn write(&self, file: &str, text: &str) {
        let path = self.workspace.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.workspace.join(file)).unwrap()
    }

    /// Replaces `from` (which must be there) with `to` in a workspace file.
    fn edit(&self, file: &str, from: &str, to: &str) {
        let text = self.read(file);
        assert!(text.contains(from), "{file} has no {from:?}");
        self.write(file, &text.replacen(from, to, 1));
    }

    fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
    }

    fn canvass(&self, args: &[&str]) -> Canvass {
        let mut cmd = Canvass::cargo_bin("canvass").unwrap();
        cmd.current_dir(&self.workspace)
            .env("NO_COLOR", "1")
            .args(args);
        cmd
    }

    fn diff_json(&self) -> Value {
        let out = self
            .canvass(&["diff", "--format", "json"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out).unwrap()
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The changes of the one survey in a report, as (change, class) pairs.
fn classes(report: &Value) -> Vec<(String, String)> {
    report["surveys"][0]["changes"]
        .as_array()
        .map(|changes| {
            changes
                .iter()
                .map(|c| {
                    (
                        c["change"].as_str().unwrap().to_string(),
                        c["class"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

const SURVEY_FILE: &str = "surveys/nps/survey.yaml";
const DISTRIBUTION_FILE: &str = "surveys/nps/distribution.yaml";

/// (file, from, to, the change expected, its class)
const CASES: &[(&str, &str, &str, &str, &str)] = &[
    (
        SURVEY_FILE,
        "to a friend?",
        "to a colleague?",
        "wording changed",
        "breaking",
    ),
    (
        SURVEY_FILE,
        "to a friend?",
        "to a Friend",
        "wording changed",
        "content",
    ),
    (
        SURVEY_FILE,
        "priporočili prijatelju?",
        "priporočili znancu?",
        "wording changed",
        "content",
    ),
    (
        SURVEY_FILE,
        "sl: Kaj je glavni razlog za vašo oceno? }",
        "}",
        "wording translation removed",
        "content",
    ),
    (
        SURVEY_FILE,
        "type: text\n",
        "type: yes_no\n",
        "type changed",
        "breaking",
    ),
    (
        SURVEY_FILE,
        "{ min: 1, max: 5 }",
        "{ min: 1, max: 7 }",
        "scale changed",
        "breaking",
    ),
    (
        SURVEY_FILE,
        "en: Extremely likely",
        "en: Very likely",
        "label changed",
        "content",
    ),
    (
        SURVEY_FILE,
        "      - { id: email, text: { en: E-mail, sl: E-pošta } }\n",
        "      - { id: email, text: { en: E-mail, sl: E-pošta } }\n      - { id: chat, text: { en: Chat, sl: Klepet } }\n",
        "option added",
        "breaking",
    ),
    (
        SURVEY_FILE,
        "      - { id: email, text: { en: E-mail, sl: E-pošta } }\n",
        "",
        "option removed",
        "breaking",
    ),
    (
        SURVEY_FILE,
        "en: E-mail,",
        "en: Email,",
        "option wording changed",
        "content",
    ),
    (
        SURVEY_FILE,
        "      - { id: phone, text: { en: Phone, sl: Telefon } }\n      - { id: email, text: { en: E-mail, sl: E-pošta } }\n",
        "      - { id: email, text: { en: E-mail, sl: E-pošta } }\n      - { id: phone, text: { en: Phone, sl: Telefon } }\n",
        "options reordered",
        "content",
    ),
    (
        SURVEY_FILE,
        "    required: true\n",
        "",
        "required changed",
        "content",
    ),
    (
        SURVEY_FILE,
        "when: recommend <= 6",
        "when: recommend <= 8",
        "when changed",
        "breaking",
    ),
    (
        SURVEY_FILE,
        "metrics:\n",
        "  - id: improve\n    type: text\n    text: { en: What should we improve?, sl: Kaj naj izboljšamo? }\nmetrics:\n",
        "question added",
        "content",
    ),
    (SURVEY_FILE, REASON, "", "question removed", "content"),
    (
        SURVEY_FILE,
        "  - id: reason\n",
        "  - id: why\n    replaces: reason\n",
        "question renamed",
        "content",
    ),
    (
        SURVEY_FILE,
        "  - id: reason\n",
        "  - id: why\n",
        "question renamed without `replaces`",
        "breaking",
    ),
    (
        SURVEY_FILE,
        "values: [4, 5]",
        "values: [5]",
        "metric changed",
        "breaking",
    ),
    (
        SURVEY_FILE,
        "thanks:",
        "  - { id: effort, kind: mean, question: satisfaction }\nthanks:",
        "metric added",
        "content",
    ),
    (
        SURVEY_FILE,
        "Would you recommend us?",
        "Would you recommend Acme?",
        "title changed",
        "content",
    ),
    (
        DISTRIBUTION_FILE,
        "      locale: locale\n",
        "",
        "audience changed",
        "operational",
    ),
    (
        DISTRIBUTION_FILE,
        "after: 30d",
        "after: 60d",
        "trigger changed",
        "operational",
    ),
    (
        DISTRIBUTION_FILE,
        "sample: 0.8",
        "sample: 0.5",
        "sample changed",
        "operational",
    ),
    (
        DISTRIBUTION_FILE,
        "once_per: 90d",
        "once_per: 30d",
        "cap changed",
        "operational",
    ),
    (
        DISTRIBUTION_FILE,
        "days: mon-fri",
        "days: mon-sat",
        "window changed",
        "operational",
    ),
    (
        DISTRIBUTION_FILE,
        "max: 1",
        "max: 2",
        "reminder changed",
        "operational",
    ),
    (
        DISTRIBUTION_FILE,
        "channel: email",
        "channel: link",
        "channel changed",
        "operational",
    ),
    (
        DISTRIBUTION_FILE,
        "en: How are we doing?",
        "en: How did we do?",
        "subject changed",
        "operational",
    ),
    (
        DISTRIBUTION_FILE,
        "rules:\n",
        "rules:\n  - { id: signature, channel: link }\n",
        "rule added",
        "operational",
    ),
];

#[test]
fn every_kind_of_change_is_classed() {
    for (file, from, to, change, class) in CASES {
        let repo = Repo::new();
        repo.edit(file, from, to);
        let found = classes(&repo.diff_json());
        assert!(
            found.contains(&(change.to_string(), class.to_string())),
            "{from:?} → {to:?}: expected {change} ({class}), found {found:?}"
        );
    }
}

#[test]
fn moving_a_question_is_a_content_change() {
    let repo = Repo::new();
    repo.edit(SURVEY_FILE, REASON, "");
    repo.edit(SURVEY_FILE, "metrics:\n", &format!("{REASON}metrics:\n"));
    let found = classes(&repo.diff_json());
    assert_eq!(
        found,
        vec![("question moved".to_string(), "content".to_string())]
    );
}

#[test]
fn an_unchanged_workspace_has_nothing_to_review() {
    let repo = Repo::new();
    repo.canvass(&["diff"])
        .assert()
        .success()
        .stdout(contains("no survey changed"))
        .stderr(contains("compared with `main`"));
}

#[test]
fn the_pull_request_comment() {
    let repo = Repo::new();
    repo.edit(SURVEY_FILE, "to a friend?", "to a friend or colleague?");
    repo.edit(
        SURVEY_FILE,
        "priporočili prijatelju?",
        "priporočili | znancu?",
    );
    repo.edit(SURVEY_FILE, "en: Extremely likely", "en: \"*Very* likely\"");
    repo.edit(
        SURVEY_FILE,
        "      - { id: email, text: { en: E-mail, sl: E-pošta } }\n",
        "      - { id: email, text: { en: E-mail, sl: E-pošta } }\n      - { id: chat, text: { en: Chat, sl: Klepet } }\n",
    );
    repo.edit(DISTRIBUTION_FILE, "sample: 0.8", "sample: 0.5");
    repo.commit("reword");
    repo.git(&["checkout", "-q", "main"]);
    repo.write(
        "surveys/csat/survey.yaml",
        &SURVEY.replacen("id: nps", "id: csat", 1),
    );
    repo.commit("csat");
    repo.git(&["checkout", "-q", "change"]);
    repo.git(&["merge", "-q", "--no-edit", "main"]);
    repo.edit(
        "surveys/csat/survey.yaml",
        "en: Thank you!",
        "en: Thank you so much!",
    );
    let base = repo.git(&["rev-parse", "--short=7", "main"]);
    let out = repo
        .canvass(&["diff", "--base", "main"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let comment = String::from_utf8(out).unwrap().replace(base.trim(), "BASE");
    insta::assert_snapshot!(comment);
}

#[test]
fn a_renamed_survey_folder_is_a_rename() {
    let repo = Repo::new();
    repo.git(&["mv", "surveys/nps", "surveys/loyalty"]);
    repo.edit("surveys/loyalty/survey.yaml", "id: nps", "id: loyalty");
    repo.edit(
        "surveys/loyalty/distribution.yaml",
        "survey: nps",
        "survey: loyalty",
    );
    let report = repo.diff_json();
    let surveys = report["surveys"].as_array().unwrap();
    assert_eq!(surveys.len(), 1, "{report:#}");
    assert_eq!(surveys[0]["id"], "loyalty");
    assert_eq!(surveys[0]["status"], "renamed");
    assert_eq!(surveys[0]["renamed_from"], "nps");
    let found = classes(&report);
    assert!(found.contains(&("survey renamed".into(), "content".into())));
    assert!(!found.iter().any(|(_, class)| class == "breaking"));
}

#[test]
fn added_and_removed_surveys() {
    let repo = Repo::new();
    repo.git(&["rm", "-q", "-r", "surveys/nps"]);
    let csat = SURVEY
        .replacen("id: nps", "id: csat", 1)
        .replace("How satisfied", "How happy");
    repo.write("surveys/csat/survey.yaml", &csat);
    let report = repo.diff_json();
    let statuses: Vec<(&str, &str)> = report["surveys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [("csat", "added"), ("nps", "removed")]);
    repo.canvass(&["diff"])
        .assert()
        .success()
        .stdout(contains("### csat (new, v1)"))
        .stdout(contains("### nps (removed, was v1)"))
        .stdout(contains("2 operational changes, nothing breaking"));
}

#[test]
fn a_workspace_in_a_subfolder_of_the_repository() {
    let repo = Repo::in_subfolder("cx");
    repo.edit(DISTRIBUTION_FILE, "sample: 0.8", "sample: 0.5");
    let found = classes(&repo.diff_json());
    assert_eq!(found, [("sample changed".into(), "operational".into())]);
}

#[test]
fn check_base_requires_a_version_bump_for_breaking_changes() {
    let repo = Repo::new();
    repo.edit(SURVEY_FILE, "{ min: 1, max: 5 }", "{ min: 1, max: 7 }");
    repo.canvass(&["check", "--base", "main"])
        .assert()
        .code(1)
        .stdout(contains("survey.yaml:29:"))
        .stdout(contains(
            "error[E090]: breaking change without a version bump",
        ))
        .stdout(contains("change `version: 1` on line 2 to `version: 2`"));
    repo.edit(SURVEY_FILE, "version: 1", "version: 2");
    repo.canvass(&["check", "--base", "main", "--deny-warnings"])
        .assert()
        .success();
}

#[test]
fn check_base_warns_about_a_bump_without_a_breaking_change() {
    let repo = Repo::new();
    repo.edit(SURVEY_FILE, "version: 1", "version: 2");
    repo.edit(SURVEY_FILE, "en: Thank you!", "en: Thanks a lot!");
    repo.canvass(&["check", "--base", "main"])
        .assert()
        .success()
        .stdout(contains("survey.yaml:2:10: warning[W091]"));
    repo.canvass(&["check", "--base", "main", "--format", "json"])
        .assert()
        .success()
        .stdout(contains("\"code\": \"W091\""));
    repo.canvass(&["check", "--base", "main", "--deny-warnings"])
        .assert()
        .code(1);
}

#[test]
fn outside_git_diff_fails_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("surveys/nps")).unwrap();
    std::fs::write(dir.path().join("surveys/nps/survey.yaml"), SURVEY).unwrap();
    let mut cmd = Canvass::cargo_bin("canvass").unwrap();
    cmd.current_dir(dir.path())
        .env("GIT_CEILING_DIRECTORIES", dir.path().parent().unwrap())
        .arg("diff")
        .assert()
        .code(2)
        .stderr(contains("not inside a git repository"));
}

/// Clones the repository's `change` branch with one commit of history.
fn shallow_clone(repo: &Repo, extra: &[&str]) -> tempfile::TempDir {
    repo.write(
        "surveys/nps/survey.yaml",
        &SURVEY.replace("max: 5", "max: 7"),
    );
    repo.commit("scale");
    repo.git(&["checkout", "-q", "main"]);
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", repo.top().display());
    let mut args = vec!["clone", "-q", "--depth", "1", "--branch", "change"];
    args.extend(extra);
    args.extend([url.as_str(), "."]);
    git(clone.path(), &args);
    clone
}

#[test]
fn a_shallow_clone_without_the_base_says_how_to_fetch_it() {
    let repo = Repo::new();
    let clone = shallow_clone(&repo, &[]);
    let mut cmd = Canvass::cargo_bin("canvass").unwrap();
    cmd.current_dir(clone.path())
        .args(["diff", "--base", "origin/main"])
        .assert()
        .code(2)
        .stderr(contains("the base `origin/main` is not in this clone"))
        .stderr(contains("git fetch --unshallow"))
        .stderr(contains("git fetch --depth=50 origin main"));
}

#[test]
fn a_shallow_clone_without_the_merge_base_says_how_to_fetch_it() {
    let repo = Repo::new();
    let clone = shallow_clone(&repo, &["--no-single-branch"]);
    let diff = || {
        let mut cmd = Canvass::cargo_bin("canvass").unwrap();
        cmd.current_dir(clone.path()).args(["diff"]);
        cmd
    };
    diff()
        .assert()
        .code(2)
        .stderr(contains("no common commit"))
        .stderr(contains("git fetch --unshallow"));
    git(clone.path(), &["fetch", "-q", "--unshallow"]);
    diff()
        .assert()
        .success()
        .stdout(contains(
            "1 breaking change in `nps` without a version bump",
        ))
        .stderr(contains("origin/HEAD"));
}
