//! `DiscordGatewayDO`: the Durable Object that runs the gateway engine. Runtime glue only.
//!
//! - [`runtime`]: the engine, the socket, and the alarm that drives every deadline.
//! - [`gateway_io`]: `GET /gateway/bot`, the WebSocket upgrade and the socket's events.
//! - [`socket_events`]: the socket's listeners, feeding each event to the engine at once.
//! - [`webhook`]: delivery of outbox events, beside the gateway loop.
//! - [`post`]: one webhook POST, straight from `web_sys`.
//! - [`store`]: SQLite: settings, session snapshot, outbox.
//! - [`routes`]: the control API as fetch routes.
//! - [`talk`]: the talk-back routes (messages, reactions) through the REST rate limiter.

mod gateway_io;
mod http;
mod post;
pub(crate) mod routes;
pub mod runtime;
mod socket_events;
pub mod store;
pub(crate) mod talk;
mod webhook;

use std::rc::Rc;

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use runtime::Runtime;

/// The Durable Object holding one bot's gateway connection. Bind it as `DISCORD_GATEWAY` with a
/// SQLite-backed migration (`new_sqlite_classes`); use one instance per bot, by name.
#[durable_object]
pub struct DiscordGatewayDO {
    runtime: Option<Rc<Runtime>>,
}

impl DurableObject for DiscordGatewayDO {
    fn new(state: State, env: Env) -> Self {
        console_error_panic_hook::set_once();
        let runtime = Runtime::new(state, env)
            .inspect_err(|e| worker::console_error!("could not open storage: {e}"))
            .ok();
        Self { runtime }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        match &self.runtime {
            Some(runtime) => {
                runtime.recover();
                if talk::serves(&req.path()) {
                    return talk::handle(runtime, req).await;
                }
                routes::handle(runtime, req).await
            }
            None => routes::unavailable(),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        if let Some(runtime) = &self.runtime {
            runtime.on_alarm().await;
        }
        Response::ok("ok")
    }
}
