//! Discord REST rate limits, sans-IO: every call takes `now` in milliseconds and says what may
//! be sent; the caller does the HTTP and reports each answer.
//!
//! The rules (Discord's "Rate Limits" topic; the behaviour of `@discordjs/rest` and twilight's
//! rate limiter was read for comparison, nothing copied):
//!
//! - **Queues.** Requests wait in one queue per route and major parameter (e.g.
//!   `POST /channels/{id}/messages` for channel 1), sent in order, one at a time: the next
//!   leaves when the previous is answered. A request is never failed for being limited; it
//!   waits.
//! - **Buckets.** `X-RateLimit-Bucket` names the bucket a route belongs to (several routes can
//!   share one); its state is per bucket and major parameter: `-Limit`, `-Remaining`, and the
//!   reset `-Reset-After` seconds from the answer. With nothing remaining, a queue of that
//!   bucket waits for the reset (plus a small margin for clock skew).
//! - **Global.** At most `global_per_second` requests (50 by default) leave per second.
//! - **429.** The request goes back to the front of its queue and is retried after
//!   `retry_after`: the whole limiter waits when the scope is `global` (or the body says
//!   `"global": true`), only the bucket otherwise.
//! - **Invalid requests.** Discord blocks an IP range after 10,000 `401`, `403` and `429`
//!   (except `shared`-scope `429`s) in 10 minutes. They are counted in a sliding window; at
//!   `invalid_stop_at` (5,000 by default) the limiter refuses everything, queued requests
//!   included, until the count falls below it again.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// One request's place in the limiter.
pub type Ticket = u64;

/// Tunables; [`LimiterConfig::default`] is Discord's published numbers with a safety margin.
#[derive(Clone, Debug)]
pub struct LimiterConfig {
    /// Requests per second across every route.
    pub global_per_second: u32,
    /// The invalid-request window.
    pub invalid_window_ms: u64,
    /// Invalid requests in the window at which sending stops (Discord's ban is at 10,000).
    pub invalid_stop_at: u32,
    /// Waiting at a bucket's reset is extended by this much (clock skew between us and
    /// Discord).
    pub reset_margin_ms: u64,
    /// How long to wait after a `429` that gives no `retry_after`.
    pub default_retry_ms: u64,
    /// Times one request is sent before its `429` is handed back to the caller.
    pub max_attempts: u32,
    /// Requests waiting at most, across every queue.
    pub max_queued: usize,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self {
            global_per_second: 50,
            invalid_window_ms: 10 * 60 * 1000,
            invalid_stop_at: 5000,
            reset_margin_ms: 50,
            default_retry_ms: 1000,
            max_attempts: 5,
            max_queued: 1000,
        }
    }
}

/// Which queue and bucket a request belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The method and path with every id replaced, e.g. `POST /channels/{}/messages`.
    pub template: String,
    /// The major parameter (channel, guild or webhook id) that buckets are kept per.
    pub major: String,
}

impl Route {
    /// A route by template and major parameter.
    pub fn new(template: impl Into<String>, major: impl Into<String>) -> Self {
        Self {
            template: template.into(),
            major: major.into(),
        }
    }

    fn queue_key(&self) -> String {
        format!("{} {}", self.template, self.major)
    }
}

/// `X-RateLimit-Scope` of a `429`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The bot's own per-route limit.
    User,
    /// The bot's global limit.
    Global,
    /// A resource's limit shared by everyone (does not count as invalid).
    Shared,
}

/// What the limiter needs from an answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// `X-RateLimit-Bucket`.
    pub bucket: Option<String>,
    /// `X-RateLimit-Limit`.
    pub limit: Option<u32>,
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<u32>,
    /// `X-RateLimit-Reset-After`, in milliseconds.
    pub reset_after_ms: Option<u64>,
    /// `retry_after` of a `429` body (or `Retry-After`), in milliseconds.
    pub retry_after_ms: Option<u64>,
    /// `X-RateLimit-Scope`.
    pub scope: Option<Scope>,
    /// `X-RateLimit-Global` or the body's `global`.
    pub global: bool,
}

impl Answer {
    /// Reads an answer's status, headers (`header(name)` with a lowercase name) and, for a
    /// `429`, its JSON body. Unreadable values are ignored, never an error.
    pub fn read<'a>(status: u16, header: impl Fn(&str) -> Option<&'a str>, body: &[u8]) -> Self {
        let number = |name: &str| header(name).and_then(|v| v.trim().parse::<f64>().ok());
        let millis =
            |secs: f64| (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).ceil() as u64);
        let scope = header("x-ratelimit-scope").and_then(|v| match v.trim() {
            "user" => Some(Scope::User),
            "global" => Some(Scope::Global),
            "shared" => Some(Scope::Shared),
            _ => None,
        });
        let mut answer = Self {
            status,
            bucket: header("x-ratelimit-bucket")
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.len() <= 64)
                .map(str::to_owned),
            limit: number("x-ratelimit-limit").map(|n| n as u32),
            remaining: number("x-ratelimit-remaining").map(|n| n as u32),
            reset_after_ms: number("x-ratelimit-reset-after").and_then(millis),
            retry_after_ms: number("retry-after").and_then(millis),
            scope,
            global: header("x-ratelimit-global").is_some_and(|v| v.trim() == "true"),
        };
        if status == 429 {
            if let Ok(body) = crate::json::from_slice::<RateLimitedBody>(body) {
                answer.retry_after_ms = body.retry_after.and_then(millis).or(answer.retry_after_ms);
                answer.global |= body.global;
            }
        }
        answer
    }

    fn is_global(&self) -> bool {
        self.global || self.scope == Some(Scope::Global)
    }

    /// Whether Discord counts this answer toward its invalid-request ban.
    fn is_invalid(&self) -> bool {
        match self.status {
            401 | 403 => true,
            429 => self.scope != Some(Scope::Shared),
            _ => false,
        }
    }
}

#[derive(serde::Deserialize)]
struct RateLimitedBody {
    retry_after: Option<f64>,
    #[serde(default)]
    global: bool,
}

/// What to do with a ticket now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Send(Ticket),
    /// Give up on it, with the reason.
    Refuse(Ticket, Refusal),
}

/// Why a request is not sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Too many invalid requests in the window: sending is stopped until `until`.
    Halted {
        /// Invalid requests counted in the window.
        invalid: u32,
        /// When the count falls below the threshold again, in ms since the epoch.
        until: u64,
    },
    /// Too many requests are waiting already.
    QueueFull,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Halted { invalid, until } => write!(
                f,
                "stopped sending to Discord: {invalid} invalid requests (401/403/429) in the last 10 minutes; Discord bans at 10,000; sending resumes at {until} (ms since the epoch)"
            ),
            Self::QueueFull => f.write_str("too many Discord requests are waiting; try again later"),
        }
    }
}

/// After an answer: whether the request is finished or waits to be sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// Hand the answer to the caller.
    Done,
    /// It was a `429`: the ticket is back at the front of its queue.
    Retry,
}

/// A bucket's state.
#[derive(Clone, Debug)]
struct Bucket {
    remaining: u32,
    limit: Option<u32>,
    /// When the bucket resets (`None`: unknown, treat as reset).
    reset_at: Option<u64>,
}

#[derive(Clone, Debug)]
struct InFlight {
    route: Route,
    attempts: u32,
}

/// Counters and state for `/status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LimiterStatus {
    /// Requests waiting.
    pub queued: u64,
    /// Requests sent and not answered yet.
    pub in_flight: u64,
    /// Requests sent (retries included).
    pub sent: u64,
    /// `429`s received.
    pub rate_limited: u64,
    /// `401`/`403`/`429` answers in the last 10 minutes.
    pub invalid_in_window: u64,
    /// Sending is stopped because of invalid requests (Discord bans at 10,000).
    pub halted: bool,
    /// Why sending is stopped and until when, in words.
    pub halted_reason: Option<String>,
    /// Buckets learned.
    pub buckets: u64,
}

/// The limiter for one bot.
#[derive(Debug)]
pub struct RateLimiter {
    config: LimiterConfig,
    next_ticket: Ticket,
    queues: BTreeMap<String, VecDeque<(Ticket, Route, u32)>>,
    in_flight: HashMap<Ticket, InFlight>,
    /// Route template → bucket hash, once an answer named it.
    hashes: HashMap<String, String>,
    /// Bucket key (hash or queue key, plus major parameter) → state.
    buckets: HashMap<String, Bucket>,
    global_window_start: u64,
    global_sent: u32,
    global_blocked_until: u64,
    /// Invalid answers per second (start of the second, count), oldest first.
    invalid: VecDeque<(u64, u32)>,
    sent: u64,
    rate_limited: u64,
}

impl RateLimiter {
    /// An empty limiter.
    pub fn new(config: LimiterConfig) -> Self {
        Self {
            config,
            next_ticket: 1,
            queues: BTreeMap::new(),
            in_flight: HashMap::new(),
            hashes: HashMap::new(),
            buckets: HashMap::new(),
            global_window_start: 0,
            global_sent: 0,
            global_blocked_until: 0,
            invalid: VecDeque::new(),
            sent: 0,
            rate_limited: 0,
        }
    }

    /// Queues a request; [`poll`](Self::poll) says when to send it. Refused at once when
    /// sending is halted or too many requests wait.
    pub fn enqueue(&mut self, now: u64, route: Route) -> Result<Ticket, Refusal> {
        if let Some(refusal) = self.halted(now) {
            return Err(refusal);
        }
        let queued: usize = self.queues.values().map(VecDeque::len).sum();
        if queued >= self.config.max_queued {
            return Err(Refusal::QueueFull);
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.queues
            .entry(route.queue_key())
            .or_default()
            .push_back((ticket, route, 0));
        Ok(ticket)
    }

    /// The tickets to send now (each counted as sent) or to give up on.
    pub fn poll(&mut self, now: u64) -> Vec<Verdict> {
        let mut verdicts = Vec::new();
        if let Some(refusal) = self.halted(now) {
            for (_, queue) in std::mem::take(&mut self.queues) {
                verdicts.extend(
                    queue
                        .into_iter()
                        .map(|(ticket, _, _)| Verdict::Refuse(ticket, refusal.clone())),
                );
            }
            return verdicts;
        }
        let busy: Vec<String> = self
            .in_flight
            .values()
            .map(|f| f.route.queue_key())
            .collect();
        let keys: Vec<String> = self.queues.keys().cloned().collect();
        for key in keys {
            if busy.contains(&key) {
                continue;
            }
            if self.global_wait(now).is_some() {
                break;
            }
            let Some((_, route, _)) = self.queues.get(&key).and_then(VecDeque::front) else {
                continue;
            };
            let bucket_key = self.bucket_key(route);
            if self.bucket_wait(now, &bucket_key).is_some() {
                continue;
            }
            let Some((ticket, route, attempts)) =
                self.queues.get_mut(&key).and_then(VecDeque::pop_front)
            else {
                continue;
            };
            if self.queues.get(&key).is_some_and(VecDeque::is_empty) {
                self.queues.remove(&key);
            }
            if let Some(bucket) = self.buckets.get_mut(&bucket_key) {
                if bucket.reset_at.is_some_and(|at| now >= at) {
                    bucket.remaining = bucket.limit.unwrap_or(1);
                    bucket.reset_at = None;
                }
                bucket.remaining = bucket.remaining.saturating_sub(1);
            }
            self.count_global(now);
            self.sent += 1;
            self.in_flight.insert(
                ticket,
                InFlight {
                    route,
                    attempts: attempts + 1,
                },
            );
            verdicts.push(Verdict::Send(ticket));
        }
        verdicts
    }

    /// When [`poll`](Self::poll) may have something new to say, if it is not up to an answer.
    pub fn next_wakeup(&self, now: u64) -> Option<u64> {
        if let Some(Refusal::Halted { .. }) = self.halted(now) {
            return (!self.queues.is_empty()).then_some(now);
        }
        let global = self.global_wait(now);
        let mut earliest: Option<u64> = None;
        for queue in self.queues.values() {
            let Some((_, route, _)) = queue.front() else {
                continue;
            };
            if self.in_flight.values().any(|f| f.route == *route) {
                continue;
            }
            let at = self
                .bucket_wait(now, &self.bucket_key(route))
                .unwrap_or(now)
                .max(global.unwrap_or(now));
            earliest = Some(earliest.map_or(at, |e| e.min(at)));
        }
        earliest
    }

    /// Takes an answer to a ticket sent: learns the bucket, counts invalid answers, and puts a
    /// `429`'d request back at the front of its queue (up to `max_attempts` sends).
    pub fn complete(&mut self, now: u64, ticket: Ticket, answer: &Answer) -> Completion {
        let Some(flight) = self.in_flight.remove(&ticket) else {
            return Completion::Done;
        };
        if let Some(hash) = &answer.bucket {
            self.hashes
                .insert(flight.route.template.clone(), hash.clone());
        }
        let bucket_key = self.bucket_key(&flight.route);
        if answer.limit.is_some() || answer.remaining.is_some() || answer.reset_after_ms.is_some() {
            let bucket = self.buckets.entry(bucket_key.clone()).or_insert(Bucket {
                remaining: 1,
                limit: None,
                reset_at: None,
            });
            bucket.limit = answer.limit.or(bucket.limit);
            if let Some(remaining) = answer.remaining {
                bucket.remaining = remaining;
            }
            if let Some(after) = answer.reset_after_ms {
                bucket.reset_at = Some(now + after + self.config.reset_margin_ms);
            }
        }
        if answer.is_invalid() {
            self.count_invalid(now);
        }
        if answer.status != 429 {
            return Completion::Done;
        }
        self.rate_limited += 1;
        let retry = answer
            .retry_after_ms
            .unwrap_or(self.config.default_retry_ms);
        if answer.is_global() {
            self.global_blocked_until = self.global_blocked_until.max(now + retry);
        } else {
            let bucket = self.buckets.entry(bucket_key).or_insert(Bucket {
                remaining: 0,
                limit: None,
                reset_at: None,
            });
            bucket.remaining = 0;
            let until = now + retry + self.config.reset_margin_ms;
            bucket.reset_at = Some(bucket.reset_at.map_or(until, |at| at.max(until)));
        }
        if flight.attempts >= self.config.max_attempts {
            return Completion::Done;
        }
        let key = flight.route.queue_key();
        self.queues
            .entry(key)
            .or_default()
            .push_front((ticket, flight.route, flight.attempts));
        Completion::Retry
    }

    /// Forgets a ticket, sent or waiting, whose caller gave up or got no answer (network
    /// failure, timeout): the next in its queue may go.
    pub fn abandon(&mut self, ticket: Ticket) {
        self.in_flight.remove(&ticket);
        for queue in self.queues.values_mut() {
            queue.retain(|(t, _, _)| *t != ticket);
        }
        self.queues.retain(|_, queue| !queue.is_empty());
    }

    /// Counters for `/status`.
    pub fn status(&self, now: u64) -> LimiterStatus {
        LimiterStatus {
            queued: self.queues.values().map(|q| q.len() as u64).sum(),
            in_flight: self.in_flight.len() as u64,
            sent: self.sent,
            rate_limited: self.rate_limited,
            invalid_in_window: u64::from(self.invalid_count(now)),
            halted: self.halted(now).is_some(),
            halted_reason: self.halted(now).map(|refusal| refusal.to_string()),
            buckets: self.buckets.len() as u64,
        }
    }

    fn bucket_key(&self, route: &Route) -> String {
        match self.hashes.get(&route.template) {
            Some(hash) => format!("{hash}:{}", route.major),
            None => route.queue_key(),
        }
    }

    /// When the bucket lets a request go, if it is exhausted now.
    fn bucket_wait(&self, now: u64, key: &str) -> Option<u64> {
        let bucket = self.buckets.get(key)?;
        let reset_at = bucket.reset_at?;
        (bucket.remaining == 0 && now < reset_at).then_some(reset_at)
    }

    /// When the global limit lets a request go, if it does not now.
    fn global_wait(&self, now: u64) -> Option<u64> {
        if now < self.global_blocked_until {
            return Some(self.global_blocked_until);
        }
        let window_end = self.global_window_start + 1000;
        (now < window_end && self.global_sent >= self.config.global_per_second)
            .then_some(window_end)
    }

    fn count_global(&mut self, now: u64) {
        if now >= self.global_window_start + 1000 {
            self.global_window_start = now;
            self.global_sent = 0;
        }
        self.global_sent += 1;
    }

    fn count_invalid(&mut self, now: u64) {
        let second = now / 1000 * 1000;
        match self.invalid.back_mut() {
            Some((at, count)) if *at == second => *count += 1,
            _ => self.invalid.push_back((second, 1)),
        }
        let oldest = now.saturating_sub(self.config.invalid_window_ms);
        while self
            .invalid
            .front()
            .is_some_and(|(at, _)| *at + 1000 <= oldest)
        {
            self.invalid.pop_front();
        }
    }

    /// Invalid answers within the window ending at `now`.
    fn invalid_count(&self, now: u64) -> u32 {
        let oldest = now.saturating_sub(self.config.invalid_window_ms);
        self.invalid
            .iter()
            .filter(|(at, _)| *at + 1000 > oldest)
            .map(|(_, count)| *count)
            .sum()
    }

    /// The refusal while too many invalid answers are in the window.
    fn halted(&self, now: u64) -> Option<Refusal> {
        let invalid = self.invalid_count(now);
        if invalid < self.config.invalid_stop_at {
            return None;
        }
        // The count falls below the threshold once enough of the oldest seconds leave.
        let mut left = invalid;
        let mut until = now;
        for (at, count) in &self.invalid {
            if *at + 1000 <= now.saturating_sub(self.config.invalid_window_ms) {
                continue;
            }
            left -= count;
            until = at + 1000 + self.config.invalid_window_ms;
            if left < self.config.invalid_stop_at {
                break;
            }
        }
        Some(Refusal::Halted { invalid, until })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGES: &str = "POST /channels/{}/messages";

    fn ok(bucket: &str, limit: u32, remaining: u32, reset_after_ms: u64) -> Answer {
        Answer {
            status: 200,
            bucket: Some(bucket.to_owned()),
            limit: Some(limit),
            remaining: Some(remaining),
            reset_after_ms: Some(reset_after_ms),
            ..Answer::default()
        }
    }

    fn too_many(retry_after_ms: u64, scope: Scope) -> Answer {
        Answer {
            status: 429,
            retry_after_ms: Some(retry_after_ms),
            scope: Some(scope),
            global: scope == Scope::Global,
            ..Answer::default()
        }
    }

    fn sends(verdicts: &[Verdict]) -> Vec<Ticket> {
        verdicts
            .iter()
            .filter_map(|v| match v {
                Verdict::Send(t) => Some(*t),
                Verdict::Refuse(..) => None,
            })
            .collect()
    }

    /// A Discord-like bucket of `limit` per `window_ms` for one route, driven against the
    /// limiter with a virtual clock: returns (send times, 429s seen).
    fn drive(
        limiter: &mut RateLimiter,
        requests: usize,
        limit: u32,
        window_ms: u64,
    ) -> (Vec<u64>, u32) {
        let route = Route::new(MESSAGES, "1");
        let tickets: Vec<Ticket> = (0..requests)
            .map(|_| limiter.enqueue(0, route.clone()).unwrap())
            .collect();
        let mut now = 0;
        let mut done = Vec::new();
        let mut sent_at = Vec::new();
        let mut too_many_seen = 0;
        let (mut window_start, mut used) = (None::<u64>, 0);
        let mut guard = 0;
        while done.len() < requests {
            guard += 1;
            assert!(guard < 10_000, "stuck at {now}");
            for ticket in sends(&limiter.poll(now)) {
                // The simulated Discord answers at once (no time passes).
                if window_start.is_none_or(|s| now >= s + window_ms) {
                    window_start = Some(now);
                    used = 0;
                }
                let start = window_start.unwrap();
                let answer = if used >= limit {
                    too_many_seen += 1;
                    too_many(start + window_ms - now, Scope::User)
                } else {
                    used += 1;
                    sent_at.push(now);
                    ok("abc", limit, limit - used, start + window_ms - now)
                };
                if limiter.complete(now, ticket, &answer) == Completion::Done {
                    done.push(ticket);
                }
            }
            if done.len() < requests {
                now = limiter.next_wakeup(now).expect("something to wait for");
            }
        }
        assert_eq!(done, tickets, "answered out of order");
        (sent_at, too_many_seen)
    }

    #[test]
    fn rate_limit_bucket_is_learned_and_respected_in_order() {
        let mut limiter = RateLimiter::new(LimiterConfig::default());
        let (sent_at, too_many_seen) = drive(&mut limiter, 50, 5, 5000);
        assert_eq!(too_many_seen, 0);
        assert_eq!(sent_at.len(), 50);
        // Ten windows of five; each new window starts at the reset plus the margin.
        for (window, chunk) in sent_at.chunks(5).enumerate() {
            let start = window as u64 * 5050;
            assert!(
                chunk.iter().all(|t| *t == start),
                "window {window}: {chunk:?}"
            );
        }
    }

    #[test]
    fn rate_limit_one_request_in_flight_per_queue() {
        let mut limiter = RateLimiter::new(LimiterConfig::default());
        let a = limiter.enqueue(0, Route::new(MESSAGES, "1")).unwrap();
        let b = limiter.enqueue(0, Route::new(MESSAGES, "1")).unwrap();
        let c = limiter.enqueue(0, Route::new(MESSAGES, "2")).unwrap();
        assert_eq!(sends(&limiter.poll(0)), [a, c]);
        assert_eq!(sends(&limiter.poll(0)), Vec::<Ticket>::new());
        limiter.complete(1, a, &ok("abc", 5, 4, 5000));
        assert_eq!(sends(&limiter.poll(1)), [b]);
    }

    #[test]
    fn rate_limit_429_requeues_at_the_front_and_waits_retry_after() {
        let mut limiter = RateLimiter::new(LimiterConfig::default());
        let route = Route::new(MESSAGES, "1");
        let a = limiter.enqueue(0, route.clone()).unwrap();
        let b = limiter.enqueue(0, route).unwrap();
        assert_eq!(sends(&limiter.poll(0)), [a]);
        assert_eq!(
            limiter.complete(0, a, &too_many(2000, Scope::User)),
            Completion::Retry
        );
        assert!(sends(&limiter.poll(1999)).is_empty());
        assert_eq!(limiter.next_wakeup(0), Some(2050));
        assert_eq!(sends(&limiter.poll(2050)), [a]);
        assert_eq!(
            limiter.complete(2050, a, &ok("abc", 5, 4, 5000)),
            Completion::Done
        );
        assert_eq!(sends(&limiter.poll(2050)), [b]);
        assert_eq!(limiter.status(2050).rate_limited, 1);
    }

    #[test]
    fn rate_limit_429_is_handed_back_after_max_attempts() {
        let mut limiter = RateLimiter::new(LimiterConfig {
            max_attempts: 2,
            ..LimiterConfig::default()
        });
        let a = limiter.enqueue(0, Route::new(MESSAGES, "1")).unwrap();
        limiter.poll(0);
        assert_eq!(
            limiter.complete(0, a, &too_many(10, Scope::User)),
            Completion::Retry
        );
        assert_eq!(sends(&limiter.poll(100)), [a]);
        assert_eq!(
            limiter.complete(100, a, &too_many(10, Scope::User)),
            Completion::Done
        );
    }

    #[test]
    fn rate_limit_global_429_holds_every_route() {
        let mut limiter = RateLimiter::new(LimiterConfig::default());
        let a = limiter.enqueue(0, Route::new(MESSAGES, "1")).unwrap();
        let b = limiter.enqueue(0, Route::new(MESSAGES, "2")).unwrap();
        assert_eq!(sends(&limiter.poll(0)), [a, b]);
        limiter.complete(0, b, &ok("abc", 5, 4, 5000));
        let c = limiter.enqueue(0, Route::new(MESSAGES, "2")).unwrap();
        assert_eq!(
            limiter.complete(0, a, &too_many(1500, Scope::Global)),
            Completion::Retry
        );
        assert!(
            sends(&limiter.poll(1000)).is_empty(),
            "route 2 must wait too"
        );
        assert_eq!(limiter.next_wakeup(1000), Some(1500));
        assert_eq!(sends(&limiter.poll(1500)), [a, c]);
    }

    #[test]
    fn rate_limit_abandoned_tickets_free_their_queue() {
        let mut limiter = RateLimiter::new(LimiterConfig::default());
        let route = Route::new(MESSAGES, "1");
        let a = limiter.enqueue(0, route.clone()).unwrap();
        let b = limiter.enqueue(0, route.clone()).unwrap();
        let c = limiter.enqueue(0, route).unwrap();
        assert_eq!(sends(&limiter.poll(0)), [a]);
        limiter.abandon(b);
        limiter.abandon(a);
        assert_eq!(sends(&limiter.poll(0)), [c]);
        assert_eq!(limiter.status(0).queued, 0);
    }

    #[test]
    fn rate_limit_global_per_second_is_kept() {
        let mut limiter = RateLimiter::new(LimiterConfig::default());
        for channel in 0..60 {
            limiter
                .enqueue(0, Route::new(MESSAGES, channel.to_string()))
                .unwrap();
        }
        assert_eq!(sends(&limiter.poll(0)).len(), 50);
        assert!(sends(&limiter.poll(999)).is_empty());
        assert_eq!(limiter.next_wakeup(999), Some(1000));
        assert_eq!(sends(&limiter.poll(1000)).len(), 10);
    }

    #[test]
    fn rate_limit_shared_bucket_across_routes_by_hash() {
        let mut limiter = RateLimiter::new(LimiterConfig::default());
        let put = "PUT /channels/{}/messages/{}/reactions/{}/@me";
        let delete = "DELETE /channels/{}/messages/{}/reactions/{}/@me";
        let a = limiter.enqueue(0, Route::new(put, "1")).unwrap();
        limiter.poll(0);
        limiter.complete(0, a, &ok("react", 1, 0, 250));
        let b = limiter.enqueue(0, Route::new(delete, "1")).unwrap();
        limiter.poll(0);
        limiter.complete(0, b, &ok("react", 1, 0, 250));
        // Both templates now map to bucket "react" for channel 1: a third waits for the reset.
        let c = limiter.enqueue(10, Route::new(put, "1")).unwrap();
        assert!(sends(&limiter.poll(10)).is_empty());
        assert_eq!(sends(&limiter.poll(300)), [c]);
    }

    #[test]
    fn rate_limit_invalid_requests_stop_sending_before_discords_ban() {
        let config = LimiterConfig {
            invalid_stop_at: 5,
            ..LimiterConfig::default()
        };
        let mut limiter = RateLimiter::new(config);
        let forbidden = Answer {
            status: 403,
            ..Answer::default()
        };
        let shared = too_many(1, Scope::Shared);
        for i in 0..4 {
            let t = limiter
                .enqueue(i * 10, Route::new(MESSAGES, i.to_string()))
                .unwrap();
            limiter.poll(i * 10);
            limiter.complete(i * 10, t, &forbidden);
        }
        // A shared-scope 429 is not counted.
        let t = limiter.enqueue(50, Route::new(MESSAGES, "9")).unwrap();
        limiter.poll(50);
        limiter.complete(50, t, &shared);
        assert!(!limiter.status(60).halted);
        let waiting = limiter.enqueue(60, Route::new(MESSAGES, "8")).unwrap();
        let t = limiter.enqueue(60, Route::new(MESSAGES, "7")).unwrap();
        assert_eq!(sends(&limiter.poll(60)), [t, waiting]);
        limiter.complete(60, t, &forbidden);
        limiter.complete(60, waiting, &ok("abc", 5, 4, 5000));
        let status = limiter.status(70);
        assert!(status.halted);
        assert_eq!(status.invalid_in_window, 5);
        assert!(status
            .halted_reason
            .is_some_and(|r| r.contains("5 invalid requests")));
        assert!(matches!(
            limiter.enqueue(70, Route::new(MESSAGES, "1")),
            Err(Refusal::Halted { invalid: 5, .. })
        ));
        // Ten minutes after the first, the window no longer holds five.
        assert!(!limiter.status(600_000 + 1000).halted);
        assert!(limiter.enqueue(601_000, Route::new(MESSAGES, "1")).is_ok());
    }

    #[test]
    fn rate_limit_halt_refuses_the_queued_requests() {
        let mut limiter = RateLimiter::new(LimiterConfig {
            invalid_stop_at: 1,
            ..LimiterConfig::default()
        });
        let route = Route::new(MESSAGES, "1");
        let a = limiter.enqueue(0, route.clone()).unwrap();
        let b = limiter.enqueue(0, route).unwrap();
        limiter.poll(0);
        limiter.complete(
            0,
            a,
            &Answer {
                status: 401,
                ..Answer::default()
            },
        );
        let verdicts = limiter.poll(1);
        assert!(
            matches!(verdicts.as_slice(), [Verdict::Refuse(t, Refusal::Halted { .. })] if *t == b)
        );
        assert_eq!(limiter.status(1).queued, 0);
    }

    #[test]
    fn rate_limit_reads_discord_headers_and_429_body() {
        let headers = [
            ("x-ratelimit-bucket", "abcd1234"),
            ("x-ratelimit-limit", "5"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset-after", "4.321"),
            ("x-ratelimit-scope", "shared"),
            ("retry-after", "5"),
        ];
        let header = |name: &str| headers.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let answer = Answer::read(
            429,
            header,
            br#"{"message":"x","retry_after":1.5,"global":false}"#,
        );
        assert_eq!(answer.bucket.as_deref(), Some("abcd1234"));
        assert_eq!(answer.limit, Some(5));
        assert_eq!(answer.remaining, Some(0));
        assert_eq!(answer.reset_after_ms, Some(4321));
        assert_eq!(answer.retry_after_ms, Some(1500));
        assert_eq!(answer.scope, Some(Scope::Shared));
        assert!(!answer.is_invalid());
        let bad = Answer::read(429, |_| Some("nonsense"), b"not json");
        assert_eq!(bad.retry_after_ms, None);
        assert_eq!(bad.limit, None);
    }
}
