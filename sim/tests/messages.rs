//! The talk-back REST routes: create message, reactions, their buckets, `429`s and the log.

mod common;

use common::*;
use serde_json::{json, Value};

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn rest_log(sim: &Sim) -> Vec<Value> {
    let (status, _, text) = sim.http("GET", "/_sim/rest", &[], None).await;
    assert_eq!(status, 200);
    let log: Value = serde_json::from_str(&text).unwrap();
    log["requests"].as_array().unwrap().clone()
}

#[tokio::test]
async fn talk_create_message_bucket_headers_and_429() {
    let sim = Sim::start();
    let auth = [("authorization", "Bot good")];
    let path = "/api/v10/channels/42/messages";
    for remaining in (0..5).rev() {
        let body =
            json!({"content": format!("hello {remaining}"), "allowed_mentions": {"parse": []}});
        let (status, headers, text) = sim.http("POST", path, &auth, Some(&body)).await;
        assert_eq!(status, 200, "{text}");
        let message: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(message["channel_id"], "42");
        assert_eq!(message["content"], format!("hello {remaining}"));
        assert_eq!(header(&headers, "x-ratelimit-bucket"), Some("sim-messages"));
        assert_eq!(header(&headers, "x-ratelimit-limit"), Some("5"));
        let expected = remaining.to_string();
        assert_eq!(
            header(&headers, "x-ratelimit-remaining"),
            Some(expected.as_str())
        );
        let reset_after: f64 = header(&headers, "x-ratelimit-reset-after")
            .unwrap()
            .parse()
            .unwrap();
        assert!(reset_after > 0.0 && reset_after <= 5.0);
    }
    let (status, headers, text) = sim
        .http(
            "POST",
            path,
            &auth,
            Some(&json!({"content": "one too many"})),
        )
        .await;
    assert_eq!(status, 429);
    assert_eq!(header(&headers, "x-ratelimit-scope"), Some("user"));
    let body: Value = serde_json::from_str(&text).unwrap();
    assert!(body["retry_after"].as_f64().unwrap() > 0.0);
    assert_eq!(body["global"], false);
    // Another channel has its own bucket.
    let (status, _, _) = sim
        .http(
            "POST",
            "/api/v10/channels/43/messages",
            &auth,
            Some(&json!({"content": "hi"})),
        )
        .await;
    assert_eq!(status, 200);

    let log = rest_log(&sim).await;
    let statuses: Vec<u64> = log.iter().map(|e| e["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 200]);
    assert_eq!(log[0]["content"], "hello 4");
    assert_eq!(log[0]["allowedMentions"], json!({"parse": []}));
    assert_eq!(log[5]["scope"], "user");
}

#[tokio::test]
async fn talk_bot_token_is_checked_and_bad_content_refused() {
    let sim = Sim::start();
    sim.control("config", json!({"rejectTokens": ["revoked"]}))
        .await;
    let path = "/api/v10/channels/42/messages";
    let body = json!({"content": "hi"});
    for headers in [
        vec![],
        vec![("authorization", "Bot revoked")],
        vec![("authorization", "Bearer x")],
    ] {
        let (status, _, _) = sim.http("POST", path, &headers, Some(&body)).await;
        assert_eq!(status, 401);
    }
    let auth = [("authorization", "Bot good")];
    let long = json!({"content": "é".repeat(2001)});
    let (status, _, text) = sim.http("POST", path, &auth, Some(&long)).await;
    assert_eq!(status, 400, "{text}");
    let exact = json!({"content": "😀".repeat(2000)});
    let (status, _, _) = sim.http("POST", path, &auth, Some(&exact)).await;
    assert_eq!(status, 200, "Discord counts code points");
    let (status, _, _) = sim
        .http("POST", path, &auth, Some(&json!({"content": " "})))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn talk_reactions_decode_the_emoji_and_share_a_bucket() {
    let sim = Sim::start();
    sim.control(
        "config",
        json!({"restReactionsBucket": {"limit": 2, "windowMs": 60000}}),
    )
    .await;
    let auth = [("authorization", "Bot good")];
    let put = "/api/v10/channels/42/messages/7/reactions/%F0%9F%91%8D/@me";
    let (status, headers, _) = sim.http("PUT", put, &auth, None).await;
    assert_eq!(status, 204);
    assert_eq!(
        header(&headers, "x-ratelimit-bucket"),
        Some("sim-reactions")
    );
    let delete = "/api/v10/channels/42/messages/7/reactions/party%3A123/@me";
    let (status, _, _) = sim.http("DELETE", delete, &auth, None).await;
    assert_eq!(status, 204);
    let (status, _, _) = sim.http("PUT", put, &auth, None).await;
    assert_eq!(status, 429);
    let log = rest_log(&sim).await;
    assert_eq!(log[0]["emoji"], "👍");
    assert_eq!(log[0]["method"], "PUT");
    assert_eq!(log[1]["emoji"], "party:123");
    assert_eq!(log[1]["messageId"], "7");
    sim.control("reset", json!({})).await;
    assert!(rest_log(&sim).await.is_empty());
}
