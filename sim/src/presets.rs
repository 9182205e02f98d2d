//! The simulated world (bot, guild, channels, a human user) and realistic Gateway v10 event
//! payloads: READY, GUILD_CREATE and the dispatch presets of `POST /_sim/dispatch`.

use serde_json::{json, Map, Value};

use crate::ids::{iso_timestamp, now_ms, Snowflakes};

/// GUILD_MESSAGES intent bit.
pub const INTENT_GUILD_MESSAGES: u64 = 1 << 9;
/// GUILD_MESSAGE_REACTIONS intent bit.
pub const INTENT_GUILD_MESSAGE_REACTIONS: u64 = 1 << 10;
/// GUILD_MESSAGE_TYPING intent bit.
pub const INTENT_GUILD_MESSAGE_TYPING: u64 = 1 << 11;
/// DIRECT_MESSAGES intent bit.
pub const INTENT_DIRECT_MESSAGES: u64 = 1 << 12;
/// DIRECT_MESSAGE_REACTIONS intent bit.
pub const INTENT_DIRECT_MESSAGE_REACTIONS: u64 = 1 << 13;
/// MESSAGE_CONTENT intent bit.
pub const INTENT_MESSAGE_CONTENT: u64 = 1 << 15;

/// Fixed ids of everything events refer to.
#[derive(Clone, Debug)]
pub struct World {
    /// The bot user (also the application id).
    pub bot_id: &'static str,
    /// The bot's username.
    pub bot_username: &'static str,
    /// The guild.
    pub guild_id: &'static str,
    /// A category channel (type 4).
    pub category_id: &'static str,
    /// The text channel `#general` (type 0).
    pub text_channel_id: &'static str,
    /// A voice channel (type 2).
    pub voice_channel_id: &'static str,
    /// A public thread (type 11) in `#general`.
    pub thread_id: &'static str,
    /// The DM channel between the bot and the user (type 1).
    pub dm_channel_id: &'static str,
    /// The human user who writes messages and reacts.
    pub user_id: &'static str,
    /// The user's username.
    pub user_username: &'static str,
    /// The user's display name.
    pub user_global_name: &'static str,
    /// A role the user has.
    pub role_id: &'static str,
    /// Guild owner (another user).
    pub owner_id: &'static str,
}

impl Default for World {
    fn default() -> Self {
        Self {
            bot_id: "1290000000000000001",
            bot_username: "sim-bot",
            guild_id: "1290000000000000100",
            category_id: "1290000000000000101",
            text_channel_id: "1290000000000000102",
            voice_channel_id: "1290000000000000103",
            thread_id: "1290000000000000104",
            dm_channel_id: "1290000000000000200",
            user_id: "1290000000000000300",
            user_username: "sim-user",
            user_global_name: "Sim User",
            role_id: "1290000000000000110",
            owner_id: "1290000000000000301",
        }
    }
}

/// When the world was "created": a fixed timestamp for joined_at and friends.
const WORLD_TIME: &str = "2024-10-01T12:00:00.000000+00:00";

impl World {
    /// The ids, as shown in `/_sim/state`.
    pub fn to_json(&self) -> Value {
        json!({
            "botId": self.bot_id,
            "applicationId": self.bot_id,
            "guildId": self.guild_id,
            "textChannelId": self.text_channel_id,
            "threadId": self.thread_id,
            "dmChannelId": self.dm_channel_id,
            "userId": self.user_id,
            "roleId": self.role_id,
        })
    }

    /// The bot as a user object.
    pub fn bot_user(&self) -> Value {
        json!({
            "id": self.bot_id,
            "username": self.bot_username,
            "discriminator": "0",
            "global_name": null,
            "avatar": null,
            "bot": true,
            "public_flags": 0,
            "primary_guild": null,
            "clan": null,
            "avatar_decoration_data": null,
        })
    }

    /// The human user as a user object.
    pub fn human_user(&self) -> Value {
        json!({
            "id": self.user_id,
            "username": self.user_username,
            "discriminator": "0",
            "global_name": self.user_global_name,
            "avatar": null,
            "public_flags": 0,
            "primary_guild": null,
            "clan": null,
            "avatar_decoration_data": null,
        })
    }

    /// A guild member object (without `user`, as in MESSAGE_CREATE).
    fn member(&self, roles: Value) -> Value {
        json!({
            "roles": roles,
            "joined_at": WORLD_TIME,
            "nick": null,
            "avatar": null,
            "banner": null,
            "premium_since": null,
            "deaf": false,
            "mute": false,
            "pending": false,
            "flags": 0,
            "communication_disabled_until": null,
        })
    }

    /// The human user's member object, optionally with `user` inside.
    pub fn human_member(&self, with_user: bool) -> Value {
        let mut member = self.member(json!([self.role_id]));
        if with_user {
            member["user"] = self.human_user();
        }
        member
    }

    /// The bot's member object, optionally with `user` inside.
    pub fn bot_member(&self, with_user: bool) -> Value {
        let mut member = self.member(json!([]));
        if with_user {
            member["user"] = self.bot_user();
        }
        member
    }
}

/// READY's `d`; `guild_ids` are the session's guilds (listed as unavailable).
pub fn ready(
    world: &World,
    session_id: &str,
    resume_url: &str,
    shard: Option<[u64; 2]>,
    guild_ids: &[String],
) -> Value {
    let guilds: Vec<Value> = guild_ids
        .iter()
        .map(|id| json!({"id": id, "unavailable": true}))
        .collect();
    let mut d = json!({
        "v": 10,
        "user_settings": {},
        "user": {
            "id": world.bot_id,
            "username": world.bot_username,
            "discriminator": "0",
            "global_name": null,
            "avatar": null,
            "bot": true,
            "verified": true,
            "mfa_enabled": false,
            "flags": 0,
            "email": null,
        },
        "guilds": guilds,
        "presences": [],
        "private_channels": [],
        "relationships": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": ["us-east", "us-central"],
        "session_type": "normal",
        "session_id": session_id,
        "resume_gateway_url": resume_url,
        "auth_session_id_hash": "c2ltLWF1dGgtc2Vzc2lvbg==",
        "application": {"id": world.bot_id, "flags": 0},
        "_trace": ["[\"gateway-sim\",{\"micros\":0}]"],
    });
    if let Some(shard) = shard {
        d["shard"] = json!(shard);
    }
    d
}

/// GUILD_CREATE's `d` for the world's guild.
pub fn guild_create(world: &World) -> Value {
    let mut d = json!({
        "id": world.guild_id,
        "name": "Simulated Guild",
        "icon": null,
        "splash": null,
        "discovery_splash": null,
        "banner": null,
        "description": null,
        "owner_id": world.owner_id,
        "application_id": null,
        "afk_channel_id": null,
        "afk_timeout": 300,
        "system_channel_id": world.text_channel_id,
    });
    merge_json(
        &mut d,
        json!({
            "system_channel_flags": 0,
            "rules_channel_id": null,
            "public_updates_channel_id": null,
            "safety_alerts_channel_id": null,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw": false,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": false,
            "preferred_locale": "en-US",
            "vanity_url_code": null,
            "features": [],
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
        }),
    );
    merge_json(
        &mut d,
        json!({
            "emojis": [],
            "stickers": [],
            "joined_at": WORLD_TIME,
            "large": false,
            "unavailable": false,
            "lazy": true,
            "member_count": 3,
            "voice_states": [],
            "members": [world.bot_member(true)],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
            "activity_instances": [],
            "application_command_counts": {},
            "home_header": null,
            "latest_onboarding_question_id": null,
            "incidents_data": null,
            "inventory_settings": null,
            "version": 0,
            "hub_type": null,
        }),
    );
    d["roles"] = roles(world);
    d["channels"] = json!([
        {"id": world.category_id, "type": 4, "name": "Text Channels", "position": 0, "parent_id": null, "permission_overwrites": [], "flags": 0},
        {"id": world.text_channel_id, "type": 0, "name": "general", "position": 0, "parent_id": world.category_id, "topic": null, "nsfw": false, "last_message_id": null, "rate_limit_per_user": 0, "permission_overwrites": [], "flags": 0, "icon_emoji": null, "theme_color": null},
        {"id": world.voice_channel_id, "type": 2, "name": "General", "position": 1, "parent_id": world.category_id, "bitrate": 64000, "user_limit": 0, "rtc_region": null, "nsfw": false, "last_message_id": null, "rate_limit_per_user": 0, "permission_overwrites": [], "flags": 0},
    ]);
    d["threads"] = json!([{
        "id": world.thread_id, "type": 11, "guild_id": world.guild_id, "parent_id": world.text_channel_id,
        "owner_id": world.user_id, "name": "sim-thread", "last_message_id": null, "message_count": 0,
        "member_count": 2, "total_message_sent": 0, "rate_limit_per_user": 0, "flags": 0,
        "thread_metadata": {"archived": false, "archive_timestamp": WORLD_TIME, "auto_archive_duration": 1440, "locked": false, "create_timestamp": WORLD_TIME},
    }]);
    d
}

/// Copies the fields of `extra` (an object) into `d`.
fn merge_json(d: &mut Value, extra: Value) {
    if let Value::Object(extra) = extra {
        merge(d, &extra);
    }
}

/// The guild's roles: `@everyone` and one member role.
fn roles(world: &World) -> Value {
    let role = |id: &str, name: &str, color: u32, position: u32| {
        json!({
            "id": id, "name": name, "color": color,
            "colors": {"primary_color": color, "secondary_color": null, "tertiary_color": null},
            "hoist": position > 0, "icon": null, "unicode_emoji": null, "position": position,
            "permissions": "2248473465835073", "managed": false, "mentionable": position > 0, "flags": 0,
        })
    };
    json!([
        role(world.guild_id, "@everyone", 0, 0),
        role(world.role_id, "members", 3_447_003, 1)
    ])
}

/// The named dispatch presets of `POST /_sim/dispatch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// MESSAGE_CREATE in `#general`, with one attachment.
    GuildMessage,
    /// MESSAGE_CREATE in the DM channel.
    DmMessage,
    /// MESSAGE_CREATE in the thread.
    ThreadMessage,
    /// MESSAGE_CREATE in `#general` mentioning the bot.
    GuildMention,
    /// MESSAGE_REACTION_ADD in `#general`.
    ReactionAdd,
    /// MESSAGE_REACTION_REMOVE in `#general`.
    ReactionRemove,
    /// MESSAGE_REACTION_ADD in the DM channel.
    DmReactionAdd,
    /// MESSAGE_REACTION_REMOVE in the DM channel.
    DmReactionRemove,
    /// MESSAGE_REACTION_ADD in the thread.
    ThreadReactionAdd,
    /// TYPING_START in `#general`.
    TypingStart,
}

/// What a preset needs besides the world.
pub struct PresetContext<'a> {
    /// Ids.
    pub world: &'a World,
    /// Fresh ids for messages and attachments.
    pub snowflakes: &'a mut Snowflakes,
    /// `http://127.0.0.1:PORT`, for attachment URLs that stay on this machine.
    pub base_http: &'a str,
    /// The latest message per channel (reactions point at it).
    pub last_message: &'a std::collections::HashMap<String, String>,
}

impl Preset {
    /// Parses a preset name such as `guild_message`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "guild_message" => Self::GuildMessage,
            "dm_message" => Self::DmMessage,
            "thread_message" => Self::ThreadMessage,
            "guild_mention" => Self::GuildMention,
            "reaction_add" => Self::ReactionAdd,
            "reaction_remove" => Self::ReactionRemove,
            "dm_reaction_add" => Self::DmReactionAdd,
            "dm_reaction_remove" => Self::DmReactionRemove,
            "thread_reaction_add" => Self::ThreadReactionAdd,
            "typing_start" => Self::TypingStart,
            _ => return None,
        })
    }

    /// The dispatch event name.
    pub fn event(self) -> &'static str {
        match self {
            Self::GuildMessage | Self::DmMessage | Self::ThreadMessage | Self::GuildMention => {
                "MESSAGE_CREATE"
            }
            Self::ReactionAdd | Self::DmReactionAdd | Self::ThreadReactionAdd => {
                "MESSAGE_REACTION_ADD"
            }
            Self::ReactionRemove | Self::DmReactionRemove => "MESSAGE_REACTION_REMOVE",
            Self::TypingStart => "TYPING_START",
        }
    }

    /// The intent a session needs to receive this event.
    pub fn required_intent(self) -> (u64, &'static str) {
        match self {
            Self::GuildMessage | Self::ThreadMessage | Self::GuildMention => {
                (INTENT_GUILD_MESSAGES, "GUILD_MESSAGES")
            }
            Self::DmMessage => (INTENT_DIRECT_MESSAGES, "DIRECT_MESSAGES"),
            Self::ReactionAdd | Self::ReactionRemove | Self::ThreadReactionAdd => {
                (INTENT_GUILD_MESSAGE_REACTIONS, "GUILD_MESSAGE_REACTIONS")
            }
            Self::DmReactionAdd | Self::DmReactionRemove => {
                (INTENT_DIRECT_MESSAGE_REACTIONS, "DIRECT_MESSAGE_REACTIONS")
            }
            Self::TypingStart => (INTENT_GUILD_MESSAGE_TYPING, "GUILD_MESSAGE_TYPING"),
        }
    }

    /// Builds the event's `d`.
    pub fn build(self, ctx: &mut PresetContext<'_>) -> Value {
        let w = ctx.world;
        match self {
            Self::GuildMessage => {
                let mut d = message(ctx, w.text_channel_id, 0, "hello from gateway-sim");
                let attachment_id = ctx.snowflakes.next_id();
                let url = format!(
                    "{}/attachments/{}/{attachment_id}/notes.txt",
                    ctx.base_http, w.text_channel_id
                );
                d["attachments"] = json!([{
                    "id": attachment_id,
                    "filename": "notes.txt",
                    "size": 12,
                    "url": url,
                    "proxy_url": url,
                    "content_type": "text/plain; charset=utf-8",
                    "content_scan_version": 0,
                }]);
                d
            }
            Self::DmMessage => message(ctx, w.dm_channel_id, 1, "hello in a DM"),
            Self::ThreadMessage => {
                let mut d = message(ctx, w.thread_id, 11, "hello in a thread");
                d["position"] = json!(0);
                d
            }
            Self::GuildMention => {
                let content = format!("<@{}> can you help?", w.bot_id);
                let mut d = message(ctx, w.text_channel_id, 0, &content);
                let mut mentioned = w.bot_user();
                mentioned["member"] = w.bot_member(false);
                d["mentions"] = json!([mentioned]);
                d
            }
            Self::ReactionAdd => reaction(ctx, w.text_channel_id, true, true),
            Self::ReactionRemove => reaction(ctx, w.text_channel_id, true, false),
            Self::DmReactionAdd => reaction(ctx, w.dm_channel_id, false, true),
            Self::DmReactionRemove => reaction(ctx, w.dm_channel_id, false, false),
            Self::ThreadReactionAdd => reaction(ctx, w.thread_id, true, true),
            Self::TypingStart => json!({
                "user_id": w.user_id,
                "timestamp": now_ms() / 1000,
                "member": w.human_member(true),
                "channel_id": w.text_channel_id,
                "guild_id": w.guild_id,
            }),
        }
    }
}

/// A MESSAGE_CREATE `d` from the human user; guild fields unless `channel_type` is 1.
fn message(
    ctx: &mut PresetContext<'_>,
    channel_id: &str,
    channel_type: u8,
    content: &str,
) -> Value {
    let w = ctx.world;
    let id = ctx.snowflakes.next_id();
    let mut d = json!({
        "type": 0,
        "tts": false,
        "timestamp": iso_timestamp(now_ms()),
        "pinned": false,
        "nonce": format!("{}", now_ms() * 1000),
        "mentions": [],
        "mention_roles": [],
        "mention_everyone": false,
        "id": id,
        "flags": 0,
        "embeds": [],
        "edited_timestamp": null,
        "content": content,
        "components": [],
        "channel_type": channel_type,
        "channel_id": channel_id,
        "author": w.human_user(),
        "attachments": [],
    });
    if channel_type != 1 {
        d["guild_id"] = json!(w.guild_id);
        d["member"] = w.human_member(false);
    }
    d
}

/// A reaction `d` by the human user on the latest message in `channel_id`.
fn reaction(ctx: &mut PresetContext<'_>, channel_id: &str, guild: bool, add: bool) -> Value {
    let w = ctx.world;
    let message_id = match ctx.last_message.get(channel_id) {
        Some(id) => id.clone(),
        None => ctx.snowflakes.next_id(),
    };
    let mut d = json!({
        "user_id": w.user_id,
        "type": 0,
        "message_id": message_id,
        "emoji": {"id": null, "name": "👍"},
        "channel_id": channel_id,
        "burst": false,
    });
    if add {
        d["message_author_id"] = json!(w.bot_id);
        d["burst_colors"] = json!([]);
    }
    if guild {
        d["guild_id"] = json!(w.guild_id);
        if add {
            d["member"] = w.human_member(true);
        }
    }
    d
}

/// Shallow-merges `overrides` into `d` (both objects; otherwise `d` is kept).
pub fn merge(d: &mut Value, overrides: &Map<String, Value>) {
    if let Value::Object(obj) = d {
        for (k, v) in overrides {
            obj.insert(k.clone(), v.clone());
        }
    }
}

/// Strips what a bot without MESSAGE_CONTENT does not see in a guild message, unless the
/// message mentions the bot.
pub fn strip_content(d: &mut Value, bot_id: &str) {
    let in_guild = d.get("guild_id").is_some_and(|g| !g.is_null());
    let mentions_bot = d
        .get("mentions")
        .and_then(Value::as_array)
        .is_some_and(|m| {
            m.iter()
                .any(|u| u.get("id").and_then(Value::as_str) == Some(bot_id))
        });
    if in_guild && !mentions_bot {
        d["content"] = json!("");
        d["embeds"] = json!([]);
        d["attachments"] = json!([]);
        d["components"] = json!([]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn build(preset: Preset) -> Value {
        let world = World::default();
        let mut ids = Snowflakes::default();
        let last = HashMap::new();
        let mut ctx = PresetContext {
            world: &world,
            snowflakes: &mut ids,
            base_http: "http://127.0.0.1:1",
            last_message: &last,
        };
        preset.build(&mut ctx)
    }

    #[test]
    fn guild_message_has_guild_fields_and_an_attachment() {
        let d = build(Preset::GuildMessage);
        assert_eq!(d["channel_type"], 0);
        assert!(d["guild_id"].is_string());
        assert!(d["member"]["roles"].is_array());
        assert!(d["member"].get("user").is_none());
        assert_eq!(d["attachments"].as_array().unwrap().len(), 1);
        assert_eq!(d["author"]["discriminator"], "0");
    }

    #[test]
    fn dm_message_has_no_guild_fields() {
        let d = build(Preset::DmMessage);
        assert_eq!(d["channel_type"], 1);
        assert!(d.get("guild_id").is_none() && d.get("member").is_none());
    }

    #[test]
    fn reactions_follow_discord_shapes() {
        let add = build(Preset::ReactionAdd);
        assert!(add["member"]["user"]["id"].is_string());
        assert!(add.get("user").is_none());
        let remove = build(Preset::ReactionRemove);
        assert!(remove.get("member").is_none() && remove.get("user").is_none());
        let dm = build(Preset::DmReactionAdd);
        assert!(dm.get("guild_id").is_none() && dm.get("member").is_none());
    }

    #[test]
    fn content_is_stripped_unless_the_bot_is_mentioned() {
        let world = World::default();
        let mut plain = build(Preset::GuildMessage);
        strip_content(&mut plain, world.bot_id);
        assert_eq!(plain["content"], "");
        let mut mention = build(Preset::GuildMention);
        strip_content(&mut mention, world.bot_id);
        assert_ne!(mention["content"], "");
        let mut dm = build(Preset::DmMessage);
        strip_content(&mut dm, world.bot_id);
        assert_ne!(dm["content"], "");
    }
}
