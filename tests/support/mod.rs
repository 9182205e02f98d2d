//! A scripted Discord for driving the engine with a virtual clock.
#![allow(dead_code)]

use discord_gateway_do::gateway::identify_budget::SessionStartLimit;
use discord_gateway_do::gateway::{
    Action, ConnectionId, Dispatch, Engine, GatewayConfig, GatewayInfo, Input, Jitter,
    RequestFailure, TransportCompression,
};
use serde_json::{json, Value};

/// A token that passes validation.
pub const TOKEN: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4.abcdef.scripted-token-value";
/// The URL `/gateway/bot` returns.
pub const GATEWAY_URL: &str = "wss://gateway.example";
/// The `resume_gateway_url` READY returns.
pub const RESUME_URL: &str = "wss://resume.example";

/// Jitter that always returns the same fraction.
pub struct FixedJitter(pub f64);

impl Jitter for FixedJitter {
    fn next_fraction(&mut self) -> f64 {
        self.0
    }
}

/// The engine, a virtual clock and everything the engine asked for.
pub struct Script {
    pub engine: Engine,
    pub now: u64,
    pub pending: Vec<Action>,
}

impl Script {
    /// An engine with jitter fixed at one half, at t = 1_000_000.
    pub fn new() -> Self {
        Self::with_jitter(0.5)
    }

    pub fn with_jitter(fraction: f64) -> Self {
        Self {
            engine: Engine::new(Box::new(FixedJitter(fraction))),
            now: 1_000_000,
            pending: Vec::new(),
        }
    }

    pub fn config() -> GatewayConfig {
        GatewayConfig::new(TOKEN).unwrap()
    }

    pub fn compressed_config() -> GatewayConfig {
        GatewayConfig {
            compression: TransportCompression::ZlibStream,
            ..Self::config()
        }
    }

    /// Feeds an input and collects the actions.
    pub fn input(&mut self, input: Input<'_>) {
        self.engine.handle(self.now, input);
        self.pending.extend(self.engine.drain_actions());
    }

    /// Moves the clock to `at` and fires the timer.
    pub fn advance_to(&mut self, at: u64) {
        assert!(at >= self.now, "time runs forward");
        self.now = at;
        self.input(Input::Timer);
    }

    /// Moves the clock to the engine's next wake-up and fires it.
    pub fn wake(&mut self) {
        let at = self.engine.next_wakeup().expect("a wake-up is scheduled");
        self.advance_to(at.max(self.now));
    }

    /// Takes every pending action.
    pub fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.pending)
    }

    /// Takes the pending actions, dropping persists (they are checked separately).
    pub fn take_io(&mut self) -> Vec<Action> {
        self.take()
            .into_iter()
            .filter(|a| !matches!(a, Action::Persist(_)))
            .collect()
    }

    /// Expects exactly one gateway-info fetch among the pending actions.
    pub fn expect_fetch(&mut self) {
        let io = self.take_io();
        assert_eq!(
            io,
            vec![Action::FetchGatewayInfo],
            "expected a gateway info fetch"
        );
    }

    /// Answers the fetch with a budget.
    pub fn gateway_info(&mut self, remaining: u32, reset_after: u64) {
        self.input(gateway_info_input(GATEWAY_URL, remaining, reset_after));
    }

    pub fn gateway_info_failed(&mut self, status: Option<u16>, retry_after_ms: Option<u64>) {
        self.input(Input::GatewayInfoFailed(RequestFailure {
            status,
            retry_after_ms,
        }));
    }

    /// Expects one socket to be opened; returns its id and URL.
    pub fn expect_open(&mut self) -> (ConnectionId, String) {
        let io = self.take_io();
        let opens = opens(&io);
        assert_eq!(opens.len(), 1, "expected one socket to open, got {io:?}");
        opens[0].clone()
    }

    /// Runs timers until a socket opens (answering fetches with a full budget).
    pub fn run_until_open(&mut self) -> (ConnectionId, String) {
        for _ in 0..20 {
            let io = self.take_io();
            if let Some((id, url)) = opens(&io).into_iter().next() {
                return (id, url);
            }
            if io.contains(&Action::FetchGatewayInfo) {
                self.gateway_info(1000, 86_400_000);
                continue;
            }
            self.wake();
        }
        panic!("no socket opened");
    }

    pub fn text(&mut self, id: ConnectionId, payload: &Value) {
        let text = payload.to_string();
        self.input(Input::Text(id, &text));
    }

    pub fn raw(&mut self, id: ConnectionId, text: &str) {
        self.input(Input::Text(id, text));
    }

    pub fn hello(&mut self, id: ConnectionId, interval: u64) {
        self.text(
            id,
            &json!({"op": 10, "d": {"heartbeat_interval": interval}, "s": null, "t": null}),
        );
    }

    pub fn ready(&mut self, id: ConnectionId, session_id: &str, seq: u64) {
        self.text(
            id,
            &json!({"op": 0, "s": seq, "t": "READY", "d": {
                "v": 10, "session_id": session_id, "resume_gateway_url": RESUME_URL,
                "user": {"id": "1", "username": "bot"}, "guilds": []
            }}),
        );
    }

    pub fn dispatch(&mut self, id: ConnectionId, t: &str, seq: u64, d: Value) {
        self.text(id, &json!({"op": 0, "s": seq, "t": t, "d": d}));
    }

    pub fn closed(&mut self, id: ConnectionId, code: u16, reason: &str) {
        self.input(Input::SocketClosed { id, code, reason });
    }

    /// Connects, identifies and receives READY with `session` at seq 1. Returns the socket.
    pub fn connect_ready(&mut self, session: &str) -> ConnectionId {
        self.input(Input::Connect(Self::config()));
        self.expect_fetch();
        self.gateway_info(1000, 86_400_000);
        let (id, _) = self.expect_open();
        self.input(Input::SocketOpened(id));
        self.hello(id, 41_250);
        let sent = sends(&self.take_io());
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["op"], 2, "identify");
        self.ready(id, session, 1);
        self.take();
        id
    }
}

/// `GET /gateway/bot`'s answer: `url`, one shard, `remaining` of 1,000 identifies, the budget's
/// reset in `reset_after` ms.
pub fn gateway_info_input(url: &str, remaining: u32, reset_after: u64) -> Input<'static> {
    Input::GatewayInfo(GatewayInfo {
        url: url.into(),
        shards: 1,
        session_start_limit: SessionStartLimit {
            total: 1000,
            remaining,
            reset_after,
            max_concurrency: 1,
        },
    })
}

/// The JSON payloads of the `Send` actions.
pub fn sends(actions: &[Action]) -> Vec<Value> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { payload, .. } => Some(serde_json::from_str(payload).unwrap()),
            _ => None,
        })
        .collect()
}

/// The `OpenSocket` actions as (id, url).
pub fn opens(actions: &[Action]) -> Vec<(ConnectionId, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::OpenSocket { id, url } => Some((*id, url.clone())),
            _ => None,
        })
        .collect()
}

/// The `Forward` actions.
pub fn forwards(actions: &[Action]) -> Vec<Dispatch> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Forward(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

/// The `Close` actions as (code, reason).
pub fn closes(actions: &[Action]) -> Vec<u16> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Close { code, .. } => Some(*code),
            _ => None,
        })
        .collect()
}

/// A realistic MESSAGE_CREATE `d`.
pub fn message(id: &str, content: &str) -> Value {
    json!({
        "id": id, "channel_id": "200", "guild_id": "300", "content": content,
        "author": {"id": "400", "username": "someone", "discriminator": "0", "global_name": "Some One", "avatar": null},
        "member": {"roles": [], "joined_at": "2024-01-01T00:00:00.000000+00:00", "nick": null},
        "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
        "timestamp": "2026-11-23T00:00:00.000000+00:00", "edited_timestamp": null,
        "tts": false, "mention_everyone": false, "pinned": false, "type": 0, "flags": 0
    })
}
