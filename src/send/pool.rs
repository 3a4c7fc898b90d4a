//! A pool of lettre SMTP connections on sockets canvass opens itself, with `TCP_NODELAY`.
//!
//! lettre writes a message and its closing `.` line in two writes. On a socket with Nagle's
//! algorithm on (lettre's own transports), the small second write waits for the server's
//! delayed ACK, about 40 ms, so a connection delivered at most ~25 messages a second.
//! Implicit TLS (`smtps://`) cannot take a socket from outside and keeps lettre's transport.

use std::borrow::Cow;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use tokio::net::TcpStream;

use super::smtp::{classify_smtp_error, smtp_words};
use super::{Reply, SendError, SmtpLimits};

/// An idle connection older than this is probed with `NOOP` before reuse, since servers
/// close idle connections and a message sent into a closed one fails for nothing.
const PROBE_AFTER: Duration = Duration::from_secs(5);

/// Steps timed out in a row, with no answer in between, after which the server counts as
/// stalled and the run stops instead of waiting on it once more for every message.
const TIMEOUTS_TO_HALT: u32 = 3;

/// Whether and how the connection is upgraded with STARTTLS.
enum Starttls {
    Required(TlsParameters),
    Opportunistic(TlsParameters),
    Never,
}

/// Where and how to connect: the parts of an `smtp://` URL.
struct Server {
    host: String,
    port: u16,
    starttls: Starttls,
    credentials: Option<Credentials>,
    hello: ClientId,
}

/// Up to `size` open connections, reused across messages; a broken one is dropped and the
/// next message opens a new one.
pub(super) struct Pool {
    server: Server,
    runtime: tokio::runtime::Runtime,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    size: usize,
    timeout: Duration,
    /// Steps timed out since the server last answered.
    timeouts: AtomicU32,
}

impl Pool {
    /// A pool for a URL in lettre's form (`smtp://user:pass@host:port?tls=required`).
    pub(super) fn new(url: &str, limits: SmtpLimits) -> Result<Pool, SendError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| SendError::Smtp(format!("cannot start the SMTP client: {e}")))?;
        Ok(Pool {
            server: Server::parse(url)?,
            runtime,
            idle: Mutex::new(Vec::new()),
            size: limits.connections.max(1) as usize,
            timeout: limits.timeout,
            timeouts: AtomicU32::new(0),
        })
    }

    /// Why the pool gave up on the server: it stopped answering.
    pub(super) fn halted(&self) -> Option<String> {
        let timeouts = self.timeouts.load(Ordering::Relaxed);
        (timeouts >= TIMEOUTS_TO_HALT).then(|| {
            format!(
                "the SMTP server stopped answering: {timeouts} steps in a row got no answer \
                 within {} s (--smtp-timeout)",
                self.timeout.as_secs_f64()
            )
        })
    }

    /// Sends one message on a pooled connection; callable from many threads at once.
    pub(super) fn deliver(&self, envelope: &Envelope, raw: &[u8]) -> Reply {
        if let Some(why) = self.halted() {
            return Reply::Transient(format!("not handed over: {why}"));
        }
        self.runtime.block_on(async {
            let mut connection = match self.take().await {
                Some(connection) => connection,
                None => match self.timed(self.server.connect()).await {
                    Ok(connection) => connection,
                    Err(reply) => return reply,
                },
            };
            // Up to DATA's 354 nothing has been handed over: a failure is retried as
            // usual. A connection whose step failed or timed out is never pooled again,
            // since its next reply could belong to this message.
            if let Err(reply) = self.timed(begin_data(&mut connection, envelope, raw)).await {
                return reply;
            }
            let result = tokio::time::timeout(self.timeout, connection.message(raw)).await;
            self.count_timeout(result.is_err());
            match result {
                Ok(Ok(response)) => {
                    self.give_back(connection);
                    Reply::Accepted(smtp_words(response.code().to_string(), response.message()))
                }
                // The server answered the final `.` with a refusal: it did not take it.
                Ok(Err(e)) if e.is_transient() || e.is_permanent() => classify_smtp_error(&e),
                // The message went out, and no answer came back: it may have been taken,
                // so it must not be sent again in this run.
                Ok(Err(e)) => Reply::Unknown(format!(
                    "the connection failed after the message was handed over ({e}); it may \
                     have been delivered"
                )),
                Err(_) => Reply::Unknown(format!(
                    "the SMTP server did not answer the message within {} s; it may have \
                     been delivered",
                    self.timeout.as_secs_f64()
                )),
            }
        })
    }

    /// An idle connection that still works, if any.
    async fn take(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let (mut connection, since) = self.lock_idle().pop()?;
            if connection.has_broken() {
                continue;
            }
            if since.elapsed() < PROBE_AFTER
                || tokio::time::timeout(self.timeout, connection.test_connected())
                    .await
                    .unwrap_or(false)
            {
                return Some(connection);
            }
        }
    }

    fn give_back(&self, connection: AsyncSmtpConnection) {
        let mut idle = self.lock_idle();
        if idle.len() < self.size {
            idle.push((connection, Instant::now()));
        }
    }

    /// Runs one SMTP step with the timeout, a timeout being transient.
    async fn timed<T>(&self, step: impl Future<Output = Result<T, Reply>>) -> Result<T, Reply> {
        let result = tokio::time::timeout(self.timeout, step).await;
        self.count_timeout(result.is_err());
        result.unwrap_or_else(|_| {
            Err(Reply::Transient(format!(
                "the SMTP server did not answer within {} s",
                self.timeout.as_secs_f64()
            )))
        })
    }

    /// Counts a step's timeout, or forgets the earlier ones when the server answered.
    fn count_timeout(&self, timed_out: bool) {
        if timed_out {
            self.timeouts.fetch_add(1, Ordering::Relaxed);
        } else {
            self.timeouts.store(0, Ordering::Relaxed);
        }
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<(AsyncSmtpConnection, Instant)>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Pool {
    /// Says goodbye on the idle connections, as lettre's pool does.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut *self.lock_idle());
        self.runtime.block_on(async {
            for (mut connection, _) in idle {
                let _ = tokio::time::timeout(self.timeout, connection.quit()).await;
            }
        });
    }
}

/// MAIL FROM, RCPT TO and DATA, as lettre's `send` does them, up to the server's `354`;
/// the message itself then goes with [`AsyncSmtpConnection::message`], so that a failure
/// before it can be told from one after it.
async fn begin_data(
    connection: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    raw: &[u8],
) -> Result<(), Reply> {
    let refused = |why: &str| Reply::Permanent {
        reply: why.to_string(),
        bounced: false,
    };
    let mut options = Vec::new();
    let addresses = envelope.from().into_iter().chain(envelope.to());
    if addresses.map(ToString::to_string).any(|a| !a.is_ascii()) {
        if !connection
            .server_info()
            .supports_feature(Extension::SmtpUtfEight)
        {
            return Err(refused(
                "the address is not ASCII and the server lacks SMTPUTF8",
            ));
        }
        options.push(MailParameter::SmtpUtfEight);
    }
    if !raw.is_ascii() {
        if !connection
            .server_info()
            .supports_feature(Extension::EightBitMime)
        {
            return Err(refused(
                "the message is 8-bit and the server lacks 8BITMIME",
            ));
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let smtp = |e: lettre::transport::smtp::Error| classify_smtp_error(&e);
    connection
        .command(Mail::new(envelope.from().cloned(), options))
        .await
        .map_err(smtp)?;
    for to in envelope.to() {
        connection
            .command(Rcpt::new(to.clone(), Vec::new()))
            .await
            .map_err(smtp)?;
    }
    connection.command(Data).await.map_err(smtp)?;
    Ok(())
}

impl Server {
    fn parse(url: &str) -> Result<Server, SendError> {
        let bad = |why: String| SendError::Smtp(why);
        let url = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        let host = url
            .host_str()
            .ok_or_else(|| bad("the URL names no host".into()))?
            .to_string();
        let tls = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v);
        let parameters = || TlsParameters::new(host.clone()).map_err(|e| bad(e.to_string()));
        let starttls = match tls.as_deref() {
            Some("required") => Starttls::Required(parameters()?),
            Some("opportunistic") => Starttls::Opportunistic(parameters()?),
            _ => Starttls::Never,
        };
        let default_port = match starttls {
            Starttls::Never => 25,
            _ => 587,
        };
        let credentials = match url.password() {
            Some(password) => Some(Credentials::new(
                percent_decoded(url.username())?,
                percent_decoded(password)?,
            )),
            None => None,
        };
        let hello = match url.path().trim_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(name.to_string()),
        };
        Ok(Server {
            port: url.port().unwrap_or(default_port),
            host,
            starttls,
            credentials,
            hello,
        })
    }

    /// Opens a connection: TCP with `TCP_NODELAY`, EHLO, STARTTLS and AUTH as configured.
    async fn connect(&self) -> Result<AsyncSmtpConnection, Reply> {
        let unreachable = |e: std::io::Error| {
            Reply::Transient(format!(
                "cannot connect to {}:{}: {e}",
                self.host, self.port
            ))
        };
        let socket = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(unreachable)?;
        socket.set_nodelay(true).map_err(unreachable)?;
        let smtp = |e: lettre::transport::smtp::Error| classify_smtp_error(&e);
        let mut connection =
            AsyncSmtpConnection::connect_with_transport(Box::new(socket), &self.hello)
                .await
                .map_err(smtp)?;
        match &self.starttls {
            Starttls::Required(tls) => connection.starttls(tls.clone(), &self.hello).await,
            Starttls::Opportunistic(tls) if connection.can_starttls() => {
                connection.starttls(tls.clone(), &self.hello).await
            }
            _ => Ok(()),
        }
        .map_err(smtp)?;
        if let Some(credentials) = &self.credentials {
            connection
                .auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(smtp)?;
        }
        Ok(connection)
    }
}

fn percent_decoded(text: &str) -> Result<String, SendError> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|e| SendError::Smtp(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_gives_host_port_and_credentials() {
        let server =
            Server::parse("smtp://me%40example.com:p%21ss@mail.example.com?tls=required").unwrap();
        assert_eq!(server.host, "mail.example.com");
        assert_eq!(server.port, 587);
        assert!(matches!(server.starttls, Starttls::Required(_)));
        assert_eq!(
            server.credentials,
            Some(Credentials::new("me@example.com".into(), "p!ss".into()))
        );
        let plain = Server::parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!((plain.port, plain.credentials), (2525, None));
        assert!(matches!(plain.starttls, Starttls::Never));
    }
}
