//! End-to-end tests of alerts and webhook events: the real `canvass serve`, `send`,
//! `import` and `alerts` against a real HTTP receiver (tests/webhooks/receiver.py) that
//! verifies every signed request with the `standardwebhooks` package from PyPI. They skip
//! when the package is missing, and fail instead when `CI` is set.

mod collector;
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use canvass::token::Key;
use collector::{KEY, Server, count, post, token, token_for};
use serde_json::Value;

/// The receiver's signing secret (24 bytes, as the specification's own example).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const SURVEY: &str = "id: fb\nversion: 1\nlocales: [en]\ntitle: Feedback\n\
contact_consent: contact\nquestions:\n\
  - { id: score, type: nps, required: true, text: How likely are you to recommend us? }\n\
  - { id: why, type: text, when: score <= 6, text: What went wrong? }\n\
  - { id: contact, type: yes_no, text: May we contact you about your answer? }\n";

fn receiver_available() -> bool {
    common::require(
        "Python's standardwebhooks (pip install standardwebhooks)",
        &["python3", "-c", "import standardwebhooks"],
    )
}

/// The receiver, killed when dropped.
struct Receiver {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Receiver {
    fn start(fail_first: bool) -> Receiver {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webhooks/receiver.py");
        let mut command = Command::new("python3");
        command.arg(script).arg(&log).arg(SECRET);
        if fail_first {
            command.arg("--fail-first");
        }
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .parse()
            .unwrap();
        Receiver {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request received so far.
    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The requests once `done` holds for them, within 30 seconds.
    fn wait_for(&self, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let requests = self.requests();
            if done(&requests) {
                return requests;
            }
            assert!(
                Instant::now() < deadline,
                "timed out; received {requests:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test workspace: the survey, an audience of Ana and Bob, an e-mail rule, the
/// detractor alert going to `targets` and, in canvass.yaml, a webhook for response events.
fn workspace(targets: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("surveys/fb")).unwrap();
    std::fs::create_dir_all(root.join("audiences")).unwrap();
    std::fs::write(root.join("surveys/fb/survey.yaml"), SURVEY).unwrap();
    std::fs::write(
        root.join("audiences/people.csv"),
        "email,first_name,phone\nana@example.com,Ana,+386 1 000 000\nbob@example.com,Bob,\n",
    )
    .unwrap();
    std::fs::write(
        root.join("surveys/fb/distribution.yaml"),
        format!(
            "survey: fb\nrules:\n  - id: after-ticket\n    channel: email\n    audience:\n      \
             file: ../../audiences/people.csv\n      key: email\n      name: first_name\n    \
             email:\n      from: \"Support <support@example.com>\"\n      subject: How did we do?\n\
             alerts:\n  - id: detractors\n    when: score <= 6\n    to: {targets}\n    \
             include: [score, why]\n    identity: [email, first_name]\n"
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("canvass.yaml"),
        "base_url: https://feedback.example.com\nwebhooks:\n  - id: warehouse\n    \
         url_env: EVENTS_HOOK\n",
    )
    .unwrap();
    dir
}

/// `canvass serve` with these environment variables, the secret and 1-second retries.
fn serve(root: &Path, env: &[(&str, String)]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_canvass"));
    command
        .env("CANVASS_KEY", KEY)
        .env("CANVASS_WEBHOOK_SECRET", SECRET)
        .env("CANVASS_ALERT_RETRY", "1")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .arg("--workspace")
        .arg(root)
        .args(["serve", "--bind", "127.0.0.1:0"]);
    Server::from_command(command)
}

fn hooks(receiver: &Receiver) -> Vec<(&'static str, String)> {
    vec![
        ("ALERT_HOOK", receiver.url("/hook")),
        ("EVENTS_HOOK", receiver.url("/events")),
        ("ALERT_SLACK", receiver.url("/slack")),
        ("ALERT_TEAMS", receiver.url("/teams")),
    ]
}

fn body(request: &Value) -> Value {
    serde_json::from_str(request["body"].as_str().unwrap()).unwrap()
}

/// The delivered (200) requests on a path, as (webhook-id, body).
fn delivered(requests: &[Value], path: &str) -> Vec<(String, Value)> {
    requests
        .iter()
        .filter(|r| r["path"] == path && r["status"] == 200)
        .map(|r| (r["id"].as_str().unwrap().to_string(), body(r)))
        .collect()
}

fn event_schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/webhook-event.schema.json"),
    )
    .unwrap();
    jsonschema::draft202012::new(&serde_json::from_str(&text).unwrap()).unwrap()
}

fn assert_signed_and_valid(requests: &[Value]) {
    let schema = event_schema();
    for r in requests
        .iter()
        .filter(|r| r["path"] == "/hook" || r["path"] == "/events")
    {
        assert_eq!(r["valid"], true, "standardwebhooks refused {r:#}");
        let errors: Vec<String> = schema
            .iter_errors(&body(r))
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:#?} in {:#}", body(r));
    }
}

fn form(addr: std::net::SocketAddr, token: &str, fields: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let reply = runtime.block_on(post(addr, &format!("/s/{token}"), fields));
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[test]
fn a_detractor_raises_one_alert_delivered_once_through_a_refusal() {
    if !receiver_available() {
        return;
    }
    let receiver = Receiver::start(true);
    let ws = workspace("{ webhook_env: ALERT_HOOK }");
    let server = serve(ws.path(), &hooks(&receiver));
    form(
        server.addr,
        &token(1, "d-detractor", 3600),
        "score=3&why=Too+slow&contact=no",
    );
    form(
        server.addr,
        &token(1, "d-promoter", 3600),
        "score=10&contact=no",
    );
    // The detractor corrects the answer: one response.updated, and no second alert.
    form(
        server.addr,
        &token(1, "d-detractor", 3600),
        "score=2&why=Far+too+slow&contact=no",
    );
    let requests = receiver
        .wait_for(|r| delivered(r, "/hook").len() == 1 && delivered(r, "/events").len() == 3);
    assert_signed_and_valid(&requests);
    let alerts: Vec<&Value> = requests.iter().filter(|r| r["path"] == "/hook").collect();
    assert_eq!(
        alerts.len(),
        2,
        "refused with 500 once, then delivered: {alerts:#?}"
    );
    assert_eq!(
        alerts[0]["id"], alerts[1]["id"],
        "the retry keeps its webhook-id"
    );
    assert_eq!(
        (alerts[0]["status"].as_i64(), alerts[1]["status"].as_i64()),
        (Some(500), Some(200))
    );
    let (_, alert) = &delivered(&requests, "/hook")[0];
    assert_eq!(alert["type"], "alert.triggered");
    assert_eq!(alert["data"]["alert"], "detractors");
    assert_eq!(alert["data"]["score"]["value"], 3);
    assert_eq!(alert["data"]["answers"][1]["value"], "Too slow");
    assert_eq!(alert["data"]["contact_consent"], false);
    assert_eq!(alert["data"]["contact"], Value::Null);
    assert_eq!(
        alert["data"]["answers"].as_array().unwrap().len(),
        2,
        "include: [score, why]"
    );
    let mut kinds: Vec<String> = delivered(&requests, "/events")
        .iter()
        .map(|(_, b)| {
            format!(
                "{} {}",
                b["type"].as_str().unwrap(),
                b["data"]["score"]["value"]
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "response.created 10",
            "response.created 3",
            "response.updated 2"
        ]
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        receiver
            .requests()
            .iter()
            .filter(|r| r["path"] == "/hook")
            .count(),
        2,
        "nothing is sent again once delivered"
    );
    assert_eq!(
        count(
            ws.path(),
            "SELECT count(*) FROM outbox WHERE status = 'delivered'"
        ),
        4
    );
}

#[test]
fn an_alert_committed_before_kill_9_is_delivered_after_a_restart() {
    if !receiver_available() {
        return;
    }
    let ws = workspace("{ webhook_env: ALERT_HOOK }");
    // Nothing listens at port 9 on loopback: the first serve cannot deliver before dying.
    let nowhere = vec![
        ("ALERT_HOOK", "http://127.0.0.1:9/hook".to_string()),
        ("EVENTS_HOOK", "http://127.0.0.1:9/events".to_string()),
    ];
    let mut first = serve(ws.path(), &nowhere);
    form(
        first.addr,
        &token(1, "d-crash", 3600),
        "score=1&why=Broken&contact=no",
    );
    first.kill();
    assert_eq!(
        count(
            ws.path(),
            "SELECT count(*) FROM outbox WHERE status = 'pending' AND event = 'alert.triggered'"
        ),
        1,
        "the alert was committed with the answer"
    );
    let receiver = Receiver::start(false);
    let _second = serve(ws.path(), &hooks(&receiver));
    let requests = receiver.wait_for(|r| delivered(r, "/hook").len() == 1);
    assert_signed_and_valid(&requests);
    assert_eq!(
        delivered(&requests, "/hook")[0].1["data"]["score"]["value"],
        1
    );
}

/// Sends the survey to Ana and Bob through the real `send` (to the local outbox) and
/// returns each one's delivery id and recipient key.
fn send_to_everyone(root: &Path) -> Vec<(String, String)> {
    let output = Command::new(env!("CARGO_BIN_EXE_canvass"))
        .env("CANVASS_KEY", KEY)
        .env_remove("CANVASS_SMTP_URL")
        .arg("--workspace")
        .arg(root)
        .args(["send", "--all", "--yes"])
        .output()
        .unwrap();
    common::assert_success(&output);
    let key = Key::from_base64(KEY).unwrap();
    ["ana@example.com", "bob@example.com"]
        .iter()
        .map(|address| {
            let recipient = key.recipient(address);
            let delivery: String = collector::db(root)
                .query_row(
                    "SELECT id FROM deliveries WHERE recipient = ?1",
                    [&recipient],
                    |r| r.get(0),
                )
                .unwrap();
            (delivery, recipient)
        })
        .collect()
}

#[test]
fn an_alert_says_who_answered_only_with_their_consent() {
    if !receiver_available() {
        return;
    }
    let receiver = Receiver::start(false);
    let ws =
        workspace("{ webhook_env: ALERT_HOOK, slack_env: ALERT_SLACK, teams_env: ALERT_TEAMS }");
    let people = send_to_everyone(ws.path());
    let server = serve(ws.path(), &hooks(&receiver));
    let (ana, bob) = (&people[0], &people[1]);
    form(
        server.addr,
        &token_for(1, &ana.0, &ana.1, 3600),
        "score=4&why=Rude&contact=yes",
    );
    form(
        server.addr,
        &token_for(1, &bob.0, &bob.1, 3600),
        "score=5&why=Late&contact=no",
    );
    let requests = receiver.wait_for(|r| {
        ["/hook", "/slack", "/teams"]
            .iter()
            .all(|p| delivered(r, p).len() == 2)
    });
    assert_signed_and_valid(&requests);
    let by_score = |path: &str, score: i64| -> String {
        delivered(&requests, path)
            .into_iter()
            .map(|(_, b)| b.to_string())
            .find(|b| {
                b.contains(&format!("{score} on 0–10"))
                    || b.contains(&format!("\"value\":{score},"))
            })
            .unwrap()
    };
    let alerts: Vec<Value> = delivered(&requests, "/hook")
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    let ana_alert = alerts
        .iter()
        .find(|a| a["data"]["score"]["value"] == 4)
        .unwrap();
    let bob_alert = alerts
        .iter()
        .find(|a| a["data"]["score"]["value"] == 5)
        .unwrap();
    assert_eq!(
        ana_alert["data"]["contact"],
        serde_json::json!({"email": "ana@example.com", "first_name": "Ana"}),
        "the columns identity names, and no other (not the phone)"
    );
    assert_eq!(bob_alert["data"]["contact"], Value::Null);
    assert!(!by_score("/slack", 5).contains("bob@example.com"));
    assert!(!by_score("/teams", 5).contains("bob@example.com"));
    assert!(by_score("/slack", 4).contains("ana@example.com"));
    assert!(by_score("/teams", 4).contains("ana@example.com"));
    let stored: String = collector::db(ws.path())
        .query_row(
            "SELECT group_concat(payload || coalesce(contact, '')) FROM outbox",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        !stored.contains("@example.com"),
        "the store holds no address"
    );
    check_chat(&requests);
}

/// Slack's own SDK parses every Slack message; every Teams card fits the Adaptive Card
/// 1.5 schema.
fn check_chat(requests: &[Value]) {
    let teams: Vec<Value> = delivered(requests, "/teams")
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    let path = std::env::var("CANVASS_ADAPTIVE_CARD_SCHEMA").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/vendor/adaptive-card-1.5.schema.json"
        )
        .to_string()
    });
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let validator = jsonschema::draft6::new(&serde_json::from_str(&text).unwrap()).unwrap();
            for message in &teams {
                assert_eq!(message["type"], "message");
                let card = &message["attachments"][0]["content"];
                assert_eq!(card["version"], "1.5");
                let errors: Vec<String> =
                    validator.iter_errors(card).map(|e| e.to_string()).collect();
                assert!(errors.is_empty(), "{errors:#?}\n{card:#}");
            }
        }
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "the Adaptive Card schema is missing: {path}"
            );
            eprintln!("note: skipping the card schema, it is not at {path}");
        }
    }
    let slack: Vec<Value> = delivered(requests, "/slack")
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    common::assert_slack_parses(&slack);
}

/// Runs canvass in the workspace at `root` with the test's keys and `env`, and without
/// an SMTP server, so that e-mails go to the local outbox.
fn run_in(root: &Path, args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_canvass"))
        .env("CANVASS_KEY", KEY)
        .env("CANVASS_WEBHOOK_SECRET", SECRET)
        .env_remove("CANVASS_SMTP_URL")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .arg("--workspace")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn import_raises_alerts_only_when_asked_and_alerts_delivers_them() {
    if !receiver_available() {
        return;
    }
    let ws = workspace("{ webhook_env: ALERT_HOOK }");
    let root = ws.path();
    let history = root.join("history.csv");
    std::fs::write(
        &history,
        "respondent,submitted_at,score,why,contact\n\
         r1,2026-01-05T10:00:00Z,2,Slow,no\nr2,2026-01-05T11:00:00Z,9,,no\n",
    )
    .unwrap();
    let canvass = |args: &[&str], env: &[(&str, String)]| run_in(root, args, env);
    let file = history.to_str().unwrap();
    common::assert_success(&canvass(&["import", file, "--survey", "fb"], &[]));
    assert_eq!(
        count(root, "SELECT count(*) FROM outbox"),
        0,
        "history floods no one"
    );
    std::fs::write(
        &history,
        format!(
            "{}r3,2026-01-06T09:00:00Z,0,Awful,no\n",
            std::fs::read_to_string(&history).unwrap()
        ),
    )
    .unwrap();
    common::assert_success(&canvass(
        &["import", file, "--survey", "fb", "--alerts"],
        &[],
    ));
    assert_eq!(
        count(
            root,
            "SELECT count(*) FROM outbox WHERE event = 'alert.triggered'"
        ),
        1,
        "the new detractor only: r1 counted before"
    );
    let listed = canvass(&["alerts"], &[]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("pending alert.triggered fb/detractors to webhook ALERT_HOOK"),
        "{text}"
    );
    let receiver = Receiver::start(false);
    let delivered_now = canvass(&["alerts", "--deliver"], &hooks(&receiver));
    let text = String::from_utf8_lossy(&delivered_now.stdout);
    assert!(
        text.contains("delivered 2, will retry 0, failed 0"),
        "{text}"
    );
    assert_eq!(delivered_now.status.code(), Some(0), "{text}");
    let requests = receiver.requests();
    assert_signed_and_valid(&requests);
    assert_eq!(
        delivered(&requests, "/hook")[0].1["data"]["response"]["source"],
        "import"
    );
}

#[test]
fn check_reports_alerts_that_cannot_work() {
    let ws = workspace("{ email: [cx@example.com] }");
    let root = ws.path();
    let survey = SURVEY.replace("contact_consent: contact", "contact_consent: why");
    std::fs::write(root.join("surveys/fb/survey.yaml"), survey).unwrap();
    let distribution = std::fs::read_to_string(root.join("surveys/fb/distribution.yaml"))
        .unwrap()
        .replace("when: score <= 6", "when: scor <= 6")
        .replace("include: [score, why]", "include: [score, reason]")
        .replace("identity: [email, first_name]", "identity: [email, mobile]");
    std::fs::write(root.join("surveys/fb/distribution.yaml"), distribution).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_canvass"))
        .arg("--workspace")
        .arg(root)
        .args(["check", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut codes: Vec<String> = report
        .as_array()
        .or_else(|| report["diagnostics"].as_array())
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect();
    codes.sort();
    assert_eq!(codes, ["E031", "E100", "E101", "E102"], "{report:#}");
}

#[test]
fn an_alert_e_mail_in_the_local_outbox_is_signed_like_a_sent_survey() {
    if !common::require("openssl", &["openssl", "version"]) {
        return;
    }
    let ws = workspace("{ email: [cx@example.com] }");
    let root = ws.path();
    let key = root.join("dkim.pem");
    let made = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let history = root.join("history.csv");
    std::fs::write(
        &history,
        "respondent,submitted_at,score,why,contact\nr1,2026-01-05T10:00:00Z,1,Slow,no\n",
    )
    .unwrap();
    let dkim = [("CANVASS_DKIM_KEY", key.display().to_string())];
    let canvass = |args: &[&str]| run_in(root, args, &dkim);
    let file = history.to_str().unwrap();
    common::assert_success(&canvass(&["import", file, "--survey", "fb", "--alerts"]));
    let delivered = canvass(&["alerts", "--deliver"]);
    let text = String::from_utf8_lossy(&delivered.stdout);
    assert!(
        text.contains("delivered 1,"),
        "the e-mail; the webhook has no URL: {text}"
    );
    let mails: Vec<String> = std::fs::read_dir(root.join(".canvass/outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(mails.len(), 1, "one alert e-mail");
    assert!(mails[0].contains("To: cx@example.com"), "{}", mails[0]);
    assert!(
        mails[0].contains("\nDKIM-Signature: v=1; a=ed25519-sha256; d=example.com;"),
        "{}",
        mails[0]
    );
}
