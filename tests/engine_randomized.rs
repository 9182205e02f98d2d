//! Randomized conversations (fixed seeds): arbitrary frames, closes, HTTP results and timer
//! firings, checked against the rules that must hold whatever Discord does.

use std::collections::VecDeque;

use discord_gateway_do::gateway::identify_budget::SessionStartLimit;
use discord_gateway_do::gateway::{
    Action, ConnectionId, ConnectionState, Engine, GatewayConfig, GatewayInfo, Input, Jitter,
    RequestFailure, SeededJitter, TransportCompression,
};
use serde_json::{json, Value};

const TOKEN: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4.abcdef.randomized-token";
const SEEDS: u64 = 48;
const STEPS: usize = 2_500;

/// Discord's view of the bot's Identify budget.
struct BudgetModel {
    remaining: u32,
    resets_at: u64,
    period: u64,
}

impl BudgetModel {
    fn tick(&mut self, now: u64) {
        while now >= self.resets_at {
            self.remaining = 5;
            self.resets_at += self.period;
        }
    }
}

struct Run {
    engine: Engine,
    rng: SeededJitter,
    now: u64,
    budget: BudgetModel,
    sends: VecDeque<u64>,
    last_identify: Option<u64>,
    fetch_pending: bool,
    open_pending: Option<ConnectionId>,
    seq: u64,
    identifies: u32,
}

impl Run {
    fn pick(&mut self, n: usize) -> usize {
        (self.rng.next_fraction() * n as f64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.next_fraction() < p
    }

    fn feed(&mut self, input: Input<'_>) {
        self.engine.handle(self.now, input);
        let actions: Vec<Action> = self.engine.drain_actions().collect();
        for action in actions {
            self.check(action);
        }
        let status = self.engine.status();
        if !matches!(
            status.state,
            ConnectionState::Stopped | ConnectionState::Disconnected
        ) {
            assert!(
                self.engine.next_wakeup().is_some(),
                "no wake-up scheduled in state {:?} ({})",
                status.state,
                status.phase
            );
        }
    }

    fn check(&mut self, action: Action) {
        match action {
            Action::Send { payload, .. } => {
                assert!(payload.len() <= 4096, "oversize send");
                while self.sends.front().is_some_and(|t| t + 60_000 <= self.now) {
                    self.sends.pop_front();
                }
                self.sends.push_back(self.now);
                assert!(self.sends.len() <= 120, "more than 120 sends in 60 s");
                let value: Value = serde_json::from_str(&payload).unwrap();
                if value["op"] == 2 {
                    self.budget.tick(self.now);
                    assert!(self.budget.remaining > 0, "Identify with the budget spent");
                    self.budget.remaining -= 1;
                    if let Some(last) = self.last_identify {
                        assert!(self.now >= last + 5_000, "two Identify calls within 5 s");
                    }
                    self.last_identify = Some(self.now);
                    self.identifies += 1;
                }
            }
            Action::FetchGatewayInfo => self.fetch_pending = true,
            Action::OpenSocket { id, url } => {
                assert!(url.contains("v=10&encoding=json"));
                self.open_pending = Some(id);
            }
            Action::Close { code, .. } => assert!(code == 1000 || code >= 4000),
            Action::Forward(dispatch) | Action::Observe(dispatch) => {
                assert!(serde_json::from_str::<Value>(&dispatch.data).is_ok())
            }
            Action::Persist(snapshot) => {
                let text = serde_json::to_string(&snapshot).unwrap();
                assert!(!text.contains(TOKEN), "token in a snapshot");
            }
            Action::AskIdentify | Action::IdentifySent => {
                panic!("an engine without an identify gate never asks for a grant")
            }
        }
    }

    fn frame(&mut self) -> String {
        self.seq += 1;
        let seq = self.seq;
        match self.pick(14) {
            0 => {
                let interval = [0, 1, 500, 41_250, u64::MAX][self.pick(5)];
                json!({"op": 10, "d": {"heartbeat_interval": interval}}).to_string()
            }
            1 => json!({"op": 0, "s": seq, "t": "READY", "d": {"session_id": format!("s{seq}"), "resume_gateway_url": "wss://resume.example"}}).to_string(),
            2..=4 => {
                let t = ["MESSAGE_CREATE", "MESSAGE_REACTION_ADD", "GUILD_CREATE"][self.pick(3)];
                json!({"op": 0, "s": seq, "t": t, "d": {"id": seq.to_string()}}).to_string()
            }
            5 => json!({"op": 0, "s": seq, "t": "RESUMED", "d": null}).to_string(),
            6 => json!({"op": 1, "d": null}).to_string(),
            7 => json!({"op": 7, "d": null}).to_string(),
            8 => json!({"op": 9, "d": self.chance(0.5)}).to_string(),
            9 | 10 => json!({"op": 11}).to_string(),
            11 => json!({"op": self.pick(256), "d": {}}).to_string(),
            12 => ["", "{", "null", "[1,2]", r#"{"op":"x"}"#, r#"{"op":0,"s":1}"#, "\u{0}"][self.pick(7)].to_owned(),
            _ => json!({"op": 0, "s": self.pick(5), "t": "MESSAGE_CREATE", "d": "x"}).to_string(),
        }
    }

    fn step(&mut self) {
        let current = self.engine.current_connection();
        match self.pick(20) {
            0..=5 => {
                let at = match self.engine.next_wakeup() {
                    Some(at) if self.chance(0.8) => at.max(self.now),
                    _ => self.now + self.pick(90_000) as u64,
                };
                self.now = at;
                self.feed(Input::Timer);
            }
            6 if self.fetch_pending => {
                self.fetch_pending = false;
                self.budget.tick(self.now);
                if self.chance(0.8) {
                    let info = GatewayInfo {
                        url: "wss://gateway.example".into(),
                        shards: 1,
                        session_start_limit: SessionStartLimit {
                            total: 5,
                            remaining: self.budget.remaining,
                            reset_after: self.budget.resets_at - self.now,
                            max_concurrency: 1,
                        },
                    };
                    self.feed(Input::GatewayInfo(info));
                } else {
                    let status = [None, Some(429), Some(500), Some(401)][self.pick(4)];
                    let retry_after_ms = status
                        .filter(|s| *s == 429)
                        .map(|_| self.pick(100_000) as u64);
                    self.feed(Input::GatewayInfoFailed(RequestFailure {
                        status,
                        retry_after_ms,
                    }));
                }
            }
            7 | 8 => {
                if let Some(id) = self.open_pending.take() {
                    if self.chance(0.85) {
                        self.feed(Input::SocketOpened(id));
                    } else {
                        let status = [None, Some(429), Some(502), Some(401)][self.pick(4)];
                        self.feed(Input::SocketFailed(
                            id,
                            RequestFailure {
                                status,
                                retry_after_ms: Some(1_500),
                            },
                        ));
                    }
                }
            }
            9..=15 => {
                let id = match current {
                    Some(id) if self.chance(0.95) => id,
                    _ => ConnectionId(self.pick(50) as u64),
                };
                if self.chance(0.1) {
                    let bytes: Vec<u8> = (0..self.pick(40)).map(|_| self.pick(256) as u8).collect();
                    self.feed(Input::Binary(id, &bytes));
                } else {
                    let text = self.frame();
                    self.feed(Input::Text(id, &text));
                }
            }
            16 | 17 => {
                if let Some(id) = current {
                    let codes = [
                        1000, 1001, 1006, 1011, 4000, 4001, 4002, 4003, 4004, 4005, 4007, 4008,
                        4009, 4010, 4011, 4012, 4013, 4014, 3000, 4999,
                    ];
                    let code = codes[self.pick(codes.len())];
                    self.feed(Input::SocketClosed {
                        id,
                        code,
                        reason: "",
                    });
                }
            }
            18 => {
                if self.chance(0.3) {
                    self.feed(Input::Disconnect);
                } else {
                    let mut config = GatewayConfig::new(TOKEN).unwrap();
                    if self.chance(0.3) {
                        config.compression = TransportCompression::ZlibStream;
                    }
                    self.feed(Input::Connect(config));
                }
            }
            _ => {
                let payload = "x".repeat(self.pick(5000));
                let _ = self.engine.send_command(self.now, payload);
            }
        }
    }
}

#[test]
fn rules_hold_for_arbitrary_conversations() {
    let mut total_identifies = 0;
    for seed in 0..SEEDS {
        let mut run = Run {
            engine: Engine::new(Box::new(SeededJitter::new(seed ^ 0xA5A5))),
            rng: SeededJitter::new(seed),
            now: 1_700_000_000_000,
            budget: BudgetModel {
                remaining: 5,
                resets_at: 1_700_000_000_000 + 3_600_000,
                period: 3_600_000,
            },
            sends: VecDeque::new(),
            last_identify: None,
            fetch_pending: false,
            open_pending: None,
            seq: 0,
            identifies: 0,
        };
        run.engine.observe(
            discord_gateway_do::gateway::EventFilter::from_list(["GUILD_CREATE"]).unwrap(),
        );
        run.feed(Input::Connect(GatewayConfig::new(TOKEN).unwrap()));
        for _ in 0..STEPS {
            run.step();
        }
        total_identifies += run.identifies;
    }
    // The walk must actually reach the interesting states.
    assert!(
        total_identifies > SEEDS as u32,
        "only {total_identifies} identifies in {SEEDS} runs"
    );
}
