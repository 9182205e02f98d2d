//! Issue 12, growing with Discord's recommendation (sans-IO, virtual clock): with `"auto"` the
//! coordinator re-reads `GET /gateway/bot` every `reshardCheckMs` and reshards when the
//! recommended count exceeds the live one; a fixed count never checks.

use std::num::NonZeroU32;

use discord_gateway_do::shards::{
    reshard_check_ms, GrowthCheck, Reshard, ReshardPhase, ShardCount, Step,
    DEFAULT_RESHARD_CHECK_MS, MAX_RESHARD_CHECK_MS, MIN_RESHARD_CHECK_MS,
};

const EVERY: u64 = 10_000;
const DEADLINE: u64 = 1_000_000;

fn bot(mode: ShardCount, recommended: u32) -> Reshard {
    Reshard::new(mode, recommended).0
}

#[test]
fn issue12_growth_check_is_due_every_interval_on_auto_only() {
    let t0 = 1_000;
    let check = GrowthCheck::new(EVERY, t0);
    assert_eq!(check.next_wake(ShardCount::Auto), Some(t0 + EVERY));
    assert!(!check.due(ShardCount::Auto, t0 + EVERY - 1));
    assert!(check.due(ShardCount::Auto, t0 + EVERY));
    let fixed = ShardCount::Fixed(NonZeroU32::new(2).unwrap());
    assert_eq!(check.next_wake(fixed), None, "a fixed count never checks");
    assert!(!check.due(fixed, u64::MAX));
}

#[test]
fn issue12_growth_reshards_when_the_recommendation_exceeds_the_live_count() {
    let mut reshard = bot(ShardCount::Auto, 2);
    let mut check = GrowthCheck::new(EVERY, 0);
    // Same count, then fewer: nothing, and the next check is one interval later.
    let mut now = EVERY;
    assert_eq!(
        check.checked(&mut reshard, ShardCount::Auto, Some(2), now, DEADLINE),
        vec![]
    );
    assert_eq!(check.next_wake(ShardCount::Auto), Some(now + EVERY));
    now += EVERY;
    assert_eq!(
        check.checked(&mut reshard, ShardCount::Auto, Some(1), now, DEADLINE),
        vec![]
    );
    // A failed request: nothing, retried one interval later.
    now += EVERY;
    assert_eq!(
        check.checked(&mut reshard, ShardCount::Auto, None, now, DEADLINE),
        vec![]
    );
    assert_eq!(check.next_wake(ShardCount::Auto), Some(now + EVERY));
    // Grown: a new set of the recommended count starts beside the old one.
    now += EVERY;
    assert_eq!(
        check.checked(&mut reshard, ShardCount::Auto, Some(4), now, DEADLINE),
        vec![Step::StartSet { count: 4 }]
    );
    assert!(matches!(
        reshard.phase(),
        ReshardPhase::Starting { old: 2, new: 4, .. }
    ));
    assert_eq!(
        reshard.primary(),
        2,
        "the old set counts until the new one is READY"
    );
    // A check while that reshard is under way starts nothing more.
    now += EVERY;
    assert_eq!(
        check.checked(&mut reshard, ShardCount::Auto, Some(8), now, DEADLINE),
        vec![]
    );
    // The new set READY: switch, stop the old one.
    reshard.shard_ready(4, 0);
    reshard.shard_ready(4, 1);
    reshard.shard_ready(4, 2);
    assert_eq!(
        reshard.shard_ready(4, 3),
        vec![Step::SwitchTo { count: 4 }, Step::StopSet { count: 2 }]
    );
    reshard.old_stopped(2);
    assert_eq!(reshard.phase(), &ReshardPhase::Running { count: 4 });
}

#[test]
fn issue12_growth_never_reshards_a_fixed_count() {
    let fixed = ShardCount::Fixed(NonZeroU32::new(2).unwrap());
    let mut reshard = bot(fixed, 8);
    let mut check = GrowthCheck::new(EVERY, 0);
    assert_eq!(
        check.checked(&mut reshard, fixed, Some(8), EVERY, DEADLINE),
        vec![]
    );
    assert_eq!(reshard.phase(), &ReshardPhase::Running { count: 2 });
}

#[test]
fn issue12_growth_reshard_check_ms_is_bounded() {
    assert_eq!(reshard_check_ms(None), Ok(DEFAULT_RESHARD_CHECK_MS));
    assert_eq!(DEFAULT_RESHARD_CHECK_MS, 6 * 3_600_000);
    assert_eq!(
        reshard_check_ms(Some(MIN_RESHARD_CHECK_MS)),
        Ok(MIN_RESHARD_CHECK_MS)
    );
    assert_eq!(
        reshard_check_ms(Some(MAX_RESHARD_CHECK_MS)),
        Ok(MAX_RESHARD_CHECK_MS)
    );
    for bad in [0, MIN_RESHARD_CHECK_MS - 1, MAX_RESHARD_CHECK_MS + 1] {
        let err = reshard_check_ms(Some(bad)).unwrap_err();
        assert!(err.contains("reshardCheckMs"), "{err}");
    }
}
