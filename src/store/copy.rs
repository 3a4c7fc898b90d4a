//! `canvass store copy --to URL`: moves a SQLite store into an empty PostgreSQL database,
//! every row with its id (replaced answers, the ledger's history, the outbox, the key's
//! fingerprint), in one transaction, so that reports read the same before and after.

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use rusqlite::types::Value;

use super::postgres::Postgres;
use super::sqlite::Sqlite;
use super::{Store, StoreError};

/// Why a copy did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The copy goes from a SQLite store to a PostgreSQL one only.
    #[error(
        "`canvass store copy` copies the workspace's SQLite store into PostgreSQL: unset \
         CANVASS_DATABASE_URL for the source and give the PostgreSQL URL with --to"
    )]
    Direction,
    /// The target already holds data, which a copy would mix with the source's.
    #[error(
        "{0} already holds a store ({1} rows in {2}); copy into an empty database, so that \
         no row of either is mixed with the other's"
    )]
    NotEmpty(String, i64, &'static str),
}

/// How many rows of each table were copied.
pub type Copied = Vec<(&'static str, u64)>;

/// A column's type on PostgreSQL (SQLite's values are integers, text or null).
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Text,
}

/// A table: its name, the SQLite query giving its PostgreSQL columns, and those columns.
type Table = (&'static str, &'static str, &'static [(&'static str, Kind)]);

/// The tables in the order they are copied (origins before the rows that point at them).
const TABLES: &[Table] = {
    use Kind::{Int, Text};
    &[
        (
            "deliveries",
            "SELECT id, survey, version, rule, channel, recipient, seq, locale, segments, \
             status, attempts, reply, created_at, updated_at FROM deliveries ORDER BY id",
            &[
                ("id", Text),
                ("survey", Text),
                ("version", Int),
                ("rule", Text),
                ("channel", Text),
                ("recipient", Text),
                ("seq", Int),
                ("locale", Text),
                ("segments", Text),
                ("status", Text),
                ("attempts", Int),
                ("reply", Text),
                ("created_at", Text),
                ("updated_at", Text),
            ],
        ),
        (
            "response_origins",
            "SELECT id, survey, version, definition_hash, channel, source, rule \
             FROM response_origins ORDER BY id",
            &[
                ("id", Int),
                ("survey", Text),
                ("version", Int),
                ("definition_hash", Text),
                ("channel", Text),
                ("source", Text),
                ("rule", Text),
            ],
        ),
        (
            "response_rows",
            "SELECT r.id, r.origin, o.survey, r.response_key, r.confirmed, r.locale, \
             r.submitted_at, r.complete, r.counts, r.answers, r.segments \
             FROM response_rows r JOIN response_origins o ON o.id = r.origin ORDER BY r.id",
            &[
                ("id", Int),
                ("origin", Int),
                ("key_hash", Int),
                ("response_key", Text),
                ("confirmed", Int),
                ("locale", Text),
                ("submitted_at", Text),
                ("complete", Int),
                ("counts", Int),
                ("answers", Text),
                ("segments", Text),
            ],
        ),
        (
            "imports",
            "SELECT digest, survey, rows, imported_at FROM imports ORDER BY digest",
            &[
                ("digest", Text),
                ("survey", Text),
                ("rows", Int),
                ("imported_at", Text),
            ],
        ),
        (
            "suppressions",
            "SELECT recipient, reason, created_at FROM suppressions ORDER BY recipient",
            &[("recipient", Text), ("reason", Text), ("created_at", Text)],
        ),
        (
            "link_fetches",
            "SELECT rowid, delivery, fetched_at, question, value FROM link_fetches ORDER BY rowid",
            &[
                ("id", Int),
                ("delivery", Text),
                ("fetched_at", Text),
                ("question", Text),
                ("value", Text),
            ],
        ),
        (
            "survey_definitions",
            "SELECT survey, version, definition_hash, definition, first_seen \
             FROM survey_definitions ORDER BY survey, version",
            &[
                ("survey", Text),
                ("version", Int),
                ("definition_hash", Text),
                ("definition", Text),
                ("first_seen", Text),
            ],
        ),
        (
            "store_meta",
            "SELECT name, value FROM store_meta ORDER BY name",
            &[("name", Text), ("value", Text)],
        ),
        (
            "erasures",
            "SELECT erased_at, people, deliveries, responses FROM erasures ORDER BY rowid",
            &[
                ("erased_at", Text),
                ("people", Int),
                ("deliveries", Int),
                ("responses", Int),
            ],
        ),
        (
            "outbox",
            "SELECT id, message_id, event, survey, subscription, target, address, response, \
             payload, contact, created_at, status, attempts, next_attempt_at, leased_until, \
             leased_by, last_reply, delivered_at FROM outbox ORDER BY id",
            &[
                ("id", Int),
                ("message_id", Text),
                ("event", Text),
                ("survey", Text),
                ("subscription", Text),
                ("target", Text),
                ("address", Text),
                ("response", Int),
                ("payload", Text),
                ("contact", Text),
                ("created_at", Text),
                ("status", Text),
                ("attempts", Int),
                ("next_attempt_at", Int),
                ("leased_until", Int),
                ("leased_by", Int),
                ("last_reply", Text),
                ("delivered_at", Text),
            ],
        ),
    ]
};

/// The sequences that hand out ids after the copied ones.
const SEQUENCES: &[(&str, &str)] = &[
    ("response_rows_id", "response_rows"),
    ("response_origins_id_seq", "response_origins"),
    ("link_fetches_id_seq", "link_fetches"),
    ("outbox_id_seq", "outbox"),
];

/// Copies `from` (SQLite) into `to` (an empty PostgreSQL store), in one transaction.
pub fn copy(from: &Store, to: &Store) -> Result<Copied, CopyError> {
    let (Store::Sqlite(source), Store::Postgres(target)) = (from, to) else {
        return Err(CopyError::Direction);
    };
    refuse_unless_empty(target)?;
    target.with(|c| c.batch_execute("BEGIN"))?;
    match copy_tables(source, target) {
        Ok(copied) => {
            target.with(|c| c.batch_execute("COMMIT"))?;
            Ok(copied)
        }
        Err(e) => {
            // The transaction is discarded with the connection if the rollback fails.
            let _ = target.with(|c| c.batch_execute("ROLLBACK"));
            Err(e.into())
        }
    }
}

fn copy_tables(source: &Sqlite, target: &Postgres) -> Result<Copied, StoreError> {
    let mut copied = Vec::new();
    for &(table, select, columns) in TABLES {
        copied.push((table, copy_table(source, target, table, select, columns)?));
    }
    for (sequence, table) in SEQUENCES {
        let next = format!(
            "SELECT setval('{sequence}', coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
        );
        target.with(|c| c.execute(&next, &[]))?;
    }
    Ok(copied)
}

fn refuse_unless_empty(target: &Postgres) -> Result<(), CopyError> {
    for table in ["deliveries", "response_rows", "suppressions", "store_meta"] {
        let count = format!("SELECT count(*) FROM {table}");
        let rows: i64 = target.with(|c| Ok(c.query_one(&count, &[])?.get(0)))?;
        if rows > 0 {
            return Err(CopyError::NotEmpty(target.place().to_string(), rows, table));
        }
    }
    Ok(())
}

/// Streams one table from SQLite into PostgreSQL with the binary COPY protocol (a table
/// an older store never created, such as survey definitions before the first `serve`,
/// copies nothing); `response_rows` gets its key hash from the survey the query joined in
/// its place.
fn copy_table(
    source: &Sqlite,
    target: &Postgres,
    table: &str,
    select: &str,
    columns: &[(&str, Kind)],
) -> Result<u64, StoreError> {
    let mut statement = match source.conn.prepare(select) {
        Err(rusqlite::Error::SqliteFailure(_, Some(message)))
            if message.contains("no such table") =>
        {
            return Ok(0);
        }
        other => other.map_err(|e| source.error(e))?,
    };
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let types: Vec<Type> = columns
        .iter()
        .map(|(_, kind)| match kind {
            Kind::Int => Type::INT8,
            Kind::Text => Type::TEXT,
        })
        .collect();
    let mut client = target.client.borrow_mut();
    let sink = client
        .copy_in(&format!(
            "COPY {table} ({}) FROM STDIN (FORMAT binary)",
            names.join(", ")
        ))
        .map_err(|e| target.error(e))?;
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    let mut rows = statement.query([]).map_err(|e| source.error(e))?;
    while let Some(row) = rows.next().map_err(|e| source.error(e))? {
        let mut values = Vec::with_capacity(columns.len());
        for (i, (_, kind)) in columns.iter().enumerate() {
            let value: Value = row.get(i).map_err(|e| source.error(e))?;
            values.push(cell(&value, *kind));
        }
        if table == "response_rows" {
            let survey: String = row.get(2).map_err(|e| source.error(e))?;
            let key: String = row.get(3).map_err(|e| source.error(e))?;
            values[2] = Cell::Int(Some(super::batch::key_hash(&survey, &key)));
        }
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(Cell::as_sql).collect();
        writer.write(&refs).map_err(|e| target.error(e))?;
    }
    writer.finish().map_err(|e| target.error(e))
}

/// One value on its way to PostgreSQL.
enum Cell {
    Int(Option<i64>),
    Text(Option<String>),
}

impl Cell {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Cell::Int(n) => n,
            Cell::Text(t) => t,
        }
    }
}

/// A SQLite value in the column's PostgreSQL type (SQLite keeps what it is given, so a
/// store written by hand may hold text in an integer column).
fn cell(value: &Value, kind: Kind) -> Cell {
    match (value, kind) {
        (Value::Integer(n), Kind::Int) => Cell::Int(Some(*n)),
        (Value::Integer(n), Kind::Text) => Cell::Text(Some(n.to_string())),
        (Value::Text(t), Kind::Text) => Cell::Text(Some(t.clone())),
        (Value::Text(t), Kind::Int) => Cell::Int(t.parse().ok()),
        (Value::Real(x), Kind::Int) => Cell::Int(Some(*x as i64)),
        (Value::Real(x), Kind::Text) => Cell::Text(Some(x.to_string())),
        (Value::Blob(b), Kind::Text) => Cell::Text(Some(hex::encode(b))),
        (Value::Null | Value::Blob(_), Kind::Int) => Cell::Int(None),
        (Value::Null, Kind::Text) => Cell::Text(None),
    }
}
