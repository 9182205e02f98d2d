//! The identify queue of one bot: every shard asks before it sends Identify (never before a
//! Resume), and the queue grants at most one Identify per bucket `shard_id % max_concurrency`
//! per 5 s, first come first served within a bucket, all drawn from the one daily
//! `session_start_limit`, which is never overdrawn.
//!
//! Pure: every call takes `now` (ms since epoch). The owner issues grants to waiting shards by
//! calling [`IdentifyQueue::poll`] at [`IdentifyQueue::next_wake`].
//!
//! A grant spends one session start when it is issued, and is valid until its `expires_at`:
//! the shard redeems it ([`IdentifyQueue::redeem`]) just before it sends Identify. The bucket's
//! next grant comes 5 s after the redeem, or 5 s after the expiry when the grant was never
//! redeemed (the queue cannot know whether it was used, so it assumes the worst; an unused
//! grant's session start is not given back). So two Identifies of one bucket are never closer
//! than 5 s, and the budget is never overdrawn.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use crate::gateway::identify_budget::{SessionStartLimit, CONCURRENCY_WINDOW_MS};

/// How long a shard has to redeem a grant.
pub const GRANT_TTL_MS: u64 = 5_000;

/// When Discord does not say otherwise: the budget period (24 h).
const BUDGET_PERIOD_MS: u64 = 86_400_000;

/// Timings of the queue (Discord's by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueTimings {
    /// One Identify per bucket per this window.
    pub window_ms: u64,
    /// How long a grant may wait to be redeemed.
    pub grant_ttl_ms: u64,
}

impl Default for QueueTimings {
    fn default() -> Self {
        Self {
            window_ms: CONCURRENCY_WINDOW_MS,
            grant_ttl_ms: GRANT_TTL_MS,
        }
    }
}

/// Permission for one shard to send one Identify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The shard it is for.
    pub shard: u32,
    /// Its bucket, `shard % max_concurrency`.
    pub bucket: u32,
    /// When it was issued.
    pub granted_at: u64,
    /// Redeem before this time, or ask again.
    pub expires_at: u64,
}

/// The queue's answer to a shard asking to Identify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Identify now (after redeeming the grant).
    Granted(Grant),
    /// Wait: the shard is `position` (0 = next) in its bucket's line; no grant comes before
    /// `not_before` (an estimate; the grant is issued by [`IdentifyQueue::poll`]).
    Queued {
        /// The bucket it waits in.
        bucket: u32,
        /// Shards ahead of it in that bucket.
        position: usize,
        /// The earliest time a grant may come.
        not_before: u64,
    },
    /// The daily session start budget is spent: no shard Identifies until `resets_at`. The
    /// shard keeps its place in line.
    Exhausted {
        /// When the budget refills (ms since epoch).
        resets_at: u64,
    },
}

/// Why a grant cannot be redeemed: do not Identify, ask again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedeemError {
    /// The shard holds no grant (never granted, already redeemed, or expired and dropped).
    NoGrant,
    /// The grant expired at this time.
    Expired(u64),
}

impl fmt::Display for RedeemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoGrant => f.write_str("no identify grant held"),
            Self::Expired(at) => write!(f, "identify grant expired at {at}"),
        }
    }
}

impl std::error::Error for RedeemError {}

/// The budget and the lines, for `/status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueStatus {
    /// Session starts per period.
    pub total: u32,
    /// Session starts left (grants issued are already taken off).
    pub remaining: u32,
    /// When the budget refills.
    pub resets_at: u64,
    /// `max_concurrency`.
    pub max_concurrency: u32,
    /// Shards waiting for a grant.
    pub waiting: usize,
    /// Grants issued and not yet redeemed or expired.
    pub outstanding: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Waiter {
    /// Arrival order over the whole queue (kept when buckets are redrawn).
    order: u64,
    shard: u32,
}

#[derive(Clone, Debug, Default)]
struct Bucket {
    /// No grant before this time.
    free_at: u64,
    waiting: VecDeque<Waiter>,
}

/// What the queue keeps across restarts: the budget, and when each bucket may grant again
/// (outstanding grants count as used: their bucket waits for their expiry and a window). The
/// lines are not kept: waiting shards ask again.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueSnapshot {
    /// Session starts per period.
    pub total: u32,
    /// Session starts left.
    pub remaining: u32,
    /// When the budget refills (ms since epoch).
    pub resets_at: u64,
    /// `max_concurrency`.
    pub max_concurrency: u32,
    /// Per bucket: no grant before this time.
    pub free_at: BTreeMap<u32, u64>,
}

/// The identify queue of one bot (see the module docs).
#[derive(Clone, Debug)]
pub struct IdentifyQueue {
    timings: QueueTimings,
    max_concurrency: u32,
    total: u32,
    remaining: u32,
    resets_at: u64,
    buckets: BTreeMap<u32, Bucket>,
    /// Outstanding grants by shard.
    grants: BTreeMap<u32, Grant>,
    next_order: u64,
}

impl IdentifyQueue {
    /// A queue for a bot whose `GET /gateway/bot` said `limit` at `now`.
    pub fn new(limit: SessionStartLimit, now: u64, timings: QueueTimings) -> Self {
        Self {
            timings,
            max_concurrency: limit.max_concurrency.max(1),
            total: limit.total,
            remaining: limit.remaining,
            resets_at: now.saturating_add(limit.reset_after),
            buckets: BTreeMap::new(),
            grants: BTreeMap::new(),
            next_order: 0,
        }
    }

    /// What to store so that a restarted queue never overdraws the budget nor grants a
    /// bucket early.
    pub fn snapshot(&self) -> QueueSnapshot {
        let free_at = self
            .buckets
            .keys()
            .chain(self.grants.values().map(|g| &g.bucket))
            .map(|&bucket| (bucket, self.bucket_free_at(bucket)))
            .filter(|(_, at)| *at > 0)
            .collect();
        QueueSnapshot {
            total: self.total,
            remaining: self.remaining,
            resets_at: self.resets_at,
            max_concurrency: self.max_concurrency,
            free_at,
        }
    }

    /// A queue restored from [`IdentifyQueue::snapshot`], with no one waiting.
    pub fn restore(snapshot: &QueueSnapshot, timings: QueueTimings) -> Self {
        Self {
            timings,
            max_concurrency: snapshot.max_concurrency.max(1),
            total: snapshot.total,
            remaining: snapshot.remaining,
            resets_at: snapshot.resets_at,
            buckets: snapshot
                .free_at
                .iter()
                .map(|(&bucket, &free_at)| {
                    (
                        bucket,
                        Bucket {
                            free_at,
                            waiting: VecDeque::new(),
                        },
                    )
                })
                .collect(),
            grants: BTreeMap::new(),
            next_order: 0,
        }
    }

    /// The bucket of `shard`: `shard % max_concurrency`.
    pub fn bucket_of(&self, shard: u32) -> u32 {
        shard % self.max_concurrency
    }

    /// Takes a fresh `session_start_limit` read at `now`. Grants not yet redeemed may not be
    /// counted by Discord yet, so they stay taken off `remaining`. A new `max_concurrency`
    /// redraws the buckets; every bucket then waits as long as the slowest old one did.
    pub fn update_limit(&mut self, limit: SessionStartLimit, now: u64) {
        self.expire(now);
        self.total = limit.total;
        self.remaining = limit.remaining.saturating_sub(self.grants.len() as u32);
        self.resets_at = now.saturating_add(limit.reset_after);
        let max_concurrency = limit.max_concurrency.max(1);
        if max_concurrency != self.max_concurrency {
            let free_at = self.buckets.values().map(|b| b.free_at).max().unwrap_or(0);
            let mut waiting: Vec<Waiter> = std::mem::take(&mut self.buckets)
                .into_values()
                .flat_map(|b| b.waiting)
                .collect();
            waiting.sort_by_key(|w| w.order);
            self.max_concurrency = max_concurrency;
            for grant in self.grants.values_mut() {
                grant.bucket = grant.shard % max_concurrency;
            }
            for bucket in 0..max_concurrency {
                self.buckets.insert(
                    bucket,
                    Bucket {
                        free_at,
                        waiting: VecDeque::new(),
                    },
                );
            }
            for waiter in waiting {
                let bucket = self.bucket_of(waiter.shard);
                self.bucket_mut(bucket).waiting.push_back(waiter);
            }
        }
    }

    /// `shard` asks to Identify at `now`. It is granted at once only when it is first in its
    /// bucket's line and the bucket and budget allow; grants for other shards come only from
    /// [`IdentifyQueue::poll`]. Asking again while waiting or while holding a grant answers the
    /// same (nothing is spent twice).
    pub fn request(&mut self, shard: u32, now: u64) -> Answer {
        self.expire(now);
        if let Some(grant) = self.grants.get(&shard) {
            return Answer::Granted(*grant);
        }
        let bucket = self.bucket_of(shard);
        if !self.is_waiting(shard) {
            let order = self.next_order;
            self.next_order += 1;
            self.bucket_mut(bucket)
                .waiting
                .push_back(Waiter { order, shard });
        }
        // Only the asker's own grant is issued here; grants for others come from `poll`, so
        // the owner hears of every one of them.
        let head = self.buckets[&bucket].waiting.front().map(|w| w.shard);
        if head == Some(shard) {
            if let Some(grant) = self.issue_bucket(bucket, now) {
                return Answer::Granted(grant);
            }
        }
        if self.exhausted(now) {
            return Answer::Exhausted {
                resets_at: self.resets_at,
            };
        }
        let b = &self.buckets[&bucket];
        let position = b.waiting.iter().position(|w| w.shard == shard).unwrap_or(0);
        let free_at = self.bucket_free_at(bucket).max(now);
        Answer::Queued {
            bucket,
            position,
            not_before: free_at.saturating_add(position as u64 * self.timings.window_ms),
        }
    }

    /// Issues the grants due at `now` to the shards at the head of their bucket's line, and
    /// returns them (the owner hands each to its shard).
    pub fn poll(&mut self, now: u64) -> Vec<Grant> {
        self.expire(now);
        self.issue(now)
    }

    /// `shard` is about to send Identify with its grant at `now`. On an error it must not
    /// Identify, and asks again.
    pub fn redeem(&mut self, shard: u32, now: u64) -> Result<Grant, RedeemError> {
        let grant = *self.grants.get(&shard).ok_or(RedeemError::NoGrant)?;
        if now >= grant.expires_at {
            self.expire(now);
            return Err(RedeemError::Expired(grant.expires_at));
        }
        self.grants.remove(&shard);
        let window = self.timings.window_ms;
        let bucket = self.bucket_mut(grant.bucket);
        bucket.free_at = bucket.free_at.max(now.saturating_add(window));
        Ok(grant)
    }

    /// `shard` no longer wants to Identify (stopped): it leaves its line. A grant it holds
    /// stays until it expires, since it may have been used.
    pub fn cancel(&mut self, shard: u32) {
        for bucket in self.buckets.values_mut() {
            bucket.waiting.retain(|w| w.shard != shard);
        }
    }

    /// When [`IdentifyQueue::poll`] has something to do next: a grant to expire, or a waiting
    /// line whose bucket frees up (or, when the budget is spent, its reset).
    pub fn next_wake(&self) -> Option<u64> {
        let expiries = self.grants.values().map(|g| g.expires_at);
        let lines = self
            .buckets
            .iter()
            .filter(|(_, b)| !b.waiting.is_empty())
            .map(|(&bucket, _)| {
                let free_at = self.bucket_free_at(bucket);
                if self.remaining == 0 {
                    free_at.max(self.resets_at)
                } else {
                    free_at
                }
            });
        expiries.chain(lines).min()
    }

    /// The budget and the lines.
    pub fn status(&self) -> QueueStatus {
        QueueStatus {
            total: self.total,
            remaining: self.remaining,
            resets_at: self.resets_at,
            max_concurrency: self.max_concurrency,
            waiting: self.buckets.values().map(|b| b.waiting.len()).sum(),
            outstanding: self.grants.len(),
        }
    }

    /// Whether the budget is spent at `now` (until its reset).
    pub fn exhausted(&self, now: u64) -> bool {
        self.remaining == 0 && now < self.resets_at
    }

    fn is_waiting(&self, shard: u32) -> bool {
        self.buckets
            .values()
            .any(|b| b.waiting.iter().any(|w| w.shard == shard))
    }

    fn bucket_mut(&mut self, bucket: u32) -> &mut Bucket {
        self.buckets.entry(bucket).or_default()
    }

    /// When `bucket` may have its next grant: its own `free_at`, and never while a grant of it
    /// is outstanding (until that one's expiry and a window more).
    fn bucket_free_at(&self, bucket: u32) -> u64 {
        let own = self.buckets.get(&bucket).map_or(0, |b| b.free_at);
        self.grants
            .values()
            .filter(|g| g.bucket == bucket)
            .map(|g| g.expires_at.saturating_add(self.timings.window_ms))
            .fold(own, u64::max)
    }

    /// Drops grants expired at `now`, and refills the budget once its reset has passed.
    fn expire(&mut self, now: u64) {
        let window = self.timings.window_ms;
        let expired: Vec<Grant> = self
            .grants
            .values()
            .filter(|g| now >= g.expires_at)
            .copied()
            .collect();
        for grant in expired {
            self.grants.remove(&grant.shard);
            let bucket = self.bucket_mut(grant.bucket);
            bucket.free_at = bucket.free_at.max(grant.expires_at.saturating_add(window));
        }
        if now >= self.resets_at {
            self.remaining = self.total;
            while self.resets_at <= now {
                self.resets_at = self.resets_at.saturating_add(BUDGET_PERIOD_MS);
            }
        }
    }

    /// Grants the head of every free bucket's line, while the budget lasts.
    fn issue(&mut self, now: u64) -> Vec<Grant> {
        let buckets: Vec<u32> = self.buckets.keys().copied().collect();
        buckets
            .into_iter()
            .filter_map(|bucket| self.issue_bucket(bucket, now))
            .collect()
    }

    /// Grants the head of `bucket`'s line if the bucket is free at `now` and the budget lasts.
    fn issue_bucket(&mut self, bucket: u32, now: u64) -> Option<Grant> {
        if self.remaining == 0 || self.bucket_free_at(bucket) > now {
            return None;
        }
        let waiter = self.bucket_mut(bucket).waiting.pop_front()?;
        let grant = Grant {
            shard: waiter.shard,
            bucket,
            granted_at: now,
            expires_at: now.saturating_add(self.timings.grant_ttl_ms),
        };
        self.remaining -= 1;
        self.grants.insert(waiter.shard, grant);
        Some(grant)
    }
}
