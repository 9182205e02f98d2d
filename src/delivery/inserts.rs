//! New events stored together (issue 9, inserts coalesced per turn).
//!
//! In a burst the socket hands the object many frames back to back. Each event's outbox row is
//! not inserted on its own: the event waits in a batch, and the batch is stored by one
//! multi-row `INSERT` per [`ROWS_PER_STATEMENT`] events when the turn ends (a zero-delay timer
//! the first event starts), when the batch is full, or before anything writes the session
//! snapshot or reads the outbox. An event that arrives alone (nothing else arrived in the last
//! [`QUIET_MS`]: the steady trickle of a quiet bot, one event per turn) is stored at once, in
//! the turn that received it: a timer and a turn of its own would batch nothing. Until its row is stored an event is not delivered, and the
//! snapshot never moves past it (the snapshot write stores the batch first): a crash before the
//! flush loses nothing, the session resumes from the last stored event and Discord sends the
//! rest again.
//!
//! Sans-IO: this only decides, and writes the statement's text; the runtime runs it.

use super::deletes::Next;

/// Parameters one statement may bind: SQLite in a Durable Object allows at most 100.
pub const MAX_SQL_PARAMS: usize = 100;

/// The outbox columns an insert sets, in the order each row binds them.
pub const COLUMNS: [&str; 8] = [
    "id",
    "session_id",
    "sequence",
    "channel",
    "event_type",
    "body",
    "created_at",
    "holders",
];

/// Rows one `INSERT` stores: as many as fit in [`MAX_SQL_PARAMS`] parameters.
pub const ROWS_PER_STATEMENT: usize = MAX_SQL_PARAMS / COLUMNS.len();

/// Events that may wait for their flush at most; one more is stored with them at once.
pub const MAX_WAITING: usize = 8 * ROWS_PER_STATEMENT;

/// An event with no other arrival in this many milliseconds before it is stored at once
/// (issue 9, steady path): frames of a burst come back to back, well inside it; a steady
/// 50 events/s is 20 ms apart.
pub const QUIET_MS: u64 = 10;

/// Events received and not stored yet, in order of arrival.
#[derive(Debug)]
pub struct InsertBatch<T> {
    waiting: Vec<T>,
    /// When the last event arrived (ms since the epoch).
    last_arrival: Option<u64>,
}

impl<T> Default for InsertBatch<T> {
    fn default() -> Self {
        Self {
            waiting: Vec::new(),
            last_arrival: None,
        }
    }
}

impl<T> InsertBatch<T> {
    /// Adds an event arrived at `now`; says what the caller must do next: store the batch now
    /// when it is full or when the event came alone ([`QUIET_MS`]), else start a zero-delay
    /// flush timer with the first event of a batch.
    pub fn push(&mut self, event: T, now: u64) -> Next {
        let first = self.waiting.is_empty();
        let alone = self
            .last_arrival
            .is_none_or(|at| now.saturating_sub(at) >= QUIET_MS);
        self.last_arrival = Some(now);
        self.waiting.push(event);
        if self.waiting.len() >= MAX_WAITING || (first && alone) {
            Next::FlushNow
        } else if first {
            Next::ScheduleFlush
        } else {
            Next::Wait
        }
    }

    /// Takes the waiting events, oldest first, leaving the batch empty.
    pub fn take(&mut self) -> Vec<T> {
        std::mem::take(&mut self.waiting)
    }

    /// How many events wait.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether no event waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The waiting events, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.waiting.iter()
    }
}

/// The `INSERT` storing `rows` events (1 to [`ROWS_PER_STATEMENT`]), each binding [`COLUMNS`]
/// in order.
pub fn insert_sql(rows: usize) -> String {
    let row = format!("({})", vec!["?"; COLUMNS.len()].join(", "));
    format!(
        "INSERT INTO outbox ({}) VALUES {}",
        COLUMNS.join(", "),
        vec![row.as_str(); rows].join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_9_inserts_coalesced_first_event_schedules_a_flush_later_ones_wait() {
        let mut batch = InsertBatch::default();
        assert_eq!(
            batch.push("a", 1_000),
            Next::FlushNow,
            "alone: stored at once"
        );
        assert_eq!(batch.take(), vec!["a"]);
        assert_eq!(
            batch.push("b", 1_000),
            Next::ScheduleFlush,
            "a burst: batched"
        );
        assert_eq!(batch.push("c", 1_001), Next::Wait);
        assert_eq!(batch.push("d", 1_002), Next::Wait);
        assert_eq!(batch.take(), vec!["b", "c", "d"], "in order of arrival");
        assert!(batch.is_empty());
        assert_eq!(
            batch.push("e", 1_003),
            Next::ScheduleFlush,
            "a batch emptied by any flush asks for a new one with its next event"
        );
    }

    #[test]
    fn issue_9_steady_an_event_that_arrives_alone_is_stored_in_its_own_turn() {
        // 50 events/s: each event 20 ms after the last, each stored at once (no timer, no
        // turn of its own); the first of a burst after them too, the rest batched.
        let mut batch = InsertBatch::default();
        for i in 0..5u64 {
            assert_eq!(batch.push(i, 1_000 + 20 * i), Next::FlushNow, "event {i}");
            assert_eq!(batch.take(), vec![i]);
        }
        assert_eq!(batch.push(10, 1_080 + QUIET_MS - 1), Next::ScheduleFlush);
        batch.take();
        assert_eq!(batch.push(11, 1_200), Next::FlushNow);
        assert_eq!(
            batch.push(12, 1_200),
            Next::Wait,
            "not the first of its batch"
        );
        assert_eq!(batch.take(), vec![11, 12]);
    }

    #[test]
    fn issue_9_inserts_coalesced_a_full_batch_is_stored_now() {
        let mut batch = InsertBatch::default();
        // An arrival just before: the events below are a burst, not alone.
        batch.push(usize::MAX, 999);
        batch.take();
        for i in 0..MAX_WAITING - 1 {
            assert_ne!(batch.push(i, 1_000), Next::FlushNow);
        }
        assert_eq!(batch.len(), MAX_WAITING - 1);
        assert_eq!(batch.push(MAX_WAITING, 1_000), Next::FlushNow);
        assert_eq!(batch.take().len(), MAX_WAITING);
    }

    #[test]
    fn issue_9_inserts_coalesced_a_statement_binds_at_most_100_parameters() {
        for rows in 1..=ROWS_PER_STATEMENT {
            let sql = insert_sql(rows);
            assert_eq!(sql.matches('?').count(), rows * COLUMNS.len());
            assert!(sql.matches('?').count() <= MAX_SQL_PARAMS, "{rows} rows");
        }
        assert!(
            (ROWS_PER_STATEMENT + 1) * COLUMNS.len() > MAX_SQL_PARAMS,
            "a statement holds as many rows as fit"
        );
        assert_eq!(
            insert_sql(2),
            "INSERT INTO outbox (id, session_id, sequence, channel, event_type, body, created_at, holders) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?)"
        );
    }
}
