//! Rendering: a checked survey turned into everything a respondent sees.
//!
//! Every format (e-mail, web page, Slack, Teams, SMS text, print) is a minijinja template
//! built into the binary; a workspace may override any of them with a file of the same
//! name in `templates/`. Survey texts and recipients' values reach the templates only as
//! values (see [`view`]), never as template source, and HTML templates escape them, so a
//! `{{ … }}` or a `<script>` in a survey renders inert. Personalisation of rule texts (the
//! e-mail subject) is a plain replacement of declared placeholder names.

mod chat;
mod email;
pub mod output;
mod overrides;
mod page;
mod print;
mod splice;
pub mod view;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::model::{QuestionType, Rule, Survey};
use crate::words;

pub use chat::Delivery;
pub(crate) use chat::truncate;
pub use email::{EmailBatch, EmailContext};
pub use overrides::{check_overrides, override_count};
pub use page::{HONEYPOT_FIELD, NoticeContext, PageContext, PageTarget, ThanksContext};
pub use print::{Paper, PrintContext};
use view::{QuestionView, SurveyView};

/// The collector's address when `canvass.yaml` sets no `base_url`: a local `canvass serve`.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";
/// The workspace folder of template overrides.
pub const TEMPLATES_DIR: &str = "templates";

/// The built-in templates, by the name an override must have.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("email.html", include_str!("templates/email.html")),
    ("email.txt", include_str!("templates/email.txt")),
    ("layout.html", include_str!("templates/layout.html")),
    ("notice.html", include_str!("templates/notice.html")),
    ("page.html", include_str!("templates/page.html")),
    ("page.css", include_str!("templates/page.css")),
    ("thanks.html", include_str!("templates/thanks.html")),
    ("print.html", include_str!("templates/print.html")),
    ("slack.json", include_str!("templates/slack.json")),
    ("teams.json", include_str!("templates/teams.json")),
    ("text.txt", include_str!("templates/text.txt")),
];

/// Why something could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A template override could not be read.
    #[error("template override {}: {source}", path.display())]
    Read {
        /// The override's path.
        path: PathBuf,
        /// The cause: unreadable, or not a regular file inside the workspace.
        source: crate::fsutil::FileError,
    },
    /// A template does not compile or failed while rendering.
    #[error("the template {name} failed: {source:#}")]
    Template {
        /// The template's name.
        name: String,
        /// minijinja's error, with the line.
        source: Box<minijinja::Error>,
    },
    /// A JSON template wrote something that is not JSON.
    #[error("the template {name} did not write valid JSON: {source}")]
    Json {
        /// The template's name.
        name: &'static str,
        /// The parser's complaint.
        source: serde_json::Error,
    },
    /// An address (recipient, sender, reply-to) does not parse; CR and LF are refused here.
    #[error("`{address}` is not an e-mail address: {reason}")]
    Address {
        /// The address as given.
        address: String,
        /// Why it was refused.
        reason: String,
    },
    /// A header line, folded, is longer than mail servers take.
    #[error(
        "a header line has {longest} characters, more than the {limit} mail servers take; \
         shorten the subject or the values in it"
    )]
    HeaderTooLong {
        /// The longest line, CRLF excluded.
        longest: usize,
        /// What servers must take (RFC 5322 §2.1.1).
        limit: usize,
    },
    /// lettre refused the message.
    #[error("cannot build the e-mail: {0}")]
    Email(#[from] lettre::error::Error),
}

impl RenderError {
    fn template(name: &str, source: minijinja::Error) -> RenderError {
        RenderError::Template {
            name: name.to_string(),
            source: Box::new(source),
        }
    }
}

/// Someone a survey goes to.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, Serialize)]
pub struct Recipient {
    /// The e-mail address (or, for chat, whatever the channel uses).
    pub address: String,
    /// The name used in greetings and the `{{ name }}` placeholder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The audience columns declared as placeholders, by column name.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

impl Recipient {
    /// The example recipient of previews and `canvass render` without `--recipient`.
    pub fn sample() -> Recipient {
        Recipient {
            address: "ana.novak@example.com".into(),
            name: Some("Ana".into()),
            values: BTreeMap::from([("plan".to_string(), "pro".to_string())]),
        }
    }
}

/// The compiled templates: the built-in ones with a workspace's overrides on top.
#[derive(Debug, Clone)]
pub struct Renderer {
    env: Environment<'static>,
    /// Unique to this set of templates, so that bodies compiled with one renderer are
    /// never spliced for another.
    id: u64,
    /// The interface words, the workspace's on top of the built-in ones.
    words: words::Words,
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer::builtin()
    }
}

/// The most template instructions one render may run: a built-in e-mail takes a few
/// thousand, so a million leaves room for any real override while a template that loops
/// without end (a pull request can add one, and CI renders it in `check`) stops with an
/// error instead of hanging the job.
pub const TEMPLATE_FUEL: u64 = 1_000_000;

impl Renderer {
    /// Only the built-in templates.
    pub fn builtin() -> Renderer {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(true);
        env.set_formatter(html_formatter);
        env.set_fuel(Some(TEMPLATE_FUEL));
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .expect("the built-in templates compile");
        }
        Renderer {
            env,
            id: next_renderer_id(),
            words: words::Words::default(),
        }
    }

    /// The built-in templates and words with a workspace's overrides of both on top.
    pub fn for_workspace(ws: &crate::workspace::Workspace) -> Result<Renderer, RenderError> {
        let mut renderer = Renderer::new(&ws.root)?;
        renderer.set_words(words::Words::new(&ws.settings.ui));
        Ok(renderer)
    }

    /// Uses other interface words (a workspace's, with these templates).
    pub fn set_words(&mut self, words: words::Words) {
        self.id = next_renderer_id();
        self.words = words;
    }

    /// The interface words templates get.
    pub fn words(&self) -> &words::Words {
        &self.words
    }

    /// `survey` flattened into `locale` with this renderer's words.
    pub fn view(&self, survey: &Survey, locale: &str) -> SurveyView {
        SurveyView::new(survey, locale, &self.words)
    }

    /// The built-in templates with the overrides in the workspace's `templates/`, compiled
    /// once so that rendering many messages costs no parsing.
    pub fn new(workspace_root: &Path) -> Result<Renderer, RenderError> {
        let mut renderer = Renderer::builtin();
        for (name, path) in overrides::override_files(workspace_root) {
            let source = overrides::read_override(workspace_root, &path)
                .map_err(|source| RenderError::Read { path, source })?;
            renderer.set_template(name, source)?;
        }
        Ok(renderer)
    }

    /// Replaces one template (an override, or a test's).
    pub fn set_template(&mut self, name: &'static str, source: String) -> Result<(), RenderError> {
        self.id = next_renderer_id();
        self.env
            .add_template_owned(name, source)
            .map_err(|e| RenderError::template(name, e))
    }

    fn render(&self, name: &str, context: impl Serialize) -> Result<String, RenderError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(context))
            .map_err(|e| RenderError::template(name, e))
    }

    fn render_json(
        &self,
        name: &'static str,
        context: impl Serialize,
    ) -> Result<serde_json::Value, RenderError> {
        let text = self.render(name, context)?;
        serde_json::from_str(&text).map_err(|source| RenderError::Json { name, source })
    }
}

/// Whether `text` has a control character, checked byte by byte when it is ASCII (names,
/// tokens and most header values).
fn has_control(text: &str) -> bool {
    if text.is_ascii() {
        text.bytes().any(|b| b.is_ascii_control())
    } else {
        text.chars().any(char::is_control)
    }
}

fn next_renderer_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// minijinja's formatter, with HTML escaping of only the five characters that matter
/// (`&<>"'`), so that links stay readable (minijinja also escapes `/`).
fn html_formatter(
    out: &mut minijinja::Output,
    state: &minijinja::State,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    match value.as_str() {
        Some(text) if state.auto_escape() == minijinja::AutoEscape::Html && !value.is_safe() => {
            write_escaped(out, text).map_err(|_| {
                minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "cannot write")
            })
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// Writes `text` HTML-escaped: the one escaping of both the formatter and the values
/// spliced into compiled e-mails, so that the two cannot differ.
fn write_escaped(out: &mut impl std::fmt::Write, text: &str) -> std::fmt::Result {
    let mut last = 0;
    for (i, c) in text.char_indices() {
        let entity = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&#39;",
            _ => continue,
        };
        out.write_str(&text[last..i])?;
        out.write_str(entity)?;
        last = i + 1;
    }
    out.write_str(&text[last..])
}

/// `text` as [`html_formatter`] writes it: the one HTML escaping of everything canvass
/// writes as HTML or SVG (templates, spliced values, the collector's and the preview's own
/// markup, charts), so that no two places can escape differently.
pub fn escape_html(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    write_escaped(&mut out, text).expect("writing to a String cannot fail");
    Cow::Owned(out)
}

/// The addresses a delivery links to, all under the collector's `base_url`.
#[derive(Debug, Clone, Copy)]
pub struct Links<'a> {
    /// The collector's public address, without a trailing slash.
    pub base_url: &'a str,
    /// The signed response token.
    pub token: &'a str,
}

impl Links<'_> {
    /// The personal web form: `{base_url}/s/{token}`.
    pub fn survey(&self) -> String {
        format!("{}/s/{}", self.base(), self.token)
    }

    /// A one-click answer: `{base_url}/r/{token}?q=QUESTION&v=VALUE`.
    pub fn answer(&self, question: &str, value: &str) -> String {
        format!(
            "{}/r/{}?q={}&v={}",
            self.base(),
            self.token,
            url_encode(question),
            url_encode(value)
        )
    }

    /// The one-click unsubscribe page (RFC 8058): `{base_url}/u/{token}`.
    pub fn unsubscribe(&self) -> String {
        format!("{}/u/{}", self.base(), self.token)
    }

    fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }
}

/// The survey's open link, for paper and social posts: `{base_url}/o/{survey}`.
pub fn open_link(base_url: &str, survey: &str) -> String {
    format!(
        "{}/o/{}",
        base_url.trim_end_matches('/'),
        url_encode(survey)
    )
}

/// The survey's open link in a locale: `{base_url}/o/{survey}?locale={locale}`, so that a
/// printed sheet's QR code, and the form that link shows, are in the sheet's language.
pub fn open_link_in(base_url: &str, survey: &str, locale: &str) -> String {
    format!(
        "{}?locale={}",
        open_link(base_url, survey),
        url_encode(locale)
    )
}

/// The workspace's `base_url`, or the local collector's.
pub fn base_url(settings: &crate::model::Settings) -> &str {
    settings.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL)
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn url_encode(text: &str) -> Cow<'_, str> {
    percent_encoding::utf8_percent_encode(text, NOT_UNRESERVED).into()
}

/// Every byte but RFC 3986's unreserved characters (letters, digits, `-._~`).
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The question shown as one-click buttons: the rule's `embed`, else the first question
/// when it has set answers.
fn embedded_question<'a>(survey: &'a Survey, rule: Option<&Rule>) -> Option<&'a str> {
    let question = match rule.and_then(|r| r.embed.as_deref()) {
        Some(id) => survey.question(id)?,
        None => survey.questions.first()?,
    };
    (question.kind != QuestionType::Text).then_some(question.id.as_str())
}

/// The embedded question of `view`, its choices carrying one-click links.
fn with_answer_links(view: &SurveyView, id: Option<&str>, links: Links) -> Option<QuestionView> {
    let mut question = view.question(id?)?.clone();
    for choice in &mut question.choices {
        choice.href = Some(links.answer(&question.id, &choice.value));
    }
    Some(question)
}

/// Replaces the declared placeholders (`{{ name }}`, `{{ survey }}` and the rule's
/// audience columns) in a rule text by plain string replacement: the text is never
/// evaluated as a template. Unknown placeholders (which `canvass check` reports) stay as
/// written.
pub fn personalize<'a>(
    text: &'a str,
    survey_title: &str,
    recipient: &Recipient,
    allowed: &[String],
) -> Cow<'a, str> {
    let spans = crate::placeholders::placeholder_spans(text);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut last = 0;
    for (name, range) in spans {
        let value = match name.as_str() {
            _ if !allowed.contains(&name) => None,
            "name" => Some(recipient.name.as_deref().unwrap_or("")),
            "survey" => Some(survey_title),
            column => recipient.values.get(column).map(String::as_str),
        };
        out.push_str(&text[last..range.start]);
        out.push_str(value.unwrap_or(&text[range.clone()]));
        last = range.end;
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreserved_characters_stay_as_they_are() {
        assert_eq!(url_encode("Az09-._~"), "Az09-._~");
        assert_eq!(url_encode("a b/č&="), "a%20b%2F%C4%8D%26%3D");
    }

    #[test]
    fn placeholders_are_replaced_not_evaluated() {
        let recipient = Recipient {
            address: "a@example.com".into(),
            name: Some("{{ survey }}".into()),
            values: BTreeMap::from([("plan".into(), "pro".into())]),
        };
        let allowed = crate::placeholders::allowed_placeholders(None);
        assert_eq!(
            personalize(
                "{{name}}, {{ plan }} {{ survey }}",
                "T",
                &recipient,
                &allowed
            ),
            "{{ survey }}, {{ plan }} T"
        );
    }

    #[test]
    fn links_are_encoded() {
        let links = Links {
            base_url: "https://x.example/",
            token: "t.s",
        };
        assert_eq!(
            links.answer("q", "a b"),
            "https://x.example/r/t.s?q=q&v=a%20b"
        );
        assert_eq!(links.unsubscribe(), "https://x.example/u/t.s");
        assert_eq!(
            open_link("https://x.example", "nps"),
            "https://x.example/o/nps"
        );
    }
}
