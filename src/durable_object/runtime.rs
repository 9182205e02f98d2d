//! The object's live state: the engine, the socket, delivery, and the one alarm.
//!
//! Everything mutable sits behind `RefCell`/`Cell` in one `Rc<Runtime>` that the spawned tasks
//! (socket reader, HTTP requests, deliveries) share. No borrow is ever held across an `.await`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use worker::{console_error, console_log, Env, ScheduledTime, State, WebSocket};

use super::coordinator::{self, CoordinatorSide};
use super::migrate::migrate;
use super::outbox::{Outbox, Received};
use super::shard_link::{self, ShardSide};
use super::store::{OutboxRow, Store};
use super::subscriptions::{NewHolders, Subscriptions, DEFAULT_ID};
use super::{gateway_io, webhook};
use crate::alarm::{AlarmKeeper, AlarmWrite};
use crate::api::{
    ApiError, ConnectSettings, DeliverySettings, DeliveryStatus, StatusResponse,
    SubscriptionCounts, SubscriptionListing, SubscriptionStatus, WebhookSummary,
};
use crate::delivery::deletes::{Fired, Next, FLUSH_TIMER_MS};
use crate::delivery::enrich::{Directory, DIRECTORY_EVENTS};
use crate::delivery::envelope::chat_sdk_body;
use crate::gateway::{
    Action, ConnectionId, Dispatch, Engine, EventFilter, Input, LazySeededJitter, SessionSnapshot,
};
use crate::subscriptions::definition::DEFAULT_SUBSCRIPTION;
use crate::subscriptions::SubscriptionId;

/// The current time in milliseconds since the epoch: the static `Date.now()` (the `worker`
/// crate's `Date::now()` builds a `Date` object on each call, and the hot path asks often).
pub fn now() -> u64 {
    worker::js_sys::Date::now() as u64
}

/// Everything the object holds while it lives.
pub struct Runtime {
    pub state: State,
    pub env: Env,
    pub store: Store,
    pub engine: RefCell<Engine>,
    /// Channels and users learned for enrichment.
    pub directory: RefCell<Directory>,
    /// The connect settings (change them with [`Runtime::set_settings`] only).
    pub settings: RefCell<Option<ConnectSettings>>,
    /// The same settings shared, as every delivery holds them while its request is under way:
    /// handing them out is a reference count, not a copy of the settings per event.
    shared_settings: RefCell<Option<Rc<ConnectSettings>>>,
    pub socket: RefCell<Option<(ConnectionId, WebSocket)>>,
    /// The outbox's bookkeeping: lanes, copies in memory, deletes to come, counters.
    pub outbox: Outbox,
    /// The subscriptions (besides `default`, the connect settings' webhook).
    pub subscriptions: Subscriptions,
    /// The sequence number the stored snapshot has reached.
    persisted_sequence: Cell<Option<u64>>,
    pub insecure_webhooks: bool,
    pub api_base: String,
    /// The bot's Discord REST rate limiter, shared by every talk-back request.
    pub talk: Rc<super::talk::Talk>,
    /// The long polls of pull subscriptions.
    pub pull: Rc<super::pull::Pull>,
    recovered: Cell<bool>,
    /// The `GET /gateway/bot` a connect started before it wrote the settings, for the engine's
    /// `FetchGatewayInfo` of that same connect (see [`Runtime::connect`]).
    early_gateway_info: RefCell<Option<gateway_io::GatewayBotRequest>>,
    alarm: RefCell<AlarmKeeper>,
    /// Alarm handlers waiting for the alarm's storage calls to complete.
    alarm_waiters: RefCell<Vec<futures_channel::oneshot::Sender<()>>>,
    alarm_wakeups: Cell<u64>,
    /// Set when this object is a shard of a sharded bot (issue 12).
    pub shard: ShardSide,
    /// Set when this object is the coordinator of a sharded bot (issue 12).
    pub coordinator: CoordinatorSide,
}

/// Reads a string from a secret or, failing that, a plain var.
pub fn env_string(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.is_empty())
}

/// Whether `ALLOW_INSECURE_WEBHOOKS` is `true` (local development only).
pub fn insecure_webhooks_allowed(env: &Env) -> bool {
    env_string(env, "ALLOW_INSECURE_WEBHOOKS").as_deref() == Some("true")
}

/// A seed for the engine's jitter from the platform's CSPRNG. Jitter needs no secrecy, so if
/// the CSPRNG fails the clock is good enough.
fn random_seed() -> u64 {
    getrandom::u64().unwrap_or_else(|_| now())
}

impl Runtime {
    /// Loads storage (synchronous in a Durable Object) and builds the engine.
    pub fn new(state: State, env: Env) -> worker::Result<Rc<Self>> {
        let sql = state.storage().sql();
        let schema_version = migrate(&state, &sql)?;
        let store = Store::open(sql, schema_version)?;
        // Seeded on the first backoff or heartbeat, not in the constructor (runtime start).
        let mut engine = Engine::new(Box::new(LazySeededJitter::new(random_seed)));
        engine.observe(EventFilter::Only(
            DIRECTORY_EVENTS.iter().map(|t| (*t).to_owned()).collect(),
        ));
        let snapshot = store.snapshot()?;
        let persisted_sequence = snapshot.as_ref().and_then(|s| s.sequence);
        if let Some(snapshot) = snapshot {
            engine.restore(snapshot);
        }
        let subscriptions = Subscriptions::load(&store)?;
        let outbox = Outbox::load(&store, &subscriptions.push_ids())?;
        // Enrichment is a nicety: a stored directory that cannot be read must not keep the
        // object from running.
        let stored_channels = store.channels().unwrap_or_else(|e| {
            console_error!("could not read the stored channels, starting without them: {e}");
            Vec::new()
        });
        let directory = Directory::default().restore(stored_channels);
        let settings = store.settings()?;
        let shard = ShardSide::load(&store)?;
        if shard.gated() {
            engine.require_identify_grant();
        }
        let coordinator = CoordinatorSide::load(&store)?;
        let insecure_webhooks = insecure_webhooks_allowed(&env);
        let api_base = env_string(&env, "DISCORD_API_BASE")
            .unwrap_or_else(|| "https://discord.com/api/v10".to_owned())
            .trim_end_matches('/')
            .to_owned();
        Ok(Rc::new(Self {
            state,
            env,
            store,
            engine: RefCell::new(engine),
            directory: RefCell::new(directory),
            shared_settings: RefCell::new(settings.clone().map(Rc::new)),
            settings: RefCell::new(settings),
            socket: RefCell::new(None),
            outbox,
            subscriptions,
            persisted_sequence: Cell::new(persisted_sequence),
            insecure_webhooks,
            api_base,
            talk: super::talk::Talk::new(),
            pull: super::pull::Pull::new(),
            recovered: Cell::new(false),
            early_gateway_info: RefCell::new(None),
            alarm: RefCell::new(AlarmKeeper::new()),
            alarm_waiters: RefCell::new(Vec::new()),
            alarm_wakeups: Cell::new(0),
            shard,
            coordinator,
        }))
    }

    /// After a restart or eviction: continue the stored session, once.
    pub fn recover(self: &Rc<Self>) {
        if self.recovered.replace(true) {
            return;
        }
        // A coordinator runs no gateway; a retired shard only delivers what it stored.
        if self.coordinator.active() || self.shard.retired() {
            self.after_io();
            return;
        }
        let config = self.settings.borrow().as_ref().map(|s| s.gateway.clone());
        if let Some(config) = config {
            console_log!("recovering the stored gateway session");
            self.input(Input::Recover(config));
        } else {
            self.after_io();
        }
    }

    /// Feeds the engine and carries out what it decides.
    pub fn input(self: &Rc<Self>, input: Input<'_>) {
        let now = now();
        self.engine.borrow_mut().handle(now, input);
        self.run_actions(now);
        self.after_io();
    }

    /// Replaces the connect settings (and their shared copy).
    fn set_settings(&self, settings: Option<ConnectSettings>) {
        *self.shared_settings.borrow_mut() = settings.clone().map(Rc::new);
        *self.settings.borrow_mut() = settings;
    }

    /// The connect settings, shared (see `shared_settings`); `None` when not connected.
    pub fn shared_settings(&self) -> Option<Rc<ConnectSettings>> {
        self.shared_settings.borrow().clone()
    }

    /// Applies new settings and connects.
    ///
    /// When the engine will start a new session, its `GET /gateway/bot` is sent before the
    /// settings are written (issue 9): the output gate would hold a request sent after the
    /// write until the write is confirmed (see [`gateway_io::GatewayBotRequest`]), so the two
    /// now overlap. The settings are still stored before anything the engine does with them:
    /// the `202` and the Identify follow the write and wait for it. If the write fails, the
    /// request's answer is never read and nothing changes.
    pub fn connect(self: &Rc<Self>, settings: ConnectSettings) -> worker::Result<()> {
        let early = self
            .engine
            .borrow()
            .connect_fetches_gateway_info(&settings.gateway)
            .then(|| gateway_io::GatewayBotRequest::start(&self.api_base, &settings.gateway.token));
        self.recovered.set(true);
        self.store.save_settings(&settings)?;
        let config = settings.gateway.clone();
        self.set_settings(Some(settings));
        *self.early_gateway_info.borrow_mut() = early;
        self.input(Input::Connect(config));
        // Taken by this connect's `FetchGatewayInfo`; anything left is no longer wanted.
        self.early_gateway_info.borrow_mut().take();
        Ok(())
    }

    /// Keeps the settings of a sharded bot's coordinator, which runs no gateway itself.
    pub fn become_coordinator(self: &Rc<Self>, settings: &ConnectSettings) -> worker::Result<()> {
        self.recovered.set(true);
        self.store.save_settings(settings)?;
        self.set_settings(Some(settings.clone()));
        Ok(())
    }

    /// Runs `command` on the engine (e.g. a presence update) and carries out what it queued.
    pub fn command<R>(self: &Rc<Self>, command: impl FnOnce(&mut Engine, u64) -> R) -> R {
        let now = now();
        let result = command(&mut self.engine.borrow_mut(), now);
        self.run_actions(now);
        self.after_io();
        result
    }

    /// Ends the session and forgets the credentials.
    pub fn disconnect(self: &Rc<Self>) -> worker::Result<()> {
        self.recovered.set(true);
        self.store.clear_settings()?;
        self.set_settings(None);
        shard_link::forget(self)?;
        self.input(Input::Disconnect);
        Ok(())
    }

    fn run_actions(self: &Rc<Self>, now: u64) {
        loop {
            let actions: Vec<Action> = self.engine.borrow_mut().drain_actions().collect();
            if actions.is_empty() {
                break;
            }
            for action in actions {
                self.execute(action, now);
            }
        }
        self.store_directory_changes();
    }

    /// Writes what the directory learned or forgot to its stored copy.
    fn store_directory_changes(&self) {
        let changes = self.directory.borrow_mut().take_changes();
        if !changes.is_empty() {
            if let Err(e) = self.store.apply_channel_changes(&changes) {
                console_error!("could not store {} channel changes: {e}", changes.len());
            }
        }
    }

    /// Stores the engine's snapshot, the events received so far first: the snapshot never
    /// says the session got past an event that is not stored.
    fn save_snapshot(&self, snapshot: &SessionSnapshot) {
        self.flush_inserts();
        match self.store.save_snapshot(snapshot) {
            Ok(()) => self.persisted_sequence.set(snapshot.sequence),
            Err(e) => console_error!("could not store the session snapshot: {e}"),
        }
    }

    /// Called when an event leaves the outbox (delivered or dead): once its row is gone, only
    /// the snapshot remembers that the session got that far, so bring it up to date first.
    /// One snapshot write covers every event received so far: under load this is a batch.
    pub fn event_left_outbox(&self, sequence: u64) {
        if self
            .persisted_sequence
            .get()
            .is_none_or(|persisted| sequence > persisted)
        {
            let snapshot = self.engine.borrow().snapshot();
            self.save_snapshot(&snapshot);
        }
    }

    /// `subscription`'s webhook accepted `row` at `now`: it releases it; the last holder's
    /// release joins the batch to delete, removed when the batch is full, with the next events
    /// stored once it is old enough, or by the batch's timer, whichever comes first
    /// ([`crate::delivery::deletes`]).
    pub fn delivered(self: &Rc<Self>, subscription: SubscriptionId, row: &OutboxRow, now: u64) {
        match self
            .outbox
            .mark_delivered(&self.store, subscription, row, now)
        {
            Next::FlushNow => self.flush_deletes(),
            Next::ScheduleFlush => self.arm_delete_timer(FLUSH_TIMER_MS),
            Next::Wait => {}
        }
    }

    /// The delete batch's one timer: when it fires it removes the batch, or is armed again
    /// for a batch begun since.
    fn arm_delete_timer(self: &Rc<Self>, after_ms: u64) {
        let runtime = self.clone();
        worker::wasm_bindgen_futures::spawn_local(async move {
            worker::Delay::from(Duration::from_millis(after_ms)).await;
            match runtime.outbox.delete_timer_fired(now()) {
                Fired::Flush => runtime.flush_deletes(),
                Fired::Again(ms) => runtime.arm_delete_timer(ms),
                Fired::Idle => {}
            }
        });
    }

    /// Stores the events received (at `now`), and removes the delivered ones with them when
    /// their batch is old enough: one storage commit for both (issue 9, steady path).
    fn store_received(&self, now: u64) {
        self.flush_inserts();
        if self.outbox.deletes_due(now) {
            self.flush_deletes();
        }
    }

    /// Deletes the rows of delivered events now, the snapshot brought up to date first (one
    /// write for the batch). Called before anything reads the outbox, so reads never see them.
    pub fn flush_deletes(&self) {
        self.outbox
            .flush_deletes(&self.store, |sequence| self.event_left_outbox(sequence));
    }

    /// Stores the events received and not stored yet, in order, then hands them to their lanes
    /// (an event is never delivered before its row is stored). Called when the turn that
    /// received them ends, when the batch is full, and before anything writes the snapshot or
    /// reads the outbox.
    pub fn flush_inserts(&self) {
        // The long polls of the subscriptions these events go to read again once stored.
        let woken = if self.pull.has_waiters() {
            self.outbox.unstored_holders()
        } else {
            Vec::new()
        };
        self.outbox.flush_inserts(&self.store);
        if !woken.is_empty() {
            self.pull.wake(|subscription| {
                woken
                    .iter()
                    .any(|id| i64::try_from(*id) == Ok(subscription))
            });
        }
    }

    fn execute(self: &Rc<Self>, action: Action, now: u64) {
        match action {
            Action::FetchGatewayInfo => {
                let early = self.early_gateway_info.borrow_mut().take();
                let request = early.or_else(|| {
                    self.settings.borrow().as_ref().map(|s| {
                        gateway_io::GatewayBotRequest::start(&self.api_base, &s.gateway.token)
                    })
                });
                if let Some(request) = request {
                    worker::wasm_bindgen_futures::spawn_local(gateway_io::fetch_gateway_info(
                        self.clone(),
                        request,
                    ));
                }
            }
            Action::OpenSocket { id, url } => {
                console_log!("opening gateway socket {} to {url}", id.0);
                worker::wasm_bindgen_futures::spawn_local(gateway_io::open_socket(
                    self.clone(),
                    id,
                    url,
                ));
            }
            Action::Send { id, payload } => {
                if let Some((current, ws)) = self.socket.borrow().as_ref() {
                    if *current == id {
                        if let Err(e) = ws.send_with_str(&payload) {
                            console_error!("gateway send failed: {e}");
                        }
                    }
                }
            }
            Action::Close { id, code, reason } => {
                let socket = self
                    .socket
                    .borrow_mut()
                    .take_if(|(current, _)| *current == id);
                if let Some((_, ws)) = socket {
                    console_log!("closing gateway socket {} with {code}: {reason}", id.0);
                    if let Err(e) = ws.close(Some(code), Some(reason)) {
                        console_error!("gateway close failed: {e}");
                    }
                }
            }
            Action::Forward(dispatch) => self.enqueue(&dispatch, now),
            Action::Observe(dispatch) => {
                self.directory
                    .borrow_mut()
                    .learn(&dispatch.event_type, &dispatch.data);
            }
            Action::Persist(snapshot) => {
                self.save_snapshot(&snapshot);
                shard_link::after_persist(self);
            }
            Action::AskIdentify => shard_link::ask_identify(self),
            Action::IdentifySent => shard_link::identify_sent(self),
        }
    }

    fn enqueue(self: &Rc<Self>, dispatch: &Dispatch, now: u64) {
        let holders = {
            let directory = self.directory.borrow();
            self.subscriptions
                .holders(&dispatch.event_type, &dispatch.data, |channel| {
                    directory.thread_parent(channel)
                })
        };
        // Matched by no subscription: not stored. The snapshot still covers its sequence (it
        // follows the engine, and a later stored event advances it on restart).
        let Some(NewHolders {
            text: holders,
            push: push_holders,
        }) = holders
        else {
            return;
        };
        let max_pending = self
            .settings
            .borrow()
            .as_ref()
            .map_or(DeliverySettings::default().max_pending, |s| {
                s.delivery.max_pending
            });
        if let Err(refused) = self.outbox.admit(max_pending) {
            console_error!(
                "{refused}: refused {} {}",
                dispatch.event_type,
                dispatch.sequence
            );
            return;
        }
        let prepared = self
            .directory
            .borrow_mut()
            .prepare(&dispatch.event_type, &dispatch.data);
        let channel = prepared.channel;
        let data = prepared.data.as_deref().unwrap_or(&dispatch.data);
        let body = chat_sdk_body(&dispatch.event_type, now, data);
        let received = Received {
            row: OutboxRow {
                id: self.store.allocate_id(),
                session_id: dispatch.session_id.clone(),
                sequence: i64::try_from(dispatch.sequence).unwrap_or(i64::MAX),
                channel,
                body,
                created_at: i64::try_from(now).unwrap_or(i64::MAX),
                attempts: 0,
                tracked: false,
                holders,
            },
            event_type: dispatch.event_type.clone(),
            push_holders,
        };
        match self.outbox.receive(received, now) {
            // Full, or alone (the steady path): stored in this turn.
            Next::FlushNow => self.store_received(now),
            Next::ScheduleFlush => {
                // The frames the socket hands over back to back run before this timer: they
                // are stored by the same statements.
                let runtime = self.clone();
                worker::wasm_bindgen_futures::spawn_local(async move {
                    worker::Delay::from(Duration::ZERO).await;
                    runtime.store_received(self::now());
                    runtime.after_io();
                });
            }
            Next::Wait => {}
        }
    }

    /// Starts due deliveries and sets the alarm to the earliest deadline.
    pub fn after_io(self: &Rc<Self>) {
        self.outbox.reload_if_stale(
            &self.store,
            || self.subscriptions.push_ids(),
            |sequence| self.event_left_outbox(sequence),
        );
        // One clock read for the pump and the alarm plan: the runtime's clock stands still
        // while code runs (it moves on with I/O), so a second read would only cost a crossing.
        let now = now();
        webhook::pump(self, now);
        super::pull::prune_all_if_due(self);
        self.schedule_alarm(now);
    }

    /// Puts `subscription`'s dead letters (all, or those with the given row ids) back in line;
    /// returns how many.
    pub fn replay_dead_letters(
        self: &Rc<Self>,
        subscription: SubscriptionId,
        ids: Option<&[i64]>,
    ) -> worker::Result<usize> {
        let replayed = self.outbox.replay(
            &self.store,
            subscription,
            ids,
            now(),
            &self.subscriptions.push_ids(),
            |sequence| self.event_left_outbox(sequence),
        )?;
        self.after_io();
        Ok(replayed)
    }

    /// Every subscription with its counts, `default` first (the events received so far stored
    /// and the delivered ones deleted first, so the counts are right).
    pub fn subscription_listings(&self) -> worker::Result<Vec<SubscriptionListing>> {
        self.flush_inserts();
        self.flush_deletes();
        let settings = self.settings.borrow();
        let views = self
            .subscriptions
            .views(settings.as_ref().map(|s| &s.webhook));
        let ids: Vec<u64> = views.iter().map(|(id, _)| *id).collect();
        let counts = Subscriptions::stored_counts(&self.store, &ids)?;
        Ok(views
            .into_iter()
            .zip(counts)
            .map(|((id, subscription), mut counts)| {
                self.outbox.delivery_counts(id, &mut counts);
                SubscriptionListing {
                    subscription,
                    counts,
                }
            })
            .collect())
    }

    /// `/status` `subscriptions`. With `default` alone, its counts are `delivery`'s (no scan of
    /// the log).
    fn subscription_statuses(&self, delivery: &DeliveryStatus) -> Vec<SubscriptionStatus> {
        if self.subscriptions.is_empty() {
            let mut counts = SubscriptionCounts {
                pending: delivery.pending,
                dead_letters: delivery.dead_letters,
                lag: delivery.pending + delivery.dead_letters,
                ..SubscriptionCounts::default()
            };
            self.outbox.delivery_counts(DEFAULT_ID, &mut counts);
            return vec![SubscriptionStatus {
                name: DEFAULT_SUBSCRIPTION.to_owned(),
                kind: "push".to_owned(),
                counts,
            }];
        }
        match self.subscription_listings() {
            Ok(listings) => listings
                .into_iter()
                .map(|l| SubscriptionStatus {
                    name: l.subscription.name,
                    kind: l.subscription.kind.to_owned(),
                    counts: l.counts,
                })
                .collect(),
            Err(e) => {
                console_error!("could not count the subscriptions: {e}");
                Vec::new()
            }
        }
    }

    /// Deletes the subscription `name`, releasing the events it holds.
    pub fn delete_subscription(self: &Rc<Self>, name: &str) -> Result<(), ApiError> {
        self.flush_inserts();
        self.flush_deletes();
        let id = self.subscriptions.delete(&self.store, name, |sequence| {
            self.event_left_outbox(sequence)
        })?;
        self.outbox.remove_subscription(id);
        self.after_io();
        Ok(())
    }

    /// Forgets the socket if it is `id`.
    pub fn clear_socket(&self, id: ConnectionId) {
        self.socket
            .borrow_mut()
            .take_if(|(current, _)| *current == id);
    }

    fn schedule_alarm(self: &Rc<Self>, now: u64) {
        let engine = self.engine.borrow().next_wakeup();
        // Without settings (after /disconnect) nothing is delivered, so pending events must
        // not keep the alarm firing; they wait for the next /connect. Events that are due but
        // wait for a free delivery slot, and requests under way, have no deadline of their own
        // (a finished request starts the next): they are work all the same, and a restart must
        // bring the object back to them.
        let delivering = self.settings.borrow().is_some();
        let delivery = (delivering && self.outbox.has_work()).then(|| {
            self.outbox
                .next_due()
                .filter(|due| *due > now)
                .unwrap_or(u64::MAX)
        });
        let deadline = engine
            .into_iter()
            .chain(delivery)
            .chain(coordinator::next_wake(self))
            .min();
        let write = self.alarm.borrow_mut().plan(deadline, now);
        if let Some(write) = write {
            self.write_alarm(write);
        }
    }

    /// Makes one alarm storage call, then the next one the keeper asks for.
    fn write_alarm(self: &Rc<Self>, write: AlarmWrite) {
        let runtime = self.clone();
        worker::wasm_bindgen_futures::spawn_local(async move {
            let storage = runtime.state.storage();
            let result = match write {
                AlarmWrite::Set(at) => {
                    let date = worker::js_sys::Date::new(&(at as f64).into());
                    storage.set_alarm(ScheduledTime::new(date)).await
                }
                AlarmWrite::Delete => storage.delete_alarm().await,
            };
            if let Err(e) = &result {
                console_error!("could not {write:?} the alarm: {e}");
            }
            let next = runtime.alarm.borrow_mut().written(result.is_ok(), now());
            match next {
                Some(next) => runtime.write_alarm(next),
                None => {
                    for waiter in runtime.alarm_waiters.borrow_mut().drain(..) {
                        let _ = waiter.send(());
                    }
                }
            }
        });
    }

    /// The alarm fired: whatever was due is handled by a timer input. Resolves once the alarm
    /// storage calls this made have completed, so the handler ends with the next alarm set.
    pub async fn on_alarm(self: &Rc<Self>) {
        self.alarm.borrow_mut().fired();
        self.alarm_wakeups.set(self.alarm_wakeups.get() + 1);
        if !self.recovered.get() {
            self.recover();
        }
        self.input(Input::Timer);
        coordinator::on_alarm(self).await;
        if self.alarm.borrow().writing() {
            let (sender, receiver) = futures_channel::oneshot::channel();
            self.alarm_waiters.borrow_mut().push(sender);
            let _ = receiver.await;
        }
    }

    /// Everything `/status` shows.
    pub fn status(&self) -> StatusResponse {
        self.flush_inserts();
        self.flush_deletes();
        let now = now();
        let delivery = self.outbox.status(&self.store, now);
        let subscriptions = self.subscription_statuses(&delivery);
        let engine = self.engine.borrow();
        StatusResponse {
            gateway: engine.status(),
            history: engine.history(now),
            webhook: self.settings.borrow().as_ref().map(|s| WebhookSummary {
                host: s.webhook.host().to_owned(),
                secret_configured: s.webhook.secret.is_some(),
                legacy_secret: s.webhook.signing_key().is_some_and(|key| key.is_legacy()),
            }),
            delivery,
            subscriptions,
            insecure_webhooks_allowed: self.insecure_webhooks,
            alarm_wakeups: self.alarm_wakeups.get(),
            schema_version: self.store.schema_version(),
            rest: self.talk.status(now),
        }
    }
}
