//! Delivery to several push subscriptions, sans-IO: each subscription has its own
//! per-channel [`Lanes`], and the object's few request slots are shared so that one subscriber
//! that is down or slow never slows another.
//!
//! The rule: a subscription with pending events may hold at most
//! `max(1, concurrency / subscriptions with pending events)` requests at once, and due events
//! are taken one per subscription in turn, starting after the subscription served last the
//! time before. A subscriber that answers `503` only holds its own lanes (their heads wait for their
//! retry time); one whose requests hang until the timeout holds only its share of the slots,
//! so the others keep theirs. Positions are the log's; the event bodies stay in the log.

use std::collections::BTreeMap;

use crate::delivery::lanes::{Finished, Lanes};

/// A subscription's id.
pub type SubscriptionId = u64;

/// One event to send now: to which subscription, on which channel's lane, at which position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    /// The subscription.
    pub subscription: SubscriptionId,
    /// The lane (channel id, or `""`).
    pub channel: String,
    /// The event's position in the log.
    pub position: i64,
}

/// The lanes of every push subscription.
#[derive(Debug, Default)]
pub struct Fanout {
    lanes: BTreeMap<SubscriptionId, Lanes>,
    /// The subscription served last by the last [`Fanout::take_due`] that served any.
    last_served: Option<SubscriptionId>,
}

impl Fanout {
    /// Puts the event at `position` in line for `subscription`, on `channel`'s lane.
    pub fn push(
        &mut self,
        subscription: SubscriptionId,
        channel: &str,
        position: i64,
        due_at: u64,
    ) {
        self.lanes
            .entry(subscription)
            .or_default()
            .push(channel, position, due_at);
    }

    /// Records how an attempt for `subscription` on `channel` ended.
    pub fn finish(
        &mut self,
        subscription: SubscriptionId,
        channel: &str,
        finished: Finished,
        now: u64,
    ) {
        // A subscription's lanes stay when they empty (until it is deleted, [`Fanout::remove`]):
        // at a steady rate each event empties them, and building them again per event is the
        // single-subscription path's cost.
        if let Some(lanes) = self.lanes.get_mut(&subscription) {
            lanes.finish(channel, finished, now);
        }
    }

    /// Forgets a deleted subscription's lanes (its requests under way end unrecorded).
    pub fn remove(&mut self, subscription: SubscriptionId) {
        self.lanes.remove(&subscription);
    }

    /// The most requests one subscription may hold now.
    fn share(&self, concurrency: usize) -> usize {
        let active = self.lanes.values().filter(|l| l.pending() > 0).count();
        (concurrency / active.max(1)).max(1)
    }

    /// Takes the events due at `now`, so that at most `concurrency` requests are under way in
    /// all and each subscription holds at most its share (see the module documentation).
    pub fn take_due(&mut self, now: u64, concurrency: usize) -> Vec<Due> {
        let in_flight: usize = self.lanes.values().map(Lanes::in_flight).sum();
        let mut free = concurrency.saturating_sub(in_flight);
        let share = self.share(concurrency);
        if let (1, Some((id, lanes))) = (self.lanes.len(), self.lanes.iter_mut().next()) {
            // One subscription with lanes (the `default` webhook alone, the common case): the
            // turns below would take its oldest due heads one by one; take them at once.
            let limit = free.min(share.saturating_sub(lanes.in_flight()));
            let taken: Vec<Due> = lanes
                .take_due(now, limit)
                .into_iter()
                .map(|(channel, position)| Due {
                    subscription: *id,
                    channel,
                    position,
                })
                .collect();
            if !taken.is_empty() {
                self.last_served = Some(*id);
            }
            return taken;
        }
        // Start after the subscription served last time.
        let mut order: Vec<SubscriptionId> = self.lanes.keys().copied().collect();
        if let Some(last) = self.last_served {
            let split = order.partition_point(|id| *id <= last);
            order.rotate_left(split);
        }
        let mut taken = Vec::new();
        let mut progress = true;
        while free > 0 && progress {
            progress = false;
            for id in &order {
                if free == 0 {
                    break;
                }
                let Some(lanes) = self.lanes.get_mut(id) else {
                    continue;
                };
                if lanes.in_flight() >= share {
                    continue;
                }
                if let Some((channel, position)) = lanes.take_due(now, 1).pop() {
                    taken.push(Due {
                        subscription: *id,
                        channel,
                        position,
                    });
                    free -= 1;
                    progress = true;
                }
            }
        }
        if let Some(last) = taken.last() {
            self.last_served = Some(last.subscription);
        }
        taken
    }

    /// When the next head of an idle lane is due, over every subscription.
    pub fn next_due(&self) -> Option<u64> {
        self.lanes.values().filter_map(Lanes::next_due).min()
    }

    /// Events waiting for `subscription` (in flight included).
    pub fn pending(&self, subscription: SubscriptionId) -> usize {
        self.lanes.get(&subscription).map_or(0, Lanes::pending)
    }

    /// Events waiting over every subscription (one event waiting for two counts twice).
    pub fn total_pending(&self) -> usize {
        self.lanes.values().map(Lanes::pending).sum()
    }

    /// Requests under way over every subscription.
    pub fn total_in_flight(&self) -> usize {
        self.lanes.values().map(Lanes::in_flight).sum()
    }

    /// Requests under way for `subscription`.
    pub fn in_flight(&self, subscription: SubscriptionId) -> usize {
        self.lanes.get(&subscription).map_or(0, Lanes::in_flight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: SubscriptionId = 1;
    const B: SubscriptionId = 2;

    fn subs(due: &[Due]) -> Vec<SubscriptionId> {
        due.iter().map(|d| d.subscription).collect()
    }

    #[test]
    fn issue_10_cost_a_subscription_keeps_its_lanes_when_they_empty() {
        let mut fanout = Fanout::default();
        fanout.push(A, "c", 1, 0);
        assert_eq!(fanout.take_due(0, 5).len(), 1);
        fanout.finish(A, "c", Finished::Removed, 1);
        assert_eq!((fanout.pending(A), fanout.in_flight(A)), (0, 0));
        assert_eq!(
            fanout.lanes.len(),
            1,
            "kept for the next event, not built again"
        );
        assert_eq!((fanout.next_due(), fanout.take_due(1, 5)), (None, vec![]));
        fanout.remove(A);
        assert!(fanout.lanes.is_empty(), "gone with the subscription");
    }

    #[test]
    fn issue_10_cost_one_subscription_takes_its_oldest_due_heads_up_to_the_free_slots() {
        let mut fanout = Fanout::default();
        // Eight channels, two events each, ids in arrival order (channel 7's first is oldest).
        for (position, channel) in [7, 0, 1, 2, 3, 4, 5, 6, 7, 0].into_iter().enumerate() {
            fanout.push(A, &channel.to_string(), i64::try_from(position).unwrap(), 0);
        }
        let positions = |due: &[Due]| due.iter().map(|d| d.position).collect::<Vec<_>>();
        let first = fanout.take_due(0, 5);
        assert_eq!(
            positions(&first),
            [0, 1, 2, 3, 4],
            "oldest heads first, one per channel"
        );
        assert_eq!(subs(&first), [A; 5]);
        assert_eq!(fanout.take_due(0, 5), [], "every slot is taken");
        fanout.finish(A, "7", Finished::Removed, 1);
        fanout.finish(A, "1", Finished::RetryAt(50), 1);
        // Channel 7's next (8) is due now; channel 1 waits; two slots are free.
        assert_eq!(positions(&fanout.take_due(1, 5)), [5, 6]);
        assert_eq!(fanout.in_flight(A), 5);
        assert_eq!(
            fanout.take_due(1, 6).len(),
            1,
            "a sixth slot takes one more"
        );
    }

    #[test]
    fn issue_10_push_a_failing_subscriber_does_not_delay_another() {
        let mut fanout = Fanout::default();
        // The same events (positions 1..=3 on one channel) match both tenants.
        for position in 1..=3 {
            fanout.push(A, "c", position, 0);
            fanout.push(B, "c", position, 0);
        }
        let due = fanout.take_due(0, 5);
        assert_eq!(subs(&due), vec![A, B], "one per channel per subscription");
        // A answers 503: its head waits 10 s; B goes on at once.
        fanout.finish(A, "c", Finished::RetryAt(10_000), 1);
        fanout.finish(B, "c", Finished::Removed, 1);
        let due = fanout.take_due(1, 5);
        assert_eq!(
            due,
            vec![Due {
                subscription: B,
                channel: "c".into(),
                position: 2
            }]
        );
        fanout.finish(B, "c", Finished::Removed, 2);
        assert_eq!(fanout.take_due(2, 5)[0].position, 3);
        fanout.finish(B, "c", Finished::Removed, 3);
        assert_eq!(fanout.pending(B), 0);
        assert_eq!(fanout.next_due(), Some(10_000));
        // A still has everything, in order.
        assert_eq!(fanout.pending(A), 3);
        assert_eq!(fanout.take_due(10_000, 5)[0].position, 1);
    }

    #[test]
    fn issue_10_push_a_slow_subscriber_holds_only_its_share_of_the_slots() {
        let mut fanout = Fanout::default();
        // A has many channels due and never answers (its requests hang until the timeout).
        for channel in 0..10 {
            fanout.push(A, &channel.to_string(), channel, 0);
        }
        fanout.push(B, "x", 100, 0);
        fanout.push(B, "y", 101, 0);
        fanout.push(B, "z", 102, 0);
        let due = fanout.take_due(0, 5);
        assert_eq!(fanout.in_flight(A), 2, "two subscriptions: 5 / 2 each");
        assert_eq!(fanout.in_flight(B), 2);
        assert_eq!(due.len(), 4);
        // B's requests come back; A's still hang. B gets its slots again at once.
        for d in due.iter().filter(|d| d.subscription == B) {
            fanout.finish(B, &d.channel, Finished::Removed, 1);
        }
        let due = fanout.take_due(1, 5);
        assert_eq!(subs(&due), vec![B]);
        assert_eq!(fanout.in_flight(A), 2, "A never takes more than its share");
        fanout.finish(B, "z", Finished::Removed, 2);
        // B is done: A alone may use every slot.
        assert_eq!(fanout.take_due(2, 5).len(), 3);
        assert_eq!(fanout.in_flight(A), 5);
    }

    #[test]
    fn issue_10_push_subscriptions_take_turns_when_slots_are_short() {
        let mut fanout = Fanout::default();
        // Four subscriptions with two events each.
        for id in 1..=4 {
            let position = i64::try_from(id).unwrap();
            fanout.push(id, "c", position, 0);
            fanout.push(id, "c", position + 10, 0);
        }
        let first = fanout.take_due(0, 2);
        assert_eq!(subs(&first), vec![1, 2]);
        for d in &first {
            fanout.finish(d.subscription, &d.channel, Finished::Removed, 1);
        }
        let second = fanout.take_due(1, 2);
        assert_eq!(
            subs(&second),
            vec![3, 4],
            "the next ones, not 1 and 2 again"
        );
        for d in &second {
            fanout.finish(d.subscription, &d.channel, Finished::Removed, 2);
        }
        assert_eq!(subs(&fanout.take_due(2, 2)), vec![1, 2], "and round again");
        fanout.remove(3);
        assert_eq!(fanout.pending(3), 0);
    }
}
