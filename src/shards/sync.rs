//! A sharded bot's subscriptions, owned by its coordinator and copied to every shard object
//! (issue 12), sans-IO: the message that carries them, and what a shard changes to match it.
//!
//! The coordinator numbers its subscriptions' versions: every create, replace or delete is a new
//! version, sent to every shard (in `ShardStart`, and by an internal route on each change). A
//! shard reports the version it holds with each report; one that missed a change is sent the
//! current one again. Definitions travel as stored (filter, push URL and secret); a pull
//! subscription's token hash never leaves the coordinator (the coordinator checks tokens).

use serde::{Deserialize, Serialize};

use crate::api::SubscriptionStatus;

/// One subscription as a shard stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncedSubscription {
    /// Its name.
    pub name: String,
    /// `push` or `pull`.
    pub kind: String,
    /// Its stored definition (JSON: filter, push URL and secret).
    pub definition: String,
}

/// Coordinator → shard: every subscription besides `default`, at `version`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionSync {
    /// The coordinator's version (a shard never goes back to an older one).
    pub version: u64,
    /// The subscriptions.
    pub subscriptions: Vec<SyncedSubscription>,
}

/// The first wait before a shard that missed a version is sent it again.
pub const RETRY_FIRST_MS: u64 = 1_000;
/// The longest wait between two retries (the backoff doubles up to this).
pub const RETRY_MAX_MS: u64 = 60_000;

/// The shards (by object name) that did not acknowledge the coordinator's current version
/// when it was sent to them, and when it is sent to them again (the coordinator's alarm).
/// Retries back off (doubling from [`RETRY_FIRST_MS`] to [`RETRY_MAX_MS`]) and all pending
/// shards are retried together, so a shard that stays unreachable costs one call a minute,
/// and nothing is done per event. A shard leaves the list when it acknowledges (an answered
/// retry, or a report holding the version) or is no longer read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRetry {
    /// The version they miss.
    pub version: u64,
    /// Their object names.
    pub shards: Vec<String>,
    /// Retries made so far (the backoff's exponent).
    pub attempts: u32,
    /// When they are sent the version again (ms).
    pub next_at: u64,
}

impl SyncRetry {
    /// `version` was sent to every shard at `now` and `failed` did not acknowledge it. A shard
    /// already pending that failed again keeps its backoff (a change each second does not
    /// make a retry each second); otherwise the backoff starts over.
    #[must_use]
    pub fn sent(&self, version: u64, failed: Vec<String>, now: u64) -> Self {
        let attempts = if failed.iter().any(|f| self.shards.contains(f)) {
            self.attempts.saturating_add(1)
        } else {
            0
        };
        Self {
            version,
            shards: failed,
            attempts,
            next_at: now.saturating_add(delay(attempts)),
        }
    }

    /// When the coordinator must wake to retry (`None`: every shard acknowledged).
    pub fn next_wake(&self) -> Option<u64> {
        (!self.shards.is_empty()).then_some(self.next_at)
    }

    /// Whether a retry is due at `now`.
    pub fn due(&self, now: u64) -> bool {
        self.next_wake().is_some_and(|at| now >= at)
    }

    /// The retry made at `now`: `failed` still did not acknowledge; the next wait doubles.
    pub fn retried(&mut self, failed: Vec<String>, now: u64) {
        self.shards = failed;
        self.attempts = self.attempts.saturating_add(1);
        self.next_at = now.saturating_add(delay(self.attempts));
    }

    /// `shard` holds `held` (it reported it, or answered a send): at the pending version or
    /// newer, it is no longer pending.
    pub fn acknowledged(&mut self, shard: &str, held: u64) {
        if held >= self.version {
            self.shards.retain(|s| s != shard);
        }
    }

    /// Only the shards still read (`read`) are kept pending.
    pub fn retain_read(&mut self, read: &[String]) {
        self.shards.retain(|s| read.contains(s));
    }
}

/// The wait after `attempts` retries: [`RETRY_FIRST_MS`] doubled each time, at most
/// [`RETRY_MAX_MS`].
fn delay(attempts: u32) -> u64 {
    RETRY_FIRST_MS
        .saturating_mul(1u64 << attempts.min(16))
        .min(RETRY_MAX_MS)
}

/// One change a shard makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncChange {
    /// A subscription it does not have.
    Create(SyncedSubscription),
    /// Same name and kind, another definition.
    Replace(SyncedSubscription),
    /// Gone from the coordinator (or its kind changed: deleted, then created).
    Delete(String),
}

/// What a shard holding `local` changes to hold `wanted`: deletions first (a kind that
/// changed is deleted, then created), then creations and replacements in `wanted`'s order.
pub fn plan(local: &[SyncedSubscription], wanted: &[SyncedSubscription]) -> Vec<SyncChange> {
    let mut changes = Vec::new();
    for have in local {
        let keep = wanted
            .iter()
            .any(|w| w.name == have.name && w.kind == have.kind);
        if !keep {
            changes.push(SyncChange::Delete(have.name.clone()));
        }
    }
    for want in wanted {
        match local
            .iter()
            .find(|l| l.name == want.name && l.kind == want.kind)
        {
            None => changes.push(SyncChange::Create(want.clone())),
            Some(have) if have.definition != want.definition => {
                changes.push(SyncChange::Replace(want.clone()));
            }
            Some(_) => {}
        }
    }
    changes
}

/// A sharded bot's `/status` `subscriptions`: each subscription's figures added up over its
/// shards' (in the order first seen; the last error is the first shard's that has one).
pub fn add_up(
    shards: impl IntoIterator<Item = Vec<SubscriptionStatus>>,
) -> Vec<SubscriptionStatus> {
    let mut sum: Vec<SubscriptionStatus> = Vec::new();
    for status in shards.into_iter().flatten() {
        let Some(total) = sum
            .iter_mut()
            .find(|t| t.name == status.name && t.kind == status.kind)
        else {
            sum.push(status);
            continue;
        };
        let (t, s) = (&mut total.counts, status.counts);
        t.pending += s.pending;
        t.in_flight += s.in_flight;
        t.dead_letters += s.dead_letters;
        t.delivered += s.delivered;
        t.failed_attempts += s.failed_attempts;
        t.lag += s.lag;
        if t.last_error.is_none() {
            t.last_error = s.last_error;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::SubscriptionCounts;

    fn status(name: &str, delivered: u64, lag: u64, error: Option<&str>) -> SubscriptionStatus {
        SubscriptionStatus {
            name: name.to_owned(),
            kind: "push".to_owned(),
            counts: SubscriptionCounts {
                delivered,
                lag,
                pending: lag,
                last_error: error.map(str::to_owned),
                ..SubscriptionCounts::default()
            },
        }
    }

    #[test]
    fn issue12_status_adds_up_each_subscription_over_the_shards() {
        let sum = add_up([
            vec![status("default", 3, 1, None), status("a", 2, 0, None)],
            vec![
                status("default", 4, 0, Some("503")),
                status("a", 5, 2, None),
            ],
        ]);
        assert_eq!(sum.len(), 2);
        assert_eq!(sum[0].name, "default");
        assert_eq!((sum[0].counts.delivered, sum[0].counts.lag), (7, 1));
        assert_eq!(sum[0].counts.last_error.as_deref(), Some("503"));
        assert_eq!((sum[1].counts.delivered, sum[1].counts.pending), (7, 2));
    }

    /// Issue 12 follow-up (convergence): a shard that missed a version is retried on the
    /// alarm with a bounded backoff until it acknowledges, without waiting for its next
    /// session's report.
    #[test]
    fn issue12_sync_retry_resends_a_missed_version_with_bounded_backoff() {
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let everyone_acked = SyncRetry::default().sent(1, Vec::new(), 0);
        assert_eq!(everyone_acked.next_wake(), None, "nothing to retry");

        let mut retry = SyncRetry::default().sent(2, names(&["s0", "s1"]), 10_000);
        assert_eq!(retry.next_wake(), Some(10_000 + RETRY_FIRST_MS));
        assert!(!retry.due(10_500));
        assert!(retry.due(11_000));
        // Still unreachable: the wait doubles, and stops growing at RETRY_MAX_MS.
        let mut waits = Vec::new();
        let mut now = 11_000;
        for _ in 0..10 {
            retry.retried(names(&["s0"]), now);
            waits.push(retry.next_at - now);
            now = retry.next_at;
        }
        assert_eq!(&waits[..5], &[2_000, 4_000, 8_000, 16_000, 32_000]);
        assert!(waits[5..].iter().all(|w| *w == RETRY_MAX_MS), "{waits:?}");
        // An older version reported is not an acknowledgement; the pending one is.
        retry.acknowledged("s0", 1);
        assert_eq!(retry.shards, names(&["s0"]));
        retry.acknowledged("s0", 2);
        assert_eq!(retry.next_wake(), None, "converged: no more wakes");

        // A new change while a shard is still pending keeps its backoff (no retry storm).
        let pending = SyncRetry::default()
            .sent(3, names(&["s0"]), 0)
            .sent(4, names(&["s0"]), 100);
        assert_eq!(pending.attempts, 1);
        assert_eq!(pending.next_wake(), Some(100 + 2 * RETRY_FIRST_MS));
        let fresh = pending.sent(5, names(&["s1"]), 200);
        assert_eq!((fresh.version, fresh.attempts), (5, 0));
        // A shard no longer read (its set was stopped) is dropped.
        let mut stopped = fresh;
        stopped.retain_read(&names(&["s0"]));
        assert_eq!(stopped.next_wake(), None);
    }

    fn sub(name: &str, kind: &str, definition: &str) -> SyncedSubscription {
        SyncedSubscription {
            name: name.to_owned(),
            kind: kind.to_owned(),
            definition: definition.to_owned(),
        }
    }

    #[test]
    fn issue12_sync_plan_creates_replaces_and_deletes_to_match_the_coordinator() {
        let local = [
            sub("same", "push", "a"),
            sub("changed", "push", "a"),
            sub("gone", "pull", "{}"),
            sub("kind", "push", "a"),
        ];
        let wanted = [
            sub("same", "push", "a"),
            sub("changed", "push", "b"),
            sub("kind", "pull", "{}"),
            sub("new", "pull", "{}"),
        ];
        assert_eq!(
            plan(&local, &wanted),
            vec![
                SyncChange::Delete("gone".into()),
                SyncChange::Delete("kind".into()),
                SyncChange::Replace(sub("changed", "push", "b")),
                SyncChange::Create(sub("kind", "pull", "{}")),
                SyncChange::Create(sub("new", "pull", "{}")),
            ]
        );
        assert!(
            plan(&wanted, &wanted).is_empty(),
            "in step: nothing changes"
        );
        assert_eq!(
            plan(&local, &[]).len(),
            local.len(),
            "the coordinator deleted them all"
        );
    }
}
