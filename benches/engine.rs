//! Native benchmarks of the gateway hot path, reported against a baseline measured in the same
//! run: a full `serde_json::Value` parse of the same frame (what a naive forwarder does).
//!
//! `cargo bench --bench engine`. No timing is asserted anywhere; these numbers are for reading.

use std::hint::black_box;
use std::time::{Duration, Instant};

use discord_gateway_do::delivery::enrich::Directory;
use discord_gateway_do::delivery::envelope::chat_sdk_body;
use discord_gateway_do::gateway::compression::Decompressor;
use discord_gateway_do::gateway::identify_budget::SessionStartLimit;
use discord_gateway_do::gateway::scan::scan;
use discord_gateway_do::gateway::{
    Action, Engine, GatewayConfig, GatewayInfo, Input, SeededJitter, TransportCompression,
};
use serde_json::{json, Value};

const TOKEN: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4.bench0.benchmark-token-value";

/// A realistic guild MESSAGE_CREATE frame of about 2 KB.
fn message_frame(seq: u64) -> String {
    let d = json!({
        "type": 0, "tts": false, "timestamp": "2026-11-23T19:20:00.000000+00:00", "pinned": false,
        "nonce": "1310000000000000000", "mentions": [{
            "id": "1300000000000000001", "username": "sim-bot", "global_name": null, "discriminator": "0",
            "avatar": null, "bot": true, "public_flags": 0, "flags": 0,
            "member": {"roles": [], "premium_since": null, "pending": false, "nick": null, "mute": false,
                       "joined_at": "2024-01-01T00:00:00.000000+00:00", "flags": 0, "deaf": false, "avatar": null}
        }],
        "mention_roles": [], "mention_everyone": false,
        "member": {"roles": ["1300000000000000050"], "premium_since": null, "pending": false, "nick": "Someone",
                   "mute": false, "joined_at": "2024-01-01T00:00:00.000000+00:00", "flags": 0, "deaf": false,
                   "communication_disabled_until": null, "banner": null, "avatar": null},
        "id": format!("13100000000000{seq:05}"), "flags": 0, "embeds": [], "edited_timestamp": null,
        "content": "<@1300000000000000001> could you summarise the thread above? The deploy went out at 19:00 and \
                    the error rate doubled; I'd like to know whether we roll back or patch forward. Thanks! ✨",
        "components": [], "channel_type": 0, "channel_id": "1300000000000000010",
        "author": {"username": "someone", "public_flags": 0, "id": "1300000000000000002", "global_name": "Some One",
                   "discriminator": "0", "clan": null, "avatar_decoration_data": null, "avatar": "a1b2c3d4e5f6"},
        "attachments": [{"id": "1310000000000000099", "filename": "error-rate.png", "size": 48213,
                         "url": "https://cdn.example/attachments/1300000000000000010/1310000000000000099/error-rate.png?ex=1&is=2&hm=3",
                         "proxy_url": "https://media.example/attachments/1300000000000000010/1310000000000000099/error-rate.png?ex=1&is=2&hm=3",
                         "width": 1280, "height": 720, "content_type": "image/png", "placeholder": "abc", "placeholder_version": 1}],
        "guild_id": "1300000000000000003"
    });
    json!({"t": "MESSAGE_CREATE", "s": seq, "op": 0, "d": d}).to_string()
}

/// Runs `f` repeatedly for about `budget` in 5 rounds and returns nanoseconds per call: the
/// median round. `f` gets a call number that keeps counting across rounds, so state carried
/// from one round to the next (an engine's sequence numbers) never sees a number twice.
fn measure(budget: Duration, mut f: impl FnMut(u64)) -> f64 {
    let mut rounds = Vec::with_capacity(5);
    let mut n = 0u64;
    for _ in 0..5 {
        let start = Instant::now();
        let first = n;
        while start.elapsed() < budget / 5 {
            for _ in 0..64 {
                f(n);
                n += 1;
            }
        }
        rounds.push(start.elapsed().as_nanos() as f64 / (n - first) as f64);
    }
    rounds.sort_by(f64::total_cmp);
    rounds[2]
}

fn ready_engine() -> (Engine, discord_gateway_do::gateway::ConnectionId) {
    let mut engine = Engine::new(Box::new(SeededJitter::new(7)));
    let now = 1_000_000;
    engine.handle(now, Input::Connect(GatewayConfig::new(TOKEN).unwrap()));
    engine.handle(
        now,
        Input::GatewayInfo(GatewayInfo {
            url: "wss://gateway.example".into(),
            shards: 1,
            session_start_limit: SessionStartLimit {
                total: 1000,
                remaining: 1000,
                reset_after: 1,
                max_concurrency: 1,
            },
        }),
    );
    let id = engine.current_connection().unwrap();
    engine.handle(now, Input::SocketOpened(id));
    engine.handle(
        now,
        Input::Text(id, r#"{"op":10,"d":{"heartbeat_interval":41250}}"#),
    );
    engine.handle(
        now,
        Input::Text(id, r#"{"op":0,"s":1,"t":"READY","d":{"session_id":"s","resume_gateway_url":"wss://r.example"}}"#),
    );
    engine.drain_actions().for_each(drop);
    (engine, id)
}

/// The frames as Discord sends them with `compress=zlib-stream`: one deflate context, a sync
/// flush after each message.
fn zlib_stream(frames: &[String]) -> Vec<Vec<u8>> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut compress = Compress::new(Compression::default(), true);
    frames
        .iter()
        .map(|frame| {
            let mut out = Vec::with_capacity(frame.len() + 64);
            compress
                .compress_vec(frame.as_bytes(), &mut out, FlushCompress::Sync)
                .unwrap();
            out
        })
        .collect()
}

fn main() {
    let budget = Duration::from_millis(if std::env::var_os("QUICK").is_some() {
        200
    } else {
        1_500
    });
    let frame = message_frame(2);
    let frames: Vec<String> = (2..2_050).map(message_frame).collect();
    println!(
        "frame: realistic guild MESSAGE_CREATE, {} bytes",
        frame.len()
    );

    let baseline = measure(budget, |_| {
        let value: Value = serde_json::from_str(black_box(&frame)).unwrap();
        black_box(value);
    });
    let scanned = measure(budget, |_| {
        black_box(scan(black_box(&frame)).unwrap());
    });

    let (mut engine, id) = ready_engine();
    let mut directory = Directory::default();
    let mut now = 1_000_000;
    let mut forwarded = 0u64;
    let mut calls = 0u64;
    let decided = measure(budget, |n| {
        calls += 1;
        // Each frame has a new sequence number, as on a live connection.
        let frame = &frames[(n as usize) % frames.len()];
        now += 1;
        engine.handle(now, Input::Text(id, frame));
        for action in engine.drain_actions() {
            if let Action::Forward(dispatch) = action {
                // What the object does per forwarded event: lane + learn + enrich, then the body.
                let prepared = directory.prepare(&dispatch.event_type, &dispatch.data);
                let data = prepared.data.as_deref().unwrap_or(&dispatch.data);
                let body = chat_sdk_body(&dispatch.event_type, now, data);
                black_box((prepared.channel, body));
                forwarded += 1;
            }
        }
        if n as usize % frames.len() == frames.len() - 1 {
            // Start over in a new session so sequence numbers are fresh again, on the new
            // session's clock (else its heartbeat is long overdue and it closes as a zombie).
            (engine, _) = ready_engine();
            now = 1_000_000;
        }
    });
    // Every frame was a new event that went the whole way, none skipped as a duplicate.
    assert_eq!(forwarded, calls, "every measured frame was forwarded");

    // zlib-stream: what inflating costs per event, and how much smaller the messages are.
    let compressed = zlib_stream(&frames);
    let raw_bytes: usize = frames.iter().map(String::len).sum();
    let wire_bytes: usize = compressed.iter().map(Vec::len).sum();
    let mut decompressor = Decompressor::new(TransportCompression::ZlibStream);
    let inflated = measure(budget, |n| {
        let i = (n as usize) % compressed.len();
        if i == 0 {
            // The stream starts over with a new connection.
            decompressor = Decompressor::new(TransportCompression::ZlibStream);
        }
        black_box(decompressor.push(black_box(&compressed[i])).unwrap());
    });

    println!("baseline   serde_json::Value parse     {baseline:>9.0} ns/frame   1.00x");
    println!(
        "scan       op/s/t + raw d              {scanned:>9.0} ns/frame   {:.2}x of baseline",
        scanned / baseline
    );
    println!(
        "forward    scan+decide+prepare+envelope {decided:>9.0} ns/frame   {:.2}x of baseline ({:.0} frames/s)",
        decided / baseline,
        1e9 / decided
    );
    println!(
        "zlib       inflate one message          {inflated:>9.0} ns/frame   {:.2}x of baseline; {:.1}x smaller on the wire ({} -> {} bytes per frame)",
        inflated / baseline,
        raw_bytes as f64 / wire_bytes as f64,
        raw_bytes / frames.len(),
        wire_bytes / frames.len()
    );
}
