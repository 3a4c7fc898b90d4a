//! Rendering: every format of a real survey, the e-mail read back by an independent
//! parser, and the injection cases (survey texts and recipients' values stay data).

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use canvass::model::{Rule, Survey};
use canvass::render::{
    Delivery, EmailContext, PageContext, PageTarget, Paper, PrintContext, Recipient, RenderError,
    Renderer,
};
use common::{example, fixed_date, fixed_token, normalize_boundaries, require};

fn email_message(
    survey: &Survey,
    rule: Option<&Rule>,
    locale: &str,
    recipient: &Recipient,
) -> Result<Vec<u8>, RenderError> {
    let token = fixed_token(survey);
    let context = EmailContext {
        delivery: Delivery {
            survey,
            rule,
            locale,
            recipient,
            base_url: "https://feedback.acme.example",
            token: &token,
        },
        unsubscribe_mailto: Some("unsubscribe@acme.example"),
        message_id: Some("<render-test@acme.example>".into()),
        date: fixed_date(),
    };
    Ok(Renderer::builtin().email(&context)?.formatted())
}

/// A recipient with a name and no other values.
fn named(address: &str, name: &str) -> Recipient {
    Recipient {
        address: address.into(),
        name: Some(name.into()),
        values: BTreeMap::new(),
    }
}

#[test]
fn every_format_of_one_survey_in_two_locales() {
    let (survey, rules) = example("support-csat");
    let renderer = Renderer::builtin();
    let recipient = Recipient::sample();
    let token = fixed_token(&survey);
    for locale in ["en", "sl"] {
        let delivery = Delivery {
            survey: &survey,
            rule: rules.first(),
            locale,
            recipient: &recipient,
            base_url: "https://feedback.acme.example",
            token: &token,
        };
        let eml = email_message(&survey, rules.first(), locale, &recipient).unwrap();
        insta::assert_snapshot!(format!("email_{locale}"), normalize_boundaries(&eml));
        let page = renderer
            .page(&PageContext {
                survey: &survey,
                locale,
                base_url: delivery.base_url,
                target: PageTarget::Token(&token),
                answers: &BTreeMap::new(),
                errors: &[],
                clicked: false,
            })
            .unwrap();
        insta::assert_snapshot!(format!("page_{locale}"), page);
        insta::assert_json_snapshot!(
            format!("slack_{locale}"),
            renderer.slack(&delivery).unwrap()
        );
        insta::assert_json_snapshot!(
            format!("teams_{locale}"),
            renderer.teams(&delivery).unwrap()
        );
        insta::assert_snapshot!(format!("text_{locale}"), renderer.text(&delivery).unwrap());
        let print = renderer
            .print(&PrintContext {
                survey: &survey,
                locale,
                base_url: delivery.base_url,
                paper: Paper::A4,
            })
            .unwrap();
        insta::assert_snapshot!(format!("print_{locale}"), print);
    }
}

/// The e-mail as Python's `email` package reads it.
fn parse_with_python(eml: &[u8]) -> Option<serde_json::Value> {
    if !require("python3", &["python3", "--version"]) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("message.eml");
    std::fs::write(&path, eml).unwrap();
    let script = r#"
import email, email.policy, json, sys
raw = open(sys.argv[1], "rb").read()
msg = email.message_from_bytes(raw, policy=email.policy.default)
parts = [p for p in msg.walk()]
out = {
    "headers": {k: str(v) for k, v in msg.items()},
    "content_type": msg.get_content_type(),
    "parts": [p.get_content_type() for p in parts if not p.is_multipart()],
    "text": msg.get_body(("plain",)).get_content(),
    "html": msg.get_body(("html",)).get_content(),
    "charsets": [p.get_content_charset() for p in parts if not p.is_multipart()],
    "longest_line": max(len(l) for l in raw.split(b"\r\n")),
    "bare_lf": raw.replace(b"\r\n", b"").count(b"\n"),
    "defects": [str(d) for p in parts for d in p.defects],
}
print(json.dumps(out))
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .unwrap();
    common::assert_success(&output);
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

#[test]
fn the_email_reads_back_in_an_independent_parser() {
    let (survey, rules) = example("nps");
    let recipient = named("ana.novak@example.com", "Anže Čebašek");
    let eml = email_message(&survey, rules.first(), "sl", &recipient).unwrap();
    let Some(parsed) = parse_with_python(&eml) else {
        return;
    };
    let headers = &parsed["headers"];
    assert_eq!(parsed["content_type"], "multipart/alternative");
    assert_eq!(
        parsed["parts"],
        serde_json::json!(["text/plain", "text/html"])
    );
    assert_eq!(parsed["charsets"], serde_json::json!(["utf-8", "utf-8"]));
    assert_eq!(headers["Subject"], "Anže Čebašek, bi priporočili Acme?");
    assert!(
        String::from_utf8_lossy(&eml).contains("Subject: =?utf-8?"),
        "a non-ASCII subject is RFC 2047 encoded"
    );
    assert_eq!(headers["From"], "Acme Support <support@acme.example>");
    assert_eq!(headers["Reply-To"], "feedback@acme.example");
    assert_eq!(headers["Message-ID"], "<render-test@acme.example>");
    assert!(headers["Date"].as_str().unwrap().contains("2027"));
    assert_eq!(headers["Auto-Submitted"], "auto-generated");
    assert_eq!(
        headers["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    let unsubscribe = headers["List-Unsubscribe"].as_str().unwrap();
    let token = fixed_token(&survey);
    assert!(unsubscribe.contains(&format!(
        "<mailto:unsubscribe@acme.example?subject=unsubscribe%20{token}>"
    )));
    assert!(unsubscribe.contains(&format!("<https://feedback.acme.example/u/{token}>")));
    assert!(parsed["longest_line"].as_u64().unwrap() <= 998);
    let raw = String::from_utf8_lossy(&eml);
    let body = raw.split_once("\r\n\r\n").unwrap().1;
    assert!(
        body.split("\r\n").all(|l| l.len() <= 78),
        "body lines fit in 78 characters"
    );
    assert_eq!(parsed["bare_lf"], 0);
    assert_eq!(parsed["defects"], serde_json::json!([]));
    let text = parsed["text"].as_str().unwrap();
    let html = parsed["html"].as_str().unwrap();
    for value in 0..=10 {
        let link = format!("https://feedback.acme.example/r/{token}?q=recommend&v={value}");
        assert!(text.contains(&link), "the text lists {link}");
        assert!(
            html.contains(&link.replace('&', "&amp;")),
            "the HTML links {link}"
        );
    }
    assert!(text.contains("Pozdravljeni, Anže Čebašek,"));
    assert!(text.contains("0 = Sploh ni verjetno"));
    assert!(html.contains("role=\"presentation\""));
    assert!(html.contains("<div lang=\"sl\" dir=\"ltr\""));
    assert!(html.contains("name=\"color-scheme\""));
    assert!(!html.contains("<form") && !html.contains("<script"));
}

fn hostile_survey() -> Survey {
    serde_json::from_value(serde_json::json!({
        "id": "hostile",
        "version": 1,
        "locales": ["en"],
        "title": "{{ 7 * 7 }} <script>alert(1)</script>",
        "intro": "{% for x in range(3) %}loop{% endfor %} **now** [win](https://evil.example)",
        "questions": [
            {"id": "q", "type": "yes_no", "text": "\"><img src=x onerror=alert(1)> {{ name }}"},
            {"id": "c", "type": "choice", "text": "Pick", "options": [
                {"id": "a", "text": "</script><script>alert(2)</script>"}
            ]}
        ]
    }))
    .unwrap()
}

#[test]
fn survey_texts_render_inert_in_html() {
    let survey = hostile_survey();
    let renderer = Renderer::builtin();
    let page = renderer
        .page(&PageContext {
            survey: &survey,
            locale: "en",
            base_url: "https://x.example",
            target: PageTarget::Open,
            answers: &BTreeMap::from([(
                "c".to_string(),
                "\"><script>alert(3)</script>".to_string(),
            )]),
            errors: &[],
            clicked: false,
        })
        .unwrap();
    let recipient = Recipient::sample();
    let context = EmailContext {
        delivery: Delivery {
            survey: &survey,
            rule: None,
            locale: "en",
            recipient: &recipient,
            base_url: "https://x.example",
            token: "t.s",
        },
        unsubscribe_mailto: None,
        message_id: None,
        date: fixed_date(),
    };
    let (_, email) = renderer
        .email_bodies(&context, &renderer.view(&survey, "en"))
        .unwrap();
    for html in [page, email] {
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x"));
        assert!(!html.contains(">49<") && !html.contains(" 49 "));
        assert!(!html.contains("looplooploop"));
    }
    let page = renderer
        .page(&PageContext {
            survey: &survey,
            locale: "en",
            base_url: "https://x.example",
            target: PageTarget::Open,
            answers: &BTreeMap::new(),
            errors: &[],
            clicked: false,
        })
        .unwrap();
    assert!(
        page.contains("{{ 7 * 7 }} &lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(page.contains("{% for x in range(3) %}loop{% endfor %}"));
}

#[test]
fn survey_texts_stay_strings_in_chat() {
    let survey = hostile_survey();
    let recipient = Recipient::sample();
    let delivery = Delivery {
        survey: &survey,
        rule: None,
        locale: "en",
        recipient: &recipient,
        base_url: "https://x.example",
        token: "t.s",
    };
    let renderer = Renderer::builtin();
    let slack = renderer.slack(&delivery).unwrap();
    assert_eq!(
        slack["blocks"][0]["text"]["text"],
        "{{ 7 * 7 }} <script>alert(1)</script>"
    );
    // Teams renders Markdown in a TextBlock; survey texts go in TextRuns, which it shows
    // as written.
    let teams = renderer.teams(&delivery).unwrap();
    let run = |block: usize| &teams["body"][block]["inlines"][0];
    assert_eq!(run(2)["type"], "TextRun");
    assert_eq!(run(2)["text"], "\"><img src=x onerror=alert(1)> {{ name }}");
    assert_eq!(
        run(1)["text"],
        "{% for x in range(3) %}loop{% endfor %} **now** [win](https://evil.example)"
    );
    assert!(
        !teams.to_string().contains("\"TextBlock\""),
        "no survey text goes through Markdown"
    );
    let text = renderer.text(&delivery).unwrap();
    assert!(text.contains("{{ 7 * 7 }}"));
}

#[test]
fn a_name_with_line_breaks_cannot_inject_headers() {
    let (survey, rules) = example("support-csat");
    let recipient = named(
        "ana@example.com",
        "Ana\r\nBcc: victim@example.com\r\n\r\n<script>x</script>",
    );
    let eml = email_message(&survey, rules.first(), "en", &recipient).unwrap();
    let text = String::from_utf8_lossy(&eml);
    let headers = text.split_once("\r\n\r\n").unwrap().0;
    assert!(
        !headers
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
        "{headers}"
    );
    if let Some(parsed) = parse_with_python(&eml) {
        assert!(parsed["headers"].get("Bcc").is_none());
        let subject = parsed["headers"]["Subject"].as_str().unwrap();
        assert!(
            subject.starts_with("Ana Bcc: victim@example.com"),
            "{subject}"
        );
        assert!(parsed["html"].as_str().unwrap().contains("&lt;script&gt;x"));
    }
}

#[test]
fn an_address_with_line_breaks_is_refused() {
    let (survey, rules) = example("support-csat");
    let recipient = Recipient {
        address: "ana@example.com\r\nBcc: victim@example.com".into(),
        ..Recipient::default()
    };
    let result = email_message(&survey, rules.first(), "en", &recipient);
    assert!(
        matches!(result, Err(RenderError::Address { .. })),
        "{result:?}"
    );
}

#[test]
fn placeholders_are_substituted_once_and_never_evaluated() {
    let (survey, rules) = example("support-csat");
    let recipient = named("ana@example.com", "{{ survey }} {% if 1 %}x{% endif %}");
    let eml = email_message(&survey, rules.first(), "en", &recipient).unwrap();
    let Some(parsed) = parse_with_python(&eml) else {
        return;
    };
    assert_eq!(
        parsed["headers"]["Subject"],
        "{{ survey }} {% if 1 %}x{% endif %}, how did we do?"
    );
}

#[test]
fn a_refused_submission_comes_back_with_answers_and_errors() {
    let (survey, _) = example("support-csat");
    let answers = BTreeMap::from([
        ("satisfaction".to_string(), "2".to_string()),
        ("improve".to_string(), "Faster <b>replies</b>".to_string()),
    ]);
    let errors = [canvass::answer::FieldError {
        question: "follow_up".into(),
        message: "an answer is needed".into(),
        problem: canvass::answer::Problem::Required,
    }];
    let page = Renderer::builtin()
        .page(&PageContext {
            survey: &survey,
            locale: "en",
            base_url: "https://x.example",
            target: PageTarget::Open,
            answers: &answers,
            errors: &errors,
            clicked: false,
        })
        .unwrap();
    assert!(page.contains("name=\"satisfaction\" value=\"2\" checked"));
    assert!(page.contains(">Faster &lt;b&gt;replies&lt;/b&gt;</textarea>"));
    assert!(
        page.contains("<p class=\"cv-error\" id=\"e-follow_up\">Please answer this question.</p>")
    );
    assert!(
        page.contains("aria-describedby=\"e-follow_up w-follow_up\""),
        "the problem, then when the question applies"
    );
    assert!(
        page.contains("name=\"website\""),
        "the open link has the honeypot"
    );
    assert!(page.contains("action=\"https://x.example/o/support-csat?locale=en\""));
}

#[test]
fn render_command_writes_every_locale() {
    let out = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    common::copy_example(workspace.path());
    for format in ["email", "html", "slack", "teams", "text", "print"] {
        assert_cmd::Command::cargo_bin("canvass")
            .unwrap()
            .env_remove("CANVASS_KEY")
            .args(["--workspace"])
            .arg(workspace.path())
            .args(["render", "nps", "--format", format, "--out"])
            .arg(out.path())
            .assert()
            .success();
    }
    let mut files: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 18, "{files:?}");
    assert!(files.contains(&"nps.cs.eml".to_string()));
    assert!(files.contains(&"nps.sl.teams.json".to_string()));
    let eml = std::fs::read_to_string(out.path().join("nps.en.eml")).unwrap();
    let message_id = eml
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap();
    assert!(
        message_id.ends_with("@acme.example>"),
        "the Message-ID is at the From domain: {message_id}"
    );
    let (headers, _) = eml.split_once("\r\n\r\n").unwrap();
    assert!(
        headers.contains("Content-Type: multipart/alternative;"),
        "the multipart's Content-Type is a message header, where DKIM covers it"
    );
}

#[test]
fn check_reports_a_broken_template_override() {
    let workspace = tempfile::tempdir().unwrap();
    common::copy_example(workspace.path());
    let templates = workspace.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(templates.join("email.txt"), "{{ s.title }}\n{% if %}\n").unwrap();
    let output = assert_cmd::Command::cargo_bin("canvass")
        .unwrap()
        .args(["--workspace"])
        .arg(workspace.path())
        .args(["check", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let found: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let error = found
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "E085")
        .expect("the template error is reported");
    assert!(
        error["file"]
            .as_str()
            .unwrap()
            .ends_with("templates/email.txt")
    );
    assert_eq!(error["line"], 2);
}

#[test]
fn check_reports_an_unknown_placeholder_with_its_position() {
    let workspace = tempfile::tempdir().unwrap();
    common::copy_example(workspace.path());
    let path = workspace.path().join("surveys/nps/distribution.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("en: \"{{ name }}", "en: \"{{ nam }}", 1),
    )
    .unwrap();
    let output = assert_cmd::Command::cargo_bin("canvass")
        .unwrap()
        .args(["--workspace"])
        .arg(workspace.path())
        .args(["check", "--format", "json"])
        .output()
        .unwrap();
    let found: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let error = found
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "E080")
        .expect("the placeholder is reported");
    assert!(error["message"].as_str().unwrap().contains("nam"));
    assert!(error["column"].as_u64().unwrap() > 10);
}

/// What a person reads in a rendering: the text of an HTML page without its tags, scripts
/// and styles, the string values of a chat card, or the text itself.
fn visible(
    format: canvass::render::output::Format,
    rendered: &canvass::render::output::Rendered,
) -> String {
    use canvass::render::output::Format;
    match format {
        Format::Slack | Format::Teams => {
            fn strings(value: &serde_json::Value, out: &mut String) {
                match value {
                    serde_json::Value::String(s) => out.push_str(&format!("{s}\n")),
                    serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
                    serde_json::Value::Object(o) => o.values().for_each(|v| strings(v, out)),
                    _ => {}
                }
            }
            let value = serde_json::from_slice(&rendered.bytes).unwrap();
            let mut out = String::new();
            strings(&value, &mut out);
            out
        }
        Format::Text => String::from_utf8(rendered.bytes.clone()).unwrap(),
        _ => {
            let html = rendered.html.clone().unwrap();
            let text = without(&without(&html, "script"), "style");
            let mut out = String::new();
            let mut in_tag = false;
            for c in text.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => out.push(c),
                    _ => {}
                }
            }
            out.replace("&#39;", "'")
                .replace("&quot;", "\"")
                .replace("&amp;", "&")
        }
    }
}

/// `html` without its `<tag>…</tag>` elements.
fn without(html: &str, tag: &str) -> String {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut out = String::new();
    let mut rest = html;
    while let Some(at) = rest.find(&open) {
        out.push_str(&rest[..at]);
        let end = rest[at..]
            .find(&close)
            .map_or(rest.len(), |e| at + e + close.len());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Whether `phrase` stands in `text`: a single word as a whole word, a longer phrase
/// anywhere.
fn appears(text: &str, phrase: &str) -> bool {
    if phrase.contains(' ') {
        return text.contains(phrase);
    }
    text.split(|c: char| !c.is_alphanumeric())
        .any(|word| word == phrase)
}

/// The literal parts of every English interface word, placeholders cut out.
fn english_words() -> Vec<(String, String)> {
    let words = canvass::words::Words::default();
    let ui = serde_json::to_value(&*words.ui("en")).unwrap();
    ui.as_object()
        .unwrap()
        .iter()
        .filter(|(key, _)| *key != "date_format")
        .flat_map(|(key, text)| {
            text.as_str()
                .unwrap()
                .split(['{', '}'])
                .step_by(2)
                .map(|part| {
                    part.trim()
                        .trim_end_matches([',', '.', ':', '(', ')'])
                        .trim()
                })
                .filter(|part| part.chars().count() > 1)
                .map(|part| (key.clone(), part.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn no_built_in_survey_shows_english_interface_words_in_another_locale() {
    use canvass::render::output::{Format, Request, render};
    let key =
        canvass::token::Key::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
    let english = english_words();
    let library = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    let mut checked = 0;
    for root in [library, common::example_root()] {
        let (ws, problems) = canvass::workspace::Workspace::load(&root);
        assert!(problems.is_empty(), "{problems:?}");
        let renderer = Renderer::for_workspace(&ws).unwrap();
        for entry in &ws.surveys {
            let survey = &entry.survey.as_ref().unwrap().value;
            for format in Format::ALL {
                let request = Request {
                    survey: &survey.id,
                    format,
                    locale: None,
                    recipient: &Recipient::sample(),
                };
                let rendered = render(&ws, &renderer, &key, &request).unwrap();
                for (locale, file) in survey.locales.iter().zip(&rendered) {
                    if locale.starts_with("en") {
                        continue;
                    }
                    let own = serde_json::to_value(&*renderer.words().ui(locale)).unwrap();
                    let text = visible(format, file);
                    for (key, word) in &english {
                        let same = own[key].as_str().is_some_and(|w| w.contains(word.as_str()));
                        assert!(
                            same || !appears(&text, word),
                            "{} in {locale} shows the English `{word}` ({key}):\n{text}",
                            file.file_name
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 8 * 4 * 6, "only {checked} renderings checked");
}
