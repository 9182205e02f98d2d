//! The Durable Object's SQLite storage: settings, the session snapshot, and the outbox.
//!
//! SQL calls are synchronous in a Durable Object, and the writes of one turn of the event loop
//! are committed together, so an outbox insert and the snapshot written in the same turn are
//! one atomic step.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use worker::{SqlStorage, SqlStorageValue};

use crate::api::ConnectSettings;
use crate::gateway::SessionSnapshot;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    dead INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (dead, channel, id);
";

const SETTINGS_KEY: &str = "settings";
const SNAPSHOT_KEY: &str = "snapshot";

/// One event waiting for delivery.
#[derive(Clone, Debug, Deserialize)]
pub struct OutboxRow {
    /// Row id: the order of arrival.
    pub id: i64,
    /// `x-discord-gateway-event-id`.
    pub event_id: String,
    /// The ordering lane.
    pub channel: String,
    /// The request body.
    pub body: String,
    /// When it arrived (ms).
    pub created_at: i64,
    /// Attempts made so far.
    pub attempts: i64,
}

/// A new event for the outbox.
pub struct NewEvent<'a> {
    /// `x-discord-gateway-event-id`.
    pub event_id: &'a str,
    /// The ordering lane.
    pub channel: &'a str,
    /// The dispatch type.
    pub event_type: &'a str,
    /// The request body.
    pub body: &'a str,
    /// When it arrived (ms).
    pub now: u64,
}

/// Counts for `/status`.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct OutboxCounts {
    /// Pending events.
    pub pending: i64,
    /// Dead letters.
    pub dead: i64,
    /// Arrival of the oldest pending event.
    pub oldest: Option<i64>,
}

#[derive(Deserialize)]
struct Value {
    value: String,
}

#[derive(Deserialize)]
struct NextDue {
    channel: String,
    next_attempt_at: i64,
}

/// Typed access to the object's SQLite database.
pub struct Store {
    sql: SqlStorage,
}

fn int(value: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

impl Store {
    /// Opens the database, creating the tables on first use.
    pub fn open(sql: SqlStorage) -> worker::Result<Self> {
        sql.exec(SCHEMA, None)?;
        Ok(Self { sql })
    }

    fn get<T: DeserializeOwned>(&self, key: &str) -> worker::Result<Option<T>> {
        let rows: Vec<Value> = self
            .sql
            .exec("SELECT value FROM kv WHERE key = ?", vec![key.into()])?
            .to_array()?;
        match rows.into_iter().next() {
            None => Ok(None),
            Some(row) => Ok(Some(serde_json::from_str(&row.value)?)),
        }
    }

    fn put<T: Serialize>(&self, key: &str, value: &T) -> worker::Result<()> {
        let value = serde_json::to_string(value)?;
        self.sql.exec(
            "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            vec![key.into(), value.into()],
        )?;
        Ok(())
    }

    /// The stored connect settings (credentials included).
    pub fn settings(&self) -> worker::Result<Option<ConnectSettings>> {
        self.get(SETTINGS_KEY)
    }

    /// Stores connect settings.
    pub fn save_settings(&self, settings: &ConnectSettings) -> worker::Result<()> {
        self.put(SETTINGS_KEY, settings)
    }

    /// Forgets the connect settings.
    pub fn clear_settings(&self) -> worker::Result<()> {
        self.sql.exec("DELETE FROM kv WHERE key = ?", vec![SETTINGS_KEY.into()])?;
        Ok(())
    }

    /// The stored session snapshot.
    pub fn snapshot(&self) -> worker::Result<Option<SessionSnapshot>> {
        self.get(SNAPSHOT_KEY)
    }

    /// Stores the session snapshot.
    pub fn save_snapshot(&self, snapshot: &SessionSnapshot) -> worker::Result<()> {
        self.put(SNAPSHOT_KEY, snapshot)
    }

    /// Adds an event; an event id already present is ignored (a replay).
    pub fn enqueue(&self, event: NewEvent<'_>) -> worker::Result<()> {
        self.sql.exec(
            "INSERT INTO outbox (event_id, channel, event_type, body, created_at, next_attempt_at)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
            vec![
                event.event_id.into(),
                event.channel.into(),
                event.event_type.into(),
                event.body.into(),
                int(event.now),
                int(event.now),
            ],
        )?;
        Ok(())
    }

    /// The oldest pending event of each channel not in `busy`, due at `now`, oldest first.
    pub fn due(&self, now: u64, busy: &[String], limit: usize) -> worker::Result<Vec<OutboxRow>> {
        let heads: Vec<OutboxRow> = self
            .sql
            .exec(
                "SELECT o.id, o.event_id, o.channel, o.body, o.created_at, o.attempts
                 FROM outbox o
                 JOIN (SELECT channel, MIN(id) AS id FROM outbox WHERE dead = 0 GROUP BY channel) h
                   ON o.id = h.id
                 WHERE o.next_attempt_at <= ?
                 ORDER BY o.id",
                vec![int(now)],
            )?
            .to_array()?;
        Ok(heads
            .into_iter()
            .filter(|row| !busy.contains(&row.channel))
            .take(limit)
            .collect())
    }

    /// When the next retry of a channel not in `busy` is due.
    pub fn next_due(&self, busy: &[String]) -> worker::Result<Option<u64>> {
        let heads: Vec<NextDue> = self
            .sql
            .exec(
                "SELECT o.channel, o.next_attempt_at
                 FROM outbox o
                 JOIN (SELECT channel, MIN(id) AS id FROM outbox WHERE dead = 0 GROUP BY channel) h
                   ON o.id = h.id",
                None,
            )?
            .to_array()?;
        Ok(heads
            .into_iter()
            .filter(|head| !busy.contains(&head.channel))
            .map(|head| u64::try_from(head.next_attempt_at).unwrap_or(0))
            .min())
    }

    /// Removes a delivered event.
    pub fn delivered(&self, id: i64) -> worker::Result<()> {
        self.sql.exec("DELETE FROM outbox WHERE id = ?", vec![id.into()])?;
        Ok(())
    }

    /// Records a failed attempt and when to try again.
    pub fn retry_at(&self, id: i64, attempts: i64, at: u64, error: &str) -> worker::Result<()> {
        self.sql.exec(
            "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
            vec![attempts.into(), int(at), error.into(), id.into()],
        )?;
        Ok(())
    }

    /// Gives up on an event: it stays as a dead letter.
    pub fn dead_letter(&self, id: i64, attempts: i64, error: &str) -> worker::Result<()> {
        self.sql.exec(
            "UPDATE outbox SET dead = 1, attempts = ?, last_error = ? WHERE id = ?",
            vec![attempts.into(), error.into(), id.into()],
        )?;
        Ok(())
    }

    /// Pending and dead counts, and the oldest pending arrival.
    pub fn counts(&self) -> worker::Result<OutboxCounts> {
        let rows: Vec<OutboxCounts> = self
            .sql
            .exec(
                "SELECT COALESCE(SUM(dead = 0), 0) AS pending, COALESCE(SUM(dead = 1), 0) AS dead,
                        MIN(CASE WHEN dead = 0 THEN created_at END) AS oldest
                 FROM outbox",
                None,
            )?
            .to_array()?;
        Ok(rows.into_iter().next().unwrap_or_default())
    }
}
