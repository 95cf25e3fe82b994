//! Whether a failed request to the server is worth sending again, and after how long.
//!
//! Only answers that say "later" are retried: 429 (rate limited) and 503 (busy) after their
//! `Retry-After`, and 500 / 502 / 503 / 504 after an exponential backoff with jitter. Never
//! past the caller's deadline: a wait that would not fit is no retry, and the caller reports
//! the answer it has. Unreachable servers are not retried here (the failover decides).

/// How often and how long to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The backoff before the second attempt; it doubles for each one after.
    pub base_delay_ms: u32,
    /// The longest backoff (a `Retry-After` may ask for longer, within the deadline).
    pub max_delay_ms: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 3, base_delay_ms: 200, max_delay_ms: 2_000 }
    }
}

impl RetryPolicy {
    /// How long to wait before trying again after attempt `attempt` (1-based) was answered
    /// `status` with `retry_after` (the header's value, if any), when `time_left_ms` remain
    /// before the caller's deadline; `None` when it should not be retried. `jitter` is a random
    /// number in `[0, 1)` from the caller (this crate has no randomness of its own); the
    /// backoff is spread between half and all of its nominal length.
    pub fn delay_ms(
        &self,
        attempt: u32,
        status: u16,
        retry_after: Option<&str>,
        time_left_ms: u32,
        jitter: f64,
    ) -> Option<u32> {
        if attempt >= self.max_attempts {
            return None;
        }
        let asked = match status {
            429 | 503 => retry_after.and_then(retry_after_ms),
            500 | 502 | 504 => None,
            _ => return None,
        };
        let delay = asked.unwrap_or_else(|| {
            let doublings = attempt.saturating_sub(1).min(16);
            let nominal = self.base_delay_ms.saturating_mul(1 << doublings).min(self.max_delay_ms);
            let spread = 0.5 + jitter.clamp(0.0, 1.0) / 2.0;
            (f64::from(nominal) * spread) as u32
        });
        (delay < time_left_ms).then_some(delay)
    }
}

/// A `Retry-After` header in milliseconds: delay-seconds only (an HTTP date would need a clock,
/// and hapa-server sends seconds).
pub fn retry_after_ms(value: &str) -> Option<u32> {
    let seconds: u32 = value.trim().parse().ok()?;
    seconds.checked_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (attempt, status, Retry-After, ms left, jitter) → the delay.
    type Case = (u32, u16, Option<&'static str>, u32, f64, Option<u32>);

    #[test]
    fn what_is_retried_and_after_how_long() {
        let policy = RetryPolicy::default();
        let cases: &[Case] = &[
            (1, 502, None, 10_000, 0.0, Some(100)),
            (1, 502, None, 10_000, 0.999_999, Some(199)),
            (2, 500, None, 10_000, 0.0, Some(200)),
            (2, 504, None, 10_000, 1.0, Some(400)),
            (1, 429, Some("2"), 10_000, 0.5, Some(2_000)),
            (1, 503, Some(" 1 "), 10_000, 0.5, Some(1_000)),
            (1, 503, None, 10_000, 0.0, Some(100)),
            (1, 429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), 10_000, 0.0, Some(100)),
            // Not past the deadline, not past the attempts.
            (1, 429, Some("5"), 4_000, 0.0, None),
            (1, 502, None, 150, 1.0, None),
            (3, 502, None, 10_000, 0.0, None),
            // Answers that a second try would not change.
            (1, 400, None, 10_000, 0.0, None),
            (1, 401, None, 10_000, 0.0, None),
            (1, 403, None, 10_000, 0.0, None),
            (1, 413, None, 10_000, 0.0, None),
            (1, 200, None, 10_000, 0.0, None),
        ];
        for &(attempt, status, retry_after, left, jitter, expected) in cases {
            assert_eq!(
                policy.delay_ms(attempt, status, retry_after, left, jitter),
                expected,
                "attempt {attempt}, status {status}, Retry-After {retry_after:?}, {left} ms left"
            );
        }
    }

    #[test]
    fn backoff_is_capped() {
        let policy = RetryPolicy { max_attempts: 40, base_delay_ms: 200, max_delay_ms: 2_000 };
        assert_eq!(policy.delay_ms(30, 502, None, u32::MAX, 1.0), Some(2_000));
        assert_eq!(retry_after_ms("99999999999"), None);
        assert_eq!(retry_after_ms("-1"), None);
    }
}
