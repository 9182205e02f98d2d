//! A subscription as the admin API creates and shows it: the body of a create request, checked
//! field by field (a `400` names the field), and the view read back, which never holds the push
//! secret (write-only) nor the webhook URL beyond its host (as `/status` shows the connect
//! webhook).
//!
//! ```json
//! {"name": "tenant-a", "kind": "push", "webhookUrl": "https://a.example/hook",
//!  "webhookSecret": "whsec_…" | "generate", "filter": {"guildIds": ["1"]}}
//! {"name": "agent-1", "kind": "pull", "filter": {"channelIds": ["5"]}}
//! ```
//!
//! The name `default` is the subscription `POST /connect`'s `webhookUrl` makes; the admin API
//! cannot create it. Environment credentials (`WEBHOOK_URL`, `WEBHOOK_SECRET`) never fill a
//! subscription: they go only to the destination `/connect` configures.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::filter::{Filter, FilterJson};
use super::token::valid_name;
use crate::api::{json_object, ApiError, WebhookTarget};
use crate::delivery::signature::GENERATED_KEY_BYTES;

/// The name of the push subscription that `POST /connect`'s `webhookUrl` makes.
pub const DEFAULT_SUBSCRIPTION: &str = "default";

/// The fields a create request may hold.
const FIELDS: [&str; 5] = ["name", "kind", "webhookUrl", "webhookSecret", "filter"];

/// How a subscription receives its events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// POSTed to a webhook, with its own lanes, retries and dead letters.
    Push(WebhookTarget),
    /// Read with a bearer token from `GET /v1/inbox`.
    Pull,
}

/// A checked subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionSpec {
    /// Its name, unique in the bot.
    pub name: String,
    /// Push or pull.
    pub kind: Kind,
    /// Which events it receives.
    pub filter: Filter,
}

/// What the admin API shows of a subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionView {
    /// Its name.
    pub name: String,
    /// `push` or `pull`.
    pub kind: &'static str,
    /// The webhook's host (push only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_host: Option<String>,
    /// Whether deliveries are signed (push only); the secret itself is never shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_configured: Option<bool>,
    /// Its filter.
    pub filter: FilterJson,
}

fn optional_string(object: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(
            Some(field),
            format!("{field} must be a string"),
        )),
    }
}

fn filter_error(why: &str) -> ApiError {
    ApiError::bad_request(
        Some("filter"),
        format!(
            "filter must be an object with guildIds, channelIds, eventTypes (lists of strings) and directMessages (true or false): {why}"
        ),
    )
}

/// A parsed create request, before its secret is generated and its fields checked.
#[derive(Clone, Debug, Default)]
pub struct SubscriptionRequest {
    name: Option<String>,
    kind: Option<String>,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
    filter: FilterJson,
}

impl SubscriptionRequest {
    /// Parses a JSON object body; an unknown field or a value of the wrong type is a `400`
    /// naming it.
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let object = json_object(body, "subscription")?;
        if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(ApiError::bad_request(
                Some(unknown),
                format!(
                    "{unknown:?} is not a field of a subscription ({})",
                    FIELDS.join(", ")
                ),
            ));
        }
        let filter = match object.get("filter") {
            None | Some(Value::Null) => FilterJson::default(),
            Some(value) if value.is_object() => {
                serde_json::from_value(value.clone()).map_err(|e| filter_error(&e.to_string()))?
            }
            Some(_) => return Err(filter_error("it is not an object")),
        };
        Ok(Self {
            name: optional_string(&object, "name")?,
            kind: optional_string(&object, "kind")?,
            webhook_url: optional_string(&object, "webhookUrl")?,
            webhook_secret: optional_string(&object, "webhookSecret")?,
            filter,
        })
    }

    /// Replaces `"webhookSecret": "generate"` with a new `whsec_` secret from the key `draw`
    /// gives (the platform's CSPRNG), and returns it to be shown this once.
    pub fn generate_secret_if_asked(
        &mut self,
        draw: impl FnOnce() -> Result<[u8; GENERATED_KEY_BYTES], ApiError>,
    ) -> Result<Option<String>, ApiError> {
        crate::api::generate_secret_if_asked(&mut self.webhook_secret, draw)
    }

    /// Checks every field, naming the field and the rule on failure.
    pub fn validate(self, allow_insecure_webhooks: bool) -> Result<SubscriptionSpec, ApiError> {
        let name = self
            .name
            .ok_or_else(|| ApiError::bad_request(Some("name"), "name is required"))?;
        if !valid_name(&name) {
            return Err(ApiError::bad_request(
                Some("name"),
                "name must be 1-64 letters, digits, '-', '_' or '.'",
            ));
        }
        if name == DEFAULT_SUBSCRIPTION {
            return Err(ApiError::bad_request(
                Some("name"),
                "the subscription named default is POST /connect's webhookUrl: pick another name",
            ));
        }
        let kind = match self.kind.as_deref() {
            Some("push") => Kind::Push(WebhookTarget::checked(
                self.webhook_url,
                self.webhook_secret,
                allow_insecure_webhooks,
                "webhookUrl is required for a push subscription",
            )?),
            Some("pull") => {
                for (field, value) in [
                    ("webhookUrl", &self.webhook_url),
                    ("webhookSecret", &self.webhook_secret),
                ] {
                    if value.is_some() {
                        return Err(ApiError::bad_request(
                            Some(field),
                            format!(
                                "a pull subscription has no {field}: its agents read GET /v1/inbox"
                            ),
                        ));
                    }
                }
                Kind::Pull
            }
            _ => {
                return Err(ApiError::bad_request(
                    Some("kind"),
                    "kind must be \"push\" or \"pull\"",
                ))
            }
        };
        Ok(SubscriptionSpec {
            name,
            kind,
            filter: Filter::from_json(&self.filter)?,
        })
    }
}

/// How a subscription's definition is stored (`subscriptions.definition`): the push target
/// (its secret included: storage is the object's own, like the connect settings) and the
/// filter. The kind and name have their own columns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredDefinition {
    /// The push webhook URL, already checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// The push secret, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// The filter.
    #[serde(default)]
    pub filter: FilterJson,
}

/// The answer to a create or replace: the view, plus what is shown this once (a generated
/// `webhookSecret`, a pull `token`) and never again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionCreated {
    /// The subscription as the admin API shows it.
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    /// The generated secret, when `"webhookSecret": "generate"` asked for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// The pull token (created only): keep it, it is stored as a hash only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl SubscriptionRequest {
    /// For a replace (`PUT /subscriptions?subscription=<name>`): the name is the one in the
    /// query; a body naming another is a `400` naming `name`.
    pub fn named(mut self, name: &str) -> Result<Self, ApiError> {
        match &self.name {
            Some(given) if given != name => Err(ApiError::bad_request(
                Some("name"),
                format!("the body names {given:?} but the query names {name:?}: a subscription cannot be renamed"),
            )),
            _ => {
                self.name = Some(name.to_owned());
                Ok(self)
            }
        }
    }
}

impl SubscriptionSpec {
    /// `push` or `pull`, as stored in `subscriptions.kind`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Push(_) => "push",
            Kind::Pull => "pull",
        }
    }

    /// Its stored definition.
    pub fn stored(&self) -> StoredDefinition {
        let (webhook_url, webhook_secret) = match &self.kind {
            Kind::Push(target) => (Some(target.url.clone()), target.secret.clone()),
            Kind::Pull => (None, None),
        };
        StoredDefinition {
            webhook_url,
            webhook_secret,
            filter: self.filter.to_json(),
        }
    }

    /// A stored subscription read back. Its URL was checked when it was created, so it is not
    /// checked again (a policy change must not make a stored subscription unreadable); an
    /// unknown kind, a push without URL or a bad filter is an error naming the subscription.
    pub fn from_stored(name: &str, kind: &str, definition: &str) -> Result<Self, String> {
        let stored: StoredDefinition = serde_json::from_str(definition)
            .map_err(|e| format!("subscription {name:?}: unreadable definition ({e})"))?;
        let kind = match (kind, stored.webhook_url) {
            ("push", Some(url)) => Kind::Push(WebhookTarget {
                url,
                secret: stored.webhook_secret,
            }),
            ("pull", _) => Kind::Pull,
            (kind, _) => {
                return Err(format!(
                    "subscription {name:?}: kind {kind:?} without what it needs"
                ))
            }
        };
        let filter = Filter::from_json(&stored.filter)
            .map_err(|e| format!("subscription {name:?}: {}", e.error))?;
        Ok(Self {
            name: name.to_owned(),
            kind,
            filter,
        })
    }

    /// What the admin API shows of it: no secret, no URL beyond its host.
    pub fn view(&self) -> SubscriptionView {
        let (kind, webhook_host, secret_configured) = match &self.kind {
            Kind::Push(target) => (
                "push",
                Some(target.host().to_owned()),
                Some(target.secret.is_some()),
            ),
            Kind::Pull => ("pull", None, None),
        };
        SubscriptionView {
            name: self.name.clone(),
            kind,
            webhook_host,
            secret_configured,
            filter: self.filter.to_json(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_10_admin_a_stored_definition_reads_back_as_created() {
        for json in [
            format!(
                r#"{{"name":"t","kind":"push","webhookUrl":"https://a.example/h","webhookSecret":"{SECRET}","filter":{{"guildIds":["1"],"eventTypes":["MESSAGE_CREATE"]}}}}"#
            ),
            r#"{"name":"p","kind":"pull","filter":{"channelIds":["5"],"directMessages":true}}"#
                .to_owned(),
        ] {
            let created = spec(&json).unwrap();
            let stored = serde_json::to_string(&created.stored()).unwrap();
            let read =
                SubscriptionSpec::from_stored(&created.name, created.kind_name(), &stored).unwrap();
            assert_eq!(read, created, "{json}");
        }
        assert!(SubscriptionSpec::from_stored("x", "push", "{}").is_err());
        assert!(SubscriptionSpec::from_stored("x", "poll", "{}").is_err());
        assert!(SubscriptionSpec::from_stored("x", "pull", "[").is_err());
    }

    #[test]
    fn issue_10_admin_a_replace_keeps_the_name_of_the_query() {
        let request = SubscriptionRequest::from_json(br#"{"kind":"pull"}"#).unwrap();
        assert_eq!(
            request.named("a").unwrap().validate(false).unwrap().name,
            "a"
        );
        let other = SubscriptionRequest::from_json(br#"{"name":"b","kind":"pull"}"#).unwrap();
        assert_eq!(other.named("a").unwrap_err().field.as_deref(), Some("name"));
    }

    const SECRET: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3";

    fn spec(json: &str) -> Result<SubscriptionSpec, ApiError> {
        SubscriptionRequest::from_json(json.as_bytes())?.validate(false)
    }

    fn field(json: &str) -> Option<String> {
        let err = spec(json).unwrap_err();
        assert_eq!(err.status, 400, "{json}");
        err.field
    }

    #[test]
    fn issue_10_admin_a_push_subscription_never_shows_its_secret_or_url() {
        let push = spec(&format!(
            r#"{{"name":"tenant-a","kind":"push","webhookUrl":"https://a.example/hook?key=k","webhookSecret":"{SECRET}","filter":{{"guildIds":["1"]}}}}"#
        ))
        .unwrap();
        assert_eq!(push.filter.guild_ids, vec![1]);
        let shown = serde_json::to_string(&push.view()).unwrap();
        assert_eq!(
            shown,
            r#"{"name":"tenant-a","kind":"push","webhookHost":"a.example","secretConfigured":true,"filter":{"guildIds":["1"]}}"#
        );
        assert!(!shown.contains("MDEy") && !format!("{push:?}").contains("MDEy"));
        assert!(!shown.contains("key=k"));
    }

    #[test]
    fn issue_10_admin_a_pull_subscription_has_a_name_and_a_filter_only() {
        let pull =
            spec(r#"{"name":"agent-1","kind":"pull","filter":{"directMessages":true}}"#).unwrap();
        assert_eq!(pull.kind, Kind::Pull);
        assert_eq!(
            serde_json::to_value(pull.view()).unwrap(),
            serde_json::json!({"name": "agent-1", "kind": "pull", "filter": {"directMessages": true}})
        );
        assert_eq!(
            spec(r#"{"name":"a","kind":"pull"}"#).unwrap().filter,
            Filter::default(),
            "no filter: every event"
        );
    }

    #[test]
    fn issue_10_admin_every_rule_names_its_field() {
        let cases = [
            (r#"{"kind":"pull"}"#, "name"),
            (r#"{"name":"","kind":"pull"}"#, "name"),
            (r#"{"name":"a b","kind":"pull"}"#, "name"),
            (r#"{"name":"default","kind":"pull"}"#, "name"),
            (r#"{"name":7,"kind":"pull"}"#, "name"),
            (r#"{"name":"a"}"#, "kind"),
            (r#"{"name":"a","kind":"poll"}"#, "kind"),
            (r#"{"name":"a","kind":"push"}"#, "webhookUrl"),
            (
                r#"{"name":"a","kind":"push","webhookUrl":"http://a.example"}"#,
                "webhookUrl",
            ),
            (
                r#"{"name":"a","kind":"push","webhookUrl":"https://10.0.0.1/x"}"#,
                "webhookUrl",
            ),
            (
                r#"{"name":"a","kind":"push","webhookUrl":"https://a.example","webhookSecret":"nope"}"#,
                "webhookSecret",
            ),
            (
                r#"{"name":"a","kind":"pull","webhookUrl":"https://a.example"}"#,
                "webhookUrl",
            ),
            (
                r#"{"name":"a","kind":"pull","webhookSecret":"x"}"#,
                "webhookSecret",
            ),
            (r#"{"name":"a","kind":"pull","filter":[]}"#, "filter"),
            (
                r#"{"name":"a","kind":"pull","filter":{"guilds":["1"]}}"#,
                "filter",
            ),
            (
                r#"{"name":"a","kind":"pull","filter":{"guildIds":["x"]}}"#,
                "filter.guildIds[0]",
            ),
            (r#"{"name":"a","kind":"pull","token":"t"}"#, "token"),
        ];
        for (json, name) in cases {
            assert_eq!(field(json).as_deref(), Some(name), "{json}");
        }
        assert_eq!(
            SubscriptionRequest::from_json(b"[]").unwrap_err().status,
            400
        );
    }

    #[test]
    fn issue_10_admin_a_generated_secret_is_returned_once_and_stored() {
        let mut request = SubscriptionRequest::from_json(
            br#"{"name":"a","kind":"push","webhookUrl":"https://a.example","webhookSecret":"generate"}"#,
        )
        .unwrap();
        let shown = request
            .generate_secret_if_asked(|| Ok([7; GENERATED_KEY_BYTES]))
            .unwrap()
            .unwrap();
        assert!(shown.starts_with("whsec_"));
        let spec = request.validate(false).unwrap();
        assert_eq!(
            spec.kind,
            Kind::Push(WebhookTarget {
                url: "https://a.example/".to_owned(),
                secret: Some(shown)
            })
        );
        let mut unsigned = SubscriptionRequest::from_json(
            br#"{"name":"a","kind":"push","webhookUrl":"https://a.example"}"#,
        )
        .unwrap();
        assert_eq!(
            unsigned
                .generate_secret_if_asked(|| panic!("not drawn"))
                .unwrap(),
            None
        );
        assert_eq!(
            unsigned.validate(false).unwrap().view().secret_configured,
            Some(false)
        );
    }
}
