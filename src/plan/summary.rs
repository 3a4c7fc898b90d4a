//! What a plan says: the counts of a rule's whole audience, or one person's decision.

use std::collections::BTreeMap;

use serde::Serialize;

use super::audience::people;
use super::{Decision, Due, LINES_LISTED, PlanError, Planner, Skip};

/// The counts of a plan: who gets what, and why the others do not.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlanSummary {
    /// `survey/rule`.
    pub rule: String,
    /// The channel.
    pub channel: &'static str,
    /// People in the audience (1 for a channel-wide rule).
    pub audience: u64,
    /// First messages due now.
    pub first: u64,
    /// Reminders due now.
    pub reminders: u64,
    /// Messages retried after a temporary failure of an earlier run.
    pub retries: u64,
    /// Messages due, by locale.
    pub by_locale: BTreeMap<String, u64>,
    /// People skipped, by reason.
    pub skipped: BTreeMap<Skip, u64>,
    /// The first audience lines skipped for a mistake in the file ([`Skip::lists_lines`]).
    pub lines: BTreeMap<Skip, Vec<u64>>,
}

impl PlanSummary {
    /// The plan in words, as `plan` and `send` print it: the counts, and for each reason
    /// someone must fix, the audience lines to look at (never an address).
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{} ({}): {} in the audience, {} to send now\n",
            self.rule,
            self.channel,
            self.audience,
            self.due()
        );
        if self.due() > 0 {
            let locales: Vec<String> = self
                .by_locale
                .iter()
                .map(|(l, n)| format!("{l} {n}"))
                .collect();
            text.push_str(&format!(
                "  send: {} first, {} reminders, {} retries ({})\n",
                self.first,
                self.reminders,
                self.retries,
                locales.join(", ")
            ));
        }
        if !self.skipped.is_empty() {
            let reasons: Vec<String> = self
                .skipped
                .iter()
                .map(|(reason, n)| match self.lines.get(reason) {
                    Some(lines) => format!("{} {n} ({})", reason.name(), audience_lines(lines, *n)),
                    None => format!("{} {n}", reason.name()),
                })
                .collect();
            text.push_str(&format!("  skip: {}\n", reasons.join(", ")));
        }
        text
    }

    /// Messages due now.
    pub fn due(&self) -> u64 {
        self.first + self.reminders + self.retries
    }

    /// Turns a message counted due into one skipped for the cap: the ledger found, when
    /// recording it, that a concurrent run had just reached the person.
    pub fn recount_capped(&mut self, due: &Due) {
        if let Some(n) = self.by_locale.get_mut(&due.locale) {
            *n = n.saturating_sub(1);
        }
        self.first = self.first.saturating_sub(1);
        *self.skipped.entry(Skip::Capped).or_default() += 1;
    }

    /// Adds the decision for the person at an audience line.
    pub fn count(&mut self, decision: &Decision, line: u64) {
        self.audience += 1;
        match decision {
            Decision::Skip(skip) => {
                *self.skipped.entry(*skip).or_default() += 1;
                if skip.lists_lines() {
                    let lines = self.lines.entry(*skip).or_default();
                    if lines.len() < LINES_LISTED {
                        lines.push(line);
                    }
                }
            }
            Decision::Send(due) => {
                *self.by_locale.entry(due.locale.clone()).or_default() += 1;
                match (due.retry_of.is_some(), due.seq) {
                    (true, _) => self.retries += 1,
                    (false, 0) => self.first += 1,
                    (false, _) => self.reminders += 1,
                }
            }
        }
    }
}

/// Plans a rule: every person's decision, counted.
pub fn plan(planner: &Planner) -> Result<PlanSummary, PlanError> {
    let target = planner.target();
    let mut summary = PlanSummary {
        rule: target.name(),
        channel: target.rule.channel.name(),
        ..PlanSummary::default()
    };
    for person in people(&target)? {
        let person = person?;
        summary.count(&planner.decide(&person)?, person.line);
    }
    Ok(summary)
}

/// One person's decision, for `plan --explain`.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// `survey/rule`.
    pub rule: String,
    /// The audience line, `None` when the address is not in the audience.
    pub line: Option<u64>,
    /// `send` or the reason for skipping.
    pub decision: String,
    /// The locale of the message due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// 0 for the first message, 1.. for a reminder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u32>,
}

/// Explains what the rule does with one address (its first line in the audience).
pub fn explain(planner: &Planner, address: &str) -> Result<Explanation, PlanError> {
    let target = planner.target();
    let wanted = address.trim().to_lowercase();
    let mut explanation = Explanation {
        rule: target.name(),
        line: None,
        decision: "not in the audience".to_string(),
        locale: None,
        seq: None,
    };
    for person in people(&target)? {
        let person = person?;
        if person.address.trim().to_lowercase() != wanted {
            continue;
        }
        explanation.line = Some(person.line);
        match planner.decide(&person)? {
            Decision::Send(due) => {
                explanation.decision = if due.seq == 0 {
                    "send"
                } else {
                    "send a reminder"
                }
                .to_string();
                explanation.locale = Some(due.locale);
                explanation.seq = Some(due.seq);
            }
            Decision::Skip(skip) => explanation.decision = skip.name().to_string(),
        }
        break;
    }
    Ok(explanation)
}

/// `line 4` or `lines 4, 9 and 3 more`: where to fix the audience file, never the address.
fn audience_lines(lines: &[u64], count: u64) -> String {
    let listed: Vec<String> = lines.iter().map(u64::to_string).collect();
    let more = count.saturating_sub(lines.len() as u64);
    let word = if count == 1 { "line" } else { "lines" };
    match more {
        0 => format!("audience {word} {}", listed.join(", ")),
        more => format!("audience {word} {} and {more} more", listed.join(", ")),
    }
}
