//! Transport compression as Discord does it: `zlib-stream` (one deflate context per
//! connection, every message ending in a sync flush `00 00 ff ff`) and, with the `zstd`
//! feature, `zstd-stream` (one zstd stream per connection, every message flushed, the frame
//! never ended).

use std::io;

use flate2::{Compress, Compression as Level, FlushCompress};
use serde::{Deserialize, Serialize};

/// The suffix every `zlib-stream` message ends with.
pub const ZLIB_SUFFIX: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What the client asked for with the `compress` query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompressKind {
    /// Plain JSON text frames.
    None,
    /// `compress=zlib-stream`.
    ZlibStream,
    /// `compress=zstd-stream`.
    ZstdStream,
}

impl CompressKind {
    /// Parses the `compress` query value; `Err` carries a human-readable reason.
    pub fn from_query(value: Option<&str>) -> Result<Self, String> {
        match value {
            None | Some("") => Ok(Self::None),
            Some("zlib-stream") => Ok(Self::ZlibStream),
            Some("zstd-stream") if cfg!(feature = "zstd") => Ok(Self::ZstdStream),
            Some(other) => Err(format!("unsupported compress={other}")),
        }
    }
}

/// How to cut each compressed `zlib-stream` message into several WebSocket messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// Cut every `every` bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<usize>,
    /// Cut at these byte offsets of each message (offsets past the end are ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Vec<usize>>,
}

impl Split {
    /// Cuts `data` into the chunks this split describes (never empty chunks).
    pub fn apply(&self, data: &[u8]) -> Vec<Vec<u8>> {
        let mut cuts: Vec<usize> = Vec::new();
        if let Some(every) = self.every.filter(|n| *n > 0) {
            cuts.extend((every..data.len()).step_by(every));
        }
        if let Some(at) = &self.at {
            cuts.extend(at.iter().copied().filter(|&i| i > 0 && i < data.len()));
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut chunks = Vec::with_capacity(cuts.len() + 1);
        let mut start = 0;
        for cut in cuts.into_iter().chain(std::iter::once(data.len())) {
            if cut > start {
                chunks.push(data[start..cut].to_vec());
                start = cut;
            }
        }
        chunks
    }
}

/// The encoded form of one outgoing gateway message.
#[derive(Debug, PartialEq, Eq)]
pub enum Encoded {
    /// Send as one text frame.
    Text(String),
    /// Send as these binary frames, in order.
    Binary(Vec<Vec<u8>>),
}

/// Per-connection compression state.
pub enum Compressor {
    /// No transport compression.
    None,
    /// One deflate context (with zlib header) for the whole connection.
    Zlib(Box<Compress>),
    /// One zstd stream for the whole connection.
    #[cfg(feature = "zstd")]
    Zstd(Box<zstd::stream::write::Encoder<'static, Vec<u8>>>),
}

impl Compressor {
    /// Creates the compressor for a connection.
    pub fn new(kind: CompressKind) -> io::Result<Self> {
        Ok(match kind {
            CompressKind::None => Self::None,
            CompressKind::ZlibStream => Self::Zlib(Box::new(Compress::new(Level::default(), true))),
            #[cfg(feature = "zstd")]
            CompressKind::ZstdStream => {
                Self::Zstd(Box::new(zstd::stream::write::Encoder::new(Vec::new(), 3)?))
            }
            #[cfg(not(feature = "zstd"))]
            CompressKind::ZstdStream => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "built without zstd",
                ))
            }
        })
    }

    /// Encodes one gateway message; `split` only applies to `zlib-stream`.
    pub fn encode(&mut self, text: &str, split: Option<&Split>) -> io::Result<Encoded> {
        match self {
            Self::None => Ok(Encoded::Text(text.to_owned())),
            Self::Zlib(compress) => {
                let bytes = zlib_sync(compress, text.as_bytes())?;
                Ok(Encoded::Binary(match split {
                    Some(split) => split.apply(&bytes),
                    None => vec![bytes],
                }))
            }
            #[cfg(feature = "zstd")]
            Self::Zstd(encoder) => {
                use std::io::Write;
                encoder.write_all(text.as_bytes())?;
                encoder.flush()?;
                Ok(Encoded::Binary(vec![std::mem::take(encoder.get_mut())]))
            }
        }
    }
}

/// Compresses `input` into the running deflate stream and sync-flushes it.
fn zlib_sync(compress: &mut Compress, input: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    let start = compress.total_in();
    loop {
        let consumed = (compress.total_in() - start) as usize;
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(256));
        }
        compress
            .compress_vec(&input[consumed..], &mut out, FlushCompress::Sync)
            .map_err(io::Error::other)?;
        let consumed = (compress.total_in() - start) as usize;
        // The flush is complete once all input is in and the output was not filled up.
        if consumed == input.len() && out.len() < out.capacity() {
            break;
        }
    }
    if !out.ends_with(&ZLIB_SUFFIX) {
        return Err(io::Error::other(
            "zlib sync flush did not end with 00 00 ff ff",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};

    fn inflate(d: &mut Decompress, data: &[u8]) -> String {
        let mut out = Vec::with_capacity(1 << 20);
        d.decompress_vec(data, &mut out, FlushDecompress::Sync)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn zlib_stream_shares_one_context() {
        let mut c = Compressor::new(CompressKind::ZlibStream).unwrap();
        let mut d = Decompress::new(true);
        for msg in ["{\"op\":10}", "{\"op\":11}", &"x".repeat(100_000)] {
            let Encoded::Binary(frames) = c.encode(msg, None).unwrap() else {
                panic!("expected binary")
            };
            assert_eq!(frames.len(), 1);
            assert!(frames[0].ends_with(&ZLIB_SUFFIX));
            assert_eq!(inflate(&mut d, &frames[0]), msg);
        }
    }

    #[test]
    fn split_cuts_at_offsets_and_every() {
        let data: Vec<u8> = (0..10).collect();
        let at = Split {
            every: None,
            at: Some(vec![4, 1, 99]),
        };
        assert_eq!(
            at.apply(&data),
            vec![vec![0], vec![1, 2, 3], vec![4, 5, 6, 7, 8, 9]]
        );
        let every = Split {
            every: Some(4),
            at: None,
        };
        assert_eq!(every.apply(&data).len(), 3);
        assert_eq!(every.apply(&data).concat(), data);
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_stream_flushes_every_message() {
        let mut c = Compressor::new(CompressKind::ZstdStream).unwrap();
        let mut all = Vec::new();
        for msg in ["{\"op\":10}", "{\"op\":11}"] {
            let Encoded::Binary(frames) = c.encode(msg, None).unwrap() else {
                panic!("expected binary")
            };
            assert_eq!(frames.len(), 1);
            all.extend_from_slice(&frames[0]);
        }
        // The frame is never ended, so decode with the streaming decoder.
        let mut decoder = zstd::stream::read::Decoder::new(&all[..]).unwrap();
        let mut text = vec![0u8; 18];
        std::io::Read::read_exact(&mut decoder, &mut text).unwrap();
        assert_eq!(text, b"{\"op\":10}{\"op\":11}");
    }
}
