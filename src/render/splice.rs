//! E-mail bodies compiled once per batch. The templates are rendered with sentinels in
//! place of every per-recipient value; the result is split into lines of static text and
//! holes. Static lines are quoted-printable encoded once; per recipient only the lines
//! with a hole are filled and encoded. Quoted-printable is line-local (a CRLF resets the
//! line), so the lines encoded one by one are the body encoded at once.

use std::borrow::Cow;
use std::sync::Mutex;

/// Starts a sentinel: a private-use code point that templates and escaping leave intact.
const OPEN: char = '\u{E000}';
/// Ends a sentinel.
const CLOSE: char = '\u{E001}';
/// The most value-length combinations one line keeps an encoded skeleton for.
const MAX_SKELETONS: usize = 16;

/// A per-recipient value in a compiled body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hole {
    /// The signed response token (inside every link).
    Token = 0,
    /// The recipient's name.
    Name = 1,
}

impl Hole {
    /// What the templates are given in place of the value.
    pub fn sentinel(self) -> &'static str {
        match self {
            Hole::Token => "\u{E000}t\u{E001}",
            Hole::Name => "\u{E000}n\u{E001}",
        }
    }

    fn from_code(code: char) -> Option<Hole> {
        match code {
            't' => Some(Hole::Token),
            'n' => Some(Hole::Name),
            _ => None,
        }
    }
}

/// One recipient's values for the holes.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    /// The signed response token.
    pub token: &'a str,
    /// The name greeted (empty when there is none).
    pub name: &'a str,
}

impl Values<'_> {
    /// Whether the values can be spliced into a compiled body: a control character would
    /// change line ends around it in a full render, and a sentinel character would be
    /// taken for a hole.
    pub fn spliceable(&self) -> bool {
        [self.token, self.name]
            .iter()
            .all(|v| !super::has_control(v) && !v.contains([OPEN, CLOSE]))
    }

    /// Whether every value is printable ASCII, which keeps a body's transfer encoding what
    /// it is with the values left out: they add no byte that needs escaping.
    pub fn printable(&self) -> bool {
        [self.token, self.name]
            .iter()
            .all(|v| v.bytes().all(|b| (b' '..=b'~').contains(&b)))
    }
}

/// How the template wrote values: HTML templates escape them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Plain text: values as they are.
    Text,
    /// HTML: values escaped as the template's formatter escapes them.
    Html,
}

/// One recipient's values as a body writes them (escaped for its context), and whether
/// each is made of bytes that quoted-printable writes as they are wherever they stand.
struct Written<'v> {
    token: Cow<'v, str>,
    name: Cow<'v, str>,
    literal: [bool; 2],
}

impl<'v> Written<'v> {
    fn new(values: &Values<'v>, context: Context) -> Written<'v> {
        let write = |value: &'v str| match context {
            Context::Text => Cow::Borrowed(value),
            Context::Html => super::escape_html(value),
        };
        Written::of(write(values.token), write(values.name))
    }

    fn of(token: Cow<'v, str>, name: Cow<'v, str>) -> Written<'v> {
        let literal = |v: &str| v.bytes().all(is_literal);
        Written {
            literal: [literal(&token), literal(&name)],
            token,
            name,
        }
    }

    fn get(&self, hole: Hole) -> &str {
        match hole {
            Hole::Token => &self.token,
            Hole::Name => &self.name,
        }
    }

    /// The length of each kind of hole's value: the key of a line's skeletons.
    fn lengths(&self, holes: &[Hole]) -> [usize; 2] {
        let length = |hole: Hole| {
            if holes.contains(&hole) {
                self.get(hole).len()
            } else {
                0
            }
        };
        [length(Hole::Token), length(Hole::Name)]
    }

    fn literal(&self, holes: &[Hole]) -> bool {
        holes.iter().all(|&hole| self.literal[hole as usize])
    }
}

#[derive(Debug)]
enum Part {
    Text(String),
    Hole(Hole),
}

/// A line's encoding for one combination of value lengths, with the runs of it where
/// value bytes go: values of bytes that are never escaped are copied in, not encoded.
#[derive(Debug)]
struct Skeleton {
    encoded: Vec<u8>,
    runs: Vec<Run>,
}

/// Bytes `from..from + len` of a hole's value, at `at` in a skeleton.
#[derive(Debug)]
struct Run {
    at: usize,
    hole: Hole,
    from: usize,
    len: usize,
}

/// One line (with its CRLF) of a compiled body.
#[derive(Debug)]
struct Line {
    parts: Vec<Part>,
    /// The kinds of hole in the line.
    holes: Vec<Hole>,
    /// The encoded line, when it has no hole.
    encoded: Option<Vec<u8>>,
    /// Skeletons by value lengths (`None`: those lengths cannot use one).
    skeletons: Mutex<Vec<([usize; 2], Option<Skeleton>)>>,
}

/// A body (plain text or HTML) rendered with sentinels, split into static text and holes.
#[derive(Debug)]
pub struct CompiledBody {
    context: Context,
    lines: Vec<Line>,
    /// The encoded length without values, to size buffers.
    encoded_len: usize,
}

impl CompiledBody {
    /// Splits a body rendered with sentinels (CRLF line ends), or `None` when a sentinel
    /// character is not part of a well-formed sentinel.
    pub fn parse(rendered: &str, context: Context) -> Option<CompiledBody> {
        let lines = rendered
            .split_inclusive('\n')
            .map(Line::parse)
            .collect::<Option<Vec<_>>>()?;
        Some(CompiledBody {
            context,
            encoded_len: rendered.len() * 9 / 8,
            lines,
        })
    }

    /// The body with the values filled in.
    pub fn plain(&self, values: &Values) -> String {
        let written = Written::new(values, self.context);
        self.lines.iter().map(|line| line.fill(&written)).collect()
    }

    /// The body with the values filled in, quoted-printable encoded as lettre encodes it.
    pub fn encoded(&self, values: &Values) -> Vec<u8> {
        let written = Written::new(values, self.context);
        let mut out = Vec::with_capacity(self.encoded_len + 512);
        for line in &self.lines {
            match &line.encoded {
                Some(encoded) => out.extend_from_slice(encoded),
                None => line.encode(&written, &mut out),
            }
        }
        out
    }
}

impl Line {
    fn parse(text: &str) -> Option<Line> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find(OPEN) {
            let mut sentinel = rest[start + OPEN.len_utf8()..].chars();
            let hole = sentinel.next().and_then(Hole::from_code)?;
            if sentinel.next() != Some(CLOSE) {
                return None;
            }
            parts.push(Part::Text(rest[..start].to_string()));
            parts.push(Part::Hole(hole));
            rest = sentinel.as_str();
        }
        parts.push(Part::Text(rest.to_string()));
        if text.matches(CLOSE).count() != parts.len() / 2 {
            return None;
        }
        let holes: Vec<Hole> = [Hole::Token, Hole::Name]
            .into_iter()
            .filter(|h| parts.iter().any(|p| matches!(p, Part::Hole(k) if k == h)))
            .collect();
        Some(Line {
            encoded: holes.is_empty().then(|| quoted_printable::encode(text)),
            parts,
            holes,
            skeletons: Mutex::new(Vec::new()),
        })
    }

    fn fill(&self, written: &Written) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Hole(hole) => out.push_str(written.get(*hole)),
            }
        }
        out
    }

    fn encode(&self, written: &Written, out: &mut Vec<u8>) {
        if !(written.literal(&self.holes) && self.write_skeleton(written, out)) {
            out.extend_from_slice(&quoted_printable::encode(self.fill(written)));
        }
    }

    /// Writes the line from the skeleton for these value lengths (made on first use);
    /// false when there is none.
    fn write_skeleton(&self, written: &Written, out: &mut Vec<u8>) -> bool {
        let lengths = written.lengths(&self.holes);
        let mut skeletons = self.skeletons.lock().unwrap_or_else(|e| e.into_inner());
        let index = match skeletons.iter().position(|(l, _)| *l == lengths) {
            Some(index) => index,
            None if skeletons.len() < MAX_SKELETONS => {
                skeletons.push((lengths, Skeleton::new(self, lengths)));
                skeletons.len() - 1
            }
            None => return false,
        };
        match &skeletons[index].1 {
            Some(skeleton) => {
                skeleton.write(written, out);
                true
            }
            None => false,
        }
    }
}

impl Skeleton {
    /// Encodes the line with placeholder values of these lengths and finds where their
    /// bytes land; `None` when other placeholder bytes do not land in the same places.
    fn new(line: &Line, [token, name]: [usize; 2]) -> Option<Skeleton> {
        let filler = |b: &str| Written::of(Cow::Owned(b.repeat(token)), Cow::Owned(b.repeat(name)));
        let input = line.fill(&filler("x"));
        let encoded = quoted_printable::encode(&input);
        let runs = runs(&line.parts, &filler("x"), &input, &encoded)?;
        let skeleton = Skeleton { encoded, runs };
        let check = filler("y");
        let mut written = Vec::new();
        skeleton.write(&check, &mut written);
        (written == quoted_printable::encode(line.fill(&check))).then_some(skeleton)
    }

    fn write(&self, written: &Written, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.encoded);
        for run in &self.runs {
            let value = &written.get(run.hole).as_bytes()[run.from..run.from + run.len];
            out[start + run.at..start + run.at + run.len].copy_from_slice(value);
        }
    }
}

/// Bytes quoted-printable writes as they are wherever they stand in a line.
fn is_literal(b: u8) -> bool {
    (b'!'..=b'~').contains(&b) && b != b'='
}

/// Where in `encoded` the bytes of each hole went, the holes filled into `input`: encoded
/// bytes are one byte or three (`=XX`), with soft line breaks (`=` CRLF) between them.
fn runs(parts: &[Part], written: &Written, input: &str, encoded: &[u8]) -> Option<Vec<Run>> {
    let offsets = offsets(input.as_bytes(), encoded)?;
    let mut runs: Vec<Run> = Vec::new();
    let mut at = 0;
    for part in parts {
        let hole = match part {
            Part::Text(text) => {
                at += text.len();
                continue;
            }
            Part::Hole(hole) => *hole,
        };
        for from in 0..written.get(hole).len() {
            let offset = offsets[at + from];
            match runs.last_mut() {
                Some(run)
                    if run.hole == hole
                        && run.at + run.len == offset
                        && run.from + run.len == from =>
                {
                    run.len += 1
                }
                _ => runs.push(Run {
                    at: offset,
                    hole,
                    from,
                    len: 1,
                }),
            }
        }
        at += written.get(hole).len();
    }
    Some(runs)
}

/// The offset in `encoded` of each byte of `input`.
fn offsets(input: &[u8], encoded: &[u8]) -> Option<Vec<usize>> {
    let mut offsets = Vec::with_capacity(input.len());
    let mut o = 0;
    for &b in input {
        while encoded.get(o..o + 3) == Some(b"=\r\n") {
            o += 3;
        }
        offsets.push(o);
        o += if b != b'=' && encoded.get(o) == Some(&b) {
            1
        } else {
            3
        };
    }
    (o == encoded.len()).then_some(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body with holes in short, long, escaped and non-ASCII lines, and static lines
    /// that need escaping (`=`, trailing space, UTF-8).
    fn body() -> String {
        let long = "<a href=\"https://x.example/r/\u{E000}t\u{E001}?q=nps&amp;v=7\" \
                    style=\"display:block;padding:10px 14px;border:2px solid #1d4ed8;\
                    border-radius:6px;color:#1d4ed8;\">Šarūnas čćž ĄĘĖ 7</a>";
        [
            "Pozdravljeni \u{E000}n\u{E001},",
            long,
            "a=b trailing ",
            "Kaip Jums sekasi iki šiol? Děkujeme, že jste si našli čas. "
                .repeat(3)
                .as_str(),
            "\u{E000}t\u{E001}\u{E000}n\u{E001}\u{E000}t\u{E001}",
            "",
            "end \u{E000}n\u{E001}",
        ]
        .join("\r\n")
    }

    fn tokens() -> Vec<String> {
        (0..90)
            .step_by(7)
            .map(|n| "Ab9-_.".chars().cycle().take(n).collect())
            .collect()
    }

    const NAMES: [&str; 7] = [
        "",
        "Ana",
        "Person 12",
        "O'Brien & <Co>",
        "Žiga Šarūnas Dvořák",
        "x=y",
        "trailing ",
    ];

    #[test]
    fn spliced_lines_encode_as_the_whole_body_does() {
        for context in [Context::Text, Context::Html] {
            let body = CompiledBody::parse(&body(), context).expect("well-formed sentinels");
            for token in tokens() {
                for name in NAMES {
                    let values = Values {
                        token: &token,
                        name,
                    };
                    let plain = body.plain(&values);
                    let encoded = body.encoded(&values);
                    assert_eq!(
                        String::from_utf8(encoded.clone()).unwrap(),
                        quoted_printable::encode_to_str(&plain),
                        "{values:?}"
                    );
                    let decoded =
                        quoted_printable::decode(&encoded, quoted_printable::ParseMode::Strict);
                    assert_eq!(decoded.unwrap(), plain.as_bytes());
                    assert!(encoded.split(|&b| b == b'\n').all(|l| l.len() <= 77));
                }
            }
        }
    }

    #[test]
    fn html_values_are_escaped_as_the_formatter_escapes() {
        let body = CompiledBody::parse("<p>\u{E000}n\u{E001}</p>", Context::Html).unwrap();
        let values = Values {
            token: "",
            name: "<b>&'\"",
        };
        assert_eq!(body.plain(&values), "<p>&lt;b&gt;&amp;&#39;&quot;</p>");
    }

    #[test]
    fn malformed_sentinels_are_refused() {
        for text in [
            "a \u{E000}",
            "a \u{E000}x\u{E001}",
            "a \u{E001}",
            "\u{E000}t",
        ] {
            assert!(
                CompiledBody::parse(text, Context::Text).is_none(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn values_with_line_breaks_or_sentinels_are_not_spliced() {
        for name in ["a\nb", "a\rb", "\u{E000}n\u{E001}"] {
            assert!(!Values { token: "t", name }.spliceable());
        }
        assert!(
            Values {
                token: "t",
                name: "Žiga"
            }
            .spliceable()
        );
    }
}
