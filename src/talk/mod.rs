//! Talking back to Discord: what the object sends on a bot's behalf.
//!
//! - [`split`]: a long reply cut into messages of at most 2,000 characters.

pub mod split;
