//! The talk-back routes' requests: `POST /v1/messages` and `PUT`/`DELETE /v1/reactions`,
//! validated into what is sent to Discord, and who may send them.
//!
//! Field names follow Discord's (`channel_id`, `reply_to`, `allowed_mentions`), in requests and
//! answers alike. Every refusal of a body is a `400` naming the field; a pull subscription's
//! token outside its filter's channels is a `403` naming `channel_id`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::split::{split, MAX_MESSAGE_CHARS};
use crate::api::{json_object, ApiError};
use crate::subscriptions::filter::{ChannelPlace, Filter};

/// Longest `content` accepted, in UTF-16 units: ten messages' worth.
pub const MAX_CONTENT_UNITS: usize = 10 * MAX_MESSAGE_CHARS;

/// Who is asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller<'a> {
    /// The admin token (or a binding of the object): any channel.
    Admin,
    /// A pull subscription's token: only the channels its filter covers
    /// ([`Filter::covers`]).
    Subscription {
        /// The subscription's name, for the refusal.
        name: &'a str,
        /// Its filter.
        filter: &'a Filter,
    },
}

/// Whether `caller` may talk in `channel_id` (`403` naming the channel when not). `place`
/// tells what the object knows of a channel (a thread's parent, whether it is a DM).
pub fn authorize(
    caller: Caller<'_>,
    channel_id: &str,
    place: impl FnOnce(u64) -> ChannelPlace,
) -> Result<(), ApiError> {
    match caller {
        Caller::Admin => Ok(()),
        Caller::Subscription { name, filter } => {
            let covered = channel_id
                .parse::<u64>()
                .is_ok_and(|id| filter.covers(&place(id)));
            if covered {
                Ok(())
            } else {
                Err(ApiError::new(
                    403,
                    Some("channel_id"),
                    format!(
                        "channel {channel_id} is outside the filter of subscription {name:?}: its token may talk only in the channels (and their threads) its filter names, or in DMs when it asks for them"
                    ),
                ))
            }
        }
    }
}

/// `POST /v1/messages`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageRequest {
    /// The channel (or thread, or DM channel) to post in.
    pub channel_id: String,
    /// The text; split into several messages when over 2,000 characters.
    pub content: String,
    /// A message to reply to (the first message of a split reply is the reply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Discord's `allowed_mentions`; absent means `{"parse":[]}`: nobody is pinged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_mentions: Option<Value>,
}

/// A validated message request: the bodies to send to Discord, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct OutgoingMessages {
    /// The channel.
    pub channel_id: String,
    /// One Discord create-message JSON body per part.
    pub bodies: Vec<String>,
}

/// `200` answer to `POST /v1/messages`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagesResponse {
    /// The created messages' ids, in order.
    pub message_ids: Vec<String>,
}

/// `PUT`/`DELETE /v1/reactions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionRequest {
    /// The channel of the message.
    pub channel_id: String,
    /// The message.
    pub message_id: String,
    /// A unicode emoji (`👍`), or a custom one as `name:id` (`<:name:id>` is accepted too).
    pub emoji: String,
}

/// `200` answer to the reaction routes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionResponse {
    /// `true`.
    pub ok: bool,
}

/// Parses a body into `T`, naming the first unknown or missing field.
fn parse<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
    fields: &[&str],
    required: &[&str],
) -> Result<T, ApiError> {
    let object = json_object(body, what)?;
    if let Some(key) = object.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(ApiError::bad_request(
            Some(key),
            format!("unknown field {key}: a {what} has {}", fields.join(", ")),
        ));
    }
    for field in required {
        if !object.get(*field).is_some_and(Value::is_string) {
            return Err(ApiError::bad_request(
                Some(field),
                format!("{field} is required and must be a string"),
            ));
        }
    }
    serde_json::from_value(Value::Object(object))
        .map_err(|e| ApiError::bad_request(None, format!("not a valid {what}: {e}")))
}

/// Checks a snowflake id (1 to 20 digits, a 64-bit number).
fn snowflake(field: &str, value: &str) -> Result<(), ApiError> {
    let digits =
        !value.is_empty() && value.len() <= 20 && value.bytes().all(|b| b.is_ascii_digit());
    if digits && value.parse::<u64>().is_ok() {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            Some(field),
            format!("{field} must be a Discord id (a snowflake: digits)"),
        ))
    }
}

impl MessageRequest {
    /// Parses a JSON body.
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        parse(
            body,
            "message request",
            &["channel_id", "content", "reply_to", "allowed_mentions"],
            &["channel_id", "content"],
        )
    }

    /// Checks every field and splits the content into Discord request bodies.
    pub fn validate(self) -> Result<OutgoingMessages, ApiError> {
        snowflake("channel_id", &self.channel_id)?;
        if let Some(reply_to) = &self.reply_to {
            snowflake("reply_to", reply_to)?;
        }
        if self.content.trim().is_empty() {
            return Err(ApiError::bad_request(
                Some("content"),
                "content must not be empty",
            ));
        }
        if super::split::units(&self.content) > MAX_CONTENT_UNITS {
            return Err(ApiError::bad_request(
                Some("content"),
                format!("content is limited to {MAX_CONTENT_UNITS} characters (UTF-16 units)"),
            ));
        }
        let allowed_mentions = match self.allowed_mentions {
            None | Some(Value::Null) => {
                let mut none = Map::new();
                none.insert("parse".into(), Value::Array(Vec::new()));
                Value::Object(none)
            }
            Some(value @ Value::Object(_)) => value,
            Some(_) => {
                return Err(ApiError::bad_request(
                    Some("allowed_mentions"),
                    "allowed_mentions must be an object such as {\"parse\":[\"users\"]}",
                ))
            }
        };
        let bodies = split(&self.content, MAX_MESSAGE_CHARS)
            .into_iter()
            .enumerate()
            .map(|(i, part)| {
                let mut body = Map::new();
                body.insert("content".into(), Value::String(part.content));
                body.insert("allowed_mentions".into(), allowed_mentions.clone());
                if let (0, Some(reply_to)) = (i, &self.reply_to) {
                    let mut reference = Map::new();
                    reference.insert("message_id".into(), Value::String(reply_to.clone()));
                    reference.insert("fail_if_not_exists".into(), Value::Bool(false));
                    body.insert("message_reference".into(), Value::Object(reference));
                }
                Value::Object(body).to_string()
            })
            .collect();
        Ok(OutgoingMessages {
            channel_id: self.channel_id,
            bodies,
        })
    }
}

impl ReactionRequest {
    /// Parses a JSON body.
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        parse(
            body,
            "reaction request",
            &["channel_id", "message_id", "emoji"],
            &["channel_id", "message_id", "emoji"],
        )
    }

    /// Checks every field; gives the emoji as a URL path segment (percent-encoded).
    pub fn validate(&self) -> Result<String, ApiError> {
        snowflake("channel_id", &self.channel_id)?;
        snowflake("message_id", &self.message_id)?;
        let emoji = self.emoji.trim();
        // `<:name:id>` and `<a:name:id>` as Discord writes them in content.
        let emoji = emoji
            .strip_prefix("<a:")
            .or_else(|| emoji.strip_prefix("<:"))
            .and_then(|e| e.strip_suffix('>'))
            .unwrap_or(emoji);
        let bad = |why: &str| {
            ApiError::bad_request(
                Some("emoji"),
                format!("emoji {why}: give a unicode emoji such as 👍 or a custom one as name:id"),
            )
        };
        if emoji.is_empty() || emoji.len() > 100 {
            return Err(bad("is empty or too long"));
        }
        match emoji.split_once(':') {
            Some((name, id)) => {
                let name_ok = (1..=32).contains(&name.len())
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !name_ok || snowflake("emoji", id).is_err() {
                    return Err(bad("is not name:id"));
                }
            }
            None => {
                if emoji
                    .chars()
                    .any(|c| c.is_ascii() || c.is_whitespace() || c.is_control())
                {
                    return Err(bad("is not a unicode emoji"));
                }
            }
        }
        Ok(percent_encode(emoji))
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986), like `encodeURIComponent`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> Result<OutgoingMessages, ApiError> {
        MessageRequest::from_json(body.as_bytes()).and_then(MessageRequest::validate)
    }

    fn field(result: Result<impl std::fmt::Debug, ApiError>) -> Option<String> {
        let error = result.expect_err("should be refused");
        assert_eq!(error.status, 400);
        error.field
    }

    #[test]
    fn talk_message_defaults_to_no_mentions_and_replies_with_the_first_part() {
        let out =
            message(r#"{"channel_id":"42","content":"hi @everyone","reply_to":"7"}"#).unwrap();
        assert_eq!(out.channel_id, "42");
        let body: Value = serde_json::from_str(&out.bodies[0]).unwrap();
        assert_eq!(body["allowed_mentions"], serde_json::json!({"parse": []}));
        assert_eq!(body["message_reference"]["message_id"], "7");
        let long = "word ".repeat(900);
        let out = message(&format!(r#"{{"channel_id":"42","content":"{long}","reply_to":"7","allowed_mentions":{{"parse":["users"]}}}}"#)).unwrap();
        assert_eq!(out.bodies.len(), 3);
        let second: Value = serde_json::from_str(&out.bodies[1]).unwrap();
        assert!(second.get("message_reference").is_none());
        assert_eq!(
            second["allowed_mentions"],
            serde_json::json!({"parse": ["users"]})
        );
    }

    #[test]
    fn talk_message_bad_input_names_the_field() {
        assert_eq!(
            field(message(r#"{"content":"x"}"#)).as_deref(),
            Some("channel_id")
        );
        assert_eq!(
            field(message(r#"{"channel_id":42,"content":"x"}"#)).as_deref(),
            Some("channel_id")
        );
        assert_eq!(
            field(message(r#"{"channel_id":"abc","content":"x"}"#)).as_deref(),
            Some("channel_id")
        );
        assert_eq!(
            field(message(r#"{"channel_id":"1","content":" "}"#)).as_deref(),
            Some("content")
        );
        assert_eq!(
            field(message(r#"{"channel_id":"1"}"#)).as_deref(),
            Some("content")
        );
        assert_eq!(
            field(message(
                r#"{"channel_id":"1","content":"x","reply_to":"x"}"#
            ))
            .as_deref(),
            Some("reply_to")
        );
        assert_eq!(
            field(message(
                r#"{"channel_id":"1","content":"x","allowed_mentions":[]}"#
            ))
            .as_deref(),
            Some("allowed_mentions")
        );
        assert_eq!(
            field(message(r#"{"channel_id":"1","content":"x","tts":true}"#)).as_deref(),
            Some("tts")
        );
        let huge = "a".repeat(MAX_CONTENT_UNITS + 1);
        assert_eq!(
            field(message(&format!(
                r#"{{"channel_id":"1","content":"{huge}"}}"#
            )))
            .as_deref(),
            Some("content")
        );
        assert_eq!(field(message("[]")), None);
        assert_eq!(field(message("{")), None);
    }

    #[test]
    fn talk_reaction_emoji_is_checked_and_url_encoded() {
        let reaction = |emoji: &str| ReactionRequest {
            channel_id: "1".into(),
            message_id: "2".into(),
            emoji: emoji.into(),
        };
        assert_eq!(reaction("👍").validate().unwrap(), "%F0%9F%91%8D");
        assert_eq!(
            reaction("party_blob:123").validate().unwrap(),
            "party_blob%3A123"
        );
        assert_eq!(
            reaction("<a:party_blob:123>").validate().unwrap(),
            "party_blob%3A123"
        );
        for bad in [
            "",
            "a",
            "../x",
            "name:",
            "name:abc",
            "na me:1",
            "👍/..",
            "👍 👍",
        ] {
            assert_eq!(
                field(reaction(bad).validate()).as_deref(),
                Some("emoji"),
                "{bad}"
            );
        }
        let mut wrong = reaction("👍");
        wrong.message_id = "x".into();
        assert_eq!(field(wrong.validate()).as_deref(), Some("message_id"));
        assert_eq!(
            field(ReactionRequest::from_json(
                br#"{"channel_id":"1","message_id":"2"}"#
            ))
            .as_deref(),
            Some("emoji")
        );
    }

    #[test]
    fn talk_admin_may_talk_anywhere() {
        assert!(authorize(Caller::Admin, "1", unknown).is_ok());
    }

    fn unknown(channel_id: u64) -> ChannelPlace {
        ChannelPlace {
            channel_id,
            ..ChannelPlace::default()
        }
    }

    #[test]
    fn issue_11_agent_tokens_talk_only_inside_the_filter() {
        let filter = Filter {
            channel_ids: vec![100],
            ..Filter::default()
        };
        let agent = Caller::Subscription {
            name: "agent-1",
            filter: &filter,
        };
        assert!(authorize(agent, "100", unknown).is_ok());
        let thread = |channel_id| ChannelPlace {
            channel_id,
            parent_id: Some(100),
            direct_message: false,
        };
        assert!(authorize(agent, "300", thread).is_ok());
        let refused = authorize(agent, "101", unknown).unwrap_err();
        assert_eq!(
            (refused.status, refused.field.as_deref()),
            (403, Some("channel_id"))
        );
        assert!(refused.error.contains("101") && refused.error.contains("agent-1"));
        assert_eq!(authorize(agent, "x", unknown).unwrap_err().status, 403);
        let all = Filter::default();
        let anywhere = Caller::Subscription {
            name: "all",
            filter: &all,
        };
        assert!(authorize(anywhere, "101", unknown).is_ok());
    }
}
