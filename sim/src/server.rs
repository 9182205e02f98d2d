//! The accept loop and request routing: Discord REST, WebSocket upgrades and the control API
//! all share one port.

use std::future::Future;

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use crate::http::{read_request, ReadError, Request, Response};
use crate::state::Shared;
use crate::{connection, control, log, rest};

/// Accepts connections until `shutdown` resolves.
pub async fn serve(listener: TcpListener, shared: Shared, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(handle_stream(stream, shared.clone()));
                }
                Err(e) => log!("accept failed: {e}"),
            },
        }
    }
}

/// Reads one request and answers it (or hands the socket to a WebSocket connection).
async fn handle_stream(mut stream: TcpStream, shared: Shared) {
    let (req, leftover) = match read_request(&mut stream).await {
        Ok(parsed) => parsed,
        Err(ReadError::Io) => return,
        Err(ReadError::Bad(status, message)) => {
            Response::json(status, &json!({"error": message}))
                .write_to(&mut stream)
                .await;
            return;
        }
    };
    if req.is_websocket_upgrade() {
        return upgrade(stream, req, leftover, shared).await;
    }
    let response = route(&shared, &req);
    response.write_to(&mut stream).await;
}

/// Plain HTTP routes.
fn route(shared: &Shared, req: &Request) -> Response {
    let path = req.path.as_str();
    if path.starts_with("/_sim/") {
        return control::handle(shared, req);
    }
    if crate::messages::serves(&req.method, path) {
        return crate::messages::handle(shared, req);
    }
    match (req.method.as_str(), path) {
        ("GET", "/api/v10/gateway/bot") => rest::gateway_bot(shared, req),
        ("GET", "/api/v10/gateway") => rest::gateway(shared),
        ("GET", p) if p.starts_with("/attachments/") => rest::attachment(),
        ("GET", "/" | "/resume" | "/resume/") => Response::json(
            426,
            &json!({"message": "gateway-sim: connect with a WebSocket upgrade", "code": 0}),
        ),
        _ => Response::json(404, &json!({"message": "404: Not Found", "code": 0})),
    }
}

/// The gateway path an upgrade asked for, normalised to `/` or `/resume`.
fn gateway_path(path: &str) -> Option<&'static str> {
    match path {
        "/" | "" => Some("/"),
        "/resume" | "/resume/" => Some("/resume"),
        _ => None,
    }
}

/// Answers a WebSocket upgrade: an injected fault, an error, or 101 and a gateway session.
async fn upgrade(mut stream: TcpStream, req: Request, leftover: Vec<u8>, shared: Shared) {
    let (fault, refuse_resume_host) = {
        let mut sim = shared.lock();
        sim.upgrade_requests += 1;
        (
            sim.config.upgrade_faults.pop_front(),
            sim.config.refuse_resume_host,
        )
    };
    if let Some(fault) = fault {
        log!(
            "upgrade {}?{} -> injected {}",
            req.path,
            req.query,
            fault.status
        );
        return rest::fault_response(&fault).write_to(&mut stream).await;
    }
    let Some(path) = gateway_path(&req.path) else {
        return Response::json(404, &json!({"message": "404: Not Found", "code": 0}))
            .write_to(&mut stream)
            .await;
    };
    if path == "/resume" && refuse_resume_host {
        log!("upgrade {}?{} -> resume host refused", req.path, req.query);
        return Response::json(
            503,
            &json!({"message": "gateway-sim: the resume host is refusing connections", "code": 0}),
        )
        .write_to(&mut stream)
        .await;
    }
    let key = req.header("sec-websocket-key");
    let version_ok = req.header("sec-websocket-version").map(str::trim) == Some("13");
    let (Some(key), true, "GET") = (key, version_ok, req.method.as_str()) else {
        return Response::json(400, &json!({"error": "bad WebSocket upgrade request"}))
            .write_to(&mut stream)
            .await;
    };
    let accept = derive_accept_key(key.trim().as_bytes());
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    shared.lock().trace.record("upgraded", None);
    let ws = WebSocketStream::from_partially_read(stream, leftover, Role::Server, None).await;
    connection::run(shared, ws, path, req.query).await;
}
