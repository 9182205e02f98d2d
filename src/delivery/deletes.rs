//! Delivered events waiting to be removed from the outbox together (issue 9, deletes in
//! batches).
//!
//! A delivered event's row is not deleted at once: its id joins a batch, and the whole batch is
//! removed by one statement, with one snapshot write, when it is full, when its flush timer
//! fires, or before anything reads the outbox. Deleting later is safe: until the row is gone a
//! crash can only send the event again (same event id: at least once), never lose it.
//!
//! Sans-IO: this only decides; the runtime runs the statement and the timer.

/// How many ids one batch holds at most: one `DELETE … WHERE id IN (…)` binds each id, and a
/// statement may bind at most 100 parameters.
pub const MAX_BATCH: usize = 100;

/// What the caller must do after [`DeleteBatch::push`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// The batch was empty: start a flush timer, or the id could wait forever.
    ScheduleFlush,
    /// The batch is full: flush it now.
    FlushNow,
    /// A flush is already on its way.
    Wait,
}

/// A batch taken for removal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Row ids of delivered events.
    pub ids: Vec<i64>,
    /// The highest sequence number among them: the snapshot must have reached it before the
    /// rows are gone.
    pub max_sequence: u64,
}

/// Ids of delivered events not yet removed.
#[derive(Debug, Default)]
pub struct DeleteBatch {
    pending: Batch,
}

impl DeleteBatch {
    /// Adds the delivered event `id` with sequence number `sequence`.
    pub fn push(&mut self, id: i64, sequence: u64) -> Next {
        let first = self.pending.ids.is_empty();
        self.pending.ids.push(id);
        self.pending.max_sequence = self.pending.max_sequence.max(sequence);
        if self.pending.ids.len() >= MAX_BATCH {
            Next::FlushNow
        } else if first {
            Next::ScheduleFlush
        } else {
            Next::Wait
        }
    }

    /// Takes the waiting ids, if any, leaving the batch empty.
    pub fn take(&mut self) -> Option<Batch> {
        if self.pending.ids.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.pending))
        }
    }

    /// How many ids wait.
    pub fn len(&self) -> usize {
        self.pending.ids.len()
    }

    /// Whether no id waits.
    pub fn is_empty(&self) -> bool {
        self.pending.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_9_deletes_in_batches_first_id_schedules_a_flush_later_ones_wait() {
        let mut batch = DeleteBatch::default();
        assert_eq!(batch.push(7, 70), Next::ScheduleFlush);
        assert_eq!(batch.push(8, 72), Next::Wait);
        assert_eq!(batch.push(9, 71), Next::Wait);
        assert_eq!(
            batch.take(),
            Some(Batch {
                ids: vec![7, 8, 9],
                max_sequence: 72
            })
        );
        assert!(batch.is_empty());
        assert_eq!(batch.take(), None, "nothing left to flush");
    }

    #[test]
    fn issue_9_deletes_in_batches_after_a_flush_the_next_id_schedules_again() {
        // The property that keeps a row from waiting forever: a batch emptied by any flush
        // (timer, full, or a read of the outbox) asks for a new timer with its next id.
        let mut batch = DeleteBatch::default();
        batch.push(1, 1);
        batch.push(2, 2);
        batch.take();
        assert_eq!(batch.push(3, 3), Next::ScheduleFlush);
        assert_eq!(
            batch.take(),
            Some(Batch {
                ids: vec![3],
                max_sequence: 3
            }),
            "the max sequence starts again with each batch"
        );
    }

    #[test]
    fn issue_9_deletes_in_batches_a_full_batch_is_flushed_now() {
        let mut batch = DeleteBatch::default();
        for id in 0..(MAX_BATCH as i64 - 1) {
            assert_ne!(batch.push(id, 0), Next::FlushNow);
        }
        assert_eq!(batch.len(), MAX_BATCH - 1);
        assert_eq!(batch.push(1_000, 0), Next::FlushNow);
        assert_eq!(batch.take().map(|b| b.ids.len()), Some(MAX_BATCH));
        assert_eq!(batch.push(1_001, 0), Next::ScheduleFlush);
    }
}
