//! Issue 9, `/connect` → READY: the Durable Object asks the engine, before it stores the
//! settings, whether a connect will ask `GET /gateway/bot` at once, and starts that request
//! before the write (workerd's output gate holds a request issued while a write is unconfirmed).
//! The answer must be exactly what the connect then does: a "yes" that the engine does not
//! follow wastes a request to Discord; a wrong "no" only loses the head start.

mod support;

use discord_gateway_do::gateway::{Action, GatewayConfig, Input, Intents};
use support::*;

/// Asks the engine, then connects with `config`: (the answer, whether the connect's actions
/// ask `GET /gateway/bot`).
fn predicted_and_done(s: &mut Script, config: GatewayConfig) -> (bool, bool) {
    s.take();
    let predicted = s.engine.connect_fetches_gateway_info(&config);
    s.input(Input::Connect(config));
    let fetched = s
        .take()
        .iter()
        .any(|a| matches!(a, Action::FetchGatewayInfo));
    (predicted, fetched)
}

#[test]
fn issue9_connect_a_first_connect_fetches_gateway_info_and_says_so() {
    let mut s = Script::new();
    assert_eq!(predicted_and_done(&mut s, Script::config()), (true, true));
}

#[test]
fn issue9_connect_same_credentials_on_a_live_session_fetch_nothing_and_say_so() {
    let mut s = Script::new();
    s.connect_ready("sess");
    // A settings change that keeps the session (compression applies from the next session).
    let config = Script::compressed_config();
    assert_eq!(predicted_and_done(&mut s, config), (false, false));
    // While the first connect's fetch is still under way, too.
    let mut s = Script::new();
    s.input(Input::Connect(Script::config()));
    assert_eq!(predicted_and_done(&mut s, Script::config()), (false, false));
}

#[test]
fn issue9_connect_other_credentials_on_a_live_session_fetch_and_say_so() {
    let mut s = Script::new();
    s.connect_ready("sess");
    let config = GatewayConfig {
        intents: Intents::from_bits(Intents::DEFAULT.bits() | 1 << 1).unwrap(),
        ..Script::config()
    };
    assert_eq!(predicted_and_done(&mut s, config), (true, true));
}

#[test]
fn issue9_connect_a_restored_session_resumes_without_fetching_and_says_so() {
    let mut s = Script::new();
    s.connect_ready("sess");
    let snapshot = s.engine.snapshot();
    let mut restarted = Script::new();
    restarted.now = s.now + 10_000;
    restarted.engine.restore(snapshot);
    assert_eq!(
        predicted_and_done(&mut restarted, Script::config()),
        (false, false)
    );
}

#[test]
fn issue9_connect_a_stopped_engine_fetches_again_and_says_so() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    s.closed(id, 4004, "Authentication failed.");
    assert_eq!(predicted_and_done(&mut s, Script::config()), (true, true));
}

#[test]
fn issue9_connect_after_disconnect_fetches_and_says_so() {
    let mut s = Script::new();
    s.connect_ready("sess");
    s.input(Input::Disconnect);
    assert_eq!(predicted_and_done(&mut s, Script::config()), (true, true));
}

// ----- The socket opened alongside `GET /gateway/bot` (issue 9, fifth pass) ----------------
//
// A connect that starts a new session, when an earlier `/gateway/bot` answer's URL and budget
// are known, opens the socket to that URL at once while `/gateway/bot` is asked again. No
// Identify leaves before the new answer confirms the budget and the URL.

use discord_gateway_do::gateway::{ConnectionState, StopReason};

/// The Identify payloads among `actions`.
fn identifies(actions: &[Action]) -> usize {
    sends(actions).iter().filter(|p| p["op"] == 2).count()
}

/// A session that was READY, then a disconnect, then a connect 10 s later (past the 5 s
/// between two Identify calls): returns the actions of that connect.
fn reconnect_after_disconnect(s: &mut Script) -> Vec<Action> {
    s.connect_ready("first");
    s.input(Input::Disconnect);
    s.take();
    s.advance_to(s.now + 10_000);
    s.take();
    s.input(Input::Connect(Script::config()));
    s.take_io()
}

#[test]
fn issue9_connect_early_socket_opens_with_the_fetch_and_identifies_only_after_the_answer() {
    let mut s = Script::new();
    let io = reconnect_after_disconnect(&mut s);
    assert!(io.contains(&Action::FetchGatewayInfo), "{io:?}");
    let opened = opens(&io);
    assert_eq!(opened.len(), 1, "{io:?}");
    let (id, url) = opened[0].clone();
    assert!(url.starts_with(GATEWAY_URL), "{url}");
    s.input(Input::SocketOpened(id));
    s.hello(id, 41_250);
    assert_eq!(identifies(&s.take()), 0, "no Identify before the answer");
    assert_eq!(s.engine.status().phase, "fetching gateway info");
    // The answer is slow: the first heartbeat goes (within the handshake's deadline), no
    // Identify leaves.
    s.wake();
    let actions = s.take();
    assert_eq!(identifies(&actions), 0, "no Identify before the answer");
    assert_eq!(sends(&actions).len(), 1, "{actions:?}");
    assert_eq!(sends(&actions)[0]["op"], 1, "a heartbeat");
    assert_eq!(s.engine.status().phase, "fetching gateway info");
    s.input(gateway_info_input(GATEWAY_URL, 999, 86_400_000));
    assert_eq!(identifies(&s.take()), 1, "the answer lets the Identify go");
    s.ready(id, "second", 1);
    assert_eq!(s.engine.status().state, ConnectionState::Connected);
}

#[test]
fn issue9_connect_early_socket_answer_before_hello_identifies_at_hello() {
    let mut s = Script::new();
    let (id, _) = opens(&reconnect_after_disconnect(&mut s))[0].clone();
    s.input(gateway_info_input(GATEWAY_URL, 999, 86_400_000));
    assert_eq!(identifies(&s.take()), 0);
    s.input(Input::SocketOpened(id));
    s.hello(id, 41_250);
    assert_eq!(identifies(&s.take()), 1);
}

#[test]
fn issue9_connect_early_socket_closes_unused_when_the_answer_says_the_budget_is_spent() {
    let mut s = Script::new();
    let (id, _) = opens(&reconnect_after_disconnect(&mut s))[0].clone();
    s.input(Input::SocketOpened(id));
    s.hello(id, 41_250);
    assert_eq!(identifies(&s.take()), 0, "no Identify before the answer");
    let reset_after = 60_000;
    let reset_at = s.now + reset_after;
    s.input(gateway_info_input(GATEWAY_URL, 0, reset_after));
    let actions = s.take();
    assert_eq!(identifies(&actions), 0);
    assert_eq!(closes(&actions), vec![1000], "the early socket closes");
    assert!(
        actions.iter().any(|a| matches!(a, Action::Persist(_))),
        "the spent budget is kept, as when only fetching"
    );
    // Nothing identifies before the reset.
    for _ in 0..20 {
        if s.now >= reset_at {
            break;
        }
        s.wake();
        let io = s.take_io();
        if io.contains(&Action::FetchGatewayInfo) {
            assert!(s.now >= reset_at, "asks again only at the reset");
            s.gateway_info(1000, 86_400_000);
        }
        assert_eq!(identifies(&io), 0, "no Identify before the reset");
    }
    let (id, _) = s.run_until_open();
    s.input(Input::SocketOpened(id));
    s.hello(id, 41_250);
    assert!(s.now >= reset_at);
    assert_eq!(identifies(&s.take()), 1);
}

#[test]
fn issue9_connect_early_socket_closes_and_a_different_url_opens() {
    let mut s = Script::new();
    let (early, _) = opens(&reconnect_after_disconnect(&mut s))[0].clone();
    s.input(Input::SocketOpened(early));
    s.input(gateway_info_input("wss://moved.example", 999, 86_400_000));
    let io = s.take_io();
    assert_eq!(closes(&io), vec![1000], "{io:?}");
    let opened = opens(&io);
    assert_eq!(opened.len(), 1, "{io:?}");
    let (id, url) = opened[0].clone();
    assert!(url.starts_with("wss://moved.example"), "{url}");
    // The old socket's Hello is stale; the new one identifies.
    s.hello(early, 41_250);
    assert_eq!(identifies(&s.take()), 0);
    s.input(Input::SocketOpened(id));
    s.hello(id, 41_250);
    assert_eq!(identifies(&s.take()), 1);
}

#[test]
fn issue9_connect_early_socket_a_401_stops_the_connect_as_before() {
    let mut s = Script::new();
    let (id, _) = opens(&reconnect_after_disconnect(&mut s))[0].clone();
    s.input(Input::SocketOpened(id));
    s.gateway_info_failed(Some(401), None);
    let actions = s.take();
    assert_eq!(closes(&actions), vec![1000]);
    let status = s.engine.status();
    assert_eq!(status.stop_code, Some(StopReason::AuthenticationFailed));
    assert_eq!(s.engine.next_wakeup(), None);
    s.hello(id, 41_250);
    assert_eq!(identifies(&s.take()), 0, "a stale Hello identifies nothing");
}

#[test]
fn issue9_connect_early_socket_a_failed_fetch_retries_by_fetching_as_before() {
    let mut s = Script::new();
    let (id, _) = opens(&reconnect_after_disconnect(&mut s))[0].clone();
    s.input(Input::SocketOpened(id));
    s.hello(id, 41_250);
    assert_eq!(identifies(&s.take()), 0, "no Identify before the answer");
    s.gateway_info_failed(Some(503), Some(2_000));
    let actions = s.take();
    assert_eq!(closes(&actions), vec![1000]);
    assert_eq!(identifies(&actions), 0);
    assert_eq!(s.engine.status().state, ConnectionState::Connecting);
    // The retry fetches first, with no socket beside it.
    s.wake();
    assert_eq!(s.take_io(), vec![Action::FetchGatewayInfo]);
}

#[test]
fn issue9_connect_no_early_socket_without_an_earlier_answer_or_when_identify_must_wait() {
    // No earlier answer: fetch only.
    let mut s = Script::new();
    s.input(Input::Connect(Script::config()));
    assert_eq!(s.take_io(), vec![Action::FetchGatewayInfo]);
    // Within 5 s of the last Identify: fetch only.
    let mut s = Script::new();
    s.connect_ready("first");
    s.input(Input::Disconnect);
    s.advance_to(s.now + 1_000);
    s.take();
    s.input(Input::Connect(Script::config()));
    assert_eq!(s.take_io(), vec![Action::FetchGatewayInfo]);
    // After a terminal failure: fetch only.
    let mut s = Script::new();
    let id = s.connect_ready("first");
    s.closed(id, 4004, "Authentication failed.");
    s.advance_to(s.now + 10_000);
    s.take();
    s.input(Input::Connect(Script::config()));
    assert_eq!(s.take_io(), vec![Action::FetchGatewayInfo]);
}

#[test]
fn issue9_connect_early_socket_with_no_answer_times_out_and_fetches_again() {
    let mut s = Script::new();
    let (id, _) = opens(&reconnect_after_disconnect(&mut s))[0].clone();
    s.input(Input::SocketOpened(id));
    s.hello(id, 41_250);
    let mut seen = s.take();
    // The answer never comes: the handshake's deadline closes the socket, and the retry
    // fetches first, with no socket beside it.
    for _ in 0..10 {
        s.wake();
        let actions = s.take();
        let fetched = actions.contains(&Action::FetchGatewayInfo);
        seen.extend(actions);
        if fetched {
            break;
        }
    }
    assert_eq!(identifies(&seen), 0, "no Identify without an answer");
    assert_eq!(closes(&seen), vec![4000], "the handshake timed out");
    assert!(seen.contains(&Action::FetchGatewayInfo));
    assert!(opens(&seen).is_empty(), "{seen:?}");
}
