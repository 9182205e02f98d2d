//! What a webhook answer means for an event: delivered, retry later, or give up.

/// How long and how often delivery is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First retry after about this long.
    pub base_delay_ms: u64,
    /// Retries are never further apart than this, so a receiver that comes back is served soon.
    pub max_delay_ms: u64,
    /// An event older than this is dead-lettered instead of retried.
    pub max_age_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base_delay_ms: 1_000,
            max_delay_ms: 60 * 1_000,
            max_age_ms: 24 * 60 * 60 * 1_000,
        }
    }
}

/// The result of one delivery attempt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempt {
    /// The HTTP status, or `None` for a network error or timeout.
    pub status: Option<u16>,
    /// `Retry-After` in milliseconds, when the response had one.
    pub retry_after_ms: Option<u64>,
}

/// What to do with the event after an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The webhook accepted it: remove it from the outbox.
    Delivered,
    /// Try again at this time (ms since epoch).
    Retry {
        /// When.
        at: u64,
        /// Why the attempt failed, for the status.
        reason: String,
    },
    /// Give up: keep it as a dead letter.
    DeadLetter {
        /// Why.
        reason: String,
    },
}

impl RetryPolicy {
    /// Decides what follows attempt number `attempt` (1 for the first) of an event created at
    /// `created_at`. `jitter` is a fraction in `[0, 1)`.
    pub fn outcome(
        &self,
        attempt: Attempt,
        attempts: u32,
        created_at: u64,
        now: u64,
        jitter: f64,
    ) -> Outcome {
        let reason = match attempt.status {
            Some(status) if (200..300).contains(&status) => return Outcome::Delivered,
            Some(status) if retryable(status) => format!("webhook answered {status}"),
            Some(status) => {
                return Outcome::DeadLetter {
                    reason: format!("webhook answered {status}, which is not retried"),
                }
            }
            None => "webhook unreachable or timed out".to_owned(),
        };
        let exponent = attempts.saturating_sub(1).min(30);
        let ceiling = self
            .base_delay_ms
            .saturating_mul(1 << exponent)
            .min(self.max_delay_ms);
        let backoff = ceiling / 2 + (ceiling as f64 / 2.0 * jitter.clamp(0.0, 1.0)) as u64;
        let at = now.saturating_add(backoff.max(attempt.retry_after_ms.unwrap_or(0)));
        if at.saturating_sub(created_at) > self.max_age_ms {
            return Outcome::DeadLetter {
                reason: format!("{reason}; gave up after {attempts} attempts"),
            };
        }
        Outcome::Retry { at, reason }
    }
}

/// Redirects (not followed), 408, 429 and 5xx are worth another try; other 4xx are not.
fn retryable(status: u16) -> bool {
    matches!(status, 300..=399 | 408 | 429 | 500..=599) || status < 200
}

/// Parses `Retry-After` given in seconds (HTTP dates are ignored).
pub fn parse_retry_after(value: &str) -> Option<u64> {
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1000.0).min(86_400_000.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: Option<u16>, attempts: u32, age: u64) -> Outcome {
        RetryPolicy::default().outcome(
            Attempt {
                status,
                retry_after_ms: None,
            },
            attempts,
            0,
            age,
            0.0,
        )
    }

    #[test]
    fn classification() {
        assert_eq!(outcome(Some(200), 1, 0), Outcome::Delivered);
        assert_eq!(outcome(Some(204), 1, 0), Outcome::Delivered);
        for status in [None, Some(302), Some(408), Some(429), Some(500), Some(503)] {
            assert!(
                matches!(outcome(status, 1, 0), Outcome::Retry { .. }),
                "{status:?}"
            );
        }
        for status in [400, 401, 403, 404, 410, 422] {
            assert!(
                matches!(outcome(Some(status), 1, 0), Outcome::DeadLetter { .. }),
                "{status}"
            );
        }
    }

    #[test]
    fn backoff_grows_and_retry_after_is_honoured() {
        let policy = RetryPolicy::default();
        let at = |attempts| match policy.outcome(
            Attempt {
                status: Some(503),
                retry_after_ms: None,
            },
            attempts,
            0,
            0,
            0.0,
        ) {
            Outcome::Retry { at, .. } => at,
            other => panic!("{other:?}"),
        };
        assert_eq!((at(1), at(2), at(3)), (500, 1000, 2000));
        assert_eq!(at(40), policy.max_delay_ms / 2);
        let retry_after = Attempt {
            status: Some(429),
            retry_after_ms: Some(7_000),
        };
        assert_eq!(
            policy.outcome(retry_after, 1, 0, 0, 0.0),
            Outcome::Retry {
                at: 7_000,
                reason: "webhook answered 429".into()
            }
        );
    }

    #[test]
    fn old_events_are_dead_lettered() {
        let day = 24 * 60 * 60 * 1_000;
        assert!(matches!(
            outcome(Some(503), 50, day),
            Outcome::DeadLetter { .. }
        ));
        assert!(matches!(
            outcome(Some(503), 50, day - 60 * 60 * 1_000),
            Outcome::Retry { .. }
        ));
    }

    #[test]
    fn retry_after_parsing() {
        assert_eq!(parse_retry_after("2"), Some(2_000));
        assert_eq!(parse_retry_after(" 1.5 "), Some(1_500));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
