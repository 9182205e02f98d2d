//! Talking back to Discord: what the object sends on a bot's behalf.
//!
//! - [`split`]: a long reply cut into messages of at most 2,000 characters.
//! - [`presence`]: `POST /presence` validated into op 3's `d`.
//! - [`request`]: the `/v1/messages` and `/v1/reactions` requests, validated, and who may send
//!   them.

pub mod presence;
pub mod request;
pub mod split;
