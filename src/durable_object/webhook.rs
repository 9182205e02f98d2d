//! Delivering outbox events to the webhook, beside the gateway loop: one request at a time per
//! channel, a few channels at once, never awaited by frame processing. A leaf: it takes due
//! events from the [`Outbox`](super::outbox::Outbox), sends each, and reports the outcome to it.

use std::rc::Rc;

use super::post::post;
use super::runtime::{now, Runtime};
use super::store::OutboxRow;
use crate::api::{ConnectSettings, WebhookTarget};
use crate::delivery::envelope::{EVENT_ID_HEADER, GATEWAY_TOKEN_HEADER};
use crate::delivery::retry::{Attempt, Outcome, RetryPolicy};
use crate::delivery::signature::{ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// The most of a webhook's answer that is read; the rest is cancelled. Only the status counts.
const MAX_RESPONSE_BODY_BYTES: u32 = 64 * 1024;

/// Starts deliveries for due events of idle channels, up to the concurrency bound.
pub fn pump(runtime: &Rc<Runtime>) {
    // Runs after every input: cheap when nothing is due (no allocation, no storage access).
    let Some(settings) = runtime.settings.borrow().clone().map(Rc::new) else {
        return;
    };
    // At most 5: a Worker may hold six connections, the gateway socket takes one.
    let concurrency = settings.delivery.concurrency as usize;
    for row in runtime.outbox.take_due(&runtime.store, now(), concurrency) {
        worker::wasm_bindgen_futures::spawn_local(deliver(runtime.clone(), settings.clone(), row));
    }
}

/// The headers of one attempt. Signed (a secret is set): the Standard Webhooks headers, and no
/// credential at all. Unsigned: the bot token in `x-discord-gateway-token`, which is how the
/// Chat SDK adapter authenticates the gateway. Both carry `x-discord-gateway-event-id`.
fn request_headers(
    target: &WebhookTarget,
    token: &str,
    row: &OutboxRow,
) -> Vec<(&'static str, String)> {
    let event_id = row.event_id();
    let mut headers = vec![
        ("content-type", "application/json".to_owned()),
        (EVENT_ID_HEADER, event_id.clone()),
    ];
    match target.signing_key() {
        Some(key) => {
            // Signed at each attempt, so the timestamp tells the receiver how fresh it is.
            let timestamp = now() / 1_000;
            let signature = key.sign(&event_id, timestamp, row.body.as_bytes());
            headers.push((ID_HEADER, event_id));
            headers.push((TIMESTAMP_HEADER, timestamp.to_string()));
            headers.push((SIGNATURE_HEADER, signature));
        }
        None => headers.push((GATEWAY_TOKEN_HEADER, token.to_owned())),
    }
    headers
}

async fn attempt(settings: &ConnectSettings, row: &OutboxRow) -> Attempt {
    let headers = request_headers(&settings.webhook, &settings.gateway.token, row);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let timeout = u32::try_from(settings.delivery.timeout_ms).unwrap_or(u32::MAX);
    match post(
        &settings.webhook.url,
        &headers,
        &row.body,
        timeout,
        MAX_RESPONSE_BODY_BYTES,
    )
    .await
    {
        Ok(answer) => Attempt {
            status: Some(answer.status),
            retry_after_ms: answer.retry_after_ms,
        },
        // No answer, or its body broke off.
        Err(_) => Attempt::default(),
    }
}

async fn deliver(runtime: Rc<Runtime>, settings: Rc<ConnectSettings>, row: OutboxRow) {
    let result = attempt(&settings, &row).await;
    let attempts = row.attempts.saturating_add(1);
    let policy = RetryPolicy {
        max_age_ms: settings.delivery.max_age_ms,
        ..RetryPolicy::default()
    };
    let outcome = policy.outcome(
        result,
        u32::try_from(attempts).unwrap_or(u32::MAX),
        u64::try_from(row.created_at).unwrap_or(0),
        now(),
        worker::js_sys::Math::random(),
    );
    match outcome {
        Outcome::Delivered => runtime.delivered(&row),
        Outcome::Retry { at, reason } => {
            runtime
                .outbox
                .mark_failed(&runtime.store, row, attempts, at, &reason, now());
        }
        Outcome::DeadLetter { reason } => {
            runtime
                .outbox
                .mark_dead(&runtime.store, &row, attempts, &reason, now(), |sequence| {
                    runtime.event_left_outbox(sequence)
                });
        }
    }
    runtime.after_io();
}
