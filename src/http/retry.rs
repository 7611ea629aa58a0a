//! When and how long to wait before retrying a request: exponential backoff with jitter, `Retry-After`, and a
//! bounded budget.

use std::time::{Duration, SystemTime};

use chrono::DateTime;
use rand::Rng;

/// How a [`RestClient`](super::RestClient) retries a request that failed in a way a later attempt may not:
/// a connection error, a timeout, `429 Too Many Requests` or a `5xx` status.
///
/// Before retry `n` (1-based) it waits `Retry-After` when the response gives one (seconds or an HTTP date),
/// else a random duration between half and all of `initial_backoff * 2^(n-1)`, capped at `max_backoff`. It
/// gives up after `max_retries` retries, or when the next wait would take the total waited for one request
/// past `budget`; the error is then transient ([`ele::Error::is_transient`](crate::Error::is_transient)).
/// Other statuses are not retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    budget: Duration,
}

impl Default for RetryPolicy {
    /// 5 retries, backoff from 1 s up to 30 s, at most 2 minutes of waiting per request.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            budget: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The default policy (see [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// No retries: the first failure is the error.
    pub fn never() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// At most `retries` retries of one request.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The backoff before the first retry (doubled before each next one).
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The longest backoff between two attempts (without `Retry-After`).
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// The most time spent waiting between the attempts of one request, `Retry-After` included.
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// The wait before retry number `retry` (1-based) after `waited` so far, or `None` to give up.
    pub(crate) fn wait_before(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
        waited: Duration,
    ) -> Option<Duration> {
        if retry > self.max_retries {
            return None;
        }
        let wait = retry_after.unwrap_or_else(|| self.backoff(retry));
        (!self.past_budget(wait, waited)).then_some(wait)
    }

    /// Whether waiting `wait` after `waited` goes past the budget.
    pub(crate) fn past_budget(&self, wait: Duration, waited: Duration) -> bool {
        waited.saturating_add(wait) > self.budget
    }

    /// Exponential backoff with jitter: uniformly random in `[d/2, d]`, `d = initial * 2^(retry-1)` capped.
    fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        let full = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        let half = full / 2;
        let jitter_nanos = u64::try_from((full - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rand::rng().random_range(0..=jitter_nanos))
    }
}

/// The wait a `Retry-After` header asks for: delay seconds, or an HTTP date (a date in the past is no wait).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) is RFC 2822 syntax with the obsolete zone `GMT`.
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    let at = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(
        u64::try_from(at.timestamp()).unwrap_or(0),
    ))?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        // A date already past: retry at once.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy::new()
            .initial_backoff(Duration::from_secs(1))
            .max_backoff(Duration::from_secs(10))
            .max_retries(10)
            .budget(Duration::from_secs(1000));
        for (retry, full) in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (9, 10)] {
            let full = Duration::from_secs(full);
            for _ in 0..20 {
                let wait = policy.wait_before(retry, None, Duration::ZERO);
                assert!(
                    wait.is_some_and(|w| w >= full / 2 && w <= full),
                    "retry {retry}: {wait:?} not in [{:?}, {full:?}]",
                    full / 2
                );
            }
        }
    }

    #[test]
    fn retry_after_wins_and_the_limits_hold() {
        let policy = RetryPolicy::new()
            .max_retries(2)
            .budget(Duration::from_secs(10));
        let after = Some(Duration::from_secs(7));
        assert_eq!(
            policy.wait_before(1, after, Duration::ZERO),
            Some(Duration::from_secs(7))
        );
        // Past the budget: give up rather than wait.
        assert_eq!(policy.wait_before(2, after, Duration::from_secs(7)), None);
        // Past the number of retries.
        assert_eq!(
            policy.wait_before(3, Some(Duration::ZERO), Duration::ZERO),
            None
        );
        assert_eq!(
            RetryPolicy::never().wait_before(1, Some(Duration::ZERO), Duration::ZERO),
            None
        );
    }
}
