//! Issue 12, the identify queue (sans-IO, virtual clock): one grant per bucket
//! `shard_id % max_concurrency` per 5 s, first come first served, the shared daily budget never
//! overdrawn, grants that expire.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use discord_gateway_do::gateway::identify_budget::SessionStartLimit;
use discord_gateway_do::gateway::{Jitter, SeededJitter};
use discord_gateway_do::shards::{Answer, Grant, IdentifyQueue, QueueTimings, RedeemError};

const WINDOW: u64 = 5_000;
const TTL: u64 = 5_000;
const DAY: u64 = 86_400_000;

fn limit(remaining: u32, max_concurrency: u32) -> SessionStartLimit {
    SessionStartLimit {
        total: 1000,
        remaining,
        reset_after: DAY,
        max_concurrency,
    }
}

fn queue(remaining: u32, max_concurrency: u32) -> IdentifyQueue {
    IdentifyQueue::new(
        limit(remaining, max_concurrency),
        0,
        QueueTimings::default(),
    )
}

fn granted(answer: Answer) -> Grant {
    match answer {
        Answer::Granted(grant) => grant,
        other => panic!("expected a grant, got {other:?}"),
    }
}

#[test]
fn issue12_queue_one_grant_per_bucket_per_5s() {
    // 4 shards, max_concurrency 2: shards 0 and 1 at once, 2 and 3 five seconds later.
    let mut q = queue(1000, 2);
    let g0 = granted(q.request(0, 0));
    let g1 = granted(q.request(1, 0));
    assert_eq!((g0.bucket, g1.bucket), (0, 1));
    assert_eq!(g0.expires_at, TTL);
    assert_eq!(
        q.request(2, 0),
        Answer::Queued {
            bucket: 0,
            position: 0,
            not_before: g0.expires_at + WINDOW
        }
    );
    assert!(matches!(
        q.request(3, 0),
        Answer::Queued {
            bucket: 1,
            position: 0,
            ..
        }
    ));
    q.redeem(0, 10).unwrap();
    q.redeem(1, 20).unwrap();
    assert_eq!(
        q.next_wake(),
        Some(10 + WINDOW),
        "the bucket frees 5 s after the Identify"
    );
    assert!(q.poll(10 + WINDOW - 1).is_empty());
    let grants = q.poll(10 + WINDOW);
    assert_eq!(grants.iter().map(|g| g.shard).collect::<Vec<_>>(), vec![2]);
    assert_eq!(
        q.poll(20 + WINDOW)
            .iter()
            .map(|g| g.shard)
            .collect::<Vec<_>>(),
        vec![3]
    );
    // Asking again while holding a grant returns the same grant and spends nothing more.
    let remaining = q.status().remaining;
    assert_eq!(granted(q.request(2, 20 + WINDOW)), grants[0]);
    assert_eq!(q.status().remaining, remaining);
    assert_eq!(remaining, 996);
}

#[test]
fn issue12_queue_first_come_first_served_within_a_bucket() {
    let mut q = queue(1000, 2);
    // Shards 4, 0, 6, 2 (all bucket 0) arrive in that order.
    granted(q.request(4, 0));
    for (position, shard) in [0u32, 6, 2].into_iter().enumerate() {
        match q.request(shard, 1) {
            Answer::Queued {
                bucket: 0,
                position: p,
                ..
            } => assert_eq!(p, position),
            other => panic!("{other:?}"),
        }
    }
    // Asking again keeps the place.
    assert!(matches!(
        q.request(6, 2),
        Answer::Queued { position: 1, .. }
    ));
    let mut order = Vec::new();
    let mut now = 0;
    while order.len() < 3 {
        now = q.next_wake().unwrap();
        for grant in q.poll(now) {
            order.push(grant.shard);
            q.redeem(grant.shard, now).unwrap();
        }
    }
    assert_eq!(order, vec![0, 6, 2]);
    assert_eq!(
        now,
        TTL + WINDOW + 2 * WINDOW,
        "shard 4 never redeemed: its grant counts until expiry"
    );
}

#[test]
fn issue12_queue_budget_is_shared_and_never_overdrawn() {
    // 3 session starts left, 5 shards that could all start at once.
    let mut q = queue(3, 16);
    for shard in 0..3 {
        granted(q.request(shard, 0));
    }
    for shard in 3..5 {
        assert_eq!(q.request(shard, 0), Answer::Exhausted { resets_at: DAY });
    }
    // Every shard hears the same answer, even one whose bucket is free.
    assert_eq!(q.request(15, 1), Answer::Exhausted { resets_at: DAY });
    assert_eq!(q.status().remaining, 0);
    assert_eq!(
        q.next_wake(),
        Some(TTL),
        "the outstanding grants expire first"
    );
    for shard in 0..3 {
        q.redeem(shard, 1).unwrap();
    }
    assert_eq!(q.next_wake(), Some(DAY));
    assert!(q.poll(DAY - 1).is_empty());
    // At the reset the waiting shards get their grants, in their order.
    let grants = q.poll(DAY);
    assert_eq!(
        grants.iter().map(|g| g.shard).collect::<Vec<_>>(),
        vec![3, 4, 15]
    );
    assert_eq!(q.status().remaining, 997);

    // A fresh /gateway/bot does not give back grants not yet redeemed.
    q.update_limit(limit(10, 16), DAY + 1);
    assert_eq!(q.status().remaining, 7);
}

#[test]
fn issue12_queue_grants_expire() {
    let mut q = queue(1000, 1);
    let grant = granted(q.request(0, 0));
    assert!(matches!(q.request(1, 0), Answer::Queued { .. }));
    // Too late: the shard must not Identify with it.
    assert_eq!(
        q.redeem(0, grant.expires_at),
        Err(RedeemError::Expired(grant.expires_at))
    );
    assert_eq!(q.redeem(0, grant.expires_at + 1), Err(RedeemError::NoGrant));
    // The expired grant may have been used just before its expiry: the bucket waits a window.
    assert!(q.poll(grant.expires_at + WINDOW - 1).is_empty());
    assert_eq!(q.poll(grant.expires_at + WINDOW).len(), 1);
    assert_eq!(
        q.status().remaining,
        998,
        "an unused grant is not given back"
    );
    // A stopped shard leaves the line.
    assert!(matches!(
        q.request(2, grant.expires_at + WINDOW),
        Answer::Queued { .. }
    ));
    q.cancel(2);
    assert_eq!(q.status().waiting, 0);
}

#[test]
fn issue12_queue_max_concurrency_change_redraws_buckets_conservatively() {
    let mut q = queue(1000, 1);
    granted(q.request(0, 0));
    q.redeem(0, 0).unwrap();
    for shard in [1, 2, 3] {
        assert!(matches!(q.request(shard, 1), Answer::Queued { .. }));
    }
    q.update_limit(limit(999, 2), 2);
    // Both new buckets wait as long as the old one did, then serve in arrival order.
    assert!(q.poll(WINDOW - 1).is_empty());
    let grants = q.poll(WINDOW);
    assert_eq!(
        grants
            .iter()
            .map(|g| (g.shard, g.bucket))
            .collect::<Vec<_>>(),
        vec![(2, 0), (1, 1)]
    );
}

/// Random arrivals, redeems (some late, some never), cancels and polls over a virtual clock:
/// no bucket ever has two grants (or two Identifies) within 5 s, the budget is never overdrawn,
/// grants follow arrival order within a bucket, and everyone is served in the end.
#[test]
fn issue12_queue_randomized_arrivals_keep_every_rule() {
    let (mut total_grants, mut total_exhausted, mut total_queued, mut total_late) = (0, 0, 0, 0);
    for seed in 0..64u64 {
        let mut rng = SeededJitter::new(seed);
        let mut pick = |n: u64| (rng.next_fraction() * n as f64) as u64;
        let shards = 1 + pick(24) as u32;
        let max_concurrency = 1 + pick(8) as u32;
        let budget = 5 + pick(40) as u32;
        let mut q = queue(budget, max_concurrency);
        let mut now = 0u64;
        let mut grants_by_bucket: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        let mut identifies_by_bucket: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        let mut arrivals: BTreeMap<u32, VecDeque<u32>> = BTreeMap::new();
        let mut waiting: BTreeSet<u32> = BTreeSet::new();
        let mut holding: BTreeMap<u32, Grant> = BTreeMap::new();
        let mut issued = 0u32;
        let mut record = |g: Grant,
                          arrivals: &mut BTreeMap<u32, VecDeque<u32>>,
                          waiting: &mut BTreeSet<u32>,
                          holding: &mut BTreeMap<u32, Grant>,
                          issued: &mut u32| {
            assert_eq!(g.bucket, g.shard % max_concurrency);
            let line = arrivals.entry(g.bucket).or_default();
            assert_eq!(
                line.pop_front(),
                Some(g.shard),
                "seed {seed}: first come first served"
            );
            waiting.remove(&g.shard);
            holding.insert(g.shard, g);
            grants_by_bucket
                .entry(g.bucket)
                .or_default()
                .push(g.granted_at);
            *issued += 1;
        };
        for _ in 0..400 {
            now += pick(3_000);
            holding.retain(|_, g| now < g.expires_at);
            match pick(10) {
                0..=3 => {
                    let shard = pick(u64::from(shards)) as u32;
                    let fresh = !waiting.contains(&shard) && !holding.contains_key(&shard);
                    if fresh {
                        waiting.insert(shard);
                        arrivals
                            .entry(shard % max_concurrency)
                            .or_default()
                            .push_back(shard);
                    }
                    let before: BTreeMap<u32, Grant> = holding.clone();
                    match q.request(shard, now) {
                        Answer::Granted(g) if before.get(&shard) == Some(&g) => {}
                        Answer::Granted(g) => {
                            record(g, &mut arrivals, &mut waiting, &mut holding, &mut issued)
                        }
                        Answer::Exhausted { resets_at } => {
                            total_exhausted += 1;
                            assert!(resets_at > now);
                        }
                        Answer::Queued { not_before, .. } => {
                            total_queued += 1;
                            assert!(not_before >= now);
                        }
                    }
                }
                4..=6 => {
                    if let Some((&shard, &g)) = holding.iter().next() {
                        // Sometimes too late.
                        let at = if pick(4) == 0 {
                            g.expires_at + pick(2_000)
                        } else {
                            now.min(g.expires_at - 1).max(g.granted_at)
                        };
                        let at = at.max(now);
                        now = at;
                        match q.redeem(shard, at) {
                            Ok(_) => identifies_by_bucket.entry(g.bucket).or_default().push(at),
                            Err(_) => {
                                total_late += 1;
                                assert!(at >= g.expires_at, "seed {seed}: a live grant redeems");
                            }
                        }
                        holding.remove(&shard);
                    }
                }
                7 => {
                    let shard = pick(u64::from(shards)) as u32;
                    if waiting.remove(&shard) {
                        q.cancel(shard);
                        for line in arrivals.values_mut() {
                            line.retain(|s| *s != shard);
                        }
                    }
                }
                _ => {
                    for g in q.poll(now) {
                        record(g, &mut arrivals, &mut waiting, &mut holding, &mut issued);
                    }
                }
            }
            // Holders whose grant expired lose it.
            holding.retain(|_, g| now < g.expires_at);
            assert!(issued <= budget, "seed {seed}: budget overdrawn");
            assert_eq!(q.status().remaining, budget - issued, "seed {seed}");
        }
        // Drain: everyone waiting is served once the clock runs (within the budget).
        while let Some(wake) = q.next_wake() {
            if wake >= DAY {
                break;
            }
            now = now.max(wake);
            for g in q.poll(now) {
                record(g, &mut arrivals, &mut waiting, &mut holding, &mut issued);
            }
            holding.retain(|_, g| now < g.expires_at);
        }
        assert!(issued <= budget, "seed {seed}: budget overdrawn");
        total_grants += issued;
        if issued < budget {
            assert!(waiting.is_empty(), "seed {seed}: {waiting:?} never served");
        } else {
            assert!(q.exhausted(now));
        }
        for (bucket, times) in grants_by_bucket.iter().chain(identifies_by_bucket.iter()) {
            for pair in times.windows(2) {
                assert!(
                    pair[1] >= pair[0] + WINDOW,
                    "seed {seed}: bucket {bucket} twice within 5 s: {times:?}"
                );
            }
        }
    }
    // The runs met every situation: grants, full buckets, a spent budget, late redeems.
    assert!(
        total_grants > 500 && total_queued > 100,
        "{total_grants} {total_queued}"
    );
    assert!(
        total_exhausted > 0 && total_late > 0,
        "{total_exhausted} {total_late}"
    );
}

#[test]
fn issue12_queue_snapshot_survives_a_restart_without_overdrawing() {
    let mut q = queue(3, 2);
    let a = granted(q.request(0, 0));
    assert_eq!(a.bucket, 0);
    q.redeem(0, 100).unwrap();
    // Shard 1's grant is outstanding when the coordinator restarts.
    granted(q.request(1, 200));
    let snapshot = q.snapshot();
    let json = serde_json::to_string(&snapshot).unwrap();
    let mut restored = IdentifyQueue::restore(&serde_json::from_str(&json).unwrap(), q_timings());
    assert_eq!(restored.status().remaining, 1);
    // Bucket 0 is free only 5 s after the redeem; bucket 1 after the grant's expiry and a window.
    assert!(matches!(
        restored.request(2, 5_099),
        Answer::Queued {
            not_before: 5_100,
            ..
        }
    ));
    assert!(
        matches!(restored.request(3, 5_199), Answer::Queued { not_before, .. } if not_before >= 10_200)
    );
    granted(restored.request(2, 5_100));
    // The budget is spent: nobody else starts until the reset.
    assert!(matches!(
        restored.request(3, 10_200),
        Answer::Exhausted { .. }
    ));
}

fn q_timings() -> QueueTimings {
    QueueTimings::default()
}
