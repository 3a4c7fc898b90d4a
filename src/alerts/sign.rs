//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): the receiver
//! verifies `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the
//! shared `whsec_` secret, using any off-the-shelf library.

use base64::Engine as _;
use hmac::{Hmac, Mac as _};

/// The environment variable holding the signing secret, `whsec_` and base64.
pub const SECRET_ENV: &str = "CANVASS_WEBHOOK_SECRET";

/// Why a secret cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The environment variable is unset or empty.
    #[error("{SECRET_ENV} is not set: set it to the receiver's `whsec_…` signing secret")]
    Missing,
    /// The value is not `whsec_` and base64 of at least 24 bytes.
    #[error(
        "{SECRET_ENV} is not a Standard Webhooks secret: write `whsec_` and the base64 of \
         24 to 64 random bytes"
    )]
    Malformed,
}

/// A signing secret.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    /// Parses `whsec_<base64>`; the bytes must be 24 to 64 long, as the specification
    /// asks.
    pub fn parse(text: &str) -> Result<Secret, SecretError> {
        let encoded = text
            .trim()
            .strip_prefix("whsec_")
            .ok_or(SecretError::Malformed)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::Malformed)?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(SecretError::Malformed);
        }
        Ok(Secret(bytes))
    }

    /// The secret in [`SECRET_ENV`].
    pub fn from_env() -> Result<Secret, SecretError> {
        match std::env::var(SECRET_ENV) {
            Ok(text) if !text.trim().is_empty() => Secret::parse(&text),
            _ => Err(SecretError::Missing),
        }
    }

    /// The `webhook-signature` header's value for one attempt.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &str) -> String {
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(format!("{message_id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        let digest = mac.finalize().into_bytes();
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_specification_example() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn refuses_what_is_not_a_secret() {
        assert_eq!(
            Secret::parse("MfKQ9r8GKYqrTwjU").unwrap_err(),
            SecretError::Malformed
        );
        assert_eq!(
            Secret::parse("whsec_%%%").unwrap_err(),
            SecretError::Malformed
        );
        assert_eq!(
            Secret::parse("whsec_c2hvcnQ=").unwrap_err(),
            SecretError::Malformed
        );
    }
}
