//! The Durable Object's SQLite storage: settings, the session snapshot, and the outbox. The
//! tables are created and upgraded by [`super::migrate`] from [`crate::schema`].
//!
//! SQL calls are synchronous in a Durable Object, and the writes of one turn of the event loop
//! are committed together. The outbox has no secondary index and no `AUTOINCREMENT` on purpose:
//! a stored event costs one row written and a delivered one one row deleted, and the table is
//! almost always a handful of rows, so scanning it (rows read cost about a thousandth of rows
//! written) is cheaper than maintaining an index. A row id is the event's position in the log
//! (issue 10) and is never handed out twice, not even after the newest row left and the object
//! restarted: the newest position handed out is recorded inside the snapshot's `kv` value
//! (`logPosition`, no row of its own), and under the `logPosition` key before a delete the
//! snapshot did not cover (rare); a restart resumes after the newest of those and of the rows
//! (`subscriptions::log::resume_after`). Delivered rows are deleted in batches (see
//! `delivery::deletes`). Since schema version 3 the outbox is the event log: a row says which
//! subscriptions still hold it (`holders`; for now always the `default` one, `POST /connect`'s
//! webhook), and a subscription's delivery state of an event is a `deliveries` row only while it
//! is not plain (retried, dead, or replayed): an event delivered at the first attempt still
//! costs one row inserted and one deleted. Each outbox row carries its event's session and sequence number, so
//! storing the event also records how far the session got; the snapshot itself is written in
//! batches (see `Runtime`). The `channels` table is the enrichment directory's stored copy (see
//! `delivery::enrich`): a row per channel, written only when what is known of it changes.
//! Snowflakes are stored as text: SQL integers reach Wasm as JavaScript numbers, which cannot
//! hold them.

mod pull;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use worker::{SqlCursor, SqlStorage, SqlStorageValue};

use super::subscriptions::DEFAULT_ID;
use crate::api::{ConnectSettings, DeadLetter};
use crate::delivery::enrich::{ChannelChange, KnownChannel};
use crate::delivery::inserts::{insert_sql, COLUMNS, MAX_SQL_PARAMS, ROWS_PER_STATEMENT};
use crate::gateway::SessionSnapshot;
use crate::schema::DEFAULT_SUBSCRIPTION_ID;
use crate::subscriptions::log::{
    must_record, resume_after, sole_holder, HOLDS_SQL, WITHOUT_HOLDER_SQL,
};
use crate::subscriptions::{Fanout, SubscriptionId};

pub use pull::PullRow;

const SETTINGS_KEY: &str = "settings";
const SNAPSHOT_KEY: &str = "snapshot";
/// The newest log position handed out, when recorded apart from the snapshot.
const POSITION_KEY: &str = "logPosition";

/// The snapshot as stored: its fields and, beside them, the newest log position handed out when
/// it was written (costs no row: the snapshot is written anyway before events leave).
#[derive(Serialize)]
struct StoredSnapshot<'a> {
    #[serde(flatten)]
    snapshot: &'a SessionSnapshot,
    #[serde(rename = "logPosition")]
    log_position: i64,
}

/// The log position a stored snapshot recorded (none from builds before issue 10), or the one
/// recorded alone.
#[derive(Serialize, Deserialize)]
struct RecordedPosition {
    #[serde(rename = "logPosition", default)]
    log_position: Option<i64>,
}

/// One event waiting for delivery (to the `default` subscription).
#[derive(Clone, Debug, Deserialize)]
pub struct OutboxRow {
    /// Row id: the order of arrival.
    pub id: i64,
    /// The session the event came from.
    pub session_id: String,
    /// Its sequence number in that session.
    pub sequence: i64,
    /// The ordering lane.
    pub channel: String,
    /// The request body.
    pub body: String,
    /// When its delivery started (ms): its arrival, or when its dead letter was replayed.
    pub created_at: i64,
    /// Attempts made so far.
    pub attempts: i64,
    /// Whether its delivery has a `deliveries` row (retried, dead or replayed), to remove with it.
    #[serde(deserialize_with = "flag")]
    pub tracked: bool,
    /// The subscriptions holding it when it was stored or read (`"1,4"`): they only ever
    /// shrink, so a sole holder stays the sole holder.
    pub holders: String,
}

/// An SQL integer (`0` or not) read as a flag.
fn flag<'de, D: serde::Deserializer<'de>>(value: D) -> Result<bool, D::Error> {
    Ok(i64::deserialize(value)? != 0)
}

/// A subscription's delivery state beside each log row (`d`, NULL when plain); the
/// subscription is bound as the first `?`.
const WITH_DELIVERY: &str =
    "outbox o LEFT JOIN deliveries d ON d.subscription = ? AND d.position = o.id";

impl OutboxRow {
    /// `x-discord-gateway-event-id`: stable across retries and replays.
    pub fn event_id(&self) -> String {
        event_id(&self.session_id, self.sequence)
    }
}

/// The stable id of the event `sequence` of `session_id`.
pub fn event_id(session_id: &str, sequence: i64) -> String {
    format!("{session_id}:{sequence}")
}

/// A new event for the outbox.
#[derive(Clone, Copy)]
pub struct NewEvent<'a> {
    /// Its row id, from [`Store::allocate_id`].
    pub id: i64,
    /// The session it came from.
    pub session_id: &'a str,
    /// Its sequence number.
    pub sequence: u64,
    /// The ordering lane.
    pub channel: &'a str,
    /// The dispatch type.
    pub event_type: &'a str,
    /// The request body.
    pub body: &'a str,
    /// When it arrived (ms).
    pub now: u64,
    /// The subscriptions that hold it (`subscriptions::log::holders_text`).
    pub holders: &'a str,
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
struct MaxSequence {
    sequence: Option<i64>,
}

#[derive(Deserialize)]
struct Holders {
    holders: String,
}

/// A stored subscription, as read back.
#[derive(Clone, Debug, Deserialize)]
pub struct SubscriptionRow {
    /// Its id (the `holders` and `deliveries` name it).
    pub id: i64,
    /// Its name.
    pub name: String,
    /// `push` or `pull`.
    pub kind: String,
    /// Its definition (`subscriptions::StoredDefinition` as JSON).
    pub definition: String,
}

/// A subscription id as SQL needs it.
fn sql_id(subscription: SubscriptionId) -> i64 {
    i64::try_from(subscription).unwrap_or(i64::MAX)
}

/// A subscription id bound as an integer (`deliveries.subscription`).
fn sub_int(subscription: SubscriptionId) -> SqlStorageValue {
    sql_id(subscription).into()
}

/// A subscription id bound as text, for [`HOLDS_SQL`] and [`WITHOUT_HOLDER_SQL`].
fn sub_text(subscription: SubscriptionId) -> SqlStorageValue {
    subscription.to_string().into()
}

#[derive(Deserialize)]
struct Position {
    position: i64,
}

#[derive(Deserialize)]
struct DeadRow {
    id: i64,
    session_id: String,
    sequence: i64,
    event_type: String,
    channel: String,
    created_at: i64,
    attempts: i64,
    last_error: Option<String>,
}

/// Typed access to the object's SQLite database.
pub struct Store {
    sql: SqlStorage,
    schema_version: u32,
    rows_written: Cell<u64>,
    write_statements: Cell<u64>,
    /// [`Store::counts`]'s last answer and the [`Store::write_statements`] it was read at: the
    /// counts change only with a write, so `/status` asks SQLite again only after one.
    counts_read: Cell<Option<(u64, OutboxCounts)>>,
    /// The row id the next new event gets.
    next_id: Cell<i64>,
    /// The newest position recorded in `kv` (with the snapshot or alone): a restart resumes
    /// after it even if every row is gone.
    recorded_position: Cell<i64>,
    /// Every `kv` row, read in one statement when the object starts (issue 9, runtime start):
    /// the constructor's loaders take their values from it rather than a statement each.
    /// `None` from [`Store::started`] on; kept up to date by writes until then.
    start_kv: RefCell<Option<HashMap<String, String>>>,
}

fn int(value: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

/// `<column> IN (?, ?, ...)` filters for a list of row ids, as many as it takes to bind each
/// with at most [`MAX_SQL_PARAMS`] parameters beside `fixed_params` others; or `1 = 1` for all.
fn id_filters(
    column: &str,
    ids: Option<&[i64]>,
    fixed_params: usize,
) -> Vec<(String, Vec<SqlStorageValue>)> {
    match ids {
        None => vec![("1 = 1".to_owned(), Vec::new())],
        Some(ids) => ids
            .chunks(MAX_SQL_PARAMS - fixed_params)
            .map(|batch| {
                let marks = vec!["?"; batch.len()].join(", ");
                (
                    format!("{column} IN ({marks})"),
                    batch.iter().map(|id| (*id).into()).collect(),
                )
            })
            .collect(),
    }
}

/// Every row of the `kv` table, by key (read raw: no object to deserialise per row).
fn read_kv(sql: &SqlStorage) -> worker::Result<HashMap<String, String>> {
    let mut rows = HashMap::new();
    for row in sql.exec("SELECT key, value FROM kv", None)?.raw() {
        match row?.as_slice() {
            [SqlStorageValue::String(key), SqlStorageValue::String(value)] => {
                rows.insert(key.clone(), value.clone());
            }
            other => {
                return Err(worker::Error::RustError(format!(
                    "a kv row is not a key and a text value: {other:?}"
                )))
            }
        }
    }
    Ok(rows)
}

impl Store {
    /// Opens the database at `schema_version`, already migrated (see [`super::migrate`]); new
    /// events get row ids after the newest stored one and after the newest position recorded.
    pub fn open(sql: SqlStorage, schema_version: u32) -> worker::Result<Self> {
        // Read raw: one value, no object to deserialise. NULL (no rows) starts at 1.
        let newest = match sql
            .exec("SELECT MAX(id) FROM outbox", None)?
            .raw()
            .next()
            .transpose()?
            .as_deref()
        {
            Some([SqlStorageValue::Integer(id)]) => *id,
            None | Some([SqlStorageValue::Null]) => 0,
            Some(other) => {
                return Err(worker::Error::RustError(format!(
                    "the outbox's newest row id is not an integer: {other:?}"
                )))
            }
        };
        let start_kv = read_kv(&sql)?;
        let store = Self {
            sql,
            schema_version,
            rows_written: Cell::new(0),
            write_statements: Cell::new(0),
            counts_read: Cell::new(None),
            next_id: Cell::new(0),
            recorded_position: Cell::new(0),
            start_kv: RefCell::new(Some(start_kv)),
        };
        let recorded = [SNAPSHOT_KEY, POSITION_KEY]
            .into_iter()
            .map(|key| store.get::<RecordedPosition>(key))
            .collect::<worker::Result<Vec<_>>>()?
            .into_iter()
            .filter_map(|r| r?.log_position)
            .max()
            .unwrap_or(0);
        store.recorded_position.set(recorded);
        store
            .next_id
            .set(resume_after(Some(newest), [recorded]).saturating_add(1));
        Ok(store)
    }

    /// The newest position handed out so far.
    fn allocated_position(&self) -> i64 {
        self.next_id.get().saturating_sub(1)
    }

    /// Records the newest position handed out before rows up to `leaving` (all, if `None`) are
    /// deleted, unless a record already covers them (see [`must_record`]).
    fn keep_position_before_deleting(&self, leaving: Option<i64>) -> worker::Result<()> {
        let allocated = self.allocated_position();
        if must_record(self.recorded_position.get(), allocated, leaving) {
            self.put(
                POSITION_KEY,
                &RecordedPosition {
                    log_position: Some(allocated),
                },
            )?;
            self.recorded_position.set(allocated);
        }
        Ok(())
    }

    /// The schema version of the database, for `/status`.
    pub fn schema_version(&self) -> u32 {
        self.schema_version
    }

    /// Rows written by this instance (indexes included), for `/status`.
    pub fn rows_written(&self) -> u64 {
        self.rows_written.get()
    }

    /// Statements run by this instance that write (whether or not they touched a row), for
    /// `/status`.
    pub fn write_statements(&self) -> u64 {
        self.write_statements.get()
    }

    /// Counts a writing statement that ran and the rows it wrote.
    fn count_write(&self, cursor: &SqlCursor) {
        self.rows_written
            .set(self.rows_written.get() + cursor.rows_written() as u64);
        self.write_statements.set(self.write_statements.get() + 1);
    }

    fn write(&self, query: &str, params: Vec<SqlStorageValue>) -> worker::Result<usize> {
        let cursor = self.sql.exec(query, params)?;
        self.count_write(&cursor);
        Ok(cursor.rows_written())
    }

    /// The object has started: `kv` values are read from the table again, one statement each.
    pub fn started(&self) {
        self.start_kv.replace(None);
    }

    /// A JSON value of the `kv` table (while the object starts, from the rows read at open).
    pub(crate) fn get<T: DeserializeOwned>(&self, key: &str) -> worker::Result<Option<T>> {
        if let Some(rows) = self.start_kv.borrow().as_ref() {
            return match rows.get(key) {
                None => Ok(None),
                Some(value) => Ok(Some(serde_json::from_str(value)?)),
            };
        }
        let rows: Vec<Value> = self
            .sql
            .exec("SELECT value FROM kv WHERE key = ?", vec![key.into()])?
            .to_array()?;
        match rows.into_iter().next() {
            None => Ok(None),
            Some(row) => Ok(Some(serde_json::from_str(&row.value)?)),
        }
    }

    /// Stores a JSON value in the `kv` table.
    pub(crate) fn put<T: Serialize>(&self, key: &str, value: &T) -> worker::Result<()> {
        let value = serde_json::to_string(value)?;
        self.write(
            "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            vec![key.into(), value.as_str().into()],
        )?;
        if let Some(rows) = self.start_kv.borrow_mut().as_mut() {
            rows.insert(key.to_owned(), value);
        }
        Ok(())
    }

    /// Removes a value of the `kv` table.
    pub(crate) fn delete(&self, key: &str) -> worker::Result<()> {
        self.write("DELETE FROM kv WHERE key = ?", vec![key.into()])?;
        if let Some(rows) = self.start_kv.borrow_mut().as_mut() {
            rows.remove(key);
        }
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
        self.delete(SETTINGS_KEY)
    }

    /// The stored session snapshot, with the sequence advanced to the newest stored event of
    /// its session (events are stored before the snapshot catches up with them).
    pub fn snapshot(&self) -> worker::Result<Option<SessionSnapshot>> {
        let Some(mut snapshot) = self.get::<SessionSnapshot>(SNAPSHOT_KEY)? else {
            return Ok(None);
        };
        if let Some(session) = &snapshot.session {
            let newest: Vec<MaxSequence> = self
                .sql
                .exec(
                    "SELECT MAX(sequence) AS sequence FROM outbox WHERE session_id = ?",
                    vec![session.id.as_str().into()],
                )?
                .to_array()?;
            let newest = newest
                .first()
                .and_then(|m| m.sequence)
                .and_then(|s| u64::try_from(s).ok());
            snapshot.sequence = snapshot.sequence.max(newest);
        }
        Ok(Some(snapshot))
    }

    /// Stores the session snapshot, with the newest log position handed out beside it.
    pub fn save_snapshot(&self, snapshot: &SessionSnapshot) -> worker::Result<()> {
        let log_position = self.allocated_position();
        self.put(
            SNAPSHOT_KEY,
            &StoredSnapshot {
                snapshot,
                log_position,
            },
        )?;
        self.recorded_position
            .set(self.recorded_position.get().max(log_position));
        Ok(())
    }

    /// The row id for the next new event: ids only grow, so an id never precedes an older
    /// event's (the per-channel order) even before its row is stored.
    pub fn allocate_id(&self) -> i64 {
        let id = self.next_id.get();
        self.next_id.set(id.saturating_add(1));
        id
    }

    /// Stores new events (ids from [`Store::allocate_id`]), in order: one multi-row `INSERT`
    /// for each [`ROWS_PER_STATEMENT`] of them.
    pub fn insert_events(&self, events: &[NewEvent<'_>]) -> worker::Result<()> {
        for chunk in events.chunks(ROWS_PER_STATEMENT) {
            let mut params = Vec::with_capacity(chunk.len() * COLUMNS.len());
            for event in chunk {
                params.extend([
                    event.id.into(),
                    event.session_id.into(),
                    int(event.sequence),
                    event.channel.into(),
                    event.event_type.into(),
                    event.body.into(),
                    int(event.now),
                    event.holders.into(),
                ]);
            }
            self.write(&insert_sql(chunk.len()), params)?;
        }
        Ok(())
    }

    /// The lanes of every pending event of each push subscription in `push`, built from the
    /// outbox one row at a time: the rows are never all in memory at once (on either side of
    /// the Wasm boundary), only the lanes are.
    pub fn lanes(&self, push: &[SubscriptionId]) -> worker::Result<Fanout> {
        let mut fanout = Fanout::default();
        for subscription in push {
            self.load_lanes(*subscription, &mut fanout)?;
        }
        Ok(fanout)
    }

    /// One subscription's lanes into `fanout`.
    fn load_lanes(&self, subscription: SubscriptionId, fanout: &mut Fanout) -> worker::Result<()> {
        #[derive(Deserialize)]
        struct LaneRow {
            channel: String,
            id: i64,
            next_attempt_at: i64,
        }
        let cursor = self.sql.exec(
            &format!(
                "SELECT o.channel AS channel, o.id AS id,
                        COALESCE(d.next_attempt_at, o.created_at) AS next_attempt_at
                 FROM {WITH_DELIVERY} WHERE COALESCE(d.dead, 0) = 0 AND {HOLDS_SQL}
                 ORDER BY o.id"
            ),
            vec![sub_int(subscription), sub_text(subscription)],
        )?;
        for row in cursor.next::<LaneRow>() {
            let row = row?;
            fanout.push(
                subscription,
                &row.channel,
                row.id,
                u64::try_from(row.next_attempt_at).unwrap_or(0),
            );
        }
        Ok(())
    }

    /// One pending event by id, with `subscription`'s delivery state of it.
    pub fn row(&self, subscription: SubscriptionId, id: i64) -> worker::Result<Option<OutboxRow>> {
        let rows: Vec<OutboxRow> = self
            .sql
            .exec(
                &format!(
                    "SELECT o.id AS id, o.session_id AS session_id, o.sequence AS sequence,
                            o.channel AS channel, o.body AS body,
                            COALESCE(d.since, o.created_at) AS created_at,
                            COALESCE(d.attempts, 0) AS attempts,
                            d.position IS NOT NULL AS tracked, o.holders AS holders
                     FROM {WITH_DELIVERY} WHERE o.id = ?"
                ),
                vec![sub_int(subscription), id.into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().next())
    }

    /// Removes delivered events: one statement for each [`MAX_SQL_PARAMS`] of them. (The
    /// delivery state of those that had one is gone already: [`Store::forget_delivery`].)
    pub fn delete_delivered(&self, ids: &[i64]) -> worker::Result<()> {
        self.keep_position_before_deleting(ids.iter().copied().max())?;
        for (filter, params) in id_filters("id", Some(ids), 0) {
            self.write(&format!("DELETE FROM outbox WHERE {filter}"), params)?;
        }
        Ok(())
    }

    /// Removes `subscription`'s delivery state of the event at `position` (it was delivered).
    pub fn forget_delivery(
        &self,
        subscription: SubscriptionId,
        position: i64,
    ) -> worker::Result<()> {
        self.write(
            "DELETE FROM deliveries WHERE subscription = ? AND position = ?",
            vec![sub_int(subscription), position.into()],
        )?;
        Ok(())
    }

    /// Records a failed attempt at the event at `position`, whose delivery started at `since`,
    /// and when to try again.
    pub fn retry_at(
        &self,
        subscription: SubscriptionId,
        position: i64,
        since: i64,
        attempts: i64,
        at: u64,
        error: &str,
    ) -> worker::Result<()> {
        self.write(
            "INSERT INTO deliveries (subscription, position, attempts, next_attempt_at, since, last_error)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (subscription, position) DO UPDATE SET attempts = excluded.attempts,
                next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error",
            vec![
                sub_int(subscription),
                position.into(),
                attempts.into(),
                int(at),
                since.into(),
                error.into(),
            ],
        )?;
        Ok(())
    }

    /// Gives up on the event at `position`: it stays as a dead letter; beyond `keep` dead
    /// letters, the oldest are removed. Returns how many were removed that way.
    pub fn dead_letter(
        &self,
        subscription: SubscriptionId,
        position: i64,
        since: i64,
        attempts: i64,
        error: &str,
        keep: u64,
    ) -> worker::Result<usize> {
        self.write(
            "INSERT INTO deliveries (subscription, position, attempts, next_attempt_at, since, last_error, dead)
             VALUES (?, ?, ?, 0, ?, ?, 1)
             ON CONFLICT (subscription, position) DO UPDATE SET attempts = excluded.attempts,
                last_error = excluded.last_error, dead = 1",
            vec![
                sub_int(subscription),
                position.into(),
                attempts.into(),
                since.into(),
                error.into(),
            ],
        )?;
        let beyond = self.positions_leaving(
            "DELETE FROM deliveries WHERE subscription = ? AND dead = 1 AND position NOT IN
               (SELECT position FROM deliveries WHERE subscription = ? AND dead = 1
                ORDER BY position DESC LIMIT ?) RETURNING position",
            vec![sub_int(subscription), sub_int(subscription), int(keep)],
        )?;
        self.release_holds(sql_id(subscription), Some(&beyond), |_| {})?;
        Ok(beyond.len())
    }

    /// Runs a statement ending in `RETURNING position` and returns the positions.
    fn positions_leaving(
        &self,
        query: &str,
        params: Vec<SqlStorageValue>,
    ) -> worker::Result<Vec<i64>> {
        let cursor = self.sql.exec(query, params)?;
        // Counted even when reading the answer fails: the statement has written.
        let positions = cursor.to_array::<Position>();
        self.count_write(&cursor);
        Ok(positions?.into_iter().map(|p| p.position).collect())
    }

    /// `subscription` is done with the events at `positions` (all it holds, if `None`): its id
    /// leaves their `holders`, its `deliveries` rows go, and the events no subscription holds
    /// any more leave the log, after `before_leaving` with the newest sequence among them.
    /// One turn, so one transaction. Returns how many events it released.
    pub fn release_holds(
        &self,
        subscription: i64,
        positions: Option<&[i64]>,
        before_leaving: impl FnOnce(u64),
    ) -> worker::Result<usize> {
        #[derive(Deserialize)]
        struct Released {
            id: i64,
            sequence: i64,
            holders: String,
        }
        if positions.is_some_and(<[i64]>::is_empty) {
            return Ok(0);
        }
        let holder = subscription.to_string();
        let mut released = 0;
        let mut emptied = Vec::new();
        let mut newest_sequence = 0;
        for (filter, mut params) in id_filters("id", positions, 2) {
            let mut all = vec![holder.as_str().into(), holder.as_str().into()];
            all.append(&mut params);
            let cursor = self.sql.exec(
                &format!(
                    "UPDATE outbox SET holders = {WITHOUT_HOLDER_SQL}
                     WHERE {HOLDS_SQL} AND {filter} RETURNING id, sequence, holders"
                ),
                all,
            )?;
            // Counted even when reading the answer fails: the statement has written.
            let rows = cursor.to_array::<Released>();
            self.count_write(&cursor);
            let rows = rows?;
            released += rows.len();
            for row in rows.into_iter().filter(|r| r.holders.is_empty()) {
                newest_sequence = newest_sequence.max(row.sequence);
                emptied.push(row.id);
            }
        }
        for (filter, mut params) in id_filters("position", positions, 1) {
            let mut all = vec![subscription.into()];
            all.append(&mut params);
            self.write(
                &format!("DELETE FROM deliveries WHERE subscription = ? AND {filter}"),
                all,
            )?;
        }
        if !emptied.is_empty() {
            before_leaving(u64::try_from(newest_sequence).unwrap_or(0));
            self.keep_position_before_deleting(emptied.iter().copied().max())?;
            for (filter, params) in id_filters("id", Some(&emptied), 0) {
                self.write(&format!("DELETE FROM outbox WHERE {filter}"), params)?;
            }
        }
        Ok(released)
    }

    /// `subscription` delivered the event at `position`, which it held with others when read
    /// (`holders`): if it is the last holder now, `true` (the caller deletes the row, batched);
    /// else its id leaves `holders` (one row). Its `deliveries` row, if any, is the caller's.
    pub fn release_one(
        &self,
        subscription: i64,
        position: i64,
        holders: &str,
    ) -> worker::Result<bool> {
        let subscription_id = u64::try_from(subscription).unwrap_or(0);
        if sole_holder(holders, subscription_id) {
            return Ok(true);
        }
        // Others may have released it since it was read: reading is cheap, a write is not.
        let rows: Vec<Holders> = self
            .sql
            .exec(
                "SELECT holders FROM outbox WHERE id = ?",
                vec![position.into()],
            )?
            .to_array()?;
        match rows.first() {
            None => Ok(false),
            Some(row) if sole_holder(&row.holders, subscription_id) => Ok(true),
            Some(_) => {
                let holder = subscription.to_string();
                self.write(
                    &format!("UPDATE outbox SET holders = {WITHOUT_HOLDER_SQL} WHERE id = ?"),
                    vec![holder.into(), position.into()],
                )?;
                Ok(false)
            }
        }
    }

    /// Every stored subscription but `default` (whose target is the connect settings).
    pub fn subscription_rows(&self) -> worker::Result<Vec<SubscriptionRow>> {
        self.sql
            .exec(
                "SELECT id, name, kind, definition FROM subscriptions WHERE id != ? ORDER BY id",
                vec![DEFAULT_SUBSCRIPTION_ID.into()],
            )?
            .to_array()
    }

    /// Stores a new subscription; its id.
    pub fn insert_subscription(
        &self,
        name: &str,
        kind: &str,
        definition: &str,
        token_hash: Option<&str>,
        now: u64,
    ) -> worker::Result<i64> {
        #[derive(Deserialize)]
        struct Id {
            id: i64,
        }
        let cursor = self.sql.exec(
            "INSERT INTO subscriptions (name, kind, definition, token_hash, created_at)
             VALUES (?, ?, ?, ?, ?) RETURNING id",
            vec![
                name.into(),
                kind.into(),
                definition.into(),
                token_hash.map_or(SqlStorageValue::Null, Into::into),
                int(now),
            ],
        )?;
        // Counted even when reading the answer fails: the statement has written.
        let ids = cursor.to_array::<Id>();
        self.count_write(&cursor);
        let ids = ids?;
        ids.first()
            .map(|row| row.id)
            .ok_or_else(|| worker::Error::RustError("INSERT returned no id".into()))
    }

    /// Replaces a subscription's stored definition.
    pub fn update_subscription(&self, id: i64, definition: &str) -> worker::Result<()> {
        self.write(
            "UPDATE subscriptions SET definition = ? WHERE id = ?",
            vec![definition.into(), id.into()],
        )?;
        Ok(())
    }

    /// Deletes a subscription's row (release its holds first: [`Store::release_holds`]).
    pub fn delete_subscription(&self, id: i64) -> worker::Result<()> {
        self.write("DELETE FROM subscriptions WHERE id = ?", vec![id.into()])?;
        Ok(())
    }

    /// The stored `holders` of every event, for per-subscription counts.
    pub fn all_holders(&self) -> worker::Result<Vec<String>> {
        let rows: Vec<Holders> = self
            .sql
            .exec("SELECT holders FROM outbox", None)?
            .to_array()?;
        Ok(rows.into_iter().map(|r| r.holders).collect())
    }

    /// Dead letters per subscription, as `(subscription, count)`.
    pub fn dead_letter_counts(&self) -> worker::Result<Vec<(i64, i64)>> {
        #[derive(Deserialize)]
        struct Count {
            subscription: i64,
            dead: i64,
        }
        let rows: Vec<Count> = self
            .sql
            .exec(
                "SELECT subscription, COUNT(*) AS dead FROM deliveries WHERE dead = 1 GROUP BY subscription",
                None,
            )?
            .to_array()?;
        Ok(rows.into_iter().map(|c| (c.subscription, c.dead)).collect())
    }

    /// `subscription`'s dead letters, oldest first.
    pub fn dead_letters(
        &self,
        subscription: SubscriptionId,
        limit: u64,
    ) -> worker::Result<Vec<DeadLetter>> {
        let rows: Vec<DeadRow> = self
            .sql
            .exec(
                "SELECT o.id AS id, o.session_id AS session_id, o.sequence AS sequence,
                        o.event_type AS event_type, o.channel AS channel, d.since AS created_at,
                        d.attempts AS attempts, d.last_error AS last_error
                 FROM deliveries d JOIN outbox o ON o.id = d.position
                 WHERE d.subscription = ? AND d.dead = 1 ORDER BY d.position LIMIT ?",
                vec![sub_int(subscription), int(limit)],
            )?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|row| DeadLetter {
                id: row.id.into(),
                event_id: event_id(&row.session_id, row.sequence),
                event_type: row.event_type,
                channel_id: row.channel,
                created_at: u64::try_from(row.created_at).unwrap_or(0),
                attempts: u64::try_from(row.attempts).unwrap_or(0),
                last_error: row.last_error.unwrap_or_default(),
            })
            .collect())
    }

    /// Puts `subscription`'s dead letters (all, or those with the given row ids) back in
    /// line, as new.
    pub fn replay_dead_letters(
        &self,
        subscription: SubscriptionId,
        ids: Option<&[i64]>,
        now: u64,
    ) -> worker::Result<usize> {
        let mut affected = 0;
        for (filter, mut params) in id_filters("position", ids, 3) {
            let mut all = vec![int(now), int(now), sub_int(subscription)];
            all.append(&mut params);
            affected += self
                .positions_leaving(
                    &format!(
                        "UPDATE deliveries SET dead = 0, attempts = 0, since = ?, next_attempt_at = ?, last_error = NULL
                         WHERE subscription = ? AND dead = 1 AND {filter} RETURNING position"
                    ),
                    all,
                )?
                .len();
        }
        Ok(affected)
    }

    /// Deletes `subscription`'s dead letters (all, or those with the given row ids): it
    /// releases them.
    pub fn drop_dead_letters(
        &self,
        subscription: SubscriptionId,
        ids: Option<&[i64]>,
    ) -> worker::Result<usize> {
        self.keep_position_before_deleting(ids.map(|ids| ids.iter().copied().max().unwrap_or(0)))?;
        let mut affected = 0;
        for (filter, mut params) in id_filters("position", ids, 1) {
            let mut all = vec![sub_int(subscription)];
            all.append(&mut params);
            let dropped = self.positions_leaving(
                &format!(
                    "DELETE FROM deliveries WHERE subscription = ? AND dead = 1 AND {filter} RETURNING position"
                ),
                all,
            )?;
            self.release_holds(sql_id(subscription), Some(&dropped), |_| {})?;
            affected += dropped.len();
        }
        Ok(affected)
    }

    /// The enrichment directory's stored channels.
    pub fn channels(&self) -> worker::Result<Vec<KnownChannel>> {
        #[derive(Deserialize)]
        struct ChannelRow {
            id: String,
            kind: i64,
            parent_id: Option<String>,
        }
        let rows: Vec<ChannelRow> = self
            .sql
            .exec("SELECT id, kind, parent_id FROM channels", None)?
            .to_array()?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                Some(KnownChannel {
                    id: row.id.parse().ok()?,
                    kind: u8::try_from(row.kind).ok()?,
                    parent_id: row.parent_id.and_then(|p| p.parse().ok()),
                })
            })
            .collect())
    }

    /// Makes the stored channels follow the directory's changes.
    pub fn apply_channel_changes(&self, changes: &[ChannelChange]) -> worker::Result<()> {
        for change in changes {
            match *change {
                ChannelChange::Learned(channel) => self.write(
                    "INSERT INTO channels (id, kind, parent_id) VALUES (?, ?, ?)
                     ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, parent_id = excluded.parent_id",
                    vec![
                        channel.id.to_string().into(),
                        i64::from(channel.kind).into(),
                        channel
                            .parent_id
                            .map_or(SqlStorageValue::Null, |p| p.to_string().into()),
                    ],
                )?,
                ChannelChange::Forgotten(id) => {
                    self.write("DELETE FROM channels WHERE id = ?", vec![id.to_string().into()])?
                }
            };
        }
        Ok(())
    }

    /// Pending and dead counts, and the oldest pending arrival: read from SQLite once after
    /// each write (every writing statement goes through [`Store::count_write`]), else the
    /// answer of the last read.
    pub fn counts(&self) -> worker::Result<OutboxCounts> {
        let writes = self.write_statements.get();
        if let Some((at, counts)) = self.counts_read.get() {
            if at == writes {
                return Ok(counts);
            }
        }
        let counts = self.read_counts()?;
        self.counts_read.set(Some((writes, counts)));
        Ok(counts)
    }

    /// [`Store::counts`] from SQLite.
    fn read_counts(&self) -> worker::Result<OutboxCounts> {
        let rows: Vec<OutboxCounts> = self
            .sql
            .exec(
                &format!(
                    "SELECT COALESCE(SUM(COALESCE(d.dead, 0) = 0), 0) AS pending,
                            COALESCE(SUM(d.dead = 1), 0) AS dead,
                            MIN(CASE WHEN COALESCE(d.dead, 0) = 0
                                THEN COALESCE(d.since, o.created_at) END) AS oldest
                     FROM {WITH_DELIVERY} WHERE {HOLDS_SQL}"
                ),
                vec![sub_int(DEFAULT_ID), sub_text(DEFAULT_ID)],
            )?
            .to_array()?;
        Ok(rows.into_iter().next().unwrap_or_default())
    }
}
