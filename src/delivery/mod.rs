//! Delivery of forwarded events to the webhook.
//!
//! - [`envelope`]: the Chat SDK request body, spliced from the raw `d`.
//! - [`enrich`]: `user`, `channel_type` and `thread` added for Chat SDK, from a bounded directory.
//! - [`webhook_url`]: which webhook URLs are allowed.
//! - [`lanes`]: which event goes next: per-channel order, bounded concurrency.
//! - [`inserts`]: new events stored together, one statement per turn's events.
//! - [`deletes`]: delivered events removed from the outbox in batches.
//! - [`retry`]: what each answer means, and when to try again.
//! - [`signature`]: HMAC-SHA256 request signatures.
//! - [`warm`]: waiting events kept in memory within a byte budget, so delivery reads no storage.

pub mod deletes;
pub mod enrich;
pub mod envelope;
pub mod inserts;
pub mod lanes;
pub mod retry;
pub mod signature;
pub mod warm;
pub mod webhook_url;
