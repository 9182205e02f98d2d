//! The pull API's rules, sans-IO: reading `GET /v1/inbox`'s query and `POST /v1/ack`'s body,
//! bounding the long polls one object holds, and a pull subscription's progress through the
//! log (cursor, lag, and the events it missed to retention, shown as an explicit gap).
//!
//! Positions are the log's: every accepted event gets the next one, from 1, never reused, so
//! `cursor = n` means "everything up to and including position n is read". An event that
//! matches a subscription and is removed by retention before the subscription read it is
//! counted as missed; the next page then starts with a `gap` entry saying how many, never a
//! silent hole. Acknowledging a cursor past the gap clears it.

use serde::{Deserialize, Serialize};

use crate::api::ApiError;

/// The largest `limit` of one inbox page.
pub const MAX_LIMIT: usize = 200;
/// The `limit` when none is given.
pub const DEFAULT_LIMIT: usize = 50;
/// The longest `wait`, in seconds.
pub const MAX_WAIT_SECONDS: u32 = 25;

/// `GET /v1/inbox?after=<cursor>&limit=1..200&wait=0..25`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboxQuery {
    /// Read after this position; the stored cursor when not given.
    pub after: Option<u64>,
    /// At most this many entries.
    pub limit: usize,
    /// Hold the request up to this many seconds when nothing is there yet.
    pub wait_seconds: u32,
}

fn number<T: std::str::FromStr>(field: &str, value: &str, range: &str) -> Result<T, ApiError> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| value.parse().ok()).flatten().ok_or_else(|| {
        ApiError::bad_request(
            Some(field),
            format!("{field} must be a whole number {range}, not {value:?}"),
        )
    })
}

impl InboxQuery {
    /// Reads the query's pairs (other parameters are ignored); a bad value is a `400` naming it.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ApiError> {
        let mut query = Self {
            after: None,
            limit: DEFAULT_LIMIT,
            wait_seconds: 0,
        };
        for (key, value) in pairs {
            match key {
                "after" => query.after = Some(number(key, value, "(a cursor, 0 or more)")?),
                "limit" => {
                    let limit: usize = number(key, value, "from 1 to 200")?;
                    if !(1..=MAX_LIMIT).contains(&limit) {
                        return Err(ApiError::bad_request(
                            Some("limit"),
                            format!("limit must be from 1 to {MAX_LIMIT}, not {limit}"),
                        ));
                    }
                    query.limit = limit;
                }
                "wait" => {
                    let wait: u32 = number(key, value, "of seconds from 0 to 25")?;
                    if wait > MAX_WAIT_SECONDS {
                        return Err(ApiError::bad_request(
                            Some("wait"),
                            format!(
                                "wait must be from 0 to {MAX_WAIT_SECONDS} seconds, not {wait}"
                            ),
                        ));
                    }
                    query.wait_seconds = wait;
                }
                _ => {}
            }
        }
        Ok(query)
    }
}

/// `POST /v1/ack`: `{"cursor": n}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckRequest {
    /// Everything up to and including this position is done.
    pub cursor: u64,
}

/// Reads an ack's body, `{"cursor": …}` and nothing else, and gives the cursor's value (`None`
/// when absent). Not JSON, not an object, or another field is a `400` that says `shape`.
pub fn ack_body_cursor(body: &[u8], shape: &str) -> Result<Option<serde_json::Value>, ApiError> {
    let mut object: serde_json::Map<String, serde_json::Value> = crate::json::from_slice(body)
        .map_err(|e| ApiError::bad_request(None, format!("{shape}: {e}")))?;
    if let Some(unknown) = object.keys().find(|k| *k != "cursor") {
        return Err(ApiError::bad_request(
            Some(unknown),
            format!("{shape}; {unknown:?} is not a field of it"),
        ));
    }
    Ok(object.remove("cursor"))
}

impl AckRequest {
    /// Reads the body; a bad one is a `400` naming the field at fault.
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        const SHAPE: &str = "the body must be {\"cursor\": <position>}";
        let cursor = ack_body_cursor(body, SHAPE)?
            .as_ref()
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| {
                ApiError::bad_request(
                    Some("cursor"),
                    format!("{SHAPE}: cursor must be a whole number, 0 or more"),
                )
            })?;
        Ok(Self { cursor })
    }
}

/// One entry of an inbox page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum InboxEntry<E> {
    /// Events this subscription matched were removed by retention before it read them.
    Gap {
        /// How many.
        missed: u64,
    },
    /// An event.
    Event {
        /// Its position in the log.
        position: u64,
        /// The event.
        event: E,
    },
}

/// A pull subscription's progress through the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullProgress {
    /// The acknowledged position.
    pub cursor: u64,
    /// Matching events after the cursor that retention removed unread.
    pub missed: u64,
}

/// An inbox page: its entries and the cursor to read (and acknowledge) after them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Page<E> {
    /// In log order; a gap first when events were missed.
    pub entries: Vec<InboxEntry<E>>,
    /// The position of the last event on the page, or `after` when it has none.
    pub next_cursor: u64,
}

impl PullProgress {
    /// Retention removed the matching event at `position`: missed unless already read.
    pub fn retention_removed(&mut self, position: u64) {
        if position > self.cursor {
            self.missed += 1;
        }
    }

    /// Moves the cursor to `cursor`; `head` is the newest position in the log. A cursor past
    /// the head is a `400` naming `cursor`. Moving forward clears the missed count (the gap is
    /// behind it) and returns the positions now acknowledged, `(from, to]`, whose holds the
    /// subscription releases; a cursor at or behind the stored one changes nothing (an ack
    /// sent again is harmless, and what was released cannot be read again).
    pub fn ack(&mut self, cursor: u64, head: u64) -> Result<Option<(u64, u64)>, ApiError> {
        if cursor > head {
            return Err(ApiError::bad_request(
                Some("cursor"),
                format!("cursor {cursor} is past the newest position in the log ({head}): acknowledge a next_cursor the inbox gave"),
            ));
        }
        if cursor <= self.cursor {
            return Ok(None);
        }
        let released = (self.cursor, cursor);
        self.missed = 0;
        self.cursor = cursor;
        Ok(Some(released))
    }

    /// Positions after the cursor, up to `head` (matching or not: the log does not know which
    /// without reading).
    pub fn lag(&self, head: u64) -> u64 {
        head.saturating_sub(self.cursor)
    }

    /// A page after `after`, from the matching events `events` (in log order, positions
    /// after `after`), at most `limit` of them. The gap comes first when events were missed
    /// and the page starts at or before the cursor's edge (a reader far ahead of its cursor
    /// has already seen it).
    pub fn page<E>(
        &self,
        after: u64,
        events: impl IntoIterator<Item = (u64, E)>,
        limit: usize,
    ) -> Page<E> {
        let mut entries = Vec::new();
        if self.missed > 0 && after <= self.cursor {
            entries.push(InboxEntry::Gap {
                missed: self.missed,
            });
        }
        let mut next_cursor = after;
        for (position, event) in events.into_iter().filter(|(p, _)| *p > after).take(limit) {
            next_cursor = position;
            entries.push(InboxEntry::Event { position, event });
        }
        Page {
            entries,
            next_cursor,
        }
    }
}

/// The long polls one object holds at once, bounded: one more is answered `429`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitSlots {
    held: usize,
    max: usize,
}

impl WaitSlots {
    /// Room for `max` held requests.
    pub fn new(max: usize) -> Self {
        Self { held: 0, max }
    }

    /// Takes a slot for one held request, or a `429` when all are taken.
    pub fn hold(&mut self) -> Result<(), ApiError> {
        if self.held >= self.max {
            return Err(ApiError::new(
                429,
                Some("wait"),
                format!(
                    "this bot already holds {} waiting inbox requests; retry, or poll with wait=0",
                    self.max
                ),
            ));
        }
        self.held += 1;
        Ok(())
    }

    /// Gives a slot back (the held request answered).
    pub fn release(&mut self) {
        self.held = self.held.saturating_sub(1);
    }

    /// Requests held now.
    pub fn held(&self) -> usize {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Result<InboxQuery, ApiError> {
        InboxQuery::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn issue_10_pull_inbox_query_defaults_and_bounds() {
        assert_eq!(
            query(&[]).unwrap(),
            InboxQuery {
                after: None,
                limit: DEFAULT_LIMIT,
                wait_seconds: 0
            }
        );
        assert_eq!(
            query(&[
                ("after", "42"),
                ("limit", "200"),
                ("wait", "25"),
                ("x", "y")
            ])
            .unwrap(),
            InboxQuery {
                after: Some(42),
                limit: 200,
                wait_seconds: 25
            }
        );
        for (pairs, field) in [
            (&[("limit", "0")][..], "limit"),
            (&[("limit", "201")][..], "limit"),
            (&[("limit", "-1")][..], "limit"),
            (&[("wait", "26")][..], "wait"),
            (&[("wait", "1.5")][..], "wait"),
            (&[("after", "")][..], "after"),
            (&[("after", "+1")][..], "after"),
            (&[("after", "99999999999999999999999")][..], "after"),
        ] {
            let err = query(pairs).unwrap_err();
            assert_eq!(
                (err.status, err.field.as_deref()),
                (400, Some(field)),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn issue_10_pull_ack_body_names_cursor() {
        assert_eq!(
            AckRequest::from_json(br#"{"cursor":7}"#).unwrap(),
            AckRequest { cursor: 7 }
        );
        for bad in [&br#"{"cursor":-1}"#[..], br#"{"cursor":"7"}"#, br#"{}"#] {
            let err = AckRequest::from_json(bad).unwrap_err();
            assert_eq!(err.field.as_deref(), Some("cursor"), "{bad:?}");
        }
        for bad in [&br#"{"cursor":1.5}"#[..], br#"{"cursor":null}"#] {
            assert_eq!(
                AckRequest::from_json(bad).unwrap_err().field.as_deref(),
                Some("cursor")
            );
        }
        assert_eq!(AckRequest::from_json(b"nope").unwrap_err().status, 400);
        assert_eq!(
            AckRequest::from_json(br#"{"cursor":1,"more":1}"#)
                .unwrap_err()
                .field
                .as_deref(),
            Some("more")
        );
    }

    #[test]
    fn issue_10_pull_pages_follow_log_order_and_the_cursor() {
        let progress = PullProgress::default();
        let events = [(2, "a"), (5, "b"), (9, "c")];
        let page = progress.page(0, events, 2);
        assert_eq!(
            page.entries,
            vec![
                InboxEntry::Event {
                    position: 2,
                    event: "a"
                },
                InboxEntry::Event {
                    position: 5,
                    event: "b"
                }
            ]
        );
        assert_eq!(page.next_cursor, 5);
        let page = progress.page(5, events, 10);
        assert_eq!(page.next_cursor, 9);
        assert_eq!(page.entries.len(), 1);
        let empty = progress.page(9, events, 10);
        assert_eq!((empty.entries.len(), empty.next_cursor), (0, 9));
        assert_eq!(
            serde_json::to_value(progress.page(0, [(2, "a")], 1)).unwrap(),
            serde_json::json!({"entries": [{"type": "event", "position": 2, "event": "a"}], "next_cursor": 2})
        );
    }

    #[test]
    fn issue_10_pull_past_retention_the_page_starts_with_a_gap_until_acked() {
        let mut progress = PullProgress::default();
        progress.ack(3, 10).unwrap();
        // Retention removes positions 1..=6; 1..=3 were read already.
        for position in 1..=6 {
            progress.retention_removed(position);
        }
        assert_eq!(progress.missed, 3);
        let page = progress.page(3, [(7, "g")], 10);
        assert_eq!(page.entries[0], InboxEntry::Gap { missed: 3 });
        assert_eq!(page.next_cursor, 7);
        assert!(
            !progress
                .page(7, [(8, "h")], 10)
                .entries
                .iter()
                .any(|e| matches!(e, InboxEntry::Gap { .. })),
            "reading ahead of the cursor has seen the gap"
        );
        progress.ack(7, 10).unwrap();
        assert_eq!(progress.missed, 0);
        assert_eq!(progress.page(7, [(8, "h")], 10).entries.len(), 1);
        assert_eq!(
            serde_json::to_value(InboxEntry::<()>::Gap { missed: 3 }).unwrap(),
            serde_json::json!({"type": "gap", "missed": 3})
        );
    }

    #[test]
    fn issue_10_pull_ack_moves_forward_only_and_names_what_it_releases() {
        let mut progress = PullProgress::default();
        assert_eq!(progress.lag(10), 10);
        assert_eq!(progress.ack(4, 10).unwrap(), Some((0, 4)));
        assert_eq!(progress.lag(10), 6);
        let err = progress.ack(11, 10).unwrap_err();
        assert_eq!((err.status, err.field.as_deref()), (400, Some("cursor")));
        assert_eq!(progress.cursor, 4, "a refused ack moves nothing");
        assert_eq!(progress.ack(2, 10).unwrap(), None);
        assert_eq!(progress.cursor, 4, "going back changes nothing");
        assert_eq!(progress.ack(4, 10).unwrap(), None, "the same ack again");
        assert_eq!(progress.ack(9, 10).unwrap(), Some((4, 9)), "releases 5..=9");
    }

    #[test]
    fn issue_10_pull_waits_are_bounded_with_429_beyond() {
        let mut slots = WaitSlots::new(2);
        slots.hold().unwrap();
        slots.hold().unwrap();
        let err = slots.hold().unwrap_err();
        assert_eq!(err.status, 429);
        assert_eq!(slots.held(), 2);
        slots.release();
        slots.hold().unwrap();
        slots.release();
        slots.release();
        slots.release();
        assert_eq!(slots.held(), 0);
    }
}
