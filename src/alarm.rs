//! The Durable Object's one alarm: when it should fire, and keeping storage's copy of it true.
//!
//! A Durable Object runs only when a request or its alarm arrives. When the runtime restarts it
//! (a deploy, a crash, an eviction), its gateway socket and its webhook requests are gone, and
//! nothing happens until the alarm fires. So while the object has work, the alarm is never set
//! further ahead than [`RESTART_WATCH_MS`], whatever the next deadline is: Discord's heartbeat
//! interval alone is about 41 s, and a restarted object must not stay silent that long.
//!
//! [`AlarmKeeper`] is sans-IO: it says which storage call to make ([`AlarmWrite`]) and is told
//! when that call completed ([`AlarmKeeper::written`]) and when the alarm fired
//! ([`AlarmKeeper::fired`]). Its contract:
//!
//! - **One call at a time.** A new call is issued only after the previous one completed, so
//!   storage's calls can never finish out of order; what is wanted meanwhile is remembered and
//!   written next.
//! - **Only what is known is trusted.** An alarm is kept only when a completed call put it there
//!   and it has not fired since. A firing consumes it (the runtime deletes a fired alarm when its
//!   handler ends, unless the handler set another one), and a failed call leaves storage unknown:
//!   either way the next plan writes again. An alarm written and not yet fired is trusted even
//!   when its time has come: it is about to fire, and rewriting it would only push it back.
//! - **Never at or before `now`.** Every alarm is set at least [`MIN_LEAD_MS`] ahead. Setting the
//!   time of the alarm that is firing is a no-op in the runtime, after which the handler's end
//!   deletes it; an alarm in the past would also fire again at once, in a loop.
//! - **Rewritten rarely.** An alarm already set early enough is kept: an early firing is harmless
//!   (the object finds nothing due and plans again), so frames do not rewrite it.
//!
//! The property: once every call issued has completed, storage holds an alarm in the future and
//! no later than the planned time whenever there is work (`tests` check it over random orders of
//! plans, completions, failures and firings).

/// The furthest ahead the alarm is set while there is work: how long a restarted object can
/// stay down before its alarm brings it back.
pub const RESTART_WATCH_MS: u64 = 5_000;

/// The least time between `now` and an alarm set at `now`.
pub const MIN_LEAD_MS: u64 = 1;

/// A storage call to make, then report with [`AlarmKeeper::written`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlarmWrite {
    /// `setAlarm` at this time (ms since the epoch).
    Set(u64),
    /// `deleteAlarm`: there is no work.
    Delete,
}

/// What storage holds, as far as the keeper knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    Nothing,
    At(u64),
    Unknown,
}

/// Plans the alarm and keeps track of what storage holds. See the module docs for the contract.
#[derive(Debug)]
pub struct AlarmKeeper {
    held: Held,
    in_flight: Option<AlarmWrite>,
    /// The in-flight call was issued before a firing: its result says nothing reliable.
    in_flight_stale: bool,
    /// The latest time the alarm may fire, as last planned; `None` when there is no work.
    wanted: Option<u64>,
}

impl Default for AlarmKeeper {
    fn default() -> Self {
        Self::new()
    }
}

impl AlarmKeeper {
    /// A keeper that knows nothing of storage yet: its first plan writes.
    pub fn new() -> Self {
        Self {
            held: Held::Unknown,
            in_flight: None,
            in_flight_stale: false,
            wanted: None,
        }
    }

    /// Plans from the earliest deadline of the work there is (`None` when there is no work;
    /// `u64::MAX` for work with no deadline of its own, such as a webhook request under way) at
    /// time `now`. Returns the storage call to make, if one is needed and none is under way.
    pub fn plan(&mut self, deadline: Option<u64>, now: u64) -> Option<AlarmWrite> {
        self.wanted = deadline.map(|deadline| {
            deadline
                .min(now.saturating_add(RESTART_WATCH_MS))
                .max(now.saturating_add(MIN_LEAD_MS))
        });
        self.next_write(now)
    }

    /// The storage call issued last completed (`ok: false` when it failed). Returns the next
    /// call to make, when what is wanted changed meanwhile.
    pub fn written(&mut self, ok: bool, now: u64) -> Option<AlarmWrite> {
        let write = self.in_flight.take();
        let stale = std::mem::replace(&mut self.in_flight_stale, false);
        self.held = match (ok && !stale, write) {
            (true, Some(AlarmWrite::Set(at))) => Held::At(at),
            (true, Some(AlarmWrite::Delete)) => Held::Nothing,
            _ => Held::Unknown,
        };
        if ok {
            self.next_write(now)
        } else {
            // Storage failed: try again at the next plan, not in a loop here.
            None
        }
    }

    /// The alarm fired: the alarm storage held is consumed when the handler ends (unless the
    /// handler sets another), and a call under way may have landed before or after it.
    pub fn fired(&mut self) {
        self.held = Held::Unknown;
        if self.in_flight.is_some() {
            self.in_flight_stale = true;
        }
    }

    /// Whether a storage call is under way.
    pub fn writing(&self) -> bool {
        self.in_flight.is_some()
    }

    fn next_write(&mut self, now: u64) -> Option<AlarmWrite> {
        if self.in_flight.is_some() {
            return None;
        }
        let write = match (self.wanted, self.held) {
            (None, Held::Nothing) => return None,
            (None, _) => AlarmWrite::Delete,
            (Some(latest), Held::At(at)) if at <= latest => return None,
            // Planned earlier, written now: still never at or before `now`, and what is
            // written is what is wanted from now on.
            (Some(latest), _) => {
                let at = latest.max(now.saturating_add(MIN_LEAD_MS));
                self.wanted = Some(at);
                AlarmWrite::Set(at)
            }
        };
        self.in_flight = Some(write);
        Some(write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    const NOW: u64 = 1_000_000;

    /// A keeper whose storage is known to hold `at`.
    fn holding(at: Option<u64>) -> AlarmKeeper {
        let mut keeper = AlarmKeeper::new();
        let write = keeper.plan(at, NOW - 10);
        assert!(write.is_some());
        assert_eq!(keeper.written(true, NOW - 10), None);
        keeper
    }

    #[test]
    fn no_work_deletes_the_alarm_once() {
        let mut keeper = holding(Some(NOW + 10));
        assert_eq!(keeper.plan(None, NOW), Some(AlarmWrite::Delete));
        assert_eq!(keeper.written(true, NOW), None);
        assert_eq!(keeper.plan(None, NOW), None);
    }

    #[test]
    fn a_near_deadline_is_the_alarm() {
        let mut keeper = AlarmKeeper::new();
        assert_eq!(
            keeper.plan(Some(NOW + 1_000), NOW),
            Some(AlarmWrite::Set(NOW + 1_000))
        );
    }

    #[test]
    fn a_far_deadline_is_capped_by_the_restart_watch() {
        let mut keeper = AlarmKeeper::new();
        assert_eq!(
            keeper.plan(Some(NOW + 41_250), NOW),
            Some(AlarmWrite::Set(NOW + RESTART_WATCH_MS))
        );
        let mut keeper = AlarmKeeper::new();
        assert_eq!(
            keeper.plan(Some(u64::MAX), NOW),
            Some(AlarmWrite::Set(NOW + RESTART_WATCH_MS))
        );
    }

    #[test]
    fn an_alarm_set_early_enough_is_kept() {
        let set = NOW + 2_000;
        let mut keeper = holding(Some(set));
        assert_eq!(keeper.plan(Some(NOW + 41_250), NOW), None);
        assert_eq!(keeper.plan(Some(set), NOW), None);
        // Later on, the same alarm is still in time: frames do not rewrite it.
        assert_eq!(keeper.plan(Some(NOW + 9_000), NOW + 1_500), None);
    }

    #[test]
    fn an_earlier_deadline_moves_the_alarm() {
        let mut keeper = holding(Some(NOW + 4_000));
        assert_eq!(
            keeper.plan(Some(NOW + 100), NOW),
            Some(AlarmWrite::Set(NOW + 100))
        );
    }

    /// Item 14 of the review: a deadline already past (delivery waiting for a free slot) planned
    /// in the handler of an alarm at that very time made the runtime keep an alarm it no longer
    /// held, and the object stopped for good.
    #[test]
    fn a_past_deadline_is_never_the_alarm_and_a_past_alarm_is_never_kept() {
        let past = NOW - 500;
        let mut keeper = holding(Some(past));
        // The alarm at `past` fires; the handler plans the same past deadline.
        keeper.fired();
        assert_eq!(
            keeper.plan(Some(past), NOW),
            Some(AlarmWrite::Set(NOW + MIN_LEAD_MS))
        );
    }

    /// A deadline due within the time a call takes must not make every completion write again:
    /// a written alarm whose time has come is about to fire.
    #[test]
    fn a_written_alarm_whose_time_came_is_kept_until_it_fires() {
        let mut keeper = AlarmKeeper::new();
        assert_eq!(
            keeper.plan(Some(NOW), NOW),
            Some(AlarmWrite::Set(NOW + MIN_LEAD_MS))
        );
        assert_eq!(keeper.written(true, NOW + 5), None);
        assert_eq!(keeper.plan(Some(NOW + 5), NOW + 5), None);
        keeper.fired();
        assert_eq!(
            keeper.plan(Some(NOW + 5), NOW + 6),
            Some(AlarmWrite::Set(NOW + 7))
        );
    }

    #[test]
    fn one_call_at_a_time_and_the_latest_plan_wins() {
        let mut keeper = AlarmKeeper::new();
        assert_eq!(
            keeper.plan(Some(NOW + 3_000), NOW),
            Some(AlarmWrite::Set(NOW + 3_000))
        );
        assert_eq!(keeper.plan(None, NOW + 1), None, "a call is under way");
        assert_eq!(keeper.plan(Some(NOW + 200), NOW + 2), None);
        assert!(keeper.writing());
        assert_eq!(
            keeper.written(true, NOW + 3),
            Some(AlarmWrite::Set(NOW + 200))
        );
        assert_eq!(keeper.written(true, NOW + 4), None);
        assert!(!keeper.writing());
    }

    #[test]
    fn a_failed_call_is_written_again_at_the_next_plan() {
        let mut keeper = AlarmKeeper::new();
        assert_eq!(
            keeper.plan(Some(NOW + 3_000), NOW),
            Some(AlarmWrite::Set(NOW + 3_000))
        );
        assert_eq!(keeper.written(false, NOW), None);
        assert_eq!(
            keeper.plan(Some(NOW + 3_000), NOW + 1),
            Some(AlarmWrite::Set(NOW + 3_000))
        );
    }

    #[test]
    fn a_call_under_way_at_a_firing_is_not_trusted() {
        let mut keeper = AlarmKeeper::new();
        assert_eq!(
            keeper.plan(Some(NOW + 3_000), NOW),
            Some(AlarmWrite::Set(NOW + 3_000))
        );
        keeper.fired();
        assert_eq!(
            keeper.written(true, NOW + 5),
            Some(AlarmWrite::Set(NOW + 3_000))
        );
    }

    #[test]
    fn the_watch_never_overflows() {
        let mut keeper = AlarmKeeper::new();
        assert_eq!(
            keeper.plan(Some(u64::MAX), u64::MAX - 1),
            Some(AlarmWrite::Set(u64::MAX))
        );
    }

    /// A model of Durable Object alarm storage as workerd behaves: calls land in the order they
    /// are made; setting the time of the alarm being handled is a no-op; a handler that ends
    /// with its own alarm still in place deletes it.
    #[derive(Debug, Default)]
    struct Storage {
        alarm: Option<u64>,
        handling: Option<u64>,
    }

    impl Storage {
        fn apply(&mut self, write: AlarmWrite) {
            match write {
                AlarmWrite::Set(at) if Some(at) == self.alarm => {}
                AlarmWrite::Set(at) => self.alarm = Some(at),
                // A running alarm cannot be deleted from its own handler.
                AlarmWrite::Delete if self.handling.is_some() && self.handling == self.alarm => {}
                AlarmWrite::Delete => self.alarm = None,
            }
        }

        fn end_handler(&mut self) {
            if let Some(at) = self.handling.take() {
                if self.alarm == Some(at) {
                    self.alarm = None;
                }
            }
        }
    }

    /// The runtime's side of the model: the one call under way, as (call, landed in storage
    /// already, fails).
    #[derive(Default)]
    struct Calls {
        under_way: Option<(AlarmWrite, bool, bool)>,
        issued: u64,
        /// A plan or a firing came while the call was under way.
        changed_meanwhile: bool,
        /// When the last call was made: a deadline already past is set just after it.
        last_issued_at: u64,
    }

    impl Calls {
        fn issue(&mut self, write: Option<AlarmWrite>, now: u64, rng: &mut Rng, seed: u64) {
            if let Some(write) = write {
                assert!(self.under_way.is_none(), "seed {seed}: two calls at once");
                if let AlarmWrite::Set(at) = write {
                    assert!(at > now, "seed {seed}: alarm {at} set at or before {now}");
                }
                self.issued += 1;
                self.last_issued_at = now;
                self.under_way = Some((write, false, rng.below(20) == 0));
            }
        }

        /// Completes the call under way; true when it failed.
        fn complete(
            &mut self,
            keeper: &mut AlarmKeeper,
            storage: &mut Storage,
            now: u64,
            rng: &mut Rng,
            seed: u64,
        ) -> bool {
            let Some((write, landed, fails)) = self.under_way.take() else {
                return false;
            };
            if !landed && !fails {
                storage.apply(write);
            }
            let next = keeper.written(!fails, now);
            // A call is written again only for something new, never in a loop on its own.
            assert!(
                next.is_none() || std::mem::take(&mut self.changed_meanwhile),
                "seed {seed}: {next:?} after {write:?} with nothing new"
            );
            self.changed_meanwhile = false;
            self.issue(next, now, rng, seed);
            fails
        }
    }

    /// Item 14: whenever there is work, storage holds an alarm no later than planned once every
    /// call made has completed, and no two calls overlap. Random deadlines (past ones
    /// included), calls landing and completing at random points, failed calls, and alarms
    /// firing whenever storage's time comes, with workerd's handler rules.
    #[test]
    fn storage_holds_an_alarm_whenever_there_is_work_in_any_order() {
        for seed in 1..=500u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut keeper = AlarmKeeper::new();
            let mut storage = Storage {
                alarm: Some(NOW + rng.below(20_000)),
                handling: None,
            };
            let mut calls = Calls::default();
            let mut now = NOW;
            let mut deadline: Option<u64> = None;
            let mut latest: Option<u64> = None;
            for _ in 0..400 {
                match rng.below(6) {
                    // Time passes; the alarm fires when its time comes.
                    0 => {
                        now += rng.below(3_000);
                        if let Some(at) = storage.alarm.filter(|at| *at <= now) {
                            storage.handling = Some(at);
                            keeper.fired();
                            calls.changed_meanwhile = true;
                            // The handler handles what is due: the deadline moves on.
                            deadline =
                                deadline.map(
                                    |d| {
                                        if d <= now {
                                            now + rng.below(50_000)
                                        } else {
                                            d
                                        }
                                    },
                                );
                            let write = keeper.plan(deadline, now);
                            latest = keeper.wanted;
                            calls.issue(write, now, &mut rng, seed);
                            // The handler awaits its calls before it ends.
                            while calls.under_way.is_some() {
                                if calls.complete(&mut keeper, &mut storage, now, &mut rng, seed) {
                                    let write = keeper.plan(deadline, now);
                                    calls.issue(write, now, &mut rng, seed);
                                }
                            }
                            storage.end_handler();
                        }
                    }
                    // New work or a changed deadline, sometimes already past.
                    1 | 2 => {
                        deadline = match rng.below(5) {
                            0 => None,
                            1 => Some(now.saturating_sub(rng.below(2_000))),
                            2 => Some(u64::MAX),
                            _ => Some(now + rng.below(60_000)),
                        };
                        let write = keeper.plan(deadline, now);
                        latest = keeper.wanted;
                        calls.changed_meanwhile |= calls.under_way.is_some();
                        calls.issue(write, now, &mut rng, seed);
                    }
                    // The call under way lands in storage (the JS call was made).
                    3 => {
                        if let Some((write, landed @ false, false)) = calls.under_way.as_mut() {
                            storage.apply(*write);
                            *landed = true;
                        }
                    }
                    // The call under way completes, a little later; after a failure the next
                    // input plans.
                    _ => {
                        now += rng.below(8);
                        if calls.complete(&mut keeper, &mut storage, now, &mut rng, seed) {
                            let write = keeper.plan(deadline, now);
                            latest = keeper.wanted;
                            calls.issue(write, now, &mut rng, seed);
                        }
                    }
                }
                if calls.under_way.is_none() {
                    if let Some(latest) = latest {
                        let at = storage.alarm.unwrap_or_else(|| {
                            panic!("seed {seed}: work to do by {latest}, no alarm held (now {now})")
                        });
                        let latest = latest.max(calls.last_issued_at + MIN_LEAD_MS);
                        assert!(at <= latest, "seed {seed}: alarm {at} after {latest}");
                    }
                }
            }
            assert!(calls.issued < 400, "seed {seed}: {} calls", calls.issued);
        }
    }
}
