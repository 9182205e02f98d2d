//! The control API: one set of request, response and error types for every caller.
//!
//! The Durable Object's fetch routes, the Worker entry and [`GatewayStub`](crate) all speak
//! these types as JSON:
//!
//! | route | request | response |
//! |---|---|---|
//! | `POST /connect` | [`ConnectRequest`] | `202` [`ConnectResponse`] |
//! | `POST /disconnect` | — | `200` [`DisconnectResponse`] |
//! | `GET /status` | — | `200` [`StatusResponse`] |
//!
//! Every failure is an [`ApiError`] body with a status code.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::delivery::webhook_url::validate_webhook_url;
use crate::gateway::config::validate_token;
use crate::gateway::{
    EngineStatus, EventFilter, GatewayConfig, Intents, Shard, TransportCompression,
};

/// Path of the connect route.
pub const CONNECT_PATH: &str = "/connect";
/// Path of the disconnect route.
pub const DISCONNECT_PATH: &str = "/disconnect";
/// Path of the status route.
pub const STATUS_PATH: &str = "/status";
/// Request bodies larger than this are refused.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Intents as a bit set or as a list of names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntentsInput {
    /// The raw bit set, e.g. `46593`.
    Bits(u64),
    /// Names, e.g. `["GUILDS", "GUILD_MESSAGES"]`.
    Names(Vec<String>),
}

/// `POST /connect`: every field is optional here; the Worker entry fills the credentials from
/// its environment, and the Durable Object requires `botToken` and `webhookUrl` in the end.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectRequest {
    /// The bot token (with or without the `Bot ` prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<String>,
    /// Where events are POSTed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Sent as `x-discord-gateway-token` instead of the bot token, and used to sign requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// Gateway intents; default: guilds, messages and reactions in guilds and DMs, content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intents: Option<IntentsInput>,
    /// Dispatch types to forward, or `["*"]`; default: messages and reactions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// `"none"` (default), `"zlib-stream"` or `"zstd-stream"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compress: Option<String>,
    /// `[id, count]` for a sharded bot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<[u32; 2]>,
}

impl fmt::Debug for ConnectRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectRequest")
            .field("bot_token", &self.bot_token.as_ref().map(|_| "<redacted>"))
            .field("webhook_url", &self.webhook_url.as_ref().map(|_| "<redacted>"))
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "<redacted>"))
            .field("intents", &self.intents)
            .field("events", &self.events)
            .field("compress", &self.compress)
            .field("shard", &self.shard)
            .finish()
    }
}

/// Where and how events are delivered. Stored by the Durable Object; never shown whole.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookTarget {
    /// The validated URL.
    pub url: String,
    /// The shared secret, if any.
    pub secret: Option<String>,
}

impl WebhookTarget {
    /// The host of the URL, which is all the status shows of it.
    pub fn host(&self) -> &str {
        let rest = self.url.split_once("://").map_or(self.url.as_str(), |(_, rest)| rest);
        rest.split(['/', '?', '#']).next().unwrap_or_default()
    }
}

impl fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("host", &self.host())
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A validated connect request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectSettings {
    /// What the gateway engine needs.
    pub gateway: GatewayConfig,
    /// Where events go.
    pub webhook: WebhookTarget,
}

impl ConnectRequest {
    /// Parses a JSON body; an empty body is an empty request.
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::new(
                413,
                None,
                format!("request body is larger than {MAX_BODY_BYTES} bytes"),
            ));
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(None, format!("request body is not a valid connect request: {e}")))
    }

    /// Fills the fields this request leaves out from `defaults` (the Worker's environment).
    pub fn or(self, defaults: Self) -> Self {
        Self {
            bot_token: self.bot_token.or(defaults.bot_token),
            webhook_url: self.webhook_url.or(defaults.webhook_url),
            webhook_secret: self.webhook_secret.or(defaults.webhook_secret),
            intents: self.intents.or(defaults.intents),
            events: self.events.or(defaults.events),
            compress: self.compress.or(defaults.compress),
            shard: self.shard.or(defaults.shard),
        }
    }

    /// Checks every field and builds the settings, naming the field and the rule on failure.
    pub fn validate(self, allow_insecure_webhooks: bool) -> Result<ConnectSettings, ApiError> {
        let token = self.bot_token.filter(|t| !t.is_empty()).ok_or_else(|| {
            ApiError::bad_request(
                Some("botToken"),
                "botToken is required (pass it, or set the DISCORD_BOT_TOKEN secret)",
            )
        })?;
        let token = token.strip_prefix("Bot ").unwrap_or(&token).to_owned();
        validate_token(&token).map_err(|e| ApiError::bad_request(Some("botToken"), e.to_string()))?;

        let url = self.webhook_url.filter(|u| !u.is_empty()).ok_or_else(|| {
            ApiError::bad_request(
                Some("webhookUrl"),
                "webhookUrl is required (pass it, or set the WEBHOOK_URL secret)",
            )
        })?;
        let url = validate_webhook_url(&url, allow_insecure_webhooks)
            .map_err(|e| ApiError::bad_request(Some("webhookUrl"), e.to_string()))?;

        let secret = match self.webhook_secret {
            None => None,
            Some(secret) if secret.is_empty() => None,
            Some(secret) => {
                let valid = (16..=256).contains(&secret.len())
                    && secret.bytes().all(|b| b.is_ascii_graphic());
                if !valid {
                    return Err(ApiError::bad_request(
                        Some("webhookSecret"),
                        "webhookSecret must be 16-256 printable ASCII characters without spaces",
                    ));
                }
                Some(secret)
            }
        };

        let intents = match self.intents {
            None => Intents::default(),
            Some(IntentsInput::Bits(bits)) => Intents::from_bits(bits)
                .map_err(|e| ApiError::bad_request(Some("intents"), e.to_string()))?,
            Some(IntentsInput::Names(names)) => Intents::from_names(names.iter().map(String::as_str))
                .map_err(|e| ApiError::bad_request(Some("intents"), e.to_string()))?,
        };
        let events = match self.events {
            None => EventFilter::default(),
            Some(list) => EventFilter::from_list(list.iter().map(String::as_str))
                .map_err(|e| ApiError::bad_request(Some("events"), e.to_string()))?,
        };
        let compression = match self.compress.as_deref() {
            None => TransportCompression::default(),
            Some(value) => value
                .parse()
                .map_err(|e: crate::gateway::compression::ParseTransportCompressionError| {
                    ApiError::bad_request(Some("compress"), e.to_string())
                })?,
        };
        let shard = self
            .shard
            .map(|[id, count]| Shard::new(id, count))
            .transpose()
            .map_err(|e| ApiError::bad_request(Some("shard"), e.to_string()))?;

        Ok(ConnectSettings {
            gateway: GatewayConfig { token, intents, events, compression, shard },
            webhook: WebhookTarget { url: url.into_string(), secret },
        })
    }
}

/// `202` answer to `POST /connect`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectResponse {
    /// Always `"connecting"`.
    pub status: String,
}

impl ConnectResponse {
    /// The only answer.
    pub fn connecting() -> Self {
        Self { status: "connecting".into() }
    }
}

/// `200` answer to `POST /disconnect`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisconnectResponse {
    /// Always `"disconnected"`.
    pub status: String,
}

impl DisconnectResponse {
    /// The only answer.
    pub fn disconnected() -> Self {
        Self { status: "disconnected".into() }
    }
}

/// How delivery to the webhook is going.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryStatus {
    /// Events waiting in the outbox (in flight included).
    pub pending: u64,
    /// Requests under way now.
    pub in_flight: u64,
    /// Age of the oldest pending event.
    pub oldest_pending_age_ms: Option<u64>,
    /// Events the webhook accepted.
    pub delivered: u64,
    /// Attempts that failed and will be retried.
    pub failed_attempts: u64,
    /// Events given up on.
    pub dead_letters: u64,
    /// The last failure, without URL or secret.
    pub last_error: Option<String>,
}

/// What `/status` shows of the webhook: its host, never the whole URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSummary {
    /// The URL's host.
    pub host: String,
    /// Whether a webhook secret is configured.
    pub secret_configured: bool,
}

/// `200` answer to `GET /status`. Never contains a token or secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusResponse {
    /// The gateway: state, session, heartbeat, counters.
    #[serde(flatten)]
    pub gateway: EngineStatus,
    /// The webhook, when configured.
    pub webhook: Option<WebhookSummary>,
    /// Delivery health.
    pub delivery: DeliveryStatus,
    /// Whether `ALLOW_INSECURE_WEBHOOKS` is on (development only).
    pub insecure_webhooks_allowed: bool,
}

/// An error answer: `{"error": "...", "field": "..."}` with an HTTP status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// The HTTP status.
    #[serde(skip, default = "default_error_status")]
    pub status: u16,
    /// What went wrong and how to fix it.
    pub error: String,
    /// The request field at fault, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

fn default_error_status() -> u16 {
    500
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: u16, field: Option<&str>, error: impl Into<String>) -> Self {
        Self { status, error: error.into(), field: field.map(str::to_owned) }
    }

    /// A `400`.
    pub fn bad_request(field: Option<&str>, error: impl Into<String>) -> Self {
        Self::new(400, field, error)
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"error":"internal error"}"#.into())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.error, self.status)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4.abcdef.some-token-value";

    fn request(json: &str) -> Result<ConnectSettings, ApiError> {
        ConnectRequest::from_json(json.as_bytes())?.validate(false)
    }

    #[test]
    fn a_full_request_validates() {
        let settings = request(&format!(
            r#"{{"botToken":"Bot {TOKEN}","webhookUrl":"https://bot.example.com/api/webhooks/discord","webhookSecret":"0123456789abcdef","intents":["GUILDS","GUILD_MESSAGES"],"events":["*"],"compress":"zlib-stream","shard":[0,1]}}"#
        ))
        .unwrap();
        assert_eq!(settings.gateway.token, TOKEN);
        assert_eq!(settings.gateway.intents.bits(), 1 | 1 << 9);
        assert_eq!(settings.gateway.events, EventFilter::All);
        assert_eq!(settings.gateway.compression, TransportCompression::ZlibStream);
        assert_eq!(settings.webhook.host(), "bot.example.com");
        assert!(!format!("{settings:?}").contains("0123456789abcdef"));
        assert!(!format!("{settings:?}").contains(TOKEN));
    }

    #[test]
    fn every_rule_names_its_field() {
        let cases = [
            ("{", None),
            (r#"{"botToken":1}"#, None),
            (r#"{"unknown":true}"#, None),
            (r#"{}"#, Some("botToken")),
            (&format!(r#"{{"botToken":"{TOKEN}"}}"#), Some("webhookUrl")),
            (&format!(r#"{{"botToken":"{TOKEN}","webhookUrl":"http://example.com"}}"#), Some("webhookUrl")),
            (&format!(r#"{{"botToken":"{TOKEN}","webhookUrl":"https://10.0.0.1/x"}}"#), Some("webhookUrl")),
            (&format!(r#"{{"botToken":"{TOKEN}","webhookUrl":"https://a.example","intents":["NOPE"]}}"#), Some("intents")),
            (&format!(r#"{{"botToken":"{TOKEN}","webhookUrl":"https://a.example","intents":131072}}"#), Some("intents")),
            (&format!(r#"{{"botToken":"{TOKEN}","webhookUrl":"https://a.example","events":[]}}"#), Some("events")),
            (&format!(r#"{{"botToken":"{TOKEN}","webhookUrl":"https://a.example","compress":"gzip"}}"#), Some("compress")),
            (&format!(r#"{{"botToken":"{TOKEN}","webhookUrl":"https://a.example","shard":[2,2]}}"#), Some("shard")),
            (&format!(r#"{{"botToken":"{TOKEN}","webhookUrl":"https://a.example","webhookSecret":"short"}}"#), Some("webhookSecret")),
            (r#"{"botToken":"tiny","webhookUrl":"https://a.example"}"#, Some("botToken")),
        ];
        for (body, field) in cases {
            let error = request(body).expect_err(body);
            assert_eq!(error.status, 400, "{body}");
            assert_eq!(error.field.as_deref(), field, "{body}: {}", error.error);
            assert!(!error.error.contains(TOKEN));
        }
    }

    #[test]
    fn request_fields_override_environment_defaults() {
        let env = ConnectRequest {
            bot_token: Some(TOKEN.into()),
            webhook_url: Some("https://env.example/hook".into()),
            ..Default::default()
        };
        let body = ConnectRequest::from_json(br#"{"webhookUrl":"https://body.example/hook"}"#).unwrap();
        let settings = body.or(env).validate(false).unwrap();
        assert_eq!(settings.webhook.host(), "body.example");
        assert_eq!(ConnectRequest::from_json(b"  ").unwrap(), ConnectRequest::default());
        assert_eq!(ConnectRequest::from_json(&vec![b' '; MAX_BODY_BYTES + 1]).unwrap_err().status, 413);
    }

    #[test]
    fn insecure_webhooks_only_when_allowed() {
        let body = format!(r#"{{"botToken":"{TOKEN}","webhookUrl":"http://127.0.0.1:8787/hook"}}"#);
        assert!(request(&body).is_err());
        let settings = ConnectRequest::from_json(body.as_bytes()).unwrap().validate(true).unwrap();
        assert_eq!(settings.webhook.host(), "127.0.0.1:8787");
    }
}
