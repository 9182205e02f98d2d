//! One webhook POST, in one call into JavaScript: the headers, `fetch` (no redirects followed,
//! aborted after the timeout) and the reading of the answer's body all happen on the JS side,
//! and only the status and `Retry-After` come back. Issue 9: the crossings between Wasm and the
//! runtime were most of the per-event cost in workerd, more than our own code; built call by
//! call (headers, init, signal, fetch, then each chunk of the answer through a stream reader
//! and its promises) a POST made about two dozen of them, and each woke the futures executor.
//!
//! No future waits for the answer (issue 9, steady path): the JS side calls the request's one
//! callback when it is known, straight from the promise's reaction, so a POST costs no task of
//! the futures executor (a `queueMicrotask` and a poll to start it, two closures, a promise
//! and another wake to learn its end).
//!
//! The answer's body is read so the connection is released, but never more than `cap` bytes of
//! it: a declared small length is read in one `arrayBuffer()` call, anything else chunk by
//! chunk and cancelled once past the cap (an endless or huge answer costs neither time nor
//! memory). A body that breaks off is a failed attempt, like no answer at all.

use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::JsValue;

use crate::delivery::retry::parse_retry_after;

#[wasm_bindgen(inline_js = r#"
export function postWebhook(url, headerList, body, timeoutMs, cap, done) {
  send(url, headerList, body, timeoutMs, cap).then(
    (a) => done(a.status, a.retryAfter ?? undefined, undefined),
    (e) => done(0, undefined, `fetch: ${e}`),
  );
}
export function failLater(message, done) {
  queueMicrotask(() => done(0, undefined, message));
}
async function send(url, headerList, body, timeoutMs, cap) {
  const headers = new Headers();
  const parts = headerList.split('\n');
  for (let i = 0; i + 1 < parts.length; i += 2) headers.set(parts[i], parts[i + 1]);
  const response = await fetch(url, {
    method: 'POST',
    headers,
    body,
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  });
  // Each getter of the answer is a call into the runtime (`body` makes a stream object):
  // only what is needed is read. Retry-After counts only for an answer that is retried.
  const status = response.status;
  const head = response.headers;
  const answer = { status, retryAfter: status >= 200 && status < 300 ? null : head.get('retry-after') };
  const declared = head.get('content-length');
  const length = declared === null || !/^\s*\d+\s*$/.test(declared) ? NaN : Number(declared);
  if (length <= cap) {
    await response.arrayBuffer();
    return answer;
  }
  const stream = response.body;
  if (stream === null) return answer;
  // A stream left locked after its end keeps what it holds alive: the lock is always released.
  const reader = stream.getReader();
  try {
    let read = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return answer;
      read += value.byteLength;
      if (read >= cap) {
        await reader.cancel().catch(() => {});
        return answer;
      }
    }
  } finally {
    reader.releaseLock();
  }
}
"#)]
extern "C" {
    /// POSTs `body` to `url` with the headers of `header_list` (names and values, one a line,
    /// alternating); once at most `cap` bytes of the answer's body were read, calls `done` with
    /// the status and `Retry-After` (`undefined` when absent), or with status 0 and the error
    /// when there was no answer or its body broke off.
    #[wasm_bindgen(js_name = postWebhook)]
    fn post_webhook(
        url: &str,
        header_list: &str,
        body: &str,
        timeout_ms: u32,
        cap: u32,
        done: &JsValue,
    );

    /// Calls `done` as `postWebhook` does for a failure, with `message`, from a microtask.
    #[wasm_bindgen(js_name = failLater)]
    fn fail_later(message: &str, done: &JsValue);
}

/// What the webhook answered.
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// `Retry-After`, in milliseconds.
    pub retry_after_ms: Option<u64>,
}

/// Why a POST got no answer, in words for the logs.
pub type Failure = String;

/// The headers of a request, as `post_webhook` takes them: names and values, one a line. A
/// name or value holding a line break is no valid header: `None`.
fn header_list(headers: &[(&str, &str)]) -> Option<String> {
    let mut list = String::with_capacity(headers.iter().map(|(n, v)| n.len() + v.len() + 2).sum());
    for (name, value) in headers {
        if [name, value].iter().any(|s| s.contains(['\n', '\r'])) {
            return None;
        }
        list.push_str(name);
        list.push('\n');
        list.push_str(value);
        list.push('\n');
    }
    Some(list)
}

/// POSTs `body` to `url` with `headers`, no redirects followed, aborted after `timeout_ms`;
/// reads at most `cap` bytes of the answer's body, then calls `done` with the outcome (never
/// before this returns: from the promise's reaction, with no Rust code running).
pub fn post(
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
    timeout_ms: u32,
    cap: u32,
    done: impl FnOnce(Result<Answer, Failure>) + 'static,
) {
    let list = header_list(headers);
    let done = Closure::once_into_js(
        move |status: u16, retry_after: Option<String>, error: Option<String>| {
            done(match error {
                Some(error) => Err(error),
                None => Ok(Answer {
                    status,
                    retry_after_ms: retry_after.and_then(|value| parse_retry_after(&value)),
                }),
            })
        },
    );
    match list {
        Some(list) => post_webhook(url, &list, body, timeout_ms, cap, &done),
        None => fail_later("a header holds a line break", &done),
    }
}
