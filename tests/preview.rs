//! `canvass preview`: the index lists every survey × format × locale, a changed file is
//! re-rendered, and a broken file shows its diagnostics while the server keeps running.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn wait_for(addr: &str, path: &str, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = get(addr, path);
        if page.contains(what) {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "`{what}` never appeared in {path}:\n{page}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn preview_renders_reloads_and_survives_broken_files() {
    let workspace = tempfile::tempdir().unwrap();
    common::copy_example(workspace.path());
    let (child, line) = common::spawn_reading_first_line(
        Command::new(env!("CARGO_BIN_EXE_canvass"))
            .env_remove("CANVASS_KEY")
            .arg("--workspace")
            .arg(workspace.path())
            .args(["preview", "--port", "0"]),
    );
    let _server = Server(child);
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();

    let index = get(&addr, "/");
    for link in [
        "/view/nps/cs/email",
        "/view/support-csat/sl/teams",
        "/view/onboarding/en/print",
    ] {
        assert!(index.contains(link), "{link} is listed:\n{index}");
    }
    let page = get(&addr, "/view/support-csat/en/html");
    assert!(page.contains("<form class=\"cv-form\""));
    assert!(
        page.contains("fetch('/version')"),
        "the page reloads itself"
    );
    let version = get(&addr, "/version");
    let version = version.rsplit("\r\n\r\n").next().unwrap().to_string();

    let survey = workspace.path().join("surveys/support-csat/survey.yaml");
    let text = std::fs::read_to_string(&survey).unwrap();
    std::fs::write(
        &survey,
        text.replace("How did we do?", "How did we do today?"),
    )
    .unwrap();
    wait_for(&addr, "/view/support-csat/en/html", "How did we do today?");
    assert_ne!(
        get(&addr, "/version").rsplit("\r\n\r\n").next().unwrap(),
        version
    );

    std::fs::write(&survey, "id: support-csat\nquestions: [\n").unwrap();
    let index = wait_for(&addr, "/", "Problems");
    assert!(index.contains("survey.yaml"), "{index}");
    assert!(
        get(&addr, "/view/nps/en/html").contains("<form"),
        "other surveys still render"
    );
}
