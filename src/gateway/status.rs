//! The engine's state as a user sees it. Contains no token or secret.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::close_code::StopReason;
use super::identify_budget::IdentifyBudget;
use super::phase::{Phase, Stage};
use super::session::LastClose;

/// The coarse connection state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConnectionState {
    /// No configuration: nothing to do.
    Disconnected,
    /// Working towards a READY or RESUMED session.
    Connecting,
    /// Session established; events flow.
    Connected,
    /// A terminal close: nothing happens until an explicit connect.
    Stopped,
}

/// Why the engine is waiting before its next attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WaitReason {
    /// Exponential backoff after a failure.
    Backoff,
    /// Discord asked us to wait (429 `Retry-After`).
    RetryAfter,
    /// The Identify budget is spent until it resets.
    IdentifyBudget,
    /// One Identify per 5 s per concurrency bucket.
    IdentifyConcurrency,
    /// Too many connection attempts in the last minute.
    ReconnectCeiling,
    /// Discord asked for a new session after op 9; it wants a short pause first.
    InvalidSession,
    /// A shard of a sharded bot waits for its coordinator's grant to Identify.
    IdentifyGrant,
}

/// A pending wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Waiting {
    /// When the next attempt starts (ms since epoch).
    pub until: u64,
    /// Why.
    pub reason: WaitReason,
}

/// Heartbeat health.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatStatus {
    /// Interval from Hello, when connected.
    pub interval_ms: Option<u64>,
    /// The last measured heartbeat → ACK round trip.
    pub round_trip_ms: Option<u64>,
    /// When the last ACK arrived.
    pub last_ack_at: Option<u64>,
}

/// Running totals since the engine was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Frames received on current connections (text and binary).
    pub frames_received: u64,
    /// Dispatches (op 0) received.
    pub events_received: u64,
    /// Dispatches handed on for forwarding.
    pub events_forwarded: u64,
    /// Replayed dispatches that had been forwarded already.
    pub duplicates_skipped: u64,
    /// Frames that were not valid payloads, or had a `d` of the wrong shape.
    pub malformed_frames: u64,
    /// Frames with an opcode a client never receives.
    pub unknown_opcodes: u64,
    /// Frames over the size limit, skipped unread.
    pub oversize_frames: u64,
    /// Messages too big to receive (close 1009, or over the limit once decompressed): each
    /// ended the session and started a new one, since a resume would replay the same message.
    pub size_failures: u64,
    /// Binary frames on a connection without transport compression.
    pub unexpected_binary_frames: u64,
    /// Compressed streams that could not be decompressed (each forced a reconnect).
    pub corrupt_streams: u64,
    /// Inputs for connections that were no longer current.
    pub stale_inputs: u64,
    /// Heartbeats sent.
    pub heartbeats_sent: u64,
    /// Heartbeat ACKs received.
    pub heartbeat_acks: u64,
    /// Connections closed because an ACK did not arrive in time.
    pub zombie_connections: u64,
    /// Identify payloads sent.
    pub identifies_sent: u64,
    /// Resume payloads sent.
    pub resumes_sent: u64,
    /// Reconnects scheduled (every cause).
    pub reconnects: u64,
    /// Sends refused for size or rate.
    pub sends_refused: u64,
}

/// The last attempt that failed without a close from Discord, in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastFailure {
    /// What was seen, e.g. "the gateway refused the WebSocket upgrade with HTTP 401".
    pub reason: String,
    /// When (ms since epoch).
    pub at: u64,
}

/// A snapshot of the engine for `/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineStatus {
    /// The coarse state.
    pub state: ConnectionState,
    /// What exactly the engine is doing now.
    pub phase: Cow<'static, str>,
    /// The current session id.
    pub session_id: Option<String>,
    /// The last sequence number.
    pub sequence: Option<u64>,
    /// When the current session became ready (READY or RESUMED).
    pub connected_at: Option<u64>,
    /// Failed attempts since the last READY or RESUMED.
    pub reconnect_attempts: u32,
    /// The last close.
    pub last_close: Option<LastClose>,
    /// The last failed attempt or size failure (kept after recovery, like `last_close`).
    pub last_failure: Option<LastFailure>,
    /// Why reconnecting stopped.
    pub stop_code: Option<StopReason>,
    /// The stop reason in words a user can act on.
    pub stop_reason: Option<Cow<'static, str>>,
    /// A pending wait.
    pub waiting: Option<Waiting>,
    /// Heartbeat health.
    pub heartbeat: HeartbeatStatus,
    /// The Identify budget.
    pub identify_budget: IdentifyBudget,
    /// Totals.
    pub counters: Counters,
    /// The bot's presence as last set (`POST /presence`), if it was.
    #[serde(default)]
    pub presence: Option<serde_json::Value>,
    /// Guilds in the session's READY (what this shard serves), once known.
    #[serde(default)]
    pub guilds: Option<u32>,
}

/// What a phase looks like from outside: the coarse state, the exact step, and any wait.
pub(crate) fn describe(phase: &Phase) -> (ConnectionState, &'static str, Option<Waiting>) {
    match phase {
        Phase::Idle => (ConnectionState::Disconnected, "idle", None),
        Phase::Stopped(_) => (ConnectionState::Stopped, "stopped", None),
        Phase::AwaitFetch { at, reason } => (
            ConnectionState::Connecting,
            "waiting to fetch gateway info",
            Some(Waiting {
                until: *at,
                reason: *reason,
            }),
        ),
        Phase::Fetching { .. } => (ConnectionState::Connecting, "fetching gateway info", None),
        Phase::AwaitOpen { at, reason, .. } => (
            ConnectionState::Connecting,
            "waiting to open the socket",
            Some(Waiting {
                until: *at,
                reason: *reason,
            }),
        ),
        Phase::Open(conn) => match conn.stage {
            Stage::Opening => (ConnectionState::Connecting, "opening the socket", None),
            Stage::AwaitingHello => (ConnectionState::Connecting, "waiting for hello", None),
            Stage::Handshaking if conn.resume => (ConnectionState::Connecting, "resuming", None),
            Stage::Handshaking if conn.awaiting_info => {
                (ConnectionState::Connecting, "fetching gateway info", None)
            }
            Stage::Handshaking => (ConnectionState::Connecting, "identifying", None),
            Stage::Ready => (ConnectionState::Connected, "ready", None),
        },
    }
}
