//! Payloads the client sends (Heartbeat, Identify, Resume) and the URL it connects to.

use serde::Serialize;

use super::compression::TransportCompression;
use super::config::{Intents, Shard};
use super::opcode::Opcode;

/// The largest payload Discord accepts from a client, in bytes.
pub const MAX_SEND_BYTES: usize = 4096;

#[derive(Serialize)]
struct Envelope<T> {
    op: u8,
    d: T,
}

#[derive(Serialize)]
struct Properties {
    os: &'static str,
    browser: &'static str,
    device: &'static str,
}

#[derive(Serialize)]
struct Identify<'a> {
    token: &'a str,
    intents: u64,
    properties: Properties,
    compress: bool,
    large_threshold: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    shard: Option<[u32; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence: Option<&'a serde_json::Value>,
}

#[derive(Serialize)]
struct Resume<'a> {
    token: &'a str,
    session_id: &'a str,
    seq: u64,
}

fn encode<T: Serialize>(op: Opcode, d: T) -> String {
    // Serializing these plain structs into a String cannot fail.
    serde_json::to_string(&Envelope { op: op.code(), d }).unwrap_or_default()
}

/// Op 1 with the last sequence number (or `null`).
pub fn heartbeat(sequence: Option<u64>) -> String {
    encode(Opcode::Heartbeat, sequence)
}

/// Op 2 for a new session, with the bot's presence when one was set.
pub fn identify(
    token: &str,
    intents: Intents,
    shard: Option<Shard>,
    presence: Option<&serde_json::Value>,
) -> String {
    encode(
        Opcode::Identify,
        Identify {
            token,
            intents: intents.bits(),
            properties: Properties {
                os: "cloudflare-workers",
                browser: "discord-gateway-do",
                device: "discord-gateway-do",
            },
            compress: false,
            large_threshold: 50,
            shard: shard.map(|s| [s.id, s.count]),
            presence,
        },
    )
}

/// Op 3: the bot's presence (`d` as [`crate::talk::presence`] builds it).
pub fn presence_update(presence: &serde_json::Value) -> String {
    encode(Opcode::PresenceUpdate, presence)
}

/// Op 6 to resume `session_id` after `seq`.
pub fn resume(token: &str, session_id: &str, seq: u64) -> String {
    encode(
        Opcode::Resume,
        Resume {
            token,
            session_id,
            seq,
        },
    )
}

/// Adds `v=10&encoding=json` and the compression to a gateway URL, replacing any query.
pub fn gateway_query(url: &str, compression: TransportCompression) -> String {
    let base = url.split(['?', '#']).next().unwrap_or(url);
    let has_path = base
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/').contains('/'));
    let mut full = if has_path {
        format!("{}?v=10&encoding=json", base.trim_end_matches('/'))
    } else {
        format!("{}/?v=10&encoding=json", base.trim_end_matches('/'))
    };
    if let Some(compress) = compression.query_value() {
        full.push_str("&compress=");
        full.push_str(compress);
    }
    full
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn gateway_query_is_appended_once() {
        assert_eq!(
            gateway_query("wss://gateway.discord.gg", TransportCompression::None),
            "wss://gateway.discord.gg/?v=10&encoding=json"
        );
        assert_eq!(
            gateway_query("wss://g.example/?v=9", TransportCompression::ZlibStream),
            "wss://g.example/?v=10&encoding=json&compress=zlib-stream"
        );
        assert_eq!(
            gateway_query("ws://127.0.0.1:9/resume", TransportCompression::None),
            "ws://127.0.0.1:9/resume?v=10&encoding=json"
        );
    }

    #[test]
    fn shapes() {
        assert_eq!(heartbeat(None), r#"{"op":1,"d":null}"#);
        assert_eq!(heartbeat(Some(7)), r#"{"op":1,"d":7}"#);
        let identify: Value = serde_json::from_str(&identify(
            "tok\"en",
            Intents::DEFAULT,
            Shard::new(0, 2).ok(),
            None,
        ))
        .unwrap();
        assert_eq!(identify["op"], 2);
        assert_eq!(identify["d"]["token"], "tok\"en");
        assert_eq!(identify["d"]["intents"], Intents::DEFAULT.bits());
        assert_eq!(identify["d"]["shard"], json!([0, 2]));
        assert_eq!(identify["d"]["properties"]["browser"], "discord-gateway-do");
        let resume: Value = serde_json::from_str(&resume("t", "abc", 9)).unwrap();
        assert_eq!(
            resume,
            json!({"op": 6, "d": {"token": "t", "session_id": "abc", "seq": 9}})
        );
    }
}
