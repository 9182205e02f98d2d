//! Discord REST from the object: what may be sent when.
//!
//! - [`rate_limit`]: per-route buckets, the global limit, `429`s and the invalid-request
//!   guard, sans-IO with a virtual clock.

pub mod rate_limit;
