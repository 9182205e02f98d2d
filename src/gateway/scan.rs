//! Frame scanning: read `op`, `s` and `t` of a gateway payload and keep `d` as raw JSON text.
//!
//! The whole frame is checked to be valid JSON, but `d` is never turned into a tree: it is kept
//! as the exact slice of the input so it can be forwarded byte for byte.

use serde::Deserialize;
use serde_json::value::RawValue;

/// A scanned gateway payload borrowing from the frame text.
#[derive(Debug)]
pub struct RawPayload<'a> {
    /// The opcode.
    pub op: u8,
    /// The sequence number (dispatches only).
    pub s: Option<u64>,
    /// The dispatch type (dispatches only).
    pub t: Option<&'a str>,
    /// The raw `d` text, `None` when absent or `null`.
    pub d: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Wire<'a> {
    op: u8,
    #[serde(default)]
    s: Option<u64>,
    #[serde(default, borrow)]
    t: Option<&'a str>,
    #[serde(default, borrow)]
    d: Option<&'a RawValue>,
}

/// Why a frame could not be scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// Not JSON, not an object, or fields of the wrong type.
    Malformed(String),
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed gateway payload: {why}"),
        }
    }
}

impl std::error::Error for ScanError {}

/// Scans one gateway payload.
pub fn scan(text: &str) -> Result<RawPayload<'_>, ScanError> {
    let wire: Wire<'_> =
        serde_json::from_str(text).map_err(|e| ScanError::Malformed(e.to_string()))?;
    let d = wire.d.filter(|d| d.get() != "null");
    Ok(RawPayload {
        op: wire.op,
        s: wire.s,
        t: wire.t,
        d,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_keeps_d_verbatim() {
        let text =
            r#"{"t":"MESSAGE_CREATE","s":42,"op":0,"d":{"content":"h\u00e9llo",  "id":"1"}}"#;
        let payload = scan(text).unwrap();
        assert_eq!(payload.op, 0);
        assert_eq!(payload.s, Some(42));
        assert_eq!(payload.t, Some("MESSAGE_CREATE"));
        assert_eq!(
            payload.d.unwrap().get(),
            r#"{"content":"h\u00e9llo",  "id":"1"}"#
        );
    }

    #[test]
    fn null_fields_are_absent() {
        let payload = scan(r#"{"op":11,"d":null,"s":null,"t":null}"#).unwrap();
        assert_eq!((payload.op, payload.s, payload.t), (11, None, None));
        assert!(payload.d.is_none());
    }

    #[test]
    fn malformed_frames_are_errors() {
        for text in [
            "",
            "{",
            "[]",
            "{}",
            r#"{"op":"1"}"#,
            r#"{"op":300}"#,
            r#"{"op":0,"s":-1}"#,
            "null",
        ] {
            assert!(scan(text).is_err(), "{text:?} should be malformed");
        }
    }
}
