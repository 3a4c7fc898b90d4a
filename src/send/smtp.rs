//! A pool of lettre SMTP connections on sockets canvass opens itself, with `TCP_NODELAY`.
//!
//! lettre writes a message and its closing `.` line in two writes. On a socket with Nagle's
//! algorithm on (lettre's own transports), the small second write waits for the server's
//! delayed ACK, about 40 ms, so a connection delivered at most ~25 messages a second.
//! Implicit TLS (`smtps://`) cannot take a socket from outside and keeps lettre's transport.

use std::borrow::Cow;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;

use super::{Reply, SMTP_TIMEOUT, SendError, classify_smtp_error, smtp_words};

/// An idle connection older than this is probed with `NOOP` before reuse, since servers
/// close idle connections and a message sent into a closed one fails for nothing.
const PROBE_AFTER: Duration = Duration::from_secs(5);

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
}

impl Pool {
    /// A pool for a URL in lettre's form (`smtp://user:pass@host:port?tls=required`).
    pub(super) fn new(url: &str, size: u32) -> Result<Pool, SendError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| SendError::Smtp(format!("cannot start the SMTP client: {e}")))?;
        Ok(Pool {
            server: Server::parse(url)?,
            runtime,
            idle: Mutex::new(Vec::new()),
            size: size.max(1) as usize,
        })
    }

    /// Sends one message on a pooled connection; callable from many threads at once.
    pub(super) fn deliver(&self, envelope: &Envelope, raw: &[u8]) -> Reply {
        self.runtime.block_on(async {
            let mut connection = match self.take().await {
                Some(connection) => connection,
                None => match timed(self.server.connect()).await {
                    Ok(connection) => connection,
                    Err(reply) => return reply,
                },
            };
            let result = timed(async {
                connection
                    .send(envelope, raw)
                    .await
                    .map_err(|e| classify_smtp_error(&e))
            })
            .await;
            if !connection.has_broken() {
                self.give_back(connection);
            }
            match result {
                Ok(response) => {
                    Reply::Accepted(smtp_words(response.code().to_string(), response.message()))
                }
                Err(reply) => reply,
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
                || tokio::time::timeout(SMTP_TIMEOUT, connection.test_connected())
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
                let _ = tokio::time::timeout(SMTP_TIMEOUT, connection.quit()).await;
            }
        });
    }
}

/// Runs one SMTP step with the timeout, a timeout being transient.
async fn timed<T>(step: impl Future<Output = Result<T, Reply>>) -> Result<T, Reply> {
    tokio::time::timeout(SMTP_TIMEOUT, step)
        .await
        .unwrap_or_else(|_| {
            Err(Reply::Transient(format!(
                "the SMTP server did not answer within {} s",
                SMTP_TIMEOUT.as_secs()
            )))
        })
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
