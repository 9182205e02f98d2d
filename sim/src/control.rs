//! The control API under `/_sim/`: inject events, fault the connection, configure, inspect.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::compression::Split;
use crate::http::{Request, Response};
use crate::log;
use crate::presets::{self, Preset, PresetContext, INTENT_MESSAGE_CONTENT};
use crate::protocol;
use crate::sharding;
use crate::state::{ConnId, Fault, Outbound, Shared, Sim};

/// Most events one `/_sim/dispatch` call may send.
const MAX_COUNT: u32 = 10_000;
/// Largest `/_sim/oversize` payload.
const MAX_OVERSIZE: usize = 256 * 1024 * 1024;
/// Most guilds the simulated world may have.
const MAX_GUILDS: u64 = 100_000;
/// Most shards the simulator accepts in its settings.
const MAX_SHARDS: u64 = 4096;

/// Handles a request whose path starts with `/_sim/`.
pub fn handle(shared: &Shared, req: &Request) -> Response {
    let route = req.path.trim_start_matches("/_sim/").trim_end_matches('/');
    let mut sim = shared.lock();
    let result = match (req.method.as_str(), route) {
        ("GET", "state") => Ok(Response::json(200, &sim.snapshot())),
        ("GET", "config") => Ok(Response::json(200, &config_json(&sim))),
        ("GET", "rest") => Ok(Response::json(200, &json!({"requests": sim.rest.log}))),
        ("GET", "trace") => Ok(Response::json(200, &sim.trace.to_json())),
        ("POST", "reset") => {
            sim.reset();
            Ok(ok())
        }
        ("POST", "dispatch") => body(req).and_then(|b| dispatch(&mut sim, b)),
        ("POST", "oversize") => body(req).and_then(|b| oversize(&mut sim, b)),
        ("POST", "reconnect") => body(req).and_then(|b| reconnect(&mut sim, b)),
        ("POST", "heartbeat-request") => body(req).and_then(|b| heartbeat_request(&mut sim, b)),
        ("POST", "invalid-session") => body(req).and_then(|b| invalid_session(&mut sim, b)),
        ("POST", "close") => body(req).and_then(|b| close(&mut sim, b)),
        ("POST", "drop") => body(req).and_then(|b| drop_conns(&mut sim, b)),
        ("POST", "acks") => body(req).and_then(|b| acks(&mut sim, b)),
        ("POST", "raw") => body(req).and_then(|b| raw(&mut sim, b)),
        ("POST", "config") => body(req).and_then(|b| configure(&mut sim, b)),
        ("POST", "sharding-required") => body(req).and_then(|b| sharding_required(&mut sim, b)),
        (_, "state" | "config" | "rest" | "trace" | "reset" | "dispatch" | "oversize")
        | (_, "reconnect")
        | (_, "sharding-required")
        | (_, "heartbeat-request" | "invalid-session" | "close" | "drop" | "acks" | "raw") => {
            Err(error(405, "method not allowed"))
        }
        _ => Err(error(404, "unknown control route")),
    };
    result.unwrap_or_else(|e| e)
}

type Handled = Result<Response, Response>;

fn ok() -> Response {
    Response::json(200, &json!({"ok": true}))
}

fn error(status: u16, message: impl Into<String>) -> Response {
    Response::json(status, &json!({"error": message.into()}))
}

/// Parses the JSON body (an empty body counts as `{}`).
fn body<T: DeserializeOwned>(req: &Request) -> Result<T, Response> {
    let bytes: &[u8] = if req.body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &req.body
    };
    serde_json::from_slice(bytes).map_err(|e| error(400, format!("bad request body: {e}")))
}

/// Distinguishes a missing field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DispatchBody {
    token: Option<String>,
    session_id: Option<String>,
    #[serde(rename = "type")]
    event: Option<String>,
    data: Option<Value>,
    preset: Option<String>,
    overrides: Option<Map<String, Value>>,
    count: Option<u32>,
    #[serde(default)]
    ignore_intents: bool,
    guild_index: Option<u64>,
}

/// Picks the session a control call addresses, or answers 409: the one named, else the most
/// recent session (of `token`, if given) whose shard receives events of `guild`.
fn pick_session(
    sim: &Sim,
    token: Option<&str>,
    session_id: Option<String>,
    guild: Option<u64>,
) -> Result<String, Response> {
    match session_id {
        Some(id) if sim.sessions.contains_key(&id) => Ok(id),
        Some(_) => Err(error(409, "no session")),
        None => sim
            .target_session(token, guild)
            .ok_or_else(|| error(409, "no session")),
    }
}

fn dispatch(sim: &mut Sim, b: DispatchBody) -> Handled {
    let guild_index = b.guild_index.unwrap_or(0);
    if guild_index >= sim.config.guilds {
        return Err(error(
            400,
            format!("guildIndex must be below guilds ({})", sim.config.guilds),
        ));
    }
    // Build first: the guild of the event decides the session (the guild's shard).
    let mut events: Vec<(String, Value)> = Vec::new();
    let preset = match (b.event, b.preset) {
        (Some(event), None) => {
            let data = b.data.unwrap_or_else(|| json!({}));
            events.push((event, sharding::for_guild(&sim.world, &data, guild_index)));
            None
        }
        (None, Some(name)) => {
            let preset =
                Preset::parse(&name).ok_or_else(|| error(400, format!("unknown preset {name}")))?;
            for _ in 0..b.count.unwrap_or(1).min(MAX_COUNT) {
                let d = preset.build(&mut PresetContext {
                    world: &sim.world,
                    snowflakes: &mut sim.snowflakes,
                    base_http: &sim.base_http,
                    last_message: &sim.last_message,
                });
                let mut d = sharding::for_guild(&sim.world, &d, guild_index);
                if let Some(overrides) = &b.overrides {
                    presets::merge(&mut d, overrides);
                }
                events.push((preset.event().to_owned(), d));
            }
            Some(preset)
        }
        _ => return Err(error(400, "give exactly one of \"type\" and \"preset\"")),
    };
    let guild = events.first().and_then(|(_, d)| sharding::guild_of(d));
    let session_id = pick_session(sim, b.token.as_deref(), b.session_id, guild)?;
    let intents = sim.sessions.get(&session_id).map_or(0, |s| s.intents);
    let mut skipped = Value::Null;
    if let Some(preset) = preset.filter(|_| !b.ignore_intents) {
        let (needed, intent_name) = preset.required_intent();
        if intents & needed == 0 {
            skipped = json!(format!("session lacks intent {intent_name}"));
            events.clear();
        }
    }
    let mut sent = Vec::new();
    for (event, mut d) in events {
        if preset.is_some() && event == "MESSAGE_CREATE" {
            if !b.ignore_intents && intents & INTENT_MESSAGE_CONTENT == 0 {
                presets::strip_content(&mut d, sim.world.bot_id);
            }
            if let (Some(channel), Some(id)) = (d["channel_id"].as_str(), d["id"].as_str()) {
                sim.last_message.insert(channel.to_owned(), id.to_owned());
            }
        }
        let raw = d.to_string();
        sent.extend(sim.dispatch(&session_id, &event, raw).map(|e| (e, d)));
    }
    let delivered = sent.iter().all(|(e, _)| e.delivered);
    let sent: Vec<Value> = sent
        .into_iter()
        .map(|(e, data)| {
            json!({
                "seq": e.seq,
                "sessionId": e.session_id,
                "type": e.event,
                "data": data,
                "raw": &*e.raw,
                "delivered": e.delivered,
            })
        })
        .collect();
    let mut out = json!({"sent": sent, "delivered": delivered, "sessionId": session_id});
    if !skipped.is_null() {
        out["skipped"] = skipped;
    }
    Ok(Response::json(200, &out))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OversizeBody {
    token: Option<String>,
    session_id: Option<String>,
    bytes: Option<usize>,
    #[serde(rename = "type")]
    event: Option<String>,
}

fn oversize(sim: &mut Sim, b: OversizeBody) -> Handled {
    let session_id = pick_session(sim, b.token.as_deref(), b.session_id, None)?;
    let event = b.event.unwrap_or_else(|| "OVERSIZE_TEST".to_owned());
    let target = b.bytes.unwrap_or(5_000_000);
    if target > MAX_OVERSIZE {
        return Err(error(400, format!("bytes must be at most {MAX_OVERSIZE}")));
    }
    let head = r#"{"note":"gateway-sim oversize test","padding":""}"#;
    let overhead = head.len() + protocol::dispatch_frame(&event, u64::MAX, "").len();
    let raw = format!(
        r#"{{"note":"gateway-sim oversize test","padding":"{}"}}"#,
        "x".repeat(target.saturating_sub(overhead))
    );
    let e = sim
        .dispatch(&session_id, &event, raw)
        .ok_or_else(|| error(409, "no session"))?;
    Ok(Response::json(
        200,
        &json!({"sent": [{"seq": e.seq, "sessionId": e.session_id, "type": e.event, "bytes": e.raw.len(), "delivered": e.delivered}], "delivered": e.delivered}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TargetBody {
    token: Option<String>,
    connection_id: Option<ConnId>,
}

/// The live connections addressed, or 409 when there are none.
fn targets(sim: &Sim, token: Option<&str>, conn: Option<ConnId>) -> Result<Vec<ConnId>, Response> {
    let ids = sim.target_conns(token, conn);
    if ids.is_empty() {
        Err(error(409, "no connection"))
    } else {
        Ok(ids)
    }
}

fn reconnect(sim: &mut Sim, b: TargetBody) -> Handled {
    let ids = targets(sim, b.token.as_deref(), b.connection_id)?;
    for &id in &ids {
        log!("conn {id}: op 7 reconnect");
        sim.send_payload(id, protocol::reconnect());
    }
    Ok(Response::json(200, &json!({"connections": ids})))
}

fn heartbeat_request(sim: &mut Sim, b: TargetBody) -> Handled {
    let ids = targets(sim, b.token.as_deref(), b.connection_id)?;
    for &id in &ids {
        let seq = sim.conns[&id]
            .session_id
            .as_ref()
            .and_then(|s| sim.sessions.get(s))
            .map(|s| s.seq);
        sim.send_payload(id, protocol::heartbeat_request(seq));
    }
    Ok(Response::json(200, &json!({"connections": ids})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InvalidSessionBody {
    token: Option<String>,
    connection_id: Option<ConnId>,
    resumable: bool,
}

fn invalid_session(sim: &mut Sim, b: InvalidSessionBody) -> Handled {
    let ids = targets(sim, b.token.as_deref(), b.connection_id)?;
    let mut discarded = Vec::new();
    for &id in &ids {
        log!("conn {id}: op 9 resumable={}", b.resumable);
        sim.send_payload(id, protocol::invalid_session(b.resumable));
        if let Some(session_id) = sim.conns[&id].session_id.clone() {
            if b.resumable {
                sim.detach_session(&session_id, id);
            } else {
                sim.discard_session(&session_id, "op 9 d=false");
                discarded.push(session_id);
            }
        }
    }
    Ok(Response::json(
        200,
        &json!({"connections": ids, "discarded": discarded}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CloseBody {
    token: Option<String>,
    connection_id: Option<ConnId>,
    code: u16,
    reason: Option<String>,
}

fn close(sim: &mut Sim, b: CloseBody) -> Handled {
    if !(1000..5000).contains(&b.code) || matches!(b.code, 1004..=1006 | 1015) {
        return Err(error(400, format!("close code {} cannot be sent", b.code)));
    }
    let ids = targets(sim, b.token.as_deref(), b.connection_id)?;
    let reason = b.reason.unwrap_or_default();
    for &id in &ids {
        sim.close_conn(id, b.code, &reason);
    }
    Ok(Response::json(200, &json!({"connections": ids})))
}

fn drop_conns(sim: &mut Sim, b: TargetBody) -> Handled {
    let ids = targets(sim, b.token.as_deref(), b.connection_id)?;
    for &id in &ids {
        sim.abort_conn(id);
    }
    Ok(Response::json(200, &json!({"connections": ids})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AcksBody {
    paused: bool,
    token: Option<String>,
}

fn acks(sim: &mut Sim, b: AcksBody) -> Handled {
    match b.token {
        Some(token) if b.paused => {
            sim.config.acks_paused_tokens.insert(token);
        }
        Some(token) => {
            sim.config.acks_paused_tokens.remove(&token);
        }
        None => {
            sim.config.acks_paused = b.paused;
            if !b.paused {
                sim.config.acks_paused_tokens.clear();
            }
        }
    }
    log!("heartbeat ACKs paused={}", b.paused);
    Ok(Response::json(
        200,
        &json!({"paused": sim.config.acks_paused, "pausedTokens": sim.config.acks_paused_tokens.len()}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawBody {
    token: Option<String>,
    connection_id: Option<ConnId>,
    text: Option<String>,
    binary_base64: Option<String>,
    #[serde(default)]
    bypass_compression: bool,
}

fn raw(sim: &mut Sim, b: RawBody) -> Handled {
    let ids = targets(sim, b.token.as_deref(), b.connection_id)?;
    for &id in &ids {
        let conn = &sim.conns[&id];
        match (&b.text, &b.binary_base64) {
            (Some(text), None) if b.bypass_compression => {
                conn.send(Outbound::Frame(Message::text(text.clone())));
            }
            (Some(text), None) => conn.send(Outbound::Payload(text.as_str().into())),
            (None, Some(encoded)) => {
                let bytes = data_encoding::BASE64
                    .decode(encoded.as_bytes())
                    .map_err(|e| error(400, format!("bad binaryBase64: {e}")))?;
                conn.send(Outbound::Frame(Message::binary(bytes)));
            }
            _ => {
                return Err(error(
                    400,
                    "give exactly one of \"text\" and \"binaryBase64\"",
                ))
            }
        }
        log!("conn {id}: raw frame sent");
    }
    Ok(Response::json(200, &json!({"connections": ids})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultSpec {
    status: u16,
    retry_after_secs: Option<f64>,
    #[serde(default)]
    global: bool,
    body: Option<Value>,
    count: Option<u32>,
}

fn faults(specs: Vec<FaultSpec>) -> Result<std::collections::VecDeque<Fault>, Response> {
    let mut queue = std::collections::VecDeque::new();
    for spec in specs {
        if !(100..600).contains(&spec.status) {
            return Err(error(400, format!("bad fault status {}", spec.status)));
        }
        for _ in 0..spec.count.unwrap_or(1).min(MAX_COUNT) {
            queue.push_back(Fault {
                status: spec.status,
                retry_after_secs: spec.retry_after_secs,
                global: spec.global,
                body: spec.body.clone(),
            });
        }
    }
    Ok(queue)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LimitPatch {
    token: Option<String>,
    total: Option<u64>,
    remaining: Option<u64>,
    reset_after_ms: Option<u64>,
    max_concurrency: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigPatch {
    heartbeat_interval_ms: Option<u64>,
    reject_tokens: Option<Vec<String>>,
    privileged_intents_allowed: Option<Map<String, Value>>,
    session_start_limit: Option<LimitPatch>,
    gateway_bot_faults: Option<Vec<FaultSpec>>,
    upgrade_faults: Option<Vec<FaultSpec>>,
    refuse_resume_host: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    zlib_split: Option<Option<Split>>,
    invalid_session_delay_ms: Option<u64>,
    shards: Option<u64>,
    guilds: Option<u64>,
    required_shards: Option<u64>,
    #[serde(default, deserialize_with = "double_option")]
    shard_multiple: Option<Option<u64>>,
    #[serde(default, deserialize_with = "double_option")]
    enforce_identify_concurrency: Option<Option<bool>>,
    identify_window_ms: Option<u64>,
    rest_messages_bucket: Option<crate::messages::BucketSize>,
    rest_reactions_bucket: Option<crate::messages::BucketSize>,
    rest_global_per_second: Option<u32>,
}

/// `value` when it is within `1..=max`, else a 400 naming `field`.
fn in_range(field: &str, value: Option<u64>, max: u64) -> Result<Option<u64>, Response> {
    match value {
        Some(v) if v == 0 || v > max => {
            Err(error(400, format!("{field} must be between 1 and {max}")))
        }
        v => Ok(v),
    }
}

fn configure(sim: &mut Sim, patch: ConfigPatch) -> Handled {
    // Validate everything before changing anything.
    let gateway_bot_faults = patch.gateway_bot_faults.map(faults).transpose()?;
    let upgrade_faults = patch.upgrade_faults.map(faults).transpose()?;
    let mut privileged = Vec::new();
    for (token, bits) in patch.privileged_intents_allowed.unwrap_or_default() {
        let bits = match bits {
            Value::Null => None,
            v => Some(
                v.as_u64()
                    .ok_or_else(|| error(400, "privilegedIntentsAllowed values are intent bits"))?,
            ),
        };
        privileged.push((token, bits));
    }
    if let Some(Some(split)) = &patch.zlib_split {
        if split.every == Some(0) {
            return Err(error(400, "zlibSplit.every must be at least 1"));
        }
    }
    for size in [&patch.rest_messages_bucket, &patch.rest_reactions_bucket]
        .into_iter()
        .flatten()
    {
        if size.limit == 0 || size.window_ms == 0 {
            return Err(error(
                400,
                "a REST bucket needs limit and windowMs of at least 1",
            ));
        }
    }
    if patch.rest_global_per_second == Some(0) {
        return Err(error(400, "restGlobalPerSecond must be at least 1"));
    }
    let shards = in_range("shards", patch.shards, MAX_SHARDS)?;
    let guilds = in_range("guilds", patch.guilds, MAX_GUILDS)?;
    let required_shards = in_range("requiredShards", patch.required_shards, MAX_SHARDS)?;
    if let Some(Some(m)) = patch.shard_multiple {
        in_range("shardMultiple", Some(m), MAX_SHARDS)?;
    }
    if let Some(limit) = &patch.session_start_limit {
        in_range(
            "sessionStartLimit.maxConcurrency",
            limit.max_concurrency,
            MAX_SHARDS,
        )?;
    }
    let c = &mut sim.config;
    if let Some(size) = patch.rest_messages_bucket {
        c.rest.messages = size;
    }
    if let Some(size) = patch.rest_reactions_bucket {
        c.rest.reactions = size;
    }
    if let Some(n) = patch.rest_global_per_second {
        c.rest.global_per_second = n;
    }
    if let Some(ms) = patch.heartbeat_interval_ms {
        c.heartbeat_interval_ms = ms;
    }
    if let Some(tokens) = patch.reject_tokens {
        c.reject_tokens = tokens.into_iter().collect();
    }
    for (token, bits) in privileged {
        match bits {
            Some(bits) => c.privileged_allowed.insert(token, bits),
            None => c.privileged_allowed.remove(&token),
        };
    }
    if let Some(faults) = gateway_bot_faults {
        c.gateway_bot_faults = faults;
    }
    if let Some(faults) = upgrade_faults {
        c.upgrade_faults = faults;
    }
    if let Some(refuse) = patch.refuse_resume_host {
        c.refuse_resume_host = refuse;
    }
    if let Some(split) = patch.zlib_split {
        c.zlib_split = split;
    }
    if let Some(ms) = patch.invalid_session_delay_ms {
        c.invalid_session_delay = std::time::Duration::from_millis(ms);
    }
    if let Some(n) = shards {
        c.shards = n;
    }
    if let Some(n) = guilds {
        c.guilds = n;
    }
    if let Some(n) = required_shards {
        c.required_shards = n;
    }
    if let Some(m) = patch.shard_multiple {
        c.shard_multiple = m;
    }
    if let Some(enforce) = patch.enforce_identify_concurrency {
        c.enforce_identify_concurrency = enforce;
    }
    if let Some(ms) = patch.identify_window_ms {
        c.identify_window = std::time::Duration::from_millis(ms);
    }
    if let Some(limit) = patch.session_start_limit {
        match limit.token {
            Some(token) => {
                let budget = sim.budget(&token);
                if let Some(v) = limit.total {
                    budget.total = v;
                }
                if let Some(v) = limit.remaining {
                    budget.remaining = v;
                }
                if let Some(v) = limit.reset_after_ms {
                    budget.reset_after_ms = v;
                    budget.reset_at_ms = crate::ids::now_ms() + v;
                }
                if let Some(v) = limit.max_concurrency {
                    budget.max_concurrency = v;
                }
            }
            None => {
                let t = &mut sim.config.limit;
                if let Some(v) = limit.total {
                    t.total = v;
                    t.remaining = limit.remaining.unwrap_or(v);
                }
                if let Some(v) = limit.remaining {
                    t.remaining = v;
                }
                if let Some(v) = limit.reset_after_ms {
                    t.reset_after_ms = v;
                }
                if let Some(v) = limit.max_concurrency {
                    t.max_concurrency = v;
                }
                sim.budgets.clear();
            }
        }
    }
    log!("config updated");
    Ok(Response::json(200, &config_json(sim)))
}

fn config_json(sim: &Sim) -> Value {
    let c = &sim.config;
    let fault = |f: &Fault| json!({"status": f.status, "retryAfterSecs": f.retry_after_secs, "global": f.global});
    json!({
        "heartbeatIntervalMs": c.heartbeat_interval_ms,
        "rejectTokens": c.reject_tokens.iter().map(|t| crate::state::mask_token(t)).collect::<Vec<_>>(),
        "privilegedIntentsAllowed": c.privileged_allowed.iter().map(|(t, b)| (if t == "*" { t.clone() } else { crate::state::mask_token(t) }, json!(b))).collect::<Map<_, _>>(),
        "sessionStartLimit": {
            "total": c.limit.total,
            "remaining": c.limit.remaining,
            "resetAfterMs": c.limit.reset_after_ms,
            "maxConcurrency": c.limit.max_concurrency,
        },
        "gatewayBotFaults": c.gateway_bot_faults.iter().map(fault).collect::<Vec<_>>(),
        "upgradeFaults": c.upgrade_faults.iter().map(fault).collect::<Vec<_>>(),
        "refuseResumeHost": c.refuse_resume_host,
        "zlibSplit": c.zlib_split,
        "acksPaused": c.acks_paused,
        "invalidSessionDelayMs": c.invalid_session_delay.as_millis() as u64,
        "shards": c.shards,
        "guilds": c.guilds,
        "requiredShards": c.required_shards,
        "shardMultiple": c.shard_multiple,
        "enforceIdentifyConcurrency": c.identify_concurrency_enforced(),
        "identifyWindowMs": c.identify_window.as_millis() as u64,
        "restMessagesBucket": {"limit": c.rest.messages.limit, "windowMs": c.rest.messages.window_ms},
        "restReactionsBucket": {"limit": c.rest.reactions.limit, "windowMs": c.rest.reactions.window_ms},
        "restGlobalPerSecond": c.rest.global_per_second,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ShardingRequiredBody {
    token: Option<String>,
    shards: u64,
}

/// The bot outgrew its shards: Identify with fewer than `shards` now closes with 4011, the
/// recommended count becomes at least `shards`, and every open session with fewer shards is
/// closed with 4011 (and cannot be resumed).
fn sharding_required(sim: &mut Sim, b: ShardingRequiredBody) -> Handled {
    let shards = in_range("shards", Some(b.shards), MAX_SHARDS)?.unwrap_or(1);
    sim.config.required_shards = shards;
    sim.config.shards = sim.config.shards.max(shards);
    let closing: Vec<(ConnId, String)> = sim
        .sessions
        .values()
        .filter(|s| s.shard.count < shards)
        .filter(|s| b.token.as_deref().is_none_or(|t| s.token == t))
        .filter_map(|s| s.conn.map(|c| (c, s.id.clone())))
        .filter(|(c, _)| sim.conns.get(c).is_some_and(|conn| conn.live()))
        .collect();
    let mut ids = Vec::new();
    for (conn, session_id) in closing {
        sim.close_conn(conn, 4011, "Sharding required.");
        sim.discard_session(&session_id, "sharding required");
        ids.push(conn);
    }
    log!("sharding required: at least {shards} shards");
    Ok(Response::json(
        200,
        &json!({"connections": ids, "shards": sim.config.shards}),
    ))
}
