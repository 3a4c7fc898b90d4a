//! An event for people: a Slack Block Kit message, a Teams Adaptive Card (1.5) and a plain
//! e-mail, all from one [`Card`], with the survey, the score, the answers (the comment
//! among them), the locale and the segments, and who answered only when they consented.
//! Like the survey's own chat renderings these are minijinja templates that write JSON
//! (every value escaped as a JSON string).

use std::sync::LazyLock;

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use super::payload::Event;
use crate::render::truncate as cut;

/// Slack's longest header text.
const SLACK_HEADER_CHARS: usize = 150;
/// The longest text of a fact (Slack's limit for a section field is 2000).
const FACT_CHARS: usize = 1900;
/// The most facts shown: five pairs make a Slack section, and a message holds 50 blocks.
const MAX_FACTS: usize = 200;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_auto_escape_callback(|_| AutoEscape::Json);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, source) in [
        ("slack.json", include_str!("templates/slack.json")),
        ("teams.json", include_str!("templates/teams.json")),
    ] {
        env.add_template(name, source)
            .expect("the alert templates compile");
    }
    env
});

/// A title and a value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fact {
    title: String,
    value: String,
}

impl Fact {
    fn new(title: impl Into<String>, value: impl Into<String>) -> Fact {
        let value = value.into();
        Fact {
            title: cut(&title.into(), FACT_CHARS),
            value: cut(
                if value.trim().is_empty() {
                    "—"
                } else {
                    &value
                },
                FACT_CHARS,
            ),
        }
    }
}

/// What every rendering of an event shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Card {
    headline: String,
    header: String,
    facts: Vec<Fact>,
    contact: Vec<Fact>,
    contact_title: &'static str,
    context: String,
}

impl Card {
    /// The card of an event.
    pub fn new(event: &Event) -> Card {
        let data = &event.data;
        let what = match &data.alert {
            Some(alert) => format!("Alert {alert}"),
            None => event.kind.clone(),
        };
        let headline = format!("{what}: {}", data.survey.title);
        let mut facts = vec![Fact::new("Survey", &data.survey.title)];
        if let Some(score) = &data.score {
            facts.push(Fact::new(
                "Score",
                format!("{} on {}–{}", score.value, score.min, score.max),
            ));
        }
        facts.extend(data.answers.iter().map(|a| Fact::new(&a.text, &a.label)));
        facts.truncate(MAX_FACTS);
        let contact = match &data.contact {
            Some(columns) => columns
                .iter()
                .map(|(column, value)| Fact::new(column, value.as_str().unwrap_or_default()))
                .collect(),
            None => Vec::new(),
        };
        Card {
            header: cut(&headline, SLACK_HEADER_CHARS),
            headline,
            facts,
            contact,
            contact_title: "Contact (the respondent agreed to be contacted)",
            context: context(event),
        }
    }

    /// A Slack message (Block Kit) for an incoming webhook.
    pub fn slack(&self) -> serde_json::Value {
        self.render("slack.json")
    }

    /// A Teams Adaptive Card (1.5).
    pub fn teams_card(&self) -> serde_json::Value {
        self.render("teams.json")
    }

    /// The card as a Teams incoming webhook takes it: a message with one attachment.
    pub fn teams_message(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": self.teams_card(),
            }],
        })
    }

    /// The subject and plain-text body of an alert e-mail.
    pub fn email(&self) -> (String, String) {
        let mut body = String::new();
        for fact in self.facts.iter().chain(&self.contact) {
            body.push_str(&format!("{}\n  {}\n\n", fact.title, fact.value));
        }
        if self.contact.is_empty() {
            body.push_str("No contact details: the respondent did not agree to be contacted.\n\n");
        }
        body.push_str(&self.context);
        body.push('\n');
        let subject: String = self.headline.chars().filter(|c| !c.is_control()).collect();
        (cut(&subject, 200), body)
    }

    fn render(&self, name: &str) -> serde_json::Value {
        let text = TEMPLATES
            .get_template(name)
            .and_then(|t| t.render(self))
            .expect("the alert templates render every card");
        serde_json::from_str(&text).expect("the alert templates write JSON")
    }
}

/// The answer's circumstances in one line: locale, channel and rule, segments, time.
fn context(event: &Event) -> String {
    let r = &event.data.response;
    let mut parts = vec![format!(
        "locale {}",
        r.locale.as_deref().unwrap_or("unknown")
    )];
    parts.push(match &r.rule {
        Some(rule) => format!("{} via {rule}", r.channel),
        None => r.channel.clone(),
    });
    if !r.segments.is_empty() {
        let segments: Vec<String> = r
            .segments
            .iter()
            .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or_default()))
            .collect();
        parts.push(segments.join(", "));
    }
    parts.push(format!("answered {}", r.submitted_at));
    parts.push(format!("response {}", r.id));
    cut(&parts.join(" · "), FACT_CHARS)
}
