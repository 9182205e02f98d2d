//! Pull subscriptions of a sharded bot (issue 12): `GET /v1/inbox`, `POST /v1/ack` and
//! `GET /v1/me` on the coordinator, read across its shard objects through one opaque cursor
//! ([`crate::shards::cursor`]), and the shard side of those reads (`POST /internal/shard/pull`).
//!
//! The coordinator checks the token (it holds the hashes), then asks every shard it reads (the
//! live sets, and a replaced set until it holds no pull event) in parallel and merges their
//! pages by receive time. A long poll is held on the coordinator (one of its bounded slots,
//! `429` beyond): every shard is asked with the remaining `wait`; as soon as one answers with
//! events, the others are woken (one call each, per answered poll: nothing per event), and the
//! page is what they all hold. A bot without pull subscription never makes one of these calls.
//!
//! Acknowledging moves each shard's stored position forward only; once a replaced set holds no
//! pull event any more, it is no longer read.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures_channel::oneshot;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use worker::{Request, Response};

use super::coordinator::{self, ShardSet};
use super::internal::call_json;
use super::pull::{ack_to, ok, progress_of, prune, query_pairs, require_agent, storage, Agent};
use super::routes::read_body;
use super::runtime::{now, Runtime};
use super::shard_subscriptions::{drained, draining, read_sets};
use super::store::PullRow;
use crate::api::ApiError;
use crate::route_table::RouteId;
use crate::shards::cursor::{cursor_tag, SetKey, ShardCursor};
use crate::shards::link::shard_object_name;
use crate::shards::pull_link::{
    ack_cursor, merge, MergedEntry, PullCall, ShardEvent, ShardPage, ShardProgress,
};
use crate::subscriptions::{FilterJson, InboxEntry, InboxQuery};

type Event = Box<RawValue>;

/// One shard the coordinator reads.
#[derive(Clone)]
struct Target {
    set: SetKey,
    shard: u32,
    object: String,
}

fn targets(runtime: &Runtime) -> Result<Vec<Target>, ApiError> {
    let bot = coordinator::name(runtime)
        .ok_or_else(|| ApiError::new(503, None, "the coordinator has no name"))?;
    Ok(read_sets(runtime)
        .into_iter()
        .flat_map(|set| {
            let bot = bot.clone();
            (0..set.count).map(move |shard| Target {
                set: key(set),
                shard,
                object: shard_object_name(&bot, set.generation, shard, set.count),
            })
        })
        .collect())
}

fn key(set: ShardSet) -> SetKey {
    SetKey {
        generation: set.generation,
        count: set.count,
    }
}

fn tag(runtime: &Runtime, agent: &Agent) -> u32 {
    cursor_tag(
        &coordinator::name(runtime).unwrap_or_default(),
        &agent.row.name,
    )
}

/// The answers of several shards, gathered as they come.
struct Gather {
    pages: RefCell<Vec<Option<ShardPage<Event>>>>,
    left: Cell<usize>,
    first: RefCell<Option<oneshot::Sender<()>>>,
    all: RefCell<Option<oneshot::Sender<()>>>,
}

impl Gather {
    fn done(&self, index: usize, page: Option<ShardPage<Event>>) {
        let has_events = page.as_ref().is_some_and(|p| !p.is_empty());
        self.pages.borrow_mut()[index] = page;
        self.left.set(self.left.get() - 1);
        if has_events || self.left.get() == 0 {
            if let Some(first) = self.first.borrow_mut().take() {
                let _ = first.send(());
            }
        }
        if self.left.get() == 0 {
            if let Some(all) = self.all.borrow_mut().take() {
                let _ = all.send(());
            }
        }
    }
}

/// Reads every shard in parallel after its position in `cursor` (its stored one when the
/// cursor has none), each held up to `wait_ms`; once one answers with events the others are
/// woken. The pages, with the shard each is of (a shard that could not be read is left out: its
/// position stays as it was).
async fn read_all(
    runtime: &Runtime,
    targets: &[Target],
    name: &str,
    cursor: Option<&ShardCursor>,
    limit: usize,
    wait_ms: u64,
) -> Vec<(SetKey, u32, ShardPage<Event>)> {
    let (first, first_done) = oneshot::channel();
    let (all, all_done) = oneshot::channel();
    let gather = Rc::new(Gather {
        pages: RefCell::new(vec![None; targets.len()]),
        left: Cell::new(targets.len()),
        first: RefCell::new(Some(first)),
        all: RefCell::new(Some(all)),
    });
    if targets.is_empty() {
        return Vec::new();
    }
    for (index, target) in targets.iter().enumerate() {
        let call = PullCall::Read {
            name: name.to_owned(),
            after: cursor.and_then(|c| c.position(target.set, target.shard)),
            limit,
            wait_ms,
        };
        let (env, object, gather) = (runtime.env.clone(), target.object.clone(), gather.clone());
        worker::wasm_bindgen_futures::spawn_local(async move {
            let page =
                call_json::<_, ShardPage<Event>>(&env, &object, RouteId::ShardPull, Some(&call))
                    .await
                    .map_err(|e| worker::console_error!("inbox read: {e}"))
                    .ok();
            gather.done(index, page);
        });
    }
    let _ = first_done.await;
    if wait_ms > 0 && gather.left.get() > 0 {
        let waiting: Vec<Target> = targets
            .iter()
            .enumerate()
            .filter(|(i, _)| gather.pages.borrow()[*i].is_none())
            .map(|(_, t)| t.clone())
            .collect();
        for target in waiting {
            let wake = PullCall::Wake {
                name: name.to_owned(),
            };
            let _ = call_json::<_, serde_json::Value>(
                &runtime.env,
                &target.object,
                RouteId::ShardPull,
                Some(&wake),
            )
            .await;
        }
    }
    let _ = all_done.await;
    let pages = gather.pages.take();
    targets
        .iter()
        .zip(pages)
        .filter_map(|(t, page)| page.map(|p| (t.set, t.shard, p)))
        .collect()
}

/// An inbox page of a sharded bot.
#[derive(Serialize)]
struct MergedPage {
    entries: Vec<MergedEntry<Event>>,
    next_cursor: String,
}

/// `GET /v1/inbox` on the coordinator.
pub async fn inbox(runtime: &Rc<Runtime>, req: &Request) -> Result<Response, ApiError> {
    let agent = require_agent(runtime, req)?;
    let tag = tag(runtime, &agent);
    let pairs = query_pairs(req)?;
    let query = InboxQuery::from_pairs(
        pairs
            .iter()
            .filter(|(k, _)| k != "after")
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )?;
    let given = pairs
        .iter()
        .find(|(k, _)| k == "after")
        .map(|(_, v)| ShardCursor::decode(v, tag, "after"))
        .transpose()?;
    let targets = targets(runtime)?;
    let deadline = now() + u64::from(query.wait_seconds) * 1_000;
    let name = agent.row.name.clone();
    let mut pages = read_all(runtime, &targets, &name, given.as_ref(), query.limit, 0).await;
    let empty = pages.iter().all(|(_, _, p)| p.is_empty());
    let now = now();
    let mut _slot = None;
    if empty && now < deadline {
        _slot = Some(runtime.pull.hold()?);
        pages = read_all(
            runtime,
            &targets,
            &name,
            given.as_ref(),
            query.limit,
            deadline - now,
        )
        .await;
    }
    let mut cursor = given.unwrap_or_default();
    let entries = merge(pages, query.limit, &mut cursor);
    cursor.retain(|set| targets.iter().any(|t| t.set == set));
    ok(&MergedPage {
        entries,
        next_cursor: cursor.encode(tag),
    })
}

#[derive(Serialize)]
struct AckAnswer {
    cursor: String,
}

/// `POST /v1/ack {"cursor": "<opaque>"}` on the coordinator: each shard's stored position moves
/// forward (never back) to the cursor's; a replaced set that holds no pull event any more is
/// no longer read.
pub async fn ack(runtime: &Rc<Runtime>, req: &Request) -> Result<Response, ApiError> {
    let agent = require_agent(runtime, req)?;
    let text = ack_cursor(&read_body(req).await?)?;
    let cursor = ShardCursor::decode(&text, tag(runtime, &agent), "cursor")?;
    let targets = targets(runtime)?;
    for target in &targets {
        let Some(position) = cursor.position(target.set, target.shard).filter(|p| *p > 0) else {
            continue;
        };
        let call = PullCall::Ack {
            name: agent.row.name.clone(),
            cursor: position,
        };
        call_json::<_, ShardProgress>(&runtime.env, &target.object, RouteId::ShardPull, Some(&call))
            .await
            .map_err(|e| {
                ApiError::new(
                    503,
                    None,
                    format!("the acknowledgement did not reach every shard ({e}): send it again (it is never applied twice)"),
                )
            })?;
    }
    forget_drained_sets(runtime).await;
    ok(&AckAnswer { cursor: text })
}

/// Stops reading each replaced set whose shards hold no pull event any more.
async fn forget_drained_sets(runtime: &Runtime) {
    let Some(bot) = coordinator::name(runtime) else {
        return;
    };
    for set in draining(runtime) {
        let mut held = 0;
        for shard in 0..set.count {
            let object = shard_object_name(&bot, set.generation, shard, set.count);
            match call_json::<_, ShardProgress>(
                &runtime.env,
                &object,
                RouteId::ShardPull,
                Some(&PullCall::Held),
            )
            .await
            {
                Ok(progress) => held += progress.held,
                Err(_) => held += 1,
            }
        }
        if held == 0 {
            drained(runtime, set);
        }
    }
}

#[derive(Serialize)]
struct MeAnswer {
    name: String,
    cursor: String,
    lag: u64,
    missed: u64,
    filter: FilterJson,
}

/// `GET /v1/me` on the coordinator: the stored positions as a cursor, lag and missed summed.
pub async fn me(runtime: &Rc<Runtime>, req: &Request) -> Result<Response, ApiError> {
    let agent = require_agent(runtime, req)?;
    let mut cursor = ShardCursor::default();
    let (mut lag, mut missed) = (0, 0);
    for target in targets(runtime)? {
        let call = PullCall::Me {
            name: agent.row.name.clone(),
        };
        let progress: ShardProgress = call_json(
            &runtime.env,
            &target.object,
            RouteId::ShardPull,
            Some(&call),
        )
        .await
        .map_err(|e| ApiError::new(503, None, format!("a shard could not be read: {e}")))?;
        cursor.set_position(target.set, target.shard, progress.cursor);
        lag += progress.lag;
        missed += progress.missed;
    }
    ok(&MeAnswer {
        name: agent.row.name.clone(),
        cursor: cursor.encode(tag(runtime, &agent)),
        lag,
        missed,
        filter: agent.filter.to_json(),
    })
}

/// A shard's copy of the pull subscription `name`.
fn shard_row(runtime: &Runtime, name: &str) -> Result<PullRow, ApiError> {
    runtime
        .store
        .pull_subscriptions()
        .map_err(storage)?
        .into_iter()
        .find(|row| row.name == name)
        .ok_or_else(|| {
            ApiError::new(
                404,
                Some("subscription"),
                format!("this shard has no pull subscription {name:?} (yet)"),
            )
        })
}

#[derive(Deserialize)]
struct Received {
    #[serde(default)]
    timestamp: u64,
}

fn shard_page(page: crate::subscriptions::Page<Event>, after: u64) -> ShardPage<Event> {
    let mut shard_page = ShardPage {
        after,
        missed: 0,
        events: Vec::new(),
    };
    for entry in page.entries {
        match entry {
            InboxEntry::Gap { missed } => shard_page.missed = missed,
            InboxEntry::Event { position, event } => shard_page.events.push(ShardEvent {
                position,
                received_at: serde_json::from_str::<Received>(event.get())
                    .map_or(0, |r| r.timestamp),
                event,
            }),
        }
    }
    shard_page
}

/// A shard reads pull subscription `name` after `after` (its stored position when `None`),
/// held once up to `wait_ms` (until its events are stored, a `Wake`, or the time runs out).
async fn shard_read(
    runtime: &Rc<Runtime>,
    name: &str,
    after: Option<u64>,
    limit: usize,
    wait_ms: u64,
) -> Result<ShardPage<Event>, ApiError> {
    let limit = limit.clamp(1, crate::subscriptions::inbox::MAX_LIMIT);
    let wait_ms = wait_ms.min(u64::from(crate::subscriptions::inbox::MAX_WAIT_SECONDS) * 1_000);
    let mut waited = false;
    let mut _slot = None;
    loop {
        runtime.flush_inserts();
        let mut row = shard_row(runtime, name)?;
        prune(runtime, &mut row)?;
        let progress = row.progress();
        let after = after.unwrap_or(progress.cursor);
        let events = runtime
            .store
            .held_events(row.id, after, limit)
            .map_err(storage)?;
        let page = progress.page(after, events, limit);
        if !page.entries.is_empty() || waited || wait_ms == 0 {
            return Ok(shard_page(page, after));
        }
        _slot = Some(runtime.pull.hold()?);
        runtime.pull.wait(row.id, wait_ms).await;
        waited = true;
    }
}

/// `POST /internal/shard/pull`: the shard side of a sharded bot's pull routes.
pub async fn answer(runtime: &Rc<Runtime>, req: &Request) -> Result<Response, ApiError> {
    let call: PullCall = crate::json::from_slice(&read_body(req).await?)
        .map_err(|e| ApiError::bad_request(None, e.to_string()))?;
    match call {
        PullCall::Read {
            name,
            after,
            limit,
            wait_ms,
        } => ok(&shard_read(runtime, &name, after, limit, wait_ms).await?),
        PullCall::Ack { name, cursor } => {
            let row = shard_row(runtime, &name)?;
            let cursor = ack_to(runtime, &row, cursor)?;
            ok(&ShardProgress {
                cursor,
                ..ShardProgress::default()
            })
        }
        PullCall::Me { name } => {
            let mut row = shard_row(runtime, &name)?;
            let (progress, lag) = progress_of(runtime, &mut row)?;
            ok(&ShardProgress {
                cursor: progress.cursor,
                lag,
                missed: progress.missed,
                held: 0,
            })
        }
        PullCall::Wake { name } => {
            if let Ok(row) = shard_row(runtime, &name) {
                runtime.pull.wake(|id| id == row.id);
            }
            ok(&ShardProgress::default())
        }
        PullCall::Held => {
            runtime.flush_inserts();
            let mut held = 0;
            for row in runtime.store.pull_subscriptions().map_err(storage)? {
                held += runtime.store.held_count(row.id, 0).map_err(storage)?;
            }
            ok(&ShardProgress {
                held,
                ..ShardProgress::default()
            })
        }
    }
}
