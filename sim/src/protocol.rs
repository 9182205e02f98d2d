//! The Gateway v10 protocol as the server side speaks it: payload framing and the handling of
//! everything a client sends (heartbeat, Identify, Resume, limits and close codes).

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::ids::now_ms;
use crate::log;
use crate::presets;
use crate::sharding::{self, Shard};
use crate::state::{mask_token, ConnId, Outbound, Sim, PRIVILEGED_INTENTS};

/// Largest client payload Discord accepts, in bytes.
pub const MAX_CLIENT_PAYLOAD: usize = 4096;
/// Client payloads allowed per [`RATE_WINDOW`].
pub const RATE_LIMIT: usize = 120;
/// The rate limit window.
pub const RATE_WINDOW: Duration = Duration::from_secs(60);
/// Intent bits Discord defines (0..=25); anything higher is an invalid intent.
const KNOWN_INTENTS: u64 = (1 << 26) - 1;

/// Gateway opcodes.
pub mod op {
    /// Dispatch.
    pub const DISPATCH: u64 = 0;
    /// Heartbeat.
    pub const HEARTBEAT: u64 = 1;
    /// Identify.
    pub const IDENTIFY: u64 = 2;
    /// Presence Update.
    pub const PRESENCE_UPDATE: u64 = 3;
    /// Voice State Update.
    pub const VOICE_STATE_UPDATE: u64 = 4;
    /// Resume.
    pub const RESUME: u64 = 6;
    /// Reconnect.
    pub const RECONNECT: u64 = 7;
    /// Request Guild Members.
    pub const REQUEST_GUILD_MEMBERS: u64 = 8;
    /// Invalid Session.
    pub const INVALID_SESSION: u64 = 9;
    /// Hello.
    pub const HELLO: u64 = 10;
    /// Heartbeat ACK.
    pub const HEARTBEAT_ACK: u64 = 11;
    /// Request Soundboard Sounds.
    pub const REQUEST_SOUNDBOARD_SOUNDS: u64 = 31;
}

/// A payload in Discord's field order: `{"t":..,"s":..,"op":..,"d":..}` with `d` spliced raw.
pub fn frame(op: u64, event: Option<&str>, seq: Option<u64>, raw_d: &str) -> String {
    let t = event.map_or_else(|| "null".to_owned(), |e| Value::from(e).to_string());
    let s = seq.map_or_else(|| "null".to_owned(), |s| s.to_string());
    format!(r#"{{"t":{t},"s":{s},"op":{op},"d":{raw_d}}}"#)
}

/// An op 0 dispatch frame.
pub fn dispatch_frame(event: &str, seq: u64, raw_d: &str) -> String {
    frame(op::DISPATCH, Some(event), Some(seq), raw_d)
}

/// Op 10 Hello.
pub fn hello(heartbeat_interval_ms: u64) -> String {
    let d = json!({"heartbeat_interval": heartbeat_interval_ms, "_trace": ["[\"gateway-sim\",{\"micros\":0}]"]});
    frame(op::HELLO, None, None, &d.to_string())
}

/// Op 11 Heartbeat ACK.
pub fn heartbeat_ack() -> String {
    frame(op::HEARTBEAT_ACK, None, None, "null")
}

/// Op 7 Reconnect.
pub fn reconnect() -> String {
    frame(op::RECONNECT, None, None, "null")
}

/// Op 9 Invalid Session.
pub fn invalid_session(resumable: bool) -> String {
    frame(op::INVALID_SESSION, None, None, &resumable.to_string())
}

/// Op 1 Heartbeat request (server asks the client to heartbeat now).
pub fn heartbeat_request(seq: Option<u64>) -> String {
    let d = seq.map_or_else(|| "null".to_owned(), |s| s.to_string());
    frame(op::HEARTBEAT, None, None, &d)
}

/// Why a client payload was rejected: the close code and reason to send.
type Reject = (u16, &'static str);

const DECODE_ERROR: Reject = (4002, "Error while decoding payload.");
const NOT_AUTHENTICATED: Reject = (4003, "Not authenticated.");
const AUTH_FAILED: Reject = (4004, "Authentication failed.");
const ALREADY_AUTHENTICATED: Reject = (4005, "Already authenticated.");
const INVALID_SHARD: Reject = (4010, "Invalid shard.");
const SHARDING_REQUIRED: Reject = (4011, "Sharding required.");

/// What became of an Identify that was not refused with a close code.
enum Started {
    /// READY was sent in this new session.
    Session(String),
    /// Its concurrency bucket was taken within the window: op 9 `false`, as Discord answers.
    RateLimited,
}

impl Sim {
    /// Handles one text (or UTF-8 binary) message from the client.
    pub fn on_client_text(&mut self, id: ConnId, text: &str) {
        let Some(conn) = self.conns.get_mut(&id).filter(|c| c.live()) else {
            return;
        };
        conn.client_payloads += 1;
        let now = Instant::now();
        conn.recent.push_back(now);
        while conn
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > RATE_WINDOW)
        {
            conn.recent.pop_front();
        }
        if conn.recent.len() > RATE_LIMIT {
            log!("conn {id}: more than {RATE_LIMIT} payloads in 60 s");
            return self.close_conn(id, 4008, "You are being rate limited.");
        }
        if text.len() > MAX_CLIENT_PAYLOAD {
            log!("conn {id}: payload of {} bytes", text.len());
            return self.reject(id, DECODE_ERROR);
        }
        let Ok(Value::Object(payload)) = serde_json::from_str::<Value>(text) else {
            return self.reject(id, DECODE_ERROR);
        };
        let Some(opcode) = payload.get("op").and_then(Value::as_u64) else {
            return self.reject(id, DECODE_ERROR);
        };
        let d = payload.get("d").cloned().unwrap_or(Value::Null);
        let authenticated = conn.authenticated();
        let result = match opcode {
            op::HEARTBEAT => {
                self.on_heartbeat(id, d);
                Ok(())
            }
            op::IDENTIFY => self.on_identify(id, &d),
            op::RESUME => self.on_resume(id, &d),
            op::PRESENCE_UPDATE if authenticated => {
                self.on_presence_update(id, d);
                Ok(())
            }
            op::PRESENCE_UPDATE
            | op::VOICE_STATE_UPDATE
            | op::REQUEST_GUILD_MEMBERS
            | op::REQUEST_SOUNDBOARD_SOUNDS => {
                if authenticated {
                    log!("conn {id}: op {opcode} accepted (not simulated)");
                    Ok(())
                } else {
                    Err(NOT_AUTHENTICATED)
                }
            }
            _ => Err((4001, "Unknown opcode.")),
        };
        if let Err(reject) = result {
            self.reject(id, reject);
        }
    }

    /// Op 3: the session's presence becomes `d`.
    fn on_presence_update(&mut self, id: ConnId, d: Value) {
        let session_id = self.conns.get(&id).and_then(|c| c.session_id.clone());
        if let Some(session) = session_id.and_then(|s| self.sessions.get_mut(&s)) {
            log!("conn {id}: presence update {d}");
            session.presence = d;
            session.presence_updates += 1;
        }
    }

    /// Handles a client message that could not be read as UTF-8.
    pub fn on_client_undecodable(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.client_payloads += 1;
        }
        self.reject(id, DECODE_ERROR);
    }

    fn reject(&mut self, id: ConnId, (code, reason): Reject) {
        self.close_conn(id, code, reason);
    }

    fn on_heartbeat(&mut self, id: ConnId, d: Value) {
        let paused = {
            let Some(conn) = self.conns.get(&id) else {
                return;
            };
            self.config.acks_paused_for(conn.token.as_deref())
        };
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.heartbeats.push(d);
        if paused {
            log!("conn {id}: heartbeat (ACK paused)");
        } else {
            conn.acks_sent += 1;
            conn.send(Outbound::Payload(heartbeat_ack().into()));
        }
    }

    fn on_identify(&mut self, id: ConnId, d: &Value) -> Result<(), Reject> {
        if self.conns.get(&id).is_some_and(|c| c.authenticated()) {
            return Err(ALREADY_AUTHENTICATED);
        }
        let identify = Identify::parse(d).ok_or(DECODE_ERROR)?;
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.token = Some(identify.token.clone());
        }
        self.trace.record("identify", Some(id));
        let record_index = self.identifies.len();
        let bucket = Shard::from_identify(identify.shard)
            .bucket(self.budget(&identify.token).max_concurrency);
        self.identifies.push(json!({
            "connectionId": id,
            "token": mask_token(&identify.token),
            "intents": identify.intents,
            "shard": identify.shard,
            "bucket": bucket,
            "properties": identify.properties,
            "compress": identify.compress,
            "presence": identify.presence,
            "at": now_ms(),
            "outcome": Value::Null,
            "sessionId": Value::Null,
        }));
        let outcome = self.start_session(id, &identify);
        let record = &mut self.identifies[record_index];
        match &outcome {
            Ok(Started::Session(session_id)) => {
                record["outcome"] = json!("ready");
                record["sessionId"] = json!(session_id);
            }
            Ok(Started::RateLimited) => record["outcome"] = json!("rate_limited"),
            Err((code, _)) => record["outcome"] = json!(code),
        }
        outcome.map(|_| ())
    }

    /// Checks token, shard, concurrency, budget and intents, then creates the session and
    /// sends READY and the shard's GUILD_CREATEs.
    fn start_session(&mut self, id: ConnId, identify: &Identify) -> Result<Started, Reject> {
        let token = identify.token.as_str();
        if self.config.reject_tokens.contains(token) {
            log!("conn {id}: identify with rejected token");
            return Err(AUTH_FAILED);
        }
        let shard = self.check_shard(identify.shard)?;
        let budget = self.budget(token);
        let bucket = shard.bucket(budget.max_concurrency);
        if budget.remaining == 0 {
            self.exhaust_token(token);
            log!("conn {id}: identify budget exhausted; token now rejected");
            return Err(AUTH_FAILED);
        }
        if self.config.identify_concurrency_enforced()
            && !self.identify_buckets.try_take(
                token,
                bucket,
                Instant::now(),
                self.config.identify_window,
            )
        {
            log!("conn {id}: identify of bucket {bucket} within the window: op 9");
            self.send_invalid_session_later(id);
            return Ok(Started::RateLimited);
        }
        self.budget(token).remaining -= 1;
        if identify.intents & !KNOWN_INTENTS != 0 {
            return Err((4013, "Invalid intent(s)."));
        }
        let disallowed =
            identify.intents & PRIVILEGED_INTENTS & !self.config.privileged_allowed_for(token);
        if disallowed != 0 {
            log!("conn {id}: disallowed intents {disallowed}");
            return Err((4014, "Disallowed intent(s)."));
        }
        let session_id = self.create_session(id, token, identify.intents, shard);
        if let Some(session) = self.sessions.get_mut(&session_id) {
            session.presence = identify.presence.clone().unwrap_or(Value::Null);
        }
        log!(
            "conn {id}: identify {} intents={} shard={shard:?} -> session {session_id}",
            mask_token(token),
            identify.intents
        );
        let guilds = self.guilds_of(shard);
        let guild_ids: Vec<String> = guilds
            .iter()
            .map(|&i| sharding::guild_id(&self.world, i))
            .collect();
        let ready = presets::ready(
            &self.world,
            &session_id,
            &format!("{}/resume", self.base_ws),
            identify.shard,
            &guild_ids,
        );
        self.dispatch(&session_id, "READY", ready.to_string());
        self.trace.record("ready", Some(id));
        let guild = presets::guild_create(&self.world);
        for index in guilds {
            let d = sharding::for_guild(&self.world, &guild, index);
            self.dispatch(&session_id, "GUILD_CREATE", d.to_string());
        }
        Ok(Started::Session(session_id))
    }

    /// The shard of an Identify, or its close: 4010 for an id out of range (or a count that
    /// is not a multiple of the large-bot shard multiple), 4011 for fewer shards than required.
    fn check_shard(&self, shard: Option<[u64; 2]>) -> Result<Shard, Reject> {
        let shard = Shard::from_identify(shard);
        if shard.count == 0 || shard.id >= shard.count {
            return Err(INVALID_SHARD);
        }
        if self
            .config
            .shard_multiple
            .is_some_and(|m| !shard.count.is_multiple_of(m))
        {
            return Err(INVALID_SHARD);
        }
        if shard.count < self.config.required_shards {
            return Err(SHARDING_REQUIRED);
        }
        Ok(shard)
    }

    /// An Identify beyond the daily budget: like Discord, every active session of the token
    /// ends and the token is reset (rejected from now on).
    fn exhaust_token(&mut self, token: &str) {
        self.config.reject_tokens.insert(token.to_owned());
        let sessions: Vec<String> = self
            .sessions
            .values()
            .filter(|s| s.token == token)
            .map(|s| s.id.clone())
            .collect();
        for session_id in sessions {
            let conn = self.sessions.get(&session_id).and_then(|s| s.conn);
            if let Some(conn) = conn {
                self.close_conn(conn, AUTH_FAILED.0, AUTH_FAILED.1);
            }
            self.discard_session(&session_id, "identify budget exhausted");
        }
    }

    fn on_resume(&mut self, id: ConnId, d: &Value) -> Result<(), Reject> {
        let Some(conn) = self.conns.get(&id) else {
            return Ok(());
        };
        if conn.authenticated() {
            return Err(ALREADY_AUTHENTICATED);
        }
        let path = conn.path;
        let obj = d.as_object().ok_or(DECODE_ERROR)?;
        let token = obj
            .get("token")
            .and_then(Value::as_str)
            .ok_or(DECODE_ERROR)?;
        let session_id = obj
            .get("session_id")
            .and_then(Value::as_str)
            .ok_or(DECODE_ERROR)?;
        let seq = match obj.get("seq") {
            Some(Value::Null) | None => 0,
            Some(v) => v.as_u64().ok_or(DECODE_ERROR)?,
        };
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.token = Some(token.to_owned());
        }
        let record_index = self.resumes.len();
        self.resumes.push(json!({
            "connectionId": id,
            "sessionId": session_id,
            "seq": seq,
            "at": now_ms(),
            "path": path,
            "outcome": Value::Null,
            "replayed": 0,
        }));
        let outcome = self.resume_session(id, token, session_id, seq);
        let record = &mut self.resumes[record_index];
        match &outcome {
            Ok(Some(replayed)) => {
                record["outcome"] = json!("resumed");
                record["replayed"] = json!(replayed);
            }
            Ok(None) => record["outcome"] = json!("invalid_session"),
            Err((code, _)) => record["outcome"] = json!(code),
        }
        outcome.map(|_| ())
    }

    /// Replays and attaches; `Ok(None)` means op 9 was (or will be) sent.
    fn resume_session(
        &mut self,
        id: ConnId,
        token: &str,
        session_id: &str,
        seq: u64,
    ) -> Result<Option<usize>, Reject> {
        if self.config.reject_tokens.contains(token) {
            return Err(AUTH_FAILED);
        }
        let Some(session) = self.sessions.get(session_id).filter(|s| s.token == token) else {
            log!("conn {id}: resume of unknown session {session_id}");
            self.send_invalid_session_later(id);
            return Ok(None);
        };
        if seq > session.seq {
            self.discard_session(session_id, "resume with a seq from the future");
            return Err((4007, "Invalid seq."));
        }
        if session.log.front().is_some_and(|first| first.seq > seq + 1) {
            log!("conn {id}: resume of {session_id} from s={seq}: replay buffer exceeded");
            self.send_invalid_session_later(id);
            return Ok(None);
        }
        let missed: Vec<_> = session
            .log
            .iter()
            .filter(|l| l.seq > seq)
            .map(|l| l.frame.clone())
            .collect();
        self.attach_session(session_id, id);
        let replayed = missed.len();
        if let Some(conn) = self.conns.get(&id) {
            for frame in missed {
                conn.send(Outbound::Payload(frame));
            }
        }
        log!("conn {id}: resume {session_id} from s={seq}, replaying {replayed}");
        self.dispatch(
            session_id,
            "RESUMED",
            json!({"_trace": ["gateway-sim"]}).to_string(),
        );
        Ok(Some(replayed))
    }

    /// Sends op 9 `false` after a short delay, as Discord does.
    fn send_invalid_session_later(&self, id: ConnId) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        let tx = conn.sender();
        let delay = self.config.invalid_session_delay;
        let frame = invalid_session(false);
        if delay.is_zero() {
            let _ = tx.send(Outbound::Payload(frame.into()));
        } else {
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = tx.send(Outbound::Payload(frame.into()));
            });
        }
    }
}

/// A validated Identify `d`.
#[derive(Debug)]
struct Identify {
    token: String,
    intents: u64,
    properties: Map<String, Value>,
    shard: Option<[u64; 2]>,
    compress: Option<bool>,
    presence: Option<Value>,
}

impl Identify {
    /// `None` when a field is missing or has the wrong type (close 4002).
    fn parse(d: &Value) -> Option<Self> {
        let obj = d.as_object()?;
        let token = obj.get("token")?.as_str()?.to_owned();
        let intents = obj.get("intents")?.as_u64()?;
        let properties = obj.get("properties")?.as_object()?.clone();
        if properties.values().any(|v| !v.is_string()) {
            return None;
        }
        let shard = match obj.get("shard") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) if items.len() == 2 => {
                Some([items[0].as_u64()?, items[1].as_u64()?])
            }
            Some(_) => return None,
        };
        let compress = match obj.get("compress") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_bool()?),
        };
        let presence = match obj.get("presence") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(_) => return None,
        };
        if let Some(threshold) = obj.get("large_threshold") {
            threshold.as_u64()?;
        }
        Some(Self {
            token,
            intents,
            properties,
            shard,
            compress,
            presence,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_keep_discord_field_order() {
        assert_eq!(
            dispatch_frame("READY", 1, "{\"a\":1}"),
            r#"{"t":"READY","s":1,"op":0,"d":{"a":1}}"#
        );
        assert_eq!(heartbeat_ack(), r#"{"t":null,"s":null,"op":11,"d":null}"#);
        assert_eq!(
            invalid_session(true),
            r#"{"t":null,"s":null,"op":9,"d":true}"#
        );
    }

    #[test]
    fn identify_shape_is_validated() {
        let good = json!({"token":"t","intents":513,"properties":{"os":"linux","browser":"x","device":"x"}});
        assert!(Identify::parse(&good).is_some());
        for bad in [
            json!({"intents":1,"properties":{}}),
            json!({"token":1,"intents":1,"properties":{}}),
            json!({"token":"t","intents":"1","properties":{}}),
            json!({"token":"t","intents":1}),
            json!({"token":"t","intents":1,"properties":{},"shard":[0]}),
            json!({"token":"t","intents":1,"properties":{"os":3}}),
        ] {
            assert!(Identify::parse(&bad).is_none(), "{bad}");
        }
    }
}
