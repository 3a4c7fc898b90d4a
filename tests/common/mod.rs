//! Helpers shared by the rendering tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use canvass::model::{Rule, Survey};
use canvass::token::{Claims, Key};

/// The example workspace shipped with the repository.
pub fn example_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme")
}

/// A survey of the example workspace and its rules.
pub fn example(id: &str) -> (Survey, Vec<Rule>) {
    let (ws, problems) = canvass::workspace::Workspace::load(&example_root());
    assert!(problems.is_empty(), "{problems:?}");
    let entry = ws.survey(id).expect("the example survey exists");
    let survey = entry.survey.as_ref().unwrap().value.clone();
    (survey, entry.rules().to_vec())
}

/// A token signed with a fixed key, so that snapshots are stable.
pub fn fixed_token(survey: &Survey) -> String {
    let key = Key::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
    key.sign(&Claims {
        survey: survey.id.clone(),
        version: survey.version,
        rule: "after-ticket".into(),
        recipient: key.recipient("ana.novak@example.com"),
        delivery: "d1".into(),
        expires: 1_900_000_000,
        kind: canvass::token::TokenKind::Delivery,
    })
}

/// A fixed `Date` (2027-01-15).
pub fn fixed_date() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// The message with its random MIME boundaries replaced by a fixed one.
pub fn normalize_boundaries(eml: &[u8]) -> String {
    let mut text = String::from_utf8(eml.to_vec()).unwrap();
    let boundaries: Vec<String> = text
        .match_indices("boundary=\"")
        .map(|(at, m)| {
            let rest = &text[at + m.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect();
    for (i, boundary) in boundaries.iter().enumerate() {
        text = text.replace(boundary.as_str(), &format!("BOUNDARY{i}"));
    }
    text.replace("\r\n", "\n")
}

/// Whether an external tool runs: when it does not, the test skips with a note, unless
/// `CI` is set, where it fails.
pub fn require(what: &str, command: &[&str]) -> bool {
    let ok = Command::new(command[0])
        .args(&command[1..])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} is needed when CI is set (`{}` failed)",
            command.join(" ")
        );
        eprintln!(
            "note: skipping, {what} is not available (`{}` failed)",
            command.join(" ")
        );
    }
    ok
}

/// Copies the example workspace into `dir`.
pub fn copy_example(dir: &Path) {
    copy_dir(&example_root(), dir);
}

/// Copies a folder recursively, leaving out any `.canvass` state folder.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != ".canvass" {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Fails the test with the command's standard error when it did not succeed.
pub fn assert_success(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Starts a server process and returns it with the first line it prints (where it
/// listens), so a test can wait for it without sleeping.
pub fn spawn_reading_first_line(command: &mut Command) -> (std::process::Child, String) {
    use std::io::BufRead as _;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

/// Fails unless Slack's own SDK (slack-sdk) parses every message's blocks back to the same
/// JSON and finds them within Slack's limits; skips, with a note, without the SDK.
pub fn assert_slack_parses(messages: &[serde_json::Value]) {
    if !require("Python's slack-sdk", &["python3", "-c", "import slack_sdk"]) {
        return;
    }
    let script = r#"
import json, sys
from slack_sdk.models.blocks import Block
for message in json.load(sys.stdin):
    assert message["text"], "a notification text"
    blocks = Block.parse_all(message["blocks"])
    assert len(blocks) == len(message["blocks"]) <= 50, "unknown block types"
    for block, raw in zip(blocks, message["blocks"]):
        block.validate_json()
        assert block.to_dict() == raw, (block.to_dict(), raw)
print("ok")
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), messages).unwrap();
    assert_success(&child.wait_with_output().unwrap());
}
