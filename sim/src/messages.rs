//! Discord REST for talking back: `POST /api/v10/channels/{id}/messages` and
//! `PUT`/`DELETE /api/v10/channels/{id}/messages/{mid}/reactions/{emoji}/@me`.
//!
//! Each answer carries Discord's rate-limit headers for its bucket (`X-RateLimit-Bucket`,
//! `-Limit`, `-Remaining`, `-Reset`, `-Reset-After`). A bucket is a fixed window per channel that
//! opens with its first request (messages: 5 per 5 s by default, reactions: 1 per 250 ms, both
//! configurable through `/_sim/config`); past it the answer is a real `429` with `retry_after`
//! and `X-RateLimit-Scope: user`. A global limit per token (50/s) answers `429` with scope
//! `global`. Every request is recorded, with its answer, in the log at `GET /_sim/rest`.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::{Request, Response};
use crate::ids::{iso_timestamp, now_ms};
use crate::log;
use crate::rest::unauthorized;
use crate::state::{mask_token, Shared, Sim};

/// Most requests kept in the log.
const LOG_LIMIT: usize = 10_000;
/// Discord's limit for `content`, in code points.
const MAX_CONTENT: usize = 2000;

/// A bucket's size: `limit` requests per `window_ms`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BucketSize {
    /// Requests per window.
    pub limit: u32,
    /// Window length.
    pub window_ms: u64,
}

/// The REST side's settings.
#[derive(Clone, Debug)]
pub struct RestConfig {
    /// The create-message bucket, per channel.
    pub messages: BucketSize,
    /// The reactions bucket (PUT and DELETE share it), per channel.
    pub reactions: BucketSize,
    /// Requests per second per token, across routes.
    pub global_per_second: u32,
}

impl Default for RestConfig {
    fn default() -> Self {
        Self {
            messages: BucketSize {
                limit: 5,
                window_ms: 5000,
            },
            reactions: BucketSize {
                limit: 1,
                window_ms: 250,
            },
            global_per_second: 50,
        }
    }
}

/// What the REST side remembers: windows and the request log.
#[derive(Debug, Default)]
pub struct RestState {
    /// (bucket, channel) → (window start, requests counted).
    windows: HashMap<(&'static str, String), (u64, u32)>,
    /// token → (second start, requests counted).
    global: HashMap<String, (u64, u32)>,
    /// Every request, oldest first.
    pub log: Vec<Value>,
}

/// The routes this module serves, parsed from a path.
enum Route {
    CreateMessage {
        channel: String,
    },
    Reaction {
        channel: String,
        message: String,
        emoji: String,
    },
}

fn parse(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/api/v10/channels/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        [channel, "messages"] => Some(Route::CreateMessage {
            channel: (*channel).to_owned(),
        }),
        [channel, "messages", message, "reactions", emoji, "@me" | "%40me"] => {
            Some(Route::Reaction {
                channel: (*channel).to_owned(),
                message: (*message).to_owned(),
                emoji: percent_decode(emoji)?,
            })
        }
        _ => None,
    }
}

/// Whether this module serves `method path`.
pub fn serves(method: &str, path: &str) -> bool {
    matches!(
        (method, parse(path)),
        ("POST", Some(Route::CreateMessage { .. }))
            | ("PUT" | "DELETE", Some(Route::Reaction { .. }))
    )
}

/// Answers a create-message or reaction request.
pub fn handle(shared: &Shared, req: &Request) -> Response {
    let mut sim = shared.lock();
    let Some(route) = parse(&req.path) else {
        return Response::json(404, &json!({"message": "404: Not Found", "code": 0}));
    };
    let token = req
        .header("authorization")
        .and_then(|v| v.trim().strip_prefix("Bot "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let mut entry = json!({
        "method": req.method,
        "path": req.path,
        "at": now_ms(),
        "token": token.map(mask_token),
    });
    let response = answer(&mut sim, req, token, &route, &mut entry);
    entry["status"] = json!(response.status);
    log!("{} {} -> {}", req.method, req.path, response.status);
    let log = &mut sim.rest.log;
    if log.len() >= LOG_LIMIT {
        log.remove(0);
    }
    log.push(entry);
    response
}

fn answer(
    sim: &mut Sim,
    req: &Request,
    token: Option<&str>,
    route: &Route,
    entry: &mut Value,
) -> Response {
    let Some(token) = token.filter(|t| !sim.config.reject_tokens.contains(*t)) else {
        return unauthorized();
    };
    let now = now_ms();
    let config = sim.config.rest.clone();
    // The global limit first, as Discord does.
    let (start, used) = sim.rest.global.entry(token.to_owned()).or_insert((now, 0));
    if now >= *start + 1000 {
        (*start, *used) = (now, 0);
    }
    if *used >= config.global_per_second {
        let retry = (*start + 1000 - now) as f64 / 1000.0;
        entry["scope"] = json!("global");
        return too_many(retry, true)
            .with_header("x-ratelimit-global", "true")
            .with_header("x-ratelimit-scope", "global");
    }
    *used += 1;
    let (bucket, size, channel) = match route {
        Route::CreateMessage { channel } => ("sim-messages", config.messages, channel),
        Route::Reaction { channel, .. } => ("sim-reactions", config.reactions, channel),
    };
    let (start, used) = sim
        .rest
        .windows
        .entry((bucket, channel.clone()))
        .or_insert((now, 0));
    if now >= *start + size.window_ms {
        (*start, *used) = (now, 0);
    }
    let reset_at = *start + size.window_ms;
    let reset_after = (reset_at - now) as f64 / 1000.0;
    if *used >= size.limit {
        entry["scope"] = json!("user");
        return with_bucket(
            too_many(reset_after, false),
            bucket,
            size.limit,
            0,
            reset_at,
            reset_after,
        )
        .with_header("x-ratelimit-scope", "user");
    }
    *used += 1;
    let remaining = size.limit - *used;
    let response = match route {
        Route::CreateMessage { channel } => create_message(sim, channel, &req.body, entry),
        Route::Reaction {
            channel,
            message,
            emoji,
        } => {
            entry["channelId"] = json!(channel);
            entry["messageId"] = json!(message);
            entry["emoji"] = json!(emoji);
            if emoji.is_empty() {
                Response::json(400, &json!({"message": "Unknown Emoji", "code": 10014}))
            } else {
                Response::text(204, "")
            }
        }
    };
    with_bucket(
        response,
        bucket,
        size.limit,
        remaining,
        reset_at,
        reset_after,
    )
}

fn with_bucket(
    response: Response,
    bucket: &str,
    limit: u32,
    remaining: u32,
    reset_at: u64,
    reset_after: f64,
) -> Response {
    response
        .with_header("x-ratelimit-bucket", bucket)
        .with_header("x-ratelimit-limit", limit.to_string())
        .with_header("x-ratelimit-remaining", remaining.to_string())
        .with_header(
            "x-ratelimit-reset",
            format!("{:.3}", reset_at as f64 / 1000.0),
        )
        .with_header("x-ratelimit-reset-after", format!("{reset_after:.3}"))
}

fn too_many(retry_after: f64, global: bool) -> Response {
    Response::json(
        429,
        &json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": global}),
    )
    .with_header("retry-after", format!("{}", retry_after.ceil() as u64))
}

#[derive(Deserialize)]
struct CreateMessage {
    content: Option<String>,
    message_reference: Option<Value>,
    allowed_mentions: Option<Value>,
}

fn create_message(sim: &mut Sim, channel: &str, body: &[u8], entry: &mut Value) -> Response {
    entry["channelId"] = json!(channel);
    let Ok(body) = serde_json::from_slice::<CreateMessage>(body) else {
        return Response::json(400, &json!({"message": "400: Bad Request", "code": 50109}));
    };
    let content = body.content.unwrap_or_default();
    entry["content"] = json!(content);
    entry["messageReference"] = body.message_reference.clone().unwrap_or(Value::Null);
    entry["allowedMentions"] = body.allowed_mentions.clone().unwrap_or(Value::Null);
    if content.trim().is_empty() {
        return Response::json(
            400,
            &json!({"message": "Cannot send an empty message", "code": 50006}),
        );
    }
    if content.chars().count() > MAX_CONTENT {
        return Response::json(
            400,
            &json!({"message": "Invalid Form Body", "code": 50035, "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}}),
        );
    }
    let id = sim.snowflakes.next_id();
    entry["messageId"] = json!(id);
    sim.last_message.insert(channel.to_owned(), id.clone());
    Response::json(
        200,
        &json!({
            "id": id,
            "type": if body.message_reference.is_some() { 19 } else { 0 },
            "channel_id": channel,
            "content": content,
            "author": sim.world.bot_user(),
            "timestamp": iso_timestamp(now_ms()),
            "edited_timestamp": null,
            "tts": false,
            "mention_everyone": false,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": false,
            "message_reference": body.message_reference,
        }),
    )
}

/// `%XX` decoding of one path segment; `None` for bad escapes or bytes that are not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_emoji_segments() {
        assert_eq!(percent_decode("%F0%9F%91%8D").as_deref(), Some("👍"));
        assert_eq!(percent_decode("party%3A123").as_deref(), Some("party:123"));
        assert_eq!(percent_decode("%ZZ"), None);
        assert_eq!(percent_decode("%FF"), None);
    }
}
