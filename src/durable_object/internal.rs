//! Calls between the objects of one sharded bot (issue 12): a route of the table, sent to the
//! object of the same class named `name`, through the `DISCORD_GATEWAY` binding.

use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{Env, Headers, Request, RequestInit, Response};

use crate::route_table::{route, RouteId};

/// The Durable Object binding a sharded bot's objects reach each other through.
pub const GATEWAY_BINDING: &str = "DISCORD_GATEWAY";

/// Sends route `id` (with `body` as JSON, if any) to the object `name`.
pub async fn call<B: Serialize>(
    env: &Env,
    name: &str,
    id: RouteId,
    body: Option<&B>,
) -> worker::Result<Response> {
    call_with_query(env, name, id, "", body).await
}

/// [`call`] with a query string (`""`, or `?` and the pairs, already encoded).
pub async fn call_with_query<B: Serialize>(
    env: &Env,
    name: &str,
    id: RouteId,
    query: &str,
    body: Option<&B>,
) -> worker::Result<Response> {
    let route = route(id);
    let mut init = RequestInit::new();
    init.with_method(route.method.into());
    if let Some(body) = body {
        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        init.with_headers(headers);
        init.with_body(Some(serde_json::to_string(body)?.into()));
    }
    let request = Request::new_with_init(
        &format!("https://gateway.internal{}{query}", route.path),
        &init,
    )?;
    env.durable_object(GATEWAY_BINDING)?
        .id_from_name(name)?
        .get_stub()?
        .fetch_with_request(request)
        .await
}

/// [`call`], expecting a `2xx` with a JSON answer.
pub async fn call_json<B: Serialize, R: DeserializeOwned>(
    env: &Env,
    name: &str,
    id: RouteId,
    body: Option<&B>,
) -> Result<R, String> {
    call_json_with_query(env, name, id, "", body).await
}

/// [`call_with_query`], expecting a `2xx` with a JSON answer.
pub async fn call_json_with_query<B: Serialize, R: DeserializeOwned>(
    env: &Env,
    name: &str,
    id: RouteId,
    query: &str,
    body: Option<&B>,
) -> Result<R, String> {
    let mut response = call_with_query(env, name, id, query, body)
        .await
        .map_err(|e| format!("{name}: {e}"))?;
    let status = response.status_code();
    let text = response.text().await.map_err(|e| format!("{name}: {e}"))?;
    if !(200..300).contains(&status) {
        return Err(format!("{name} answered {status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{name}: {e}"))
}
