//! Which credentials of the Worker's environment a `/connect` may use, and where they may go.
//!
//! Secrets set with `wrangler secret put` are write-only: whoever holds the admin token must not
//! be able to read them back by pointing the webhook somewhere else. So a value taken from the
//! environment (`DISCORD_BOT_TOKEN`, `WEBHOOK_SECRET`) only fills a request whose webhook is the
//! environment's `WEBHOOK_URL` or a host the operator allows in `ALLOWED_WEBHOOK_HOSTS`. A body
//! `webhookUrl` anywhere else gets nothing from the environment: it must bring its own
//! `botToken` (which, unsigned, is what its `x-discord-gateway-token` carries), and is signed
//! only with a `webhookSecret` it brings itself.

use url::Url;

use crate::api::{ApiError, ConnectRequest};
use crate::delivery::webhook_url::validate_webhook_url;

/// `ALLOWED_WEBHOOK_HOSTS`: exact hosts (`hooks.example.com`, `127.0.0.1`) and `*.example.com`
/// patterns (any name below `example.com`, not `example.com` itself). Any port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    exact: Vec<String>,
    suffixes: Vec<String>,
}

impl AllowedHosts {
    /// Parses the comma-separated variable; blanks around entries are ignored.
    ///
    /// # Errors
    ///
    /// An entry that is neither a host nor `*.` followed by a domain (ports, paths, schemes and
    /// other wildcards are refused rather than guessed at).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut hosts = Self::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let lower = entry.to_ascii_lowercase();
            let (name, wildcard) = match lower.strip_prefix("*.") {
                Some(domain) => (domain, true),
                None => (lower.as_str(), false),
            };
            let name = name.trim_end_matches('.');
            let valid = !name.is_empty()
                && name.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b'-' | b'.' | b'_' | b':' | b'[' | b']')
                })
                && !name.contains("..")
                && (!name.contains(':') || (name.starts_with('[') && name.ends_with(']')));
            if !valid || (wildcard && name.starts_with('[')) {
                return Err(format!(
                    "ALLOWED_WEBHOOK_HOSTS: {entry:?} is not a host or a *.domain pattern (hosts only: no scheme, port or path)"
                ));
            }
            if wildcard {
                hosts.suffixes.push(format!(".{name}"));
            } else {
                hosts.exact.push(name.to_owned());
            }
        }
        Ok(hosts)
    }

    /// Whether `host` (as a URL shows it: lower case, IPv6 in brackets) is allowed.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.exact.iter().any(|exact| exact == host)
            || self
                .suffixes
                .iter()
                .any(|suffix| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
    }
}

/// What the Worker's environment offers a `/connect`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EnvironmentCredentials {
    /// `DISCORD_BOT_TOKEN`.
    pub bot_token: Option<String>,
    /// `WEBHOOK_URL`.
    pub webhook_url: Option<String>,
    /// `WEBHOOK_SECRET`.
    pub webhook_secret: Option<String>,
    /// `ALLOWED_WEBHOOK_HOSTS`.
    pub allowed_hosts: AllowedHosts,
    /// `ALLOW_INSECURE_WEBHOOKS` (how a body `webhookUrl` is checked here).
    pub allow_insecure_webhooks: bool,
}

impl std::fmt::Debug for EnvironmentCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |value: &Option<String>| value.as_ref().map(|_| "<set>");
        f.debug_struct("EnvironmentCredentials")
            .field("bot_token", &set(&self.bot_token))
            .field("webhook_url", &set(&self.webhook_url))
            .field("webhook_secret", &set(&self.webhook_secret))
            .field("allowed_hosts", &self.allowed_hosts)
            .field("allow_insecure_webhooks", &self.allow_insecure_webhooks)
            .finish()
    }
}

/// The same URL, compared as the URL standard normalizes it.
fn same_url(a: &str, b: &str) -> bool {
    match (Url::parse(a), Url::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

impl EnvironmentCredentials {
    /// Fills what `body` leaves out from the environment, where the rule above allows it.
    ///
    /// # Errors
    ///
    /// `400` naming the field: an empty `botToken` or `webhookSecret` (leaving a field out is
    /// how it is left unset), a body `webhookUrl` that breaks the URL policy, or one that is
    /// neither `WEBHOOK_URL` nor an allowed host and comes without its own `botToken`.
    pub fn fill(&self, body: ConnectRequest) -> Result<ConnectRequest, ApiError> {
        for (field, value) in [
            ("botToken", &body.bot_token),
            ("webhookSecret", &body.webhook_secret),
        ] {
            if value.as_deref() == Some("") {
                return Err(ApiError::bad_request(
                    Some(field),
                    format!("{field} is empty: pass a value, or leave the field out"),
                ));
            }
        }
        let trusted = match body.webhook_url.as_deref() {
            None => true,
            Some(url) => self.trusts(url)?,
        };
        if !trusted {
            if body.bot_token.is_none() {
                return Err(ApiError::bad_request(
                    Some("botToken"),
                    "this webhookUrl is neither WEBHOOK_URL nor on a host in ALLOWED_WEBHOOK_HOSTS, so the environment's credentials are not sent there: pass its own botToken (and webhookSecret, to sign) in the same body, or allow the host",
                ));
            }
            return Ok(body);
        }
        Ok(ConnectRequest {
            bot_token: body.bot_token.or_else(|| self.bot_token.clone()),
            webhook_url: body.webhook_url.or_else(|| self.webhook_url.clone()),
            webhook_secret: body.webhook_secret.or_else(|| self.webhook_secret.clone()),
            ..body
        })
    }

    /// Whether the environment's credentials may go to the body's `url`.
    fn trusts(&self, url: &str) -> Result<bool, ApiError> {
        let url = validate_webhook_url(url, self.allow_insecure_webhooks)
            .map_err(|e| ApiError::bad_request(Some("webhookUrl"), e.to_string()))?;
        if self
            .webhook_url
            .as_deref()
            .is_some_and(|env_url| same_url(env_url, url.as_str()))
        {
            return Ok(true);
        }
        let host = Url::parse(url.as_str())
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned));
        Ok(host.is_some_and(|host| self.allowed_hosts.allows(&host)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV_TOKEN: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4.envenv.environment-token-value";
    const BODY_TOKEN: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4.bodbod.body-token-value-here";
    const ENV_SECRET: &str = "whsec_RU5WRU5WRU5WRU5WRU5WRU5WRU5WRU5WRU5WRU5W";

    fn env(allowed: &str) -> EnvironmentCredentials {
        EnvironmentCredentials {
            bot_token: Some(ENV_TOKEN.into()),
            webhook_url: Some("https://hooks.example.com/discord".into()),
            webhook_secret: Some(ENV_SECRET.into()),
            allowed_hosts: AllowedHosts::parse(allowed).unwrap(),
            allow_insecure_webhooks: false,
        }
    }

    fn body(json: &str) -> ConnectRequest {
        ConnectRequest::from_json(json.as_bytes()).unwrap()
    }

    fn refused(result: Result<ConnectRequest, ApiError>) -> (u16, Option<String>) {
        let error = result.expect_err("refused");
        assert!(!error.error.contains(ENV_TOKEN) && !error.error.contains(ENV_SECRET));
        (error.status, error.field)
    }

    #[test]
    fn issue_8_item_1_env_credentials_never_fill_a_foreign_webhook_url() {
        let env = env("");
        // The three leaks of the issue: the env token, the env secret, and "" as "unset".
        for json in [
            r#"{"webhookUrl":"https://attacker.example/x"}"#,
            r#"{"webhookUrl":"https://attacker.example/x","webhookSecret":"whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"}"#,
        ] {
            assert_eq!(
                refused(env.fill(body(json))),
                (400, Some("botToken".into())),
                "{json}"
            );
        }
        assert_eq!(
            refused(env.fill(body(
                r#"{"webhookUrl":"https://attacker.example/x","webhookSecret":""}"#
            ))),
            (400, Some("webhookSecret".into()))
        );
        assert_eq!(
            refused(env.fill(body(r#"{"botToken":""}"#))),
            (400, Some("botToken".into()))
        );
        // A bad URL is reported as such, before anything else.
        assert_eq!(
            refused(env.fill(body(r#"{"webhookUrl":"http://attacker.example/x"}"#))),
            (400, Some("webhookUrl".into()))
        );
    }

    #[test]
    fn issue_8_item_1_a_body_with_its_own_credentials_goes_anywhere_with_nothing_from_env() {
        let filled = env("")
            .fill(body(&format!(
                r#"{{"webhookUrl":"https://attacker.example/x","botToken":"{BODY_TOKEN}"}}"#
            )))
            .unwrap();
        assert_eq!(filled.bot_token.as_deref(), Some(BODY_TOKEN));
        assert_eq!(filled.webhook_secret, None, "the env secret is not used");
        assert_eq!(
            filled.webhook_url.as_deref(),
            Some("https://attacker.example/x")
        );
    }

    #[test]
    fn issue_8_item_1_env_credentials_fill_the_env_url_and_allowed_hosts() {
        let env = env("exact.example.org, *.Allowed.Example");
        for url in [
            None,
            Some("https://hooks.example.com/discord"),
            Some("HTTPS://HOOKS.example.com:443/discord"),
            Some("https://exact.example.org/other"),
            Some("https://a.allowed.example/x"),
            Some("https://b.a.allowed.example./x"),
        ] {
            let json = url.map_or("{}".to_owned(), |u| format!(r#"{{"webhookUrl":"{u}"}}"#));
            let filled = env.fill(body(&json)).unwrap();
            assert_eq!(filled.bot_token.as_deref(), Some(ENV_TOKEN), "{json}");
            assert_eq!(filled.webhook_secret.as_deref(), Some(ENV_SECRET), "{json}");
        }
        for url in [
            "https://hooks.example.com/other-path",
            "https://allowed.example/x",
            "https://exact.example.org.evil.example/x",
            "https://a.allowed.example.evil.example/x",
            "https://notallowed.example/x",
        ] {
            assert_eq!(
                refused(env.fill(body(&format!(r#"{{"webhookUrl":"{url}"}}"#)))),
                (400, Some("botToken".into())),
                "{url}"
            );
        }
        // The body's own values still win where the environment's may be used.
        let filled = env
            .fill(body(&format!(r#"{{"botToken":"{BODY_TOKEN}"}}"#)))
            .unwrap();
        assert_eq!(filled.bot_token.as_deref(), Some(BODY_TOKEN));
    }

    #[test]
    fn allowed_hosts_parse_strictly() {
        let hosts = AllowedHosts::parse(" 127.0.0.1 ,[::1],*.hooks.example,").unwrap();
        assert!(hosts.allows("127.0.0.1"));
        assert!(hosts.allows("[::1]"));
        assert!(hosts.allows("a.hooks.example"));
        assert!(!hosts.allows("hooks.example"));
        assert!(!hosts.allows("127.0.0.10"));
        assert_eq!(AllowedHosts::parse("").unwrap(), AllowedHosts::default());
        for bad in [
            "*",
            "*.",
            "https://a.example",
            "a.example:8443",
            "a.example/x",
            "a*.example",
            "*.*.example",
            "a..example",
            "*.[::1]",
        ] {
            assert!(AllowedHosts::parse(bad).is_err(), "{bad}");
        }
    }
}
