//! Signed response links and keyed recipient hashes.
//!
//! Every delivery carries a token naming the survey, its version, the rule, the recipient's
//! key and an expiry, signed with HMAC-SHA256 under the workspace key. The key comes from
//! the environment (`CANVASS_KEY`), never from a file in the repository; the same key
//! turns addresses into recipient keys, so the store and everything committed hold no
//! address.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The environment variable holding the workspace key.
pub const KEY_ENV: &str = "CANVASS_KEY";
/// The file of the development key, used only when mail goes to the local outbox.
pub const DEV_KEY_FILE: &str = "dev-key";
const MIN_KEY_BYTES: usize = 32;

/// The workspace's secret key, held as an HMAC already keyed with it: each signature or
/// hash clones that state instead of deriving the key pads again.
#[derive(Clone)]
pub struct Key(HmacSha256);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(…)")
    }
}

/// Why a key or a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// No key in the environment.
    #[error(
        "{KEY_ENV} is not set; create a key with `canvass key` (or `openssl rand -base64 32`) \
         and export it as {KEY_ENV}"
    )]
    NoKey,
    /// The key is too short or not base64.
    #[error(
        "{KEY_ENV} must be at least {MIN_KEY_BYTES} random bytes in base64; create one with `canvass key`"
    )]
    WeakKey,
    /// The token is not one canvass wrote.
    #[error("the link is damaged or was not issued by this workspace")]
    Malformed,
    /// The signature does not match: forged or from another workspace.
    #[error("the link's signature is not valid")]
    BadSignature,
    /// The token was valid but has expired.
    #[error("the link expired")]
    Expired(Box<Claims>),
}

impl Key {
    /// The key from `CANVASS_KEY` (base64, standard or URL-safe).
    pub fn from_env() -> Result<Key, TokenError> {
        let text = std::env::var(KEY_ENV).map_err(|_| TokenError::NoKey)?;
        Key::from_base64(&text)
    }

    /// Parses a base64 key of at least 32 bytes.
    pub fn from_base64(text: &str) -> Result<Key, TokenError> {
        let text = text.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| TokenError::WeakKey)?;
        if bytes.len() < MIN_KEY_BYTES {
            return Err(TokenError::WeakKey);
        }
        Ok(Key(
            HmacSha256::new_from_slice(&bytes).expect("HMAC takes any key length")
        ))
    }

    /// The key from the environment, or else a development key kept in the local state
    /// folder (created on first use). Only for runs whose links never reach a real person:
    /// the local outbox, previews and tests.
    pub fn from_env_or_dev(state_dir: &Path) -> std::io::Result<(Key, bool)> {
        if let Ok(key) = Key::from_env() {
            return Ok((key, false));
        }
        if let Ok(key) = Key::dev(state_dir) {
            return Ok((key, true));
        }
        let path = state_dir.join(DEV_KEY_FILE);
        std::fs::create_dir_all(state_dir)?;
        let text = generate();
        crate::fsutil::write_atomic(&path, text.as_bytes())?;
        Ok((
            Key::from_base64(&text).expect("a generated key is valid"),
            true,
        ))
    }

    /// The development key a workspace already has (the outbox's, before a real key).
    pub fn dev(state_dir: &Path) -> std::io::Result<Key> {
        let text = std::fs::read_to_string(state_dir.join(DEV_KEY_FILE))?;
        Key::from_base64(&text).map_err(std::io::Error::other)
    }

    fn mac(&self, domain: &str, data: &[u8]) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// A short public name for the key (a keyed hash of nothing), recorded in the store
    /// so that a store is never used with another key by mistake; it reveals nothing of
    /// the key.
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.mac("fingerprint", b"")[..8])
    }

    /// The recipient key of an address: a keyed hash of the normalised address, so that the
    /// same person is recognised across surveys without the address being stored.
    pub fn recipient(&self, address: &str) -> String {
        let normalised = address.trim().to_lowercase();
        hex::encode(&self.mac("recipient", normalised.as_bytes())[..16])
    }

    /// A deterministic number in [0, 1) for sampling: the same recipient and rule always
    /// get the same number, so a rerun picks the same people.
    pub fn unit_interval(&self, recipient: &str, rule: &str) -> f64 {
        let mac = self.mac("sample", format!("{rule}\0{recipient}").as_bytes());
        let n = u64::from_be_bytes(mac[..8].try_into().expect("8 bytes"));
        (n >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Signs claims into a URL-safe token.
    pub fn sign(&self, claims: &Claims) -> String {
        let payload = claims.encode();
        let signature = self.mac("token", payload.as_bytes());
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    /// Verifies a token's signature and expiry (`now` in Unix seconds).
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let (payload, signature) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.0.clone();
        mac.update(b"token\0");
        mac.update(&payload);
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        let text = String::from_utf8(payload).map_err(|_| TokenError::Malformed)?;
        let claims = Claims::decode(&text).ok_or(TokenError::Malformed)?;
        if claims.expires <= now {
            return Err(TokenError::Expired(Box::new(claims)));
        }
        Ok(claims)
    }
}

/// `N` random bytes in hex: ids that must never repeat (deliveries, open sessions,
/// message ids) and say nothing about who or when.
pub fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    hex::encode(bytes)
}

/// A new random key, base64-encoded, for `canvass key`.
pub fn generate() -> String {
    let mut bytes = [0u8; MIN_KEY_BYTES];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// What a token is for: each route takes one kind only, so a session handed out on the
/// open link (to anyone who asks) can never pass for a personal link, nor unsubscribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A personal link in a message: one delivery's form, one-click answers, unsubscribe.
    Delivery,
    /// An anonymous session of the open link, good for one answer.
    OpenSession,
}

/// What a response link vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The survey id.
    pub survey: String,
    /// The survey version the message was sent with.
    pub version: u32,
    /// The distribution rule.
    pub rule: String,
    /// The recipient key (never the address).
    pub recipient: String,
    /// The delivery's id in the ledger: one response per delivery.
    pub delivery: String,
    /// Expiry, Unix seconds.
    pub expires: i64,
    /// What the token is for.
    pub kind: TokenKind,
}

impl Claims {
    /// The claims of a link in one person's message: its delivery, for its survey and rule.
    pub fn delivery(
        survey: &crate::model::Survey,
        rule: &str,
        recipient: String,
        delivery: String,
        expires: i64,
    ) -> Claims {
        Claims {
            survey: survey.id.clone(),
            version: survey.version,
            rule: rule.to_string(),
            recipient,
            delivery,
            expires,
            kind: TokenKind::Delivery,
        }
    }

    /// The claims of one anonymous answer on a survey's open link.
    pub fn open_session(survey: &crate::model::Survey, delivery: String, expires: i64) -> Claims {
        Claims {
            survey: survey.id.clone(),
            version: survey.version,
            rule: "open".into(),
            recipient: String::new(),
            delivery,
            expires,
            kind: TokenKind::OpenSession,
        }
    }

    /// Delivery tokens keep the first format (`1|…`), so links already sent stay valid;
    /// open sessions are `o1|…`.
    fn encode(&self) -> String {
        let tag = match self.kind {
            TokenKind::Delivery => "1",
            TokenKind::OpenSession => "o1",
        };
        format!(
            "{tag}|{}|{}|{}|{}|{}|{}",
            self.survey, self.version, self.rule, self.recipient, self.delivery, self.expires
        )
    }

    fn decode(text: &str) -> Option<Claims> {
        let mut parts = text.split('|');
        let kind = match parts.next()? {
            "1" => TokenKind::Delivery,
            "o1" => TokenKind::OpenSession,
            _ => return None,
        };
        let mut claims = Claims {
            kind,
            survey: parts.next()?.to_string(),
            version: parts.next()?.parse().ok()?,
            rule: parts.next()?.to_string(),
            recipient: parts.next()?.to_string(),
            delivery: parts.next()?.to_string(),
            expires: parts.next()?.parse().ok()?,
        };
        // Open sessions issued before kinds existed: the `open` rule with no recipient.
        if claims.rule == "open" && claims.recipient.is_empty() {
            claims.kind = TokenKind::OpenSession;
        }
        parts.next().is_none().then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key::from_base64(&generate()).unwrap()
    }

    fn claims() -> Claims {
        Claims {
            survey: "nps".into(),
            version: 2,
            rule: "after-ticket".into(),
            recipient: "abc".into(),
            delivery: "d1".into(),
            expires: 1_000,
            kind: TokenKind::Delivery,
        }
    }

    #[test]
    fn round_trip_and_expiry() {
        let k = key();
        let token = k.sign(&claims());
        assert_eq!(k.verify(&token, 999), Ok(claims()));
        assert!(matches!(
            k.verify(&token, 1_000),
            Err(TokenError::Expired(_))
        ));
    }

    #[test]
    fn the_kind_is_signed_and_old_open_sessions_are_recognised() {
        let k = key();
        let open = Claims {
            kind: TokenKind::OpenSession,
            rule: "open".into(),
            recipient: String::new(),
            ..claims()
        };
        assert_eq!(
            k.verify(&k.sign(&open), 0).unwrap().kind,
            TokenKind::OpenSession
        );
        assert_eq!(
            k.verify(&k.sign(&claims()), 0).unwrap().kind,
            TokenKind::Delivery
        );
        let legacy = Claims {
            kind: TokenKind::Delivery,
            ..open
        };
        assert_eq!(
            k.verify(&k.sign(&legacy), 0).unwrap().kind,
            TokenKind::OpenSession,
            "a session minted as `1|…|open||open-…` before kinds existed"
        );
    }

    #[test]
    fn forgeries_are_refused() {
        let (k, other) = (key(), key());
        let token = k.sign(&claims());
        assert_eq!(other.verify(&token, 0), Err(TokenError::BadSignature));
        let mut tampered = claims();
        tampered.version = 3;
        let forged = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(tampered.encode()),
            token.split_once('.').unwrap().1
        );
        assert_eq!(k.verify(&forged, 0), Err(TokenError::BadSignature));
        assert_eq!(k.verify("garbage", 0), Err(TokenError::Malformed));
    }

    #[test]
    fn recipients_are_normalised_and_keyed() {
        let k = key();
        assert_eq!(
            k.recipient(" Ana@Example.com "),
            k.recipient("ana@example.com")
        );
        assert_ne!(
            k.recipient("ana@example.com"),
            key().recipient("ana@example.com")
        );
        assert!(!k.recipient("ana@example.com").contains("ana"));
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(
            Key::from_base64("c2hvcnQ=").unwrap_err(),
            TokenError::WeakKey
        );
    }
}
