//! `gateway-sim`: a local Discord Gateway v10 simulator for end-to-end tests.
//!
//! One port serves the Discord REST endpoint `GET /api/v10/gateway/bot`, the Gateway WebSocket
//! (at `/` and at the `resume_gateway_url` `/resume`, with optional `zlib-stream` or
//! `zstd-stream` transport compression), the REST routes a bot talks back with (create message,
//! add/remove a reaction, with rate-limit buckets and `429`s: [`messages`]) and a JSON control API under `/_sim/` that injects
//! dispatches and faults and reports what the client did.

pub mod cli;
pub mod compression;
pub mod connection;
pub mod control;
pub mod http;
pub mod ids;
pub mod messages;
pub mod presets;
pub mod protocol;
pub mod rest;
pub mod server;
pub mod sharding;
pub mod state;
pub mod trace;

use std::future::Future;

use tokio::net::TcpListener;

/// Writes one log line to stderr.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        eprintln!("[gateway-sim] {}", format_args!($($arg)*))
    };
}

/// Serves the simulator on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    heartbeat_interval_ms: u64,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let shared = state::Shared::new(state::Sim::new(addr, heartbeat_interval_ms));
    server::serve(listener, shared, shutdown).await;
    Ok(())
}
