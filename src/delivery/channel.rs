//! The ordering key of an event: its channel.

use std::borrow::Cow;

use serde::Deserialize;

#[derive(Deserialize)]
struct ChannelOf<'a> {
    #[serde(borrow, default)]
    channel_id: Option<Cow<'a, str>>,
}

/// The `channel_id` of a dispatch's raw `d`, or `""` for events without one (they share a lane).
pub fn channel_key(raw_data: &str) -> String {
    serde_json::from_str::<ChannelOf<'_>>(raw_data)
        .ok()
        .and_then(|c| c.channel_id)
        .map(Cow::into_owned)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(
            channel_key(r#"{"id":"1","channel_id":"42","content":"x"}"#),
            "42"
        );
        assert_eq!(channel_key(r#"{"guild_id":"1"}"#), "");
        assert_eq!(channel_key("null"), "");
        assert_eq!(channel_key(r#"{"channel_id":7}"#), "");
    }
}
