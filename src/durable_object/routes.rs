//! The control API as the object's fetch routes, shared by the Worker entry, `GatewayStub` and
//! JavaScript callers (`stub.fetch`).

use std::rc::Rc;

use serde::Serialize;
use worker::{Method, Request, Response, Result};

use super::runtime::now;
use super::runtime::Runtime;
use crate::api::{
    ApiError, ConnectRequest, ConnectResponse, DeadLetterList, DeadLetterOutcome,
    DeadLetterSelection, DisconnectResponse, CONNECT_PATH, DEAD_LETTERS_PATH, DISCONNECT_PATH,
    DROP_DEAD_LETTERS_PATH, MAX_DEAD_LETTERS, MAX_FORWARDED_BODY_BYTES, REPLAY_DEAD_LETTERS_PATH,
    STATUS_PATH,
};
use crate::delivery::signature::GENERATED_KEY_BYTES;
use crate::http_body::read_request_body;

/// A JSON response with a status code.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

/// An [`ApiError`] as a response.
pub fn error(error: &ApiError) -> Result<Response> {
    json(error.status, error)
}

/// The answer when storage could not be opened.
pub fn unavailable() -> Result<Response> {
    error(&ApiError::new(
        503,
        None,
        "the Durable Object could not open its storage; see the logs",
    ))
}

fn method_not_allowed(allowed: &str) -> Result<Response> {
    error(&ApiError::new(
        405,
        None,
        format!("use {allowed} for this route"),
    ))
}

/// The request's body, up to what the Worker entry may forward (a cut-off body is an error).
async fn read_body(req: &Request) -> std::result::Result<Vec<u8>, ApiError> {
    read_request_body(req, MAX_FORWARDED_BODY_BYTES)
        .await
        .map_err(ApiError::from)
}

/// Routes one request.
pub async fn handle(runtime: &Rc<Runtime>, req: Request) -> Result<Response> {
    let path = req.path();
    let method = req.method();
    match path.as_str() {
        CONNECT_PATH if method == Method::Post => {
            let mut generated = None;
            let settings = match read_body(&req)
                .await
                .and_then(|body| ConnectRequest::from_json(&body))
                .and_then(|mut request| {
                    generated = request.generate_secret_if_asked(random_key)?;
                    request.validate(runtime.insecure_webhooks)
                }) {
                Ok(settings) => settings,
                Err(e) => return error(&e),
            };
            runtime.connect(settings)?;
            json(202, &ConnectResponse::connecting(generated))
        }
        DISCONNECT_PATH if method == Method::Post => {
            runtime.disconnect()?;
            json(200, &DisconnectResponse::disconnected())
        }
        STATUS_PATH if method == Method::Get => json(200, &runtime.status()),
        DEAD_LETTERS_PATH if method == Method::Get => {
            let dead_letters = runtime.store.dead_letters(MAX_DEAD_LETTERS)?;
            json(200, &DeadLetterList { dead_letters })
        }
        REPLAY_DEAD_LETTERS_PATH | DROP_DEAD_LETTERS_PATH if method == Method::Post => {
            let selection = match read_body(&req)
                .await
                .and_then(|body| DeadLetterSelection::from_json(&body))
            {
                Ok(selection) => selection,
                Err(e) => return error(&e),
            };
            let ids = selection.ids();
            let affected = if path == REPLAY_DEAD_LETTERS_PATH {
                let replayed = runtime.store.replay_dead_letters(ids, now())?;
                runtime.reload_lanes()?;
                runtime.after_io();
                replayed
            } else {
                runtime.store.drop_dead_letters(ids)?
            };
            json(
                200,
                &DeadLetterOutcome {
                    affected: affected as u64,
                },
            )
        }
        CONNECT_PATH | DISCONNECT_PATH | REPLAY_DEAD_LETTERS_PATH | DROP_DEAD_LETTERS_PATH => {
            method_not_allowed("POST")
        }
        STATUS_PATH | DEAD_LETTERS_PATH => method_not_allowed("GET"),
        _ => error(&not_found()),
    }
}

/// A key for a generated webhook secret, from the platform's CSPRNG (`crypto.getRandomValues`).
fn random_key() -> std::result::Result<[u8; GENERATED_KEY_BYTES], ApiError> {
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

/// The answer for an unknown route, listing the routes there are.
pub fn not_found() -> ApiError {
    ApiError::new(
        404,
        None,
        "no such route: use POST /connect, POST /disconnect, GET /status, GET /dead-letters, POST /dead-letters/replay, POST /dead-letters/drop, POST /v1/messages, PUT /v1/reactions, DELETE /v1/reactions or POST /presence",
    )
}
