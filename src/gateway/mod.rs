//! The sans-IO Discord Gateway engine (API v10, JSON encoding, one shard).
//!
//! Everything here is pure: the caller reports what happened as an [`Input`] with the time in
//! milliseconds, and carries out the [`Action`]s the [`Engine`] queues. Randomness comes from an
//! injected [`Jitter`]. This is what lets every protocol rule be tested natively, with a virtual
//! clock, in milliseconds.
//!
//! - [`scan`]: read `op`/`s`/`t` and keep `d` as raw text.
//! - [`engine`]: the state machine: Hello, Identify/Resume, heartbeats, reconnects.
//! - [`io`]: its vocabulary: the [`Input`]s it is told and the [`Action`]s it asks for.
//! - [`opcode`], [`payload`]: opcodes by name; what is sent, and the URL it is sent to.
//! - [`close_code`]: what each close code means.
//! - [`backoff`], [`identify_budget`], [`send_window`]: the pacing rules.
//! - [`compression`]: zlib-stream (and zstd-stream) transport compression.
//! - [`config`], [`session`], [`status`]: what goes in, what is persisted, what is shown.
//! - [`history`]: events per minute and heartbeat round trips over the last hour.

pub mod backoff;
pub mod close_code;
pub mod compression;
pub mod config;
pub mod engine;
pub mod history;
pub mod identify_budget;
pub mod identify_gate;
pub mod io;
pub mod jitter;
pub mod opcode;
pub mod payload;
mod phase;
pub mod scan;
pub mod send_window;
pub mod session;
pub mod status;

pub use close_code::StopReason;
pub use compression::TransportCompression;
pub use config::{ConfigError, EventFilter, GatewayConfig, Intents, Shard};
pub use engine::Engine;
pub use io::{Action, ConnectionId, Dispatch, GatewayInfo, Input, RequestFailure, SendError};
pub use jitter::{Jitter, LazySeededJitter, SeededJitter};
pub use opcode::Opcode;
pub use session::{LastClose, Session, SessionSnapshot};
pub use status::{ConnectionState, EngineStatus};
