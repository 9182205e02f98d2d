//! `GET /api/v10/gateway/bot`, upgrade faults and the control API's bookkeeping.

mod common;

use common::*;
use serde_json::{json, Value};

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn gateway_bot_auth_and_queued_faults() {
    let sim = Sim::start();
    let unauthorized = json!({"message": "401: Unauthorized", "code": 0});
    for auth in [None, Some("Bearer abc"), Some("Bot ")] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        let (status, _, body) = sim
            .http("GET", "/api/v10/gateway/bot", &headers, None)
            .await;
        assert_eq!(status, 401);
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), unauthorized);
    }

    let (status, _) = sim
        .control("config", json!({"gatewayBotFaults": [{"status": 429, "retryAfterSecs": 2, "count": 2}, {"status": 500}]}))
        .await;
    assert_eq!(status, 200);
    let auth = [("authorization", "Bot good")];
    for _ in 0..2 {
        let (status, headers, body) = sim.http("GET", "/api/v10/gateway/bot", &auth, None).await;
        assert_eq!(status, 429);
        assert_eq!(header(&headers, "retry-after"), Some("2"));
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["message"], "You are being rate limited.");
        assert_eq!(body["retry_after"], 2.0);
        assert_eq!(body["global"], false);
    }
    let (status, _, _) = sim.http("GET", "/api/v10/gateway/bot", &auth, None).await;
    assert_eq!(status, 500);
    let (status, _, _) = sim.http("GET", "/api/v10/gateway/bot", &auth, None).await;
    assert_eq!(status, 200);

    sim.control("config", json!({"rejectTokens": ["good"]}))
        .await;
    let (status, _, _) = sim.http("GET", "/api/v10/gateway/bot", &auth, None).await;
    assert_eq!(status, 401);
    assert_eq!(sim.state().await["gatewayBotRequests"], 8);
}

#[tokio::test]
async fn upgrade_faults_and_session_start_limit() {
    let sim = Sim::start();
    sim.control(
        "config",
        json!({"upgradeFaults": [{"status": 429, "retryAfterSecs": 1}]}),
    )
    .await;
    let url = format!("ws://{}/?v=10&encoding=json", sim.addr);
    let err = tokio_tungstenite::connect_async(&url).await.unwrap_err();
    assert!(err.to_string().contains("429"), "{err}");
    let mut ws = common::connect(&url).await;
    assert_eq!(recv(&mut ws).await["op"], 10);
    assert_eq!(sim.state().await["upgradeRequests"], 2);

    sim.control(
        "config",
        json!({"sessionStartLimit": {"total": 5, "remaining": 1}}),
    )
    .await;
    send(&mut ws, identify("budget", INTENTS)).await;
    assert_eq!(recv(&mut ws).await["t"], "READY");
    let (_, _, body) = sim
        .http(
            "GET",
            "/api/v10/gateway/bot",
            &[("authorization", "Bot budget")],
            None,
        )
        .await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["session_start_limit"]["total"], 5);
    assert_eq!(body["session_start_limit"]["remaining"], 0);

    // Identifying with no budget left resets (rejects) the token, like Discord.
    let mut ws = common::connect(&url).await;
    recv(&mut ws).await;
    send(&mut ws, identify("budget", INTENTS)).await;
    assert_eq!(expect_close(&mut ws).await, 4004);
}

#[tokio::test]
async fn control_api_validates_and_resets() {
    let sim = Sim::start();
    let (status, body) = sim
        .control("dispatch", json!({"preset": "guild_message"}))
        .await;
    assert_eq!((status, body), (409, json!({"error": "no session"})));
    let (status, _) = sim.control("config", json!({"bogus": 1})).await;
    assert_eq!(status, 400);
    let (status, _) = sim.control("close", json!({"code": 1006})).await;
    assert_eq!(status, 400);

    let (mut ws, _) = identified(&sim, "intents").await;
    // A session without DIRECT_MESSAGE_REACTIONS does not get DM reactions.
    let (status, body) = sim
        .control("dispatch", json!({"preset": "dm_reaction_add"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["sent"], json!([]));
    assert!(body["skipped"]
        .as_str()
        .unwrap()
        .contains("DIRECT_MESSAGE_REACTIONS"));
    let (_, body) = sim
        .control(
            "dispatch",
            json!({"preset": "reaction_add", "overrides": {"emoji": {"id": null, "name": "🔥"}}}),
        )
        .await;
    let frame = recv(&mut ws).await;
    assert_eq!(frame["d"]["emoji"]["name"], "🔥");
    assert_eq!(frame["d"], body["sent"][0]["data"]);

    let (status, _) = sim.control("reset", json!({})).await;
    assert_eq!(status, 200);
    let state = sim.state().await;
    assert!(state["sessions"].as_array().unwrap().is_empty());
    assert!(state["connections"].as_array().unwrap().is_empty());
}
