//! A sharded bot's pull subscriptions across its shard objects (issue 12), sans-IO: what the
//! coordinator asks a shard about one pull subscription (an internal route), and how the pages
//! of several shards become one page with one cursor ([`merge`]).
//!
//! The coordinator holds the tokens; a shard holds the events and, per pull subscription, its
//! acknowledged position in the shard's own log. A page merges the shards' pages by receive
//! time (ties by set, then shard), at most `limit` events; each shard's position in the next
//! cursor is the last of its events on the page, so what did not fit comes on the next page.

use serde::{Deserialize, Serialize};

use super::cursor::{SetKey, ShardCursor};
use crate::api::ApiError;
use crate::subscriptions::inbox::ack_body_cursor;

/// `POST /v1/ack` on a sharded bot: `{"cursor": "<opaque>"}`, the text of a `next_cursor`; a
/// body of another shape is a `400` naming the field at fault.
pub fn ack_cursor(body: &[u8]) -> Result<String, ApiError> {
    const SHAPE: &str = "the body must be {\"cursor\": \"<next_cursor>\"}";
    match ack_body_cursor(body, SHAPE)? {
        Some(serde_json::Value::String(cursor)) => Ok(cursor),
        _ => Err(ApiError::bad_request(
            Some("cursor"),
            format!("{SHAPE}: on a sharded bot the cursor is the text next_cursor gave (a number names a place in one log only)"),
        )),
    }
}

/// Coordinator → shard: about pull subscription `name` of this shard's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum PullCall {
    /// The events after `after` (the stored position when `None`), at most `limit`, held up to
    /// `wait_ms` until one comes.
    #[serde(rename_all = "camelCase")]
    Read {
        /// The subscription.
        name: String,
        /// Read after this position.
        after: Option<u64>,
        /// At most this many events.
        limit: usize,
        /// Hold up to this long when there is none.
        wait_ms: u64,
    },
    /// Moves the stored position forward to `cursor` (never back).
    Ack {
        /// The subscription.
        name: String,
        /// The position read.
        cursor: u64,
    },
    /// The stored position, lag and missed count.
    Me {
        /// The subscription.
        name: String,
    },
    /// Answers the held reads of `name` now (the coordinator's long poll is answered).
    Wake {
        /// The subscription.
        name: String,
    },
    /// How many events the shard still holds for pull subscriptions (an old set is drained
    /// when none).
    Held,
}

/// An event of a shard's page. (Plain structs, no tagged enum: the event travels as raw JSON,
/// which serde cannot buffer inside an internally tagged enum.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardEvent<E> {
    /// Its position in the shard's log.
    pub position: u64,
    /// When it was received (ms since epoch).
    pub received_at: u64,
    /// The event.
    pub event: E,
}

/// A shard's page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardPage<E> {
    /// The position read after (the stored one when none was given).
    pub after: u64,
    /// The gap before the events: matching events retention removed unread (0: none).
    #[serde(default)]
    pub missed: u64,
    /// In log order.
    pub events: Vec<ShardEvent<E>>,
}

impl<E> ShardPage<E> {
    /// Whether it has nothing to show (no event, no gap).
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.missed == 0
    }
}

/// A shard's stored progress for one pull subscription.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardProgress {
    /// The acknowledged position.
    pub cursor: u64,
    /// Events it holds after it.
    pub lag: u64,
    /// Events retention removed unread.
    pub missed: u64,
    /// (`Held`) events held for every pull subscription.
    #[serde(default)]
    pub held: u64,
}

/// One entry of a sharded bot's inbox page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum MergedEntry<E> {
    /// Events of one shard missed to retention.
    Gap {
        /// The shard's set generation.
        generation: u32,
        /// The shard.
        shard: u32,
        /// How many.
        missed: u64,
    },
    /// An event, from one shard.
    Event {
        /// The shard's set generation.
        generation: u32,
        /// The shard.
        shard: u32,
        /// Its position in that shard's log.
        position: u64,
        /// The event.
        event: E,
    },
}

/// Merges the pages of several shards (`(set, shard, page)`) into one of at most `limit`
/// events (gaps first, then events by receive time, ties by set and shard), moving each
/// shard's position in `cursor` to the last of its events taken, or to its page's `after`.
pub fn merge<E>(
    pages: Vec<(SetKey, u32, ShardPage<E>)>,
    limit: usize,
    cursor: &mut ShardCursor,
) -> Vec<MergedEntry<E>> {
    let mut gaps = Vec::new();
    let mut events = Vec::new();
    for (set, shard, page) in pages {
        cursor.set_position(set, shard, page.after);
        if page.missed > 0 {
            gaps.push(MergedEntry::Gap {
                generation: set.generation,
                shard,
                missed: page.missed,
            });
        }
        for e in page.events.into_iter().filter(|e| e.position > page.after) {
            events.push((e.received_at, set, shard, e.position, e.event));
        }
    }
    events.sort_by_key(|(at, set, shard, position, _)| (*at, *set, *shard, *position));
    events.truncate(limit);
    for (_, set, shard, position, _) in &events {
        if cursor.position(*set, *shard).is_none_or(|p| *position > p) {
            cursor.set_position(*set, *shard, *position);
        }
    }
    gaps.extend(
        events
            .into_iter()
            .map(|(_, set, shard, position, event)| MergedEntry::Event {
                generation: set.generation,
                shard,
                position,
                event,
            }),
    );
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: SetKey = SetKey {
        generation: 1,
        count: 2,
    };

    fn page(after: u64, events: &[(u64, u64)]) -> ShardPage<&'static str> {
        ShardPage {
            after,
            missed: 0,
            events: events
                .iter()
                .map(|&(position, received_at)| ShardEvent {
                    position,
                    received_at,
                    event: "e",
                })
                .collect(),
        }
    }

    fn taken(entries: &[MergedEntry<&str>]) -> Vec<(u32, u64)> {
        entries
            .iter()
            .filter_map(|e| match e {
                MergedEntry::Event {
                    shard, position, ..
                } => Some((*shard, *position)),
                MergedEntry::Gap { .. } => None,
            })
            .collect()
    }

    #[test]
    fn issue12_pull_ack_on_a_sharded_bot_takes_the_opaque_cursor() {
        assert_eq!(ack_cursor(br#"{"cursor":"s1.abc"}"#).unwrap(), "s1.abc");
        for (body, field) in [
            (&br#"{"cursor":8}"#[..], Some("cursor")),
            (br#"{}"#, Some("cursor")),
            (br#"{"cursor":"s1.a","x":1}"#, Some("x")),
            (b"nope", None),
        ] {
            let e = ack_cursor(body).unwrap_err();
            assert_eq!((e.status, e.field.as_deref()), (400, field));
        }
    }

    #[test]
    fn issue12_pull_a_shard_page_carries_raw_events_between_objects() {
        use serde_json::value::RawValue;
        let page = ShardPage {
            after: 3,
            missed: 1,
            events: vec![ShardEvent {
                position: 4,
                received_at: 9,
                event: RawValue::from_string(r#"{"type":"X","data":{"id":"1"}}"#.to_owned())
                    .unwrap(),
            }],
        };
        let text = serde_json::to_string(&page).unwrap();
        let back: ShardPage<Box<RawValue>> = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (back.after, back.missed, back.events[0].position),
            (3, 1, 4)
        );
        assert_eq!(
            back.events[0].event.get(),
            r#"{"type":"X","data":{"id":"1"}}"#
        );
    }

    #[test]
    fn issue12_pull_merge_orders_by_receive_time_then_shard() {
        let mut cursor = ShardCursor::default();
        let merged = merge(
            vec![
                (SET, 0, page(0, &[(1, 10), (2, 30)])),
                (SET, 1, page(5, &[(6, 20), (7, 30)])),
            ],
            10,
            &mut cursor,
        );
        assert_eq!(taken(&merged), vec![(0, 1), (1, 6), (0, 2), (1, 7)]);
        assert_eq!(cursor.position(SET, 0), Some(2));
        assert_eq!(cursor.position(SET, 1), Some(7));
    }

    #[test]
    fn issue12_pull_merge_limit_leaves_the_rest_after_each_shards_position() {
        let mut cursor = ShardCursor::default();
        let merged = merge(
            vec![
                (SET, 0, page(0, &[(1, 10), (2, 40)])),
                (SET, 1, page(5, &[(6, 20), (7, 30)])),
            ],
            2,
            &mut cursor,
        );
        assert_eq!(taken(&merged), vec![(0, 1), (1, 6)]);
        // Shard 0's event at 40 and shard 1's at 30 come next: neither is behind its position.
        assert_eq!(cursor.position(SET, 0), Some(1));
        assert_eq!(cursor.position(SET, 1), Some(6));
        // A shard with nothing on the page keeps the position it was read after.
        let merged = merge(vec![(SET, 1, page(9, &[]))], 2, &mut cursor);
        assert!(merged.is_empty());
        assert_eq!(cursor.position(SET, 1), Some(9));
    }

    #[test]
    fn issue12_pull_merge_surfaces_each_shards_gap_first() {
        let mut cursor = ShardCursor::default();
        let mut gapped = page(0, &[(3, 5)]);
        gapped.missed = 2;
        let merged = merge(
            vec![(SET, 0, page(0, &[(1, 1)])), (SET, 1, gapped)],
            10,
            &mut cursor,
        );
        assert_eq!(
            merged[0],
            MergedEntry::Gap {
                generation: 1,
                shard: 1,
                missed: 2
            }
        );
        assert_eq!(taken(&merged), vec![(0, 1), (1, 3)]);
    }
}
