//! The meaning of alerts (`alerts:` in a distribution file), the survey's
//! `contact_consent` question and the workspace's `webhooks:`.

use super::{check_mailbox, check_unique, check_when, suggest};
use crate::diag::Code;
use crate::diag::Diagnostic;
use crate::model::{Distribution, QuestionType, Settings, Survey};
use crate::workspace::{Document, SurveyEntry};

/// E102: `contact_consent` must name a yes_no question of the survey.
pub(super) fn check_consent(survey: &Survey, doc: &Document, out: &mut Vec<Diagnostic>) {
    let Some(id) = &survey.contact_consent else {
        return;
    };
    let problem = match survey.question(id) {
        Some(q) if q.kind == QuestionType::YesNo => return,
        Some(q) => format!(
            "contact_consent names `{id}`, a {} question; consent is a yes_no answer",
            q.kind.name()
        ),
        None => format!("contact_consent names `{id}`, which is not a question of this survey"),
    };
    let known: Vec<&str> = survey
        .questions
        .iter()
        .filter(|q| q.kind == QuestionType::YesNo)
        .map(|q| q.id.as_str())
        .collect();
    let mut d = doc.error("/contact_consent", Code::E102, problem);
    d.help = Some(match suggest(id, &known) {
        Some(s) => format!("did you mean `{s}`?"),
        None => "name the yes_no question that asks whether the person may be contacted".into(),
    });
    out.push(d);
}

/// The alerts of a distribution file: unique ids, their conditions (over any question),
/// the answers they carry (E100), their identity columns (E101, W104) and their e-mail
/// settings (E073, E103).
pub(super) fn check_alerts(
    dist: &Distribution,
    entry: &SurveyEntry,
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    check_unique(
        dist.alerts.iter().map(|a| a.id.as_str()),
        "/alerts",
        "alert",
        doc,
        out,
    );
    let survey = entry.survey.as_ref().map(|s| &s.value);
    for (i, alert) in dist.alerts.iter().enumerate() {
        let base = format!("/alerts/{i}");
        if let Some(survey) = survey {
            let every = survey.questions.len();
            check_when(
                &alert.when,
                every,
                survey,
                &format!("{base}/when"),
                doc,
                out,
            );
            check_included(
                alert.include.as_deref().unwrap_or_default(),
                survey,
                &base,
                doc,
                out,
            );
            if alert.identity.is_some() && survey.contact_consent.is_none() {
                out.push(
                    doc.warning(
                        &format!("{base}/identity"),
                        Code::W104,
                        "the alert names identity columns, but the survey has no \
                         contact_consent question, so no alert ever carries them",
                    )
                    .with_help(
                        "add `contact_consent: QUESTION` to survey.yaml, or remove `identity`",
                    ),
                );
            }
        }
        check_identity(
            alert.identity.as_deref().unwrap_or_default(),
            dist,
            entry,
            &base,
            doc,
            out,
        );
        for (j, mailbox) in alert.to.email.iter().enumerate() {
            check_mailbox(mailbox, &format!("{base}/to/email/{j}"), doc, out);
        }
        if let Some(from) = &alert.to.from {
            check_mailbox(from, &format!("{base}/to/from"), doc, out);
        }
        let rule_sender = dist.rules.iter().any(|r| r.email.is_some());
        if !alert.to.email.is_empty() && alert.to.from.is_none() && !rule_sender {
            out.push(
                doc.error(
                    &format!("{base}/to/email"),
                    Code::E103,
                    "the alert e-mails, but has no sender: no rule here sends e-mail",
                )
                .with_help("give the alert `to.from: Name <address@example.com>`"),
            );
        }
    }
}

fn check_included(
    include: &[String],
    survey: &Survey,
    base: &str,
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    let known: Vec<&str> = survey.questions.iter().map(|q| q.id.as_str()).collect();
    for (j, id) in include.iter().enumerate() {
        if survey.question(id).is_none() {
            let mut d = doc.error(
                &format!("{base}/include/{j}"),
                Code::E100,
                format!("the alert includes `{id}`, which is not a question of this survey"),
            );
            d.help = suggest(id, &known).map(|s| format!("did you mean `{s}`?"));
            out.push(d);
        }
    }
}

/// E101: each identity column must be in the audience of every rule that has one (the
/// person is looked up in the audience of the rule they answered through).
fn check_identity(
    identity: &[String],
    dist: &Distribution,
    entry: &SurveyEntry,
    base: &str,
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    for rule in &dist.rules {
        let Some(audience) = &rule.audience else {
            continue;
        };
        let Ok(header) = crate::fsutil::audience_header(&entry.dir, &audience.file) else {
            continue;
        };
        for (j, column) in identity.iter().enumerate() {
            if !header.iter().any(|h| h == column) {
                let mut d = doc.error(
                    &format!("{base}/identity/{j}"),
                    Code::E101,
                    format!(
                        "the audience of rule `{}` has no column `{column}`",
                        rule.id
                    ),
                );
                d.help = Some(match suggest(column, &header) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "name a column of the audience file's header row".to_string(),
                });
                out.push(d);
            }
        }
    }
}

/// Webhook subscriptions need their own ids.
pub(super) fn check_webhooks(settings: &Settings, doc: &Document, out: &mut Vec<Diagnostic>) {
    check_unique(
        settings.webhooks.iter().map(|w| w.id.as_str()),
        "/webhooks",
        "webhook",
        doc,
        out,
    );
}
