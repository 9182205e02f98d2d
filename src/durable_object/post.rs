//! One webhook POST, one level below `worker::Fetch`: `fetch(url, init)` straight from
//! `web_sys`, with no `Request` object built and no `worker::Response` conversion (which copies
//! every header), and the answer's body consumed in one `arrayBuffer()` call when it declares a
//! small length instead of chunk by chunk through a stream reader. Issue 9: these crossings were
//! most of the per-event cost in workerd, more than our own code.

use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{js_sys, web_sys};

use crate::delivery::retry::parse_retry_after;

/// What the webhook answered.
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// `Retry-After`, in milliseconds.
    pub retry_after_ms: Option<u64>,
    /// The answer, for its body: see [`Answer::consume`].
    response: web_sys::Response,
}

/// Why a POST got no answer, in words for the logs.
pub type Failure = String;

fn failure(what: &str, e: &JsValue) -> Failure {
    match e.as_string() {
        Some(s) => format!("{what}: {s}"),
        None => format!("{what}: {e:?}"),
    }
}

/// POSTs `body` to `url` with `headers`, no redirects followed, aborted after `timeout_ms`.
pub async fn post(
    url: &str,
    headers: &web_sys::Headers,
    body: &str,
    timeout_ms: u32,
) -> Result<Answer, Failure> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(headers);
    init.set_body(&JsValue::from_str(body));
    init.set_redirect(web_sys::RequestRedirect::Manual);
    let signal = web_sys::AbortSignal::timeout_with_u32(timeout_ms);
    init.set_signal(Some(&signal));
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let response = JsFuture::from(global.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|e| failure("fetch", &e))?;
    let response: web_sys::Response = response
        .dyn_into()
        .map_err(|e| failure("fetch answered", &e))?;
    let retry_after_ms = response
        .headers()
        .get("retry-after")
        .ok()
        .flatten()
        .and_then(|value| parse_retry_after(&value));
    Ok(Answer {
        status: response.status(),
        retry_after_ms,
        response,
    })
}

impl Answer {
    /// The answer's body, if it has one and its `Content-Length` is at most `cap`: read whole
    /// in one call. `Ok(false)`: it has a body of unknown or larger length, for the caller to
    /// drain with a cap through [`Answer::body`].
    pub async fn consume_small(&self, cap: usize) -> Result<bool, Failure> {
        if self.response.body().is_none() {
            return Ok(true);
        }
        let declared = self
            .response
            .headers()
            .get("content-length")
            .ok()
            .flatten()
            .and_then(|length| length.trim().parse::<usize>().ok());
        if declared.is_none_or(|length| length > cap) {
            return Ok(false);
        }
        let read = self
            .response
            .array_buffer()
            .map_err(|e| failure("body", &e))?;
        JsFuture::from(read)
            .await
            .map_err(|e| failure("body", &e))?;
        Ok(true)
    }

    /// The answer's body stream, if it has one.
    pub fn body(&self) -> Option<web_sys::ReadableStream> {
        self.response.body()
    }
}
