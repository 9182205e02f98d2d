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
