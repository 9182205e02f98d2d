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
