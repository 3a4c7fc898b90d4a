//! Which key a store belongs to. Recipients and respondents are keyed hashes, so a store
//! read with another key silently forgets everyone: the plan would send again and imports
//! would count people twice. The store therefore records the fingerprint of its key and
//! refuses any other; a rotation re-keys what it can and moves the record.

use rusqlite::params;

use super::StoreError;
use super::sqlite::Sqlite;
use crate::token::Key;

/// Facts about the store itself.
pub(super) const META_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS store_meta (
    name    TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);
";

/// The fingerprint of the key the store is written under.
pub(super) const KEY_FINGERPRINT: &str = "key_fingerprint";
/// The fingerprint of the key before the last rotation, whose links stay valid.
pub(super) const PREVIOUS_FINGERPRINT: &str = "previous_key_fingerprint";

/// One recipient key to replace by another, and what changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rekeyed {
    /// Ledger rows whose recipient was re-keyed.
    pub deliveries: u64,
    /// Suppressions re-keyed.
    pub suppressions: u64,
    /// Imported responses whose respondent was re-keyed.
    pub responses: u64,
}

impl Sqlite {
    /// Binds a new store to `key`, or checks that the store was written under it.
    pub fn check_key(&self, key: &Key) -> Result<(), StoreError> {
        let given = key.fingerprint();
        match self.meta(KEY_FINGERPRINT)? {
            Some(expected) if expected == given => Ok(()),
            Some(expected) => Err(StoreError::OtherKey {
                place: self.path.display().to_string(),
                expected,
                given,
            }),
            None => self.set_meta(KEY_FINGERPRINT, &given),
        }
    }

    /// Whether `key` is the one the store had before its last rotation.
    pub fn is_previous_key(&self, key: &Key) -> Result<bool, StoreError> {
        Ok(self.meta(PREVIOUS_FINGERPRINT)? == Some(key.fingerprint()))
    }

    /// Moves the store from `old` to `new` in one transaction: every recipient key in
    /// `pairs` (old hash, new hash) is replaced in the ledger, the suppressions and the
    /// imported responses, and the store is bound to `new`, `old` staying valid for links.
    pub fn rotate_key(
        &self,
        old: &Key,
        new: &Key,
        pairs: &[(String, String)],
    ) -> Result<Rekeyed, StoreError> {
        self.check_key(old)?;
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(|e| self.error(e))?;
        let mut rekeyed = Rekeyed::default();
        for (from, to) in pairs {
            rekeyed.deliveries += self.replace("deliveries", "recipient", from, to)?;
            rekeyed.suppressions += self.replace("suppressions", "recipient", from, to)?;
            rekeyed.responses += self.rekey_responses(from, to)?;
        }
        self.set_meta(PREVIOUS_FINGERPRINT, &old.fingerprint())?;
        self.set_meta(KEY_FINGERPRINT, &new.fingerprint())?;
        tx.commit().map_err(|e| self.error(e))?;
        Ok(rekeyed)
    }

    /// How many ledger rows and suppressions have a recipient outside `known`: the people
    /// a rotation cannot re-key because no audience file names them any more.
    pub fn recipients_outside(&self, known: &[String]) -> Result<(u64, u64), StoreError> {
        self.conn
            .execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS known (recipient TEXT PRIMARY KEY) WITHOUT ROWID;
                 DELETE FROM temp.known;",
            )
            .map_err(|e| self.error(e))?;
        for recipient in known {
            self.conn
                .prepare_cached("INSERT OR IGNORE INTO temp.known VALUES (?1)")
                .and_then(|mut s| s.execute([recipient]))
                .map_err(|e| self.error(e))?;
        }
        let outside = |table: &str| {
            self.conn
                .query_row(
                    &format!(
                        "SELECT count(*) FROM {table} WHERE recipient NOT IN \
                         (SELECT recipient FROM temp.known)"
                    ),
                    [],
                    |row| row.get::<_, i64>(0),
                )
                .map(i64::unsigned_abs)
                .map_err(|e| self.error(e))
        };
        Ok((outside("deliveries")?, outside("suppressions")?))
    }

    fn replace(&self, table: &str, column: &str, from: &str, to: &str) -> Result<u64, StoreError> {
        self.conn
            .execute(
                &format!("UPDATE OR IGNORE {table} SET {column} = ?2 WHERE {column} = ?1"),
                params![from, to],
            )
            .map(|n| n as u64)
            .map_err(|e| self.error(e))
    }

    /// Re-keys the imported responses of a respondent, with their entries in the key table.
    fn rekey_responses(&self, from: &str, to: &str) -> Result<u64, StoreError> {
        let rows: Vec<(i64, String)> = self
            .conn
            .prepare_cached(
                "SELECT r.id, o.survey FROM response_rows r \
                 JOIN response_origins o ON o.id = r.origin WHERE r.response_key = ?1",
            )
            .and_then(|mut s| {
                s.query_map([from], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect()
            })
            .map_err(|e| self.error(e))?;
        for (id, survey) in &rows {
            let (old_hash, new_hash) = (
                super::batch::key_hash(survey, from),
                super::batch::key_hash(survey, to),
            );
            self.conn
                .execute(
                    "UPDATE response_rows SET response_key = ?2 WHERE id = ?1",
                    params![id, to],
                )
                .and_then(|_| {
                    self.conn.execute(
                        "UPDATE response_keys SET key_hash = ?3 WHERE key_hash = ?2 AND response = ?1",
                        params![id, old_hash, new_hash],
                    )
                })
                .map_err(|e| self.error(e))?;
        }
        Ok(rows.len() as u64)
    }

    fn meta(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.text_where("SELECT value FROM store_meta WHERE name = ?1", name)
    }

    fn set_meta(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO store_meta (name, value) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET value = ?2",
                params![name, value],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Key {
        use base64::Engine as _;
        Key::from_base64(&base64::engine::general_purpose::STANDARD.encode([byte; 32])).unwrap()
    }

    #[test]
    fn a_store_takes_the_key_it_was_written_under_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open_in(dir.path()).unwrap();
        store.check_key(&key(1)).unwrap();
        store.check_key(&key(1)).unwrap();
        let error = store.check_key(&key(2)).unwrap_err().to_string();
        assert!(error.contains(&key(1).fingerprint()), "{error}");
        assert!(error.contains(&key(2).fingerprint()), "{error}");
    }

    #[test]
    fn a_rotation_rekeys_the_ledger_and_moves_the_binding() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open_in(dir.path()).unwrap();
        let (old, new) = (key(1), key(2));
        store.check_key(&old).unwrap();
        store
            .suppress(
                &old.recipient("ana@example.com"),
                super::super::SuppressionReason::Unsubscribed,
            )
            .unwrap();
        let pairs = vec![(
            old.recipient("ana@example.com"),
            new.recipient("ana@example.com"),
        )];
        let rekeyed = store.rotate_key(&old, &new, &pairs).unwrap();
        assert_eq!(rekeyed.suppressions, 1);
        store.check_key(&new).unwrap();
        assert!(store.check_key(&old).is_err());
        assert!(store.is_previous_key(&old).unwrap());
        assert!(
            store
                .suppression(&new.recipient("ana@example.com"))
                .unwrap()
                .is_some()
        );
    }
}
