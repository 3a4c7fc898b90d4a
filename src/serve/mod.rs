//! `canvass serve`: the HTTP server that collects answers from every online channel.
//!
//! - `GET /r/{token}?q=Q&v=V`: a one-click button from an e-mail or chat card. Mail
//!   security scanners fetch every link of a message, so this records the answer only as
//!   *provisional* and shows the rest of the survey; the page confirms it with a POST (a
//!   script on load, or the form itself). A provisional answer never displaces a
//!   confirmed one, and messages whose links were all fetched within seconds are flagged.
//! - `GET`/`POST /s/{token}`: the web form, validated on the server.
//! - `GET`/`POST /o/{survey}`: the anonymous open link, rate-limited per client (behind a
//!   trusted proxy, the address it forwards; IPv6 by /64), with a honeypot field.
//! - `GET`/`POST /u/{token}`: unsubscribe (RFC 8058 one-click on POST).
//! - `GET /healthz`.
//!
//! Every link is limited too: [`LINK_BURST`] requests at once, then [`LINK_PER_MINUTE`]
//! a minute, and at most [`MAX_STORED_PER_LINK`] stored answers (each change is one).
//!
//! Every answer is committed (see [`writer`]) before the response is sent, with the alerts
//! and webhook events it raises; a background thread delivers them ([`crate::alerts`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

use crate::diag;
use crate::model::Survey;
use crate::store::{Store, StoreError};
use crate::token::Key;
use crate::workspace::Workspace;

mod client;
mod limit;
mod pages;
mod routes;
pub mod writer;

pub use client::ClientResolver;
pub use limit::RateLimiter;

/// Requests one link (a personal token or an open session) may make at once: a person
/// answering, correcting and changing their mind stays far below it.
pub const LINK_BURST: u32 = 30;
/// Requests a link may make each minute once its burst is spent.
pub const LINK_PER_MINUTE: u32 = 2;
/// Answers stored for one link, each change counting once; later ones are refused and the
/// last stored answers keep counting.
pub const MAX_STORED_PER_LINK: u64 = 20;

/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request may take, body included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// The largest request body accepted (a form with long free-text answers fits easily).
const MAX_BODY: usize = 64 * 1024;
/// The most connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 4096;
/// Read connections kept open beside the writer's.
const READERS: usize = 4;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The workspace has errors that `canvass check` shows.
    #[error("the workspace has {0} error(s); run `canvass check` and fix them before serving")]
    Invalid(usize),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A template override does not compile.
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    /// `CANVASS_PREVIOUS_KEY` is not the key the store had before its rotation.
    #[error(
        "CANVASS_PREVIOUS_KEY is not the key this store had before its last rotation; \
         unset it, or set the key that `canvass key rotate` moved the store from"
    )]
    NotPreviousKey,
    /// The network or a thread failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The limits of the anonymous open link.
#[derive(Debug, Clone, Copy)]
pub struct OpenLinkLimit {
    /// Requests a client may make at once.
    pub burst: u32,
    /// Requests a client may make per minute after the burst.
    pub per_minute: u32,
}

impl Default for OpenLinkLimit {
    fn default() -> Self {
        OpenLinkLimit {
            burst: 20,
            per_minute: 30,
        }
    }
}

/// How the server is reached and limited.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The open link's per-client limits.
    pub open_link: OpenLinkLimit,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`serve --trust-proxy`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The key before the last rotation (`CANVASS_PREVIOUS_KEY`): links it signed stay
    /// valid until they expire.
    pub previous_key: Option<Key>,
    /// When refused alerts and webhook events are tried again.
    pub alert_retry: crate::alerts::Retry,
}

/// A survey version that answers can be validated against.
#[derive(Debug)]
struct Served {
    survey: Survey,
    hash: String,
}

/// Everything a request needs; shared by all connections.
struct State {
    key: Key,
    /// The current version of each survey, by id.
    current: HashMap<String, Arc<Served>>,
    /// Earlier versions recorded in the store, by (id, version).
    earlier: HashMap<(String, u32), Arc<Served>>,
    /// The channel of each (survey, rule).
    channels: HashMap<(String, String), &'static str>,
    writer: writer::Writer,
    readers: Vec<std::sync::Mutex<Store>>,
    open_limit: RateLimiter<std::net::IpAddr>,
    link_limit: RateLimiter<String>,
    clients: ClientResolver,
    previous_key: Option<Key>,
    pages: pages::Pages,
}

/// The server, ready to run on a listener.
#[derive(Clone)]
pub struct App(Arc<State>);

impl App {
    /// Loads and checks the workspace, opens its store and records the survey definitions
    /// being served, so that answers given on them can be validated after they change.
    pub fn open(root: &Path, key: Key, options: ServeOptions) -> Result<App, ServeError> {
        let (ws, mut problems) = Workspace::load(root);
        problems.extend(crate::check::check_loaded(&ws));
        let (errors, _) = diag::count(&problems);
        if errors > 0 {
            return Err(ServeError::Invalid(errors));
        }
        let surveys: Vec<&Survey> = ws
            .surveys
            .iter()
            .filter_map(|e| e.survey.as_ref().map(|s| &s.value))
            .collect();
        let state_dir = ws.state_dir();
        let store = Store::open_for_key(&state_dir, &key)?;
        if let Some(previous) = &options.previous_key
            && !store.is_previous_key(previous)?
        {
            return Err(ServeError::NotPreviousKey);
        }
        store.record_definitions(surveys.iter().copied())?;
        let current = surveys
            .iter()
            .map(|s| (s.id.clone(), served(s)))
            .collect::<HashMap<_, _>>();
        let earlier = store
            .definitions()?
            .iter()
            .filter(|s| {
                current
                    .get(&s.id)
                    .is_none_or(|c| c.survey.version != s.version)
            })
            .map(|s| ((s.id.clone(), s.version), served(s)))
            .collect();
        let channels = ws
            .surveys
            .iter()
            .filter_map(|e| Some((e.folder.clone(), e.distribution.as_ref()?)))
            .flat_map(|(id, d)| {
                d.value
                    .rules
                    .iter()
                    .map(move |r| ((id.clone(), r.id.clone()), r.channel.name()))
            })
            .collect();
        let readers = (0..READERS)
            .map(|_| Store::open_in(&state_dir).map(std::sync::Mutex::new))
            .collect::<Result<_, _>>()?;
        let raising = deliver_in_background(&ws, &key, options.alert_retry)?;
        Ok(App(Arc::new(State {
            key,
            current,
            earlier,
            channels,
            writer: writer::Writer::start(store, raising)?,
            readers,
            open_limit: RateLimiter::new(options.open_link.burst, options.open_link.per_minute),
            link_limit: RateLimiter::new(LINK_BURST, LINK_PER_MINUTE),
            clients: ClientResolver::new(options.trusted_proxies),
            previous_key: options.previous_key,
            pages: pages::Pages::new(crate::render::Renderer::for_workspace(&ws)?),
        })))
    }

    /// Serves connections until the listener fails. Slow clients are cut off, bodies are
    /// capped and every response carries the security headers (see [`routes`]).
    pub async fn run(self, listener: TcpListener) -> Result<(), ServeError> {
        let router = routes::router(self);
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let permit = Arc::clone(&slots)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) if is_transient(&e) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let _ = stream.set_nodelay(true);
            let router = router.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let mut request = request.map(axum::body::Body::new);
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    router.clone().oneshot(request)
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                // A client that hangs up or times out ends only its own connection.
                let _ = connection.await;
                drop(permit);
            });
        }
    }
}

/// Starts the thread that delivers the outbox (alerts raised by earlier runs included),
/// and says what answers raise, if anything.
fn deliver_in_background(
    ws: &Workspace,
    key: &Key,
    retry: crate::alerts::Retry,
) -> Result<Option<writer::Raising>, ServeError> {
    let wake = Arc::new(crate::alerts::Wake::default());
    let deliverer = crate::alerts::Deliverer::new(ws.clone(), key.clone(), retry)?;
    let woken = Arc::clone(&wake);
    std::thread::Builder::new()
        .name("canvass-alerts".into())
        .spawn(move || deliverer.run(&woken))?;
    let alerts = crate::alerts::Alerts::for_workspace(ws);
    Ok((!alerts.is_empty()).then(|| writer::Raising {
        raise: Arc::new(alerts),
        wake,
    }))
}

fn served(survey: &Survey) -> Arc<Served> {
    Arc::new(Served {
        hash: survey.definition_hash(),
        survey: survey.clone(),
    })
}

/// Accept errors that pass (too many open files, a connection reset before accept).
fn is_transient(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || error
        .raw_os_error()
        .is_some_and(|code| code == 23 || code == 24)
}

/// The client's address as the socket reports it.
pub type ClientAddr = axum::extract::ConnectInfo<SocketAddr>;
