//! Pull subscription tokens: shown once at creation, stored only as a SHA-256 hash, and naming
//! the bot whose object holds the subscription.
//!
//! A token is `dgdp_<bot>_<64 hex digits>`: the prefix marks it as a pull token, `<bot>` is the
//! bot's instance name (the object's `?name=`; see [`valid_name`]), and the 64 hex digits are 32
//! bytes from the platform's CSPRNG. The Worker entry reads the bot from the token, so an agent
//! needs nothing but its token; the object compares the token's hash with the stored one in
//! constant time. A bot name may itself hold `_`, so the secret is read from the end: it is
//! always the last 64 characters.

use sha2::{Digest, Sha256};

use crate::api::ApiError;
use crate::auth::constant_time_eq;

/// What every pull token starts with.
pub const TOKEN_PREFIX: &str = "dgdp_";
/// Random bytes in a token.
pub const TOKEN_RANDOM_BYTES: usize = 32;
/// Hex digits of the random part.
const SECRET_HEX_LEN: usize = TOKEN_RANDOM_BYTES * 2;

/// Whether `name` is a valid bot instance or subscription name: 1-64 letters, digits, `-`,
/// `_` or `.`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// A new token for a pull subscription of `bot`, from `random` (drawn from the CSPRNG by the
/// caller). A bad bot name is a `400` naming `name`.
pub fn new_token(bot: &str, random: &[u8; TOKEN_RANDOM_BYTES]) -> Result<String, ApiError> {
    if !valid_name(bot) {
        return Err(ApiError::bad_request(
            Some("name"),
            "name must be 1-64 letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(format!("{TOKEN_PREFIX}{bot}_{}", hex(random)))
}

/// The bot a token names, if the token is well formed (whether it is valid is for the object
/// to tell, from its hash).
pub fn bot_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let split = rest.len().checked_sub(SECRET_HEX_LEN + 1)?;
    if !rest.is_char_boundary(split) {
        return None;
    }
    let (bot, secret) = rest.split_at(split);
    let secret = secret.strip_prefix('_')?;
    let secret_ok = secret
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (secret_ok && valid_name(bot)).then_some(bot)
}

/// The stored form of a token: its SHA-256 as 64 lowercase hex digits.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Whether `token` is the one whose hash is `stored_hash`, compared in constant time.
pub fn token_matches(token: &str, stored_hash: &str) -> bool {
    !stored_hash.is_empty()
        && constant_time_eq(token_hash(token).as_bytes(), stored_hash.as_bytes())
}

/// `200` answer to `POST /subscriptions/rotate-token`: the new token, shown this once.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenRotated {
    /// The pull subscription.
    pub name: String,
    /// Its new token (the old one is refused from now on).
    pub token: String,
}

/// `200` answer to `POST /subscriptions/revoke-token`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenRevoked {
    /// The pull subscription.
    pub name: String,
    /// `true`: its token is refused from now on.
    pub revoked: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANDOM: [u8; TOKEN_RANDOM_BYTES] = [0xab; TOKEN_RANDOM_BYTES];

    #[test]
    fn issue_10_pull_token_names_its_bot_and_hides_the_secret_in_storage() {
        let token = new_token("support_bot.eu", &RANDOM).unwrap();
        assert_eq!(token, format!("dgdp_support_bot.eu_{}", "ab".repeat(32)));
        assert_eq!(bot_of(&token), Some("support_bot.eu"));
        let stored = token_hash(&token);
        assert_eq!(stored.len(), 64);
        assert!(
            !stored.contains(&"ab".repeat(32)),
            "the secret is not stored"
        );
        assert!(token_matches(&token, &stored));
        // Known answer: SHA-256("abc").
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn issue_10_pull_token_a_rotated_or_other_token_does_not_match() {
        let old = new_token("bot", &RANDOM).unwrap();
        let rotated = new_token("bot", &[0xcd; TOKEN_RANDOM_BYTES]).unwrap();
        assert!(!token_matches(&old, &token_hash(&rotated)));
        assert!(!token_matches(&rotated, &token_hash(&old)));
        assert!(
            !token_matches("", ""),
            "a revoked (empty) hash matches nothing"
        );
        assert!(!token_matches(&old, ""));
    }

    #[test]
    fn issue_10_pull_token_malformed_tokens_name_no_bot() {
        let secret = "ab".repeat(32);
        for bad in [
            String::new(),
            "dgdp_".to_owned(),
            format!("dgdp__{secret}"),
            format!("dgdp_bot_{}", &secret[1..]),
            format!("dgdp_bot-{secret}"),
            format!("dgdp_bot_{}", "AB".repeat(32)),
            format!("dgdp_bad/name_{secret}"),
            format!("xxxx_bot_{secret}"),
            format!("dgdp_é_{secret}"),
            format!("dgdp_{}_{secret}", "a".repeat(65)),
        ] {
            assert_eq!(bot_of(&bad), None, "{bad}");
        }
        assert_eq!(
            new_token("", &RANDOM).unwrap_err().field.as_deref(),
            Some("name")
        );
        assert_eq!(bot_of(&format!("dgdp_a_b_{secret}")), Some("a_b"));
    }
}
