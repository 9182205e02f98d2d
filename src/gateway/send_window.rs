//! The outbound rate limit: at most 120 payloads per 60 s, with room kept for heartbeats.

use std::collections::VecDeque;

/// Discord closes a connection that sends more than this many payloads per window.
pub const MAX_SENDS_PER_WINDOW: usize = 120;
/// The rate limit window.
pub const WINDOW_MS: u64 = 60_000;
/// Slots only heartbeats and handshakes (Identify, Resume) may use.
pub const RESERVED_FOR_HEARTBEATS: usize = 10;

/// How urgent a send is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// Heartbeats (scheduled or asked for by op 1), Identify and Resume: may use the whole window.
    Essential,
    /// User commands: must leave the reserve free.
    Ordinary,
}

/// Timestamps of recent sends.
#[derive(Clone, Debug, Default)]
pub struct SendWindow {
    sent: VecDeque<u64>,
}

impl SendWindow {
    fn expire(&mut self, now: u64) {
        while self.sent.front().is_some_and(|t| t + WINDOW_MS <= now) {
            self.sent.pop_front();
        }
    }

    /// Takes a slot at `now` if one is free for `priority`; otherwise returns when one frees up.
    pub fn try_acquire(&mut self, now: u64, priority: Priority) -> Result<(), u64> {
        self.expire(now);
        let limit = match priority {
            Priority::Essential => MAX_SENDS_PER_WINDOW,
            Priority::Ordinary => MAX_SENDS_PER_WINDOW - RESERVED_FOR_HEARTBEATS,
        };
        if self.sent.len() < limit {
            self.sent.push_back(now);
            Ok(())
        } else {
            let frees_one = self.sent.len() - limit;
            Err(self.sent.get(frees_one).map_or(now, |t| t + WINDOW_MS))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_sends_leave_room_for_heartbeats() {
        let mut window = SendWindow::default();
        for i in 0..(MAX_SENDS_PER_WINDOW - RESERVED_FOR_HEARTBEATS) as u64 {
            window.try_acquire(i, Priority::Ordinary).unwrap();
        }
        assert_eq!(window.try_acquire(200, Priority::Ordinary), Err(WINDOW_MS));
        for _ in 0..RESERVED_FOR_HEARTBEATS {
            window.try_acquire(200, Priority::Essential).unwrap();
        }
        assert_eq!(window.try_acquire(201, Priority::Essential), Err(WINDOW_MS));
        assert!(window
            .try_acquire(WINDOW_MS + 1, Priority::Essential)
            .is_ok());
    }
}
