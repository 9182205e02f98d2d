//! `Subscriptions`: the one owner of the object's subscriptions (issue 10). It loads the stored
//! ones when the object starts, keeps them in memory (few), and changes a row and its copy
//! together: create, replace, delete. It says which subscriptions hold a new event (their
//! filters, `subscriptions::filter`), and counts per subscription for `/status` and the admin
//! API.
//!
//! The `default` subscription (id 1, made by the schema migration) is `POST /connect`'s
//! webhook: its target is the connect settings, its filter is empty (every event), and the
//! admin API can neither replace nor delete it (`POST /disconnect` stops it).

use std::cell::RefCell;

use worker::console_error;

use super::store::Store;
use crate::api::{ApiError, SubscriptionCounts, WebhookTarget};
use crate::schema::DEFAULT_SUBSCRIPTION_ID;
use crate::subscriptions::definition::DEFAULT_SUBSCRIPTION;
use crate::subscriptions::log::{holders_text, holds, DEFAULT_ONLY};
use crate::subscriptions::{
    EventFacts, FilterJson, Kind, SubscriptionId, SubscriptionSpec, SubscriptionView,
};

/// The `default` subscription's id, as the fan-out and `holders` name it.
pub const DEFAULT_ID: SubscriptionId = DEFAULT_SUBSCRIPTION_ID as SubscriptionId;

/// Who holds a new event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewHolders {
    /// As stored in `outbox.holders` (`"1,4"`).
    pub text: String,
    /// The push subscriptions among them, each delivering it on its own lane.
    pub push: Vec<SubscriptionId>,
}

/// One stored subscription besides `default`.
#[derive(Clone, Debug)]
pub struct Subscription {
    /// Its id.
    pub id: SubscriptionId,
    /// Its definition.
    pub spec: SubscriptionSpec,
}

/// A storage failure as the admin API answers it.
fn storage(e: &worker::Error) -> ApiError {
    ApiError::new(503, None, format!("storage failed: {e}"))
}

fn sql_id(id: SubscriptionId) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

/// The subscriptions, in memory beside their rows.
#[derive(Default)]
pub struct Subscriptions {
    list: RefCell<Vec<Subscription>>,
}

impl Subscriptions {
    /// The stored subscriptions. One that cannot be read is left out (and logged): its holds
    /// stay until it is deleted.
    pub fn load(store: &Store) -> worker::Result<Self> {
        let mut list = Vec::new();
        for row in store.subscription_rows()? {
            match SubscriptionSpec::from_stored(&row.name, &row.kind, &row.definition) {
                Ok(spec) => list.push(Subscription {
                    id: u64::try_from(row.id).unwrap_or(0),
                    spec,
                }),
                Err(why) => console_error!("{why}: left out until it is replaced or deleted"),
            }
        }
        Ok(Self {
            list: RefCell::new(list),
        })
    }

    /// The holders of a new event: `default` and every subscription whose filter matches.
    /// Without other subscriptions the event is not even read (the hot path of one webhook
    /// stays as it was). `None`: no subscription holds it, it is not stored.
    pub fn holders(
        &self,
        event_type: &str,
        raw_data: &str,
        thread_parent: impl Fn(u64) -> Option<u64>,
    ) -> Option<NewHolders> {
        let list = self.list.borrow();
        let mut push = vec![DEFAULT_ID];
        if list.is_empty() {
            return Some(NewHolders {
                text: DEFAULT_ONLY.to_owned(),
                push,
            });
        }
        let mut all = vec![DEFAULT_ID];
        let facts = EventFacts::of(event_type, raw_data, thread_parent);
        for s in list.iter().filter(|s| s.spec.filter.matches(&facts)) {
            all.push(s.id);
            if matches!(s.spec.kind, Kind::Push(_)) {
                push.push(s.id);
            }
        }
        Some(NewHolders {
            text: holders_text(all)?,
            push,
        })
    }

    /// The push subscriptions' ids, `default` first.
    pub fn push_ids(&self) -> Vec<SubscriptionId> {
        std::iter::once(DEFAULT_ID)
            .chain(
                self.list
                    .borrow()
                    .iter()
                    .filter(|s| matches!(s.spec.kind, Kind::Push(_)))
                    .map(|s| s.id),
            )
            .collect()
    }

    /// The webhook of push subscription `id` (not `default`: its target is the connect
    /// settings'); `None` once deleted.
    pub fn target(&self, id: SubscriptionId) -> Option<WebhookTarget> {
        self.list
            .borrow()
            .iter()
            .find(|s| s.id == id)
            .and_then(|s| match &s.spec.kind {
                Kind::Push(target) => Some(target.clone()),
                Kind::Pull => None,
            })
    }

    /// The push subscription whose dead letters a route names (`default` when `name` is
    /// `None`): `404` if none has the name, `400` for a pull subscription.
    pub fn push_id(&self, name: Option<&str>) -> Result<SubscriptionId, ApiError> {
        let Some(name) = name.filter(|n| *n != DEFAULT_SUBSCRIPTION) else {
            return Ok(DEFAULT_ID);
        };
        let found = self.named(name)?;
        match found.spec.kind {
            Kind::Push(_) => Ok(found.id),
            Kind::Pull => Err(ApiError::bad_request(
                Some("subscription"),
                format!("{name:?} is a pull subscription: it has no dead letters"),
            )),
        }
    }

    /// Whether there is no subscription besides `default`.
    pub fn is_empty(&self) -> bool {
        self.list.borrow().is_empty()
    }

    /// The subscription named `name` (not `default`).
    pub fn find(&self, name: &str) -> Option<Subscription> {
        self.list
            .borrow()
            .iter()
            .find(|s| s.spec.name == name)
            .cloned()
    }

    /// The push subscriptions besides `default`, with their targets.
    pub fn push_targets(&self) -> Vec<(SubscriptionId, WebhookTarget)> {
        self.list
            .borrow()
            .iter()
            .filter_map(|s| match &s.spec.kind {
                Kind::Push(target) => Some((s.id, target.clone())),
                Kind::Pull => None,
            })
            .collect()
    }

    /// Stores a new subscription (a pull one with its token's hash); `409` if the name is
    /// taken. Its id.
    pub fn create(
        &self,
        store: &Store,
        spec: SubscriptionSpec,
        token_hash: Option<&str>,
        now: u64,
    ) -> Result<SubscriptionId, ApiError> {
        if self.find(&spec.name).is_some() {
            return Err(ApiError::new(
                409,
                Some("name"),
                format!(
                    "a subscription named {:?} exists: replace it with PUT /subscriptions?subscription={0}, or pick another name",
                    spec.name
                ),
            ));
        }
        let definition = serde_json::to_string(&spec.stored())
            .map_err(|e| ApiError::new(500, None, e.to_string()))?;
        let id = store
            .insert_subscription(&spec.name, spec.kind_name(), &definition, token_hash, now)
            .map_err(|e| storage(&e))?;
        let id = u64::try_from(id).unwrap_or(0);
        self.list.borrow_mut().push(Subscription { id, spec });
        Ok(id)
    }

    /// Replaces the definition of the subscription named like `spec` (same kind: `400`
    /// naming `kind` otherwise). Events stored already keep their holders.
    pub fn replace(&self, store: &Store, spec: SubscriptionSpec) -> Result<(), ApiError> {
        let existing = self.named(&spec.name)?;
        if existing.spec.kind_name() != spec.kind_name() {
            return Err(ApiError::bad_request(
                Some("kind"),
                format!(
                    "{:?} is a {} subscription: its kind cannot change (delete it and create another)",
                    spec.name,
                    existing.spec.kind_name()
                ),
            ));
        }
        let definition = serde_json::to_string(&spec.stored())
            .map_err(|e| ApiError::new(500, None, e.to_string()))?;
        store
            .update_subscription(sql_id(existing.id), &definition)
            .map_err(|e| storage(&e))?;
        if let Some(entry) = self
            .list
            .borrow_mut()
            .iter_mut()
            .find(|s| s.id == existing.id)
        {
            entry.spec = spec;
        }
        Ok(())
    }

    /// Deletes the subscription named `name`: it releases every event it holds (those left
    /// without holder leave the log, after `before_leaving`), then its row goes, in one turn.
    /// Its id.
    pub fn delete(
        &self,
        store: &Store,
        name: &str,
        before_leaving: impl FnOnce(u64),
    ) -> Result<SubscriptionId, ApiError> {
        let existing = self.named(name)?;
        store
            .release_holds(sql_id(existing.id), None, before_leaving)
            .and_then(|_| store.delete_subscription(sql_id(existing.id)))
            .map_err(|e| storage(&e))?;
        self.list.borrow_mut().retain(|s| s.id != existing.id);
        Ok(existing.id)
    }

    /// The subscription named `name`, or a `404` (`default`: a `400`, it is not the admin
    /// API's).
    pub fn named(&self, name: &str) -> Result<Subscription, ApiError> {
        if name == DEFAULT_SUBSCRIPTION {
            return Err(ApiError::bad_request(
                Some("subscription"),
                "the default subscription is POST /connect's webhookUrl: change it with POST /connect, stop it with POST /disconnect",
            ));
        }
        self.find(name).ok_or_else(|| {
            ApiError::new(
                404,
                Some("subscription"),
                format!("no subscription named {name:?}: GET /subscriptions lists them"),
            )
        })
    }

    /// Every subscription as the admin API shows it, `default` first (its target is
    /// `default_target`, the connect settings' webhook, if connected), with its id.
    pub fn views(
        &self,
        default_target: Option<&WebhookTarget>,
    ) -> Vec<(SubscriptionId, SubscriptionView)> {
        let default = SubscriptionView {
            name: DEFAULT_SUBSCRIPTION.to_owned(),
            kind: "push",
            webhook_host: default_target.map(|t| t.host().to_owned()),
            secret_configured: default_target.map(|t| t.secret.is_some()),
            filter: FilterJson::default(),
        };
        std::iter::once((DEFAULT_ID, default))
            .chain(self.list.borrow().iter().map(|s| (s.id, s.spec.view())))
            .collect()
    }

    /// What is stored per subscription: events held (`lag`), of them dead letters, and the
    /// rest pending. `in_flight`, `delivered`, `failed_attempts` and `last_error` are the
    /// delivery side's, filled by the caller.
    pub fn stored_counts(
        store: &Store,
        ids: &[SubscriptionId],
    ) -> worker::Result<Vec<SubscriptionCounts>> {
        let holders = store.all_holders()?;
        let dead = store.dead_letter_counts()?;
        Ok(ids
            .iter()
            .map(|id| {
                let held = holders.iter().filter(|h| holds(h, *id)).count() as u64;
                let dead_letters = dead
                    .iter()
                    .find(|(sub, _)| u64::try_from(*sub) == Ok(*id))
                    .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0));
                SubscriptionCounts {
                    pending: held.saturating_sub(dead_letters),
                    dead_letters,
                    lag: held,
                    ..SubscriptionCounts::default()
                }
            })
            .collect())
    }
}
