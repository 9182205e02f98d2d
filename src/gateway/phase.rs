//! Where the engine is in a connection's life: the phase, and the state of the open socket.

use super::close_code::StopReason;
use super::compression::{Decompressor, TransportCompression};
use super::io::ConnectionId;
use super::status::WaitReason;

/// Heartbeat bookkeeping of an open socket.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    /// The interval from Hello (clamped).
    pub(crate) interval: u64,
    /// When the next scheduled heartbeat is due.
    pub(crate) next_at: u64,
    /// When the previous scheduled heartbeat was due (Hello, before the first one).
    pub(crate) last_tick_at: u64,
    /// When the oldest heartbeat still without an ACK went out (any ACK clears it).
    pub(crate) awaiting_ack_since: Option<u64>,
}

/// How far an open socket got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The runtime has not said "opened" yet.
    Opening,
    /// Open; Discord has not said Hello yet.
    AwaitingHello,
    /// Identify or Resume sent; waiting for READY or RESUMED.
    Handshaking,
    /// READY or RESUMED arrived: events flow.
    Ready,
}

/// The current socket.
#[derive(Debug)]
pub(crate) struct Connection {
    /// Its id.
    pub(crate) id: ConnectionId,
    /// Whether it was opened to resume the session.
    pub(crate) resume: bool,
    /// Whether it went to the session's `resume_gateway_url` (not the `/gateway/bot` URL).
    pub(crate) via_resume_url: bool,
    /// The transport compression in its query.
    pub(crate) compression: TransportCompression,
    /// How far it got.
    pub(crate) stage: Stage,
    /// When the current stage times out (until [`Stage::Ready`]).
    pub(crate) deadline: u64,
    /// Set by Hello.
    pub(crate) heartbeat: Option<Heartbeat>,
    /// The transport decompressor (taken out while a frame is being decoded).
    pub(crate) decompressor: Option<Decompressor>,
    /// Opened to the known gateway URL while `GET /gateway/bot` is asked again (issue 9): no
    /// Identify leaves until its answer confirms the URL and the identify budget.
    pub(crate) awaiting_info: bool,
}

/// What the engine is doing.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Nothing to do.
    Idle,
    /// A terminal failure: nothing happens until an explicit connect.
    Stopped(StopReason),
    /// Waiting until `at` to fetch `/gateway/bot`.
    AwaitFetch { at: u64, reason: WaitReason },
    /// `/gateway/bot` asked for; it fails at `deadline`.
    Fetching { deadline: u64 },
    /// Waiting until `at` to open a socket.
    AwaitOpen {
        at: u64,
        reason: WaitReason,
        resume: bool,
    },
    /// A socket is current.
    Open(Connection),
}
