//! The routes and their handlers.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, FromRequestParts, Path, Query, State as Shared};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use super::pages::{
    HONEYPOT_FIELD, Landing, Notice, SESSION_FIELD, content_security_policy, with_extras,
};
use super::{App, ClientAddr, MAX_BODY, REQUEST_TIMEOUT, Served};
use crate::answer::{Answers, FieldError, is_complete, validate_response};
use crate::render::{PageTarget, RenderError};
use crate::store::{LinkFetch, NewResponse, Segments, Write};
use crate::token::{Claims, TokenError, TokenKind};
use crate::words::FALLBACK;

/// How long an open-link session stays valid.
const OPEN_SESSION_SECS: i64 = 7 * 24 * 3600;
/// The script that confirms a one-click answer from the landing page.
const CONFIRM_JS: &str = include_str!("confirm.js");

/// The router with its limits and headers.
pub fn router(app: App) -> Router {
    let csp = HeaderValue::from_str(&content_security_policy("")).expect("an ASCII header");
    let headers = [
        (header::CONTENT_SECURITY_POLICY, csp),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/assets/confirm.js", get(confirm_script))
        .route("/r/{token}", get(one_click).post(confirm))
        .route("/s/{token}", get(form).post(submit))
        .route("/o/{survey}", get(open_form).post(open_submit))
        .route("/u/{token}", get(unsubscribe_page).post(unsubscribe))
        .fallback(not_found)
        .with_state(app)
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    for (name, value) in headers {
        router = router.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    router
}

/// A one-click link's question and value.
#[derive(Debug, Deserialize)]
struct OneClick {
    q: Option<String>,
    v: Option<String>,
}

/// The open link's `?locale=`: the language of a printed sheet, or of a shared link.
#[derive(Debug, Deserialize)]
struct OpenQuery {
    locale: Option<String>,
}

/// Why a request cannot go on; each has its page.
#[derive(Debug, Clone)]
enum Refused {
    /// A bad signature or a damaged token: 403.
    Forged,
    /// A valid link past its expiry (Unix seconds), with the link's locale when its
    /// survey is still served: 410.
    Expired(i64, Option<String>),
    /// The link's survey is no longer in the workspace: 404.
    Closed,
    /// The store failed: 503.
    NotSaved,
    /// The link made too many requests: 429.
    TooMany,
    /// The link stored its [`super::MAX_STORED_PER_LINK`] answers: 429.
    Saturated,
}

/// The locale of the browser's best language that has words, else English: for pages
/// where no link can be trusted to tell the person's locale.
struct Browser(String);

impl FromRequestParts<App> for Browser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        Ok(Browser(
            app.pages()
                .words()
                .negotiate(accept_language(&parts.headers)),
        ))
    }
}

/// The request's `Accept-Language`, empty when it has none.
fn accept_language(headers: &HeaderMap) -> &str {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The locale of the open link's form: the one the link asks for, else the browser's
/// best among the survey's locales, else the survey's default.
fn open_locale(served: &Served, query: &OpenQuery, headers: &HeaderMap) -> String {
    let locales = &served.survey.locales;
    crate::words::choose_locale(locales, query.locale.as_deref(), accept_language(headers))
        .unwrap_or(served.survey.default_locale())
        .to_string()
}

/// The open link's form as shown: its survey, signed session and locale.
struct OpenForm<'a> {
    served: &'a Served,
    session: &'a str,
    locale: &'a str,
}

/// A verified personal link and what the answer will be checked against and tagged with.
struct Link {
    claims: Claims,
    served: Arc<Served>,
    locale: String,
    segments: Segments,
}

/// `ok` only when the store answers and the writer's last commit succeeded: a server
/// that cannot save answers (a full disk) must be taken out of rotation.
async fn healthz(Shared(app): Shared<App>) -> Response {
    if let Err(why) = app.0.writer.health() {
        let body = format!("answers cannot be saved: {why}\n");
        return (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    }
    match app.read(|store| store.ping()) {
        Ok(()) => "ok\n".into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response(),
    }
}

async fn confirm_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CONFIRM_JS,
    )
        .into_response()
}

async fn not_found(Shared(app): Shared<App>, Browser(locale): Browser) -> Response {
    app.notice(StatusCode::NOT_FOUND, Notice::NotFound, &locale)
}

/// `GET /r/{token}?q=&v=`: records the answer as provisional and shows the rest of the
/// survey, whose script (or form) confirms it.
async fn one_click(
    Shared(app): Shared<App>,
    Browser(browser): Browser,
    Path(token): Path<String>,
    Query(click): Query<OneClick>,
) -> Response {
    let link = match app.link(&token) {
        Ok(link) => link,
        Err(refused) => return app.refused(refused, &browser),
    };
    let survey = &link.served.survey;
    let chosen = click.q.zip(click.v).filter(|(q, v)| {
        survey
            .question(q)
            .is_some_and(|q| q.parse_answer(v).is_ok())
    });
    let earlier = app.counted_raw(&link, true);
    let merged = chosen.as_ref().and_then(|(question, value)| {
        let answers = merged_answers(&link, app.counted_raw(&link, false), question, value);
        answers.contains_key(question).then_some(answers)
    });
    let saved = merged.is_some();
    if let (Some((question, value)), Some(answers)) = (&chosen, merged) {
        let fetch = Write::Fetch(LinkFetch {
            delivery: link.claims.delivery.clone(),
            question: Some(question.clone()),
            value: Some(value.clone()),
        });
        let provisional =
            Write::Response(Box::new(app.response(&link, "oneclick", false, &answers)));
        let (fetched, recorded) = tokio::join!(app.write(fetch), app.write(provisional));
        if let Err(refused) = fetched.and(recorded) {
            return app.refused(refused, &link.locale);
        }
    }
    let landing = Landing {
        survey,
        locale: &link.locale,
        chosen: chosen
            .as_ref()
            .filter(|_| saved)
            .map(|(q, v)| (q.as_str(), v.as_str())),
        earlier: &earlier,
    };
    let html = app.pages().landing(&landing, &token);
    app.page(StatusCode::OK, &link.locale, html)
}

/// `POST /r/{token}` (q, v): the landing page confirms the one-click answer, on top of any
/// answers the person confirmed before.
async fn confirm(
    Shared(app): Shared<App>,
    Browser(browser): Browser,
    Path(token): Path<String>,
    Form(click): Form<OneClick>,
) -> Response {
    let link = match app.link(&token) {
        Ok(link) => link,
        Err(refused) => return app.refused(refused, &browser),
    };
    let Some((question, value)) = click.q.zip(click.v) else {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    };
    let answers = merged_answers(&link, app.counted_raw(&link, false), &question, &value);
    if !answers.contains_key(&question) {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    }
    match app
        .write(Write::Response(Box::new(
            app.response(&link, "oneclick", true, &answers),
        )))
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(refused) => app.refused(refused, &link.locale),
    }
}

/// `GET /s/{token}`: the form, with the answers that count so far.
async fn form(
    Shared(app): Shared<App>,
    Browser(browser): Browser,
    Path(token): Path<String>,
) -> Response {
    let link = match app.link(&token) {
        Ok(link) => link,
        Err(refused) => return app.refused(refused, &browser),
    };
    let answers = app.counted_raw(&link, true);
    let html = app.pages().form(
        &link.served.survey,
        &link.locale,
        PageTarget::Token(&token),
        &answers,
        &[],
    );
    app.page(StatusCode::OK, &link.locale, html)
}

/// `POST /s/{token}`: validates and stores the form, or shows it again with its errors.
async fn submit(
    Shared(app): Shared<App>,
    Browser(browser): Browser,
    Path(token): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let link = match app.link(&token) {
        Ok(link) => link,
        Err(refused) => return app.refused(refused, &browser),
    };
    let raw = answer_fields(fields);
    let survey = &link.served.survey;
    match validate_response(survey, &raw) {
        Err(errors) => {
            let html = app.pages().form(
                survey,
                &link.locale,
                PageTarget::Token(&token),
                &raw,
                &errors,
            );
            app.page(StatusCode::UNPROCESSABLE_ENTITY, &link.locale, html)
        }
        Ok(answers) => {
            let response = app.response(&link, "form", true, &answers);
            app.store_and_thank(response, &link.served, &link.locale)
                .await
        }
    }
}

/// `GET /o/{survey}`: the open link's form, with a signed session so that submitting it
/// twice replaces rather than duplicates.
async fn open_form(
    Shared(app): Shared<App>,
    Browser(browser): Browser,
    Path(id): Path<String>,
    Query(query): Query<OpenQuery>,
    peer: ClientAddr,
    headers: HeaderMap,
) -> Response {
    if !app.allow_client(&peer, &headers) {
        return app.notice(StatusCode::TOO_MANY_REQUESTS, Notice::TooMany, &browser);
    }
    let Some(served) = app.0.current.get(&id).cloned() else {
        return app.notice(StatusCode::NOT_FOUND, Notice::NotFound, &browser);
    };
    let session = app.open_session(&served);
    let locale = open_locale(&served, &query, &headers);
    let form = OpenForm {
        served: &served,
        session: &session,
        locale: &locale,
    };
    app.open_page(&form, &BTreeMap::new(), &[], StatusCode::OK)
}

/// `POST /o/{survey}`: an anonymous answer. A filled honeypot gets the thank-you page and
/// nothing is stored.
async fn open_submit(
    Shared(app): Shared<App>,
    Browser(browser): Browser,
    Path(id): Path<String>,
    Query(query): Query<OpenQuery>,
    peer: ClientAddr,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if !app.allow_client(&peer, &headers) {
        return app.notice(StatusCode::TOO_MANY_REQUESTS, Notice::TooMany, &browser);
    }
    let field = |name: &str| {
        fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let session = field(SESSION_FIELD).unwrap_or_default();
    let claims = match app.claims(&session) {
        Ok(claims) if claims.kind == TokenKind::OpenSession => claims,
        Err(TokenError::Expired(claims)) if claims.kind == TokenKind::OpenSession => {
            return app.refused(Refused::Expired(claims.expires, None), &browser);
        }
        _ => return app.refused(Refused::Forged, &browser),
    };
    if claims.survey != id {
        return app.refused(Refused::Forged, &browser);
    }
    if !app.0.link_limit.allow(claims.delivery.clone()) {
        return app.refused(Refused::TooMany, &browser);
    }
    let Some(served) = app.served(&claims.survey, claims.version) else {
        return app.notice(StatusCode::NOT_FOUND, Notice::NotFound, &browser);
    };
    let locale = open_locale(&served, &query, &headers);
    if field(HONEYPOT_FIELD).is_some_and(|v| !v.is_empty()) {
        return app.page(
            StatusCode::OK,
            &locale,
            app.pages().thanks(&served.survey, &locale, false),
        );
    }
    let raw = answer_fields(fields);
    match validate_response(&served.survey, &raw) {
        Err(errors) => {
            let form = OpenForm {
                served: &served,
                session: &session,
                locale: &locale,
            };
            app.open_page(&form, &raw, &errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Ok(answers) => {
            let link = Link {
                claims,
                locale,
                served,
                segments: Segments::new(),
            };
            let response = app.response(&link, "open", true, &answers);
            app.store_and_thank(response, &link.served, &link.locale)
                .await
        }
    }
}

/// `GET /u/{token}`: asks for confirmation, so that a scanner's fetch unsubscribes no one.
async fn unsubscribe_page(
    Shared(app): Shared<App>,
    Browser(browser): Browser,
    Path(token): Path<String>,
) -> Response {
    let locale = match app.recipient(&token) {
        Ok((_, locale)) => locale,
        Err(refused) => return app.refused(refused, &browser),
    };
    let action = format!("/u/{token}");
    app.notice(StatusCode::OK, Notice::Unsubscribe(&action), &locale)
}

/// `POST /u/{token}`: records the suppression (RFC 8058 one-click, or the page's button).
/// An expired link still unsubscribes.
async fn unsubscribe(
    Shared(app): Shared<App>,
    Browser(browser): Browser,
    Path(token): Path<String>,
) -> Response {
    let (recipient, locale) = match app.recipient(&token) {
        Ok(found) => found,
        Err(refused) => return app.refused(refused, &browser),
    };
    match app.write(Write::Suppress(recipient)).await {
        Ok(()) => app.notice(StatusCode::OK, Notice::Unsubscribed, &locale),
        Err(refused) => app.refused(refused, &locale),
    }
}

impl App {
    fn pages(&self) -> &super::pages::Pages {
        &self.0.pages
    }

    /// Runs a read on one of the read connections.
    fn read<T>(&self, read: impl FnOnce(&crate::store::Store) -> T) -> T {
        let readers = &self.0.readers;
        let free = readers.iter().find_map(|r| r.try_lock().ok());
        let store = free.unwrap_or_else(|| {
            readers[0]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        });
        // A server database's client blocks on the network: off the reactor, so that the
        // other requests go on meanwhile.
        match *store {
            crate::store::Store::Postgres(_) => tokio::task::block_in_place(|| read(&store)),
            crate::store::Store::Sqlite(_) => read(&store),
        }
    }

    /// Whether the open link's client (its address group) may make one more request.
    fn allow_client(&self, peer: &ClientAddr, headers: &HeaderMap) -> bool {
        let client = self.0.clients.client(peer.0.ip(), headers);
        self.0.open_limit.allow(client)
    }

    /// Writes durably; an answer only while its link has stored fewer than
    /// [`super::MAX_STORED_PER_LINK`].
    async fn write(&self, write: Write) -> Result<(), Refused> {
        if let Write::Response(response) = &write {
            let stored = self
                .read(|store| store.responses_stored(&response.survey, &response.response_key))
                .map_err(|_| Refused::NotSaved)?;
            if stored >= super::MAX_STORED_PER_LINK {
                return Err(Refused::Saturated);
            }
        }
        self.0
            .writer
            .write(write)
            .await
            .map_err(|_| Refused::NotSaved)
    }

    /// The survey version to validate an answer given on `version` against: that version's
    /// definition when known, else the current one (the answer keeps the token's version).
    fn served(&self, survey: &str, version: u32) -> Option<Arc<Served>> {
        let current = self.0.current.get(survey)?;
        if current.survey.version == version {
            return Some(Arc::clone(current));
        }
        let earlier = self.0.earlier.get(&(survey.to_string(), version));
        Some(Arc::clone(earlier.unwrap_or(current)))
    }

    /// Verifies a personal link: 403 for a forged one, 410 for an expired one.
    fn link(&self, token: &str) -> Result<Link, Refused> {
        let claims = match self.claims(token) {
            Ok(claims) if claims.kind == TokenKind::Delivery => claims,
            Err(TokenError::Expired(claims)) if claims.kind == TokenKind::Delivery => {
                return Err(Refused::Expired(claims.expires, self.locale(&claims)));
            }
            _ => return Err(Refused::Forged),
        };
        if !self.0.link_limit.allow(claims.delivery.clone()) {
            return Err(Refused::TooMany);
        }
        let served = self
            .served(&claims.survey, claims.version)
            .ok_or(Refused::Closed)?;
        let context = self
            .read(|store| store.delivery_context(&claims.delivery))
            .ok()
            .flatten();
        let locale = delivery_locale(context.as_ref(), &served);
        let segments = context
            .and_then(|c| serde_json::from_str(&c.segments).ok())
            .unwrap_or_default();
        Ok(Link {
            claims,
            served,
            locale,
            segments,
        })
    }

    /// The locale a verified link was sent in: its delivery's, else its survey's default;
    /// `None` when its survey is no longer served.
    fn locale(&self, claims: &Claims) -> Option<String> {
        let served = self.served(&claims.survey, claims.version)?;
        let context = self
            .read(|store| store.delivery_context(&claims.delivery))
            .ok()
            .flatten();
        Some(delivery_locale(context.as_ref(), &served))
    }

    /// The recipient key of an unsubscribe link and the locale to answer in; expiry does
    /// not matter here.
    fn recipient(&self, token: &str) -> Result<(String, String), Refused> {
        let (claims, by_previous) = match self.verify(token) {
            Ok(verified) => verified,
            Err((TokenError::Expired(claims), by_previous)) => (*claims, by_previous),
            Err(_) => return Err(Refused::Forged),
        };
        if claims.kind != TokenKind::Delivery || claims.recipient.is_empty() {
            return Err(Refused::Forged);
        }
        if !self.0.link_limit.allow(claims.delivery.clone()) {
            return Err(Refused::TooMany);
        }
        let locale = self.locale(&claims).unwrap_or_else(|| FALLBACK.to_string());
        if !by_previous {
            return Ok((claims.recipient, locale));
        }
        // The link's recipient key is under the old key; the ledger holds the re-keyed one.
        let recipient = self
            .read(|store| store.delivery_recipient(&claims.delivery))
            .map_err(|_| Refused::NotSaved)?
            .ok_or(Refused::Forged)?;
        Ok((recipient, locale))
    }

    /// A token's claims, whichever key signed it.
    fn claims(&self, token: &str) -> Result<Claims, TokenError> {
        self.verify(token)
            .map(|(claims, _)| claims)
            .map_err(|(error, _)| error)
    }

    /// Verifies a token under the workspace key, or under the key before the last
    /// rotation while its links are out; says which.
    fn verify(&self, token: &str) -> Result<(Claims, bool), (TokenError, bool)> {
        let current = self.0.key.verify(token, now());
        match (&current, &self.0.previous_key) {
            (Err(TokenError::BadSignature), Some(previous)) => previous
                .verify(token, now())
                .map(|claims| (claims, true))
                .map_err(|e| (e, true)),
            _ => current
                .map(|claims| (claims, false))
                .map_err(|e| (e, false)),
        }
    }

    /// The answers that count for a link as form values; provisional ones only if asked.
    fn counted_raw(&self, link: &Link, with_provisional: bool) -> BTreeMap<String, String> {
        let counted = self
            .read(|store| store.counted_response(&link.claims.survey, &link.claims.delivery))
            .ok()
            .flatten()
            .filter(|c| c.confirmed || with_provisional);
        counted
            .map(|c| {
                c.answers
                    .into_iter()
                    .map(|(q, v)| (q, raw_value(&v)))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn response(
        &self,
        link: &Link,
        source: &str,
        confirmed: bool,
        answers: &Answers,
    ) -> NewResponse {
        let channel = self
            .0
            .channels
            .get(&(link.claims.survey.clone(), link.claims.rule.clone()))
            .copied()
            .unwrap_or(if source == "open" { "link" } else { "email" });
        NewResponse {
            survey: link.claims.survey.clone(),
            version: link.claims.version,
            definition_hash: link.served.hash.clone(),
            response_key: link.claims.delivery.clone(),
            channel: channel.to_string(),
            source: source.to_string(),
            rule: (source != "open").then(|| link.claims.rule.clone()),
            locale: Some(link.locale.clone()),
            submitted_at: crate::store::now_rfc3339(),
            confirmed,
            complete: is_complete(&link.served.survey, answers),
            answers: answers.clone(),
            segments: link.segments.clone(),
        }
    }

    async fn store_and_thank(
        &self,
        response: NewResponse,
        served: &Served,
        locale: &str,
    ) -> Response {
        let complete = response.complete;
        match self.write(Write::Response(Box::new(response))).await {
            Ok(()) => self.page(
                StatusCode::OK,
                locale,
                self.pages().thanks(&served.survey, locale, complete),
            ),
            Err(refused) => self.refused(refused, locale),
        }
    }

    /// A new signed open-link session: a random response key for one anonymous answer.
    fn open_session(&self, served: &Served) -> String {
        self.0.key.sign(&Claims::open_session(
            &served.survey,
            format!("open-{}", crate::token::random_hex::<16>()),
            now() + OPEN_SESSION_SECS,
        ))
    }

    fn open_page(
        &self,
        form: &OpenForm,
        answers: &BTreeMap<String, String>,
        errors: &[FieldError],
        status: StatusCode,
    ) -> Response {
        let html = self.pages().form(
            &form.served.survey,
            form.locale,
            PageTarget::Open,
            answers,
            errors,
        );
        self.page(
            status,
            form.locale,
            html.map(|html| with_extras(html, &[(SESSION_FIELD, form.session)], None)),
        )
    }

    fn notice(&self, status: StatusCode, notice: Notice<'_>, locale: &str) -> Response {
        let html = self.pages().notice(notice, locale);
        let mut response = self.page(status, locale, Ok(html));
        if matches!(notice, Notice::TooMany) {
            response.headers_mut().insert(
                HeaderName::from_static("retry-after"),
                HeaderValue::from_static("60"),
            );
        }
        response
    }

    /// An HTML page with a Content-Security-Policy that admits its own inline scripts; a
    /// template that fails to render (a broken override) gets a plain error page in
    /// `locale`.
    fn page(
        &self,
        status: StatusCode,
        locale: &str,
        html: Result<String, RenderError>,
    ) -> Response {
        let Ok(html) = html else {
            return self.notice(
                StatusCode::INTERNAL_SERVER_ERROR,
                Notice::Unavailable,
                locale,
            );
        };
        let csp = HeaderValue::from_str(&content_security_policy(&html));
        let mut response = (status, Html(html)).into_response();
        if let Ok(csp) = csp {
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        response
    }

    /// The page for a request that cannot go on, in `locale` unless the refusal knows the
    /// link's.
    fn refused(&self, refused: Refused, locale: &str) -> Response {
        let (status, notice, link) = match refused {
            Refused::Forged => (StatusCode::FORBIDDEN, Notice::Forged, None),
            Refused::Expired(expires, link) => (StatusCode::GONE, Notice::Expired(expires), link),
            Refused::Closed => (StatusCode::NOT_FOUND, Notice::Closed, None),
            Refused::NotSaved => (StatusCode::SERVICE_UNAVAILABLE, Notice::NotSaved, None),
            Refused::TooMany => (StatusCode::TOO_MANY_REQUESTS, Notice::TooMany, None),
            Refused::Saturated => (StatusCode::TOO_MANY_REQUESTS, Notice::Saturated, None),
        };
        self.notice(status, notice, link.as_deref().unwrap_or(locale))
    }
}

/// The locale of a delivery when its survey still has it, else the survey's default.
fn delivery_locale(context: Option<&crate::store::DeliveryContext>, served: &Served) -> String {
    context
        .map(|c| c.locale.clone())
        .filter(|l| served.survey.locales.contains(l))
        .unwrap_or_else(|| served.survey.default_locale().to_string())
}

/// The answer of a single one-click question, typed (the link's value was checked).
/// A one-click answer on top of the answers that count for its delivery: the comment
/// given before stays, the answers the new value makes moot go, and a click on a question
/// that does not apply is no answer at all.
fn merged_answers(
    link: &Link,
    mut raw: BTreeMap<String, String>,
    question: &str,
    value: &str,
) -> Answers {
    raw.insert(question.to_string(), value.to_string());
    let validator = crate::answer::Validator::new(&link.served.survey);
    validator
        .partial(|id| raw.get(id).map(String::as_str))
        .answers
}

/// The form fields that are answers: not the session, not the honeypot; the last value of
/// a repeated field wins.
fn answer_fields(fields: Vec<(String, String)>) -> BTreeMap<String, String> {
    fields
        .into_iter()
        .filter(|(name, _)| name != SESSION_FIELD && name != HONEYPOT_FIELD)
        .collect()
}

/// A stored JSON value as the text a form field holds.
fn raw_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}
