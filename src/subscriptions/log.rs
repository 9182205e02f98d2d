//! When an event leaves the log, sans-IO.
//!
//! Each event is stored once, with the number of subscriptions that still hold it: the push
//! subscriptions it matched until each delivered it (or its dead letter was dropped), and the
//! pull subscriptions it matched until each acknowledged a cursor at or past it. It leaves when
//! that number reaches zero ([`Holds`]), or when [`Retention`] removes it: older than the age
//! limit, or beyond the most entries the log keeps. A pull subscription that had not read an
//! event retention removed counts it as missed
//! ([`PullProgress::retention_removed`](super::inbox::PullProgress::retention_removed)), and its
//! next page starts with a gap.

/// How much of the log is kept, whoever still holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Events older than this (ms) leave.
    pub max_age_ms: u64,
    /// At most this many events are kept; the oldest leave first.
    pub max_entries: u64,
}

impl Default for Retention {
    /// A day, and 10,000 events.
    fn default() -> Self {
        Self {
            max_age_ms: 24 * 60 * 60 * 1_000,
            max_entries: 10_000,
        }
    }
}

impl Retention {
    /// Of the log's entries, oldest first as `(position, created_at)`, `total` in all: the
    /// positions that leave at `now`. Reads only as far as the first entry that stays.
    pub fn expired(
        &self,
        oldest_first: impl IntoIterator<Item = (u64, u64)>,
        total: u64,
        now: u64,
    ) -> Vec<u64> {
        let mut over = total.saturating_sub(self.max_entries);
        let mut leaving = Vec::new();
        for (position, created_at) in oldest_first {
            let too_old = now.saturating_sub(created_at) > self.max_age_ms;
            if over == 0 && !too_old {
                break;
            }
            over = over.saturating_sub(1);
            leaving.push(position);
        }
        leaving
    }
}

/// How many subscriptions still hold one event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Holds(pub u32);

impl Holds {
    /// The holds of a new event: every subscription it matched. `None`: it matched none and is
    /// not stored at all.
    pub fn new(matching: u32) -> Option<Self> {
        (matching > 0).then_some(Self(matching))
    }

    /// One subscription is done with it; `true` when it leaves the log now.
    pub fn release(&mut self) -> bool {
        self.0 = self.0.saturating_sub(1);
        self.0 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriptions::filter::{EventFacts, Filter};
    use crate::subscriptions::inbox::{InboxEntry, PullProgress};

    const RETENTION: Retention = Retention {
        max_age_ms: 1_000,
        max_entries: 3,
    };

    #[test]
    fn issue_10_log_retention_removes_the_oldest_beyond_the_bound_or_the_age() {
        let entries = [(1, 0), (2, 500), (3, 900), (4, 950), (5, 990)];
        assert_eq!(RETENTION.expired(entries, 5, 1_000), vec![1, 2], "5 kept 3");
        assert_eq!(RETENTION.expired(entries, 5, 1_950), vec![1, 2, 3]);
        assert_eq!(
            RETENTION.expired(entries[3..].iter().copied(), 2, 1_000),
            Vec::<u64>::new()
        );
        assert_eq!(RETENTION.expired(entries, 5, 10_000), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn issue_10_log_an_event_leaves_when_the_last_holder_is_done() {
        assert_eq!(Holds::new(0), None, "matched by none: never stored");
        let mut holds = Holds::new(3).unwrap();
        assert!(!holds.release());
        assert!(!holds.release());
        assert!(holds.release(), "k = 3: the third release removes it");
        assert!(holds.release(), "never below zero");
    }

    #[test]
    fn issue_10_pull_an_agent_past_retention_sees_exactly_what_it_missed() {
        // The agent reads channel 5; events 1..=6 alternate between channels 5 and 6.
        let filter = Filter {
            channel_ids: vec![5],
            ..Filter::default()
        };
        let channel = |position: u64| if position % 2 == 1 { 5 } else { 6 };
        let matches = |position: u64| {
            let data = format!(r#"{{"guild_id":"1","channel_id":"{}"}}"#, channel(position));
            filter.matches(&EventFacts::of("MESSAGE_CREATE", &data, |_| None))
        };
        let mut agent = PullProgress::default();
        agent.ack(1, 6).unwrap();
        let log: Vec<(u64, u64)> = (1..=6).map(|p| (p, p * 100)).collect();
        for position in RETENTION.expired(log.iter().copied(), 6, 700) {
            if matches(position) {
                agent.retention_removed(position);
            }
        }
        // 1, 2 and 3 left; 1 was read, 2 was not the agent's, 3 was missed.
        assert_eq!(agent.missed, 1);
        let rest = (4..=6).filter(|p| matches(*p)).map(|p| (p, p));
        let page = agent.page(agent.cursor, rest, 10);
        assert_eq!(
            page.entries,
            vec![
                InboxEntry::Gap { missed: 1 },
                InboxEntry::Event {
                    position: 5,
                    event: 5
                }
            ]
        );
    }
}
