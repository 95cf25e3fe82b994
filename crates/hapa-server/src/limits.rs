//! Per-key rate limits by role (GCRA, `governor`): a key may make its role's quota of requests
//! per minute, all at once if it likes, refilled evenly over the minute. A request over the
//! quota gets 429 with `Retry-After` and the IETF draft `RateLimit-Policy` / `RateLimit` fields.
//!
//! Only authenticated keys are limited here, so the limiter's memory is bounded by the number
//! of keys that exist, whatever an attacker sends.

use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::state::AppState;

/// Requests per minute for each role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// For `admin` keys.
    pub admin: NonZeroU32,
    /// For `user` keys (the extension's).
    pub user: NonZeroU32,
    /// For `monitor` keys.
    pub monitor: NonZeroU32,
}

impl Default for Quotas {
    /// Generous enough for completions as you type (a request per ~200 ms pause).
    fn default() -> Self {
        Self { admin: nonzero(1200), user: nonzero(600), monitor: nonzero(120) }
    }
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

type KeyLimiter = RateLimiter<i64, DefaultKeyedStateStore<i64>, DefaultClock, StateInformationMiddleware>;

/// One limiter per role, keyed by key id.
#[derive(Debug)]
pub struct RateLimits {
    quotas: Quotas,
    admin: KeyLimiter,
    user: KeyLimiter,
    monitor: KeyLimiter,
}

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead; this many more requests fit right now.
    Allowed {
        /// The quota per minute.
        quota: u32,
        /// Requests left before the next refill.
        remaining: u32,
    },
    /// Over the quota; try again after this long.
    Limited {
        /// The quota per minute.
        quota: u32,
        /// How long until one more request fits.
        retry_after: Duration,
    },
}

impl RateLimits {
    /// Limiters for these quotas.
    pub fn new(quotas: Quotas) -> Self {
        let limiter = |per_minute: NonZeroU32| {
            RateLimiter::keyed(Quota::per_minute(per_minute)).with_middleware::<StateInformationMiddleware>()
        };
        Self { quotas, admin: limiter(quotas.admin), user: limiter(quotas.user), monitor: limiter(quotas.monitor) }
    }

    /// Counts one request of `caller` against its role's quota.
    pub fn check(&self, caller: &Caller) -> Decision {
        let (limiter, quota) = match caller.role {
            Role::Admin => (&self.admin, self.quotas.admin),
            Role::User => (&self.user, self.quotas.user),
            Role::Monitor => (&self.monitor, self.quotas.monitor),
        };
        match limiter.check_key(&caller.key_id) {
            Ok(state) => Decision::Allowed { quota: quota.get(), remaining: state.remaining_burst_capacity() },
            Err(not_until) => Decision::Limited {
                quota: quota.get(),
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            },
        }
    }
}

/// Middleware, after authentication: 429 over the quota, RateLimit fields on every answer.
pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, ApiError> {
    let caller = request.extensions().get::<Caller>().cloned().ok_or(ApiError::MissingKey)?;
    match state.limits.check(&caller) {
        Decision::Allowed { quota, remaining } => {
            let mut response = next.run(request).await;
            set_fields(response.headers_mut(), quota, remaining, None);
            Ok(response)
        }
        Decision::Limited { quota, retry_after } => {
            // Whole seconds, rounded up: a client that waits this long is let in.
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            let mut response = ApiError::RateLimited { retry_after_secs: seconds.max(1) }.into_response();
            set_fields(response.headers_mut(), quota, 0, Some(seconds.max(1)));
            Ok(response)
        }
    }
}

fn set_fields(headers: &mut HeaderMap, quota: u32, remaining: u32, retry_after: Option<u64>) {
    let mut insert = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    insert("ratelimit-policy", format!("\"per-key\";q={quota};w=60"));
    insert("ratelimit", format!("\"per-key\";r={remaining}"));
    if let Some(seconds) = retry_after {
        insert("retry-after", seconds.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_gets_exactly_its_roles_quota() {
        let limits = RateLimits::new(Quotas { admin: nonzero(5), user: nonzero(3), monitor: nonzero(1) });
        let alice = Caller { key_id: 1, role: Role::User };
        let bob = Caller { key_id: 2, role: Role::User };
        for left in [2, 1, 0] {
            assert_eq!(limits.check(&alice), Decision::Allowed { quota: 3, remaining: left });
        }
        let Decision::Limited { quota: 3, retry_after } = limits.check(&alice) else {
            panic!("the fourth request in a minute must be limited");
        };
        // One request refills every 20 s.
        assert!(retry_after > Duration::from_secs(15) && retry_after <= Duration::from_secs(20), "{retry_after:?}");
        // Another key of the same role has its own quota.
        assert!(matches!(limits.check(&bob), Decision::Allowed { remaining: 2, .. }));
        let monitor = Caller { key_id: 3, role: Role::Monitor };
        assert!(matches!(limits.check(&monitor), Decision::Allowed { .. }));
        assert!(matches!(limits.check(&monitor), Decision::Limited { .. }));
    }
}
