//! The Chat SDK webhook envelope.
//!
//! The Chat SDK Discord adapter expects every forwarded dispatch as
//! `{"type":"GATEWAY_<EVENT>","timestamp":<ms>,"data":<d>}`. The `d` of a dispatch is spliced in
//! byte for byte, without being parsed or re-serialized.

use std::fmt::Write as _;

/// The request header that carries the bot token to the webhook on unsigned deliveries (no
/// `webhookSecret`); signed deliveries carry no credential (see [`super::signature`]).
///
/// The Chat SDK adapter compares it with its bot token by plain equality.
pub const GATEWAY_TOKEN_HEADER: &str = "x-discord-gateway-token";

/// Header carrying the event's stable id (`<session id>:<sequence>`), the same across retries
/// and replays: receivers deduplicate on it.
pub const EVENT_ID_HEADER: &str = "x-discord-gateway-event-id";

const TYPE_PREFIX: &str = r#"{"type":"GATEWAY_"#;
const TIMESTAMP_KEY: &str = r#"","timestamp":"#;
const DATA_KEY: &str = r#","data":"#;
const CLOSE: &str = "}";

/// Builds the body of a Chat SDK webhook request for one dispatch.
///
/// Produces exactly `{"type":"GATEWAY_<event_type>","timestamp":<timestamp_ms>,"data":<raw_data>}`
/// in a single allocation of the exact size. `event_type` is the dispatch name (`t`), escaped as
/// a JSON string; `raw_data` is the dispatch's `d` as it appeared in the gateway message, which
/// must already be valid JSON text, and is copied verbatim.
pub fn chat_sdk_body(event_type: &str, timestamp_ms: u64, raw_data: &str) -> String {
    let len = TYPE_PREFIX.len()
        + escaped_len(event_type)
        + TIMESTAMP_KEY.len()
        + decimal_len(timestamp_ms)
        + DATA_KEY.len()
        + raw_data.len()
        + CLOSE.len();
    let mut body = String::with_capacity(len);
    body.push_str(TYPE_PREFIX);
    push_escaped(&mut body, event_type);
    body.push_str(TIMESTAMP_KEY);
    // Writing to a `String` cannot fail.
    let _ = write!(body, "{timestamp_ms}");
    body.push_str(DATA_KEY);
    body.push_str(raw_data);
    body.push_str(CLOSE);
    body
}

/// Number of decimal digits of `n`.
fn decimal_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// The JSON escape of `c` inside a string, if it needs one.
fn escape(c: char) -> Option<&'static str> {
    Some(match c {
        '"' => "\\\"",
        '\\' => "\\\\",
        '\n' => "\\n",
        '\r' => "\\r",
        '\t' => "\\t",
        '\u{08}' => "\\b",
        '\u{0c}' => "\\f",
        _ => return None,
    })
}

/// Length of `s` as the contents of a JSON string.
fn escaped_len(s: &str) -> usize {
    s.chars()
        .map(|c| match escape(c) {
            Some(escaped) => escaped.len(),
            // `\u00XX`
            None if c < ' ' => 6,
            None => c.len_utf8(),
        })
        .sum()
}

/// Appends `s` as the contents of a JSON string.
fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match escape(c) {
            Some(escaped) => out.push_str(escaped),
            None if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            None => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn envelope_has_the_exact_shape() {
        let body = chat_sdk_body("MESSAGE_CREATE", 1_700_000_000_123, r#"{"id":"1"}"#);
        assert_eq!(
            body,
            r#"{"type":"GATEWAY_MESSAGE_CREATE","timestamp":1700000000123,"data":{"id":"1"}}"#
        );
        assert_eq!(body.capacity(), body.len());
    }

    #[test]
    fn data_is_spliced_byte_for_byte() {
        // Odd whitespace, escapes that a re-serialization would rewrite, raw non-ASCII text,
        // big numbers and key order that a parser might not keep.
        let raw = "{ \"content\" : \"caf\\u00e9 \\ud83d\\ude00 \\/ \u{1F600}\",\n\t\"z\":1,\"a\":[ 1.50 ,2e3 ],\"id\":123456789012345678901234 }";
        let body = chat_sdk_body("MESSAGE_CREATE", 42, raw);
        assert_eq!(body.capacity(), body.len());

        let prefix = r#"{"type":"GATEWAY_MESSAGE_CREATE","timestamp":42,"data":"#;
        assert_eq!(
            body.strip_prefix(prefix).unwrap().strip_suffix('}'),
            Some(raw)
        );

        let value: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["type"], "GATEWAY_MESSAGE_CREATE");
        assert_eq!(value["timestamp"], 42);
        assert_eq!(value["data"]["content"], "café 😀 / 😀");
    }

    #[test]
    fn data_can_be_any_json_value() {
        for raw in ["null", "true", "[]", "\"text\"", "3"] {
            let body = chat_sdk_body("RESUMED", 0, raw);
            let value: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(value["data"], serde_json::from_str::<Value>(raw).unwrap());
        }
    }

    #[test]
    fn timestamp_extremes() {
        for timestamp in [0, 9, 10, 99, 100, u64::MAX] {
            let body = chat_sdk_body("READY", timestamp, "{}");
            assert_eq!(body.capacity(), body.len());
            let value: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(value["timestamp"].as_u64(), Some(timestamp));
        }
    }

    #[test]
    fn event_type_is_escaped() {
        let event_type = "A\"B\\C\nD\u{1}E\u{1f}F\u{7f}G\u{e9}";
        let body = chat_sdk_body(event_type, 1, "{}");
        assert_eq!(body.capacity(), body.len());
        let value: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["type"], format!("GATEWAY_{event_type}"));
        assert!(body.contains(r#"A\"B\\C\nD\u0001E\u001fF"#), "{body}");
    }
}
