//! The web page: the whole survey as a standalone form that works without JavaScript, and
//! the page after an answer. The collector re-renders the form with the person's answers
//! and an error beside each field when a submission is refused.

use std::collections::BTreeMap;

use serde::Serialize;

use super::view::SurveyView;
use super::{RenderError, Renderer};
use crate::answer::FieldError;
use crate::model::Survey;

/// The hidden field of the open-link form that people leave empty and bots fill in; the
/// collector drops submissions where it is not empty.
pub const HONEYPOT_FIELD: &str = "website";

/// Where the form posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageTarget<'a> {
    /// A personal link: `POST {base_url}/s/{token}`.
    Token(&'a str),
    /// The survey's open link: `POST {base_url}/o/{survey}`, with the honeypot field.
    Open,
}

/// One rendering of the form.
#[derive(Debug, Clone)]
pub struct PageContext<'a> {
    /// The survey.
    pub survey: &'a Survey,
    /// The locale to render in (the recipient's, or the browser's best match).
    pub locale: &'a str,
    /// The collector's public address.
    pub base_url: &'a str,
    /// Where the form posts.
    pub target: PageTarget<'a>,
    /// Answers to show already filled in, question id → raw value (a re-rendered
    /// submission, or a one-click answer).
    pub answers: &'a BTreeMap<String, String>,
    /// Problems to show beside their fields.
    pub errors: &'a [FieldError],
    /// Whether the page is where a one-click answer landed: it says the click counts and
    /// invites the rest.
    pub clicked: bool,
}

/// The page shown after an answer (or instead of the form, e.g. for an expired link).
#[derive(Debug, Clone)]
pub struct ThanksContext<'a> {
    /// The survey.
    pub survey: &'a Survey,
    /// The locale to render in.
    pub locale: &'a str,
    /// The message; the survey's `thanks` text when `None`.
    pub message: Option<&'a str>,
    /// Whether to show the survey's incentive (only after a complete answer).
    pub show_incentive: bool,
}

/// A page of the collector's own (an invalid or expired link, the unsubscribe
/// confirmation), in the survey pages' layout so that it looks like the rest.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct NoticeContext<'a> {
    /// The locale the words are in (the page's `lang`).
    pub lang: &'a str,
    /// The heading.
    pub title: &'a str,
    /// The sentence under it.
    pub text: &'a str,
    /// Where the page's one button posts, when it has one.
    pub action: Option<&'a str>,
    /// The button's words.
    pub button: &'a str,
}

#[derive(Serialize)]
struct NoticeHead<'a> {
    lang: &'a str,
    dir: &'static str,
    title: &'a str,
}

#[derive(Serialize)]
struct PageView<'a> {
    s: SurveyView,
    action: String,
    honeypot: Option<&'static str>,
    answers: &'a BTreeMap<String, String>,
    errors: BTreeMap<&'a str, String>,
    clicked: bool,
}

#[derive(Serialize)]
struct ThanksView<'a> {
    s: SurveyView,
    message: String,
    incentive: Option<&'a str>,
}

impl Renderer {
    /// The survey's form page.
    pub fn page(&self, context: &PageContext) -> Result<String, RenderError> {
        let base = context.base_url.trim_end_matches('/');
        let (action, honeypot) = match context.target {
            PageTarget::Token(token) => (format!("{base}/s/{token}"), None),
            PageTarget::Open => (
                super::open_link_in(base, &context.survey.id, context.locale),
                Some(HONEYPOT_FIELD),
            ),
        };
        let s = self.view(context.survey, context.locale);
        let view = PageView {
            errors: context
                .errors
                .iter()
                .map(|e| (e.question.as_str(), s.ui.problem(&e.problem)))
                .collect(),
            s,
            action,
            honeypot,
            answers: context.answers,
            clicked: context.clicked,
        };
        self.render("page.html", &view)
    }

    /// A page of the collector's own.
    pub fn notice(&self, context: &NoticeContext) -> Result<String, RenderError> {
        let s = NoticeHead {
            lang: context.lang,
            dir: super::view::direction(context.lang),
            title: context.title,
        };
        self.render(
            "notice.html",
            minijinja::context! {
                s,
                text => context.text,
                action => context.action,
                button => context.button,
            },
        )
    }

    /// The thank-you page.
    pub fn thanks(&self, context: &ThanksContext) -> Result<String, RenderError> {
        let s = self.view(context.survey, context.locale);
        let fallback = context.survey.default_locale();
        let view = ThanksView {
            message: context
                .message
                .map(str::to_string)
                .or_else(|| s.thanks.clone())
                .unwrap_or_default(),
            incentive: context
                .survey
                .incentive
                .as_ref()
                .filter(|_| context.show_incentive)
                .map(|t| t.get(context.locale, fallback)),
            s,
        };
        self.render("thanks.html", &view)
    }
}
