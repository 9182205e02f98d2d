//! Resharding without a gap, as a state machine:
//! `Running(n) → Starting(m beside n) → Switching (all m READY) → Running(m)`.
//!
//! The owner tells it what happened ([`Reshard::recommended`], [`Reshard::sharding_required`],
//! [`Reshard::shard_ready`], [`Reshard::shard_failed`], [`Reshard::old_stopped`],
//! [`Reshard::tick`]) and carries out the [`Step`]s it returns. While the new set starts, the
//! old set keeps running and stays the one whose events count ([`Reshard::primary`]); both sets
//! may deliver the same event then, which the at-least-once delivery (one event id) absorbs. If
//! the new set fails midway (a shard fails for good, or it is not READY by its deadline), it is
//! stopped and the old set simply keeps running.

use std::collections::BTreeSet;
use std::fmt;

use super::plan::{ShardCount, MAX_SHARDS};
use crate::gateway::identify_budget::CONCURRENCY_WINDOW_MS;

/// How long starting `count` shards takes at least: they Identify in
/// `ceil(count / max_concurrency)` batches, 5 s apart.
pub fn identify_batches(count: u32, max_concurrency: u32) -> u32 {
    count.div_ceil(max_concurrency.max(1))
}

/// A deadline for a new set of `count` shards started at `now`: one 5 s window per Identify
/// batch, plus `slack_ms` for connecting and READY.
pub fn start_deadline(now: u64, count: u32, max_concurrency: u32, slack_ms: u64) -> u64 {
    let batches = u64::from(identify_batches(count, max_concurrency));
    now.saturating_add(batches * CONCURRENCY_WINDOW_MS)
        .saturating_add(slack_ms)
}

/// Where the bot's shard sets stand.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", tag = "phase")]
pub enum ReshardPhase {
    /// One set of `count` shards runs.
    Running {
        /// Its shard count.
        count: u32,
    },
    /// A new set starts beside the old one, which keeps running.
    Starting {
        /// The running set's count.
        old: u32,
        /// The new set's count.
        new: u32,
        /// New shards that reached READY.
        ready: BTreeSet<u32>,
        /// The new set is abandoned if not all READY by then.
        deadline: u64,
    },
    /// Every new shard is READY: the new set is the one that counts; the old set is stopping.
    Switching {
        /// The set being stopped.
        old: u32,
        /// The set that now counts.
        new: u32,
    },
}

/// What the owner does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Start shards `0..count` of a set of `count` (each Identifies through the queue).
    StartSet {
        /// The set's shard count.
        count: u32,
    },
    /// From now on, the set of `count` is the one whose events and status count.
    SwitchTo {
        /// The set's shard count.
        count: u32,
    },
    /// Stop every shard of the set of `count`.
    StopSet {
        /// The set's shard count.
        count: u32,
    },
}

/// Why a reshard cannot happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReshardError {
    /// Discord requires more shards (4011) than the fixed count configured: the operator must
    /// raise `shards` (or use `"auto"`).
    FixedCountTooSmall {
        /// The configured count.
        count: u32,
    },
}

impl fmt::Display for ReshardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FixedCountTooSmall { count } => write!(
                f,
                "Discord requires more than the configured {count} shards (close 4011): \
                 raise shards or set it to \"auto\""
            ),
        }
    }
}

impl std::error::Error for ReshardError {}

/// Why the last reshard was abandoned (the old set kept running).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", tag = "reason")]
pub enum ReshardFailure {
    /// A shard of the new set failed for good.
    ShardFailed {
        /// The new set's count.
        count: u32,
        /// The shard.
        shard: u32,
    },
    /// The new set was not all READY by its deadline.
    TimedOut {
        /// The new set's count.
        count: u32,
        /// How many of its shards were READY.
        ready: u32,
    },
}

/// The resharding state machine of one bot (see the module docs). Serializable, so the
/// coordinator keeps it across restarts.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reshard {
    mode: ShardCount,
    phase: ReshardPhase,
    last_failure: Option<ReshardFailure>,
}

impl Reshard {
    /// A bot configured with `mode`, to which Discord recommends `recommended` shards: it
    /// starts one set of the resolved count.
    pub fn new(mode: ShardCount, recommended: u32) -> (Self, Vec<Step>) {
        let count = mode.resolve(recommended);
        let reshard = Self {
            mode,
            phase: ReshardPhase::Running { count },
            last_failure: None,
        };
        (reshard, vec![Step::StartSet { count }])
    }

    /// Where the sets stand.
    pub fn phase(&self) -> &ReshardPhase {
        &self.phase
    }

    /// The set whose events and status count: the old set until the new one is all READY.
    pub fn primary(&self) -> u32 {
        match self.phase {
            ReshardPhase::Running { count } => count,
            ReshardPhase::Starting { old, .. } => old,
            ReshardPhase::Switching { new, .. } => new,
        }
    }

    /// Why the last reshard was abandoned, if it was.
    pub fn last_failure(&self) -> Option<ReshardFailure> {
        self.last_failure
    }

    /// When [`Reshard::tick`] has something to do: the new set's deadline.
    pub fn next_wake(&self) -> Option<u64> {
        match self.phase {
            ReshardPhase::Starting { deadline, .. } => Some(deadline),
            _ => None,
        }
    }

    /// Discord now recommends `shards` (a fresh `GET /gateway/bot`). With `"auto"`, a running
    /// bot grows to it when it exceeds the current count (it never shrinks on its own);
    /// `deadline` bounds the new set's start.
    pub fn recommended(&mut self, shards: u32, deadline: u64) -> Vec<Step> {
        match self.phase {
            ReshardPhase::Running { count } if self.mode.is_auto() && shards > count => {
                self.begin(count, shards.min(MAX_SHARDS), deadline)
            }
            _ => Vec::new(),
        }
    }

    /// A shard of the set of `set` shards was closed with 4011 (sharding required), while
    /// Discord recommends `recommended`. The bot grows to the recommendation, or by one shard
    /// when the recommendation is not above the failing set's count yet.
    pub fn sharding_required(
        &mut self,
        set: u32,
        recommended: u32,
        deadline: u64,
    ) -> Result<Vec<Step>, ReshardError> {
        if let ShardCount::Fixed(count) = self.mode {
            return Err(ReshardError::FixedCountTooSmall { count: count.get() });
        }
        let target = recommended.max(set.saturating_add(1)).min(MAX_SHARDS);
        Ok(match self.phase {
            ReshardPhase::Running { count } if count == set => self.begin(count, target, deadline),
            // The new set is too small as well: replace it with a bigger one.
            ReshardPhase::Starting { old, new, .. } if new == set => {
                let mut steps = vec![Step::StopSet { count: new }];
                steps.extend(self.begin(old, target, deadline));
                steps
            }
            // The set that just took over is too small: grow again; the old one still stops.
            ReshardPhase::Switching { new, .. } if new == set => self.begin(new, target, deadline),
            // The old set of a reshard under way, or a set already gone.
            _ => Vec::new(),
        })
    }

    /// Shard `shard` of the set of `set` shards reached READY.
    pub fn shard_ready(&mut self, set: u32, shard: u32) -> Vec<Step> {
        let ReshardPhase::Starting {
            old, new, ready, ..
        } = &mut self.phase
        else {
            return Vec::new();
        };
        if *new != set || shard >= set {
            return Vec::new();
        }
        ready.insert(shard);
        if ready.len() < set as usize {
            return Vec::new();
        }
        let (old, new) = (*old, *new);
        self.phase = ReshardPhase::Switching { old, new };
        vec![Step::SwitchTo { count: new }, Step::StopSet { count: old }]
    }

    /// Shard `shard` of the set of `set` shards failed for good (a fatal close other than
    /// 4011, or it could not start). A failing new set is abandoned: the old set keeps running.
    pub fn shard_failed(&mut self, set: u32, shard: u32) -> Vec<Step> {
        match self.phase {
            ReshardPhase::Starting { old, new, .. } if new == set => {
                self.last_failure = Some(ReshardFailure::ShardFailed { count: new, shard });
                self.abandon(old, new)
            }
            _ => Vec::new(),
        }
    }

    /// Every shard of the set of `set` shards has stopped.
    pub fn old_stopped(&mut self, set: u32) -> Vec<Step> {
        if let ReshardPhase::Switching { old, new } = self.phase {
            if old == set {
                self.phase = ReshardPhase::Running { count: new };
            }
        }
        Vec::new()
    }

    /// Time is `now`: a new set not all READY by its deadline is abandoned.
    pub fn tick(&mut self, now: u64) -> Vec<Step> {
        match &self.phase {
            ReshardPhase::Starting {
                old,
                new,
                ready,
                deadline,
            } if now >= *deadline => {
                let (old, new) = (*old, *new);
                self.last_failure = Some(ReshardFailure::TimedOut {
                    count: new,
                    ready: ready.len() as u32,
                });
                self.abandon(old, new)
            }
            _ => Vec::new(),
        }
    }

    fn begin(&mut self, old: u32, new: u32, deadline: u64) -> Vec<Step> {
        self.phase = ReshardPhase::Starting {
            old,
            new,
            ready: BTreeSet::new(),
            deadline,
        };
        vec![Step::StartSet { count: new }]
    }

    fn abandon(&mut self, old: u32, new: u32) -> Vec<Step> {
        self.phase = ReshardPhase::Running { count: old };
        vec![Step::StopSet { count: new }]
    }
}
