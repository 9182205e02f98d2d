//! Bearer token checks for the control API (the admin token; pull tokens are read here too).

use std::hint::black_box;

use crate::api::ApiError;
use crate::route_table::Auth;
use crate::subscriptions::bot_of;

/// Compares two byte strings in time that does not depend on their contents.
///
/// Every byte position up to the length of the longer input is visited, whatever the inputs
/// hold, and differences are folded into an accumulator that is inspected only at the end, so
/// the running time reveals neither whether nor where the inputs differ. It does depend on the
/// length of the longer input: an attacker who varies the length of their guess may learn the
/// length of the secret, but nothing about its bytes. Secrets compared this way should be long
/// random tokens, for which the length is no help.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    // Non-zero when the lengths differ; a shorter input is padded with zeros below.
    let mut difference = u64::from(a.len() != b.len());
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        difference |= u64::from(black_box(x ^ y));
    }
    black_box(difference) == 0
}

/// The token of an `Authorization: Bearer <token>` header value, if it has that form: the
/// scheme in any case, then one or more spaces, then the token (no other whitespace).
/// Whitespace around the whole value is ignored.
pub fn bearer_token(authorization_header: Option<&str>) -> Option<&str> {
    let (scheme, token) = authorization_header?.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim_start_matches(' ');
    (!token.is_empty()).then_some(token)
}

/// Whether an `Authorization` header value carries `expected` as a bearer token.
///
/// Accepts what [`bearer_token`] reads, compared with [`constant_time_eq`]. An empty
/// `expected` never matches, so an unset secret cannot be satisfied by an empty token.
pub fn bearer_token_matches(authorization_header: Option<&str>, expected: &str) -> bool {
    !expected.is_empty()
        && bearer_token(authorization_header)
            .is_some_and(|token| constant_time_eq(token.as_bytes(), expected.as_bytes()))
}

/// Who called a route of the Worker entry, once the route's [`Auth`] rule let them in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The admin token (or a public route).
    Admin,
    /// A well-formed pull subscription token; the object checks it against its stored hash.
    Subscription {
        /// The bot the token names (the object to ask).
        bot: String,
        /// The token, passed on to the object.
        token: String,
    },
}

/// Applies a route's rule to its `Authorization` header. `admin_token` is
/// `GATEWAY_ADMIN_TOKEN` (`None` when unset: the admin routes answer `503`). A pull token opens
/// only [`Auth::Subscription`] and [`Auth::AdminOrSubscription`] routes, and the admin token
/// never opens an [`Auth::Subscription`] route.
pub fn route_caller(
    rule: Auth,
    authorization: Option<&str>,
    admin_token: Option<&str>,
) -> Result<Caller, ApiError> {
    const ADMIN_HINT: &str =
        "missing or wrong admin token: send Authorization: Bearer <GATEWAY_ADMIN_TOKEN>";
    let pull_token = bearer_token(authorization)
        .and_then(|token| Some((bot_of(token)?.to_owned(), token.to_owned())));
    let admin = || {
        match admin_token {
        None => Err(ApiError::new(
            503,
            None,
            "GATEWAY_ADMIN_TOKEN is not set: run `wrangler secret put GATEWAY_ADMIN_TOKEN`; the control routes stay closed until then",
        )),
        Some(expected) if bearer_token_matches(authorization, expected) => Ok(Caller::Admin),
        Some(_) => Err(ApiError::new(401, None, ADMIN_HINT)),
    }
    };
    match (rule, pull_token) {
        (Auth::Public, _) => Ok(Caller::Admin),
        // Between the objects of one bot: never a caller's route (the entry answers 404 first).
        (Auth::Internal, _) => Err(ApiError::new(404, None, "no such route")),
        (Auth::Subscription | Auth::AdminOrSubscription, Some((bot, token))) => {
            Ok(Caller::Subscription { bot, token })
        }
        (Auth::Subscription, None) => Err(ApiError::new(
            401,
            None,
            "missing or malformed subscription token: send Authorization: Bearer dgdp_<bot>_<hex> (the token POST /subscriptions gave a pull subscription; the admin token is not one)",
        )),
        (Auth::Admin | Auth::AdminOrSubscription, None) => admin(),
        (Auth::Admin, Some(_)) => Err(ApiError::new(
            401,
            None,
            format!("{ADMIN_HINT} (a subscription's token opens only /v1/inbox, /v1/ack, /v1/me and the talk-back routes)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"Secret"));
        assert!(!constant_time_eq(b"secret", b"secre"));
        assert!(!constant_time_eq(b"secre", b"secret"));
        assert!(!constant_time_eq(b"", b"x"));
        // Zero padding of the shorter input must not make a prefix equal.
        assert!(!constant_time_eq(b"abc", b"abc\0"));
        assert!(!constant_time_eq(b"abc\0", b"abc"));
    }

    #[test]
    fn bearer_token_matches_accepted_forms() {
        for header in [
            "Bearer s3cret",
            "bearer s3cret",
            "BEARER s3cret",
            "bEaReR s3cret",
            "Bearer   s3cret",
            "  Bearer s3cret  ",
        ] {
            assert!(bearer_token_matches(Some(header), "s3cret"), "{header:?}");
        }
    }

    #[test]
    fn bearer_token_matches_rejected_forms() {
        for header in [
            "",
            "Bearer",
            "Bearer ",
            "Bearer    ",
            "Bearers3cret",
            "Bearer\ts3cret",
            "Basic s3cret",
            "Token s3cret",
            "s3cret",
            "Bearer s3cre",
            "Bearer s3cret2",
            "Bearer S3CRET",
            "Bearer s3cret extra",
        ] {
            assert!(!bearer_token_matches(Some(header), "s3cret"), "{header:?}");
        }
        assert!(!bearer_token_matches(None, "s3cret"));
    }

    const ADMIN: &str = "admin-secret";

    fn pull_token() -> String {
        format!("dgdp_bot-a_{}", "ab".repeat(32))
    }

    #[test]
    fn issue_10_pull_auth_a_pull_token_names_its_bot_on_pull_and_talk_routes() {
        let header = format!("Bearer {}", pull_token());
        for rule in [Auth::Subscription, Auth::AdminOrSubscription] {
            assert_eq!(
                route_caller(rule, Some(&header), Some(ADMIN)),
                Ok(Caller::Subscription {
                    bot: "bot-a".into(),
                    token: pull_token()
                }),
                "{rule:?}"
            );
        }
        let admin = format!("Bearer {ADMIN}");
        assert_eq!(
            route_caller(Auth::AdminOrSubscription, Some(&admin), Some(ADMIN)),
            Ok(Caller::Admin)
        );
        assert_eq!(
            route_caller(Auth::Admin, Some(&admin), Some(ADMIN)),
            Ok(Caller::Admin)
        );
    }

    #[test]
    fn issue_10_pull_auth_the_admin_token_is_no_subscription_token_and_back() {
        let admin = format!("Bearer {ADMIN}");
        let status = |r: Result<Caller, ApiError>| r.unwrap_err().status;
        assert_eq!(
            status(route_caller(Auth::Subscription, Some(&admin), Some(ADMIN))),
            401
        );
        assert_eq!(
            status(route_caller(Auth::Subscription, None, Some(ADMIN))),
            401
        );
        let pull = format!("Bearer {}", pull_token());
        assert_eq!(
            status(route_caller(Auth::Admin, Some(&pull), Some(ADMIN))),
            401,
            "a pull token opens no admin route (presence, connect, ...)"
        );
        assert_eq!(
            status(route_caller(
                Auth::AdminOrSubscription,
                Some("Bearer nope"),
                Some(ADMIN)
            )),
            401
        );
        assert_eq!(
            status(route_caller(Auth::AdminOrSubscription, Some(&admin), None)),
            503
        );
        assert_eq!(
            route_caller(Auth::Public, None, None),
            Ok(Caller::Admin),
            "the page"
        );
    }

    #[test]
    fn empty_expected_token_never_matches() {
        for header in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("Bearer x"),
        ] {
            assert!(!bearer_token_matches(header, ""), "{header:?}");
        }
    }
}
