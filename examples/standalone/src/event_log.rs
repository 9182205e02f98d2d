//! `EventLog`: a tiny SQLite-backed Durable Object that keeps the deliveries `/webhook`
//! accepted, so that they can be read back (`GET /events`) from any isolate. Deduplicates by
//! the signed `webhook-id` (the event id), as a real receiver should: a retried delivery is
//! recorded once.

use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage, State,
};

/// Path of the internal route that records one event.
pub const RECORD_PATH: &str = "/record";
/// Path of the internal route that lists the events.
pub const LIST_PATH: &str = "/events";
/// Events kept at most (the oldest go first).
const MAX_EVENTS: i64 = 1_000;

/// One accepted delivery, as recorded and as listed.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedEvent {
    /// `webhook-id` (`session_id:seq`, the same as `x-discord-gateway-event-id`).
    pub event_id: String,
    /// The envelope's `type`, e.g. `GATEWAY_MESSAGE_CREATE`.
    pub event_type: String,
    /// `webhook-timestamp` of the delivery (seconds).
    pub signed_at: String,
    /// `webhook-signature` of the delivery (verified before recording).
    pub signature: String,
    /// The raw request body, byte for byte (UTF-8).
    pub body: String,
}

/// `GET /events`: oldest first.
#[derive(Debug, Serialize)]
pub struct EventList {
    /// The recorded events.
    pub events: Vec<RecordedEvent>,
}

/// The Durable Object that stores the received events. Use the single instance named `"log"`.
#[durable_object]
pub struct EventLog {
    sql: SqlStorage,
}

impl DurableObject for EventLog {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        if let Err(e) = sql.exec(
            "CREATE TABLE IF NOT EXISTS events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                event_id TEXT NOT NULL UNIQUE,
                event_type TEXT NOT NULL,
                signed_at TEXT NOT NULL,
                signature TEXT NOT NULL,
                body TEXT NOT NULL
            )",
            None,
        ) {
            worker::console_error!("event log: could not create its table: {e}");
        }
        Self { sql }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match (req.method(), req.path().as_str()) {
            (Method::Post, RECORD_PATH) => {
                let event: RecordedEvent = req.json().await?;
                let cursor = self.sql.exec(
                    "INSERT OR IGNORE INTO events (event_id, event_type, signed_at, signature, body)
                     VALUES (?, ?, ?, ?, ?)",
                    vec![
                        event.event_id.into(),
                        event.event_type.into(),
                        event.signed_at.into(),
                        event.signature.into(),
                        event.body.into(),
                    ],
                )?;
                let recorded = cursor.rows_written() > 0;
                self.sql.exec(
                    "DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?",
                    vec![MAX_EVENTS.into()],
                )?;
                Response::from_json(&serde_json::json!({ "recorded": recorded }))
            }
            (Method::Get, LIST_PATH) => {
                let events: Vec<RecordedEvent> = self
                    .sql
                    .exec(
                        "SELECT event_id AS eventId, event_type AS eventType, signed_at AS signedAt,
                                signature, body
                         FROM events ORDER BY id",
                        None,
                    )?
                    .to_array()?;
                Response::from_json(&EventList { events })
            }
            _ => Response::error("not found", 404),
        }
    }
}
