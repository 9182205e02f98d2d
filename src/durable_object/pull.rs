//! The pull routes (issue 10) and agent tokens (issue 11): `GET /v1/inbox`, `POST /v1/ack`,
//! `GET /v1/me` with a pull subscription's token, and the admin's `rotate-token` and
//! `revoke-token`.
//!
//! A pull token arrives as `Authorization: Bearer dgdp_<bot>_<hex>` (the Worker entry forwards
//! it; the admin token never is): the object compares its SHA-256 with each pull
//! subscription's stored hash in constant time. A request without one comes from the admin
//! (the entry checked the admin token) or from a binding of the object.
//!
//! A long poll (`wait` > 0) that finds nothing takes one of [`MAX_HELD_WAITS`] slots (`429`
//! with `Retry-After` beyond) and waits until events are stored for its subscription or the
//! time runs out; then it reads again.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures_channel::oneshot;
use serde::Serialize;
use worker::{Delay, Request, Response, Result};

use super::routes::{error, json};
use super::runtime::{now, Runtime};
use super::store::PullRow;
use super::subscription_routes::{draw_token, subscription_name};
use crate::api::{ApiError, MAX_FORWARDED_BODY_BYTES};
use crate::auth::bearer_token;
use crate::http_body::read_request_body;
use crate::route_table::RouteId;
use crate::subscriptions::filter::{is_direct_message_type, ChannelPlace};
use crate::subscriptions::token::{TokenRevoked, TokenRotated};
use crate::subscriptions::{
    token_hash, token_matches, AckRequest, Filter, FilterJson, InboxQuery, Kind, PullProgress,
    Retention, WaitSlots,
};
use crate::talk::request::Caller;

/// Long polls one object holds at once; one more is answered `429`.
pub const MAX_HELD_WAITS: usize = 64;
/// The `Retry-After` of that `429`, in seconds.
const RETRY_AFTER_SECONDS: &str = "1";

/// A long poll waiting for events of its subscription.
struct Waiter {
    id: u64,
    subscription: i64,
    wake: oneshot::Sender<()>,
}

/// The long polls the object holds.
pub struct Pull {
    slots: RefCell<WaitSlots>,
    waiters: RefCell<Vec<Waiter>>,
    next_waiter: Cell<u64>,
    /// When every pull subscription is pruned next ([`prune_all_if_due`]).
    next_prune: Cell<u64>,
}

/// A held slot, given back when the request ends (answered or dropped).
pub(super) struct Slot(Rc<Pull>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.slots.borrow_mut().release();
    }
}

impl Pull {
    /// No request held.
    pub fn new() -> Rc<Self> {
        Rc::new(Self {
            slots: RefCell::new(WaitSlots::new(MAX_HELD_WAITS)),
            waiters: RefCell::new(Vec::new()),
            next_waiter: Cell::new(0),
            next_prune: Cell::new(0),
        })
    }

    /// Whether a long poll waits (only then is it worth telling which subscriptions got
    /// events).
    pub fn has_waiters(&self) -> bool {
        !self.waiters.borrow().is_empty()
    }

    pub(super) fn hold(self: &Rc<Self>) -> std::result::Result<Slot, ApiError> {
        self.slots.borrow_mut().hold()?;
        Ok(Slot(Rc::clone(self)))
    }

    /// Waits up to `ms` for [`Pull::wake`] to name `subscription`.
    pub(super) async fn wait(self: &Rc<Self>, subscription: i64, ms: u64) {
        let (wake, woken) = oneshot::channel();
        let id = self.next_waiter.get();
        self.next_waiter.set(id.wrapping_add(1));
        self.waiters.borrow_mut().push(Waiter {
            id,
            subscription,
            wake,
        });
        let this = Rc::clone(self);
        worker::wasm_bindgen_futures::spawn_local(async move {
            Delay::from(Duration::from_millis(ms)).await;
            let timed_out = {
                let mut waiters = this.waiters.borrow_mut();
                let index = waiters.iter().position(|w| w.id == id);
                index.map(|i| waiters.swap_remove(i))
            };
            if let Some(waiter) = timed_out {
                let _ = waiter.wake.send(());
            }
        });
        let _ = woken.await;
    }

    /// Events were stored: wakes the long polls of the subscriptions `holds` names.
    pub fn wake(&self, holds: impl Fn(i64) -> bool) {
        let woken: Vec<Waiter> = {
            let mut waiters = self.waiters.borrow_mut();
            if waiters.is_empty() {
                return;
            }
            let (woken, waiting) = std::mem::take(&mut *waiters)
                .into_iter()
                .partition(|w| holds(w.subscription));
            *waiters = waiting;
            woken
        };
        for waiter in woken {
            let _ = waiter.wake.send(());
        }
    }
}

/// A pull subscription whose token the request carried.
pub struct Agent {
    /// Its stored row.
    pub row: PullRow,
    /// Its filter.
    pub filter: Filter,
}

impl Agent {
    /// As a talk-back caller.
    pub fn caller(&self) -> Caller<'_> {
        Caller::Subscription {
            name: &self.row.name,
            filter: &self.filter,
        }
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(401, None, message)
}

/// The pull subscription whose token the request carries, or `None` when it carries none (the
/// admin's request); a token that matches none (wrong, unknown, revoked) is a `401`.
pub fn authenticate(
    runtime: &Runtime,
    req: &Request,
) -> std::result::Result<Option<Agent>, ApiError> {
    let header = req.headers().get("authorization").ok().flatten();
    if header.is_none() {
        return Ok(None);
    }
    let token = bearer_token(header.as_deref()).ok_or_else(|| {
        unauthorized("send the subscription's token as Authorization: Bearer dgdp_<bot>_<hex>")
    })?;
    let rows = runtime.store.pull_subscriptions().map_err(storage)?;
    // Every stored hash is compared (in constant time), whichever matches.
    let mut found = None;
    for row in rows {
        let matches = row
            .token_hash
            .as_deref()
            .is_some_and(|hash| token_matches(token, hash));
        if matches && found.is_none() {
            found = Some(row);
        }
    }
    let row = found.ok_or_else(|| {
        unauthorized("unknown or revoked subscription token: ask the admin for a new one (POST /subscriptions/rotate-token)")
    })?;
    let filter = runtime
        .subscriptions
        .find(&row.name)
        .map(|s| s.spec.filter)
        .ok_or_else(|| {
            ApiError::new(
                503,
                None,
                format!(
                    "subscription {:?} cannot be read: replace it (PUT /subscriptions)",
                    row.name
                ),
            )
        })?;
    Ok(Some(Agent { row, filter }))
}

/// The pull subscription of a pull route: its token is required.
pub(super) fn require_agent(
    runtime: &Runtime,
    req: &Request,
) -> std::result::Result<Agent, ApiError> {
    authenticate(runtime, req)?.ok_or_else(|| {
        unauthorized("this route takes a pull subscription's token (Authorization: Bearer dgdp_<bot>_<hex>), not the admin token")
    })
}

pub(super) fn storage(e: worker::Error) -> ApiError {
    ApiError::new(503, None, format!("storage failed: {e}"))
}

/// What the object knows of a channel an agent wants to talk in.
pub fn channel_place(runtime: &Runtime, channel_id: u64) -> ChannelPlace {
    let directory = runtime.directory.borrow();
    ChannelPlace {
        channel_id,
        parent_id: directory.thread_parent(channel_id),
        direct_message: directory
            .channel_kind(channel_id)
            .is_some_and(is_direct_message_type),
    }
}

/// How long a pull subscription's events wait, and how many: the `/connect` delivery
/// settings' `maxAgeMs` and `maxPending` (the defaults before any `/connect`).
fn retention(runtime: &Runtime) -> Retention {
    let delivery = runtime
        .settings
        .borrow()
        .as_ref()
        .map(|s| s.delivery)
        .unwrap_or_default();
    Retention {
        max_age_ms: delivery.max_age_ms,
        max_entries: delivery.max_pending,
    }
}

/// Applies retention to one pull subscription: the events it holds that are too old, or
/// beyond the most it may hold, oldest first, are counted as missed (its next page starts with
/// a gap) and released (they leave the log unless another subscription holds them).
pub(super) fn prune(runtime: &Runtime, row: &mut PullRow) -> std::result::Result<(), ApiError> {
    let leaving = runtime
        .store
        .retention_leaving(row.id, &retention(runtime), now())
        .map_err(storage)?;
    if leaving.is_empty() {
        return Ok(());
    }
    let mut progress = row.progress();
    for position in &leaving {
        progress.retention_removed(u64::try_from(*position).unwrap_or(0));
    }
    runtime
        .store
        .save_pull_progress(row.id, &progress)
        .map_err(storage)?;
    runtime
        .store
        .release_holds(row.id, Some(&leaving), |sequence| {
            runtime.event_left_outbox(sequence)
        })
        .map_err(storage)?;
    row.missed = i64::try_from(progress.missed).unwrap_or(i64::MAX);
    Ok(())
}

/// How often every pull subscription is pruned, read or not (an agent that stopped polling
/// must not keep the log growing).
const PRUNE_EVERY_MS: u64 = 60_000;

/// Prunes every pull subscription, at most once per [`PRUNE_EVERY_MS`].
pub fn prune_all_if_due(runtime: &Runtime) {
    let now = now();
    if now < runtime.pull.next_prune.get() {
        return;
    }
    runtime.pull.next_prune.set(now + PRUNE_EVERY_MS);
    let rows = match runtime.store.pull_subscriptions() {
        Ok(rows) => rows,
        Err(e) => return worker::console_error!("could not read the pull subscriptions: {e}"),
    };
    for mut row in rows {
        if let Err(e) = prune(runtime, &mut row) {
            worker::console_error!("retention of subscription {}: {}", row.name, e.error);
        }
    }
}

/// Answers a pull route or a token route (the object's router picked it from the table).
pub async fn handle(runtime: &Rc<Runtime>, id: RouteId, req: Request) -> Result<Response> {
    // A sharded bot's events are in its shards' logs: its coordinator reads them all.
    let sharded = runtime.coordinator.active();
    let outcome = match id {
        RouteId::Inbox if sharded => super::shard_pull::inbox(runtime, &req).await,
        RouteId::Ack if sharded => super::shard_pull::ack(runtime, &req).await,
        RouteId::Me if sharded => super::shard_pull::me(runtime, &req).await,
        RouteId::Inbox => inbox(runtime, &req).await,
        RouteId::Ack => ack(runtime, &req).await,
        RouteId::Me => me(runtime, &req),
        RouteId::RotateToken => rotate(runtime, &req),
        RouteId::RevokeToken => revoke(runtime, &req),
        _ => Err(ApiError::new(404, None, "not a pull route")),
    };
    match outcome {
        Ok(response) => Ok(response),
        Err(e) if e.status == 429 => {
            let mut response = error(&e)?;
            response
                .headers_mut()
                .set("retry-after", RETRY_AFTER_SECONDS)?;
            Ok(response)
        }
        Err(e) => error(&e),
    }
}

pub(super) fn ok<T: Serialize>(body: &T) -> std::result::Result<Response, ApiError> {
    json(200, body).map_err(|e| ApiError::new(500, None, e.to_string()))
}

pub(super) fn query_pairs(req: &Request) -> std::result::Result<Vec<(String, String)>, ApiError> {
    let url = req
        .url()
        .map_err(|_| ApiError::bad_request(None, "bad request URL"))?;
    Ok(url.query_pairs().into_owned().collect())
}

async fn inbox(runtime: &Rc<Runtime>, req: &Request) -> std::result::Result<Response, ApiError> {
    let mut agent = require_agent(runtime, req)?;
    let pairs = query_pairs(req)?;
    let query = InboxQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let deadline = now() + u64::from(query.wait_seconds) * 1_000;
    let mut slot = None;
    loop {
        // Events received this turn are stored (and their holders known) first.
        runtime.flush_inserts();
        prune(runtime, &mut agent.row)?;
        let progress = agent.row.progress();
        let after = query.after.unwrap_or(progress.cursor);
        let events = runtime
            .store
            .held_events(agent.row.id, after, query.limit)
            .map_err(storage)?;
        let page = progress.page(after, events, query.limit);
        let now = now();
        if !page.entries.is_empty() || now >= deadline {
            return ok(&page);
        }
        if slot.is_none() {
            slot = Some(runtime.pull.hold()?);
        }
        runtime.pull.wait(agent.row.id, deadline - now).await;
        // Rotated, revoked or acknowledged meanwhile: read it again.
        agent = require_agent(runtime, req)?;
    }
}

#[derive(Serialize)]
struct AckResponse {
    cursor: u64,
}

async fn ack(runtime: &Rc<Runtime>, req: &Request) -> std::result::Result<Response, ApiError> {
    let agent = require_agent(runtime, req)?;
    let body = read_request_body(req, MAX_FORWARDED_BODY_BYTES).await?;
    let request = AckRequest::from_json(&body)?;
    ok(&AckResponse {
        cursor: ack_to(runtime, &agent.row, request.cursor)?,
    })
}

/// Moves `row`'s stored cursor forward to `cursor` (never back), releasing what it read; the
/// cursor stored.
pub(super) fn ack_to(
    runtime: &Runtime,
    row: &PullRow,
    cursor: u64,
) -> std::result::Result<u64, ApiError> {
    runtime.flush_inserts();
    let mut progress = row.progress();
    if let Some((from, to)) = progress.ack(cursor, runtime.store.log_head())? {
        let read = runtime
            .store
            .held_positions(row.id, from, to)
            .map_err(storage)?;
        // Both in this turn: the cursor and the released holds are stored together.
        runtime
            .store
            .save_pull_progress(row.id, &progress)
            .map_err(storage)?;
        runtime
            .store
            .release_holds(row.id, Some(&read), |sequence| {
                runtime.event_left_outbox(sequence)
            })
            .map_err(storage)?;
    }
    Ok(progress.cursor)
}

#[derive(Serialize)]
struct MeResponse {
    name: String,
    cursor: u64,
    lag: u64,
    missed: u64,
    filter: FilterJson,
}

fn me(runtime: &Rc<Runtime>, req: &Request) -> std::result::Result<Response, ApiError> {
    let mut agent = require_agent(runtime, req)?;
    let (progress, lag) = progress_of(runtime, &mut agent.row)?;
    ok(&MeResponse {
        name: agent.row.name.clone(),
        cursor: progress.cursor,
        lag,
        missed: progress.missed,
        filter: agent.filter.to_json(),
    })
}

/// `row`'s progress (retention applied first) and the events it holds after its cursor.
pub(super) fn progress_of(
    runtime: &Runtime,
    row: &mut PullRow,
) -> std::result::Result<(PullProgress, u64), ApiError> {
    runtime.flush_inserts();
    prune(runtime, row)?;
    let progress = row.progress();
    let lag = runtime
        .store
        .held_count(row.id, progress.cursor)
        .map_err(storage)?;
    Ok((progress, lag))
}

/// The `?subscription=` of a token route: an existing pull subscription's name.
fn pull_subscription_named(
    runtime: &Runtime,
    req: &Request,
) -> std::result::Result<String, ApiError> {
    let name = subscription_name(req)?;
    match runtime.subscriptions.named(&name)?.spec.kind {
        Kind::Pull => Ok(name),
        Kind::Push(_) => Err(ApiError::bad_request(
            Some("subscription"),
            format!("subscription {name:?} is a push subscription: only pull subscriptions have a token"),
        )),
    }
}

fn rotate(runtime: &Rc<Runtime>, req: &Request) -> std::result::Result<Response, ApiError> {
    let name = pull_subscription_named(runtime, req)?;
    let token = draw_token(runtime)?;
    runtime
        .store
        .set_token_hash(&name, Some(&token_hash(&token)))
        .map_err(storage)?;
    ok(&TokenRotated { name, token })
}

fn revoke(runtime: &Rc<Runtime>, req: &Request) -> std::result::Result<Response, ApiError> {
    let name = pull_subscription_named(runtime, req)?;
    runtime.store.set_token_hash(&name, None).map_err(storage)?;
    ok(&TokenRevoked {
        name,
        revoked: true,
    })
}
