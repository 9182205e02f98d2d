//! Whole conversations between a scripted Discord and the engine, on a virtual clock.

mod support;

use discord_gateway_do::gateway::status::WaitReason;
use discord_gateway_do::gateway::{
    Action, ConnectionId, ConnectionState, EventFilter, GatewayConfig, Input, Intents,
    RequestFailure, SendError, SessionSnapshot, Shard, StopReason,
};
use serde_json::{json, Value};
use support::*;

#[test]
fn hello_identify_ready_and_forwarding() {
    let mut s = Script::new();
    s.input(Input::Connect(GatewayConfig {
        shard: Some(Shard::new(0, 1).unwrap()),
        ..Script::config()
    }));
    assert_eq!(s.engine.status().state, ConnectionState::Connecting);
    s.expect_fetch();
    s.gateway_info(999, 86_400_000);
    let (id, url) = s.expect_open();
    assert_eq!(url, format!("{GATEWAY_URL}/?v=10&encoding=json"));
    s.input(Input::SocketOpened(id));
    assert!(s.take_io().is_empty(), "nothing is sent before Hello");
    s.hello(id, 41_250);
    let sent = sends(&s.take_io());
    assert_eq!(sent.len(), 1);
    let identify = &sent[0];
    assert_eq!(identify["op"], 2);
    assert_eq!(identify["d"]["token"], TOKEN);
    assert_eq!(identify["d"]["intents"], Intents::DEFAULT.bits());
    assert_eq!(identify["d"]["shard"], json!([0, 1]));
    assert!(identify["d"]["properties"]["os"].is_string());
    assert_eq!(s.engine.status().identify_budget.remaining, Some(998));

    s.ready(id, "sess-1", 1);
    let status = s.engine.status();
    assert_eq!(status.state, ConnectionState::Connected);
    assert_eq!(status.session_id.as_deref(), Some("sess-1"));
    assert_eq!(status.connected_at, Some(s.now));
    assert!(
        s.take()
            .iter()
            .any(|a| matches!(a, Action::Persist(p) if p.session.is_some())),
        "READY is persisted"
    );

    // Forwarded: raw d byte for byte. Not forwarded: types outside the filter.
    let raw = r#"{"id":"9","content":"caf\u00e9  with   spaces","channel_id":"200"}"#;
    s.raw(
        id,
        &format!(r#"{{"op":0,"s":2,"t":"MESSAGE_CREATE","d":{raw}}}"#),
    );
    s.dispatch(id, "TYPING_START", 3, json!({"channel_id": "200"}));
    s.dispatch(
        id,
        "MESSAGE_REACTION_ADD",
        4,
        json!({"user_id": "5", "emoji": {"name": "x"}}),
    );
    let forwarded = forwards(&s.take());
    assert_eq!(forwarded.len(), 2);
    assert_eq!(forwarded[0].event_type, "MESSAGE_CREATE");
    assert_eq!(forwarded[0].data, raw);
    assert_eq!(
        (forwarded[0].sequence, forwarded[0].session_id.as_str()),
        (2, "sess-1")
    );
    assert_eq!(forwarded[1].event_type, "MESSAGE_REACTION_ADD");
    assert_eq!(s.engine.status().sequence, Some(4));
    assert_eq!(s.engine.status().counters.events_received, 4);
}

#[test]
fn heartbeats_follow_the_interval_with_jittered_start_and_answer_op_1() {
    let mut s = Script::with_jitter(0.25);
    let id = s.connect_ready("sess");
    let hello_at = s.now;
    // First heartbeat at interval × jitter, then every interval.
    assert_eq!(s.engine.next_wakeup(), Some(hello_at + 41_250 / 4));
    s.wake();
    let sent = sends(&s.take_io());
    assert_eq!(sent, vec![json!({"op": 1, "d": 1})]);
    s.text(id, &json!({"op": 11}));
    assert_eq!(s.engine.status().heartbeat.round_trip_ms, Some(0));
    s.dispatch(id, "MESSAGE_CREATE", 2, message("1", "hi"));
    s.take();
    assert_eq!(s.engine.next_wakeup(), Some(hello_at + 41_250 / 4 + 41_250));
    s.advance_to(hello_at + 41_250 / 4 + 41_250 - 1);
    assert!(s.take_io().is_empty(), "not before the interval");
    s.text(id, &json!({"op": 1, "d": null}));
    assert_eq!(
        sends(&s.take_io()),
        vec![json!({"op": 1, "d": 2})],
        "op 1 is answered at once"
    );
    s.text(id, &json!({"op": 11}));
    assert_eq!(s.engine.status().heartbeat.interval_ms, Some(41_250));
}

#[test]
fn zombie_connection_is_closed_resumably_and_resumed() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    s.wake();
    assert_eq!(sends(&s.take_io()).len(), 1, "first heartbeat");
    // No ACK before the next heartbeat is due: zombie.
    s.wake();
    let io = s.take_io();
    assert_eq!(closes(&io), vec![4000]);
    assert!(sends(&io).is_empty());
    assert_eq!(s.engine.status().counters.zombie_connections, 1);
    let (new_id, url) = s.run_until_open();
    assert_ne!(new_id, id);
    assert_eq!(url, format!("{RESUME_URL}/?v=10&encoding=json"));
    s.input(Input::SocketOpened(new_id));
    s.hello(new_id, 41_250);
    assert_eq!(
        sends(&s.take_io()),
        vec![json!({"op": 6, "d": {"token": TOKEN, "session_id": "sess", "seq": 1}})]
    );
}

#[test]
fn op_7_resumes_at_once_replays_without_loss_and_resets_backoff() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    s.dispatch(id, "MESSAGE_CREATE", 2, message("a", "one"));
    s.take();
    s.text(id, &json!({"op": 7, "d": null}));
    let io = s.take_io();
    assert_eq!(
        closes(&io),
        vec![4000],
        "never 1000/1001, the session must survive"
    );
    let opens = opens(&io);
    assert_eq!(opens.len(), 1, "reconnects immediately, no delay");
    let (new_id, url) = opens[0].clone();
    assert_eq!(url, format!("{RESUME_URL}/?v=10&encoding=json"));
    // Frames from the old socket are ignored from now on.
    s.dispatch(id, "MESSAGE_CREATE", 3, message("stale", "late"));
    assert!(forwards(&s.take()).is_empty());
    assert_eq!(s.engine.status().counters.stale_inputs, 1);

    s.input(Input::SocketOpened(new_id));
    s.hello(new_id, 41_250);
    let sent = sends(&s.take_io());
    assert_eq!(sent[0]["d"]["seq"], 2);
    // Discord replays 3 and 4, then RESUMED.
    s.dispatch(new_id, "MESSAGE_CREATE", 3, message("b", "two"));
    s.dispatch(new_id, "MESSAGE_CREATE", 4, message("c", "three"));
    s.dispatch(new_id, "RESUMED", 5, json!(null));
    let forwarded = forwards(&s.take());
    assert_eq!(
        forwarded.iter().map(|f| f.sequence).collect::<Vec<_>>(),
        [3, 4]
    );
    let status = s.engine.status();
    assert_eq!(status.state, ConnectionState::Connected);
    assert_eq!(status.reconnect_attempts, 0);
    assert_eq!(status.sequence, Some(5));
}

#[test]
fn replayed_events_already_forwarded_are_not_forwarded_twice() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    s.dispatch(id, "MESSAGE_CREATE", 2, message("a", "one"));
    s.dispatch(id, "MESSAGE_CREATE", 2, message("a", "one"));
    let forwarded = forwards(&s.take());
    assert_eq!(forwarded.len(), 1);
    assert_eq!(s.engine.status().counters.duplicates_skipped, 1);
}

#[test]
fn invalid_session_resumable_resumes() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    s.text(id, &json!({"op": 9, "d": true}));
    assert_eq!(closes(&s.take_io()), vec![4000]);
    let (new_id, url) = s.run_until_open();
    assert!(url.starts_with(RESUME_URL));
    s.input(Input::SocketOpened(new_id));
    s.hello(new_id, 41_250);
    assert_eq!(sends(&s.take_io())[0]["op"], 6);
}

#[test]
fn invalid_session_not_resumable_identifies_anew_after_a_pause() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    let at = s.now;
    s.text(id, &json!({"op": 9, "d": false}));
    assert_eq!(closes(&s.take_io()).len(), 1);
    let status = s.engine.status();
    assert_eq!(status.session_id, None, "the session is forgotten");
    let waiting = status.waiting.unwrap();
    assert_eq!(waiting.reason, WaitReason::InvalidSession);
    assert!((at + 1_000..=at + 5_000).contains(&waiting.until));
    s.wake();
    s.expect_fetch();
    s.gateway_info(900, 86_400_000);
    let (new_id, url) = s.run_until_open();
    assert!(
        url.starts_with(GATEWAY_URL),
        "fresh sessions use /gateway/bot's URL"
    );
    assert!(s.now >= at + 5_000, "at most one Identify per 5 s");
    s.input(Input::SocketOpened(new_id));
    s.hello(new_id, 41_250);
    assert_eq!(sends(&s.take_io())[0]["op"], 2);
}

#[test]
fn close_codes_resume_reidentify_or_stop() {
    for code in [4000, 4001, 4002, 4003, 4005, 4008, 1001, 1006, 1011] {
        let mut s = Script::new();
        let id = s.connect_ready("sess");
        s.closed(id, code, "");
        assert_eq!(
            s.engine.status().state,
            ConnectionState::Connecting,
            "{code}"
        );
        assert_eq!(s.engine.status().last_close.unwrap().code, code);
        let (_, url) = s.run_until_open();
        assert!(url.starts_with(RESUME_URL), "{code} resumes");
    }
    for code in [4007, 4009] {
        let mut s = Script::new();
        let id = s.connect_ready("sess");
        s.closed(id, code, "session timed out");
        assert_eq!(s.engine.status().session_id, None, "{code}");
        let (_, url) = s.run_until_open();
        assert!(url.starts_with(GATEWAY_URL), "{code} identifies anew");
    }
    for (code, reason) in [
        (4004, StopReason::AuthenticationFailed),
        (4010, StopReason::InvalidShard),
        (4011, StopReason::ShardingRequired),
        (4012, StopReason::InvalidApiVersion),
        (4013, StopReason::InvalidIntents),
        (4014, StopReason::DisallowedIntents),
    ] {
        let mut s = Script::new();
        let id = s.connect_ready("sess");
        s.closed(id, code, "");
        let status = s.engine.status();
        assert_eq!(status.state, ConnectionState::Stopped, "{code}");
        assert_eq!(status.stop_code, Some(reason));
        assert!(status.stop_reason.is_some());
        assert_eq!(
            s.engine.next_wakeup(),
            None,
            "{code}: no reconnect is scheduled"
        );
        assert!(s
            .take()
            .iter()
            .any(|a| matches!(a, Action::Persist(p) if p.stopped == Some(reason))));
        // Time passing changes nothing.
        s.advance_to(s.now + 3_600_000);
        assert!(s.take_io().is_empty());
        // An explicit connect starts again.
        s.input(Input::Connect(Script::config()));
        assert_eq!(s.engine.status().state, ConnectionState::Connecting);
        assert_eq!(s.take_io(), vec![Action::FetchGatewayInfo]);
    }
}

#[test]
fn disallowed_intents_status_tells_the_user_what_to_do() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    s.closed(id, 4014, "Disallowed intent(s).");
    let status = s.engine.status();
    assert!(status.stop_reason.unwrap().contains(
        "a privileged intent is not enabled for this bot in the Discord developer portal"
    ));
    assert_eq!(status.last_close.unwrap().reason, "Disallowed intent(s).");
}

#[test]
fn unauthorized_gateway_info_stops() {
    // `GET /gateway/bot` carries the token: a 401 there is a bad token.
    let mut s = Script::new();
    s.input(Input::Connect(Script::config()));
    s.expect_fetch();
    s.gateway_info_failed(Some(401), None);
    assert_eq!(
        s.engine.status().stop_code,
        Some(StopReason::AuthenticationFailed)
    );
    assert_eq!(s.engine.next_wakeup(), None);
}

/// Issue 8 item 10: the upgrade carries no token, so a 401 there is retried with backoff.
#[test]
fn upgrade_401_is_retried_not_a_stop() {
    let mut s = Script::new();
    s.input(Input::Connect(Script::config()));
    s.expect_fetch();
    s.gateway_info(1000, 86_400_000);
    let (id, _) = s.expect_open();
    let at = s.now;
    s.input(Input::SocketFailed(
        id,
        RequestFailure {
            status: Some(401),
            retry_after_ms: None,
        },
    ));
    let status = s.engine.status();
    assert_eq!(status.state, ConnectionState::Connecting);
    assert_eq!(status.stop_code, None);
    assert_eq!(status.stop_reason, None);
    let waiting = status.waiting.expect("a retry is planned");
    assert_eq!(waiting.reason, WaitReason::Backoff);
    assert!(waiting.until > at, "after a backoff, not at once");
    let failure = status.last_failure.expect("the failure is shown");
    assert_eq!(
        failure.reason,
        "the gateway refused the WebSocket upgrade with HTTP 401"
    );
    assert!(!failure.reason.contains("token"));
    let (id2, url) = s.run_until_open();
    assert_ne!(id, id2);
    assert!(url.starts_with(GATEWAY_URL));
    s.input(Input::SocketOpened(id2));
    s.hello(id2, 41_250);
    assert_eq!(sends(&s.take_io())[0]["op"], 2, "identifies on the retry");
}

#[test]
fn rate_limited_gateway_info_honours_retry_after() {
    let mut s = Script::new();
    s.input(Input::Connect(Script::config()));
    s.expect_fetch();
    let at = s.now;
    s.gateway_info_failed(Some(429), Some(30_000));
    let waiting = s.engine.status().waiting.unwrap();
    assert_eq!(
        waiting,
        discord_gateway_do::gateway::status::Waiting {
            until: at + 30_000,
            reason: WaitReason::RetryAfter
        }
    );
    s.advance_to(at + 29_999);
    assert!(s.take_io().is_empty());
    s.advance_to(at + 30_000);
    s.expect_fetch();
    // A 500 backs off exponentially instead.
    s.gateway_info_failed(Some(500), None);
    assert_eq!(
        s.engine.status().waiting.unwrap().reason,
        WaitReason::Backoff
    );
}

#[test]
fn rate_limited_upgrade_honours_retry_after() {
    let mut s = Script::new();
    s.input(Input::Connect(Script::config()));
    s.expect_fetch();
    s.gateway_info(1000, 1);
    let (id, _) = s.expect_open();
    let at = s.now;
    s.input(Input::SocketFailed(
        id,
        RequestFailure {
            status: Some(429),
            retry_after_ms: Some(12_000),
        },
    ));
    assert_eq!(s.engine.status().waiting.unwrap().until, at + 12_000);
}

#[test]
fn exhausted_identify_budget_waits_for_its_reset() {
    let mut s = Script::new();
    s.input(Input::Connect(Script::config()));
    s.expect_fetch();
    let at = s.now;
    s.gateway_info(0, 600_000);
    let status = s.engine.status();
    assert_eq!(status.waiting.unwrap().reason, WaitReason::IdentifyBudget);
    assert_eq!(status.waiting.unwrap().until, at + 600_000);
    s.advance_to(at + 599_999);
    assert!(
        s.take_io().is_empty(),
        "never Identify with the budget spent"
    );
    s.advance_to(at + 600_000);
    s.expect_fetch();
    s.gateway_info(1000, 86_400_000);
    let (id, _) = s.expect_open();
    s.input(Input::SocketOpened(id));
    s.hello(id, 41_250);
    assert_eq!(sends(&s.take_io())[0]["op"], 2);
}

#[test]
fn identify_budget_is_spent_locally_between_fetches() {
    let mut s = Script::new();
    s.input(Input::Connect(Script::config()));
    s.expect_fetch();
    s.gateway_info(1, 3_600_000);
    let (id, _) = s.expect_open();
    s.input(Input::SocketOpened(id));
    s.hello(id, 41_250);
    assert_eq!(sends(&s.take_io())[0]["op"], 2);
    assert_eq!(s.engine.status().identify_budget.remaining, Some(0));
    // Discord invalidates the fresh session; the stale fetch result would claim budget is left,
    // but a new fetch is always made and honoured.
    s.text(id, &json!({"op": 9, "d": false}));
    s.take();
    s.wake();
    s.expect_fetch();
    s.gateway_info(0, 3_000_000);
    assert_eq!(
        s.engine.status().waiting.unwrap().reason,
        WaitReason::IdentifyBudget
    );
}

#[test]
fn backoff_grows_caps_at_five_minutes_and_resets_on_ready() {
    let mut s = Script::with_jitter(0.999);
    s.input(Input::Connect(Script::config()));
    let mut delays = Vec::new();
    for _ in 0..14 {
        s.expect_fetch();
        let at = s.now;
        s.gateway_info_failed(Some(502), None);
        let until = s.engine.status().waiting.unwrap().until;
        delays.push(until - at);
        s.advance_to(until);
    }
    assert!(delays.windows(2).take(6).all(|w| w[1] > w[0]), "{delays:?}");
    assert!(delays.iter().all(|d| *d <= 300_000));
    assert!(
        *delays.last().unwrap() > 290_000,
        "reaches the cap: {delays:?}"
    );
    assert_eq!(s.engine.status().reconnect_attempts, 14);
    s.expect_fetch();
    s.gateway_info(1000, 1);
    let (id, _) = s.expect_open();
    s.input(Input::SocketOpened(id));
    s.hello(id, 41_250);
    s.ready(id, "s", 1);
    assert_eq!(s.engine.status().reconnect_attempts, 0);
}

#[test]
fn reconnects_per_minute_have_a_ceiling() {
    let mut s = Script::new();
    let mut id = s.connect_ready("sess");
    let start = s.now;
    let mut opens = vec![];
    // Discord asks to reconnect over and over; each op 7 wants an immediate reconnect.
    for _ in 0..20 {
        s.input(Input::SocketOpened(id));
        s.text(id, &json!({"op": 7}));
        let (next, _) = s.run_until_open();
        opens.push(s.now);
        id = next;
    }
    let in_first_minute = opens.iter().filter(|t| **t < start + 60_000).count();
    assert!(
        in_first_minute <= 6,
        "{in_first_minute} attempts in the first minute"
    );
}

#[test]
fn malformed_frames_are_counted_and_skipped() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    s.raw(id, "not json");
    s.dispatch(id, "MESSAGE_CREATE", 2, message("1", "good"));
    s.raw(id, r#"{"d":{}}"#);
    s.raw(id, r#"{"op":0,"t":"MESSAGE_CREATE","d":{}}"#);
    s.raw(id, r#"{"op":42,"d":null}"#);
    s.raw(id, r#"{"op":10,"d":{"heartbeat_interval":"soon"}}"#);
    s.input(Input::Binary(id, &[1, 2, 3]));
    assert_eq!(s.engine.status().state, ConnectionState::Connected);
    // An op 9 whose `d` is not a boolean is counted, and treated as not resumable.
    s.raw(id, r#"{"op":9,"d":"maybe"}"#);
    let actions = s.take();
    let forwarded = forwards(&actions);
    assert_eq!(forwarded.len(), 1);
    let counters = s.engine.status().counters;
    assert_eq!(counters.malformed_frames, 5);
    assert_eq!(counters.unknown_opcodes, 1);
    assert_eq!(counters.unexpected_binary_frames, 1);
    assert_eq!(s.engine.status().session_id, None);
    let oversize = format!(
        r#"{{"op":0,"s":3,"t":"MESSAGE_CREATE","d":"{}"}}"#,
        "x".repeat(33 * 1024 * 1024)
    );
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    s.raw(id, &oversize);
    s.dispatch(id, "MESSAGE_CREATE", 4, message("2", "after"));
    assert_eq!(forwards(&s.take()).len(), 1);
    assert_eq!(s.engine.status().counters.oversize_frames, 1);
    assert_eq!(s.engine.status().state, ConnectionState::Connected);
}

#[test]
fn send_command_enforces_size_and_rate() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    assert_eq!(
        s.engine.send_command(s.now, "x".repeat(4097)),
        Err(SendError::TooLarge { size: 4097 })
    );
    let presence =
        json!({"op": 3, "d": {"since": null, "activities": [], "status": "online", "afk": false}})
            .to_string();
    let mut accepted = 0;
    loop {
        match s.engine.send_command(s.now, presence.clone()) {
            Ok(()) => accepted += 1,
            Err(SendError::RateLimited { retry_at }) => {
                assert!(retry_at > s.now);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    // 120 per minute, one used by Identify, 10 kept for heartbeats.
    assert_eq!(accepted, 120 - 1 - 10);
    // Heartbeats still go out.
    s.wake();
    assert_eq!(sends(&s.take_io()).last().unwrap()["op"], 1);
    let _ = id;
}

#[test]
fn disconnect_ends_the_session_and_schedules_nothing() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    s.input(Input::Disconnect);
    let actions = s.take();
    assert!(actions.contains(&Action::Close {
        id,
        code: 1000,
        reason: "disconnect requested"
    }));
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::Persist(p) if p.session.is_none())));
    assert_eq!(s.engine.status().state, ConnectionState::Disconnected);
    assert_eq!(s.engine.next_wakeup(), None);
    assert!(s.engine.config().is_none());
}

#[test]
fn connecting_again_with_other_settings_replaces_them_cleanly() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    // Same session settings, other forwarded events: the connection stays.
    s.input(Input::Connect(GatewayConfig {
        events: EventFilter::All,
        ..Script::config()
    }));
    assert!(s.take_io().is_empty());
    s.dispatch(id, "TYPING_START", 2, json!({}));
    assert_eq!(forwards(&s.take()).len(), 1);
    // New intents: a new session.
    s.input(Input::Connect(GatewayConfig {
        intents: Intents::from_names(["GUILDS"]).unwrap(),
        ..Script::config()
    }));
    let io = s.take_io();
    assert_eq!(closes(&io), vec![1000]);
    assert!(io.contains(&Action::FetchGatewayInfo));
    assert_eq!(s.engine.status().session_id, None);
}

#[test]
fn handshake_timeouts_retry() {
    let mut s = Script::new();
    s.input(Input::Connect(Script::config()));
    s.expect_fetch();
    s.gateway_info(1000, 1);
    let (id, _) = s.expect_open();
    // The runtime never reports the socket: after the open timeout it is abandoned.
    s.wake();
    assert_eq!(closes(&s.take_io()), vec![4000]);
    let (id2, _) = s.run_until_open();
    assert_ne!(id, id2);
    s.input(Input::SocketOpened(id2));
    // No Hello either.
    s.wake();
    assert_eq!(closes(&s.take_io()), vec![4000]);
}

/// The last snapshot the engine asked to store among `actions`.
fn last_persisted(actions: Vec<Action>) -> Option<SessionSnapshot> {
    actions
        .into_iter()
        .filter_map(|a| match a {
            Action::Persist(p) => Some(p),
            _ => None,
        })
        .next_back()
}

#[test]
fn a_restored_session_resumes_without_identifying() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    s.dispatch(id, "MESSAGE_CREATE", 2, message("1", "a"));
    s.take();
    s.wake();
    let snapshot = last_persisted(s.take()).expect("the heartbeat persists the new sequence");
    assert_eq!(snapshot.sequence, Some(2));
    let json = serde_json::to_string(&snapshot).unwrap();
    assert!(!json.contains(TOKEN), "the snapshot holds no secret");

    let mut restarted = Script::new();
    restarted.now = s.now + 10_000;
    restarted
        .engine
        .restore(serde_json::from_str(&json).unwrap());
    restarted.input(Input::Recover(Script::config()));
    let (new_id, url) = restarted.expect_open();
    assert!(url.starts_with(RESUME_URL));
    restarted.input(Input::SocketOpened(new_id));
    restarted.hello(new_id, 41_250);
    assert_eq!(
        sends(&restarted.take_io()),
        vec![json!({"op": 6, "d": {"token": TOKEN, "session_id": "sess", "seq": 2}})]
    );
    // Replays of what was already forwarded before the restart are skipped.
    restarted.dispatch(new_id, "MESSAGE_CREATE", 2, message("1", "a"));
    restarted.dispatch(new_id, "MESSAGE_CREATE", 3, message("2", "b"));
    let forwarded = forwards(&restarted.take());
    assert_eq!(
        forwarded.iter().map(|f| f.sequence).collect::<Vec<_>>(),
        [3]
    );
}

#[test]
fn a_restored_stop_stays_stopped_until_connect() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    s.closed(id, 4004, "Authentication failed.");
    let snapshot = s.engine.snapshot();
    let mut restarted = Script::new();
    restarted.engine.restore(snapshot);
    restarted.input(Input::Recover(Script::config()));
    assert!(restarted.take_io().is_empty());
    assert_eq!(restarted.engine.status().state, ConnectionState::Stopped);
    assert_eq!(restarted.engine.status().last_close.unwrap().code, 4004);
}

/// Compresses gateway messages as Discord does for zlib-stream: one context, a sync flush each.
fn zlib_stream(messages: &[String]) -> Vec<Vec<u8>> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut compress = Compress::new(Compression::default(), true);
    messages
        .iter()
        .map(|message| {
            let mut out = Vec::with_capacity(message.len() + 64);
            compress
                .compress_vec(message.as_bytes(), &mut out, FlushCompress::Sync)
                .unwrap();
            assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
            out
        })
        .collect()
}

#[test]
fn zlib_stream_split_at_awkward_boundaries_then_corrupted() {
    let mut s = Script::new();
    s.input(Input::Connect(Script::compressed_config()));
    s.expect_fetch();
    s.gateway_info(1000, 86_400_000);
    let (id, url) = s.expect_open();
    assert!(url.ends_with("&compress=zlib-stream"));
    s.input(Input::SocketOpened(id));
    let messages: Vec<String> = [
        json!({"op": 10, "d": {"heartbeat_interval": 41_250}}),
        json!({"op": 0, "s": 1, "t": "READY", "d": {"session_id": "z", "resume_gateway_url": RESUME_URL}}),
        json!({"op": 0, "s": 2, "t": "MESSAGE_CREATE", "d": message("1", "first")}),
        json!({"op": 0, "s": 3, "t": "MESSAGE_CREATE", "d": message("2", "first")}),
    ]
    .iter()
    .map(Value::to_string)
    .collect();
    let frames = zlib_stream(&messages);
    // Hello whole; READY byte by byte; the first message split inside the 00 00 ff ff suffix.
    s.input(Input::Binary(id, &frames[0]));
    assert_eq!(sends(&s.take_io())[0]["op"], 2);
    for byte in &frames[1] {
        s.input(Input::Binary(id, std::slice::from_ref(byte)));
    }
    assert_eq!(s.engine.status().state, ConnectionState::Connected);
    let split = frames[2].len() - 2;
    s.input(Input::Binary(id, &frames[2][..split]));
    assert!(
        forwards(&s.take()).is_empty(),
        "incomplete until the suffix"
    );
    s.input(Input::Binary(id, &frames[2][split..]));
    // The second message refers back to the first through the shared window.
    s.input(Input::Binary(id, &frames[3]));
    let forwarded = forwards(&s.take());
    assert_eq!(forwarded.len(), 2);
    assert_eq!(
        serde_json::from_str::<Value>(&forwarded[1].data).unwrap()["id"],
        "2"
    );

    // A corrupt stream forces a resume on a new connection with a fresh inflate context.
    s.input(Input::Binary(
        id,
        &[0xde, 0xad, 0xbe, 0xef, 0, 0, 0xff, 0xff],
    ));
    let io = s.take_io();
    assert_eq!(closes(&io), vec![4000]);
    assert_eq!(s.engine.status().counters.corrupt_streams, 1);
    let (new_id, url) = opens(&io)[0].clone();
    assert!(url.starts_with(RESUME_URL) && url.ends_with("&compress=zlib-stream"));
    s.input(Input::SocketOpened(new_id));
    let fresh = zlib_stream(&[json!({"op": 10, "d": {"heartbeat_interval": 41_250}}).to_string()]);
    s.input(Input::Binary(new_id, &fresh[0]));
    assert_eq!(sends(&s.take_io())[0]["op"], 6, "resumes on the new stream");
}

#[test]
fn observed_types_are_handed_over_without_being_forwarded() {
    let mut s = Script::new();
    s.engine
        .observe(EventFilter::from_list(["GUILD_CREATE", "MESSAGE_CREATE"]).unwrap());
    let id = s.connect_ready("sess");
    s.dispatch(id, "GUILD_CREATE", 2, json!({"id": "1", "channels": []}));
    s.dispatch(id, "MESSAGE_CREATE", 3, message("1", "hi"));
    s.dispatch(id, "TYPING_START", 4, json!({}));
    let actions = s.take();
    let observed: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Observe(d) => Some(d.event_type.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        observed,
        ["GUILD_CREATE"],
        "forwarded types are not observed twice"
    );
    assert_eq!(forwards(&actions).len(), 1);
}

// ----- issue 8, items 9, 11, 12 and 13 ------------------------------------------------------

/// Resumes `sess` on a new socket at `url_prefix`; returns the socket.
fn expect_resume_at(s: &mut Script, url_prefix: &str, seq: u64) -> ConnectionId {
    let (id, url) = s.run_until_open();
    assert!(
        url.starts_with(url_prefix),
        "{url} should start with {url_prefix}"
    );
    s.input(Input::SocketOpened(id));
    s.hello(id, 41_250);
    assert_eq!(
        sends(&s.take_io()),
        vec![json!({"op": 6, "d": {"token": TOKEN, "session_id": "sess", "seq": seq}})],
        "still a Resume, never an Identify"
    );
    id
}

/// Item 9: one failed connection to `resume_gateway_url` (upgrade error, DNS, no Hello in time)
/// and the next attempt resumes on the `/gateway/bot` URL.
#[test]
fn resume_url_failure_falls_back_to_gateway_url() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    s.dispatch(id, "MESSAGE_CREATE", 2, message("a", "one"));
    s.take();

    // The upgrade to the resume host fails.
    s.text(id, &json!({"op": 7, "d": null}));
    let (first, url) = opens(&s.take_io())[0].clone();
    assert!(url.starts_with(RESUME_URL));
    s.input(Input::SocketFailed(first, RequestFailure::default()));
    let id = expect_resume_at(&mut s, GATEWAY_URL, 2);
    s.dispatch(id, "RESUMED", 3, json!(null));
    assert_eq!(s.engine.status().state, ConnectionState::Connected);
    s.take();

    // Once resumed, the next reconnect tries the resume URL first again; there, no Hello in time.
    s.text(id, &json!({"op": 7, "d": null}));
    let (silent, url) = opens(&s.take_io())[0].clone();
    assert!(url.starts_with(RESUME_URL));
    s.input(Input::SocketOpened(silent));
    s.wake();
    assert_eq!(closes(&s.take_io()), vec![4000], "hello timed out");
    expect_resume_at(&mut s, GATEWAY_URL, 3);
    assert_eq!(s.engine.status().session_id.as_deref(), Some("sess"));
    assert_eq!(s.engine.status().counters.identifies_sent, 1);
}

/// Item 9, after a restart: the `/gateway/bot` URL is not known yet, so it is fetched, and the
/// session is still resumed, not identified anew.
#[test]
fn resume_url_failure_after_a_restart_fetches_the_gateway_url_and_still_resumes() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    s.dispatch(id, "MESSAGE_CREATE", 2, message("a", "one"));
    let snapshot = s.engine.snapshot();

    let mut restarted = Script::new();
    restarted.now = s.now;
    restarted.engine.restore(snapshot);
    restarted.input(Input::Recover(Script::config()));
    let (first, url) = restarted.run_until_open();
    assert!(url.starts_with(RESUME_URL));
    restarted.input(Input::SocketFailed(
        first,
        RequestFailure {
            status: Some(503),
            retry_after_ms: None,
        },
    ));
    expect_resume_at(&mut restarted, GATEWAY_URL, 2);
    assert_eq!(restarted.engine.status().counters.identifies_sent, 0);
}

/// Item 11: workerd closes with 1009 a message over its limit, before the object sees it.
/// Resuming would replay the same message and fail again, forever: a new session instead.
#[test]
fn message_too_big_starts_a_new_session_instead_of_resuming() {
    assert_eq!(
        discord_gateway_do::gateway::engine::MAX_INBOUND_FRAME_BYTES,
        32 * 1024 * 1024,
        "Cloudflare's limit on received WebSocket messages"
    );
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    s.closed(id, 1009, "");
    let status = s.engine.status();
    assert_eq!(
        status.session_id, None,
        "the session that replays it is dropped"
    );
    assert_eq!(status.counters.size_failures, 1);
    assert_eq!(status.last_close.unwrap().reason, "message too big");
    assert!(status
        .last_failure
        .unwrap()
        .reason
        .contains("over the 33554432-byte limit on received WebSocket messages (close 1009)"));
    let (new_id, url) = s.run_until_open();
    assert!(url.starts_with(GATEWAY_URL), "not the resume URL");
    s.input(Input::SocketOpened(new_id));
    s.hello(new_id, 41_250);
    assert_eq!(sends(&s.take_io())[0]["op"], 2, "Identify, not Resume");
}

/// Item 11 with zlib-stream: a message over the limit once decompressed breaks the stream; the
/// same rule applies.
#[test]
fn message_too_big_after_decompression_starts_a_new_session() {
    let mut s = Script::new();
    s.input(Input::Connect(Script::compressed_config()));
    s.expect_fetch();
    s.gateway_info(1000, 86_400_000);
    let (id, _) = s.expect_open();
    s.input(Input::SocketOpened(id));
    let huge = format!(
        r#"{{"op":0,"s":2,"t":"GUILD_CREATE","d":{{"pad":"{}"}}}}"#,
        "x".repeat(33 * 1024 * 1024)
    );
    let frames = zlib_stream(&[
        json!({"op": 10, "d": {"heartbeat_interval": 41_250}}).to_string(),
        json!({"op": 0, "s": 1, "t": "READY", "d": {"session_id": "z", "resume_gateway_url": RESUME_URL}}).to_string(),
        huge,
    ]);
    s.input(Input::Binary(id, &frames[0]));
    s.input(Input::Binary(id, &frames[1]));
    assert_eq!(s.engine.status().session_id.as_deref(), Some("z"));
    s.take();
    s.input(Input::Binary(id, &frames[2]));
    let io = s.take_io();
    assert_eq!(
        closes(&io),
        vec![1000],
        "ends the session on Discord's side too"
    );
    let status = s.engine.status();
    assert_eq!(status.session_id, None);
    assert_eq!(status.counters.size_failures, 1);
    assert_eq!(status.counters.corrupt_streams, 0);
    let (_, url) = s.run_until_open();
    assert!(url.starts_with(GATEWAY_URL));
}

/// Item 12: a server op 1 is answered at heartbeat priority, even when user commands have
/// used every ordinary slot of the send window.
#[test]
fn op_1_is_answered_at_heartbeat_priority() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    let mut ordinary = 0;
    while s
        .engine
        .send_command(s.now, json!({"op": 3, "d": {}}).to_string())
        .is_ok()
    {
        ordinary += 1;
    }
    s.engine.drain_actions().for_each(drop);
    assert!(ordinary < 120, "the window keeps a reserve");
    s.text(id, &json!({"op": 1, "d": null}));
    assert_eq!(sends(&s.take_io()), vec![json!({"op": 1, "d": 1})]);
}

/// Item 12: a heartbeat answered to op 1 just before a tick does not cancel the tick, and its
/// ACK may come until the next tick; only a heartbeat sent at or before the previous tick that
/// is still without an ACK makes a zombie.
#[test]
fn scheduled_heartbeat_is_never_skipped_and_a_late_ack_is_a_zombie() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    s.wake();
    assert_eq!(sends(&s.take_io()).len(), 1, "first tick");
    s.text(id, &json!({"op": 11}));
    let tick = s.engine.next_wakeup().unwrap();

    // Op 1 just before the tick: answered at once, and the tick still sends its heartbeat.
    s.now = tick - 10;
    s.text(id, &json!({"op": 1, "d": null}));
    assert_eq!(sends(&s.take_io()).len(), 1, "op 1 answered");
    s.advance_to(tick);
    let io = s.take_io();
    assert!(
        closes(&io).is_empty(),
        "not a zombie: the op-1 heartbeat went out after the previous tick"
    );
    assert_eq!(
        sends(&io),
        vec![json!({"op": 1, "d": 1})],
        "the tick is not skipped"
    );

    // An ACK for any heartbeat since then counts.
    s.text(id, &json!({"op": 11}));
    s.wake();
    let io = s.take_io();
    assert!(closes(&io).is_empty());
    assert_eq!(sends(&io).len(), 1);

    // No ACK until the next tick: a zombie, closed resumably.
    s.wake();
    let io = s.take_io();
    assert_eq!(closes(&io), vec![4000]);
    assert!(sends(&io).is_empty());
    assert_eq!(s.engine.status().counters.zombie_connections, 1);
}

/// Item 13: a new `compress` does not change a live session's query; it applies from the next
/// new session (a resume must repeat the query the session was opened with).
#[test]
fn compress_change_keeps_the_session_transport_until_it_ends() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    s.input(Input::Connect(Script::compressed_config()));
    assert!(s.take_io().is_empty(), "the live connection stays");
    s.text(id, &json!({"op": 7, "d": null}));
    let (resumed, url) = opens(&s.take_io())[0].clone();
    assert_eq!(url, format!("{RESUME_URL}/?v=10&encoding=json"));
    s.input(Input::SocketOpened(resumed));
    s.hello(resumed, 41_250);
    assert_eq!(sends(&s.take_io())[0]["op"], 6);
    s.dispatch(resumed, "RESUMED", 2, json!(null));
    // The session ends: the new one takes the new setting.
    s.text(resumed, &json!({"op": 9, "d": false}));
    let (_, url) = s.run_until_open();
    assert_eq!(
        url,
        format!("{GATEWAY_URL}/?v=10&encoding=json&compress=zlib-stream")
    );
}

/// Item 13 across a restart: the snapshot remembers the session's transport.
#[test]
fn a_restored_session_resumes_with_its_own_transport() {
    let mut s = Script::new();
    let id = s.connect_ready("sess");
    s.dispatch(id, "MESSAGE_CREATE", 2, message("a", "one"));
    let snapshot = s.engine.snapshot();
    let mut restarted = Script::new();
    restarted.engine.restore(snapshot);
    restarted.input(Input::Recover(Script::compressed_config()));
    let (_, url) = restarted.run_until_open();
    assert_eq!(url, format!("{RESUME_URL}/?v=10&encoding=json"));
}

/// Issue 11, presence: op 3 now on a ready session, kept for every new session's Identify and
/// across a restart (the snapshot), shown in the status.
#[test]
fn presence_is_sent_now_kept_for_identify_and_restored() {
    let mut s = Script::new();
    let presence = json!({"since": null, "activities": [{"name": "tests", "type": 0}], "status": "dnd", "afk": false});
    // Before any session: kept, not sent.
    assert_eq!(s.engine.set_presence(s.now, presence.clone()), Ok(false));
    let id = s.connect_ready("sess");
    s.take_io();
    // With a ready session: op 3 at once.
    assert_eq!(s.engine.set_presence(s.now, presence.clone()), Ok(true));
    s.pending.extend(s.engine.drain_actions());
    let sent = sends(&s.take_io());
    assert_eq!(sent, vec![json!({"op": 3, "d": presence})]);
    assert_eq!(s.engine.status().presence.as_ref(), Some(&presence));
    // A new session identifies with it.
    s.text(id, &json!({"op": 9, "d": false}));
    s.take_io();
    s.wake();
    s.expect_fetch();
    s.gateway_info(900, 86_400_000);
    let (new_id, _) = s.run_until_open();
    s.input(Input::SocketOpened(new_id));
    s.hello(new_id, 41_250);
    let identify = &sends(&s.take_io())[0];
    assert_eq!(identify["op"], 2);
    assert_eq!(identify["d"]["presence"], presence);
    // A restarted engine gets it back from the snapshot.
    let mut restarted = Script::new();
    restarted.engine.restore(s.engine.snapshot());
    assert_eq!(restarted.engine.status().presence, Some(presence));
}

/// Issue 9, `/connect` → READY: the socket opens in the turn the gateway info arrives, with no
/// storage write before it (a write would hold the upgrade behind the output gate); the budget
/// it brought is persisted with the Identify that spends it.
#[test]
fn issue_9_connect_ready_gateway_info_opens_the_socket_without_a_storage_write() {
    let mut s = Script::new();
    s.input(Input::Connect(Script::config()));
    s.expect_fetch();
    s.gateway_info(999, 86_400_000);
    let actions = s.take();
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::OpenSocket { .. })),
        "the socket opens at once: {actions:?}"
    );
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Persist(_))),
        "no storage write before the upgrade: {actions:?}"
    );
    let id = match actions
        .iter()
        .find(|a| matches!(a, Action::OpenSocket { .. }))
    {
        Some(Action::OpenSocket { id, .. }) => *id,
        _ => unreachable!(),
    };
    s.input(Input::SocketOpened(id));
    s.hello(id, 41_250);
    let persisted = last_persisted(s.take()).expect("the Identify persists the budget it spent");
    assert_eq!(persisted.identify_budget.remaining, Some(998));
    assert_eq!(persisted.identify_budget.total, Some(1000));
    assert!(persisted.identify_budget.resets_at.is_some());
}
