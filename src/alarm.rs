//! When the Durable Object's one alarm should fire.
//!
//! A Durable Object runs only when a request or its alarm arrives. When the runtime restarts it
//! (a deploy, a crash, an eviction), its gateway socket and its webhook requests are gone, and
//! nothing happens until the alarm fires. So while the object has work, the alarm is never set
//! further ahead than [`RESTART_WATCH_MS`], whatever the next deadline is: Discord's heartbeat
//! interval alone is about 41 s, and a restarted object must not stay silent that long.
//!
//! The plan keeps an alarm that is already set early enough: an early firing is harmless (the
//! object finds nothing due and plans again), so the alarm is rewritten at most once per watch
//! period or per earlier deadline, never once per frame.

/// The furthest ahead the alarm is set while there is work: how long a restarted object can
/// stay down before its alarm brings it back.
pub const RESTART_WATCH_MS: u64 = 5_000;

/// What to do with the alarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlarmChange {
    /// The alarm already set fires in time (or none is set and none is needed).
    Keep,
    /// Set it to this time (ms since the epoch).
    Set(u64),
    /// Delete it: there is no work.
    Clear,
}

/// Plans the alarm from the one set now (`current`), the earliest deadline of the work there is
/// (`deadline`, `None` when there is no work; `u64::MAX` for work with no deadline of its own,
/// such as a webhook request under way) and the time `now`.
pub fn plan(current: Option<u64>, deadline: Option<u64>, now: u64) -> AlarmChange {
    let Some(deadline) = deadline else {
        return match current {
            Some(_) => AlarmChange::Clear,
            None => AlarmChange::Keep,
        };
    };
    let latest = deadline.min(now.saturating_add(RESTART_WATCH_MS));
    match current {
        Some(at) if at <= latest => AlarmChange::Keep,
        _ => AlarmChange::Set(latest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_000_000;

    #[test]
    fn no_work_clears_the_alarm_once() {
        assert_eq!(plan(Some(NOW + 10), None, NOW), AlarmChange::Clear);
        assert_eq!(plan(None, None, NOW), AlarmChange::Keep);
    }

    #[test]
    fn a_near_deadline_is_the_alarm() {
        assert_eq!(
            plan(None, Some(NOW + 1_000), NOW),
            AlarmChange::Set(NOW + 1_000)
        );
    }

    #[test]
    fn a_far_deadline_is_capped_by_the_restart_watch() {
        let heartbeat = NOW + 41_250;
        assert_eq!(
            plan(None, Some(heartbeat), NOW),
            AlarmChange::Set(NOW + RESTART_WATCH_MS)
        );
        assert_eq!(
            plan(None, Some(u64::MAX), NOW),
            AlarmChange::Set(NOW + RESTART_WATCH_MS)
        );
    }

    #[test]
    fn an_alarm_set_early_enough_is_kept() {
        let set = NOW + 2_000;
        assert_eq!(plan(Some(set), Some(NOW + 41_250), NOW), AlarmChange::Keep);
        assert_eq!(plan(Some(set), Some(set), NOW), AlarmChange::Keep);
        // Later on, the same alarm is still in time: frames do not rewrite it.
        assert_eq!(
            plan(Some(set), Some(NOW + 9_000), NOW + 1_500),
            AlarmChange::Keep
        );
    }

    #[test]
    fn an_earlier_deadline_moves_the_alarm() {
        assert_eq!(
            plan(Some(NOW + 4_000), Some(NOW + 100), NOW),
            AlarmChange::Set(NOW + 100)
        );
    }

    #[test]
    fn the_watch_never_overflows() {
        assert_eq!(
            plan(None, Some(u64::MAX), u64::MAX - 1),
            AlarmChange::Set(u64::MAX)
        );
    }
}
