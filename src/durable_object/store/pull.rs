//! The pull side of the log in SQLite (issues 10 and 11): a pull subscription's token hash,
//! cursor and missed count (its `subscriptions` row), and the events it still holds (the log
//! rows whose `holders` name it).

use serde::Deserialize;
use serde_json::value::RawValue;
use worker::SqlStorageValue;

use super::{int, Store};
use crate::subscriptions::log::HOLDS_SQL;
use crate::subscriptions::{PullProgress, Retention};

/// A pull subscription as stored.
#[derive(Clone, Debug, Deserialize)]
pub struct PullRow {
    /// Its id (what `holders` lists).
    pub id: i64,
    /// Its name.
    pub name: String,
    /// The SHA-256 of its token; `None` once revoked.
    pub token_hash: Option<String>,
    /// The acknowledged position.
    pub cursor: i64,
    /// Events retention removed before it read them.
    pub missed: i64,
}

impl PullRow {
    /// Its cursor and missed count.
    pub fn progress(&self) -> PullProgress {
        PullProgress {
            cursor: u64::try_from(self.cursor).unwrap_or(0),
            missed: u64::try_from(self.missed).unwrap_or(0),
        }
    }
}

/// `holders` names the subscription bound as the statement's parameter ([`holder`]).
const HELD_BY: &str = HOLDS_SQL;

/// A subscription id bound for [`HOLDS_SQL`].
fn holder(subscription: i64) -> SqlStorageValue {
    subscription.to_string().into()
}

impl Store {
    /// Every pull subscription (few: they are read whole to check a token in constant time
    /// against each hash).
    pub fn pull_subscriptions(&self) -> worker::Result<Vec<PullRow>> {
        self.sql
            .exec(
                "SELECT id, name, token_hash, cursor, missed FROM subscriptions
                 WHERE kind = 'pull' ORDER BY id",
                None,
            )?
            .to_array()
    }

    /// The events `subscription` holds after `after`, in log order, at most `limit`: each
    /// position with its body (the webhook's JSON, Chat SDK enrichment included).
    pub fn held_events(
        &self,
        subscription: i64,
        after: u64,
        limit: usize,
    ) -> worker::Result<Vec<(u64, Box<RawValue>)>> {
        #[derive(Deserialize)]
        struct Held {
            id: i64,
            body: String,
        }
        let rows: Vec<Held> = self
            .sql
            .exec(
                &format!(
                    "SELECT id, body FROM outbox WHERE id > ? AND {HELD_BY} ORDER BY id LIMIT ?"
                ),
                vec![int(after), holder(subscription), int(limit as u64)],
            )?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let body = RawValue::from_string(row.body).unwrap_or_else(|e| {
                    // Bodies are built as JSON; were one not, it is shown as an error string.
                    serde_json::value::to_raw_value(&format!("unreadable event body: {e}"))
                        .unwrap_or_default()
                });
                (u64::try_from(row.id).unwrap_or(0), body)
            })
            .collect())
    }

    /// The positions `subscription` holds in `(after, up_to]`, in log order.
    pub fn held_positions(
        &self,
        subscription: i64,
        after: u64,
        up_to: u64,
    ) -> worker::Result<Vec<i64>> {
        #[derive(Deserialize)]
        struct Held {
            id: i64,
        }
        let rows: Vec<Held> = self
            .sql
            .exec(
                &format!(
                    "SELECT id FROM outbox WHERE id > ? AND id <= ? AND {HELD_BY} ORDER BY id"
                ),
                vec![int(after), int(up_to), holder(subscription)],
            )?
            .to_array()?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    /// The positions of the events `subscription` holds that `retention` removes at `now`:
    /// read oldest first, only as far as the first one that stays.
    pub fn retention_leaving(
        &self,
        subscription: i64,
        retention: &Retention,
        now: u64,
    ) -> worker::Result<Vec<i64>> {
        #[derive(Deserialize)]
        struct Held {
            id: i64,
            created_at: i64,
        }
        let total = self.held_count(subscription, 0)?;
        let cursor = self.sql.exec(
            &format!("SELECT id, created_at FROM outbox WHERE {HELD_BY} ORDER BY id"),
            vec![holder(subscription)],
        )?;
        let mut failure = None;
        let leaving = retention.expired(
            cursor.next::<Held>().map_while(|row| match row {
                Ok(row) => Some((
                    u64::try_from(row.id).unwrap_or(0),
                    u64::try_from(row.created_at).unwrap_or(0),
                )),
                Err(e) => {
                    failure = Some(e);
                    None
                }
            }),
            total,
            now,
        );
        match failure {
            Some(e) => Err(e),
            None => Ok(leaving
                .into_iter()
                .map(|p| i64::try_from(p).unwrap_or(i64::MAX))
                .collect()),
        }
    }

    /// How many events `subscription` holds after `after`.
    pub fn held_count(&self, subscription: i64, after: u64) -> worker::Result<u64> {
        #[derive(Deserialize)]
        struct Count {
            n: i64,
        }
        let rows: Vec<Count> = self
            .sql
            .exec(
                &format!("SELECT COUNT(*) AS n FROM outbox WHERE id > ? AND {HELD_BY}"),
                vec![int(after), holder(subscription)],
            )?
            .to_array()?;
        Ok(rows.first().map_or(0, |c| u64::try_from(c.n).unwrap_or(0)))
    }

    /// Stores a pull subscription's cursor and missed count.
    pub fn save_pull_progress(
        &self,
        subscription: i64,
        progress: &PullProgress,
    ) -> worker::Result<()> {
        self.write(
            "UPDATE subscriptions SET cursor = ?, missed = ? WHERE id = ?",
            vec![
                int(progress.cursor),
                int(progress.missed),
                subscription.into(),
            ],
        )?;
        Ok(())
    }

    /// Sets (or, with `None`, clears: revoked) the token hash of the pull subscription `name`;
    /// whether it exists.
    pub fn set_token_hash(&self, name: &str, hash: Option<&str>) -> worker::Result<bool> {
        let hash = hash.map_or(SqlStorageValue::Null, Into::into);
        Ok(self.write(
            "UPDATE subscriptions SET token_hash = ? WHERE name = ? AND kind = 'pull'",
            vec![hash, name.into()],
        )? > 0)
    }

    /// The newest position the log has handed out (an ack may not go past it).
    pub fn log_head(&self) -> u64 {
        u64::try_from(self.allocated_position()).unwrap_or(0)
    }
}
