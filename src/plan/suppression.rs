//! The workspace's suppression files: addresses never to contact, as recipient keys.

use std::collections::HashSet;

use super::PlanError;
use super::audience::non_empty;
use crate::token::Key;
use crate::workspace::Workspace;

/// The recipient keys of everyone in the workspace's suppression files.
pub fn suppression_list(ws: &Workspace, key: &Key) -> Result<HashSet<String>, PlanError> {
    Ok(suppression_addresses(ws)?
        .iter()
        .map(|address| key.recipient(address))
        .collect())
}

/// The addresses of the workspace's suppression files (CSV with an `email` column, or one
/// address per line).
pub fn suppression_addresses(ws: &Workspace) -> Result<Vec<String>, PlanError> {
    let mut addresses = Vec::new();
    for file in &ws.settings.suppression {
        let path = ws.root.join(file);
        let error = |message: String| PlanError::File {
            path: path.clone(),
            message,
        };
        let text = crate::fsutil::Confined::workspace(&ws.root)
            .read_in(&ws.root, file, crate::fsutil::MAX_DATA_BYTES)
            .map_err(|e| error(e.to_string()))?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut column = None;
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| error(e.to_string()))?;
            if i == 0
                && let Some(at) = record
                    .iter()
                    .position(|c| c.trim().eq_ignore_ascii_case("email"))
            {
                column = Some(at);
                continue;
            }
            if let Some(address) = record.get(column.unwrap_or(0)).and_then(non_empty) {
                addresses.push(address);
            }
        }
    }
    Ok(addresses)
}
