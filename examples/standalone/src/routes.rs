//! This Worker's own `#[event(fetch)]`: control routes that reach the gateway object through
//! [`GatewayStub`], and the `/webhook` the object delivers to.

use discord_gateway_do::api::{ApiError, ConnectRequest};
use discord_gateway_do::auth::bearer_token_matches;
use discord_gateway_do::delivery::signature::{ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use discord_gateway_do::{GatewayStub, GatewayStubError};
use serde::Deserialize;
use worker::{event, Context, Env, Headers, Method, Request, RequestInit, Response, Result, Stub};

use crate::event_log::{RecordedEvent, LIST_PATH, RECORD_PATH};
use crate::verify::{check_delivery, WebhookError};

/// The gateway object's binding (wrangler.toml).
const GATEWAY_BINDING: &str = "DISCORD_GATEWAY";
/// The event log's binding (wrangler.toml).
const EVENT_LOG_BINDING: &str = "EVENT_LOG";

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    match (req.method(), path.as_str()) {
        (Method::Post, "/webhook") => webhook(req, &env).await,
        (Method::Post, "/connect") | (Method::Post, "/disconnect") | (Method::Get, "/status")
        | (Method::Get, "/events") => {
            if let Some(refusal) = refuse_unless_admin(&req, &env)? {
                return Ok(refusal);
            }
            match path.as_str() {
                "/connect" => connect(req, &env).await,
                "/disconnect" => answer(GatewayStub::new(&env, GATEWAY_BINDING)?.disconnect().await, 200),
                "/status" => answer(GatewayStub::new(&env, GATEWAY_BINDING)?.status().await, 200),
                _ => event_log(&env)?.fetch_with_str(&format!("https://event-log.internal{LIST_PATH}")).await,
            }
        }
        _ => error(&ApiError::new(
            404,
            None,
            "no such route: POST /connect, POST /disconnect, GET /status, GET /events, POST /webhook",
        )),
    }
}

/// `POST /connect`: an optional [`ConnectRequest`] body (intents, events, compression, ...);
/// this Worker sets `webhookUrl` to its own `/webhook` and `webhookSecret` from its secret, and
/// `botToken` from `DISCORD_BOT_TOKEN` unless the body gives one.
async fn connect(mut req: Request, env: &Env) -> Result<Response> {
    let body = req.bytes().await?;
    let mut request = match ConnectRequest::from_json(&body) {
        Ok(request) => request,
        Err(e) => return error(&e),
    };
    if request.webhook_url.is_some() || request.webhook_secret.is_some() {
        return error(&ApiError::bad_request(
            Some("webhookUrl"),
            "this Worker sets webhookUrl and webhookSecret itself: leave them out",
        ));
    }
    let Some(secret) = env_string(env, "WEBHOOK_SECRET") else {
        return error(&ApiError::new(503, None, "WEBHOOK_SECRET is not set"));
    };
    let base = match env_string(env, "PUBLIC_URL") {
        Some(url) => url,
        None => req.url()?.origin().ascii_serialization(),
    };
    request.webhook_url = Some(format!("{}/webhook", base.trim_end_matches('/')));
    request.webhook_secret = Some(secret);
    request.bot_token = request
        .bot_token
        .or_else(|| env_string(env, "DISCORD_BOT_TOKEN"));

    answer(
        GatewayStub::new(env, GATEWAY_BINDING)?
            .connect(&request)
            .await,
        202,
    )
}

/// `POST /webhook`: verifies the Standard Webhooks signature (`401` otherwise), then records
/// the event in the [`EventLog`](crate::EventLog).
async fn webhook(mut req: Request, env: &Env) -> Result<Response> {
    let Some(secret) = env_string(env, "WEBHOOK_SECRET") else {
        return error(&ApiError::new(503, None, "WEBHOOK_SECRET is not set"));
    };
    let body = req.bytes().await?;
    let header = |name: &str| req.headers().get(name).ok().flatten();
    match check_delivery(&secret, header, &body) {
        Ok(()) => {}
        Err(WebhookError::InvalidSecret(_)) => {
            return error(&ApiError::new(
                503,
                None,
                "WEBHOOK_SECRET is not a whsec_ secret",
            ))
        }
        Err(rejection) => return error(&ApiError::new(401, None, rejection.to_string())),
    }
    let (timestamp, signature) = (header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER));

    #[derive(Deserialize)]
    struct Envelope {
        #[serde(rename = "type")]
        event_type: String,
    }
    let (Some(event_id), Ok(envelope), Ok(body)) = (
        // The signed id (the same as x-discord-gateway-event-id), so a replay cannot pose as new.
        header(ID_HEADER),
        serde_json::from_slice::<Envelope>(&body),
        String::from_utf8(body),
    ) else {
        return error(&ApiError::bad_request(None, "not a gateway event delivery"));
    };
    let event = RecordedEvent {
        event_id,
        event_type: envelope.event_type,
        signed_at: timestamp.unwrap_or_default(),
        signature: signature.unwrap_or_default(),
        body,
    };

    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(serde_json::to_string(&event)?.into()));
    let record =
        Request::new_with_init(&format!("https://event-log.internal{RECORD_PATH}"), &init)?;
    let recorded = event_log(env)?.fetch_with_request(record).await?;
    if recorded.status_code() != 200 {
        // Not 2xx: the gateway object keeps the event and retries.
        return error(&ApiError::new(503, None, "could not record the event"));
    }
    Response::from_json(&serde_json::json!({ "ok": true }))
}

/// `None` when the request carries `Authorization: Bearer <GATEWAY_ADMIN_TOKEN>`, else the
/// refusal to send.
fn refuse_unless_admin(req: &Request, env: &Env) -> Result<Option<Response>> {
    let Some(admin_token) = env_string(env, "GATEWAY_ADMIN_TOKEN") else {
        return error(&ApiError::new(503, None, "GATEWAY_ADMIN_TOKEN is not set")).map(Some);
    };
    let authorization = req.headers().get("authorization")?;
    if bearer_token_matches(authorization.as_deref(), &admin_token) {
        return Ok(None);
    }
    let mut response = error(&ApiError::new(401, None, "missing or wrong admin token"))?;
    response.headers_mut().set("www-authenticate", "Bearer")?;
    Ok(Some(response))
}

/// The object's answer as a response: `status` with the body on success, the object's own
/// status and error (field included) when it refused, `502` when it could not be asked.
fn answer<T: serde::Serialize>(
    result: std::result::Result<T, GatewayStubError>,
    status: u16,
) -> Result<Response> {
    match result {
        Ok(body) => Ok(Response::from_json(&body)?.with_status(status)),
        Err(GatewayStubError::Api(e)) => error(&e),
        Err(e) => error(&ApiError::new(502, None, e.to_string())),
    }
}

fn error(error: &ApiError) -> Result<Response> {
    Ok(Response::from_json(error)?.with_status(error.status))
}

fn event_log(env: &Env) -> Result<Stub> {
    env.durable_object(EVENT_LOG_BINDING)?.get_by_name("log")
}

/// A secret or a var, `None` when unset or empty.
fn env_string(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.is_empty())
}
