//! Gateway opcodes, by name.

/// A gateway opcode (the `op` field of every payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// 0, received: an event.
    Dispatch,
    /// 1, sent on the interval; received: "send a heartbeat now".
    Heartbeat,
    /// 2, sent: start a new session.
    Identify,
    /// 3, sent: update the presence.
    PresenceUpdate,
    /// 4, sent: join, move or leave voice channels.
    VoiceStateUpdate,
    /// 6, sent: resume a session.
    Resume,
    /// 7, received: reconnect and resume.
    Reconnect,
    /// 8, sent: ask for guild members.
    RequestGuildMembers,
    /// 9, received: the session is invalid (`d`: whether it can be resumed).
    InvalidSession,
    /// 10, received first: the heartbeat interval.
    Hello,
    /// 11, received: a heartbeat arrived.
    HeartbeatAck,
    /// 31, sent: ask for soundboard sounds.
    RequestSoundboardSounds,
}

impl Opcode {
    const ALL: [Self; 12] = [
        Self::Dispatch,
        Self::Heartbeat,
        Self::Identify,
        Self::PresenceUpdate,
        Self::VoiceStateUpdate,
        Self::Resume,
        Self::Reconnect,
        Self::RequestGuildMembers,
        Self::InvalidSession,
        Self::Hello,
        Self::HeartbeatAck,
        Self::RequestSoundboardSounds,
    ];

    /// The number on the wire.
    pub const fn code(self) -> u8 {
        match self {
            Self::Dispatch => 0,
            Self::Heartbeat => 1,
            Self::Identify => 2,
            Self::PresenceUpdate => 3,
            Self::VoiceStateUpdate => 4,
            Self::Resume => 6,
            Self::Reconnect => 7,
            Self::RequestGuildMembers => 8,
            Self::InvalidSession => 9,
            Self::Hello => 10,
            Self::HeartbeatAck => 11,
            Self::RequestSoundboardSounds => 31,
        }
    }

    /// The opcode with this number, if Discord defines one.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for op in Opcode::ALL {
            assert_eq!(Opcode::from_code(op.code()), Some(op));
        }
        assert_eq!(Opcode::from_code(5), None);
        assert_eq!(Opcode::from_code(42), None);
    }
}
