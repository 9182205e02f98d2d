//! `Outbox`: the one owner of the outbox's bookkeeping (issue 10, "one outbox owner").
//!
//! It holds what the object keeps in memory about waiting events (each push subscription's
//! per-channel lanes in one [`Fanout`], the copies of stored events, the batch of delivered
//! rows still to delete, the delivery counters per subscription)
//! and changes it only together with the stored rows, through a small API: enqueue, take the
//! next due events, mark one delivered, failed (retry later) or dead, replay or drop dead
//! letters, status. The runtime owns the object and calls it; the webhook side (`webhook.rs`)
//! only sends a request and reports its outcome. Storage (`Store`) is passed in: it also holds
//! the settings, the snapshot and the channels, which are not the outbox's.
//!
//! Events leaving the outbox (delivered rows deleted, dead letters) must first be covered by the
//! session snapshot; that is the runtime's, so those calls take `before_leaving(sequence)`.
//!
//! An event is stored once whatever number of subscriptions hold it. Each push subscription
//! delivers it on its own lane and releases it when done (`Store::release_one`); the last
//! holder's release joins the delete batch. The copy in memory serves the `default`
//! subscription (which holds every event); the other push subscriptions read the event back
//! from storage (a read, not a write).

use std::cell::{Cell, RefCell};

use worker::console_error;

use std::collections::BTreeMap;

use super::store::{NewEvent, OutboxRow, Store};
use super::subscriptions::DEFAULT_ID;
use crate::api::{DeadLetter, DeliveryStatus, SubscriptionCounts, MAX_DEAD_LETTERS};
use crate::delivery::deletes::{DeleteBatch, Fired, Next};
use crate::delivery::inserts::{InsertBatch, ROWS_PER_STATEMENT};
use crate::delivery::lanes::Finished;
use crate::delivery::warm::Warm;
use crate::subscriptions::{Fanout, SubscriptionId};

/// An event received and not stored yet: the row it becomes (its id allocated on arrival).
pub struct Received {
    /// The row.
    pub row: OutboxRow,
    /// Its dispatch type.
    pub event_type: String,
    /// The push subscriptions that hold it (each gets it on its own lane).
    pub push_holders: Vec<SubscriptionId>,
}

/// One push subscription's delivery counters (since the object started).
#[derive(Clone, Default)]
struct Delivered {
    /// Events its webhook accepted.
    delivered: u64,
    /// Its attempts that will be retried.
    failed_attempts: u64,
    /// Its last failure.
    last_error: Option<String>,
}

/// Counters of the delivery side.
#[derive(Default)]
struct Counters {
    /// Events the webhook accepted.
    delivered: u64,
    /// Attempts that will be retried.
    failed_attempts: u64,
    /// Events refused because the outbox was full.
    overflowed: u64,
    /// Oldest dead letters removed beyond the bound.
    dead_letters_discarded: u64,
    /// Events read back from storage to deliver them (not kept in memory).
    events_read_back: u64,
    /// The last failure.
    last_error: Option<String>,
}

/// An event the outbox would not take.
#[derive(Debug)]
pub enum Refused {
    /// `maxPending` events wait already (counted in `/status`).
    Full,
    /// Storing it failed.
    Storage(worker::Error),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full => f.write_str("outbox full"),
            Self::Storage(e) => write!(f, "storage failed ({e})"),
        }
    }
}

/// The outbox's state in memory, kept in step with its stored rows.
pub struct Outbox {
    /// Events received and not stored yet (stored together when the turn ends).
    inserts: RefCell<InsertBatch<Received>>,
    /// Each push subscription's pending events per channel, and which channels have a request
    /// under way.
    lanes: RefCell<Fanout>,
    /// Copies of waiting events, so delivery need not read them back from storage.
    warm: RefCell<Warm<OutboxRow>>,
    /// Delivered events whose rows are still to be deleted.
    deletes: RefCell<DeleteBatch>,
    /// The `default` subscription's and the object's counters (`/status` `delivery`).
    counters: RefCell<Counters>,
    /// Every push subscription's counters (`/status` `subscriptions`).
    per_subscription: RefCell<BTreeMap<SubscriptionId, Delivered>>,
    /// Rows were put back in line while requests were under way: reload the lanes once idle.
    lanes_stale: Cell<bool>,
}

impl Outbox {
    /// The outbox of the stored rows for the push subscriptions `push` (after a restart, none
    /// has a copy in memory).
    pub fn load(store: &Store, push: &[SubscriptionId]) -> worker::Result<Self> {
        Ok(Self {
            inserts: RefCell::new(InsertBatch::default()),
            lanes: RefCell::new(store.lanes(push)?),
            warm: RefCell::new(Warm::default()),
            deletes: RefCell::new(DeleteBatch::default()),
            counters: RefCell::default(),
            per_subscription: RefCell::default(),
            lanes_stale: Cell::new(false),
        })
    }

    /// Events waiting for the `default` subscription (in flight and not yet stored included):
    /// what `maxPending` bounds. A tenant that is down does not make the object refuse events.
    pub fn pending(&self) -> usize {
        self.lanes.borrow().pending(DEFAULT_ID) + self.inserts.borrow().len()
    }

    /// Whether any push subscription has an event waiting (or one is not stored yet).
    pub fn has_work(&self) -> bool {
        self.lanes.borrow().total_pending() + self.inserts.borrow().len() > 0
    }

    /// When the next waiting event is due, if any waits.
    pub fn next_due(&self) -> Option<u64> {
        self.lanes.borrow().next_due()
    }

    /// Whether one more event may come in: not when `max_pending` wait already (then it is
    /// counted in `/status`, never silent). Asked before the event is prepared.
    pub fn admit(&self, max_pending: u64) -> Result<(), Refused> {
        if self.pending() as u64 >= max_pending {
            // Older events keep their order; this one is refused.
            let mut counters = self.counters.borrow_mut();
            counters.overflowed += 1;
            counters.last_error = Some(format!(
                "outbox full ({max_pending} pending): events are being refused"
            ));
            return Err(Refused::Full);
        }
        Ok(())
    }

    /// Takes an admitted event, arrived at `now`, to be stored with the others of its turn (or
    /// at once when it came alone); says when to store them ([`Outbox::flush_inserts`]). It is
    /// not delivered before its row is stored.
    pub fn receive(&self, event: Received, now: u64) -> Next {
        self.inserts.borrow_mut().push(event, now)
    }

    /// Whether the delivered events waiting for removal are old enough to be removed with the
    /// events stored at `now` ([`DeleteBatch::due`]).
    pub fn deletes_due(&self, now: u64) -> bool {
        self.deletes.borrow().due(now)
    }

    /// The delete batch's flush timer fired at `now` ([`DeleteBatch::timer_fired`]).
    pub fn delete_timer_fired(&self, now: u64) -> Fired {
        self.deletes.borrow_mut().timer_fired(now)
    }

    /// Stores the events received and not stored yet, in order (one multi-row `INSERT` per
    /// [`ROWS_PER_STATEMENT`]), then puts them in line. Called when the turn that received them
    /// ends, when the batch is full, and before anything writes the snapshot or reads the outbox.
    pub fn flush_inserts(&self, store: &Store) {
        let mut received = self.inserts.borrow_mut().take();
        while !received.is_empty() {
            let rest = received.split_off(received.len().min(ROWS_PER_STATEMENT));
            let chunk = std::mem::replace(&mut received, rest);
            let events: Vec<NewEvent<'_>> = chunk
                .iter()
                .map(|r| NewEvent {
                    id: r.row.id,
                    session_id: &r.row.session_id,
                    sequence: u64::try_from(r.row.sequence).unwrap_or(0),
                    channel: &r.row.channel,
                    event_type: &r.event_type,
                    body: &r.row.body,
                    now: u64::try_from(r.row.created_at).unwrap_or(0),
                    holders: &r.row.holders,
                })
                .collect();
            if let Err(e) = store.insert_events(&events) {
                // Not stored, so not acknowledged: the snapshot never passes them, and a
                // resume gets them from Discord again.
                for r in &chunk {
                    console_error!(
                        "could not store event {} {}: {e}",
                        r.event_type,
                        r.row.sequence
                    );
                }
                continue;
            }
            for r in chunk {
                let at = u64::try_from(r.row.created_at).unwrap_or(0);
                let mut lanes = self.lanes.borrow_mut();
                for subscription in &r.push_holders {
                    lanes.push(*subscription, &r.row.channel, r.row.id, at);
                }
                drop(lanes);
                // Stored first; the copy only saves reading it back.
                if r.push_holders.contains(&DEFAULT_ID) {
                    self.keep_copy(r.row);
                }
            }
        }
    }

    /// The subscriptions holding the events received and not stored yet (each id once), so
    /// that the long polls of those subscriptions are woken once they are stored.
    pub fn unstored_holders(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = Vec::new();
        for received in self.inserts.borrow().iter() {
            for id in crate::subscriptions::log::holder_ids(&received.row.holders) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    }

    /// Takes the events due at `now` of idle lanes, so that at most `concurrency` requests
    /// are under way in all and each push subscription holds at most its share
    /// ([`Fanout::take_due`]); each is now in flight until it is marked. Cheap when nothing is
    /// due.
    pub fn take_due(
        &self,
        store: &Store,
        now: u64,
        concurrency: usize,
    ) -> Vec<(SubscriptionId, OutboxRow)> {
        if self.lanes.borrow().total_in_flight() >= concurrency {
            return Vec::new();
        }
        let due = self.lanes.borrow_mut().take_due(now, concurrency);
        let mut rows = Vec::with_capacity(due.len());
        for due in due {
            let (subscription, id) = (due.subscription, due.position);
            let row = if subscription == DEFAULT_ID {
                self.take_row(store, id)
            } else {
                store.row(subscription, id)
            };
            match row {
                Ok(Some(row)) => rows.push((subscription, row)),
                Ok(None) => {
                    self.lanes.borrow_mut().finish(
                        subscription,
                        &due.channel,
                        Finished::Removed,
                        now,
                    );
                }
                Err(e) => {
                    console_error!("could not read event {id}: {e}");
                    self.lanes.borrow_mut().finish(
                        subscription,
                        &due.channel,
                        Finished::RetryAt(now + 1_000),
                        now,
                    );
                }
            }
        }
        rows
    }

    /// Keeps a copy of a stored, waiting event in memory (if it fits the budget).
    fn keep_copy(&self, row: OutboxRow) {
        let bytes = row.body.len() + row.channel.len() + row.session_id.len();
        self.warm.borrow_mut().keep(row.id, row, bytes);
    }

    /// Event `id`: its copy in memory, else read back from storage (and counted).
    fn take_row(&self, store: &Store, id: i64) -> worker::Result<Option<OutboxRow>> {
        if let Some(row) = self.warm.borrow_mut().take(id) {
            return Ok(Some(row));
        }
        let row = store.row(DEFAULT_ID, id)?;
        if row.is_some() {
            self.counters.borrow_mut().events_read_back += 1;
        }
        Ok(row)
    }

    /// Counts for `subscription` (and for `/status` `delivery` when it is `default`).
    fn count(&self, subscription: SubscriptionId, change: impl Fn(&mut Delivered)) {
        change(
            self.per_subscription
                .borrow_mut()
                .entry(subscription)
                .or_default(),
        );
        if subscription == DEFAULT_ID {
            let mut counters = self.counters.borrow_mut();
            let mut default = Delivered {
                delivered: counters.delivered,
                failed_attempts: counters.failed_attempts,
                last_error: counters.last_error.take(),
            };
            change(&mut default);
            counters.delivered = default.delivered;
            counters.failed_attempts = default.failed_attempts;
            counters.last_error = default.last_error;
        }
    }

    /// `subscription`'s webhook accepted `row`: its lane moves on, its delivery state (if it
    /// had one) is removed, and it releases the event: the row joins the batch to delete when
    /// no other subscription holds it (else only its `holders` change). Says when to flush the
    /// batch ([`Outbox::flush_deletes`]).
    pub fn mark_delivered(
        &self,
        store: &Store,
        subscription: SubscriptionId,
        row: &OutboxRow,
        now: u64,
    ) -> Next {
        self.count(subscription, |c| c.delivered += 1);
        self.lanes
            .borrow_mut()
            .finish(subscription, &row.channel, Finished::Removed, now);
        let last = store
            .release_one(
                i64::try_from(subscription).unwrap_or(i64::MAX),
                row.id,
                &row.holders,
            )
            .unwrap_or_else(|e| {
                console_error!("could not release {}: {e}", row.event_id());
                false
            });
        if row.tracked {
            // Without it the row is a plain pending event: a restart before the batch's delete
            // sends it again (at least once), never loses it.
            if let Err(e) = store.forget_delivery(subscription, row.id) {
                console_error!("could not record the delivery of {}: {e}", row.event_id());
            }
        }
        if !last {
            return Next::Wait;
        }
        self.deletes
            .borrow_mut()
            .push(row.id, u64::try_from(row.sequence).unwrap_or(0), now)
    }

    /// An attempt of `subscription` at `row` failed: try again at `at` (the `default`
    /// subscription's copy waits in memory meanwhile).
    #[allow(clippy::too_many_arguments)]
    pub fn mark_failed(
        &self,
        store: &Store,
        subscription: SubscriptionId,
        row: OutboxRow,
        attempts: i64,
        at: u64,
        reason: &str,
        now: u64,
    ) {
        self.count(subscription, |c| {
            c.failed_attempts += 1;
            c.last_error = Some(reason.to_owned());
        });
        let stored = store.retry_at(subscription, row.id, row.created_at, attempts, at, reason);
        self.lanes
            .borrow_mut()
            .finish(subscription, &row.channel, Finished::RetryAt(at), now);
        match stored {
            // The stored row now says `attempts`; its copy waits for the next attempt.
            Ok(()) if subscription == DEFAULT_ID => self.keep_copy(OutboxRow {
                attempts,
                tracked: true,
                ..row
            }),
            Ok(()) => {}
            Err(e) => console_error!("could not record the delivery of {}: {e}", row.event_id()),
        }
    }

    /// `subscription` gives up on `row`: it stays as its dead letter (at most
    /// [`MAX_DEAD_LETTERS`] are kept per subscription).
    #[allow(clippy::too_many_arguments)]
    pub fn mark_dead(
        &self,
        store: &Store,
        subscription: SubscriptionId,
        row: &OutboxRow,
        attempts: i64,
        reason: &str,
        now: u64,
        before_leaving: impl FnOnce(u64),
    ) {
        console_error!("event {} dead-lettered: {reason}", row.event_id());
        self.count(subscription, |c| c.last_error = Some(reason.to_owned()));
        before_leaving(u64::try_from(row.sequence).unwrap_or(0));
        match store.dead_letter(
            subscription,
            row.id,
            row.created_at,
            attempts,
            reason,
            MAX_DEAD_LETTERS,
        ) {
            Ok(discarded) => {
                self.counters.borrow_mut().dead_letters_discarded += discarded as u64;
            }
            Err(e) => console_error!("could not record the delivery of {}: {e}", row.event_id()),
        }
        self.lanes
            .borrow_mut()
            .finish(subscription, &row.channel, Finished::Removed, now);
    }

    /// A request of `subscription`, deleted while it was under way, ended: nothing to record.
    pub fn forget_attempt(&self, subscription: SubscriptionId, row: &OutboxRow, now: u64) {
        self.lanes
            .borrow_mut()
            .finish(subscription, &row.channel, Finished::Removed, now);
    }

    /// Forgets a deleted subscription's lanes and counters.
    pub fn remove_subscription(&self, subscription: SubscriptionId) {
        self.lanes.borrow_mut().remove(subscription);
        self.per_subscription.borrow_mut().remove(&subscription);
    }

    /// Deletes the rows of delivered events now, after `before_leaving` with the newest
    /// sequence among them. Called before anything reads the outbox, so reads never see them.
    pub fn flush_deletes(&self, store: &Store, before_leaving: impl FnOnce(u64)) {
        let Some(batch) = self.deletes.borrow_mut().take() else {
            return;
        };
        before_leaving(batch.max_sequence);
        if let Err(e) = store.delete_delivered(&batch.ids) {
            // The rows stay: after a restart they are sent again (at least once), never lost.
            console_error!("could not delete {} delivered events: {e}", batch.ids.len());
        }
    }

    /// `subscription`'s dead letters, oldest first.
    pub fn dead_letters(
        &self,
        store: &Store,
        subscription: SubscriptionId,
    ) -> worker::Result<Vec<DeadLetter>> {
        store.dead_letters(subscription, MAX_DEAD_LETTERS)
    }

    /// Puts `subscription`'s dead letters (all, or those with the given row ids) back in line,
    /// as new; returns how many. `push` are the push subscriptions, whose lanes are reloaded.
    pub fn replay(
        &self,
        store: &Store,
        subscription: SubscriptionId,
        ids: Option<&[i64]>,
        now: u64,
        push: &[SubscriptionId],
        before_reading: impl FnOnce(u64),
    ) -> worker::Result<usize> {
        let replayed = store.replay_dead_letters(subscription, ids, now)?;
        self.reload_lanes(store, push, before_reading)?;
        Ok(replayed)
    }

    /// Deletes `subscription`'s dead letters (all, or those with the given row ids); returns
    /// how many.
    pub fn drop_dead(
        &self,
        store: &Store,
        subscription: SubscriptionId,
        ids: Option<&[i64]>,
    ) -> worker::Result<usize> {
        store.drop_dead_letters(subscription, ids)
    }

    /// Rebuilds the lanes from storage now, or once no request is under way.
    fn reload_lanes(
        &self,
        store: &Store,
        push: &[SubscriptionId],
        before_reading: impl FnOnce(u64),
    ) -> worker::Result<()> {
        if self.lanes.borrow().total_in_flight() == 0 {
            self.flush_inserts(store);
            self.flush_deletes(store, before_reading);
            *self.lanes.borrow_mut() = store.lanes(push)?;
        } else {
            // Requests under way keep their lanes busy; merge the replayed rows in once they end.
            self.lanes_stale.set(true);
        }
        Ok(())
    }

    /// Reloads the lanes if rows were put back in line while requests were under way and none
    /// is any more. `push` lists the push subscriptions (asked only then: this runs after
    /// every input).
    pub fn reload_if_stale(
        &self,
        store: &Store,
        push: impl FnOnce() -> Vec<SubscriptionId>,
        before_reading: impl FnOnce(u64),
    ) {
        if self.lanes_stale.get() && self.lanes.borrow().total_in_flight() == 0 {
            self.lanes_stale.set(false);
            if let Err(e) = self.reload_lanes(store, &push(), before_reading) {
                console_error!("could not reload the outbox: {e}");
            }
        }
    }

    /// Delivery health for `/status` (flush the deletes first, so counts are right).
    pub fn status(&self, store: &Store, now: u64) -> DeliveryStatus {
        let counts = store.counts().unwrap_or_default();
        let counters = self.counters.borrow();
        let lanes = self.lanes.borrow();
        DeliveryStatus {
            pending: lanes.pending(DEFAULT_ID) as u64,
            in_flight: lanes.in_flight(DEFAULT_ID) as u64,
            oldest_pending_age_ms: counts
                .oldest
                .map(|at| now.saturating_sub(u64::try_from(at).unwrap_or(0))),
            delivered: counters.delivered,
            failed_attempts: counters.failed_attempts,
            dead_letters: u64::try_from(counts.dead).unwrap_or(0),
            dead_letters_discarded: counters.dead_letters_discarded,
            overflowed: counters.overflowed,
            storage_rows_written: store.rows_written(),
            storage_write_statements: store.write_statements(),
            events_read_back: counters.events_read_back,
            last_error: counters.last_error.clone(),
        }
    }

    /// The delivery side of `subscription`'s counts (requests under way, delivered, failed
    /// attempts, last error) into `counts`.
    pub fn delivery_counts(&self, subscription: SubscriptionId, counts: &mut SubscriptionCounts) {
        counts.in_flight = self.lanes.borrow().in_flight(subscription) as u64;
        if let Some(c) = self.per_subscription.borrow().get(&subscription) {
            counts.delivered = c.delivered;
            counts.failed_attempts = c.failed_attempts;
            counts.last_error.clone_from(&c.last_error);
        }
    }
}
