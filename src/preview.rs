//! `canvass preview`: a local web server showing every survey in every format and locale,
//! re-rendered whenever a workspace file changes, with the open browser tab reloading
//! itself. A broken file shows its diagnostics on the page; the server keeps running.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use notify::RecursiveMode;

use crate::render::output::{self, Format, Request};
use crate::render::{Recipient, Renderer, escape_html};
use crate::token::Key;
use crate::workspace::{STATE_DIR, Workspace};

/// How long the watcher waits for a burst of file changes to settle.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// Everything the preview shows, rebuilt after each change.
#[derive(Debug, Default)]
struct Snapshot {
    /// Bumped on every rebuild; the pages poll it to reload.
    version: u64,
    /// The diagnostics of `canvass check` and the template check, as text.
    diagnostics: String,
    /// Rendered files by `survey/locale/format`.
    files: BTreeMap<String, Entry>,
}

#[derive(Debug)]
enum Entry {
    Ok(output::Rendered),
    Failed(String),
}

type Shared = Arc<RwLock<Snapshot>>;

/// Why the preview could not start.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The port is taken, or the network failed.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// The cause.
        source: std::io::Error,
    },
    /// The file watcher could not start.
    #[error("cannot watch the workspace: {0}")]
    Watch(#[from] notify::Error),
    /// The development key could not be read or created.
    #[error("cannot read the development key: {0}")]
    Key(std::io::Error),
}

/// A bound preview server: [`Preview::addr`] to tell the user, [`Preview::run`] to serve.
pub struct Preview {
    listener: tokio::net::TcpListener,
    state: Shared,
    root: PathBuf,
}

impl Preview {
    /// Renders the workspace once and binds `127.0.0.1:port` (0 picks a free port).
    pub async fn bind(root: &Path, port: u16) -> Result<Preview, PreviewError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| PreviewError::Bind { port, source })?;
        let state = Shared::default();
        rebuild(root, &state)?;
        Ok(Preview {
            listener,
            state,
            root: root.to_path_buf(),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the process is stopped, re-rendering on every change.
    pub async fn run(self) -> std::io::Result<()> {
        let _watcher = watch(&self.root, &self.state).map_err(std::io::Error::other)?;
        let app = Router::new()
            .route("/", get(index))
            .route("/version", get(version))
            .route("/view/{survey}/{locale}/{format}", get(view))
            .route("/raw/{survey}/{locale}/{format}", get(raw))
            .with_state(Arc::clone(&self.state));
        axum::serve(self.listener, app).await
    }
}

/// Watches the workspace (not its state folder) and rebuilds after each burst of changes.
fn watch(
    root: &Path,
    state: &Shared,
) -> Result<
    notify_debouncer_full::Debouncer<
        notify::RecommendedWatcher,
        notify_debouncer_full::RecommendedCache,
    >,
    PreviewError,
> {
    let (root_owned, state) = (root.to_path_buf(), Arc::clone(state));
    let state_dir = root.join(STATE_DIR);
    let mut debouncer = notify_debouncer_full::new_debouncer(
        DEBOUNCE,
        None,
        move |result: notify_debouncer_full::DebounceEventResult| {
            let relevant = result.is_ok_and(|events| {
                events
                    .iter()
                    .flat_map(|e| e.paths.iter())
                    .any(|p| !p.starts_with(&state_dir))
            });
            if relevant {
                let _ = rebuild(&root_owned, &state);
            }
        },
    )?;
    debouncer.watch(root, RecursiveMode::Recursive)?;
    Ok(debouncer)
}

/// Re-checks and re-renders everything, then bumps the version.
fn rebuild(root: &Path, state: &Shared) -> Result<(), PreviewError> {
    let (key, _) = Key::from_env_or_dev(&root.join(STATE_DIR)).map_err(PreviewError::Key)?;
    let diagnostics = crate::check::check_workspace(root).diagnostics;
    let (ws, _) = Workspace::load(root);
    let renderer = Renderer::for_workspace(&ws);
    let recipient = Recipient::sample();
    let mut files = BTreeMap::new();
    for entry in &ws.surveys {
        let Some(survey) = &entry.survey else {
            continue;
        };
        for format in Format::ALL {
            let request = Request {
                survey: &entry.folder,
                format,
                locale: None,
                recipient: &recipient,
            };
            let rendered = match &renderer {
                Ok(renderer) => {
                    output::render(&ws, renderer, &key, &request).map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            for locale in &survey.value.locales {
                let file = format!("{}.{locale}.{}", entry.folder, format.extension());
                let entry_value = match &rendered {
                    Ok(list) => list.iter().find(|r| r.file_name == file).map_or_else(
                        || Entry::Failed("not rendered".into()),
                        |r| Entry::Ok(r.clone()),
                    ),
                    Err(e) => Entry::Failed(e.clone()),
                };
                files.insert(
                    format!("{}/{locale}/{}", entry.folder, format.name()),
                    entry_value,
                );
            }
        }
    }
    let mut snapshot = state.write().unwrap_or_else(|e| e.into_inner());
    snapshot.version += 1;
    snapshot.diagnostics = crate::diag::render_human(&diagnostics, false);
    snapshot.files = files;
    Ok(())
}

async fn version(State(state): State<Shared>) -> String {
    read(&state).version.to_string()
}

async fn index(State(state): State<Shared>) -> Html<String> {
    let snapshot = read(&state);
    let mut body = String::from("<h1>canvass preview</h1>\n");
    if !snapshot.diagnostics.is_empty() {
        let _ = write!(
            body,
            "<h2>Problems</h2>\n<pre class=\"problems\">{}</pre>\n",
            escape_html(&snapshot.diagnostics)
        );
    }
    body.push_str("<table>\n<tr><th scope=\"col\">Survey</th><th scope=\"col\">Locale</th><th scope=\"col\">Formats</th></tr>\n");
    let mut rows: BTreeMap<(&str, &str), Vec<(&str, &Entry)>> = BTreeMap::new();
    for (key, entry) in &snapshot.files {
        let mut parts = key.splitn(3, '/');
        if let (Some(s), Some(l), Some(f)) = (parts.next(), parts.next(), parts.next()) {
            rows.entry((s, l)).or_default().push((f, entry));
        }
    }
    for ((survey, locale), formats) in rows {
        let links: Vec<String> = formats
            .iter()
            .map(|(format, entry)| match entry {
                Entry::Ok(_) => format!(
                    "<a href=\"/view/{survey}/{locale}/{format}\">{format}</a>",
                    survey = escape_html(survey),
                    locale = escape_html(locale)
                ),
                Entry::Failed(e) => {
                    format!(
                        "<span title=\"{}\">{format} (failed)</span>",
                        escape_html(e)
                    )
                }
            })
            .collect();
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(survey),
            escape_html(locale),
            links.join(" · ")
        );
    }
    body.push_str("</table>\n");
    Html(page("canvass preview", &body, snapshot.version))
}

async fn view(
    State(state): State<Shared>,
    UrlPath((survey, locale, format)): UrlPath<(String, String, String)>,
) -> Response {
    let snapshot = read(&state);
    let key = format!("{survey}/{locale}/{format}");
    let reload = reload_script(snapshot.version);
    match snapshot.files.get(&key) {
        None => (
            StatusCode::NOT_FOUND,
            Html(page(
                "not found",
                "<p>No such rendering.</p>",
                snapshot.version,
            )),
        )
            .into_response(),
        Some(Entry::Failed(e)) => {
            let body = format!(
                "<h1>{}</h1><pre>{}</pre>",
                escape_html(&key),
                escape_html(e)
            );
            Html(page(&key, &body, snapshot.version)).into_response()
        }
        Some(Entry::Ok(rendered)) => {
            let html = match (format.as_str(), &rendered.html) {
                ("email", Some(html)) => email_view(&key, rendered, html, snapshot.version),
                (_, Some(html)) => html.replacen("</body>", &format!("{reload}</body>"), 1),
                (_, None) => {
                    let text = String::from_utf8_lossy(&rendered.bytes);
                    let body = format!(
                        "<h1>{}</h1><pre>{}</pre>",
                        escape_html(&key),
                        escape_html(&text)
                    );
                    page(&key, &body, snapshot.version)
                }
            };
            Html(html).into_response()
        }
    }
}

/// The e-mail's headers and its HTML part in a frame, with a link to the raw message.
fn email_view(key: &str, rendered: &output::Rendered, html: &str, version: u64) -> String {
    let message = String::from_utf8_lossy(&rendered.bytes);
    let body = format!(
        "<h1>{k}</h1><p><a href=\"/raw/{k}\">Raw message (.eml)</a></p>\
         <pre class=\"headers\">{headers}</pre>\
         <iframe title=\"HTML part\" style=\"width:100%;height:80vh;border:1px solid #999\" srcdoc=\"{html}\"></iframe>",
        k = escape_html(key),
        headers = escape_html(message.split("\r\n\r\n").next().unwrap_or("")),
        html = escape_html(html),
    );
    page(key, &body, version)
}

async fn raw(
    State(state): State<Shared>,
    UrlPath((survey, locale, format)): UrlPath<(String, String, String)>,
) -> Response {
    let snapshot = read(&state);
    match snapshot.files.get(&format!("{survey}/{locale}/{format}")) {
        Some(Entry::Ok(rendered)) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            rendered.bytes.clone(),
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn read(state: &Shared) -> std::sync::RwLockReadGuard<'_, Snapshot> {
    state.read().unwrap_or_else(|e| e.into_inner())
}

fn page(title: &str, body: &str, version: u64) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>body{{font:16px/1.5 system-ui,sans-serif;margin:2rem;}}\
         pre{{white-space:pre-wrap;background:#f3f4f6;padding:1rem;}}\
         td,th{{padding:.25rem .75rem;text-align:left;}}</style></head>\
         <body>\n{body}{}</body></html>\n",
        escape_html(title),
        reload_script(version)
    )
}

/// Polls `/version` and reloads the tab when the workspace was re-rendered.
fn reload_script(version: u64) -> String {
    format!(
        "<script>setInterval(function(){{fetch('/version').then(function(r){{return r.text();}})\
         .then(function(v){{if(v!=='{version}')location.reload();}}).catch(function(){{}});}},1000);</script>"
    )
}
