//! The moments of a connect as the simulator sees them, with microsecond wall-clock timestamps
//! (`GET /_sim/trace`), so a benchmark can split a client's `/connect` → READY into segments on
//! one clock (bench/connect-trace.mjs): `gateway_bot` (a `GET /gateway/bot` arrived), `upgraded`
//! (the `101` of a WebSocket upgrade was written), `hello` (Hello queued on a new connection),
//! `identify` (an Identify arrived), `ready` (READY queued for the new session).

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::state::ConnId;

/// How many moments the trace keeps (the oldest go first).
pub const TRACE_LIMIT: usize = 4096;

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A bounded, ordered log of connect moments.
#[derive(Debug, Default)]
pub struct Trace {
    events: VecDeque<Value>,
}

impl Trace {
    /// Records `event` now, for connection `connection_id` when there is one.
    pub fn record(&mut self, event: &'static str, connection_id: Option<ConnId>) {
        if self.events.len() == TRACE_LIMIT {
            self.events.pop_front();
        }
        self.events.push_back(json!({
            "event": event,
            "atUs": now_us(),
            "connectionId": connection_id,
        }));
    }

    /// Forgets every moment.
    pub fn clear(&mut self) {
        self.events.clear();
    }

    /// `{"events": [{event, atUs, connectionId}]}`, oldest first.
    pub fn to_json(&self) -> Value {
        json!({ "events": self.events })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_moments_in_order() {
        let mut trace = Trace::default();
        for _ in 0..TRACE_LIMIT {
            trace.record("hello", Some(1));
        }
        trace.record("ready", Some(2));
        let json = trace.to_json();
        let events = json["events"].as_array().unwrap();
        assert_eq!(events.len(), TRACE_LIMIT);
        assert_eq!(events.last().unwrap()["event"], "ready");
        assert_eq!(events.last().unwrap()["connectionId"], 2);
        let first = events[0]["atUs"].as_u64().unwrap();
        assert!(events.last().unwrap()["atUs"].as_u64().unwrap() >= first);
        trace.clear();
        assert!(trace.to_json()["events"].as_array().unwrap().is_empty());
    }
}
