//! Template overrides in a workspace's `templates/`, and their check: each override is
//! compiled and rendered once with sample data, and an error points at its line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{
    Delivery, EmailContext, PageContext, PageTarget, Paper, PrintContext, Recipient, RenderError,
    Renderer, ThanksContext,
};
use crate::answer::{FieldError, Problem};
use crate::diag::{Code, Diagnostic};
use crate::load::{Source, Span};
use crate::model::Survey;
use crate::workspace::display_path;

/// The override files present in `templates/`, each with the built-in name it replaces.
pub fn override_files(root: &Path) -> Vec<(&'static str, PathBuf)> {
    super::TEMPLATES
        .iter()
        .map(|(name, _)| (*name, root.join(super::TEMPLATES_DIR).join(name)))
        .filter(|(_, path)| path.is_file())
        .collect()
}

/// An override's text, read only when it is a regular file inside the workspace (a
/// pull request may add `templates/email.html` as a symlink to a secret) and at most as
/// long as any file canvass loads.
pub fn read_override(root: &Path, path: &Path) -> Result<String, crate::fsutil::FileError> {
    let name = path.strip_prefix(root).unwrap_or(path).to_string_lossy();
    crate::fsutil::Confined::definitions(root).read_in(
        root,
        &name,
        crate::load::MAX_FILE_BYTES as u64,
    )
}

/// How many overrides the workspace has, for `canvass check`'s file count.
pub fn override_count(root: &Path) -> usize {
    override_files(root).len()
}

/// Checks every override in the workspace's `templates/`: a template that does not
/// compile or fails on sample data is an error at its position; a file that overrides
/// nothing is a warning.
pub fn check_overrides(root: &Path) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = override_files(root)
        .into_iter()
        .filter_map(|(name, path)| check_override(root, name, &path))
        .collect();
    let Ok(entries) = std::fs::read_dir(root.join(super::TEMPLATES_DIR)) else {
        return out;
    };
    let names: Vec<&str> = super::TEMPLATES.iter().map(|(name, _)| *name).collect();
    for path in entries.filter_map(Result::ok).map(|e| e.path()) {
        let file = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(file) = file.filter(|f| !f.starts_with('.') && !names.contains(&f.as_str())) {
            let mut d = Diagnostic::file_error(
                display_path(&path),
                Code::W087,
                format!("`{file}` overrides no template, so canvass ignores it"),
            );
            d.severity = crate::diag::Severity::Warning;
            d.help = Some(match crate::schema::suggest(&file, &names) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("the templates are {}", names.join(", ")),
            });
            out.push(d);
        }
    }
    out
}

fn check_override(root: &Path, name: &'static str, path: &Path) -> Option<Diagnostic> {
    let display = display_path(path);
    let text = match read_override(root, path) {
        Ok(text) => text,
        Err(e) => {
            return Some(Diagnostic::file_error(
                display,
                Code::E085,
                format!("cannot read the template: {e}"),
            ));
        }
    };
    let source = Arc::new(Source::new(display, text.clone()));
    let mut renderer = Renderer::builtin();
    let result = renderer
        .set_template(name, text)
        .and_then(|()| render_samples(&renderer));
    match result {
        Ok(()) => None,
        Err(RenderError::Template { source: error, .. }) if error.name() == Some(name) => {
            Some(template_diagnostic(&source, &error))
        }
        Err(other) => Some(Diagnostic::file_error(
            source.name.clone(),
            Code::E086,
            other.to_string(),
        )),
    }
}

fn template_diagnostic(source: &Arc<Source>, error: &minijinja::Error) -> Diagnostic {
    let span = match (error.range(), error.line()) {
        (Some(range), _) => Span {
            start: source.pos_at_offset(range.start),
            end: source.pos_at_offset(range.end),
        },
        (None, Some(line)) => source.line_span(line),
        (None, None) => Span::default(),
    };
    let message = match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    };
    let help = if error.kind() == minijinja::ErrorKind::OutOfFuel {
        format!(
            "one render may run at most {} template instructions; a loop here never ends or is \
             far too large",
            super::TEMPLATE_FUEL
        )
    } else {
        "templates are minijinja (Jinja2) syntax; see the built-in ones in the docs".to_string()
    };
    Diagnostic::error(
        source,
        span,
        Code::E085,
        format!("template error: {message}"),
    )
    .with_help(help)
}

/// Renders every format once with the sample survey and recipient.
fn render_samples(renderer: &Renderer) -> Result<(), RenderError> {
    let survey = sample_survey();
    let recipient = Recipient::sample();
    let base_url = super::DEFAULT_BASE_URL;
    let delivery = Delivery {
        survey: &survey,
        rule: None,
        locale: "en",
        recipient: &recipient,
        base_url,
        token: "SAMPLE.TOKEN",
    };
    renderer.email(&EmailContext {
        delivery,
        unsubscribe_mailto: Some("unsubscribe@example.com"),
        message_id: Some("<sample@example.com>".into()),
        date: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    })?;
    renderer.slack(&delivery)?;
    renderer.teams(&delivery)?;
    renderer.text(&delivery)?;
    let answers = [("rating".to_string(), "2".to_string())].into();
    let errors = [FieldError {
        question: "why".into(),
        message: "a text of at most 10 characters".into(),
        problem: Problem::TooLong(10),
    }];
    renderer.page(&PageContext {
        survey: &survey,
        locale: "en",
        base_url,
        target: PageTarget::Open,
        answers: &answers,
        errors: &errors,
        clicked: false,
    })?;
    renderer.thanks(&ThanksContext {
        survey: &survey,
        locale: "en",
        message: None,
        show_incentive: true,
    })?;
    renderer.print(&PrintContext {
        survey: &survey,
        locale: "en",
        base_url,
        paper: Paper::A4,
    })?;
    let ui = renderer.words().ui("en");
    renderer.notice(&super::NoticeContext {
        lang: "en",
        title: &ui.unsubscribe,
        text: &ui.unsubscribe_text,
        action: Some("/u/SAMPLE.TOKEN"),
        button: &ui.unsubscribe,
    })?;
    Ok(())
}

/// A survey with one question of every type, for checking templates.
pub fn sample_survey() -> Survey {
    serde_json::from_value(serde_json::json!({
        "id": "sample",
        "version": 1,
        "locales": ["en"],
        "title": "How did we do?",
        "intro": "It takes a minute.",
        "questions": [
            {"id": "rating", "type": "rating", "text": "How satisfied are you?", "required": true,
             "scale": {"min": 1, "max": 5, "labels": {"1": "Very unhappy", "5": "Very happy"}}},
            {"id": "why", "type": "text", "text": "What should we do better?", "when": "rating <= 3",
             "help": "Optional."},
            {"id": "nps", "type": "nps", "text": "Would you recommend us?"},
            {"id": "effort", "type": "ces", "text": "It was easy to get help."},
            {"id": "solved", "type": "yes_no", "text": "Was it solved?"},
            {"id": "channel", "type": "choice", "text": "How did you reach us?",
             "options": [{"id": "phone", "text": "Phone"}, {"id": "email", "text": "E-mail"}]}
        ],
        "thanks": "Thank you!",
        "incentive": "Your code: THANKS10"
    }))
    .expect("the sample survey fits the model")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_templates_render_the_sample() {
        render_samples(&Renderer::builtin()).unwrap();
    }

    #[test]
    fn a_broken_override_is_reported_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let templates = dir.path().join(super::super::TEMPLATES_DIR);
        std::fs::create_dir(&templates).unwrap();
        std::fs::write(templates.join("text.txt"), "ok\n{{ s.title | nope }}\n").unwrap();
        std::fs::write(templates.join("txt.txt"), "").unwrap();
        let found = check_overrides(dir.path());
        assert_eq!(found.len(), 2, "{found:?}");
        let error = found.iter().find(|d| d.code == Code::E085).unwrap();
        assert_eq!(error.line(), 2);
        assert!(error.message.contains("nope"), "{}", error.message);
        let warning = found.iter().find(|d| d.code == Code::W087).unwrap();
        assert!(warning.help.as_deref().unwrap().contains("text.txt"));
    }
}
