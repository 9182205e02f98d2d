//! The gateway socket's events, fed to the engine from the socket's own callbacks.
//!
//! `worker::WebSocket::events()` queues every event into a channel that an async task drains:
//! a task wake-up (a `queueMicrotask`) and a poll per frame. Here the `message`, `close` and
//! `error` listeners hand each event to a handler at once, in the order they fire; one future
//! only waits for the end, to keep the listeners alive until then.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use futures_channel::oneshot;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use worker::{js_sys, web_sys};

/// One event of the socket, as the engine takes it.
pub enum SocketEvent {
    /// A text message.
    Text(String),
    /// A binary message (transport compression).
    Binary(Vec<u8>),
    /// The socket closed.
    Closed {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// The socket failed; workerd follows an error with no close event.
    Failed(String),
}

impl SocketEvent {
    fn of_message(event: &web_sys::MessageEvent) -> Option<Self> {
        let data = event.data();
        if data.is_string() {
            return Some(Self::Text(utf8_of(&data)?));
        }
        let buffer = data.dyn_into::<js_sys::ArrayBuffer>().ok()?;
        Some(Self::Binary(js_sys::Uint8Array::new(&buffer).to_vec()))
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The platform's `TextEncoder`.
    type TextEncoder;
    #[wasm_bindgen(constructor)]
    fn new() -> TextEncoder;
    /// Encodes `text` straight into `dest` (a view of Wasm memory): no JS buffer in between.
    #[wasm_bindgen(method, js_name = encodeInto)]
    fn encode_into(this: &TextEncoder, text: &wasm_bindgen::JsValue, dest: &mut [u8]) -> Encoded;

    /// What `encodeInto` did.
    type Encoded;
    #[wasm_bindgen(method, getter)]
    fn read(this: &Encoded) -> u32;
    #[wasm_bindgen(method, getter)]
    fn written(this: &Encoded) -> u32;
}

thread_local! {
    static ENCODER: TextEncoder = TextEncoder::new();
}

/// A JS string as UTF-8, encoded natively into Rust's memory in one call (wasm-bindgen's own
/// conversion walks the string character by character in JavaScript first; `encode` makes a
/// JS buffer that is then copied).
fn utf8_of(text: &wasm_bindgen::JsValue) -> Option<String> {
    let units = text.dyn_ref::<js_sys::JsString>()?.length();
    // A UTF-16 code unit takes at most 3 bytes of UTF-8 (a surrogate pair, 2 units, takes 4).
    let mut bytes = vec![0u8; (units as usize).checked_mul(3)?];
    let encoded = ENCODER.with(|encoder| encoder.encode_into(text, &mut bytes));
    if encoded.read() != units {
        return None;
    }
    bytes.truncate(encoded.written() as usize);
    String::from_utf8(bytes).ok()
}

/// What to do after an event: keep listening, or stop (the socket is gone or superseded).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Keep listening.
    Continue,
    /// Remove the listeners; no more events are handled.
    Stop,
}

/// Hands every event of `ws` to `handle`, one at a time and in order (an event that fires while
/// `handle` runs waits for it to return), until `handle` answers [`Next::Stop`]. The listeners
/// are added before this returns (so before the socket is accepted) and stay until the returned
/// [`Listening`] is dropped; await [`Listening::ended`] to keep them.
pub fn listen(
    ws: &web_sys::WebSocket,
    handle: impl FnMut(SocketEvent) -> Next + 'static,
) -> Result<Listening, String> {
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let dispatcher = Rc::new(Dispatcher {
        handle: RefCell::new(Box::new(handle)),
        queue: RefCell::new(VecDeque::new()),
        stopped: Cell::new(false),
        done: RefCell::new(Some(done_tx)),
    });
    let on_message = {
        let d = dispatcher.clone();
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            if let Some(event) = SocketEvent::of_message(&event) {
                d.dispatch(event);
            }
        })
    };
    let on_close = {
        let d = dispatcher.clone();
        Closure::<dyn FnMut(web_sys::CloseEvent)>::new(move |event: web_sys::CloseEvent| {
            d.dispatch(SocketEvent::Closed {
                code: event.code(),
                reason: event.reason(),
            });
        })
    };
    let on_error = {
        let d = dispatcher;
        Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |event: web_sys::ErrorEvent| {
            d.dispatch(SocketEvent::Failed(
                worker::Error::from(event.error()).to_string(),
            ));
        })
    };
    let mut listening = Listening {
        ws: ws.clone(),
        listeners: Vec::with_capacity(3),
        done: done_rx,
    };
    for (kind, callback) in [
        ("message", on_message.into_js_value()),
        ("close", on_close.into_js_value()),
        ("error", on_error.into_js_value()),
    ] {
        let callback: js_sys::Function = callback.unchecked_into();
        ws.add_event_listener_with_callback(kind, &callback)
            .map_err(|e| format!("could not listen to the socket's {kind} events: {e:?}"))?;
        listening.listeners.push((kind, callback));
    }
    Ok(listening)
}

/// The listeners of one socket; dropping it removes them.
pub struct Listening {
    ws: web_sys::WebSocket,
    listeners: Vec<(&'static str, js_sys::Function)>,
    done: oneshot::Receiver<()>,
}

impl Listening {
    /// Resolves once the handler answered [`Next::Stop`]; the listeners go with `self`.
    pub async fn ended(mut self) {
        // Err only when the sender is gone, which is the end too.
        let _ = (&mut self.done).await;
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        for (kind, callback) in &self.listeners {
            let _ = self.ws.remove_event_listener_with_callback(kind, callback);
        }
    }
}

/// The shared state of the listeners.
struct Dispatcher {
    handle: RefCell<Box<dyn FnMut(SocketEvent) -> Next>>,
    /// Events that fired while `handle` was running.
    queue: RefCell<VecDeque<SocketEvent>>,
    stopped: Cell<bool>,
    done: RefCell<Option<oneshot::Sender<()>>>,
}

impl Dispatcher {
    fn dispatch(&self, event: SocketEvent) {
        if self.stopped.get() {
            return;
        }
        self.queue.borrow_mut().push_back(event);
        // Already handling an event further up this stack: it takes this one next.
        let Ok(mut handle) = self.handle.try_borrow_mut() else {
            return;
        };
        loop {
            let Some(event) = self.queue.borrow_mut().pop_front() else {
                return;
            };
            if handle(event) == Next::Stop {
                self.stopped.set(true);
                self.queue.borrow_mut().clear();
                if let Some(done) = self.done.borrow_mut().take() {
                    let _ = done.send(());
                }
                return;
            }
        }
    }
}
