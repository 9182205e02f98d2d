//! The rules of the event log's subscriptions, sans-IO (issue 10; not wired into the Durable
//! Object yet: the storage, the admin and pull routes and per-subscription delivery come next).
//!
//! Pure Rust, tested natively:
//!
//! - [`filter`]: which events a subscription receives (guilds, channels and their threads,
//!   event types, direct messages; an empty filter matches all), and the facts of an event a
//!   filter looks at.
//! - [`log`]: when an event leaves the log: the last subscription holding it is done, or
//!   retention (age, most entries) removes it; and where positions resume after a restart, so
//!   that one is never handed out twice (wired: the outbox row id is the position).
//! - [`token`]: pull tokens (`dgdp_<bot>_<64 hex>`), naming their bot, stored as SHA-256 hashes.
//! - [`definition`]: a subscription as the admin API creates it (push: webhook URL and
//!   write-only secret; pull: a name) and shows it (never the secret).
//! - [`fanout`]: each push subscription's own per-channel lanes, and the shared request slots
//!   (a share each), so one subscriber down or slow never slows another.
//! - [`inbox`]: the pull API's query and body, the bound on held long polls (`429` beyond), and
//!   a pull subscription's cursor, lag and retention gap.

pub mod definition;
pub mod fanout;
pub mod filter;
pub mod inbox;
pub mod log;
pub mod token;

pub use definition::{
    Kind, StoredDefinition, SubscriptionCreated, SubscriptionRequest, SubscriptionSpec,
    SubscriptionView,
};
pub use fanout::{Due, Fanout, SubscriptionId};
pub use filter::{EventFacts, Filter, FilterJson};
pub use inbox::{AckRequest, InboxEntry, InboxQuery, Page, PullProgress, WaitSlots};
pub use log::{holders_text, holds, must_record, resume_after, sole_holder, Holds, Retention};
pub use token::{bot_of, new_token, token_hash, token_matches, valid_name};
