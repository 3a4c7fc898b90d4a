//! The e-mail: a complete RFC 5322 message built with lettre, `multipart/alternative` with
//! the plain text first and the HTML last, and the headers that bulk senders must carry
//! (RFC 8058 one-click unsubscribe, `Auto-Submitted`).

use std::str::FromStr;
use std::time::SystemTime;

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use serde::Serialize;

use super::view::{QuestionView, SurveyView};
use super::{Delivery, Links, RenderError, Renderer};

/// The sender when a rule has no `email` settings (previews of non-e-mail rules).
const DEFAULT_FROM: &str = "noreply@localhost";

/// Everything one e-mail needs beyond its delivery.
#[derive(Debug, Clone)]
pub struct EmailContext<'a> {
    /// The survey, rule, recipient, locale and signed token.
    pub delivery: Delivery<'a>,
    /// The `List-Unsubscribe` mailbox (`unsubscribe.mailto` in `canvass.yaml`); without it
    /// the header carries only the https link.
    pub unsubscribe_mailto: Option<&'a str>,
    /// The `Message-ID` (with angle brackets); `None` makes a unique one. Tests and
    /// retries pass one in so that the message is reproducible.
    pub message_id: Option<String>,
    /// The `Date` header.
    pub date: SystemTime,
}

/// What the e-mail templates see.
#[derive(Serialize)]
struct EmailView<'a> {
    s: minijinja::Value,
    q: Option<QuestionView>,
    name: Option<&'a str>,
    survey_url: String,
    unsubscribe_url: String,
}

impl Renderer {
    /// Renders one personalised e-mail as a lettre message, ready to send or to write as
    /// an `.eml` file (`message.formatted()`).
    pub fn email(&self, context: &EmailContext) -> Result<Message, RenderError> {
        let view = SurveyView::new(context.delivery.survey, context.delivery.locale);
        self.email_with_view(context, &view)
    }

    /// [`Renderer::email`] with the survey already flattened into the locale, so that a
    /// batch of messages flattens it once.
    pub fn email_with_view(
        &self,
        context: &EmailContext,
        view: &SurveyView,
    ) -> Result<Message, RenderError> {
        let (text, html) = self.email_bodies(context, view)?;
        let d = &context.delivery;
        let settings = d.rule.and_then(|r| r.email.as_ref());
        let from = mailbox(settings.map_or(DEFAULT_FROM, |s| s.from.as_str()))?;
        let to = Mailbox::new(
            d.recipient.name.as_deref().map(fold_header),
            address(&d.recipient.address)?,
        );
        let mut builder = Message::builder()
            .from(from)
            .to(to)
            .subject(fold_header(&self.subject(d, view)))
            .date(context.date)
            .message_id(context.message_id.as_deref().map(fold_header))
            .raw_header(header("Auto-Submitted", "auto-generated"))
            .raw_header(header("X-Auto-Response-Suppress", "All"))
            .raw_header(header("Content-Language", &view.lang))
            .raw_header(header(
                "List-Unsubscribe",
                &list_unsubscribe(context.unsubscribe_mailto, d.links()),
            ))
            .raw_header(header(
                "List-Unsubscribe-Post",
                "List-Unsubscribe=One-Click",
            ));
        if let Some(reply_to) = settings.and_then(|s| s.reply_to.as_deref()) {
            builder = builder.reply_to(mailbox(reply_to)?);
        }
        Ok(builder.multipart(MultiPart::alternative_plain_html(crlf(&text), crlf(&html)))?)
    }

    /// The e-mail's plain-text and HTML bodies, before MIME encoding (for previews).
    pub fn email_bodies(
        &self,
        context: &EmailContext,
        view: &SurveyView,
    ) -> Result<(String, String), RenderError> {
        let d = &context.delivery;
        let links = d.links();
        let email_view = minijinja::Value::from_serialize(EmailView {
            s: view.value(),
            q: super::with_answer_links(view, super::embedded_question(d.survey, d.rule), links),
            name: d.recipient.name.as_deref().filter(|n| !n.trim().is_empty()),
            survey_url: links.survey(),
            unsubscribe_url: links.unsubscribe(),
        });
        Ok((
            self.render("email.txt", &email_view)?,
            self.render("email.html", &email_view)?,
        ))
    }

    /// The subject: the rule's, personalised, else the survey's title.
    fn subject(&self, d: &Delivery, view: &SurveyView) -> String {
        let Some(subject) = d.rule.and_then(|r| r.email.as_ref()).map(|e| &e.subject) else {
            return view.title.clone();
        };
        let allowed = crate::check::allowed_placeholders(d.rule.and_then(|r| r.audience.as_ref()));
        let text = subject.get(d.locale, d.survey.default_locale());
        super::personalize(text, &view.title, d.recipient, &allowed).into_owned()
    }
}

/// The text with CRLF line ends, made in one pass: lettre would insert each `\r` in
/// place, moving the rest of the body every time.
fn crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    for line in text.split_inclusive('\n') {
        match line.strip_suffix('\n') {
            Some(content) => {
                out.push_str(content.strip_suffix('\r').unwrap_or(content));
                out.push_str("\r\n");
            }
            None => out.push_str(line),
        }
    }
    out
}

/// `<mailto:…?subject=unsubscribe%20TOKEN>, <https://…/u/TOKEN>`.
fn list_unsubscribe(mailto: Option<&str>, links: Links) -> String {
    let https = format!("<{}>", links.unsubscribe());
    match mailto {
        Some(mailbox) => format!(
            "<mailto:{}?subject=unsubscribe%20{}>, {https}",
            fold_header(mailbox),
            links.token
        ),
        None => https,
    }
}

/// A header value as lettre encodes it (RFC 2047 for non-ASCII, folded).
fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), fold_header(value))
}

/// Text made safe for one header line: every run of control characters (CR and LF
/// included) becomes one space, so no value can start a header of its own.
pub fn fold_header(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_control = false;
    for c in text.chars() {
        if c.is_control() {
            if !in_control {
                out.push(' ');
            }
            in_control = true;
        } else {
            out.push(c);
            in_control = false;
        }
    }
    out.trim().to_string()
}

fn address(text: &str) -> Result<lettre::Address, RenderError> {
    lettre::Address::from_str(text).map_err(|e| RenderError::Address {
        address: text.to_string(),
        reason: e.to_string(),
    })
}

fn mailbox(text: &str) -> Result<Mailbox, RenderError> {
    Mailbox::from_str(text).map_err(|e| RenderError::Address {
        address: text.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_fold_into_spaces() {
        assert_eq!(
            fold_header("a\r\nBcc: x@example.com"),
            "a Bcc: x@example.com"
        );
        assert_eq!(fold_header(" a\tb\n"), "a b");
    }

    #[test]
    fn line_ends_become_crlf() {
        assert_eq!(crlf("a\nb\r\nc"), "a\r\nb\r\nc");
    }

    #[test]
    fn addresses_with_line_breaks_are_refused() {
        assert!(address("a@example.com\r\nBcc: b@example.com").is_err());
    }
}
