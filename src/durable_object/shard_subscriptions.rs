//! A sharded bot's subscriptions (issue 12). The coordinator owns them (the admin API changes
//! its rows, token hashes included); every shard object holds a copy (filters, push URL and
//! secret, pull names: never a token hash) and does with it what a single object does: it
//! stores the events each one matches and delivers the push ones itself.
//!
//! Each change on the coordinator is a new version, sent to every shard it reads (the live sets
//! and the old sets still drained of pull events); `ShardStart` carries the current one; a
//! shard reports the version it holds with every report, and one behind is sent it again. A
//! shard that did not acknowledge a change (the internal call failed) is also remembered
//! ([`SyncRetry`]) and sent the current version again on the coordinator's alarm, with a
//! bounded backoff, so a connected shard converges without waiting for a new session.

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
use crate::shards::sync::{
    add_up, plan, SubscriptionSync, SyncChange, SyncRetry, SyncedSubscription,
};
use crate::subscriptions::SubscriptionSpec;

/// Where the version is stored (`kv`): the coordinator's current one, or the one a shard holds.
const VERSION_KEY: &str = "subscriptions_version";
/// Where the coordinator keeps the replaced sets whose shards still hold pull events (`kv`).
const DRAINING_KEY: &str = "draining_sets";
/// Where the coordinator keeps the shards that missed the current version (`kv`).
const RETRY_KEY: &str = "subscriptions_retry";

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

/// The object names of every shard the coordinator reads.
fn read_objects(runtime: &Runtime, bot: &str) -> Vec<String> {
    read_sets(runtime)
        .into_iter()
        .flat_map(|set| {
            (0..set.count)
                .map(move |shard| shard_object_name(bot, set.generation, shard, set.count))
        })
        .collect()
}

/// The stored shards that missed the current version (none on a single object).
pub fn load_retry(store: &super::store::Store) -> worker::Result<SyncRetry> {
    Ok(store.get(RETRY_KEY)?.unwrap_or_default())
}

fn save_retry(runtime: &Runtime, retry: SyncRetry) {
    let result = if retry.next_wake().is_none() {
        runtime.store.delete(RETRY_KEY)
    } else {
        runtime.store.put(RETRY_KEY, &retry)
    };
    if let Err(e) = result {
        console_error!("could not store the shards that missed the subscriptions: {e}");
    }
    *runtime.coordinator.sync_retry.borrow_mut() = retry;
}

/// When the coordinator next sends the current version to shards that missed it.
pub fn next_retry(runtime: &Runtime) -> Option<u64> {
    runtime.coordinator.sync_retry.borrow().next_wake()
}

/// `/disconnect` on the coordinator: no shard is waited for any more.
pub fn forget_retry(runtime: &Runtime) {
    save_retry(runtime, SyncRetry::default());
}

/// The coordinator's subscriptions changed (created, replaced, deleted): a new version, sent to
/// every shard it reads. The shards that do not acknowledge it are sent it again on the alarm
/// (and with their next report).
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
    let mut failed = Vec::new();
    for object in read_objects(runtime, &bot) {
        if !send(runtime, &object, &sync).await {
            failed.push(object);
        }
    }
    // A newer change made while these calls were under way records its own.
    if version(runtime) == next {
        let retry = runtime
            .coordinator
            .sync_retry
            .borrow()
            .sent(next, failed, now());
        save_retry(runtime, retry);
        runtime.after_io();
    }
}

/// The alarm fired: when due, the shards still read that missed the version are sent the
/// current one again; those that still do not acknowledge it wait longer.
pub async fn retry(runtime: &Rc<Runtime>) {
    let mut retry = runtime.coordinator.sync_retry.borrow().clone();
    if !retry.due(now()) {
        return;
    }
    if let Some(bot) = coordinator::name(runtime) {
        retry.retain_read(&read_objects(runtime, &bot));
    }
    // Unable to read the subscriptions now: every shard waits for the next retry (backed off,
    // never a wake at once).
    let mut failed = Vec::new();
    match current(runtime) {
        Ok(sync) => {
            for object in &retry.shards {
                if !send(runtime, object, &sync).await {
                    failed.push(object.clone());
                }
            }
        }
        Err(_) => failed.clone_from(&retry.shards),
    }
    // A change made meanwhile was sent to every shard and recorded its own.
    if runtime.coordinator.sync_retry.borrow().version == retry.version {
        retry.retried(failed, now());
        save_retry(runtime, retry);
    }
}

/// Sends `sync` to `object`: whether it acknowledged it.
async fn send(runtime: &Runtime, object: &str, sync: &SubscriptionSync) -> bool {
    match call_json::<_, Value>(
        &runtime.env,
        object,
        RouteId::ShardSubscriptions,
        Some(sync),
    )
    .await
    {
        Ok(_) => true,
        Err(e) => {
            console_error!("could not send the subscriptions to {object}: {e}");
            false
        }
    }
}

/// A shard reported holding `held`: one behind the coordinator is sent the current version,
/// and one that holds it (or acknowledges it now) is no longer retried.
pub async fn converge(runtime: &Rc<Runtime>, bot: &str, key: ShardKey, held: u64) {
    let object = shard_object_name(bot, key.generation, key.shard, key.count);
    let current_version = version(runtime);
    let mut acknowledged = held;
    if held < current_version {
        if let Ok(sync) = current(runtime) {
            if send(runtime, &object, &sync).await {
                acknowledged = sync.version;
            }
        }
    }
    let retry = runtime.coordinator.sync_retry.borrow().clone();
    if retry.shards.contains(&object) {
        let mut retry = retry;
        retry.acknowledged(&object, acknowledged);
        save_retry(runtime, retry);
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
