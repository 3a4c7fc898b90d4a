//! The send loop: each batch recorded `queued` in one durable commit (which also decides
//! the frequency cap), handed to the transport by a few workers, each message logged
//! `handing` just before and settled just after; retries and the throttle.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::compose::{Composer, new_id};
use super::lock::RuleLock;
use super::transport::{ByRef, Webhook};
use super::{Reply, SendError, Transport, env_value};
use crate::model::Channel;
use crate::plan::{Decision, Due, Person, PlanSummary, Planner, Setup, Target};
use crate::render::Renderer;
use crate::store::{HandLog, Handing, Store, StoreError, SuppressionReason};

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
    pub(super) setup: &'a Setup,
    pub(super) renderer: &'a Renderer,
    mail: &'a dyn Transport,
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

impl RuleReport {
    /// The run of one rule in words, as `send` prints it: what went, what did not and
    /// why, each failure at its audience line.
    pub fn describe(&self, rule: &str, dry_run: bool) -> String {
        let verb = if dry_run { "would send" } else { "sent" };
        let mut text = format!(
            "{rule}: {verb} {} ({} after a retry), {} failed, {} deferred\n",
            self.sent,
            self.retried,
            self.failed.len(),
            self.deferred.len()
        );
        text.push_str(&unknown_note(self.unknown));
        for failure in &self.failed {
            text.push_str(&format!(
                "  failed: audience line {}: {}\n",
                failure.line, failure.reply
            ));
        }
        for failure in &self.deferred {
            text.push_str(&format!(
                "  deferred (a rerun retries): audience line {}: {}\n",
                failure.line, failure.reply
            ));
        }
        text
    }
}

/// The line that says `unknown` messages may or may not have gone out, and how to send
/// them again; empty when there are none.
pub fn unknown_note(unknown: usize) -> String {
    if unknown == 0 {
        return String::new();
    }
    format!(
        "  {unknown} message{} may or may not have gone out (outcome unknown: an interrupted \
         run, or a connection lost after the message was handed over); they are not sent \
         again unless you pass --resend-unknown\n",
        crate::diag::plural(unknown)
    )
}

/// Progress of a run, for a progress bar.
pub trait Progress: Sync {
    /// A message was settled (accepted, refused, or deferred).
    fn settled(&self, accepted: bool);
}

/// One message of a run.
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub(super) person: Person,
    pub(super) due: Due,
    pub(super) id: String,
    pub(super) attempt: u32,
    pub(super) ready_at: Instant,
    pub(super) cap_since: Option<i64>,
}

impl<'a> Sender<'a> {
    /// A sender of a setup's rules; `mail` takes the e-mails.
    pub fn new(setup: &'a Setup, renderer: &'a Renderer, mail: &'a dyn Transport) -> Sender<'a> {
        Sender {
            setup,
            renderer,
            mail,
        }
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

    /// Begins a rule's run: takes its lock and settles what an interrupted run left (its
    /// `handing` messages become unknown, its `queued` ones due again), so that the plan
    /// read from here on is the plan carried out and no other run can change it. A dry
    /// run records nothing, so it takes no lock.
    pub fn start(
        &self,
        target: Target<'a>,
        options: &SendOptions,
    ) -> Result<Started<'_>, SendError> {
        let store = &self.setup.store;
        let mut started = Started {
            sender: self,
            target,
            _lock: None,
            unknown: 0,
        };
        if options.dry_run {
            return Ok(started);
        }
        started._lock = Some(RuleLock::acquire(
            &self.setup.ws.state_dir(),
            &target,
            store,
        )?);
        let (survey, rule) = (&target.survey.id, &target.rule.id);
        started.unknown = store.recover_interrupted(survey, rule, options.now)?;
        if options.resend_unknown {
            store.retry_unknown(survey, rule, options.now)?;
        }
        Ok(started)
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
                    recipient: self.setup.key.recipient(to),
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

/// A rule's run between [`Sender::start`] and its send: it holds the rule's lock.
pub struct Started<'s> {
    sender: &'s Sender<'s>,
    target: Target<'s>,
    _lock: Option<RuleLock>,
    unknown: usize,
}

impl<'s> Started<'s> {
    /// The rule being run, to plan it under the lock.
    pub fn target(&self) -> Target<'s> {
        self.target
    }

    /// Messages an interrupted run handed over without learning the outcome.
    pub fn unknown(&self) -> usize {
        self.unknown
    }

    /// Streams the plan and delivers what is due, then releases the lock.
    pub fn send(
        self,
        options: &SendOptions,
        progress: &dyn Progress,
    ) -> Result<RuleReport, SendError> {
        let sender = self.sender;
        let store = &sender.setup.store;
        let target = self.target;
        let mut report = RuleReport {
            unknown: self.unknown,
            ..RuleReport::default()
        };
        let transport = sender.transport(&target)?;
        let composer = Composer::new(sender, target, options.now)?;
        let planner = sender.setup.planner(target, options.now)?;
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
            report.ledger = store.ledger_counts(&target.survey.id, &target.rule.id)?;
        }
        Ok(report)
    }
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
        let reply = match (composed, self.log) {
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

impl<F: Fn(bool) + Sync> Progress for F {
    fn settled(&self, accepted: bool) {
        self(accepted)
    }
}
