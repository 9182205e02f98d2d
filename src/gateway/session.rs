//! What survives a restart: the session to resume, the Identify budget, and why we stopped.

use serde::{Deserialize, Serialize};

use super::close_code::StopReason;
use super::compression::TransportCompression;
use super::identify_budget::IdentifyBudget;

/// A resumable Discord session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// `session_id` from READY.
    pub id: String,
    /// `resume_gateway_url` from READY, without query.
    pub resume_url: String,
    /// The transport compression the session was opened with: a resume must use the same
    /// query. (`None` in snapshots written before it was recorded: the configured one.)
    #[serde(default)]
    pub compression: Option<TransportCompression>,
}

/// How and when the last connection closed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastClose {
    /// The WebSocket close code.
    pub code: u16,
    /// The reason Discord gave, or what the code means when it gave none.
    pub reason: String,
    /// When it closed (ms since epoch).
    pub at: u64,
}

/// The engine state a restarted Durable Object needs to pick up where it left off.
///
/// It holds no secret: the token lives in the configuration, which the caller stores apart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSnapshot {
    /// The session to resume, if any.
    pub session: Option<Session>,
    /// The last sequence number received in that session.
    pub sequence: Option<u64>,
    /// Why reconnecting stopped, if it did.
    pub stopped: Option<StopReason>,
    /// What is known of the Identify budget.
    pub identify_budget: IdentifyBudget,
    /// The last close.
    pub last_close: Option<LastClose>,
    /// The bot's presence (op 3's `d`), sent again in every Identify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<serde_json::Value>,
    /// Guilds in the session's READY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guilds: Option<u32>,
}
