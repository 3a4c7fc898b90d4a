//! Sending: the transports (SMTP, the local outbox, chat webhooks), the send loop with
//! its ledger, retries and throttle, and test sends.
//!
//! The loop streams the plan: each batch of due messages is recorded `queued` in the
//! ledger (one durable commit, which also decides the frequency cap), then handed to the
//! transport by a few workers sharing its connection pool; each worker logs its message
//! `handing` just before the transport call and its outcome just after. A run killed
//! anywhere leaves at most one message `handing` per worker, which the next run reports
//! as unknown instead of sending again; its `queued` messages simply go out then.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use lettre::message::Mailbox;

use crate::model::Channel;
use crate::plan::{KeyPolicy, PlanError, Setup, SetupError, Target};
use crate::render::{RenderError, Renderer};
use crate::store::StoreError;
use crate::workspace::Workspace;

mod compose;
mod dkim;
mod lock;
mod pool;
mod run;
mod smtp;
mod transport;

pub use dkim::{DEFAULT_SELECTOR, Dkim};
pub use lock::{LOCKS_DIR, RuleLock};
pub use run::{
    Failure, Progress, RetryPolicy, RuleReport, SendOptions, Sender, Started, unknown_note,
};
pub use smtp::{Smtp, SmtpLimits};
pub use transport::{Outbox, Outgoing, Reply, Transport, Webhook};

/// The SMTP server, as `smtp://user:pass@host:587` (STARTTLS), `smtps://…:465` (implicit
/// TLS) or `smtp://host:25?tls=none` (plain text, for a local test server).
pub const SMTP_URL_ENV: &str = "CANVASS_SMTP_URL";
/// The DKIM private key: a PEM file's path or its content (RSA), or a base64 Ed25519 key.
pub const DKIM_KEY_ENV: &str = "CANVASS_DKIM_KEY";
/// The DKIM selector (default `canvass`).
pub const DKIM_SELECTOR_ENV: &str = "CANVASS_DKIM_SELECTOR";
/// The outbox folder inside the state folder, used when no SMTP server is configured.
pub const OUTBOX_DIR: &str = "outbox";

/// Why sending failed as a whole (one message's failure is an outcome, not an error).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Planning failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another process is sending the same rule.
    #[error(
        "another `canvass send` is sending {0} right now (it holds {1}); wait for it to finish"
    )]
    Locked(String, String),
    /// The SMTP settings are unusable.
    #[error("{SMTP_URL_ENV} is not usable: {0}")]
    Smtp(String),
    /// The DKIM key is unusable.
    #[error("{DKIM_KEY_ENV} is not usable: {0}")]
    Dkim(String),
    /// A chat rule's webhook variable is not set.
    #[error("the rule {rule} posts to the webhook in ${env}, which is not set")]
    NoWebhook {
        /// The rule.
        rule: String,
        /// The variable.
        env: String,
    },
    /// The workspace cannot be opened for sending.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// A message could not be rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The SMTP server stopped answering, so the run stopped instead of waiting on it
    /// for every message.
    #[error("{0}; the run stopped, and the messages not handed over are due for the next run")]
    Stalled(String),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// A variable's value, unless unset or blank.
fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// What a send run delivers through: the templates and the mail transport (the SMTP
/// server, or the outbox when none is configured).
pub struct Mailer {
    /// The templates.
    pub renderer: Renderer,
    /// Where e-mails go.
    pub mail: Box<dyn Transport>,
    /// The outbox folder, when e-mails go there.
    pub outbox: Option<PathBuf>,
}

impl Mailer {
    /// Opens the workspace for sending, with the transport of `CANVASS_SMTP_URL` or else
    /// the outbox. A real server requires `CANVASS_KEY`; the outbox may use the
    /// development key.
    pub fn open(root: &Path, limits: SmtpLimits) -> Result<(Setup, Mailer), SendError> {
        let smtp = Smtp::from_env(limits)?;
        let policy = match smtp {
            Some(_) => KeyPolicy::Workspace,
            None => KeyPolicy::DevAllowed,
        };
        let setup = Setup::open(root, policy)?;
        let renderer = Renderer::for_workspace(&setup.ws)?;
        let (mail, outbox): (Box<dyn Transport>, _) = match smtp {
            Some(smtp) => (Box::new(smtp), None),
            None => {
                let outbox = local_outbox(&setup.ws.state_dir())?;
                let dir = outbox.dir().to_path_buf();
                (Box::new(outbox), Some(dir))
            }
        };
        let mailer = Mailer {
            renderer,
            mail,
            outbox,
        };
        Ok((setup, mailer))
    }

    /// A sender of this setup's rules through this mailer.
    pub fn sender<'a>(&'a self, setup: &'a Setup) -> Sender<'a> {
        Sender::new(setup, &self.renderer, self.mail.as_ref())
    }
}

/// The outbox folder e-mails go to when no SMTP server is configured, each signed with
/// the DKIM key when one is set, so that a file shows the message a server would get.
/// `send` and alert e-mails both go this way, and so read the same. The key is read
/// first, so an unusable one stops the run before the folder exists.
pub fn local_outbox(state_dir: &Path) -> Result<Outbox, SendError> {
    let dkim = Dkim::from_env()?;
    Ok(Outbox::new(state_dir)?.signed(dkim))
}

/// What a bulk sender needs and this run is missing, for the preflight.
pub fn preflight(ws: &Workspace, targets: &[Target]) -> Vec<String> {
    let mut missing = Vec::new();
    if env_value(DKIM_KEY_ENV).is_none() {
        missing.push(format!(
            "no DKIM key: set {DKIM_KEY_ENV} (a PEM path or content) and {DKIM_SELECTOR_ENV}; \
             large mailbox providers reject unsigned bulk mail"
        ));
    }
    match ws.settings.base_url.as_deref() {
        Some(url) if url.starts_with("https://") => {}
        _ => missing.push(
            "canvass.yaml `base_url` is not an https address: one-click unsubscribe (RFC 8058) \
             needs https"
                .to_string(),
        ),
    }
    for target in targets.iter().filter(|t| t.rule.channel == Channel::Email) {
        let from = target
            .rule
            .email
            .as_ref()
            .map(|e| e.from.as_str())
            .unwrap_or_default();
        let domain = Mailbox::from_str(from).map(|m| m.email.domain().to_string());
        if !domain
            .as_deref()
            .is_ok_and(|d| d.contains('.') && !d.ends_with(".invalid"))
        {
            missing.push(format!(
                "{}: the `from` address `{from}` has no public domain to sign and align with",
                target.name()
            ));
        }
    }
    missing
}
