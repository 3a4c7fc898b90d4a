//! The e-mail: a complete RFC 5322 message built with lettre, `multipart/alternative` with
//! the plain text first and the HTML last, and the headers that bulk senders must carry
//! (RFC 8058 one-click unsubscribe, `Auto-Submitted`).

use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::SystemTime;

use lettre::Message;
use lettre::address::Envelope;
use lettre::message::header::{self, ContentTransferEncoding, Header, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, Mailboxes, MultiPart};
use serde::Serialize;

use super::splice::{CompiledBody, Context, Hole, Values};
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
    /// The `Message-ID` (with angle brackets); `None` makes a unique one at the `From`
    /// domain. Tests and retries pass one in so that the message is reproducible.
    pub message_id: Option<String>,
    /// The `Date` header.
    pub date: SystemTime,
}

/// The most mailboxes a view remembers.
const MAX_MAILBOXES: usize = 8;

/// The headers that are the same in every message, encoded once.
static FIXED: LazyLock<[HeaderValue; 3]> = LazyLock::new(|| {
    [
        header("Auto-Submitted", "auto-generated"),
        header("X-Auto-Response-Suppress", "All"),
        header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]
});

/// Two recipients that differ in every value and its length, with characters that HTML
/// escapes: a template that transforms a value (a filter, an escaping of its own) or
/// branches on its length renders at least one of them otherwise than the splice does.
/// A comparison with one particular value (`name == "Ana"`) is not caught.
const SAMPLES: [Values<'static>; 2] = [
    Values {
        token: "sample-Token_0.sig",
        name: "Ö&<'\">",
    },
    Values {
        token: "Zz09-_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.abcdefghijklmnopqrstuvwxyz-_ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        name: "Zoë Marie O'Connor-Smythe",
    },
];

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
        let batch = self.email_batch(context.delivery.survey, context.delivery.locale);
        self.email_in(context, &batch)
    }

    /// What a batch of e-mails of one survey in one locale shares: the survey flattened
    /// once, and the bodies compiled on a key's second use.
    pub fn email_batch(&self, survey: &crate::model::Survey, locale: &str) -> EmailBatch {
        EmailBatch {
            view: self.view(survey, locale),
            cache: EmailCache::default(),
        }
    }

    /// [`Renderer::email`] within a batch, so that the survey is flattened and the bodies
    /// compiled once for all its messages.
    pub fn email_in(
        &self,
        context: &EmailContext,
        batch: &EmailBatch,
    ) -> Result<Message, RenderError> {
        let (view, cache) = (&batch.view, &batch.cache);
        let (text, html) = self.encoded_bodies(context, batch)?;
        let d = &context.delivery;
        let settings = d.rule.and_then(|r| r.email.as_ref());
        let (sender, from) = cache
            .mailbox_header(settings.map_or(DEFAULT_FROM, |s| s.from.as_str()), |m| {
                header::From::from(Mailboxes::from(m))
            })?;
        let to = Mailbox::new(
            d.recipient.name.as_deref().map(fold_header),
            address(&d.recipient.address)?,
        );
        let message_id = match &context.message_id {
            Some(id) => fold_header(id),
            None => unique_message_id(sender.domain()),
        };
        let envelope = Envelope::new(Some(sender), vec![to.email.clone()])?;
        let personal = fitting([
            header::To::from(Mailboxes::from(to)).display(),
            header::Subject::from(fold_header(&self.subject(d, view))).display(),
            header::MessageId::from(message_id).display(),
            header(
                "List-Unsubscribe",
                &list_unsubscribe(context.unsubscribe_mailto, d.links()),
            ),
        ])?;
        let [auto_submitted, suppress, unsubscribe_post] = FIXED.clone();
        let [to, subject, message_id, unsubscribe] = personal;
        let mut builder = Message::builder()
            .envelope(envelope)
            .raw_header(from)
            .raw_header(to)
            .raw_header(subject)
            .date(context.date)
            .raw_header(message_id)
            .raw_header(auto_submitted)
            .raw_header(suppress)
            .raw_header(cache.language(&view.lang)?)
            .raw_header(unsubscribe)
            .raw_header(unsubscribe_post);
        if let Some(reply_to) = settings.and_then(|s| s.reply_to.as_deref()) {
            let (_, reply_to) =
                cache.mailbox_header(reply_to, |m| header::ReplyTo::from(Mailboxes::from(m)))?;
            builder = builder.raw_header(reply_to);
        }
        lift_multipart(builder, &MultiPart::alternative_plain_html(text, html))
    }

    /// The two bodies MIME-encoded: spliced into the view's compiled bodies when that is
    /// exact, else rendered in full.
    fn encoded_bodies(
        &self,
        context: &EmailContext,
        batch: &EmailBatch,
    ) -> Result<(Body, Body), RenderError> {
        let d = &context.delivery;
        let values = Values {
            token: d.token,
            name: greeted(d).unwrap_or(""),
        };
        if values.spliceable()
            && let Some(compiled) = self.compiled(d, batch)
        {
            return Ok(compiled.bodies(&values));
        }
        let (text, html) = self.email_bodies(context, &batch.view)?;
        Ok((Body::new(crlf(&text)), Body::new(crlf(&html))))
    }

    /// The batch's bodies compiled for this delivery's key.
    fn compiled(&self, d: &Delivery, batch: &EmailBatch) -> Option<Arc<CompiledEmail>> {
        let key = EmailKey {
            renderer: self.id,
            question: super::embedded_question(d.survey, d.rule),
            base_url: d.base_url,
            named: greeted(d).is_some(),
        };
        batch
            .cache
            .get(&key, || self.compile(d, &batch.view, key.named))
    }

    /// Renders the bodies with sentinels and splits them; `None` when the splice is not
    /// exactly the full render for the sample recipients (a template that transforms or
    /// branches on a per-recipient value).
    fn compile(&self, d: &Delivery, view: &SurveyView, named: bool) -> Option<CompiledEmail> {
        let name = named.then(|| Hole::Name.sentinel());
        let (text, html) = self.bodies(d, view, name, Hole::Token.sentinel()).ok()?;
        let text = CompiledBody::parse(&crlf(&text), Context::Text)?;
        let html = CompiledBody::parse(&crlf(&html), Context::Html)?;
        let empty = Values {
            token: "",
            name: "",
        };
        let quoted_printable = [&text, &html].iter().all(|body| {
            Body::new(body.plain(&empty)).encoding() == ContentTransferEncoding::QuotedPrintable
        });
        let compiled = CompiledEmail {
            text,
            html,
            quoted_printable,
        };
        SAMPLES
            .iter()
            .all(|sample| self.splices_exactly(&compiled, d, view, named, sample))
            .then_some(compiled)
    }

    /// Whether the spliced bodies for `sample` are byte for byte the full render's.
    fn splices_exactly(
        &self,
        compiled: &CompiledEmail,
        d: &Delivery,
        view: &SurveyView,
        named: bool,
        sample: &Values,
    ) -> bool {
        let values = Values {
            token: sample.token,
            name: if named { sample.name } else { "" },
        };
        let Ok((text, html)) = self.bodies(d, view, named.then_some(values.name), values.token)
        else {
            return false;
        };
        let (spliced_text, spliced_html) = compiled.bodies(&values);
        same(&spliced_text, &Body::new(crlf(&text))) && same(&spliced_html, &Body::new(crlf(&html)))
    }

    /// The e-mail's plain-text and HTML bodies, before MIME encoding (for previews).
    pub fn email_bodies(
        &self,
        context: &EmailContext,
        view: &SurveyView,
    ) -> Result<(String, String), RenderError> {
        let d = &context.delivery;
        self.bodies(d, view, greeted(d), d.token)
    }

    /// The bodies for this name and token.
    fn bodies(
        &self,
        d: &Delivery,
        view: &SurveyView,
        name: Option<&str>,
        token: &str,
    ) -> Result<(String, String), RenderError> {
        let links = Links {
            base_url: d.base_url,
            token,
        };
        let email_view = minijinja::Value::from_serialize(EmailView {
            s: view.value(),
            q: super::with_answer_links(view, super::embedded_question(d.survey, d.rule), links),
            name,
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
        let allowed =
            crate::placeholders::allowed_placeholders(d.rule.and_then(|r| r.audience.as_ref()));
        let text = subject.get(d.locale, d.survey.default_locale());
        super::personalize(text, &view.title, d.recipient, &allowed).into_owned()
    }
}

/// The name the e-mail greets: the recipient's, unless blank.
fn greeted<'a>(d: &Delivery<'a>) -> Option<&'a str> {
    d.recipient.name.as_deref().filter(|n| !n.trim().is_empty())
}

fn same(a: &Body, b: &Body) -> bool {
    a.encoding() == b.encoding() && a.as_ref() == b.as_ref()
}

/// The bodies of one key, compiled.
#[derive(Debug)]
pub(crate) struct CompiledEmail {
    text: CompiledBody,
    html: CompiledBody,
    /// Whether lettre encodes both bodies quoted-printable with the values left out (and
    /// so with any printable values filled in).
    quoted_printable: bool,
}

impl CompiledEmail {
    fn bodies(&self, values: &Values) -> (Body, Body) {
        if self.quoted_printable && values.printable() {
            let encoded = |body: &CompiledBody| {
                Body::dangerous_pre_encoded(
                    body.encoded(values),
                    ContentTransferEncoding::QuotedPrintable,
                )
            };
            (encoded(&self.text), encoded(&self.html))
        } else {
            (
                Body::new(self.text.plain(values)),
                Body::new(self.html.plain(values)),
            )
        }
    }
}

/// What the compiled bodies depend on besides the view.
struct EmailKey<'a> {
    renderer: u64,
    question: Option<&'a str>,
    base_url: &'a str,
    named: bool,
}

/// [`EmailKey`] kept.
#[derive(Debug)]
struct OwnedKey {
    renderer: u64,
    question: Option<String>,
    base_url: String,
    named: bool,
}

impl EmailKey<'_> {
    fn matches(&self, key: &OwnedKey) -> bool {
        self.renderer == key.renderer
            && self.question == key.question.as_deref()
            && self.base_url == key.base_url
            && self.named == key.named
    }

    fn to_owned(&self) -> OwnedKey {
        OwnedKey {
            renderer: self.renderer,
            question: self.question.map(str::to_string),
            base_url: self.base_url.to_string(),
            named: self.named,
        }
    }
}

/// A survey in one locale with what its e-mails share: see [`Renderer::email_batch`].
#[derive(Debug)]
pub struct EmailBatch {
    /// The survey flattened into the locale.
    pub view: SurveyView,
    cache: EmailCache,
}

/// A batch's compiled e-mails by key, compiled on a key's second use (one message alone
/// is cheaper rendered in full), and the senders' mailboxes, parsed once.
#[derive(Debug, Default)]
struct EmailCache {
    compiled: Mutex<Vec<(OwnedKey, Entry)>>,
    mailboxes: Mutex<Vec<KnownMailbox>>,
    /// The header, or the length of its line when that is too long.
    language: OnceLock<Result<HeaderValue, usize>>,
}

#[derive(Debug)]
enum Entry {
    /// Used once.
    Seen,
    /// Compiled; `None` when the splice is not exact.
    Compiled(Option<Arc<CompiledEmail>>),
}

impl EmailCache {
    fn get(
        &self,
        key: &EmailKey,
        compile: impl FnOnce() -> Option<CompiledEmail>,
    ) -> Option<Arc<CompiledEmail>> {
        let mut entries = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        match entries.iter_mut().find(|(k, _)| key.matches(k)) {
            Some((_, Entry::Compiled(compiled))) => compiled.clone(),
            Some((_, entry)) => {
                let compiled = compile().map(Arc::new);
                *entry = Entry::Compiled(compiled.clone());
                compiled
            }
            None => {
                entries.push((key.to_owned(), Entry::Seen));
                None
            }
        }
    }

    /// The header `H` of the mailbox `text` (a sender or a reply-to: one per batch) as
    /// lettre encodes it, with its address, parsed and encoded once.
    fn mailbox_header<H: Header>(
        &self,
        text: &str,
        header: fn(Mailbox) -> H,
    ) -> Result<(lettre::Address, HeaderValue), RenderError> {
        let mut known = self.mailboxes.lock().unwrap_or_else(|e| e.into_inner());
        let found = known.iter().find(|m| m.name == H::name() && m.text == text);
        if let Some(m) = found {
            return Ok((m.address.clone(), m.header.clone()));
        }
        let parsed = mailbox(text)?;
        let address = parsed.email.clone();
        let [value] = fitting([header(parsed).display()])?;
        if known.len() < MAX_MAILBOXES {
            known.push(KnownMailbox {
                name: H::name(),
                text: text.to_string(),
                address: address.clone(),
                header: value.clone(),
            });
        }
        Ok((address, value))
    }

    /// The `Content-Language` header of the view's locale, encoded and measured once.
    fn language(&self, lang: &str) -> Result<HeaderValue, RenderError> {
        let measured = self.language.get_or_init(|| {
            let value = header("Content-Language", lang);
            measure(std::slice::from_ref(&value)).map(|()| value)
        });
        measured.clone().map_err(too_long)
    }
}

/// A mailbox header made once for a batch.
#[derive(Debug)]
struct KnownMailbox {
    name: HeaderName,
    text: String,
    address: lettre::Address,
    header: HeaderValue,
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
    let https = links.unsubscribe();
    let mut out = String::with_capacity(2 * https.len() + 64);
    if let Some(mailbox) = mailto {
        out.push_str("<mailto:");
        out.push_str(&fold_header(mailbox));
        out.push_str("?subject=unsubscribe%20");
        out.push_str(links.token);
        out.push_str(">, ");
    }
    out.push('<');
    out.push_str(&https);
    out.push('>');
    out
}

/// A header value as lettre encodes it (RFC 2047 for non-ASCII, folded).
/// A fresh `Message-ID` at the sender's domain: lettre's own names the machine's host,
/// which says nothing true about the mail and leaks an internal name.
fn unique_message_id(domain: &str) -> String {
    format!("<{}@{domain}>", crate::token::random_hex::<16>())
}

/// The message with the multipart's own headers (`Content-Type` with its boundary) among
/// the message's headers and the parts as its body. lettre writes a multipart's
/// `Content-Type` with the body, where a DKIM signature cannot cover it; lifted, it is
/// signed like every other header.
fn lift_multipart(
    builder: lettre::message::MessageBuilder,
    parts: &MultiPart,
) -> Result<Message, RenderError> {
    // lettre writes the multipart's headers, which hold no blank line, a blank line, then
    // the parts: the body starts after the first blank line.
    let mut body = parts.formatted();
    let end = body.windows(4).position(|w| w == b"\r\n\r\n");
    let (Some(content_type), Some(end)) = (parts.headers().get_raw("Content-Type"), end) else {
        return Ok(builder.multipart(parts.clone())?);
    };
    body.drain(..end + 4);
    // Already encoded by lettre, part by part: ASCII in short lines, as it would send it.
    let body = Body::dangerous_pre_encoded(body, ContentTransferEncoding::SevenBit);
    Ok(builder
        .header(header::MIME_VERSION_1_0)
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Content-Type"),
            content_type.to_owned(),
        ))
        .body(body)?)
}

/// The longest header line SMTP servers must take (RFC 5322 §2.1.1), CRLF excluded.
const MAX_HEADER_LINE: usize = 998;

/// The header values when each of their lines, as lettre folds them, fits what servers
/// take: a value with no space to fold at (the plan refuses long names and placeholders,
/// but a subject can be long by itself) would be refused by the server after the person
/// was counted as reached. Each header is measured where it is made: those a batch
/// shares once per batch, the personal ones once per message.
fn fitting<const N: usize>(values: [HeaderValue; N]) -> Result<[HeaderValue; N], RenderError> {
    measure(&values).map_err(too_long)?;
    Ok(values)
}

/// The longest line of the header values when it is too long for servers.
fn measure(values: &[HeaderValue]) -> Result<(), usize> {
    let mut headers = lettre::message::header::Headers::with_capacity(values.len());
    for value in values {
        headers.insert_raw(value.clone());
    }
    let mut longest = LongestLine::default();
    let _ = std::fmt::Write::write_fmt(&mut longest, format_args!("{headers}"));
    match longest.longest {
        n if n > MAX_HEADER_LINE => Err(n),
        _ => Ok(()),
    }
}

fn too_long(longest: usize) -> RenderError {
    RenderError::HeaderTooLong {
        longest,
        limit: MAX_HEADER_LINE,
    }
}

/// Measures the longest CRLF-ended line written to it, keeping none of it.
#[derive(Default)]
struct LongestLine {
    current: usize,
    longest: usize,
}

impl std::fmt::Write for LongestLine {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        for (i, line) in text.split("\r\n").enumerate() {
            if i > 0 {
                self.current = 0;
            }
            self.current += line.len();
            self.longest = self.longest.max(self.current);
        }
        Ok(())
    }
}

fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), fold_header(value))
}

/// Text made safe for one header line: every run of control characters (CR and LF
/// included) becomes one space, so no value can start a header of its own.
pub fn fold_header(text: &str) -> String {
    if !super::has_control(text) {
        return text.trim().to_string();
    }
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
    use crate::model::{Rule, Survey};
    use crate::render::Recipient;

    fn example(id: &str) -> (Survey, Vec<Rule>) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme");
        let (ws, _) = crate::workspace::Workspace::load(&root);
        let entry = ws.survey(id).expect("the example survey exists");
        let survey = entry.survey.as_ref().unwrap().value.clone();
        (survey, entry.rules().to_vec())
    }

    fn recipient(name: Option<&str>) -> Recipient {
        Recipient {
            address: "a@example.com".into(),
            name: name.map(str::to_string),
            values: Default::default(),
        }
    }

    fn context<'a>(
        survey: &'a Survey,
        rule: Option<&'a Rule>,
        locale: &'a str,
        recipient: &'a Recipient,
        token: &'a str,
    ) -> EmailContext<'a> {
        EmailContext {
            delivery: Delivery {
                survey,
                rule,
                locale,
                recipient,
                base_url: "https://feedback.acme.example",
                token,
            },
            unsubscribe_mailto: None,
            message_id: Some("<t@acme.example>".into()),
            date: SystemTime::UNIX_EPOCH,
        }
    }

    /// The bodies from the batch's compiled e-mail (compiling it on the second use).
    fn spliced(renderer: &Renderer, context: &EmailContext, batch: &EmailBatch) -> (Body, Body) {
        let d = &context.delivery;
        let values = Values {
            token: d.token,
            name: greeted(d).unwrap_or(""),
        };
        renderer.compiled(d, batch);
        let compiled = renderer
            .compiled(d, batch)
            .expect("the built-in templates splice");
        compiled.bodies(&values)
    }

    #[test]
    fn spliced_bodies_are_the_full_render_in_every_locale() {
        let renderer = Renderer::builtin();
        let long_token = "Zz09-_".repeat(30);
        let names = [
            None,
            Some(" "),
            Some("Ana"),
            Some("Person 12"),
            Some("O'Brien & <Co>"),
            Some("Žiga Šarūnas"),
        ];
        for id in ["nps", "onboarding", "support-csat", "support-fcr"] {
            let (survey, rules) = example(id);
            for locale in &survey.locales {
                let batch = renderer.email_batch(&survey, locale);
                for name in names {
                    let recipient = recipient(name);
                    for token in ["short.sig", long_token.as_str()] {
                        let context = context(&survey, rules.first(), locale, &recipient, token);
                        let (text, html) = renderer.email_bodies(&context, &batch.view).unwrap();
                        let (spliced_text, spliced_html) = spliced(&renderer, &context, &batch);
                        assert!(
                            same(&spliced_text, &Body::new(crlf(&text))),
                            "{id} {locale} {name:?}"
                        );
                        assert!(
                            same(&spliced_html, &Body::new(crlf(&html))),
                            "{id} {locale} {name:?}"
                        );
                        let lines = spliced_html.as_ref().split(|&b| b == b'\n');
                        assert!(lines.clone().all(|l| l.len() <= 77), "{id} {locale}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_template_that_transforms_the_name_is_rendered_in_full() {
        let mut renderer = Renderer::builtin();
        renderer
            .set_template("email.txt", "{{ name|upper }}\n{{ survey_url }}\n".into())
            .unwrap();
        let (survey, rules) = example("nps");
        let batch = renderer.email_batch(&survey, "en");
        for (name, token) in [("Ana", "t1"), ("Bo", "t22")] {
            let recipient = recipient(Some(name));
            let context = context(&survey, rules.first(), "en", &recipient, token);
            let message = renderer.email_in(&context, &batch).unwrap();
            let formatted = String::from_utf8(message.formatted()).unwrap();
            assert!(formatted.contains(&format!("{}\r\n", name.to_uppercase())));
            assert!(formatted.contains(&format!("/s/{token}\r\n")));
        }
        let recipient = recipient(Some("Ana"));
        let context = context(&survey, rules.first(), "en", &recipient, "t1");
        assert!(renderer.compiled(&context.delivery, &batch).is_none());
    }

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
    fn a_header_line_servers_would_refuse_is_never_made() {
        let renderer = Renderer::builtin();
        let (survey, mut rules) = example("nps");
        let recipient = recipient(Some("Ana"));
        let mut subject = |text: String| {
            let email = rules[0].email.as_mut().expect("an e-mail rule");
            email.subject = crate::model::Text::Plain(text);
            let context = context(&survey, rules.first(), "en", &recipient, "t.sig");
            renderer.email(&context).map(|m| m.formatted())
        };
        let folded = subject("word ".repeat(400)).unwrap();
        let raw = String::from_utf8_lossy(&folded);
        let head = raw.split_once("\r\n\r\n").unwrap().0;
        assert!(
            head.split("\r\n").all(|l| l.len() <= MAX_HEADER_LINE),
            "{head}"
        );
        let error = subject("x".repeat(1200)).unwrap_err().to_string();
        assert!(error.contains("more than the 998"), "{error}");
    }

    #[test]
    fn the_longest_line_is_measured_across_writes() {
        let mut longest = LongestLine::default();
        for piece in ["Subject: ab", "cd\r\n", " ef\r\nX: 1234567890", "1\r\n"] {
            std::fmt::Write::write_str(&mut longest, piece).unwrap();
        }
        assert_eq!(longest.longest, 14);
    }

    #[test]
    fn addresses_with_line_breaks_are_refused() {
        assert!(address("a@example.com\r\nBcc: b@example.com").is_err());
    }
}
