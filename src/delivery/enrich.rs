//! Enrichment that stays wire-compatible: fields Chat SDK's Discord adapter reads but Discord's
//! raw events lack, spliced into the raw `d` without re-serializing it.
//!
//! - Reactions get `user` (from `member.user`, a user seen earlier, or at least `{id}`),
//!   `channel_type` when known (DMs: 1), and `thread {id, parent_id}` in threads. Without `user`
//!   the adapter drops every raw `MESSAGE_REACTION_REMOVE` and every DM reaction.
//! - Messages in threads get `thread {id, parent_id}` (and `channel_type` when missing): without
//!   them the adapter takes a thread for a channel, or makes a REST call per message.
//!
//! What is known comes from a [`Directory`] learned from `GUILD_CREATE`, `CHANNEL_*`, `THREAD_*`
//! dispatches and message authors. It is bounded: at most [`CHANNEL_CAPACITY`] channels
//! (about 50 bytes each, ~5 MB) and [`USER_CAPACITY`] users (a few hundred bytes each, ~3 MB);
//! the oldest entries are forgotten first. Fields already present are never replaced.
//!
//! After a restart that resumes the session, Discord sends no `GUILD_CREATE` again, so the
//! channels are what the Durable Object keeps: a directory made with [`Directory::restore`]
//! starts from a stored copy and records each [`ChannelChange`] for that copy to follow
//! ([`Directory::take_changes`]). Users are not kept: an author is seen again soon, and a
//! reaction without one still gets `{id}`.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

/// Channels remembered at most.
pub const CHANNEL_CAPACITY: usize = 100_000;
/// Users remembered at most.
pub const USER_CAPACITY: usize = 10_000;

/// Dispatch types the directory learns from, whether or not they are forwarded.
pub const DIRECTORY_EVENTS: &[&str] = &[
    "GUILD_CREATE",
    "CHANNEL_CREATE",
    "CHANNEL_UPDATE",
    "CHANNEL_DELETE",
    "THREAD_CREATE",
    "THREAD_UPDATE",
    "THREAD_DELETE",
    "THREAD_LIST_SYNC",
];

const DM: u8 = 1;
const THREAD_TYPES: [u8; 3] = [10, 11, 12];

/// A map that forgets its oldest entries beyond a capacity.
#[derive(Debug)]
struct Bounded<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// Inserts or replaces; returns the key forgotten to make room, if any (one insert adds at
    /// most one key, so at most one is forgotten).
    fn insert(&mut self, key: K, value: V) -> Option<K> {
        let mut forgotten = None;
        if self.map.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
        }
        while self.map.len() > self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    if self.map.remove(&oldest).is_some() {
                        forgotten = Some(oldest);
                    }
                }
                None => break,
            }
        }
        if self.order.len() > self.capacity * 2 {
            // Removed keys linger in `order`; compact now and then.
            let map = &self.map;
            self.order.retain(|k| map.contains_key(k));
        }
        forgotten
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        self.map.remove(key)
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ChannelInfo {
    kind: u8,
    parent_id: Option<u64>,
}

/// A channel the directory knows, as a stored copy keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownChannel {
    /// The channel (or thread) id.
    pub id: u64,
    /// Its Discord channel type.
    pub kind: u8,
    /// The parent channel of a thread (or the category of a channel).
    pub parent_id: Option<u64>,
}

/// A change to the known channels, for a stored copy to follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelChange {
    /// Learned, or learned anew with other values.
    Learned(KnownChannel),
    /// Deleted on Discord, or forgotten to stay within the bound.
    Forgotten(u64),
}

/// What the forwarder knows about channels and users.
#[derive(Debug)]
pub struct Directory {
    channels: Bounded<u64, ChannelInfo>,
    users: Bounded<u64, Box<str>>,
    /// Changes not yet taken, when a stored copy follows them.
    changes: Option<Vec<ChannelChange>>,
}

impl Default for Directory {
    fn default() -> Self {
        Self::with_capacity(CHANNEL_CAPACITY, USER_CAPACITY)
    }
}

fn snowflake(id: &str) -> Option<u64> {
    id.parse().ok()
}

/// `true` when the field is present, even as `null`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

#[derive(Deserialize)]
struct ChannelView<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default, borrow)]
    parent_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ChannelListView<'a> {
    #[serde(default, borrow)]
    channels: Vec<ChannelView<'a>>,
    #[serde(default, borrow)]
    threads: Vec<ChannelView<'a>>,
}

#[derive(Deserialize)]
struct IdView<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
}

#[derive(Deserialize, Serialize)]
struct UserView<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    username: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    global_name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    discriminator: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    avatar: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bot: Option<bool>,
}

#[derive(Deserialize)]
struct MemberView<'a> {
    #[serde(default, borrow)]
    user: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct EventView<'a> {
    #[serde(default, borrow)]
    channel_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    author: Option<UserView<'a>>,
    #[serde(default, borrow)]
    guild_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    user_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    member: Option<MemberView<'a>>,
    #[serde(default, deserialize_with = "present")]
    user: bool,
    #[serde(default)]
    channel_type: Option<u8>,
    #[serde(default, deserialize_with = "present")]
    thread: bool,
}

/// A forwarded event made ready for the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// Its lane: the `channel_id`, or `""` for events without one.
    pub channel: String,
    /// The enriched `d`, or `None` to forward the raw `d` as it came.
    pub data: Option<String>,
}

#[derive(Serialize)]
struct Thread<'a> {
    id: &'a str,
    parent_id: String,
}

impl Directory {
    /// A directory with the given bounds.
    pub fn with_capacity(channels: usize, users: usize) -> Self {
        Self {
            channels: Bounded::new(channels),
            users: Bounded::new(users),
            changes: None,
        }
    }

    /// Starts from the channels of a stored copy, and from now on records every change for
    /// that copy to follow. Stored channels beyond the bound are forgotten (and recorded so).
    pub fn restore(mut self, channels: impl IntoIterator<Item = KnownChannel>) -> Self {
        let mut changes = Vec::new();
        for channel in channels {
            let info = ChannelInfo {
                kind: channel.kind,
                parent_id: channel.parent_id,
            };
            if let Some(forgotten) = self.channels.insert(channel.id, info) {
                changes.push(ChannelChange::Forgotten(forgotten));
            }
        }
        self.changes = Some(changes);
        self
    }

    /// The changes since the last call, oldest first (none unless made with
    /// [`Directory::restore`]).
    pub fn take_changes(&mut self) -> Vec<ChannelChange> {
        self.changes
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn record(&mut self, change: ChannelChange) {
        if let Some(changes) = &mut self.changes {
            changes.push(change);
        }
    }

    /// The parent channel of `channel_id` when it is a known thread (a subscription's channel
    /// filter matches a thread through it; see [`crate::subscriptions::filter`]).
    pub fn thread_parent(&self, channel_id: u64) -> Option<u64> {
        self.channels
            .get(&channel_id)
            .filter(|c| THREAD_TYPES.contains(&c.kind))
            .and_then(|c| c.parent_id)
    }

    /// The Discord channel type of `channel_id`, when known (a DM channel is type 1 or 3).
    pub fn channel_kind(&self, channel_id: u64) -> Option<u8> {
        self.channels.get(&channel_id).map(|c| c.kind)
    }

    /// Channels and users currently known.
    pub fn len(&self) -> (usize, usize) {
        (self.channels.len(), self.users.len())
    }

    /// Learns channels from a `GUILD_CREATE`, `CHANNEL_*` or `THREAD_*` dispatch (other types
    /// teach nothing here; see [`Directory::prepare`]). Malformed data is ignored.
    pub fn learn(&mut self, event_type: &str, raw_data: &str) {
        match event_type {
            "GUILD_CREATE" | "THREAD_LIST_SYNC" => {
                if let Ok(list) = serde_json::from_str::<ChannelListView<'_>>(raw_data) {
                    for channel in list.channels.iter().chain(&list.threads) {
                        self.remember_channel(channel);
                    }
                }
            }
            "CHANNEL_CREATE" | "CHANNEL_UPDATE" | "THREAD_CREATE" | "THREAD_UPDATE" => {
                if let Ok(channel) = serde_json::from_str::<ChannelView<'_>>(raw_data) {
                    self.remember_channel(&channel);
                }
            }
            "CHANNEL_DELETE" | "THREAD_DELETE" => {
                if let Some(id) = serde_json::from_str::<IdView<'_>>(raw_data)
                    .ok()
                    .and_then(|v| snowflake(&v.id))
                {
                    if self.channels.remove(&id).is_some() {
                        self.record(ChannelChange::Forgotten(id));
                    }
                }
            }
            _ => {}
        }
    }

    fn remember_channel(&mut self, channel: &ChannelView<'_>) {
        let Some(id) = snowflake(&channel.id) else {
            return;
        };
        let parent_id = channel.parent_id.as_deref().and_then(snowflake);
        let info = ChannelInfo {
            kind: channel.kind,
            parent_id,
        };
        if self.channels.get(&id) == Some(&info) {
            return;
        }
        let forgotten = self.channels.insert(id, info);
        self.record(ChannelChange::Learned(KnownChannel {
            id,
            kind: info.kind,
            parent_id,
        }));
        if let Some(id) = forgotten {
            self.record(ChannelChange::Forgotten(id));
        }
    }

    fn remember_user(&mut self, user: &UserView<'_>) {
        if let (Some(id), Ok(json)) = (snowflake(&user.id), serde_json::to_string(user)) {
            self.users.insert(id, json.into_boxed_str());
        }
    }

    /// Makes a forwarded dispatch ready for the outbox, reading its `d` once: its lane (the
    /// channel), what it teaches (message authors, reacting members, channel lifecycles), and
    /// its enriched `d` when something was missing.
    pub fn prepare(&mut self, event_type: &str, raw_data: &str) -> Prepared {
        if DIRECTORY_EVENTS.contains(&event_type) {
            self.learn(event_type, raw_data);
        }
        let Ok(view) = serde_json::from_str::<EventView<'_>>(raw_data) else {
            return Prepared {
                channel: String::new(),
                data: None,
            };
        };
        if let Some(author) = &view.author {
            self.remember_user(author);
        }
        let member_user = view.member.as_ref().and_then(|m| m.user);
        if let Some(user) =
            member_user.and_then(|raw| serde_json::from_str::<UserView<'_>>(raw.get()).ok())
        {
            self.remember_user(&user);
        }
        let data = self.enrich(event_type, raw_data, &view);
        Prepared {
            channel: view.channel_id.map(Cow::into_owned).unwrap_or_default(),
            data,
        }
    }

    fn enrich(&self, event_type: &str, raw_data: &str, view: &EventView<'_>) -> Option<String> {
        let reaction = matches!(
            event_type,
            "MESSAGE_REACTION_ADD" | "MESSAGE_REACTION_REMOVE"
        );
        if !reaction && event_type != "MESSAGE_CREATE" {
            return None;
        }
        let channel_id = view.channel_id.as_deref()?;
        let known = snowflake(channel_id).and_then(|id| self.channels.get(&id).copied());
        let mut fields: Vec<(&str, String)> = Vec::new();

        if reaction && !view.user {
            let from_member = view
                .member
                .as_ref()
                .and_then(|m| m.user)
                .map(|raw| raw.get().to_owned());
            let user = from_member.or_else(|| {
                let user_id = view.user_id.as_deref()?;
                let cached = snowflake(user_id).and_then(|id| self.users.get(&id));
                Some(cached.map_or_else(
                    || format!(r#"{{"id":{}}}"#, json_string(user_id)),
                    |u| u.to_string(),
                ))
            });
            if let Some(user) = user {
                fields.push(("user", user));
            }
        }
        if view.channel_type.is_none() {
            let kind = known
                .map(|c| c.kind)
                .or_else(|| view.guild_id.is_none().then_some(DM));
            if let Some(kind) = kind {
                fields.push(("channel_type", kind.to_string()));
            }
        }
        if !view.thread {
            let thread_parent = known
                .filter(|c| THREAD_TYPES.contains(&c.kind))
                .and_then(|c| c.parent_id);
            if let Some(parent) = thread_parent {
                let thread = Thread {
                    id: channel_id,
                    parent_id: parent.to_string(),
                };
                if let Ok(json) = serde_json::to_string(&thread) {
                    fields.push(("thread", json));
                }
            }
        }
        if fields.is_empty() {
            return None;
        }
        splice(raw_data, &fields)
    }
}

fn json_string(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_owned())
}

/// Appends `"key":value` pairs to a JSON object's text, leaving the rest byte for byte.
fn splice(object: &str, fields: &[(&str, String)]) -> Option<String> {
    let trimmed = object.trim_end();
    let body = trimmed.strip_suffix('}')?;
    let empty = body.trim_start().strip_prefix('{')?.trim().is_empty();
    let extra: usize = fields.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    let mut out = String::with_capacity(object.len() + extra);
    out.push_str(body);
    for (index, (key, value)) in fields.iter().enumerate() {
        if index > 0 || !empty {
            out.push(',');
        }
        out.push('"');
        out.push_str(key);
        out.push_str("\":");
        out.push_str(value);
    }
    out.push('}');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn directory() -> Directory {
        let mut directory = Directory::default();
        directory.learn(
            "GUILD_CREATE",
            &json!({
                "id": "1", "name": "g", "members": [{"user": {"id": "9"}}],
                "channels": [{"id": "100", "type": 0, "name": "general"}, {"id": "101", "type": 5}],
                "threads": [{"id": "200", "type": 11, "parent_id": "100", "name": "t"}]
            })
            .to_string(),
        );
        directory
    }

    fn enriched(directory: &mut Directory, t: &str, d: Value) -> Value {
        let raw = d.to_string();
        let out = directory.prepare(t, &raw).data.expect("enriched");
        assert!(
            out.starts_with(&raw[..raw.len() - 1]),
            "the original bytes are kept"
        );
        serde_json::from_str(&out).unwrap()
    }

    #[test]
    fn guild_reaction_add_takes_member_user_and_channel_type() {
        let d = json!({"user_id": "7", "channel_id": "100", "guild_id": "1", "message_id": "5",
                       "emoji": {"id": null, "name": "👍"}, "member": {"user": {"id": "7", "username": "ann"}}});
        let out = enriched(&mut directory(), "MESSAGE_REACTION_ADD", d);
        assert_eq!(out["user"], json!({"id": "7", "username": "ann"}));
        assert_eq!(out["channel_type"], 0);
        assert!(out.get("thread").is_none());
    }

    #[test]
    fn reaction_remove_gets_a_user_from_what_was_seen_or_at_least_an_id() {
        let mut directory = directory();
        let d = json!({"user_id": "7", "channel_id": "101", "guild_id": "1", "message_id": "5", "emoji": {"name": "x"}});
        let out = enriched(&mut directory, "MESSAGE_REACTION_REMOVE", d.clone());
        assert_eq!(out["user"], json!({"id": "7"}));
        assert_eq!(out["channel_type"], 5);
        directory.prepare("MESSAGE_CREATE", &json!({"author": {"id": "7", "username": "ann", "global_name": "Ann", "discriminator": "0", "avatar": null}, "channel_id": "100"}).to_string());
        let out = enriched(&mut directory, "MESSAGE_REACTION_REMOVE", d);
        assert_eq!(out["user"]["username"], "ann");
        assert_eq!(out["user"]["global_name"], "Ann");
    }

    #[test]
    fn dm_reactions_are_dms() {
        let d =
            json!({"user_id": "7", "channel_id": "300", "message_id": "5", "emoji": {"name": "x"}});
        let out = enriched(&mut directory(), "MESSAGE_REACTION_ADD", d);
        assert_eq!(out["channel_type"], 1);
        assert_eq!(out["user"], json!({"id": "7"}));
    }

    #[test]
    fn thread_reactions_and_messages_get_their_thread() {
        let mut directory = directory();
        let d = json!({"user_id": "7", "channel_id": "200", "guild_id": "1", "message_id": "5", "emoji": {"name": "x"}});
        let out = enriched(&mut directory, "MESSAGE_REACTION_REMOVE", d);
        assert_eq!(out["thread"], json!({"id": "200", "parent_id": "100"}));
        assert_eq!(out["channel_type"], 11);
        let message = json!({"id": "6", "channel_id": "200", "guild_id": "1", "channel_type": 11, "content": "hi"});
        let out = enriched(&mut directory, "MESSAGE_CREATE", message);
        assert_eq!(out["thread"], json!({"id": "200", "parent_id": "100"}));
        assert_eq!(out["channel_type"], 11, "present fields are not replaced");
    }

    #[test]
    fn nothing_to_add_means_unchanged_and_the_lane_is_the_channel() {
        let mut directory = directory();
        let unchanged = |directory: &mut Directory, t: &str, d: &str, channel: &str| {
            let prepared = directory.prepare(t, d);
            assert_eq!(
                prepared,
                Prepared {
                    channel: channel.into(),
                    data: None
                },
                "{t} {d}"
            );
        };
        let message = json!({"id": "6", "channel_id": "100", "guild_id": "1", "channel_type": 0});
        unchanged(
            &mut directory,
            "MESSAGE_CREATE",
            &message.to_string(),
            "100",
        );
        let unknown = json!({"id": "6", "channel_id": "999", "guild_id": "1"});
        unchanged(
            &mut directory,
            "MESSAGE_CREATE",
            &unknown.to_string(),
            "999",
        );
        unchanged(
            &mut directory,
            "TYPING_START",
            r#"{"channel_id":"100"}"#,
            "100",
        );
        unchanged(
            &mut directory,
            "GUILD_MEMBER_ADD",
            r#"{"guild_id":"1"}"#,
            "",
        );
        unchanged(&mut directory, "MESSAGE_REACTION_ADD", "not json", "");
        unchanged(&mut directory, "MESSAGE_CREATE", r#"{"channel_id":7}"#, "");
        let with_null_user = json!({"user_id": "7", "channel_id": "100", "guild_id": "1", "user": null, "channel_type": 0});
        unchanged(
            &mut directory,
            "MESSAGE_REACTION_ADD",
            &with_null_user.to_string(),
            "100",
        );
    }

    #[test]
    fn forwarded_channel_events_are_learned_too() {
        let mut directory = Directory::default();
        directory.prepare(
            "THREAD_CREATE",
            r#"{"id":"300","type":11,"parent_id":"100","guild_id":"1"}"#,
        );
        let d = json!({"user_id": "7", "channel_id": "300", "guild_id": "1", "emoji": {"name": "x"}, "message_id": "5"});
        assert_eq!(
            enriched(&mut directory, "MESSAGE_REACTION_ADD", d)["thread"]["parent_id"],
            "100"
        );
    }

    #[test]
    fn deletes_and_updates_are_followed() {
        let mut directory = directory();
        directory.learn(
            "THREAD_DELETE",
            r#"{"id":"200","type":11,"parent_id":"100"}"#,
        );
        let d = json!({"user_id": "7", "channel_id": "200", "guild_id": "1", "emoji": {"name": "x"}, "message_id": "5"});
        assert!(enriched(&mut directory, "MESSAGE_REACTION_ADD", d.clone())
            .get("thread")
            .is_none());
        directory.learn(
            "THREAD_CREATE",
            r#"{"id":"200","type":12,"parent_id":"101","guild_id":"1"}"#,
        );
        assert_eq!(
            enriched(&mut directory, "MESSAGE_REACTION_ADD", d)["thread"]["parent_id"],
            "101"
        );
    }

    #[test]
    fn memory_is_bounded() {
        let mut directory = Directory::with_capacity(100, 10);
        for i in 0..1_000u64 {
            directory.learn(
                "CHANNEL_CREATE",
                &format!(r#"{{"id":"{}","type":0}}"#, 1_000 + i),
            );
            directory.prepare(
                "MESSAGE_CREATE",
                &format!(r#"{{"author":{{"id":"{}","username":"u"}}}}"#, 1_000 + i),
            );
        }
        assert_eq!(directory.len(), (100, 10));
        assert!(directory.channels.order.len() <= 200);
        // The newest are kept.
        assert!(directory.channels.get(&1_999).is_some());
        assert!(directory.channels.get(&1_000).is_none());
    }

    fn thread(id: u64, parent: u64) -> KnownChannel {
        KnownChannel {
            id,
            kind: 11,
            parent_id: Some(parent),
        }
    }

    #[test]
    fn issue_10_filter_the_directory_tells_a_threads_parent_and_only_a_threads() {
        let mut directory = Directory::default().restore([thread(200, 100)]);
        directory.learn(
            "CHANNEL_CREATE",
            r#"{"id":"101","type":0,"parent_id":"50"}"#,
        );
        assert_eq!(directory.thread_parent(200), Some(100));
        assert_eq!(
            directory.thread_parent(101),
            None,
            "a category is no thread parent"
        );
        assert_eq!(directory.thread_parent(999), None);
    }

    #[test]
    fn a_restored_directory_enriches_without_guild_create() {
        let mut directory = Directory::default().restore([thread(200, 100)]);
        let d = json!({"user_id": "7", "channel_id": "200", "guild_id": "1", "emoji": {"name": "x"}, "message_id": "5"});
        let out = enriched(&mut directory, "MESSAGE_REACTION_ADD", d);
        assert_eq!(out["thread"], json!({"id": "200", "parent_id": "100"}));
        assert_eq!(out["channel_type"], 11);
        assert!(
            directory.take_changes().is_empty(),
            "restoring is not a change"
        );
    }

    #[test]
    fn a_restored_directory_records_what_changes_and_only_that() {
        let mut directory = Directory::default().restore([thread(200, 100)]);
        directory.learn(
            "THREAD_UPDATE",
            r#"{"id":"200","type":11,"parent_id":"100"}"#,
        );
        directory.learn("CHANNEL_DELETE", r#"{"id":"999"}"#);
        assert!(directory.take_changes().is_empty(), "nothing new");
        directory.learn(
            "GUILD_CREATE",
            r#"{"id":"1","channels":[{"id":"100","type":0}],"threads":[{"id":"200","type":12,"parent_id":"100"}]}"#,
        );
        directory.learn("THREAD_DELETE", r#"{"id":"200"}"#);
        assert_eq!(
            directory.take_changes(),
            vec![
                ChannelChange::Learned(KnownChannel {
                    id: 100,
                    kind: 0,
                    parent_id: None
                }),
                ChannelChange::Learned(KnownChannel {
                    id: 200,
                    kind: 12,
                    parent_id: Some(100)
                }),
                ChannelChange::Forgotten(200),
            ]
        );
        assert!(directory.take_changes().is_empty(), "taken once");
    }

    #[test]
    fn the_bound_is_recorded_as_forgetting() {
        let mut directory =
            Directory::with_capacity(2, 10).restore([thread(1, 9), thread(2, 9), thread(3, 9)]);
        assert_eq!(directory.take_changes(), vec![ChannelChange::Forgotten(1)]);
        directory.learn("CHANNEL_CREATE", r#"{"id":"4","type":0}"#);
        assert_eq!(
            directory.take_changes(),
            vec![
                ChannelChange::Learned(KnownChannel {
                    id: 4,
                    kind: 0,
                    parent_id: None
                }),
                ChannelChange::Forgotten(2),
            ]
        );
    }

    #[test]
    fn without_a_stored_copy_nothing_is_recorded() {
        let mut directory = directory();
        directory.learn("CHANNEL_CREATE", r#"{"id":"4","type":0}"#);
        assert!(directory.take_changes().is_empty());
    }

    #[test]
    fn splice_handles_empty_objects_and_whitespace() {
        assert_eq!(splice("{}", &[("a", "1".into())]).unwrap(), r#"{"a":1}"#);
        assert_eq!(
            splice("{ } ", &[("a", "1".into()), ("b", "2".into())]).unwrap(),
            r#"{ "a":1,"b":2}"#
        );
        assert_eq!(
            splice(r#"{"x":1}  "#, &[("a", "1".into())]).unwrap(),
            r#"{"x":1,"a":1}"#
        );
        assert_eq!(splice("[1]", &[("a", "1".into())]), None);
    }
}
