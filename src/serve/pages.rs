//! The pages the server shows: the survey form and the thank-you page come from the
//! renderer; the few pages of the server's own (a refused link, the unsubscribe
//! confirmation) are small templates here.

use std::collections::BTreeMap;

use minijinja::{Environment, context};

use crate::answer::FieldError;
use crate::model::Survey;

/// The hidden field of the open-link form that bots fill in and people do not see.
pub const HONEYPOT_FIELD: &str = "website";
/// The hidden field carrying the signed open-link session.
pub const SESSION_FIELD: &str = "_session";
/// The path of the confirmation script.
pub const CONFIRM_SCRIPT: &str = "/assets/confirm.js";

const NOTICE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title></head>
<body><main><h1>{{ title }}</h1><p>{{ text }}</p>
{% if action %}<form method="post" action="{{ action }}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">{{ button }}</button></form>{% endif %}
</main></body></html>
"#;

const FORM: &str = r#"<!doctype html>
<html lang="{{ locale }}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title></head>
<body><main><h1>{{ title }}</h1>
<form method="post" action="{{ action }}">
{% for q in questions %}<fieldset id="q-{{ q.id }}"><legend>{{ q.text }}</legend>
{% if q.values %}{% for v in q.values %}<label><input type="radio" name="{{ q.id }}" value="{{ v }}"{% if answers[q.id] == v %} checked{% endif %}> {{ v }}</label>
{% endfor %}{% else %}<textarea name="{{ q.id }}">{{ answers[q.id] }}</textarea>{% endif %}
{% if errors[q.id] %}<p class="error" role="alert">{{ errors[q.id] }}</p>{% endif %}
</fieldset>
{% endfor %}{% if honeypot %}<div hidden><label>Website <input name="{{ honeypot }}" tabindex="-1" autocomplete="off"></label></div>{% endif %}
<button type="submit">Send</button>
</form></main></body></html>
"#;

/// Where a form posts.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A personal link's token.
    Token(&'a str),
    /// The open link, with the honeypot field.
    Open,
}

/// The page templates, compiled once.
pub struct Pages {
    env: Environment<'static>,
}

impl Pages {
    /// Compiles the templates.
    pub fn new() -> Pages {
        let mut env = Environment::new();
        env.add_template("notice.html", NOTICE)
            .expect("the notice template compiles");
        env.add_template("form.html", FORM)
            .expect("the form template compiles");
        Pages { env }
    }

    /// The survey's form with answers filled in and errors beside their fields.
    pub fn form(
        &self,
        survey: &Survey,
        locale: &str,
        target: Target<'_>,
        answers: &BTreeMap<String, String>,
        errors: &[FieldError],
    ) -> String {
        let fallback = survey.default_locale();
        let (action, honeypot) = match target {
            Target::Token(token) => (format!("/s/{token}"), None),
            Target::Open => (format!("/o/{}", survey.id), Some(HONEYPOT_FIELD)),
        };
        let questions: Vec<_> = survey
            .questions
            .iter()
            .map(|q| {
                context! {
                    id => q.id,
                    text => q.text.get(locale, fallback),
                    values => q.values().iter().map(ToString::to_string).collect::<Vec<_>>(),
                }
            })
            .collect();
        let errors: BTreeMap<&str, &str> = errors
            .iter()
            .map(|e| (e.question.as_str(), e.message.as_str()))
            .collect();
        self.render(
            "form.html",
            context! {
                locale, action, honeypot, questions, answers, errors,
                title => survey.title.get(locale, fallback),
            },
        )
    }

    /// The page after an answer: the survey's thanks, and its incentive after a complete one.
    pub fn thanks(&self, survey: &Survey, locale: &str, show_incentive: bool) -> String {
        let fallback = survey.default_locale();
        let mut text = survey
            .thanks
            .as_ref()
            .map_or("Thank you!", |t| t.get(locale, fallback))
            .to_string();
        if let Some(incentive) = survey.incentive.as_ref().filter(|_| show_incentive) {
            text = format!("{text} {}", incentive.get(locale, fallback));
        }
        self.notice("Thank you", &text, None)
    }

    /// A page of the server's own: a title, a sentence, and optionally a one-button form.
    pub fn notice(&self, title: &str, text: &str, form: Option<(&str, &str)>) -> String {
        let (action, button) = form.unzip();
        self.render("notice.html", context! { title, text, action, button })
    }

    fn render(&self, name: &str, view: minijinja::Value) -> String {
        self.env
            .get_template(name)
            .and_then(|t| t.render(view))
            .expect("the built-in templates render")
    }
}

/// Adds hidden fields to a rendered form, and the confirmation script when given.
pub fn with_extras(
    html: String,
    hidden: &[(&str, &str)],
    script: Option<&[(&str, &str)]>,
) -> String {
    let escape = |s: &str| minijinja::HtmlEscape(s).to_string();
    let fields: String = hidden
        .iter()
        .map(|(name, value)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                escape(name),
                escape(value)
            )
        })
        .collect();
    let mut html = match html.rfind("</form>") {
        Some(at) if !fields.is_empty() => format!("{}{fields}{}", &html[..at], &html[at..]),
        _ => html,
    };
    if let Some(data) = script {
        let attributes: String = data
            .iter()
            .map(|(name, value)| format!(r#" data-{name}="{}""#, escape(value)))
            .collect();
        let tag = format!(r#"<script src="{CONFIRM_SCRIPT}"{attributes}></script>"#);
        match html.rfind("</body>") {
            Some(at) => html.insert_str(at, &tag),
            None => html.push_str(&tag),
        }
    }
    html
}
