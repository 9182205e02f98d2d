//! `POST /presence` on a sharded bot's coordinator (issue 12): the presence is the bot's, so
//! the coordinator stores it and sends it to every shard object of every live set, each of
//! which sends op 3 on its session (or, not READY, keeps it for its next Identify). A shard
//! the coordinator starts later (a restart of the set by `/connect`, a reshard's new set) gets
//! the stored presence in its start ([`crate::shards::link::ShardStart`]), before it can
//! Identify.
//!
//! The answer is `200` once the presence is valid and stored, with each shard's outcome:
//! `sent` (op 3 went out now) or `pending` (the shard applies it with its next Identify; or it
//! could not be reached: `error`, and a new `POST /presence` tries again). Like a single
//! object's, the presence outlives `/disconnect`.

use std::rc::Rc;

use serde::Serialize;
use serde_json::Value;
use worker::{console_error, Request, Response, Result};

use super::coordinator;
use super::internal::call;
use super::routes::{error, json};
use super::runtime::Runtime;
use crate::api::{ApiError, MAX_FORWARDED_BODY_BYTES};
use crate::gateway::payload::{presence_update, MAX_SEND_BYTES};
use crate::http_body::read_request_body;
use crate::route_table::RouteId;
use crate::talk::presence::PresenceRequest;

/// Where the coordinator stores the bot's presence request (`kv`).
const PRESENCE_KEY: &str = "shard_presence";

/// One shard's outcome.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ShardOutcome {
    generation: u32,
    shard: u32,
    /// Op 3 went out on its session now.
    sent: bool,
    /// Not sent now: why, and that it is applied with the shard's next Identify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pending: Option<String>,
    /// The shard could not be reached or refused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The coordinator's answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ShardedPresenceResponse {
    /// The presence as Discord gets it (op 3's `d`).
    presence: Value,
    /// Whether every shard sent it now.
    sent: bool,
    /// Each live shard's outcome.
    shards: Vec<ShardOutcome>,
}

/// The stored presence as Discord gets it (op 3's `d`), for `/status`.
pub fn stored(runtime: &Runtime) -> Option<Value> {
    stored_request(runtime).and_then(|r| r.validate().ok())
}

fn stored_request(runtime: &Runtime) -> Option<PresenceRequest> {
    runtime
        .store
        .get::<PresenceRequest>(PRESENCE_KEY)
        .unwrap_or_else(|e| {
            console_error!("could not read the stored presence: {e}");
            None
        })
}

/// `POST /presence` on the coordinator.
pub async fn handle(runtime: &Rc<Runtime>, req: Request) -> Result<Response> {
    match set(runtime, &req).await {
        Ok(answer) => json(200, &answer),
        Err(e) => error(&e),
    }
}

async fn set(
    runtime: &Rc<Runtime>,
    req: &Request,
) -> std::result::Result<ShardedPresenceResponse, ApiError> {
    let body = read_request_body(req, MAX_FORWARDED_BODY_BYTES).await?;
    let request = PresenceRequest::from_json(&body)?;
    let presence = request.validate()?;
    let size = presence_update(&presence).len();
    if size > MAX_SEND_BYTES {
        return Err(ApiError::bad_request(
            Some("activities"),
            format!("the presence is {size} bytes; the gateway takes at most 4,096"),
        ));
    }
    runtime
        .store
        .put(PRESENCE_KEY, &request)
        .map_err(|e| ApiError::new(503, None, format!("could not store the presence: {e}")))?;
    let mut shards = Vec::new();
    for (set, shard, object) in coordinator::live_shard_objects(runtime)? {
        let mut outcome = ShardOutcome {
            generation: set.generation,
            shard,
            sent: false,
            pending: None,
            error: None,
        };
        match send(runtime, &object, &request).await {
            Ok(true) => outcome.sent = true,
            Ok(false) => {
                outcome.pending = Some("not connected: applied with its next Identify".into())
            }
            Err((429, why)) => outcome.pending = Some(why),
            Err((_, why)) => outcome.error = Some(why),
        }
        shards.push(outcome);
    }
    Ok(ShardedPresenceResponse {
        presence,
        sent: !shards.is_empty() && shards.iter().all(|s| s.sent),
        shards,
    })
}

/// Sends `request` to one shard object: whether op 3 went out now, or its status and error.
async fn send(
    runtime: &Runtime,
    object: &str,
    request: &PresenceRequest,
) -> std::result::Result<bool, (u16, String)> {
    let mut response = call(&runtime.env, object, RouteId::SetPresence, Some(request))
        .await
        .map_err(|e| (503, format!("{object}: {e}")))?;
    let status = response.status_code();
    let answer: Value = response
        .json()
        .await
        .map_err(|e| (502, format!("{object}: {e}")))?;
    if (200..300).contains(&status) {
        return Ok(answer.get("sent").and_then(Value::as_bool) == Some(true));
    }
    let why = answer
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("refused")
        .to_owned();
    Err((status, why))
}
