//! The talk-back routes: `POST /v1/messages`, `PUT`/`DELETE /v1/reactions`, sent to Discord
//! through the bot's one rate limiter ([`crate::rest::rate_limit`]), and `POST /presence`,
//! sent over the gateway as op 3 by the engine.
//!
//! Each request takes a ticket, waits until the limiter lets it go (a timer wakes the limiter
//! at its next deadline), sends, and reports the answer; a `429` puts it back at the front of
//! its queue. The bot token goes only to `DISCORD_API_BASE` (Discord's API by default), in URLs
//! built from validated ids and a percent-encoded emoji.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use futures_channel::oneshot;
use worker::{Delay, Headers, Method, Request, RequestInit, Response, Result};

use super::gateway_io::USER_AGENT;
use super::http::send;
use super::pull::{authenticate, channel_place, Agent};
use super::routes::{error, json};
use super::runtime::{now, Runtime};
use crate::api::{ApiError, MAX_FORWARDED_BODY_BYTES};
use crate::gateway::SendError;
use crate::http_body::read_request_body;
use crate::rest::rate_limit::{
    Answer, Completion, LimiterConfig, RateLimiter, Refusal, Route, Ticket, Verdict,
};
use crate::route_table::RouteId;
use crate::talk::presence::{PresenceRequest, PresenceResponse};
use crate::talk::request::{
    authorize, Caller, MessageRequest, MessagesResponse, ReactionRequest, ReactionResponse,
};

/// How long one Discord request may take.
const REQUEST_TIMEOUT_MS: u32 = 15_000;
/// The answer headers the limiter reads.
const RATE_LIMIT_HEADERS: [&str; 7] = [
    "x-ratelimit-bucket",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset-after",
    "x-ratelimit-scope",
    "x-ratelimit-global",
    "retry-after",
];

/// The bot's rate limiter and the requests waiting on it.
pub struct Talk {
    limiter: RefCell<RateLimiter>,
    waiters: RefCell<HashMap<Ticket, oneshot::Sender<std::result::Result<(), Refusal>>>>,
    /// The deadline a timer is already set for.
    timer_at: Cell<Option<u64>>,
}

impl Talk {
    /// An idle limiter with Discord's defaults.
    pub fn new() -> Rc<Self> {
        Rc::new(Self {
            limiter: RefCell::new(RateLimiter::new(LimiterConfig::default())),
            waiters: RefCell::new(HashMap::new()),
            timer_at: Cell::new(None),
        })
    }

    /// The limiter's counters for `/status`.
    pub fn status(&self, now: u64) -> crate::rest::rate_limit::LimiterStatus {
        self.limiter.borrow().status(now)
    }

    /// Lets go what the limiter allows now, and sets a timer for its next deadline.
    fn pump(self: &Rc<Self>) {
        let now = now();
        loop {
            let verdicts = self.limiter.borrow_mut().poll(now);
            if verdicts.is_empty() {
                break;
            }
            for verdict in verdicts {
                let (ticket, outcome) = match verdict {
                    Verdict::Send(ticket) => (ticket, Ok(())),
                    Verdict::Refuse(ticket, refusal) => (ticket, Err(refusal)),
                };
                let waiter = self.waiters.borrow_mut().remove(&ticket);
                let delivered = waiter.is_some_and(|tx| tx.send(outcome).is_ok());
                if !delivered {
                    // Its caller is gone: free the queue.
                    self.limiter.borrow_mut().abandon(ticket);
                }
            }
        }
        let Some(at) = self.limiter.borrow().next_wakeup(now) else {
            return;
        };
        if self.timer_at.get().is_some_and(|set| set <= at) {
            return;
        }
        self.timer_at.set(Some(at));
        let this = Rc::clone(self);
        worker::wasm_bindgen_futures::spawn_local(async move {
            Delay::from(Duration::from_millis(at.saturating_sub(now).max(1))).await;
            if this.timer_at.get() == Some(at) {
                this.timer_at.set(None);
            }
            this.pump();
        });
    }

    /// Sends one Discord request when the limiter allows, retrying `429`s; the answer's status
    /// and body.
    async fn send(
        self: &Rc<Self>,
        route: Route,
        method: Method,
        url: &str,
        token: &str,
        body: Option<&str>,
    ) -> std::result::Result<(u16, Vec<u8>), ApiError> {
        let ticket = self
            .limiter
            .borrow_mut()
            .enqueue(now(), route)
            .map_err(|refusal| ApiError::new(503, None, refusal.to_string()))?;
        let mut guard = TicketGuard {
            talk: Rc::clone(self),
            ticket,
            live: true,
        };
        loop {
            let (tx, rx) = oneshot::channel();
            self.waiters.borrow_mut().insert(ticket, tx);
            self.pump();
            match rx.await {
                Ok(Ok(())) => {}
                Ok(Err(refusal)) => {
                    guard.live = false;
                    return Err(ApiError::new(503, None, refusal.to_string()));
                }
                Err(_) => return Err(ApiError::new(503, None, "the request was dropped")),
            }
            let request = build(&method, url, token, body).map_err(|e| {
                ApiError::new(500, None, format!("could not build the request: {e}"))
            })?;
            let mut response = send(request, REQUEST_TIMEOUT_MS)
                .await
                .map_err(|e| ApiError::new(502, None, format!("could not reach Discord: {e}")))?;
            let status = response.status_code();
            let headers: Vec<(&str, String)> = RATE_LIMIT_HEADERS
                .iter()
                .filter_map(|name| Some((*name, response.headers().get(name).ok()??)))
                .collect();
            let bytes = response.bytes().await.unwrap_or_default();
            let answer = Answer::read(
                status,
                |name| {
                    headers
                        .iter()
                        .find(|(k, _)| *k == name)
                        .map(|(_, v)| v.as_str())
                },
                &bytes,
            );
            let completion = self.limiter.borrow_mut().complete(now(), ticket, &answer);
            if completion == Completion::Retry {
                continue;
            }
            guard.live = false;
            self.pump();
            return Ok((status, bytes));
        }
    }
}

/// Frees a ticket whose request was dropped before its answer was reported.
struct TicketGuard {
    talk: Rc<Talk>,
    ticket: Ticket,
    live: bool,
}

impl Drop for TicketGuard {
    fn drop(&mut self) {
        if self.live {
            self.talk.waiters.borrow_mut().remove(&self.ticket);
            self.talk.limiter.borrow_mut().abandon(self.ticket);
            self.talk.pump();
        }
    }
}

fn build(method: &Method, url: &str, token: &str, body: Option<&str>) -> Result<Request> {
    let headers = Headers::new();
    headers.set("authorization", &format!("Bot {token}"))?;
    headers.set("user-agent", USER_AGENT)?;
    let mut init = RequestInit::new();
    init.with_method(method.clone());
    if let Some(body) = body {
        headers.set("content-type", "application/json")?;
        init.with_body(Some(body.into()));
    }
    init.with_headers(headers);
    Request::new_with_init(url, &init)
}

/// Answers a talk-back route (the object's router picked it from the route table).
pub async fn handle(runtime: &Rc<Runtime>, id: RouteId, req: Request) -> Result<Response> {
    let talk = &runtime.talk;
    let outcome = match id {
        RouteId::SendMessage => messages(runtime, talk, &req).await,
        RouteId::AddReaction => reaction(runtime, talk, &req, Method::Put).await,
        RouteId::RemoveReaction => reaction(runtime, talk, &req, Method::Delete).await,
        RouteId::SetPresence => presence(runtime, &req).await,
        _ => Err(ApiError::new(404, None, "not a talk-back route")),
    };
    match outcome {
        Ok(response) => Ok(response),
        Err(e) => error(&e),
    }
}

/// The bot token, once `/connect` stored one.
fn bot_token(runtime: &Runtime) -> std::result::Result<String, ApiError> {
    runtime
        .settings
        .borrow()
        .as_ref()
        .map(|s| s.gateway.token.clone())
        .ok_or_else(|| {
            ApiError::new(
                409,
                None,
                "no bot token yet: POST /connect first (the object talks with the token it connects with)",
            )
        })
}

async fn messages(
    runtime: &Rc<Runtime>,
    talk: &Rc<Talk>,
    req: &Request,
) -> std::result::Result<Response, ApiError> {
    // A pull token is checked before the body is read (401 first).
    let agent = authenticate(runtime, req)?;
    let body = read_request_body(req, MAX_FORWARDED_BODY_BYTES).await?;
    let outgoing = MessageRequest::from_json(&body)?.validate()?;
    let caller = agent.as_ref().map_or(Caller::Admin, Agent::caller);
    authorize(caller, &outgoing.channel_id, |id| {
        channel_place(runtime, id)
    })?;
    let token = bot_token(runtime)?;
    let channel = &outgoing.channel_id;
    let url = format!("{}/channels/{channel}/messages", runtime.api_base);
    let total = outgoing.bodies.len();
    let mut message_ids = Vec::with_capacity(total);
    for (i, body) in outgoing.bodies.iter().enumerate() {
        let route = Route::new("POST /channels/{}/messages", channel.as_str());
        let (status, answer) = talk
            .send(route, Method::Post, &url, &token, Some(body))
            .await
            .map_err(|e| partial(e, i, total, &message_ids))?;
        if !(200..300).contains(&status) {
            return Err(partial(
                discord_error(status, &answer),
                i,
                total,
                &message_ids,
            ));
        }
        let id = crate::json::from_slice::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_owned))
            .ok_or_else(|| ApiError::new(502, None, "Discord's answer has no message id"))?;
        message_ids.push(id);
    }
    json(200, &MessagesResponse { message_ids })
        .map_err(|e| ApiError::new(500, None, e.to_string()))
}

async fn reaction(
    runtime: &Rc<Runtime>,
    talk: &Rc<Talk>,
    req: &Request,
    method: Method,
) -> std::result::Result<Response, ApiError> {
    let agent = authenticate(runtime, req)?;
    let body = read_request_body(req, MAX_FORWARDED_BODY_BYTES).await?;
    let request = ReactionRequest::from_json(&body)?;
    let emoji = request.validate()?;
    let caller = agent.as_ref().map_or(Caller::Admin, Agent::caller);
    authorize(caller, &request.channel_id, |id| channel_place(runtime, id))?;
    let token = bot_token(runtime)?;
    let url = format!(
        "{}/channels/{}/messages/{}/reactions/{emoji}/@me",
        runtime.api_base, request.channel_id, request.message_id
    );
    // Adding and removing share Discord's bucket and one queue, so they happen in the order
    // asked.
    let route = Route::new(
        "PUT|DELETE /channels/{}/messages/{}/reactions/{}/@me",
        request.channel_id.as_str(),
    );
    let (status, answer) = talk.send(route, method, &url, &token, None).await?;
    if !(200..300).contains(&status) {
        return Err(discord_error(status, &answer));
    }
    json(200, &ReactionResponse { ok: true }).map_err(|e| ApiError::new(500, None, e.to_string()))
}

async fn presence(runtime: &Rc<Runtime>, req: &Request) -> std::result::Result<Response, ApiError> {
    let body = read_request_body(req, MAX_FORWARDED_BODY_BYTES).await?;
    let presence = PresenceRequest::from_json(&body)?.validate()?;
    let sent = runtime
        .command(|engine, now| engine.set_presence(now, presence.clone()))
        .map_err(|e| match e {
            SendError::TooLarge { size } => ApiError::bad_request(
                Some("activities"),
                format!("the presence is {size} bytes; the gateway takes at most 4,096"),
            ),
            SendError::RateLimited { retry_at } => ApiError::new(
                429,
                None,
                format!("kept for the next Identify, but not sent now: the gateway's 120 sends per 60 s are used up until {retry_at} (ms since the epoch)"),
            ),
            other => ApiError::new(500, None, other.to_string()),
        })?;
    json(200, &PresenceResponse { presence, sent })
        .map_err(|e| ApiError::new(500, None, e.to_string()))
}

/// Discord's refusal as a `502` with its status and message.
fn discord_error(status: u16, body: &[u8]) -> ApiError {
    let message = crate::json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_default();
    let hint = match status {
        401 => " (the bot token was refused)",
        429 => " (still rate limited after retries)",
        _ => "",
    };
    ApiError::new(
        502,
        None,
        format!("Discord answered {status}{hint}: {message}"),
    )
}

/// Says which part of a split message failed and which were sent.
fn partial(mut error: ApiError, index: usize, total: usize, sent: &[String]) -> ApiError {
    if total > 1 {
        error.error = format!(
            "{} (part {} of {total}; sent before it: {sent:?})",
            error.error,
            index + 1
        );
    }
    error
}
