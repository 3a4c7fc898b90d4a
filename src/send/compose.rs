//! Turning one planned message into what a transport takes: the signed token, then the
//! rendered e-mail (checked to fit the wire) or chat card.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::SystemTime;

use jiff::Timestamp;
use lettre::message::Mailbox;

use super::run::{Job, Sender};
use super::{Outgoing, SendError};
use crate::model::Channel;
use crate::plan::{PlanError, Target};
use crate::render::{
    DEFAULT_BASE_URL, Delivery, EmailBatch, EmailContext, Recipient, RenderError, Renderer,
};
use crate::token::{Claims, Key};

/// A random delivery id.
pub(super) fn new_id() -> String {
    crate::token::random_hex::<12>()
}

/// Turns a job into a message: the signed token, then the rendered e-mail or card.
pub(super) struct Composer<'a> {
    renderer: &'a Renderer,
    key: &'a Key,
    pub(super) target: Target<'a>,
    base_url: String,
    mailto: Option<String>,
    views: HashMap<String, EmailBatch>,
    expires: i64,
    domain: String,
}

impl<'a> Composer<'a> {
    pub(super) fn new(
        sender: &'a Sender,
        target: Target<'a>,
        now: Timestamp,
    ) -> Result<Self, SendError> {
        let settings = &sender.setup.ws.settings;
        let expires = target
            .rule
            .link_lifetime()
            .map_err(|e| PlanError::InvalidRule {
                rule: target.name(),
                message: e.to_string(),
            })?;
        let domain = target
            .rule
            .email
            .as_ref()
            .and_then(|e| Mailbox::from_str(&e.from).ok())
            .map_or_else(
                || "canvass.invalid".to_string(),
                |m| m.email.domain().to_string(),
            );
        Ok(Composer {
            renderer: sender.renderer,
            key: &sender.setup.key,
            target,
            base_url: settings
                .base_url
                .clone()
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_string()),
            mailto: settings.unsubscribe.as_ref().and_then(|u| u.mailto.clone()),
            views: target
                .survey
                .locales
                .iter()
                .map(|l| (l.clone(), sender.renderer.email_batch(target.survey, l)))
                .collect(),
            expires: now.as_second() + expires,
            domain,
        })
    }

    pub(super) fn compose(&self, job: &Job) -> Result<Outgoing, RenderError> {
        let (survey, rule) = (self.target.survey, self.target.rule);
        let token = self.key.sign(&Claims::delivery(
            survey,
            &rule.id,
            job.due.recipient.clone(),
            job.id.clone(),
            self.expires,
        ));
        let recipient = Recipient {
            address: job.person.address.clone(),
            name: job.person.name.clone(),
            values: job.person.placeholders.clone(),
        };
        let delivery = Delivery {
            survey,
            rule: Some(rule),
            locale: &job.due.locale,
            recipient: &recipient,
            base_url: &self.base_url,
            token: &token,
        };
        Ok(match rule.channel {
            Channel::Slack => Outgoing::Card(self.renderer.slack(&delivery)?),
            Channel::Teams => Outgoing::Card(teams_message(self.renderer.teams(&delivery)?)),
            _ => {
                let context = EmailContext {
                    delivery,
                    unsubscribe_mailto: self.mailto.as_deref(),
                    message_id: Some(format!("<{}@{}>", job.id, self.domain)),
                    date: SystemTime::now(),
                };
                let message = match self.views.get(&job.due.locale) {
                    Some(batch) => self.renderer.email_in(&context, batch)?,
                    None => self.renderer.email(&context)?,
                };
                Outgoing::Email(Box::new(message))
            }
        })
    }
}

/// A Teams incoming webhook takes the Adaptive Card as an attachment of a message.
fn teams_message(card: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": card,
        }],
    })
}
