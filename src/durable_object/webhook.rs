//! Delivering outbox events to the webhook, beside the gateway loop: one request at a time per
//! channel, a few channels at once, never awaited by frame processing.

use std::rc::Rc;

use worker::console_error;

use super::post::post;
use super::runtime::{now, Runtime};
use super::store::OutboxRow;
use crate::api::{ConnectSettings, WebhookTarget, MAX_DEAD_LETTERS};
use crate::delivery::envelope::{EVENT_ID_HEADER, GATEWAY_TOKEN_HEADER};
use crate::delivery::lanes::Finished;
use crate::delivery::retry::{Attempt, Outcome, RetryPolicy};
use crate::delivery::signature::{ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// The most of a webhook's answer that is read; the rest is cancelled. Only the status counts.
const MAX_RESPONSE_BODY_BYTES: u32 = 64 * 1024;

/// Starts deliveries for due events of idle channels, up to the concurrency bound.
pub fn pump(runtime: &Rc<Runtime>) {
    // Runs after every input: cheap when nothing is due (no allocation, no storage access).
    let concurrency = match runtime.settings.borrow().as_ref() {
        Some(settings) => settings.delivery.concurrency as usize,
        None => return,
    };
    // At most 5: a Worker may hold six connections, the gateway socket takes one.
    let limit = concurrency.saturating_sub(runtime.lanes.borrow().in_flight());
    if limit == 0 {
        return;
    }
    let due = runtime.lanes.borrow_mut().take_due(now(), limit);
    if due.is_empty() {
        return;
    }
    let Some(settings) = runtime.settings.borrow().clone().map(Rc::new) else {
        return;
    };
    for (channel, id) in due {
        match take_row(runtime, id) {
            Ok(Some(row)) => {
                worker::wasm_bindgen_futures::spawn_local(deliver(
                    runtime.clone(),
                    settings.clone(),
                    row,
                ));
            }
            Ok(None) => runtime
                .lanes
                .borrow_mut()
                .finish(&channel, Finished::Removed, now()),
            Err(e) => {
                console_error!("could not read event {id}: {e}");
                runtime.lanes.borrow_mut().finish(
                    &channel,
                    Finished::RetryAt(now() + 1_000),
                    now(),
                );
            }
        }
    }
}

/// Keeps a copy of a stored, waiting event in memory (if it fits the budget).
pub fn keep_copy(runtime: &Runtime, row: OutboxRow) {
    let bytes = row.body.len() + row.channel.len() + row.session_id.len();
    runtime.warm.borrow_mut().keep(row.id, row, bytes);
}

/// Event `id`: its copy in memory, else read back from storage (and counted).
fn take_row(runtime: &Runtime, id: i64) -> worker::Result<Option<OutboxRow>> {
    if let Some(row) = runtime.warm.borrow_mut().take(id) {
        return Ok(Some(row));
    }
    let row = runtime.store.row(id)?;
    if row.is_some() {
        runtime.delivery.borrow_mut().events_read_back += 1;
    }
    Ok(row)
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
    let sequence = u64::try_from(row.sequence).unwrap_or(0);
    let stored = match &outcome {
        Outcome::Delivered => {
            runtime.delivery.borrow_mut().delivered += 1;
            runtime.delivered(row.id, sequence);
            Ok(())
        }
        Outcome::Retry { at, reason } => {
            let mut counters = runtime.delivery.borrow_mut();
            counters.failed_attempts += 1;
            counters.last_error = Some(reason.clone());
            runtime.store.retry_at(row.id, attempts, *at, reason)
        }
        Outcome::DeadLetter { reason } => {
            console_error!("event {} dead-lettered: {reason}", row.event_id());
            runtime.delivery.borrow_mut().last_error = Some(reason.clone());
            runtime.event_left_outbox(sequence);
            runtime
                .store
                .dead_letter(row.id, attempts, reason, MAX_DEAD_LETTERS)
                .map(|discarded| {
                    runtime.delivery.borrow_mut().dead_letters_discarded += discarded as u64;
                })
        }
    };
    let retry_later = match stored {
        Err(e) => {
            console_error!("could not record the delivery of {}: {e}", row.event_id());
            false
        }
        Ok(()) => matches!(outcome, Outcome::Retry { .. }),
    };
    let finished = match outcome {
        Outcome::Retry { at, .. } => Finished::RetryAt(at),
        Outcome::Delivered | Outcome::DeadLetter { .. } => Finished::Removed,
    };
    runtime
        .lanes
        .borrow_mut()
        .finish(&row.channel, finished, now());
    if retry_later {
        // The stored row now says `attempts`; its copy waits in memory for the next attempt.
        keep_copy(&runtime, OutboxRow { attempts, ..row });
    }
    runtime.after_io();
}
