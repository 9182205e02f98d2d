//! Which outbox event goes next: one lane per channel, in arrival order, one request in flight
//! per lane.
//!
//! The lanes hold only row ids (8 bytes per pending event) and each head's next attempt time;
//! the event bodies stay in storage. They are loaded once when the object starts and kept in
//! step with every insert, delivery, retry and dead letter, so choosing the next events never
//! scans the outbox.

use std::collections::{HashMap, VecDeque};

#[derive(Debug, Default)]
struct Lane {
    ids: VecDeque<i64>,
    head_due_at: u64,
    /// A request for its head is under way.
    busy: bool,
}

/// How an attempt at a lane's head ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    /// The head left the outbox (delivered, or dead-lettered): the next event is due now.
    Removed,
    /// The head stays; try it again at this time.
    RetryAt(u64),
}

/// The per-channel delivery lanes.
///
/// On the per-event path (every take, finish and alarm plan), so a lane's "busy" mark is a
/// flag on the lane rather than a second set keyed by channel, and only the lanes taken have
/// their channel copied.
#[derive(Debug, Default)]
pub struct Lanes {
    lanes: HashMap<String, Lane>,
    in_flight: usize,
    pending: usize,
}

impl Lanes {
    /// Lanes from stored events given in id order as `(channel, id, next_attempt_at)`.
    pub fn load(rows: impl IntoIterator<Item = (String, i64, u64)>) -> Self {
        let mut lanes = Self::default();
        for (channel, id, due_at) in rows {
            lanes.push(&channel, id, due_at);
        }
        lanes
    }

    /// Appends an event to its channel's lane.
    pub fn push(&mut self, channel: &str, id: i64, due_at: u64) {
        let lane = match self.lanes.get_mut(channel) {
            Some(lane) => lane,
            None => self.lanes.entry(channel.to_owned()).or_default(),
        };
        if lane.ids.is_empty() {
            lane.head_due_at = due_at;
        }
        lane.ids.push_back(id);
        self.pending += 1;
    }

    /// Takes up to `limit` due heads of idle lanes, oldest first, and marks their lanes busy.
    pub fn take_due(&mut self, now: u64, limit: usize) -> Vec<(String, i64)> {
        if limit == 0 {
            return Vec::new();
        }
        let mut due: Vec<(&String, i64)> = self
            .lanes
            .iter()
            .filter(|(_, lane)| lane.head_due_at <= now && !lane.busy)
            .filter_map(|(channel, lane)| lane.ids.front().map(|id| (channel, *id)))
            .collect();
        due.sort_unstable_by_key(|(_, id)| *id);
        due.truncate(limit);
        let taken: Vec<(String, i64)> = due
            .into_iter()
            .map(|(channel, id)| (channel.clone(), id))
            .collect();
        for (channel, _) in &taken {
            if let Some(lane) = self.lanes.get_mut(channel) {
                lane.busy = true;
            }
        }
        self.in_flight += taken.len();
        taken
    }

    /// Records how the attempt at `channel`'s head ended, at time `now`.
    pub fn finish(&mut self, channel: &str, finished: Finished, now: u64) {
        let Some(lane) = self.lanes.get_mut(channel) else {
            return;
        };
        if std::mem::take(&mut lane.busy) {
            self.in_flight -= 1;
        }
        match finished {
            Finished::Removed => {
                if lane.ids.pop_front().is_some() {
                    self.pending = self.pending.saturating_sub(1);
                }
                if lane.ids.is_empty() {
                    self.lanes.remove(channel);
                } else {
                    lane.head_due_at = now;
                }
            }
            Finished::RetryAt(at) => lane.head_due_at = at,
        }
    }

    /// When the next head of an idle lane is due.
    pub fn next_due(&self) -> Option<u64> {
        self.lanes
            .values()
            .filter(|lane| !lane.busy)
            .map(|lane| lane.head_due_at)
            .min()
    }

    /// Events waiting (in flight included).
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Requests under way.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_at_a_time_per_channel_oldest_first_channels_in_parallel() {
        let mut lanes = Lanes::default();
        lanes.push("a", 1, 0);
        lanes.push("b", 2, 0);
        lanes.push("a", 3, 0);
        lanes.push("c", 4, 0);
        assert_eq!(
            lanes.take_due(0, 2),
            [("a".to_owned(), 1), ("b".to_owned(), 2)]
        );
        // a and b are busy: only c is left.
        assert_eq!(lanes.take_due(0, 10), [("c".to_owned(), 4)]);
        assert_eq!(lanes.take_due(0, 10), []);
        lanes.finish("a", Finished::Removed, 5);
        assert_eq!(lanes.take_due(5, 10), [("a".to_owned(), 3)]);
        assert_eq!((lanes.pending(), lanes.in_flight()), (3, 3));
    }

    #[test]
    fn a_retried_head_holds_its_lane_until_due() {
        let mut lanes = Lanes::load([
            ("a".to_owned(), 1, 0),
            ("a".to_owned(), 2, 0),
            ("b".to_owned(), 3, 0),
        ]);
        assert_eq!(lanes.take_due(0, 1), [("a".to_owned(), 1)]);
        lanes.finish("a", Finished::RetryAt(1_000), 10);
        assert_eq!(lanes.next_due(), Some(0), "b is still due");
        assert_eq!(lanes.take_due(10, 10), [("b".to_owned(), 3)]);
        assert_eq!(lanes.next_due(), Some(1_000));
        assert_eq!(lanes.take_due(999, 10), []);
        assert_eq!(
            lanes.take_due(1_000, 10),
            [("a".to_owned(), 1)],
            "the same head, not the next"
        );
        lanes.finish("a", Finished::Removed, 1_001);
        lanes.finish("b", Finished::Removed, 1_001);
        assert_eq!(lanes.take_due(1_001, 10), [("a".to_owned(), 2)]);
        lanes.finish("a", Finished::Removed, 1_002);
        assert_eq!((lanes.pending(), lanes.next_due()), (0, None));
    }

    #[test]
    fn loaded_heads_keep_their_stored_schedule() {
        let lanes = Lanes::load([("a".to_owned(), 7, 5_000), ("a".to_owned(), 8, 100)]);
        assert_eq!(lanes.next_due(), Some(5_000));
    }
}
