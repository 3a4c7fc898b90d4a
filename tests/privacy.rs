//! A person's data and the workspace key, end to end: `forget`, `export --respondent`,
//! `prune`, `key rotate`, and what `import` accepts as a respondent key.

mod collector;

use std::path::Path;

use collector::{KEY, Server, count, db, get, post, workspace, write_distribution};
use predicates::prelude::PredicateBooleanExt as _;

fn canvass(root: &Path, key: Option<&str>) -> assert_cmd::Command {
    let mut command = assert_cmd::Command::cargo_bin("canvass").unwrap();
    command.arg("--workspace").arg(root);
    match key {
        Some(key) => command.env("CANVASS_KEY", key),
        None => command.env_remove("CANVASS_KEY"),
    };
    command.env_remove("CANVASS_PREVIOUS_KEY");
    command
}

/// The path of the first link of a kind (`s`, `r`, `u`) in the outbox's e-mail.
fn outbox_link(root: &Path, kind: &str) -> String {
    let outbox = root.join(".canvass/outbox");
    let mail = std::fs::read_dir(outbox).unwrap().next().unwrap().unwrap();
    let text = std::fs::read_to_string(mail.path())
        .unwrap()
        .replace("=\r\n", "")
        .replace("=3D", "=")
        .replace("&amp;", "&");
    let marker = format!("http://127.0.0.1:8080/{kind}/");
    let rest = text.split(&marker).nth(1).expect("a link of that kind");
    let token: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_.?=&".contains(*c))
        .collect();
    format!("/{kind}/{token}")
}

fn write_import(root: &Path, rows: &str) -> std::path::PathBuf {
    let file = root.join("paper.csv");
    std::fs::write(
        &file,
        format!("respondent,submitted_at,score,solved\n{rows}"),
    )
    .unwrap();
    file
}

fn import(root: &Path, file: &Path) -> assert_cmd::assert::Assert {
    canvass(root, Some(KEY))
        .arg("import")
        .arg(file)
        .args(["--survey", "fb"])
        .assert()
}

/// Every value of every table, as text, to look for a person's traces.
fn every_value(root: &Path) -> Vec<(String, String)> {
    let db = db(root);
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut values = Vec::new();
    for table in tables {
        let mut statement = db.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let columns = statement.column_count();
        let rows = statement
            .query_map([], |row| {
                Ok((0..columns)
                    .map(|i| match row.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Text(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                        _ => String::new(),
                    })
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap();
        for row in rows {
            values.push((table.clone(), row.unwrap()));
        }
    }
    values
}

#[tokio::test]
async fn forget_erases_every_trace_but_a_suppression() {
    let ws = workspace(1);
    let root = ws.path();
    write_distribution(root, "http://127.0.0.1:8080");
    canvass(root, Some(KEY))
        .args(["send", "fb", "--yes"])
        .assert()
        .success();
    let form = outbox_link(root, "s");
    {
        let server = Server::start(root);
        let answered = post(server.addr, &form, "score=9&solved=yes").await;
        assert_eq!(answered.status, 200, "{}", answered.body);
        let click = outbox_link(root, "r");
        assert_eq!(get(server.addr, &click).await.status, 200);
    }
    let file = write_import(root, "ana@example.com,2026-09-01T10:00:00Z,7,yes\n");
    import(root, &file).success();
    let recipient = canvass::token::Key::from_base64(KEY)
        .unwrap()
        .recipient("ana@example.com");
    let delivery: String = db(root)
        .query_row("SELECT id FROM deliveries", [], |row| row.get(0))
        .unwrap();

    let access = canvass(root, Some(KEY))
        .args(["export", "--respondent", "ana@example.com"])
        .output()
        .unwrap();
    let access: serde_json::Value = serde_json::from_slice(&access.stdout).unwrap();
    assert_eq!(access["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(access["responses"].as_array().unwrap().len(), 2, "{access}");

    canvass(root, Some(KEY))
        .args(["forget", "ana@example.com"])
        .assert()
        .success()
        .stdout(predicates::str::contains("forgot 1 person: 1 deliveries"));
    let traces: Vec<_> = every_value(root)
        .into_iter()
        .filter(|(_, row)| row.contains(&recipient) || row.contains(&delivery))
        .collect();
    assert_eq!(traces.len(), 1, "{traces:?}");
    assert_eq!(traces[0].0, "suppressions");
    assert!(traces[0].1.contains("erased"));
    assert_eq!(count(root, "SELECT count(*) FROM response_keys"), 0);
    assert_eq!(count(root, "SELECT people FROM erasures"), 1);

    let export = canvass(root, Some(KEY))
        .args(["export", "--survey", "fb"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&export.stdout).lines().count(), 1);
    canvass(root, Some(KEY))
        .args(["plan", "fb"])
        .assert()
        .success()
        .stdout(predicates::str::contains("suppressed 1"));
    canvass(root, Some(KEY))
        .args(["report", "fb"])
        .assert()
        .success();
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join("surveys/fb/results/summary.json")).unwrap(),
    )
    .unwrap();
    let counted: u64 = summary["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["responses"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 0, "the report no longer counts her: {summary}");
    let after = canvass(root, Some(KEY))
        .args(["export", "--respondent", "ana@example.com"])
        .output()
        .unwrap();
    let after: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(after["responses"], serde_json::json!([]));
    assert_eq!(after["suppression"]["reason"], "erased");
}

#[test]
fn prune_deletes_what_is_older_than_the_retention_period() {
    let ws = workspace(1);
    let root = ws.path();
    std::fs::write(root.join("canvass.yaml"), "retention: 30d\n").unwrap();
    let file = write_import(
        root,
        "a@example.com,2026-01-01T10:00:00Z,7,yes\nb@example.com,2026-09-20T10:00:00Z,9,yes\n",
    );
    import(root, &file).success();
    canvass(root, Some(KEY))
        .args(["prune"])
        .env("CANVASS_NOW", "2026-10-01T00:00:00Z")
        .assert()
        .success()
        .stdout(predicates::str::contains("pruned 1 responses"));
    let left: String = db(root)
        .query_row("SELECT submitted_at FROM responses", [], |row| row.get(0))
        .unwrap();
    assert!(left.starts_with("2026-09-20"), "{left}");
    std::fs::write(root.join("canvass.yaml"), "name: Test\n").unwrap();
    canvass(root, Some(KEY))
        .args(["prune"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("retention"));
}

#[tokio::test]
async fn a_rotation_keeps_people_recognised_and_old_links_working() {
    let ws = workspace(1);
    let root = ws.path();
    write_distribution(root, "http://127.0.0.1:8080");
    canvass(root, None)
        .args(["send", "fb", "--yes"])
        .assert()
        .success();
    let unsubscribe = outbox_link(root, "u");
    let dev = std::fs::read_to_string(root.join(".canvass/dev-key")).unwrap();
    let new = canvass::token::generate();
    canvass(root, Some(&new))
        .args(["plan", "fb"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("canvass key rotate"));
    canvass(root, Some(&new))
        .args(["key", "rotate"])
        .assert()
        .success()
        .stdout(predicates::str::contains("1 deliveries"));
    canvass(root, Some(&new))
        .args(["plan", "fb"])
        .assert()
        .success()
        .stdout(predicates::str::contains("already sent 1"));
    let server = {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_canvass"));
        command
            .arg("--workspace")
            .arg(root)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("CANVASS_KEY", &new)
            .env("CANVASS_PREVIOUS_KEY", dev.trim());
        collector::Server::from_command(command)
    };
    let confirmed = post(server.addr, &unsubscribe, "").await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    drop(server);
    canvass(root, Some(&new))
        .args(["plan", "fb"])
        .assert()
        .success()
        .stdout(predicates::str::contains("suppressed 1"));
}

#[test]
fn a_respondent_key_must_be_one_export_writes() {
    let ws = workspace(1);
    let root = ws.path();
    let file = write_import(
        root,
        "key:ana@example.net,2026-09-01T10:00:00Z,7,yes\nkey:,2026-09-01T10:00:00Z,7,yes\n\
         key:0123456789abcdef0123456789abcdef,2026-09-01T10:00:00Z,7,yes\n",
    );
    import(root, &file)
        .failure()
        .stderr(predicates::str::contains("row 2, column `respondent`"))
        .stderr(predicates::str::contains("row 3, column `respondent`"))
        .stderr(predicates::str::contains("row 4").not());
}

#[test]
fn report_refuses_a_segment_of_addresses() {
    let ws = workspace(1);
    let root = ws.path();
    write_distribution(root, "http://127.0.0.1:8080");
    let rules = root.join("surveys/fb/distribution.yaml");
    let text = std::fs::read_to_string(&rules).unwrap();
    std::fs::write(
        &rules,
        text.replace(
            "      name: first_name\n",
            "      name: first_name\n      segments: [contact]\n",
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("audiences/people.csv"),
        "email,first_name,contact\nana@example.com,Ana,ana@example.com\n",
    )
    .unwrap();
    let file = root.join("paper.csv");
    std::fs::write(
        &file,
        "respondent,submitted_at,score,solved,contact\n\
         ana@example.com,2026-09-01T10:00:00Z,7,yes,ana@example.com\n",
    )
    .unwrap();
    import(root, &file).success();
    canvass(root, Some(KEY))
        .arg("report")
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "segment `contact` looks like an e-mail address",
        ))
        .stderr(predicates::str::contains("ana@").not());
    assert!(!root.join("surveys/fb/results").exists(), "nothing written");
}
