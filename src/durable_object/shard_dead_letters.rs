//! Dead letters of a sharded bot through its coordinator (issue 12). Each shard object keeps
//! the dead letters of the events it received; the coordinator lists those of every shard of
//! the live sets and of the sets a reshard retired (which still hold theirs), each with the id
//! `"<generation>.<shard>.<id>"` ([`ShardDeadLetterId`]), and sends a replay or a drop to the
//! shard objects that hold the selected ones. `?subscription=` is passed to every shard.

use std::rc::Rc;

use serde::Serialize;
use serde_json::{json, Value};
use worker::{Request, Response, Result};

use super::coordinator;
use super::internal::call_with_query;
use super::routes::{error, json, read_body};
use super::runtime::Runtime;
use crate::api::{ApiError, DeadLetterId, DeadLetterList, DeadLetterOutcome, DeadLetterSelection};
use crate::route_table::RouteId;
use crate::shards::dead_letter_id::merge;
use crate::shards::{ShardDeadLetterId, ShardSelection};

/// `GET /dead-letters`, `POST /dead-letters/replay` and `/drop` on the coordinator.
pub async fn handle(runtime: &Rc<Runtime>, id: RouteId, req: Request) -> Result<Response> {
    let query = subscription_query(&req);
    let outcome = match id {
        RouteId::DeadLetters => list(runtime, &query)
            .await
            .map(|dead_letters| json!({ "deadLetters": dead_letters })),
        _ => match read_body(&req)
            .await
            .and_then(|body| ShardSelection::from_json(&body))
        {
            Ok(selection) => act(runtime, id, &query, selection)
                .await
                .map(|affected| json!(DeadLetterOutcome { affected })),
            Err(e) => Err(e),
        },
    };
    match outcome {
        Ok(answer) => json(200, &answer),
        Err(e) => error(&e),
    }
}

/// `?subscription=<name>` of the request, to pass on (`""` without it).
fn subscription_query(req: &Request) -> String {
    let name = req.url().ok().and_then(|url| {
        url.query_pairs()
            .find(|(key, _)| key == "subscription")
            .map(|(_, value)| value.into_owned())
    });
    name.map_or_else(String::new, |name| {
        let mut query = url::form_urlencoded::Serializer::new(String::from("?"));
        query.append_pair("subscription", &name);
        query.finish()
    })
}

/// Every shard's dead letters, oldest first.
async fn list(runtime: &Rc<Runtime>, query: &str) -> std::result::Result<Vec<Value>, ApiError> {
    let mut tagged = Vec::new();
    for (set, shard, object) in coordinator::shard_objects(runtime)? {
        let answer: DeadLetterList =
            shard_call(runtime, &object, RouteId::DeadLetters, query, None::<&()>).await?;
        for letter in &answer.dead_letters {
            // A shard object is a single object: its ids are outbox ids.
            let DeadLetterId::Outbox(outbox_id) = letter.id else {
                continue;
            };
            let id = ShardDeadLetterId {
                generation: set.generation,
                shard,
                id: outbox_id,
            };
            tagged.push((letter.created_at, id.tag(letter)));
        }
    }
    Ok(merge(tagged))
}

/// Replays or drops the selected dead letters on the shards that hold them; how many.
async fn act(
    runtime: &Rc<Runtime>,
    id: RouteId,
    query: &str,
    selection: ShardSelection,
) -> std::result::Result<u64, ApiError> {
    let objects = coordinator::shard_objects(runtime)?;
    let mut affected = 0;
    match selection {
        ShardSelection::All => {
            for (_, _, object) in &objects {
                let outcome: DeadLetterOutcome =
                    shard_call(runtime, object, id, query, Some(&DeadLetterSelection::All)).await?;
                affected += outcome.affected;
            }
        }
        ShardSelection::Ids(grouped) => {
            for ((generation, shard), ids) in grouped {
                // An id of a shard the bot no longer has selects nothing, like an unknown id.
                let Some((_, _, object)) = objects
                    .iter()
                    .find(|(set, s, _)| set.generation == generation && *s == shard)
                else {
                    continue;
                };
                let selection = DeadLetterSelection::Ids(ids.into_iter().map(Into::into).collect());
                let outcome: DeadLetterOutcome =
                    shard_call(runtime, object, id, query, Some(&selection)).await?;
                affected += outcome.affected;
            }
        }
    }
    Ok(affected)
}

/// Calls one shard object; its refusal (a `4xx`, e.g. an unknown subscription) is passed on
/// as it is, anything else is a `502` naming the object.
async fn shard_call<B: Serialize, R: serde::de::DeserializeOwned>(
    runtime: &Runtime,
    object: &str,
    id: RouteId,
    query: &str,
    body: Option<&B>,
) -> std::result::Result<R, ApiError> {
    let unreachable = |e: String| ApiError::new(502, None, format!("shard {object}: {e}"));
    let mut response = call_with_query(&runtime.env, object, id, query, body)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let status = response.status_code();
    let text = response
        .text()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    if (200..300).contains(&status) {
        return serde_json::from_str(&text).map_err(|e| unreachable(e.to_string()));
    }
    match serde_json::from_str::<ApiError>(&text) {
        Ok(refusal) if (400..500).contains(&status) => Err(ApiError { status, ..refusal }),
        _ => Err(unreachable(format!("answered {status}: {text}"))),
    }
}
