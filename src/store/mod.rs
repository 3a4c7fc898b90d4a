//! The state store: the delivery ledger, answers, suppressions and the outbox of alerts.
//!
//! Two backends behind one interface, [`Store`]: SQLite (`.canvass/state.db`, the
//! default: `sqlite.rs` opens it, and the files named after each concern hold its SQL)
//! and PostgreSQL (`postgres/`, chosen by `CANVASS_DATABASE_URL`), for several machines
//! sending and collecting into one database. Each keeps the same guarantees in its own
//! SQL: an answer acknowledged to a respondent or a delivery handed to SMTP survives a
//! crash; everything a rerun depends on (the ledger, sampling, caps, suppressions) lives
//! in the store, never in memory. Recipients appear only as keyed hashes (see
//! [`crate::token::Key::recipient`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde_json::Value;

use crate::model::Survey;
use crate::token::Key;

mod answers;
mod batch;
mod collect;
/// Moving a SQLite store into PostgreSQL.
pub mod copy;
mod erase;
mod keys;
mod ledger;
mod outbox;
mod postgres;
mod sqlite;
mod suppressions;
mod types;

use answers::SqliteImport;
pub use answers::{IMPORT_CHUNK, ImportOutcome, NewResponse, ReadError, Segments, StoredResponse};
pub use batch::{EncodedResponse, ResponseOrigin};
pub use collect::{CountedResponse, DeliveryContext, LinkFetch, Write};
pub use erase::Removed;
pub use keys::Rekeyed;
use ledger::SqliteHandLog;
pub use ledger::{Handing, LedgerEntry, Outcome, Status};
pub use outbox::{Attempt, Claim, Lease, NewMessage, OutboxMessage, Raise, TargetKind, Written};
use postgres::{PgHandLog, PgImport, Postgres};
use sqlite::Sqlite;
pub use suppressions::SuppressionReason;

/// How the ledger's reply to a message written to the local outbox begins: such a message
/// reached nobody, so it is not counted as delivered in response rates.
pub const OUTBOX_REPLY: &str = "saved to outbox/";

/// The store's file inside the state folder.
pub const STATE_DB: &str = "state.db";

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("state database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The store was written under another key.
    #[error(
        "{place} was written under the key with fingerprint {expected}, but this key's \
         fingerprint is {given}. Export the key the store was written with as CANVASS_KEY \
         (without CANVASS_KEY, the development key in .canvass/dev-key is used), or move the \
         store to the new key with `canvass key rotate`"
    )]
    OtherKey {
        /// The store.
        place: String,
        /// The fingerprint the store recorded.
        expected: String,
        /// The fingerprint of the key given.
        given: String,
    },
    /// PostgreSQL reported an error.
    #[error("state database {place}: {source}")]
    Postgres {
        /// The database, without its password.
        place: String,
        /// The cause.
        #[source]
        source: ::postgres::Error,
    },
    /// The PostgreSQL schema could not be brought up to date.
    #[error("state database {place}: migrating the schema: {source}")]
    Migration {
        /// The database, without its password.
        place: String,
        /// The cause.
        #[source]
        source: refinery::Error,
    },
    /// `CANVASS_DATABASE_URL` is not a PostgreSQL URL canvass can use.
    #[error(
        "CANVASS_DATABASE_URL is not a usable PostgreSQL URL ({reason}); write it as \
         postgres://user:password@host:5432/database, or unset it to keep the store in \
         .canvass/state.db"
    )]
    Url {
        /// What is wrong with it.
        reason: String,
    },
    /// The state folder could not be created.
    #[error("cannot create the state folder {path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The state store, on the backend the workspace chose: SQLite in `.canvass/state.db`
/// unless `CANVASS_DATABASE_URL` names a PostgreSQL database. Every step reaches the store
/// through these methods alone; each backend keeps the same guarantees in its own SQL.
#[derive(Debug)]
pub enum Store {
    /// One SQLite file beside the workspace.
    Sqlite(Sqlite),
    /// A PostgreSQL database that several machines share.
    Postgres(Box<Postgres>),
}

/// Calls the same method on whichever backend the store is.
macro_rules! on_backend {
    ($store:expr, $backend:ident => $call:expr) => {
        match $store {
            Store::Sqlite($backend) => $call,
            Store::Postgres($backend) => $call,
        }
    };
}

/// The environment variable that moves the store to PostgreSQL (`postgres://…`).
pub const DATABASE_URL_ENV: &str = "CANVASS_DATABASE_URL";

/// The PostgreSQL URL the environment sets, if any: unset or empty keeps SQLite.
pub fn database_url() -> Option<String> {
    std::env::var(DATABASE_URL_ENV)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

impl Store {
    /// Opens (creating and migrating if needed) the workspace's store: the database
    /// `CANVASS_DATABASE_URL` names, else `state.db` in the state folder.
    pub fn open_in(state_dir: &Path) -> Result<Store, StoreError> {
        match database_url() {
            Some(url) => Store::connect(&url),
            None => Sqlite::open_in(state_dir).map(Store::Sqlite),
        }
    }

    /// Whether the workspace has a store to read, without creating one: a database
    /// named by `CANVASS_DATABASE_URL`, or `state.db` in the state folder (a fresh clone
    /// has neither).
    pub fn exists_in(state_dir: &Path) -> bool {
        database_url().is_some() || state_dir.join(STATE_DB).exists()
    }

    /// Opens (creating if needed) a SQLite store file.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Sqlite::open(path).map(Store::Sqlite)
    }

    /// Connects to a PostgreSQL store and brings its schema up to date.
    pub fn connect(url: &str) -> Result<Store, StoreError> {
        Postgres::connect(url).map(|p| Store::Postgres(Box::new(p)))
    }

    /// Opens the store of a state folder for work under `key`: the one door for every
    /// command that hashes addresses, so none can use a store with the wrong key.
    pub fn open_for_key(state_dir: &Path, key: &Key) -> Result<Store, StoreError> {
        let store = Store::open_in(state_dir)?;
        store.check_key(key)?;
        Ok(store)
    }

    /// Where the store is, for messages: the file, or the database without its password.
    pub fn place(&self) -> String {
        match self {
            Store::Sqlite(s) => s.path().display().to_string(),
            Store::Postgres(p) => p.place().to_string(),
        }
    }

    /// Binds a new store to `key`, or checks that the store was written under it.
    pub fn check_key(&self, key: &Key) -> Result<(), StoreError> {
        on_backend!(self, b => b.check_key(key))
    }

    /// Whether `key` is the one the store was moved from by the last rotation.
    pub fn is_previous_key(&self, key: &Key) -> Result<bool, StoreError> {
        on_backend!(self, b => b.is_previous_key(key))
    }

    /// Re-keys every recipient of `pairs` (old hash, new hash) and binds the store to
    /// `new`, in one transaction.
    pub fn rotate_key(
        &self,
        old: &Key,
        new: &Key,
        pairs: &[(String, String)],
    ) -> Result<Rekeyed, StoreError> {
        on_backend!(self, b => b.rotate_key(old, new, pairs))
    }

    /// How many ledger recipients and suppressions are not among `known` hashes.
    pub fn recipients_outside(&self, known: &[String]) -> Result<(u64, u64), StoreError> {
        on_backend!(self, b => b.recipients_outside(known))
    }

    /// A recipient's deliveries of one rule, oldest first.
    pub fn history(
        &self,
        survey: &str,
        rule: &str,
        recipient: &str,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        on_backend!(self, b => b.history(survey, rule, recipient))
    }

    /// Whether any of `deliveries` has a counting response.
    pub fn answered(&self, survey: &str, deliveries: &[&str]) -> Result<bool, StoreError> {
        on_backend!(self, b => b.answered(survey, deliveries))
    }

    /// Whether a first message went, goes or may have gone to `recipient` since `since`.
    pub fn contacted_since(&self, recipient: &str, since: i64) -> Result<bool, StoreError> {
        on_backend!(self, b => b.contacted_since(recipient, since))
    }

    /// Settles what a run that died left behind for a rule: its `handing` messages
    /// become `unknown` (the count is returned), its `queued` ones are due again.
    pub fn recover_interrupted(
        &self,
        survey: &str,
        rule: &str,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        self.move_status(survey, rule, "queued", "retrying", now)?;
        self.move_status(survey, rule, "handing", "unknown", now)
    }

    /// Turns a rule's `unknown` deliveries back into retries (`--resend-unknown`).
    pub fn retry_unknown(
        &self,
        survey: &str,
        rule: &str,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        self.move_status(survey, rule, "unknown", "retrying", now)
    }

    fn move_status(
        &self,
        survey: &str,
        rule: &str,
        from: &str,
        to: &str,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        on_backend!(self, b => b.move_status(survey, rule, from, to, now))
    }

    /// Records a batch as queued in one durable transaction, except first messages the
    /// frequency cap now forbids, whose ids are returned.
    pub fn queue_batch(
        &self,
        queued: &[Handing],
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        on_backend!(self, b => b.queue_batch(queued, now))
    }

    /// A log of hand-overs on a connection of its own, for the senders' threads.
    pub fn hand_log(&self, now: Timestamp) -> Result<HandLog, StoreError> {
        match self {
            Store::Sqlite(s) => s.hand_log(now).map(HandLog::Sqlite),
            Store::Postgres(p) => p.hand_log(now).map(HandLog::Postgres),
        }
    }

    /// The number of a rule's deliveries by status, for the summary.
    pub fn ledger_counts(
        &self,
        survey: &str,
        rule: &str,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        on_backend!(self, b => b.ledger_counts(survey, rule))
    }

    /// Takes the rule's send lock in the store, held until the store is closed, when
    /// the store is shared by several machines (PostgreSQL: an advisory lock); `Ok(None)`
    /// when the store is a local file, which the lock file in the state folder guards.
    /// `Ok(Some(false))` when another run holds it.
    pub fn lock_rule(&self, survey: &str, rule: &str) -> Result<Option<bool>, StoreError> {
        match self {
            Store::Sqlite(_) => Ok(None),
            Store::Postgres(p) => p.lock_rule(survey, rule).map(Some),
        }
    }

    /// Starts recording an imported file, in one transaction; `None` when a file with
    /// this digest was imported before.
    pub fn begin_import(
        &self,
        digest: &str,
        survey: &str,
    ) -> Result<Option<Import<'_>>, StoreError> {
        Ok(match self {
            Store::Sqlite(s) => s.begin_import(digest, survey)?.map(Import::Sqlite),
            Store::Postgres(p) => p.begin_import(digest, survey)?.map(Import::Postgres),
        })
    }

    /// Calls `each` with every counting response of a survey, in the order written.
    pub fn for_each_counting_response<E>(
        &self,
        survey: &str,
        each: impl FnMut(StoredResponse) -> Result<(), E>,
    ) -> Result<(), ReadError<E>> {
        on_backend!(self, b => b.for_each_counting_response(survey, each))
    }

    /// The number of people reached by each (version, rule) of a survey.
    pub fn delivered_by_rule(
        &self,
        survey: &str,
    ) -> Result<BTreeMap<(u32, String), u64>, StoreError> {
        on_backend!(self, b => b.delivered_by_rule(survey))
    }

    /// Commits a group of writes (answers, link fetches, unsubscribes) in one durable
    /// transaction, with the outbox messages `raise` adds for its answers.
    pub fn commit_writes(
        &self,
        writes: &[Write],
        raise: Option<&dyn Raise>,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.commit_writes(writes, raise))
    }

    /// Records the definitions of the surveys served, so that answers to an earlier
    /// version can still be validated.
    pub fn record_definitions<'a>(
        &self,
        surveys: impl IntoIterator<Item = &'a Survey>,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.record_definitions(surveys))
    }

    /// Every survey definition recorded.
    pub fn definitions(&self) -> Result<Vec<Survey>, StoreError> {
        on_backend!(self, b => b.definitions())
    }

    /// The response counting for a key, if any.
    pub fn counted_response(
        &self,
        survey: &str,
        response_key: &str,
    ) -> Result<Option<CountedResponse>, StoreError> {
        on_backend!(self, b => b.counted_response(survey, response_key))
    }

    /// How many responses a key has stored, counting or not.
    pub fn responses_stored(&self, survey: &str, response_key: &str) -> Result<u64, StoreError> {
        on_backend!(self, b => b.responses_stored(survey, response_key))
    }

    /// The recipient hash of a delivery.
    pub fn delivery_recipient(&self, delivery: &str) -> Result<Option<String>, StoreError> {
        on_backend!(self, b => b.delivery_recipient(delivery))
    }

    /// What a delivery's answer shares with it (rule, locale, segments).
    pub fn delivery_context(&self, delivery: &str) -> Result<Option<DeliveryContext>, StoreError> {
        on_backend!(self, b => b.delivery_context(delivery))
    }

    /// Whether the store answers, for the health check.
    pub fn ping(&self) -> Result<(), StoreError> {
        on_backend!(self, b => b.ping())
    }

    /// Erases everything about `recipients` (hashes).
    pub fn forget(&self, recipients: &[String]) -> Result<Removed, StoreError> {
        on_backend!(self, b => b.forget(recipients))
    }

    /// Everything the store holds about one recipient, as JSON.
    pub fn respondent_data(&self, recipient: &str) -> Result<Value, StoreError> {
        on_backend!(self, b => b.respondent_data(recipient))
    }

    /// Removes what is older than `cutoff` (RFC 3339).
    pub fn prune(&self, cutoff: &str) -> Result<Removed, StoreError> {
        on_backend!(self, b => b.prune(cutoff))
    }

    /// Records a suppression (unsubscribe, bounce).
    pub fn suppress(&self, recipient: &str, reason: SuppressionReason) -> Result<(), StoreError> {
        on_backend!(self, b => b.suppress(recipient, reason))
    }

    /// Why a recipient is suppressed, if they are.
    pub fn suppression(&self, recipient: &str) -> Result<Option<String>, StoreError> {
        on_backend!(self, b => b.suppression(recipient))
    }

    /// Claims up to `limit` outbox messages for `lease` seconds.
    pub fn claim_messages(
        &self,
        limit: usize,
        lease: Lease,
        claim: Claim,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        on_backend!(self, b => b.claim_messages(limit, lease, claim))
    }

    /// Lets a deliverer's bookkeeping commit without a sync of its own (SQLite): an
    /// attempt lost to a crash is attempted again under the same `webhook-id`.
    pub fn relax_syncs_for_delivery(&self) -> Result<(), StoreError> {
        on_backend!(self, b => b.relax_syncs_for_delivery())
    }

    /// Frees the leases of deliverers that no longer run.
    pub fn release_orphaned_leases(
        &self,
        running: impl Fn(u32) -> bool,
    ) -> Result<usize, StoreError> {
        on_backend!(self, b => b.release_orphaned_leases(running))
    }

    /// Whether a message is due now.
    pub fn message_due(&self) -> Result<bool, StoreError> {
        on_backend!(self, b => b.message_due())
    }

    /// Records the outcome of delivery attempts.
    pub fn record_attempts(&self, attempts: &[Attempt]) -> Result<(), StoreError> {
        on_backend!(self, b => b.record_attempts(attempts))
    }

    /// The pending and failed messages, for `canvass alerts`.
    pub fn undelivered_messages(&self) -> Result<Vec<OutboxMessage>, StoreError> {
        on_backend!(self, b => b.undelivered_messages())
    }

    /// When the next pending message that no deliverer holds is due (Unix seconds): what
    /// a background deliverer sleeps until. It reads the outbox's index of due messages
    /// alone (a scan of every waiting message on each wake-up took a core's share from the
    /// answers); messages another deliverer holds are left out, since it records their
    /// outcome, or its lease runs out and the idle deliverer's next look finds them.
    pub fn next_message_due(&self) -> Result<Option<i64>, StoreError> {
        on_backend!(self, b => b.next_message_due())
    }
}

/// An import being recorded in one transaction: committed by [`Import::commit`], rolled
/// back when dropped, so a failed import leaves nothing behind.
pub enum Import<'s> {
    /// Into SQLite.
    Sqlite(SqliteImport<'s>),
    /// Into PostgreSQL.
    Postgres(PgImport<'s>),
}

impl<'s> Import<'s> {
    /// The import raising alerts and events on its rows (`import --alerts`).
    pub fn raising(self, raise: &'s dyn Raise) -> Import<'s> {
        match self {
            Import::Sqlite(i) => Import::Sqlite(i.raising(raise)),
            Import::Postgres(i) => Import::Postgres(i.raising(raise)),
        }
    }

    /// Records one imported response (skipped when identical to the one counting for its
    /// key, which may be an earlier row of the same import).
    pub fn add(&mut self, response: EncodedResponse) -> Result<(), StoreError> {
        match self {
            Import::Sqlite(i) => i.add(response),
            Import::Postgres(i) => i.add(response),
        }
    }

    /// Notes the file in the imports ledger and commits everything.
    pub fn commit(self) -> Result<ImportOutcome, StoreError> {
        match self {
            Import::Sqlite(i) => i.commit(),
            Import::Postgres(i) => i.commit(),
        }
    }
}

/// Logs each message as the transport takes it and as it answers, on a connection of its
/// own, so that a killed run leaves only the messages in the transport's hands unknown.
pub enum HandLog {
    /// On SQLite.
    Sqlite(SqliteHandLog),
    /// On PostgreSQL.
    Postgres(PgHandLog),
}

impl HandLog {
    /// Records that the message is being handed over now.
    pub fn handing(&self, id: &str) -> Result<(), StoreError> {
        match self {
            HandLog::Sqlite(l) => l.handing(id),
            HandLog::Postgres(l) => l.handing(id),
        }
    }

    /// Records what the transport answered.
    pub fn settle(&self, outcome: &Outcome) -> Result<(), StoreError> {
        match self {
            HandLog::Sqlite(l) => l.settle(outcome),
            HandLog::Postgres(l) => l.settle(outcome),
        }
    }
}

/// Now, as RFC 3339 UTC with seconds, the store's time format.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}
