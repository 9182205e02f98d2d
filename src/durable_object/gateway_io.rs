//! Talking to Discord: `GET /gateway/bot`, the WebSocket upgrade, and the socket's events.

use std::rc::Rc;

use worker::{
    console_error, console_log, web_sys, Fetch, Headers, Method, Request, RequestInit, Response,
    WebSocket,
};

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsCast;
use worker::js_sys;
use worker::wasm_bindgen_futures::JsFuture;

use super::http::retry_after_ms;
use super::runtime::Runtime;
use super::socket_events::{self, Next, SocketEvent};
use crate::delivery::retry::parse_retry_after;
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

#[wasm_bindgen(inline_js = r#"
export async function getGatewayBot(url, authorization, userAgent, timeoutMs) {
  // An async function runs up to its first await at once: fetch() is called before this returns.
  try {
    const response = await fetch(url, {
      headers: { authorization, 'user-agent': userAgent },
      signal: AbortSignal.timeout(timeoutMs),
    });
    const retryAfter = response.headers.get('retry-after');
    return { status: response.status, retryAfter, body: await response.text() };
  } catch (e) {
    return { status: 0, retryAfter: null, body: null, error: String(e) };
  }
}
"#)]
extern "C" {
    /// Calls `fetch` for `GET url` at once; resolves (never rejects) with a [`BotAnswer`]
    /// once the answer's body is read, or with `status` 0 and `error` when there was none.
    #[wasm_bindgen(js_name = getGatewayBot)]
    fn get_gateway_bot(
        url: &str,
        authorization: &str,
        user_agent: &str,
        timeout_ms: u32,
    ) -> js_sys::Promise;

    /// What `getGatewayBot` resolves with.
    type BotAnswer;
    #[wasm_bindgen(method, getter)]
    fn status(this: &BotAnswer) -> u16;
    #[wasm_bindgen(method, getter, js_name = retryAfter)]
    fn retry_after(this: &BotAnswer) -> Option<String>;
    #[wasm_bindgen(method, getter)]
    fn body(this: &BotAnswer) -> Option<String>;
    #[wasm_bindgen(method, getter)]
    fn error(this: &BotAnswer) -> Option<String>;
}

/// A `GET /gateway/bot` already under way: [`GatewayBotRequest::start`] calls the runtime's
/// `fetch` before it returns (the `worker` crate's `Fetch` calls it only when its future is
/// first polled, a microtask later, after whatever storage writes the caller made meanwhile).
///
/// Why that matters (issue 9, `/connect` → READY): a Durable Object's output gate holds an
/// outgoing request issued while a storage write is unconfirmed, but not one issued before the
/// write. In workerd, `fetch()` takes its wait on the gate when it is called (`fetchImpl` in
/// `src/workerd/api/http.c++`: `context.waitForOutputLocksIfNecessary()`), and
/// `OutputGate::wait()` (`src/workerd/io/io-gate.h`) waits "until all preceding locks are
/// released. The wait will not be affected by any future call to `lockWhile()`". So a request
/// started before the connect settings are written travels while the write is confirmed, and
/// the `202` and the Identify, issued after the write, still wait for it.
///
/// Dropped before its answer is read, the request still completes and its answer is ignored.
pub struct GatewayBotRequest(js_sys::Promise);

impl GatewayBotRequest {
    /// Sends `GET {api_base}/gateway/bot` with the bot's token, now.
    pub fn start(api_base: &str, token: &str) -> Self {
        Self(get_gateway_bot(
            &format!("{api_base}/gateway/bot"),
            &format!("Bot {token}"),
            USER_AGENT,
            REQUEST_TIMEOUT_MS,
        ))
    }

    /// The answer: Discord's gateway info, or why there is none.
    pub async fn answer(self) -> Result<GatewayInfo, RequestFailure> {
        let answer: BotAnswer = JsFuture::from(self.0)
            .await
            .map_err(|_| RequestFailure::default())?
            .unchecked_into();
        if let Some(e) = answer.error() {
            console_error!("GET /gateway/bot failed: {e}");
            return Err(RequestFailure::default());
        }
        let status = answer.status();
        if !(200..300).contains(&status) {
            return Err(RequestFailure {
                status: Some(status),
                retry_after_ms: answer.retry_after().and_then(|v| parse_retry_after(&v)),
            });
        }
        GatewayInfo::from_json(&answer.body().unwrap_or_default()).map_err(|e| {
            console_error!("{e}");
            RequestFailure {
                status: Some(status),
                retry_after_ms: None,
            }
        })
    }
}

/// `GET /gateway/bot`, sent now, and its answer.
pub(super) async fn request_gateway_info(
    api_base: &str,
    token: &str,
) -> Result<GatewayInfo, RequestFailure> {
    GatewayBotRequest::start(api_base, token).answer().await
}

/// Waits for `request` (`GET /gateway/bot`) and reports the result to the engine.
pub async fn fetch_gateway_info(runtime: Rc<Runtime>, request: GatewayBotRequest) {
    match request.answer().await {
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
