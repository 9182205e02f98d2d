//! Issue 12 (sharding) in the simulator: `/gateway/bot`'s `shards` and `max_concurrency`,
//! guilds spread by Discord's formula, the per-bucket Identify limit, 4010/4011 and the
//! Identify log, all over a real socket.

mod common;

use common::*;
use serde_json::{json, Value};

/// An Identify payload with `shard: [id, count]`.
fn identify_shard(token: &str, shard: [u64; 2]) -> Value {
    let mut payload = identify(token, INTENTS);
    payload["d"]["shard"] = json!(shard);
    payload
}

/// Connects and reads Hello.
async fn hello(sim: &Sim) -> Ws {
    let mut ws = sim.connect("v=10&encoding=json").await;
    assert_eq!(recv(&mut ws).await["op"], 10);
    ws
}

/// Connects, identifies as `shard` and returns the socket, READY's `d` and the GUILD_CREATE
/// guild ids that followed (read until `guilds` of them arrived).
async fn shard_ready(
    sim: &Sim,
    token: &str,
    shard: [u64; 2],
    guilds: usize,
) -> (Ws, Value, Vec<String>) {
    let mut ws = hello(sim).await;
    send(&mut ws, identify_shard(token, shard)).await;
    let ready = recv(&mut ws).await;
    assert_eq!(ready["t"], "READY", "{ready}");
    let mut ids = Vec::new();
    for _ in 0..guilds {
        let frame = recv(&mut ws).await;
        assert_eq!(frame["t"], "GUILD_CREATE");
        ids.push(frame["d"]["id"].as_str().unwrap().to_owned());
    }
    (ws, ready["d"].clone(), ids)
}

async fn gateway_bot(sim: &Sim, token: &str) -> Value {
    let auth = format!("Bot {token}");
    let (status, _, body) = sim
        .http(
            "GET",
            "/api/v10/gateway/bot",
            &[("authorization", &auth)],
            None,
        )
        .await;
    assert_eq!(status, 200);
    serde_json::from_str(&body).unwrap()
}

fn shard_of(guild_id: &str, count: u64) -> u64 {
    (guild_id.parse::<u64>().unwrap() >> 22) % count
}

#[tokio::test]
async fn issue12_gateway_bot_reports_shards_and_concurrency() {
    let sim = Sim::start();
    let body = gateway_bot(&sim, "tok").await;
    assert_eq!(body["shards"], 1, "one shard by default");
    assert_eq!(body["session_start_limit"]["max_concurrency"], 1);

    let (status, _) = sim
        .control(
            "config",
            json!({"shards": 4, "sessionStartLimit": {"total": 10, "maxConcurrency": 2}}),
        )
        .await;
    assert_eq!(status, 200);
    let body = gateway_bot(&sim, "tok").await;
    assert_eq!(body["shards"], 4);
    let limit = &body["session_start_limit"];
    assert_eq!(
        (
            limit["total"].clone(),
            limit["remaining"].clone(),
            limit["max_concurrency"].clone()
        ),
        (json!(10), json!(10), json!(2))
    );
    assert!(limit["reset_after"].as_u64().unwrap() > 0);
    shard_ready(&sim, "tok", [0, 4], 0).await;
    assert_eq!(
        gateway_bot(&sim, "tok").await["session_start_limit"]["remaining"],
        9
    );

    // The recommended count grows at runtime.
    sim.control("config", json!({"shards": 8})).await;
    assert_eq!(gateway_bot(&sim, "tok").await["shards"], 8);
    for bad in [
        json!({"shards": 0}),
        json!({"guilds": 0}),
        json!({"sessionStartLimit": {"maxConcurrency": 0}}),
    ] {
        let (status, body) = sim.control("config", bad.clone()).await;
        assert_eq!(status, 400, "{bad}");
        assert!(
            body["error"].as_str().unwrap().contains("must be between"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn issue12_guilds_and_dispatches_follow_their_shard() {
    let sim = Sim::start();
    sim.control(
        "config",
        json!({"shards": 4, "guilds": 8, "sessionStartLimit": {"maxConcurrency": 4}}),
    )
    .await;
    let world = sim.state().await["world"].clone();
    let guild_ids: Vec<String> = world["guildIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(guild_ids.len(), 8);
    assert_eq!(guild_ids[0], world["guildId"]);

    let mut shards = Vec::new();
    for id in 0..4 {
        let expected: Vec<String> = guild_ids
            .iter()
            .filter(|g| shard_of(g, 4) == id)
            .cloned()
            .collect();
        assert_eq!(expected.len(), 2, "8 consecutive guilds over 4 shards");
        let (ws, ready, created) = shard_ready(&sim, "bot", [id, 4], expected.len()).await;
        assert_eq!(ready["shard"], json!([id, 4]));
        let listed: Vec<String> = ready["guilds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(listed, expected, "READY lists only the shard's guilds");
        assert_eq!(
            created, expected,
            "GUILD_CREATE only for the shard's guilds"
        );
        shards.push((ws, ready["session_id"].as_str().unwrap().to_owned()));
    }

    // A guild's dispatch goes out on its shard's connection.
    for (index, guild) in guild_ids.iter().enumerate() {
        let (status, body) = sim
            .control(
                "dispatch",
                json!({"preset": "guild_message", "guildIndex": index}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let shard = shard_of(guild, 4) as usize;
        assert_eq!(body["sessionId"], shards[shard].1.as_str());
        let frame = recv(&mut shards[shard].0).await;
        assert_eq!(frame["t"], "MESSAGE_CREATE");
        assert_eq!(frame["d"]["guild_id"], guild.as_str());
        if index > 0 {
            assert_ne!(
                frame["d"]["channel_id"], world["textChannelId"],
                "the guild's own channel"
            );
        }
    }
    // An explicit guild_id routes the same way; direct messages only on shard 0.
    let (_, body) = sim
        .control(
            "dispatch",
            json!({"type": "CUSTOM", "data": {"guild_id": guild_ids[3]}}),
        )
        .await;
    let shard = shard_of(&guild_ids[3], 4) as usize;
    assert_eq!(body["sessionId"], shards[shard].1.as_str());
    assert_eq!(recv(&mut shards[shard].0).await["t"], "CUSTOM");
    // guildIndex moves the world's ids in raw data too.
    let (_, body) = sim
        .control(
            "dispatch",
            json!({"type": "CUSTOM", "data": {"guild_id": world["guildId"]}, "guildIndex": 5}),
        )
        .await;
    let shard = shard_of(&guild_ids[5], 4) as usize;
    assert_eq!(body["sessionId"], shards[shard].1.as_str());
    assert_eq!(body["sent"][0]["data"]["guild_id"], guild_ids[5].as_str());
    assert_eq!(recv(&mut shards[shard].0).await["t"], "CUSTOM");
    let (_, body) = sim
        .control("dispatch", json!({"preset": "dm_message"}))
        .await;
    assert_eq!(body["sessionId"], shards[0].1.as_str());
    assert_eq!(recv(&mut shards[0].0).await["t"], "MESSAGE_CREATE");
    let (status, _) = sim
        .control(
            "dispatch",
            json!({"preset": "guild_message", "guildIndex": 8}),
        )
        .await;
    assert_eq!(status, 400);

    let sessions = sim.state().await["sessions"].clone();
    let listed: Vec<Value> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["shard"].clone())
        .collect();
    assert_eq!(
        listed,
        vec![json!([0, 4]), json!([1, 4]), json!([2, 4]), json!([3, 4])]
    );
}

#[tokio::test]
async fn issue12_identify_rate_is_enforced_per_bucket() {
    let sim = Sim::start();
    sim.control(
        "config",
        json!({"shards": 4, "sessionStartLimit": {"total": 100, "maxConcurrency": 2}}),
    )
    .await;
    // Shards 0 and 1 are in buckets 0 and 1: both may start at once.
    let _s0 = shard_ready(&sim, "bot", [0, 4], 0).await;
    let _s1 = shard_ready(&sim, "bot", [1, 4], 1).await;
    // Shard 2 is bucket 0 again, within 5 s: Discord answers op 9 (not resumable).
    let mut ws = hello(&sim).await;
    send(&mut ws, identify_shard("bot", [2, 4])).await;
    let answer = recv(&mut ws).await;
    assert_eq!(
        (answer["op"].clone(), answer["d"].clone()),
        (json!(9), json!(false))
    );
    // Another token has its own buckets.
    let _other = shard_ready(&sim, "other", [2, 4], 0).await;

    let state = sim.state().await;
    let log: Vec<(Value, Value, Value)> = state["identifies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["shard"].clone(),
                i["bucket"].clone(),
                i["outcome"].clone(),
            )
        })
        .collect();
    assert_eq!(
        log,
        vec![
            (json!([0, 4]), json!(0), json!("ready")),
            (json!([1, 4]), json!(1), json!("ready")),
            (json!([2, 4]), json!(0), json!("rate_limited")),
            (json!([2, 4]), json!(0), json!("ready")),
        ]
    );
    assert!(state["identifies"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["at"].as_u64().unwrap() > 0));
    // The refused Identify did not spend the budget.
    assert_eq!(
        gateway_bot(&sim, "bot").await["session_start_limit"]["remaining"],
        98
    );

    // Once the window has passed (here: set to zero), the bucket is free again.
    sim.control("config", json!({"identifyWindowMs": 0})).await;
    send(&mut ws, identify_shard("bot", [2, 4])).await;
    assert_eq!(recv(&mut ws).await["t"], "READY");
}

#[tokio::test]
async fn issue12_single_shard_default_never_rate_limits() {
    let sim = Sim::start();
    identified(&sim, "solo").await;
    identified(&sim, "solo").await;
    let state = sim.state().await;
    assert_eq!(state["identifies"][1]["outcome"], "ready");
    let (_, config) = sim.control("config", json!({})).await;
    assert_eq!(config["enforceIdentifyConcurrency"], false);
    // Enforced on demand even with one shard.
    sim.control("config", json!({"enforceIdentifyConcurrency": true}))
        .await;
    identified(&sim, "solo2").await;
    let mut ws = hello(&sim).await;
    send(&mut ws, identify("solo2", INTENTS)).await;
    assert_eq!(recv(&mut ws).await["op"], 9);
}

#[tokio::test]
async fn issue12_wrong_shards_close_4010_and_4011() {
    let sim = Sim::start();
    for shard in [[2, 2], [0, 0], [5, 3]] {
        let mut ws = hello(&sim).await;
        send(&mut ws, identify_shard("bot", shard)).await;
        assert_eq!(expect_close(&mut ws).await, 4010, "{shard:?}");
    }
    // Large bot sharding: the count must be a multiple of the assigned number.
    sim.control("config", json!({"shardMultiple": 4})).await;
    let mut ws = hello(&sim).await;
    send(&mut ws, identify_shard("bot", [0, 6])).await;
    assert_eq!(expect_close(&mut ws).await, 4010);
    shard_ready(&sim, "bot", [0, 8], 0).await;
    sim.control("config", json!({"shardMultiple": null})).await;

    // Too few shards for the guilds: 4011, unsharded included.
    sim.control("config", json!({"requiredShards": 2})).await;
    let mut ws = hello(&sim).await;
    send(&mut ws, identify("bot2", INTENTS)).await;
    assert_eq!(expect_close(&mut ws).await, 4011);
    shard_ready(&sim, "bot2", [1, 2], 1).await;
    let outcomes: Vec<Value> = sim.state().await["identifies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        vec![
            json!(4010),
            json!(4010),
            json!(4010),
            json!(4010),
            json!("ready"),
            json!(4011),
            json!("ready")
        ]
    );
}

#[tokio::test]
async fn issue12_sharding_required_on_demand() {
    let sim = Sim::start();
    let (mut ws, ready) = identified(&sim, "grow").await;
    let (status, body) = sim.control("sharding-required", json!({"shards": 2})).await;
    assert_eq!(status, 200);
    assert_eq!(body["shards"], 2);
    assert_eq!(expect_close(&mut ws).await, 4011);
    assert_eq!(gateway_bot(&sim, "grow").await["shards"], 2);

    // The session is gone: a Resume gets op 9.
    let mut ws = hello(&sim).await;
    send(
        &mut ws,
        json!({"op": 6, "d": {"token": "grow", "session_id": ready["session_id"], "seq": 2}}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["op"], 9);
    // One shard is no longer enough; two are.
    let mut ws = hello(&sim).await;
    send(&mut ws, identify_shard("grow", [0, 1])).await;
    assert_eq!(expect_close(&mut ws).await, 4011);
    shard_ready(&sim, "grow", [0, 2], 0).await;
    let (status, _) = sim.control("sharding-required", json!({"shards": 0})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn issue12_exhausted_budget_ends_every_session_of_the_token() {
    let sim = Sim::start();
    sim.control(
        "config",
        json!({"sessionStartLimit": {"total": 2, "remaining": 2}}),
    )
    .await;
    let (mut first, _) = identified(&sim, "spent").await;
    let (mut second, _) = identified(&sim, "spent").await;
    let (mut bystander, _) = identified(&sim, "someone-else").await;
    let mut ws = hello(&sim).await;
    send(&mut ws, identify("spent", INTENTS)).await;
    // Discord terminates all active sessions and resets the token.
    assert_eq!(expect_close(&mut ws).await, 4004);
    assert_eq!(expect_close(&mut first).await, 4004);
    assert_eq!(expect_close(&mut second).await, 4004);
    let (status, _, _) = sim
        .http(
            "GET",
            "/api/v10/gateway/bot",
            &[("authorization", "Bot spent")],
            None,
        )
        .await;
    assert_eq!(status, 401);
    let state = sim.state().await;
    assert_eq!(
        state["sessions"].as_array().unwrap().len(),
        1,
        "only the bystander's"
    );
    sim.control("dispatch", json!({"type": "PING_TEST"})).await;
    assert_eq!(recv(&mut bystander).await["t"], "PING_TEST");
}
