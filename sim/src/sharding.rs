//! Sharding as Discord does it: which shard a guild belongs to, the world's guilds and their
//! ids, and the Identify concurrency buckets (`shard_id % max_concurrency`, one Identify per
//! bucket per 5 s).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::presets::World;

/// How long one Identify holds its concurrency bucket.
pub const IDENTIFY_WINDOW: Duration = Duration::from_secs(5);

/// Discord's sharding formula: `(guild_id >> 22) % num_shards`.
pub fn shard_for_guild(guild_id: u64, num_shards: u64) -> u64 {
    (guild_id >> 22) % num_shards.max(1)
}

/// The `shard` of an Identify: `[shard_id, num_shards]`, `[0, 1]` when it has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// `shard_id`.
    pub id: u64,
    /// `num_shards`.
    pub count: u64,
}

impl Shard {
    /// The shard an Identify asked for (`None`: unsharded, which is `[0, 1]`).
    pub fn from_identify(shard: Option<[u64; 2]>) -> Self {
        let [id, count] = shard.unwrap_or([0, 1]);
        Self { id, count }
    }

    /// Whether events of `guild` (`None`: a DM or another event without `guild_id`) go to this
    /// shard: its guilds by the formula, everything without a guild on shard 0.
    pub fn handles(&self, guild: Option<u64>) -> bool {
        match guild {
            Some(guild_id) => shard_for_guild(guild_id, self.count) == self.id,
            None => self.id == 0,
        }
    }

    /// The Identify rate-limit key: `shard_id % max_concurrency`.
    pub fn bucket(&self, max_concurrency: u64) -> u64 {
        self.id % max_concurrency.max(1)
    }

    /// As JSON: `[id, count]`.
    pub fn to_json(self) -> Value {
        serde_json::json!([self.id, self.count])
    }
}

/// The guild id of an event's `d` (a snowflake string, or a number), if it has one.
pub fn guild_of(d: &Value) -> Option<u64> {
    match d.get("guild_id")? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The world's own ids that belong to its guild (guild, channels, thread, role); guild `i`
/// of the world uses these shifted by `i << 22`, so consecutive guilds land on consecutive
/// shards. Users (the bot, the human, the owner) are the same in every guild.
fn guild_local_ids(world: &World) -> [&'static str; 6] {
    [
        world.guild_id,
        world.category_id,
        world.text_channel_id,
        world.voice_channel_id,
        world.thread_id,
        world.role_id,
    ]
}

/// Shifts one of the world's guild-local ids to guild `index`.
fn shifted(id: &str, index: u64) -> String {
    id.parse::<u64>()
        .map_or_else(|_| id.to_owned(), |n| (n + (index << 22)).to_string())
}

/// The id of the world's guild `index` (0 is `world.guild_id`).
pub fn guild_id(world: &World, index: u64) -> String {
    shifted(world.guild_id, index)
}

/// Rewrites a payload of the world's guild 0 into one of guild `index`: every guild-local id
/// (as a JSON string) is shifted to that guild's.
pub fn for_guild(world: &World, d: &Value, index: u64) -> Value {
    if index == 0 {
        return d.clone();
    }
    let mut text = d.to_string();
    for id in guild_local_ids(world) {
        text = text.replace(&format!("\"{id}\""), &format!("\"{}\"", shifted(id, index)));
    }
    serde_json::from_str(&text).unwrap_or_else(|_| d.clone())
}

/// When each (token, bucket) last started a session, for the per-bucket Identify limit.
#[derive(Debug, Default)]
pub struct IdentifyBuckets {
    last: HashMap<(String, u64), Instant>,
}

impl IdentifyBuckets {
    /// Takes `bucket` of `token` for an Identify at `now`; `false` (and nothing taken) while
    /// the bucket's previous Identify is less than `window` old.
    pub fn try_take(&mut self, token: &str, bucket: u64, now: Instant, window: Duration) -> bool {
        let key = (token.to_owned(), bucket);
        if self
            .last
            .get(&key)
            .is_some_and(|at| now.duration_since(*at) < window)
        {
            return false;
        }
        self.last.insert(key, now);
        true
    }

    /// Forgets every bucket.
    pub fn clear(&mut self) {
        self.last.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn guilds_spread_by_discords_formula() {
        let world = World::default();
        let g0: u64 = world.guild_id.parse().unwrap();
        for index in 0..8 {
            let id: u64 = guild_id(&world, index).parse().unwrap();
            assert_eq!(shard_for_guild(id, 4), (shard_for_guild(g0, 4) + index) % 4);
        }
        let shard = Shard::from_identify(Some([1, 4]));
        assert!(shard.handles(Some(1 << 22 | 7)));
        assert!(!shard.handles(Some(2 << 22)));
        assert!(!shard.handles(None), "DMs only on shard 0");
        assert!(Shard::from_identify(None).handles(None));
        assert_eq!(Shard::from_identify(Some([5, 8])).bucket(2), 1);
    }

    #[test]
    fn payloads_move_to_another_guild() {
        let world = World::default();
        let d = json!({"guild_id": world.guild_id, "channel_id": world.text_channel_id, "author": {"id": world.user_id}});
        let moved = for_guild(&world, &d, 3);
        assert_eq!(moved["guild_id"], guild_id(&world, 3));
        assert_ne!(moved["channel_id"], world.text_channel_id);
        assert_eq!(moved["author"]["id"], world.user_id);
        assert_eq!(guild_of(&moved), guild_id(&world, 3).parse().ok());
    }

    #[test]
    fn one_identify_per_bucket_per_window() {
        let mut buckets = IdentifyBuckets::default();
        let t0 = Instant::now();
        assert!(buckets.try_take("a", 0, t0, IDENTIFY_WINDOW));
        assert!(buckets.try_take("a", 1, t0, IDENTIFY_WINDOW));
        assert!(buckets.try_take("b", 0, t0, IDENTIFY_WINDOW));
        assert!(!buckets.try_take("a", 0, t0 + Duration::from_millis(4999), IDENTIFY_WINDOW));
        assert!(buckets.try_take("a", 0, t0 + IDENTIFY_WINDOW, IDENTIFY_WINDOW));
    }
}
