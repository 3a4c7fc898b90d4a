//! The SQLite store: one file, `.canvass/state.db`, in WAL mode with full synchronous
//! commits, so that an answer acknowledged to a respondent or a delivery handed to SMTP
//! survives a crash; a page cache of up to 64 MiB keeps large imports and reports off the
//! disk. The other files of this folder hold the operations of each concern on it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use super::{STATE_DB, StoreError, erase, keys, outbox};

/// The schema, applied idempotently at open. Bump `user_version` with each change.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deliveries (
    id          TEXT PRIMARY KEY,          -- random id, carried in the response token
    survey      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    rule        TEXT NOT NULL,
    channel     TEXT NOT NULL,
    recipient   TEXT NOT NULL,             -- keyed hash of the address
    seq         INTEGER NOT NULL,          -- 0 = first message, 1.. = reminders
    locale      TEXT NOT NULL,
    segments    TEXT NOT NULL DEFAULT '{}',-- JSON: audience segment columns
    status      TEXT NOT NULL,             -- queued | handing | sent | retrying | failed | bounced | unknown
    attempts    INTEGER NOT NULL DEFAULT 0,
    reply       TEXT,                      -- the server's last reply
    created_at  TEXT NOT NULL,             -- RFC 3339, UTC
    updated_at  TEXT NOT NULL,
    UNIQUE (survey, rule, recipient, seq)
);
CREATE INDEX IF NOT EXISTS deliveries_recipient ON deliveries (recipient, created_at);

-- What the responses from one place share (an import's rows, a rule's deliveries on one
-- channel), stored once rather than on every row: `batch::ResponseOrigin`.
CREATE TABLE IF NOT EXISTS response_origins (
    id              INTEGER PRIMARY KEY,
    survey          TEXT NOT NULL,
    version         INTEGER NOT NULL,
    definition_hash TEXT NOT NULL,         -- hash of the survey definition answered
    channel         TEXT NOT NULL,         -- email | slack | teams | link | print | import
    source          TEXT NOT NULL,         -- oneclick | form | open | import
    rule            TEXT
);

CREATE TABLE IF NOT EXISTS response_rows (
    id              INTEGER PRIMARY KEY,
    origin          INTEGER NOT NULL,      -- response_origins.id
    response_key    TEXT NOT NULL,         -- one response: a delivery id, an open-link session, an import row
    confirmed       INTEGER NOT NULL,      -- 0 = provisional (a GET that a scanner may have made)
    locale          TEXT,
    submitted_at    TEXT NOT NULL,         -- RFC 3339, UTC
    complete        INTEGER NOT NULL,      -- every required, shown question answered
    counts          INTEGER NOT NULL,      -- 1 for the response that counts for its key
    answers         TEXT NOT NULL,         -- JSON: question id -> value
    segments        TEXT NOT NULL DEFAULT '{}'
);

-- The responses of each key, by a hash of (survey, response key): a table of its own, not
-- an index of `response_rows`, so that a batch writes its entries in key order
-- (see `answers::key_hash`). Reports read `responses` in the order rows were written.
CREATE TABLE IF NOT EXISTS response_keys (
    key_hash    INTEGER NOT NULL,
    response    INTEGER NOT NULL,          -- response_rows.id
    PRIMARY KEY (key_hash, response)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS imports (
    digest      TEXT PRIMARY KEY,          -- hash of the file's content and survey
    survey      TEXT NOT NULL,
    rows        INTEGER NOT NULL,
    imported_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS suppressions (
    recipient   TEXT PRIMARY KEY,          -- keyed hash of the address
    reason      TEXT NOT NULL,             -- unsubscribed | bounced | listed
    created_at  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS link_fetches (
    delivery    TEXT NOT NULL,
    fetched_at  TEXT NOT NULL,
    question    TEXT,
    value       TEXT
);
CREATE INDEX IF NOT EXISTS link_fetches_delivery ON link_fetches (delivery);
";

/// Every response with its origin's values: what reports, exports and anyone querying the
/// store read. Rows come in the order they were written (the rows drive the join).
pub(super) const RESPONSES_VIEW: &str = "
CREATE VIEW IF NOT EXISTS responses AS
SELECT r.id, o.survey, o.version, o.definition_hash, r.response_key, o.channel, o.source,
       o.rule, r.locale, r.submitted_at, r.confirmed, r.complete, r.counts, r.answers,
       r.segments
FROM response_rows AS r CROSS JOIN response_origins AS o ON o.id = r.origin;
";

/// The schema's version, in `PRAGMA user_version`: 1 indexed a `responses` table by key
/// and by time; 2 kept the keys in `response_keys`; 3 keeps the values a response shares
/// with others from its place in `response_origins`.
pub(super) const SCHEMA_VERSION: i64 = 3;

/// The state store.
pub struct Sqlite {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqlite").field("path", &self.path).finish()
    }
}

/// How long a connection waits for another process's write before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepared statements a connection keeps. One commit of answers runs more distinct
/// statements than rusqlite's default of 16 (the answers, their link fetches, the ledger's
/// lookups, the outbox), and a cache smaller than that set re-parses SQL on every batch.
const STATEMENT_CACHE: usize = 64;

/// A connection to a store file with the store's settings: WAL, full syncs, a patient
/// wait for another writer.
pub(super) fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    switch_to_wal(&conn)?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;",
    )?;
    Ok(conn)
}

/// Puts the file in WAL mode. The switch of a new file needs it to itself and SQLite
/// reports "locked" at once, without waiting, when another process opens it in the same
/// instant (two runs started together on a fresh workspace), so it is retried here.
fn switch_to_wal(conn: &Connection) -> rusqlite::Result<()> {
    let started = std::time::Instant::now();
    loop {
        match conn.execute_batch("PRAGMA journal_mode = WAL;") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

impl Sqlite {
    /// Opens (creating if needed) the store in a workspace's state folder.
    pub fn open_in(state_dir: &Path) -> Result<Sqlite, StoreError> {
        std::fs::create_dir_all(state_dir).map_err(|source| StoreError::Io {
            path: state_dir.to_path_buf(),
            source,
        })?;
        Sqlite::open(&state_dir.join(STATE_DB))
    }

    /// Opens (creating if needed) a store file.
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let wrap = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = connect(path).map_err(wrap)?;
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {SCHEMA} {RESPONSES_VIEW} {} {} {} COMMIT;",
            keys::META_SCHEMA,
            erase::ERASURES_SCHEMA,
            outbox::OUTBOX_SCHEMA
        ))
        .map_err(wrap)?;
        let store = Sqlite {
            conn,
            path: path.to_path_buf(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Brings a store written by an earlier canvass to [`SCHEMA_VERSION`] in one
    /// transaction (another process migrating at the same time waits, then finds it done):
    /// a `responses` table's rows move to `response_rows` and `response_origins`, and a
    /// version 1 store's keys move from its indexes into `response_keys`.
    fn migrate(&self) -> Result<(), StoreError> {
        if self.schema_version()? >= SCHEMA_VERSION {
            return Ok(());
        }
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(|e| self.error(e))?;
        let version = self.schema_version()?;
        if version >= SCHEMA_VERSION {
            return Ok(());
        }
        self.split_responses_table().map_err(|e| self.error(e))?;
        if version < 2 {
            self.index_existing_keys().map_err(|e| self.error(e))?;
        }
        self.conn
            .execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION};"))
            .map_err(|e| self.error(e))?;
        tx.commit().map_err(|e| self.error(e))
    }

    /// Moves the rows of a `responses` table (schemas 1 and 2) into `response_rows`, their
    /// shared values into `response_origins`, ids unchanged, and puts the view in its place.
    fn split_responses_table(&self) -> rusqlite::Result<()> {
        let is_table = self
            .conn
            .query_row(
                "SELECT 1 FROM sqlite_schema WHERE name = 'responses' AND type = 'table'",
                [],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !is_table {
            return Ok(());
        }
        self.conn.execute_batch(
            "INSERT INTO response_origins (survey, version, definition_hash, channel, source, rule)
                 SELECT DISTINCT survey, version, definition_hash, channel, source, rule
                 FROM responses;
             INSERT INTO response_rows (id, origin, response_key, confirmed, locale,
                     submitted_at, complete, counts, answers, segments)
                 SELECT r.id, o.id, r.response_key, r.confirmed, r.locale, r.submitted_at,
                     r.complete, r.counts, r.answers, r.segments
                 FROM responses AS r JOIN response_origins AS o
                     ON o.survey = r.survey AND o.version = r.version
                     AND o.definition_hash = r.definition_hash AND o.channel = r.channel
                     AND o.source = r.source AND o.rule IS r.rule;
             DROP TABLE responses;",
        )?;
        self.conn.execute_batch(RESPONSES_VIEW)
    }

    fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.error(e))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The one text `sql` selects for `key`, if there is a row.
    pub(super) fn text_where(&self, sql: &str, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(sql, [key], |row| row.get(0))
            .optional()
            .map_err(|e| self.error(e))
    }

    /// Wraps a SQLite error with the file's name.
    pub(super) fn error(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_twice_and_keeps_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open_in(dir.path()).unwrap();
        drop(store);
        let store = Sqlite::open_in(dir.path()).unwrap();
        let version: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }
}
