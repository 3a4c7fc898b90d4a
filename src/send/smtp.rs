//! The SMTP transport: the URL read from the environment, secure unless told otherwise,
//! and the server's replies classified (and stripped of addresses before anyone logs them).

use std::time::Duration;

use lettre::Transport as _;
use lettre::transport::smtp::PoolConfig;

use super::pool::Pool;
use super::{Dkim, Outgoing, Reply, SMTP_URL_ENV, SendError, Transport, env_value};

/// How canvass uses an SMTP server: how many connections at once, and how long it waits
/// for an answer at each step before it counts the step as timed out.
#[derive(Debug, Clone, Copy)]
pub struct SmtpLimits {
    /// Connections open at once (the send's workers).
    pub connections: u32,
    /// The wait for each step (connect, each command, the message).
    pub timeout: Duration,
}

impl Default for SmtpLimits {
    fn default() -> Self {
        SmtpLimits {
            connections: 8,
            timeout: Duration::from_secs(30),
        }
    }
}

/// SMTP through lettre, over a pool of connections, with optional DKIM signing.
pub struct Smtp {
    link: Link,
    dkim: Option<Dkim>,
}

/// How messages reach the server.
enum Link {
    /// canvass's pool, on sockets with `TCP_NODELAY` (`smtp://`).
    Pool(Box<Pool>),
    /// lettre's pooled transport, for implicit TLS (`smtps://`).
    Lettre(lettre::SmtpTransport),
}

impl Smtp {
    /// A transport for `url` (see [`SMTP_URL_ENV`]) within `limits`.
    /// `smtp://` means STARTTLS unless `?tls=none` or `?tls=opportunistic` says otherwise.
    pub fn new(url: &str, limits: SmtpLimits, dkim: Option<Dkim>) -> Result<Smtp, SendError> {
        let url = secure_by_default(url)?;
        let link = if url.starts_with("smtp://") {
            Link::Pool(Box::new(Pool::new(&url, limits)?))
        } else {
            let builder = lettre::SmtpTransport::from_url(&url)
                .map_err(|e| SendError::Smtp(e.to_string()))?;
            Link::Lettre(
                builder
                    .timeout(Some(limits.timeout))
                    .pool_config(PoolConfig::new().max_size(limits.connections.max(1)))
                    .build(),
            )
        };
        Ok(Smtp { link, dkim })
    }

    /// The transport of `CANVASS_SMTP_URL` and the DKIM variables, `None` when unset.
    pub fn from_env(limits: SmtpLimits) -> Result<Option<Smtp>, SendError> {
        let Some(url) = env_value(SMTP_URL_ENV) else {
            return Ok(None);
        };
        Smtp::new(&url, limits, Dkim::from_env()?).map(Some)
    }
}

/// Rewrites canvass's URL conventions into lettre's: STARTTLS unless told otherwise.
/// A URL that does not parse is left as it is, for the transport to refuse with its reason.
fn secure_by_default(text: &str) -> Result<String, SendError> {
    let Ok(mut url) = url::Url::parse(text) else {
        return Ok(text.to_string());
    };
    if url.scheme() != "smtp" {
        return Ok(text.to_string());
    }
    let (tls, kept): (Vec<_>, Vec<_>) = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .partition(|(k, _)| k == "tls");
    let tls = match tls.first().map(|(_, v)| v.as_str()) {
        None | Some("required" | "starttls") => Some("required"),
        Some("opportunistic") => Some("opportunistic"),
        Some("none" | "off" | "false") => None,
        Some(other) => {
            return Err(SendError::Smtp(format!(
                "`tls={other}` is not one of required, opportunistic, none"
            )));
        }
    };
    url.set_query(None);
    if !kept.is_empty() || tls.is_some() {
        let mut pairs = url.query_pairs_mut();
        pairs.extend_pairs(&kept);
        pairs.extend_pairs(tls.map(|tls| ("tls", tls)));
    }
    Ok(url.into())
}

impl Transport for Smtp {
    fn deliver(&self, message: Outgoing) -> Reply {
        let Outgoing::Email(mut message) = message else {
            return Reply::Permanent {
                reply: "an SMTP server takes e-mails only".into(),
                bounced: false,
            };
        };
        if let Some(dkim) = &self.dkim {
            dkim.sign(&mut message);
        }
        let reply = match &self.link {
            Link::Pool(pool) => pool.deliver(message.envelope(), &message.formatted()),
            Link::Lettre(transport) => match transport.send(&message) {
                Ok(response) => {
                    Reply::Accepted(smtp_words(response.code().to_string(), response.message()))
                }
                Err(e) => classify_smtp_error(&e),
            },
        };
        reply.redacted()
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn halted(&self) -> Option<String> {
        match &self.link {
            Link::Pool(pool) => pool.halted(),
            Link::Lettre(_) => None,
        }
    }
}

pub(super) fn smtp_words<'a>(code: String, lines: impl Iterator<Item = &'a str>) -> String {
    let mut words = code;
    for line in lines {
        words.push(' ');
        words.push_str(line);
    }
    words
}

/// 4xx and network failures are transient; 5xx are permanent, and a bounce when the
/// enhanced status says the mailbox is unknown (5.1.x).
pub(super) fn classify_smtp_error(error: &lettre::transport::smtp::Error) -> Reply {
    let reply = error.to_string();
    if error.is_permanent() {
        let bounced = reply.contains("5.1.")
            || error
                .status()
                .is_some_and(|c| c.to_string() == "550" && reply.contains("mailbox"));
        Reply::Permanent { reply, bounced }
    } else {
        Reply::Transient(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_are_secure_unless_told_otherwise() {
        let url = |u| secure_by_default(u).unwrap();
        assert_eq!(
            url("smtp://u:p@host:587"),
            "smtp://u:p@host:587?tls=required"
        );
        assert_eq!(url("smtp://host:2525?tls=none"), "smtp://host:2525");
        assert_eq!(url("smtps://host"), "smtps://host");
        assert!(secure_by_default("smtp://host?tls=maybe").is_err());
        assert_eq!(
            url("smtp://host?pool=2&tls=opportunistic&x=a%26b"),
            "smtp://host?pool=2&x=a%26b&tls=opportunistic"
        );
        assert_eq!(url("smtp://p%40ss@host"), "smtp://p%40ss@host?tls=required");
    }
}
