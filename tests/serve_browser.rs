//! A person answers in real headless Chromium: `canvass send` writes the e-mail to the
//! outbox, the browser opens its one-click link from `canvass serve`, the landing page
//! confirms the answer, the person completes the form and submits it, and the answer is
//! in the store. Needs chromium, node and puppeteer-core (skipped without them unless CI
//! is set).

mod collector;

use std::path::Path;
use std::process::Command;

use collector::{KEY, Server, db, send_all, workspace, write_distribution};

const CHROMIUM: &str = "/usr/bin/chromium";

/// NODE_PATH for puppeteer-core: the caller's, else npm's global modules.
fn node_path() -> Option<String> {
    if let Ok(path) = std::env::var("NODE_PATH") {
        return Some(path);
    }
    let output = Command::new("npm").args(["root", "-g"]).output().ok()?;
    Some(String::from_utf8(output.stdout).ok()?.trim().to_string())
}

/// Whether chromium, node and puppeteer-core are here; without them the test is skipped,
/// unless CI is set, where it fails.
fn browser_ready() -> Option<String> {
    let node_path = node_path().unwrap_or_default();
    let puppeteer = Command::new("node")
        .args(["-e", "require('puppeteer-core')"])
        .env("NODE_PATH", &node_path)
        .status()
        .is_ok_and(|s| s.success());
    if Path::new(CHROMIUM).exists() && puppeteer {
        return Some(node_path);
    }
    let missing = "chromium, node or the npm package puppeteer-core is missing";
    assert!(std::env::var_os("CI").is_none(), "{missing}");
    eprintln!("skipped: {missing}");
    None
}

/// The one-click link answering `q=score&v=9` in a message.
fn one_click_link(message: &str, base_url: &str) -> Option<String> {
    message
        .match_indices(&format!("{base_url}/r/"))
        .map(|(at, _)| {
            let rest = &message[at..];
            let end = rest
                .find(|c: char| c == '"' || c == '<' || c == '>' || c.is_whitespace())
                .unwrap_or(rest.len());
            rest[..end].replace("&amp;", "&")
        })
        .find(|link| link.ends_with("q=score&v=9"))
}

#[test]
fn a_person_answers_an_emailed_one_click_link_in_chromium() {
    let Some(node_path) = browser_ready() else {
        return;
    };
    let ws = workspace(1);
    let server = Server::start(ws.path());
    let base_url = server.url("");
    write_distribution(ws.path(), &base_url);
    let messages = send_all(ws.path());
    let link = messages
        .iter()
        .find_map(|m| one_click_link(m, &base_url))
        .unwrap_or_else(|| panic!("no one-click link in the outbox: {messages:?}"));

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/one_click.js");
    let browser = Command::new("node")
        .args([script, &link, "solved=yes"])
        .env("NODE_PATH", node_path)
        .env("CHROMIUM", CHROMIUM)
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&browser.stdout);
    assert!(
        browser.status.success(),
        "{page}\n{}",
        String::from_utf8_lossy(&browser.stderr)
    );
    assert!(page.contains("Thanks a lot!"), "{page}");

    let (answers, confirmed, source): (String, bool, String) = db(ws.path())
        .query_row(
            "SELECT answers, confirmed, source FROM responses WHERE counts = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(answers, r#"{"score":9,"solved":"yes"}"#);
    assert!(confirmed);
    assert_eq!(source, "form");

    let report = Command::new(env!("CARGO_BIN_EXE_canvass"))
        .args(["--workspace"])
        .arg(ws.path())
        .args(["report", "fb"])
        .env("CANVASS_KEY", KEY)
        .output()
        .unwrap();
    assert!(report.status.success(), "{report:?}");
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ws.path().join("surveys/fb/results/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["versions"][0]["responses"], 1, "{summary}");
}
