//! Sending: the transports (SMTP, the local outbox, chat webhooks), the send loop with
//! its ledger, retries and throttle, and test sends.
//!
//! The loop streams the plan: each batch of due messages is recorded `queued` in the
//! ledger (one durable commit, which also decides the frequency cap), then handed to the
//! transport by a few workers sharing its connection pool; each worker logs its message
//! `handing` just before the transport call and its outcome just after. A run killed
//! anywhere leaves at most one message `handing` per worker, which the next run reports
//! as unknown instead of sending again; its `queued` messages simply go out then.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use jiff::Timestamp;
use lettre::Transport as _;
use lettre::message::Mailbox;
use lettre::transport::smtp::PoolConfig;

use crate::model::{Channel, parse_duration};
use crate::plan::{Decision, Due, Person, PlanError, PlanSummary, Planner, Target};
use crate::render::view::SurveyView;
use crate::render::{DEFAULT_BASE_URL, Delivery, EmailContext, Recipient, RenderError, Renderer};
use crate::store::{HandLog, Handing, Outcome, Status, Store, StoreError, SuppressionReason};
use crate::token::{Claims, Key};
use crate::workspace::Workspace;

mod dkim;
mod smtp;

pub use dkim::{DEFAULT_SELECTOR, Dkim};

/// The SMTP server, as `smtp://user:pass@host:587` (STARTTLS), `smtps://…:465` (implicit
/// TLS) or `smtp://host:25?tls=none` (plain text, for a local test server).
pub const SMTP_URL_ENV: &str = "CANVASS_SMTP_URL";
/// The DKIM private key: a PEM file's path or its content (RSA), or a base64 Ed25519 key.
pub const DKIM_KEY_ENV: &str = "CANVASS_DKIM_KEY";
/// The DKIM selector (default `canvass`).
pub const DKIM_SELECTOR_ENV: &str = "CANVASS_DKIM_SELECTOR";
/// The outbox folder inside the state folder, used when no SMTP server is configured.
pub const OUTBOX_DIR: &str = "outbox";
/// The lock folder inside the state folder.
pub const LOCKS_DIR: &str = "locks";
/// How long a response link stays valid when the rule says nothing.
const DEFAULT_EXPIRES: &str = "30d";
/// How long to wait for a chat webhook to answer.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// How canvass uses an SMTP server: how many connections at once, and how long it waits
/// for an answer at each step before it counts the step as timed out.
#[derive(Debug, Clone, Copy)]
pub struct SmtpLimits {
    /// Connections open at once (the send's workers).
    pub connections: u32,
    /// The wait for each step (connect, each command, the message).
    pub timeout: Duration,
}

impl Default for SmtpLimits {
    fn default() -> Self {
        SmtpLimits {
            connections: 8,
            timeout: Duration::from_secs(30),
        }
    }
}

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
    Locked(String, PathBuf),
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
    /// The workspace does not pass `canvass check`.
    #[error("the workspace has {0} error(s); run `canvass check` and fix them first")]
    Invalid(usize),
    /// The key is missing or weak.
    #[error("a real send signs links with the workspace key: {0}")]
    Key(crate::token::TokenError),
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
    /// The reply with every e-mail address in the server's words replaced by
    /// `<address>` (Postfix quotes the recipient in its refusals), keeping the codes, so
    /// that no address reaches the ledger or the terminal.
    fn redacted(self) -> Reply {
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
    fn outcome(&self, id: &str) -> Outcome {
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

/// SMTP through lettre, over a pool of connections, with optional DKIM signing.
pub struct Smtp {
    link: Link,
    dkim: Option<Dkim>,
}

/// How messages reach the server.
enum Link {
    /// canvass's pool, on sockets with `TCP_NODELAY` (`smtp://`).
    Pool(Box<smtp::Pool>),
    /// lettre's pooled transport, for implicit TLS (`smtps://`).
    Lettre(lettre::SmtpTransport),
}

impl Smtp {
    /// A transport for `url` (see [`SMTP_URL_ENV`]) within `limits`.
    /// `smtp://` means STARTTLS unless `?tls=none` or `?tls=opportunistic` says otherwise.
    pub fn new(url: &str, limits: SmtpLimits, dkim: Option<Dkim>) -> Result<Smtp, SendError> {
        let url = secure_by_default(url)?;
        let link = if url.starts_with("smtp://") {
            Link::Pool(Box::new(smtp::Pool::new(&url, limits)?))
        } else {
            let builder = lettre::SmtpTransport::from_url(&url)
                .map_err(|e| SendError::Smtp(e.to_string()))?;
            Link::Lettre(
                builder
                    .timeout(Some(limits.timeout))
                    .pool_config(PoolConfig::new().max_size(limits.connections.max(1)))
                    .build(),
            )
        };
        Ok(Smtp { link, dkim })
    }

    /// The transport of `CANVASS_SMTP_URL` and the DKIM variables, `None` when unset.
    pub fn from_env(limits: SmtpLimits) -> Result<Option<Smtp>, SendError> {
        let Some(url) = env_value(SMTP_URL_ENV) else {
            return Ok(None);
        };
        Smtp::new(&url, limits, Dkim::from_env()?).map(Some)
    }
}

fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Rewrites canvass's URL conventions into lettre's: STARTTLS unless told otherwise.
fn secure_by_default(url: &str) -> Result<String, SendError> {
    let Some(rest) = url.strip_prefix("smtp://") else {
        return Ok(url.to_string());
    };
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    let tls = query.split('&').find_map(|p| p.strip_prefix("tls="));
    let mut pairs: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("tls="))
        .collect();
    match tls {
        None | Some("required" | "starttls") => pairs.push("tls=required"),
        Some("opportunistic") => pairs.push("tls=opportunistic"),
        Some("none" | "off" | "false") => {}
        Some(other) => {
            return Err(SendError::Smtp(format!(
                "`tls={other}` is not one of required, opportunistic, none"
            )));
        }
    }
    Ok(match pairs.as_slice() {
        [] => format!("smtp://{base}"),
        pairs => format!("smtp://{base}?{}", pairs.join("&")),
    })
}

impl Transport for Smtp {
    fn deliver(&self, message: Outgoing) -> Reply {
        let Outgoing::Email(mut message) = message else {
            return Reply::Permanent {
                reply: "an SMTP server takes e-mails only".into(),
                bounced: false,
            };
        };
        if let Some(dkim) = &self.dkim {
            dkim.sign(&mut message);
        }
        let reply = match &self.link {
            Link::Pool(pool) => pool.deliver(message.envelope(), &message.formatted()),
            Link::Lettre(transport) => match transport.send(&message) {
                Ok(response) => {
                    Reply::Accepted(smtp_words(response.code().to_string(), response.message()))
                }
                Err(e) => classify_smtp_error(&e),
            },
        };
        reply.redacted()
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn halted(&self) -> Option<String> {
        match &self.link {
            Link::Pool(pool) => pool.halted(),
            Link::Lettre(_) => None,
        }
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

fn smtp_words<'a>(code: String, lines: impl Iterator<Item = &'a str>) -> String {
    let mut words = code;
    for line in lines {
        words.push(' ');
        words.push_str(line);
    }
    words
}

/// 4xx and network failures are transient; 5xx are permanent, and a bounce when the
/// enhanced status says the mailbox is unknown (5.1.x).
fn classify_smtp_error(error: &lettre::transport::smtp::Error) -> Reply {
    let reply = error.to_string();
    if error.is_permanent() {
        let bounced = reply.contains("5.1.")
            || error
                .status()
                .is_some_and(|c| c.to_string() == "550" && reply.contains("mailbox"));
        Reply::Permanent { reply, bounced }
    } else {
        Reply::Transient(reply)
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

/// How temporary failures are retried within a run.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per message in one run, the first included.
    pub attempts: u32,
    /// The first wait; each later one doubles.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            backoff: Duration::from_secs(2),
        }
    }
}

/// What a send run may do.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Plan and render everything, record and send nothing.
    pub dry_run: bool,
    /// Stop after this many messages.
    pub limit: Option<u64>,
    /// Send again the messages whose outcome is unknown.
    pub resend_unknown: bool,
    /// The clock: the plan's "now" and the ledger's times.
    pub now: Timestamp,
    /// Retries of temporary failures.
    pub retry: RetryPolicy,
    /// Messages handed over at once (the SMTP pool's size).
    pub workers: usize,
    /// Messages recorded per ledger commit.
    pub batch: usize,
}

impl SendOptions {
    /// Defaults for a run at `now`.
    pub fn new(now: Timestamp) -> SendOptions {
        SendOptions {
            dry_run: false,
            limit: None,
            resend_unknown: false,
            now,
            retry: RetryPolicy::default(),
            workers: 8,
            batch: 32,
        }
    }
}

/// What is shared by every rule of a run.
pub struct Sender<'a> {
    ws: &'a Workspace,
    key: &'a Key,
    renderer: &'a Renderer,
    mail: &'a dyn Transport,
    suppressed: HashSet<String>,
}

/// A message that could not be delivered, pointed at by its audience line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// The line of the audience file.
    pub line: u64,
    /// The server's reply.
    pub reply: String,
}

/// The result of sending one rule.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RuleReport {
    /// The plan as it was carried out.
    pub plan: PlanSummary,
    /// Messages the server accepted.
    pub sent: u64,
    /// Of those, how many needed more than one attempt.
    pub retried: u64,
    /// Messages refused for good.
    pub failed: Vec<Failure>,
    /// Messages still refused for now after every attempt (a rerun tries again).
    pub deferred: Vec<Failure>,
    /// Deliveries found `handing` at start: handed over by a run that died, outcome unknown.
    pub unknown: usize,
    /// The ledger's counts for the rule after the run, by status.
    pub ledger: BTreeMap<String, u64>,
}

/// Progress of a run, for a progress bar.
pub trait Progress: Sync {
    /// A message was settled (accepted, refused, or deferred).
    fn settled(&self, accepted: bool);
}

impl<F: Fn(bool) + Sync> Progress for F {
    fn settled(&self, accepted: bool) {
        self(accepted)
    }
}

/// One message of a run.
#[derive(Debug, Clone)]
struct Job {
    person: Person,
    due: Due,
    id: String,
    attempt: u32,
    ready_at: Instant,
    cap_since: Option<i64>,
}

impl<'a> Sender<'a> {
    /// A sender over a workspace; `mail` takes the e-mails.
    pub fn new(
        ws: &'a Workspace,
        key: &'a Key,
        renderer: &'a Renderer,
        mail: &'a dyn Transport,
    ) -> Result<Sender<'a>, SendError> {
        let suppressed = crate::plan::suppression_list(ws, key)?;
        Ok(Sender {
            ws,
            key,
            renderer,
            mail,
            suppressed,
        })
    }

    /// A planner for a rule of this run.
    pub fn planner<'s>(
        &'s self,
        target: Target<'s>,
        store: &'s Store,
        now: Timestamp,
    ) -> Result<Planner<'s>, SendError> {
        Ok(Planner::new(
            target,
            self.key,
            store,
            &self.suppressed,
            now,
        )?)
    }

    /// The transport of a rule: the mail transport, or the rule's webhook.
    fn transport(&self, target: &Target) -> Result<Box<dyn Transport + '_>, SendError> {
        if target.rule.channel == Channel::Email {
            return Ok(Box::new(ByRef(self.mail)));
        }
        let env = target.rule.webhook_env.clone().unwrap_or_default();
        match env_value(&env) {
            Some(url) => Ok(Box::new(Webhook::new(url))),
            None if !self.mail.is_remote() => Ok(Box::new(ByRef(self.mail))),
            None => Err(SendError::NoWebhook {
                rule: target.name(),
                env,
            }),
        }
    }

    /// Sends one rule: resumes the ledger, streams the plan and delivers what is due.
    pub fn send(
        &self,
        store: &Store,
        target: Target,
        options: &SendOptions,
        progress: &dyn Progress,
    ) -> Result<RuleReport, SendError> {
        let _lock = if options.dry_run {
            None
        } else {
            Some(RuleLock::acquire(&self.ws.state_dir(), &target)?)
        };
        let (survey, rule) = (&target.survey.id, &target.rule.id);
        let mut report = RuleReport::default();
        if !options.dry_run {
            report.unknown = store.recover_interrupted(survey, rule, options.now)?;
            if options.resend_unknown {
                store.retry_unknown(survey, rule, options.now)?;
            }
        }
        let transport = self.transport(&target)?;
        let composer = Composer::new(self, target, options.now)?;
        let planner = self.planner(target, store, options.now)?;
        let throttle = Throttle::new(
            target.rule.throttle.as_ref().map(|t| t.per_minute),
            transport.is_remote(),
        );
        let log = if options.dry_run {
            None
        } else {
            Some(store.hand_log(options.now)?)
        };
        let mut run = Run {
            store,
            log: log.as_ref(),
            composer: &composer,
            transport: transport.as_ref(),
            options,
            progress,
            report: &mut report,
            retries: VecDeque::new(),
            throttle,
        };
        run.stream(&planner)?;
        if !options.dry_run {
            report.ledger = store.ledger_counts(survey, rule)?;
        }
        Ok(report)
    }

    /// A test send to `to`: one message per locale of the survey, outside the ledger.
    pub fn send_test(
        &self,
        target: Target,
        to: &str,
        now: Timestamp,
    ) -> Result<Vec<(String, Reply)>, SendError> {
        let transport = self.transport(&target)?;
        let composer = Composer::new(self, target, now)?;
        let mut replies = Vec::new();
        for locale in &target.survey.locales {
            let job = Job {
                person: Person {
                    address: to.to_string(),
                    name: Some("Test".to_string()),
                    ..Person::default()
                },
                due: Due {
                    seq: 0,
                    locale: locale.clone(),
                    recipient: self.key.recipient(to),
                    retry_of: None,
                },
                id: format!("test-{}", new_id()),
                attempt: 0,
                ready_at: Instant::now(),
                cap_since: None,
            };
            let reply = transport.deliver(composer.compose(&job)?);
            replies.push((locale.clone(), reply));
        }
        Ok(replies)
    }
}

/// A borrowed transport as an owned one.
struct ByRef<'a>(&'a dyn Transport);

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

/// A random delivery id.
fn new_id() -> String {
    crate::token::random_hex::<12>()
}

/// Turns a job into a message: the signed token, then the rendered e-mail or card.
struct Composer<'a> {
    renderer: &'a Renderer,
    key: &'a Key,
    target: Target<'a>,
    base_url: String,
    mailto: Option<String>,
    views: HashMap<String, SurveyView>,
    expires: i64,
    domain: String,
}

impl<'a> Composer<'a> {
    fn new(sender: &'a Sender, target: Target<'a>, now: Timestamp) -> Result<Self, SendError> {
        let settings = &sender.ws.settings;
        let expires = parse_duration(target.rule.expires.as_deref().unwrap_or(DEFAULT_EXPIRES))
            .map_err(|message| PlanError::InvalidRule {
                rule: target.name(),
                message,
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
            key: sender.key,
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
                .map(|l| (l.clone(), sender.renderer.view(target.survey, l)))
                .collect(),
            expires: now.as_second() + expires,
            domain,
        })
    }

    fn compose(&self, job: &Job) -> Result<Outgoing, RenderError> {
        let (survey, rule) = (self.target.survey, self.target.rule);
        let token = self.key.sign(&Claims {
            survey: survey.id.clone(),
            version: survey.version,
            rule: rule.id.clone(),
            recipient: job.due.recipient.clone(),
            delivery: job.id.clone(),
            expires: self.expires,
            kind: crate::token::TokenKind::Delivery,
        });
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
                    Some(view) => self.renderer.email_with_view(&context, view)?,
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

/// The rule's rate limit, shared by the workers.
struct Throttle {
    interval: Option<Duration>,
    next: Mutex<Instant>,
}

impl Throttle {
    fn new(per_minute: Option<u32>, remote: bool) -> Throttle {
        Throttle {
            interval: per_minute
                .filter(|n| *n > 0 && remote)
                .map(|n| Duration::from_secs(60) / n),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next free slot.
    fn wait(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let slot = (*next).max(Instant::now());
            *next = slot + interval;
            slot
        };
        std::thread::sleep(slot.saturating_duration_since(Instant::now()));
    }
}

/// The state of one rule's run.
struct Run<'r> {
    store: &'r Store,
    log: Option<&'r HandLog>,
    composer: &'r Composer<'r>,
    transport: &'r dyn Transport,
    options: &'r SendOptions,
    progress: &'r dyn Progress,
    report: &'r mut RuleReport,
    retries: VecDeque<Job>,
    throttle: Throttle,
}

impl Run<'_> {
    /// Plans person by person and sends in batches, due retries first.
    fn stream(&mut self, planner: &Planner) -> Result<(), SendError> {
        let mut batch = Vec::with_capacity(self.options.batch);
        let mut taken = 0u64;
        for person in crate::plan::people(&planner.target())? {
            if self.options.limit.is_some_and(|limit| taken >= limit) {
                break;
            }
            let person = person?;
            let decision = planner.decide(&person)?;
            self.report.plan.count(&decision, person.line);
            let Decision::Send(due) = decision else {
                continue;
            };
            taken += 1;
            let id = due.retry_of.clone().unwrap_or_else(new_id);
            let cap_since = planner.cap_since(&due);
            batch.push(Job {
                person,
                due,
                id,
                attempt: 0,
                ready_at: Instant::now(),
                cap_since,
            });
            if batch.len() >= self.options.batch {
                self.take_ready_retries(&mut batch);
                self.flush(std::mem::take(&mut batch))?;
            }
        }
        self.flush(batch)?;
        while let Some(first) = self.retries.iter().map(|j| j.ready_at).min() {
            std::thread::sleep(first.saturating_duration_since(Instant::now()));
            let mut batch = Vec::new();
            self.take_ready_retries(&mut batch);
            self.flush(batch)?;
        }
        Ok(())
    }

    fn take_ready_retries(&mut self, batch: &mut Vec<Job>) {
        let now = Instant::now();
        let (ready, waiting): (Vec<Job>, Vec<Job>) =
            self.retries.drain(..).partition(|j| j.ready_at <= now);
        self.retries = waiting.into();
        batch.extend(ready);
    }

    /// Records the batch `queued`, hands over what the cap still allows, and settles
    /// the replies.
    fn flush(&mut self, mut batch: Vec<Job>) -> Result<(), SendError> {
        if !self.options.dry_run {
            let queued: Vec<Handing> = batch.iter().map(|job| self.handing(job)).collect();
            let capped = self.store.queue_batch(&queued, self.options.now)?;
            self.drop_capped(&mut batch, &capped);
        }
        if batch.is_empty() {
            return Ok(());
        }
        let hands = Hands {
            composer: self.composer,
            transport: self.transport,
            throttle: &self.throttle,
            log: self.log,
        };
        let replies = hands.deliver_all(&batch, self.options.workers);
        for (job, reply) in batch.into_iter().zip(replies) {
            self.settle(job, reply?)?;
        }
        match self.transport.halted() {
            Some(why) => Err(SendError::Stalled(why)),
            None => Ok(()),
        }
    }

    /// Takes out of the batch the messages the ledger refused for the cap.
    fn drop_capped(&mut self, batch: &mut Vec<Job>, capped: &[String]) {
        if capped.is_empty() {
            return;
        }
        let capped: HashSet<&str> = capped.iter().map(String::as_str).collect();
        batch.retain(|job| {
            let keep = !capped.contains(job.id.as_str());
            if !keep {
                self.report.plan.recount_capped(&job.due);
            }
            keep
        });
    }

    fn handing(&self, job: &Job) -> Handing {
        let target = self.composer.target;
        Handing {
            id: job.id.clone(),
            survey: target.survey.id.clone(),
            version: target.survey.version,
            rule: target.rule.id.clone(),
            channel: target.rule.channel.name().to_string(),
            recipient: job.due.recipient.clone(),
            seq: job.due.seq,
            locale: job.due.locale.clone(),
            segments: serde_json::to_string(&job.person.segments).unwrap_or_default(),
            cap_since: job.cap_since,
        }
    }

    /// Turns a reply (already in the ledger) into a retry, a suppression, or a line of
    /// the report.
    fn settle(&mut self, mut job: Job, reply: Reply) -> Result<(), SendError> {
        let accepted = matches!(reply, Reply::Accepted(_));
        match reply {
            Reply::Accepted(_) => {
                self.report.sent += 1;
                if job.attempt > 0 {
                    self.report.retried += 1;
                }
            }
            Reply::Transient(_) if job.attempt + 1 < self.options.retry.attempts => {
                job.attempt += 1;
                job.ready_at =
                    Instant::now() + self.options.retry.backoff * 2u32.pow(job.attempt - 1);
                self.retries.push_back(job);
                return Ok(());
            }
            Reply::Transient(reply) => self.report.deferred.push(Failure {
                line: job.person.line,
                reply,
            }),
            Reply::Unknown(_) => self.report.unknown += 1,
            Reply::Permanent { reply, bounced } => {
                if bounced && !self.options.dry_run {
                    self.store
                        .suppress(&job.due.recipient, SuppressionReason::Bounced)?;
                }
                self.report.failed.push(Failure {
                    line: job.person.line,
                    reply,
                });
            }
        }
        self.progress.settled(accepted);
        Ok(())
    }
}

/// What the workers share to compose and hand over messages.
struct Hands<'h> {
    composer: &'h Composer<'h>,
    transport: &'h dyn Transport,
    throttle: &'h Throttle,
    /// Logs each message `handing` before its transport call and its outcome after;
    /// none in a dry run.
    log: Option<&'h HandLog>,
}

impl Hands<'_> {
    /// Composes and hands over every job, `workers` at a time, in the batch's order.
    fn deliver_all(&self, batch: &[Job], workers: usize) -> Vec<Result<Reply, StoreError>> {
        let next = AtomicUsize::new(0);
        let replies: Vec<Mutex<Option<Result<Reply, StoreError>>>> =
            batch.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for _ in 0..workers.clamp(1, batch.len()) {
                scope.spawn(|| {
                    loop {
                        let at = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = batch.get(at) else { break };
                        let reply = self.deliver_one(job);
                        *replies[at].lock().unwrap_or_else(|e| e.into_inner()) = Some(reply);
                    }
                });
            }
        });
        replies
            .into_iter()
            .map(|r| {
                r.into_inner()
                    .unwrap_or_else(|e| e.into_inner())
                    .unwrap_or_else(|| Ok(Reply::Transient("not handed over".into())))
            })
            .collect()
    }

    /// Composes and hands over one job, logging it `handing` just before the transport
    /// call and its outcome right after.
    fn deliver_one(&self, job: &Job) -> Result<Reply, StoreError> {
        let composed = self.composer.compose(job).map_err(|e| e.to_string());
        let reply = match (composed.and_then(fits_the_wire), self.log) {
            (Err(why), _) => Reply::Permanent {
                reply: format!("cannot render: {why}"),
                bounced: false,
            },
            (Ok(_), None) => return Ok(Reply::Accepted("dry run".into())),
            (Ok(message), Some(log)) => {
                self.throttle.wait();
                log.handing(&job.id)?;
                self.transport.deliver(message)
            }
        };
        if let Some(log) = self.log {
            log.settle(&reply.outcome(&job.id))?;
        }
        Ok(reply)
    }
}

/// The longest header line SMTP servers must take (RFC 5322 §2.1.1), CRLF excluded.
const MAX_HEADER_LINE: usize = 998;

/// Refuses an e-mail with a header line longer than servers take: a value with no space
/// to fold at (the plan refuses long names and placeholders, but a subject can be long by
/// itself) would be refused by the server after the person was counted as reached.
fn fits_the_wire(message: Outgoing) -> Result<Outgoing, String> {
    let Outgoing::Email(email) = &message else {
        return Ok(message);
    };
    let headers = email.headers().to_string();
    let longest = headers.split("\r\n").map(str::len).max().unwrap_or(0);
    if longest > MAX_HEADER_LINE {
        return Err(format!(
            "a header line has {longest} characters, more than the {MAX_HEADER_LINE} mail \
             servers take; shorten the subject or the values in it"
        ));
    }
    Ok(message)
}

/// An exclusive OS lock on one rule, released when dropped or when the process dies.
#[derive(Debug)]
pub struct RuleLock {
    _file: File,
}

impl RuleLock {
    /// Takes the lock of a rule, or reports who holds it.
    pub fn acquire(state_dir: &Path, target: &Target) -> Result<RuleLock, SendError> {
        let dir = state_dir.join(LOCKS_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| SendError::Io {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(format!("{}-{}.lock", target.survey.id, target.rule.id));
        let io = |source| SendError::Io {
            path: path.clone(),
            source,
        };
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(RuleLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(SendError::Locked(target.name(), path)),
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

/// Everything a `plan` or `send` run opens once: the workspace, the store, the key, the
/// templates and the mail transport.
pub struct Setup {
    /// The workspace.
    pub ws: Workspace,
    /// Its state store.
    pub store: Store,
    /// The signing and hashing key.
    pub key: Key,
    /// Whether the key is the local development key (outbox runs only).
    pub dev_key: bool,
    /// The templates.
    pub renderer: Renderer,
    /// Where e-mails go: the SMTP server, or the outbox.
    pub mail: Box<dyn Transport>,
    /// The outbox folder, when e-mails go there.
    pub outbox: Option<PathBuf>,
}

impl Setup {
    /// Opens a workspace for planning and sending. A real SMTP server requires
    /// `CANVASS_KEY`; the outbox falls back to the development key.
    pub fn open(root: &Path, limits: SmtpLimits) -> Result<Setup, SendError> {
        let (ws, problems) = Workspace::load(root);
        let errors = crate::diag::count(&problems).0;
        let mut checked = crate::check::check_loaded(&ws);
        checked.retain(|d| d.severity == crate::diag::Severity::Error);
        if errors + checked.len() > 0 {
            return Err(SendError::Invalid(errors + checked.len()));
        }
        let renderer = Renderer::for_workspace(&ws)?;
        let (mail, outbox, key, dev_key): (Box<dyn Transport>, _, _, _) =
            match Smtp::from_env(limits)? {
                Some(smtp) => {
                    let key = Key::from_env().map_err(SendError::Key)?;
                    (Box::new(smtp), None, key, false)
                }
                None => {
                    let dkim = Dkim::from_env()?;
                    let outbox = Outbox::new(&ws.state_dir())?.signed(dkim);
                    let state = ws.state_dir();
                    let (key, dev) =
                        Key::from_env_or_dev(&state).map_err(|source| SendError::Io {
                            path: state,
                            source,
                        })?;
                    let dir = outbox.dir().to_path_buf();
                    (Box::new(outbox), Some(dir), key, dev)
                }
            };
        let store = Store::open_for_key(&ws.state_dir(), &key)?;
        Ok(Setup {
            ws,
            store,
            key,
            dev_key,
            renderer,
            mail,
            outbox,
        })
    }

    /// A sender over this setup.
    pub fn sender(&self) -> Result<Sender<'_>, SendError> {
        Sender::new(&self.ws, &self.key, &self.renderer, self.mail.as_ref())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn email_with_subject(subject: &str) -> Outgoing {
        let message = lettre::Message::builder()
            .from("Acme <support@example.com>".parse().unwrap())
            .to("ana@example.com".parse().unwrap())
            .subject(subject)
            .body(String::from("Hello"))
            .unwrap();
        Outgoing::Email(Box::new(message))
    }

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

    #[test]
    fn a_header_line_servers_would_refuse_is_never_sent() {
        assert!(fits_the_wire(email_with_subject(&"word ".repeat(400))).is_ok());
        let error = fits_the_wire(email_with_subject(&"x".repeat(1200))).unwrap_err();
        assert!(error.contains("more than the 998"), "{error}");
    }

    #[test]
    fn smtp_urls_are_secure_unless_told_otherwise() {
        let url = |u| secure_by_default(u).unwrap();
        assert_eq!(
            url("smtp://u:p@host:587"),
            "smtp://u:p@host:587?tls=required"
        );
        assert_eq!(url("smtp://host:2525?tls=none"), "smtp://host:2525");
        assert_eq!(url("smtps://host"), "smtps://host");
        assert!(secure_by_default("smtp://host?tls=maybe").is_err());
    }
}
