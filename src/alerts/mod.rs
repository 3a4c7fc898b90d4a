//! Alerts and webhook events: closing the loop from an answer to the team that acts on it.
//!
//! - **Raising.** [`Alerts`] decides, for each confirmed answer the store writes, which
//!   messages it raises: an `alert.triggered` per destination of each alert whose `when`
//!   the answer meets (and the answer it replaces did not, so a correction does not alert
//!   twice), and a `response.created` or `response.updated` per workspace webhook. The
//!   store writes them to its outbox in the answer's own transaction: an answer is never
//!   stored without its alerts, nor an alert without its answer. Provisional one-click
//!   answers raise nothing, since a mail scanner may have made them.
//! - **Delivering.** [`Deliverer`] claims due messages, renders them for their target
//!   (a signed Standard Webhooks POST, Slack Block Kit, a Teams Adaptive Card, an e-mail
//!   through `send`'s SMTP settings), and records each outcome; a refused one is tried
//!   again with exponential backoff over hours ([`Retry`]), under the same `webhook-id`.
//! - **Identity.** Payloads never hold an identity. Only when the survey's
//!   `contact_consent` question was answered yes does the deliverer look the person up
//!   in the rule's audience file (see [`contact`]) and add the columns the alert allows.

use std::collections::HashMap;

use crate::model::{Alert, ResponseEvent, Survey, WebhookSubscription};
use crate::store::{NewMessage, Raise, TargetKind, Written};
use crate::when::Expr;
use crate::workspace::Workspace;

pub mod chat;
pub mod contact;
mod deliver;
pub mod payload;
pub mod sign;

pub use deliver::{Deliverer, Drained, Retry, Wake};

/// The event type of an alert.
pub const ALERT_EVENT: &str = "alert.triggered";

/// The alerts and webhooks of a workspace, ready to judge answers.
#[derive(Debug, Default)]
pub struct Alerts {
    surveys: HashMap<String, SurveyAlerts>,
    webhooks: Vec<WebhookSubscription>,
}

#[derive(Debug)]
struct SurveyAlerts {
    survey: Survey,
    alerts: Vec<Compiled>,
}

#[derive(Debug)]
struct Compiled {
    alert: Alert,
    when: Expr,
}

impl Alerts {
    /// The alerts of every survey's rules (those whose condition parses; `check` reports
    /// the others) and the webhooks of `canvass.yaml`.
    pub fn for_workspace(ws: &Workspace) -> Alerts {
        let surveys = ws
            .surveys
            .iter()
            .filter_map(|entry| {
                let survey = entry.survey.as_ref()?.value.clone();
                let alerts = entry
                    .distribution
                    .iter()
                    .flat_map(|d| &d.value.alerts)
                    .filter_map(|alert| {
                        Some(Compiled {
                            when: Expr::parse(&alert.when).ok()?,
                            alert: alert.clone(),
                        })
                    })
                    .collect();
                Some((survey.id.clone(), SurveyAlerts { survey, alerts }))
            })
            .collect();
        Alerts {
            surveys,
            webhooks: ws.settings.webhooks.clone(),
        }
    }

    /// Whether no answer can raise anything, so that the store need not be asked.
    pub fn is_empty(&self) -> bool {
        self.webhooks.is_empty() && self.surveys.values().all(|s| s.alerts.is_empty())
    }
}

impl Raise for Alerts {
    fn raise(&self, written: &Written<'_>, out: &mut Vec<NewMessage>) {
        if !written.confirmed {
            return;
        }
        let Some(entry) = self.surveys.get(written.survey) else {
            return;
        };
        let answers = parse_answers(written.answers);
        let answered = payload::Answered {
            written,
            survey: &entry.survey,
            answers: &answers,
        };
        let change = match written.replaced {
            Some(_) => ResponseEvent::Updated,
            None => ResponseEvent::Created,
        };
        self.raise_events(&answered, change, out);
        let replaced = written.replaced.map(parse_answers);
        for compiled in &entry.alerts {
            let was_met = replaced.as_ref().is_some_and(|r| holds(&compiled.when, r));
            if holds(&compiled.when, &answers) && !was_met {
                raise_alert(&answered, &compiled.alert, out);
            }
        }
    }
}

impl Alerts {
    fn raise_events(
        &self,
        answered: &payload::Answered<'_>,
        change: ResponseEvent,
        out: &mut Vec<NewMessage>,
    ) {
        let subscribed: Vec<&WebhookSubscription> = self
            .webhooks
            .iter()
            .filter(|w| w.events.contains(&change))
            .collect();
        if subscribed.is_empty() {
            return;
        }
        let body = to_json(&answered.event(change.name(), None, None));
        out.extend(subscribed.into_iter().map(|hook| NewMessage {
            event: change.name().to_string(),
            subscription: hook.id.clone(),
            target: TargetKind::Webhook,
            address: hook.url_env.clone(),
            payload: body.clone(),
            contact: None,
        }));
    }
}

fn raise_alert(answered: &payload::Answered<'_>, alert: &Alert, out: &mut Vec<NewMessage>) {
    let event = answered.event(ALERT_EVENT, Some(&alert.id), alert.include.as_deref());
    let w = answered.written;
    let contact = match (event.data.contact_consent, w.rule) {
        (Some(true), Some(rule)) if w.source != "open" => Some(to_json(&contact::Lookup {
            rule: rule.to_string(),
            delivery: w.response_key.to_string(),
            columns: alert.identity.clone(),
        })),
        _ => None,
    };
    let body = to_json(&event);
    out.extend(
        targets(alert)
            .into_iter()
            .map(|(target, address)| NewMessage {
                event: ALERT_EVENT.to_string(),
                subscription: alert.id.clone(),
                target,
                address,
                payload: body.clone(),
                contact: contact.clone(),
            }),
    );
}

/// Each destination of an alert: its kind and its environment variable or mailbox.
fn targets(alert: &Alert) -> Vec<(TargetKind, String)> {
    let to = &alert.to;
    [
        (TargetKind::Webhook, &to.webhook_env),
        (TargetKind::Slack, &to.slack_env),
        (TargetKind::Teams, &to.teams_env),
    ]
    .into_iter()
    .filter_map(|(kind, env)| Some((kind, env.clone()?)))
    .chain(to.email.iter().map(|m| (TargetKind::Email, m.clone())))
    .collect()
}

fn parse_answers(json: &str) -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_str(json).unwrap_or_default()
}

fn holds(when: &Expr, answers: &serde_json::Map<String, serde_json::Value>) -> bool {
    when.eval(&|id| answers.get(id).and_then(payload::answer_value))
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("events serialize")
}
