//! JSON from bytes through one `serde_json` reader.
//!
//! `serde_json::from_slice` and `serde_json::from_str` each compile the whole deserializer of
//! every type they read (one copy per reader: `SliceRead`, `StrRead`). The engine reads text
//! with `from_str`; bytes (request bodies, Discord's answers) come here, are checked as UTF-8
//! once and read with `from_str` too, so the Wasm carries one copy (issue 9, Wasm size).
//! `clippy.toml` refuses `serde_json::from_slice` so a second copy does not come back.

use serde::de::{Deserialize, Error as _};

/// Reads `bytes` as JSON into `T`, borrowing from them where `T` borrows. Bytes that are not
/// UTF-8 are an error naming the offset of the first bad byte (JSON text is UTF-8).
pub fn from_slice<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(e) => Err(serde_json::Error::custom(format_args!(
            "not UTF-8 at byte {}",
            e.valid_up_to()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Borrowed<'a> {
        name: &'a str,
        n: u32,
    }

    #[test]
    fn issue_9_wasm_size_json_from_slice_reads_and_borrows() {
        let body = br#"{"name":"gateway","n":7}"#;
        let read: Borrowed<'_> = from_slice(body).unwrap();
        assert_eq!(
            read,
            Borrowed {
                name: "gateway",
                n: 7
            }
        );
    }

    #[test]
    fn issue_9_wasm_size_json_from_slice_refuses_what_serde_json_refuses() {
        for body in [
            &b"{\"name\":\"x\"}"[..],
            b"[1,",
            b"",
            b"{\"name\":\"x\",\"n\":1} trailing",
        ] {
            let ours = from_slice::<Borrowed<'_>>(body).map_err(|e| e.to_string());
            #[allow(clippy::disallowed_methods)]
            let theirs = serde_json::from_slice::<Borrowed<'_>>(body).map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn issue_9_wasm_size_json_from_slice_names_the_first_byte_that_is_not_utf8() {
        let err = from_slice::<serde_json::Value>(b"{\"a\":\"\xff\"}").unwrap_err();
        assert_eq!(err.to_string(), "not UTF-8 at byte 6");
    }
}
