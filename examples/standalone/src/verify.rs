//! Checks that a request to `/webhook` came from our gateway object, with the official
//! [Standard Webhooks](https://www.standardwebhooks.com) crate, `standardwebhooks`: the
//! `webhook-signature` over `webhook-id`, `webhook-timestamp` and the raw body, keyed with the
//! `whsec_` secret, and a timestamp at most 5 minutes from now. The secret itself never travels.
//!
//! On `wasm32` the crate reads the clock through `time`'s `wasm-bindgen` feature (see
//! `Cargo.toml`). Tested natively against the gateway's own signer.

use standardwebhooks::Webhook;
pub use standardwebhooks::WebhookError;

/// The request headers a signed delivery is verified with.
pub const SIGNED_HEADERS: [&str; 3] = ["webhook-id", "webhook-timestamp", "webhook-signature"];

/// Accepts the delivery of `body` when its signature and timestamp check out. `header` reads one
/// request header by name.
///
/// # Errors
///
/// The first check that fails (every one is answered with `401`); [`WebhookError::InvalidSecret`]
/// when `secret` is not a `whsec_` secret (a misconfiguration).
pub fn check_delivery(
    secret: &str,
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<(), WebhookError> {
    let mut headers = http::HeaderMap::new();
    for name in SIGNED_HEADERS {
        if let Some(value) = header(name).and_then(|v| http::HeaderValue::from_str(&v).ok()) {
            headers.insert(name, value);
        }
    }
    Webhook::new(secret)?.verify(body, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use discord_gateway_do::delivery::signature::SigningKey;
    use std::time::{SystemTime, UNIX_EPOCH};

    const SECRET: &str = "whsec_ZXhhbXBsZS13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5";
    const BODY: &[u8] = br#"{"type":"GATEWAY_MESSAGE_CREATE","timestamp":1,"data":{}}"#;
    const ID: &str = "0123456789abcdef0123456789abcdef:7";

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// The headers the gateway object sends, signed by its own signer.
    fn signed(id: &str, timestamp: u64, body: &[u8]) -> Vec<(&'static str, String)> {
        let signature = SigningKey::parse(SECRET).unwrap().sign(id, timestamp, body);
        vec![
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ]
    }

    fn check(headers: &[(&str, String)], body: &[u8]) -> Result<(), WebhookError> {
        check_delivery(
            SECRET,
            |name| {
                headers
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.clone())
            },
            body,
        )
    }

    #[test]
    fn the_official_crate_accepts_what_the_gateway_signs() {
        assert!(check(&signed(ID, now(), BODY), BODY).is_ok());
    }

    #[test]
    fn tampering_replays_and_missing_headers_are_refused() {
        let good = signed(ID, now(), BODY);
        assert!(check(&good, b"{}").is_err(), "another body");
        let mut other_id = good.clone();
        other_id[0].1 = "0123456789abcdef0123456789abcdef:8".into();
        assert!(check(&other_id, BODY).is_err(), "replayed under another id");
        assert!(
            check(&signed(ID, now() - 6 * 60, BODY), BODY).is_err(),
            "stale"
        );
        for missing in 0..3 {
            let mut headers = good.clone();
            headers.remove(missing);
            assert!(check(&headers, BODY).is_err(), "without {missing}");
        }
        assert!(matches!(
            check_delivery("not-a-whsec-secret!", |_| None, BODY),
            Err(WebhookError::InvalidSecret(_))
        ));
    }
}
