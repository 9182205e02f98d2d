//! `DiscordGatewayDO`: the Durable Object that runs the gateway engine. Runtime glue only.
//!
//! - [`runtime`]: the engine, the socket, and the alarm that drives every deadline.
//! - [`gateway_io`]: `GET /gateway/bot`, the WebSocket upgrade and the socket's events.
//! - [`socket_events`]: the socket's listeners, feeding each event to the engine at once.
//! - [`outbox`]: the outbox's one owner: lanes, copies in memory, deletes, counters, with the rows.
//! - [`webhook`]: delivery of outbox events, beside the gateway loop.
//! - [`post`]: one webhook POST, straight from `web_sys`.
//! - [`store`]: SQLite: settings, session snapshot, outbox.
//! - `migrate`: brings the stored schema up to date in the constructor, or refuses a newer one.
//! - [`subscriptions`]: the subscriptions' one owner: loaded at start, changed with their rows,
//!   the holders of each new event.
//! - `subscription_routes`: the admin API of subscriptions.
//! - [`routes`]: the control API as fetch routes.
//! - [`talk`]: the talk-back routes (messages, reactions) through the REST rate limiter.
//! - `coordinator`: a sharded bot's coordinator: settings, shard sets, identify queue,
//!   resharding, the bot's `/status` (issue 12).
//! - `shard_link`: a shard object's side: grants before Identify, READY and stop reports.
//! - `shard_presence`: `POST /presence` on a coordinator, sent to every shard, kept for new ones.
//! - `shard_dead_letters`: every shard's dead letters through the coordinator.
//! - `internal`: calls between the objects of one sharded bot.
//! - [`pull`]: the pull routes (inbox, ack, me), long polls, pull tokens (rotate, revoke).
//! - `shard_subscriptions`: a sharded bot's subscriptions, owned by the coordinator and
//!   copied to every shard at a version (issue 12).
//! - `shard_pull`: a sharded bot's pull routes, read across its shards through one cursor.

mod coordinator;
mod gateway_io;
mod http;
mod internal;
mod migrate;
mod outbox;
mod post;
pub(crate) mod pull;
pub(crate) mod routes;
pub mod runtime;
mod shard_dead_letters;
mod shard_link;
mod shard_presence;
mod shard_pull;
mod shard_subscriptions;
mod socket_events;
pub mod store;
mod subscription_routes;
pub mod subscriptions;
pub(crate) mod talk;
mod webhook;

use std::rc::Rc;

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use runtime::Runtime;

/// The Durable Object holding one bot's gateway connection. Bind it as `DISCORD_GATEWAY` with a
/// SQLite-backed migration (`new_sqlite_classes`); use one instance per bot, by name.
#[durable_object]
pub struct DiscordGatewayDO {
    /// The running object, or why its storage could not be opened (every request is then
    /// answered `503` with it, and nothing is written).
    runtime: std::result::Result<Rc<Runtime>, String>,
}

impl DurableObject for DiscordGatewayDO {
    fn new(state: State, env: Env) -> Self {
        console_error_panic_hook::set_once();
        let runtime = Runtime::new(state, env).map_err(|e| {
            worker::console_error!("could not open storage: {e}");
            e.to_string()
        });
        Self { runtime }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        match &self.runtime {
            Ok(runtime) => {
                runtime.recover();
                routes::handle(runtime, req).await
            }
            Err(why) => routes::unavailable(why),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        if let Ok(runtime) = &self.runtime {
            runtime.on_alarm().await;
        }
        Response::ok("ok")
    }
}
