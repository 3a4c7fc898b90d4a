//! DKIM signing of outgoing e-mail, with the key read and checked once at startup.
//!
//! lettre signs with an RSA key in PKCS#1 PEM or an Ed25519 seed in base64; people have
//! keys in the forms OpenSSL 3 writes (PKCS#8 `BEGIN PRIVATE KEY`, for RSA and Ed25519),
//! so those are converted here, and anything else is refused with the forms it takes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::{HeaderName, HeaderValue};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;

use super::{DKIM_KEY_ENV, DKIM_SELECTOR_ENV, SendError, env_value};

/// The selector when `CANVASS_DKIM_SELECTOR` is unset: the key is published at
/// `canvass._domainkey.<domain>`.
pub const DEFAULT_SELECTOR: &str = "canvass";

/// The headers signed: those a reader sees, those that say how to read the body, and those
/// unsubscribing relies on. `From` is listed twice (oversigned), so a second `From` added
/// on the way breaks the signature.
const SIGNED_HEADERS: [&str; 12] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "From",
];

/// The header lettre writes the signature in.
const SIGNATURE_HEADER: &str = "DKIM-Signature";

/// The length of each piece of a folded signature: a line of 64 within 78.
const SIGNATURE_PIECE: usize = 64;

/// The DER prefix of an Ed25519 private key in PKCS#8 (RFC 8410), before its 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

const EXPECTED: &str = "expected an RSA key in PEM (PKCS#1 `BEGIN RSA PRIVATE KEY` or PKCS#8 \
    `BEGIN PRIVATE KEY`, as `openssl genpkey -algorithm rsa` writes), an Ed25519 key in PKCS#8 \
    PEM (`openssl genpkey -algorithm ed25519`) or its 32-byte seed in base64, given as the \
    key itself or the path of its file";

/// A signing key and selector, with the signing settings of each sender domain.
pub struct Dkim {
    key: String,
    algorithm: DkimSigningAlgorithm,
    selector: String,
    by_domain: Mutex<HashMap<String, Arc<DkimConfig>>>,
}

/// Names the selector only: a key never goes into logs.
impl std::fmt::Debug for Dkim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dkim")
            .field("selector", &self.selector)
            .finish_non_exhaustive()
    }
}

impl Dkim {
    /// The key of `CANVASS_DKIM_KEY` and the selector of `CANVASS_DKIM_SELECTOR`, `None`
    /// when no key is set; an unusable key is an error before anything is sent.
    pub fn from_env() -> Result<Option<Dkim>, SendError> {
        let Some(key) = env_value(DKIM_KEY_ENV) else {
            return Ok(None);
        };
        let selector = env_value(DKIM_SELECTOR_ENV).unwrap_or_else(|| DEFAULT_SELECTOR.into());
        Dkim::new(&key, selector).map(Some)
    }

    /// A key given as its text or the path of its file, in any form [`EXPECTED`] names.
    pub fn new(key: &str, selector: String) -> Result<Dkim, SendError> {
        let text = if key.contains("-----BEGIN") || !Path::new(key).is_file() {
            key.trim().to_string()
        } else {
            std::fs::read_to_string(key)
                .map_err(|e| SendError::Dkim(format!("cannot read {key}: {e}; {EXPECTED}")))?
        };
        let (key, algorithm) = lettre_form(text.trim())
            .ok_or_else(|| SendError::Dkim(format!("not a private key; {EXPECTED}")))?;
        DkimSigningKey::new(&key, algorithm)
            .map_err(|e| SendError::Dkim(format!("{e}; {EXPECTED}")))?;
        Ok(Dkim {
            key,
            algorithm,
            selector,
            by_domain: Mutex::new(HashMap::new()),
        })
    }

    /// Signs a message for the domain of its sender.
    pub fn sign(&self, message: &mut lettre::Message) {
        let domain = message.envelope().from().map(|a| a.domain().to_string());
        if let Some(domain) = domain {
            message.sign(&self.config(&domain));
            fold_signature(message);
        }
    }

    /// The signing settings for a sender domain (made once per domain).
    fn config(&self, domain: &str) -> Arc<DkimConfig> {
        let mut configs = self.by_domain.lock().unwrap_or_else(|e| e.into_inner());
        configs
            .entry(domain.to_string())
            .or_insert_with(|| {
                let key = DkimSigningKey::new(&self.key, self.algorithm)
                    .expect("the key parsed when it was read");
                let relaxed = DkimCanonicalization {
                    header: DkimCanonicalizationType::Relaxed,
                    body: DkimCanonicalizationType::Relaxed,
                };
                Arc::new(DkimConfig::new(
                    self.selector.clone(),
                    domain.to_string(),
                    key,
                    SIGNED_HEADERS.map(HeaderName::new_from_ascii_str).to_vec(),
                    relaxed,
                ))
            })
            .clone()
    }
}

/// The header's `b=` value in pieces of [`SIGNATURE_PIECE`] characters, so that the
/// header folds into short lines: lettre folds between tags but leaves the signature on
/// one line of over 300 characters. Whitespace inside `b=` is ignored by verifiers
/// (RFC 6376, 3.5) and `b=` is empty in what is signed, so nothing a verifier computes
/// changes. `b=` is the last tag lettre writes, after `; `, which base64 never holds.
fn fold_signature(message: &mut lettre::Message) {
    let Some((tags, signature)) = message
        .headers()
        .get_raw(SIGNATURE_HEADER)
        .and_then(|raw| raw.rsplit_once("; b="))
    else {
        return;
    };
    let pieces: Vec<&str> = signature
        .as_bytes()
        .chunks(SIGNATURE_PIECE)
        .filter_map(|piece| std::str::from_utf8(piece).ok())
        .collect();
    let folded = format!("{tags}; b={}", pieces.join(" "));
    message.headers_mut().insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str(SIGNATURE_HEADER),
        folded,
    ));
}

/// The key in the form lettre reads: PKCS#1 PEM for RSA, a base64 seed for Ed25519.
fn lettre_form(text: &str) -> Option<(String, DkimSigningAlgorithm)> {
    if text.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
        return Some((text.to_string(), DkimSigningAlgorithm::Rsa));
    }
    if !text.starts_with("-----BEGIN PRIVATE KEY-----") {
        return Some((text.to_string(), DkimSigningAlgorithm::Ed25519));
    }
    if let Some(seed) = ed25519_seed(text) {
        let seed = base64::engine::general_purpose::STANDARD.encode(seed);
        return Some((seed, DkimSigningAlgorithm::Ed25519));
    }
    let rsa = rsa::RsaPrivateKey::from_pkcs8_pem(text).ok()?;
    let pem = rsa.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).ok()?;
    Some((pem.to_string(), DkimSigningAlgorithm::Rsa))
}

/// The seed of an Ed25519 key in PKCS#8 PEM.
fn ed25519_seed(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .ok()?;
    der.strip_prefix(&ED25519_PKCS8_PREFIX)
        .filter(|seed| seed.len() == 32)
        .map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_is_none_of_the_forms_names_the_variable_and_the_forms() {
        let Err(error) = Dkim::new(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            "s".into(),
        ) else {
            panic!("a broken key was taken");
        };
        let message = error.to_string();
        assert!(message.contains(DKIM_KEY_ENV), "{message}");
        assert!(message.contains("PKCS#8"), "{message}");
    }
}
