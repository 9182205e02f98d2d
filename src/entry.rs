//! The thin Worker in front of the Durable Object (cargo feature `entry`, on by default).
//!
//! `POST /connect`, `POST /disconnect`, `GET /status`, the dead-letter routes and the talk-back
//! routes (`POST /v1/messages`, `PUT`/`DELETE /v1/reactions`, `POST /presence`), each behind
//! `Authorization: Bearer <GATEWAY_ADMIN_TOKEN>`. `?name=` picks the object (one per bot).
//! `/connect` fills `botToken`, `webhookUrl` and `webhookSecret` from `DISCORD_BOT_TOKEN`,
//! `WEBHOOK_URL` and `WEBHOOK_SECRET` unless the JSON body gives them, and only for the
//! environment's own webhook or a host in `ALLOWED_WEBHOOK_HOSTS` ([`crate::credentials`]).

use worker::js_sys::Uint8Array;
use worker::{event, Context, Env, Headers, Method, Request, RequestInit, Response, Result};

use crate::api::{
    ApiError, ConnectRequest, CONNECT_PATH, DEAD_LETTERS_PATH, DISCONNECT_PATH,
    DROP_DEAD_LETTERS_PATH, MAX_BODY_BYTES, REPLAY_DEAD_LETTERS_PATH, STATUS_PATH,
};
use crate::auth::bearer_token_matches;
use crate::credentials::{AllowedHosts, EnvironmentCredentials};
use crate::durable_object::routes::not_found;
use crate::durable_object::runtime::{env_string, insecure_webhooks_allowed};
use crate::http_body::read_request_body;
use crate::talk::presence::PRESENCE_PATH;
use crate::talk::request::{MESSAGES_PATH, REACTIONS_PATH};

/// The Durable Object binding the entry forwards to.
pub const BINDING: &str = "DISCORD_GATEWAY";
/// The instance used when no `?name=` is given.
pub const DEFAULT_NAME: &str = "default";

fn error(error: &ApiError) -> Result<Response> {
    Ok(Response::from_json(error)?.with_status(error.status))
}

fn instance_name(req: &Request) -> std::result::Result<String, ApiError> {
    let url = req
        .url()
        .map_err(|_| ApiError::bad_request(None, "bad request URL"))?;
    let name = url
        .query_pairs()
        .find(|(key, _)| key == "name")
        .map_or_else(|| DEFAULT_NAME.to_owned(), |(_, value)| value.into_owned());
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(name)
    } else {
        Err(ApiError::bad_request(
            Some("name"),
            "name must be 1-64 letters, digits, '-', '_' or '.'",
        ))
    }
}

/// The environment's credentials and where they may go; `503` when `ALLOWED_WEBHOOK_HOSTS`
/// cannot be read (a misconfiguration must not widen or silently narrow the rule).
fn environment_credentials(env: &Env) -> std::result::Result<EnvironmentCredentials, ApiError> {
    let allowed_hosts =
        AllowedHosts::parse(&env_string(env, "ALLOWED_WEBHOOK_HOSTS").unwrap_or_default())
            .map_err(|e| ApiError::new(503, None, e))?;
    Ok(EnvironmentCredentials {
        bot_token: env_string(env, "DISCORD_BOT_TOKEN"),
        webhook_url: env_string(env, "WEBHOOK_URL"),
        webhook_secret: env_string(env, "WEBHOOK_SECRET"),
        allowed_hosts,
        allow_insecure_webhooks: insecure_webhooks_allowed(env),
    })
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    let path = req.path();
    let route_method = match path.as_str() {
        CONNECT_PATH | DISCONNECT_PATH | REPLAY_DEAD_LETTERS_PATH | DROP_DEAD_LETTERS_PATH => {
            Method::Post
        }
        STATUS_PATH | DEAD_LETTERS_PATH => Method::Get,
        MESSAGES_PATH | PRESENCE_PATH => Method::Post,
        REACTIONS_PATH if req.method() == Method::Delete => Method::Delete,
        REACTIONS_PATH => Method::Put,
        _ => return error(&not_found()),
    };
    let Some(admin_token) = env_string(&env, "GATEWAY_ADMIN_TOKEN") else {
        return error(&ApiError::new(
            503,
            None,
            "GATEWAY_ADMIN_TOKEN is not set: run `wrangler secret put GATEWAY_ADMIN_TOKEN`; the control routes stay closed until then",
        ));
    };
    let authorization = req.headers().get("authorization").ok().flatten();
    if !bearer_token_matches(authorization.as_deref(), &admin_token) {
        let mut response = error(&ApiError::new(
            401,
            None,
            "missing or wrong admin token: send Authorization: Bearer <GATEWAY_ADMIN_TOKEN>",
        ))?;
        response.headers_mut().set("www-authenticate", "Bearer")?;
        return Ok(response);
    }
    if req.method() != route_method {
        return error(&ApiError::new(
            405,
            None,
            format!("use {route_method} for {path}"),
        ));
    }
    let name = match instance_name(&req) {
        Ok(name) => name,
        Err(e) => return error(&e),
    };

    let headers = Headers::new();
    let mut init = RequestInit::new();
    init.with_method(route_method.clone());
    let body = if route_method != Method::Get {
        match read_request_body(&req, MAX_BODY_BYTES).await {
            Ok(body) => body,
            Err(e) => return error(&e.into()),
        }
    } else {
        Vec::new()
    };
    if path == CONNECT_PATH {
        let request = match ConnectRequest::from_json(&body)
            .and_then(|request| environment_credentials(&env)?.fill(request))
        {
            Ok(request) => request,
            Err(e) => return error(&e),
        };
        headers.set("content-type", "application/json")?;
        init.with_body(Some(serde_json::to_string(&request)?.into()));
    } else if !body.is_empty() {
        headers.set("content-type", "application/json")?;
        init.with_body(Some(Uint8Array::from(body.as_slice()).into()));
    }
    init.with_headers(headers);
    let inner = Request::new_with_init(&format!("https://gateway.internal{path}"), &init)?;
    let stub = env
        .durable_object(BINDING)?
        .id_from_name(&name)?
        .get_stub()?;
    stub.fetch_with_request(inner).await
}
