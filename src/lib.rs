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
//! - [`rest`]: Discord REST rate limits (sans-IO).
//! - [`talk`]: replies split into Discord messages.
//! - `alarm`: when the object's one alarm fires (native tests; used by the object).
//! - `DiscordGatewayDO` (Wasm only): the Durable Object that runs the engine.
//! - `GatewayStub` (Wasm only): its control API for other Rust Workers.
//! - the Worker entry (Wasm only, feature `entry`): admin routes in front of the object.

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod alarm;
pub mod api;
pub mod auth;
pub mod credentials;
pub mod delivery;
pub mod gateway;
pub mod http_body;
pub mod rest;
pub mod talk;

#[cfg(target_arch = "wasm32")]
pub mod durable_object;
#[cfg(all(target_arch = "wasm32", feature = "entry"))]
mod entry;
#[cfg(target_arch = "wasm32")]
pub mod stub;

#[cfg(target_arch = "wasm32")]
pub use durable_object::DiscordGatewayDO;
#[cfg(target_arch = "wasm32")]
pub use stub::{GatewayStub, GatewayStubError};
