//! `canvass import`, `export` and `report` end to end, on a copy of the example workspace.

mod common;

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
    assert!(markdown.contains("| Metric | Score | 95% interval | n | Method |"));
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
    std::fs::write(
        &file,
        "respondent,submitted_at,recommend,improve,contact,colour\n\
         a@example.com,2026-09-01T10:00:00Z,11,,,\n\
         b@example.com,2026-09-01T10:00:00Z,ten,,,\n\
         c@example.com,2026-09-01T10:00:00Z,10,,yes,\n\
         d@example.com,yesterday,9,,,\n\
         e@example.com,2026-09-01T10:00:00Z,9,,,\n",
    )
    .unwrap();
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
