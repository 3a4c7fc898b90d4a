//! The values the store takes and gives, apart from the code that writes them, so that
//! its modules share them without depending on each other.

use std::collections::BTreeMap;

use crate::answer::Answers;

/// Segment values kept with a response: column name → value.
pub type Segments = BTreeMap<String, String>;

/// A response to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewResponse {
    /// The survey id.
    pub survey: String,
    /// The survey version answered; reports never mix versions.
    pub version: u32,
    /// [`crate::model::Survey::definition_hash`] of the definition answered.
    pub definition_hash: String,
    /// One response opportunity: a delivery id, an open-link session, an import key.
    pub response_key: String,
    /// email | slack | teams | link | print | import.
    pub channel: String,
    /// oneclick | form | open | import.
    pub source: String,
    /// The distribution rule, when the response came from one.
    pub rule: Option<String>,
    /// The locale the survey was answered in.
    pub locale: Option<String>,
    /// RFC 3339, UTC.
    pub submitted_at: String,
    /// False for a one-click answer a link scanner may have made; see
    /// the form's confirmation.
    pub confirmed: bool,
    /// Every required, shown question answered ([`crate::answer::is_complete`]).
    pub complete: bool,
    /// The validated answers ([`crate::answer::validate_response`]).
    pub answers: Answers,
    /// Segment values (audience or import columns).
    pub segments: Segments,
}
