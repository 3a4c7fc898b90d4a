//! The pages the server shows: the survey form and the thank-you page come from the
//! renderer (with the workspace's template overrides); the few pages of the server's own
//! (a refused link, the unsubscribe confirmation) are a small template here.

use std::collections::BTreeMap;

use minijinja::{Environment, context};

use crate::answer::FieldError;
use crate::model::Survey;
use crate::render::{PageContext, PageTarget, RenderError, Renderer, ThanksContext};

pub use crate::render::HONEYPOT_FIELD;

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

/// The renderer and the server's own template.
pub struct Pages {
    renderer: Renderer,
    env: Environment<'static>,
}

impl Pages {
    /// Uses the workspace's renderer.
    pub fn new(renderer: Renderer) -> Pages {
        let mut env = Environment::new();
        env.add_template("notice.html", NOTICE)
            .expect("the notice template compiles");
        Pages { renderer, env }
    }

    /// The survey's form with answers filled in and errors beside their fields; actions
    /// are relative, so the page works at whatever address the server is reached.
    pub fn form(
        &self,
        survey: &Survey,
        locale: &str,
        target: PageTarget<'_>,
        answers: &BTreeMap<String, String>,
        errors: &[FieldError],
    ) -> Result<String, RenderError> {
        self.renderer.page(&PageContext {
            survey,
            locale,
            base_url: "",
            target,
            answers,
            errors,
        })
    }

    /// The page after an answer: the survey's thanks, and its incentive after a complete one.
    pub fn thanks(
        &self,
        survey: &Survey,
        locale: &str,
        show_incentive: bool,
    ) -> Result<String, RenderError> {
        self.renderer.thanks(&ThanksContext {
            survey,
            locale,
            message: None,
            show_incentive,
        })
    }

    /// A page of the server's own: a title, a sentence, and optionally a one-button form.
    pub fn notice(&self, title: &str, text: &str, form: Option<(&str, &str)>) -> String {
        let (action, button) = form.unzip();
        self.env
            .get_template("notice.html")
            .and_then(|t| t.render(context! { title, text, action, button }))
            .expect("the notice template renders")
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

/// The Content-Security-Policy for a page: scripts only from this server and the page's
/// own inline scripts (by hash), forms only to this server, no framing.
pub fn content_security_policy(html: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let hashes: String = html
        .split("<script>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</script>"))
        .map(|(script, _)| {
            let digest = sha2::Sha256::digest(script.as_bytes());
            let hash = base64::engine::general_purpose::STANDARD.encode(digest);
            format!(" 'sha256-{hash}'")
        })
        .collect();
    format!(
        "default-src 'none'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
         frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_allowed_by_hash_only() {
        let csp = content_security_policy("<p></p><script>run()</script>");
        assert!(csp.starts_with("default-src 'none'; script-src 'self' 'sha256-"));
        assert_eq!(csp.matches("'sha256-").count(), 1);
        assert!(!csp.contains("unsafe-inline';") || !csp.contains("script-src 'unsafe-inline'"));
    }

    #[test]
    fn extras_go_inside_the_form_and_before_the_body_ends() {
        let html = with_extras(
            "<body><form></form></body>".into(),
            &[("_session", "a\"b")],
            Some(&[("q", "score")]),
        );
        assert_eq!(
            html,
            "<body><form><input type=\"hidden\" name=\"_session\" value=\"a&quot;b\"></form>\
             <script src=\"/assets/confirm.js\" data-q=\"score\"></script></body>"
        );
    }
}
