//! Delivered events waiting to be removed from the outbox together (issue 9, deletes in
//! batches).
//!
//! A delivered event's row is not deleted at once: its id joins a batch, and the whole batch is
//! removed by one statement, with one snapshot write, when it is full, before anything reads
//! the outbox, in the turn that stores the next events once it is [`FLUSH_AGE_MS`] old (the
//! same storage commit as that insert: at a steady rate no turn and no commit of its own), or
//! by a timer when no event comes: at most one timer is armed, and it removes a batch at the
//! latest [`FLUSH_TIMER_MS`] after its first id (the timer fires earlier for a batch started
//! after it was armed, finds it young, and is armed again for the rest). Deleting later is
//! safe: until the row is gone a crash can only send the event again (same event id: at least
//! once), never lose it.
//!
//! Sans-IO: this only decides; the runtime runs the statement and the timer.

/// How many ids one batch holds at most: one `DELETE … WHERE id IN (…)` binds each id, and a
/// statement may bind at most 100 parameters.
pub const MAX_BATCH: usize = 100;

/// A batch at least this old (ms since its first id) is removed with the next events stored.
pub const FLUSH_AGE_MS: u64 = 100;

/// A batch is removed by the timer at the latest this long after its first id.
pub const FLUSH_TIMER_MS: u64 = 4 * FLUSH_AGE_MS;

/// What the caller must do after [`DeleteBatch::push`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// No flush timer is armed: start one, or the waiting item could wait forever.
    ScheduleFlush,
    /// The batch is full: flush it now.
    FlushNow,
    /// A flush is already on its way.
    Wait,
}

/// What the caller must do when the flush timer fired ([`DeleteBatch::timer_fired`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fired {
    /// Nothing waits: the timer ends.
    Idle,
    /// Remove the batch now.
    Flush,
    /// The batch is younger than [`FLUSH_AGE_MS`]: arm the timer again for this many ms.
    Again(u64),
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
    /// When the first id of `pending` came (ms since the epoch).
    since: u64,
    /// Whether a flush timer is armed.
    armed: bool,
}

impl DeleteBatch {
    /// Adds the delivered event `id` with sequence number `sequence`, delivered at `now`.
    pub fn push(&mut self, id: i64, sequence: u64, now: u64) -> Next {
        if self.pending.ids.is_empty() {
            self.since = now;
        }
        self.pending.ids.push(id);
        self.pending.max_sequence = self.pending.max_sequence.max(sequence);
        if self.pending.ids.len() >= MAX_BATCH {
            Next::FlushNow
        } else if !self.armed {
            self.armed = true;
            Next::ScheduleFlush
        } else {
            Next::Wait
        }
    }

    /// Whether the batch is old enough ([`FLUSH_AGE_MS`]) to be removed with events stored at
    /// `now`.
    pub fn due(&self, now: u64) -> bool {
        !self.pending.ids.is_empty() && now.saturating_sub(self.since) >= FLUSH_AGE_MS
    }

    /// The flush timer fired at `now`: says whether to remove the batch, or to arm the timer
    /// again for a batch started after it was armed.
    pub fn timer_fired(&mut self, now: u64) -> Fired {
        if self.pending.ids.is_empty() {
            self.armed = false;
            Fired::Idle
        } else if self.due(now) {
            self.armed = false;
            Fired::Flush
        } else {
            Fired::Again((self.since + FLUSH_TIMER_MS).saturating_sub(now))
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

    const NOW: u64 = 1_000_000;

    #[test]
    fn issue_9_deletes_in_batches_first_id_schedules_a_flush_later_ones_wait() {
        let mut batch = DeleteBatch::default();
        assert_eq!(batch.push(7, 70, NOW), Next::ScheduleFlush);
        assert_eq!(batch.push(8, 72, NOW), Next::Wait);
        assert_eq!(batch.push(9, 71, NOW + 1), Next::Wait);
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
    fn issue_9_deletes_in_batches_the_timer_removes_every_id_in_time() {
        // The property that keeps a row from waiting forever: every id is removed by a flush
        // or finds a timer armed that removes it at most FLUSH_TIMER_MS after its batch began.
        let mut batch = DeleteBatch::default();
        assert_eq!(batch.push(1, 1, NOW), Next::ScheduleFlush);
        batch.take(); // removed with the next insert (or a read of the outbox)
        let late = NOW + FLUSH_TIMER_MS - 50;
        assert_eq!(
            batch.push(2, 2, late),
            Next::Wait,
            "the timer is armed still"
        );
        // The timer armed at NOW fires at NOW + FLUSH_TIMER_MS: the batch is 50 ms old.
        assert_eq!(
            batch.timer_fired(NOW + FLUSH_TIMER_MS),
            Fired::Again(FLUSH_TIMER_MS - 50),
            "armed again until the batch is FLUSH_TIMER_MS old"
        );
        assert_eq!(batch.timer_fired(late + FLUSH_TIMER_MS), Fired::Flush);
        assert_eq!(
            batch.take(),
            Some(Batch {
                ids: vec![2],
                max_sequence: 2
            }),
            "the max sequence starts again with each batch"
        );
        let later = late + 2 * FLUSH_TIMER_MS;
        assert_eq!(batch.push(3, 3, later), Next::ScheduleFlush, "disarmed");
        batch.take();
        assert_eq!(batch.timer_fired(later + FLUSH_TIMER_MS), Fired::Idle);
        assert_eq!(
            batch.push(4, 4, later + 2 * FLUSH_TIMER_MS),
            Next::ScheduleFlush,
            "disarmed"
        );
    }

    #[test]
    fn issue_9_steady_a_batch_rides_with_the_next_insert_once_old_enough() {
        let mut batch = DeleteBatch::default();
        assert!(!batch.due(NOW), "nothing waits");
        batch.push(1, 1, NOW);
        batch.push(2, 2, NOW + 20);
        assert!(
            !batch.due(NOW + FLUSH_AGE_MS - 1),
            "young: it waits for more"
        );
        assert!(batch.due(NOW + FLUSH_AGE_MS));
        batch.take();
        assert!(!batch.due(NOW + FLUSH_AGE_MS), "empty");
        // At 50 events/s the inserts remove each batch once it is 100-120 ms old; the one
        // timer finds a young batch and is armed again, never removing it early.
        let mut flushes = 0;
        let mut timers = 1; // armed by id 1
        let mut at = NOW + FLUSH_AGE_MS;
        let mut timer_at = NOW + FLUSH_TIMER_MS;
        for i in 0..50u64 {
            at += 20;
            if at >= timer_at {
                match batch.timer_fired(timer_at) {
                    Fired::Again(ms) => {
                        timers += 1;
                        timer_at += ms;
                    }
                    other => panic!("the timer found {other:?}"),
                }
            }
            if batch.due(at) {
                flushes += 1;
                batch.take();
            }
            assert_ne!(
                batch.push(10 + i as i64, 10 + i, at + 5),
                Next::ScheduleFlush
            );
        }
        assert!(
            (8..=10).contains(&flushes),
            "{flushes} flushes for 50 events"
        );
        assert!(timers <= 5, "{timers} timers for 50 events");
    }

    #[test]
    fn issue_9_deletes_in_batches_a_full_batch_is_flushed_now() {
        let mut batch = DeleteBatch::default();
        for id in 0..(MAX_BATCH as i64 - 1) {
            assert_ne!(batch.push(id, 0, NOW), Next::FlushNow);
        }
        assert_eq!(batch.len(), MAX_BATCH - 1);
        assert_eq!(batch.push(1_000, 0, NOW), Next::FlushNow);
        assert_eq!(batch.take().map(|b| b.ids.len()), Some(MAX_BATCH));
        assert_eq!(
            batch.push(1_001, 0, NOW),
            Next::Wait,
            "the first id's timer"
        );
    }
}
