//! A person's rights and the key's discipline: erase one person (`forget`), give them
//! what is stored about them (`export --respondent`), delete what is older than the
//! retention period (`prune`), and move the workspace to a new key (`key rotate`).
//!
//! Everything is found by recipient key, the keyed hash of an address, so every command
//! here needs the key the store was written under, and checks it.

use jiff::Timestamp;

use crate::model::parse_duration;
use crate::plan::PlanError;
use crate::store::{Rekeyed, Removed, Store, StoreError};
use crate::token::{KEY_ENV, Key, TokenError};
use crate::workspace::Workspace;

/// The variable holding the key before a rotation, whose links stay valid.
pub const PREVIOUS_KEY_ENV: &str = "CANVASS_PREVIOUS_KEY";

/// Why a privacy command failed.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// The store failed or belongs to another key.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key is missing or weak.
    #[error("{0}")]
    Key(#[from] TokenError),
    /// The development key could not be read.
    #[error("cannot read the development key: {0}")]
    DevKey(std::io::Error),
    /// An audience file could not be read.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// `retention` is not set or not a duration.
    #[error("{0}")]
    Retention(String),
    /// A rotation to the key the store already has.
    #[error(
        "{KEY_ENV} is already the store's key; put the new key in {KEY_ENV} and the old one in {PREVIOUS_KEY_ENV}"
    )]
    SameKey,
}

/// What a rotation did, and what it could not do.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Rotation {
    /// Addresses read from the audience files.
    pub addresses: u64,
    /// Rows moved to the new key.
    pub rekeyed: RekeyedCounts,
    /// Ledger rows of people no audience file names: they keep the old key, so the new
    /// key does not recognise them.
    pub stale_deliveries: u64,
    /// Suppressions of people no audience file names (the same).
    pub stale_suppressions: u64,
}

/// [`Rekeyed`], serialisable.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RekeyedCounts {
    /// Ledger rows.
    pub deliveries: u64,
    /// Suppressions.
    pub suppressions: u64,
    /// Imported responses.
    pub responses: u64,
}

/// The workspace's key (`CANVASS_KEY`, else the development key), checked against its
/// store, which is returned open.
pub fn keyed_store(ws: &Workspace) -> Result<(Store, Key), PrivacyError> {
    let (key, _) = Key::from_env_or_dev(&ws.state_dir()).map_err(PrivacyError::DevKey)?;
    let store = Store::open_for_key(&ws.state_dir(), &key)?;
    Ok((store, key))
}

/// Erases everything stored about these addresses (see [`Store::forget`]).
pub fn forget(ws: &Workspace, addresses: &[String]) -> Result<Removed, PrivacyError> {
    let (store, key) = keyed_store(ws)?;
    let recipients: Vec<String> = addresses.iter().map(|a| key.recipient(a)).collect();
    Ok(store.forget(&recipients)?)
}

/// Everything stored about one address, as JSON.
pub fn respondent_data(ws: &Workspace, address: &str) -> Result<serde_json::Value, PrivacyError> {
    let (store, key) = keyed_store(ws)?;
    Ok(store.respondent_data(&key.recipient(address))?)
}

/// Deletes what is older than the workspace's `retention` at `now`.
pub fn prune(ws: &Workspace, now: Timestamp) -> Result<Removed, PrivacyError> {
    let retention = ws.settings.retention.as_deref().ok_or_else(|| {
        PrivacyError::Retention(
            "canvass.yaml sets no `retention` (e.g. `retention: 730d`), so nothing is old enough to prune"
                .into(),
        )
    })?;
    let seconds = parse_duration(retention)
        .map_err(|e| PrivacyError::Retention(format!("canvass.yaml `retention`: {e}")))?;
    let cutoff =
        Timestamp::from_second(now.as_second().saturating_sub(seconds)).unwrap_or(Timestamp::MIN);
    let (store, _) = keyed_store(ws)?;
    Ok(store.prune(&cutoff.to_string())?)
}

/// Moves the store from the old key (`CANVASS_PREVIOUS_KEY`, else the development key)
/// to `CANVASS_KEY`: every person an audience file names is re-keyed; the others cannot
/// be, and are counted.
pub fn rotate(ws: &Workspace) -> Result<Rotation, PrivacyError> {
    let new = Key::from_env()?;
    let old = match std::env::var(PREVIOUS_KEY_ENV) {
        Ok(text) => Key::from_base64(&text)?,
        Err(_) => Key::dev(&ws.state_dir()).map_err(PrivacyError::DevKey)?,
    };
    if old.fingerprint() == new.fingerprint() {
        return Err(PrivacyError::SameKey);
    }
    let addresses = audience_addresses(ws)?;
    let pairs: Vec<(String, String)> = addresses
        .iter()
        .map(|a| (old.recipient(a), new.recipient(a)))
        .collect();
    let store = Store::open_in(&ws.state_dir())?;
    let Rekeyed {
        deliveries,
        suppressions,
        responses,
    } = store.rotate_key(&old, &new, &pairs)?;
    let known: Vec<String> = pairs.into_iter().map(|(_, new)| new).collect();
    let (stale_deliveries, stale_suppressions) = store.recipients_outside(&known)?;
    Ok(Rotation {
        addresses: addresses.len() as u64,
        rekeyed: RekeyedCounts {
            deliveries,
            suppressions,
            responses,
        },
        stale_deliveries,
        stale_suppressions,
    })
}

/// Every address of every rule's audience and of the suppression files.
fn audience_addresses(ws: &Workspace) -> Result<Vec<String>, PrivacyError> {
    let mut addresses = std::collections::BTreeSet::new();
    for target in crate::plan::targets(ws, None)? {
        for person in crate::plan::people(&target)? {
            addresses.insert(person?.address);
        }
    }
    addresses.extend(crate::plan::suppression_addresses(ws)?);
    Ok(addresses.into_iter().collect())
}
