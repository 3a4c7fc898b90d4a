//! A database of its own for each test on the PostgreSQL server `.ci/run` starts
//! (`CANVASS_TEST_POSTGRES`, an administrator's URL), dropped when the test ends.
//! Without that server the PostgreSQL half of a test is skipped, except under CI, where
//! a missing server is a failure.
#![allow(dead_code)]

/// The environment variable with the administrator's URL.
pub const SERVER_ENV: &str = "CANVASS_TEST_POSTGRES";

/// A scratch database, dropped with its connections when this is dropped.
pub struct Scratch {
    admin: String,
    name: String,
    /// The URL canvass is given (`CANVASS_DATABASE_URL`).
    pub url: String,
}

impl Scratch {
    /// A fresh, empty database, or `None` when no server is given outside CI.
    pub fn new() -> Option<Scratch> {
        blocking(Scratch::create)
    }

    fn create() -> Option<Scratch> {
        let Ok(admin) = std::env::var(SERVER_ENV) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "{SERVER_ENV} must name a PostgreSQL server under CI (.ci/run starts one)"
            );
            return None;
        };
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).unwrap();
        let name = format!("canvass_test_{}", hex::encode(id));
        admin_client(&admin)
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&name);
        Some(Scratch {
            admin,
            name,
            url: url.to_string(),
        })
    }

    /// A client of the scratch database, for a test's own queries.
    pub fn client(&self) -> postgres::Client {
        blocking(|| postgres::Client::connect(&self.url, postgres::NoTls).unwrap())
    }

    /// The one number `sql` selects.
    pub fn count(&self, sql: &str) -> i64 {
        blocking(|| self.client().query_one(sql, &[]).unwrap().get(0))
    }

    /// The first column of every row `sql` selects, as text.
    pub fn texts(&self, sql: &str) -> Vec<String> {
        blocking(|| {
            let rows = self.client().query(sql, &[]).unwrap();
            rows.iter().map(|row| row.get(0)).collect()
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        blocking(|| {
            let _ = admin_client(&self.admin).batch_execute(&drop);
        });
    }
}

fn admin_client(admin: &str) -> postgres::Client {
    postgres::Client::connect(admin, postgres::NoTls)
        .unwrap_or_else(|e| panic!("{SERVER_ENV}={admin} does not answer: {e}"))
}

/// Runs blocking client work on a thread of its own: the `postgres` client drives a
/// runtime of its own, which cannot start inside an async test's.
fn blocking<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(work).join().unwrap())
}
