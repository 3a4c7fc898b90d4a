//! The PostgreSQL store, for several machines sending and collecting into one database
//! (`CANVASS_DATABASE_URL=postgres://…`).
//!
//! The tables are the SQLite store's, in PostgreSQL's types (`migrations/`, applied by
//! refinery at open under an advisory lock, so that two processes starting together
//! migrate once). What SQLite's single writer gave for free is asked of the database:
//! - a send run holds a session advisory lock on its rule, so a second run of the same
//!   rule on any machine refuses to start, as the lock file refuses on one machine;
//! - the frequency cap is decided under one transaction-scoped lock, so two rules sending
//!   from two machines cannot both reach a person;
//! - a batch of answers locks the keys it writes (and, shared, their survey), so two
//!   collectors answering one link decide in turn which answer counts; an import locks
//!   its survey outright and stays one transaction;
//! - deliverers claim outbox messages with `FOR UPDATE SKIP LOCKED`, and a lease whose
//!   connection is gone (its process died) is released.
//!
//! Each value is one connection (the collector keeps several, as it does with SQLite);
//! the `postgres` client blocks, so async callers run it off their reactor.

use std::cell::RefCell;

use postgres::{Client, Config};

use super::StoreError;

mod answers;
mod keys;
mod ledger;
mod outbox;
mod people;

pub use answers::PgImport;
pub use ledger::PgHandLog;

refinery::embed_migrations!("src/store/postgres/migrations");

/// The lock spaces of the advisory locks (the first of their two keys).
mod lock_space {
    /// A survey's answers: shared by collectors, exclusive for an import.
    pub const SURVEY: i32 = 1;
    /// A rule's send run.
    pub const RULE: i32 = 2;
    /// The frequency cap's decisions.
    pub const CAP: i32 = 3;
    /// The schema's migrations.
    pub const MIGRATION: i32 = 4;
}

/// A connection to a PostgreSQL store.
pub struct Postgres {
    pub(super) client: RefCell<Client>,
    url: String,
    place: String,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("place", &self.place)
            .finish()
    }
}

impl Postgres {
    /// Connects and brings the schema up to date.
    pub fn connect(url: &str) -> Result<Postgres, StoreError> {
        let store = Postgres::connect_only(url)?;
        store.migrate()?;
        Ok(store)
    }

    /// Connects without migrating: a second connection of a store already open.
    fn connect_only(url: &str) -> Result<Postgres, StoreError> {
        let config: Config = url.parse().map_err(|e: postgres::Error| StoreError::Url {
            reason: e.to_string(),
        })?;
        let place = place_of(&config);
        let client = open_client(&config).map_err(|source| StoreError::Postgres {
            place: place.clone(),
            source,
        })?;
        Ok(Postgres {
            client: RefCell::new(client),
            url: url.to_string(),
            place,
        })
    }

    /// The database, as messages name it (never with its password).
    pub fn place(&self) -> &str {
        &self.place
    }

    /// Applies the migrations not yet applied, one process at a time.
    fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client.borrow_mut();
        let lock = |client: &mut Client, call: &str| {
            client
                .execute(call, &[&lock_space::MIGRATION])
                .map(drop)
                .map_err(|e| self.error(e))
        };
        lock(&mut client, "SELECT pg_advisory_lock($1, 0)")?;
        let migrated = migrations::runner()
            .run(&mut *client)
            .map(drop)
            .map_err(|source| StoreError::Migration {
                place: self.place.clone(),
                source,
            });
        lock(&mut client, "SELECT pg_advisory_unlock($1, 0)")?;
        migrated
    }

    /// Runs `work` on the connection, naming the database in its error.
    pub(super) fn with<T>(
        &self,
        work: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        work(&mut self.client.borrow_mut()).map_err(|e| self.error(e))
    }

    /// Runs `work` in one transaction, committed when it returns `Ok`.
    fn in_transaction<T>(
        &self,
        work: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        self.with(|client| {
            let mut tx = client.transaction()?;
            let value = work(&mut tx)?;
            tx.commit()?;
            Ok(value)
        })
    }

    /// The one text `sql` selects for `key`, if there is a row.
    fn text_where(&self, sql: &str, key: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| Ok(c.query_opt(sql, &[&key])?.map(|row| row.get(0))))
    }

    pub(super) fn error(&self, source: postgres::Error) -> StoreError {
        StoreError::Postgres {
            place: self.place.clone(),
            source,
        }
    }
}

/// Opens a client, over TLS unless the URL says `sslmode=disable` (with `prefer`, the
/// default, a server without TLS is spoken to in the clear, as libpq does; a server's
/// certificate is always verified against the web's roots).
fn open_client(config: &Config) -> Result<Client, postgres::Error> {
    if config.get_ssl_mode() == postgres::config::SslMode::Disable {
        return config.connect(postgres::NoTls);
    }
    config.connect(tls_connector())
}

fn tls_connector() -> tokio_postgres_rustls::MakeRustlsConnect {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_postgres_rustls::MakeRustlsConnect::new(config)
}

/// `postgres://user@host:port/database`, without the password.
fn place_of(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or_default(),
        config.get_dbname().unwrap_or_default()
    )
}

/// A flag stored as 0 or 1, as SQLite stores it.
fn flag(value: bool) -> i64 {
    i64::from(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_place_never_shows_the_password() {
        let config: Config = "postgres://cx:s3cret@db.example.com:6543/canvass"
            .parse()
            .unwrap();
        let place = place_of(&config);
        assert_eq!(place, "postgres://cx@db.example.com:6543/canvass");
        assert!(!place.contains("s3cret"));
    }

    #[test]
    fn a_url_that_is_not_postgres_is_a_clear_error() {
        let error = Postgres::connect("postgres://host:notaport/db").unwrap_err();
        assert!(matches!(error, StoreError::Url { .. }), "{error}");
        assert!(error.to_string().contains("CANVASS_DATABASE_URL"));
    }
}
