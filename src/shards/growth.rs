//! Growing with Discord's recommendation (issue 12): a bot connected with `shards: "auto"`
//! asks `GET /gateway/bot` again every `reshardCheckMs` (6 h by default) and, when the
//! recommended count has grown past the live one, starts the same resharding as a close 4011
//! does ([`Reshard::recommended`]). A bot with a fixed count never checks.
//!
//! The owner sets its alarm to [`GrowthCheck::next_wake`], calls [`GrowthCheck::due`] when it
//! fires, fetches the recommendation, and hands the answer (or the failure) to
//! [`GrowthCheck::checked`], which schedules the next check and returns the resharding steps.

use serde::{Deserialize, Serialize};

use super::plan::ShardCount;
use super::reshard::{Reshard, Step};

/// How often a bot on `"auto"` re-reads the recommended shard count by default: 6 h.
pub const DEFAULT_RESHARD_CHECK_MS: u64 = 6 * 3_600_000;
/// The shortest check interval accepted (meant for tests; Discord's recommendation changes
/// over days).
pub const MIN_RESHARD_CHECK_MS: u64 = 1_000;
/// The longest check interval accepted: 7 days.
pub const MAX_RESHARD_CHECK_MS: u64 = 7 * 86_400_000;

/// `reshardCheckMs` of `/connect`, checked: [`MIN_RESHARD_CHECK_MS`] to
/// [`MAX_RESHARD_CHECK_MS`]; the default when not given.
///
/// # Errors
/// The message for a `400` naming `reshardCheckMs`.
pub fn reshard_check_ms(given: Option<u64>) -> Result<u64, String> {
    match given {
        None => Ok(DEFAULT_RESHARD_CHECK_MS),
        Some(ms) if (MIN_RESHARD_CHECK_MS..=MAX_RESHARD_CHECK_MS).contains(&ms) => Ok(ms),
        Some(ms) => Err(format!(
            "reshardCheckMs must be from {MIN_RESHARD_CHECK_MS} to {MAX_RESHARD_CHECK_MS} (7 days), not {ms}"
        )),
    }
}

/// When the recommended shard count is read next. Serializable: the coordinator stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrowthCheck {
    every_ms: u64,
    next_at: u64,
}

impl Default for GrowthCheck {
    fn default() -> Self {
        Self {
            every_ms: DEFAULT_RESHARD_CHECK_MS,
            next_at: 0,
        }
    }
}

impl GrowthCheck {
    /// A check every `every_ms`, the first one `every_ms` after `now` (the count was just
    /// read by `/connect`).
    pub fn new(every_ms: u64, now: u64) -> Self {
        Self {
            every_ms,
            next_at: now.saturating_add(every_ms),
        }
    }

    /// The interval.
    pub fn every_ms(&self) -> u64 {
        self.every_ms
    }

    /// When the next check is due, for the alarm; `None` for a fixed count (it never grows on
    /// its own).
    pub fn next_wake(&self, mode: ShardCount) -> Option<u64> {
        mode.is_auto().then_some(self.next_at)
    }

    /// Whether a check is due at `now`.
    pub fn due(&self, mode: ShardCount, now: u64) -> bool {
        self.next_wake(mode).is_some_and(|at| now >= at)
    }

    /// A check ended at `now`: Discord recommends `recommended` shards (`None`: the request
    /// failed, and the next check is one interval later). With `"auto"`, a running bot whose
    /// recommendation exceeds its count starts a new set of it; `deadline` bounds that start.
    pub fn checked(
        &mut self,
        reshard: &mut Reshard,
        mode: ShardCount,
        recommended: Option<u32>,
        now: u64,
        deadline: u64,
    ) -> Vec<Step> {
        self.next_at = now.saturating_add(self.every_ms);
        match recommended {
            Some(shards) if mode.is_auto() => reshard.recommended(shards, deadline),
            _ => Vec::new(),
        }
    }
}
