//! The gateway state machine.
//!
//! [`Engine::handle`] takes one [`Input`] with the current time and queues [`Action`]s, which the
//! caller drains with [`Engine::drain_actions`] and carries out. [`Engine::next_wakeup`] says when
//! to deliver [`Input::Timer`] next. Nothing here performs I/O, reads a clock or draws randomness.

use std::collections::VecDeque;

use serde::Deserialize;

use super::backoff::Backoff;
use super::close_code::{self, CloseDisposition, StopReason};
use super::compression::{DecompressError, Decompressor, TransportCompression};
use super::config::{EventFilter, GatewayConfig};
use super::history::{ActivityHistory, HistorySnapshot};
use super::identify_budget::IdentifyBudget;
use super::identify_gate::{IdentifyGate, ASK_TIMEOUT_MS};
use super::io::{Action, ConnectionId, Dispatch, GatewayInfo, Input, RequestFailure, SendError};
use super::jitter::{scale, Jitter};
use super::opcode::Opcode;
use super::payload::{self, gateway_query, MAX_SEND_BYTES};
use super::phase::{Connection, Heartbeat, Phase, Stage};
use super::scan::{scan, RawPayload};
use super::send_window::{Priority, SendWindow};
use super::session::{LastClose, Session, SessionSnapshot};
use super::status::{
    self, ConnectionState, Counters, EngineStatus, HeartbeatStatus, LastFailure, WaitReason,
};

/// The largest WebSocket message a Cloudflare Worker (or Durable Object) can receive: 32 MiB.
///
/// workerd closes the socket with 1009 ("message too big") before the Worker sees a larger one
/// (Cloudflare's Durable Objects limits page: "WebSocket message size: 32 MiB (only for
/// received messages)"). Frames over it that do reach the engine (another runtime) are counted
/// and skipped unread.
pub const MAX_INBOUND_FRAME_BYTES: usize = 32 * 1024 * 1024;
/// The close code of a message too big to receive (RFC 6455).
pub const MESSAGE_TOO_BIG_CLOSE_CODE: u16 = 1009;
/// How long the caller may take to fetch `/gateway/bot` before the attempt counts as failed.
pub const FETCH_TIMEOUT_MS: u64 = 30_000;
/// How long the caller may take to open a socket.
pub const OPEN_TIMEOUT_MS: u64 = 30_000;
/// How long Discord may take to say Hello on an open socket.
pub const HELLO_TIMEOUT_MS: u64 = 30_000;
/// How long Discord may stay silent between Identify/Resume and READY/RESUMED.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 60_000;
/// Heartbeat intervals from Hello are clamped into this range.
pub const HEARTBEAT_INTERVAL_RANGE_MS: (u64, u64) = (1_000, 10 * 60 * 1_000);
/// Close code the client uses when it wants to resume afterwards (never 1000 or 1001).
pub const RESUMABLE_CLOSE_CODE: u16 = 4000;
/// Close code the client uses when the session should end.
pub const SESSION_ENDING_CLOSE_CODE: u16 = 1000;

/// How soon to try again.
#[derive(Clone, Copy, Debug)]
enum Delay {
    Immediate,
    Backoff,
    AtLeast(u64, WaitReason),
}

/// What a connect does to the current session ([`Engine::connect_fetches_gateway_info`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConnectPlan {
    /// The session goes on as it is (same credentials, a connection live or planned).
    Keep,
    /// The stored session is resumed: no `GET /gateway/bot`.
    Resume,
    /// A new session: `GET /gateway/bot` first; `new_credentials`: the old session is forgotten.
    Fresh { new_credentials: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Resume,
    Fresh,
}

#[derive(Deserialize)]
struct Hello {
    heartbeat_interval: u64,
}

#[derive(Deserialize)]
struct Ready<'a> {
    #[serde(borrow)]
    session_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    resume_gateway_url: std::borrow::Cow<'a, str>,
    #[serde(default)]
    guilds: Vec<serde::de::IgnoredAny>,
}

/// The sans-IO Discord Gateway engine for one shard.
pub struct Engine {
    jitter: Box<dyn Jitter>,
    config: Option<GatewayConfig>,
    observed: Option<EventFilter>,
    phase: Phase,
    session: Option<Session>,
    sequence: Option<u64>,
    last_forwarded: Option<u64>,
    persisted_sequence: Option<u64>,
    gateway_url: Option<String>,
    /// A connection to the session's `resume_gateway_url` failed: resume on `gateway_url`.
    resume_url_failed: bool,
    budget: IdentifyBudget,
    backoff: Backoff,
    window: SendWindow,
    next_connection: u64,
    connected_at: Option<u64>,
    last_close: Option<LastClose>,
    last_failure: Option<LastFailure>,
    heartbeat_status: HeartbeatStatus,
    counters: Counters,
    history: ActivityHistory,
    /// The bot's presence (op 3's `d`), once set.
    presence: Option<serde_json::Value>,
    /// A shard of a sharded bot: Identify only with its coordinator's grant.
    gate: Option<IdentifyGate>,
    /// Guilds in the last READY (kept across resumes).
    guilds: Option<u32>,
    /// Set by a connect that starts a new session: its `GET /gateway/bot` may go with a socket
    /// opened at once to the URL an earlier answer gave ([`Engine::may_open_early`]). Cleared
    /// at the end of the input that set it.
    early_open: bool,
    actions: VecDeque<Action>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .field("phase", &self.phase)
            .field("session", &self.session)
            .field("sequence", &self.sequence)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An idle engine drawing jitter from `jitter`.
    pub fn new(jitter: Box<dyn Jitter>) -> Self {
        Self {
            jitter,
            config: None,
            observed: None,
            phase: Phase::Idle,
            session: None,
            sequence: None,
            last_forwarded: None,
            persisted_sequence: None,
            gateway_url: None,
            resume_url_failed: false,
            budget: IdentifyBudget::default(),
            backoff: Backoff::default(),
            window: SendWindow::default(),
            next_connection: 0,
            connected_at: None,
            last_close: None,
            last_failure: None,
            heartbeat_status: HeartbeatStatus::default(),
            counters: Counters::default(),
            history: ActivityHistory::default(),
            early_open: false,
            presence: None,
            gate: None,
            guilds: None,
            actions: VecDeque::new(),
        }
    }

    /// Makes this engine a shard of a sharded bot: before every Identify (never before a
    /// Resume) it asks for a grant ([`Action::AskIdentify`]) and waits for
    /// [`Input::IdentifyGranted`].
    pub fn require_identify_grant(&mut self) {
        self.gate.get_or_insert_with(IdentifyGate::default);
    }

    /// Whether the current socket has reached READY (or RESUMED).
    pub fn is_ready(&self) -> bool {
        matches!(&self.phase, Phase::Open(conn) if conn.stage == Stage::Ready)
    }

    /// Why the engine stopped, if it did.
    pub fn stopped(&self) -> Option<StopReason> {
        match self.phase {
            Phase::Stopped(reason) => Some(reason),
            _ => None,
        }
    }

    /// Loads what a previous instance persisted. Call before [`Input::Recover`].
    pub fn restore(&mut self, snapshot: SessionSnapshot) {
        self.session = snapshot.session;
        self.sequence = snapshot.sequence;
        self.last_forwarded = snapshot.sequence;
        self.persisted_sequence = snapshot.sequence;
        self.budget = snapshot.identify_budget;
        self.last_close = snapshot.last_close;
        self.presence = snapshot.presence;
        self.guilds = snapshot.guilds;
        if let Some(reason) = snapshot.stopped {
            self.phase = Phase::Stopped(reason);
        }
    }

    /// Hands dispatches of these types to the caller as [`Action::Observe`] when they are not
    /// forwarded (for example to learn channels for enrichment).
    pub fn observe(&mut self, types: EventFilter) {
        self.observed = Some(types);
    }

    /// The current configuration, if connected or connecting.
    pub fn config(&self) -> Option<&GatewayConfig> {
        self.config.as_ref()
    }

    /// Takes the queued actions, in the order they must be carried out.
    pub fn drain_actions(&mut self) -> impl Iterator<Item = Action> + '_ {
        self.actions.drain(..)
    }

    /// When [`Input::Timer`] is next due; `None` when idle or stopped.
    pub fn next_wakeup(&self) -> Option<u64> {
        match &self.phase {
            Phase::Idle | Phase::Stopped(_) => None,
            Phase::AwaitFetch { at, .. } | Phase::AwaitOpen { at, .. } => Some(*at),
            Phase::Fetching { deadline } => Some(*deadline),
            Phase::Open(conn) => {
                let heartbeat = conn.heartbeat.as_ref().map(|h| h.next_at);
                let deadline = (conn.stage != Stage::Ready).then_some(conn.deadline);
                match (heartbeat, deadline) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        }
    }

    /// The id of the socket that is current, if any.
    pub fn current_connection(&self) -> Option<ConnectionId> {
        match &self.phase {
            Phase::Open(conn) => Some(conn.id),
            _ => None,
        }
    }

    /// Handles one input at time `now` (ms since epoch).
    pub fn handle(&mut self, now: u64, input: Input<'_>) {
        match input {
            Input::Connect(config) => self.connect(now, config, true),
            Input::Recover(config) => self.connect(now, config, false),
            Input::Disconnect => self.disconnect(),
            Input::GatewayInfo(info) => self.on_gateway_info(now, info),
            Input::GatewayInfoFailed(failure) => self.on_gateway_info_failed(now, failure),
            Input::SocketOpened(id) => self.on_socket_opened(now, id),
            Input::SocketFailed(id, failure) => self.on_socket_failed(now, id, failure),
            Input::Text(id, text) => self.on_text(now, id, text),
            Input::Binary(id, bytes) => self.on_binary(now, id, bytes),
            Input::SocketClosed { id, code, reason } => self.on_closed(now, id, code, reason),
            Input::Timer => {}
            Input::IdentifyGranted { expires_at } => self.on_identify_granted(now, expires_at),
            Input::IdentifyDeferred { until, exhausted } => {
                self.on_identify_deferred(until, exhausted);
            }
        }
        self.poll(now);
        self.early_open = false;
    }

    /// Sends a user command (for example op 3 Presence Update) on the ready session.
    pub fn send_command(&mut self, now: u64, payload: String) -> Result<(), SendError> {
        let id = match &self.phase {
            Phase::Open(conn) if conn.stage == Stage::Ready => conn.id,
            _ => return Err(SendError::NotConnected),
        };
        if payload.len() > MAX_SEND_BYTES {
            self.counters.sends_refused += 1;
            return Err(SendError::TooLarge {
                size: payload.len(),
            });
        }
        if let Err(e) = scan(&payload) {
            return Err(SendError::Malformed(e.to_string()));
        }
        if let Err(retry_at) = self.window.try_acquire(now, Priority::Ordinary) {
            self.counters.sends_refused += 1;
            return Err(SendError::RateLimited { retry_at });
        }
        self.actions.push_back(Action::Send { id, payload });
        Ok(())
    }

    /// Sets the bot's presence (op 3's `d`): kept (and persisted) for every later Identify, and
    /// sent now as op 3 when a session is ready. `Ok(true)` when it went out now, `Ok(false)`
    /// when there is no session to send it on (it goes with the next Identify). A presence too
    /// large to send is refused and not kept; one refused by the send window is kept.
    pub fn set_presence(
        &mut self,
        now: u64,
        presence: serde_json::Value,
    ) -> Result<bool, SendError> {
        let command = payload::presence_update(&presence);
        if command.len() > MAX_SEND_BYTES {
            return Err(SendError::TooLarge {
                size: command.len(),
            });
        }
        self.presence = Some(presence);
        self.persist();
        match self.send_command(now, command) {
            Ok(()) => Ok(true),
            Err(SendError::NotConnected) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The user-facing state. Contains no token.
    pub fn status(&self) -> EngineStatus {
        let (state, phase, waiting) = status::describe(&self.phase);
        let stop_code = match self.phase {
            Phase::Stopped(reason) => Some(reason),
            _ => None,
        };
        let mut heartbeat = self.heartbeat_status;
        heartbeat.interval_ms = match &self.phase {
            Phase::Open(conn) => conn.heartbeat.as_ref().map(|h| h.interval),
            _ => None,
        };
        EngineStatus {
            state,
            phase: phase.into(),
            session_id: self.session.as_ref().map(|s| s.id.clone()),
            sequence: self.sequence,
            connected_at: (state == ConnectionState::Connected)
                .then_some(self.connected_at)
                .flatten(),
            reconnect_attempts: self.backoff.failures(),
            last_close: self.last_close.clone(),
            last_failure: self.last_failure.clone(),
            stop_code,
            stop_reason: stop_code.map(|code| code.describe().into()),
            waiting,
            heartbeat,
            identify_budget: self.budget,
            counters: self.counters,
            presence: self.presence.clone(),
            guilds: self.guilds,
        }
    }

    /// Events per minute and heartbeat round trips over the last hour, as of `now` (kept in
    /// memory: they start again empty when the object restarts).
    pub fn history(&self, now: u64) -> HistorySnapshot {
        self.history.snapshot(now)
    }

    /// What a restarted engine needs.
    pub fn snapshot(&self) -> SessionSnapshot {
        SessionSnapshot {
            session: self.session.clone(),
            sequence: self.sequence,
            stopped: match self.phase {
                Phase::Stopped(reason) => Some(reason),
                _ => None,
            },
            identify_budget: self.budget,
            last_close: self.last_close.clone(),
            presence: self.presence.clone(),
            guilds: self.guilds,
        }
    }

    // ----- control -------------------------------------------------------------------------

    /// Whether `Input::Connect(config)`, handled now, asks `GET /gateway/bot` at once
    /// ([`Action::FetchGatewayInfo`]): it does when it starts a new session (no session to
    /// resume, or other credentials), not when the session goes on or is resumed. The Durable
    /// Object asks this before it stores the settings, so the request can leave before that
    /// write (issue 9: the output gate holds a request issued while a write is unconfirmed).
    pub fn connect_fetches_gateway_info(&self, config: &GatewayConfig) -> bool {
        matches!(self.connect_plan(config), ConnectPlan::Fresh { .. })
    }

    /// What a connect with `config` does to the current session.
    fn connect_plan(&self, config: &GatewayConfig) -> ConnectPlan {
        let same_session = self
            .config
            .as_ref()
            .is_none_or(|old| old.same_session_as(config));
        let live = matches!(
            self.phase,
            Phase::Open(_)
                | Phase::Fetching { .. }
                | Phase::AwaitFetch { .. }
                | Phase::AwaitOpen { .. }
        );
        if !same_session {
            ConnectPlan::Fresh {
                new_credentials: true,
            }
        } else if live {
            ConnectPlan::Keep
        } else if self.session.is_some() {
            ConnectPlan::Resume
        } else {
            ConnectPlan::Fresh {
                new_credentials: false,
            }
        }
    }

    fn connect(&mut self, now: u64, config: GatewayConfig, explicit: bool) {
        if !explicit {
            if let Phase::Stopped(_) = self.phase {
                self.config = Some(config);
                return;
            }
        }
        // After a terminal failure (a rejected token, say) no socket opens before Discord
        // answers again.
        let stopped = matches!(self.phase, Phase::Stopped(_));
        let plan = self.connect_plan(&config);
        if matches!(
            plan,
            ConnectPlan::Fresh {
                new_credentials: true
            }
        ) {
            self.forget_session();
        }
        self.config = Some(config);
        if plan == ConnectPlan::Keep {
            // The session goes on as it is. A new `compression` applies from the next new
            // session: a resume must repeat the query the session was opened with.
            return;
        }
        let code = if self.session.is_some() {
            RESUMABLE_CLOSE_CODE
        } else {
            SESSION_ENDING_CLOSE_CODE
        };
        self.close_current(code, "reconnecting with new settings");
        self.backoff.reset();
        self.phase = Phase::Idle;
        self.persist();
        let mode = if plan == ConnectPlan::Resume {
            Mode::Resume
        } else {
            Mode::Fresh
        };
        self.schedule(now, mode, Delay::Immediate);
        self.early_open = mode == Mode::Fresh && !stopped;
    }

    fn disconnect(&mut self) {
        self.close_current(SESSION_ENDING_CLOSE_CODE, "disconnect requested");
        self.forget_session();
        self.config = None;
        self.phase = Phase::Idle;
        self.backoff.reset();
        self.persist();
    }

    fn forget_session(&mut self) {
        self.resume_url_failed = false;
        self.session = None;
        self.sequence = None;
        self.last_forwarded = None;
    }

    fn stop(&mut self, reason: StopReason) {
        self.close_current(SESSION_ENDING_CLOSE_CODE, "stopping");
        // A terminal close ends the session on Discord's side too.
        self.forget_session();
        self.phase = Phase::Stopped(reason);
        self.persist();
    }

    fn persist(&mut self) {
        self.persisted_sequence = self.sequence;
        self.actions.push_back(Action::Persist(self.snapshot()));
    }

    // ----- scheduling ----------------------------------------------------------------------

    /// Leaves the current connection (already closed or never opened) and plans the next try.
    fn schedule(&mut self, now: u64, mode: Mode, delay: Delay) {
        let mode = if self.session.is_none() {
            Mode::Fresh
        } else {
            mode
        };
        let (wait, mut reason) = match delay {
            Delay::Immediate => (0, WaitReason::Backoff),
            Delay::Backoff => (
                self.backoff.next_delay(self.jitter.as_mut()),
                WaitReason::Backoff,
            ),
            Delay::AtLeast(at_least, reason) => {
                let backoff = self.backoff.next_delay(self.jitter.as_mut());
                if at_least > backoff {
                    (at_least, reason)
                } else {
                    (backoff, WaitReason::Backoff)
                }
            }
        };
        let mut at = now.saturating_add(wait);
        if mode == Mode::Resume {
            let admitted = self.backoff.admit(at);
            if admitted > at {
                reason = WaitReason::ReconnectCeiling;
                at = admitted;
            }
            self.phase = Phase::AwaitOpen {
                at,
                reason,
                resume: true,
            };
        } else {
            self.phase = Phase::AwaitFetch { at, reason };
        }
    }

    /// Closes the current socket (if any) and counts a reconnect.
    fn reconnect(&mut self, now: u64, code: u16, reason: &'static str, mode: Mode, delay: Delay) {
        self.close_current(code, reason);
        self.counters.reconnects += 1;
        self.schedule(now, mode, delay);
    }

    fn close_current(&mut self, code: u16, reason: &'static str) {
        if let Phase::Open(conn) = std::mem::replace(&mut self.phase, Phase::Idle) {
            self.actions.push_back(Action::Close {
                id: conn.id,
                code,
                reason,
            });
        }
        self.connected_at = None;
    }

    /// Fires whatever is due at `now`.
    fn poll(&mut self, now: u64) {
        // A phase change can make something else due at once; a few rounds always settle.
        for _ in 0..4 {
            if !self.poll_once(now) {
                break;
            }
        }
    }

    fn poll_once(&mut self, now: u64) -> bool {
        match &mut self.phase {
            Phase::AwaitFetch { at, .. } if now >= *at => {
                self.phase = Phase::Fetching {
                    deadline: now + FETCH_TIMEOUT_MS,
                };
                self.actions.push_back(Action::FetchGatewayInfo);
                if std::mem::take(&mut self.early_open) && self.may_open_early(now) {
                    self.open(now, false);
                    if let Phase::Open(conn) = &mut self.phase {
                        conn.awaiting_info = true;
                    }
                }
                true
            }
            Phase::Fetching { deadline } if now >= *deadline => {
                self.on_gateway_info_failed(now, RequestFailure::default());
                true
            }
            Phase::AwaitOpen { at, resume, .. } if now >= *at => {
                let resume = *resume;
                if !resume && self.gate.is_some_and(|gate| !gate.holds_grant(now)) {
                    self.ask_identify(now);
                    return false;
                }
                self.open(now, resume);
                true
            }
            Phase::Open(conn) if conn.stage != Stage::Ready && now >= conn.deadline => {
                if conn.via_resume_url {
                    self.resume_url_failed = true;
                }
                let mode = if conn.resume {
                    Mode::Resume
                } else {
                    Mode::Fresh
                };
                self.reconnect(
                    now,
                    RESUMABLE_CLOSE_CODE,
                    "handshake timed out",
                    mode,
                    Delay::Backoff,
                );
                true
            }
            Phase::Open(conn) => {
                let due = conn.heartbeat.as_ref().is_some_and(|h| now >= h.next_at);
                if due {
                    self.heartbeat_due(now);
                }
                false
            }
            _ => false,
        }
    }

    /// Whether a connect's socket may open now, alongside its `GET /gateway/bot` (issue 9,
    /// `/connect` → READY): a new session of an ungated shard, a URL and an identify budget
    /// known from an earlier answer that would let an Identify go now, and the reconnect
    /// ceiling not reached. The socket waits for the answer before it identifies
    /// ([`Engine::on_gateway_info`]), so nothing is spent on what the earlier answer said.
    fn may_open_early(&self, now: u64) -> bool {
        self.session.is_none()
            && self.gate.is_none()
            && self.gateway_url.is_some()
            && self.budget.remaining.is_some()
            && !self.budget.exhausted(now)
            && self.budget.ready_at(now) <= now
            && self.backoff.admit(now) <= now
    }

    /// A gated shard is due to open a socket to Identify without a grant: ask for one (once
    /// at a time) and wait for the answer.
    fn ask_identify(&mut self, now: u64) {
        let Some(gate) = &mut self.gate else {
            return;
        };
        if gate.should_ask(now) {
            gate.asked(now);
            self.actions.push_back(Action::AskIdentify);
        }
        self.phase = Phase::AwaitOpen {
            at: now.saturating_add(ASK_TIMEOUT_MS),
            reason: WaitReason::IdentifyGrant,
            resume: false,
        };
    }

    fn on_identify_granted(&mut self, now: u64, expires_at: u64) {
        let Some(gate) = &mut self.gate else {
            self.counters.stale_inputs += 1;
            return;
        };
        gate.granted(expires_at);
        if let Phase::AwaitOpen {
            at, resume: false, ..
        } = &mut self.phase
        {
            *at = now;
        }
    }

    fn on_identify_deferred(&mut self, until: u64, exhausted: bool) {
        let Some(gate) = &mut self.gate else {
            self.counters.stale_inputs += 1;
            return;
        };
        gate.deferred();
        if let Phase::AwaitOpen {
            resume: false,
            at,
            reason,
        } = &mut self.phase
        {
            *at = until;
            *reason = if exhausted {
                WaitReason::IdentifyBudget
            } else {
                WaitReason::IdentifyGrant
            };
        }
    }

    fn open(&mut self, now: u64, resume: bool) {
        let session = self.session.as_ref().filter(|_| resume);
        let via_resume_url = session.is_some() && !self.resume_url_failed;
        let url = match (session, &self.gateway_url) {
            (Some(session), _) if via_resume_url => session.resume_url.clone(),
            (_, Some(url)) => url.clone(),
            // No URL known yet: fetch it first.
            _ => {
                self.phase = Phase::AwaitFetch {
                    at: now,
                    reason: WaitReason::Backoff,
                };
                return;
            }
        };
        let configured = self
            .config
            .as_ref()
            .map(|c| c.compression)
            .unwrap_or_default();
        // A resume repeats the session's query; a new session takes the configured one.
        let compression = session.and_then(|s| s.compression).unwrap_or(configured);
        let id = ConnectionId(self.next_connection);
        self.next_connection += 1;
        self.backoff.record_attempt(now);
        self.phase = Phase::Open(Connection {
            id,
            resume,
            via_resume_url,
            compression,
            stage: Stage::Opening,
            deadline: now + OPEN_TIMEOUT_MS,
            heartbeat: None,
            decompressor: Some(Decompressor::new(compression)),
            awaiting_info: false,
        });
        self.actions.push_back(Action::OpenSocket {
            id,
            url: gateway_query(&url, compression),
        });
    }

    // ----- HTTP results --------------------------------------------------------------------

    /// The socket opened early to the known URL while `GET /gateway/bot` is asked again, if
    /// that is the current one.
    fn early_connection(&self) -> Option<(ConnectionId, Stage)> {
        match &self.phase {
            Phase::Open(conn) if conn.awaiting_info => Some((conn.id, conn.stage)),
            _ => None,
        }
    }

    fn on_gateway_info(&mut self, now: u64, info: GatewayInfo) {
        let early = self.early_connection();
        if early.is_none() && !matches!(self.phase, Phase::Fetching { .. }) {
            self.counters.stale_inputs += 1;
            return;
        }
        let same_url = self.gateway_url.as_deref() == Some(info.url.as_str());
        self.gateway_url = Some(info.url);
        // Not persisted here: a storage write now would hold the WebSocket upgrade that follows
        // until the write is confirmed (the output gate), on the way to READY. Nothing depends
        // on it: after a restart the object fetches `/gateway/bot` again before any Identify,
        // and the Identify that spends the budget persists it (budget and spend together).
        self.budget.update(info.session_start_limit, now);
        if let Some((id, stage)) = early {
            if same_url && self.budget.ready_at(now) <= now {
                // The answer confirms the early socket: it identifies (now, if Hello came).
                if let Phase::Open(conn) = &mut self.phase {
                    conn.awaiting_info = false;
                }
                if stage == Stage::Handshaking {
                    self.identify(now, id);
                }
                return;
            }
            // Another URL, or no Identify allowed now: the early socket goes unused (nothing
            // was sent on it) and the connect goes on as if it had only fetched.
            self.close_current(SESSION_ENDING_CLOSE_CODE, "gateway URL or budget changed");
        }
        if self.session.is_some() {
            // Fetched only to learn the URL to resume on (the resume URL failed): no Identify.
            self.phase = Phase::Idle;
            self.schedule(now, Mode::Resume, Delay::Immediate);
            return;
        }
        if self.budget.exhausted(now) {
            // No socket follows: keep the spent budget across a restart.
            self.persist();
            let at = self.budget.ready_at(now);
            self.phase = Phase::AwaitFetch {
                at,
                reason: WaitReason::IdentifyBudget,
            };
            return;
        }
        let ready = self.budget.ready_at(now);
        let admitted = self.backoff.admit(ready);
        let reason = if admitted > ready {
            WaitReason::ReconnectCeiling
        } else {
            WaitReason::IdentifyConcurrency
        };
        self.phase = Phase::AwaitOpen {
            at: admitted,
            reason,
            resume: false,
        };
    }

    fn on_gateway_info_failed(&mut self, now: u64, failure: RequestFailure) {
        if self.early_connection().is_some() {
            // The early socket never identifies without an answer: the connect fails as one
            // that only fetched.
            self.close_current(SESSION_ENDING_CLOSE_CODE, "GET /gateway/bot failed");
        } else if !matches!(self.phase, Phase::Fetching { .. }) {
            self.counters.stale_inputs += 1;
            return;
        }
        if failure.status == Some(401) {
            self.stop(StopReason::AuthenticationFailed);
            return;
        }
        self.phase = Phase::Idle;
        self.schedule(now, Mode::Fresh, retry_delay(failure));
    }

    fn on_socket_opened(&mut self, now: u64, id: ConnectionId) {
        match &mut self.phase {
            Phase::Open(conn) if conn.id == id && conn.stage == Stage::Opening => {
                conn.stage = Stage::AwaitingHello;
                conn.deadline = now + HELLO_TIMEOUT_MS;
            }
            _ => self.counters.stale_inputs += 1,
        }
    }

    /// The upgrade failed. It carries no token, so even a 401 is retried (Discord once
    /// answered 401 to Cloudflare Workers: discord-api-docs #6145, lifted by #8030).
    fn on_socket_failed(&mut self, now: u64, id: ConnectionId, failure: RequestFailure) {
        let (resume, via_resume_url) = match &self.phase {
            Phase::Open(conn) if conn.id == id => (conn.resume, conn.via_resume_url),
            _ => {
                self.counters.stale_inputs += 1;
                return;
            }
        };
        self.phase = Phase::Idle;
        self.resume_url_failed |= via_resume_url;
        let reason = match failure.status {
            Some(status) => format!("the gateway refused the WebSocket upgrade with HTTP {status}"),
            None => "the WebSocket upgrade failed (network error or timeout)".to_owned(),
        };
        self.last_failure = Some(LastFailure { reason, at: now });
        self.counters.reconnects += 1;
        let mode = if resume { Mode::Resume } else { Mode::Fresh };
        self.schedule(now, mode, retry_delay(failure));
    }

    fn on_closed(&mut self, now: u64, id: ConnectionId, code: u16, reason: &str) {
        if self.current_connection() != Some(id) {
            self.counters.stale_inputs += 1;
            return;
        }
        let reason = if reason.is_empty() {
            close_code::describe(code).to_owned()
        } else {
            reason.chars().take(256).collect()
        };
        self.last_close = Some(LastClose {
            code,
            reason,
            at: now,
        });
        if code == MESSAGE_TOO_BIG_CLOSE_CODE {
            self.phase = Phase::Idle;
            self.size_failure(
                now,
                format!(
                    "a gateway message was over the {MAX_INBOUND_FRAME_BYTES}-byte limit on received WebSocket messages (close 1009)"
                ),
            );
            return;
        }
        if let Phase::Open(conn) = &self.phase {
            // Closed before Hello: the resume URL did not work.
            let before_hello = matches!(conn.stage, Stage::Opening | Stage::AwaitingHello);
            self.resume_url_failed |= conn.via_resume_url && before_hello;
        }
        self.phase = Phase::Idle;
        self.connected_at = None;
        self.counters.reconnects += 1;
        match close_code::classify(code) {
            CloseDisposition::Stop(reason) => {
                self.counters.reconnects -= 1;
                self.stop(reason);
            }
            CloseDisposition::Reidentify => {
                self.forget_session();
                self.persist();
                self.schedule(now, Mode::Fresh, Delay::Backoff);
            }
            CloseDisposition::Resume => {
                self.persist();
                self.schedule(now, Mode::Resume, Delay::Backoff);
            }
        }
    }

    /// A message too big to receive. Resuming would replay it and fail the same way, forever:
    /// end the session and start a new one (what the old one had not delivered yet is lost).
    fn size_failure(&mut self, now: u64, what: String) {
        self.counters.size_failures += 1;
        self.last_failure = Some(LastFailure {
            reason: format!(
                "{what}; resuming would replay it, so a new session was started (events not yet received in the old one are lost)"
            ),
            at: now,
        });
        self.forget_session();
        self.persist();
        self.reconnect(
            now,
            SESSION_ENDING_CLOSE_CODE,
            "message too big",
            Mode::Fresh,
            Delay::Backoff,
        );
    }

    // ----- frames --------------------------------------------------------------------------

    /// Counts a frame for the current connection; false for stale ones.
    fn accept_frame(&mut self, id: ConnectionId, len: usize) -> bool {
        if self.current_connection() != Some(id) {
            self.counters.stale_inputs += 1;
            return false;
        }
        self.counters.frames_received += 1;
        if len > MAX_INBOUND_FRAME_BYTES {
            self.counters.oversize_frames += 1;
            return false;
        }
        if let Phase::Open(conn) = &mut self.phase {
            // Frames before the runtime said "opened" prove the socket is open.
            if conn.stage == Stage::Opening {
                conn.stage = Stage::AwaitingHello;
            }
        }
        true
    }

    fn on_text(&mut self, now: u64, id: ConnectionId, text: &str) {
        if self.accept_frame(id, text.len()) {
            self.on_payload_text(now, text);
        }
    }

    fn on_binary(&mut self, now: u64, id: ConnectionId, bytes: &[u8]) {
        if !self.accept_frame(id, bytes.len()) {
            return;
        }
        let Phase::Open(conn) = &mut self.phase else {
            return;
        };
        let Some(mut decompressor) = conn.decompressor.take() else {
            return;
        };
        match decompressor.push(bytes) {
            Ok(Some(message)) => match std::str::from_utf8(message) {
                Ok(text) => self.on_payload_text(now, text),
                Err(_) => self.counters.malformed_frames += 1,
            },
            Ok(None) => {}
            Err(DecompressError::NotCompressed) => {
                self.counters.unexpected_binary_frames += 1;
            }
            Err(DecompressError::TooLarge { limit }) => {
                self.size_failure(
                    now,
                    format!("a compressed gateway message was over the {limit}-byte limit"),
                );
                return;
            }
            Err(_) => {
                self.counters.corrupt_streams += 1;
                self.reconnect(
                    now,
                    RESUMABLE_CLOSE_CODE,
                    "corrupt compressed stream",
                    Mode::Resume,
                    Delay::Immediate,
                );
                return;
            }
        }
        if let Phase::Open(conn) = &mut self.phase {
            if conn.id == id {
                conn.decompressor = Some(decompressor);
            }
        }
    }

    fn on_payload_text(&mut self, now: u64, text: &str) {
        match scan(text) {
            Ok(payload) => self.on_payload(now, payload),
            Err(_) => self.counters.malformed_frames += 1,
        }
    }

    fn on_payload(&mut self, now: u64, payload: RawPayload<'_>) {
        match Opcode::from_code(payload.op) {
            Some(Opcode::Dispatch) => self.on_dispatch(now, payload),
            Some(Opcode::Heartbeat) => self.send_heartbeat(now),
            Some(Opcode::Reconnect) => self.reconnect(
                now,
                RESUMABLE_CLOSE_CODE,
                "reconnect requested by Discord",
                Mode::Resume,
                Delay::Immediate,
            ),
            Some(Opcode::InvalidSession) => self.on_invalid_session(now, payload),
            Some(Opcode::Hello) => self.on_hello(now, payload),
            Some(Opcode::HeartbeatAck) => self.on_heartbeat_ack(now),
            _ => self.counters.unknown_opcodes += 1,
        }
    }

    fn on_hello(&mut self, now: u64, payload: RawPayload<'_>) {
        let Some(hello) = payload
            .d
            .and_then(|d| serde_json::from_str::<Hello>(d.get()).ok())
        else {
            self.counters.malformed_frames += 1;
            return;
        };
        let (min, max) = HEARTBEAT_INTERVAL_RANGE_MS;
        let interval = hello.heartbeat_interval.clamp(min, max);
        let first = now + scale(interval, self.jitter.next_fraction());
        let Phase::Open(conn) = &mut self.phase else {
            return;
        };
        if conn.stage != Stage::AwaitingHello {
            self.counters.malformed_frames += 1;
            return;
        }
        conn.heartbeat = Some(Heartbeat {
            interval,
            next_at: first,
            last_tick_at: now,
            awaiting_ack_since: None,
        });
        conn.stage = Stage::Handshaking;
        conn.deadline = now + HANDSHAKE_TIMEOUT_MS;
        let id = conn.id;
        let resume_payload = match (&self.config, &self.session, self.sequence) {
            (Some(config), Some(session), Some(seq)) if conn.resume => {
                Some(payload::resume(&config.token, &session.id, seq))
            }
            _ => None,
        };
        conn.resume = resume_payload.is_some();
        let awaiting_info = conn.awaiting_info;
        if let Some(resume) = resume_payload {
            if self.send(now, id, resume, Priority::Essential) {
                self.counters.resumes_sent += 1;
            }
            return;
        }
        if !awaiting_info {
            self.identify(now, id);
        }
    }

    /// Sends Identify on socket `id` (Hello came), if the identify budget and the shard's grant
    /// allow it now; otherwise closes it and waits for them.
    fn identify(&mut self, now: u64, id: ConnectionId) {
        let ready_at = self.budget.ready_at(now);
        if ready_at > now || self.budget.remaining.is_none() {
            // The budget changed since the socket was planned: never overspend it.
            self.reconnect(
                now,
                SESSION_ENDING_CLOSE_CODE,
                "waiting for identify budget",
                Mode::Fresh,
                Delay::AtLeast(ready_at - now, WaitReason::IdentifyBudget),
            );
            return;
        }
        if self.gate.as_mut().is_some_and(|gate| !gate.take(now)) {
            // The grant expired while the socket opened: never Identify without one.
            self.reconnect(
                now,
                SESSION_ENDING_CLOSE_CODE,
                "identify grant expired",
                Mode::Fresh,
                Delay::Immediate,
            );
            return;
        }
        let Some(identify) = self.config.as_ref().map(|config| {
            payload::identify(
                &config.token,
                config.intents,
                config.shard,
                self.presence.as_ref(),
            )
        }) else {
            return;
        };
        if self.send(now, id, identify, Priority::Essential) {
            self.budget.spend(now);
            self.counters.identifies_sent += 1;
            if self.gate.is_some() {
                self.actions.push_back(Action::IdentifySent);
            }
            self.persist();
        }
    }

    fn on_heartbeat_ack(&mut self, now: u64) {
        let Phase::Open(conn) = &mut self.phase else {
            return;
        };
        let Some(heartbeat) = &mut conn.heartbeat else {
            return;
        };
        self.counters.heartbeat_acks += 1;
        if let Some(sent) = heartbeat.awaiting_ack_since.take() {
            let round_trip = now.saturating_sub(sent);
            self.heartbeat_status.round_trip_ms = Some(round_trip);
            self.history.record_round_trip(now, round_trip);
        }
        self.heartbeat_status.last_ack_at = Some(now);
    }

    fn on_invalid_session(&mut self, now: u64, payload: RawPayload<'_>) {
        let resumable = match payload.d.map(|d| d.get()) {
            Some("true") => true,
            Some("false") | None => false,
            Some(_) => {
                self.counters.malformed_frames += 1;
                false
            }
        };
        if resumable && self.session.is_some() {
            self.reconnect(
                now,
                RESUMABLE_CLOSE_CODE,
                "invalid session (resumable)",
                Mode::Resume,
                Delay::Backoff,
            );
        } else {
            self.forget_session();
            self.persist();
            // Discord asks for a random 1-5 s pause before identifying again.
            let pause = 1_000 + scale(4_000, self.jitter.next_fraction());
            self.reconnect(
                now,
                SESSION_ENDING_CLOSE_CODE,
                "invalid session",
                Mode::Fresh,
                Delay::AtLeast(pause, WaitReason::InvalidSession),
            );
        }
    }

    fn on_dispatch(&mut self, now: u64, payload: RawPayload<'_>) {
        let (Some(event_type), Some(sequence)) = (payload.t, payload.s) else {
            self.counters.malformed_frames += 1;
            return;
        };
        let handshake_done = matches!(
            &self.phase,
            Phase::Open(conn) if matches!(conn.stage, Stage::Handshaking | Stage::Ready)
        );
        if !handshake_done {
            // Discord sends no dispatch before Hello and Identify/Resume.
            self.counters.malformed_frames += 1;
            return;
        }
        self.counters.events_received += 1;
        self.history.record_event(now);
        match event_type {
            "READY" => {
                let ready = payload
                    .d
                    .and_then(|d| serde_json::from_str::<Ready<'_>>(d.get()).ok());
                let Some(ready) = ready else {
                    self.counters.malformed_frames += 1;
                    return;
                };
                let compression = match &self.phase {
                    Phase::Open(conn) => conn.compression,
                    _ => TransportCompression::default(),
                };
                self.session = Some(Session {
                    id: ready.session_id.into_owned(),
                    resume_url: ready.resume_gateway_url.into_owned(),
                    compression: Some(compression),
                });
                self.sequence = Some(sequence);
                self.last_forwarded = None;
                self.guilds = u32::try_from(ready.guilds.len()).ok();
                self.become_ready(now);
            }
            "RESUMED" => {
                self.bump_sequence(sequence);
                self.become_ready(now);
            }
            _ => {
                self.bump_sequence(sequence);
                if let Phase::Open(conn) = &mut self.phase {
                    if conn.stage == Stage::Handshaking {
                        // Replayed events show Discord is working on the resume.
                        conn.deadline = now + HANDSHAKE_TIMEOUT_MS;
                    }
                }
            }
        }
        let wanted = self
            .config
            .as_ref()
            .is_some_and(|config| config.events.matches(event_type));
        if !wanted {
            if self
                .observed
                .as_ref()
                .is_some_and(|observed| observed.matches(event_type))
            {
                let dispatch = self.dispatch(event_type, sequence, &payload);
                self.actions.push_back(Action::Observe(dispatch));
            }
            return;
        }
        if self.last_forwarded.is_some_and(|last| sequence <= last) {
            self.counters.duplicates_skipped += 1;
            return;
        }
        self.last_forwarded = Some(sequence);
        self.counters.events_forwarded += 1;
        let dispatch = self.dispatch(event_type, sequence, &payload);
        self.actions.push_back(Action::Forward(dispatch));
    }

    fn dispatch(&self, event_type: &str, sequence: u64, payload: &RawPayload<'_>) -> Dispatch {
        Dispatch {
            event_type: event_type.to_owned(),
            sequence,
            session_id: self
                .session
                .as_ref()
                .map(|s| s.id.clone())
                .unwrap_or_default(),
            data: payload
                .d
                .map_or_else(|| "null".to_owned(), |d| d.get().to_owned()),
        }
    }

    fn bump_sequence(&mut self, sequence: u64) {
        if self.sequence.is_none_or(|last| sequence > last) {
            self.sequence = Some(sequence);
        }
    }

    fn become_ready(&mut self, now: u64) {
        if let Phase::Open(conn) = &mut self.phase {
            conn.stage = Stage::Ready;
        }
        // Next time, try the resume URL first again.
        self.resume_url_failed = false;
        self.backoff.reset();
        self.connected_at = Some(now);
        self.persist();
    }

    // ----- heartbeats and sending ----------------------------------------------------------

    /// A scheduled heartbeat tick: never skipped. The connection is a zombie when a heartbeat
    /// sent at or before the previous tick still has no ACK (an ACK for any heartbeat counts,
    /// so one answered to op 1 just before this tick gets until the next tick).
    fn heartbeat_due(&mut self, now: u64) {
        let Phase::Open(conn) = &mut self.phase else {
            return;
        };
        let Some(heartbeat) = &mut conn.heartbeat else {
            return;
        };
        let previous_tick = heartbeat.last_tick_at;
        if heartbeat
            .awaiting_ack_since
            .is_some_and(|sent| sent <= previous_tick)
        {
            self.counters.zombie_connections += 1;
            self.reconnect(
                now,
                RESUMABLE_CLOSE_CODE,
                "no heartbeat ACK",
                Mode::Resume,
                Delay::Backoff,
            );
            return;
        }
        heartbeat.last_tick_at = now;
        heartbeat.next_at = heartbeat
            .next_at
            .saturating_add(heartbeat.interval)
            .max(now + 1);
        self.send_heartbeat(now);
        if self.sequence != self.persisted_sequence {
            // Sequence numbers are persisted in batches, once per heartbeat at most.
            self.persist();
        }
    }

    /// Sends a heartbeat now, scheduled or asked for by op 1: both at heartbeat priority.
    fn send_heartbeat(&mut self, now: u64) {
        let Some(id) = self.current_connection() else {
            return;
        };
        let payload = payload::heartbeat(self.sequence);
        if self.send(now, id, payload, Priority::Essential) {
            self.counters.heartbeats_sent += 1;
            if let Phase::Open(Connection {
                heartbeat: Some(heartbeat),
                ..
            }) = &mut self.phase
            {
                heartbeat.awaiting_ack_since.get_or_insert(now);
            }
        }
    }

    /// Queues a send if it fits the size and rate limits; false when refused.
    fn send(&mut self, now: u64, id: ConnectionId, payload: String, priority: Priority) -> bool {
        if payload.len() > MAX_SEND_BYTES || self.window.try_acquire(now, priority).is_err() {
            self.counters.sends_refused += 1;
            return false;
        }
        self.actions.push_back(Action::Send { id, payload });
        true
    }
}

fn retry_delay(failure: RequestFailure) -> Delay {
    match (failure.status, failure.retry_after_ms) {
        (Some(429), Some(ms)) => Delay::AtLeast(ms, WaitReason::RetryAfter),
        _ => Delay::Backoff,
    }
}
