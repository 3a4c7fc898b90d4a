//! Which key a PostgreSQL store belongs to (the SQLite store's rules, see its keys).

use super::Postgres;
use crate::store::batch::key_hash;
use crate::store::keys::{KEY_FINGERPRINT, PREVIOUS_FINGERPRINT};
use crate::store::{Rekeyed, StoreError};
use crate::token::Key;

impl Postgres {
    /// Binds a new store to `key`, or checks that the store was written under it. Two
    /// processes binding a new store at once agree: the first write wins, the second
    /// checks against it.
    pub fn check_key(&self, key: &Key) -> Result<(), StoreError> {
        let given = key.fingerprint();
        self.with(|c| {
            c.execute(
                "INSERT INTO store_meta (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&KEY_FINGERPRINT, &given],
            )
        })?;
        match self.meta(KEY_FINGERPRINT)? {
            Some(expected) if expected != given => Err(StoreError::OtherKey {
                place: self.place.clone(),
                expected,
                given,
            }),
            _ => Ok(()),
        }
    }

    /// Whether `key` is the one the store had before its last rotation.
    pub fn is_previous_key(&self, key: &Key) -> Result<bool, StoreError> {
        Ok(self.meta(PREVIOUS_FINGERPRINT)? == Some(key.fingerprint()))
    }

    /// Moves the store from `old` to `new` in one transaction (see the SQLite store).
    pub fn rotate_key(
        &self,
        old: &Key,
        new: &Key,
        pairs: &[(String, String)],
    ) -> Result<Rekeyed, StoreError> {
        self.check_key(old)?;
        let (old_print, new_print) = (old.fingerprint(), new.fingerprint());
        self.in_transaction(|tx| {
            let mut rekeyed = Rekeyed::default();
            for (from, to) in pairs {
                rekeyed.deliveries += tx.execute(
                    "UPDATE deliveries d SET recipient = $2 WHERE recipient = $1 AND NOT EXISTS \
                     (SELECT 1 FROM deliveries o WHERE o.recipient = $2 AND o.survey = d.survey \
                      AND o.rule = d.rule AND o.seq = d.seq)",
                    &[from, to],
                )?;
                rekeyed.suppressions += tx.execute(
                    "UPDATE suppressions SET recipient = $2 WHERE recipient = $1 \
                     AND NOT EXISTS (SELECT 1 FROM suppressions WHERE recipient = $2)",
                    &[from, to],
                )?;
                let rows = tx.query(
                    "SELECT r.id, o.survey FROM response_rows r \
                     JOIN response_origins o ON o.id = r.origin WHERE r.response_key = $1",
                    &[from],
                )?;
                for row in &rows {
                    let (id, survey): (i64, &str) = (row.get(0), row.get(1));
                    tx.execute(
                        "UPDATE response_rows SET response_key = $2, key_hash = $3 WHERE id = $1",
                        &[&id, to, &key_hash(survey, to)],
                    )?;
                }
                rekeyed.responses += rows.len() as u64;
            }
            for (name, value) in [
                (PREVIOUS_FINGERPRINT, &old_print),
                (KEY_FINGERPRINT, &new_print),
            ] {
                tx.execute(
                    "INSERT INTO store_meta (name, value) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET value = $2",
                    &[&name, value],
                )?;
            }
            Ok(rekeyed)
        })
    }

    /// How many ledger rows and suppressions have a recipient outside `known`.
    pub fn recipients_outside(&self, known: &[String]) -> Result<(u64, u64), StoreError> {
        self.with(|c| {
            let outside = |c: &mut postgres::Client, table: &str| {
                let sql =
                    format!("SELECT count(*) FROM {table} WHERE recipient <> ALL ($1::text[])");
                Ok::<_, postgres::Error>(
                    c.query_one(&sql, &[&known])?
                        .get::<_, i64>(0)
                        .unsigned_abs(),
                )
            };
            Ok((outside(c, "deliveries")?, outside(c, "suppressions")?))
        })
    }

    fn meta(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.text_where("SELECT value FROM store_meta WHERE name = $1", name)
    }
}
