//! # A Rust Worker that uses `discord-gateway-do` as a library
//!
//! The crate is a dependency with `default-features = false`, so it brings no
//! `#[event(fetch)]`: this Worker has its own routes.
//!
//! - `POST /connect` (admin bearer token): connects the bot through
//!   `discord_gateway_do::GatewayStub`, with `webhookUrl` = this Worker's
//!   `/webhook` and `webhookSecret` = the `WEBHOOK_SECRET` secret.
//! - `POST /disconnect`, `GET /status` (admin): the same, through the stub.
//! - `POST /webhook`: verifies the Standard Webhooks signature and timestamp with the official
//!   `standardwebhooks` crate ([`verify`]), answers `401` otherwise, and records the event.
//! - `GET /events` (admin): what `/webhook` accepted, from the `EventLog` Durable Object.
//!
//! The Durable Object classes are exported from the Wasm module by re-exporting them:
//! `pub use discord_gateway_do::DiscordGatewayDO;` (and this crate's own `EventLog`).
//! (`#[durable_object]` is a `#[wasm_bindgen]` export, so the class is in the module as soon as
//! the crate is linked at all; the `pub use` makes sure it is, and says so.)
//!
//! The object POSTs to this Worker's own public URL (`PUBLIC_URL`, else the origin `/connect`
//! was called on). In production, serve the Worker on a Custom Domain: a same-zone `fetch()`
//! reaches a Custom Domain, not a Route.
//!
//! Everything but [`verify`] is Wasm only; natively the crate is just that module and its tests.

pub mod verify;

#[cfg(target_arch = "wasm32")]
mod event_log;
#[cfg(target_arch = "wasm32")]
mod routes;

/// The gateway's Durable Object class, exported from this Worker (bind it as `DISCORD_GATEWAY`).
#[cfg(target_arch = "wasm32")]
pub use discord_gateway_do::DiscordGatewayDO;
#[cfg(target_arch = "wasm32")]
pub use event_log::EventLog;
