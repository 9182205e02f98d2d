//! One WebSocket connection: feeds client messages to the protocol state and carries out
//! what the state queued for it (payloads, raw frames, close, abort).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::compression::{Compressor, Encoded};
use crate::log;
use crate::state::{Outbound, Shared};

/// How long to wait for the client's close frame after sending ours.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Serves one upgraded connection until it ends.
pub async fn run(
    shared: Shared,
    mut ws: WebSocketStream<TcpStream>,
    path: &'static str,
    query: String,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (id, kind) = shared.lock().open_connection(path, &query, tx);
    let mut compressor = match Compressor::new(kind) {
        Ok(c) => c,
        Err(e) => {
            log!("conn {id}: cannot set up compression: {e}");
            shared.lock().connection_ended(id, None);
            return;
        }
    };
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => shared.lock().on_client_text(id, text.as_str()),
                Some(Ok(Message::Binary(bytes))) => match std::str::from_utf8(&bytes) {
                    Ok(text) => shared.lock().on_client_text(id, text),
                    Err(_) => shared.lock().on_client_undecodable(id),
                },
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map(|f| u16::from(f.code));
                    shared.lock().connection_ended(id, code);
                    // Let tungstenite answer the close frame.
                    let _ = tokio::time::timeout(CLOSE_GRACE, async {
                        while let Some(Ok(_)) = ws.next().await {}
                    })
                    .await;
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            out = rx.recv() => match out {
                Some(Outbound::Payload(text)) => {
                    let split = shared.lock().config.zlib_split.clone();
                    if send_encoded(&mut ws, &mut compressor, &text, split.as_ref()).await.is_err() {
                        break;
                    }
                }
                Some(Outbound::Frame(message)) => {
                    if ws.send(message).await.is_err() {
                        break;
                    }
                }
                Some(Outbound::Close(code, reason)) => {
                    let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                    if ws.close(Some(frame)).await.is_ok() {
                        // Read until the client answers the close (or gives up).
                        let reply = tokio::time::timeout(CLOSE_GRACE, async {
                            while let Some(Ok(message)) = ws.next().await {
                                if let Message::Close(frame) = message {
                                    return frame.map(|f| u16::from(f.code));
                                }
                            }
                            None
                        })
                        .await;
                        if let Ok(Some(code)) = reply {
                            log!("conn {id}: client answered close with {code}");
                        }
                    }
                    break;
                }
                Some(Outbound::Abort) | None => {
                    // Reset instead of a graceful FIN, like a dropped network path.
                    let _ = ws.get_ref().set_zero_linger();
                    break;
                }
            },
        }
    }
    shared.lock().connection_ended(id, None);
}

/// Compresses (if configured) and sends one gateway message.
async fn send_encoded(
    ws: &mut WebSocketStream<TcpStream>,
    compressor: &mut Compressor,
    text: &str,
    split: Option<&crate::compression::Split>,
) -> Result<(), ()> {
    match compressor.encode(text, split).map_err(|_| ())? {
        Encoded::Text(text) => ws.send(Message::text(text)).await.map_err(|_| ()),
        Encoded::Binary(chunks) => {
            for chunk in chunks {
                ws.feed(Message::binary(chunk)).await.map_err(|_| ())?;
            }
            ws.flush().await.map_err(|_| ())
        }
    }
}
