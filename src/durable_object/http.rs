//! Outbound HTTP shared by the gateway and webhook sides: fetch with a timeout, `Retry-After`.

use worker::{web_sys, AbortSignal, Fetch, Request, Response};

use crate::delivery::retry::parse_retry_after;

/// Sends `request`, aborting it after `timeout_ms`.
pub async fn send(request: Request, timeout_ms: u32) -> worker::Result<Response> {
    let signal = AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(timeout_ms));
    Fetch::Request(request).send_with_signal(&signal).await
}

/// The response's `Retry-After`, in milliseconds.
pub fn retry_after_ms(response: &Response) -> Option<u64> {
    response
        .headers()
        .get("retry-after")
        .ok()
        .flatten()
        .and_then(|value| parse_retry_after(&value))
}
