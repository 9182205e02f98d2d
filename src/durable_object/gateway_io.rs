//! Talking to Discord: `GET /gateway/bot`, the WebSocket upgrade, and the socket's events.

use std::rc::Rc;

use worker::{
    console_error, console_log, web_sys, Fetch, Headers, Method, Request, RequestInit, Response,
    WebSocket,
};

use super::http::{retry_after_ms, send};
use super::runtime::Runtime;
use super::socket_events::{self, Next, SocketEvent};
use crate::gateway::{close_code, ConnectionId, GatewayInfo, Input, RequestFailure};

pub(super) const USER_AGENT: &str =
    "DiscordBot (https://github.com/discord-gateway-do/discord-gateway-do, 0.1)";
const REQUEST_TIMEOUT_MS: u32 = 30_000;

fn failure_of(response: &Response) -> RequestFailure {
    RequestFailure {
        status: Some(response.status_code()),
        retry_after_ms: retry_after_ms(response),
    }
}

pub(super) async fn request_gateway_info(
    api_base: &str,
    token: &str,
) -> Result<GatewayInfo, RequestFailure> {
    let headers = Headers::new();
    let authorization = format!("Bot {token}");
    let built = headers
        .set("authorization", &authorization)
        .and_then(|()| headers.set("user-agent", USER_AGENT))
        .and_then(|()| {
            Request::new_with_init(
                &format!("{api_base}/gateway/bot"),
                RequestInit::new()
                    .with_method(Method::Get)
                    .with_headers(headers),
            )
        });
    let request = built.map_err(|_| RequestFailure::default())?;
    let mut response = send(request, REQUEST_TIMEOUT_MS).await.map_err(|e| {
        console_error!("GET /gateway/bot failed: {e}");
        RequestFailure::default()
    })?;
    if !(200..300).contains(&response.status_code()) {
        let failure = failure_of(&response);
        let _ = response.text().await;
        return Err(failure);
    }
    let body = response
        .text()
        .await
        .map_err(|_| RequestFailure::default())?;
    GatewayInfo::from_json(&body).map_err(|e| {
        console_error!("{e}");
        RequestFailure {
            status: Some(response.status_code()),
            retry_after_ms: None,
        }
    })
}

/// Fetches `/gateway/bot` and reports the result to the engine.
pub async fn fetch_gateway_info(runtime: Rc<Runtime>, token: String) {
    match request_gateway_info(&runtime.api_base, &token).await {
        Ok(info) => runtime.input(Input::GatewayInfo(info)),
        Err(failure) => {
            console_error!("GET /gateway/bot failed with {:?}", failure.status);
            runtime.input(Input::GatewayInfoFailed(failure));
        }
    }
}

/// The upgrade, done by hand so a 401 or 429 from Discord can be seen and classified.
async fn upgrade(url: &str) -> Result<WebSocket, RequestFailure> {
    let http_url = if let Some(rest) = url.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = url.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        url.to_owned()
    };
    let headers = Headers::new();
    let request = headers
        .set("upgrade", "websocket")
        .and_then(|()| headers.set("user-agent", USER_AGENT))
        .and_then(|()| {
            Request::new_with_init(
                &http_url,
                RequestInit::new()
                    .with_method(Method::Get)
                    .with_headers(headers),
            )
        })
        .map_err(|_| RequestFailure::default())?;
    // No abort signal here: a signal outlives the upgrade and would abort the open socket when
    // it fires. The engine's open timeout covers an upgrade that never answers.
    let response = Fetch::Request(request).send().await.map_err(|e| {
        console_error!("gateway upgrade failed: {e}");
        RequestFailure::default()
    })?;
    let failure = failure_of(&response);
    response.websocket().ok_or(failure)
}

/// Opens the socket for connection `id` and feeds its events to the engine until it closes.
pub async fn open_socket(runtime: Rc<Runtime>, id: ConnectionId, url: String) {
    let ws = match upgrade(&url).await {
        Ok(ws) => ws,
        Err(failure) => {
            console_error!("gateway upgrade answered {:?}", failure.status);
            runtime.input(Input::SocketFailed(id, failure));
            return;
        }
    };
    if runtime.engine.borrow().current_connection() != Some(id) {
        // The engine gave up on this attempt while it was under way.
        let _ = ws.close(Some(1000), Some("superseded"));
        return;
    }
    let listening = {
        let runtime = runtime.clone();
        socket_events::listen(ws.as_ref(), move |event| on_event(&runtime, id, event))
    };
    let listening = match listening {
        Ok(listening) => listening,
        Err(e) => {
            console_error!("{e}");
            runtime.input(Input::SocketFailed(id, RequestFailure::default()));
            return;
        }
    };
    if let Err(e) = ws.accept() {
        console_error!("could not accept the gateway socket: {e}");
        runtime.input(Input::SocketFailed(id, RequestFailure::default()));
        return;
    }
    // Without this, binary frames (transport compression) arrive as empty Blobs.
    ws.as_ref()
        .set_binary_type(web_sys::BinaryType::Arraybuffer);
    *runtime.socket.borrow_mut() = Some((id, ws.clone()));
    runtime.input(Input::SocketOpened(id));

    listening.ended().await;
}

/// Feeds one socket event to the engine; stops listening once the socket is gone or the engine
/// moved on (and closed it).
fn on_event(runtime: &Rc<Runtime>, id: ConnectionId, event: SocketEvent) -> Next {
    match event {
        SocketEvent::Text(text) => runtime.input(Input::Text(id, &text)),
        SocketEvent::Binary(bytes) => runtime.input(Input::Binary(id, &bytes)),
        SocketEvent::Closed { code, reason } => {
            console_log!("gateway socket {} closed: {code} {reason}", id.0);
            runtime.clear_socket(id);
            runtime.input(Input::SocketClosed {
                id,
                code,
                reason: &reason,
            });
            return Next::Stop;
        }
        SocketEvent::Failed(message) => {
            // workerd follows an error with no close event: the socket is dead. (A message over
            // the runtime's size limit arrives this way, as a 1009 protocol error.)
            console_error!("gateway socket {} error: {message}", id.0);
            runtime.clear_socket(id);
            runtime.input(Input::SocketClosed {
                id,
                code: close_code::of_socket_error(&message),
                reason: &message,
            });
            return Next::Stop;
        }
    }
    if runtime.engine.borrow().current_connection() == Some(id) {
        Next::Continue
    } else {
        Next::Stop
    }
}
