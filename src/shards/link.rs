//! What a coordinator and its shard objects say to each other (issue 12), and how a shard
//! object is named. The calls are internal routes of the object ([`crate::route_table`]'s
//! `Auth::Internal`): the Worker entry refuses them.
//!
//! A shard object is named `<bot>/shard/<generation>/<id>-of-<count>`. A `/` can never be in a
//! name the entry accepts (`?name=` is letters, digits, `-`, `_` and `.`), so no caller can pick
//! (or guess into) a shard object through the entry.

use serde::{Deserialize, Serialize};

use super::sync::SubscriptionSync;
use crate::api::ConnectSettings;
use crate::gateway::StopReason;

/// The name of shard `shard` of the set of `count` shards, generation `generation`, of `bot`.
pub fn shard_object_name(bot: &str, generation: u32, shard: u32, count: u32) -> String {
    format!("{bot}/shard/{generation}/{shard}-of-{count}")
}

/// Whether `name` is a shard object's name (and so never a bot's).
pub fn is_shard_object_name(name: &str) -> bool {
    name.contains("/shard/")
}

/// Coordinator → shard: run as shard `shard` of `count`, generation `generation`, with these
/// settings. The bot token is not in them (`gateway.token` is empty): the shard object reads
/// `DISCORD_BOT_TOKEN` from its own environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardStart {
    /// The coordinator's object name (the bot's name).
    pub coordinator: String,
    /// The set's generation (a new set on every reshard).
    pub generation: u32,
    /// This shard's id.
    pub shard: u32,
    /// The set's shard count.
    pub count: u32,
    /// The bot's settings, token removed.
    pub settings: ConnectSettings,
    /// The bot's presence (op 3's `d`), if `POST /presence` set one: the shard Identifies
    /// with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<serde_json::Value>,
    /// The bot's subscriptions besides `default` (none before issue 12's subscriptions).
    #[serde(default)]
    pub subscriptions: Option<SubscriptionSync>,
}

/// Which shard of which set is speaking (shard → coordinator).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardKey {
    /// The set's generation.
    pub generation: u32,
    /// The shard's id.
    pub shard: u32,
    /// The set's shard count.
    pub count: u32,
}

/// What a shard stored to know it is one: its key and its coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardLink {
    /// The coordinator's object name.
    pub coordinator: String,
    /// Which shard this is.
    pub key: ShardKey,
    /// The set was replaced (resharding): no gateway any more; what is in the outbox is still
    /// delivered.
    #[serde(default)]
    pub retired: bool,
}

/// The coordinator's answer to a shard asking to Identify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentifyAnswer {
    /// Granted: Identify before this time (ms since epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Not now: ask again at this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<u64>,
    /// The daily session start budget is spent (until `retry_at`).
    #[serde(default)]
    pub exhausted: bool,
}

/// What a shard tells its coordinator about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "event")]
pub enum ShardEvent {
    /// Its session is READY (or RESUMED).
    Ready,
    /// It stopped for good (4011: sharding required; or another fatal close).
    Stopped {
        /// Why.
        reason: StopReason,
    },
}

/// A shard's report (shard → coordinator).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardReport {
    /// Which shard.
    pub key: ShardKey,
    /// What happened.
    pub event: ShardEvent,
    /// The version of the bot's subscriptions the shard holds (the coordinator sends a newer
    /// one back).
    #[serde(default)]
    pub subscriptions_version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriptions::valid_name;

    #[test]
    fn issue12_shard_object_names_cannot_be_picked_through_name() {
        let name = shard_object_name("my-bot", 3, 1, 4);
        assert_eq!(name, "my-bot/shard/3/1-of-4");
        assert!(is_shard_object_name(&name));
        assert!(!valid_name(&name), "the entry must refuse it as ?name=");
        assert!(!is_shard_object_name("my-bot"));
    }

    #[test]
    fn issue12_shard_messages_round_trip() {
        let report = ShardReport {
            key: ShardKey {
                generation: 2,
                shard: 1,
                count: 4,
            },
            event: ShardEvent::Stopped {
                reason: StopReason::ShardingRequired,
            },
            subscriptions_version: 3,
        };
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<ShardReport>(&json).unwrap(), report);
        let answer: IdentifyAnswer = serde_json::from_str(r#"{"expiresAt":5}"#).unwrap();
        assert_eq!(answer.expires_at, Some(5));
        assert!(!answer.exhausted);
    }
}
