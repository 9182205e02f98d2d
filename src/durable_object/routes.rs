//! The control API as the object's fetch routes, shared by the Worker entry, `GatewayStub` and
//! JavaScript callers (`stub.fetch`). Requests are routed by looking them up in
//! [`crate::route_table`]; a miss is its `404` or `405`.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use serde::Serialize;
use worker::{Request, Response, Result};

use std::num::NonZeroU32;

use super::runtime::Runtime;
use super::{coordinator, shard_link};
use crate::api::{
    ApiError, ConnectRequest, ConnectResponse, DeadLetterList, DeadLetterOutcome,
    DeadLetterSelection, DisconnectResponse, MAX_FORWARDED_BODY_BYTES,
};
use crate::delivery::signature::GENERATED_KEY_BYTES;
use crate::http_body::read_request_body;
use crate::route_table::{lookup, Miss, RouteId};
use crate::shards::link::{ShardKey, ShardReport, ShardStart};
use crate::shards::sync::SubscriptionSync;
use crate::shards::ShardCount;

/// A JSON response with a status code.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

/// An [`ApiError`] as a response.
pub fn error(error: &ApiError) -> Result<Response> {
    json(error.status, error)
}

/// The answer when storage could not be opened, saying why.
pub fn unavailable(why: &str) -> Result<Response> {
    error(&ApiError::new(
        503,
        None,
        format!("the Durable Object could not open its storage: {why}"),
    ))
}

/// The `404` or `405` (with `Allow`) for a request that matches no route of the table.
pub fn miss(miss: &Miss, path: &str) -> Result<Response> {
    let mut response = error(&ApiError::new(miss.status(), None, miss.message(path)))?;
    if let Some(allow) = miss.allow() {
        response.headers_mut().set("allow", &allow)?;
    }
    Ok(response)
}

/// The request's body, up to what the Worker entry may forward (a cut-off body is an error).
pub(super) async fn read_body(req: &Request) -> std::result::Result<Vec<u8>, ApiError> {
    read_request_body(req, MAX_FORWARDED_BODY_BYTES)
        .await
        .map_err(ApiError::from)
}

/// A route's handler, polled as its own future.
type RouteFuture<'a> = Pin<Box<dyn Future<Output = Result<Response>> + 'a>>;

/// Boxes a route's handler, so that its code is a function of its own, reached through the
/// box's vtable, and not inlined into [`handle`]'s future: V8 compiles a Wasm function whole on
/// its first call, so the first request of a fresh isolate then compiles the dispatcher and the
/// one route it asked for, not every route (issue 9, runtime start). Costs one allocation per
/// request.
#[inline(never)]
fn out_of_line<'a>(handler: impl Future<Output = Result<Response>> + 'a) -> RouteFuture<'a> {
    Box::pin(handler)
}

/// Routes one request.
pub async fn handle(runtime: &Rc<Runtime>, req: Request) -> Result<Response> {
    let path = req.path();
    let route = match lookup(req.method().as_ref(), &path) {
        Ok(route) => route,
        Err(e) => return miss(&e, &path),
    };
    route_handler(runtime, route.id, req, path).await
}

/// The handler of one route, boxed (see [`out_of_line`]).
fn route_handler(
    runtime: &Rc<Runtime>,
    id: RouteId,
    req: Request,
    path: String,
) -> RouteFuture<'_> {
    match id {
        RouteId::Connect => out_of_line(connect(runtime, req)),
        RouteId::Disconnect => out_of_line(async move {
            if runtime.coordinator.active() {
                coordinator::disconnect(runtime).await;
            }
            runtime.disconnect()?;
            json(200, &DisconnectResponse::disconnected())
        }),
        RouteId::Status if runtime.coordinator.active() => out_of_line(async move {
            match coordinator::status(runtime).await {
                Ok(status) => json(200, &status),
                Err(e) => error(&e),
            }
        }),
        RouteId::Status => out_of_line(async move { json(200, &runtime.status()) }),
        RouteId::ShardStart => out_of_line(async move {
            match read_body(&req).await.and_then(|body| {
                crate::json::from_slice::<ShardStart>(&body)
                    .map_err(|e| ApiError::bad_request(None, e.to_string()))
            }) {
                Ok(start) => match shard_link::start(runtime, start) {
                    Ok(()) => json(202, &serde_json::json!({"status": "connecting"})),
                    Err(e) => error(&e),
                },
                Err(e) => error(&e),
            }
        }),
        RouteId::ShardRetire => out_of_line(async move {
            shard_link::retire(runtime)?;
            json(200, &serde_json::json!({"status": "retired"}))
        }),
        RouteId::IdentifyAsk | RouteId::IdentifySent | RouteId::ShardReport => {
            out_of_line(async move { internal_from_shard(runtime, id, &req).await })
        }
        RouteId::DeadLetters | RouteId::ReplayDeadLetters | RouteId::DropDeadLetters
            if runtime.coordinator.active() =>
        {
            out_of_line(super::shard_dead_letters::handle(runtime, id, req))
        }
        RouteId::SetPresence if runtime.coordinator.active() => {
            out_of_line(super::shard_presence::handle(runtime, req))
        }
        RouteId::DeadLetters => out_of_line(async move {
            let subscription = match dead_letter_subscription(runtime, &req) {
                Ok(id) => id,
                Err(e) => return error(&e),
            };
            let dead_letters = runtime.outbox.dead_letters(&runtime.store, subscription)?;
            json(200, &DeadLetterList { dead_letters })
        }),
        RouteId::ReplayDeadLetters | RouteId::DropDeadLetters => {
            out_of_line(replay_or_drop_dead_letters(runtime, id, req))
        }
        RouteId::ListSubscriptions | RouteId::GetSubscription => {
            out_of_line(super::subscription_routes::handle(runtime, id, req))
        }
        RouteId::CreateSubscription
        | RouteId::ReplaceSubscription
        | RouteId::DeleteSubscription => out_of_line(async move {
            let response = super::subscription_routes::handle(runtime, id, req).await?;
            // A sharded bot's shards hold copies: each change goes to them.
            if runtime.coordinator.active() && (200..300).contains(&response.status_code()) {
                super::shard_subscriptions::changed(runtime).await;
            }
            Ok(response)
        }),
        RouteId::ShardSubscriptions => out_of_line(async move {
            match read_body(&req).await.and_then(|body| {
                crate::json::from_slice::<SubscriptionSync>(&body)
                    .map_err(|e| ApiError::bad_request(None, e.to_string()))
                    .and_then(|sync| super::shard_subscriptions::apply(runtime, &sync))
            }) {
                Ok(version) => json(200, &super::shard_subscriptions::Applied { version }),
                Err(e) => error(&e),
            }
        }),
        RouteId::ShardPull => out_of_line(async move {
            match super::shard_pull::answer(runtime, &req).await {
                Ok(response) => Ok(response),
                Err(e) => error(&e),
            }
        }),
        RouteId::SendMessage
        | RouteId::AddReaction
        | RouteId::RemoveReaction
        | RouteId::SetPresence => out_of_line(super::talk::handle(runtime, id, req)),
        RouteId::Inbox
        | RouteId::Ack
        | RouteId::Me
        | RouteId::RotateToken
        | RouteId::RevokeToken => out_of_line(super::pull::handle(runtime, id, req)),
        // The Worker entry answers these itself; the object has no such route.
        RouteId::Bots | RouteId::ForgetBot | RouteId::AdminPage => {
            out_of_line(async move { miss(&Miss::NotFound, &path) })
        }
    }
}

/// `POST /connect`: one shard's gateway, or a sharded bot's coordinator.
async fn connect(runtime: &Rc<Runtime>, req: Request) -> Result<Response> {
    let mut generated = None;
    let mut shards = None;
    let mut reshard_check_ms = 0;
    let settings = match read_body(&req)
        .await
        .and_then(|body| ConnectRequest::from_json(&body))
        .and_then(|mut request| {
            shards = request.shard_count()?;
            reshard_check_ms = request.reshard_check_ms()?;
            generated = request.generate_secret_if_asked(random_key)?;
            request.validate(runtime.insecure_webhooks)
        }) {
        Ok(settings) => settings,
        Err(e) => return error(&e),
    };
    // `shards` other than 1 (or a bot already sharded): the coordinator decides.
    let sharded = match shards {
        Some(mode) if mode != ShardCount::Fixed(NonZeroU32::MIN) => {
            coordinator::connect(runtime, settings.clone(), mode, reshard_check_ms).await
        }
        _ if runtime.coordinator.active() => {
            coordinator::disconnect(runtime).await;
            Ok(false)
        }
        _ => Ok(false),
    };
    match sharded {
        Ok(true) => {}
        Ok(false) => runtime.connect(settings)?,
        Err(e) => return error(&e),
    }
    json(202, &ConnectResponse::connecting(generated))
}

/// `POST /dead-letters/replay` and `POST /dead-letters/drop` on one object.
async fn replay_or_drop_dead_letters(
    runtime: &Rc<Runtime>,
    id: RouteId,
    req: Request,
) -> Result<Response> {
    let subscription = match dead_letter_subscription(runtime, &req) {
        Ok(id) => id,
        Err(e) => return error(&e),
    };
    let selection = match read_body(&req)
        .await
        .and_then(|body| DeadLetterSelection::from_json(&body))
    {
        Ok(selection) => selection,
        Err(e) => return error(&e),
    };
    let ids = match selection.outbox_ids() {
        Ok(ids) => ids,
        Err(e) => return error(&e),
    };
    let ids = ids.as_deref();
    let affected = if id == RouteId::ReplayDeadLetters {
        runtime.replay_dead_letters(subscription, ids)?
    } else {
        runtime
            .outbox
            .drop_dead(&runtime.store, subscription, ids)?
    };
    json(
        200,
        &DeadLetterOutcome {
            affected: affected as u64,
        },
    )
}

/// The routes a shard object calls on its coordinator.
async fn internal_from_shard(
    runtime: &Rc<Runtime>,
    id: RouteId,
    req: &Request,
) -> Result<Response> {
    let body = match read_body(req).await {
        Ok(body) => body,
        Err(e) => return error(&e),
    };
    let bad = |e: serde_json::Error| error(&ApiError::bad_request(None, e.to_string()));
    match id {
        RouteId::IdentifyAsk => match crate::json::from_slice::<ShardKey>(&body) {
            Ok(key) => json(200, &coordinator::identify_ask(runtime, key)),
            Err(e) => bad(e),
        },
        RouteId::IdentifySent => match crate::json::from_slice::<ShardKey>(&body) {
            Ok(key) => {
                coordinator::identify_sent(runtime, key);
                json(200, &serde_json::json!({"ok": true}))
            }
            Err(e) => bad(e),
        },
        _ => match crate::json::from_slice::<ShardReport>(&body) {
            Ok(report) => {
                coordinator::report(runtime, report).await;
                json(200, &serde_json::json!({"ok": true}))
            }
            Err(e) => bad(e),
        },
    }
}

/// The push subscription whose dead letters a route acts on: `?subscription=<name>`, or
/// `default`.
fn dead_letter_subscription(
    runtime: &Runtime,
    req: &Request,
) -> std::result::Result<crate::subscriptions::SubscriptionId, ApiError> {
    let name = req.url().ok().and_then(|url| {
        url.query_pairs()
            .find(|(key, _)| key == "subscription")
            .map(|(_, value)| value.into_owned())
    });
    runtime.subscriptions.push_id(name.as_deref())
}

/// A key for a generated webhook secret, from the platform's CSPRNG (`crypto.getRandomValues`).
pub(super) fn random_key() -> std::result::Result<[u8; GENERATED_KEY_BYTES], ApiError> {
    let mut key = [0; GENERATED_KEY_BYTES];
    getrandom::fill(&mut key).map_err(|e| {
        ApiError::new(
            503,
            Some("webhookSecret"),
            format!("could not draw a random secret: {e}"),
        )
    })?;
    Ok(key)
}
