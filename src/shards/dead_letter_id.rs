//! Dead letters of a sharded bot (issue 12): each shard object keeps its own, and the
//! coordinator lists them together. A dead letter's id there is `"<generation>.<shard>.<id>"`
//! (a string): the set's generation and the shard name the object that holds it, `<id>` is
//! its id in that object's outbox. Replaying or dropping by id goes to that object alone.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::api::{parse_selection, ApiError, DeadLetter, MAX_DEAD_LETTERS};

/// The id of a dead letter of a sharded bot: `"<generation>.<shard>.<id>"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ShardDeadLetterId {
    /// The generation of the set the shard belongs to.
    pub generation: u32,
    /// The shard.
    pub shard: u32,
    /// Its id in that shard object's outbox.
    pub id: i64,
}

impl fmt::Display for ShardDeadLetterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.generation, self.shard, self.id)
    }
}

impl FromStr for ShardDeadLetterId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!("{s:?} is not a dead-letter id of a sharded bot (\"<generation>.<shard>.<id>\" from GET /dead-letters)")
        };
        let mut parts = s.split('.');
        let (Some(generation), Some(shard), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !(digits(generation) && digits(shard) && digits(id)) {
            return Err(bad());
        }
        Ok(Self {
            generation: generation.parse().map_err(|_| bad())?,
            shard: shard.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

impl ShardDeadLetterId {
    /// A shard object's dead letter as the coordinator lists it: its `id` replaced by this
    /// id, with `generation` and `shard` added.
    pub fn tag(self, letter: &DeadLetter) -> Value {
        let mut value = serde_json::to_value(letter).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.insert("id".into(), Value::String(self.to_string()));
            map.insert("generation".into(), self.generation.into());
            map.insert("shard".into(), self.shard.into());
        }
        value
    }
}

/// What `POST /dead-letters/replay` and `/drop` select on a sharded bot: ids grouped by the
/// shard object that holds them (`(generation, shard)`), or every dead letter of every shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShardSelection {
    /// Outbox ids per `(generation, shard)`.
    Ids(BTreeMap<(u32, u32), Vec<i64>>),
    /// Every dead letter of every shard.
    All,
}

impl ShardSelection {
    /// Parses `{"ids":["<generation>.<shard>.<id>", ...]}` or `{"all":true}`; anything else is
    /// a `400` naming the field at fault.
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let Some(ids) = parse_selection::<String>(body, "strings from GET /dead-letters")? else {
            return Ok(Self::All);
        };
        let mut grouped: BTreeMap<(u32, u32), Vec<i64>> = BTreeMap::new();
        for id in &ids {
            let id: ShardDeadLetterId = id
                .parse()
                .map_err(|e: String| ApiError::bad_request(Some("ids"), e))?;
            grouped
                .entry((id.generation, id.shard))
                .or_default()
                .push(id.id);
        }
        Ok(Self::Ids(grouped))
    }
}

/// The coordinator's list: every shard's dead letters (each tagged with
/// [`ShardDeadLetterId::tag`]), oldest first, at most [`MAX_DEAD_LETTERS`].
pub fn merge(mut tagged: Vec<(u64, Value)>) -> Vec<Value> {
    tagged.sort_by_key(|(created_at, _)| *created_at);
    tagged
        .into_iter()
        .take(MAX_DEAD_LETTERS as usize)
        .map(|(_, v)| v)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DeadLetterId, DeadLetterList, DeadLetterSelection};

    fn letter(id: i64, created_at: u64) -> DeadLetter {
        DeadLetter {
            id: id.into(),
            event_id: format!("s:{id}"),
            event_type: "MESSAGE_CREATE".into(),
            channel_id: "1".into(),
            created_at,
            attempts: 3,
            last_error: "503".into(),
        }
    }

    #[test]
    fn issue12_dead_letters_sharded_id_names_its_shard_and_round_trips() {
        let id = ShardDeadLetterId {
            generation: 3,
            shard: 1,
            id: 42,
        };
        assert_eq!(id.to_string(), "3.1.42");
        assert_eq!("3.1.42".parse::<ShardDeadLetterId>(), Ok(id));
        for bad in [
            "", "42", "3.1", "3.1.42.7", "3..42", "a.1.42", "3.1.-4", "3.1.4 ", "+3.1.4",
        ] {
            assert!(bad.parse::<ShardDeadLetterId>().is_err(), "{bad:?}");
        }
        let tagged = id.tag(&letter(42, 7));
        assert_eq!(tagged["id"], "3.1.42");
        assert_eq!(tagged["shard"], 1);
        assert_eq!(tagged["generation"], 3);
        assert_eq!(tagged["eventId"], "s:42");
    }

    #[test]
    fn issue12_dead_letters_sharded_selection_groups_ids_by_shard_and_names_the_field() {
        let selection = ShardSelection::from_json(br#"{"ids":["1.0.5","1.1.5","1.0.6"]}"#).unwrap();
        let mut expected = BTreeMap::new();
        expected.insert((1, 0), vec![5, 6]);
        expected.insert((1, 1), vec![5]);
        assert_eq!(selection, ShardSelection::Ids(expected));
        assert_eq!(
            ShardSelection::from_json(br#"{"all":true}"#).unwrap(),
            ShardSelection::All
        );
        for (body, field) in [
            (&br#"{"ids":[5]}"#[..], Some("ids")),
            (br#"{"ids":["5"]}"#, Some("ids")),
            (br#"{"ids":[]}"#, Some("ids")),
            (br#"{"all":false}"#, Some("all")),
            (br#"{"id":["1.0.5"]}"#, Some("id")),
            (b"{}", None),
        ] {
            let err = ShardSelection::from_json(body).unwrap_err();
            assert_eq!(err.status, 400);
            assert_eq!(
                err.field.as_deref(),
                field,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    /// Issue 12 follow-up (the Rust `GatewayStub` on a sharded bot): the coordinator's list
    /// reads as a [`DeadLetterList`] with string ids, and a selection of them is what the
    /// coordinator reads back.
    #[test]
    fn issue12_stub_dead_letters_sharded_list_and_selection_round_trip() {
        let tagged = ShardDeadLetterId {
            generation: 2,
            shard: 1,
            id: 42,
        }
        .tag(&letter(42, 7));
        let body = serde_json::json!({ "deadLetters": merge(vec![(7, tagged)]) });
        let list: DeadLetterList = serde_json::from_value(body).unwrap();
        let id = list.dead_letters[0].id.clone();
        assert_eq!(id, DeadLetterId::Sharded("2.1.42".into()));
        assert_eq!(list.dead_letters[0].event_id, "s:42");
        let selection = DeadLetterSelection::Ids(vec![id]);
        let json = serde_json::to_vec(&selection).unwrap();
        assert_eq!(json, br#"{"ids":["2.1.42"]}"#);
        let mut expected = BTreeMap::new();
        expected.insert((2, 1), vec![42]);
        assert_eq!(
            ShardSelection::from_json(&json).unwrap(),
            ShardSelection::Ids(expected)
        );
        // A single object refuses a sharded id, naming the field.
        let error = DeadLetterSelection::from_json(&json).unwrap_err();
        assert_eq!((error.status, error.field.as_deref()), (400, Some("ids")));
        let error = selection.outbox_ids().unwrap_err();
        assert_eq!((error.status, error.field.as_deref()), (400, Some("ids")));
    }

    #[test]
    fn issue12_dead_letters_sharded_merge_is_oldest_first_and_bounded() {
        let at = |g, s, id, t| {
            let id = ShardDeadLetterId {
                generation: g,
                shard: s,
                id,
            };
            (t, id.tag(&letter(id.id, t)))
        };
        let merged = merge(vec![at(1, 1, 1, 30), at(1, 0, 1, 10), at(1, 0, 2, 20)]);
        let ids: Vec<_> = merged.iter().map(|v| v["id"].clone()).collect();
        assert_eq!(ids, ["1.0.1", "1.0.2", "1.1.1"]);
        let many = (0..1_500).map(|i| at(1, 0, i, i as u64)).collect();
        assert_eq!(merge(many).len(), MAX_DEAD_LETTERS as usize);
    }
}
