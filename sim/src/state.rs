//! The simulator's shared state: configuration, connections, sessions and what was recorded.
//!
//! Everything that changes protocol state happens synchronously under one lock, so sequence
//! numbers, session logs and per-connection outgoing queues always agree on the order of events.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;
use tokio_tungstenite::tungstenite::Message;

use crate::compression::{CompressKind, Split};
use crate::ids::{now_ms, random_hex, Snowflakes};
use crate::log;
use crate::presets::World;
use crate::protocol;
use crate::sharding::{self, IdentifyBuckets, Shard};

/// Identifies one WebSocket connection for the lifetime of the process.
pub type ConnId = u64;

/// How many dispatches a session keeps for replay.
pub const SESSION_LOG_LIMIT: usize = 10_000;
/// How many closed connections stay visible in `/_sim/state`.
const CLOSED_CONN_LIMIT: usize = 500;

/// GUILD_MEMBERS, GUILD_PRESENCES and MESSAGE_CONTENT.
pub const PRIVILEGED_INTENTS: u64 = (1 << 1) | (1 << 8) | (1 << 15);

/// An instruction for a connection task.
#[derive(Debug)]
pub enum Outbound {
    /// A gateway message, encoded with the connection's transport compression.
    Payload(Arc<str>),
    /// A WebSocket message sent as-is, bypassing compression.
    Frame(Message),
    /// Send a close frame with this code and reason, then end the connection.
    Close(u16, String),
    /// Drop the TCP connection without a close frame.
    Abort,
}

/// One WebSocket connection, open or closed.
#[derive(Debug)]
pub struct Conn {
    /// Connection id.
    pub id: ConnId,
    /// `/` or `/resume`.
    pub path: &'static str,
    /// The query string the client connected with.
    pub query: String,
    /// The transport compression in use.
    pub compress: CompressKind,
    /// The token of the last Identify/Resume on this connection.
    pub token: Option<String>,
    /// The session attached to this connection (set once identified or resumed).
    pub session_id: Option<String>,
    /// The last session ever attached (kept after the connection ends).
    pub last_session_id: Option<String>,
    /// False once the connection ended.
    pub open: bool,
    /// True once the simulator decided to close or drop it.
    pub closing: bool,
    /// Close code of the close frame the client sent first, if any.
    pub close_code_from_client: Option<u16>,
    /// Close code the simulator sent, if any.
    pub close_code_from_server: Option<u16>,
    /// The `d` of every heartbeat received.
    pub heartbeats: Vec<Value>,
    /// Heartbeat ACKs sent.
    pub acks_sent: u64,
    /// Payloads received from the client.
    pub client_payloads: u64,
    /// Arrival times of recent payloads, for the 120-per-60-s limit.
    pub recent: VecDeque<Instant>,
    /// When the connection opened (ms since epoch).
    pub opened_at: u64,
    tx: UnboundedSender<Outbound>,
}

impl Conn {
    /// Queues an instruction for the connection task (ignored once it is gone).
    pub fn send(&self, out: Outbound) {
        let _ = self.tx.send(out);
    }

    /// A clone of the queue to the connection task.
    pub fn sender(&self) -> UnboundedSender<Outbound> {
        self.tx.clone()
    }

    /// Whether an Identify or Resume succeeded on this connection.
    pub fn authenticated(&self) -> bool {
        self.session_id.is_some()
    }

    /// Open and not being closed: fit to receive frames.
    pub fn live(&self) -> bool {
        self.open && !self.closing
    }
}

/// One dispatch kept for replay.
#[derive(Debug)]
pub struct LoggedDispatch {
    /// Its sequence number.
    pub seq: u64,
    /// The exact payload text sent.
    pub frame: Arc<str>,
}

/// A gateway session, kept until invalidated even while no connection is attached.
#[derive(Debug)]
pub struct Session {
    /// 32 hex characters.
    pub id: String,
    /// The bot token that created it.
    pub token: String,
    /// Last sequence number used.
    pub seq: u64,
    /// The last [`SESSION_LOG_LIMIT`] dispatches.
    pub log: VecDeque<LoggedDispatch>,
    /// The attached connection.
    pub conn: Option<ConnId>,
    /// Creation order, to find the most recent session.
    pub order: u64,
    /// The presence: Identify's `presence`, then each op 3's `d` (kept across resumes).
    pub presence: Value,
    /// Op 3 Presence Updates received.
    pub presence_updates: u64,
    /// Intents given at Identify.
    pub intents: u64,
    /// The shard given at Identify (`[0, 1]` when none).
    pub shard: Shard,
}

/// Session start limit values a token starts with.
#[derive(Clone, Debug)]
pub struct LimitTemplate {
    /// `total`.
    pub total: u64,
    /// `remaining` for a token seen for the first time.
    pub remaining: u64,
    /// Window length in ms.
    pub reset_after_ms: u64,
    /// `max_concurrency`.
    pub max_concurrency: u64,
}

impl Default for LimitTemplate {
    fn default() -> Self {
        Self {
            total: 1000,
            remaining: 1000,
            reset_after_ms: 86_400_000,
            max_concurrency: 1,
        }
    }
}

/// One token's Identify budget.
#[derive(Clone, Debug)]
pub struct Budget {
    /// `total`.
    pub total: u64,
    /// `remaining`.
    pub remaining: u64,
    /// When the window resets (ms since epoch).
    pub reset_at_ms: u64,
    /// Window length in ms.
    pub reset_after_ms: u64,
    /// `max_concurrency`.
    pub max_concurrency: u64,
}

/// A queued HTTP fault: answer one request with this instead of the normal response.
#[derive(Clone, Debug)]
pub struct Fault {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After` (seconds) and `retry_after` in the body.
    pub retry_after_secs: Option<f64>,
    /// Whether a 429 is global.
    pub global: bool,
    /// Body to send instead of the default for the status.
    pub body: Option<Value>,
}

/// Settings changed through `/_sim/config` and `/_sim/acks`.
#[derive(Clone, Debug)]
pub struct Config {
    /// Sent in Hello.
    pub heartbeat_interval_ms: u64,
    /// Tokens answered with 401 / 4004.
    pub reject_tokens: BTreeSet<String>,
    /// Privileged intent bits enabled per token (`*` for any other token); default: all.
    pub privileged_allowed: BTreeMap<String, u64>,
    /// Session start limit template.
    pub limit: LimitTemplate,
    /// Faults for `GET /api/v10/gateway/bot`.
    pub gateway_bot_faults: VecDeque<Fault>,
    /// Faults for WebSocket upgrades.
    pub upgrade_faults: VecDeque<Fault>,
    /// Upgrades to the resume host (`/resume`) are refused with 503 while set; sessions stay
    /// valid and can be resumed on the main URL.
    pub refuse_resume_host: bool,
    /// How to split `zlib-stream` messages into frames.
    pub zlib_split: Option<Split>,
    /// Heartbeat ACKs paused for everyone.
    pub acks_paused: bool,
    /// Heartbeat ACKs paused for these tokens.
    pub acks_paused_tokens: BTreeSet<String>,
    /// Delay before answering a failed Resume with op 9.
    pub invalid_session_delay: Duration,
    /// The recommended `shards` of `GET /gateway/bot`.
    pub shards: u64,
    /// How many guilds the world has (guild `i` is on shard `(id >> 22) % count`).
    pub guilds: u64,
    /// An Identify with fewer shards than this closes with 4011 (sharding required).
    pub required_shards: u64,
    /// Large bot sharding: the shard count must be a multiple of this (else 4010).
    pub shard_multiple: Option<u64>,
    /// Whether one Identify per bucket per window is enforced (`None`: when `shards > 1`).
    pub enforce_identify_concurrency: Option<bool>,
    /// How long an Identify holds its bucket (Discord: 5 s).
    pub identify_window: Duration,
    /// Buckets of the talk-back REST routes.
    pub rest: crate::messages::RestConfig,
}

impl Config {
    fn new(heartbeat_interval_ms: u64) -> Self {
        Self {
            heartbeat_interval_ms,
            reject_tokens: BTreeSet::new(),
            privileged_allowed: BTreeMap::new(),
            limit: LimitTemplate::default(),
            gateway_bot_faults: VecDeque::new(),
            upgrade_faults: VecDeque::new(),
            refuse_resume_host: false,
            zlib_split: None,
            acks_paused: false,
            acks_paused_tokens: BTreeSet::new(),
            invalid_session_delay: Duration::from_millis(25),
            shards: 1,
            guilds: 1,
            required_shards: 1,
            shard_multiple: None,
            enforce_identify_concurrency: None,
            identify_window: sharding::IDENTIFY_WINDOW,
            rest: crate::messages::RestConfig::default(),
        }
    }

    /// Whether the per-bucket Identify limit applies now: when configured so, else only once
    /// the bot is recommended more than one shard (a single shard never trips it).
    pub fn identify_concurrency_enforced(&self) -> bool {
        self.enforce_identify_concurrency.unwrap_or(self.shards > 1)
    }

    /// The privileged intents enabled for `token`.
    pub fn privileged_allowed_for(&self, token: &str) -> u64 {
        self.privileged_allowed
            .get(token)
            .or_else(|| self.privileged_allowed.get("*"))
            .copied()
            .unwrap_or(PRIVILEGED_INTENTS)
    }

    /// Whether heartbeats from `token` get no ACK.
    pub fn acks_paused_for(&self, token: Option<&str>) -> bool {
        self.acks_paused || token.is_some_and(|t| self.acks_paused_tokens.contains(t))
    }
}

/// One dispatch the simulator sent (or buffered).
#[derive(Debug)]
pub struct SentEvent {
    /// Its sequence number.
    pub seq: u64,
    /// The session it belongs to.
    pub session_id: String,
    /// Event name.
    pub event: String,
    /// The exact `d` JSON text in the frame.
    pub raw: Arc<str>,
    /// Whether a connection was attached to receive it.
    pub delivered: bool,
}

/// The whole simulator state.
#[derive(Debug)]
pub struct Sim {
    /// `http://127.0.0.1:PORT`.
    pub base_http: String,
    /// `ws://127.0.0.1:PORT`.
    pub base_ws: String,
    /// Heartbeat interval given on the command line (restored by reset).
    default_heartbeat_ms: u64,
    /// Current settings.
    pub config: Config,
    /// Connections by id, closed ones included (bounded).
    pub conns: BTreeMap<ConnId, Conn>,
    /// Sessions by id.
    pub sessions: HashMap<String, Session>,
    /// Identify records (JSON, as shown in `/_sim/state`).
    pub identifies: Vec<Value>,
    /// Resume records.
    pub resumes: Vec<Value>,
    /// Requests to `/api/v10/gateway/bot`.
    pub gateway_bot_requests: u64,
    /// WebSocket upgrade requests.
    pub upgrade_requests: u64,
    /// Identify budgets per token.
    pub budgets: HashMap<String, Budget>,
    /// The bot, guild, channels and users events refer to.
    pub world: World,
    /// Snowflake generator for messages and attachments.
    pub snowflakes: Snowflakes,
    /// Last message id per channel, so reactions refer to the latest message.
    pub last_message: HashMap<String, String>,
    /// When each Identify bucket was last taken.
    pub identify_buckets: IdentifyBuckets,
    /// The talk-back REST routes' windows and request log.
    pub rest: crate::messages::RestState,
    /// The moments of each connect, timestamped (`GET /_sim/trace`).
    pub trace: crate::trace::Trace,
    next_conn: ConnId,
    next_order: u64,
}

impl Sim {
    /// A fresh simulator listening on `addr`.
    pub fn new(addr: SocketAddr, heartbeat_interval_ms: u64) -> Self {
        Self {
            base_http: format!("http://{addr}"),
            base_ws: format!("ws://{addr}"),
            default_heartbeat_ms: heartbeat_interval_ms,
            config: Config::new(heartbeat_interval_ms),
            conns: BTreeMap::new(),
            sessions: HashMap::new(),
            identifies: Vec::new(),
            resumes: Vec::new(),
            gateway_bot_requests: 0,
            upgrade_requests: 0,
            budgets: HashMap::new(),
            world: World::default(),
            snowflakes: Snowflakes::default(),
            last_message: HashMap::new(),
            identify_buckets: IdentifyBuckets::default(),
            rest: crate::messages::RestState::default(),
            trace: crate::trace::Trace::default(),
            next_conn: 1,
            next_order: 1,
        }
    }

    /// Forgets sessions, records, budgets and faults; drops open connections.
    pub fn reset(&mut self) {
        for conn in self.conns.values_mut().filter(|c| c.live()) {
            conn.closing = true;
            conn.send(Outbound::Abort);
        }
        self.conns.clear();
        self.sessions.clear();
        self.identifies.clear();
        self.resumes.clear();
        self.gateway_bot_requests = 0;
        self.upgrade_requests = 0;
        self.budgets.clear();
        self.last_message.clear();
        self.identify_buckets.clear();
        self.rest = crate::messages::RestState::default();
        self.trace.clear();
        self.config = Config::new(self.default_heartbeat_ms);
        log!("reset");
    }

    /// Registers a new connection and queues Hello (plus a close if the query is unusable).
    pub fn open_connection(
        &mut self,
        path: &'static str,
        query: &str,
        tx: UnboundedSender<Outbound>,
    ) -> (ConnId, CompressKind) {
        let id = self.next_conn;
        self.next_conn += 1;
        let version = crate::http::query_param(query, "v");
        let encoding = crate::http::query_param(query, "encoding").unwrap_or("json");
        let compress = CompressKind::from_query(crate::http::query_param(query, "compress"));
        let conn = Conn {
            id,
            path,
            query: query.to_owned(),
            compress: *compress.as_ref().unwrap_or(&CompressKind::None),
            token: None,
            session_id: None,
            last_session_id: None,
            open: true,
            closing: false,
            close_code_from_client: None,
            close_code_from_server: None,
            heartbeats: Vec::new(),
            acks_sent: 0,
            client_payloads: 0,
            recent: VecDeque::new(),
            opened_at: now_ms(),
            tx,
        };
        let kind = conn.compress;
        self.conns.insert(id, conn);
        self.prune_closed();
        log!("conn {id}: open {path}?{query}");
        self.send_payload(id, protocol::hello(self.config.heartbeat_interval_ms));
        self.trace.record("hello", Some(id));
        if version != Some("10") {
            self.close_conn(id, 4012, "Invalid API version");
        } else if encoding != "json" {
            self.close_conn(id, 4002, "Only encoding=json is simulated.");
        } else if let Err(reason) = compress {
            self.close_conn(id, 4002, &reason);
        }
        (id, kind)
    }

    fn prune_closed(&mut self) {
        let closed: Vec<ConnId> = self
            .conns
            .values()
            .filter(|c| !c.open)
            .map(|c| c.id)
            .collect();
        if closed.len() > CLOSED_CONN_LIMIT {
            for id in &closed[..closed.len() - CLOSED_CONN_LIMIT] {
                self.conns.remove(id);
            }
        }
    }

    /// Records that a connection ended; `client_code` is the code of the client's close frame.
    ///
    /// A client close with 1000 or 1001 ends its session, like Discord; anything else keeps it
    /// for a resume.
    pub fn connection_ended(&mut self, id: ConnId, client_code: Option<u16>) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if !conn.open {
            return;
        }
        conn.open = false;
        let initiated_by_client = !conn.closing;
        if initiated_by_client {
            conn.close_code_from_client = client_code;
        }
        let session = conn.session_id.clone();
        match client_code {
            Some(code) if initiated_by_client => log!("conn {id}: client closed with {code}"),
            None if initiated_by_client => log!("conn {id}: connection lost"),
            _ => log!("conn {id}: closed"),
        }
        if let Some(session_id) = session {
            if initiated_by_client && matches!(client_code, Some(1000 | 1001)) {
                self.discard_session(&session_id, "client closed with 1000/1001");
            } else {
                self.detach_session(&session_id, id);
            }
        }
    }

    /// Queues a gateway message for a connection.
    pub fn send_payload(&mut self, id: ConnId, text: String) {
        if let Some(conn) = self.conns.get(&id).filter(|c| c.live()) {
            conn.send(Outbound::Payload(text.into()));
        }
    }

    /// Closes a connection with `code`; 4007 and 4009 also discard its session.
    pub fn close_conn(&mut self, id: ConnId, code: u16, reason: &str) {
        let Some(conn) = self.conns.get_mut(&id).filter(|c| c.live()) else {
            return;
        };
        conn.closing = true;
        conn.close_code_from_server = Some(code);
        conn.send(Outbound::Close(code, reason.to_owned()));
        let session = conn.session_id.clone();
        log!("conn {id}: closing with {code} {reason}");
        if let Some(session_id) = session {
            if matches!(code, 4007 | 4009) {
                self.discard_session(&session_id, "closed with 4007/4009");
            } else {
                self.detach_session(&session_id, id);
            }
        }
    }

    /// Drops a connection without a close frame; its session stays resumable.
    pub fn abort_conn(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id).filter(|c| c.live()) else {
            return;
        };
        conn.closing = true;
        conn.send(Outbound::Abort);
        let session = conn.session_id.clone();
        log!("conn {id}: dropping TCP");
        if let Some(session_id) = session {
            self.detach_session(&session_id, id);
        }
    }

    /// Unlinks a session from connection `id` (if linked), keeping the session.
    pub fn detach_session(&mut self, session_id: &str, id: ConnId) {
        if let Some(session) = self.sessions.get_mut(session_id) {
            if session.conn == Some(id) {
                session.conn = None;
            }
        }
        if let Some(conn) = self.conns.get_mut(&id) {
            if conn.session_id.as_deref() == Some(session_id) {
                conn.session_id = None;
            }
        }
    }

    /// Forgets a session; a later Resume of it gets op 9.
    pub fn discard_session(&mut self, session_id: &str, why: &str) {
        if let Some(session) = self.sessions.remove(session_id) {
            log!("session {session_id}: discarded ({why})");
            if let Some(conn) = session.conn.and_then(|c| self.conns.get_mut(&c)) {
                conn.session_id = None;
            }
        }
    }

    /// Creates a session for `token`, attached to connection `id`.
    pub fn create_session(
        &mut self,
        id: ConnId,
        token: &str,
        intents: u64,
        shard: Shard,
    ) -> String {
        let session_id = random_hex(16);
        let order = self.next_order;
        self.next_order += 1;
        self.sessions.insert(
            session_id.clone(),
            Session {
                id: session_id.clone(),
                token: token.to_owned(),
                seq: 0,
                log: VecDeque::new(),
                conn: Some(id),
                order,
                intents,
                shard,
                presence: Value::Null,
                presence_updates: 0,
            },
        );
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.session_id = Some(session_id.clone());
            conn.last_session_id = Some(session_id.clone());
            conn.token = Some(token.to_owned());
        }
        session_id
    }

    /// Attaches an existing session to connection `id` (detaching it from any other).
    pub fn attach_session(&mut self, session_id: &str, id: ConnId) {
        let Some(session) = self.sessions.get_mut(session_id) else {
            return;
        };
        let previous = session.conn.replace(id);
        let token = session.token.clone();
        if let Some(prev) = previous.filter(|p| *p != id) {
            if let Some(conn) = self.conns.get_mut(&prev) {
                conn.session_id = None;
            }
        }
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.session_id = Some(session_id.to_owned());
            conn.last_session_id = Some(session_id.to_owned());
            conn.token = Some(token);
        }
    }

    /// Sends (or buffers) a dispatch in a session, with the next sequence number.
    ///
    /// `raw_d` must be valid JSON; it is spliced into the frame unchanged.
    pub fn dispatch(&mut self, session_id: &str, event: &str, raw_d: String) -> Option<SentEvent> {
        let session = self.sessions.get_mut(session_id)?;
        session.seq += 1;
        let seq = session.seq;
        let frame: Arc<str> = protocol::dispatch_frame(event, seq, &raw_d).into();
        session.log.push_back(LoggedDispatch {
            seq,
            frame: frame.clone(),
        });
        if session.log.len() > SESSION_LOG_LIMIT {
            session.log.pop_front();
        }
        let delivered = match session.conn.and_then(|c| self.conns.get(&c)) {
            Some(conn) if conn.live() => {
                conn.send(Outbound::Payload(frame));
                true
            }
            _ => false,
        };
        log!(
            "session {session_id}: dispatch {event} s={seq}{}",
            if delivered { "" } else { " (buffered)" }
        );
        Some(SentEvent {
            seq,
            session_id: session_id.to_owned(),
            event: event.to_owned(),
            raw: raw_d.into(),
            delivered,
        })
    }

    /// The most recent session of `token` (or of anyone when `None`) whose shard receives
    /// events of `guild` (`None`: events without a guild, which go to shard 0).
    pub fn target_session(&self, token: Option<&str>, guild: Option<u64>) -> Option<String> {
        self.sessions
            .values()
            .filter(|s| token.is_none_or(|t| s.token == t))
            .filter(|s| s.shard.handles(guild))
            .max_by_key(|s| s.order)
            .map(|s| s.id.clone())
    }

    /// Open connections of `token` (all open ones when `None`), or just `conn` when given.
    pub fn target_conns(&self, token: Option<&str>, conn: Option<ConnId>) -> Vec<ConnId> {
        self.conns
            .values()
            .filter(|c| c.live())
            .filter(|c| conn.is_none_or(|id| c.id == id))
            .filter(|c| token.is_none_or(|t| c.token.as_deref() == Some(t)))
            .map(|c| c.id)
            .collect()
    }

    /// The Identify budget of `token`, refilled when its window has passed.
    pub fn budget(&mut self, token: &str) -> &mut Budget {
        let template = self.config.limit.clone();
        let now = now_ms();
        let budget = self
            .budgets
            .entry(token.to_owned())
            .or_insert_with(|| Budget {
                total: template.total,
                remaining: template.remaining,
                reset_at_ms: now + template.reset_after_ms,
                reset_after_ms: template.reset_after_ms,
                max_concurrency: template.max_concurrency,
            });
        if now >= budget.reset_at_ms {
            budget.remaining = budget.total;
            budget.reset_at_ms = now + budget.reset_after_ms;
        }
        budget
    }

    /// The world's ids, with the id of every guild (`guildIds`, by index).
    pub fn world_json(&self) -> Value {
        let mut world = self.world.to_json();
        world["guildIds"] = (0..self.config.guilds)
            .map(|i| sharding::guild_id(&self.world, i))
            .collect();
        world
    }

    /// The world's guild indexes whose events go to `shard`.
    pub fn guilds_of(&self, shard: Shard) -> Vec<u64> {
        (0..self.config.guilds)
            .filter(|&i| {
                let id = sharding::guild_id(&self.world, i).parse().ok();
                shard.handles(id)
            })
            .collect()
    }

    /// The JSON served by `GET /_sim/state`.
    pub fn snapshot(&self) -> Value {
        let connections: Vec<Value> = self
            .conns
            .values()
            .map(|c| {
                json!({
                    "id": c.id,
                    "token": c.token.as_deref().map(mask_token),
                    "query": c.query,
                    "path": c.path,
                    "compress": match c.compress {
                        CompressKind::None => Value::Null,
                        CompressKind::ZlibStream => json!("zlib-stream"),
                        CompressKind::ZstdStream => json!("zstd-stream"),
                    },
                    "sessionId": c.session_id.as_ref().or(c.last_session_id.as_ref()),
                    "attached": c.session_id.is_some(),
                    "open": c.open,
                    "closeCodeFromClient": c.close_code_from_client,
                    "closeCodeFromServer": c.close_code_from_server,
                    "heartbeats": c.heartbeats,
                    "acksSent": c.acks_sent,
                    "clientPayloads": c.client_payloads,
                    "openedAt": c.opened_at,
                })
            })
            .collect();
        let mut sessions: Vec<&Session> = self.sessions.values().collect();
        sessions.sort_by_key(|s| s.order);
        let sessions: Vec<Value> = sessions
            .into_iter()
            .map(|s| {
                json!({
                    "id": s.id,
                    "token": mask_token(&s.token),
                    "seq": s.seq,
                    "buffered": s.log.len(),
                    "attached": s.conn.is_some_and(|c| self.conns.get(&c).is_some_and(Conn::live)),
                    "connectionId": s.conn,
                    "intents": s.intents,
                    "shard": s.shard.to_json(),
                    "presence": s.presence,
                    "presenceUpdates": s.presence_updates,
                })
            })
            .collect();
        json!({
            "connections": connections,
            "identifies": self.identifies,
            "resumes": self.resumes,
            "sessions": sessions,
            "gatewayBotRequests": self.gateway_bot_requests,
            "upgradeRequests": self.upgrade_requests,
            "world": self.world_json(),
        })
    }
}

/// Shows only the last 4 characters of a token.
pub fn mask_token(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() <= 4 {
        return "****".to_owned();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("****{tail}")
}

/// The simulator state behind a lock, shared by all tasks.
#[derive(Clone, Debug)]
pub struct Shared(Arc<Mutex<Sim>>);

impl Shared {
    /// Wraps a simulator.
    pub fn new(sim: Sim) -> Self {
        Self(Arc::new(Mutex::new(sim)))
    }

    /// Locks the state (a panic elsewhere does not make the state unusable).
    pub fn lock(&self) -> MutexGuard<'_, Sim> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_tokens() {
        assert_eq!(mask_token("abc"), "****");
        assert_eq!(mask_token("secret-token-1234"), "****1234");
    }
}
