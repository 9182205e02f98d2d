//! The Discord REST side: `GET /api/v10/gateway/bot`, `GET /api/v10/gateway`, attachment
//! downloads, and the error responses used for injected faults.

use serde_json::json;

use crate::http::{Request, Response};
use crate::ids::now_ms;
use crate::log;
use crate::state::{mask_token, Fault, Shared};

/// Body of an attachment download (the presets announce 12 bytes).
pub const ATTACHMENT_BODY: &str = "hello world\n";

/// The response for an injected fault.
pub fn fault_response(fault: &Fault) -> Response {
    let body = fault.body.clone().unwrap_or_else(|| match fault.status {
        429 => json!({
            "message": "You are being rate limited.",
            "retry_after": fault.retry_after_secs.unwrap_or(1.0),
            "global": fault.global,
        }),
        status => json!({
            "message": format!("{status}: {}", crate::http::reason(status)),
            "code": 0,
        }),
    });
    let mut response = Response::json(fault.status, &body);
    if let Some(secs) = fault.retry_after_secs {
        let value = if secs.fract() == 0.0 {
            format!("{}", secs as u64)
        } else {
            format!("{secs}")
        };
        response = response.with_header("retry-after", value);
    }
    if fault.status == 429 {
        response = response
            .with_header("x-ratelimit-global", fault.global.to_string())
            .with_header(
                "x-ratelimit-scope",
                if fault.global { "global" } else { "user" },
            );
    }
    response
}

/// `401: Unauthorized` as Discord sends it.
pub fn unauthorized() -> Response {
    Response::json(401, &json!({"message": "401: Unauthorized", "code": 0}))
}

/// The bot token of an `Authorization: Bot <token>` header.
fn bot_token(req: &Request) -> Option<&str> {
    let value = req.header("authorization")?.trim();
    let token = value.strip_prefix("Bot ")?.trim();
    (!token.is_empty() && !token.contains(char::is_whitespace)).then_some(token)
}

/// `GET /api/v10/gateway/bot`.
pub fn gateway_bot(shared: &Shared, req: &Request) -> Response {
    let mut sim = shared.lock();
    sim.gateway_bot_requests += 1;
    sim.trace.record("gateway_bot", None);
    if let Some(fault) = sim.config.gateway_bot_faults.pop_front() {
        log!("GET /gateway/bot -> injected {}", fault.status);
        return fault_response(&fault);
    }
    let Some(token) = bot_token(req) else {
        log!("GET /gateway/bot -> 401 (no bot authorization)");
        return unauthorized();
    };
    if sim.config.reject_tokens.contains(token) {
        log!(
            "GET /gateway/bot -> 401 (rejected token {})",
            mask_token(token)
        );
        return unauthorized();
    }
    let url = sim.base_ws.clone();
    let shards = sim.config.shards;
    let budget = sim.budget(token).clone();
    log!(
        "GET /gateway/bot {} -> 200 (remaining {})",
        mask_token(token),
        budget.remaining
    );
    Response::json(
        200,
        &json!({
            "url": url,
            "shards": shards,
            "session_start_limit": {
                "total": budget.total,
                "remaining": budget.remaining,
                "reset_after": budget.reset_at_ms.saturating_sub(now_ms()),
                "max_concurrency": budget.max_concurrency,
            },
        }),
    )
}

/// `GET /api/v10/gateway`.
pub fn gateway(shared: &Shared) -> Response {
    Response::json(200, &json!({"url": shared.lock().base_ws}))
}

/// `GET /attachments/...`: every attachment has the same small body.
pub fn attachment() -> Response {
    Response::text(200, ATTACHMENT_BODY)
}
