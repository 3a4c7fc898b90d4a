//! `canvass render`: every locale of a survey in one format, written to files that open in
//! a mail client, a browser or a chat tool's preview.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{
    Delivery, EmailContext, PageContext, PageTarget, Paper, PrintContext, Recipient, RenderError,
    Renderer,
};
use crate::model::{Channel, DEFAULT_LINK_LIFETIME, Rule, Survey, parse_duration};
use crate::token::{Claims, Key};
use crate::workspace::{SurveyEntry, Workspace};

/// The formats `canvass render` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Format {
    /// A complete e-mail message (.eml).
    Email,
    /// The web form (.html).
    Html,
    /// A Slack Block Kit message (.slack.json).
    Slack,
    /// A Teams Adaptive Card (.teams.json).
    Teams,
    /// SMS or WhatsApp text (.txt).
    Text,
    /// A printable page with a QR code (.print.html).
    Print,
}

impl Format {
    /// Every format, in the order the preview lists them.
    pub const ALL: [Format; 6] = [
        Format::Email,
        Format::Html,
        Format::Slack,
        Format::Teams,
        Format::Text,
        Format::Print,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Email => "email",
            Format::Html => "html",
            Format::Slack => "slack",
            Format::Teams => "teams",
            Format::Text => "text",
            Format::Print => "print",
        }
    }

    /// The output file's extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Email => "eml",
            Format::Html => "html",
            Format::Slack => "slack.json",
            Format::Teams => "teams.json",
            Format::Text => "txt",
            Format::Print => "print.html",
        }
    }

    fn channel(self) -> Option<Channel> {
        match self {
            Format::Email => Some(Channel::Email),
            Format::Slack => Some(Channel::Slack),
            Format::Teams => Some(Channel::Teams),
            Format::Print => Some(Channel::Print),
            Format::Html | Format::Text => None,
        }
    }
}

/// Why `canvass render` could not write its files.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The survey is not in the workspace or does not load.
    #[error("there is no loadable survey `{0}` in the workspace; run `canvass check`")]
    NoSurvey(String),
    /// The locale asked for is not one of the survey's.
    #[error("the survey `{survey}` has no locale `{locale}` (it has {known})")]
    NoLocale {
        /// The survey.
        survey: String,
        /// The locale asked for.
        locale: String,
        /// The survey's locales.
        known: String,
    },
    /// The recipient file is not a recipient.
    #[error("{}: not a recipient ({reason}); write {{\"address\": …, \"name\": …, \"values\": {{…}}}}", path.display())]
    Recipient {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        reason: String,
    },
    /// Rendering failed.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// A file could not be written or the key could not be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// One rendered file: its name and its bytes.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The file name (`SURVEY.LOCALE.EXTENSION`).
    pub file_name: String,
    /// The content.
    pub bytes: Vec<u8>,
    /// What a browser shows: the page itself, or an e-mail's HTML part; `None` for JSON
    /// and text.
    pub html: Option<String>,
}

/// Reads a recipient from a JSON file: `{"address": …, "name": …, "values": {…}}`.
pub fn read_recipient(path: &Path) -> Result<Recipient, OutputError> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(|e| OutputError::Recipient {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// A survey rendered for someone, as `canvass render` and `canvass preview` do it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The survey id.
    pub survey: &'a str,
    /// The format.
    pub format: Format,
    /// The locale; every locale of the survey when `None`.
    pub locale: Option<&'a str>,
    /// The recipient.
    pub recipient: &'a Recipient,
}

/// Renders a request in the workspace, signing tokens with `key`.
pub fn render(
    ws: &Workspace,
    renderer: &Renderer,
    key: &Key,
    request: &Request,
) -> Result<Vec<Rendered>, OutputError> {
    let entry = ws.survey(request.survey);
    let survey = entry
        .and_then(|e| e.survey.as_ref())
        .map(|s| &s.value)
        .ok_or_else(|| OutputError::NoSurvey(request.survey.to_string()))?;
    let rules = entry.map_or(&[][..], SurveyEntry::rules);
    let rule = pick_rule(rules, request.format);
    let locales: Vec<&str> = match request.locale {
        Some(locale) if survey.locales.iter().any(|l| l == locale) => vec![locale],
        Some(locale) => {
            return Err(OutputError::NoLocale {
                survey: survey.id.clone(),
                locale: locale.to_string(),
                known: survey.locales.join(", "),
            });
        }
        None => survey.locales.iter().map(String::as_str).collect(),
    };
    let token = sign(key, survey, rule, request.recipient);
    let base_url = super::base_url(&ws.settings);
    let mailto = ws
        .settings
        .unsubscribe
        .as_ref()
        .and_then(|u| u.mailto.as_deref());
    locales
        .into_iter()
        .map(|locale| {
            let delivery = Delivery {
                survey,
                rule,
                locale,
                recipient: request.recipient,
                base_url,
                token: &token,
            };
            let (bytes, html) = render_one(renderer, request.format, &delivery, mailto)?;
            Ok(Rendered {
                file_name: format!("{}.{locale}.{}", survey.id, request.format.extension()),
                bytes,
                html,
            })
        })
        .collect()
}

/// Renders a request and writes its files into `out`, returning their paths.
pub fn write(
    ws: &Workspace,
    renderer: &Renderer,
    key: &Key,
    request: &Request,
    out: &Path,
) -> Result<Vec<PathBuf>, OutputError> {
    std::fs::create_dir_all(out)?;
    render(ws, renderer, key, request)?
        .into_iter()
        .map(|file| {
            let path = out.join(&file.file_name);
            crate::fsutil::write_atomic(&path, &file.bytes)?;
            Ok(path)
        })
        .collect()
}

fn render_one(
    renderer: &Renderer,
    format: Format,
    d: &Delivery,
    mailto: Option<&str>,
) -> Result<(Vec<u8>, Option<String>), RenderError> {
    let page = |html: String| (html.clone().into_bytes(), Some(html));
    let json = |v: serde_json::Value| {
        let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
        text.push('\n');
        (text.into_bytes(), None)
    };
    Ok(match format {
        Format::Email => {
            let context = EmailContext {
                delivery: *d,
                unsubscribe_mailto: mailto,
                message_id: None,
                date: SystemTime::now(),
            };
            let batch = renderer.email_batch(d.survey, d.locale);
            let (_, html) = renderer.email_bodies(&context, &batch.view)?;
            let message = renderer.email_in(&context, &batch)?;
            (message.formatted(), Some(html))
        }
        Format::Html => page(renderer.page(&PageContext {
            survey: d.survey,
            locale: d.locale,
            base_url: d.base_url,
            target: PageTarget::Token(d.token),
            answers: &Default::default(),
            errors: &[],
            clicked: false,
        })?),
        Format::Slack => json(renderer.slack(d)?),
        Format::Teams => json(renderer.teams(d)?),
        Format::Text => (renderer.text(d)?.into_bytes(), None),
        Format::Print => page(renderer.print(&PrintContext {
            survey: d.survey,
            locale: d.locale,
            base_url: d.base_url,
            paper: Paper::for_locale(d.locale),
        })?),
    })
}

/// The rule whose channel fits the format, else the first rule.
fn pick_rule(rules: &[Rule], format: Format) -> Option<&Rule> {
    rules
        .iter()
        .find(|r| Some(r.channel) == format.channel())
        .or(rules.first())
}

/// A token for a rendering that reaches no real person: delivery `preview`.
fn sign(key: &Key, survey: &Survey, rule: Option<&Rule>, recipient: &Recipient) -> String {
    let now = jiff::Timestamp::now().as_second();
    let lifetime = rule
        .and_then(|r| r.link_lifetime().ok())
        .or_else(|| parse_duration(DEFAULT_LINK_LIFETIME).ok())
        .unwrap_or_default();
    key.sign(&Claims::delivery(
        survey,
        rule.map_or("preview", |r| r.id.as_str()),
        key.recipient(&recipient.address),
        "preview".into(),
        now + lifetime,
    ))
}
