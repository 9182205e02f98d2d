//! `GatewayStub`: the control API of a [`DiscordGatewayDO`](crate::DiscordGatewayDO) for other
//! Rust Workers (Wasm only).
//!
//! It is the Rust counterpart of `stub.fetch` from JavaScript: each method sends one of the
//! object's fetch routes (`POST /connect`, `POST /disconnect`, `GET /status`, the dead-letter
//! routes, the talk-back routes) through [`Stub::fetch_with_request`] and decodes the answer
//! into the same [`api`](crate::api) (and [`talk::request`](crate::talk::request)) types the
//! object serves. Nothing here needs the Worker entry, so it works
//! with `default-features = false`.
//!
//! ```ignore
//! use discord_gateway_do::api::ConnectRequest;
//! use discord_gateway_do::GatewayStub;
//! pub use discord_gateway_do::DiscordGatewayDO; // export the class from your Worker
//!
//! #[worker::event(fetch)]
//! async fn fetch(req: worker::Request, env: worker::Env, _ctx: worker::Context)
//!     -> worker::Result<worker::Response>
//! {
//!     // `DISCORD_GATEWAY` is the Durable Object binding in wrangler.toml; one object per bot.
//!     let gateway = GatewayStub::new(&env, "DISCORD_GATEWAY")?.named("bot-a");
//!     gateway
//!         .connect(&ConnectRequest {
//!             bot_token: Some(env.secret("DISCORD_BOT_TOKEN")?.to_string()),
//!             webhook_url: Some("https://bot.example.com/webhook".into()),
//!             webhook_secret: Some(env.secret("WEBHOOK_SECRET")?.to_string()),
//!             ..Default::default()
//!         })
//!         .await?;
//!     let status = gateway.status().await?;
//!     worker::Response::from_json(&status)
//! }
//! ```

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{Env, Headers, ObjectNamespace, Request, RequestInit, Stub};

use crate::api::{
    ApiError, ConnectRequest, ConnectResponse, DeadLetterList, DeadLetterOutcome,
    DeadLetterSelection, DisconnectResponse, StatusResponse, SubscriptionCounts,
    SubscriptionDeleted,
};
use crate::route_table::{route, RouteId};
use crate::subscriptions::token::{TokenRevoked, TokenRotated};
use crate::subscriptions::FilterJson;
use crate::talk::presence::{PresenceRequest, PresenceResponse};
use crate::talk::request::{MessageRequest, MessagesResponse, ReactionRequest, ReactionResponse};

/// The object used when no name is given.
pub const DEFAULT_NAME: &str = "default";

/// The origin of the URLs sent to the object; only the path matters to it.
const ORIGIN: &str = "https://gateway.internal";

/// Longest slice of an undecodable body kept in [`GatewayStubError::Decode`].
const MAX_BODY_EXCERPT: usize = 200;

/// A handle on one bot's [`DiscordGatewayDO`](crate::DiscordGatewayDO), by binding and name.
///
/// Cheap to build and to clone; a stub is taken for each call. See the [module](self) docs for
/// an example.
#[derive(Clone, Debug)]
pub struct GatewayStub {
    namespace: ObjectNamespace,
    name: String,
    location_hint: Option<String>,
}

impl GatewayStub {
    /// The object named `"default"` of the Durable Object binding `binding`.
    ///
    /// Fails with [`GatewayStubError::Runtime`] when the environment has no such binding.
    pub fn new(env: &Env, binding: &str) -> Result<Self, GatewayStubError> {
        Self::with_name(env, binding, DEFAULT_NAME)
    }

    /// The object named `name` (one per bot) of the Durable Object binding `binding`.
    pub fn with_name(
        env: &Env,
        binding: &str,
        name: impl Into<String>,
    ) -> Result<Self, GatewayStubError> {
        Ok(Self::from_namespace(env.durable_object(binding)?, name))
    }

    /// The object named `name` of a namespace you already hold.
    pub fn from_namespace(namespace: ObjectNamespace, name: impl Into<String>) -> Self {
        Self {
            namespace,
            name: name.into(),
            location_hint: None,
        }
    }

    /// The same binding, another object: the one named `name`.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Asks the runtime to create the object near `hint` (e.g. `"weur"`, `"enam"`) the first
    /// time it is used; ignored for an object that already exists.
    #[must_use]
    pub fn with_location_hint(mut self, hint: impl Into<String>) -> Self {
        self.location_hint = Some(hint.into());
        self
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `POST /connect`: validates the request, stores it and starts connecting (answer `202`).
    ///
    /// The object requires `botToken` and `webhookUrl`; an invalid field comes back as
    /// [`GatewayStubError::Api`] with status `400` and the field's name.
    pub async fn connect(
        &self,
        request: &ConnectRequest,
    ) -> Result<ConnectResponse, GatewayStubError> {
        self.call(RouteId::Connect, Some(request)).await
    }

    /// `POST /disconnect`: closes the connection with code 1000 and forgets the session.
    pub async fn disconnect(&self) -> Result<DisconnectResponse, GatewayStubError> {
        self.call::<(), _>(RouteId::Disconnect, None).await
    }

    /// `GET /status`: state, session, heartbeat, counters and delivery health.
    pub async fn status(&self) -> Result<StatusResponse, GatewayStubError> {
        self.call::<(), _>(RouteId::Status, None).await
    }

    /// `GET /dead-letters`: the `default` subscription's events given up on, oldest first
    /// (on a sharded bot, every shard's, with string ids).
    pub async fn dead_letters(&self) -> Result<DeadLetterList, GatewayStubError> {
        self.dead_letters_for(None).await
    }

    /// `GET /dead-letters?subscription=<name>`: that push subscription's dead letters
    /// (`None`: `default`).
    pub async fn dead_letters_for(
        &self,
        subscription: Option<&str>,
    ) -> Result<DeadLetterList, GatewayStubError> {
        self.call_on::<(), _>(RouteId::DeadLetters, subscription, None)
            .await
    }

    /// `POST /dead-letters/replay`: queues the `default` subscription's selected dead letters
    /// for delivery again ([`DeadLetterSelection::Ids`], or [`DeadLetterSelection::All`] for
    /// every one).
    pub async fn replay_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> Result<DeadLetterOutcome, GatewayStubError> {
        self.replay_dead_letters_for(None, selection).await
    }

    /// `POST /dead-letters/replay?subscription=<name>`: as
    /// [`replay_dead_letters`](Self::replay_dead_letters), for that push subscription
    /// (`None`: `default`).
    pub async fn replay_dead_letters_for(
        &self,
        subscription: Option<&str>,
        selection: &DeadLetterSelection,
    ) -> Result<DeadLetterOutcome, GatewayStubError> {
        self.call_on(RouteId::ReplayDeadLetters, subscription, Some(selection))
            .await
    }

    /// `POST /dead-letters/drop`: deletes the `default` subscription's selected dead letters
    /// ([`DeadLetterSelection::Ids`], or [`DeadLetterSelection::All`] for every one).
    pub async fn drop_dead_letters(
        &self,
        selection: &DeadLetterSelection,
    ) -> Result<DeadLetterOutcome, GatewayStubError> {
        self.drop_dead_letters_for(None, selection).await
    }

    /// `POST /dead-letters/drop?subscription=<name>`: as
    /// [`drop_dead_letters`](Self::drop_dead_letters), for that push subscription
    /// (`None`: `default`).
    pub async fn drop_dead_letters_for(
        &self,
        subscription: Option<&str>,
        selection: &DeadLetterSelection,
    ) -> Result<DeadLetterOutcome, GatewayStubError> {
        self.call_on(RouteId::DropDeadLetters, subscription, Some(selection))
            .await
    }

    /// `GET /subscriptions`: every subscription (`default` first) with its counts.
    pub async fn subscriptions(&self) -> Result<SubscriptionListOf, GatewayStubError> {
        self.call::<(), _>(RouteId::ListSubscriptions, None).await
    }

    /// `POST /subscriptions`: a new push or pull subscription. The answer holds what is shown
    /// once: a pull subscription's `token`, a generated `webhookSecret`.
    pub async fn create_subscription(
        &self,
        request: &SubscriptionBody,
    ) -> Result<SubscriptionAnswer, GatewayStubError> {
        self.call(RouteId::CreateSubscription, Some(request)).await
    }

    /// `GET /subscriptions/one?subscription=<name>`: one subscription with its counts.
    pub async fn subscription(&self, name: &str) -> Result<SubscriptionEntry, GatewayStubError> {
        self.call_on::<(), _>(RouteId::GetSubscription, Some(name), None)
            .await
    }

    /// `PUT /subscriptions?subscription=<name>`: replaces its definition (same kind).
    pub async fn replace_subscription(
        &self,
        name: &str,
        request: &SubscriptionBody,
    ) -> Result<SubscriptionAnswer, GatewayStubError> {
        self.call_on(RouteId::ReplaceSubscription, Some(name), Some(request))
            .await
    }

    /// `DELETE /subscriptions?subscription=<name>`: deletes it (not `default`), releasing the
    /// events it holds.
    pub async fn delete_subscription(
        &self,
        name: &str,
    ) -> Result<SubscriptionDeleted, GatewayStubError> {
        self.call_on::<(), _>(RouteId::DeleteSubscription, Some(name), None)
            .await
    }

    /// `POST /subscriptions/rotate-token?subscription=<name>`: a new token for the pull
    /// subscription `name`, shown this once; the old one is refused from now on.
    pub async fn rotate_token(&self, name: &str) -> Result<TokenRotated, GatewayStubError> {
        self.call_on::<(), _>(RouteId::RotateToken, Some(name), None)
            .await
    }

    /// `POST /subscriptions/revoke-token?subscription=<name>`: the pull subscription's token
    /// is refused from now on (rotate to issue a new one).
    pub async fn revoke_token(&self, name: &str) -> Result<TokenRevoked, GatewayStubError> {
        self.call_on::<(), _>(RouteId::RevokeToken, Some(name), None)
            .await
    }

    /// `POST /v1/messages`: posts as the bot, split into several messages when over 2,000
    /// characters, through the bot's REST rate limiter; the created message ids in order.
    /// `allowed_mentions` defaults to `{"parse":[]}` (nobody is pinged).
    pub async fn send_message(
        &self,
        request: &MessageRequest,
    ) -> Result<MessagesResponse, GatewayStubError> {
        self.call(RouteId::SendMessage, Some(request)).await
    }

    /// `PUT /v1/reactions`: adds the bot's reaction (a unicode emoji or `name:id`).
    pub async fn add_reaction(
        &self,
        request: &ReactionRequest,
    ) -> Result<ReactionResponse, GatewayStubError> {
        self.call(RouteId::AddReaction, Some(request)).await
    }

    /// `DELETE /v1/reactions`: removes the bot's reaction.
    pub async fn remove_reaction(
        &self,
        request: &ReactionRequest,
    ) -> Result<ReactionResponse, GatewayStubError> {
        self.call(RouteId::RemoveReaction, Some(request)).await
    }

    /// `POST /presence`: the bot's status and activities, sent as op 3 now when connected and
    /// with every later Identify; shown in `/status`.
    pub async fn set_presence(
        &self,
        request: &PresenceRequest,
    ) -> Result<PresenceResponse, GatewayStubError> {
        self.call(RouteId::SetPresence, Some(request)).await
    }

    fn stub(&self) -> worker::Result<Stub> {
        match &self.location_hint {
            Some(hint) => self
                .namespace
                .get_by_name_with_location_hint(&self.name, hint),
            None => self.namespace.get_by_name(&self.name),
        }
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        id: RouteId,
        body: Option<&B>,
    ) -> Result<T, GatewayStubError> {
        self.call_on(id, None, body).await
    }

    /// A call naming a subscription in `?subscription=`.
    async fn call_on<B: Serialize, T: DeserializeOwned>(
        &self,
        id: RouteId,
        subscription: Option<&str>,
        body: Option<&B>,
    ) -> Result<T, GatewayStubError> {
        let route = route(id);
        let mut init = RequestInit::new();
        init.with_method(route.method.into());
        if let Some(body) = body {
            let json = serde_json::to_string(body).map_err(worker::Error::from)?;
            let headers = Headers::new();
            headers.set("content-type", "application/json")?;
            init.with_headers(headers).with_body(Some(json.into()));
        }
        let mut url = worker::Url::parse(&format!("{ORIGIN}{}", route.path))
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        if let Some(name) = subscription {
            url.query_pairs_mut().append_pair("subscription", name);
        }
        let request = Request::new_with_init(url.as_str(), &init)?;
        let mut response = self.stub()?.fetch_with_request(request).await?;
        let status = response.status_code();
        let bytes = response.bytes().await?;
        decode(status, &bytes)
    }
}

/// The body of [`GatewayStub::create_subscription`] and [`GatewayStub::replace_subscription`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionBody {
    /// Its name (1-64 letters, digits, `-`, `_`, `.`; not `default`). For a replace, the
    /// name given to the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `push` or `pull`.
    pub kind: String,
    /// Push: the webhook URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Push: a `whsec_` secret, or `generate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// Which events it receives (empty: all).
    #[serde(default)]
    pub filter: FilterJson,
}

/// A subscription as the admin API shows it (never its secret, URL or token), with its counts.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionEntry {
    /// Its name.
    pub name: String,
    /// `push` or `pull`.
    pub kind: String,
    /// The webhook's host (push).
    #[serde(default)]
    pub webhook_host: Option<String>,
    /// Whether deliveries are signed (push).
    #[serde(default)]
    pub secret_configured: Option<bool>,
    /// Its filter.
    #[serde(default)]
    pub filter: FilterJson,
    /// How it is doing.
    #[serde(flatten)]
    pub counts: SubscriptionCounts,
}

/// `GET /subscriptions`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct SubscriptionListOf {
    /// Every subscription, `default` first.
    pub subscriptions: Vec<SubscriptionEntry>,
}

/// The answer to a create or replace: the subscription, and what is shown once.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionAnswer {
    /// Its name.
    pub name: String,
    /// `push` or `pull`.
    pub kind: String,
    /// A generated secret (when `"webhookSecret": "generate"` asked for one).
    #[serde(default)]
    pub webhook_secret: Option<String>,
    /// A new pull subscription's bearer token; stored as a hash only.
    #[serde(default)]
    pub token: Option<String>,
}

/// Turns the object's answer into `T` (a 2xx) or an error.
fn decode<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, GatewayStubError> {
    if (200..300).contains(&status) {
        return crate::json::from_slice(body).map_err(|e| GatewayStubError::Decode {
            status,
            message: format!("{e}; body: {}", excerpt(body)),
        });
    }
    match crate::json::from_slice::<ApiError>(body) {
        Ok(mut error) => {
            error.status = status;
            Err(GatewayStubError::Api(error))
        }
        Err(e) => Err(GatewayStubError::Decode {
            status,
            message: format!("not an API error ({e}); body: {}", excerpt(body)),
        }),
    }
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_BODY_EXCERPT)]);
    if body.len() > MAX_BODY_EXCERPT {
        format!("{text}…")
    } else {
        text.into_owned()
    }
}

/// Why a [`GatewayStub`] call failed.
#[derive(Debug)]
pub enum GatewayStubError {
    /// The object answered with an error: a bad request (`status` 400 and the `field` at fault),
    /// a wrong method, storage trouble (503), ...
    Api(ApiError),
    /// The runtime failed: no such binding, the stub could not be reached, the object threw.
    Runtime(worker::Error),
    /// The object answered something that is not the expected JSON (e.g. a different version
    /// of the object behind the binding).
    Decode {
        /// The HTTP status of the answer.
        status: u16,
        /// What did not decode, with the start of the body.
        message: String,
    },
}

impl GatewayStubError {
    /// The HTTP status the object answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(error) => Some(error.status),
            Self::Decode { status, .. } => Some(*status),
            Self::Runtime(_) => None,
        }
    }

    /// The request field at fault, when the object named one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Api(error) => error.field.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for GatewayStubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api(error) => match &error.field {
                Some(field) => {
                    write!(
                        f,
                        "gateway object refused ({}, field {field}): {}",
                        error.status, error.error
                    )
                }
                None => write!(
                    f,
                    "gateway object refused ({}): {}",
                    error.status, error.error
                ),
            },
            Self::Runtime(error) => write!(f, "could not reach the gateway object: {error}"),
            Self::Decode { status, message } => {
                write!(
                    f,
                    "undecodable answer from the gateway object ({status}): {message}"
                )
            }
        }
    }
}

impl std::error::Error for GatewayStubError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Api(error) => Some(error),
            Self::Runtime(error) => Some(error),
            Self::Decode { .. } => None,
        }
    }
}

impl From<worker::Error> for GatewayStubError {
    fn from(error: worker::Error) -> Self {
        Self::Runtime(error)
    }
}

impl From<ApiError> for GatewayStubError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

/// Lets `?` turn a stub error into a `worker::Error` inside a handler returning
/// `worker::Result`. The message keeps the status and field; match on [`GatewayStubError`]
/// first to answer with the object's own status instead.
impl From<GatewayStubError> for worker::Error {
    fn from(error: GatewayStubError) -> Self {
        match error {
            GatewayStubError::Runtime(error) => error,
            other => worker::Error::RustError(other.to_string()),
        }
    }
}
