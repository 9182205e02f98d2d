//! A sharded bot's subscriptions (issue 12). The coordinator owns them (the admin API changes
//! its rows, token hashes included); every shard object holds a copy (filters, push URL and
//! secret, pull names: never a token hash) and does with it what a single object does: it
//! stores the events each one matches and delivers the push ones itself.
//!
//! Each change on the coordinator is a new version, sent to every shard it reads (the live sets
//! and the old sets still drained of pull events); `ShardStart` carries the current one; a
//! shard reports the version it holds with every report, and one behind is sent it again, so a
//! shard that missed a change converges.

use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::console_error;

use super::coordinator::{self, ShardSet};
use super::internal::call_json;
use super::runtime::{now, Runtime};
use crate::api::{ApiError, SubscriptionStatus};
use crate::route_table::RouteId;
use crate::shards::link::{shard_object_name, ShardKey};
use crate::shards::sync::{add_up, plan, SubscriptionSync, SyncChange, SyncedSubscription};
use crate::subscriptions::SubscriptionSpec;

/// Where the version is stored (`kv`): the coordinator's current one, or the one a shard holds.
const VERSION_KEY: &str = "subscriptions_version";
/// Where the coordinator keeps the replaced sets whose shards still hold pull events (`kv`).
const DRAINING_KEY: &str = "draining_sets";

fn storage(e: &worker::Error) -> ApiError {
    ApiError::new(503, None, format!("storage failed: {e}"))
}

/// The version this object holds (0: none yet).
pub fn version(runtime: &Runtime) -> u64 {
    runtime.store.get(VERSION_KEY).ok().flatten().unwrap_or(0)
}

fn stored(runtime: &Runtime) -> Result<Vec<SyncedSubscription>, ApiError> {
    Ok(runtime
        .store
        .subscription_rows()
        .map_err(|e| storage(&e))?
        .into_iter()
        .map(|row| SyncedSubscription {
            name: row.name,
            kind: row.kind,
            definition: row.definition,
        })
        .collect())
}

/// The coordinator's subscriptions, at its version.
pub fn current(runtime: &Runtime) -> Result<SubscriptionSync, ApiError> {
    Ok(SubscriptionSync {
        version: version(runtime),
        subscriptions: stored(runtime)?,
    })
}

/// The replaced sets still read for pull events.
pub fn draining(runtime: &Runtime) -> Vec<ShardSet> {
    runtime
        .store
        .get(DRAINING_KEY)
        .ok()
        .flatten()
        .unwrap_or_default()
}

fn save_draining(runtime: &Runtime, sets: &[ShardSet]) {
    let result = if sets.is_empty() {
        runtime.store.delete(DRAINING_KEY)
    } else {
        runtime.store.put(DRAINING_KEY, &sets)
    };
    if let Err(e) = result {
        console_error!("could not store the draining sets: {e}");
    }
}

/// The sets whose shards a pull subscription reads and whose shards get every change: the live
/// ones, then the drained ones.
pub fn read_sets(runtime: &Runtime) -> Vec<ShardSet> {
    let mut sets = runtime.coordinator.sets();
    for set in draining(runtime) {
        if !sets.contains(&set) {
            sets.push(set);
        }
    }
    sets
}

/// Resharding stopped `sets`: with pull subscriptions, their shards are read until they hold no
/// pull event (what they stored before the switch is not lost).
pub fn drain(runtime: &Runtime, sets: &[ShardSet]) {
    let has_pull = stored(runtime).is_ok_and(|s| s.iter().any(|s| s.kind == "pull"));
    if !has_pull {
        return;
    }
    let mut draining = draining(runtime);
    draining.extend(
        sets.iter()
            .filter(|s| !draining.contains(s))
            .copied()
            .collect::<Vec<_>>(),
    );
    save_draining(runtime, &draining);
}

/// Forgets the drained set `set` (its shards hold no pull event any more).
pub fn drained(runtime: &Runtime, set: ShardSet) {
    let mut sets = draining(runtime);
    sets.retain(|s| *s != set);
    save_draining(runtime, &sets);
}

/// `/disconnect` on the coordinator: no set is read any more.
pub fn forget_draining(runtime: &Runtime) {
    save_draining(runtime, &[]);
}

/// The coordinator's subscriptions changed (created, replaced, deleted): a new version, sent to
/// every shard it reads. A shard that cannot be reached now gets it with its next report.
pub async fn changed(runtime: &Rc<Runtime>) {
    let next = version(runtime) + 1;
    if let Err(e) = runtime.store.put(VERSION_KEY, &next) {
        console_error!("could not store the subscriptions' version: {e}");
    }
    let Ok(sync) = current(runtime) else {
        return;
    };
    let Some(bot) = coordinator::name(runtime) else {
        return;
    };
    for set in read_sets(runtime) {
        for shard in 0..set.count {
            send(
                runtime,
                &shard_object_name(&bot, set.generation, shard, set.count),
                &sync,
            )
            .await;
        }
    }
}

async fn send(runtime: &Runtime, object: &str, sync: &SubscriptionSync) {
    if let Err(e) = call_json::<_, Value>(
        &runtime.env,
        object,
        RouteId::ShardSubscriptions,
        Some(sync),
    )
    .await
    {
        console_error!("could not send the subscriptions to {object}: {e}");
    }
}

/// A shard reported holding `held`: one behind the coordinator is sent the current version.
pub async fn converge(runtime: &Rc<Runtime>, bot: &str, key: ShardKey, held: u64) {
    if held >= version(runtime) {
        return;
    }
    if let Ok(sync) = current(runtime) {
        let object = shard_object_name(bot, key.generation, key.shard, key.count);
        send(runtime, &object, &sync).await;
    }
}

fn spec(s: &SyncedSubscription) -> Result<SubscriptionSpec, ApiError> {
    SubscriptionSpec::from_stored(&s.name, &s.kind, &s.definition)
        .map_err(|why| ApiError::bad_request(Some("subscriptions"), why))
}

/// `POST /internal/shard/subscriptions` (and `ShardStart`): the shard makes its copy match
/// `sync`, unless it holds a newer version. The version it holds.
pub fn apply(runtime: &Rc<Runtime>, sync: &SubscriptionSync) -> Result<u64, ApiError> {
    let held = version(runtime);
    if sync.version < held {
        return Ok(held);
    }
    for change in plan(&stored(runtime)?, &sync.subscriptions) {
        match change {
            SyncChange::Delete(name) => runtime.delete_subscription(&name)?,
            SyncChange::Create(s) => {
                runtime
                    .subscriptions
                    .create(&runtime.store, spec(&s)?, None, now())?;
            }
            SyncChange::Replace(s) => runtime.subscriptions.replace(&runtime.store, spec(&s)?)?,
        }
    }
    runtime
        .store
        .put(VERSION_KEY, &sync.version)
        .map_err(|e| storage(&e))?;
    runtime.after_io();
    Ok(sync.version)
}

/// The version a shard answers after applying.
#[derive(Serialize, Deserialize)]
pub struct Applied {
    /// The version it holds.
    pub version: u64,
}

/// The coordinator's `/status` `subscriptions`: its shards' figures added up.
pub fn add_up_statuses(statuses: &[Value]) -> Vec<SubscriptionStatus> {
    add_up(statuses.iter().map(|status| {
        status
            .get("subscriptions")
            .and_then(|s| serde_json::from_value::<Vec<SubscriptionStatus>>(s.clone()).ok())
            .unwrap_or_default()
    }))
}
