//! The rules of a sharded bot, sans-IO (issue 12), followed by the coordinator and the shard
//! objects in `crate::durable_object` (Wasm only).
//!
//! Pure Rust with `now` passed in, like [`crate::gateway`], so every rule is tested natively
//! with a virtual clock:
//!
//! - [`plan`]: which shard an event comes from (`(guild_id >> 22) % shard_count`, direct
//!   messages on shard 0) and the bot's shard count (`"auto"` or a number).
//! - [`identify_queue`]: one Identify per bucket `shard_id % max_concurrency` per 5 s, first
//!   come first served, from one shared `session_start_limit` that is never overdrawn.
//! - [`reshard`]: growing from `n` to `m` shards without a gap: start the new set beside the old,
//!   switch once every new shard is READY, then stop the old set.
//! - [`growth`]: with `"auto"`, re-reading the recommended count every `reshardCheckMs` and
//!   growing to it (the same resharding as a close 4011).
//! - [`dead_letter_id`]: the id of a dead letter of a sharded bot, which names the shard object
//!   that holds it.
//! - [`link`]: what the coordinator and its shard objects say to each other, and shard object
//!   names.
//! - [`sync`]: the bot's subscriptions, owned by the coordinator, copied to every shard.
//! - [`cursor`] and [`pull_link`]: a pull subscription read across shards through one opaque
//!   cursor (the pages of the shards merged by receive time).

pub mod cursor;
pub mod dead_letter_id;
pub mod growth;
pub mod identify_queue;
pub mod link;
pub mod plan;
pub mod pull_link;
pub mod reshard;
pub mod sync;

pub use dead_letter_id::{ShardDeadLetterId, ShardSelection};
pub use growth::{
    reshard_check_ms, GrowthCheck, DEFAULT_RESHARD_CHECK_MS, MAX_RESHARD_CHECK_MS,
    MIN_RESHARD_CHECK_MS,
};
pub use identify_queue::{
    Answer, Grant, IdentifyQueue, QueueSnapshot, QueueStatus, QueueTimings, RedeemError,
};
pub use plan::{shard_for_event, shard_for_guild, ShardCount, ShardCountError, MAX_SHARDS};
pub use reshard::{
    identify_batches, start_deadline, Reshard, ReshardError, ReshardFailure, ReshardPhase, Step,
};
