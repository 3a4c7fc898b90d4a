//! Where messages go: the [`Transport`] seam and its local implementations, the outbox
//! folder (a faithful preview of what SMTP would carry) and chat webhooks.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jiff::Timestamp;

use super::{Dkim, OUTBOX_DIR, SendError};
use crate::store::{Outcome, Status};

/// How long to wait for a chat webhook to answer.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// A message ready for a transport.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// An e-mail.
    Email(Box<lettre::Message>),
    /// A chat card (Slack Block Kit or a Teams message) as JSON.
    Card(serde_json::Value),
}

/// What the receiving server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Accepted, with the server's words.
    Accepted(String),
    /// Refused for now (4xx, or the connection failed): worth retrying.
    Transient(String),
    /// Handed over with no reply (the connection was lost or timed out after the final
    /// `.`): it may have been delivered, so it is never sent again in the run.
    Unknown(String),
    /// Refused for good (5xx); `bounced` when the address itself does not exist.
    Permanent {
        /// The server's words.
        reply: String,
        /// Whether the mailbox is unknown (the person is then suppressed).
        bounced: bool,
    },
}

impl Reply {
    /// The reply in words, as a test send prints it.
    pub fn describe(&self) -> String {
        match self {
            Reply::Accepted(words) => format!("accepted: {words}"),
            Reply::Transient(words) => format!("refused for now: {words}"),
            Reply::Unknown(words) => format!("outcome unknown: {words}"),
            Reply::Permanent { reply, .. } => format!("refused: {reply}"),
        }
    }

    /// The reply with every e-mail address in the server's words replaced by
    /// `<address>` (Postfix quotes the recipient in its refusals), keeping the codes, so
    /// that no address reaches the ledger or the terminal.
    pub(super) fn redacted(self) -> Reply {
        match self {
            Reply::Accepted(words) => Reply::Accepted(redact_addresses(&words)),
            Reply::Transient(words) => Reply::Transient(redact_addresses(&words)),
            Reply::Unknown(words) => Reply::Unknown(redact_addresses(&words)),
            Reply::Permanent { reply, bounced } => Reply::Permanent {
                reply: redact_addresses(&reply),
                bounced,
            },
        }
    }

    /// What the ledger records for a delivery that got this reply.
    pub(super) fn outcome(&self, id: &str) -> Outcome {
        let (status, words) = match self {
            Reply::Accepted(words) => (Status::Sent, words),
            Reply::Transient(words) => (Status::Retrying, words),
            Reply::Unknown(words) => (Status::Unknown, words),
            Reply::Permanent {
                reply,
                bounced: true,
            } => (Status::Bounced, reply),
            Reply::Permanent { reply, .. } => (Status::Failed, reply),
        };
        Outcome {
            id: id.to_string(),
            status,
            reply: words.clone(),
        }
    }
}

/// Something that takes messages: an SMTP server, the outbox, a chat webhook.
pub trait Transport: Send + Sync {
    /// Hands one message over and reports the answer.
    fn deliver(&self, message: Outgoing) -> Reply;
    /// Whether messages leave this machine, so that throttles and the preflight apply.
    fn is_remote(&self) -> bool;
    /// Why the transport gave up on its server for the rest of the run, if it did.
    fn halted(&self) -> Option<String> {
        None
    }
}

/// The local outbox: each message becomes a file, for development and the quickstart.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
    counter: std::sync::Arc<AtomicUsize>,
    dkim: Option<std::sync::Arc<Dkim>>,
}

impl Outbox {
    /// The outbox in a state folder, created if needed.
    pub fn new(state_dir: &Path) -> Result<Outbox, SendError> {
        let dir = state_dir.join(OUTBOX_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| SendError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Outbox {
            dir,
            counter: std::sync::Arc::default(),
            dkim: None,
        })
    }

    /// The outbox signing each e-mail with `dkim`, so that a file shows the message
    /// exactly as an SMTP server would get it.
    pub fn signed(self, dkim: Option<Dkim>) -> Outbox {
        Outbox {
            dkim: dkim.map(std::sync::Arc::new),
            ..self
        }
    }

    /// The folder the messages go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Transport for Outbox {
    fn deliver(&self, message: Outgoing) -> Reply {
        let (name, bytes) = match message {
            Outgoing::Email(mut message) => {
                if let Some(dkim) = &self.dkim {
                    dkim.sign(&mut message);
                }
                let id = message_id(&message);
                (format!("{id}.eml"), message.formatted())
            }
            Outgoing::Card(card) => {
                let n = self.counter.fetch_add(1, Ordering::Relaxed);
                let stamp = Timestamp::now().as_millisecond();
                (
                    format!("card-{stamp}-{n}.json"),
                    card.to_string().into_bytes(),
                )
            }
        };
        let path = self.dir.join(&name);
        match crate::fsutil::write_atomic(&path, &bytes) {
            Ok(()) => Reply::Accepted(format!("{}{name}", crate::store::OUTBOX_REPLY)),
            Err(e) => Reply::Transient(format!("cannot write {}: {e}", path.display())),
        }
    }

    fn is_remote(&self) -> bool {
        false
    }
}

/// A file-name-safe form of the message's `Message-ID` (unique per delivery).
fn message_id(message: &lettre::Message) -> String {
    let raw = message
        .headers()
        .get_raw("Message-ID")
        .unwrap_or("message")
        .to_string();
    raw.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '@'))
        .collect()
}

/// A Slack or Teams incoming webhook.
pub struct Webhook {
    url: String,
    agent: ureq::Agent,
}

impl Webhook {
    /// A webhook at `url`.
    pub fn new(url: String) -> Webhook {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(WEBHOOK_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        Webhook { url, agent }
    }
}

impl Transport for Webhook {
    fn deliver(&self, message: Outgoing) -> Reply {
        let body = match message {
            Outgoing::Card(card) => card.to_string(),
            Outgoing::Email(_) => {
                return Reply::Permanent {
                    reply: "a webhook takes chat cards only".into(),
                    bounced: false,
                };
            }
        };
        let response = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(body.as_bytes());
        match response {
            Err(e) => Reply::Transient(e.to_string()),
            Ok(response) => {
                let status = response.status();
                let words = format!("HTTP {status}");
                if status.is_success() {
                    Reply::Accepted(words)
                } else if status.as_u16() == 429 || status.is_server_error() {
                    Reply::Transient(words)
                } else {
                    Reply::Permanent {
                        reply: words,
                        bounced: false,
                    }
                }
            }
        }
    }

    fn is_remote(&self) -> bool {
        true
    }
}

/// A borrowed transport as an owned one.
pub(super) struct ByRef<'a>(pub(super) &'a dyn Transport);

impl Transport for ByRef<'_> {
    fn deliver(&self, message: Outgoing) -> Reply {
        self.0.deliver(message)
    }

    fn is_remote(&self) -> bool {
        self.0.is_remote()
    }

    fn halted(&self) -> Option<String> {
        self.0.halted()
    }
}

/// Replaces each `local@domain` in a text by `<address>`.
fn redact_addresses(text: &str) -> String {
    let is_part = |c: char| !c.is_whitespace() && !"<>()[],;:\"'".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let start = rest[..at]
            .char_indices()
            .rev()
            .find(|(_, c)| !is_part(*c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let end = rest[at + 1..]
            .char_indices()
            .find(|(_, c)| !is_part(*c))
            .map_or(rest.len(), |(i, _)| at + 1 + i);
        let domain = rest[at + 1..end].trim_end_matches('.');
        let end = at + 1 + domain.len();
        if start < at && !domain.is_empty() {
            out.push_str(&rest[..start]);
            out.push_str("<address>");
        } else {
            out.push_str(&rest[..end]);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_server_replies_are_redacted() {
        assert_eq!(
            redact_addresses("550 5.1.1 <ana.k@example.net>: Recipient address rejected"),
            "550 5.1.1 <<address>>: Recipient address rejected"
        );
        assert_eq!(
            redact_addresses("250 2.0.0 Ok: queued as 4F2 for bob@example.org."),
            "250 2.0.0 Ok: queued as 4F2 for <address>."
        );
        assert_eq!(
            redact_addresses("451 4.3.0 try @ later"),
            "451 4.3.0 try @ later"
        );
    }
}
