//! Which events a subscription receives: its [`Filter`], and the [`EventFacts`] of an event
//! that a filter is matched against.
//!
//! A filter names guild ids, channel ids, event types and whether direct messages are wanted;
//! a filter that names nothing matches every event. The rule:
//!
//! - **Event types** narrow: when any are named, an event of another type never matches.
//! - **Places** widen: guild ids, channel ids and `directMessages` are alternatives. When any
//!   is named, an event matches if it is in one of the named guilds, **or** in one of the named
//!   channels (a thread also matches when its parent channel is named), **or** is a direct
//!   message while `directMessages` is set. When none is named, every place matches.
//!
//! So `{"guildIds": ["1"], "directMessages": true}` is guild 1 plus the bot's DMs, and
//! `{"channelIds": ["5"], "eventTypes": ["MESSAGE_CREATE"]}` is new messages in channel 5 and its
//! threads. Pure: the parent of a thread comes from the enrichment directory
//! ([`crate::delivery::enrich::Directory::thread_parent`]) through a closure.

use serde::{Deserialize, Serialize};

use crate::api::ApiError;

/// The most ids or event types one filter list may hold.
pub const MAX_FILTER_ENTRIES: usize = 100;

/// Events that carry a guild object as `d`: its guild is `d.id`, not `d.guild_id`.
const GUILD_OBJECT_EVENTS: [&str; 3] = ["GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"];
/// Events that carry a channel (or thread) object as `d`: the channel is `d.id`, its parent
/// `d.parent_id`.
const CHANNEL_OBJECT_EVENTS: [&str; 6] = [
    "CHANNEL_CREATE",
    "CHANNEL_UPDATE",
    "CHANNEL_DELETE",
    "THREAD_CREATE",
    "THREAD_UPDATE",
    "THREAD_DELETE",
];
/// Discord channel types of direct messages: `DM` and `GROUP_DM`.
const DIRECT_MESSAGE_TYPES: [u8; 2] = [1, 3];

/// A subscription's filter. Snowflakes are kept as numbers; in JSON they are strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Guilds whose events match.
    pub guild_ids: Vec<u64>,
    /// Channels whose events match (their threads' too).
    pub channel_ids: Vec<u64>,
    /// The only event types that match, when any are named.
    pub event_types: Vec<String>,
    /// Whether direct messages match.
    pub direct_messages: bool,
}

/// A filter as JSON: `{"guildIds": ["…"], "channelIds": ["…"], "eventTypes": ["…"],
/// "directMessages": true}`; every field may be left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterJson {
    /// Guild ids, as strings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guild_ids: Vec<String>,
    /// Channel ids, as strings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channel_ids: Vec<String>,
    /// Dispatch event types, such as `MESSAGE_CREATE`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<String>,
    /// Whether direct messages match.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub direct_messages: bool,
}

/// What a filter looks at in one event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFacts<'a> {
    /// The dispatch type.
    pub event_type: &'a str,
    /// Its guild, if it has one.
    pub guild_id: Option<u64>,
    /// Its channel (or thread), if it has one.
    pub channel_id: Option<u64>,
    /// The parent channel when the channel is a thread, if known.
    pub parent_id: Option<u64>,
    /// Whether it happened in a direct message.
    pub direct_message: bool,
}

/// Where a subscription wants to talk: a channel, as far as the object knows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChannelPlace {
    /// The channel (or thread, or DM channel).
    pub channel_id: u64,
    /// Its parent channel when it is a known thread.
    pub parent_id: Option<u64>,
    /// Whether it is a known direct-message channel.
    pub direct_message: bool,
}

/// Whether a Discord channel type is a direct message (`DM`, `GROUP_DM`).
pub fn is_direct_message_type(kind: u8) -> bool {
    DIRECT_MESSAGE_TYPES.contains(&kind)
}

#[derive(Deserialize)]
struct FactsView<'a> {
    #[serde(default, borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    guild_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    channel_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    parent_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, rename = "type", deserialize_with = "small_number")]
    kind: Option<u8>,
    #[serde(default, deserialize_with = "small_number")]
    channel_type: Option<u8>,
}

/// A channel type, or `None` for anything else (a `type` field of another shape must not keep
/// the event's guild and channel from being read).
fn small_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u8>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(value.as_u64().and_then(|n| u8::try_from(n).ok()))
}

fn snowflake(id: Option<&str>) -> Option<u64> {
    id.and_then(|id| id.parse().ok())
}

impl<'a> EventFacts<'a> {
    /// The facts of a dispatch from its type and raw `d`. `thread_parent` tells the parent of
    /// a channel when that channel is a known thread. An event whose `d` cannot be read has
    /// only its type (it matches filters that name no place).
    pub fn of(
        event_type: &'a str,
        raw_data: &str,
        thread_parent: impl Fn(u64) -> Option<u64>,
    ) -> Self {
        let mut facts = Self {
            event_type,
            ..Self::default()
        };
        let Ok(view) = serde_json::from_str::<FactsView<'_>>(raw_data) else {
            return facts;
        };
        let guild_object = GUILD_OBJECT_EVENTS.contains(&event_type);
        let channel_object = CHANNEL_OBJECT_EVENTS.contains(&event_type);
        facts.guild_id = if guild_object {
            snowflake(view.id.as_deref())
        } else {
            snowflake(view.guild_id.as_deref())
        };
        facts.channel_id = if channel_object {
            snowflake(view.id.as_deref())
        } else {
            snowflake(view.channel_id.as_deref())
        };
        facts.parent_id = if channel_object {
            snowflake(view.parent_id.as_deref())
        } else {
            facts.channel_id.and_then(&thread_parent)
        };
        let channel_type = if channel_object {
            view.kind
        } else {
            view.channel_type
        };
        facts.direct_message = match channel_type {
            Some(kind) => DIRECT_MESSAGE_TYPES.contains(&kind),
            // Gateway events from DMs carry a channel and no guild.
            None => !guild_object && facts.channel_id.is_some() && facts.guild_id.is_none(),
        };
        facts
    }
}

impl Filter {
    /// Whether the filter names no place (guild, channel or direct messages).
    fn names_no_place(&self) -> bool {
        self.guild_ids.is_empty() && self.channel_ids.is_empty() && !self.direct_messages
    }

    /// Whether an event with these facts matches (see the module documentation for the rule).
    pub fn matches(&self, facts: &EventFacts<'_>) -> bool {
        if !self.event_types.is_empty() && !self.event_types.iter().any(|t| t == facts.event_type) {
            return false;
        }
        if self.names_no_place() {
            return true;
        }
        let in_guild = facts
            .guild_id
            .is_some_and(|guild| self.guild_ids.contains(&guild));
        let in_channel = [facts.channel_id, facts.parent_id]
            .into_iter()
            .flatten()
            .any(|channel| self.channel_ids.contains(&channel));
        in_guild || in_channel || (self.direct_messages && facts.direct_message)
    }

    /// Whether a subscription with this filter may talk (post, react) in a channel: a filter
    /// that names no place covers every channel; otherwise the channel (or, for a thread, its
    /// parent) must be named, or it must be a direct message while `directMessages` is set.
    /// Event types do not narrow where one may talk. A guild id alone covers no channel: the
    /// object does not know which guild a channel it has not been told about belongs to (issue
    /// 11, agent tokens: name the channels an agent answers in).
    pub fn covers(&self, place: &ChannelPlace) -> bool {
        if self.names_no_place() {
            return true;
        }
        let named = [Some(place.channel_id), place.parent_id]
            .into_iter()
            .flatten()
            .any(|channel| self.channel_ids.contains(&channel));
        named || (self.direct_messages && place.direct_message)
    }

    /// Checks a filter from JSON; a bad entry is a `400` naming it (`filter.guildIds[2]`).
    pub fn from_json(json: &FilterJson) -> Result<Self, ApiError> {
        Ok(Self {
            guild_ids: ids(&json.guild_ids, "filter.guildIds")?,
            channel_ids: ids(&json.channel_ids, "filter.channelIds")?,
            event_types: event_types(&json.event_types)?,
            direct_messages: json.direct_messages,
        })
    }

    /// The filter as JSON (ids as strings), as the admin API shows it.
    pub fn to_json(&self) -> FilterJson {
        FilterJson {
            guild_ids: self.guild_ids.iter().map(u64::to_string).collect(),
            channel_ids: self.channel_ids.iter().map(u64::to_string).collect(),
            event_types: self.event_types.clone(),
            direct_messages: self.direct_messages,
        }
    }
}

fn too_many(field: &str, len: usize) -> Result<(), ApiError> {
    if len > MAX_FILTER_ENTRIES {
        return Err(ApiError::bad_request(
            Some(field),
            format!("{field} may hold at most {MAX_FILTER_ENTRIES} entries, not {len}"),
        ));
    }
    Ok(())
}

fn ids(list: &[String], field: &str) -> Result<Vec<u64>, ApiError> {
    too_many(field, list.len())?;
    let mut out = Vec::with_capacity(list.len());
    for (i, id) in list.iter().enumerate() {
        let parsed = id
            .parse::<u64>()
            .ok()
            .filter(|_| id.bytes().all(|b| b.is_ascii_digit()));
        match parsed {
            Some(id) if !out.contains(&id) => out.push(id),
            Some(_) => {}
            None => {
                return Err(ApiError::bad_request(
                    Some(&format!("{field}[{i}]")),
                    format!("{field}[{i}] must be a snowflake as a string of digits, not {id:?}"),
                ))
            }
        }
    }
    Ok(out)
}

fn event_types(list: &[String]) -> Result<Vec<String>, ApiError> {
    const FIELD: &str = "filter.eventTypes";
    too_many(FIELD, list.len())?;
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, name) in list.iter().enumerate() {
        let valid = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(ApiError::bad_request(
                Some(&format!("{FIELD}[{i}]")),
                format!(
                    "{FIELD}[{i}] must be a dispatch type such as MESSAGE_CREATE (A-Z, 0-9, _), not {name:?}"
                ),
            ));
        }
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(json: &str) -> Filter {
        Filter::from_json(&serde_json::from_str(json).unwrap()).unwrap()
    }

    fn no_threads(_: u64) -> Option<u64> {
        None
    }

    /// Thread 300 is in channel 100.
    fn thread_300_in_100(id: u64) -> Option<u64> {
        (id == 300).then_some(100)
    }

    fn message(guild: Option<&str>, channel: &str) -> String {
        match guild {
            Some(g) => format!(r#"{{"id":"9","guild_id":"{g}","channel_id":"{channel}"}}"#),
            None => format!(r#"{{"id":"9","channel_id":"{channel}"}}"#),
        }
    }

    fn matches(f: &Filter, event_type: &str, data: &str) -> bool {
        f.matches(&EventFacts::of(event_type, data, thread_300_in_100))
    }

    #[test]
    fn issue_10_filter_an_empty_filter_matches_every_event() {
        let all = filter("{}");
        assert_eq!(all, Filter::default());
        assert!(matches(&all, "MESSAGE_CREATE", &message(Some("1"), "100")));
        assert!(matches(&all, "MESSAGE_CREATE", &message(None, "7")));
        assert!(matches(&all, "READY", "not json"));
        assert!(matches(&all, "GUILD_CREATE", r#"{"id":"1"}"#));
    }

    #[test]
    fn issue_10_filter_guild_ids_let_through_exactly_their_guilds() {
        let tenant = filter(r#"{"guildIds":["1","3"]}"#);
        assert!(matches(
            &tenant,
            "MESSAGE_CREATE",
            &message(Some("1"), "100")
        ));
        assert!(matches(
            &tenant,
            "MESSAGE_CREATE",
            &message(Some("3"), "101")
        ));
        assert!(!matches(
            &tenant,
            "MESSAGE_CREATE",
            &message(Some("2"), "102")
        ));
        assert!(
            !matches(&tenant, "MESSAGE_CREATE", &message(None, "7")),
            "a DM is in no guild"
        );
        // A guild object's guild is its id.
        assert!(matches(&tenant, "GUILD_CREATE", r#"{"id":"3","name":"g"}"#));
        assert!(!matches(&tenant, "GUILD_CREATE", r#"{"id":"2"}"#));
        assert!(!matches(&tenant, "READY", "{}"), "no guild, no match");
        // A `type` of another shape does not hide the guild.
        for kind in [r#""x""#, "300", "null", "{}"] {
            let data = format!(r#"{{"type":{kind},"guild_id":"1","channel_id":"100"}}"#);
            assert!(matches(&tenant, "MESSAGE_CREATE", &data), "{data}");
        }
    }

    #[test]
    fn issue_10_filter_a_channel_filter_lets_through_the_channel_and_its_threads() {
        let channel = filter(r#"{"channelIds":["100"]}"#);
        assert!(matches(
            &channel,
            "MESSAGE_CREATE",
            &message(Some("1"), "100")
        ));
        assert!(
            matches(&channel, "MESSAGE_CREATE", &message(Some("1"), "300")),
            "thread 300's parent is 100"
        );
        assert!(!matches(
            &channel,
            "MESSAGE_CREATE",
            &message(Some("1"), "101")
        ));
        assert!(
            !channel.matches(&EventFacts::of(
                "MESSAGE_CREATE",
                &message(Some("1"), "300"),
                no_threads
            )),
            "an unknown thread has no parent to match"
        );
        // A thread object names its parent itself.
        assert!(matches(
            &channel,
            "THREAD_CREATE",
            r#"{"id":"400","type":11,"parent_id":"100","guild_id":"1"}"#
        ));
        assert!(matches(
            &channel,
            "CHANNEL_UPDATE",
            r#"{"id":"100","type":0,"guild_id":"1"}"#
        ));
        assert!(!matches(
            &channel,
            "CHANNEL_UPDATE",
            r#"{"id":"101","type":0,"guild_id":"1","parent_id":"50"}"#
        ));
    }

    #[test]
    fn issue_10_filter_a_dm_filter_lets_through_exactly_direct_messages() {
        let dms = filter(r#"{"directMessages":true}"#);
        assert!(matches(&dms, "MESSAGE_CREATE", &message(None, "7")));
        assert!(matches(
            &dms,
            "MESSAGE_CREATE",
            r#"{"channel_id":"7","channel_type":3}"#
        ));
        assert!(!matches(&dms, "MESSAGE_CREATE", &message(Some("1"), "100")));
        assert!(!matches(&dms, "READY", "{}"), "no channel: not a DM");
        assert!(!matches(&dms, "GUILD_DELETE", r#"{"id":"1"}"#));
        assert!(matches(&dms, "CHANNEL_CREATE", r#"{"id":"7","type":1}"#));
    }

    #[test]
    fn issue_10_filter_an_event_type_filter_lets_through_exactly_its_types() {
        let types = filter(r#"{"eventTypes":["MESSAGE_CREATE","MESSAGE_REACTION_ADD"]}"#);
        assert!(matches(
            &types,
            "MESSAGE_CREATE",
            &message(Some("1"), "100")
        ));
        assert!(matches(&types, "MESSAGE_REACTION_ADD", &message(None, "7")));
        assert!(!matches(
            &types,
            "MESSAGE_UPDATE",
            &message(Some("1"), "100")
        ));
        assert!(!matches(&types, "TYPING_START", &message(Some("1"), "100")));
    }

    #[test]
    fn issue_10_filter_types_narrow_and_places_are_alternatives() {
        let f = filter(
            r#"{"guildIds":["1"],"channelIds":["200"],"directMessages":true,"eventTypes":["MESSAGE_CREATE"]}"#,
        );
        assert!(matches(&f, "MESSAGE_CREATE", &message(Some("1"), "100")));
        assert!(matches(&f, "MESSAGE_CREATE", &message(Some("2"), "200")));
        assert!(matches(&f, "MESSAGE_CREATE", &message(None, "7")));
        assert!(!matches(&f, "MESSAGE_CREATE", &message(Some("2"), "201")));
        assert!(!matches(&f, "MESSAGE_DELETE", &message(Some("1"), "100")));
    }

    #[test]
    fn issue_10_filter_bad_entries_are_a_400_naming_the_entry() {
        let cases = [
            (r#"{"guildIds":["1","x"]}"#, "filter.guildIds[1]"),
            (r#"{"channelIds":["-1"]}"#, "filter.channelIds[0]"),
            (r#"{"channelIds":["+5"]}"#, "filter.channelIds[0]"),
            (
                r#"{"channelIds":["99999999999999999999999"]}"#,
                "filter.channelIds[0]",
            ),
            (
                r#"{"eventTypes":["message_create"]}"#,
                "filter.eventTypes[0]",
            ),
            (r#"{"eventTypes":[""]}"#, "filter.eventTypes[0]"),
        ];
        for (json, field) in cases {
            let err = Filter::from_json(&serde_json::from_str(json).unwrap()).unwrap_err();
            assert_eq!(
                (err.status, err.field.as_deref()),
                (400, Some(field)),
                "{json}"
            );
        }
        let many: Vec<String> = (0..=MAX_FILTER_ENTRIES).map(|i| i.to_string()).collect();
        let err = Filter::from_json(&FilterJson {
            guild_ids: many,
            ..FilterJson::default()
        })
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("filter.guildIds"));
        assert!(serde_json::from_str::<FilterJson>(r#"{"guilds":["1"]}"#).is_err());
    }

    #[test]
    fn issue_11_agent_tokens_a_filter_covers_its_channels_threads_and_dms_only() {
        let place = |channel_id, parent_id, direct_message| ChannelPlace {
            channel_id,
            parent_id,
            direct_message,
        };
        let everything = filter("{}");
        assert!(everything.covers(&place(7, None, false)));
        let channels = filter(r#"{"channelIds":["100"],"eventTypes":["MESSAGE_REACTION_ADD"]}"#);
        assert!(
            channels.covers(&place(100, None, false)),
            "types do not narrow talk"
        );
        assert!(
            channels.covers(&place(300, Some(100), false)),
            "a thread of it"
        );
        assert!(!channels.covers(&place(101, None, false)));
        assert!(!channels.covers(&place(9, None, true)), "no DMs asked");
        let dms = filter(r#"{"directMessages":true}"#);
        assert!(dms.covers(&place(9, None, true)));
        assert!(!dms.covers(&place(100, None, false)));
        let guild = filter(r#"{"guildIds":["1"]}"#);
        assert!(
            !guild.covers(&place(100, None, false)),
            "a guild alone names no channel"
        );
    }

    #[test]
    fn issue_10_filter_round_trips_through_json_without_duplicates() {
        let f = filter(r#"{"guildIds":["1","1"],"eventTypes":["A","A"],"directMessages":true}"#);
        assert_eq!(f.guild_ids, vec![1]);
        assert_eq!(f.event_types, vec!["A".to_owned()]);
        assert_eq!(Filter::from_json(&f.to_json()).unwrap(), f);
        assert_eq!(
            serde_json::to_string(&f.to_json()).unwrap(),
            r#"{"guildIds":["1"],"eventTypes":["A"],"directMessages":true}"#
        );
    }
}
