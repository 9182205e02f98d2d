//! The identify gate of a shard of a sharded bot: before every Identify (never before a
//! Resume) the engine asks its coordinator for a grant ([`crate::gateway::Action::AskIdentify`])
//! and opens the socket only once it holds one that has not expired. A single-shard bot has no
//! gate.

/// How long an unanswered ask waits before it is asked again.
pub const ASK_TIMEOUT_MS: u64 = 10_000;

/// The grant a gated engine holds, and whether it is waiting for an answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdentifyGate {
    /// The grant held: Identify before this time (ms since epoch).
    grant_expires_at: Option<u64>,
    /// When the last ask went out, while unanswered.
    asked_at: Option<u64>,
}

impl IdentifyGate {
    /// Whether a grant valid at `now` is held.
    pub fn holds_grant(&self, now: u64) -> bool {
        self.grant_expires_at.is_some_and(|at| now < at)
    }

    /// Whether to ask now: no valid grant, and no ask under way (or it went unanswered).
    pub fn should_ask(&self, now: u64) -> bool {
        !self.holds_grant(now)
            && self
                .asked_at
                .is_none_or(|at| now >= at.saturating_add(ASK_TIMEOUT_MS))
    }

    /// An ask went out at `now`.
    pub fn asked(&mut self, now: u64) {
        self.asked_at = Some(now);
    }

    /// The coordinator granted an Identify until `expires_at`.
    pub fn granted(&mut self, expires_at: u64) {
        self.asked_at = None;
        self.grant_expires_at = Some(expires_at);
    }

    /// The coordinator said to ask again later.
    pub fn deferred(&mut self) {
        self.asked_at = None;
    }

    /// Uses the grant for an Identify at `now`: `false` (and nothing sent) when none is valid.
    pub fn take(&mut self, now: u64) -> bool {
        let valid = self.holds_grant(now);
        self.grant_expires_at = None;
        valid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue12_a_grant_is_used_once_and_only_before_it_expires() {
        let mut gate = IdentifyGate::default();
        assert!(gate.should_ask(0));
        gate.asked(0);
        assert!(!gate.should_ask(1), "one ask at a time");
        assert!(
            gate.should_ask(ASK_TIMEOUT_MS),
            "an unanswered ask is repeated"
        );
        gate.granted(5_000);
        assert!(!gate.should_ask(10));
        assert!(gate.take(4_999));
        assert!(!gate.take(4_999), "used once");
        gate.granted(5_000);
        assert!(!gate.take(5_000), "expired");
        gate.asked(6_000);
        gate.deferred();
        assert!(gate.should_ask(6_001));
    }
}
