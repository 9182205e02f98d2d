//! Recent activity for the operator's page: events per minute over the last hour and the last
//! heartbeat round trips, in bounded rings (a constant few kilobytes however long the object runs).
//!
//! Pure: the engine records with the time it was given; [`ActivityHistory::snapshot`] answers for a
//! moment, filling minutes in which nothing arrived with zero.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Minutes of event counts kept.
pub const MINUTES_KEPT: usize = 60;
/// Heartbeat round trips kept.
pub const ROUND_TRIPS_KEPT: usize = 60;

const MINUTE_MS: u64 = 60_000;

/// Events received in one minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MinuteCount {
    /// The minute's start (ms since epoch).
    pub minute: u64,
    /// Dispatch events received in it.
    pub events: u64,
}

/// One heartbeat acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoundTrip {
    /// When the acknowledgement came (ms since epoch).
    pub at: u64,
    /// Heartbeat sent to acknowledged (ms).
    pub round_trip_ms: u64,
}

/// What `/status` shows as `history`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistorySnapshot {
    /// The last [`MINUTES_KEPT`] minutes up to the current one, oldest first, empty minutes as 0.
    pub events_per_minute: Vec<MinuteCount>,
    /// The last [`ROUND_TRIPS_KEPT`] heartbeat round trips, oldest first.
    pub heartbeat: Vec<RoundTrip>,
}

impl HistorySnapshot {
    /// Events per second over the last full minute (the one before the current minute, or the
    /// only one there is): what a sharded bot's `/status` shows per shard.
    pub fn events_per_second(&self) -> f64 {
        let minutes = &self.events_per_minute;
        let last_full = minutes.iter().rev().nth(1).or_else(|| minutes.last());
        last_full.map_or(0.0, |m| m.events as f64 / 60.0)
    }
}

/// The rings. Only minutes with events are stored.
#[derive(Clone, Debug, Default)]
pub struct ActivityHistory {
    minutes: VecDeque<MinuteCount>,
    round_trips: VecDeque<RoundTrip>,
}

impl ActivityHistory {
    /// Counts one event received at `now`. A clock that went backwards counts in the newest minute.
    pub fn record_event(&mut self, now: u64) {
        let minute = now - now % MINUTE_MS;
        match self.minutes.back_mut() {
            Some(last) if last.minute >= minute => last.events += 1,
            _ => {
                if self.minutes.len() == MINUTES_KEPT {
                    self.minutes.pop_front();
                }
                self.minutes.push_back(MinuteCount { minute, events: 1 });
            }
        }
    }

    /// Keeps one heartbeat round trip.
    pub fn record_round_trip(&mut self, at: u64, round_trip_ms: u64) {
        if self.round_trips.len() == ROUND_TRIPS_KEPT {
            self.round_trips.pop_front();
        }
        self.round_trips.push_back(RoundTrip { at, round_trip_ms });
    }

    /// The last hour as of `now`, every minute present.
    pub fn snapshot(&self, now: u64) -> HistorySnapshot {
        let current = now - now % MINUTE_MS;
        let first = current.saturating_sub(MINUTE_MS * (MINUTES_KEPT as u64 - 1));
        let mut stored = self.minutes.iter().peekable();
        let events_per_minute = (0..MINUTES_KEPT as u64)
            .map(|i| first + i * MINUTE_MS)
            .filter(|minute| *minute <= current)
            .map(|minute| {
                while stored.peek().is_some_and(|m| m.minute < minute) {
                    stored.next();
                }
                let events = match stored.peek() {
                    Some(m) if m.minute == minute => m.events,
                    _ => 0,
                };
                MinuteCount { minute, events }
            })
            .collect();
        HistorySnapshot {
            events_per_minute,
            heartbeat: self.round_trips.iter().copied().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000_000; // a whole minute

    #[test]
    fn issue_12_events_per_second_reads_the_last_full_minute() {
        let mut history = ActivityHistory::default();
        for _ in 0..120 {
            history.record_event(T0 + 1);
        }
        history.record_event(T0 + 60_001);
        // Through /status as JSON, as the coordinator reads a shard's history.
        let json = serde_json::to_value(history.snapshot(T0 + 60_002)).unwrap();
        let read: HistorySnapshot = serde_json::from_value(json).unwrap();
        assert_eq!(read.events_per_second(), 2.0);
        assert_eq!(HistorySnapshot::default().events_per_second(), 0.0);
    }

    #[test]
    fn counts_events_per_minute_and_fills_quiet_minutes_with_zero() {
        let mut history = ActivityHistory::default();
        history.record_event(T0 + 1);
        history.record_event(T0 + 59_999);
        history.record_event(T0 + 3 * MINUTE_MS + 5);
        let snapshot = history.snapshot(T0 + 3 * MINUTE_MS + 10);
        assert_eq!(snapshot.events_per_minute.len(), MINUTES_KEPT);
        let last4: Vec<u64> = snapshot.events_per_minute[MINUTES_KEPT - 4..]
            .iter()
            .map(|m| m.events)
            .collect();
        assert_eq!(last4, [2, 0, 0, 1]);
        assert_eq!(
            snapshot.events_per_minute.last().unwrap().minute,
            T0 + 3 * MINUTE_MS
        );
        let minutes: Vec<u64> = snapshot
            .events_per_minute
            .iter()
            .map(|m| m.minute)
            .collect();
        assert!(minutes.windows(2).all(|w| w[1] == w[0] + MINUTE_MS));
    }

    #[test]
    fn keeps_one_hour_and_drops_what_is_older() {
        let mut history = ActivityHistory::default();
        for i in 0..(3 * MINUTES_KEPT as u64) {
            history.record_event(T0 + i * MINUTE_MS);
        }
        assert_eq!(history.minutes.len(), MINUTES_KEPT);
        let now = T0 + (3 * MINUTES_KEPT as u64 - 1) * MINUTE_MS;
        let snapshot = history.snapshot(now);
        assert!(snapshot.events_per_minute.iter().all(|m| m.events == 1));
        // An hour later nothing is left in the window.
        let later = history.snapshot(now + MINUTES_KEPT as u64 * MINUTE_MS);
        assert!(later.events_per_minute.iter().all(|m| m.events == 0));
    }

    #[test]
    fn keeps_the_last_round_trips_in_order() {
        let mut history = ActivityHistory::default();
        for i in 0..(ROUND_TRIPS_KEPT as u64 + 5) {
            history.record_round_trip(T0 + i, i);
        }
        let trips = history.snapshot(T0).heartbeat;
        assert_eq!(trips.len(), ROUND_TRIPS_KEPT);
        assert_eq!(trips.first().unwrap().round_trip_ms, 5);
        assert_eq!(
            trips.last().unwrap().round_trip_ms,
            ROUND_TRIPS_KEPT as u64 + 4
        );
    }

    #[test]
    fn a_clock_going_backwards_neither_panics_nor_grows_the_ring() {
        let mut history = ActivityHistory::default();
        history.record_event(T0 + 5 * MINUTE_MS);
        history.record_event(T0);
        assert_eq!(history.minutes.len(), 1);
        assert_eq!(history.minutes[0].events, 2);
        // A snapshot taken before the first minute still answers.
        assert_eq!(history.snapshot(0).events_per_minute.len(), 1);
    }
}
