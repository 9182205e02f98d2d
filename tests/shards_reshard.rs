//! Issue 12, resharding without a gap (sans-IO): `Running(n) → Starting(m beside n) →
//! Switching (all m READY) → Running(m)`, and what happens when the new set fails midway.

use discord_gateway_do::shards::{
    identify_batches, start_deadline, Reshard, ReshardError, ReshardFailure, ReshardPhase,
    ShardCount, Step,
};

const DEADLINE: u64 = 60_000;

fn running(count: u32) -> ReshardPhase {
    ReshardPhase::Running { count }
}

fn auto(recommended: u32) -> Reshard {
    let (reshard, steps) = Reshard::new(ShardCount::Auto, recommended);
    assert_eq!(steps, vec![Step::StartSet { count: recommended }]);
    reshard
}

#[test]
fn issue12_reshard_grows_to_the_recommendation_without_a_gap() {
    let mut r = auto(2);
    assert_eq!(r.phase(), &running(2));
    assert_eq!(
        r.recommended(2, DEADLINE),
        vec![],
        "same count: nothing to do"
    );
    assert_eq!(
        r.recommended(1, DEADLINE),
        vec![],
        "never shrinks on its own"
    );

    assert_eq!(
        r.recommended(4, DEADLINE),
        vec![Step::StartSet { count: 4 }]
    );
    assert!(matches!(
        r.phase(),
        ReshardPhase::Starting { old: 2, new: 4, .. }
    ));
    assert_eq!(
        r.primary(),
        2,
        "the old set counts while the new one starts"
    );
    assert_eq!(r.next_wake(), Some(DEADLINE));
    // READY from the old set, out-of-range shards and repeats change nothing.
    assert_eq!(r.shard_ready(2, 0), vec![]);
    assert_eq!(r.shard_ready(4, 7), vec![]);
    for shard in [3, 0, 0, 2] {
        assert_eq!(r.shard_ready(4, shard), vec![]);
    }
    assert_eq!(r.primary(), 2);
    // The last new shard READY: switch, then stop the old set.
    assert_eq!(
        r.shard_ready(4, 1),
        vec![Step::SwitchTo { count: 4 }, Step::StopSet { count: 2 }]
    );
    assert_eq!(r.phase(), &ReshardPhase::Switching { old: 2, new: 4 });
    assert_eq!(r.primary(), 4);
    assert_eq!(r.old_stopped(4), vec![]);
    assert_eq!(
        r.phase(),
        &ReshardPhase::Switching { old: 2, new: 4 },
        "not that set"
    );
    r.old_stopped(2);
    assert_eq!(r.phase(), &running(4));
    assert_eq!(r.last_failure(), None);
}

#[test]
fn issue12_reshard_on_4011() {
    let mut r = auto(2);
    // Discord's recommendation already grew: go to it.
    assert_eq!(
        r.sharding_required(2, 6, DEADLINE),
        Ok(vec![Step::StartSet { count: 6 }])
    );
    // More 4011s from the old set while the new one starts change nothing.
    assert_eq!(r.sharding_required(2, 6, DEADLINE), Ok(vec![]));
    // The new set is too small as well: it is replaced by a bigger one.
    assert_eq!(
        r.sharding_required(6, 6, DEADLINE + 1),
        Ok(vec![
            Step::StopSet { count: 6 },
            Step::StartSet { count: 7 }
        ])
    );
    assert!(matches!(
        r.phase(),
        ReshardPhase::Starting { old: 2, new: 7, deadline, .. } if *deadline == DEADLINE + 1
    ));

    // The recommendation has not grown yet: one more shard.
    let mut r = auto(3);
    assert_eq!(
        r.sharding_required(3, 3, DEADLINE),
        Ok(vec![Step::StartSet { count: 4 }])
    );

    // A fixed count cannot grow: the operator is told what to change.
    let (mut fixed, _) = Reshard::new(ShardCount::fixed(2).unwrap(), 8);
    assert_eq!(fixed.phase(), &running(2));
    let err = fixed.sharding_required(2, 8, DEADLINE).unwrap_err();
    assert_eq!(err, ReshardError::FixedCountTooSmall { count: 2 });
    assert!(err.to_string().contains("\"auto\""), "{err}");
    assert_eq!(
        fixed.recommended(8, DEADLINE),
        vec![],
        "fixed ignores the recommendation"
    );
    assert_eq!(fixed.phase(), &running(2));
}

#[test]
fn issue12_reshard_4011_on_the_set_that_just_took_over_grows_again() {
    let mut r = auto(1);
    r.recommended(2, DEADLINE);
    r.shard_ready(2, 0);
    assert_eq!(
        r.shard_ready(2, 1),
        vec![Step::SwitchTo { count: 2 }, Step::StopSet { count: 1 }]
    );
    assert_eq!(
        r.sharding_required(2, 2, DEADLINE),
        Ok(vec![Step::StartSet { count: 3 }])
    );
    assert_eq!(r.primary(), 2);
    // The stale stop of set 1 finishing does not disturb the new start.
    r.old_stopped(1);
    assert!(matches!(
        r.phase(),
        ReshardPhase::Starting { old: 2, new: 3, .. }
    ));
}

#[test]
fn issue12_reshard_failure_midway_keeps_the_old_set() {
    // A new shard fails for good.
    let mut r = auto(2);
    r.recommended(4, DEADLINE);
    r.shard_ready(4, 0);
    assert_eq!(
        r.shard_failed(2, 1),
        vec![],
        "an old shard failing is not the plan's call"
    );
    assert_eq!(r.shard_failed(4, 2), vec![Step::StopSet { count: 4 }]);
    assert_eq!(r.phase(), &running(2));
    assert_eq!(r.primary(), 2);
    assert_eq!(
        r.last_failure(),
        Some(ReshardFailure::ShardFailed { count: 4, shard: 2 })
    );
    // READY from the abandoned set is ignored; a later recommendation tries again.
    assert_eq!(r.shard_ready(4, 1), vec![]);
    assert_eq!(
        r.recommended(4, 2 * DEADLINE),
        vec![Step::StartSet { count: 4 }]
    );

    // Not all READY by the deadline.
    let mut r = auto(2);
    r.recommended(4, DEADLINE);
    for shard in 0..3 {
        r.shard_ready(4, shard);
    }
    assert_eq!(r.tick(DEADLINE - 1), vec![]);
    assert_eq!(r.tick(DEADLINE), vec![Step::StopSet { count: 4 }]);
    assert_eq!(r.phase(), &running(2));
    assert_eq!(
        r.last_failure(),
        Some(ReshardFailure::TimedOut { count: 4, ready: 3 })
    );
    assert_eq!(r.next_wake(), None);
    // Once switching, a failure or a tick no longer undoes the switch.
    let mut r = auto(1);
    r.recommended(2, DEADLINE);
    r.shard_ready(2, 0);
    r.shard_ready(2, 1);
    assert_eq!(r.shard_failed(2, 0), vec![]);
    assert_eq!(r.tick(DEADLINE), vec![]);
    assert_eq!(r.primary(), 2);
}

#[test]
fn issue12_start_deadline_counts_identify_batches() {
    assert_eq!(identify_batches(1, 1), 1);
    assert_eq!(identify_batches(4, 2), 2);
    assert_eq!(identify_batches(16, 16), 1);
    assert_eq!(identify_batches(17, 16), 2);
    assert_eq!(identify_batches(5, 0), 5, "max_concurrency 0 counts as 1");
    assert_eq!(
        start_deadline(1_000, 4, 2, 30_000),
        1_000 + 2 * 5_000 + 30_000
    );
}
