//! Response rates end to end: messages sent through a real SMTP server (aiosmtpd), an
//! answer given through `canvass serve` on the link one of them carries, answers imported
//! beside them, then `canvass report` on a copy of the example workspace.

mod collector;
mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;

/// The SMTP server of `tests/smtp/server.py`, writing what it accepts to a folder.
struct Smtp {
    child: Child,
    port: u16,
}

impl Smtp {
    /// Starts the server on a free loopback port, or `None` (a skip, failing under CI)
    /// when aiosmtpd is not installed.
    fn start(folder: &Path) -> Option<Smtp> {
        let installed = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !installed {
            assert!(std::env::var_os("CI").is_none(), "CI needs aiosmtpd");
            eprintln!("note: skipping, aiosmtpd is not installed (pip install aiosmtpd)");
            return None;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/server.py");
        let (child, line) =
            common::spawn_reading_first_line(Command::new("python3").arg(script).arg(folder));
        let port = line.trim().parse().expect("the server prints its port");
        Some(Smtp { child, port })
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn canvass(root: &Path) -> Command {
    let mut command = Command::cargo_bin("canvass").unwrap();
    command
        .arg("--workspace")
        .arg(root)
        .env("CANVASS_KEY", collector::KEY)
        .env_remove("CANVASS_SMTP_URL")
        .env_remove("CANVASS_DKIM_KEY")
        .stdin(Stdio::null());
    command
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap();
    common::assert_success(&output);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The response token of a received message: its one-click unsubscribe link carries it.
fn token(eml: &str) -> String {
    let head = eml.split("\r\n\r\n").next().unwrap_or_default();
    let start = head.find("/u/").expect("a List-Unsubscribe link") + 3;
    head[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect()
}

#[tokio::test]
async fn a_rule_s_rate_is_its_answers_over_the_people_its_messages_reached() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("acme");
    common::copy_example(&root);
    let mail = dir.path().join("mail");
    std::fs::create_dir_all(&mail).unwrap();
    let Some(smtp) = Smtp::start(&mail) else {
        return;
    };
    let url = format!("smtp://127.0.0.1:{}?tls=none", smtp.port);
    run(canvass(&root)
        .args(["send", "nps", "--limit", "3", "--yes"])
        .env("CANVASS_SMTP_URL", &url));
    let received: Vec<String> = std::fs::read_dir(&mail)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(received.len(), 3, "three people reached");

    let server = collector::Server::start(&root);
    let answer = collector::post(
        server.addr,
        &format!("/s/{}", token(&received[0])),
        "recommend=9",
    )
    .await;
    assert!(answer.status < 400, "{}: {}", answer.status, answer.body);
    drop(server);
    run(canvass(&root)
        .args(["import", "--survey", "nps"])
        .arg(root.join("answers/nps.csv")));
    run(canvass(&root).args(["send", "nps", "--limit", "2", "--yes"]));
    run(canvass(&root).args(["report", "nps"]));

    let results = root.join("surveys/nps/results");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join("summary.json")).unwrap()).unwrap();
    let rates = &json["versions"][0]["response_rates"];
    assert_eq!(
        rates,
        &serde_json::json!([{
            "rule": "relationship", "responses": 1, "delivered": 3, "rate": 100.0 / 3.0
        }]),
        "the two messages written to the outbox reached nobody"
    );
    let markdown = std::fs::read_to_string(results.join("summary.md")).unwrap();
    assert!(
        markdown.contains("| relationship | 1 | 3 | 33.3% |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("120 responses came through no rule (imported, or from the open link)"),
        "{markdown}"
    );
}
