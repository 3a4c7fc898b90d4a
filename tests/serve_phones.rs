//! On a phone as on a desktop: `canvass send` writes the NPS and CES e-mails of the
//! built-in library in four locales, `canvass serve` answers their links, and headless
//! Chromium loads each e-mail, form, one-click landing page and thank-you page at 320, 390
//! and 1280 CSS pixels. None may scroll sideways, every scale keeps its end labels at its
//! first and last answer, and axe-core finds nothing serious. The screenshots stay in the
//! target folder (`phones/`). Needs chromium, node, puppeteer-core and axe-core (skipped
//! without them unless CI is set).

mod collector;

use std::path::{Path, PathBuf};
use std::process::Command;

use collector::{Server, post, send_all};

const CHROMIUM: &str = "/usr/bin/chromium";

/// The surveys and the locales of their recipients.
const PEOPLE: [(&str, &str); 4] = [("nps", "en"), ("nps", "lt"), ("ces", "ms"), ("ces", "cs")];

/// The folder holding puppeteer-core and axe-core: `CANVASS_NODE_MODULES`, else the one
/// the rendering tests install into the target folder; `None` (a skip, or a failure when
/// CI is set) without them, chromium or node.
fn node_modules() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("CANVASS_NODE_MODULES").map(PathBuf::from),
        Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("npm/node_modules")),
    ];
    let found = candidates.into_iter().flatten().find(|dir| {
        dir.join("puppeteer-core").is_dir() && dir.join("axe-core/axe.min.js").is_file()
    });
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if let Some(dir) = found.filter(|_| node && Path::new(CHROMIUM).exists()) {
        return Some(dir);
    }
    let missing = "chromium, node, or puppeteer-core and axe-core (CANVASS_NODE_MODULES)";
    assert!(std::env::var_os("CI").is_none(), "{missing} missing");
    eprintln!("skipped: {missing} missing");
    None
}

/// A workspace with the built-in NPS and CES surveys, each e-mailed to its people.
fn workspace(base_url: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("audiences")).unwrap();
    for survey in ["nps", "ces"] {
        let folder = root.join("surveys").join(survey);
        std::fs::create_dir_all(&folder).unwrap();
        let template = canvass::scaffold::template(survey).unwrap();
        std::fs::write(
            folder.join("survey.yaml"),
            canvass::scaffold::with_id(template, survey),
        )
        .unwrap();
        let people: String = PEOPLE
            .iter()
            .filter(|(s, _)| *s == survey)
            .map(|(_, locale)| format!("{locale}.{survey}@example.com,Ana,{locale}\n"))
            .collect();
        std::fs::write(
            root.join(format!("audiences/{survey}.csv")),
            format!("email,first_name,locale\n{people}"),
        )
        .unwrap();
        std::fs::write(
            folder.join("distribution.yaml"),
            format!(
                "survey: {survey}\nrules:\n  - id: after-ticket\n    channel: email\n    \
                 audience:\n      file: ../../audiences/{survey}.csv\n      key: email\n      \
                 name: first_name\n      locale: locale\n    email:\n      \
                 from: \"Support <support@example.com>\"\n      subject: Feedback\n"
            ),
        )
        .unwrap();
    }
    std::fs::write(root.join("canvass.yaml"), format!("base_url: {base_url}\n")).unwrap();
    dir
}

/// The HTML part of a decoded message.
fn html_part(message: &str) -> &str {
    let start = message.find("<!DOCTYPE html>").expect("an HTML part");
    let end = message[start..]
        .find("</html>")
        .expect("the HTML part ends")
        + start;
    &message[start..end + "</html>".len()]
}

/// The first link in `html` under `prefix`, unescaped.
fn link(html: &str, prefix: &str) -> String {
    let at = html
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} link"));
    let rest = &html[at..];
    rest[..rest.find('"').unwrap()].replace("&amp;", "&")
}

/// The page targets of one message: the e-mail itself, its form, its one-click landing
/// page and the thank-you page after the form.
async fn targets(
    server: &Server,
    base_url: &str,
    message: &str,
    dir: &Path,
    i: usize,
) -> Vec<serde_json::Value> {
    let html = html_part(message);
    let lang = html
        .split("lang=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let name = |what: &str| format!("{i}-{lang}-{what}");
    let mail = dir.join(format!("{}.html", name("email")));
    std::fs::write(&mail, html).unwrap();
    let form = link(html, &format!("{base_url}/s/"));
    let click = link(html, &format!("{base_url}/r/"));
    let (question, value) = click
        .split_once("?q=")
        .and_then(|(_, query)| query.split_once("&v="))
        .unwrap();
    let path = &form[base_url.len()..];
    let thanks = post(server.addr, path, &format!("{question}={value}")).await;
    assert_eq!(thanks.status, 200, "{}", thanks.body);
    let thanks_file = dir.join(format!("{}.html", name("thanks")));
    std::fs::write(&thanks_file, &thanks.body).unwrap();
    let file_url = |p: &Path| format!("file://{}", p.display());
    vec![
        serde_json::json!({"name": name("email"), "url": file_url(&mail)}),
        serde_json::json!({"name": name("page"), "url": form}),
        serde_json::json!({"name": name("landing"), "url": click}),
        serde_json::json!({"name": name("thanks"), "url": file_url(&thanks_file)}),
    ]
}

#[tokio::test]
async fn every_respondent_page_fits_a_phone_and_keeps_scale_ends_at_the_ends() {
    let Some(modules) = node_modules() else {
        return;
    };
    let ws = workspace("http://127.0.0.1:1");
    let server = Server::start(ws.path());
    let base_url = server.url("");
    let settings = format!("base_url: {base_url}\n");
    std::fs::write(ws.path().join("canvass.yaml"), settings).unwrap();
    let messages = send_all(ws.path());
    assert_eq!(messages.len(), PEOPLE.len());

    let pages = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        all.extend(targets(&server, &base_url, message, pages.path(), i).await);
    }
    let targets_file = pages.path().join("targets.json");
    std::fs::write(&targets_file, serde_json::to_string(&all).unwrap()).unwrap();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("phones");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/phones.js");
    let output = Command::new("node")
        .arg(script)
        .arg(&modules)
        .arg(&shots)
        .arg(profile.path())
        .arg(&targets_file)
        .env("CHROMIUM", CHROMIUM)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(results.len(), all.len() * 3);
    let mut problems = Vec::new();
    for r in &results {
        let at = format!("{} at {} px", r["name"].as_str().unwrap(), r["width"]);
        assert!(
            Path::new(r["shot"].as_str().unwrap()).is_file(),
            "{at}: no screenshot"
        );
        if r["scrollWidth"].as_u64() > r["innerWidth"].as_u64() {
            problems.push(format!(
                "{at}: scrolls sideways ({} > {})",
                r["scrollWidth"], r["innerWidth"]
            ));
        }
        for p in r["problems"].as_array().unwrap() {
            problems.push(format!("{at}: {p}"));
        }
        let scaled = ["email", "page", "landing"]
            .iter()
            .any(|w| at.contains(&format!("-{w} ")));
        if scaled && r["scales"].as_u64() == Some(0) {
            problems.push(format!("{at}: no scale with end labels measured"));
        }
        for v in r["violations"].as_array().unwrap() {
            if matches!(v["impact"].as_str(), Some("serious" | "critical")) {
                problems.push(format!("{at}: axe-core: {v}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
