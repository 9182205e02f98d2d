//! Reading HTTP bodies with a size limit, never more than the limit into memory.
//!
//! A request body is refused before it is read when its `Content-Length` is over the limit, and
//! its stream is cancelled as soon as more than the limit has arrived (a chunked upload has no
//! length to check first). A body that cannot be read to its end (the client went away, the
//! upload was cut) is an error, never an empty body: an empty body has a meaning of its own on
//! some routes. [`LimitedBody`] holds the rules and runs natively; `read_request_body` applies
//! them to a runtime stream (Wasm only). A webhook's answer is read with a cap on the JS side
//! (`durable_object::post`).

use crate::api::ApiError;

/// Why a body was not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// The body is (or was going to be) larger than `limit` bytes: `413`.
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body could not be read to its end, or its length is not what it declared: `400`.
    Incomplete {
        /// What went wrong.
        reason: String,
    },
}

impl From<BodyError> for ApiError {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::TooLarge { limit } => ApiError::new(
                413,
                None,
                format!("request body is larger than {limit} bytes"),
            ),
            BodyError::Incomplete { reason } => ApiError::bad_request(
                None,
                format!("the request body could not be read completely ({reason}); nothing was done: send it again"),
            ),
        }
    }
}

/// A body being collected: at most `limit` bytes, and exactly its `Content-Length` if it has one.
#[derive(Debug)]
pub struct LimitedBody {
    limit: usize,
    declared: Option<usize>,
    bytes: Vec<u8>,
}

impl LimitedBody {
    /// Starts a body whose `Content-Length` header is `declared`; refuses it at once when that
    /// is over `limit` or not a length.
    pub fn new(limit: usize, declared: Option<&str>) -> Result<Self, BodyError> {
        let declared = match declared.map(str::trim) {
            None => None,
            Some(value) if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(BodyError::Incomplete {
                    reason: "Content-Length is not a length".into(),
                })
            }
            // Digits that do not even fit in a u64 are a length over any limit.
            Some(value) => match value.parse::<u64>() {
                Ok(length) if length <= limit as u64 => Some(length as usize),
                _ => return Err(BodyError::TooLarge { limit }),
            },
        };
        Ok(Self {
            limit,
            declared,
            bytes: Vec::with_capacity(declared.unwrap_or(0)),
        })
    }

    /// Takes the next `len` bytes, written by `fill` into the slice it is given; refuses them
    /// without calling `fill` when they would take the body over its limit.
    pub fn push_with(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) -> Result<(), BodyError> {
        let total = self.bytes.len().saturating_add(len);
        if total > self.limit {
            return Err(BodyError::TooLarge { limit: self.limit });
        }
        if self.declared.is_some_and(|declared| total > declared) {
            return Err(BodyError::Incomplete {
                reason: "more bytes than its Content-Length".into(),
            });
        }
        let start = self.bytes.len();
        self.bytes.resize(total, 0);
        fill(&mut self.bytes[start..]);
        Ok(())
    }

    /// Takes the next bytes.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), BodyError> {
        self.push_with(chunk.len(), |slot| slot.copy_from_slice(chunk))
    }

    /// The whole body, once its stream has ended: as long as it declared, if it did.
    pub fn finish(self) -> Result<Vec<u8>, BodyError> {
        match self.declared {
            Some(declared) if declared != self.bytes.len() => Err(BodyError::Incomplete {
                reason: format!(
                    "{} of the {declared} bytes of its Content-Length arrived",
                    self.bytes.len()
                ),
            }),
            _ => Ok(self.bytes),
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod stream {
    use worker::js_sys::{Reflect, Uint8Array};
    use worker::wasm_bindgen::{JsCast, JsValue};
    use worker::wasm_bindgen_futures::JsFuture;
    use worker::web_sys::{ReadableStream, ReadableStreamDefaultReader};
    use worker::Request;

    use super::{BodyError, LimitedBody};

    /// One read from a stream: `None` at its end.
    async fn next_chunk(
        reader: &ReadableStreamDefaultReader,
    ) -> Result<Option<Uint8Array>, String> {
        let result = JsFuture::from(reader.read())
            .await
            .map_err(|e| describe(&e))?;
        let done = Reflect::get(&result, &"done".into()).map_err(|e| describe(&e))?;
        if done.as_bool() == Some(true) {
            return Ok(None);
        }
        let value = Reflect::get(&result, &"value".into()).map_err(|e| describe(&e))?;
        value
            .dyn_into::<Uint8Array>()
            .map(Some)
            .map_err(|_| "the body stream gave something other than bytes".to_owned())
    }

    fn describe(error: &JsValue) -> String {
        error
            .as_string()
            .or_else(|| {
                error
                    .dyn_ref::<worker::js_sys::Error>()
                    .map(|e| String::from(e.message()))
            })
            .unwrap_or_else(|| "the body stream failed".to_owned())
    }

    /// A stream's reader, whose lock is released when it is dropped: a stream left locked after
    /// its end keeps what it holds alive (in workerd, deliveries slowed down and memory grew by
    /// megabytes per response until the object stalled).
    struct Reader(ReadableStreamDefaultReader);

    impl Reader {
        fn new(stream: &ReadableStream) -> Result<Self, BodyError> {
            stream
                .get_reader()
                .dyn_into::<ReadableStreamDefaultReader>()
                .map(Self)
                .map_err(|_| BodyError::Incomplete {
                    reason: "the body stream has no reader".into(),
                })
        }

        /// Stops the stream: nothing more of it is received.
        async fn cancel(&self) {
            let _ = JsFuture::from(self.0.cancel()).await;
        }
    }

    impl Drop for Reader {
        fn drop(&mut self) {
            self.0.release_lock();
        }
    }

    /// Reads `req`'s body, at most `limit` bytes (see the [module](super) docs).
    pub async fn read_request_body(req: &Request, limit: usize) -> Result<Vec<u8>, BodyError> {
        let declared = req.headers().get("content-length").ok().flatten();
        let stream = req.inner().body();
        let mut body = match LimitedBody::new(limit, declared.as_deref()) {
            Ok(body) => body,
            Err(e) => {
                if let Some(stream) = &stream {
                    let _ = JsFuture::from(stream.cancel()).await;
                }
                return Err(e);
            }
        };
        let Some(stream) = stream else {
            return body.finish();
        };
        let reader = Reader::new(&stream)?;
        loop {
            let chunk = match next_chunk(&reader.0).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => return body.finish(),
                Err(reason) => return Err(BodyError::Incomplete { reason }),
            };
            if let Err(e) = body.push_with(chunk.length() as usize, |slot| chunk.copy_to(slot)) {
                reader.cancel().await;
                return Err(e);
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub use stream::read_request_body;

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 8 item 5: a declared length over the limit is refused before anything is read.
    #[test]
    fn issue8_item5_content_length_over_the_limit_is_refused_unread() {
        assert_eq!(
            LimitedBody::new(100, Some("101")).unwrap_err(),
            BodyError::TooLarge { limit: 100 }
        );
        assert_eq!(
            LimitedBody::new(100, Some("100000000000000000000000")).unwrap_err(),
            BodyError::TooLarge { limit: 100 }
        );
        assert!(matches!(
            LimitedBody::new(100, Some("ten")),
            Err(BodyError::Incomplete { .. })
        ));
        let error = ApiError::from(LimitedBody::new(100, Some("101")).unwrap_err());
        assert_eq!(error.status, 413);
        assert!(error.error.contains("100 bytes"), "{}", error.error);
    }

    /// Issue 8 item 5: a body without a length stops at the chunk that takes it over the limit,
    /// and that chunk is not copied; exactly the limit is accepted.
    #[test]
    fn issue8_item5_a_chunked_body_stops_past_the_limit() {
        let mut body = LimitedBody::new(10, None).unwrap();
        body.push(b"12345").unwrap();
        body.push(b"67890").unwrap();
        let mut copied = false;
        assert_eq!(
            body.push_with(1, |_| copied = true).unwrap_err(),
            BodyError::TooLarge { limit: 10 }
        );
        assert!(!copied, "a refused chunk is never copied");
        assert_eq!(body.finish().unwrap(), b"1234567890");

        let mut exact = LimitedBody::new(10, Some("10")).unwrap();
        exact.push(&[b'x'; 10]).unwrap();
        assert_eq!(exact.finish().unwrap().len(), 10);
    }

    /// Issue 8 item 3: a body that ends before its declared length is an error (`400`), never a
    /// shorter (or empty) body; no `Content-Length` and no bytes is a really empty body.
    #[test]
    fn issue8_item3_a_cut_off_body_is_an_error_not_an_empty_body() {
        let mut cut = LimitedBody::new(1_000, Some("100")).unwrap();
        cut.push(br#"{"ids":[9"#).unwrap();
        let error = ApiError::from(cut.finish().unwrap_err());
        assert_eq!(error.status, 400);
        assert!(
            error.error.contains("9 of the 100 bytes"),
            "{}",
            error.error
        );
        assert!(matches!(
            LimitedBody::new(1_000, Some("100")).unwrap().finish(),
            Err(BodyError::Incomplete { .. })
        ));
        let mut long = LimitedBody::new(1_000, Some("2")).unwrap();
        assert!(matches!(
            long.push(b"abc"),
            Err(BodyError::Incomplete { .. })
        ));
        assert_eq!(
            LimitedBody::new(1_000, None).unwrap().finish().unwrap(),
            b""
        );
        assert_eq!(
            LimitedBody::new(1_000, Some("0"))
                .unwrap()
                .finish()
                .unwrap(),
            b""
        );
    }
}
