//! The coordinator of a sharded bot (issue 12): the object named for the bot, once `/connect`
//! resolves `shards` to more than one. It keeps the settings (in the same place a single
//! object does, but runs no gateway itself), the shard count and its sets, the identify queue
//! of all its shards (stored after every change, so a restart never overdraws the budget nor
//! grants a bucket early), and the resharding state machine; it starts its shard objects
//! (`<bot>/shard/<generation>/<id>-of-<count>`) by internal calls and gathers their `/status`.

use std::cell::RefCell;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{console_error, console_log};

use super::gateway_io::request_gateway_info;
use super::internal::{call, call_json, GATEWAY_BINDING};
use super::runtime::{env_string, now, Runtime};
use super::shard_subscriptions;
use super::store::Store;
use crate::api::{ApiError, ConnectSettings};
use crate::gateway::history::HistorySnapshot;
use crate::gateway::{GatewayInfo, StopReason};
use crate::route_table::RouteId;
use crate::shards::link::{
    is_shard_object_name, shard_object_name, IdentifyAnswer, ShardEvent, ShardKey, ShardReport,
    ShardStart,
};
use crate::shards::sync::SyncRetry;
use crate::shards::{
    start_deadline, Answer, GrowthCheck, IdentifyQueue, QueueSnapshot, QueueTimings, Reshard,
    ShardCount, Step,
};

/// Where the coordinator's state is stored (`kv`).
const STATE_KEY: &str = "coordinator";
/// Where the identify queue is stored (`kv`); kept after `/disconnect`, so a new `/connect`
/// never overdraws the budget.
const QUEUE_KEY: &str = "identify_queue";
/// Added to Discord's 5 s between two Identifies of a bucket: the grant is redeemed when the
/// shard reports its Identify sent, and this covers the time its report travels.
const WINDOW_MARGIN_MS: u64 = 100;
/// Time for a new set to connect and reach READY beyond its identify batches.
const START_SLACK_MS: u64 = 60_000;
/// Stopped sets kept in [`CoordinatorState::retired`]: their objects still deliver what they
/// stored, and their dead letters are listed with the live ones.
const RETIRED_SETS_KEPT: usize = 4;
/// A shard of a set that is no longer live asks again this much later (it is being stopped).
const NOT_LIVE_RETRY_MS: u64 = 60_000;

fn timings() -> QueueTimings {
    let defaults = QueueTimings::default();
    QueueTimings {
        window_ms: defaults.window_ms + WINDOW_MARGIN_MS,
        ..defaults
    }
}

/// One set of shard objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardSet {
    /// Its generation (part of its objects' names).
    pub generation: u32,
    /// Its shard count.
    pub count: u32,
}

/// What the coordinator stores.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoordinatorState {
    /// `"auto"` or a fixed count.
    pub mode: ShardCount,
    /// The last generation started.
    pub generation: u32,
    /// The live sets (two while resharding).
    pub sets: Vec<ShardSet>,
    /// Where resharding stands.
    pub reshard: Reshard,
    /// The last thing that went wrong (a shard that could not be started, a reshard refused).
    #[serde(default)]
    pub last_error: Option<String>,
    /// When the recommended count is read next (`"auto"` only).
    #[serde(default)]
    pub growth: GrowthCheck,
    /// Sets stopped by a reshard, newest last (at most [`RETIRED_SETS_KEPT`]): they no longer
    /// hold a gateway, but still deliver what they stored and keep their dead letters.
    #[serde(default)]
    pub retired: Vec<ShardSet>,
}

/// The coordinator's state in memory, if this object is one.
#[derive(Default)]
pub struct CoordinatorSide {
    state: RefCell<Option<CoordinatorState>>,
    queue: RefCell<Option<IdentifyQueue>>,
    /// The shards that missed the subscriptions' current version (see [`shard_subscriptions`]).
    pub(super) sync_retry: RefCell<SyncRetry>,
}

impl CoordinatorSide {
    /// Reads the stored state and queue.
    pub fn load(store: &Store) -> worker::Result<Self> {
        let queue: Option<QueueSnapshot> = store.get(QUEUE_KEY)?;
        Ok(Self {
            state: RefCell::new(store.get(STATE_KEY)?),
            queue: RefCell::new(queue.map(|q| IdentifyQueue::restore(&q, timings()))),
            sync_retry: RefCell::new(shard_subscriptions::load_retry(store)?),
        })
    }

    /// Whether this object coordinates a sharded bot.
    pub fn active(&self) -> bool {
        self.state.borrow().is_some()
    }

    /// The live sets (two while resharding).
    pub fn sets(&self) -> Vec<ShardSet> {
        self.state
            .borrow()
            .as_ref()
            .map(|s| s.sets.clone())
            .unwrap_or_default()
    }
}

/// The bot's name, if this object can coordinate (it is addressed by a name, not a shard's).
pub fn name(runtime: &Runtime) -> Option<String> {
    bot_name(runtime).ok()
}

fn bot_name(runtime: &Runtime) -> Result<String, ApiError> {
    let name = runtime.state.id().name().ok_or_else(|| {
        ApiError::new(
            503,
            Some("shards"),
            "a sharded bot's object must be addressed by name (idFromName)",
        )
    })?;
    if is_shard_object_name(&name) {
        return Err(ApiError::bad_request(
            Some("shards"),
            "a shard object cannot coordinate shards",
        ));
    }
    Ok(name)
}

fn save(runtime: &Runtime) {
    let side = &runtime.coordinator;
    let result = match side.state.borrow().as_ref() {
        Some(state) => runtime.store.put(STATE_KEY, state),
        None => runtime.store.delete(STATE_KEY),
    };
    if let Err(e) = result {
        console_error!("could not store the coordinator state: {e}");
    }
    if let Some(queue) = side.queue.borrow().as_ref() {
        if let Err(e) = runtime.store.put(QUEUE_KEY, &queue.snapshot()) {
            console_error!("could not store the identify queue: {e}");
        }
    }
}

/// `POST /connect` with `shards`: becomes the coordinator and starts the shard objects.
/// `Ok(false)` when the count resolves to one shard: the caller connects as a single object.
pub async fn connect(
    runtime: &Rc<Runtime>,
    settings: ConnectSettings,
    mode: ShardCount,
    reshard_check_ms: u64,
) -> Result<bool, ApiError> {
    let name = bot_name(runtime)?;
    if env_string(&runtime.env, "DISCORD_BOT_TOKEN").as_deref() != Some(&settings.gateway.token) {
        return Err(ApiError::bad_request(
            Some("shards"),
            "a sharded bot takes its token from DISCORD_BOT_TOKEN (it is never sent to the shard objects): set it, and do not pass another botToken",
        ));
    }
    if runtime.env.durable_object(GATEWAY_BINDING).is_err() {
        return Err(ApiError::new(
            503,
            Some("shards"),
            format!("a sharded bot needs the Durable Object binding {GATEWAY_BINDING}"),
        ));
    }
    let info = request_gateway_info(&runtime.api_base, &settings.gateway.token)
        .await
        .map_err(|failure| {
            ApiError::new(
                502,
                Some("shards"),
                format!(
                    "GET /gateway/bot failed ({}): the shard count cannot be resolved",
                    failure
                        .status
                        .map_or_else(|| "network".to_owned(), |s| s.to_string())
                ),
            )
        })?;
    let count = mode.resolve(info.shards);
    if count <= 1 && !runtime.coordinator.active() {
        return Ok(false);
    }
    let now = now();
    {
        let mut queue = runtime.coordinator.queue.borrow_mut();
        match queue.as_mut() {
            Some(queue) => queue.update_limit(info.session_start_limit, now),
            None => *queue = Some(IdentifyQueue::new(info.session_start_limit, now, timings())),
        }
    }
    // A single object becoming the coordinator ends its own session first.
    if runtime.settings.borrow().is_some() && !runtime.coordinator.active() {
        runtime
            .disconnect()
            .map_err(|e| ApiError::new(503, None, e.to_string()))?;
    }
    runtime
        .become_coordinator(&settings)
        .map_err(|e| ApiError::new(503, None, e.to_string()))?;
    let existing = runtime.coordinator.state.borrow().clone();
    match existing {
        // The same count: the running shards take the new settings (their sessions go on).
        Some(state) if state.reshard.primary() == count && count > 1 => {
            if let Some(s) = runtime.coordinator.state.borrow_mut().as_mut() {
                s.mode = mode;
                s.last_error = None;
                s.growth = GrowthCheck::new(reshard_check_ms, now);
            }
            save(runtime);
            for set in &state.sets {
                start_set(runtime, &name, *set).await;
            }
        }
        existing => {
            if let Some(old) = existing {
                stop_sets(runtime, &old.sets, RouteId::Disconnect).await;
            }
            if count <= 1 {
                *runtime.coordinator.state.borrow_mut() = None;
                save(runtime);
                return Ok(false);
            }
            let generation = runtime
                .coordinator
                .state
                .borrow()
                .as_ref()
                .map_or(0, |s| s.generation);
            let (reshard, steps) = Reshard::new(mode, info.shards.max(count));
            let retired = existing_retired(runtime);
            *runtime.coordinator.state.borrow_mut() = Some(CoordinatorState {
                mode,
                generation,
                sets: Vec::new(),
                reshard,
                last_error: None,
                growth: GrowthCheck::new(reshard_check_ms, now),
                retired,
            });
            save(runtime);
            run_steps(runtime, &name, steps).await;
        }
    }
    console_log!("coordinating {count} shards");
    runtime.after_io();
    Ok(true)
}

/// The retired sets a new `/connect` keeps listing (their dead letters stay reachable).
fn existing_retired(runtime: &Runtime) -> Vec<ShardSet> {
    runtime
        .coordinator
        .state
        .borrow()
        .as_ref()
        .map(|s| s.retired.clone())
        .unwrap_or_default()
}

/// Carries out the resharding machine's steps.
async fn run_steps(runtime: &Rc<Runtime>, name: &str, steps: Vec<Step>) {
    for step in steps {
        match step {
            Step::StartSet { count } => {
                let set = {
                    let mut state = runtime.coordinator.state.borrow_mut();
                    let Some(state) = state.as_mut() else {
                        return;
                    };
                    state.generation += 1;
                    let set = ShardSet {
                        generation: state.generation,
                        count,
                    };
                    state.sets.push(set);
                    set
                };
                save(runtime);
                start_set(runtime, name, set).await;
            }
            Step::SwitchTo { count } => console_log!("switched to the set of {count} shards"),
            Step::StopSet { count } => {
                let stopped: Vec<ShardSet> = {
                    let mut state = runtime.coordinator.state.borrow_mut();
                    let Some(state) = state.as_mut() else {
                        return;
                    };
                    let (stopped, kept): (Vec<ShardSet>, Vec<ShardSet>) =
                        state.sets.iter().partition(|s| s.count == count);
                    state.sets = kept;
                    state.retired.extend(stopped.iter().copied());
                    let excess = state.retired.len().saturating_sub(RETIRED_SETS_KEPT);
                    state.retired.drain(..excess);
                    stopped
                };
                save(runtime);
                shard_subscriptions::drain(runtime, &stopped);
                stop_sets(runtime, &stopped, RouteId::ShardRetire).await;
                let more = runtime
                    .coordinator
                    .state
                    .borrow_mut()
                    .as_mut()
                    .map(|s| s.reshard.old_stopped(count))
                    .unwrap_or_default();
                save(runtime);
                Box::pin(run_steps(runtime, name, more)).await;
            }
        }
    }
}

/// Starts (or re-applies the settings to) every shard object of `set`.
async fn start_set(runtime: &Rc<Runtime>, name: &str, set: ShardSet) {
    let Some(mut settings) = runtime.settings.borrow().clone() else {
        return;
    };
    // The token stays here: each shard object reads its own environment's.
    settings.gateway.token = String::new();
    settings.gateway.shard = None;
    let presence = super::shard_presence::stored(runtime);
    for shard in 0..set.count {
        let start = ShardStart {
            coordinator: name.to_owned(),
            generation: set.generation,
            shard,
            count: set.count,
            settings: settings.clone(),
            presence: presence.clone(),
            subscriptions: shard_subscriptions::current(runtime).ok(),
        };
        let object = shard_object_name(name, set.generation, shard, set.count);
        if let Err(e) =
            call_json::<_, Value>(&runtime.env, &object, RouteId::ShardStart, Some(&start)).await
        {
            console_error!("could not start {object}: {e}");
            if let Some(state) = runtime.coordinator.state.borrow_mut().as_mut() {
                state.last_error = Some(format!("could not start {object}: {e}"));
            }
        }
    }
    save(runtime);
}

/// Sends `route` (`/disconnect` or the retire route) to every shard object of `sets`.
async fn stop_sets(runtime: &Rc<Runtime>, sets: &[ShardSet], route: RouteId) {
    let Ok(name) = bot_name(runtime) else {
        return;
    };
    for set in sets {
        for shard in 0..set.count {
            let object = shard_object_name(&name, set.generation, shard, set.count);
            if let Err(e) = call::<Value>(&runtime.env, &object, route, None).await {
                console_error!("could not stop {object}: {e}");
            }
        }
    }
}

fn live(runtime: &Runtime, key: &ShardKey) -> bool {
    runtime
        .coordinator
        .state
        .borrow()
        .as_ref()
        .is_some_and(|s| {
            s.sets
                .iter()
                .any(|set| set.generation == key.generation && set.count == key.count)
        })
}

/// `POST /internal/identify`: a shard asks to Identify.
pub fn identify_ask(runtime: &Runtime, key: ShardKey) -> IdentifyAnswer {
    let now = now();
    if !live(runtime, &key) {
        return IdentifyAnswer {
            expires_at: None,
            retry_at: Some(now + NOT_LIVE_RETRY_MS),
            exhausted: false,
        };
    }
    let answer = {
        let mut queue = runtime.coordinator.queue.borrow_mut();
        let Some(queue) = queue.as_mut() else {
            return IdentifyAnswer {
                expires_at: None,
                retry_at: Some(now + NOT_LIVE_RETRY_MS),
                exhausted: false,
            };
        };
        queue.request(key.shard, now)
    };
    let answer = match answer {
        Answer::Granted(grant) => IdentifyAnswer {
            expires_at: Some(grant.expires_at),
            retry_at: None,
            exhausted: false,
        },
        Answer::Queued { not_before, .. } => IdentifyAnswer {
            expires_at: None,
            retry_at: Some(not_before.max(now + 1)),
            exhausted: false,
        },
        Answer::Exhausted { resets_at } => IdentifyAnswer {
            expires_at: None,
            retry_at: Some(resets_at),
            exhausted: true,
        },
    };
    save(runtime);
    answer
}

/// `POST /internal/identify/sent`: the shard used its grant.
pub fn identify_sent(runtime: &Runtime, key: ShardKey) {
    if let Some(queue) = runtime.coordinator.queue.borrow_mut().as_mut() {
        if let Err(e) = queue.redeem(key.shard, now()) {
            console_log!("shard {}: {e}", key.shard);
        }
    }
    save(runtime);
}

/// `POST /internal/shard/report`: READY, or stopped for good; resharding follows from it.
pub async fn report(runtime: &Rc<Runtime>, report: ShardReport) {
    let Ok(name) = bot_name(runtime) else {
        return;
    };
    let key = report.key;
    shard_subscriptions::converge(runtime, &name, key, report.subscriptions_version).await;
    let now = now();
    let mut steps = tick(runtime, now);
    match report.event {
        ShardEvent::Ready => {
            if let Some(state) = runtime.coordinator.state.borrow_mut().as_mut() {
                steps.extend(state.reshard.shard_ready(key.count, key.shard));
            }
        }
        ShardEvent::Stopped {
            reason: StopReason::ShardingRequired,
        } => {
            let info = refresh_gateway_info(runtime).await;
            let recommended = info.as_ref().map_or(0, |i| i.shards);
            let max_concurrency = info
                .as_ref()
                .map_or(1, |i| i.session_start_limit.max_concurrency);
            if let Some(state) = runtime.coordinator.state.borrow_mut().as_mut() {
                let target = recommended.max(key.count + 1);
                let deadline = start_deadline(now, target, max_concurrency, START_SLACK_MS);
                match state
                    .reshard
                    .sharding_required(key.count, recommended, deadline)
                {
                    Ok(more) => steps.extend(more),
                    Err(e) => state.last_error = Some(e.to_string()),
                }
            }
        }
        ShardEvent::Stopped { reason } => {
            if let Some(state) = runtime.coordinator.state.borrow_mut().as_mut() {
                state.last_error = Some(format!(
                    "shard {} of {} stopped: {}",
                    key.shard,
                    key.count,
                    reason.describe()
                ));
                steps.extend(state.reshard.shard_failed(key.count, key.shard));
            }
        }
    }
    save(runtime);
    run_steps(runtime, &name, steps).await;
    runtime.after_io();
}

/// Reads `GET /gateway/bot` with the bot's token and gives the identify queue the session start
/// limit it reports. `None` without settings or when the request fails.
async fn refresh_gateway_info(runtime: &Rc<Runtime>) -> Option<GatewayInfo> {
    let token = runtime
        .settings
        .borrow()
        .as_ref()
        .map(|s| s.gateway.token.clone())?;
    let info = request_gateway_info(&runtime.api_base, &token).await.ok()?;
    if let Some(queue) = runtime.coordinator.queue.borrow_mut().as_mut() {
        queue.update_limit(info.session_start_limit, now());
    }
    Some(info)
}

/// A new set not all READY by its deadline is abandoned.
fn tick(runtime: &Runtime, now: u64) -> Vec<Step> {
    runtime
        .coordinator
        .state
        .borrow_mut()
        .as_mut()
        .map(|s| s.reshard.tick(now))
        .unwrap_or_default()
}

/// The reshard deadline, the next check of the recommended count, or the next resend of the
/// subscriptions to shards that missed them, for the object's alarm.
pub fn next_wake(runtime: &Runtime) -> Option<u64> {
    let state = runtime.coordinator.state.borrow();
    let state = state.as_ref()?;
    state
        .reshard
        .next_wake()
        .into_iter()
        .chain(state.growth.next_wake(state.mode))
        .chain(shard_subscriptions::next_retry(runtime))
        .min()
}

/// The alarm fired: a reshard past its deadline is abandoned; with `"auto"`, a due check of
/// the recommended count may start a reshard to it; shards that missed the subscriptions'
/// version are sent it again when due.
pub async fn on_alarm(runtime: &Rc<Runtime>) {
    if !runtime.coordinator.active() {
        return;
    }
    shard_subscriptions::retry(runtime).await;
    let mut steps = tick(runtime, now());
    steps.extend(check_growth(runtime).await);
    save(runtime);
    if !steps.is_empty() {
        if let Ok(name) = bot_name(runtime) {
            run_steps(runtime, &name, steps).await;
        }
    }
    runtime.after_io();
}

/// Re-reads `GET /gateway/bot` when the check is due (`"auto"` only) and grows to a larger
/// recommendation.
async fn check_growth(runtime: &Rc<Runtime>) -> Vec<Step> {
    let due = runtime
        .coordinator
        .state
        .borrow()
        .as_ref()
        .is_some_and(|s| s.growth.due(s.mode, now()));
    if !due {
        return Vec::new();
    }
    let info = refresh_gateway_info(runtime).await;
    let now = now();
    let mut state = runtime.coordinator.state.borrow_mut();
    let Some(state) = state.as_mut() else {
        return Vec::new();
    };
    let recommended = info.as_ref().map(|i| i.shards);
    let max_concurrency = info
        .as_ref()
        .map_or(1, |i| i.session_start_limit.max_concurrency);
    let deadline = start_deadline(
        now,
        recommended.unwrap_or(1),
        max_concurrency,
        START_SLACK_MS,
    );
    let mode = state.mode;
    let steps = state
        .growth
        .checked(&mut state.reshard, mode, recommended, now, deadline);
    if info.is_none() {
        state.last_error =
            Some("GET /gateway/bot failed: the recommended shard count was not checked".into());
    } else if !steps.is_empty() {
        console_log!(
            "Discord recommends {} shards: resharding",
            recommended.unwrap_or_default()
        );
    }
    steps
}

/// Every shard object of the bot, live or retired, as `(generation, shard, object name)`.
pub fn shard_objects(runtime: &Runtime) -> Result<Vec<(ShardSet, u32, String)>, ApiError> {
    let name = bot_name(runtime)?;
    let state = runtime.coordinator.state.borrow();
    let Some(state) = state.as_ref() else {
        return Err(ApiError::new(409, None, "not a sharded bot"));
    };
    Ok(state
        .sets
        .iter()
        .chain(state.retired.iter())
        .flat_map(|set| {
            (0..set.count).map(|shard| {
                (
                    *set,
                    shard,
                    shard_object_name(&name, set.generation, shard, set.count),
                )
            })
        })
        .collect())
}

/// The shard objects of the live sets, as `(set, shard, object name)`.
pub fn live_shard_objects(runtime: &Runtime) -> Result<Vec<(ShardSet, u32, String)>, ApiError> {
    let live = runtime
        .coordinator
        .state
        .borrow()
        .as_ref()
        .map(|s| s.sets.clone())
        .unwrap_or_default();
    Ok(shard_objects(runtime)?
        .into_iter()
        .filter(|(set, _, _)| live.contains(set))
        .collect())
}

/// `POST /disconnect` on the coordinator: every shard object disconnects; the settings and the
/// state are forgotten (the identify queue is kept: the budget is the bot's).
pub async fn disconnect(runtime: &Rc<Runtime>) {
    let sets = runtime
        .coordinator
        .state
        .borrow()
        .as_ref()
        .map(|s| s.sets.clone())
        .unwrap_or_default();
    let mut stopped = sets;
    stopped.extend(shard_subscriptions::draining(runtime));
    stop_sets(runtime, &stopped, RouteId::Disconnect).await;
    shard_subscriptions::forget_draining(runtime);
    shard_subscriptions::forget_retry(runtime);
    *runtime.coordinator.state.borrow_mut() = None;
    save(runtime);
}

/// One number of a shard's `/status`.
fn at(status: &Value, path: &[&str]) -> Value {
    path.iter()
        .try_fold(status, |v, key| v.get(key))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Events per second over the last full minute of a shard's `/status` history.
fn events_per_second(status: &Value) -> f64 {
    status
        .get("history")
        .and_then(|h| serde_json::from_value::<HistorySnapshot>(h.clone()).ok())
        .map_or(0.0, |h| h.events_per_second())
}

/// `GET /status` on the coordinator: each shard's state, guilds, heartbeat latency, events per
/// second, outbox depth and lag, and the totals; the identify queue; the resharding phase.
pub async fn status(runtime: &Rc<Runtime>) -> Result<Value, ApiError> {
    let name = bot_name(runtime)?;
    let Some(state) = runtime.coordinator.state.borrow().clone() else {
        return Err(ApiError::new(409, None, "not a sharded bot"));
    };
    let primary = state.reshard.primary();
    let mut sets = Vec::new();
    let mut retired_sets = Vec::new();
    let mut totals = (0u64, 0f64, 0u64, 0u32, None::<u64>);
    let mut dead_letters = 0u64;
    let mut all_ready = true;
    let mut statuses = Vec::new();
    let live = state.sets.iter().map(|set| (set, false));
    for (set, retired) in live.chain(state.retired.iter().map(|set| (set, true))) {
        let mut shards = Vec::new();
        for shard in 0..set.count {
            let object = shard_object_name(&name, set.generation, shard, set.count);
            let status: Value =
                match call_json::<Value, Value>(&runtime.env, &object, RouteId::Status, None).await
                {
                    Ok(status) => status,
                    Err(e) => json!({ "state": "unreachable", "error": e }),
                };
            let ready = status.get("state").and_then(Value::as_str) == Some("connected");
            let guilds = status.get("guilds").and_then(Value::as_u64);
            let depth = status
                .pointer("/delivery/pending")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let lag = status
                .pointer("/delivery/oldestPendingAgeMs")
                .and_then(Value::as_u64);
            let rate = events_per_second(&status);
            let dead = status
                .pointer("/delivery/deadLetters")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            dead_letters += dead;
            statuses.push(status.clone());
            if !retired && set.count == primary {
                all_ready &= ready;
                totals.0 += guilds.unwrap_or(0);
                totals.1 += rate;
                totals.2 += depth;
                totals.3 += u32::from(ready);
                totals.4 = totals.4.max(lag);
            }
            shards.push(json!({
                "shard": shard,
                "object": object,
                "state": at(&status, &["state"]),
                "phase": at(&status, &["phase"]),
                "sessionId": at(&status, &["sessionId"]),
                "stopReason": at(&status, &["stopReason"]),
                "guilds": guilds,
                "heartbeatLatencyMs": at(&status, &["heartbeat", "roundTripMs"]),
                "eventsPerSecond": rate,
                "eventsReceived": at(&status, &["counters", "eventsReceived"]),
                "identifiesSent": at(&status, &["counters", "identifiesSent"]),
                "resumesSent": at(&status, &["counters", "resumesSent"]),
                "outboxDepth": depth,
                "outboxLagMs": lag,
                "delivered": at(&status, &["delivery", "delivered"]),
                "deadLetters": dead,
            }));
        }
        let entry = json!({
            "generation": set.generation,
            "count": set.count,
            "primary": !retired && set.count == primary,
            "shards": shards,
        });
        if retired {
            retired_sets.push(entry);
        } else {
            sets.push(entry);
        }
    }
    let queue = runtime
        .coordinator
        .queue
        .borrow()
        .as_ref()
        .map(IdentifyQueue::status);
    let now = now();
    let identify = queue.map(|q| {
        json!({
            "total": q.total,
            "remaining": q.remaining,
            "resetsAt": q.resets_at,
            "exhausted": q.remaining == 0 && now < q.resets_at,
            "maxConcurrency": q.max_concurrency,
            "waiting": q.waiting,
            "outstanding": q.outstanding,
        })
    });
    let settings = runtime.settings.borrow();
    Ok(json!({
        "sharded": true,
        "state": if all_ready { "connected" } else { "connecting" },
        "mode": state.mode,
        "shardCount": primary,
        "reshard": state.reshard.phase(),
        "lastReshardFailure": state.reshard.last_failure(),
        "lastError": state.last_error,
        "identify": identify,
        "sets": sets,
        "retiredSets": retired_sets,
        "presence": super::shard_presence::stored(runtime),
        "reshardCheckMs": state.growth.every_ms(),
        "nextReshardCheckAt": state.growth.next_wake(state.mode),
        "totals": {
            "deadLetters": dead_letters,
            "shards": primary,
            "ready": totals.3,
            "guilds": totals.0,
            "eventsPerSecond": totals.1,
            "outboxDepth": totals.2,
            "outboxLagMs": totals.4,
        },
        "webhook": settings.as_ref().map(|s| json!({
            "host": s.webhook.host(),
            "secretConfigured": s.webhook.secret.is_some(),
        })),
        "subscriptions": shard_subscriptions::add_up_statuses(&statuses),
        "schemaVersion": runtime.store.schema_version(),
    }))
}
