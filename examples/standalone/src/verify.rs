//! Checks that a request to `/webhook` came from our gateway object: the shared secret in
//! `x-discord-gateway-token`, a fresh timestamp, and a valid HMAC signature over the raw body.
//! Pure Rust, tested natively.

use std::fmt;

use discord_gateway_do::auth::constant_time_eq;
use discord_gateway_do::delivery::signature::verify;

/// Deliveries signed further than this from our clock (either way) are refused as replays.
pub const MAX_SKEW_MS: u64 = 5 * 60 * 1_000;

/// The delivery headers this receiver reads, as they arrived.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeliveryHeaders<'a> {
    /// `x-discord-gateway-token`: the webhook secret when one is configured.
    pub token: Option<&'a str>,
    /// `x-discord-gateway-timestamp`: signing time, ms since the epoch.
    pub timestamp: Option<&'a str>,
    /// `x-discord-gateway-signature`: hex HMAC-SHA256 of `timestamp + "." + body`.
    pub signature: Option<&'a str>,
}

/// Why a delivery was refused (every one is answered with `401`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// `x-discord-gateway-token` is missing or is not our secret.
    Token,
    /// The timestamp or signature header is missing.
    MissingSignature,
    /// The timestamp is not a number of milliseconds.
    BadTimestamp,
    /// The timestamp is more than [`MAX_SKEW_MS`] away from `now`.
    Stale,
    /// The signature does not match the body.
    BadSignature,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Token => "missing or wrong x-discord-gateway-token",
            Self::MissingSignature => "missing signature or timestamp header",
            Self::BadTimestamp => "the timestamp is not a number of milliseconds",
            Self::Stale => "the timestamp is more than 5 minutes away from now",
            Self::BadSignature => "the signature does not match the body",
        })
    }
}

/// Accepts the delivery of `body` when every check passes; `now_ms` is our clock.
pub fn check_delivery(
    secret: &str,
    headers: DeliveryHeaders<'_>,
    body: &[u8],
    now_ms: u64,
) -> Result<(), Rejection> {
    let token_ok = headers.token.is_some_and(|token| {
        !secret.is_empty() && constant_time_eq(token.as_bytes(), secret.as_bytes())
    });
    if !token_ok {
        return Err(Rejection::Token);
    }
    let (Some(timestamp), Some(signature)) = (headers.timestamp, headers.signature) else {
        return Err(Rejection::MissingSignature);
    };
    let signed_at: u64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Rejection::BadTimestamp)?;
    if now_ms.abs_diff(signed_at) > MAX_SKEW_MS {
        return Err(Rejection::Stale);
    }
    if !verify(secret, timestamp, body, signature) {
        return Err(Rejection::BadSignature);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use discord_gateway_do::delivery::signature::sign;

    const SECRET: &str = "example-webhook-secret-0123456789";
    const NOW: u64 = 1_700_000_000_000;
    const BODY: &[u8] = br#"{"type":"GATEWAY_MESSAGE_CREATE","timestamp":1,"data":{}}"#;

    fn signed(timestamp: &str, body: &[u8]) -> String {
        sign(SECRET, timestamp, body)
    }

    fn check(
        token: Option<&str>,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), Rejection> {
        check_delivery(
            SECRET,
            DeliveryHeaders {
                token,
                timestamp,
                signature,
            },
            body,
            NOW,
        )
    }

    #[test]
    fn a_signed_delivery_is_accepted() {
        let ts = NOW.to_string();
        assert_eq!(
            check(Some(SECRET), Some(&ts), Some(&signed(&ts, BODY)), BODY),
            Ok(())
        );
        // A little clock skew either way is fine.
        let early = (NOW - MAX_SKEW_MS).to_string();
        assert_eq!(
            check(
                Some(SECRET),
                Some(&early),
                Some(&signed(&early, BODY)),
                BODY
            ),
            Ok(())
        );
        let late = (NOW + 1_000).to_string();
        assert_eq!(
            check(Some(SECRET), Some(&late), Some(&signed(&late, BODY)), BODY),
            Ok(())
        );
    }

    #[test]
    fn every_failure_is_refused() {
        let ts = NOW.to_string();
        let sig = signed(&ts, BODY);
        assert_eq!(
            check(None, Some(&ts), Some(&sig), BODY),
            Err(Rejection::Token)
        );
        assert_eq!(
            check(
                Some("wrong-secret-0123456789abcdef"),
                Some(&ts),
                Some(&sig),
                BODY
            ),
            Err(Rejection::Token)
        );
        assert_eq!(
            check(Some(SECRET), None, Some(&sig), BODY),
            Err(Rejection::MissingSignature)
        );
        assert_eq!(
            check(Some(SECRET), Some(&ts), None, BODY),
            Err(Rejection::MissingSignature)
        );
        assert_eq!(
            check(Some(SECRET), Some("soon"), Some(&sig), BODY),
            Err(Rejection::BadTimestamp)
        );
        let stale = (NOW - MAX_SKEW_MS - 1).to_string();
        assert_eq!(
            check(
                Some(SECRET),
                Some(&stale),
                Some(&signed(&stale, BODY)),
                BODY
            ),
            Err(Rejection::Stale)
        );
        let future = (NOW + MAX_SKEW_MS + 1).to_string();
        assert_eq!(
            check(
                Some(SECRET),
                Some(&future),
                Some(&signed(&future, BODY)),
                BODY
            ),
            Err(Rejection::Stale)
        );
        assert_eq!(
            check(Some(SECRET), Some(&ts), Some(&sig), b"{}"),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            check(Some(SECRET), Some(&ts), Some(&"0".repeat(64)), BODY),
            Err(Rejection::BadSignature)
        );
        // A signature made for another timestamp does not carry over.
        let other = (NOW - 1).to_string();
        assert_eq!(
            check(Some(SECRET), Some(&ts), Some(&signed(&other, BODY)), BODY),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn an_empty_secret_accepts_nothing() {
        let ts = NOW.to_string();
        let sig = sign("", &ts, BODY);
        let headers = DeliveryHeaders {
            token: Some(""),
            timestamp: Some(&ts),
            signature: Some(&sig),
        };
        assert_eq!(
            check_delivery("", headers, BODY, NOW),
            Err(Rejection::Token)
        );
    }
}
