//! The Identify budget: `session_start_limit` per bot, and one Identify per 5 s per bucket.

use serde::{Deserialize, Serialize};

/// Discord allows `max_concurrency` Identify calls per this window.
pub const CONCURRENCY_WINDOW_MS: u64 = 5_000;

/// `session_start_limit` from `GET /gateway/bot`, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionStartLimit {
    /// Identify calls allowed per reset period.
    pub total: u32,
    /// Identify calls left.
    pub remaining: u32,
    /// Milliseconds until `remaining` is refilled.
    pub reset_after: u64,
    /// Identify calls allowed per 5 s.
    pub max_concurrency: u32,
}

/// What the engine knows of the bot's Identify budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentifyBudget {
    /// Calls per period, when known.
    pub total: Option<u32>,
    /// Calls left, when known; decremented on every Identify we send.
    pub remaining: Option<u32>,
    /// When the budget refills (ms since epoch), when known.
    pub resets_at: Option<u64>,
    /// Last time we sent Identify.
    pub last_identify_at: Option<u64>,
}

impl IdentifyBudget {
    /// Takes a fresh `session_start_limit` received at `now`.
    pub fn update(&mut self, limit: SessionStartLimit, now: u64) {
        self.total = Some(limit.total);
        self.remaining = Some(limit.remaining);
        self.resets_at = Some(now.saturating_add(limit.reset_after));
    }

    /// When an Identify may be sent, at or after `now`. Exhausted budgets wait for the reset;
    /// consecutive Identify calls are spaced by the concurrency window.
    pub fn ready_at(&self, now: u64) -> u64 {
        let pacing = self.last_identify_at.map_or(now, |last| {
            now.max(last.saturating_add(CONCURRENCY_WINDOW_MS))
        });
        match (self.remaining, self.resets_at) {
            (Some(0), Some(resets_at)) => pacing.max(resets_at),
            _ => pacing,
        }
    }

    /// Whether the known budget is spent (before its reset at `now`).
    pub fn exhausted(&self, now: u64) -> bool {
        self.remaining == Some(0) && self.resets_at.is_some_and(|at| now < at)
    }

    /// Records an Identify sent at `now`.
    pub fn spend(&mut self, now: u64) {
        self.remaining = self.remaining.map(|r| r.saturating_sub(1));
        self.last_identify_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhausted_budget_waits_for_reset_and_identifies_are_spaced() {
        let mut budget = IdentifyBudget::default();
        assert_eq!(budget.ready_at(10), 10);
        budget.update(
            SessionStartLimit {
                total: 1000,
                remaining: 1,
                reset_after: 60_000,
                max_concurrency: 1,
            },
            0,
        );
        assert_eq!(budget.ready_at(0), 0);
        budget.spend(0);
        assert!(budget.exhausted(1));
        assert_eq!(budget.ready_at(1), 60_000);
        assert!(!budget.exhausted(60_000));
        budget.update(
            SessionStartLimit {
                total: 1000,
                remaining: 1000,
                reset_after: 86_400_000,
                max_concurrency: 1,
            },
            60_000,
        );
        assert_eq!(budget.ready_at(60_001), 60_001);
        budget.spend(60_001);
        assert_eq!(budget.ready_at(60_002), 65_001);
    }
}
