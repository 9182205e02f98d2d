//! Signed deliveries, as the [Standard Webhooks](https://www.standardwebhooks.com) specification
//! defines them, so that receivers verify with its official libraries:
//!
//! - `webhook-id`: the event id (`<session id>:<sequence>`, the same across retries),
//! - `webhook-timestamp`: when this attempt was signed, in seconds since the epoch,
//! - `webhook-signature`: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`.
//!
//! The key is the secret in its `whsec_<base64>` form, decoded; the secret itself never travels.
//! Signing the id means a captured request cannot be replayed under another id.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Header with the event id the signature covers.
pub const ID_HEADER: &str = "webhook-id";
/// Header with the signing time in seconds since the epoch.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Header with the signature: `v1,<base64>`.
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Decoded key lengths a secret may have, in bytes.
pub const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;
/// The key length of a generated secret, in bytes.
pub const GENERATED_KEY_BYTES: usize = 32;

/// Why a webhook secret is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretError {
    /// The secret does not start with `whsec_`.
    Prefix,
    /// What follows `whsec_` is not standard base64 (with padding).
    Base64,
    /// The decoded key is shorter than 24 or longer than 64 bytes.
    Length(usize),
}

impl std::fmt::Display for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const RULE: &str = "webhookSecret must be a Standard Webhooks secret: \"whsec_\" and the base64 of 24-64 random bytes (make one with: echo \"whsec_$(openssl rand -base64 32)\", or pass \"generate\")";
        match self {
            Self::Prefix => write!(f, "{RULE}; it does not start with \"whsec_\""),
            Self::Base64 => write!(f, "{RULE}; what follows \"whsec_\" is not base64"),
            Self::Length(n) => write!(f, "{RULE}; its key is {n} bytes"),
        }
    }
}

impl std::error::Error for SecretError {}

/// The HMAC key of a webhook secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    key: Vec<u8>,
    legacy: bool,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("legacy", &self.legacy)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Parses a `whsec_<base64>` secret strictly: the rule every new secret must follow.
    pub fn parse(secret: &str) -> Result<Self, SecretError> {
        let encoded = secret
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::Prefix)?;
        let key = STANDARD.decode(encoded).map_err(|_| SecretError::Base64)?;
        if !KEY_BYTES.contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        Ok(Self { key, legacy: false })
    }

    /// The key of a secret from stored settings. A secret stored before signatures followed
    /// Standard Webhooks (16-256 printable characters, not `whsec_`) keeps working: its bytes
    /// are the key, which a receiver passes to its library as `whsec_` + base64 of the old secret.
    pub fn from_stored(secret: &str) -> Self {
        Self::parse(secret).unwrap_or_else(|_| Self {
            key: secret.as_bytes().to_vec(),
            legacy: true,
        })
    }

    /// Whether this key comes from a secret in the old, pre-Standard-Webhooks form.
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }

    /// The `webhook-signature` value of `body` for event `id` signed at `timestamp` (seconds).
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// A new `whsec_` secret made of `key` (draw it from the platform's CSPRNG).
pub fn secret_from_key(key: &[u8; GENERATED_KEY_BYTES]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vector of the official Standard Webhooks libraries.
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;

    #[test]
    fn standard_webhooks_test_vector() {
        let key = SigningKey::parse(SECRET).unwrap();
        assert!(!key.is_legacy());
        assert_eq!(
            key.sign(ID, 1_649_367_553, BODY),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn the_signature_covers_id_timestamp_and_body() {
        let key = SigningKey::parse(SECRET).unwrap();
        let signature = key.sign(ID, 1, BODY);
        assert_ne!(key.sign("another-id", 1, BODY), signature);
        assert_ne!(key.sign(ID, 2, BODY), signature);
        assert_ne!(key.sign(ID, 1, b"{}"), signature);
        let other = SigningKey::parse(&secret_from_key(&[7; 32])).unwrap();
        assert_ne!(other.sign(ID, 1, BODY), signature);
        assert!(!format!("{key:?}").contains("C2FV"));
    }

    #[test]
    fn secrets_are_strict_whsec_base64_of_24_to_64_bytes() {
        let of = |n: usize| format!("whsec_{}", STANDARD.encode(vec![1u8; n]));
        assert!(SigningKey::parse(&of(24)).is_ok());
        assert!(SigningKey::parse(&of(64)).is_ok());
        assert_eq!(SigningKey::parse(&of(23)), Err(SecretError::Length(23)));
        assert_eq!(SigningKey::parse(&of(65)), Err(SecretError::Length(65)));
        assert_eq!(SigningKey::parse("whsec_"), Err(SecretError::Length(0)));
        assert_eq!(
            SigningKey::parse(&of(32)[6..]),
            Err(SecretError::Prefix),
            "base64 without the prefix"
        );
        assert_eq!(
            SigningKey::parse("whsec_not base64 at all!!"),
            Err(SecretError::Base64)
        );
        assert_eq!(
            SigningKey::parse("0123456789abcdef0123456789abcdef"),
            Err(SecretError::Prefix)
        );
        assert!(SecretError::Length(3).to_string().contains("openssl rand"));
    }

    #[test]
    fn generated_secrets_parse_back_to_their_key() {
        let key = [0xA5; GENERATED_KEY_BYTES];
        let secret = secret_from_key(&key);
        assert!(secret.starts_with(SECRET_PREFIX));
        assert_eq!(SigningKey::parse(&secret).unwrap().key, key);
    }

    #[test]
    fn a_stored_legacy_secret_still_signs_with_its_bytes() {
        let old = "an-old-style-secret-0123456789";
        let key = SigningKey::from_stored(old);
        assert!(key.is_legacy());
        // The same signature as the whsec_ form of the old secret, which receivers configure.
        let standard = SigningKey::parse(&format!("whsec_{}", STANDARD.encode(old))).unwrap();
        assert_eq!(key.sign(ID, 5, BODY), standard.sign(ID, 5, BODY));
        assert!(!SigningKey::from_stored(SECRET).is_legacy());
    }
}
