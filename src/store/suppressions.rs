//! Suppressions: people who must never receive anything again.

use rusqlite::params;

use super::sqlite::Sqlite;
use super::{StoreError, now_rfc3339};

/// Why someone is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuppressionReason {
    /// They used an unsubscribe link or header.
    Unsubscribed,
    /// Their address bounced permanently.
    Bounced,
    /// Their data was erased at their request (`canvass forget`).
    Erased,
}

impl SuppressionReason {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            SuppressionReason::Unsubscribed => "unsubscribed",
            SuppressionReason::Bounced => "bounced",
            SuppressionReason::Erased => "erased",
        }
    }
}

impl Sqlite {
    /// Records a suppression; the first reason recorded is kept.
    pub fn suppress(&self, recipient: &str, reason: SuppressionReason) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO suppressions (recipient, reason, created_at) VALUES (?1, ?2, ?3)",
                params![recipient, reason.name(), now_rfc3339()],
            )
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Why a recipient is suppressed, if they are.
    pub fn suppression(&self, recipient: &str) -> Result<Option<String>, StoreError> {
        self.text_where(
            "SELECT reason FROM suppressions WHERE recipient = ?1",
            recipient,
        )
    }
}
