//! New events stored together (issue 9, inserts coalesced per turn).
//!
//! In a burst the socket hands the object many frames back to back. Each event's outbox row is
//! not inserted on its own: the event waits in a batch, and the batch is stored by one
//! multi-row `INSERT` per [`ROWS_PER_STATEMENT`] events when the turn ends (a zero-delay timer
//! the first event starts), when the batch is full, or before anything writes the session
//! snapshot or reads the outbox. Until its row is stored an event is not delivered, and the
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

/// Events received and not stored yet, in order of arrival.
#[derive(Debug)]
pub struct InsertBatch<T> {
    waiting: Vec<T>,
}

impl<T> Default for InsertBatch<T> {
    fn default() -> Self {
        Self {
            waiting: Vec::new(),
        }
    }
}

impl<T> InsertBatch<T> {
    /// Adds an event to store; says what the caller must do next.
    pub fn push(&mut self, event: T) -> Next {
        let first = self.waiting.is_empty();
        self.waiting.push(event);
        if self.waiting.len() >= MAX_WAITING {
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
        assert_eq!(batch.push("a"), Next::ScheduleFlush);
        assert_eq!(batch.push("b"), Next::Wait);
        assert_eq!(batch.push("c"), Next::Wait);
        assert_eq!(batch.take(), vec!["a", "b", "c"], "in order of arrival");
        assert!(batch.is_empty());
        assert_eq!(
            batch.push("d"),
            Next::ScheduleFlush,
            "a batch emptied by any flush asks for a new one with its next event"
        );
    }

    #[test]
    fn issue_9_inserts_coalesced_a_full_batch_is_stored_now() {
        let mut batch = InsertBatch::default();
        for i in 0..MAX_WAITING - 1 {
            assert_ne!(batch.push(i), Next::FlushNow);
        }
        assert_eq!(batch.len(), MAX_WAITING - 1);
        assert_eq!(batch.push(MAX_WAITING), Next::FlushNow);
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
