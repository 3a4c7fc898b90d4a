//! End-to-end tests of `canvass plan` and `canvass send` against a real SMTP server
//! (aiosmtpd, started per test on 127.0.0.1), asserting on what the server received.

mod common;
mod pg;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use base64::Engine as _;
use canvass::store::{NewResponse, Store, SuppressionReason};
use canvass::token::Key;

/// A fixed workspace key, so that tests can verify tokens and compute recipient keys.
const TEST_KEY: &str = "dGVzdC1rZXktZm9yLWNhbnZhc3MtZW5kLXRvLWVuZC10ZXN0cw==";
/// A Monday, 10:00 in Ljubljana.
const MONDAY: &str = "2026-06-01T08:00:00Z";

fn key() -> Key {
    Key::from_base64(TEST_KEY).unwrap()
}

/// Whether aiosmtpd is importable; without it the test skips, unless CI is set.
fn smtp_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but aiosmtpd is missing: pip install aiosmtpd"
        );
        eprintln!("note: skipping, aiosmtpd is not installed (pip install aiosmtpd)");
    }
    ok
}

/// The test SMTP server, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Server {
    fn start(faults: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/server.py");
        let mut command = Command::new("python3");
        command.arg(script).arg(dir.path());
        for (flag, address) in faults {
            command.arg(format!("--{flag}")).arg(address);
        }
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the server prints its port");
        Server { child, port, dir }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// Every message received, parsed.
    fn received(&self) -> Vec<Mail> {
        self.received_raw()
            .iter()
            .map(|raw| Mail::parse(raw))
            .collect()
    }

    /// Every message received, as the bytes the server got, in order.
    fn received_raw(&self) -> Vec<Vec<u8>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        paths.sort();
        paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }

    /// Asserts that `people` recipients got exactly one message each.
    fn assert_each_once(&self, people: usize) {
        let counts = self.counts();
        assert_eq!(counts.len(), people, "{counts:?}");
        assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    }

    /// How many messages each envelope recipient got.
    fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for mail in self.received() {
            *counts.entry(mail.header("X-Envelope-To")).or_default() += 1;
        }
        counts
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A received message: unfolded headers and the decoded text of every part.
struct Mail {
    headers: Vec<(String, String)>,
    text: String,
}

impl Mail {
    fn parse(raw: &[u8]) -> Mail {
        let raw = String::from_utf8_lossy(raw).replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
        Mail {
            headers: unfold(head),
            text: decode_parts(body),
        }
    }

    fn header(&self, name: &str) -> String {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// The token of the one-click unsubscribe link.
    fn token(&self) -> String {
        let header = self.header("List-Unsubscribe");
        let start = header.find("/u/").expect("an https unsubscribe link") + 3;
        header[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect()
    }
}

fn unfold(head: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.to_string(), value.trim().to_string()));
        }
    }
    headers
}

/// The bodies of every part, quoted-printable or base64 decoded, concatenated.
fn decode_parts(body: &str) -> String {
    let mut out = String::new();
    for part in body.split("\n--") {
        let Some((head, content)) = part.split_once("\n\n") else {
            continue;
        };
        let head = head.to_ascii_lowercase();
        if head.contains("content-transfer-encoding: base64") {
            let joined: String = content
                .lines()
                .take_while(|l| !l.starts_with("--"))
                .collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(joined.trim())
                .unwrap_or_default();
            out.push_str(&String::from_utf8_lossy(&bytes));
        } else if head.contains("quoted-printable") {
            out.push_str(&decode_qp(content));
        } else {
            out.push_str(content);
        }
    }
    out
}

fn decode_qp(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && let Some(Ok(b)) = joined.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16))
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A workspace with two surveys and an audience of `n` people.
struct Workspace {
    dir: tempfile::TempDir,
    /// The PostgreSQL store it shares with other machines, if any.
    database: Option<String>,
}

const SURVEY: &str = "id: ID
version: 1
locales: [en, sl]
title: { en: How did we do?, sl: Kako smo se odrezali? }
questions:
  - id: satisfaction
    type: rating
    text: { en: How satisfied are you?, sl: Kako ste zadovoljni? }
    required: true
    scale: { min: 1, max: 5 }
";

impl Workspace {
    fn new(people: usize) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("canvass.yaml"),
            "name: Test\nbase_url: https://feedback.example.com\nunsubscribe:\n  mailto: unsubscribe@example.com\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("audiences")).unwrap();
        let mut csv = String::from("email,first_name,locale,tz,plan,closed_at\n");
        for i in 0..people {
            let locale = if i.is_multiple_of(3) { "sl" } else { "en" };
            csv.push_str(&format!(
                "person{i}@example.com,Name{i},{locale},Europe/Ljubljana,pro,2026-05-30T08:00:00Z\n"
            ));
        }
        std::fs::write(root.join("audiences/people.csv"), csv).unwrap();
        let ws = Workspace {
            dir,
            database: None,
        };
        ws.survey("alpha", "");
        ws
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The same workspace on another machine (its own folder, so its own lock files),
    /// both on the PostgreSQL store `database`.
    fn on_two_machines(people: usize, database: &str) -> (Workspace, Workspace) {
        let mut first = Workspace::new(people);
        first.database = Some(database.to_string());
        let second = Workspace {
            dir: tempfile::tempdir().unwrap(),
            database: first.database.clone(),
        };
        copy_tree(first.root(), second.root());
        (first, second)
    }

    /// Writes a survey whose one rule `main` has these extra lines.
    fn survey(&self, id: &str, extra: &str) {
        let dir = self.root().join("surveys").join(id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("survey.yaml"), SURVEY.replace("ID", id)).unwrap();
        let rule = format!(
            "rules:
  - id: main
    channel: email
    audience:
      file: ../../audiences/people.csv
      key: email
      locale: locale
      name: first_name
      segments: [plan]
    email:
      from: \"Acme <support@example.com>\"
      subject: {{ en: \"{{{{ name }}}}, how did we do?\", sl: \"{{{{ name }}}}, kako smo se odrezali?\" }}
{extra}"
        );
        std::fs::write(dir.join("distribution.yaml"), rule).unwrap();
    }

    fn canvass(&self, server: Option<&Server>, now: &str) -> Command {
        let mut command = Command::cargo_bin("canvass").unwrap();
        command
            .arg("--workspace")
            .arg(self.root())
            .env("CANVASS_KEY", TEST_KEY)
            .env("CANVASS_NOW", now)
            .env_remove("CANVASS_SMTP_URL")
            .env_remove("CANVASS_DKIM_KEY")
            .stdin(Stdio::null());
        if let Some(server) = server {
            command.env("CANVASS_SMTP_URL", server.url());
        }
        match &self.database {
            Some(url) => command.env("CANVASS_DATABASE_URL", url),
            None => command.env_remove("CANVASS_DATABASE_URL"),
        };
        command
    }

    fn run(&self, server: Option<&Server>, now: &str, args: &[&str]) -> (bool, String) {
        let output = self.canvass(server, now).args(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }

    /// `plan --format json` for one rule: (due, skipped by reason).
    fn plan(&self, target: &str, now: &str) -> (u64, BTreeMap<String, u64>) {
        let (ok, text) = self.run(None, now, &["plan", target, "--format", "json"]);
        assert!(ok, "{text}");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let rule = &json[0];
        let due = ["first", "reminders", "retries"]
            .iter()
            .map(|k| rule[k].as_u64().unwrap())
            .sum();
        let skipped = serde_json::from_value(rule["skipped"].clone()).unwrap();
        (due, skipped)
    }

    /// The rule's ledger: messages sent, and messages whose outcome is unknown.
    fn sent_and_unknown(&self) -> (u64, u64) {
        let ledger = self.store().ledger_counts("alpha", "main").unwrap();
        let count = |status: &str| ledger.get(status).copied().unwrap_or(0);
        (count("sent"), count("unknown"))
    }

    fn store(&self) -> Store {
        Store::open_in(&self.root().join(".canvass")).unwrap()
    }
}

#[test]
fn every_planned_recipient_gets_one_message_in_their_locale_with_working_links() {
    if !smtp_available() {
        return;
    }
    let ws = Workspace::new(30);
    let csv = ws.root().join("audiences/people.csv");
    let mut text = std::fs::read_to_string(&csv).unwrap();
    text.push_str("not-an-address,Bad,en,UTC,pro,\nperson1@example.com,Again,en,UTC,pro,\n");
    std::fs::write(&csv, text).unwrap();
    let server = Server::start(&[]);
    let (due, skipped) = ws.plan("alpha/main", MONDAY);
    assert_eq!(due, 30);
    assert_eq!(skipped.get("invalid_address"), Some(&1));
    assert_eq!(skipped.get("duplicate"), Some(&1));
    let (ok, out) = ws.run(Some(&server), MONDAY, &["send", "alpha/main", "--yes"]);
    assert!(ok, "{out}");
    let mails = server.received();
    assert_eq!(mails.len(), 30);
    assert!(server.counts().values().all(|n| *n == 1));
    let store = ws.store();
    for mail in &mails {
        let to = mail.header("X-Envelope-To");
        let i: usize = to
            .trim_start_matches("person")
            .trim_end_matches("@example.com")
            .parse()
            .unwrap();
        let locale = if i.is_multiple_of(3) { "sl" } else { "en" };
        assert_eq!(mail.header("Content-Language"), locale, "{to}");
        assert_eq!(
            mail.header("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click"
        );
        assert!(
            mail.header("List-Unsubscribe")
                .contains("mailto:unsubscribe@example.com")
        );
        let token = mail.token();
        let claims = key().verify(&token, 1_780_000_000).expect("a valid token");
        assert_eq!(
            (claims.survey.as_str(), claims.rule.as_str()),
            ("alpha", "main")
        );
        assert_eq!(claims.recipient, key().recipient(&to));
        let history = store.history("alpha", "main", &claims.recipient).unwrap();
        assert_eq!(
            history
                .iter()
                .find(|entry| entry.id == claims.delivery)
                .map(|entry| entry.status),
            Some(canvass::store::Status::Sent)
        );
        assert!(
            mail.text.contains(&format!("/s/{token}")),
            "the body links to the form"
        );
    }
    let (ok, out) = ws.run(Some(&server), MONDAY, &["send", "alpha/main", "--yes"]);
    assert!(ok && out.contains("nothing to send"), "{out}");
    assert_eq!(server.received().len(), 30);
}

#[test]
fn temporary_failures_are_retried_permanent_ones_reported_and_dropped_connections_resumed() {
    if !smtp_available() {
        return;
    }
    let ws = Workspace::new(12);
    let server = Server::start(&[
        ("temp", "person2@example.com"),
        ("perm", "person4@example.com"),
        ("drop", "person6@example.com"),
    ]);
    let (ok, out) = ws.run(
        Some(&server),
        MONDAY,
        &["send", "alpha/main", "--yes", "--retry-backoff-ms", "50"],
    );
    assert!(!ok, "a permanent failure fails the run: {out}");
    assert!(
        out.contains("failed: audience line 6: permanent error (550)"),
        "{out}"
    );
    assert!(out.contains("sent 10 (1 after a retry)"), "{out}");
    assert!(
        out.contains("1 message may or may not have gone out"),
        "{out}"
    );
    assert!(
        !out.contains("person4@"),
        "no addresses in the report: {out}"
    );
    assert!(
        out.contains("<<address>>: Recipient address rejected"),
        "{out}"
    );
    let db = rusqlite::Connection::open(ws.root().join(".canvass/state.db")).unwrap();
    let quoted: i64 = db
        .query_row(
            "SELECT count(*) FROM deliveries WHERE reply LIKE '%@%'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(quoted, 0, "the server's quote of the address is not stored");
    server.assert_each_once(10);
    let counts = server.counts();
    assert!(!counts.contains_key("person4@example.com"));
    assert!(
        !counts.contains_key("person6@example.com"),
        "a message handed over without a reply is not sent again in the run"
    );
    let (due, skipped) = ws.plan("alpha/main", MONDAY);
    assert_eq!(due, 0);
    assert_eq!(skipped.get("suppressed"), Some(&1), "a bounce suppresses");
    let (_, out) = ws.run(
        Some(&server),
        MONDAY,
        &["send", "alpha/main", "--yes", "--resend-unknown"],
    );
    assert!(out.contains("sent 1 "), "{out}");
    assert_eq!(server.counts().get("person6@example.com"), Some(&1));
}

/// A server that stores a message and drops the connection before its `250`: the
/// message went out, so it is recorded unknown and never sent twice; the connection is
/// not reused, so no later message is recorded on a stray reply.
#[test]
fn a_message_stored_without_a_reply_is_not_sent_twice() {
    if !smtp_available() {
        return;
    }
    let ws = Workspace::new(40);
    let faults: Vec<(&str, String)> = (1..=40)
        .step_by(5)
        .map(|i| ("store-drop", format!("person{i}@example.com")))
        .collect();
    let faults: Vec<(&str, &str)> = faults.iter().map(|(f, a)| (*f, a.as_str())).collect();
    let server = Server::start(&faults);
    let (_, out) = ws.run(
        Some(&server),
        MONDAY,
        &["send", "alpha/main", "--yes", "--retry-backoff-ms", "10"],
    );
    server.assert_each_once(40);
    assert!(out.contains("sent 32 "), "{out}");
    assert!(
        out.contains("8 messages may or may not have gone out"),
        "{out}"
    );
    let (_, again) = ws.run(Some(&server), MONDAY, &["send", "alpha/main", "--yes"]);
    assert!(server.counts().values().all(|n| *n == 1), "{again}");
}

/// A server that stores a message and answers only after `--smtp-timeout`: the message
/// is unknown, sent once, and its connection is dropped, so every later reply belongs to
/// the message it answers.
#[test]
fn a_reply_later_than_the_timeout_is_unknown_and_the_pool_stays_in_step() {
    if !smtp_available() {
        return;
    }
    let ws = Workspace::new(40);
    let server = Server::start(&[
        ("late", "person3@example.com"),
        ("late", "person17@example.com"),
    ]);
    let (_, out) = ws.run(
        Some(&server),
        MONDAY,
        &["send", "alpha/main", "--yes", "--smtp-timeout", "0.5"],
    );
    server.assert_each_once(40);
    assert!(
        out.contains("2 messages may or may not have gone out"),
        "{out}"
    );
    assert_eq!(ws.sent_and_unknown(), (38, 2));
    let db = rusqlite::Connection::open(ws.root().join(".canvass/state.db")).unwrap();
    let stray: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM deliveries WHERE status = 'sent' AND reply NOT LIKE '250 2.0.0 Queued as %'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(stray, 0, "a message was recorded sent on another's reply");
}

/// A server that stops answering: the run ends after one timeout instead of one per
/// message, and the next run sends the rest, no one twice.
#[test]
fn a_stalled_server_stops_the_run_fast_and_the_next_run_sends_the_rest() {
    if !smtp_available() {
        return;
    }
    let ws = Workspace::new(200);
    let stalled = Server::start(&[("stall-after", "20")]);
    let started = Instant::now();
    let (ok, out) = ws.run(
        Some(&stalled),
        MONDAY,
        &["send", "alpha/main", "--yes", "--smtp-timeout", "1"],
    );
    let took = started.elapsed();
    assert!(!ok, "{out}");
    assert!(out.contains("the SMTP server stopped answering"), "{out}");
    assert!(out.contains("--smtp-timeout"), "{out}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let first = stalled.counts();
    let ledger = ws.store().ledger_counts("alpha", "main").unwrap();
    assert_eq!(ledger.get("sent").copied(), Some(first.len() as u64));
    assert_eq!(ledger.get("unknown"), None, "{ledger:?}");
    drop(stalled);
    let healthy = Server::start(&[]);
    let (ok, again) = ws.run(Some(&healthy), MONDAY, &["send", "alpha/main", "--yes"]);
    assert!(ok, "{again}");
    let second = healthy.counts();
    assert_eq!(first.len() + second.len(), 200, "{again}");
    assert!(first.keys().all(|a| !second.contains_key(a)));
}

#[test]
fn killed_runs_resume_and_send_no_one_twice() {
    if !smtp_available() {
        return;
    }
    let people = 2000;
    let workers = 8;
    let ws = Workspace::new(people);
    let server = Server::start(&[]);
    let errors = tempfile::NamedTempFile::new().unwrap();
    let mut seed = 0x2545_f491_u64;
    let mut kills = 0;
    let mut finished = false;
    for _ in 0..40 {
        let mut child = ws
            .canvass(Some(&server), MONDAY)
            .args(["send", "alpha/main", "--yes"])
            .stdout(Stdio::null())
            .stderr(errors.reopen().unwrap())
            .spawn()
            .unwrap();
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        std::thread::sleep(Duration::from_millis(100 + (seed >> 33) % 400));
        if let Some(status) = child.try_wait().unwrap() {
            let stderr = std::fs::read_to_string(errors.path()).unwrap();
            assert!(status.success(), "a resumed run failed: {stderr}");
            finished = true;
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    if !finished {
        let (ok, out) = ws.run(Some(&server), MONDAY, &["send", "alpha/main", "--yes"]);
        assert!(ok, "{out}");
    }
    let counts = server.counts();
    assert!(counts.values().all(|n| *n == 1), "someone got two messages");
    let ledger = ws.store().ledger_counts("alpha", "main").unwrap();
    let unknown = ledger.get("unknown").copied().unwrap_or(0) as usize;
    let sent = ledger.get("sent").copied().unwrap_or(0) as usize;
    assert_eq!(sent + unknown, people, "{ledger:?}");
    assert!(
        unknown <= kills * workers,
        "{unknown} unknown after {kills} kills of runs with {workers} connections"
    );
    assert!(
        counts.len() >= sent && counts.len() <= people,
        "{} received, {ledger:?}",
        counts.len()
    );
    eprintln!(
        "kill test: {kills} kills, {} received, {unknown} unknown",
        counts.len()
    );
}

/// What a killed run left is settled before the next run plans: messages recorded but
/// never handed over go out, ones in the transport's hands are reported unknown, even
/// when nothing else is due.
#[test]
fn an_interrupted_runs_leftovers_are_settled_before_the_next_run_plans() {
    if !smtp_available() {
        return;
    }
    let ws = Workspace::new(10);
    let first = Server::start(&[]);
    let (ok, out) = ws.run(Some(&first), MONDAY, &["send", "alpha/main", "--yes"]);
    assert!(ok && out.contains("sent 10 "), "{out}");
    let db = rusqlite::Connection::open(ws.root().join(".canvass/state.db")).unwrap();
    let interrupt = |status: &str, rows: u32| {
        db.execute(
            "UPDATE deliveries SET status = ?1 WHERE id IN
                 (SELECT id FROM deliveries WHERE status = 'sent' ORDER BY id LIMIT ?2)",
            rusqlite::params![status, rows],
        )
        .unwrap();
    };
    interrupt("queued", 3);
    interrupt("handing", 2);
    let (ok, plan) = ws.run(None, MONDAY, &["plan", "alpha/main"]);
    assert!(ok && plan.contains("3 to send now"), "{plan}");
    let second = Server::start(&[]);
    let (ok, out) = ws.run(Some(&second), MONDAY, &["send", "alpha/main", "--yes"]);
    assert!(ok, "{out}");
    second.assert_each_once(3);
    assert!(
        out.contains("2 messages may or may not have gone out"),
        "{out}"
    );
    assert_eq!(ws.sent_and_unknown(), (8, 2));

    interrupt("handing", 1);
    let (ok, out) = ws.run(Some(&second), MONDAY, &["send", "alpha/main", "--yes"]);
    assert!(ok && out.contains("nothing to send"), "{out}");
    assert!(
        out.contains("1 message may or may not have gone out"),
        "{out}"
    );
    assert_eq!(second.counts().len(), 3, "{out}");
    assert_eq!(ws.sent_and_unknown(), (7, 3));
}

/// A name too long for a header is refused at plan time and pointed at by its line (in a
/// file with CRLF endings, as spreadsheets write them); everyone else is sent to.
#[test]
fn over_long_names_are_refused_at_plan_time_by_their_audience_line() {
    if !smtp_available() {
        return;
    }
    let ws = Workspace::new(0);
    let mut csv = String::from("email,first_name,locale,tz,plan,closed_at\r\n");
    for i in 0..10 {
        let name = if i == 3 {
            "a".repeat(5000)
        } else {
            format!("Name{i}")
        };
        csv.push_str(&format!(
            "person{i}@example.com,{name},en,Europe/Ljubljana,pro,2026-05-30T08:00:00Z\r\n"
        ));
    }
    std::fs::write(ws.root().join("audiences/people.csv"), csv).unwrap();
    let (ok, plan) = ws.run(None, MONDAY, &["plan", "alpha/main"]);
    assert!(ok, "{plan}");
    assert!(
        plan.contains("value too long 1 (audience line 5)"),
        "{plan}"
    );
    let server = Server::start(&[]);
    let (ok, out) = ws.run(Some(&server), MONDAY, &["send", "alpha/main", "--yes"]);
    assert!(ok, "{out}");
    let received = server.received_raw();
    assert_eq!(received.len(), 9, "{out}");
    assert!(!server.counts().contains_key("person3@example.com"));
    for raw in received {
        let raw = String::from_utf8_lossy(&raw);
        let (head, _) = raw.split_once("\r\n\r\n").unwrap();
        let longest = head.split("\r\n").map(str::len).max().unwrap();
        assert!(longest <= 998, "a header line of {longest} characters");
    }
}

#[test]
fn the_frequency_cap_spans_surveys() {
    if !smtp_available() {
        return;
    }
    let ws = Workspace::new(10);
    ws.survey("beta", "    cap: { once_per: 30d }\n");
    let server = Server::start(&[]);
    let (ok, out) = ws.run(Some(&server), MONDAY, &["send", "alpha", "--yes"]);
    assert!(ok, "{out}");
    let (due, skipped) = ws.plan("beta/main", "2026-06-20T08:00:00Z");
    assert_eq!((due, skipped.get("capped")), (0, Some(&10)));
    let (due, _) = ws.plan("beta/main", "2026-07-02T08:00:00Z");
    assert_eq!(due, 10, "the cap lapses after 30 days");
}

#[test]
fn concurrent_sends_of_two_capped_rules_never_reach_one_person_twice() {
    if !smtp_available() {
        return;
    }
    let people = 200;
    for trial in 0..20 {
        let ws = Workspace::new(people);
        ws.survey("alpha", "    cap: { once_per: 30d }\n");
        ws.survey("beta", "    cap: { once_per: 30d }\n");
        let server = Server::start(&[]);
        let runs: Vec<_> = ["alpha/main", "beta/main"]
            .into_iter()
            .map(|rule| {
                ws.canvass(Some(&server), MONDAY)
                    .args(["send", rule, "--yes"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for run in runs {
            let output = run.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let counts = server.counts();
        let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "trial {trial}: {} got two", twice.len());
        assert_eq!(counts.len(), people, "trial {trial}: everyone gets one");
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Starts `send RULE` in each workspace at once and waits for both.
fn send_at_once(runs: [(&Workspace, &str); 2], server: &Server) -> Vec<std::process::Output> {
    let children: Vec<_> = runs
        .into_iter()
        .map(|(ws, rule)| {
            ws.canvass(Some(server), MONDAY)
                .args(["send", rule, "--yes"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

#[test]
fn two_machines_sending_one_rule_on_postgres_reach_each_recipient_once() {
    if !smtp_available() {
        return;
    }
    let people = 300;
    for trial in 0..5 {
        let Some(scratch) = pg::Scratch::new() else {
            return;
        };
        let (here, there) = Workspace::on_two_machines(people, &scratch.url);
        let server = Server::start(&[]);
        let outputs = send_at_once([(&here, "alpha/main"), (&there, "alpha/main")], &server);
        for output in &outputs {
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                output.status.success() || stderr.contains("another `canvass send` is sending"),
                "trial {trial}: {stderr}"
            );
        }
        let (ok, out) = there.run(Some(&server), MONDAY, &["send", "alpha/main", "--yes"]);
        assert!(ok, "{out}");
        let counts = server.counts();
        assert!(
            counts.values().all(|n| *n == 1),
            "trial {trial}: someone got two messages"
        );
        assert_eq!(counts.len(), people, "trial {trial}: everyone gets one");
        assert_eq!(
            scratch.count("SELECT count(*) FROM deliveries WHERE status = 'sent'"),
            people as i64
        );
    }
}

#[test]
fn two_machines_sending_two_capped_rules_on_postgres_never_reach_one_person_twice() {
    if !smtp_available() {
        return;
    }
    let people = 200;
    for trial in 0..5 {
        let Some(scratch) = pg::Scratch::new() else {
            return;
        };
        let (here, there) = Workspace::on_two_machines(people, &scratch.url);
        for ws in [&here, &there] {
            ws.survey("alpha", "    cap: { once_per: 30d }\n");
            ws.survey("beta", "    cap: { once_per: 30d }\n");
        }
        let server = Server::start(&[]);
        let outputs = send_at_once([(&here, "alpha/main"), (&there, "beta/main")], &server);
        for output in &outputs {
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let counts = server.counts();
        let twice = counts.values().filter(|n| **n > 1).count();
        assert_eq!(twice, 0, "trial {trial}: {twice} got two");
        assert_eq!(counts.len(), people, "trial {trial}: everyone gets one");
    }
}

#[test]
fn sampling_is_deterministic_and_matches_what_is_sent() {
    if !smtp_available() {
        return;
    }
    let ws = Workspace::new(200);
    ws.survey("alpha", "    sample: 0.3\n");
    let expected = (0..200)
        .filter(|i| {
            let recipient = key().recipient(&format!("person{i}@example.com"));
            key().unit_interval(&recipient, "alpha/main") < 0.3
        })
        .count() as u64;
    assert_eq!(ws.plan("alpha/main", MONDAY).0, expected);
    assert_eq!(
        ws.plan("alpha/main", MONDAY).0,
        expected,
        "a rerun picks the same people"
    );
    let server = Server::start(&[]);
    let (ok, out) = ws.run(Some(&server), MONDAY, &["send", "alpha/main", "--yes"]);
    assert!(ok, "{out}");
    for (address, _) in server.counts() {
        let recipient = key().recipient(&address);
        assert!(key().unit_interval(&recipient, "alpha/main") < 0.3);
    }
    assert_eq!(server.received().len() as u64, expected);
    let (due, skipped) = ws.plan("alpha/main", MONDAY);
    assert_eq!(
        (due, skipped.get("not_sampled")),
        (0, Some(&(200 - expected)))
    );
}

#[test]
fn windows_and_triggers_follow_the_clock() {
    let ws = Workspace::new(6);
    ws.survey(
        "alpha",
        "    window: { days: mon-fri, hours: \"09:00-17:00\", timezone: Europe/Ljubljana }\n    trigger: { field: closed_at, after: 1d, within: 3d }\n",
    );
    let saturday = "2026-05-30T10:00:00Z";
    assert_eq!(
        ws.plan("alpha/main", saturday).1.get("not_triggered"),
        Some(&6)
    );
    assert_eq!(ws.plan("alpha/main", MONDAY).0, 6);
    let evening = "2026-06-01T16:30:00Z";
    assert_eq!(
        ws.plan("alpha/main", evening).1.get("outside_window"),
        Some(&6)
    );
    let too_late = "2026-06-03T08:00:00Z";
    assert_eq!(
        ws.plan("alpha/main", too_late).1.get("not_triggered"),
        Some(&6)
    );
}

#[test]
fn a_recipients_own_time_zone_decides_the_window() {
    let ws = Workspace::new(3);
    let csv = ws.root().join("audiences/people.csv");
    let text =
        std::fs::read_to_string(&csv)
            .unwrap()
            .replacen("Europe/Ljubljana", "America/New_York", 1);
    std::fs::write(&csv, text).unwrap();
    let mut extra = String::from(
        "    window: { days: mon-fri, hours: \"09:00-17:00\", timezone: Europe/Ljubljana }\n",
    );
    extra.push_str("    audience:\n");
    let distribution = ws.root().join("surveys/alpha/distribution.yaml");
    ws.survey("alpha", &extra[..extra.find("    audience").unwrap()]);
    let text = std::fs::read_to_string(&distribution).unwrap().replace(
        "      name: first_name\n",
        "      name: first_name\n      timezone: tz\n",
    );
    std::fs::write(&distribution, text).unwrap();
    let (due, skipped) = ws.plan("alpha/main", MONDAY);
    assert_eq!((due, skipped.get("outside_window")), (2, Some(&1)));
}

#[test]
fn reminders_go_only_to_people_who_have_not_answered() {
    if !smtp_available() {
        return;
    }
    let ws = Workspace::new(5);
    ws.survey("alpha", "    reminder: { after: 2d, max: 1 }\n");
    let server = Server::start(&[]);
    let (ok, out) = ws.run(Some(&server), MONDAY, &["send", "alpha/main", "--yes"]);
    assert!(ok, "{out}");
    let answered = server
        .received()
        .into_iter()
        .find(|m| m.header("X-Envelope-To") == "person0@example.com")
        .unwrap();
    let delivery = key().verify(&answered.token(), 0).unwrap().delivery;
    let store = Store::open_in(&ws.root().join(".canvass")).unwrap();
    let answer = NewResponse {
        survey: "alpha".into(),
        version: 1,
        definition_hash: "x".into(),
        response_key: delivery,
        channel: "email".into(),
        source: "form".into(),
        rule: Some("main".into()),
        locale: Some("en".into()),
        submitted_at: MONDAY.into(),
        confirmed: true,
        complete: true,
        answers: Default::default(),
        segments: Default::default(),
    };
    store
        .commit_writes(&[canvass::store::Write::Response(Box::new(answer))], None)
        .unwrap();
    drop(store);
    let (due, skipped) = ws.plan("alpha/main", "2026-06-02T08:00:00Z");
    assert_eq!((due, skipped.get("reminder_not_due")), (0, Some(&4)));
    let later = "2026-06-03T09:00:00Z";
    let (ok, out) = ws.run(Some(&server), later, &["send", "alpha/main", "--yes"]);
    assert!(ok, "{out}");
    let counts = server.counts();
    assert_eq!(counts.get("person0@example.com"), Some(&1));
    assert!((1..5).all(|i| counts.get(&format!("person{i}@example.com")) == Some(&2)));
    let (due, skipped) = ws.plan("alpha/main", "2026-06-20T09:00:00Z");
    assert_eq!(due, 0, "at most one reminder");
    assert_eq!(skipped.get("answered"), Some(&1));
}

#[test]
fn unsubscribed_and_listed_people_receive_nothing() {
    if !smtp_available() {
        return;
    }
    let ws = Workspace::new(6);
    std::fs::write(
        ws.root().join("blocked.csv"),
        "email\nperson2@example.com\n",
    )
    .unwrap();
    let settings = ws.root().join("canvass.yaml");
    let mut text = std::fs::read_to_string(&settings).unwrap();
    text.push_str("suppression: [blocked.csv]\n");
    std::fs::write(&settings, text).unwrap();
    ws.store()
        .suppress(
            &key().recipient("Person1@Example.com"),
            SuppressionReason::Unsubscribed,
        )
        .unwrap();
    let server = Server::start(&[]);
    let (ok, out) = ws.run(Some(&server), MONDAY, &["send", "alpha/main", "--yes"]);
    assert!(ok, "{out}");
    let counts = server.counts();
    assert_eq!(counts.len(), 4);
    assert!(
        !counts.contains_key("person1@example.com") && !counts.contains_key("person2@example.com")
    );
}

#[test]
fn a_second_send_of_the_same_rule_refuses() {
    let ws = Workspace::new(3);
    let locks = ws.root().join(".canvass/locks");
    std::fs::create_dir_all(&locks).unwrap();
    let held = std::fs::File::create(locks.join("alpha-main.lock")).unwrap();
    held.lock().unwrap();
    let (ok, out) = ws.run(None, MONDAY, &["send", "alpha/main", "--yes"]);
    assert!(
        !ok && out.contains("another `canvass send` is sending alpha/main"),
        "{out}"
    );
    drop(held);
    let (ok, out) = ws.run(None, MONDAY, &["send", "alpha/main", "--yes"]);
    assert!(ok, "{out}");
}

#[test]
fn plans_show_counts_never_addresses() {
    let ws = Workspace::new(8);
    let (ok, out) = ws.run(None, MONDAY, &["plan", "--all"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("alpha/main (email): 8 in the audience, 8 to send now"),
        "{out}"
    );
    assert!(!out.contains('@'), "{out}");
    let (ok, out) = ws.run(
        None,
        MONDAY,
        &["plan", "alpha", "--explain", "person3@example.com"],
    );
    assert!(
        ok && out.contains("alpha/main: person3@example.com (audience line 5): send in sl"),
        "{out}"
    );
}

#[test]
fn without_a_terminal_send_needs_yes() {
    let ws = Workspace::new(2);
    let (ok, out) = ws.run(None, MONDAY, &["send", "alpha/main"]);
    assert!(!ok && out.contains("pass --yes"), "{out}");
    assert!(
        !ws.root()
            .join(".canvass/outbox")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    );
}

#[test]
fn a_test_send_goes_out_once_per_locale_outside_the_ledger() {
    if !smtp_available() {
        return;
    }
    let ws = Workspace::new(2);
    let server = Server::start(&[]);
    let (ok, out) = ws.run(
        Some(&server),
        MONDAY,
        &["send", "alpha/main", "--to", "me@example.com"],
    );
    assert!(ok, "{out}");
    let locales: Vec<String> = server
        .received()
        .iter()
        .map(|m| m.header("Content-Language"))
        .collect();
    assert_eq!(locales.len(), 2);
    assert!(locales.contains(&"en".into()) && locales.contains(&"sl".into()));
    assert!(
        ws.store()
            .ledger_counts("alpha", "main")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_example_workspace_sends_to_the_outbox_once() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_example(dir.path());
    let run = || {
        let output = Command::cargo_bin("canvass")
            .unwrap()
            .args(["--workspace"])
            .arg(dir.path())
            .args(["send", "--all", "--yes"])
            .env_remove("CANVASS_SMTP_URL")
            .env_remove("CANVASS_KEY")
            .env("CANVASS_NOW", MONDAY)
            .output()
            .unwrap();
        common::assert_success(&output);
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    run();
    let outbox = dir.path().join(".canvass/outbox");
    let files = std::fs::read_dir(&outbox).unwrap().count();
    assert!(files > 50, "{files} messages");
    let second = run();
    assert!(second.contains("nothing to send"), "{second}");
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), files);
}

/// Verifies every outbox message with dkimpy, the public key served by its `dnsfunc` hook.
const DKIM_VERIFY: &str = r#"
import sys, dkim
record = sys.argv[1].encode()
dns = lambda name, timeout=5: record if name.startswith(b"canvass._domainkey.example.com") else None
for path in sys.argv[2:]:
    message = open(path, "rb").read()
    headers = message.split(b"\r\n\r\n", 1)[0].lower()
    signed = b"mime-version:content-type:content-transfer-encoding:list-unsubscribe:list-unsubscribe-post:from;"
    if not dkim.verify(message, dnsfunc=dns) or signed not in headers:
        sys.exit("not verified: " + path)
"#;

/// A key made by `openssl genpkey` (PKCS#8 PEM) and its DNS record.
fn openssl_key(dir: &Path, algorithm: &str) -> (PathBuf, String) {
    let key = dir.join(format!("{algorithm}.pem"));
    let made = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", algorithm, "-out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let public = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    let der = public.stdout;
    // An Ed25519 record carries the raw 32-byte key (RFC 8463), an RSA one the whole SPKI.
    let (k, p) = if algorithm == "ed25519" {
        ("ed25519", &der[der.len() - 32..])
    } else {
        ("rsa", &der[..])
    };
    let p = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, p);
    (key, format!("v=DKIM1; k={k}; p={p}"))
}

#[test]
fn pkcs8_rsa_and_ed25519_keys_sign_outbox_messages_dkimpy_verifies() {
    if !common::require("dkimpy", &["python3", "-c", "import dkim, nacl"])
        || !common::require("openssl", &["openssl", "version"])
    {
        return;
    }
    for algorithm in ["rsa", "ed25519"] {
        let ws = Workspace::new(2);
        let (key, record) = openssl_key(ws.root(), algorithm);
        let output = ws
            .canvass(None, MONDAY)
            .env("CANVASS_DKIM_KEY", &key)
            .args(["send", "alpha/main", "--yes"])
            .output()
            .unwrap();
        common::assert_success(&output);
        let messages: Vec<PathBuf> = std::fs::read_dir(ws.root().join(".canvass/outbox"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(!messages.is_empty());
        let verified = std::process::Command::new("python3")
            .args(["-c", DKIM_VERIFY, &record])
            .args(&messages)
            .output()
            .unwrap();
        assert!(verified.status.success(), "{algorithm}: {verified:?}");
        for message in &messages {
            let text = std::fs::read_to_string(message).unwrap();
            let signature = text.split_once("\r\nDKIM-Signature:").unwrap().1;
            let folded = signature
                .split("\r\n")
                .skip(1)
                .take_while(|l| l.starts_with(' '))
                .filter(|l| !l.starts_with(" h="));
            for line in folded {
                assert!(line.len() <= 78, "{algorithm}: an unfolded line: {line}");
            }
        }
    }
}

#[test]
fn an_unusable_dkim_key_stops_the_run_before_sending() {
    let ws = Workspace::new(1);
    let output = ws
        .canvass(None, MONDAY)
        .env("CANVASS_DKIM_KEY", "not a key")
        .args(["send", "alpha/main", "--yes"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        text.contains("CANVASS_DKIM_KEY") && text.contains("PKCS#8"),
        "{text}"
    );
    assert!(!ws.root().join(".canvass/outbox").exists());
}

/// `plan` opens no transport: with a server configured and no key it still plans (with
/// the development key), and it creates no outbox.
#[test]
fn plan_needs_no_mail_settings_and_writes_no_outbox() {
    let ws = Workspace::new(5);
    let output = ws
        .canvass(None, MONDAY)
        .env_remove("CANVASS_KEY")
        .env("CANVASS_SMTP_URL", "smtp://127.0.0.1:9?tls=none")
        .args(["plan", "alpha/main", "--format", "json"])
        .output()
        .unwrap();
    common::assert_success(&output);
    let plans: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(plans[0]["first"], 5, "{plans}");
    assert!(!ws.root().join(".canvass/outbox").exists());
}
