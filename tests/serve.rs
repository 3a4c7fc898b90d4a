//! `canvass serve` over real HTTP: one-click links, the form, tokens, unsubscribe, the
//! open link, versions and limits.

mod collector;

use collector::{
    Client, Server, count, db, get, get_with, post, survey_yaml, token, workspace,
    write_distribution,
};

fn counted_answers(root: &std::path::Path, delivery: &str) -> (String, bool, i64) {
    db(root)
        .query_row(
            "SELECT answers, confirmed, version FROM responses \
             WHERE response_key = ?1 AND counts = 1",
            [delivery],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap()
}

#[tokio::test]
async fn a_one_click_answer_is_provisional_until_the_page_confirms_it() {
    let ws = workspace(1);
    let server = Server::start(ws.path());
    let link = token(1, "d-click", 3600);
    let page = get(server.addr, &format!("/r/{link}?q=score&v=9")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("/assets/confirm.js"), "{}", page.body);
    assert!(page.body.contains(&link), "the form posts back to the link");
    assert_eq!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .split(';')
            .next(),
        Some("default-src 'none'")
    );
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    let (answers, confirmed, _) = counted_answers(ws.path(), "d-click");
    assert_eq!(answers, r#"{"score":9}"#);
    assert!(!confirmed);
    assert_eq!(count(ws.path(), "SELECT count(*) FROM link_fetches"), 1);

    let confirm = post(server.addr, &format!("/r/{link}"), "q=score&v=9").await;
    assert_eq!(confirm.status, 204);
    let (answers, confirmed, _) = counted_answers(ws.path(), "d-click");
    assert_eq!(answers, r#"{"score":9}"#);
    assert!(confirmed);

    // A scanner fetching the other buttons afterwards changes nothing that counts; its
    // fetches are recorded.
    for v in 0..=10 {
        get(server.addr, &format!("/r/{link}?q=score&v={v}")).await;
    }
    let (answers, confirmed, _) = counted_answers(ws.path(), "d-click");
    assert_eq!((answers.as_str(), confirmed), (r#"{"score":9}"#, true));
    assert_eq!(count(ws.path(), "SELECT count(*) FROM link_fetches"), 12);
}

#[tokio::test]
async fn the_form_keeps_answers_and_shows_errors_then_a_second_answer_replaces_the_first() {
    let ws = workspace(1);
    let server = Server::start(ws.path());
    let path = format!("/s/{}", token(1, "d-form", 3600));
    assert_eq!(get(server.addr, &path).await.status, 200);

    let invalid = post(server.addr, &path, "score=3&why=too+slow&solved=").await;
    assert_eq!(invalid.status, 422);
    assert!(
        invalid.body.contains("Please answer this question."),
        "{}",
        invalid.body
    );
    assert!(invalid.body.contains("too slow"), "the answers are kept");
    assert_eq!(count(ws.path(), "SELECT count(*) FROM responses"), 0);

    let out_of_range = post(server.addr, &path, "score=11&solved=yes").await;
    assert_eq!(out_of_range.status, 422);
    assert!(
        out_of_range
            .body
            .contains("Please choose one of the answers.")
    );
    assert!(
        !out_of_range.body.contains("whole number"),
        "no developer words"
    );

    let hidden = post(server.addr, &path, "score=9&why=x&solved=yes").await;
    assert_eq!(
        hidden.status, 200,
        "an answer that does not apply is left out"
    );
    let (answers, _, _) = counted_answers(ws.path(), "d-form");
    assert_eq!(
        answers, r#"{"score":9,"solved":"yes"}"#,
        "`why` is asked only when score <= 6"
    );

    let valid = post(server.addr, &path, "score=3&why=too+slow&solved=no").await;
    assert_eq!(valid.status, 200);
    assert!(valid.body.contains("Thanks a lot!"));
    assert!(
        valid.body.contains("THANKS10"),
        "a complete answer shows the incentive"
    );

    let again = post(server.addr, &path, "score=10&solved=yes").await;
    assert_eq!(again.status, 200);
    let (answers, confirmed, version) = counted_answers(ws.path(), "d-form");
    assert_eq!(answers, r#"{"score":10,"solved":"yes"}"#);
    assert!(confirmed);
    assert_eq!(version, 1);
    assert_eq!(count(ws.path(), "SELECT count(*) FROM responses"), 3);
    assert_eq!(count(ws.path(), "SELECT sum(counts) FROM responses"), 1);
}

#[tokio::test]
async fn forged_and_expired_links_are_refused() {
    let ws = workspace(1);
    let server = Server::start(ws.path());
    let good = token(1, "d-x", 3600);
    let (payload, _) = good.split_once('.').unwrap();
    let forged = format!("{payload}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    for path in [
        format!("/r/{forged}?q=score&v=1"),
        format!("/s/{forged}"),
        "/s/garbage".to_string(),
    ] {
        assert_eq!(get(server.addr, &path).await.status, 403, "{path}");
    }
    assert_eq!(
        post(server.addr, &format!("/s/{forged}"), "score=1&solved=yes")
            .await
            .status,
        403
    );
    let expired = get(server.addr, &format!("/s/{}", token(1, "d-old", -60))).await;
    assert_eq!(expired.status, 410);
    assert!(expired.body.contains("expired"));
    assert_eq!(count(ws.path(), "SELECT count(*) FROM responses"), 0);
    assert_eq!(get(server.addr, "/healthz").await.body, "ok\n");
    assert_eq!(get(server.addr, "/nowhere").await.status, 404);
}

#[tokio::test]
async fn unsubscribe_needs_a_post_and_records_the_suppression() {
    let ws = workspace(1);
    let server = Server::start(ws.path());
    let path = format!("/u/{}", token(1, "d-unsub", -60));
    let page = get(server.addr, &path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("method=\"post\""));
    assert_eq!(count(ws.path(), "SELECT count(*) FROM suppressions"), 0);
    let done = post(server.addr, &path, "List-Unsubscribe=One-Click").await;
    assert_eq!(done.status, 200);
    let reason: String = db(ws.path())
        .query_row(
            "SELECT reason FROM suppressions WHERE recipient = 'recipient-d-unsub'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(reason, "unsubscribed");
}

#[tokio::test]
async fn an_answer_to_an_older_version_is_stored_with_that_version() {
    let ws = workspace(1);
    let v1_hash = {
        let server = Server::start(ws.path());
        assert_eq!(get(server.addr, "/healthz").await.status, 200);
        let (ws_loaded, _) = canvass::workspace::Workspace::load(ws.path());
        ws_loaded.surveys[0]
            .survey
            .as_ref()
            .unwrap()
            .value
            .definition_hash()
    };
    collector::set_version(ws.path(), 2);
    let server = Server::start(ws.path());
    // Version 2 requires `effort`; the version 1 link is validated against version 1.
    let old = post(
        server.addr,
        &format!("/s/{}", token(1, "d-v1", 3600)),
        "score=8&solved=yes",
    )
    .await;
    assert_eq!(old.status, 200, "{}", old.body);
    let (version, hash): (u32, String) = db(ws.path())
        .query_row(
            "SELECT version, definition_hash FROM responses WHERE response_key = 'd-v1'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!((version, hash), (1, v1_hash));
    let new = post(
        server.addr,
        &format!("/s/{}", token(2, "d-v2", 3600)),
        "score=8&solved=yes",
    )
    .await;
    assert_eq!(new.status, 422, "version 2 needs `effort`");
}

#[tokio::test]
async fn an_older_version_never_served_here_is_checked_against_the_current_one() {
    let ws = workspace(2);
    let server = Server::start(ws.path());
    let path = format!("/s/{}", token(1, "d-unknown", 3600));
    assert_eq!(
        post(server.addr, &path, "score=8&solved=yes").await.status,
        422
    );
    let ok = post(server.addr, &path, "score=8&solved=yes&effort=6").await;
    assert_eq!(ok.status, 200);
    let (_, _, version) = counted_answers(ws.path(), "d-unknown");
    assert_eq!(version, 1, "tagged with the link's version");
}

#[tokio::test]
async fn the_open_link_takes_anonymous_answers_drops_bots_and_limits_clients() {
    let ws = workspace(1);
    let server = Server::start(ws.path());
    let session = open_session(server.addr).await;
    let bot = post(
        server.addr,
        "/o/fb",
        &format!("_session={session}&score=0&solved=no&website=spam.example"),
    )
    .await;
    assert_eq!(bot.status, 200);
    assert_eq!(count(ws.path(), "SELECT count(*) FROM responses"), 0);
    for score in [7, 8] {
        let ok = post(
            server.addr,
            "/o/fb",
            &format!("_session={session}&score={score}&solved=yes&website="),
        )
        .await;
        assert_eq!(ok.status, 200);
    }
    let (answers, confirmed, _) = counted_answers(ws.path(), &session_key(&session));
    assert_eq!(
        (answers.as_str(), confirmed),
        (r#"{"score":8,"solved":"yes"}"#, true)
    );
    assert_eq!(
        count(
            ws.path(),
            "SELECT count(*) FROM responses WHERE channel = 'link'"
        ),
        2,
        "a second submit of the same page replaces the first"
    );
    let no_session = post(server.addr, "/o/fb", "score=1&solved=no").await;
    assert_eq!(no_session.status, 403);
    let mut limited = false;
    for _ in 0..40 {
        limited |= get(server.addr, "/o/fb").await.status == 429;
    }
    assert!(limited, "a client is rate-limited on the open link");
}

/// A flood on one personal link stores at most 20 answers and 20 link fetches, and is
/// refused with 429 after its burst of 30 requests; another link is not affected.
#[tokio::test]
async fn a_flood_on_one_link_is_bounded() {
    let ws = workspace(1);
    let server = Server::start(ws.path());
    let form = format!("/s/{}", token(1, "d-flood", 3600));
    let mut client = Client::connect(server.addr).await.unwrap();
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..200 {
        let body = format!("score={}&solved=yes", 7 + i % 4);
        let reply = client.post(&form, &body).await.unwrap();
        *statuses.entry(reply.status).or_insert(0) += 1;
    }
    assert_eq!(
        statuses,
        [(200, 20), (429, 180)].into_iter().collect(),
        "20 answers stored, then refused"
    );
    let stored = "SELECT count(*) FROM responses WHERE response_key = 'd-flood'";
    assert_eq!(count(ws.path(), stored), 20);
    let one_click = format!("/r/{}?q=score&v=9", token(1, "d-clicks", 3600));
    for _ in 0..100 {
        client.get(&one_click).await.unwrap();
    }
    assert_eq!(
        count(
            ws.path(),
            "SELECT count(*) FROM link_fetches WHERE delivery = 'd-clicks'"
        ),
        20
    );
    let other = format!("/s/{}", token(1, "d-other", 3600));
    assert_eq!(get(server.addr, &other).await.status, 200);
}

/// Behind a trusted proxy, the open link's limit is per forwarded client; without
/// `--trust-proxy` the header is not believed.
#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let ws = workspace(1);
    for (args, shared) in [
        (&["--trust-proxy", "127.0.0.1"][..], false),
        (&[][..], true),
    ] {
        let server = Server::start_serving(ws.path(), args);
        let mut client = Client::connect(server.addr).await.unwrap();
        let visitor = |ip: &'static str| [("x-forwarded-for", ip)];
        let mut first_limited = false;
        for _ in 0..40 {
            let reply = client.get_with("/o/fb", &visitor("203.0.113.9")).await;
            first_limited |= reply.unwrap().status == 429;
        }
        assert!(first_limited);
        let second = client.get_with("/o/fb", &visitor("198.51.100.4")).await;
        let second_limited = second.unwrap().status == 429;
        assert_eq!(second_limited, shared, "with {args:?}");
    }
}

/// The README's order: send to the outbox, serve on loopback, answer the e-mail; then a
/// new key is exported by mistake: every command refuses it and nothing is written.
#[tokio::test]
async fn the_local_trial_works_and_another_key_is_refused() {
    let ws = workspace(1);
    write_distribution(ws.path(), "http://127.0.0.1:8080");
    let canvass = |key: Option<&str>| {
        let mut command = assert_cmd::Command::cargo_bin("canvass").unwrap();
        command.arg("--workspace").arg(ws.path());
        match key {
            Some(key) => command.env("CANVASS_KEY", key),
            None => command.env_remove("CANVASS_KEY"),
        };
        command
    };
    canvass(None)
        .args(["send", "fb", "--yes"])
        .assert()
        .success();
    let outbox = ws.path().join(".canvass/outbox");
    let mail = std::fs::read_dir(&outbox).unwrap().next().unwrap().unwrap();
    let text = std::fs::read_to_string(mail.path())
        .unwrap()
        .replace("=\r\n", "");
    let link = text
        .split("http://127.0.0.1:8080")
        .find_map(|rest| rest.strip_prefix("/s/"))
        .and_then(|rest| rest.split(['"', '>', '\r', '\n', ' ']).next())
        .expect("a form link in the e-mail")
        .to_string();
    {
        let server = Server::start_keyless(ws.path());
        let page = get(server.addr, &format!("/s/{link}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
    }
    let other = canvass::token::generate();
    for args in [&["send", "fb", "--yes"][..], &["plan", "fb"][..]] {
        canvass(Some(&other))
            .args(args)
            .assert()
            .failure()
            .stderr(predicates::str::contains("canvass key rotate"));
    }
    canvass(Some(&other))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("fingerprint"));
    assert_eq!(
        std::fs::read_dir(&outbox).unwrap().count(),
        1,
        "nothing sent"
    );
    assert_eq!(count(ws.path(), "SELECT count(*) FROM deliveries"), 1);
}

/// The session a fresh open-link page hands out.
async fn open_session(addr: std::net::SocketAddr) -> String {
    let page = get(addr, "/o/fb").await;
    assert_eq!(page.status, 200);
    page.body
        .split("name=\"_session\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a session field")
        .to_string()
}

fn session_key(session: &str) -> String {
    canvass::token::Key::from_base64(collector::KEY)
        .unwrap()
        .verify(session, 0)
        .unwrap()
        .delivery
}

#[tokio::test]
async fn large_bodies_are_refused() {
    let ws = workspace(1);
    let server = Server::start(ws.path());
    let path = format!("/s/{}", token(1, "d-big", 3600));
    let big = format!("score=1&solved=no&why={}", "x".repeat(200_000));
    assert_eq!(post(server.addr, &path, &big).await.status, 413);
}

#[test]
fn serve_refuses_to_start_without_a_key_and_key_makes_one() {
    let ws = workspace(1);
    assert_cmd::Command::cargo_bin("canvass")
        .unwrap()
        .args(["--workspace"])
        .arg(ws.path())
        .args(["serve", "--bind", "0.0.0.0:0"])
        .env_remove("CANVASS_KEY")
        .assert()
        .failure()
        .stderr(predicates::str::contains("canvass key"));
    let output = assert_cmd::Command::cargo_bin("canvass")
        .unwrap()
        .arg("key")
        .output()
        .unwrap();
    let key = String::from_utf8(output.stdout).unwrap();
    assert!(canvass::token::Key::from_base64(key.trim()).is_ok());
}

#[tokio::test]
async fn an_unsubscribed_person_is_suppressed_in_the_plan() {
    let ws = workspace(1);
    let server = Server::start(ws.path());
    collector::write_distribution(ws.path(), &server.url(""));
    let key = canvass::token::Key::from_base64(collector::KEY).unwrap();
    let link = collector::token_for(1, "d-ana", &key.recipient("ana@example.com"), 3600);
    let plan = || {
        let output = assert_cmd::Command::cargo_bin("canvass")
            .unwrap()
            .args(["--workspace"])
            .arg(ws.path())
            .args(["plan", "--all"])
            .env("CANVASS_KEY", collector::KEY)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(!plan().contains("suppressed"), "{}", plan());
    let done = post(
        server.addr,
        &format!("/u/{link}"),
        "List-Unsubscribe=One-Click",
    )
    .await;
    assert_eq!(done.status, 200);
    let after = plan();
    assert!(after.contains("suppressed"), "{after}");
}

/// A session handed out by the open link is not a personal link: refused on the form, the
/// one-click answers and unsubscribe, with nothing stored.
#[tokio::test]
async fn open_link_sessions_are_refused_on_personal_routes() {
    let ws = workspace(1);
    let server = Server::start(ws.path());
    let session = open_session(server.addr).await;
    assert_eq!(get(server.addr, &format!("/s/{session}")).await.status, 403);
    let form = post(server.addr, &format!("/s/{session}"), "score=9&solved=yes").await;
    assert_eq!(form.status, 403);
    let click = get(server.addr, &format!("/r/{session}?q=score&v=9")).await;
    assert_eq!(click.status, 403);
    let unsubscribe = post(server.addr, &format!("/u/{session}"), "").await;
    assert_eq!(unsubscribe.status, 403);
    assert_eq!(count(ws.path(), "SELECT count(*) FROM responses"), 0);
    assert_eq!(count(ws.path(), "SELECT count(*) FROM suppressions"), 0);

    let personal = token(1, "d-kind", 3600);
    let as_session = post(
        server.addr,
        "/o/fb",
        &format!("_session={personal}&score=9&solved=yes&website="),
    )
    .await;
    assert_eq!(as_session.status, 403, "a personal link is no open session");
    assert_eq!(count(ws.path(), "SELECT count(*) FROM responses"), 0);
}

/// An expired open session takes no ballot (a harvested session cannot be replayed).
#[tokio::test]
async fn an_expired_open_session_is_refused() {
    let ws = workspace(1);
    let server = Server::start(ws.path());
    let key = canvass::token::Key::from_base64(collector::KEY).unwrap();
    let expired = key.sign(&canvass::token::Claims {
        survey: "fb".into(),
        version: 1,
        rule: "open".into(),
        recipient: String::new(),
        delivery: "open-0123".into(),
        expires: jiff::Timestamp::now().as_second() - 10,
        kind: canvass::token::TokenKind::OpenSession,
    });
    let reply = post(
        server.addr,
        "/o/fb",
        &format!("_session={expired}&score=9&solved=yes&website="),
    )
    .await;
    assert_eq!(reply.status, 410);
    assert_eq!(count(ws.path(), "SELECT count(*) FROM responses"), 0);
}

/// A one-click answer after a full form keeps the other answers, drops only those its
/// new value makes moot, and a click on a question that does not apply stores nothing.
#[tokio::test]
async fn a_one_click_answer_merges_with_the_answers_given_before() {
    let ws = workspace(1);
    let server = Server::start(ws.path());
    let link = token(1, "d-merge", 3600);
    let full = post(
        server.addr,
        &format!("/s/{link}"),
        "score=3&why=too+slow&solved=no",
    )
    .await;
    assert_eq!(full.status, 200);
    get(server.addr, &format!("/r/{link}?q=score&v=2")).await;
    let confirm = post(server.addr, &format!("/r/{link}"), "q=score&v=2").await;
    assert_eq!(confirm.status, 204);
    let (answers, confirmed, _) = counted_answers(ws.path(), "d-merge");
    assert_eq!(
        (answers.as_str(), confirmed),
        (r#"{"score":2,"solved":"no","why":"too slow"}"#, true)
    );
    let confirm = post(server.addr, &format!("/r/{link}"), "q=score&v=9").await;
    assert_eq!(confirm.status, 204);
    let (answers, _, _) = counted_answers(ws.path(), "d-merge");
    assert_eq!(
        answers, r#"{"score":9,"solved":"no"}"#,
        "`why` is moot at 9"
    );
    let lone = post(server.addr, &format!("/r/{link}"), "q=why&v=sneaky").await;
    assert_eq!(lone.status, 422);
    let (answers, _, _) = counted_answers(ws.path(), "d-merge");
    assert_eq!(answers, r#"{"score":9,"solved":"no"}"#);
}

#[tokio::test]
async fn the_pages_of_a_lithuanian_link_are_in_lithuanian() {
    let ws = workspace(1);
    let lithuanian = survey_yaml(1).replace("locales: [en]", "locales: [lt]");
    std::fs::write(ws.path().join("surveys/fb/survey.yaml"), lithuanian).unwrap();
    let server = Server::start(ws.path());
    let link = token(1, "d-lt", 3600);
    let unsubscribe = get(server.addr, &format!("/u/{link}")).await;
    assert_eq!(unsubscribe.status, 200);
    assert!(
        unsubscribe.body.contains(r#"lang="lt""#),
        "{}",
        unsubscribe.body
    );
    assert!(
        unsubscribe.body.contains("Atsisakyti prenumeratos"),
        "{}",
        unsubscribe.body
    );
    let expired = get(server.addr, &format!("/s/{}", token(1, "d-lt-old", -60))).await;
    assert_eq!(expired.status, 410);
    assert!(expired.body.contains("nebegalioja"), "{}", expired.body);
    let (payload, _) = link.split_once('.').unwrap();
    let forged = format!("/s/{payload}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let browser = [("accept-language", "lt-LT,lt;q=0.9,en;q=0.5")];
    let refused = get_with(server.addr, &forged, &browser).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains(r#"lang="lt""#), "{}", refused.body);
    assert!(
        refused.body.contains("Netinkama nuoroda"),
        "{}",
        refused.body
    );
    let unknown = get_with(server.addr, &forged, &[("accept-language", "xx")]).await;
    assert!(unknown.body.contains(r#"lang="en""#), "{}", unknown.body);
    assert!(unknown.body.contains("Invalid link"), "{}", unknown.body);
}
