//! Chat and SMS: a Slack Block Kit message, a Microsoft Teams Adaptive Card (1.5) and a
//! short plain text, each with the embedded question's answers as buttons or a link.

use serde::Serialize;

use super::view::{QuestionView, SurveyView};
use super::{Links, Recipient, RenderError, Renderer};
use crate::model::{Rule, Survey};

/// Slack's longest button text.
const SLACK_BUTTON_CHARS: usize = 75;
/// Slack's longest section text.
const SLACK_TEXT_CHARS: usize = 3000;

/// One survey going to one person through one rule: what every personal format needs.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The survey.
    pub survey: &'a Survey,
    /// The rule it goes out by (its `embed` question and e-mail settings), if any.
    pub rule: Option<&'a Rule>,
    /// The locale to render in.
    pub locale: &'a str,
    /// The person.
    pub recipient: &'a Recipient,
    /// The collector's public address.
    pub base_url: &'a str,
    /// The signed response token.
    pub token: &'a str,
}

impl Delivery<'_> {
    /// The links of this delivery.
    pub fn links(&self) -> Links<'_> {
        Links {
            base_url: self.base_url,
            token: self.token,
        }
    }
}

/// What the chat templates see.
#[derive(Serialize)]
struct ChatView<'a> {
    s: SurveyView,
    q: Option<QuestionView>,
    name: Option<&'a str>,
    survey_url: String,
}

impl Renderer {
    /// A Slack message (Block Kit JSON) for an incoming webhook.
    pub fn slack(&self, delivery: &Delivery) -> Result<serde_json::Value, RenderError> {
        let mut view = self.chat_view(delivery);
        if let Some(q) = &mut view.q {
            q.text = truncate(&q.text, SLACK_TEXT_CHARS);
            for choice in &mut q.choices {
                choice.label = truncate(&choice.label, SLACK_BUTTON_CHARS);
            }
        }
        self.render_json("slack.json", &view)
    }

    /// A Microsoft Teams Adaptive Card (schema 1.5). Post it wrapped in a message with an
    /// `application/vnd.microsoft.card.adaptive` attachment.
    pub fn teams(&self, delivery: &Delivery) -> Result<serde_json::Value, RenderError> {
        self.render_json("teams.json", self.chat_view(delivery))
    }

    /// A short plain text with the survey's link, for SMS or WhatsApp.
    pub fn text(&self, delivery: &Delivery) -> Result<String, RenderError> {
        self.render("text.txt", self.chat_view(delivery))
    }

    fn chat_view<'a>(&self, d: &'a Delivery) -> ChatView<'a> {
        let s = self.view(d.survey, d.locale);
        let links = d.links();
        let q = super::with_answer_links(&s, super::embedded_question(d.survey, d.rule), links);
        ChatView {
            s,
            q,
            name: d.recipient.name.as_deref().filter(|n| !n.trim().is_empty()),
            survey_url: links.survey(),
        }
    }
}

/// At most `max` characters, with an ellipsis when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncation_keeps_the_limit() {
        assert_eq!(super::truncate("abcdef", 4), "abc…");
        assert_eq!(super::truncate("abc", 4), "abc");
    }
}
