//! The opaque cursor of a pull subscription on a sharded bot (issue 12), sans-IO.
//!
//! Each shard object keeps its own log, so a reader's place is one position per shard: the
//! cursor holds, for every set of shards it has read (two while resharding, or while an old set
//! is drained), the set's generation and count and one position per shard. It travels as
//! `s1.<base64url of JSON>`: the version prefix lets the format change, and a tag made from the
//! bot and the subscription makes a cursor of another subscription (or another bot) a `400`
//! rather than a silent jump. A set the cursor does not name is read from that shard's stored
//! (acknowledged) position.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::ApiError;

/// The prefix of a version 1 cursor.
pub const CURSOR_PREFIX: &str = "s1.";
/// The longest cursor accepted (a cursor of 16 384 shards is far shorter than a URL may be,
/// but nothing longer is decoded).
const MAX_CURSOR_CHARS: usize = 64 * 1024;

/// Which set of shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SetKey {
    /// Its generation.
    #[serde(rename = "g")]
    pub generation: u32,
    /// Its shard count.
    #[serde(rename = "n")]
    pub count: u32,
}

/// One set's positions, one per shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetPositions {
    /// The set.
    #[serde(flatten)]
    pub set: SetKey,
    /// Shard `i`'s position is `positions[i]`.
    #[serde(rename = "p")]
    pub positions: Vec<u64>,
}

/// A reader's place in every shard's log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCursor {
    /// The sets, in the order they were first read.
    #[serde(rename = "s")]
    pub sets: Vec<SetPositions>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    /// [`cursor_tag`] of the bot and the subscription.
    t: u32,
    #[serde(flatten)]
    cursor: ShardCursor,
}

/// The tag binding a cursor to one subscription of one bot.
pub fn cursor_tag(bot: &str, subscription: &str) -> u32 {
    let digest = Sha256::new()
        .chain_update(bot.as_bytes())
        .chain_update([0])
        .chain_update(subscription.as_bytes())
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

fn malformed(field: &str, why: &str) -> ApiError {
    ApiError::bad_request(
        Some(field),
        format!("{field} is not a cursor of this subscription ({why}): send a next_cursor its inbox gave, or leave it out to read after the acknowledged position"),
    )
}

impl ShardCursor {
    /// The position of `shard` of `set`, if the cursor has one.
    pub fn position(&self, set: SetKey, shard: u32) -> Option<u64> {
        self.sets
            .iter()
            .find(|s| s.set == set)
            .and_then(|s| s.positions.get(shard as usize).copied())
    }

    /// Sets the position of `shard` of `set` (the set is added, its other shards at 0).
    pub fn set_position(&mut self, set: SetKey, shard: u32, position: u64) {
        let index = match self.sets.iter().position(|s| s.set == set) {
            Some(index) => index,
            None => {
                self.sets.push(SetPositions {
                    set,
                    positions: vec![0; set.count as usize],
                });
                self.sets.len() - 1
            }
        };
        if let Some(slot) = self.sets[index].positions.get_mut(shard as usize) {
            *slot = position;
        }
    }

    /// Keeps only the sets `keep` says are still read.
    pub fn retain(&mut self, keep: impl Fn(SetKey) -> bool) {
        self.sets.retain(|s| keep(s.set));
    }

    /// The opaque text, for the subscription whose [`cursor_tag`] is `tag`.
    pub fn encode(&self, tag: u32) -> String {
        let wire = Wire {
            t: tag,
            cursor: self.clone(),
        };
        let json = serde_json::to_vec(&wire).unwrap_or_default();
        format!("{CURSOR_PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    /// Reads a cursor given as `field` (`after` or `cursor`); a malformed one, one of another
    /// version, or one of another subscription (`tag`) is a `400` naming `field`.
    pub fn decode(text: &str, tag: u32, field: &str) -> Result<Self, ApiError> {
        if text.len() > MAX_CURSOR_CHARS {
            return Err(malformed(field, "too long"));
        }
        let body = text
            .strip_prefix(CURSOR_PREFIX)
            .ok_or_else(|| malformed(field, "it does not start with s1."))?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| malformed(field, "not base64url"))?;
        let wire: Wire =
            crate::json::from_slice(&json).map_err(|_| malformed(field, "unreadable"))?;
        if wire.t != tag {
            return Err(malformed(field, "it belongs to another subscription"));
        }
        let cursor = wire.cursor;
        for (i, set) in cursor.sets.iter().enumerate() {
            if set.set.count == 0 || set.positions.len() != set.set.count as usize {
                return Err(malformed(field, "a set's positions do not match its count"));
            }
            if cursor.sets[..i].iter().any(|s| s.set == set.set) {
                return Err(malformed(field, "a set is named twice"));
            }
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: SetKey = SetKey {
        generation: 1,
        count: 2,
    };
    const B: SetKey = SetKey {
        generation: 2,
        count: 4,
    };

    #[test]
    fn issue12_pull_cursor_round_trips_every_set_and_shard() {
        let mut cursor = ShardCursor::default();
        cursor.set_position(A, 1, 7);
        cursor.set_position(B, 3, 9);
        let tag = cursor_tag("bot", "agent");
        let text = cursor.encode(tag);
        assert!(text.starts_with("s1."));
        assert!(text[3..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let back = ShardCursor::decode(&text, tag, "after").unwrap();
        assert_eq!(back, cursor);
        assert_eq!(back.position(A, 0), Some(0));
        assert_eq!(back.position(A, 1), Some(7));
        assert_eq!(back.position(B, 3), Some(9));
        assert_eq!(back.position(B, 4), None);
        assert_eq!(
            back.position(
                SetKey {
                    generation: 3,
                    count: 2
                },
                0
            ),
            None
        );
    }

    #[test]
    fn issue12_pull_cursor_malformed_or_foreign_is_400_naming_the_field() {
        let tag = cursor_tag("bot", "agent");
        let mut cursor = ShardCursor::default();
        cursor.set_position(A, 0, 3);
        let good = cursor.encode(tag);
        let bad_count = format!(
            "s1.{}",
            URL_SAFE_NO_PAD.encode(format!(r#"{{"t":{tag},"s":[{{"g":1,"n":2,"p":[1]}}]}}"#))
        );
        let twice = format!(
            "s1.{}",
            URL_SAFE_NO_PAD.encode(format!(
                r#"{{"t":{tag},"s":[{{"g":1,"n":1,"p":[1]}},{{"g":1,"n":1,"p":[2]}}]}}"#
            ))
        );
        for text in [
            "12",
            "s2.e30",
            "s1.!!!",
            "s1.e30",
            &bad_count,
            &twice,
            &good[..good.len() - 2],
        ] {
            let e = ShardCursor::decode(text, tag, "after").unwrap_err();
            assert_eq!(
                (e.status, e.field.as_deref()),
                (400, Some("after")),
                "{text}"
            );
        }
        let foreign = ShardCursor::decode(&good, cursor_tag("bot", "other"), "cursor").unwrap_err();
        assert_eq!(
            (foreign.status, foreign.field.as_deref()),
            (400, Some("cursor"))
        );
        assert!(
            foreign.error.contains("another subscription"),
            "{}",
            foreign.error
        );
        assert_ne!(cursor_tag("bot", "agent"), cursor_tag("other-bot", "agent"));
    }

    #[test]
    fn issue12_pull_cursor_retain_forgets_sets_no_longer_read() {
        let mut cursor = ShardCursor::default();
        cursor.set_position(A, 0, 1);
        cursor.set_position(B, 0, 2);
        cursor.retain(|s| s == B);
        assert_eq!(cursor.position(A, 0), None);
        assert_eq!(cursor.position(B, 0), Some(2));
    }
}
