//! Which shard an event comes from, and how many shards a bot runs.

use std::fmt;
use std::num::NonZeroU32;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Most shards a bot may be configured with (Discord's largest bots run a few thousand).
pub const MAX_SHARDS: u32 = 16_384;

/// Discord's sharding formula: the shard that receives the events of `guild_id` when the bot
/// runs `shard_count` shards, `(guild_id >> 22) % shard_count`. A count of 0 counts as 1.
pub fn shard_for_guild(guild_id: u64, shard_count: u32) -> u32 {
    let count = u64::from(shard_count.max(1));
    // The remainder is below `count`, which fits in a u32.
    ((guild_id >> 22) % count) as u32
}

/// The shard that receives an event: its guild's by [`shard_for_guild`]; events without a
/// guild (direct messages, entitlements) arrive on shard 0 only.
pub fn shard_for_event(guild_id: Option<u64>, shard_count: u32) -> u32 {
    guild_id.map_or(0, |id| shard_for_guild(id, shard_count))
}

/// How many shards a bot runs: `"auto"` (the `shards` Discord recommends in
/// `GET /gateway/bot`) or a fixed number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShardCount {
    /// Follow Discord's recommendation (and grow with it).
    #[default]
    Auto,
    /// Exactly this many shards.
    Fixed(NonZeroU32),
}

/// Why a shard count was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShardCountError {
    /// Neither `"auto"` nor a number from 1 to [`MAX_SHARDS`].
    Invalid(String),
}

impl fmt::Display for ShardCountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(given) => write!(
                f,
                "shards must be \"auto\" or a whole number from 1 to {MAX_SHARDS}, not {given}"
            ),
        }
    }
}

impl std::error::Error for ShardCountError {}

impl ShardCount {
    /// A fixed count, checked to be within 1..=[`MAX_SHARDS`].
    pub fn fixed(count: u64) -> Result<Self, ShardCountError> {
        u32::try_from(count)
            .ok()
            .filter(|n| *n <= MAX_SHARDS)
            .and_then(NonZeroU32::new)
            .map(Self::Fixed)
            .ok_or_else(|| ShardCountError::Invalid(count.to_string()))
    }

    /// Reads the JSON value of a `shards` field: `"auto"` or a number.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, ShardCountError> {
        match value {
            serde_json::Value::String(s) if s == "auto" => Ok(Self::Auto),
            serde_json::Value::Number(n) => n
                .as_u64()
                .ok_or_else(|| ShardCountError::Invalid(n.to_string()))
                .and_then(Self::fixed),
            other => Err(ShardCountError::Invalid(other.to_string())),
        }
    }

    /// The count to run given Discord's recommendation (`shards` of `GET /gateway/bot`; a
    /// recommendation of 0 counts as 1).
    pub fn resolve(self, recommended: u32) -> u32 {
        match self {
            Self::Auto => recommended.clamp(1, MAX_SHARDS),
            Self::Fixed(n) => n.get(),
        }
    }

    /// Whether the count follows Discord's recommendation.
    pub fn is_auto(self) -> bool {
        self == Self::Auto
    }
}

impl Serialize for ShardCount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Auto => serializer.serialize_str("auto"),
            Self::Fixed(n) => serializer.serialize_u32(n.get()),
        }
    }
}

impl<'de> Deserialize<'de> for ShardCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Self::from_json(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn issue12_guilds_map_to_shards_by_discords_formula() {
        // A guild of the simulator's world, and its neighbours, computed by hand.
        let guild = 1_290_000_000_000_000_100u64;
        assert_eq!(guild >> 22, 307_559_967_041);
        assert_eq!(shard_for_guild(guild, 1), 0);
        assert_eq!(shard_for_guild(guild, 2), 1);
        assert_eq!(shard_for_guild(guild, 3), 2);
        assert_eq!(shard_for_guild(guild, 4), 1);
        assert_eq!(shard_for_guild(guild + (1 << 22), 4), 2);
        assert_eq!(shard_for_guild(guild + (3 << 22), 4), 0);
        // The low 22 bits (worker, process, increment) never matter.
        assert_eq!(
            shard_for_guild(guild | 0x3F_FFFF, 4),
            shard_for_guild(guild, 4)
        );
        assert_eq!(
            shard_for_guild(u64::MAX, MAX_SHARDS),
            ((u64::MAX >> 22) % 16_384) as u32
        );
        assert_eq!(shard_for_guild(guild, 0), 0, "0 shards counts as 1");
        // Direct messages and other guildless events only on shard 0.
        assert_eq!(shard_for_event(None, 16), 0);
        assert_eq!(
            shard_for_event(Some(guild + (5 << 22)), 16),
            shard_for_guild(guild + (5 << 22), 16)
        );
    }

    #[test]
    fn issue12_shard_count_is_auto_or_a_number() {
        assert_eq!(ShardCount::from_json(&json!("auto")), Ok(ShardCount::Auto));
        assert_eq!(
            ShardCount::from_json(&json!(4)).map(|c| c.resolve(9)),
            Ok(4)
        );
        assert_eq!(ShardCount::Auto.resolve(9), 9);
        assert_eq!(ShardCount::Auto.resolve(0), 1);
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("4"),
            json!(null),
            json!(MAX_SHARDS + 1),
        ] {
            let err = ShardCount::from_json(&bad).unwrap_err();
            assert!(
                err.to_string().starts_with("shards must be"),
                "{bad}: {err}"
            );
        }
        let parsed: ShardCount = serde_json::from_str("\"auto\"").unwrap();
        assert_eq!(parsed, ShardCount::Auto);
        assert_eq!(
            serde_json::to_string(&ShardCount::fixed(3).unwrap()).unwrap(),
            "3"
        );
        assert!(serde_json::from_str::<ShardCount>("0").is_err());
    }
}
