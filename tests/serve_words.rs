//! What respondents meet at `canvass serve`, in every locale of the built-in library: the
//! collector's own pages carry `lang` and the locale's words, the open link follows
//! `?locale=` and the browser, a conditional question says when to answer it, and an answer
//! to a question that does not apply is left out, not refused, on the form, the one-click
//! link, the open link and `canvass import`.

mod collector;

use std::path::Path;

use canvass::words::Words;
use collector::{Server, count, db, get, get_with, post, token};

/// The locales of the built-in library.
const LOCALES: [&str; 5] = ["en", "sl", "lt", "cs", "ms"];

/// The built-in CSAT survey as `fb` (the collector tests' survey id), with `first` as its
/// default locale.
fn csat_workspace(first: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("surveys/fb")).unwrap();
    let template = canvass::scaffold::template("csat").unwrap();
    let others: Vec<&str> = LOCALES.iter().copied().filter(|l| *l != first).collect();
    let survey = canvass::scaffold::with_id(template, "fb").replace(
        "locales: [en, sl, lt, cs, ms]",
        &format!("locales: [{first}, {}]", others.join(", ")),
    );
    std::fs::write(dir.path().join("surveys/fb/survey.yaml"), survey).unwrap();
    dir
}

/// The answers that count for a response key, as stored JSON, with its locale.
fn counted(root: &Path, key: &str) -> (String, Option<String>) {
    db(root)
        .query_row(
            "SELECT answers, locale FROM responses WHERE response_key = ?1 AND counts = 1",
            [key],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap()
}

/// The sentence under `improve` (asked when satisfaction <= 3) in a locale's words.
fn improve_hint(locale: &str) -> String {
    let ui = Words::default().ui(locale);
    let above = ui.applies_above.replace("{answer}", "1–3");
    ui.applies_if.replace("{conditions}", &above)
}

fn escaped(text: &str) -> String {
    minijinja::HtmlEscape(text).to_string()
}

#[tokio::test]
async fn every_page_of_a_link_is_in_its_locale() {
    for locale in LOCALES {
        let ui = Words::default().ui(locale);
        let ws = csat_workspace(locale);
        let server = Server::start(ws.path());
        let lang = format!(r#"lang="{locale}""#);
        let browser = [("accept-language", locale)];
        let link = token(1, &format!("d-{locale}"), 3600);

        let unsubscribe = get(server.addr, &format!("/u/{link}")).await;
        assert_eq!(unsubscribe.status, 200);
        let body = &unsubscribe.body;
        assert!(body.contains(&lang), "{locale}: {body}");
        assert!(
            body.contains(&escaped(&ui.unsubscribe_text)),
            "{locale}: {body}"
        );
        assert!(
            !body.contains(&escaped(&ui.unsubscribed_text))
                && !body.contains(&escaped(&ui.unsubscribed_title)),
            "{locale}: the page before the POST does not say it is done"
        );
        assert!(body.contains("cv-submit"), "the survey pages' layout");
        let done = post(
            server.addr,
            &format!("/u/{link}"),
            "List-Unsubscribe=One-Click",
        )
        .await;
        assert!(
            done.body.contains(&escaped(&ui.unsubscribed_text)),
            "{locale}"
        );

        let (payload, _) = link.split_once('.').unwrap();
        let forged = format!("/s/{payload}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        let refused = get_with(server.addr, &forged, &browser).await;
        assert_eq!(refused.status, 403);
        assert!(refused.body.contains(&lang), "{locale}: {}", refused.body);
        assert!(
            refused.body.contains(&escaped(&ui.forged_title)),
            "{locale}"
        );

        let old = token(1, &format!("d-{locale}-old"), -60);
        let expired = get(server.addr, &format!("/s/{old}")).await;
        assert_eq!(expired.status, 410);
        assert!(expired.body.contains(&lang), "{locale}");
        assert!(
            expired.body.contains(&escaped(&ui.expired_title)),
            "{locale}"
        );

        let missing = get_with(server.addr, "/nothing/here", &browser).await;
        assert_eq!(missing.status, 404);
        assert!(missing.body.contains(&lang), "{locale}");
        assert!(
            missing.body.contains(&escaped(&ui.not_found_text)),
            "{locale}"
        );

        let form = get(server.addr, &format!("/s/{link}")).await;
        assert!(
            form.body.contains(&escaped(&improve_hint(locale))),
            "{locale}: {}",
            form.body
        );

        let unanswered = post(server.addr, &format!("/s/{link}"), "improve=x").await;
        assert_eq!(unanswered.status, 422);
        assert!(unanswered.body.contains(&lang), "{locale}");
        assert!(
            unanswered.body.contains(&escaped(&ui.needs_answer)),
            "{locale}"
        );
        assert!(
            !unanswered.body.contains("satisfaction <="),
            "no expression shown"
        );

        let happy = "satisfaction=5&improve=slow&liked=fast&follow_up=yes";
        let thanks = post(server.addr, &format!("/s/{link}"), happy).await;
        assert_eq!(thanks.status, 200, "{locale}: {}", thanks.body);
        assert!(thanks.body.contains(&lang), "{locale}");
        assert!(
            thanks
                .body
                .contains(&format!("<h1>{}</h1>", escaped(&ui.answers_saved))),
            "{locale}: the thanks page is headed with the confirmation, not the question"
        );
        let (answers, _) = counted(ws.path(), &format!("d-{locale}"));
        assert_eq!(
            answers, r#"{"liked":"fast","satisfaction":5}"#,
            "{locale}: what does not apply is left out"
        );
    }
}

#[tokio::test]
async fn a_click_on_a_question_that_does_not_apply_saves_nothing_and_says_so() {
    let ws = csat_workspace("en");
    let server = Server::start(ws.path());
    let link = token(1, "d-moot", 3600);
    let ui = Words::default().ui("en");
    let moot = get(server.addr, &format!("/r/{link}?q=follow_up&v=yes")).await;
    assert_eq!(moot.status, 200);
    assert!(
        !moot.body.contains(&escaped(&ui.click_saved)),
        "{}",
        moot.body
    );
    assert_eq!(count(ws.path(), "SELECT count(*) FROM responses"), 0);
    let click = get(server.addr, &format!("/r/{link}?q=satisfaction&v=2")).await;
    assert!(
        click.body.contains(&escaped(&ui.click_saved)),
        "{}",
        click.body
    );
    let confirmed = post(server.addr, &format!("/r/{link}"), "q=satisfaction&v=2").await;
    assert_eq!(confirmed.status, 204);
    let later = get(server.addr, &format!("/r/{link}?q=follow_up&v=yes")).await;
    assert!(later.body.contains(&escaped(&ui.click_saved)));
    let confirmed = post(server.addr, &format!("/r/{link}"), "q=follow_up&v=yes").await;
    assert_eq!(confirmed.status, 204);
    let (answers, _) = counted(ws.path(), "d-moot");
    assert_eq!(answers, r#"{"follow_up":"yes","satisfaction":2}"#);
    let happier = get(server.addr, &format!("/r/{link}?q=satisfaction&v=5")).await;
    assert_eq!(happier.status, 200);
    let confirmed = post(server.addr, &format!("/r/{link}"), "q=satisfaction&v=5").await;
    assert_eq!(confirmed.status, 204);
    let (answers, _) = counted(ws.path(), "d-moot");
    assert_eq!(
        answers, r#"{"satisfaction":5}"#,
        "the follow-up is moot at 5"
    );
}

/// The session of an open-link page, and the page.
async fn open_page(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (String, String) {
    let page = get_with(addr, path, headers).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let session = page
        .body
        .split("name=\"_session\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a session field")
        .to_string();
    (session, page.body)
}

#[tokio::test]
async fn the_open_link_speaks_the_sheets_or_the_browsers_language() {
    let ws = csat_workspace("en");
    let server = Server::start(ws.path());
    let (_, asked) = open_page(server.addr, "/o/fb?locale=sl", &[("accept-language", "cs")]).await;
    assert!(asked.contains(r#"lang="sl""#), "?locale= wins");
    assert!(
        asked.contains(r#"action="/o/fb?locale=sl""#),
        "and the form keeps it"
    );
    let (_, browser) = open_page(
        server.addr,
        "/o/fb",
        &[("accept-language", "lt-LT, en;q=0.5")],
    )
    .await;
    assert!(browser.contains(r#"lang="lt""#));
    let (_, unknown) = open_page(
        server.addr,
        "/o/fb?locale=de",
        &[("accept-language", "de, fr;q=0.8")],
    )
    .await;
    assert!(
        unknown.contains(r#"lang="en""#),
        "the survey's default when it lacks both"
    );

    let (session, _) = open_page(server.addr, "/o/fb?locale=ms", &[]).await;
    let ui = Words::default().ui("ms");
    let answered = post(
        server.addr,
        "/o/fb?locale=ms",
        &format!("_session={session}&website=&satisfaction=4&improve=slow&liked=fast"),
    )
    .await;
    assert_eq!(answered.status, 200, "{}", answered.body);
    assert!(answered.body.contains(r#"lang="ms""#));
    assert!(answered.body.contains(&escaped(&ui.answers_saved)));
    let (answers, locale): (String, Option<String>) = db(ws.path())
        .query_row(
            "SELECT answers, locale FROM responses WHERE channel = 'link' AND counts = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!(answers, r#"{"liked":"fast","satisfaction":4}"#);
    assert_eq!(locale.as_deref(), Some("ms"));
    let refused = post(
        server.addr,
        "/o/fb?locale=ms",
        &format!("_session={session}&website=&improve=slow"),
    )
    .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains(&escaped(&ui.needs_answer)));
}

#[test]
fn import_leaves_out_cells_that_do_not_apply_warns_at_each_and_stores_the_rest() {
    let ws = csat_workspace("en");
    let file = ws.path().join("paper.csv");
    std::fs::write(
        &file,
        "submitted_at,satisfaction,improve,liked,follow_up\n\
         2026-09-01T10:00:00Z,5,too slow,friendly,yes\n\
         2026-09-01T11:00:00Z,2,too slow,,no\n\
         2026-09-01T12:00:00Z,4,,kind,\n",
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_canvass"))
        .arg("--workspace")
        .arg(ws.path())
        .args(["import", "--survey", "fb"])
        .arg(&file)
        .env("CANVASS_KEY", collector::KEY)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: row 2, column `improve`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: row 2, column `follow_up`"),
        "{stderr}"
    );
    assert!(!stderr.contains("row 3"), "{stderr}");
    assert!(
        stderr.contains("2 answers to questions that did not apply left out"),
        "{stderr}"
    );
    let mut stored: Vec<String> = db(ws.path())
        .prepare("SELECT answers FROM responses ORDER BY submitted_at")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        [
            r#"{"follow_up":"no","improve":"too slow","satisfaction":2}"#,
            r#"{"liked":"friendly","satisfaction":5}"#,
            r#"{"liked":"kind","satisfaction":4}"#,
        ]
    );
}
