//! The gate against English chrome: every survey of the built-in library, rendered in every
//! one of its locales and every format (e-mail text and HTML, the page, its one-click
//! landing, its refused form, the open link, the thank-you page, print, Slack, Teams, SMS
//! text and the collector's own pages), must show no visible string of its English
//! rendering. Visible means HTML text, `alt`, `aria-label`, `title` and `placeholder`
//! attributes, the text fields of chat payloads and lines of plain text; strings without
//! a letter (numbers, scale points) and links are no words.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use canvass::answer::{FieldError, Problem};
use canvass::model::Survey;
use canvass::render::{
    Delivery, EmailContext, NoticeContext, PageContext, PageTarget, Paper, PrintContext, Recipient,
    Renderer, ThanksContext,
};

const BASE_URL: &str = "https://feedback.acme.example";

/// Strings that may read the same in English and another locale because they are no
/// words of either: none yet. Add a brand or product name here, with the survey it is from.
const ALLOWED: &[&str] = &[];

/// A built-in survey, parsed as `canvass` reads it.
fn library_survey(text: &str) -> Survey {
    let source = canvass::load::Source::new("survey.yaml", text);
    let node = canvass::load::parse(&source).unwrap();
    serde_json::from_value(canvass::load::to_json(node).0).unwrap()
}

/// What a person reads in each format, by format name.
fn renderings(renderer: &Renderer, survey: &Survey, locale: &str) -> Vec<(String, Visible)> {
    let recipient = Recipient::sample();
    let token = common::fixed_token(survey);
    let delivery = Delivery {
        survey,
        rule: None,
        locale,
        recipient: &recipient,
        base_url: BASE_URL,
        token: &token,
    };
    let context = EmailContext {
        delivery,
        unsubscribe_mailto: None,
        message_id: None,
        date: common::fixed_date(),
    };
    let view = renderer.view(survey, locale);
    let (text, html) = renderer.email_bodies(&context, &view).unwrap();
    let mut out = vec![
        ("email.txt".to_string(), Visible::Text(text)),
        ("email.html".to_string(), Visible::Html(html)),
        (
            "slack".to_string(),
            Visible::Json(renderer.slack(&delivery).unwrap()),
        ),
        (
            "teams".to_string(),
            Visible::Json(renderer.teams(&delivery).unwrap()),
        ),
        (
            "text".to_string(),
            Visible::Text(renderer.text(&delivery).unwrap()),
        ),
    ];
    let print = PrintContext {
        survey,
        locale,
        base_url: BASE_URL,
        paper: Paper::A4,
    };
    out.push((
        "print".into(),
        Visible::Html(renderer.print(&print).unwrap()),
    ));
    out.extend(pages(renderer, survey, locale, &token));
    let thanks = ThanksContext {
        survey,
        locale,
        message: None,
        show_incentive: true,
    };
    out.push((
        "thanks".into(),
        Visible::Html(renderer.thanks(&thanks).unwrap()),
    ));
    out.extend(notices(renderer, locale));
    out
}

/// The form as sent, as a landing page, refused with every kind of problem, and open.
fn pages(
    renderer: &Renderer,
    survey: &Survey,
    locale: &str,
    token: &str,
) -> Vec<(String, Visible)> {
    let problems = [Problem::Required, Problem::Invalid, Problem::TooLong(10)];
    let errors: Vec<FieldError> = survey
        .questions
        .iter()
        .zip(problems.iter().cycle())
        .map(|(q, problem)| FieldError {
            question: q.id.clone(),
            message: String::new(),
            problem: *problem,
        })
        .collect();
    let clicked: BTreeMap<String, String> = survey
        .questions
        .iter()
        .find_map(|q| Some((q.id.clone(), q.values().first()?.to_string())))
        .into_iter()
        .collect();
    let none = BTreeMap::new();
    let cases = [
        ("page", PageTarget::Token(token), &none, &[][..], false),
        ("landing", PageTarget::Token(token), &clicked, &[][..], true),
        (
            "refused",
            PageTarget::Token(token),
            &none,
            &errors[..],
            false,
        ),
        ("open", PageTarget::Open, &none, &[][..], false),
    ];
    cases
        .into_iter()
        .map(|(name, target, answers, errors, clicked)| {
            let page = renderer.page(&PageContext {
                survey,
                locale,
                base_url: BASE_URL,
                target,
                answers,
                errors,
                clicked,
            });
            (name.to_string(), Visible::Html(page.unwrap()))
        })
        .collect()
}

/// Every page of the collector's own: each `…_title` of the words with its `…_text`.
fn notices(renderer: &Renderer, locale: &str) -> Vec<(String, Visible)> {
    let ui = renderer.words().ui(locale);
    let words: BTreeMap<String, String> =
        serde_json::from_value(serde_json::to_value(&*ui).unwrap()).unwrap();
    words
        .iter()
        .filter_map(|(key, title)| {
            let page = key.strip_suffix("_title")?;
            let text = words.get(&format!("{page}_text"))?;
            let html = renderer.notice(&NoticeContext {
                lang: locale,
                title,
                text,
                action: Some("/u/token"),
                button: &ui.unsubscribe,
            });
            Some((format!("notice {page}"), Visible::Html(html.unwrap())))
        })
        .collect()
}

/// A rendering, by the kind of text it is.
enum Visible {
    Html(String),
    Text(String),
    Json(serde_json::Value),
}

impl Visible {
    /// The strings a person reads, normalised; without letters or links they are left out.
    fn strings(&self) -> BTreeSet<String> {
        let mut raw = Vec::new();
        match self {
            Visible::Html(html) => html_strings(html, &mut raw),
            Visible::Text(text) => raw.extend(text.lines().map(str::to_string)),
            Visible::Json(json) => json_strings(json, &mut raw),
        }
        raw.iter().filter_map(|s| words(s)).collect()
    }
}

fn html_strings(html: &str, out: &mut Vec<String>) {
    let document = scraper::Html::parse_document(html);
    for node in document.tree.nodes() {
        let hidden = node.ancestors().any(|a| {
            a.value()
                .as_element()
                .is_some_and(|e| matches!(e.name(), "script" | "style"))
        });
        match node.value() {
            scraper::Node::Text(text) if !hidden => out.push(text.to_string()),
            scraper::Node::Element(element) => {
                for name in ["alt", "aria-label", "title", "placeholder"] {
                    out.extend(element.attr(name).map(str::to_string));
                }
            }
            _ => {}
        }
    }
}

fn json_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match value {
                    serde_json::Value::String(text)
                        if matches!(
                            key.as_str(),
                            "text" | "title" | "fallbackText" | "altText"
                        ) =>
                    {
                        out.push(text.clone());
                    }
                    other => json_strings(other, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_strings(v, out)),
        _ => {}
    }
}

/// A string with its links taken out and its spaces collapsed; `None` when no letter is
/// left.
fn words(text: &str) -> Option<String> {
    let kept: Vec<&str> = text
        .split_whitespace()
        .filter(|w| !w.contains("://") && !w.starts_with("data:"))
        .collect();
    let joined = kept.join(" ");
    let trimmed = joined.trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace());
    trimmed
        .chars()
        .any(char::is_alphabetic)
        .then(|| trimmed.to_string())
}

/// Every visible string of each library survey's English rendering found in another of
/// its locales, at the survey, locale and format; and how many renderings were compared.
fn leaks(renderer: &Renderer) -> (Vec<String>, usize) {
    let mut leaks = Vec::new();
    let mut compared = 0;
    for template in canvass::scaffold::TEMPLATES {
        let survey = library_survey(template.survey);
        assert_eq!(survey.default_locale(), "en", "{}", template.name);
        let english: BTreeSet<String> = renderings(renderer, &survey, "en")
            .iter()
            .flat_map(|(_, v)| v.strings())
            .collect();
        assert!(english.len() > 20, "{}: {english:?}", template.name);
        for locale in survey.locales.iter().filter(|l| *l != "en") {
            for (format, visible) in renderings(renderer, &survey, locale) {
                compared += 1;
                for string in visible.strings() {
                    if english.contains(&string) && !ALLOWED.contains(&string.as_str()) {
                        leaks.push(format!("{} {locale} {format}: {string:?}", template.name));
                    }
                }
            }
        }
    }
    (leaks, compared)
}

#[test]
fn no_english_string_reaches_another_locale() {
    let (leaks, compared) = leaks(&Renderer::builtin());
    assert!(compared > 400, "{compared} renderings compared");
    assert!(
        leaks.is_empty(),
        "English in other locales:\n{}",
        leaks.join("\n")
    );
}

#[test]
fn an_english_word_in_a_catalogue_is_caught() {
    let mut renderer = Renderer::builtin();
    let english = BTreeMap::from([("submit".to_string(), "Send my answers".to_string())]);
    let overrides = BTreeMap::from([("lt".to_string(), english)]);
    renderer.set_words(canvass::words::Words::new(&overrides));
    let (leaks, _) = leaks(&renderer);
    assert!(!leaks.is_empty());
    assert!(
        leaks
            .iter()
            .all(|l| l.contains(" lt ") && l.ends_with("\"Send my answers\"")),
        "{leaks:?}"
    );
}

#[test]
fn the_extraction_sees_what_a_person_reads() {
    let html = r#"<html><head><title>Title</title><style>.x{}</style></head><body>
        <p>Hello <b>there</b></p><img alt="A code" src="data:x"><script>var x = "no"</script>
        <a href="https://x.example" aria-label="Open it">7</a></body></html>"#;
    let strings = Visible::Html(html.into()).strings();
    let expected: BTreeSet<String> = ["Title", "Hello", "there", "A code", "Open it"]
        .map(String::from)
        .into();
    assert_eq!(strings, expected);
    let json = serde_json::json!({"blocks": [{"text": {"type": "plain_text", "text": "Hi"}}],
        "url": "https://x.example", "title": "Go"});
    let expected: BTreeSet<String> = ["Hi", "Go"].map(String::from).into();
    assert_eq!(Visible::Json(json).strings(), expected);
    let text = Visible::Text("Yes: https://x.example/r/t\n10: https://x\n".into());
    assert_eq!(text.strings(), BTreeSet::from(["Yes".to_string()]));
}
