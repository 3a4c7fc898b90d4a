//! `check` must never panic, whatever the file holds: arbitrary bytes, YAML-ish text from a
//! small grammar (maps, sequences, scalars, anchors and aliases, survey-like keys), and the
//! library's own surveys with a line deleted.

use std::path::{Path, PathBuf};

use canvass::model::{Distribution, Survey};
use canvass::schema::SchemaKind;
use canvass::workspace::{Document, Loaded, SurveyEntry, Workspace};
use proptest::prelude::*;

/// Parses, validates, types and checks a survey (and its rules, if given) in memory.
fn check_texts(survey: &str, distribution: Option<&str>, dir: &Path) {
    let survey = Document::parse("survey.yaml", survey)
        .ok()
        .and_then(|doc| typed::<Survey>(doc, SchemaKind::Survey));
    if let Some(loaded) = &survey {
        let _ = canvass::check::check_survey(loaded, "s");
    }
    let distribution = distribution
        .and_then(|text| Document::parse("distribution.yaml", text).ok())
        .and_then(|doc| typed::<Distribution>(doc, SchemaKind::Distribution));
    let ws = Workspace {
        root: dir.to_path_buf(),
        settings: Default::default(),
        settings_doc: None,
        surveys: vec![SurveyEntry {
            folder: "s".into(),
            dir: dir.to_path_buf(),
            survey,
            distribution,
        }],
    };
    let _ = canvass::check::check_loaded(&ws);
}

fn typed<T: serde::de::DeserializeOwned>(doc: Document, kind: SchemaKind) -> Option<Loaded<T>> {
    let (value, _problems) = kind.typed::<T>(&doc);
    value.map(|value| Loaded { doc, value })
}

const KEYS: &[&str] = &[
    "id",
    "version",
    "locales",
    "title",
    "intro",
    "thanks",
    "questions",
    "type",
    "text",
    "required",
    "scale",
    "min",
    "max",
    "labels",
    "when",
    "options",
    "metrics",
    "kind",
    "question",
    "questions",
    "values",
    "weight",
    "survey",
    "rules",
    "channel",
    "audience",
    "file",
    "key",
    "name",
    "placeholders",
    "trigger",
    "field",
    "after",
    "within",
    "cap",
    "once_per",
    "window",
    "days",
    "hours",
    "timezone",
    "email",
    "from",
    "subject",
    "embed",
    "expires",
    "en",
    "sl",
    "0",
    "10",
    "1",
];

const SCALARS: &[&str] = &[
    "s",
    "q",
    "1",
    "0",
    "-3",
    "11",
    "99999999999999999999",
    "1.5",
    "true",
    "null",
    "~",
    "en",
    "sl",
    "en_US",
    "rating",
    "nps",
    "ces",
    "yes_no",
    "choice",
    "text",
    "mean",
    "top_box",
    "weighted",
    "email",
    "link",
    "q <= 6",
    "q == yes",
    "(q > 3 and",
    "7d",
    "0m",
    "25:00-26:00",
    "mon-fri",
    "Mars/Phobos",
    "\"{{ name }}\"",
    "\"{{ nope\"",
    "a@example.com",
    "'č ž ė ų'",
    "\"\\t\"",
    "",
];

/// A YAML-ish tree: rendered in block or flow style, with anchors and aliases.
#[derive(Debug, Clone)]
enum Tree {
    Scalar(&'static str),
    Alias,
    Seq(Vec<Tree>),
    Map(Vec<(&'static str, Tree)>),
    Anchored(Box<Tree>),
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        8 => prop::sample::select(SCALARS).prop_map(Tree::Scalar),
        1 => Just(Tree::Alias),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Tree::Seq),
            prop::collection::vec((prop::sample::select(KEYS), inner.clone()), 0..6)
                .prop_map(Tree::Map),
            inner.prop_map(|t| Tree::Anchored(Box::new(t))),
        ]
    })
}

fn flow(tree: &Tree) -> String {
    match tree {
        Tree::Scalar(s) => (*s).to_string(),
        Tree::Alias => "*a".into(),
        Tree::Anchored(t) => format!("&a {}", flow(t)),
        Tree::Seq(items) => format!(
            "[{}]",
            items.iter().map(flow).collect::<Vec<_>>().join(", ")
        ),
        Tree::Map(pairs) => format!(
            "{{{}}}",
            pairs
                .iter()
                .map(|(k, v)| format!("{k}: {}", flow(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn block(tree: &Tree, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match tree {
        Tree::Map(pairs) if !pairs.is_empty() => {
            for (k, v) in pairs {
                out.push_str(&format!("{pad}{k}:"));
                nested(v, indent, out);
            }
        }
        Tree::Seq(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&format!("{pad}-"));
                nested(item, indent, out);
            }
        }
        other => out.push_str(&format!("{pad}{}\n", flow(other))),
    }
}

fn nested(tree: &Tree, indent: usize, out: &mut String) {
    match tree {
        Tree::Map(p) if !p.is_empty() => {
            out.push('\n');
            block(tree, indent + 2, out);
        }
        Tree::Seq(s) if !s.is_empty() => {
            out.push('\n');
            block(tree, indent + 2, out);
        }
        other => out.push_str(&format!(" {}\n", flow(other))),
    }
}

fn render(tree: &Tree) -> String {
    let mut out = String::new();
    block(tree, 0, &mut out);
    out
}

/// Survey-shaped maps, so that generation reaches the meaning checks and not only the schema.
fn survey_like() -> impl Strategy<Value = String> {
    (tree(), tree(), tree()).prop_map(|(question, metric, extra)| {
        format!(
            "id: s\nversion: 1\nlocales: [en, sl]\ntitle: {{ en: T, sl: T }}\nquestions:\n  - id: q\n    type: nps\n    text: Q\n  - {}\nmetrics:\n  - {}\nintro: {}\n",
            flow(&question),
            flow(&metric),
            flow(&extra)
        )
    })
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        check_texts(&text, Some(&text), &repo());
    }

    #[test]
    fn yaml_ish_trees_never_panic(tree in tree()) {
        let text = render(&tree);
        check_texts(&text, Some(&text), &repo());
        let text = flow(&tree);
        check_texts(&text, Some(&text), &repo());
    }

    #[test]
    fn survey_like_files_never_panic(text in survey_like()) {
        check_texts(&text, None, &repo());
    }
}

/// Every library and example survey with each of its lines deleted in turn.
#[test]
fn surveys_with_a_line_deleted_never_panic() {
    let mut folders: Vec<PathBuf> = ["surveys", "examples/acme/surveys"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(repo().join(dir)).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    folders.sort();
    assert!(folders.len() >= 12);
    for folder in folders {
        let survey = std::fs::read_to_string(folder.join("survey.yaml")).unwrap();
        let distribution = std::fs::read_to_string(folder.join("distribution.yaml")).ok();
        for (i, text) in without_each_line(&survey).iter().enumerate() {
            check_texts(text, distribution.as_deref(), &folder);
            if let Some(rules) = &distribution
                && let Some(mutated) = without_each_line(rules).get(i)
            {
                check_texts(&survey, Some(mutated), &folder);
            }
        }
    }
}

fn without_each_line(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    (0..lines.len())
        .map(|skip| {
            lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, l)| format!("{l}\n"))
                .collect()
        })
        .collect()
}
