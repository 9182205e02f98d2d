//! The engine's I/O vocabulary: what the caller reports ([`Input`]) and what it must do
//! ([`Action`]), with the values they carry.

use serde::Deserialize;

use super::config::GatewayConfig;
#[cfg(doc)]
use super::engine::Engine;
use super::identify_budget::SessionStartLimit;
use super::payload::MAX_SEND_BYTES;
use super::session::SessionSnapshot;

/// Names one socket. Inputs about a socket that is no longer current are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// The answer of `GET /gateway/bot`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct GatewayInfo {
    /// The WebSocket URL to connect to (without query).
    pub url: String,
    /// Recommended shard count.
    #[serde(default)]
    pub shards: u32,
    /// The Identify budget.
    pub session_start_limit: SessionStartLimit,
}

#[derive(Deserialize)]
struct WireSessionStartLimit {
    total: u32,
    remaining: u32,
    reset_after: u64,
    max_concurrency: u32,
}

#[derive(Deserialize)]
struct WireGatewayInfo {
    url: String,
    #[serde(default)]
    shards: u32,
    session_start_limit: WireSessionStartLimit,
}

impl GatewayInfo {
    /// Parses the JSON body of `GET /gateway/bot`.
    pub fn from_json(body: &str) -> Result<Self, String> {
        let wire: WireGatewayInfo = serde_json::from_str(body)
            .map_err(|e| format!("unexpected /gateway/bot response: {e}"))?;
        let limit = wire.session_start_limit;
        Ok(Self {
            url: wire.url,
            shards: wire.shards,
            session_start_limit: SessionStartLimit {
                total: limit.total,
                remaining: limit.remaining,
                reset_after: limit.reset_after,
                max_concurrency: limit.max_concurrency,
            },
        })
    }
}

/// Why an HTTP request (gateway info or the WebSocket upgrade) failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestFailure {
    /// The HTTP status, or `None` for a network error or timeout.
    pub status: Option<u16>,
    /// `Retry-After`, in milliseconds.
    pub retry_after_ms: Option<u64>,
}

/// Something that happened, reported to the engine.
#[derive(Debug)]
pub enum Input<'a> {
    /// The user asked to connect with this configuration. Clears a stop.
    Connect(GatewayConfig),
    /// The runtime restarted with this stored configuration: continue from the restored
    /// snapshot, unless it records a stop.
    Recover(GatewayConfig),
    /// The user asked to disconnect: end the session and forget it.
    Disconnect,
    /// `GET /gateway/bot` succeeded.
    GatewayInfo(GatewayInfo),
    /// `GET /gateway/bot` failed.
    GatewayInfoFailed(RequestFailure),
    /// The socket asked for by [`Action::OpenSocket`] is open.
    SocketOpened(ConnectionId),
    /// The socket could not be opened.
    SocketFailed(ConnectionId, RequestFailure),
    /// A text frame arrived.
    Text(ConnectionId, &'a str),
    /// A binary frame arrived.
    Binary(ConnectionId, &'a [u8]),
    /// The socket closed.
    SocketClosed {
        /// Which socket.
        id: ConnectionId,
        /// The close code (1006 when the connection dropped).
        code: u16,
        /// The close reason.
        reason: &'a str,
    },
    /// The time given by [`Engine::next_wakeup`] has come (early or late calls are harmless).
    Timer,
    /// The coordinator granted this shard one Identify, to be sent before `expires_at`.
    IdentifyGranted {
        /// The grant's expiry (ms since epoch).
        expires_at: u64,
    },
    /// The coordinator refused an Identify for now: ask again at `until`.
    IdentifyDeferred {
        /// When to ask again (ms since epoch).
        until: u64,
        /// Whether the bot's daily session start budget is spent (until `until`).
        exhausted: bool,
    },
}

/// A dispatch to forward to the webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dispatch {
    /// The dispatch type, e.g. `MESSAGE_CREATE`.
    pub event_type: String,
    /// Its sequence number in the session.
    pub sequence: u64,
    /// The session it belongs to (with `sequence`, a stable identity across replays).
    pub session_id: String,
    /// The raw `d` JSON text, byte for byte as received.
    pub data: String,
}

/// Something the caller must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Fetch `GET /gateway/bot` with the configured token; report the result.
    FetchGatewayInfo,
    /// Open a WebSocket at `url`; report [`Input::SocketOpened`] or [`Input::SocketFailed`].
    OpenSocket {
        /// The new socket's id.
        id: ConnectionId,
        /// The full URL, query included.
        url: String,
    },
    /// Send a text frame.
    Send {
        /// On which socket.
        id: ConnectionId,
        /// The payload (never over [`MAX_SEND_BYTES`]).
        payload: String,
    },
    /// Close the socket; no [`Input::SocketClosed`] is needed for it afterwards.
    Close {
        /// Which socket.
        id: ConnectionId,
        /// The close code.
        code: u16,
        /// The close reason.
        reason: &'static str,
    },
    /// Forward a dispatch. Store it durably together with its sequence number.
    Forward(Dispatch),
    /// A dispatch that is not forwarded but matches the observed types
    /// ([`Engine::observe`]): for the caller's own bookkeeping.
    Observe(Dispatch),
    /// Store this snapshot; hand it to [`Engine::restore`] after a restart.
    Persist(SessionSnapshot),
    /// A gated shard ([`Engine::require_identify_grant`]) asks its coordinator for an Identify
    /// grant; report [`Input::IdentifyGranted`] or [`Input::IdentifyDeferred`].
    AskIdentify,
    /// A gated shard sent Identify with its grant: tell the coordinator (it redeems the grant).
    IdentifySent,
}

/// Why [`Engine::send_command`] refused a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendError {
    /// No session is ready to send on.
    NotConnected,
    /// The payload is not a gateway payload (a JSON object with a numeric `op`).
    Malformed(String),
    /// The payload is over Discord's limit.
    TooLarge {
        /// The payload size.
        size: usize,
    },
    /// The 120-per-minute budget (less the heartbeat reserve) is used up.
    RateLimited {
        /// When a slot frees up (ms since epoch).
        retry_at: u64,
    },
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotConnected => f.write_str("no gateway session is ready"),
            Self::Malformed(why) => write!(f, "not a gateway payload: {why}"),
            Self::TooLarge { size } => write!(
                f,
                "payload is {size} bytes; Discord accepts at most {MAX_SEND_BYTES}"
            ),
            Self::RateLimited { retry_at } => {
                write!(f, "gateway send limit reached; retry at {retry_at}")
            }
        }
    }
}

impl std::error::Error for SendError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_info_parses() {
        let info = GatewayInfo::from_json(
            r#"{"url":"wss://gateway.discord.gg","shards":1,"session_start_limit":{"total":1000,"remaining":999,"reset_after":14400000,"max_concurrency":1}}"#,
        )
        .unwrap();
        assert_eq!(info.session_start_limit.remaining, 999);
        assert!(GatewayInfo::from_json("{}").is_err());
    }
}
