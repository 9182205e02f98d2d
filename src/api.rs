//! The control API: one set of request, response and error types for every caller.
//!
//! The Durable Object's fetch routes (listed in [`crate::route_table::ROUTES`]), the Worker
//! entry and [`GatewayStub`](crate) all speak these types as JSON:
//!
//! | route | request | response |
//! |---|---|---|
//! | `POST /connect` | [`ConnectRequest`] | `202` [`ConnectResponse`] |
//! | `POST /disconnect` | — | `200` [`DisconnectResponse`] |
//! | `GET /status` | — | `200` [`StatusResponse`] |
//! | `GET /dead-letters` | — | `200` [`DeadLetterList`] |
//! | `POST /dead-letters/replay` | [`DeadLetterSelection`] | `200` [`DeadLetterOutcome`] |
//! | `POST /dead-letters/drop` | [`DeadLetterSelection`] | `200` [`DeadLetterOutcome`] |
//!
//! Every failure is an [`ApiError`] body with a status code.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::delivery::signature::{secret_from_key, SigningKey, GENERATED_KEY_BYTES};
use crate::delivery::webhook_url::validate_webhook_url;
use crate::gateway::config::validate_token;
use crate::gateway::history::HistorySnapshot;
use crate::gateway::{
    EngineStatus, EventFilter, GatewayConfig, Intents, Shard, TransportCompression,
};

/// The `webhookSecret` that asks for a new, generated secret.
pub const GENERATE_SECRET: &str = "generate";
/// Request bodies larger than this are refused with `413`: room for any connect request, and
/// for [`MAX_DEAD_LETTERS`] ids of any size (at most 20 digits and a separator each).
pub const MAX_BODY_BYTES: usize = 32 * 1024;
/// What the Worker entry may add to a body it forwards to the object: the environment's
/// `botToken`, `webhookUrl` and `webhookSecret` at their longest valid size (256, 2,048 and 256
/// bytes), each at most twice as long once JSON-escaped, with their keys.
pub const ENVIRONMENT_ALLOWANCE_BYTES: usize = 8 * 1024;
/// Request bodies the object itself accepts: whatever the entry accepted, merged with the
/// environment.
pub const MAX_FORWARDED_BODY_BYTES: usize = MAX_BODY_BYTES + ENVIRONMENT_ALLOWANCE_BYTES;

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
    /// Signs each delivery the Standard Webhooks way: `whsec_` and the base64 of 24-64 random
    /// bytes, or `"generate"` for a new one (returned once, in the answer). Without it
    /// deliveries are unsigned and carry the bot token in `x-discord-gateway-token`.
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
    /// `"auto"` (Discord's recommendation) or a number of shards: more than one makes this
    /// object the bot's coordinator, running one shard object per shard (issue 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<serde_json::Value>,
    /// With `shards: "auto"`: how often the coordinator re-reads the recommended count and
    /// grows to it, 1 s to 7 days; default 6 h (issue 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reshard_check_ms: Option<u64>,
    /// Delivery tuning; every field optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryOptions>,
}

/// Delivery tuning in a connect request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliveryOptions {
    /// Per-request timeout, 1 s to 5 min; default 60 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Events older than this are dead-lettered instead of retried, 1 min to 7 days; default 24 h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_ms: Option<u64>,
    /// Channels delivered at once, 1 to 5; default 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Pending events kept at most, 100 to [`MAX_PENDING_LIMIT`]; default 100,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pending: Option<u64>,
}

/// The highest `delivery.maxPending`. The object keeps a lane entry (about 13 bytes, measured by
/// `cargo bench --bench lanes_memory`) per pending event in memory, and loads them all when it
/// starts: 250,000 is about 3 MiB, a wide margin in an isolate of 128 MB that also holds the
/// channel directory (up to about 8 MB), the Wasm module and the requests under way.
pub const MAX_PENDING_LIMIT: u64 = 250_000;

/// Validated delivery settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliverySettings {
    /// Per-request timeout.
    pub timeout_ms: u64,
    /// Maximum age before dead-lettering.
    pub max_age_ms: u64,
    /// Channels delivered at once.
    pub concurrency: u32,
    /// Pending events kept at most; events beyond are refused and counted.
    pub max_pending: u64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            timeout_ms: 60_000,
            max_age_ms: 24 * 60 * 60 * 1_000,
            concurrency: 4,
            max_pending: 100_000,
        }
    }
}

impl DeliveryOptions {
    fn validate(self) -> Result<DeliverySettings, ApiError> {
        fn within(
            value: Option<u64>,
            default: u64,
            range: std::ops::RangeInclusive<u64>,
            field: &str,
        ) -> Result<u64, ApiError> {
            match value {
                None => Ok(default),
                Some(v) if range.contains(&v) => Ok(v),
                Some(_) => Err(ApiError::bad_request(
                    Some("delivery"),
                    format!(
                        "delivery.{field} must be between {} and {}",
                        range.start(),
                        range.end()
                    ),
                )),
            }
        }
        let defaults = DeliverySettings::default();
        Ok(DeliverySettings {
            timeout_ms: within(
                self.timeout_ms,
                defaults.timeout_ms,
                1_000..=300_000,
                "timeoutMs",
            )?,
            max_age_ms: within(
                self.max_age_ms,
                defaults.max_age_ms,
                60_000..=7 * 24 * 60 * 60 * 1_000,
                "maxAgeMs",
            )?,
            concurrency: within(
                self.concurrency.map(u64::from),
                u64::from(defaults.concurrency),
                1..=5,
                "concurrency",
            )? as u32,
            max_pending: within(
                self.max_pending,
                defaults.max_pending,
                100..=MAX_PENDING_LIMIT,
                "maxPending",
            )?,
        })
    }
}

impl fmt::Debug for ConnectRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectRequest")
            .field("bot_token", &self.bot_token.as_ref().map(|_| "<redacted>"))
            .field(
                "webhook_url",
                &self.webhook_url.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("intents", &self.intents)
            .field("events", &self.events)
            .field("compress", &self.compress)
            .field("shard", &self.shard)
            .field("delivery", &self.delivery)
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
    /// Checks a webhook URL (`webhookUrl`, required: `missing` says so) and its optional
    /// Standard Webhooks secret (`webhookSecret`), naming the field and the rule on failure.
    pub fn checked(
        url: Option<String>,
        secret: Option<String>,
        allow_insecure_webhooks: bool,
        missing: &str,
    ) -> Result<Self, ApiError> {
        let url = url
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ApiError::bad_request(Some("webhookUrl"), missing))?;
        let url = validate_webhook_url(&url, allow_insecure_webhooks)
            .map_err(|e| ApiError::bad_request(Some("webhookUrl"), e.to_string()))?;
        let secret = match secret {
            None => None,
            Some(secret) if secret.is_empty() => {
                return Err(ApiError::bad_request(
                    Some("webhookSecret"),
                    "webhookSecret is empty: leave it out for unsigned deliveries, or pass a whsec_ secret",
                ))
            }
            Some(secret) => {
                SigningKey::parse(&secret)
                    .map_err(|e| ApiError::bad_request(Some("webhookSecret"), e.to_string()))?;
                Some(secret)
            }
        };
        Ok(Self {
            url: url.into_string(),
            secret,
        })
    }

    /// The key deliveries are signed with, if a secret is set. A secret stored before
    /// signatures followed Standard Webhooks still gives one ([`SigningKey::from_stored`]).
    pub fn signing_key(&self) -> Option<SigningKey> {
        self.secret.as_deref().map(SigningKey::from_stored)
    }

    /// The host of the URL, which is all the status shows of it.
    pub fn host(&self) -> &str {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, rest)| rest);
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
    /// How they are delivered.
    #[serde(default)]
    pub delivery: DeliverySettings,
}

impl ConnectRequest {
    /// Parses a JSON body. A JSON object is a request; an empty body (no bytes at all, read to
    /// its end) is an empty request: the environment's defaults. Anything else is a `400`.
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        if body.is_empty() {
            return Ok(Self::default());
        }
        let object = json_object(body, "connect request")?;
        if let Some(delivery) = object.get("delivery") {
            if !(delivery.is_object() || delivery.is_null()) {
                return Err(ApiError::bad_request(
                    Some("delivery"),
                    "delivery must be a JSON object such as {\"concurrency\":2}",
                ));
            }
        }
        serde_json::from_value(serde_json::Value::Object(object)).map_err(|e| {
            ApiError::bad_request(
                None,
                format!("request body is not a valid connect request: {e}"),
            )
        })
    }

    /// The `shards` asked for, checked: `"auto"` or 1 to [`crate::shards::MAX_SHARDS`], and not
    /// together with `shard` (a coordinator picks each shard's own). `None` when not given.
    ///
    /// # Errors
    /// A `400` naming `shards`.
    pub fn shard_count(&self) -> Result<Option<crate::shards::ShardCount>, ApiError> {
        let Some(value) = &self.shards else {
            return Ok(None);
        };
        let count = crate::shards::ShardCount::from_json(value)
            .map_err(|e| ApiError::bad_request(Some("shards"), e.to_string()))?;
        if self.shard.is_some() {
            return Err(ApiError::bad_request(
                Some("shards"),
                "give shards (the bot's shard count) or shard ([id, count] of one object), not both",
            ));
        }
        Ok(Some(count))
    }

    /// `reshardCheckMs`, checked (1 s to 7 days; the default 6 h when not given). Only with
    /// `shards`.
    ///
    /// # Errors
    /// A `400` naming `reshardCheckMs`.
    pub fn reshard_check_ms(&self) -> Result<u64, ApiError> {
        if self.reshard_check_ms.is_some() && self.shards.is_none() {
            return Err(ApiError::bad_request(
                Some("reshardCheckMs"),
                "reshardCheckMs is for a sharded bot: give it with shards",
            ));
        }
        crate::shards::reshard_check_ms(self.reshard_check_ms)
            .map_err(|e| ApiError::bad_request(Some("reshardCheckMs"), e))
    }

    /// Replaces `"webhookSecret": "generate"` with a new `whsec_` secret made of the key `draw`
    /// gives (32 bytes from the platform's CSPRNG), and returns that secret so that the caller
    /// can be told it. `draw` is called only then.
    ///
    /// # Errors
    ///
    /// Whatever `draw` fails with.
    pub fn generate_secret_if_asked(
        &mut self,
        draw: impl FnOnce() -> Result<[u8; GENERATED_KEY_BYTES], ApiError>,
    ) -> Result<Option<String>, ApiError> {
        generate_secret_if_asked(&mut self.webhook_secret, draw)
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
        validate_token(&token)
            .map_err(|e| ApiError::bad_request(Some("botToken"), e.to_string()))?;

        let webhook = WebhookTarget::checked(
            self.webhook_url,
            self.webhook_secret,
            allow_insecure_webhooks,
            "webhookUrl is required (pass it, or set the WEBHOOK_URL secret)",
        )?;

        let intents = match self.intents {
            None => Intents::default(),
            Some(IntentsInput::Bits(bits)) => Intents::from_bits(bits)
                .map_err(|e| ApiError::bad_request(Some("intents"), e.to_string()))?,
            Some(IntentsInput::Names(names)) => {
                Intents::from_names(names.iter().map(String::as_str))
                    .map_err(|e| ApiError::bad_request(Some("intents"), e.to_string()))?
            }
        };
        let events = match self.events {
            None => EventFilter::default(),
            Some(list) => EventFilter::from_list(list.iter().map(String::as_str))
                .map_err(|e| ApiError::bad_request(Some("events"), e.to_string()))?,
        };
        let compression = match self.compress.as_deref() {
            None => TransportCompression::default(),
            Some(value) => value.parse().map_err(
                |e: crate::gateway::compression::ParseTransportCompressionError| {
                    ApiError::bad_request(Some("compress"), e.to_string())
                },
            )?,
        };
        let shard = self
            .shard
            .map(|[id, count]| Shard::new(id, count))
            .transpose()
            .map_err(|e| ApiError::bad_request(Some("shard"), e.to_string()))?;

        let delivery = self.delivery.unwrap_or_default().validate()?;

        Ok(ConnectSettings {
            gateway: GatewayConfig {
                token,
                intents,
                events,
                compression,
                shard,
            },
            webhook,
            delivery,
        })
    }
}

/// `202` answer to `POST /connect`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectResponse {
    /// Always `"connecting"`.
    pub status: String,
    /// The secret generated for `"webhookSecret": "generate"`, shown this once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

impl ConnectResponse {
    /// The answer, with the secret generated for this request if one was.
    pub fn connecting(generated_secret: Option<String>) -> Self {
        Self {
            status: "connecting".into(),
            webhook_secret: generated_secret,
        }
    }
}

impl fmt::Debug for ConnectResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectResponse")
            .field("status", &self.status)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
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
        Self {
            status: "disconnected".into(),
        }
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
    /// Events given up on, kept for replay.
    pub dead_letters: u64,
    /// Oldest dead letters removed to keep at most [`MAX_DEAD_LETTERS`].
    pub dead_letters_discarded: u64,
    /// Events refused because the outbox held `maxPending` events.
    pub overflowed: u64,
    /// SQLite rows written by this instance (indexes included).
    pub storage_rows_written: u64,
    /// SQL statements this instance ran that write: delivered events are deleted in batches,
    /// so under load this stays well below two per event.
    #[serde(default)]
    pub storage_write_statements: u64,
    /// Events this instance read back from storage to deliver them: those that waited through a
    /// restart, or beyond what is kept in memory. The rest are delivered from memory.
    #[serde(default)]
    pub events_read_back: u64,
    /// The last failure, without URL or secret.
    pub last_error: Option<String>,
}

/// How one subscription is doing (issue 10): in `GET /subscriptions` beside its view, and in
/// `/status` `subscriptions` beside its name and kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionCounts {
    /// Events it holds that are not dead letters (in flight included).
    pub pending: u64,
    /// Its requests under way now (push).
    #[serde(default)]
    pub in_flight: u64,
    /// Its dead letters (push).
    pub dead_letters: u64,
    /// Events it was given since the object started (push: accepted by its webhook).
    #[serde(default)]
    pub delivered: u64,
    /// Its attempts that failed and will be retried, since the object started (push).
    #[serde(default)]
    pub failed_attempts: u64,
    /// Its last failure, without URL or secret (push).
    #[serde(default)]
    pub last_error: Option<String>,
    /// Events of the log it still holds: pending plus dead letters.
    pub lag: u64,
}

/// One entry of `GET /subscriptions`: what the admin API shows of it, and how it is doing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionListing {
    /// The subscription (never its secret or token).
    #[serde(flatten)]
    pub subscription: crate::subscriptions::SubscriptionView,
    /// Its counts.
    #[serde(flatten)]
    pub counts: SubscriptionCounts,
}

/// `200` answer to `GET /subscriptions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionList {
    /// Every subscription, `default` first.
    pub subscriptions: Vec<SubscriptionListing>,
}

/// One entry of `/status` `subscriptions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionStatus {
    /// Its name.
    pub name: String,
    /// `push` or `pull`.
    pub kind: String,
    /// Its counts.
    #[serde(flatten)]
    pub counts: SubscriptionCounts,
}

/// `200` answer to `DELETE /subscriptions?subscription=<name>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionDeleted {
    /// The name of the subscription deleted.
    pub deleted: String,
}

/// Dead letters kept at most; the oldest are removed beyond this.
pub const MAX_DEAD_LETTERS: u64 = 1_000;

/// A dead letter's id, as `GET /dead-letters` gives it: a number on a single object (its id in
/// the outbox), the string `"<generation>.<shard>.<id>"` on a sharded bot (the shard object that
/// holds it, and its id there). The JSON is the bare number or string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DeadLetterId {
    /// A single object's outbox id (a JSON number).
    Outbox(i64),
    /// A sharded bot's `"<generation>.<shard>.<id>"` (a JSON string).
    Sharded(String),
}

impl From<i64> for DeadLetterId {
    fn from(id: i64) -> Self {
        Self::Outbox(id)
    }
}

impl From<String> for DeadLetterId {
    fn from(id: String) -> Self {
        Self::Sharded(id)
    }
}

impl From<&str> for DeadLetterId {
    fn from(id: &str) -> Self {
        Self::Sharded(id.to_owned())
    }
}

impl fmt::Display for DeadLetterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Outbox(id) => write!(f, "{id}"),
            Self::Sharded(id) => f.write_str(id),
        }
    }
}

/// An event given up on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// Its id; use it to replay or drop it (a number on a single object, a string on a
    /// sharded bot).
    pub id: DeadLetterId,
    /// `x-discord-gateway-event-id`.
    pub event_id: String,
    /// The dispatch type.
    pub event_type: String,
    /// Its channel (empty when it has none).
    pub channel_id: String,
    /// When it arrived (ms).
    pub created_at: u64,
    /// Attempts made.
    pub attempts: u64,
    /// Why it was given up on.
    pub last_error: String,
}

/// `200` answer to `GET /dead-letters`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterList {
    /// Oldest first, at most [`MAX_DEAD_LETTERS`].
    pub dead_letters: Vec<DeadLetter>,
}

/// Body of the replay and drop routes: `{"ids":[...]}` selects dead letters by id,
/// `{"all":true}` selects every one. Acting on all of them is never implied: an empty body,
/// `{}`, `{"ids":[]}` and `{"ids":null}` are refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeadLetterSelection {
    /// Ids from [`DeadLetter::id`]: 1 to [`MAX_DEAD_LETTERS`] of them (numbers for a single
    /// object, strings for a sharded bot).
    Ids(Vec<DeadLetterId>),
    /// Every dead letter.
    All,
}

/// The wire form of a [`DeadLetterSelection`].
#[derive(Serialize)]
struct SelectionBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ids: Option<&'a [DeadLetterId]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    all: Option<bool>,
}

impl Serialize for DeadLetterSelection {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Ids(ids) => SelectionBody {
                ids: Some(ids),
                all: None,
            },
            Self::All => SelectionBody {
                ids: None,
                all: Some(true),
            },
        }
        .serialize(serializer)
    }
}

impl DeadLetterSelection {
    /// Parses a single object's JSON body (outbox ids: numbers), naming the field at fault
    /// when it is not a selection. (A sharded bot's coordinator reads its string ids itself.)
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        Ok(
            match parse_selection::<i64>(body, "integers from GET /dead-letters")? {
                Some(ids) => Self::Ids(ids.into_iter().map(DeadLetterId::Outbox).collect()),
                None => Self::All,
            },
        )
    }

    /// The selected outbox ids of a single object, or `None` for all; a sharded bot's id is
    /// a `400` naming `ids`.
    pub fn outbox_ids(&self) -> Result<Option<Vec<i64>>, ApiError> {
        let Self::Ids(ids) = self else {
            return Ok(None);
        };
        ids.iter()
            .map(|id| match id {
                DeadLetterId::Outbox(id) => Ok(*id),
                DeadLetterId::Sharded(id) => Err(ApiError::bad_request(
                    Some("ids"),
                    format!("{id:?} is a sharded bot's dead-letter id; this object's ids are integers from GET /dead-letters"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

/// Parses a dead-letter selection body, `{"ids":[...]}` or `{"all":true}`, with ids of type
/// `T` (`what` says what they are, for the error): `Some(ids)`, or `None` for all. Any other
/// body is a `400` naming the field at fault.
pub(crate) fn parse_selection<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<Option<Vec<T>>, ApiError> {
    const HOW: &str =
        r#"send {"ids":[...]} to select dead letters by id, or {"all":true} for all of them"#;
    if body.is_empty() {
        return Err(ApiError::bad_request(
            None,
            format!("the request body is empty: {HOW}"),
        ));
    }
    let mut object = json_object(body, "dead-letter selection")
        .map_err(|e| ApiError::bad_request(None, format!("{}; {HOW}", e.error)))?;
    if let Some(key) = object
        .keys()
        .find(|key| !matches!(key.as_str(), "ids" | "all"))
    {
        return Err(ApiError::bad_request(
            Some(key),
            format!("unknown field {key}: {HOW}"),
        ));
    }
    match (object.remove("ids"), object.remove("all")) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            None,
            format!("give either ids or all, not both: {HOW}"),
        )),
        (Some(ids), None) => {
            let ids: Vec<T> = serde_json::from_value(ids).map_err(|_| {
                ApiError::bad_request(
                    Some("ids"),
                    format!("ids must be a list of dead-letter ids ({what}): {HOW}"),
                )
            })?;
            if ids.is_empty() {
                Err(ApiError::bad_request(
                    Some("ids"),
                    format!("ids must list at least one id ({HOW})"),
                ))
            } else if ids.len() > MAX_DEAD_LETTERS as usize {
                Err(ApiError::bad_request(
                    Some("ids"),
                    format!("at most {MAX_DEAD_LETTERS} ids at once"),
                ))
            } else {
                Ok(Some(ids))
            }
        }
        (None, Some(serde_json::Value::Bool(true))) => Ok(None),
        (None, Some(_)) => Err(ApiError::bad_request(
            Some("all"),
            format!("all must be true: {HOW}"),
        )),
        (None, None) => Err(ApiError::bad_request(
            None,
            format!("nothing selected: {HOW}"),
        )),
    }
}

/// Parses `body` as a JSON object (a `what`); any other JSON value is a `400`.
pub(crate) fn json_object(
    body: &[u8],
    what: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    match crate::json::from_slice(body) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::bad_request(
            None,
            format!("request body must be a JSON object (a {what})"),
        )),
        Err(e) => Err(ApiError::bad_request(
            None,
            format!("request body is not a valid {what}: {e}"),
        )),
    }
}

/// `200` answer to the replay and drop routes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterOutcome {
    /// How many dead letters were replayed or dropped.
    pub affected: u64,
}

/// What `/status` shows of the webhook: its host, never the whole URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSummary {
    /// The URL's host.
    pub host: String,
    /// Whether a webhook secret is configured.
    pub secret_configured: bool,
    /// The secret was stored before signatures followed Standard Webhooks (not `whsec_`): it
    /// still signs, as the key `whsec_` + base64 of the old secret; connect again with a
    /// `whsec_` secret to replace it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legacy_secret: bool,
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
    /// Delivery health of the `default` subscription (`POST /connect`'s webhook), and the
    /// object's storage counters.
    pub delivery: DeliveryStatus,
    /// Every subscription, `default` first: pending, in flight, dead letters, delivered,
    /// failed attempts, last error, lag (issue 10).
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionStatus>,
    /// Whether `ALLOW_INSECURE_WEBHOOKS` is on (development only).
    pub insecure_webhooks_allowed: bool,
    /// Alarm firings since this instance of the object started (each one is billed).
    pub alarm_wakeups: u64,
    /// Events per minute and heartbeat round trips over the last hour (since the object started).
    #[serde(default)]
    pub history: HistorySnapshot,
    /// The version of the object's stored schema (see README, "Storage and upgrades").
    #[serde(default)]
    pub schema_version: u32,
    /// The Discord REST rate limiter of the talk-back routes.
    #[serde(default)]
    pub rest: crate::rest::rate_limit::LimiterStatus,
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
        Self {
            status,
            error: error.into(),
            field: field.map(str::to_owned),
        }
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

/// Replaces a `webhookSecret` of `"generate"` with a new `whsec_` secret made of the key `draw`
/// gives, and returns that secret to be shown once; `draw` is called only then. Shared by
/// `/connect` and the subscriptions' admin API.
pub(crate) fn generate_secret_if_asked(
    webhook_secret: &mut Option<String>,
    draw: impl FnOnce() -> Result<[u8; GENERATED_KEY_BYTES], ApiError>,
) -> Result<Option<String>, ApiError> {
    if webhook_secret.as_deref() != Some(GENERATE_SECRET) {
        return Ok(None);
    }
    let secret = secret_from_key(&draw()?);
    *webhook_secret = Some(secret.clone());
    Ok(Some(secret))
}
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
            r#"{{"botToken":"Bot {TOKEN}","webhookUrl":"https://bot.example.com/api/webhooks/discord","webhookSecret":"whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3","intents":["GUILDS","GUILD_MESSAGES"],"events":["*"],"compress":"zlib-stream","shard":[0,1]}}"#
        ))
        .unwrap();
        assert_eq!(settings.gateway.token, TOKEN);
        assert_eq!(settings.gateway.intents.bits(), 1 | 1 << 9);
        assert_eq!(settings.gateway.events, EventFilter::All);
        assert_eq!(
            settings.gateway.compression,
            TransportCompression::ZlibStream
        );
        assert_eq!(settings.webhook.host(), "bot.example.com");
        assert!(!format!("{settings:?}").contains("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"));
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
            (
                &format!(r#"{{"botToken":"{TOKEN}","webhookUrl":"http://example.com"}}"#),
                Some("webhookUrl"),
            ),
            (
                &format!(r#"{{"botToken":"{TOKEN}","webhookUrl":"https://10.0.0.1/x"}}"#),
                Some("webhookUrl"),
            ),
            (
                &format!(
                    r#"{{"botToken":"{TOKEN}","webhookUrl":"https://a.example","intents":["NOPE"]}}"#
                ),
                Some("intents"),
            ),
            (
                &format!(
                    r#"{{"botToken":"{TOKEN}","webhookUrl":"https://a.example","intents":131072}}"#
                ),
                Some("intents"),
            ),
            (
                &format!(
                    r#"{{"botToken":"{TOKEN}","webhookUrl":"https://a.example","events":[]}}"#
                ),
                Some("events"),
            ),
            (
                &format!(
                    r#"{{"botToken":"{TOKEN}","webhookUrl":"https://a.example","compress":"gzip"}}"#
                ),
                Some("compress"),
            ),
            (
                &format!(
                    r#"{{"botToken":"{TOKEN}","webhookUrl":"https://a.example","shard":[2,2]}}"#
                ),
                Some("shard"),
            ),
            (
                &format!(
                    r#"{{"botToken":"{TOKEN}","webhookUrl":"https://a.example","webhookSecret":"short"}}"#
                ),
                Some("webhookSecret"),
            ),
            (
                r#"{"botToken":"tiny","webhookUrl":"https://a.example"}"#,
                Some("botToken"),
            ),
            (
                &format!(
                    r#"{{"botToken":"{TOKEN}","webhookUrl":"https://a.example","delivery":{{"concurrency":9}}}}"#
                ),
                Some("delivery"),
            ),
            (
                &format!(
                    r#"{{"botToken":"{TOKEN}","webhookUrl":"https://a.example","delivery":{{"timeoutMs":5}}}}"#
                ),
                Some("delivery"),
            ),
        ];
        for (body, field) in cases {
            let error = request(body).expect_err(body);
            assert_eq!(error.status, 400, "{body}");
            assert_eq!(error.field.as_deref(), field, "{body}: {}", error.error);
            assert!(!error.error.contains(TOKEN));
        }
    }

    #[test]
    fn empty_and_oversized_bodies() {
        assert_eq!(
            ConnectRequest::from_json(b"").unwrap(),
            ConnectRequest::default()
        );
    }

    #[test]
    fn issue_8_secrets_are_whsec_and_never_empty() {
        let with = |secret: &str| {
            request(&format!(
                r#"{{"botToken":"{TOKEN}","webhookUrl":"https://a.example","webhookSecret":"{secret}"}}"#
            ))
        };
        for bad in [
            "",
            "0123456789abcdef0123456789abcdef",
            "whsec_c2hvcnQ=",
            "whsec_***",
        ] {
            let error = with(bad).expect_err(bad);
            assert_eq!(
                (error.status, error.field.as_deref()),
                (400, Some("webhookSecret")),
                "{bad}"
            );
        }
        let good = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        assert_eq!(with(good).unwrap().webhook.secret.as_deref(), Some(good));
    }

    #[test]
    fn issue_8_item_2_generate_makes_a_new_whsec_secret() {
        let mut request = ConnectRequest::from_json(
            format!(r#"{{"botToken":"{TOKEN}","webhookUrl":"https://a.example","webhookSecret":"generate"}}"#)
                .as_bytes(),
        )
        .unwrap();
        let secret = request
            .generate_secret_if_asked(|| Ok([9; 32]))
            .unwrap()
            .unwrap();
        let settings = request.validate(false).unwrap();
        assert_eq!(settings.webhook.secret.as_deref(), Some(secret.as_str()));
        assert!(SigningKey::parse(&secret).is_ok());
        let answer = ConnectResponse::connecting(Some(secret.clone()));
        assert!(serde_json::to_string(&answer).unwrap().contains(&secret));
        assert!(!format!("{answer:?}").contains(&secret));
        // Anything else is left alone.
        let mut plain = ConnectRequest::default();
        let never = || -> Result<[u8; 32], ApiError> { unreachable!("not asked") };
        assert_eq!(plain.generate_secret_if_asked(never), Ok(None));
        assert_eq!(plain.webhook_secret, None);
        assert_eq!(
            serde_json::to_string(&ConnectResponse::connecting(None)).unwrap(),
            r#"{"status":"connecting"}"#
        );
    }

    #[test]
    fn delivery_options_and_dead_letter_selections() {
        let settings = request(&format!(
            r#"{{"botToken":"{TOKEN}","webhookUrl":"https://a.example","delivery":{{"timeoutMs":5000,"concurrency":1,"maxAgeMs":60000}}}}"#
        ))
        .unwrap();
        assert_eq!(settings.delivery.timeout_ms, 5_000);
        assert_eq!(settings.delivery.concurrency, 1);
        assert_eq!(settings.delivery.max_pending, 100_000);
    }

    /// Issue 8 item 8: `delivery.maxPending` stops where the lanes still fit with a wide margin.
    #[test]
    fn issue8_item8_max_pending_is_bounded_by_memory() {
        let with = |max: u64| {
            request(&format!(
                r#"{{"botToken":"{TOKEN}","webhookUrl":"https://a.example","delivery":{{"maxPending":{max}}}}}"#
            ))
        };
        assert_eq!(with(250_000).unwrap().delivery.max_pending, 250_000);
        for max in [250_001, 1_000_000] {
            let error = with(max).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("delivery"));
            assert!(error.error.contains("250000"), "{}", error.error);
        }
    }

    /// Issue 8 item 3: acting on every dead letter takes an explicit `{"all":true}`; a body that
    /// is empty, or was cut off, or selects nothing is refused, never read as "all".
    #[test]
    fn issue8_item3_dead_letter_selection_all_is_explicit() {
        assert_eq!(
            DeadLetterSelection::from_json(br#"{"ids":[3,4]}"#).unwrap(),
            DeadLetterSelection::Ids(vec![3.into(), 4.into()])
        );
        assert_eq!(
            DeadLetterSelection::from_json(br#" {"all": true} "#).unwrap(),
            DeadLetterSelection::All
        );
        let refused = [
            (&b""[..], None),
            (b"  ", None),
            (b"{}", None),
            (br#"{"ids":[9"#, None),
            (br#"{"ids":[]}"#, Some("ids")),
            (br#"{"ids":null}"#, Some("ids")),
            (br#"{"ids":"all"}"#, Some("ids")),
            (br#"{"ids":[1.5]}"#, Some("ids")),
            (br#"{"all":false}"#, Some("all")),
            (br#"{"all":null}"#, Some("all")),
            (br#"{"all":"yes"}"#, Some("all")),
            (br#"{"ids":[1],"all":true}"#, None),
            (br#"{"id":[1]}"#, Some("id")),
            (br#"[[1]]"#, None),
            (br#"null"#, None),
        ];
        for (body, field) in refused {
            let text = String::from_utf8_lossy(body);
            let error = DeadLetterSelection::from_json(body).expect_err(&text);
            assert_eq!(error.status, 400, "{text}");
            assert_eq!(error.field.as_deref(), field, "{text}: {}", error.error);
        }
        let too_many = format!(r#"{{"ids":[{}]}}"#, vec!["1"; 1_001].join(","));
        assert_eq!(
            DeadLetterSelection::from_json(too_many.as_bytes())
                .unwrap_err()
                .field
                .as_deref(),
            Some("ids")
        );
        // What the Rust client sends is what the object reads back.
        for selection in [
            DeadLetterSelection::All,
            DeadLetterSelection::Ids(vec![7.into()]),
        ] {
            let json = serde_json::to_vec(&selection).unwrap();
            assert_eq!(DeadLetterSelection::from_json(&json).unwrap(), selection);
        }
        assert_eq!(
            serde_json::to_string(&DeadLetterSelection::All).unwrap(),
            r#"{"all":true}"#
        );
        // The largest selection there is fits in a body.
        let largest = DeadLetterSelection::Ids(vec![i64::MIN.into(); MAX_DEAD_LETTERS as usize]);
        assert!(serde_json::to_vec(&largest).unwrap().len() <= MAX_BODY_BYTES);
    }

    /// Issue 12 follow-up (the Rust `GatewayStub` on a sharded bot): a dead letter's id is a
    /// number on a single object (today's JSON, unchanged) or a sharded bot's string, and
    /// both round-trip.
    #[test]
    fn issue12_stub_dead_letter_id_is_a_number_or_a_sharded_string() {
        let single = r#"{"id":5,"eventId":"s:5","eventType":"MESSAGE_CREATE","channelId":"1","createdAt":7,"attempts":3,"lastError":"503"}"#;
        let letter: DeadLetter = serde_json::from_str(single).unwrap();
        assert_eq!(letter.id, DeadLetterId::Outbox(5));
        assert_eq!(serde_json::to_string(&letter).unwrap(), single);
        let sharded = DeadLetter {
            id: "3.0.5".into(),
            ..letter
        };
        let json = serde_json::to_string(&sharded).unwrap();
        assert!(json.starts_with(r#"{"id":"3.0.5","#), "{json}");
        assert_eq!(serde_json::from_str::<DeadLetter>(&json).unwrap(), sharded);
        assert_eq!(sharded.id.to_string(), "3.0.5");
        assert_eq!(DeadLetterId::Outbox(-2).to_string(), "-2");
        // A selection names either; a single object's stays numbers.
        assert_eq!(
            serde_json::to_string(&DeadLetterSelection::Ids(vec![3.into(), 4.into()])).unwrap(),
            r#"{"ids":[3,4]}"#
        );
        assert_eq!(
            serde_json::to_string(&DeadLetterSelection::Ids(vec!["1.0.5".into()])).unwrap(),
            r#"{"ids":["1.0.5"]}"#
        );
        assert_eq!(
            DeadLetterSelection::from_json(br#"{"ids":[3]}"#)
                .unwrap()
                .outbox_ids()
                .unwrap(),
            Some(vec![3])
        );
        assert_eq!(DeadLetterSelection::All.outbox_ids().unwrap(), None);
    }

    /// Issue 8 item 7: only a JSON object is a connect request; an empty body (and only a really
    /// empty one) means the environment's defaults.
    #[test]
    fn issue8_item7_only_a_json_object_is_a_connect_request() {
        for body in [
            &b"[]"[..],
            b"[\"Bot x\"]",
            b"null",
            b"42",
            b"\"text\"",
            b"true",
            b" ",
            b"\n",
        ] {
            let text = String::from_utf8_lossy(body);
            let error = ConnectRequest::from_json(body).expect_err(&text);
            assert_eq!((error.status, error.field), (400, None), "{text}");
        }
        let error = ConnectRequest::from_json(br#"{"delivery":[1000]}"#).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("delivery"));
        assert_eq!(
            ConnectRequest::from_json(b"").unwrap(),
            ConnectRequest::default()
        );
        assert_eq!(
            ConnectRequest::from_json(b" {} ").unwrap(),
            ConnectRequest::default()
        );
        assert_eq!(
            ConnectRequest::from_json(br#"{"delivery":null}"#).unwrap(),
            ConnectRequest::default()
        );
    }

    /// Issue 8 item 5: a connect body of exactly [`MAX_BODY_BYTES`] that the entry merges with the
    /// longest valid environment values still fits in what the object accepts.
    #[test]
    fn issue8_item5_the_object_accepts_what_the_entry_forwards() {
        // Events of 64 characters, the longest allowed, fill the body; whitespace pads it exactly.
        let event = "E".repeat(64);
        let mut body = String::from(r#"{"events":["#);
        while body.len() + event.len() + 8 < MAX_BODY_BYTES {
            if !body.ends_with('[') {
                body.push(',');
            }
            body.push_str(&format!("\"{event}\""));
        }
        body.push_str("]}");
        let padding = MAX_BODY_BYTES - body.len();
        body.insert_str(1, &" ".repeat(padding));
        assert_eq!(body.len(), MAX_BODY_BYTES);
        let environment = crate::credentials::EnvironmentCredentials {
            bot_token: Some("\"".repeat(256)),
            webhook_url: Some(format!("https://a.example/{}", "\"".repeat(2_048 - 18))),
            webhook_secret: Some("\\".repeat(256)),
            ..Default::default()
        };
        let merged = environment
            .fill(ConnectRequest::from_json(body.as_bytes()).unwrap())
            .unwrap();
        let forwarded = serde_json::to_vec(&merged).unwrap();
        assert!(
            forwarded.len() <= MAX_FORWARDED_BODY_BYTES,
            "{} > {MAX_FORWARDED_BODY_BYTES}",
            forwarded.len()
        );
    }

    #[test]
    fn insecure_webhooks_only_when_allowed() {
        let body = format!(r#"{{"botToken":"{TOKEN}","webhookUrl":"http://127.0.0.1:8787/hook"}}"#);
        assert!(request(&body).is_err());
        let settings = ConnectRequest::from_json(body.as_bytes())
            .unwrap()
            .validate(true)
            .unwrap();
        assert_eq!(settings.webhook.host(), "127.0.0.1:8787");
    }

    #[test]
    fn issue12_growth_connect_reshard_check_ms_is_bounded_and_needs_shards() {
        let parse = |body: &str| ConnectRequest::from_json(body.as_bytes()).unwrap();
        assert_eq!(
            parse(r#"{"shards":"auto"}"#).reshard_check_ms().unwrap(),
            crate::shards::DEFAULT_RESHARD_CHECK_MS
        );
        assert_eq!(
            parse(r#"{"shards":"auto","reshardCheckMs":2000}"#)
                .reshard_check_ms()
                .unwrap(),
            2000
        );
        for bad in [
            r#"{"shards":"auto","reshardCheckMs":999}"#,
            r#"{"shards":"auto","reshardCheckMs":604800001}"#,
            r#"{"reshardCheckMs":2000}"#,
        ] {
            let err = parse(bad).reshard_check_ms().unwrap_err();
            assert_eq!(err.status, 400, "{bad}");
            assert_eq!(err.field.as_deref(), Some("reshardCheckMs"), "{bad}");
        }
    }

    #[test]
    fn issue12_connect_shards_is_auto_or_a_bounded_number_naming_shards() {
        use crate::shards::ShardCount;
        let parse = |body: &str| ConnectRequest::from_json(body.as_bytes()).unwrap();
        assert_eq!(parse("{}").shard_count().unwrap(), None);
        assert_eq!(
            parse(r#"{"shards":"auto"}"#).shard_count().unwrap(),
            Some(ShardCount::Auto)
        );
        assert_eq!(
            parse(r#"{"shards":4}"#).shard_count().unwrap(),
            Some(ShardCount::fixed(4).unwrap())
        );
        for bad in [
            r#"{"shards":0}"#,
            r#"{"shards":16385}"#,
            r#"{"shards":"4"}"#,
            r#"{"shards":2.5}"#,
            r#"{"shards":2,"shard":[0,2]}"#,
        ] {
            let err = parse(bad).shard_count().unwrap_err();
            assert_eq!(err.status, 400, "{bad}");
            assert_eq!(err.field.as_deref(), Some("shards"), "{bad}");
        }
    }
}
