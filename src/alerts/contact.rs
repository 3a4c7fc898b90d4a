//! Who answered, for an alert whose respondent consented: the store holds only a keyed
//! hash of each address, so the person is found again at delivery time by hashing the
//! addresses of the rule's audience file, and only the columns the alert names are
//! carried. Without consent nothing here runs, and no alert says who answered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::plan::{AudienceReader, Target};
use crate::store::Store;
use crate::token::Key;
use crate::workspace::Workspace;

/// Where to find a consenting respondent, stored with the message (no identity in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    /// The rule whose audience holds the person.
    pub rule: String,
    /// The delivery answered through, whose ledger row has the recipient key.
    pub delivery: String,
    /// The columns to carry; `None`: the audience's key and name columns.
    pub columns: Option<Vec<String>>,
}

/// Audience columns by recipient key, for one (survey, rule, columns).
type Index = HashMap<String, Map<String, Value>>;

/// The survey, the rule and the columns an index was read for.
type Read = (String, String, Vec<String>);

/// The audiences read so far during one delivery run: each is hashed once, however many
/// consenting answers it has.
pub struct Contacts<'a> {
    ws: &'a Workspace,
    key: &'a Key,
    read: Mutex<HashMap<Read, Arc<Index>>>,
}

impl<'a> Contacts<'a> {
    /// Lookups in the audiences of `ws`, hashing with `key`.
    pub fn new(ws: &'a Workspace, key: &'a Key) -> Contacts<'a> {
        Contacts {
            ws,
            key,
            read: Mutex::new(HashMap::new()),
        }
    }

    /// The person's columns, `Ok(None)` when the ledger or the audience no longer knows
    /// them (forgotten, or gone from the file).
    pub fn find(
        &self,
        store: &Store,
        survey: &str,
        lookup: &Lookup,
    ) -> Result<Option<Map<String, Value>>, String> {
        let Some(recipient) = store
            .delivery_recipient(&lookup.delivery)
            .map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        let index = self.index(survey, lookup)?;
        Ok(index.get(&recipient).cloned())
    }

    fn index(&self, survey: &str, lookup: &Lookup) -> Result<Arc<Index>, String> {
        let entry = self
            .ws
            .survey(survey)
            .ok_or_else(|| format!("the survey `{survey}` is no longer in the workspace"))?;
        let (Some(loaded), Some(distribution)) = (&entry.survey, &entry.distribution) else {
            return Err(format!("the survey `{survey}` has no valid rules now"));
        };
        let rule = distribution
            .value
            .rules
            .iter()
            .find(|r| r.id == lookup.rule)
            .ok_or_else(|| format!("the rule `{survey}/{}` is gone", lookup.rule))?;
        let audience = rule
            .audience
            .as_ref()
            .ok_or_else(|| format!("the rule `{survey}/{}` has no audience", lookup.rule))?;
        let columns = lookup.columns.clone().unwrap_or_else(|| {
            std::iter::once(audience.key.clone())
                .chain(audience.name.clone())
                .collect()
        });
        let cache_key = (survey.to_string(), rule.id.clone(), columns.clone());
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(index) = read.get(&cache_key) {
            return Ok(Arc::clone(index));
        }
        let mut carrying = rule.clone();
        if let Some(a) = carrying.audience.as_mut() {
            a.placeholders = columns;
        }
        let target = Target {
            survey: &loaded.value,
            rule: &carrying,
            dir: &entry.dir,
        };
        let index = Arc::new(self.read_audience(&target)?);
        read.insert(cache_key, Arc::clone(&index));
        Ok(index)
    }

    /// Every person of the audience by recipient key, with the columns the rule's
    /// placeholders name.
    fn read_audience(&self, target: &Target) -> Result<Index, String> {
        let reader = AudienceReader::open(target)
            .map_err(|e| e.to_string())?
            .ok_or("the rule has no audience")?;
        let mut index = Index::new();
        for person in reader {
            let person = person.map_err(|e| e.to_string())?;
            let columns = person
                .placeholders
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            index.insert(self.key.recipient(&person.address), columns);
        }
        Ok(index)
    }
}
