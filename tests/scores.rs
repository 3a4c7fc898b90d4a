//! `canvass import`, `export` and `report` end to end, on a copy of the example workspace.

mod common;
mod pg;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn acme() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("acme");
    common::copy_example(&root);
    (dir, root)
}

fn canvass(root: &Path) -> Command {
    let mut cmd = Command::cargo_bin("canvass").unwrap();
    cmd.arg("-w").arg(root).env("CANVASS_KEY", KEY);
    cmd
}

fn import(root: &Path, file: &Path, survey: &str) -> assert_cmd::assert::Assert {
    canvass(root)
        .args(["import", "--survey", survey])
        .arg(file)
        .assert()
}

fn export(root: &Path, survey: &str, format: &str) -> String {
    let out = canvass(root)
        .args(["export", "--survey", survey, "--format", format])
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

fn summary_json(root: &Path, survey: &str) -> serde_json::Value {
    let path = root.join(format!("surveys/{survey}/results/summary.json"));
    serde_json::from_slice(&read(&path)).unwrap()
}

#[test]
fn import_report_check_and_determinism() {
    let (_dir, root) = acme();
    import(&root, &root.join("answers/nps.csv"), "nps")
        .success()
        .stdout(predicate::str::contains("imported 120 responses"));
    import(&root, &root.join("answers/nps.csv"), "nps")
        .success()
        .stdout(predicate::str::contains("imported before"));
    import(
        &root,
        &root.join("answers/support-csat.csv"),
        "support-csat",
    )
    .success();
    canvass(&root).arg("report").assert().success();
    let results = root.join("surveys/nps/results");
    let markdown = String::from_utf8(read(&results.join("summary.md"))).unwrap();
    assert!(markdown.contains("| Metric | Score | 95% interval | n | Of which | Method |"));
    assert!(markdown.contains("v1-nps-trend.svg"));
    let svg = String::from_utf8(read(&results.join("v1-recommend-distribution.svg"))).unwrap();
    assert!(svg.contains("<title") && svg.contains("<desc"));

    let json: serde_json::Value =
        serde_json::from_slice(&read(&results.join("summary.json"))).unwrap();
    assert_eq!(
        canvass::schema::SchemaKind::Summary.errors(&json),
        Vec::<String>::new()
    );
    assert_eq!(json["versions"][0]["metrics"][0]["n"], 120);
    let empty: serde_json::Value =
        serde_json::from_slice(&read(&root.join("surveys/onboarding/results/summary.json")))
            .unwrap();
    assert_eq!(
        empty["versions"][0]["metrics"][0]["score"],
        serde_json::Value::Null
    );
    assert_eq!(
        canvass::schema::SchemaKind::Summary.errors(&empty),
        Vec::<String>::new()
    );

    let first = read(&results.join("summary.md"));
    canvass(&root)
        .args(["report", "--check"])
        .assert()
        .success();
    canvass(&root).arg("report").assert().success().stdout("");
    assert_eq!(
        read(&results.join("summary.md")),
        first,
        "same answers, same bytes"
    );

    std::fs::write(results.join("summary.json"), "{}").unwrap();
    canvass(&root)
        .args(["report", "--check"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("summary.json"));
    assert_eq!(
        read(&results.join("summary.json")),
        b"{}",
        "--check writes nothing"
    );

    // A fresh clone (CI) has no answers store: committed summaries cannot be recomputed,
    // so --check accepts valid ones and still refuses a summary.json of the wrong shape.
    canvass(&root).arg("report").assert().success();
    std::fs::remove_dir_all(root.join(".canvass")).unwrap();
    canvass(&root)
        .args(["report", "--check"])
        .assert()
        .success()
        .stderr(predicate::str::contains("no answers store"));
    std::fs::write(results.join("summary.json"), "{}").unwrap();
    canvass(&root).args(["report", "--check"]).assert().code(1);
}

#[test]
fn every_problem_is_reported_and_nothing_stored() {
    let (dir, root) = acme();
    let file = dir.path().join("bad.csv");
    let rows = "respondent,submitted_at,recommend,improve,contact,colour\n\
         a@example.com,2026-09-01T10:00:00Z,11,,,\n\
         b@example.com,2026-09-01T10:00:00Z,ten,,,\n\
         c@example.com,2026-09-01T10:00:00Z,10,,yes,\n\
         d@example.com,yesterday,9,,,\n\
         e@example.com,2026-09-01T10:00:00Z,9,,,\n";
    // Spreadsheets write CRLF: the rows named must be the same.
    for ending in ["\n", "\r\n"] {
        std::fs::write(&file, rows.replace('\n', ending)).unwrap();
        import(&root, &file, "nps")
            .code(1)
            .stderr(predicate::str::contains(
                "row 1, column `colour`: unknown column",
            ))
            .stderr(predicate::str::contains(
                "row 2, column `recommend`: expected a whole number from 0 to 10, got `11`",
            ))
            .stderr(predicate::str::contains("row 3, column `recommend`"))
            .stderr(predicate::str::contains("row 4").not())
            .stderr(predicate::str::contains("row 5, column `submitted_at`"))
            .stderr(predicate::str::contains(
                "4 problems found; nothing was imported",
            ));
    }
    assert_eq!(
        export(&root, "nps", "csv").lines().count(),
        1,
        "only the header"
    );
}

#[test]
fn export_then_import_round_trips() {
    let (_dir, root) = acme();
    import(&root, &root.join("answers/nps.csv"), "nps").success();
    let csv = export(&root, "nps", "csv");
    assert!(
        !csv.contains("@example"),
        "respondents are exported as keys"
    );
    let jsonl = export(&root, "nps", "jsonl");
    assert_eq!(jsonl.lines().count(), 120);

    let (other_dir, other) = acme();
    let exported = other_dir.path().join("export.csv");
    std::fs::write(&exported, &csv).unwrap();
    import(&other, &exported, "nps").success();
    assert_eq!(export(&other, "nps", "csv"), csv);
    import(&root, &exported, "nps")
        .success()
        .stdout(predicate::str::contains("imported 0 responses"));

    let (json_dir, json_root) = acme();
    let exported = json_dir.path().join("export.jsonl");
    std::fs::write(&exported, &jsonl).unwrap();
    import(&json_root, &exported, "nps").success();
    assert_eq!(export(&json_root, "nps", "csv"), csv);
}

#[test]
fn repeated_columns_and_keys_are_refused_where_they_are() {
    let (dir, root) = acme();
    let csv = dir.path().join("twice.csv");
    std::fs::write(
        &csv,
        "submitted_at,recommend,plan,recommend\n2026-09-01T10:00:00Z,9,free,3\n",
    )
    .unwrap();
    import(&root, &csv, "nps")
        .code(1)
        .stderr(predicate::str::contains(
            "row 1, column `recommend`: the column is repeated (header cells 2 and 4)",
        ));
    let jsonl = dir.path().join("twice.jsonl");
    std::fs::write(
        &jsonl,
        "{\"submitted_at\": \"2026-09-01T10:00:00Z\", \"recommend\": 9}\n\
         {\"submitted_at\": \"2026-09-01T10:00:00Z\", \"recommend\": 9, \"recommend\": 3}\n",
    )
    .unwrap();
    import(&root, &jsonl, "nps")
        .code(1)
        .stderr(predicate::str::contains(
            "row 2, column `(line)`: not a JSON object: the key `recommend` is repeated",
        ));
    assert_eq!(export(&root, "nps", "csv").lines().count(), 1);
}

#[test]
fn a_huge_cell_is_quoted_in_part() {
    let (dir, root) = acme();
    let huge = "9".repeat(5_000_000);
    let csv = dir.path().join("huge.csv");
    std::fs::write(
        &csv,
        format!("submitted_at,recommend\n{huge},{huge}\n2026-09-01T10:00:00Z,x{huge}\n"),
    )
    .unwrap();
    let jsonl = dir.path().join("huge.jsonl");
    std::fs::write(&jsonl, format!("\"{huge}\"\n[{huge}\n")).unwrap();
    for file in [&csv, &jsonl] {
        let out = import(&root, file, "nps").code(1);
        let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
        assert!(stderr.contains(&"9".repeat(50)), "{}", &stderr[..200]);
        for line in stderr.lines() {
            assert!(line.chars().count() < 300, "{}…", &line[..300]);
        }
    }
}

#[test]
fn segment_values_cannot_break_the_markdown() {
    let (dir, root) = acme();
    let csv = dir.path().join("plans.csv");
    let mut rows = String::from("submitted_at,recommend,plan\n");
    for i in 0..12 {
        rows.push_str(&format!(
            "2026-09-01T10:{i:02}:00Z,9,\"a|b <script>alert(1)</script>\"\n"
        ));
    }
    std::fs::write(&csv, rows).unwrap();
    import(&root, &csv, "nps").success();
    canvass(&root).args(["report", "nps"]).assert().success();
    let markdown = String::from_utf8(read(&root.join("surveys/nps/results/summary.md"))).unwrap();
    assert!(!markdown.contains("<script>"), "{markdown}");
    assert!(
        markdown.contains("| a\\|b &lt;script&gt;alert(1)&lt;/script&gt; | 12 |"),
        "{markdown}"
    );
}

#[test]
fn answers_to_questions_that_do_not_apply_are_left_out_with_a_warning() {
    let (dir, root) = acme();
    let file = dir.path().join("paper.csv");
    std::fs::write(
        &file,
        "submitted_at,recommend,improve,contact\n\
         2026-09-01T10:00:00Z,10,faster,yes\n\
         2026-09-01T11:00:00Z,3,faster,yes\n",
    )
    .unwrap();
    import(&root, &file, "nps")
        .success()
        .stdout(predicate::str::contains("imported 2 responses"))
        .stderr(predicate::str::contains(
            "row 2, column `contact`: left out: the question is asked only when recommend <= 6",
        ))
        .stderr(predicate::str::contains(
            "row 2, column `improve`: left out: the question is asked only when recommend <= 8",
        ))
        .stderr(predicate::str::contains("row 3").not())
        .stderr(predicate::str::contains(
            "2 answers to questions that did not apply left out",
        ));
    let csv = export(&root, "nps", "csv");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert_eq!(
        rows.iter().filter(|r| r.contains(",yes")).count(),
        1,
        "{csv}"
    );
}

/// The example's answers imported: the report a CX manager reads, byte for byte.
#[test]
fn the_example_report_reads_as_words() {
    let (_dir, root) = acme();
    import(&root, &root.join("answers/nps.csv"), "nps").success();
    canvass(&root).args(["report", "nps"]).assert().success();
    let results = root.join("surveys/nps/results");
    let markdown = String::from_utf8(read(&results.join("summary.md"))).unwrap();
    insta::assert_snapshot!("example_nps_summary", markdown);
    assert_charts_are_titled_in_words(&results);
}

/// Every chart in a results folder passes [`assert_chart_is_titled_in_words`].
fn assert_charts_are_titled_in_words(results: &Path) {
    for entry in std::fs::read_dir(results).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "svg") {
            assert_chart_is_titled_in_words(&path);
        }
    }
}

/// A chart parses as SVG and its title, shown and in `<title>`, is words rather than ids.
fn assert_chart_is_titled_in_words(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let svg = roxmltree::Document::parse(&text).unwrap();
    let title = svg
        .descendants()
        .find(|n| n.has_tag_name("title"))
        .and_then(|n| n.text())
        .unwrap_or_default();
    assert!(title.split_whitespace().count() >= 3, "{path:?}: {title}");
    assert!(
        !title.contains('_'),
        "{path:?}: an id in the title: {title}"
    );
    let shown = svg
        .descendants()
        .any(|n| n.attribute("class") == Some("title") && n.text() == Some(title));
    assert!(shown, "{path:?}: the title is not visible");
}

/// Three answers: intervals stay on the 1–5 scale, the small sample is flagged, and no
/// chart is drawn for a question nobody answered.
#[test]
fn three_answers_are_flagged_and_stay_on_the_scale() {
    let (dir, root) = acme();
    let file = dir.path().join("three.csv");
    std::fs::write(
        &file,
        "submitted_at,satisfaction\n\
         2026-11-02T10:00:00Z,5\n2026-11-03T10:00:00Z,5\n2026-11-04T10:00:00Z,1\n",
    )
    .unwrap();
    import(&root, &file, "support-csat").success();
    canvass(&root)
        .args(["report", "support-csat"])
        .assert()
        .success();
    let results = root.join("surveys/support-csat/results");
    let markdown = String::from_utf8(read(&results.join("summary.md"))).unwrap();
    insta::assert_snapshot!("three_answers_summary", markdown);
    let json: serde_json::Value =
        serde_json::from_slice(&read(&results.join("summary.json"))).unwrap();
    let mean = &json["versions"][0]["metrics"][1];
    assert_eq!(mean["id"], "satisfaction_mean");
    assert_eq!(mean["interval"]["low"], 1.0, "clipped to the scale: {mean}");
    assert_eq!(
        mean["interval"]["high"], 5.0,
        "clipped to the scale: {mean}"
    );
    assert!(markdown.contains("Small sample"));
    assert!(!results.join("v1-follow_up-distribution.svg").exists());
    for chart in [
        "satisfaction-distribution",
        "csat-trend",
        "satisfaction_mean-trend",
    ] {
        assert_chart_is_titled_in_words(&results.join(format!("v1-{chart}.svg")));
    }
}

/// The README's quickstart sends to the outbox; the committed summaries still pass
/// `report --check`, and outbox messages reach nobody in the response rates.
#[test]
fn report_check_passes_after_the_quickstart() {
    let (_dir, root) = acme();
    canvass(&root)
        .args(["send", "--all", "--yes"])
        .assert()
        .success();
    canvass(&root)
        .args(["report", "--check"])
        .assert()
        .success();
    import(&root, &root.join("answers/nps.csv"), "nps").success();
    canvass(&root).args(["report", "nps"]).assert().success();
    let json = summary_json(&root, "nps");
    for rate in json["versions"][0]["response_rates"].as_array().unwrap() {
        assert_eq!(rate["delivered"], 0, "{rate}");
    }
}

/// A new version starts the trend anew, and both sections say where it breaks.
#[test]
fn the_trend_break_is_marked_where_the_version_changed() {
    let (dir, root) = acme();
    import(&root, &root.join("answers/nps.csv"), "nps").success();
    let survey = root.join("surveys/nps/survey.yaml");
    let text = std::fs::read_to_string(&survey).unwrap();
    std::fs::write(&survey, text.replace("\nversion: 1\n", "\nversion: 2\n")).unwrap();
    let file = dir.path().join("v2.csv");
    std::fs::write(
        &file,
        "submitted_at,recommend\n2026-11-25T10:00:00Z,9\n2026-12-01T10:00:00Z,4\n",
    )
    .unwrap();
    import(&root, &file, "nps").success();
    canvass(&root).args(["report", "nps"]).assert().success();
    let markdown = String::from_utf8(read(&root.join("surveys/nps/results/summary.md"))).unwrap();
    let newer = markdown.find("## Version 2").unwrap();
    let older = markdown.find("## Version 1").unwrap();
    let starts = markdown
        .find("**The trend breaks here.** Version 2 starts anew on 2026-11-25")
        .expect(&markdown);
    let ends = markdown
        .find("**The trend of version 1 ends here** on 2026-11-21")
        .expect(&markdown);
    assert!(
        newer < starts && starts < older && older < ends,
        "{markdown}"
    );
    let json = summary_json(&root, "nps");
    assert_eq!(json["definition"]["version"], 2);
    assert_eq!(json["versions"][0]["trend"][0]["period"], "2026-11");
    assert_eq!(json["versions"][0]["trend"][0]["metrics"][0]["n"], 1);
}

/// A scorecard's items are named by their questions, and its method by its clipping.
#[test]
fn a_scorecard_reads_by_its_questions() {
    let (dir, root) = acme();
    canvass(&root)
        .args(["new", "call-qa", "qa"])
        .assert()
        .success();
    let file = dir.path().join("qa.csv");
    std::fs::write(
        &file,
        "submitted_at,greeting,verified,understood,resolution,courtesy\n\
         2026-11-02T10:00:00Z,yes,yes,no,yes,5\n2026-11-03T10:00:00Z,no,yes,yes,no,3\n",
    )
    .unwrap();
    import(&root, &file, "qa").success();
    canvass(&root).args(["report", "qa"]).assert().success();
    let results = root.join("surveys/qa/results");
    let markdown = String::from_utf8(read(&results.join("summary.md"))).unwrap();
    assert!(
        markdown.contains(
            "| Did the agent open with the standard greeting and give their name? | 1 | 50.0% | 2 |"
        ),
        "{markdown}"
    );
    assert!(
        markdown.contains("(`weighted_share_t_clipped`)"),
        "{markdown}"
    );
    let json = summary_json(&root, "qa");
    assert_eq!(
        canvass::schema::SchemaKind::Summary.errors(&json),
        Vec::<String>::new()
    );
    assert_charts_are_titled_in_words(&results);
}

/// A summary names the commit of the survey file its answers were validated against.
#[test]
fn the_summary_names_the_survey_commit() {
    let (_dir, root) = acme();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["add", "surveys"]);
    git(&["commit", "-qm", "surveys"]);
    import(&root, &root.join("answers/nps.csv"), "nps").success();
    canvass(&root).args(["report", "nps"]).assert().success();
    let json = summary_json(&root, "nps");
    let commit = git(&["log", "-1", "--format=%H", "--", "surveys/nps/survey.yaml"]);
    assert_eq!(json["definition"]["commit"], commit.as_str());
    let markdown = String::from_utf8(read(&root.join("surveys/nps/results/summary.md"))).unwrap();
    assert!(markdown.contains(&commit[..12]), "{markdown}");

    let survey = root.join("surveys/nps/survey.yaml");
    let edited = std::fs::read_to_string(&survey).unwrap() + "\n";
    std::fs::write(&survey, edited).unwrap();
    canvass(&root).args(["report", "nps"]).assert().success();
    let json = summary_json(&root, "nps");
    assert_eq!(json["definition"]["commit"], serde_json::Value::Null);
}

/// `canvass comments` prints the verbatims that pass its filters, and nothing that could
/// drive the terminal.
#[test]
fn comments_are_read_in_the_terminal_never_committed() {
    let (dir, root) = acme();
    let file = dir.path().join("comments.csv");
    std::fs::write(
        &file,
        "submitted_at,recommend,improve\n\
         2026-10-02T10:00:00Z,3,Old and slow\n\
         2026-11-02T10:00:00Z,4,\"Faster \x1b[2Jexports\"\n\
         2026-11-03T10:00:00Z,8,Dark mode\n",
    )
    .unwrap();
    import(&root, &file, "nps").success();
    let out = canvass(&root)
        .args([
            "comments",
            "nps",
            "--since",
            "2026-11-01",
            "--when",
            "recommend <= 6",
        ])
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("improve: Faster  [2Jexports"), "{stdout}");
    assert!(!stdout.contains('\x1b'));
    assert!(!stdout.contains("Old and slow") && !stdout.contains("Dark mode"));
    assert!(stdout.trim_end().ends_with("1 comment"), "{stdout}");
    canvass(&root)
        .args(["comments", "nps", "--when", "recommend <="])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--when `recommend <=`, column 13"));
    canvass(&root).args(["report", "nps"]).assert().success();
    let markdown = String::from_utf8(read(&root.join("surveys/nps/results/summary.md"))).unwrap();
    assert!(!markdown.contains("Faster") && markdown.contains("canvass comments nps"));
}

/// A results folder symlinked out of the workspace is never written through.
#[test]
fn report_writes_only_inside_the_workspace() {
    let (dir, root) = acme();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let results = root.join("surveys/nps/results");
    std::fs::remove_dir_all(&results).unwrap();
    std::fs::write(elsewhere.join("v1-nps-trend.svg"), "theirs").unwrap();
    std::os::unix::fs::symlink(&elsewhere, &results).unwrap();
    import(&root, &root.join("answers/nps.csv"), "nps").success();
    canvass(&root)
        .args(["report", "nps"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("outside the workspace"));
    let left: Vec<_> = std::fs::read_dir(&elsewhere).unwrap().collect();
    assert_eq!(left.len(), 1, "nothing written or removed there");
    assert_eq!(
        std::fs::read(elsewhere.join("v1-nps-trend.svg")).unwrap(),
        b"theirs"
    );
}

/// Every file of every survey's results folder, by path, with its bytes.
fn results(root: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    for survey in std::fs::read_dir(root.join("surveys")).unwrap() {
        let dir = survey.unwrap().path().join("results");
        for file in std::fs::read_dir(&dir).into_iter().flatten() {
            let path = file.unwrap().path();
            files.insert(path.strip_prefix(root).unwrap().to_path_buf(), read(&path));
        }
    }
    files
}

fn on_database(root: &Path, url: &str) -> Command {
    let mut cmd = canvass(root);
    cmd.env("CANVASS_DATABASE_URL", url);
    cmd
}

#[test]
fn a_store_copied_into_postgres_or_imported_there_reports_the_same_bytes() {
    let Some(copied) = pg::Scratch::new() else {
        return;
    };
    let (_dir, root) = acme();
    for (file, survey) in [
        ("answers/nps.csv", "nps"),
        ("answers/support-csat.csv", "support-csat"),
    ] {
        import(&root, &root.join(file), survey).success();
    }
    canvass(&root).arg("report").assert().success();
    let on_sqlite = results(&root);
    assert!(on_sqlite.len() > 6, "{:?}", on_sqlite.keys());

    on_database(&root, &copied.url)
        .args(["store", "copy"])
        .assert()
        .success()
        .stdout(predicate::str::contains("response_rows: 200 rows"));
    on_database(&root, &copied.url)
        .args(["store", "copy"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("already holds a store"));
    std::fs::remove_dir_all(root.join(".canvass")).unwrap();
    on_database(&root, &copied.url)
        .arg("report")
        .assert()
        .success();
    assert_eq!(results(&root), on_sqlite, "the copy reports the same bytes");
    on_database(&root, &copied.url)
        .args(["report", "--check"])
        .assert()
        .success();
    on_database(&root, &copied.url)
        .args(["import", "--survey", "nps"])
        .arg(root.join("answers/nps.csv"))
        .assert()
        .success()
        .stdout(predicate::str::contains("imported before"));

    let imported = pg::Scratch::new().unwrap();
    for (file, survey) in [
        ("answers/nps.csv", "nps"),
        ("answers/support-csat.csv", "support-csat"),
    ] {
        on_database(&root, &imported.url)
            .args(["import", "--survey", survey])
            .arg(root.join(file))
            .assert()
            .success();
    }
    on_database(&root, &imported.url)
        .arg("report")
        .assert()
        .success();
    assert_eq!(
        results(&root),
        on_sqlite,
        "an import into PostgreSQL reports the same"
    );
    assert_eq!(imported.count("SELECT count(*) FROM responses"), 200);
}
