//! Test harness: starts the `gateway-sim` binary and talks to it over HTTP and WebSocket.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A WebSocket client connection.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long any single expected event may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// A running simulator process, killed on drop.
pub struct Sim {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Sim {
    /// Starts the binary on an ephemeral port with a 1 s heartbeat interval.
    pub fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gateway-sim"))
            .args(["--listen", "127.0.0.1:0", "--heartbeat-interval-ms", "1000"])
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("GATEWAY_SIM_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("start gateway-sim");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let announced: Value = serde_json::from_str(&line).expect("listening line");
        let base = announced["listening"].as_str().unwrap().to_owned();
        let addr = base.trim_start_matches("http://").to_owned();
        Self { child, base, addr }
    }

    /// Sends an HTTP request; returns status, lowercase headers and body.
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, Vec<(String, String)>, String) {
        let mut stream = TcpStream::connect(&self.addr).await.unwrap();
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        (status, headers, body.to_owned())
    }

    /// POSTs to the control API and returns status and JSON body.
    pub async fn control(&self, route: &str, body: Value) -> (u16, Value) {
        let (status, _, text) = self
            .http("POST", &format!("/_sim/{route}"), &[], Some(&body))
            .await;
        (status, serde_json::from_str(&text).unwrap())
    }

    /// `GET /_sim/state`.
    pub async fn state(&self) -> Value {
        let (_, _, text) = self.http("GET", "/_sim/state", &[], None).await;
        serde_json::from_str(&text).unwrap()
    }

    /// Polls `GET /_sim/state` until `ready` holds (panics after [`WAIT`]).
    pub async fn wait_state(&self, ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let state = self.state().await;
            if ready(&state) {
                return state;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "state never matched: {state}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Connects to `/` with a query.
    pub async fn connect(&self, query: &str) -> Ws {
        connect(&format!("ws://{}/?{query}", self.addr)).await
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects a WebSocket client.
pub async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("connect")
        .0
}

/// The next data message (text or binary), skipping pings.
pub async fn next_message(ws: &mut Ws) -> Message {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out waiting for a frame")
            .expect("stream ended")
            .expect("websocket error");
        if !matches!(msg, Message::Ping(_) | Message::Pong(_)) {
            return msg;
        }
    }
}

/// The next text frame, as JSON and as text.
pub async fn recv_text(ws: &mut Ws) -> (Value, String) {
    match next_message(ws).await {
        Message::Text(text) => (serde_json::from_str(&text).unwrap(), text.to_string()),
        other => panic!("expected text, got {other:?}"),
    }
}

/// The next payload as JSON.
pub async fn recv(ws: &mut Ws) -> Value {
    recv_text(ws).await.0
}

/// Sends a JSON payload.
pub async fn send(ws: &mut Ws, payload: Value) {
    ws.send(Message::text(payload.to_string())).await.unwrap();
}

/// Waits for the server's close frame and returns its code.
pub async fn expect_close(ws: &mut Ws) -> u16 {
    loop {
        match next_message(ws).await {
            Message::Close(Some(frame)) => return u16::from(frame.code),
            Message::Close(None) => panic!("close without code"),
            _ => {}
        }
    }
}

/// An Identify payload.
pub fn identify(token: &str, intents: u64) -> Value {
    json!({"op": 2, "d": {
        "token": token,
        "intents": intents,
        "properties": {"os": "linux", "browser": "test", "device": "test"},
    }})
}

/// GUILDS | GUILD_MESSAGES | GUILD_MESSAGE_REACTIONS | DIRECT_MESSAGES | MESSAGE_CONTENT.
pub const INTENTS: u64 = 1 | (1 << 9) | (1 << 10) | (1 << 12) | (1 << 15);

/// Connects, reads Hello, identifies and reads READY and GUILD_CREATE; returns READY's `d`.
pub async fn identified(sim: &Sim, token: &str) -> (Ws, Value) {
    let mut ws = sim.connect("v=10&encoding=json").await;
    let hello = recv(&mut ws).await;
    assert_eq!(hello["op"], 10);
    send(&mut ws, identify(token, INTENTS)).await;
    let ready = recv(&mut ws).await;
    assert_eq!(ready["t"], "READY");
    let guild = recv(&mut ws).await;
    assert_eq!(guild["t"], "GUILD_CREATE");
    (ws, ready["d"].clone())
}

/// The `d` of a frame as raw text (the frame is `{"t":..,"s":..,"op":0,"d":<raw>}`).
pub fn raw_d(frame: &str) -> &str {
    let start = frame.find(",\"d\":").expect("d field") + 5;
    &frame[start..frame.len() - 1]
}
