//! The pages the server shows: the survey form, the thank-you page and the server's own
//! pages (a refused link, the unsubscribe confirmation) come from the renderer, with the
//! workspace's template overrides, in the words of the person's locale.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::answer::FieldError;
use crate::model::{QuestionType, Survey};
use crate::render::{
    NoticeContext, PageContext, PageTarget, RenderError, Renderer, ThanksContext, escape_html,
};
use crate::words::Words;

pub use crate::render::HONEYPOT_FIELD;

/// The hidden field carrying the signed open-link session.
pub const SESSION_FIELD: &str = "_session";
/// The path of the confirmation script.
pub const CONFIRM_SCRIPT: &str = "/assets/confirm.js";

/// What stands for the token in a landing page rendered once for many links: private-use
/// characters, which no escaping changes and no survey text is expected to hold.
const TOKEN_STAND_IN: &str = "\u{E000}canvass-token\u{E001}";
/// The most landing pages kept (a survey version × locale × question × value each).
const LANDING_CACHE_SIZE: usize = 4096;

/// A one-click landing page cached by survey, version, locale, question and value: its
/// text split where the token goes, or `None` when the templates do more with the token
/// than print it, so that the page must be rendered for each link.
type LandingCache = HashMap<(String, u32, String, String, String), Option<Arc<[String]>>>;

/// The workspace's renderer, and the built-in one for the server's own pages when an
/// override of the workspace fails.
pub struct Pages {
    renderer: Renderer,
    builtin: Renderer,
    landings: Mutex<LandingCache>,
}

impl Pages {
    /// Uses the workspace's renderer.
    pub fn new(renderer: Renderer) -> Pages {
        let mut builtin = Renderer::builtin();
        builtin.set_words(renderer.words().clone());
        Pages {
            renderer,
            builtin,
            landings: Mutex::new(HashMap::new()),
        }
    }

    /// The page a one-click link lands on, under `token`.
    ///
    /// Most clicks are a person's first answer, and then the page differs from one link
    /// to the next only in the token: it is rendered once per survey version, locale and
    /// answer with a stand-in, checked against a full rendering for the first real token,
    /// and completed by splicing the token in after that.
    pub fn landing(&self, landing: &Landing<'_>, token: &str) -> Result<String, RenderError> {
        let Some(key) = landing.cache_key(token) else {
            return self.render_landing(landing, token);
        };
        let cached = self.lock_landings().get(&key).cloned();
        match cached {
            Some(Some(parts)) => return Ok(parts.join(token)),
            Some(None) => return self.render_landing(landing, token),
            None => {}
        }
        let parts: Arc<[String]> = self
            .render_landing(landing, TOKEN_STAND_IN)?
            .split(TOKEN_STAND_IN)
            .map(str::to_string)
            .collect();
        let page = self.render_landing(landing, token)?;
        let exact = parts.join(token) == page;
        let mut landings = self.lock_landings();
        if landings.len() < LANDING_CACHE_SIZE {
            landings.insert(key, exact.then_some(parts));
        }
        Ok(page)
    }

    fn render_landing(&self, landing: &Landing<'_>, token: &str) -> Result<String, RenderError> {
        let mut shown = landing.earlier.clone();
        if let Some((question, value)) = landing.chosen {
            shown.insert(question.to_string(), value.to_string());
        }
        let html = self.renderer.page(&PageContext {
            survey: landing.survey,
            locale: landing.locale,
            base_url: "",
            target: PageTarget::Token(token),
            answers: &shown,
            errors: &[],
            clicked: landing.chosen.is_some(),
        })?;
        let action = format!("/r/{token}");
        let script = landing
            .chosen
            .map(|(q, v)| [("action", action.as_str()), ("q", q), ("v", v)]);
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
            clicked: false,
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

    /// The interface words, for matching a browser's languages.
    pub fn words(&self) -> &Words {
        self.renderer.words()
    }

    /// A page of the server's own in `locale`: a title, a sentence, and for the
    /// unsubscribe page a one-button form.
    pub fn notice(&self, notice: Notice<'_>, locale: &str) -> String {
        let ui = self.words().ui(locale);
        let (title, text, action) = match notice {
            Notice::NotFound => (&ui.not_found_title, ui.not_found_text.clone(), None),
            Notice::Forged => (&ui.forged_title, ui.forged_text.clone(), None),
            Notice::Expired(expires) => (&ui.expired_title, ui.expired(expires), None),
            Notice::Closed => (&ui.closed_title, ui.closed_text.clone(), None),
            Notice::NotSaved => (&ui.not_saved_title, ui.not_saved_text.clone(), None),
            Notice::TooMany => (&ui.too_many_title, ui.too_many_text.clone(), None),
            Notice::Saturated => (&ui.saturated_title, ui.saturated_text.clone(), None),
            Notice::Unavailable => (&ui.unavailable_title, ui.unavailable_text.clone(), None),
            Notice::Unsubscribe(action) => {
                (&ui.unsubscribe, ui.unsubscribe_text.clone(), Some(action))
            }
            Notice::Unsubscribed => (&ui.unsubscribed_title, ui.unsubscribed_text.clone(), None),
        };
        let context = NoticeContext {
            lang: locale,
            title,
            text: &text,
            action,
            button: &ui.unsubscribe,
        };
        self.renderer
            .notice(&context)
            .or_else(|_| self.builtin.notice(&context))
            .expect("the built-in notice template renders")
    }
}

/// A page of the server's own.
#[derive(Debug, Clone, Copy)]
pub enum Notice<'a> {
    /// No page at this address.
    NotFound,
    /// A link that does not verify.
    Forged,
    /// A valid link past its expiry (Unix seconds).
    Expired(i64),
    /// The link's survey is no longer served.
    Closed,
    /// The store failed.
    NotSaved,
    /// A client over its rate limit.
    TooMany,
    /// A link that stored as many answers as it may.
    Saturated,
    /// A page that failed to render.
    Unavailable,
    /// The unsubscribe confirmation, posting to this action.
    Unsubscribe(&'a str),
    /// After unsubscribing.
    Unsubscribed,
}

/// What a one-click landing page shows, whatever the link's token: the form holding the
/// earlier answers and the clicked one, with the script that confirms the click by POST.
#[derive(Debug, Clone, Copy)]
pub struct Landing<'a> {
    /// The survey version the link was sent for.
    pub survey: &'a Survey,
    /// The person's locale.
    pub locale: &'a str,
    /// The clicked question and value, when the link carried one that applies and was saved.
    pub chosen: Option<(&'a str, &'a str)>,
    /// The answers counting for the link before this click.
    pub earlier: &'a BTreeMap<String, String>,
}

impl Landing<'_> {
    /// The cache key when the page may be spliced: a first answer (no earlier ones) to a
    /// question with a fixed set of values, under a token that no escaping changes.
    fn cache_key(&self, token: &str) -> Option<(String, u32, String, String, String)> {
        let (question, value) = self.chosen?;
        let fixed = self
            .survey
            .question(question)
            .is_some_and(|q| q.kind != QuestionType::Text);
        let plain_token = token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        (self.earlier.is_empty() && fixed && plain_token).then(|| {
            (
                self.survey.id.clone(),
                self.survey.version,
                self.locale.to_string(),
                question.to_string(),
                value.to_string(),
            )
        })
    }
}

/// Adds hidden fields to a rendered form, and the confirmation script when given.
pub fn with_extras(
    html: String,
    hidden: &[(&str, &str)],
    script: Option<&[(&str, &str)]>,
) -> String {
    let fields: String = hidden
        .iter()
        .map(|(name, value)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                escape_html(name),
                escape_html(value)
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
            .map(|(name, value)| format!(r#" data-{name}="{}""#, escape_html(value)))
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
        let landing = Landing {
            survey: &survey,
            locale: "en",
            chosen: Some(("score", "9")),
            earlier: &none,
        };
        let first = pages.landing(&landing, "aaa.bbb").unwrap();
        assert!(first.contains("aaa.bbb"));
        let spliced = pages.landing(&landing, "ccc-dddd_e.f").unwrap();
        let full = pages.render_landing(&landing, "ccc-dddd_e.f").unwrap();
        assert_eq!(spliced, full);
        assert!(!spliced.contains(TOKEN_STAND_IN));
        assert_eq!(pages.lock_landings().len(), 1);
    }

    #[test]
    fn landing_pages_with_earlier_answers_or_free_text_are_rendered_each_time() {
        let pages = Pages::new(Renderer::builtin());
        let survey = survey();
        let earlier = BTreeMap::from([("why".to_string(), "slow".to_string())]);
        let again = Landing {
            survey: &survey,
            locale: "en",
            chosen: Some(("score", "3")),
            earlier: &earlier,
        };
        assert!(pages.landing(&again, "aaa.bbb").unwrap().contains("slow"));
        let none = BTreeMap::new();
        let free_text = Landing {
            chosen: Some(("why", "fine")),
            earlier: &none,
            ..again
        };
        pages.landing(&free_text, "aaa.bbb").unwrap();
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
