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

/// Where a restarted object's log positions resume: after the newest stored entry, and after
/// the newest position ever recorded apart from the entries (with the session snapshot, or
/// before a delete that would otherwise lose it), whichever is later. Entries leave the log, the
/// newest included, so the newest stored entry alone could hand out a position again, and a
/// cursor past it would skip the new event. `None`: nothing stored; positions start at 1.
pub fn resume_after(newest_entry: Option<i64>, recorded: impl IntoIterator<Item = i64>) -> i64 {
    recorded
        .into_iter()
        .chain(newest_entry)
        .max()
        .unwrap_or(0)
        .max(0)
}

/// Whether positions up to `allocated` must be recorded before entries up to `leaving` (all
/// entries, if `None`) are deleted: only if some position beyond the recorded one
/// (`recorded`) was handed out and could leave with them. The session snapshot records it for
/// free just before most deletes, so this is rarely a write of its own.
pub fn must_record(recorded: i64, allocated: i64, leaving: Option<i64>) -> bool {
    allocated > recorded && leaving.is_none_or(|newest_leaving| newest_leaving > recorded)
}

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

/// The stored `holders` of a new event: the ids of the subscriptions that hold it, in order,
/// comma-separated (`"1,4"`). `None`: it matched none, and is not stored at all.
pub fn holders_text(ids: impl IntoIterator<Item = u64>) -> Option<String> {
    let mut text = String::new();
    for id in ids {
        if !text.is_empty() {
            text.push(',');
        }
        text.push_str(&id.to_string());
    }
    (!text.is_empty()).then_some(text)
}

/// The stored `holders` of an event only the `default` subscription holds (the only kind with
/// no other subscription): written as is, with no list to build per event.
pub const DEFAULT_ONLY: &str = "1";

/// The subscription ids in stored `holders`.
pub fn holder_ids(holders: &str) -> impl Iterator<Item = u64> + '_ {
    holders.split(',').filter_map(|id| id.parse().ok())
}

/// Whether stored `holders` name `subscription`.
pub fn holds(holders: &str, subscription: u64) -> bool {
    holder_ids(holders).any(|id| id == subscription)
}

/// Whether `subscription` is the only holder in stored `holders`: releasing it removes the
/// event (no other subscription can be added to an event once stored).
pub fn sole_holder(holders: &str, subscription: u64) -> bool {
    holders.parse::<u64>() == Ok(subscription)
}

/// SQL: whether the row's `holders` name the subscription bound as `?`.
pub const HOLDS_SQL: &str = "(',' || holders || ',') LIKE ('%,' || ? || ',%')";

/// SQL: the row's `holders` without the subscription bound as `?`.
pub const WITHOUT_HOLDER_SQL: &str =
    "TRIM(REPLACE(',' || holders || ',', ',' || ? || ',', ','), ',')";

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
    fn issue_10_cost_default_only_holders_are_the_default_subscription_alone() {
        let default = u64::try_from(crate::schema::DEFAULT_SUBSCRIPTION_ID).unwrap();
        assert_eq!(holders_text([default]).as_deref(), Some(DEFAULT_ONLY));
        assert!(sole_holder(DEFAULT_ONLY, default));
    }

    #[test]
    fn issue_10_log_positions_never_repeat_after_the_newest_entry_left() {
        assert_eq!(resume_after(None, []), 0, "empty: the first position is 1");
        assert_eq!(resume_after(Some(7), []), 7);
        assert_eq!(
            resume_after(None, [9]),
            9,
            "every entry left: the record counts"
        );
        assert_eq!(resume_after(Some(7), [9, 4]), 9);
        assert_eq!(resume_after(Some(12), [9]), 12);
        // Deleting entries up to 9 with positions up to 9 handed out and 5 recorded: record.
        assert!(must_record(5, 9, Some(9)));
        assert!(must_record(5, 9, None), "all of them");
        // Older entries only, or everything handed out already recorded: no write.
        assert!(!must_record(5, 9, Some(5)));
        assert!(!must_record(9, 9, Some(9)));
    }

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
    fn issue_10_log_holders_are_the_matching_subscriptions() {
        assert_eq!(holders_text([]), None, "matched none: not stored");
        assert_eq!(holders_text([1]).as_deref(), Some("1"));
        assert_eq!(holders_text([1, 4, 12]).as_deref(), Some("1,4,12"));
        assert!(holds("1,4,12", 4) && holds("1,4,12", 12) && !holds("1,4,12", 2));
        assert!(!holds("14", 1) && !holds("", 1));
        assert!(sole_holder("1", 1) && !sole_holder("1,4", 1) && !sole_holder("4", 1));
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
