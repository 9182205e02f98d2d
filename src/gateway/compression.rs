//! Gateway transport compression: `zlib-stream` and `zstd-stream`.
//!
//! With transport compression the gateway sends binary WebSocket messages that are pieces of
//! one compressed stream per connection. A [`Decompressor`] follows that stream and hands back
//! each gateway message (UTF-8 JSON text) as soon as it is complete:
//!
//! - **`zlib-stream`**: one inflate context for the whole connection. A message may span several
//!   WebSocket messages and is complete when the buffered bytes end with `00 00 ff ff` (the
//!   marker of a sync flush).
//! - **`zstd-stream`**: one zstd frame for the whole connection that never ends. Every WebSocket
//!   message carries whole zstd blocks, the output of one flush of the compressor, and decodes to
//!   exactly one gateway message. Later messages refer back to earlier ones (the window), so the
//!   decoder keeps its history for the life of the connection. Decoding uses the pure-Rust
//!   [`structured_zstd`] block API, which hands out every block's output at once while keeping it
//!   as history. (`ruzstd`'s `FrameDecoder` cannot do this: until a frame ends it holds back the
//!   newest window's worth of output, megabytes, so a message would surface only after that much
//!   later traffic.)
//!
//! Memory stays bounded: see [`MAX_COMPRESSED_MESSAGE_LEN`], [`MAX_MESSAGE_LEN`] and
//! [`MAX_ZSTD_WINDOW`].

use std::{error::Error, fmt, str::FromStr};

use flate2::{Decompress, FlushDecompress, Status};
use structured_zstd::decoding::{errors::FrameDecoderError, FrameDecoder};

/// Most compressed bytes buffered for one gateway message: 8 MiB.
///
/// Gateway JSON compresses at least 5:1, so this admits messages far larger than
/// [`MAX_MESSAGE_LEN`] allows after decompression; it exists so that a stream that never sends
/// the end-of-message marker cannot grow the buffer without bound.
pub const MAX_COMPRESSED_MESSAGE_LEN: usize = 8 * 1024 * 1024;

/// Most bytes one decompressed gateway message may have: 32 MiB.
///
/// The largest gateway messages are the `GUILD_CREATE`s of big guilds and `READY`, a few MiB
/// at most (large guilds are sent without their member lists). 32 MiB leaves ample headroom
/// while keeping a hostile or broken stream well inside a Worker's 128 MB memory.
pub const MAX_MESSAGE_LEN: usize = 32 * 1024 * 1024;

/// Largest zstd window a `zstd-stream` connection may declare: 8 MiB.
///
/// The decoder allocates the whole window as history. RFC 8878 recommends decoders support
/// windows up to 8 MiB, which covers every standard compression level up to 19.
pub const MAX_ZSTD_WINDOW: u64 = 8 * 1024 * 1024;

/// Bytes of buffer capacity kept between messages: 1 MiB.
///
/// After an unusually large message the buffers shrink back to this, so one big `GUILD_CREATE`
/// does not pin its size for the rest of the connection.
const RETAINED_CAPACITY: usize = 1024 * 1024;

/// Initial capacity of the inflate output buffer.
const INITIAL_OUTPUT_CAPACITY: usize = 32 * 1024;

/// The bytes a zlib sync flush ends with, marking the end of a `zlib-stream` message.
const ZLIB_SUFFIX: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Largest output of a single zstd block (RFC 8878 `Block_Maximum_Size`).
const ZSTD_MAX_BLOCK_LEN: usize = 128 * 1024;

/// Transport compression requested in the gateway URL query.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportCompression {
    /// No transport compression: the gateway sends text messages.
    #[default]
    None,
    /// `compress=zlib-stream`: one zlib stream per connection, messages end with a sync flush.
    ZlibStream,
    /// `compress=zstd-stream`: one endless zstd frame per connection, one message per flush.
    ZstdStream,
}

impl TransportCompression {
    /// The value of the `compress` query parameter, if any (`"zlib-stream"` / `"zstd-stream"`).
    pub const fn query_value(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::ZlibStream => Some("zlib-stream"),
            Self::ZstdStream => Some("zstd-stream"),
        }
    }

    /// The name used in configuration and by serde: `"none"`, `"zlib-stream"` or `"zstd-stream"`.
    pub const fn name(self) -> &'static str {
        match self.query_value() {
            Some(value) => value,
            None => "none",
        }
    }
}

impl fmt::Display for TransportCompression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TransportCompression {
    type Err = ParseTransportCompressionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Self::None),
            "zlib-stream" => Ok(Self::ZlibStream),
            "zstd-stream" => Ok(Self::ZstdStream),
            other => Err(ParseTransportCompressionError {
                value: other.to_owned(),
            }),
        }
    }
}

/// A string that names no [`TransportCompression`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseTransportCompressionError {
    value: String,
}

impl ParseTransportCompressionError {
    /// The string that failed to parse.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for ParseTransportCompressionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown transport compression {:?}: expected one of \"none\", \"zlib-stream\", \"zstd-stream\"",
            self.value
        )
    }
}

impl Error for ParseTransportCompressionError {}

/// Why a [`Decompressor`] could not produce a message.
///
/// Except for [`NotCompressed`](Self::NotCompressed), the stream is unusable afterwards: drop
/// the connection and resume on a new one with a new [`Decompressor`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecompressError {
    /// A binary message arrived although no transport compression was requested.
    NotCompressed,
    /// The compressed stream is malformed (or an earlier error already ended it).
    Corrupt(String),
    /// A message exceeds a memory limit of `limit` bytes.
    TooLarge {
        /// The limit, in bytes, that was exceeded.
        limit: usize,
    },
}

impl fmt::Display for DecompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotCompressed => {
                f.write_str("received a binary gateway message but transport compression is off")
            }
            Self::Corrupt(reason) => write!(f, "corrupt compressed gateway stream: {reason}"),
            Self::TooLarge { limit } => {
                write!(f, "gateway message exceeds the limit of {limit} bytes")
            }
        }
    }
}

impl Error for DecompressError {}

/// Memory limits of a [`Decompressor`], in bytes.
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// Compressed bytes buffered for one message.
    compressed: usize,
    /// Decompressed bytes of one message.
    message: usize,
}

impl Limits {
    const DEFAULT: Self = Self {
        compressed: MAX_COMPRESSED_MESSAGE_LEN,
        message: MAX_MESSAGE_LEN,
    };
}

/// Per-connection decompressor. One per WebSocket connection; create a new one for each new
/// connection.
///
/// Feed it every binary WebSocket message in order with [`push`](Self::push). Text messages are
/// never compressed and bypass it.
pub struct Decompressor {
    kind: TransportCompression,
    state: State,
    limits: Limits,
    /// Set once a push fails; the stream cannot be followed any further.
    failed: bool,
}

enum State {
    None,
    Zlib(Box<ZlibStream>),
    Zstd(Box<ZstdStream>),
}

impl Decompressor {
    /// Creates the decompressor for a new connection using `kind`.
    pub fn new(kind: TransportCompression) -> Self {
        Self::with_limits(kind, Limits::DEFAULT)
    }

    fn with_limits(kind: TransportCompression, limits: Limits) -> Self {
        let state = match kind {
            TransportCompression::None => State::None,
            TransportCompression::ZlibStream => State::Zlib(Box::default()),
            TransportCompression::ZstdStream => State::Zstd(Box::default()),
        };
        Self {
            kind,
            state,
            limits,
            failed: false,
        }
    }

    /// The transport compression this decompressor follows.
    pub const fn kind(&self) -> TransportCompression {
        self.kind
    }

    /// Feeds one binary WebSocket message.
    ///
    /// Returns `Ok(Some(bytes))` with one complete gateway message (UTF-8 JSON text bytes) when
    /// available, `Ok(None)` when more messages are needed first. The bytes live in a buffer
    /// that is reused by the next call.
    ///
    /// # Errors
    ///
    /// [`DecompressError::NotCompressed`] when the connection uses no transport compression;
    /// [`DecompressError::Corrupt`] for a malformed stream; [`DecompressError::TooLarge`] when a
    /// message exceeds a memory limit. After `Corrupt` or `TooLarge` every further call fails.
    pub fn push(&mut self, message: &[u8]) -> Result<Option<&[u8]>, DecompressError> {
        if self.failed {
            return Err(DecompressError::Corrupt(
                "the stream already failed; reconnect with a new decompressor".to_owned(),
            ));
        }
        let result = match &mut self.state {
            State::None => return Err(DecompressError::NotCompressed),
            State::Zlib(zlib) => zlib.push(message, self.limits),
            State::Zstd(zstd) => zstd.push(message, self.limits),
        };
        if result.is_err() {
            self.failed = true;
        }
        result
    }
}

impl fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decompressor")
            .field("kind", &self.kind)
            .field("limits", &self.limits)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// State of a `zlib-stream` connection.
struct ZlibStream {
    inflate: Decompress,
    /// Compressed bytes of the message being received.
    compressed: Vec<u8>,
    /// The last decompressed message.
    output: Vec<u8>,
}

impl Default for ZlibStream {
    fn default() -> Self {
        Self {
            inflate: Decompress::new(true),
            compressed: Vec::new(),
            output: Vec::new(),
        }
    }
}

impl ZlibStream {
    fn push(&mut self, message: &[u8], limits: Limits) -> Result<Option<&[u8]>, DecompressError> {
        if self.compressed.len().saturating_add(message.len()) > limits.compressed {
            return Err(DecompressError::TooLarge {
                limit: limits.compressed,
            });
        }
        self.compressed.extend_from_slice(message);
        if !self.compressed.ends_with(&ZLIB_SUFFIX) {
            return Ok(None);
        }

        self.output.clear();
        self.output.shrink_to(RETAINED_CAPACITY);
        let inflated = inflate(
            &mut self.inflate,
            &self.compressed,
            &mut self.output,
            limits.message,
        );
        self.compressed.clear();
        self.compressed.shrink_to(RETAINED_CAPACITY);
        inflated?;

        Ok((!self.output.is_empty()).then_some(self.output.as_slice()))
    }
}

/// Inflates all of `input` with a sync flush, appending to `output` (at most `limit` bytes).
fn inflate(
    inflate: &mut Decompress,
    mut input: &[u8],
    output: &mut Vec<u8>,
    limit: usize,
) -> Result<(), DecompressError> {
    let too_large = DecompressError::TooLarge { limit };
    loop {
        if output.len() == output.capacity() {
            // Room for one byte past the limit, so that exceeding it is observable.
            let room = limit.saturating_add(1).saturating_sub(output.len());
            if room == 0 {
                return Err(too_large);
            }
            output.reserve_exact(output.capacity().max(INITIAL_OUTPUT_CAPACITY).min(room));
        }

        let (in_before, out_before) = (inflate.total_in(), inflate.total_out());
        let status = inflate
            .decompress_vec(input, output, FlushDecompress::Sync)
            .map_err(|error| DecompressError::Corrupt(error.to_string()))?;
        let consumed =
            usize::try_from(inflate.total_in().saturating_sub(in_before)).unwrap_or(usize::MAX);
        let produced = inflate.total_out().saturating_sub(out_before);
        input = input.get(consumed..).unwrap_or_default();

        if output.len() > limit {
            return Err(too_large);
        }
        let has_room = output.len() < output.capacity();
        match status {
            Status::StreamEnd if input.is_empty() => return Ok(()),
            Status::StreamEnd => {
                return Err(DecompressError::Corrupt(
                    "data after the end of the zlib stream".to_owned(),
                ))
            }
            Status::Ok | Status::BufError => {
                if input.is_empty() && has_room {
                    return Ok(());
                }
                if consumed == 0 && produced == 0 && has_room {
                    return Err(DecompressError::Corrupt(
                        "the zlib stream stalled mid-message".to_owned(),
                    ));
                }
            }
        }
    }
}

/// State of a `zstd-stream` connection.
struct ZstdStream {
    decoder: FrameDecoder,
    /// Whether a frame header has been read and its blocks are being decoded.
    in_frame: bool,
    /// Scratch space for one block's output.
    block: Box<[u8]>,
    /// The last decompressed message.
    output: Vec<u8>,
}

impl Default for ZstdStream {
    fn default() -> Self {
        let mut decoder = FrameDecoder::new();
        // Cannot fail: the ceiling is within the range the decoder accepts (1 KiB..=1 GiB), and
        // should it ever fail, the decoder keeps its own (larger) default ceiling.
        let _ = decoder.set_max_window_size(MAX_ZSTD_WINDOW);
        Self {
            decoder,
            in_frame: false,
            block: vec![0; ZSTD_MAX_BLOCK_LEN].into_boxed_slice(),
            output: Vec::new(),
        }
    }
}

impl ZstdStream {
    fn push(&mut self, message: &[u8], limits: Limits) -> Result<Option<&[u8]>, DecompressError> {
        if message.len() > limits.compressed {
            return Err(DecompressError::TooLarge {
                limit: limits.compressed,
            });
        }
        self.output.clear();
        self.output.shrink_to(RETAINED_CAPACITY);

        let mut input = message;
        while !input.is_empty() {
            if !self.in_frame {
                // Reading advances `input` past the frame header.
                self.decoder.reset(&mut input).map_err(zstd_error)?;
                self.in_frame = true;
                continue;
            }
            if self.decoder.awaits_checksum() {
                let (checksum, rest) = input
                    .split_first_chunk::<4>()
                    .ok_or_else(|| truncated("content checksum"))?;
                self.decoder
                    .read_content_checksum(*checksum)
                    .map_err(zstd_error)?;
                self.in_frame = false;
                input = rest;
                continue;
            }

            let (header, rest) = input
                .split_first_chunk::<3>()
                .ok_or_else(|| truncated("block header"))?;
            let (content_len, last) = self
                .decoder
                .block_content_len(*header)
                .map_err(zstd_error)?;
            let (content, rest) = rest
                .split_at_checked(content_len)
                .ok_or_else(|| truncated("block"))?;
            let written = self
                .decoder
                .decode_block(*header, content, &mut self.block)
                .map_err(zstd_error)?;
            let produced = self.block.get(..written).unwrap_or_default();
            if self.output.len().saturating_add(produced.len()) > limits.message {
                return Err(DecompressError::TooLarge {
                    limit: limits.message,
                });
            }
            self.output.extend_from_slice(produced);
            if last && !self.decoder.awaits_checksum() {
                self.in_frame = false;
            }
            input = rest;
        }

        Ok((!self.output.is_empty()).then_some(self.output.as_slice()))
    }
}

fn truncated(what: &str) -> DecompressError {
    DecompressError::Corrupt(format!(
        "zstd {what} truncated: a message must carry whole blocks"
    ))
}

fn zstd_error(error: FrameDecoderError) -> DecompressError {
    match error {
        FrameDecoderError::WindowSizeTooBig { limit, .. } => DecompressError::TooLarge {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        },
        other => DecompressError::Corrupt(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compress, Compression, FlushCompress};

    /// Deterministic text that compresses poorly on its own (so that repeating it shows whether
    /// the compressor reached back into earlier messages).
    fn noise(seed: u64, len: usize) -> String {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b'a' + (state % 26) as u8)
            })
            .collect()
    }

    fn gateway_messages() -> Vec<String> {
        let shared = noise(1, 4000);
        (0..12)
            .map(|i| {
                format!(
                    r#"{{"op":0,"s":{i},"t":"MESSAGE_CREATE","d":{{"content":"{}","nonce":"{}"}}}}"#,
                    // Every message repeats the same large random chunk from the first one.
                    shared,
                    noise(100 + i, 16)
                )
            })
            .collect()
    }

    /// Compresses `messages` like Discord's `zlib-stream`: one context, a sync flush per message.
    fn zlib_stream(messages: &[String]) -> Vec<Vec<u8>> {
        let mut deflate = Compress::new(Compression::default(), true);
        messages
            .iter()
            .map(|message| {
                let mut out = Vec::with_capacity(message.len() + 64);
                let start = deflate.total_in();
                loop {
                    let done = usize::try_from(deflate.total_in() - start).unwrap();
                    deflate
                        .compress_vec(&message.as_bytes()[done..], &mut out, FlushCompress::Sync)
                        .unwrap();
                    let done = usize::try_from(deflate.total_in() - start).unwrap();
                    if done == message.len() && out.len() < out.capacity() {
                        break;
                    }
                    out.reserve(out.capacity());
                }
                assert!(out.ends_with(&ZLIB_SUFFIX));
                out
            })
            .collect()
    }

    #[test]
    fn transport_compression_names() {
        for (kind, name, query) in [
            (TransportCompression::None, "none", None),
            (
                TransportCompression::ZlibStream,
                "zlib-stream",
                Some("zlib-stream"),
            ),
            (
                TransportCompression::ZstdStream,
                "zstd-stream",
                Some("zstd-stream"),
            ),
        ] {
            assert_eq!(kind.query_value(), query);
            assert_eq!(kind.to_string(), name);
            assert_eq!(name.parse::<TransportCompression>(), Ok(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(
                serde_json::from_str::<TransportCompression>(&json).unwrap(),
                kind
            );
        }
        assert_eq!(TransportCompression::default(), TransportCompression::None);
    }

    #[test]
    fn unknown_transport_compression_names_the_allowed_values() {
        let error = "zlib".parse::<TransportCompression>().unwrap_err();
        assert_eq!(error.value(), "zlib");
        let message = error.to_string();
        for allowed in ["\"none\"", "\"zlib-stream\"", "\"zstd-stream\""] {
            assert!(message.contains(allowed), "{message}");
        }
        assert!("ZLIB-STREAM".parse::<TransportCompression>().is_err());
        assert!("".parse::<TransportCompression>().is_err());
    }

    #[test]
    fn binary_message_without_compression_is_not_compressed() {
        let mut decompressor = Decompressor::new(TransportCompression::None);
        assert_eq!(
            decompressor.push(b"\x78\x9c"),
            Err(DecompressError::NotCompressed)
        );
        // Not fatal: the caller decides what to do.
        assert_eq!(decompressor.push(b""), Err(DecompressError::NotCompressed));
    }

    #[test]
    fn zlib_round_trips_messages_sharing_one_context() {
        let messages = gateway_messages();
        let frames = zlib_stream(&messages);
        // Later messages are tiny: the compressor reached back into the first one.
        assert!(frames[5].len() < messages[5].len() / 20);

        let mut decompressor = Decompressor::new(TransportCompression::ZlibStream);
        for (message, frame) in messages.iter().zip(&frames) {
            let out = decompressor.push(frame).unwrap().unwrap();
            assert_eq!(out, message.as_bytes());
        }
    }

    #[test]
    fn zlib_message_split_at_every_boundary() {
        let messages = gateway_messages();
        let frames = zlib_stream(&messages[..2]);
        let second = &frames[1];
        for split in 1..second.len() {
            let mut decompressor = Decompressor::new(TransportCompression::ZlibStream);
            assert_eq!(
                decompressor.push(&frames[0]).unwrap(),
                Some(messages[0].as_bytes())
            );
            let (head, tail) = second.split_at(split);
            assert_eq!(decompressor.push(head).unwrap(), None, "split at {split}");
            assert_eq!(
                decompressor.push(tail).unwrap(),
                Some(messages[1].as_bytes()),
                "split at {split}"
            );
        }
    }

    #[test]
    fn zlib_message_in_one_byte_frames() {
        let messages = gateway_messages();
        let frames = zlib_stream(&messages[..3]);
        let mut decompressor = Decompressor::new(TransportCompression::ZlibStream);
        for (message, frame) in messages.iter().zip(&frames) {
            let (last, bytes) = frame.split_last().unwrap();
            for byte in bytes {
                assert_eq!(decompressor.push(&[*byte]).unwrap(), None);
            }
            assert_eq!(
                decompressor.push(&[*last]).unwrap(),
                Some(message.as_bytes())
            );
        }
    }

    #[test]
    fn zlib_message_split_inside_the_suffix() {
        let messages = gateway_messages();
        let frames = zlib_stream(&messages[..1]);
        let frame = &frames[0];
        for from_end in 1..=4 {
            let mut decompressor = Decompressor::new(TransportCompression::ZlibStream);
            let (head, tail) = frame.split_at(frame.len() - from_end);
            assert_eq!(decompressor.push(head).unwrap(), None);
            assert_eq!(
                decompressor.push(tail).unwrap(),
                Some(messages[0].as_bytes())
            );
        }
    }

    #[test]
    fn corrupt_zlib_stream_is_corrupt_and_fatal() {
        // Valid zlib header, then a deflate block of the reserved type 3.
        let mut decompressor = Decompressor::new(TransportCompression::ZlibStream);
        let error = decompressor
            .push(&[0x78, 0x9c, 0x07, 0x00, 0x00, 0xff, 0xff])
            .unwrap_err();
        assert!(matches!(error, DecompressError::Corrupt(_)), "{error:?}");

        // A bad zlib header.
        let mut decompressor = Decompressor::new(TransportCompression::ZlibStream);
        let error = decompressor.push(&[0x12, 0x34, 0x00, 0x00, 0xff, 0xff]);
        assert!(matches!(error, Err(DecompressError::Corrupt(_))));

        // After an error, even valid input is refused.
        let frames = zlib_stream(&gateway_messages()[..1]);
        assert!(matches!(
            decompressor.push(&frames[0]),
            Err(DecompressError::Corrupt(_))
        ));
    }

    #[test]
    fn zlib_message_without_its_start_is_corrupt() {
        let frames = zlib_stream(&gateway_messages()[..2]);
        let mut decompressor = Decompressor::new(TransportCompression::ZlibStream);
        assert!(matches!(
            decompressor.push(&frames[1]),
            Err(DecompressError::Corrupt(_))
        ));
    }

    #[test]
    fn zlib_compressed_buffer_is_bounded() {
        let limits = Limits {
            compressed: 64,
            message: 1024,
        };
        let mut decompressor = Decompressor::with_limits(TransportCompression::ZlibStream, limits);
        assert_eq!(decompressor.push(&[0x78; 60]).unwrap(), None);
        assert_eq!(
            decompressor.push(&[0x78; 5]),
            Err(DecompressError::TooLarge { limit: 64 })
        );
        assert!(decompressor.push(&[]).is_err());
    }

    #[test]
    fn zlib_decompressed_message_is_bounded() {
        let message = "x".repeat(100_000);
        let frames = zlib_stream(&[message.clone(), message]);
        let limits = Limits {
            compressed: MAX_COMPRESSED_MESSAGE_LEN,
            message: 100_000,
        };
        let mut decompressor = Decompressor::with_limits(TransportCompression::ZlibStream, limits);
        // Exactly at the limit is fine.
        assert_eq!(
            decompressor.push(&frames[0]).unwrap().unwrap().len(),
            100_000
        );

        let limits = Limits {
            compressed: MAX_COMPRESSED_MESSAGE_LEN,
            message: 99_999,
        };
        let mut decompressor = Decompressor::with_limits(TransportCompression::ZlibStream, limits);
        assert_eq!(
            decompressor.push(&frames[0]),
            Err(DecompressError::TooLarge { limit: 99_999 })
        );
    }

    #[test]
    fn zlib_buffers_shrink_after_a_large_message() {
        let big = noise(7, 3 * RETAINED_CAPACITY);
        let frames = zlib_stream(&[big.clone(), "{}".to_owned()]);
        let mut decompressor = Decompressor::new(TransportCompression::ZlibStream);
        assert_eq!(decompressor.push(&frames[0]).unwrap(), Some(big.as_bytes()));
        assert_eq!(decompressor.push(&frames[1]).unwrap(), Some(&b"{}"[..]));
        let State::Zlib(zlib) = &decompressor.state else {
            unreachable!()
        };
        assert!(zlib.output.capacity() <= RETAINED_CAPACITY);
        assert!(zlib.compressed.capacity() <= RETAINED_CAPACITY);
    }

    #[test]
    fn damaged_zlib_streams_never_panic() {
        let frames = zlib_stream(&gateway_messages()[..4]);
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..300 {
            let mut decompressor = Decompressor::new(TransportCompression::ZlibStream);
            for frame in &frames {
                let mut frame = frame.clone();
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Keep the suffix intact so the damaged message is actually inflated.
                let index = (state as usize) % (frame.len() - ZLIB_SUFFIX.len());
                frame[index] ^= (state >> 32) as u8 | 1;
                let _ = decompressor.push(&frame);
            }
        }
    }

    #[test]
    fn decompress_error_messages() {
        assert_eq!(
            DecompressError::TooLarge { limit: 5 }.to_string(),
            "gateway message exceeds the limit of 5 bytes"
        );
        assert!(DecompressError::Corrupt("bad".into())
            .to_string()
            .ends_with(": bad"));
        assert!(DecompressError::NotCompressed
            .to_string()
            .contains("compression is off"));
    }

    /// `zstd-stream` is checked against the reference C implementation (native only).
    #[cfg(not(target_arch = "wasm32"))]
    mod zstd_stream {
        use super::*;
        use std::io::Write;

        /// Compresses `messages` like Discord's `zstd-stream`: one streaming encoder, flushed
        /// after each message and never finished, so the frame never ends.
        fn zstd_stream(messages: &[String], level: i32) -> Vec<Vec<u8>> {
            let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), level).unwrap();
            messages
                .iter()
                .map(|message| {
                    encoder.write_all(message.as_bytes()).unwrap();
                    encoder.flush().unwrap();
                    std::mem::take(encoder.get_mut())
                })
                .collect()
        }

        #[test]
        fn follows_an_endless_frame_message_by_message() {
            let messages = gateway_messages();
            for level in [1, 3, 9, 19] {
                let frames = zstd_stream(&messages, level);
                // Later messages are tiny: they are back-references into earlier ones, so the
                // decoder must keep its window across messages.
                assert!(frames[5].len() < messages[5].len() / 20, "level {level}");

                let mut decompressor = Decompressor::new(TransportCompression::ZstdStream);
                for (i, (message, frame)) in messages.iter().zip(&frames).enumerate() {
                    let out = decompressor.push(frame).unwrap();
                    assert_eq!(out, Some(message.as_bytes()), "level {level}, message {i}");
                }
            }
        }

        #[test]
        fn decodes_messages_spanning_several_blocks() {
            // Larger than one 128 KiB block, repeated so the second copy refers to the first.
            let big = noise(3, 300_000);
            let messages = vec![big.clone(), "{\"op\":11}".to_owned(), big];
            let frames = zstd_stream(&messages, 3);
            assert!(frames[2].len() < 10_000);
            let mut decompressor = Decompressor::new(TransportCompression::ZstdStream);
            for (message, frame) in messages.iter().zip(&frames) {
                assert_eq!(decompressor.push(frame).unwrap(), Some(message.as_bytes()));
            }
        }

        #[test]
        fn accepts_frames_that_end() {
            // A finished frame (with a checksum), then a new frame on the same connection.
            let mut first = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
            first.include_checksum(true).unwrap();
            first.write_all(b"{\"a\":1}").unwrap();
            let first = first.finish().unwrap();
            let second = zstd::encode_all(&b"{\"b\":2}"[..], 3).unwrap();

            let mut decompressor = Decompressor::new(TransportCompression::ZstdStream);
            assert_eq!(decompressor.push(&first).unwrap(), Some(&b"{\"a\":1}"[..]));
            assert_eq!(decompressor.push(&second).unwrap(), Some(&b"{\"b\":2}"[..]));
        }

        #[test]
        fn truncated_message_is_corrupt() {
            let messages = gateway_messages();
            let frames = zstd_stream(&messages[..2], 3);
            let mut decompressor = Decompressor::new(TransportCompression::ZstdStream);
            decompressor.push(&frames[0]).unwrap();
            let (head, _) = frames[1].split_at(frames[1].len() - 1);
            assert!(matches!(
                decompressor.push(head),
                Err(DecompressError::Corrupt(_))
            ));
            // The stream cannot be followed any further.
            assert!(decompressor.push(&frames[1]).is_err());
        }

        #[test]
        fn not_a_zstd_stream_is_corrupt() {
            let mut decompressor = Decompressor::new(TransportCompression::ZstdStream);
            assert!(matches!(
                decompressor.push(b"{\"op\":10}"),
                Err(DecompressError::Corrupt(_))
            ));
        }

        #[test]
        fn window_is_bounded() {
            // Window_Descriptor 0x88: a window of 2^(10 + 17) = 128 MiB.
            let header = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x88];
            let mut decompressor = Decompressor::new(TransportCompression::ZstdStream);
            assert_eq!(
                decompressor.push(&header),
                Err(DecompressError::TooLarge {
                    limit: MAX_ZSTD_WINDOW as usize
                })
            );
        }

        #[test]
        fn decompressed_message_is_bounded() {
            let message = "x".repeat(200_000);
            let frames = zstd_stream(&[message], 3);
            let limits = Limits {
                compressed: MAX_COMPRESSED_MESSAGE_LEN,
                message: 150_000,
            };
            let mut decompressor =
                Decompressor::with_limits(TransportCompression::ZstdStream, limits);
            assert_eq!(
                decompressor.push(&frames[0]),
                Err(DecompressError::TooLarge { limit: 150_000 })
            );
        }

        #[test]
        fn damaged_streams_never_panic() {
            let messages = gateway_messages();
            let frames = zstd_stream(&messages[..4], 3);
            let mut state = 0x2545_f491_4f6c_dd1d_u64;
            for _ in 0..500 {
                let mut decompressor = Decompressor::new(TransportCompression::ZstdStream);
                for frame in &frames {
                    let mut frame = frame.clone();
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let index = (state as usize) % frame.len();
                    frame[index] ^= (state >> 32) as u8 | 1;
                    let _ = decompressor.push(&frame);
                }
            }
        }
    }
}
