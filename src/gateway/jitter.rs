//! Injected randomness: the engine never draws random numbers on its own.

/// A source of uniformly distributed fractions in `[0, 1)`.
pub trait Jitter {
    /// The next fraction in `[0, 1)`.
    fn next_fraction(&mut self) -> f64;
}

/// A small deterministic generator (SplitMix64), seeded by the caller.
///
/// Tests seed it with fixed values; the Durable Object seeds it from the runtime's randomness.
#[derive(Clone, Debug)]
pub struct SeededJitter {
    state: u64,
}

impl SeededJitter {
    /// A generator starting from `seed`.
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }
}

impl Jitter for SeededJitter {
    fn next_fraction(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // 53 random bits make every representable fraction below 1.
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A [`SeededJitter`] seeded on its first draw from `seed`, not when it is made: an object
/// that answers a request without ever backing off never asks the platform for randomness
/// (its first `crypto.getRandomValues` is not free), and a runtime start stays shorter.
pub struct LazySeededJitter<F: FnMut() -> u64> {
    seed: F,
    seeded: Option<SeededJitter>,
}

impl<F: FnMut() -> u64> LazySeededJitter<F> {
    /// A generator that calls `seed` once, on its first draw.
    pub const fn new(seed: F) -> Self {
        Self { seed, seeded: None }
    }
}

impl<F: FnMut() -> u64> Jitter for LazySeededJitter<F> {
    fn next_fraction(&mut self) -> f64 {
        let seed = &mut self.seed;
        self.seeded
            .get_or_insert_with(|| SeededJitter::new(seed()))
            .next_fraction()
    }
}

/// Scales `value` by a fraction in `[0, 1)`, rounding down.
pub(crate) fn scale(value: u64, fraction: f64) -> u64 {
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    (value as f64 * fraction) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_stay_in_range_and_vary() {
        let mut jitter = SeededJitter::new(1);
        let draws: Vec<f64> = (0..1000).map(|_| jitter.next_fraction()).collect();
        assert!(draws.iter().all(|f| (0.0..1.0).contains(f)));
        assert!(draws.iter().any(|f| *f < 0.1) && draws.iter().any(|f| *f > 0.9));
    }

    /// Issue 9, runtime start: the seed is drawn on the first draw, once, never when the
    /// generator is made.
    #[test]
    fn issue_9_runtime_start_jitter_is_seeded_on_first_use_only() {
        let calls = std::cell::Cell::new(0);
        let mut lazy = LazySeededJitter::new(|| {
            calls.set(calls.get() + 1);
            42
        });
        assert_eq!(calls.get(), 0, "no randomness asked for at construction");
        let mut eager = SeededJitter::new(42);
        for _ in 0..5 {
            assert_eq!(lazy.next_fraction(), eager.next_fraction());
        }
        assert_eq!(calls.get(), 1, "seeded once");
    }

    #[test]
    fn scale_clamps_bad_fractions() {
        assert_eq!(scale(1000, 0.5), 500);
        assert_eq!(scale(1000, f64::NAN), 0);
        assert_eq!(scale(1000, 7.0), 1000);
    }
}
