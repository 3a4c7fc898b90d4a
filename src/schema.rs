//! The JSON Schemas, embedded in the binary, and their errors turned into diagnostics.
//!
//! The same schema files drive the editor (via the `$schema` line) and `canvass check`,
//! so the two can never disagree. Each validation error's instance path is mapped back to
//! the YAML node it came from, and unknown keys get a "did you mean" from the schema's own
//! list of properties.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::diag::{Code, Diagnostic};
use crate::document::Document;

/// The files canvass knows a schema for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum SchemaKind {
    /// `surveys/<id>/survey.yaml`
    Survey,
    /// `surveys/<id>/distribution.yaml`
    Distribution,
    /// `canvass.yaml`
    Workspace,
    /// `surveys/<id>/results/summary.json`, written by `canvass report`
    Summary,
}

const SURVEY: &str = include_str!("../schemas/survey.schema.json");
const DISTRIBUTION: &str = include_str!("../schemas/distribution.schema.json");
const WORKSPACE: &str = include_str!("../schemas/workspace.schema.json");
const SUMMARY: &str = include_str!("../schemas/summary.schema.json");

impl SchemaKind {
    /// Validates a document against this schema and deserializes. A document with schema errors
    /// is still typed when pruning the offending keys leaves a valid shape, so that
    /// `check` can report its meaning problems in the same run; the errors are returned
    /// beside it.
    pub fn typed<T: DeserializeOwned>(self, doc: &Document) -> (Option<T>, Vec<Diagnostic>) {
        let problems = self.validate(doc);
        if problems.is_empty() {
            return match serde_json::from_value(doc.json.clone()) {
                Ok(value) => (Some(value), problems),
                Err(e) => (
                    None,
                    vec![doc.error(
                        "",
                        Code::E011,
                        format!("the file does not fit the format: {e}"),
                    )],
                ),
            };
        }
        let mut pruned = doc.json.clone();
        let prunable = self.invalid_keys(doc).iter().all(|(object, key)| {
            pruned
                .pointer_mut(object)
                .and_then(Value::as_object_mut)
                .is_some_and(|map| map.shift_remove(key).is_some())
        });
        let value = prunable
            .then(|| serde_json::from_value(pruned).ok())
            .flatten();
        (value, problems)
    }

    /// Every kind, for `canvass init` writing them all.
    pub const ALL: [SchemaKind; 4] = [
        SchemaKind::Survey,
        SchemaKind::Distribution,
        SchemaKind::Workspace,
        SchemaKind::Summary,
    ];

    /// The schema's JSON text, as shipped in `schemas/`.
    pub fn text(self) -> &'static str {
        match self {
            SchemaKind::Survey => SURVEY,
            SchemaKind::Distribution => DISTRIBUTION,
            SchemaKind::Workspace => WORKSPACE,
            SchemaKind::Summary => SUMMARY,
        }
    }

    /// The schema's file name in `schemas/`.
    pub fn file_name(self) -> &'static str {
        match self {
            SchemaKind::Survey => "survey.schema.json",
            SchemaKind::Distribution => "distribution.schema.json",
            SchemaKind::Workspace => "workspace.schema.json",
            SchemaKind::Summary => "summary.schema.json",
        }
    }

    fn compiled(self) -> &'static (Value, Validator) {
        static CACHE: [OnceLock<(Value, Validator)>; 4] = [const { OnceLock::new() }; 4];
        CACHE[self as usize].get_or_init(|| {
            let schema: Value =
                serde_json::from_str(self.text()).expect("embedded schemas are valid JSON");
            let validator = jsonschema::validator_for(&schema).expect("embedded schemas compile");
            (schema, validator)
        })
    }

    /// Validates a document, returning every error as a diagnostic at its node.
    pub fn validate(self, doc: &Document) -> Vec<Diagnostic> {
        let (schema, validator) = self.compiled();
        let mut seen = std::collections::HashSet::new();
        validator
            .iter_errors(&doc.json)
            .filter_map(|error| to_diagnostic(&error, schema, doc))
            .filter(|d| seen.insert((d.span.start.offset, d.message.clone())))
            .collect()
    }

    /// The `(object pointer, key)` of every key with a schema error, or `None` as the key
    /// when the error sits on an array element (which cannot be pruned without shifting
    /// the positions of its siblings).
    pub fn invalid_keys(self, doc: &Document) -> Vec<(String, String)> {
        let (_, validator) = self.compiled();
        let mut keys = Vec::new();
        for error in validator.iter_errors(&doc.json) {
            let pointer = error.instance_path().as_str().to_string();
            if let ValidationErrorKind::AdditionalProperties { unexpected }
            | ValidationErrorKind::UnevaluatedProperties { unexpected } = error.kind()
            {
                keys.extend(unexpected.iter().map(|k| (pointer.clone(), k.clone())));
                continue;
            }
            let (parent, last) = pointer.rsplit_once('/').unwrap_or(("", ""));
            let last = last.replace("~1", "/").replace("~0", "~");
            keys.push((parent.to_string(), last));
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// Whether a JSON value (not from a YAML file) is valid, for programs' output such as
    /// `summary.json`; returns the messages of every error.
    pub fn errors(self, value: &Value) -> Vec<String> {
        let (_, validator) = self.compiled();
        validator
            .iter_errors(value)
            .map(|e| format!("{}: {e}", e.instance_path().as_str()))
            .collect()
    }
}

fn to_diagnostic(
    error: &ValidationError<'_>,
    schema: &Value,
    doc: &Document,
) -> Option<Diagnostic> {
    let pointer = error.instance_path().as_str().to_string();
    let schema_path = error.schema_path().as_str();
    let subschema = resolve_subschema(schema, parent_path(schema_path));
    let docs = documented(schema, parent_path(schema_path));
    let name = display_name(&pointer);
    let diagnostic = match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            unexpected_key(unexpected.first()?, &pointer, subschema, doc)?
        }
        ValidationErrorKind::Required { property } => {
            let key = property.as_str().unwrap_or_default();
            let mut d = doc.error(
                &pointer,
                Code::E012,
                format!("{name} is missing the required key `{key}`"),
            );
            let child = subschema
                .and_then(|s| s.pointer(&format!("/properties/{key}")))
                .map(|s| documented_ref(schema, s));
            d.help = child.and_then(hover_help);
            d
        }
        ValidationErrorKind::Type { .. } => {
            let mut d = doc.error(&pointer, Code::E011, format!("{name}: {error}"));
            d.help = docs.and_then(hover_help);
            d
        }
        ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::AnyOf { .. } => {
            let mut d = doc.error(&pointer, Code::E011, format!("{name} has the wrong shape"));
            d.help = docs.and_then(hover_help).or(Some(
                "see the schema's description of this key (hover it in your editor)".into(),
            ));
            d
        }
        ValidationErrorKind::Not { .. } => {
            let mut d = doc.error(
                &pointer,
                Code::E013,
                format!("{name} is not allowed in this form"),
            );
            d.help = subschema
                .and_then(|s| s.get("description"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| docs.and_then(hover_help));
            d
        }
        _ => {
            let mut d = doc.error(&pointer, Code::E013, format!("{name}: {error}"));
            d.help = docs.and_then(hover_help);
            d
        }
    };
    Some(diagnostic)
}

/// `questions/0/scale` for messages, or "the file" for the root.
fn display_name(pointer: &str) -> String {
    if pointer.is_empty() {
        "the file".to_string()
    } else {
        format!("`{}`", &pointer[1..])
    }
}

/// An unknown key (E010, with a did-you-mean), or a known key that does not fit the
/// object's `type` (E013, a question's `options` on a text question): the schema lists
/// type-dependent keys only in the `then` of their type, so that editors offer only what
/// fits. `None` for a key its type allows: its value broke the `then`, which reports it.
fn unexpected_key(
    key: &str,
    pointer: &str,
    subschema: Option<&Value>,
    doc: &Document,
) -> Option<Diagnostic> {
    let key_pointer = format!("{pointer}/{}", crate::load::pointer_segment(key));
    let name = display_name(pointer);
    let kind = doc
        .json
        .pointer(pointer)
        .and_then(|o| o.get("type"))
        .and_then(Value::as_str);
    let known = known_properties(subschema, kind);
    if known.iter().any(|k| k == key) {
        return None;
    }
    if let Some(kind) = kind
        && known_properties(subschema, None).iter().any(|k| k == key)
    {
        let d = doc.key_error(
            &key_pointer,
            Code::E013,
            format!("`{key}` does not fit `type: {kind}` in {name}"),
        );
        return Some(d.with_help(format!(
            "`type: {kind}` takes {}; remove `{key}` or change the `type`",
            known.join(", ")
        )));
    }
    let mut d = doc.key_error(
        &key_pointer,
        Code::E010,
        format!("unknown key `{key}` in {name}"),
    );
    d.help = Some(match suggest(key, &known) {
        Some(best) => format!("did you mean `{best}`?"),
        None => format!("the keys allowed here are: {}", known.join(", ")),
    });
    Some(d)
}

fn parent_path(schema_path: &str) -> &str {
    schema_path.rfind('/').map_or("", |i| &schema_path[..i])
}

/// Follows a keyword location through the schema, resolving `$ref`s on the way; returns
/// every node passed, the last one resolved.
fn walk<'a>(schema: &'a Value, path: &str) -> Option<Vec<&'a Value>> {
    let mut nodes = vec![schema];
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        let node = *nodes.last()?;
        nodes.push(if segment == "$ref" {
            resolve_ref(schema, node)
        } else {
            let segment = segment.replace("~1", "/").replace("~0", "~");
            match node {
                Value::Object(map) => map.get(&segment)?,
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            }
        });
    }
    let last = resolve_ref(schema, nodes.last()?);
    nodes.push(last);
    Some(nodes)
}

/// The schema node at a keyword location.
fn resolve_subschema<'a>(schema: &'a Value, path: &str) -> Option<&'a Value> {
    walk(schema, path)?.pop()
}

/// The nearest node on the way to a keyword location that documents itself with a
/// `title`: a property's own words, not those of the shared definition it refers to.
fn documented<'a>(schema: &'a Value, path: &str) -> Option<&'a Value> {
    walk(schema, path)?
        .into_iter()
        .rev()
        .find(|n| n.get("title").is_some())
}

/// A property's node when it documents itself, else the definition it refers to.
fn documented_ref<'a>(schema: &'a Value, node: &'a Value) -> &'a Value {
    if node.get("title").is_some() {
        node
    } else {
        resolve_ref(schema, node)
    }
}

fn resolve_ref<'a>(schema: &'a Value, node: &'a Value) -> &'a Value {
    node.get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| schema.pointer(p))
        .unwrap_or(node)
}

/// The keys an object schema lists: its own `properties`, and those of each `then` whose
/// `if` holds for a `type` of `kind` (every `then` when `kind` is `None`).
fn known_properties(subschema: Option<&Value>, kind: Option<&str>) -> Vec<String> {
    let Some(subschema) = subschema else {
        return Vec::new();
    };
    let branches = subschema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|b| kind.is_none_or(|k| branch_holds(b, k)))
        .filter_map(|b| b.get("then"));
    let mut keys: Vec<String> = std::iter::once(subschema)
        .chain(branches)
        .filter_map(|s| s.get("properties").and_then(Value::as_object))
        .flat_map(|p| p.keys().cloned())
        .collect();
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    keys
}

/// Whether an `allOf` branch's `if: {properties: {type: …}}` holds for `kind`.
fn branch_holds(branch: &Value, kind: &str) -> bool {
    let Some(condition) = branch.pointer("/if/properties/type") else {
        return false;
    };
    condition.get("const").and_then(Value::as_str) == Some(kind)
        || condition
            .get("enum")
            .and_then(Value::as_array)
            .is_some_and(|e| e.iter().any(|v| v == kind))
}

/// The closest known name, if it is close enough to be a likely typo: a small edit
/// distance (transpositions count once) or a high Jaro-Winkler similarity.
pub fn suggest(unknown: &str, known: &[impl AsRef<str>]) -> Option<String> {
    let max_edits = (unknown.chars().count() / 3).max(1);
    known
        .iter()
        .map(|k| {
            let k = k.as_ref();
            let close = strsim::damerau_levenshtein(unknown, k) <= max_edits;
            let similarity = strsim::jaro_winkler(unknown, k);
            (close || similarity > 0.85, similarity, k)
        })
        .filter(|(likely, _, _)| *likely)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(_, _, k)| k.to_string())
}

/// "expected: <title> — e.g. `7d`", from the schema's own documentation.
fn hover_help(subschema: &Value) -> Option<String> {
    let title = subschema.get("title").and_then(Value::as_str);
    let example = subschema
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
        .map(|e| match e {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    match (title, example) {
        (Some(t), Some(e)) => Some(format!(
            "expected {}, for example `{e}`",
            lowercase_first(t)
        )),
        (Some(t), None) => Some(format!("expected {}", lowercase_first(t))),
        (None, Some(e)) => Some(format!("for example `{e}`")),
        (None, None) => None,
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        let known = ["questions", "metrics", "locales"];
        assert_eq!(suggest("qustions", &known).as_deref(), Some("questions"));
        assert_eq!(suggest("zzz", &known), None);
    }

    #[test]
    fn every_embedded_schema_compiles() {
        for kind in SchemaKind::ALL {
            let _ = kind.compiled();
        }
    }
}
