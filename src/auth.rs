//! Bearer token checks for the control API (the admin token; pull tokens are read here too).

use std::hint::black_box;

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
