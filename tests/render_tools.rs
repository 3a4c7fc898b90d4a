//! The rendered outputs checked by the tools of their worlds: the Nu HTML checker,
//! headless Chromium with axe-core (screenshots into the target folder), the official
//! Adaptive Card 1.5 schema and Slack's own Block Kit parser. Each test skips with a note
//! when its tool is missing, and fails instead when `CI` is set.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use canvass::render::{
    Delivery, EmailContext, PageContext, PageTarget, Paper, PrintContext, Recipient, Renderer,
    ThanksContext,
};
use common::{example, fixed_date, fixed_token, require};

const BASE_URL: &str = "https://feedback.acme.example";

/// Every HTML output of two surveys in two locales each, by file name.
fn html_outputs() -> Vec<(String, String)> {
    let renderer = Renderer::builtin();
    let recipient = Recipient::sample();
    let mut out = Vec::new();
    for (id, locale) in [
        ("support-csat", "en"),
        ("support-csat", "sl"),
        ("nps", "cs"),
    ] {
        let (survey, rules) = example(id);
        let token = fixed_token(&survey);
        let context = EmailContext {
            delivery: Delivery {
                survey: &survey,
                rule: rules.first(),
                locale,
                recipient: &recipient,
                base_url: BASE_URL,
                token: &token,
            },
            unsubscribe_mailto: None,
            message_id: None,
            date: fixed_date(),
        };
        let view = renderer.view(&survey, locale);
        let (_, email) = renderer.email_bodies(&context, &view).unwrap();
        out.push((format!("{id}.{locale}.email.html"), email));
        let errors = [canvass::answer::FieldError {
            question: survey.questions[0].id.clone(),
            message: "choose one".into(),
            problem: canvass::answer::Problem::Invalid,
        }];
        for (name, target, errors) in [
            ("page", PageTarget::Token(&token), &[][..]),
            ("open", PageTarget::Open, &errors[..]),
        ] {
            let page = renderer
                .page(&PageContext {
                    survey: &survey,
                    locale,
                    base_url: BASE_URL,
                    target,
                    answers: &BTreeMap::new(),
                    errors,
                    clicked: false,
                })
                .unwrap();
            out.push((format!("{id}.{locale}.{name}.html"), page));
        }
        let print = renderer
            .print(&PrintContext {
                survey: &survey,
                locale,
                base_url: BASE_URL,
                paper: Paper::A4,
            })
            .unwrap();
        out.push((format!("{id}.{locale}.print.html"), print));
        let thanks = renderer
            .thanks(&ThanksContext {
                survey: &survey,
                locale,
                message: None,
                show_incentive: true,
            })
            .unwrap();
        out.push((format!("{id}.{locale}.thanks.html"), thanks));
    }
    out
}

fn write_outputs(dir: &Path) -> Vec<PathBuf> {
    html_outputs()
        .into_iter()
        .map(|(name, html)| {
            let path = dir.join(name);
            std::fs::write(&path, html).unwrap();
            path
        })
        .collect()
}

/// The npm packages (vnu-jar, axe-core, puppeteer-core), installed once into the target
/// folder unless `CANVASS_NODE_MODULES` names a folder that has them.
fn node_modules() -> Option<PathBuf> {
    static MODULES: OnceLock<Option<PathBuf>> = OnceLock::new();
    MODULES
        .get_or_init(|| {
            if let Some(dir) = std::env::var_os("CANVASS_NODE_MODULES") {
                return Some(PathBuf::from(dir));
            }
            let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join("npm");
            let modules = prefix.join("node_modules");
            let wanted = ["vnu-jar", "axe-core", "puppeteer-core"];
            if wanted.iter().all(|m| modules.join(m).is_dir()) {
                return Some(modules);
            }
            let ok = require("npm", &["npm", "--version"])
                && Command::new("npm")
                    .args([
                        "install",
                        "--no-audit",
                        "--no-fund",
                        "--ignore-scripts",
                        "--prefix",
                    ])
                    .arg(&prefix)
                    .args(wanted)
                    .env("PUPPETEER_SKIP_DOWNLOAD", "1")
                    .status()
                    .is_ok_and(|s| s.success());
            ok.then_some(modules)
        })
        .clone()
}

#[test]
fn html_outputs_pass_the_nu_checker() {
    if !require("Java 17", &["java", "-version"]) {
        return;
    }
    let Some(modules) = node_modules() else {
        require("npm install vnu-jar", &["false"]);
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files = write_outputs(dir.path());
    let output = Command::new("java")
        .arg("-jar")
        .arg(modules.join("vnu-jar/build/dist/vnu.jar"))
        .arg("--errors-only")
        .args(&files)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the Nu checker found errors:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn html_outputs_have_no_serious_accessibility_violations() {
    if !require("chromium", &["chromium", "--version"]) || !require("node", &["node", "--version"])
    {
        return;
    }
    let Some(modules) = node_modules() else {
        require("npm install axe-core puppeteer-core", &["false"]);
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files = write_outputs(dir.path());
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("render-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/a11y/axe.cjs");
    let output = Command::new("node")
        .arg(script)
        .arg(&modules)
        .arg(&shots)
        .arg(profile.path())
        .args(&files)
        .output()
        .unwrap();
    common::assert_success(&output);
    let results: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut serious = Vec::new();
    for result in results.as_array().unwrap() {
        let file = result["file"].as_str().unwrap();
        assert!(shots.join(format!("{file}.png")).is_file());
        if file.contains(".page.") || file.contains(".open.") {
            assert_ne!(result["focused"], "BODY", "{file}: Tab reaches a field");
        }
        for v in result["violations"].as_array().unwrap() {
            if matches!(v["impact"].as_str(), Some("serious" | "critical")) {
                serious.push(format!("{file}: {v}"));
            }
        }
    }
    assert!(
        serious.is_empty(),
        "axe-core violations:\n{}",
        serious.join("\n")
    );
}

fn chat_outputs() -> Vec<(serde_json::Value, serde_json::Value)> {
    let renderer = Renderer::builtin();
    let recipient = Recipient::sample();
    let mut out = Vec::new();
    for (id, locale) in [
        ("support-csat", "en"),
        ("nps", "sl"),
        ("support-fcr", "en"),
        ("onboarding", "en"),
    ] {
        let (survey, rules) = example(id);
        let token = fixed_token(&survey);
        let delivery = Delivery {
            survey: &survey,
            rule: rules.first(),
            locale: if survey.locales.iter().any(|l| l == locale) {
                locale
            } else {
                survey.default_locale()
            },
            recipient: &recipient,
            base_url: BASE_URL,
            token: &token,
        };
        out.push((
            renderer.slack(&delivery).unwrap(),
            renderer.teams(&delivery).unwrap(),
        ));
    }
    out
}

#[test]
fn teams_cards_fit_the_adaptive_card_schema() {
    let path = std::env::var("CANVASS_ADAPTIVE_CARD_SCHEMA").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/vendor/adaptive-card-1.5.schema.json"
        )
        .to_string()
    });
    let Ok(text) = std::fs::read_to_string(&path) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "the Adaptive Card schema is missing: {path}"
        );
        eprintln!("note: skipping, the Adaptive Card schema is not at {path}");
        return;
    };
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::draft6::new(&schema).unwrap();
    let broken = serde_json::json!({"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock"}]});
    assert!(
        !validator.is_valid(&broken),
        "the schema catches a TextBlock without text"
    );
    for (_, card) in chat_outputs() {
        let errors: Vec<String> = validator
            .iter_errors(&card)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{card:#}");
        assert_eq!(card["version"], "1.5");
    }
}

#[test]
fn slack_messages_parse_and_keep_the_limits() {
    for (message, _) in chat_outputs() {
        let blocks = message["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 50);
        for block in blocks {
            if block["type"] == "actions" {
                let elements = block["elements"].as_array().unwrap();
                assert!(elements.len() <= 25);
                for button in elements {
                    assert!(button["text"]["text"].as_str().unwrap().chars().count() <= 75);
                }
            }
            if let Some(text) = block["text"]["text"].as_str() {
                assert!(text.chars().count() <= 3000);
            }
        }
    }
    let messages: Vec<serde_json::Value> = chat_outputs().into_iter().map(|(s, _)| s).collect();
    common::assert_slack_parses(&messages);
}
