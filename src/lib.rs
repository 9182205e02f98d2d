//! # discord-gateway-do
//!
//! A Cloudflare Durable Object that holds a Discord Gateway connection and forwards events
//! (messages and reactions first) as authenticated HTTPS POSTs to a webhook, in the format Chat
//! SDK's Discord adapter expects.
//!
//! - [`gateway`]: the sans-IO protocol engine (pure Rust, tested natively).
//! - [`delivery`]: the webhook envelope, URL policy and outbox.
//! - [`api`]: the control API types shared by every caller.
//! - [`credentials`]: which of the Worker's environment credentials a `/connect` may use.
//! - [`http_body`]: reading request bodies with a size limit, and a cut-off body as an error.
//! - [`shards`]: the rules of a sharded bot (shard of a guild, identify queue, resharding),
//!   sans-IO; the coordinator and shard objects in `durable_object` follow them (issue 12).
//! - [`route_table`]: the control API's routes (path, method, auth, description), in one table.
//! - [`schema`]: the object's SQLite schema as numbered migrations, and the upgrade rule.
//! - [`subscriptions`]: the event log's subscription rules (filters, the admin body, push
//!   fan-out, retention, pull tokens, cursors and gaps), sans-IO; the object's subscriptions,
//!   push fan-out and pull routes follow them (issue 10).
//! - [`rest`]: Discord REST rate limits (sans-IO).
//! - [`talk`]: replies split into Discord messages.
//! - `alarm`: when the object's one alarm fires (native tests; used by the object).
//! - `DiscordGatewayDO` (Wasm only): the Durable Object that runs the engine.
//! - `GatewayStub` (Wasm only): its control API for other Rust Workers.
//! - the Worker entry (Wasm only, feature `entry`): admin routes in front of the object, the
//!   operator's page (`/admin`) and `BotRegistry`, the list of bots it shows.

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod alarm;
pub mod api;
pub mod auth;
pub mod credentials;
pub mod delivery;
pub mod gateway;
pub mod http_body;
pub mod json;
pub mod rest;
pub mod route_table;
pub mod schema;
pub mod shards;
pub mod subscriptions;
pub mod talk;
#[cfg(test)]
mod test_rng;

#[cfg(all(target_arch = "wasm32", feature = "entry"))]
mod admin_page;
#[cfg(target_arch = "wasm32")]
pub mod durable_object;
#[cfg(all(target_arch = "wasm32", feature = "entry"))]
mod entry;
#[cfg(all(target_arch = "wasm32", feature = "entry"))]
pub mod registry;
#[cfg(target_arch = "wasm32")]
pub mod stub;

#[cfg(target_arch = "wasm32")]
pub use durable_object::DiscordGatewayDO;
#[cfg(target_arch = "wasm32")]
pub use stub::{GatewayStub, GatewayStubError};
