//! The pages the server shows: the survey form and the thank-you page come from the
//! renderer (with the workspace's template overrides); the few pages of the server's own
//! (a refused link, the unsubscribe confirmation) are a small template here.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use minijinja::{Environment, context};

use crate::answer::FieldError;
use crate::model::{QuestionType, Survey};
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

/// What stands for the token in a landing page rendered once for many links: private-use
/// characters, which no escaping changes and no survey text is expected to hold.
const TOKEN_STAND_IN: &str = "\u{E000}canvass-token\u{E001}";
/// The most landing pages kept (a survey version × locale × question × value each).
const LANDING_CACHE_SIZE: usize = 4096;

/// A one-click landing page cached by survey, version, locale, question and value: its
/// text split where the token goes, or `None` when the templates do more with the token
/// than print it, so that the page must be rendered for each link.
type LandingCache = HashMap<(String, u32, String, String, String), Option<Arc<[String]>>>;

/// The renderer and the server's own template.
pub struct Pages {
    renderer: Renderer,
    env: Environment<'static>,
    landings: Mutex<LandingCache>,
}

impl Pages {
    /// Uses the workspace's renderer.
    pub fn new(renderer: Renderer) -> Pages {
        let mut env = Environment::new();
        env.add_template("notice.html", NOTICE)
            .expect("the notice template compiles");
        Pages {
            renderer,
            env,
            landings: Mutex::new(HashMap::new()),
        }
    }

    /// The page a one-click link lands on: the form holding the earlier answers and the
    /// clicked one, with the script that confirms the click by POST.
    ///
    /// Most clicks are a person's first answer, and then the page differs from one link
    /// to the next only in the token: it is rendered once per survey version, locale and
    /// answer with a stand-in, checked against a full rendering for the first real token,
    /// and completed by splicing the token in after that.
    pub fn landing(
        &self,
        survey: &Survey,
        locale: &str,
        token: &str,
        chosen: Option<(&str, &str)>,
        earlier: &BTreeMap<String, String>,
    ) -> Result<String, RenderError> {
        let render = |token: &str| self.render_landing(survey, locale, token, chosen, earlier);
        let Some(key) = landing_key(survey, locale, token, chosen, earlier) else {
            return render(token);
        };
        let cached = self.lock_landings().get(&key).cloned();
        match cached {
            Some(Some(parts)) => return Ok(parts.join(token)),
            Some(None) => return render(token),
            None => {}
        }
        let parts: Arc<[String]> = render(TOKEN_STAND_IN)?
            .split(TOKEN_STAND_IN)
            .map(str::to_string)
            .collect();
        let page = render(token)?;
        let exact = parts.join(token) == page;
        let mut landings = self.lock_landings();
        if landings.len() < LANDING_CACHE_SIZE {
            landings.insert(key, exact.then_some(parts));
        }
        Ok(page)
    }

    fn render_landing(
        &self,
        survey: &Survey,
        locale: &str,
        token: &str,
        chosen: Option<(&str, &str)>,
        earlier: &BTreeMap<String, String>,
    ) -> Result<String, RenderError> {
        let mut shown = earlier.clone();
        if let Some((question, value)) = chosen {
            shown.insert(question.to_string(), value.to_string());
        }
        let html = self.form(survey, locale, PageTarget::Token(token), &shown, &[])?;
        let action = format!("/r/{token}");
        let script = chosen.map(|(q, v)| [("action", action.as_str()), ("q", q), ("v", v)]);
        Ok(with_extras(html, &[], script.as_ref().map(|s| &s[..])))
    }

    fn lock_landings(&self) -> std::sync::MutexGuard<'_, LandingCache> {
        self.landings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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

/// The cache key of a landing page that may be spliced: a first answer (no earlier ones)
/// to a question with a fixed set of values, under a token that no escaping changes.
fn landing_key(
    survey: &Survey,
    locale: &str,
    token: &str,
    chosen: Option<(&str, &str)>,
    earlier: &BTreeMap<String, String>,
) -> Option<(String, u32, String, String, String)> {
    let (question, value) = chosen?;
    let fixed = survey
        .question(question)
        .is_some_and(|q| q.kind != QuestionType::Text);
    let plain_token = token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    (earlier.is_empty() && fixed && plain_token).then(|| {
        (
            survey.id.clone(),
            survey.version,
            locale.to_string(),
            question.to_string(),
            value.to_string(),
        )
    })
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

    fn survey() -> Survey {
        serde_json::from_value(serde_json::json!({
            "id": "s", "version": 1, "locales": ["en"], "title": "Tell us",
            "questions": [
                {"id": "score", "type": "nps", "text": "Recommend?", "required": true},
                {"id": "why", "type": "text", "text": "Why?"}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn spliced_landing_pages_equal_full_renderings() {
        let pages = Pages::new(Renderer::builtin());
        let survey = survey();
        let none = BTreeMap::new();
        let first = pages
            .landing(&survey, "en", "aaa.bbb", Some(("score", "9")), &none)
            .unwrap();
        assert!(first.contains("aaa.bbb"));
        let spliced = pages
            .landing(&survey, "en", "ccc-dddd_e.f", Some(("score", "9")), &none)
            .unwrap();
        let full = pages
            .render_landing(&survey, "en", "ccc-dddd_e.f", Some(("score", "9")), &none)
            .unwrap();
        assert_eq!(spliced, full);
        assert!(!spliced.contains(TOKEN_STAND_IN));
        assert_eq!(pages.lock_landings().len(), 1);
    }

    #[test]
    fn landing_pages_with_earlier_answers_or_free_text_are_rendered_each_time() {
        let pages = Pages::new(Renderer::builtin());
        let survey = survey();
        let earlier = BTreeMap::from([("why".to_string(), "slow".to_string())]);
        let page = pages
            .landing(&survey, "en", "aaa.bbb", Some(("score", "3")), &earlier)
            .unwrap();
        assert!(page.contains("slow"));
        pages
            .landing(
                &survey,
                "en",
                "aaa.bbb",
                Some(("why", "fine")),
                &BTreeMap::new(),
            )
            .unwrap();
        assert!(pages.lock_landings().is_empty());
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
