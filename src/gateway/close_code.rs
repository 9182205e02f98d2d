//! What a close code from Discord means for the session.

/// What to do after the socket closed with a given code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseDisposition {
    /// Reconnect and resume the session.
    Resume,
    /// Reconnect with a new session (Identify).
    Reidentify,
    /// Do not reconnect: the configuration must change first.
    Stop(StopReason),
}

/// Why the engine stopped reconnecting, until an explicit connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StopReason {
    /// 4004, or 401 from `/gateway/bot` (which carries the token; the upgrade does not).
    AuthenticationFailed,
    /// 4010.
    InvalidShard,
    /// 4011.
    ShardingRequired,
    /// 4012.
    InvalidApiVersion,
    /// 4013.
    InvalidIntents,
    /// 4014.
    DisallowedIntents,
}

impl StopReason {
    /// What the user should do, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::AuthenticationFailed => {
                "Discord rejected the bot token: check it (or reset it in the Discord developer portal) and connect again"
            }
            Self::InvalidShard => "Discord rejected the shard: its id must be below the shard count",
            Self::ShardingRequired => {
                "Discord requires sharding for this bot (it is in too many guilds for one shard)"
            }
            Self::InvalidApiVersion => "Discord rejected the gateway API version",
            Self::InvalidIntents => "Discord rejected the intents: the value is not a valid intent set",
            Self::DisallowedIntents => {
                "a privileged intent is not enabled for this bot in the Discord developer portal: enable it there (Bot > Privileged Gateway Intents) or remove it from intents, then connect again"
            }
        }
    }
}

/// Classifies a close code received from Discord (or reported by the runtime).
pub fn classify(code: u16) -> CloseDisposition {
    match code {
        4004 => CloseDisposition::Stop(StopReason::AuthenticationFailed),
        4010 => CloseDisposition::Stop(StopReason::InvalidShard),
        4011 => CloseDisposition::Stop(StopReason::ShardingRequired),
        4012 => CloseDisposition::Stop(StopReason::InvalidApiVersion),
        4013 => CloseDisposition::Stop(StopReason::InvalidIntents),
        4014 => CloseDisposition::Stop(StopReason::DisallowedIntents),
        // 4006 (session no longer valid) is no longer documented but still means the same.
        4006 | 4007 | 4009 => CloseDisposition::Reidentify,
        // 4000-4003, 4005, 4008, the 1xxx codes of a dropped or restarted connection, and
        // anything unknown: the session may still be alive, so try to resume it.
        _ => CloseDisposition::Resume,
    }
}

/// The close code to report for a socket the runtime failed with `message` (an `error` event
/// with no `close` event after it).
///
/// workerd fails a socket that receives a message over its size limit this way, with
/// "WebSocket protocol error; protocolError.statusCode = 1009; protocolError.description =
/// Message is too large: N > 33554432": that is 1009. Anything else is a dropped connection
/// (1006).
pub fn of_socket_error(message: &str) -> u16 {
    let status = message
        .split_once("statusCode = ")
        .and_then(|(_, rest)| rest.get(..4))
        .and_then(|code| code.parse::<u16>().ok());
    match status {
        Some(1009) => 1009,
        _ => 1006,
    }
}

/// The human description of a Discord close code, for the status.
pub fn describe(code: u16) -> &'static str {
    match code {
        1000 => "normal closure",
        1001 => "going away",
        1006 => "connection dropped without a close frame",
        1009 => "message too big",
        1011 => "server error",
        4000 => "unknown error",
        4001 => "unknown opcode",
        4002 => "decode error",
        4003 => "not authenticated",
        4004 => "authentication failed",
        4005 => "already authenticated",
        4006 => "session no longer valid",
        4007 => "invalid sequence",
        4008 => "rate limited",
        4009 => "session timed out",
        4010 => "invalid shard",
        4011 => "sharding required",
        4012 => "invalid API version",
        4013 => "invalid intents",
        4014 => "disallowed intents",
        _ => "unrecognised close code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_code() {
        use CloseDisposition::*;
        for code in [4000, 4001, 4002, 4003, 4005, 4008, 1000, 1001, 1006, 1011] {
            assert_eq!(classify(code), Resume, "{code}");
        }
        for code in [4007, 4009] {
            assert_eq!(classify(code), Reidentify, "{code}");
        }
        for (code, reason) in [
            (4004, StopReason::AuthenticationFailed),
            (4010, StopReason::InvalidShard),
            (4011, StopReason::ShardingRequired),
            (4012, StopReason::InvalidApiVersion),
            (4013, StopReason::InvalidIntents),
            (4014, StopReason::DisallowedIntents),
        ] {
            assert_eq!(classify(code), Stop(reason), "{code}");
        }
    }

    #[test]
    fn socket_errors_become_close_codes() {
        assert_eq!(
            of_socket_error("Error: WebSocket protocol error; protocolError.statusCode = 1009; protocolError.description = Message is too large: 34602989 > 33554432"),
            1009
        );
        assert_eq!(of_socket_error("Error: Network connection lost."), 1006);
        assert_eq!(of_socket_error("statusCode = 1002; bad frame"), 1006);
        assert_eq!(of_socket_error("statusCode = 10"), 1006);
    }

    #[test]
    fn disallowed_intents_says_where_to_fix_it() {
        assert!(StopReason::DisallowedIntents.describe().contains(
            "a privileged intent is not enabled for this bot in the Discord developer portal"
        ));
    }
}
