//! What the engine is asked to do: token, intents, forwarded events, compression, shard.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::compression::TransportCompression;

/// Gateway intents, a bit set sent in Identify.
///
/// Only bits Discord defines are accepted; see [`Intents::from_bits`] and [`Intents::from_names`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Intents(u64);

/// Every intent Discord defines, by name and bit.
const INTENT_NAMES: &[(&str, u32)] = &[
    ("GUILDS", 0),
    ("GUILD_MEMBERS", 1),
    ("GUILD_MODERATION", 2),
    ("GUILD_EXPRESSIONS", 3),
    ("GUILD_INTEGRATIONS", 4),
    ("GUILD_WEBHOOKS", 5),
    ("GUILD_INVITES", 6),
    ("GUILD_VOICE_STATES", 7),
    ("GUILD_PRESENCES", 8),
    ("GUILD_MESSAGES", 9),
    ("GUILD_MESSAGE_REACTIONS", 10),
    ("GUILD_MESSAGE_TYPING", 11),
    ("DIRECT_MESSAGES", 12),
    ("DIRECT_MESSAGE_REACTIONS", 13),
    ("DIRECT_MESSAGE_TYPING", 14),
    ("MESSAGE_CONTENT", 15),
    ("GUILD_SCHEDULED_EVENTS", 16),
    ("AUTO_MODERATION_CONFIGURATION", 20),
    ("AUTO_MODERATION_EXECUTION", 21),
    ("GUILD_MESSAGE_POLLS", 24),
    ("DIRECT_MESSAGE_POLLS", 25),
];

impl Intents {
    /// `GUILDS`: guild, channel and thread lifecycle events.
    pub const GUILDS: Self = Self(1 << 0);
    /// `GUILD_MEMBERS` (privileged).
    pub const GUILD_MEMBERS: Self = Self(1 << 1);
    /// `GUILD_PRESENCES` (privileged).
    pub const GUILD_PRESENCES: Self = Self(1 << 8);
    /// `GUILD_MESSAGES`: messages in guild channels.
    pub const GUILD_MESSAGES: Self = Self(1 << 9);
    /// `GUILD_MESSAGE_REACTIONS`: reactions in guild channels.
    pub const GUILD_MESSAGE_REACTIONS: Self = Self(1 << 10);
    /// `DIRECT_MESSAGES`: messages in DMs.
    pub const DIRECT_MESSAGES: Self = Self(1 << 12);
    /// `DIRECT_MESSAGE_REACTIONS`: reactions in DMs.
    pub const DIRECT_MESSAGE_REACTIONS: Self = Self(1 << 13);
    /// `MESSAGE_CONTENT` (privileged): message content outside DMs and mentions.
    pub const MESSAGE_CONTENT: Self = Self(1 << 15);

    /// The privileged intents, which must be enabled in the developer portal.
    pub const PRIVILEGED: Self =
        Self(Self::GUILD_MEMBERS.0 | Self::GUILD_PRESENCES.0 | Self::MESSAGE_CONTENT.0);

    /// What a chat bot needs: guilds, messages and reactions in guilds and DMs, message content.
    pub const DEFAULT: Self = Self(
        Self::GUILDS.0
            | Self::GUILD_MESSAGES.0
            | Self::GUILD_MESSAGE_REACTIONS.0
            | Self::DIRECT_MESSAGES.0
            | Self::DIRECT_MESSAGE_REACTIONS.0
            | Self::MESSAGE_CONTENT.0,
    );

    fn known_mask() -> u64 {
        INTENT_NAMES
            .iter()
            .fold(0, |mask, (_, bit)| mask | 1 << bit)
    }

    /// Accepts a bit set made only of intents Discord defines.
    pub fn from_bits(bits: u64) -> Result<Self, ConfigError> {
        let unknown = bits & !Self::known_mask();
        if unknown == 0 {
            Ok(Self(bits))
        } else {
            Err(ConfigError::UnknownIntentBits(unknown))
        }
    }

    /// Builds a bit set from intent names such as `"GUILD_MESSAGES"`.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, ConfigError> {
        names.into_iter().try_fold(Self(0), |intents, name| {
            INTENT_NAMES
                .iter()
                .find(|(known, _)| known.eq_ignore_ascii_case(name))
                .map(|(_, bit)| Self(intents.0 | 1 << bit))
                .ok_or_else(|| ConfigError::UnknownIntentName(name.to_owned()))
        })
    }

    /// The raw bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Names of the set intents, in bit order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        INTENT_NAMES
            .iter()
            .filter(move |(_, bit)| self.0 & (1 << bit) != 0)
            .map(|(name, _)| *name)
    }
}

impl Default for Intents {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Which dispatch types are forwarded to the webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "types")]
pub enum EventFilter {
    /// Every dispatch (READY and RESUMED included).
    All,
    /// Only the listed dispatch types (upper-case names such as `MESSAGE_CREATE`).
    Only(Vec<String>),
}

impl EventFilter {
    /// The types a chat bot acts on: message creation and reaction add/remove.
    pub fn chat_default() -> Self {
        Self::Only(
            [
                "MESSAGE_CREATE",
                "MESSAGE_REACTION_ADD",
                "MESSAGE_REACTION_REMOVE",
            ]
            .map(String::from)
            .to_vec(),
        )
    }

    /// Builds a filter from a list; `"*"` alone means every type. Names must look like
    /// Discord dispatch names: upper-case ASCII letters, digits and underscores.
    pub fn from_list<'a>(types: impl IntoIterator<Item = &'a str>) -> Result<Self, ConfigError> {
        let types: Vec<&str> = types.into_iter().collect();
        if types == ["*"] {
            return Ok(Self::All);
        }
        if types.is_empty() {
            return Err(ConfigError::NoEvents);
        }
        let mut list: Vec<String> = Vec::with_capacity(types.len());
        for name in types {
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            if !valid {
                return Err(ConfigError::BadEventName(name.to_owned()));
            }
            if !list.iter().any(|known| known == name) {
                list.push(name.to_owned());
            }
        }
        Ok(Self::Only(list))
    }

    /// Whether a dispatch of this type is forwarded.
    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(types) => types.iter().any(|t| t == event_type),
        }
    }
}

impl Default for EventFilter {
    fn default() -> Self {
        Self::chat_default()
    }
}

/// A shard: `[id, count]` in Identify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Zero-based shard id.
    pub id: u32,
    /// Total number of shards.
    pub count: u32,
}

impl Shard {
    /// Validates `id < count` and `count >= 1`.
    pub fn new(id: u32, count: u32) -> Result<Self, ConfigError> {
        if count == 0 || id >= count {
            Err(ConfigError::BadShard { id, count })
        } else {
            Ok(Self { id, count })
        }
    }
}

/// Everything the engine needs to hold a session.
///
/// The bot token lives here; [`fmt::Debug`] redacts it, and nothing the engine reports contains it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayConfig {
    /// The bot token (without the `Bot ` prefix).
    pub token: String,
    /// Intents sent in Identify.
    pub intents: Intents,
    /// Dispatch types to forward.
    pub events: EventFilter,
    /// Transport compression for the socket.
    pub compression: TransportCompression,
    /// Optional shard; `None` sends no `shard` field (a single-shard bot).
    pub shard: Option<Shard>,
}

impl GatewayConfig {
    /// A configuration with the chat defaults for everything but the token.
    pub fn new(token: impl Into<String>) -> Result<Self, ConfigError> {
        let token = token.into();
        validate_token(&token)?;
        Ok(Self {
            token,
            intents: Intents::default(),
            events: EventFilter::default(),
            compression: TransportCompression::default(),
            shard: None,
        })
    }

    /// Whether `other` keeps the same Discord session: same token, intents and shard.
    /// (Forwarded events and compression can change without a new session.)
    pub fn same_session_as(&self, other: &Self) -> bool {
        self.token == other.token && self.intents == other.intents && self.shard == other.shard
    }
}

impl fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("token", &"<redacted>")
            .field("intents", &self.intents)
            .field("events", &self.events)
            .field("compression", &self.compression)
            .field("shard", &self.shard)
            .finish()
    }
}

/// Checks the shape of a bot token without revealing it in the error.
pub fn validate_token(token: &str) -> Result<(), ConfigError> {
    let token = token.strip_prefix("Bot ").unwrap_or(token);
    let plausible = (20..=256).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plausible {
        Ok(())
    } else {
        Err(ConfigError::BadToken)
    }
}

/// A configuration rule that was broken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Bits that are not Discord intents.
    UnknownIntentBits(u64),
    /// A name that is not a Discord intent.
    UnknownIntentName(String),
    /// An empty event list.
    NoEvents,
    /// An event name that cannot be a dispatch type.
    BadEventName(String),
    /// `id >= count` or `count == 0`.
    BadShard {
        /// The shard id given.
        id: u32,
        /// The shard count given.
        count: u32,
    },
    /// A bot token that cannot be one.
    BadToken,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownIntentBits(bits) => {
                write!(f, "intents has bits that are not Discord intents: {bits:#x}")
            }
            Self::UnknownIntentName(name) => write!(
                f,
                "intents: {name:?} is not a Discord intent (expected names such as GUILD_MESSAGES)"
            ),
            Self::NoEvents => f.write_str("events must list at least one dispatch type, or \"*\""),
            Self::BadEventName(name) => write!(
                f,
                "events: {name:?} is not a dispatch type (upper-case names such as MESSAGE_CREATE)"
            ),
            Self::BadShard { id, count } => {
                write!(f, "shard [{id}, {count}] is invalid: id must be below count")
            }
            Self::BadToken => f.write_str(
                "botToken does not look like a Discord bot token (20-256 characters of letters, digits, '.', '_' or '-')",
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_intents_are_the_chat_set() {
        let names: Vec<_> = Intents::DEFAULT.names().collect();
        assert_eq!(
            names,
            [
                "GUILDS",
                "GUILD_MESSAGES",
                "GUILD_MESSAGE_REACTIONS",
                "DIRECT_MESSAGES",
                "DIRECT_MESSAGE_REACTIONS",
                "MESSAGE_CONTENT"
            ]
        );
        assert_eq!(
            Intents::DEFAULT.bits(),
            1 | 1 << 9 | 1 << 10 | 1 << 12 | 1 << 13 | 1 << 15
        );
    }

    #[test]
    fn unknown_intent_bits_are_rejected() {
        assert_eq!(
            Intents::from_bits(1 << 17),
            Err(ConfigError::UnknownIntentBits(1 << 17))
        );
        assert_eq!(
            Intents::from_bits(1 << 40 | 1),
            Err(ConfigError::UnknownIntentBits(1 << 40))
        );
        assert!(Intents::from_bits(1 << 25 | 1 << 24 | 1).is_ok());
    }

    #[test]
    fn intents_from_names() {
        let intents = Intents::from_names(["GUILDS", "guild_messages"]).unwrap();
        assert_eq!(intents.bits(), 1 | 1 << 9);
        assert_eq!(
            Intents::from_names(["GUILD_MESAGES"]),
            Err(ConfigError::UnknownIntentName("GUILD_MESAGES".into()))
        );
    }

    #[test]
    fn event_filters() {
        assert_eq!(EventFilter::from_list(["*"]), Ok(EventFilter::All));
        assert_eq!(EventFilter::from_list([]), Err(ConfigError::NoEvents));
        assert!(EventFilter::from_list(["message_create"]).is_err());
        let filter = EventFilter::from_list(["MESSAGE_CREATE", "MESSAGE_CREATE", "READY"]).unwrap();
        assert_eq!(
            filter,
            EventFilter::Only(vec!["MESSAGE_CREATE".into(), "READY".into()])
        );
        assert!(filter.matches("READY"));
        assert!(!filter.matches("TYPING_START"));
        assert!(EventFilter::default().matches("MESSAGE_REACTION_REMOVE"));
    }

    #[test]
    fn shards_and_tokens() {
        assert!(Shard::new(0, 1).is_ok());
        assert!(Shard::new(1, 1).is_err());
        assert!(Shard::new(0, 0).is_err());
        assert!(
            validate_token("MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs").is_ok()
        );
        assert_eq!(validate_token("short"), Err(ConfigError::BadToken));
        assert_eq!(
            validate_token("has spaces in it that are not allowed"),
            Err(ConfigError::BadToken)
        );
    }

    #[test]
    fn debug_redacts_the_token() {
        let config = GatewayConfig::new("secret-token-secret-token-1234").unwrap();
        assert!(!format!("{config:?}").contains("secret-token"));
    }
}
