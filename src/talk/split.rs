//! Splitting a long reply into Discord messages.
//!
//! Discord refuses `content` over 2,000 characters. Discord's validator counts code points, and
//! the Rust and JavaScript libraries that check it first count UTF-16 code units (twilight says
//! "2000 UTF-16 characters", JavaScript's `length`); a text is never longer in code points than
//! in UTF-16 units, so [`split`] measures in UTF-16 units and a part that passes here passes
//! either count.
//!
//! Cuts are made, in order of preference, after a paragraph (a blank line), after a line, at a
//! space, and only when there is none of these in the second half of the room, between two
//! grapheme clusters (never inside one: a family emoji or a flag stays whole). The whitespace
//! at a cut is dropped. A fenced code block cut in two is closed (`\n```\n`) at the end of one
//! part and reopened with the same language tag at the start of the next, so each part renders
//! as the reader expects. Only a single grapheme longer than the whole limit is cut inside.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

/// Discord's limit for a message's `content`.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// The smallest limit [`split`] works with (room for a reopened fence, its language tag and
/// the closing fence, with text left over).
pub const MIN_LIMIT: usize = 64;

/// A code fence.
const FENCE: &str = "```";
/// What closes a code block left open at the end of a part.
const CLOSE_FENCE: &str = "\n```";
/// Longest language tag carried over to a reopened block (Discord's tags are short names).
const MAX_LANGUAGE: usize = 24;

/// One message of a split text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// What to send: the reopened fence, the text, the closing fence.
    pub content: String,
    /// Where the text of this part is in the original, in bytes.
    pub body: Range<usize>,
    /// The fence line that reopens a code block cut at the end of the previous part
    /// (e.g. "```rust"); `content` starts with it and a newline.
    pub reopened: Option<String>,
    /// Whether a closing fence was added at the end of `content`.
    pub closed: bool,
}

/// The length Discord's limit is checked against: UTF-16 code units.
pub fn units(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Splits `text` into parts of at most `limit` UTF-16 units (at least [`MIN_LIMIT`]), in
/// order. A text that fits is one part; a text of only whitespace gives no part.
pub fn split(text: &str, limit: usize) -> Vec<Part> {
    let limit = limit.max(MIN_LIMIT);
    let mut parts = Vec::new();
    let mut pos = 0;
    let mut fence: Option<String> = None;
    while pos < text.len() {
        let rest = &text[pos..];
        if rest.trim().is_empty() {
            break;
        }
        let prefix = fence.as_ref().map(|line| format!("{line}\n"));
        let room = limit - prefix.as_deref().map_or(0, units);
        if units(rest) <= room {
            parts.push(part(prefix, fence.take(), rest, pos..text.len(), false));
            break;
        }
        let window = prefix_within(rest, room - CLOSE_FENCE.len());
        let (cut_start, cut_end) = choose_cut(rest, window);
        let body = &rest[..cut_start];
        let open_after = fence_after(fence.clone(), body);
        if !body.trim().is_empty() {
            parts.push(part(
                prefix,
                fence.clone(),
                body,
                pos..pos + cut_start,
                open_after.is_some(),
            ));
            fence = open_after;
        }
        pos += cut_end;
    }
    parts
}

fn part(
    prefix: Option<String>,
    reopened: Option<String>,
    body: &str,
    range: Range<usize>,
    closed: bool,
) -> Part {
    let mut content = prefix.unwrap_or_default();
    content.push_str(body);
    if closed {
        content.push_str(CLOSE_FENCE);
    }
    Part {
        content,
        body: range,
        reopened,
        closed,
    }
}

/// The end (in bytes) of the longest run of whole graphemes of `text` within `room` units; a
/// first grapheme longer than `room` is cut at a character boundary (the only cut inside one).
fn prefix_within(text: &str, room: usize) -> usize {
    let mut used = 0;
    let mut end = 0;
    for (at, grapheme) in text.grapheme_indices(true) {
        used += units(grapheme);
        if used > room {
            break;
        }
        end = at + grapheme.len();
    }
    if end > 0 {
        return end;
    }
    let mut used = 0;
    for (at, c) in text.char_indices() {
        used += c.len_utf16();
        if used > room {
            return at.max(c.len_utf8().min(text.len()));
        }
    }
    text.len()
}

/// Where to cut `text` whose first `window` bytes fit: `(end of this part, start of the next)`.
fn choose_cut(text: &str, window: usize) -> (usize, usize) {
    let head = &text[..window];
    let half = window / 2;
    let bytes = text.as_bytes();
    let newlines_from = |at: usize| at + bytes[at..].iter().take_while(|b| **b == b'\n').count();
    let trim_cr = |at: usize| {
        if at > 0 && bytes[at - 1] == b'\r' {
            at - 1
        } else {
            at
        }
    };
    let has_text = |end: usize| !text[..end].trim().is_empty();
    // After a paragraph: a blank line.
    if let Some(at) = head.rfind("\n\n").filter(|at| *at > half) {
        let end = trim_cr(at);
        if has_text(end) {
            return (end, newlines_from(at));
        }
    }
    // After a line.
    if let Some(at) = head.rfind('\n').filter(|at| *at > half) {
        let end = trim_cr(at);
        if has_text(end) {
            return (end, at + 1);
        }
    }
    // At a space (any whitespace but a newline).
    if let Some((at, c)) = head
        .char_indices()
        .rev()
        .find(|(at, c)| *at > 0 && c.is_whitespace() && *c != '\n')
    {
        if at > half && has_text(at) {
            let after = at + c.len_utf8();
            let next = text[after..]
                .char_indices()
                .find(|(_, c)| !c.is_whitespace() || *c == '\n')
                .map_or(text.len(), |(i, _)| after + i);
            return (at, next);
        }
    }
    // Between two graphemes (`window` is one).
    (window, window)
}

/// Whether a code block is open after `text`, given the state before it: the fence line to
/// reopen it with, or `None`. Every "```" toggles; the one that opens a block may carry a
/// language tag up to the end of its line.
fn fence_after(mut open: Option<String>, text: &str) -> Option<String> {
    for line in text.split('\n') {
        let mut rest = line;
        while let Some(at) = rest.find(FENCE) {
            let after = &rest[at + FENCE.len()..];
            open = match open {
                Some(_) => None,
                None => Some(fence_line(after)),
            };
            rest = after;
        }
    }
    open
}

/// The fence line that reopens a block whose opening fence was followed by `after`.
fn fence_line(after: &str) -> String {
    let tag = after.trim_end_matches('\r');
    let is_tag = !tag.is_empty()
        && tag.len() <= MAX_LANGUAGE
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.' | b'#'));
    if is_tag {
        format!("{FENCE}{tag}")
    } else {
        FENCE.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    fn contents(parts: &[Part]) -> Vec<&str> {
        parts.iter().map(|p| p.content.as_str()).collect()
    }

    #[test]
    fn split_short_text_is_one_part() {
        let parts = split("hello", MAX_MESSAGE_CHARS);
        assert_eq!(contents(&parts), ["hello"]);
        assert_eq!(parts[0].body, 0..5);
        assert!(split(" \n\n ", MAX_MESSAGE_CHARS).is_empty());
    }

    #[test]
    fn split_counts_utf16_units() {
        // 😀 is one code point and two UTF-16 units.
        let exact = "😀".repeat(1000);
        assert_eq!(split(&exact, MAX_MESSAGE_CHARS).len(), 1);
        let over = "😀".repeat(1001);
        let parts = split(&over, MAX_MESSAGE_CHARS);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| units(&p.content) <= MAX_MESSAGE_CHARS));
    }

    #[test]
    fn split_prefers_paragraphs_then_lines_then_words() {
        let para = format!("{}\n\n{}", "a ".repeat(40).trim(), "b".repeat(30));
        assert_eq!(
            contents(&split(&para, 100)),
            [para[..79].to_owned(), "b".repeat(30)]
        );
        let lines = format!("{}\n{}\n{}", "a".repeat(60), "b".repeat(50), "c".repeat(30));
        assert_eq!(
            contents(&split(&lines, 100)),
            [
                "a".repeat(60),
                format!("{}\n{}", "b".repeat(50), "c".repeat(30))
            ]
        );
        let words = "word ".repeat(30);
        let parts = split(words.trim(), 100);
        assert!(parts.iter().all(|p| !p.content.starts_with(' ')));
        assert!(parts
            .iter()
            .all(|p| p.content.split(' ').all(|w| w == "word")));
    }

    #[test]
    fn split_cuts_a_long_word_between_graphemes_only() {
        let family = "👩\u{200d}👩\u{200d}👧"; // one grapheme, 8 UTF-16 units
        let text = family.repeat(40);
        let parts = split(&text, 100);
        assert!(parts.len() > 1);
        for part in &parts {
            assert!(units(&part.content) <= 100);
            assert_eq!(part.content.replace(family, ""), "", "{part:?}");
        }
        let flags = "🇫🇷".repeat(60);
        for part in split(&flags, 100) {
            assert_eq!(part.content.replace("🇫🇷", ""), "");
        }
    }

    #[test]
    fn split_closes_and_reopens_a_cut_code_block_with_its_language() {
        let code: String = (0..30).map(|i| format!("let x{i} = {i};\n")).collect();
        let text = format!("Here:\n\n```rust\n{code}```\nDone.");
        let parts = split(&text, 200);
        assert!(parts.len() > 2);
        assert!(parts[0].content.starts_with("Here:"));
        for (i, part) in parts.iter().enumerate() {
            assert_eq!(part.content.matches(FENCE).count() % 2, 0, "{part:?}");
            if i > 0 && i + 1 < parts.len() {
                assert!(part.content.starts_with("```rust\n"), "{part:?}");
                assert!(part.content.ends_with("\n```"), "{part:?}");
            }
        }
        assert!(parts.last().unwrap().content.ends_with("```\nDone."));
    }

    #[test]
    fn split_a_single_grapheme_longer_than_the_limit_is_cut_inside() {
        let zalgo = format!("e{}", "\u{301}".repeat(200));
        let parts = split(&zalgo, 64);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| units(&p.content) <= 64));
        assert_eq!(contents(&parts).concat(), zalgo);
    }

    const PIECES: &[&str] = &[
        "word",
        "a",
        "longer-word",
        " ",
        " ",
        " ",
        "  ",
        "\t",
        "\n",
        "\n",
        "\n\n",
        "\r\n",
        "é",
        "e\u{301}",
        "漢字",
        "😀",
        "👩\u{200d}👩\u{200d}👧",
        "🇫🇷",
        "👍🏽",
        "```rust\n",
        "```\n",
        "```",
        "\n```\n",
        "```py\n",
        "`",
        "**bold**",
        "<@123>",
        "@everyone",
    ];

    fn random_text(rng: &mut Rng) -> String {
        let mut text = String::new();
        for _ in 0..rng.index(1500) {
            if rng.index(200) == 0 {
                text.push_str(&"x".repeat(rng.index(3000)));
            } else {
                text.push_str(PIECES[rng.index(PIECES.len())]);
            }
        }
        text
    }

    /// Property: every part fits, the parts are the text in order with only whitespace left
    /// out at the cuts and only fences added, every cut is between graphemes, and no part but
    /// the last leaves a code block open.
    #[test]
    fn split_property_random_texts() {
        for seed in 1..=150u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let text = random_text(&mut rng);
            let limit = if seed % 4 == 0 {
                MAX_MESSAGE_CHARS
            } else {
                MIN_LIMIT + rng.index(400)
            };
            let boundaries: std::collections::HashSet<usize> = text
                .grapheme_indices(true)
                .map(|(at, _)| at)
                .chain([text.len()])
                .collect();
            let parts = split(&text, limit);
            let mut cursor = 0;
            let mut previous_closed = false;
            for (i, part) in parts.iter().enumerate() {
                let context = format!("seed {seed}, limit {limit}, part {i}: {part:?}");
                assert!(units(&part.content) <= limit, "{context}");
                assert!(!part.content.trim().is_empty(), "{context}");
                assert!(part.body.start >= cursor, "{context}");
                assert!(
                    text[cursor..part.body.start].trim().is_empty(),
                    "text lost before {context}"
                );
                assert!(boundaries.contains(&part.body.start), "{context}");
                assert!(boundaries.contains(&part.body.end), "{context}");
                assert_eq!(part.reopened.is_some(), previous_closed, "{context}");
                let mut expected = part
                    .reopened
                    .as_ref()
                    .map(|line| format!("{line}\n"))
                    .unwrap_or_default();
                expected.push_str(&text[part.body.clone()]);
                if part.closed {
                    expected.push_str(CLOSE_FENCE);
                }
                assert_eq!(part.content, expected, "{context}");
                if i + 1 < parts.len() {
                    assert_eq!(
                        part.content.matches(FENCE).count() % 2,
                        0,
                        "open block in {context}"
                    );
                }
                cursor = part.body.end;
                previous_closed = part.closed;
            }
            assert!(!previous_closed, "seed {seed}: last part closed a block");
            assert!(
                text[cursor..].trim().is_empty(),
                "seed {seed}: text lost at the end"
            );
        }
    }
}
