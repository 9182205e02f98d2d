//! Delivering outbox events to the push subscriptions' webhooks, beside the gateway loop: one
//! request at a time per subscription and channel, a few at once (shared between the
//! subscriptions), never awaited by frame processing. A leaf: it takes due events from the
//! [`Outbox`](super::outbox::Outbox), sends each to its subscription's webhook, and reports the
//! outcome to it. The `default` subscription's webhook is the connect settings'; only its
//! unsigned requests carry the bot token (`x-discord-gateway-token`, the Chat SDK's check):
//! another tenant's never do.

use std::rc::Rc;

use super::post::post;
use super::runtime::{now, Runtime};
use super::store::OutboxRow;
use super::subscriptions::DEFAULT_ID;
use crate::api::{ConnectSettings, WebhookTarget};
use crate::delivery::envelope::{EVENT_ID_HEADER, GATEWAY_TOKEN_HEADER};
use crate::delivery::retry::{Attempt, Outcome, RetryPolicy};
use crate::delivery::signature::{ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::subscriptions::SubscriptionId;

/// The most of a webhook's answer that is read; the rest is cancelled. Only the status counts.
const MAX_RESPONSE_BODY_BYTES: u32 = 64 * 1024;

/// Starts deliveries for due events of idle channels at `now`, up to the concurrency bound.
pub fn pump(runtime: &Rc<Runtime>, now: u64) {
    // Runs after every input: cheap when nothing is due (no allocation, no storage access).
    let Some(settings) = runtime.shared_settings() else {
        return;
    };
    // At most 5: a Worker may hold six connections, the gateway socket takes one.
    let concurrency = settings.delivery.concurrency as usize;
    for (subscription, row) in runtime.outbox.take_due(&runtime.store, now, concurrency) {
        // `default`'s webhook is the settings' (no copy); another's is its own.
        let target = if subscription == DEFAULT_ID {
            None
        } else {
            match runtime.subscriptions.target(subscription) {
                Some(target) => Some(target),
                None => {
                    // Deleted since: its lanes are gone already.
                    runtime.outbox.forget_attempt(subscription, &row, now);
                    continue;
                }
            }
        };
        // Started here, not as a task: no executor turn per delivery (issue 9, steady path).
        deliver(runtime.clone(), settings.clone(), subscription, target, row);
    }
}

/// The headers of one attempt. Signed (a secret is set): the Standard Webhooks headers, and no
/// credential at all. Unsigned: for the `default` subscription (`token` given), the bot token
/// in `x-discord-gateway-token`, which is how the Chat SDK adapter authenticates the gateway;
/// for another subscription nothing. All carry `x-discord-gateway-event-id`.
fn request_headers(
    target: &WebhookTarget,
    token: Option<&str>,
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
        None => {
            if let Some(token) = token {
                headers.push((GATEWAY_TOKEN_HEADER, token.to_owned()));
            }
        }
    }
    headers
}

/// Sends `row` to its webhook now; [`finish`] handles the answer when it comes.
fn deliver(
    runtime: Rc<Runtime>,
    settings: Rc<ConnectSettings>,
    subscription: SubscriptionId,
    target: Option<WebhookTarget>,
    row: OutboxRow,
) {
    // `None`: the `default` subscription's webhook, the settings'.
    let webhook = target.as_ref().unwrap_or(&settings.webhook);
    let token = (subscription == DEFAULT_ID).then_some(settings.gateway.token.as_str());
    let headers = request_headers(webhook, token, &row);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let timeout = u32::try_from(settings.delivery.timeout_ms).unwrap_or(u32::MAX);
    // Shared with the answer's callback: no copy of the body or the settings per request.
    let row = Rc::new(row);
    let (kept_row, kept_settings) = (row.clone(), settings.clone());
    post(
        &webhook.url,
        &headers,
        &row.body,
        timeout,
        MAX_RESPONSE_BODY_BYTES,
        move |answer| {
            let result = match answer {
                Ok(answer) => Attempt {
                    status: Some(answer.status),
                    retry_after_ms: answer.retry_after_ms,
                },
                // No answer, or its body broke off.
                Err(_) => Attempt::default(),
            };
            finish(&runtime, &kept_settings, subscription, kept_row, result);
        },
    );
}

/// Records the outcome of an attempt at `row` and starts what is due next.
fn finish(
    runtime: &Rc<Runtime>,
    settings: &ConnectSettings,
    subscription: SubscriptionId,
    row: Rc<OutboxRow>,
    result: Attempt,
) {
    // One clock read for the outcome and its bookkeeping (the clock stands still meanwhile).
    let now = now();
    if subscription != DEFAULT_ID && runtime.subscriptions.target(subscription).is_none() {
        // Deleted while the request was under way: its holds are released already.
        runtime.outbox.forget_attempt(subscription, &row, now);
        runtime.after_io();
        return;
    }
    let attempts = row.attempts.saturating_add(1);
    let policy = RetryPolicy {
        max_age_ms: settings.delivery.max_age_ms,
        ..RetryPolicy::default()
    };
    let outcome = policy.outcome(
        result,
        u32::try_from(attempts).unwrap_or(u32::MAX),
        u64::try_from(row.created_at).unwrap_or(0),
        now,
        worker::js_sys::Math::random(),
    );
    match outcome {
        Outcome::Delivered => runtime.delivered(subscription, &row, now),
        Outcome::Retry { at, reason } => {
            runtime.outbox.mark_failed(
                &runtime.store,
                subscription,
                Rc::unwrap_or_clone(row),
                attempts,
                at,
                &reason,
                now,
            );
        }
        Outcome::DeadLetter { reason } => {
            runtime.outbox.mark_dead(
                &runtime.store,
                subscription,
                &row,
                attempts,
                &reason,
                now,
                |sequence| runtime.event_left_outbox(sequence),
            );
        }
    }
    runtime.after_io();
}
