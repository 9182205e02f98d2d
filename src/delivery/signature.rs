//! Request signatures: `x-discord-gateway-signature` = hex HMAC-SHA256 of `timestamp + "." + body`,
//! keyed with the webhook secret, next to `x-discord-gateway-timestamp` (ms since epoch).
//!
//! A receiver recomputes the HMAC over the timestamp header, a dot and the raw body bytes,
//! compares in constant time, and rejects timestamps too far from its clock (replays).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::auth::constant_time_eq;

/// Header with the signing time in milliseconds since the epoch.
pub const TIMESTAMP_HEADER: &str = "x-discord-gateway-timestamp";
/// Header with the hex HMAC-SHA256 signature.
pub const SIGNATURE_HEADER: &str = "x-discord-gateway-signature";

fn mac(secret: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature of `body` sent at `timestamp` (the header's text), as lower-case hex.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    hex
}

/// Checks a signature in constant time.
pub fn verify(secret: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    constant_time_eq(
        sign(secret, timestamp, body).as_bytes(),
        signature.trim().as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // printf '1700000000000.{"a":1}' | openssl dgst -sha256 -hmac 'secret-secret-secret'
        assert_eq!(
            sign("secret-secret-secret", "1700000000000", br#"{"a":1}"#),
            "4c3ceffb06b82d8e1b87321227685f059cfb94419b9707137b88bcc097c6a5f5"
        );
    }

    #[test]
    fn verifies_and_detects_tampering() {
        let signature = sign("k".repeat(32).as_str(), "1", b"body");
        assert_eq!(signature.len(), 64);
        assert!(verify(&"k".repeat(32), "1", b"body", &signature));
        assert!(!verify(&"k".repeat(32), "1", b"bodY", &signature));
        assert!(!verify(&"k".repeat(32), "2", b"body", &signature));
        assert!(!verify(&"j".repeat(32), "1", b"body", &signature));
    }
}
