//! Reconnect pacing: exponential backoff with jitter, and a ceiling on attempts per minute.

use std::collections::VecDeque;

use super::jitter::{scale, Jitter};

/// The first retry waits up to this long.
pub const BASE_DELAY_MS: u64 = 1_000;
/// No retry waits longer than this.
pub const MAX_DELAY_MS: u64 = 5 * 60 * 1_000;
/// At most this many connection attempts start in any [`CEILING_WINDOW_MS`].
pub const MAX_ATTEMPTS_PER_WINDOW: usize = 6;
/// The window of the attempt ceiling.
pub const CEILING_WINDOW_MS: u64 = 60_000;

/// Paces reconnect attempts.
#[derive(Clone, Debug, Default)]
pub struct Backoff {
    failures: u32,
    recent_attempts: VecDeque<u64>,
}

impl Backoff {
    /// Consecutive failures since the last READY or RESUMED.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Called on READY or RESUMED: the next failure starts from the base delay again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Counts one more failure and returns the delay before the next attempt: a random point
    /// in the upper half of `BASE * 2^(failures-1)`, capped at [`MAX_DELAY_MS`].
    pub fn next_delay(&mut self, jitter: &mut dyn Jitter) -> u64 {
        let exponent = self.failures.min(20);
        self.failures = self.failures.saturating_add(1);
        let ceiling = BASE_DELAY_MS
            .saturating_mul(1 << exponent)
            .min(MAX_DELAY_MS);
        ceiling / 2 + scale(ceiling / 2, jitter.next_fraction())
    }

    /// The earliest time at or after `at` when another attempt fits under the ceiling.
    pub fn admit(&self, at: u64) -> u64 {
        if self.recent_attempts.len() < MAX_ATTEMPTS_PER_WINDOW {
            return at;
        }
        let oldest_that_matters =
            self.recent_attempts[self.recent_attempts.len() - MAX_ATTEMPTS_PER_WINDOW];
        at.max(oldest_that_matters + CEILING_WINDOW_MS)
    }

    /// Records an attempt starting at `now`.
    pub fn record_attempt(&mut self, now: u64) {
        while self
            .recent_attempts
            .front()
            .is_some_and(|t| t + CEILING_WINDOW_MS <= now)
        {
            self.recent_attempts.pop_front();
        }
        self.recent_attempts.push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::jitter::SeededJitter;

    struct Fixed(f64);
    impl Jitter for Fixed {
        fn next_fraction(&mut self) -> f64 {
            self.0
        }
    }

    #[test]
    fn grows_exponentially_to_the_cap_and_resets() {
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..12)
            .map(|_| backoff.next_delay(&mut Fixed(0.999_999)))
            .collect();
        assert_eq!(&delays[..4], &[999, 1999, 3999, 7999]);
        assert!(delays.iter().all(|d| *d <= MAX_DELAY_MS));
        assert_eq!(*delays.last().unwrap(), MAX_DELAY_MS - 1);
        backoff.reset();
        assert_eq!(backoff.next_delay(&mut Fixed(0.0)), 500);
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let mut jitter = SeededJitter::new(9);
        for _ in 0..200 {
            let mut backoff = Backoff::default();
            let d = backoff.next_delay(&mut jitter);
            assert!((500..1000).contains(&d));
        }
    }

    #[test]
    fn ceiling_limits_attempts_per_minute() {
        let mut backoff = Backoff::default();
        for i in 0..MAX_ATTEMPTS_PER_WINDOW as u64 {
            assert_eq!(backoff.admit(i * 10), i * 10);
            backoff.record_attempt(i * 10);
        }
        assert_eq!(backoff.admit(100), CEILING_WINDOW_MS);
        assert_eq!(backoff.admit(CEILING_WINDOW_MS + 5), CEILING_WINDOW_MS + 5);
    }
}
