//! Talking back to Discord: what the object sends on a bot's behalf.
//!
//! - [`split`]: a long reply cut into messages of at most 2,000 characters.
//! - [`request`]: the `/v1/messages` and `/v1/reactions` requests, validated, and who may send
//!   them.

pub mod request;
pub mod split;
