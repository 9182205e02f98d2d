//! Gateway protocol scenarios against the real binary.

mod common;

use std::time::Duration;

use common::*;
use flate2::{Decompress, FlushDecompress};
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn identify_ready_then_dispatch() {
    let sim = Sim::start();
    let (status, _, body) = sim
        .http(
            "GET",
            "/api/v10/gateway/bot",
            &[("authorization", "Bot token-a")],
            None,
        )
        .await;
    assert_eq!(status, 200);
    let gateway: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(gateway["url"], format!("ws://{}", sim.addr));
    assert_eq!(gateway["session_start_limit"]["remaining"], 1000);

    let mut ws = common::connect(&format!(
        "{}/?v=10&encoding=json",
        gateway["url"].as_str().unwrap()
    ))
    .await;
    let hello = recv(&mut ws).await;
    assert_eq!(
        hello,
        json!({"t": null, "s": null, "op": 10, "d": hello["d"].clone()})
    );
    assert_eq!(hello["d"]["heartbeat_interval"], 1000);

    send(&mut ws, identify("token-a", INTENTS)).await;
    let ready = recv(&mut ws).await;
    assert_eq!(
        (ready["op"].clone(), ready["s"].clone()),
        (json!(0), json!(1))
    );
    let d = &ready["d"];
    assert_eq!(d["v"], 10);
    assert_eq!(d["user"]["bot"], true);
    assert_eq!(d["session_id"].as_str().unwrap().len(), 32);
    assert_eq!(d["resume_gateway_url"], format!("ws://{}/resume", sim.addr));
    let guild = recv(&mut ws).await;
    assert_eq!(
        (guild["t"].clone(), guild["s"].clone()),
        (json!("GUILD_CREATE"), json!(2))
    );
    let threads = guild["d"]["threads"].as_array().unwrap();
    assert_eq!(threads[0]["type"], 11);
    assert!(guild["d"]["channels"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == 0));

    let (status, sent) = sim
        .control("dispatch", json!({"preset": "guild_message"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(sent["delivered"], true);
    let (frame, text) = recv_text(&mut ws).await;
    assert_eq!(frame["t"], "MESSAGE_CREATE");
    assert_eq!(frame["s"], 3);
    assert_eq!(raw_d(&text), sent["sent"][0]["raw"].as_str().unwrap());
    assert_eq!(frame["d"], sent["sent"][0]["data"]);
    assert_eq!(frame["d"]["attachments"].as_array().unwrap().len(), 1);

    let (_, sent) = sim
        .control(
            "dispatch",
            json!({"type": "CUSTOM_EVENT", "data": {"x": [1, 2]}}),
        )
        .await;
    let (frame, text) = recv_text(&mut ws).await;
    assert_eq!(
        (frame["t"].clone(), frame["s"].clone()),
        (json!("CUSTOM_EVENT"), json!(4))
    );
    assert_eq!(raw_d(&text), sent["sent"][0]["raw"].as_str().unwrap());

    let state = sim.state().await;
    assert_eq!(state["identifies"].as_array().unwrap().len(), 1);
    assert_eq!(state["identifies"][0]["token"], "****en-a");
    assert_eq!(state["connections"][0]["query"], "v=10&encoding=json");
    let (_, _, body) = sim
        .http(
            "GET",
            "/api/v10/gateway/bot",
            &[("authorization", "Bot token-a")],
            None,
        )
        .await;
    let gateway: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(gateway["session_start_limit"]["remaining"], 999);
}

#[tokio::test]
async fn resume_replays_missed_dispatches_then_resumed() {
    let sim = Sim::start();
    let (mut ws, ready) = identified(&sim, "token-r").await;
    let (status, _) = sim.control("drop", json!({})).await;
    assert_eq!(status, 200);
    // The client sees the connection end without a close frame.
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            match futures_util::StreamExt::next(&mut ws).await {
                Some(Ok(Message::Close(_))) => return false,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return true,
            }
        }
    })
    .await
    .unwrap();
    assert!(ended);

    let (_, sent) = sim
        .control(
            "dispatch",
            json!({"token": "token-r", "preset": "dm_message", "count": 2}),
        )
        .await;
    assert_eq!(sent["delivered"], false);
    let raws: Vec<String> = sent["sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["raw"].as_str().unwrap().to_owned())
        .collect();

    let resume_url = format!(
        "{}/?v=10&encoding=json",
        ready["resume_gateway_url"].as_str().unwrap()
    );
    let mut ws = common::connect(&resume_url).await;
    assert_eq!(recv(&mut ws).await["op"], 10);
    send(
        &mut ws,
        json!({"op": 6, "d": {"token": "token-r", "session_id": ready["session_id"], "seq": 2}}),
    )
    .await;
    for (i, raw) in raws.iter().enumerate() {
        let (frame, text) = recv_text(&mut ws).await;
        assert_eq!(frame["s"], 3 + i as u64);
        assert_eq!(raw_d(&text), raw);
    }
    let resumed = recv(&mut ws).await;
    assert_eq!(
        (resumed["t"].clone(), resumed["s"].clone()),
        (json!("RESUMED"), json!(5))
    );

    let state = sim.state().await;
    assert_eq!(state["resumes"][0]["path"], "/resume");
    assert_eq!(state["resumes"][0]["replayed"], 2);
    assert_eq!(state["sessions"][0]["attached"], true);

    // A resume of an unknown session gets op 9 d=false.
    let mut other = common::connect(&resume_url).await;
    recv(&mut other).await;
    send(
        &mut other,
        json!({"op": 6, "d": {"token": "token-r", "session_id": "nope", "seq": 1}}),
    )
    .await;
    assert_eq!(
        recv(&mut other).await,
        json!({"t": null, "s": null, "op": 9, "d": false})
    );
}

#[tokio::test]
async fn client_close_1000_ends_the_session() {
    let sim = Sim::start();
    let (mut ws, ready) = identified(&sim, "token-c").await;
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))
    .await
    .unwrap();
    let state = sim
        .wait_state(|s| s["connections"][0]["open"] == false)
        .await;
    assert_eq!(state["connections"][0]["closeCodeFromClient"], 1000);
    assert_eq!(state["connections"][0]["sessionId"], ready["session_id"]);
    assert_eq!(state["connections"][0]["attached"], false);
    assert!(state["sessions"].as_array().unwrap().is_empty());

    let mut ws = sim.connect("v=10&encoding=json").await;
    recv(&mut ws).await;
    send(
        &mut ws,
        json!({"op": 6, "d": {"token": "token-c", "session_id": ready["session_id"], "seq": 2}}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["op"], 9);
}

/// Reads binary frames until a zlib-stream message is complete; returns it and the frame count.
async fn recv_zlib(ws: &mut Ws, inflate: &mut Decompress) -> (Value, usize) {
    let mut buffer = Vec::new();
    let mut frames = 0;
    while !buffer.ends_with(&[0, 0, 0xff, 0xff]) {
        match next_message(ws).await {
            Message::Binary(bytes) => buffer.extend_from_slice(&bytes),
            other => panic!("expected binary, got {other:?}"),
        }
        frames += 1;
    }
    let mut out = Vec::with_capacity(1 << 20);
    inflate
        .decompress_vec(&buffer, &mut out, FlushDecompress::Sync)
        .unwrap();
    (serde_json::from_slice(&out).unwrap(), frames)
}

#[tokio::test]
async fn zlib_stream_with_split_frames() {
    let sim = Sim::start();
    sim.control("config", json!({"zlibSplit": {"at": [1, 4]}}))
        .await;
    let mut ws = sim.connect("v=10&encoding=json&compress=zlib-stream").await;
    let mut inflate = Decompress::new(true);
    let (hello, frames) = recv_zlib(&mut ws, &mut inflate).await;
    assert_eq!(hello["op"], 10);
    assert_eq!(frames, 3);

    sim.control("config", json!({"zlibSplit": {"every": 3}}))
        .await;
    send(&mut ws, identify("token-z", INTENTS)).await;
    let (ready, frames) = recv_zlib(&mut ws, &mut inflate).await;
    assert_eq!(ready["t"], "READY");
    assert!(frames > 10);

    let (guild, _) = recv_zlib(&mut ws, &mut inflate).await;
    assert_eq!(guild["t"], "GUILD_CREATE");

    sim.control("config", json!({"zlibSplit": null})).await;
    sim.control("dispatch", json!({"preset": "thread_message"}))
        .await;
    let (message, frames) = recv_zlib(&mut ws, &mut inflate).await;
    assert_eq!(message["d"]["channel_type"], 11);
    assert_eq!(frames, 1);
    assert_eq!(
        sim.state().await["connections"][0]["compress"],
        "zlib-stream"
    );
}

#[cfg(feature = "zstd")]
#[tokio::test]
async fn zstd_stream_round_trip() {
    use std::io::Read;
    let sim = Sim::start();
    let mut ws = sim.connect("v=10&encoding=json&compress=zstd-stream").await;
    let mut stream = Vec::new();
    let Message::Binary(hello) = next_message(&mut ws).await else {
        panic!("expected binary")
    };
    stream.extend_from_slice(&hello);
    send(&mut ws, json!({"op": 1, "d": null})).await;
    let Message::Binary(ack) = next_message(&mut ws).await else {
        panic!("expected binary")
    };
    stream.extend_from_slice(&ack);
    let expected = r#"{"t":null,"s":null,"op":11,"d":null}"#;
    let mut decoder = zstd::stream::read::Decoder::new(&stream[..]).unwrap();
    let mut text = vec![0u8; 2048];
    let mut total = 0;
    while !String::from_utf8_lossy(&text[..total]).ends_with(expected) {
        let n = decoder.read(&mut text[total..]).unwrap();
        assert!(n > 0, "stream ended early");
        total += n;
    }
    assert!(String::from_utf8_lossy(&text[..total]).starts_with(r#"{"t":null,"s":null,"op":10"#));
}

#[tokio::test]
async fn rejected_token_closes_4004() {
    let sim = Sim::start();
    sim.control("config", json!({"rejectTokens": ["bad-token"]}))
        .await;
    let mut ws = sim.connect("v=10&encoding=json").await;
    recv(&mut ws).await;
    send(&mut ws, identify("bad-token", INTENTS)).await;
    assert_eq!(expect_close(&mut ws).await, 4004);
    let state = sim.state().await;
    assert_eq!(state["connections"][0]["closeCodeFromServer"], 4004);
    assert_eq!(state["identifies"][0]["outcome"], 4004);
}

#[tokio::test]
async fn protocol_violations_close_with_discord_codes() {
    let sim = Sim::start();
    sim.control(
        "config",
        json!({"privilegedIntentsAllowed": {"limited": 0}}),
    )
    .await;
    let cases: Vec<(&str, Message, u16)> = vec![
        ("v=10&encoding=json", Message::text("x".repeat(5000)), 4002),
        ("v=10&encoding=json", Message::text("{not json"), 4002),
        (
            "v=10&encoding=json",
            Message::text(r#"{"op":99,"d":null}"#),
            4001,
        ),
        (
            "v=10&encoding=json",
            Message::text(r#"{"op":3,"d":{}}"#),
            4003,
        ),
        (
            "v=10&encoding=json",
            Message::text(identify("limited", 1 << 15).to_string()),
            4014,
        ),
        (
            "v=10&encoding=json",
            Message::text(r#"{"op":2,"d":{"intents":1}}"#),
            4002,
        ),
    ];
    for (query, message, code) in cases {
        let mut ws = sim.connect(query).await;
        recv(&mut ws).await;
        ws.send(message).await.unwrap();
        assert_eq!(expect_close(&mut ws).await, code);
    }
    let mut ws = sim.connect("v=9&encoding=json").await;
    assert_eq!(recv(&mut ws).await["op"], 10);
    assert_eq!(expect_close(&mut ws).await, 4012);

    let (mut ws, _) = identified(&sim, "twice").await;
    send(&mut ws, identify("twice", INTENTS)).await;
    assert_eq!(expect_close(&mut ws).await, 4005);

    // More than 120 payloads in 60 s.
    let mut ws = sim.connect("v=10&encoding=json").await;
    recv(&mut ws).await;
    for _ in 0..121 {
        ws.feed(Message::text(r#"{"op":1,"d":null}"#))
            .await
            .unwrap();
    }
    ws.flush().await.unwrap();
    assert_eq!(expect_close(&mut ws).await, 4008);
}

#[tokio::test]
async fn heartbeats_are_acked_until_paused() {
    let sim = Sim::start();
    let mut ws = sim.connect("v=10&encoding=json").await;
    recv(&mut ws).await;
    send(&mut ws, json!({"op": 1, "d": null})).await;
    assert_eq!(recv(&mut ws).await["op"], 11);

    sim.control("acks", json!({"paused": true})).await;
    send(&mut ws, json!({"op": 1, "d": 7})).await;
    let nothing = tokio::time::timeout(Duration::from_millis(300), next_message(&mut ws)).await;
    assert!(nothing.is_err(), "no ACK while paused");

    sim.control("acks", json!({"paused": false})).await;
    send(&mut ws, json!({"op": 1, "d": 8})).await;
    assert_eq!(recv(&mut ws).await["op"], 11);

    let conn = &sim.state().await["connections"][0];
    assert_eq!(conn["heartbeats"], json!([null, 7, 8]));
    assert_eq!(conn["acksSent"], 2);
}

#[tokio::test]
async fn server_side_faults_reach_the_client() {
    let sim = Sim::start();
    let (mut ws, ready) = identified(&sim, "token-f").await;
    sim.control("reconnect", json!({"token": "token-f"})).await;
    assert_eq!(recv(&mut ws).await["op"], 7);
    sim.control("raw", json!({"text": "{broken"})).await;
    assert_eq!(next_message(&mut ws).await, Message::text("{broken"));
    let (_, sent) = sim.control("oversize", json!({"bytes": 100_000})).await;
    let (frame, text) = recv_text(&mut ws).await;
    assert_eq!(frame["t"], "OVERSIZE_TEST");
    assert_eq!(
        (frame["s"].clone(), sent["sent"][0]["seq"].clone()),
        (json!(3), json!(3))
    );
    assert!((99_000..=100_000).contains(&text.len()), "{}", text.len());

    // op 9 d=true detaches the session: dispatches are buffered until a resume.
    sim.control("invalid-session", json!({"resumable": true}))
        .await;
    assert_eq!(recv(&mut ws).await["d"], true);
    let (_, sent) = sim
        .control("dispatch", json!({"preset": "guild_mention"}))
        .await;
    assert_eq!(sent["delivered"], false);
    send(
        &mut ws,
        json!({"op": 6, "d": {"token": "token-f", "session_id": ready["session_id"], "seq": 3}}),
    )
    .await;
    let replay = recv(&mut ws).await;
    assert_eq!(
        (
            replay["s"].clone(),
            replay["d"]["mentions"][0]["id"].clone()
        ),
        (json!(4), ready["user"]["id"].clone())
    );
    assert_eq!(recv(&mut ws).await["t"], "RESUMED");

    let (status, closed) = sim.control("close", json!({"code": 4009})).await;
    assert_eq!(status, 200);
    assert_eq!(closed["connections"].as_array().unwrap().len(), 1);
    assert_eq!(expect_close(&mut ws).await, 4009);
    let (status, body) = sim
        .control("dispatch", json!({"preset": "guild_message"}))
        .await;
    assert_eq!((status, body), (409, json!({"error": "no session"})));
}

/// Issue 11: the session's presence comes from Identify, then from each op 3, and is in state.
#[tokio::test]
async fn presence_from_identify_and_op_3() {
    let sim = Sim::start();
    let mut ws = sim.connect("v=10&encoding=json").await;
    recv(&mut ws).await; // Hello
    let first = json!({"since": null, "activities": [], "status": "idle", "afk": false});
    let mut payload = identify("token-a", INTENTS);
    payload["d"]["presence"] = first.clone();
    send(&mut ws, payload).await;
    recv(&mut ws).await; // READY
    let state = sim.state().await;
    assert_eq!(state["sessions"][0]["presence"], first);
    assert_eq!(state["identifies"][0]["presence"], first);
    let second = json!({"since": null, "activities": [{"name": "x", "type": 0}], "status": "dnd", "afk": false});
    send(&mut ws, json!({"op": 3, "d": second})).await;
    let state = waitfor_presence(&sim, &second).await;
    assert_eq!(state["sessions"][0]["presenceUpdates"], 1);
}

async fn waitfor_presence(sim: &Sim, expected: &Value) -> Value {
    for _ in 0..100 {
        let state = sim.state().await;
        if state["sessions"][0]["presence"] == *expected {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("presence never became {expected}");
}
