//! Loading YAML into a tree that remembers where every node came from.
//!
//! Every diagnostic canvass prints points at a node, so the loader keeps a [`Span`] for
//! each one. The tree is built from `saphyr-parser` events rather than a ready-made DOM so
//! that aliases can be expanded under a budget (a "billion laughs" file is refused instead
//! of exhausting memory) and nesting has a hard limit (no stack overflow on `[[[[…`).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::Value;

/// The largest file canvass reads; survey files are a few kilobytes.
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// The most nodes a document may expand to once its aliases are resolved.
pub const MAX_NODES: usize = 200_000;
/// The deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;

/// A position in a source file: 1-based line and column (in characters) and a byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters so that `č` or a tab is one column.
    pub column: usize,
    /// Byte offset into the source text, for slicing and snippets.
    #[serde(skip)]
    pub offset: usize,
}

/// The extent of a node in its source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Where the node starts.
    pub start: Pos,
    /// Where the node ends (exclusive).
    pub end: Pos,
}

/// A source file's text with a table of line starts, to turn parser markers into positions.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as the user should see it (relative to the workspace where possible).
    pub name: String,
    /// The whole text.
    pub text: String,
    line_starts: Vec<usize>,
}

impl Source {
    /// Wraps a text; `name` is what diagnostics print before `:line:col`.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// The position of a 1-based line and 0-based character column, clamped into the text.
    pub fn pos(&self, line: usize, char_col: usize) -> Pos {
        let line = line.clamp(1, self.line_starts.len());
        let start = self.line_starts[line - 1];
        let rest = &self.text[start..];
        let line_text = rest.split('\n').next().unwrap_or("");
        let offset = line_text
            .char_indices()
            .nth(char_col)
            .map_or(start + line_text.len(), |(i, _)| start + i);
        Pos {
            line,
            column: char_col + 1,
            offset,
        }
    }

    /// The position of a byte offset (used for errors found by byte, such as in templates).
    pub fn pos_at_offset(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        let column = self.text[start..offset].chars().count() + 1;
        Pos {
            line,
            column,
            offset,
        }
    }

    /// A span covering the whole of one line, for problems that belong to a line.
    pub fn line_span(&self, line: usize) -> Span {
        let start = self.pos(line, 0);
        let end_offset = self.text[start.offset..]
            .find(['\r', '\n'])
            .map_or(self.text.len(), |i| start.offset + i);
        let end = self.pos_at_offset(end_offset);
        Span { start, end }
    }
}

/// A YAML value with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node is in its file.
    pub span: Span,
    /// What the node holds.
    pub value: NodeValue,
}

/// The values of the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    /// `null`, `~` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Any other scalar.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order.
    Map(Vec<(Node, Node)>),
}

/// Why a file could not be read as YAML at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("the file is {size} bytes, over the limit of {MAX_FILE_BYTES} bytes")]
    TooLarge {
        /// The file's size.
        size: usize,
    },
    /// The YAML does not parse.
    #[error("YAML syntax: {message}")]
    Syntax {
        /// The parser's explanation.
        message: String,
        /// Where the parser stopped.
        at: Pos,
    },
    /// Aliases expand to more nodes than allowed.
    #[error("aliases expand this document past {MAX_NODES} nodes (an alias bomb?)")]
    TooManyNodes {
        /// The alias that crossed the limit.
        at: Pos,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH} levels")]
    TooDeep {
        /// The node that crossed the limit.
        at: Pos,
    },
    /// An alias names no anchor.
    #[error("alias to an unknown anchor")]
    UnknownAnchor {
        /// The alias.
        at: Pos,
    },
    /// A mapping repeats a key.
    #[error("duplicate key `{key}` (first at line {first_line})")]
    DuplicateKey {
        /// The key.
        key: String,
        /// The line of its first occurrence.
        first_line: usize,
        /// The repeated key.
        at: Span,
    },
    /// The file holds more than one YAML document.
    #[error("the file holds more than one YAML document; keep one per file")]
    MultipleDocuments {
        /// Where the second begins.
        at: Pos,
    },
}

impl LoadError {
    /// Where the problem is, for the diagnostic's caret.
    pub fn span(&self) -> Span {
        match self {
            LoadError::TooLarge { .. } => Span::default(),
            LoadError::DuplicateKey { at, .. } => *at,
            LoadError::Syntax { at, .. }
            | LoadError::TooManyNodes { at }
            | LoadError::TooDeep { at }
            | LoadError::UnknownAnchor { at }
            | LoadError::MultipleDocuments { at } => Span {
                start: *at,
                end: *at,
            },
        }
    }
}

/// Parses one YAML document; an empty file is `Null`.
pub fn parse(source: &Source) -> Result<Node, LoadError> {
    if source.text.len() > MAX_FILE_BYTES {
        return Err(LoadError::TooLarge {
            size: source.text.len(),
        });
    }
    let mut builder = TreeBuilder::default();
    for event in Parser::new_from_str(&source.text) {
        let (event, span) = event.map_err(|e| LoadError::Syntax {
            message: e.info().to_string(),
            at: source.pos(e.marker().line(), e.marker().col()),
        })?;
        let span = Span {
            start: source.pos(span.start.line(), span.start.col()),
            end: source.pos(span.end.line(), span.end.col()),
        };
        builder.event(event, span)?;
    }
    Ok(builder.finish())
}

struct Frame {
    start: Span,
    anchor: usize,
    items: Vec<Node>,
    is_map: bool,
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    documents: usize,
    root: Option<Node>,
}

impl TreeBuilder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), LoadError> {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(LoadError::MultipleDocuments { at: span.start });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let is_str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let value = if style == ScalarStyle::Plain && !is_str_tag {
                    resolve_plain(&text)
                } else {
                    NodeValue::Str(text.into_owned())
                };
                self.push(Node { span, value }, anchor, 1)?;
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    return Err(LoadError::TooDeep { at: span.start });
                }
                self.stack.push(Frame {
                    start: span,
                    anchor,
                    items: Vec::new(),
                    is_map: matches!(event, Event::MappingStart(..)),
                });
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(span)?,
            Event::Alias(id) => {
                let (node, size) = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or(LoadError::UnknownAnchor { at: span.start })?;
                if self.nodes + size > MAX_NODES {
                    return Err(LoadError::TooManyNodes { at: span.start });
                }
                self.push(node, 0, size)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn close(&mut self, end: Span) -> Result<(), LoadError> {
        let Some(frame) = self.stack.pop() else {
            return Ok(());
        };
        let span = Span {
            start: frame.start.start,
            end: end.end,
        };
        let size = 1 + count_nodes(&frame.items);
        let value = if frame.is_map {
            NodeValue::Map(pair_up(frame.items)?)
        } else {
            NodeValue::Seq(frame.items)
        };
        self.push(Node { span, value }, frame.anchor, size)
    }

    fn push(&mut self, node: Node, anchor: usize, size: usize) -> Result<(), LoadError> {
        self.nodes += size;
        if self.nodes > MAX_NODES {
            return Err(LoadError::TooManyNodes {
                at: node.span.start,
            });
        }
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            Some(frame) => frame.items.push(node),
            None => self.root = Some(node),
        }
        Ok(())
    }

    fn finish(self) -> Node {
        self.root.unwrap_or(Node {
            span: Span::default(),
            value: NodeValue::Null,
        })
    }
}

fn count_nodes(items: &[Node]) -> usize {
    items.iter().map(Node::size).sum()
}

fn pair_up(items: Vec<Node>) -> Result<Vec<(Node, Node)>, LoadError> {
    let mut pairs: Vec<(Node, Node)> = Vec::with_capacity(items.len() / 2);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut iter = items.into_iter();
    while let (Some(key), Some(value)) = (iter.next(), iter.next()) {
        let text = key.key_text();
        if let Some(first_line) = seen.get(&text) {
            return Err(LoadError::DuplicateKey {
                key: text,
                first_line: *first_line,
                at: key.span,
            });
        }
        seen.insert(text, key.span.start.line);
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Resolves an unquoted scalar by the YAML 1.2 core schema.
fn resolve_plain(text: &str) -> NodeValue {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return NodeValue::Null,
        "true" | "True" | "TRUE" => return NodeValue::Bool(true),
        "false" | "False" | "FALSE" => return NodeValue::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return NodeValue::Str(text.to_string());
        }
        _ => {}
    }
    if let Some(i) = parse_int(text) {
        return NodeValue::Int(i);
    }
    let looks_numeric = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && text.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric && let Ok(f) = text.parse::<f64>() {
        return NodeValue::Float(f);
    }
    NodeValue::Str(text.to_string())
}

fn parse_int(text: &str) -> Option<i64> {
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl Node {
    /// The number of nodes in this subtree, itself included.
    pub fn size(&self) -> usize {
        1 + match &self.value {
            NodeValue::Seq(items) => count_nodes(items),
            NodeValue::Map(pairs) => pairs.iter().map(|(k, v)| k.size() + v.size()).sum(),
            _ => 0,
        }
    }

    /// The text of a node used as a mapping key (JSON keys are strings).
    pub fn key_text(&self) -> String {
        match &self.value {
            NodeValue::Null => "null".to_string(),
            NodeValue::Bool(b) => b.to_string(),
            NodeValue::Int(i) => i.to_string(),
            NodeValue::Float(f) => f.to_string(),
            NodeValue::Str(s) => s.clone(),
            NodeValue::Seq(_) | NodeValue::Map(_) => "<collection>".to_string(),
        }
    }
}

/// Where each node of a document is, by JSON Pointer (`/questions/0/scale/min`).
///
/// Looked up in the node tree on demand rather than tabulated up front: diagnostics are
/// rare, and a table of every node's pointer costs more than loading the file itself.
#[derive(Debug, Clone)]
pub struct SpanMap {
    root: Node,
}

impl SpanMap {
    /// The span of the value at `pointer`, or of its nearest ancestor that exists.
    pub fn value(&self, pointer: &str) -> Span {
        self.walk(pointer).0.span
    }

    /// The span of the key whose value is at `pointer` (for "unknown key" errors), falling
    /// back to the value's span.
    pub fn key(&self, pointer: &str) -> Span {
        match self.walk(pointer) {
            (_, Some(key)) => key.span,
            (node, None) => node.span,
        }
    }

    /// The deepest node on the pointer's path, and the key node that led to it when the
    /// whole pointer was found and its last step was a mapping key.
    fn walk(&self, pointer: &str) -> (&Node, Option<&Node>) {
        let mut node = &self.root;
        let mut key = None;
        for segment in pointer.split('/').skip(1) {
            let segment = segment.replace("~1", "/").replace("~0", "~");
            let next = match &node.value {
                NodeValue::Map(pairs) => pairs
                    .iter()
                    .find(|(k, _)| k.key_text() == segment)
                    .map(|(k, v)| (v, Some(k))),
                NodeValue::Seq(items) => segment
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i))
                    .map(|v| (v, None)),
                _ => None,
            };
            match next {
                Some((child, child_key)) => {
                    node = child;
                    key = child_key;
                }
                None => return (node, None),
            }
        }
        (node, key)
    }
}

/// Escapes one JSON Pointer segment (RFC 6901).
pub fn pointer_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Converts the tree into JSON for schema validation and serde, keeping the tree for
/// positions.
pub fn to_json(node: Node) -> (Value, SpanMap) {
    (convert(&node), SpanMap { root: node })
}

/// A float that is a whole number (`1.0`, `10.0`) as the integer it is, so that a count
/// written with a point fits an integer field as the schema already says it does.
fn whole(f: f64) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer up to it is exact
    (f.fract() == 0.0 && f.abs() <= EXACT).then_some(f as i64)
}

fn convert(node: &Node) -> Value {
    match &node.value {
        NodeValue::Null => Value::Null,
        NodeValue::Bool(b) => Value::Bool(*b),
        NodeValue::Int(i) => Value::from(*i),
        NodeValue::Float(f) => whole(*f).map_or_else(
            || serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Value::from,
        ),
        NodeValue::Str(s) => Value::String(s.clone()),
        NodeValue::Seq(items) => Value::Array(items.iter().map(convert).collect()),
        NodeValue::Map(pairs) => Value::Object(
            pairs
                .iter()
                .map(|(key, value)| (key.key_text(), convert(value)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<(Value, SpanMap), LoadError> {
        let source = Source::new("t.yaml", text);
        parse(&source).map(to_json)
    }

    #[test]
    fn core_schema_scalars() {
        let (v, _) = load("a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: hello\ng: 0x10\n").unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a":1,"b":1.5,"c":true,"d":null,"e":"1","f":"hello","g":16})
        );
    }

    #[test]
    fn spans_count_characters_not_bytes() {
        let (_, spans) = load("title: čžš\nx: ėų\n").unwrap();
        let s = spans.value("/x");
        assert_eq!((s.start.line, s.start.column), (2, 4));
        assert_eq!(spans.key("/x").start.column, 1);
    }

    #[test]
    fn crlf_and_tabs_keep_columns() {
        let (_, spans) = load("a: 1\r\nb:\t\"č\"\r\n").unwrap();
        let s = spans.value("/b");
        assert_eq!((s.start.line, s.start.column), (2, 4));
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        assert!(matches!(load(&text), Err(LoadError::TooManyNodes { .. })));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(10_000);
        assert!(load(&text).is_err());
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = load("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert!(matches!(err, LoadError::DuplicateKey { first_line: 1, .. }));
        assert_eq!(err.span().start.line, 3);
    }

    #[test]
    fn syntax_error_has_a_position() {
        let err = load("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(matches!(err, LoadError::Syntax { .. }));
    }
}
