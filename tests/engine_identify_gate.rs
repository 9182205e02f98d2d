//! Issue 12: a shard of a sharded bot asks its coordinator before every Identify, never before
//! a Resume, and never Identifies with an expired grant.

mod support;

use discord_gateway_do::gateway::{Action, Input};
use support::{opens, sends, Script};

#[test]
fn issue12_gated_shard_identifies_only_with_a_grant_and_resumes_without_asking() {
    let mut s = Script::new();
    s.engine.require_identify_grant();
    s.input(Input::Connect(Script::config()));
    s.expect_fetch();
    s.gateway_info(1000, 86_400_000);
    let io = s.take_io();
    assert_eq!(
        io,
        vec![Action::AskIdentify],
        "asks before opening the socket"
    );
    assert!(opens(&io).is_empty());
    // Refused for now: waits, then asks again at the time given.
    let until = s.now + 7_000;
    s.input(Input::IdentifyDeferred {
        until,
        exhausted: false,
    });
    assert!(s.take_io().is_empty());
    s.advance_to(until);
    assert_eq!(s.take_io(), vec![Action::AskIdentify]);
    // Granted: the socket opens, Identify goes out, the coordinator is told.
    s.input(Input::IdentifyGranted {
        expires_at: s.now + 5_000,
    });
    let (id, _) = s.expect_open();
    s.input(Input::SocketOpened(id));
    s.hello(id, 41_250);
    let io = s.take_io();
    assert_eq!(sends(&io)[0]["op"], 2, "identify");
    assert!(io.contains(&Action::IdentifySent));
    s.ready(id, "sess", 1);
    s.take();
    // A dropped connection resumes: no grant asked.
    s.closed(id, 1006, "dropped");
    s.take();
    s.wake();
    let (id, _) = s.run_until_open();
    s.input(Input::SocketOpened(id));
    s.hello(id, 41_250);
    let io = s.take_io();
    assert_eq!(sends(&io)[0]["op"], 6, "resume");
    assert!(!io.contains(&Action::AskIdentify));
}

#[test]
fn issue12_gated_shard_never_identifies_with_an_expired_grant() {
    let mut s = Script::new();
    s.engine.require_identify_grant();
    s.input(Input::Connect(Script::config()));
    s.expect_fetch();
    s.gateway_info(1000, 86_400_000);
    assert_eq!(s.take_io(), vec![Action::AskIdentify]);
    s.input(Input::IdentifyGranted {
        expires_at: s.now + 5_000,
    });
    let (id, _) = s.expect_open();
    s.input(Input::SocketOpened(id));
    // Hello comes after the grant expired.
    s.now += 6_000;
    s.hello(id, 41_250);
    let io = s.take_io();
    assert!(
        sends(&io).iter().all(|p| p["op"] != 2),
        "no Identify: {io:?}"
    );
}
