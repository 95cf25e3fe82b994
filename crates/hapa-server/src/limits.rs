//! Rate limits (GCRA, `governor`), two of them:
//!
//! - per key, by role: a key may make its role's quota of requests per minute, all at once if
//!   it likes, refilled evenly over the minute. A request over the quota gets 429 with
//!   `Retry-After` and the IETF draft `RateLimit-Policy` / `RateLimit` fields. Only
//!   authenticated keys are counted, so that limiter's memory is bounded by the keys that exist.
//!   With `--redis-url` the count is kept in Redis instead, by one Lua script that reads and
//!   updates it atomically ([`GCRA_SCRIPT`]), so instances that share the database share each
//!   key's quota exactly; while Redis is unreachable each instance counts on its own.
//! - per client address, on failed authentications ([`AuthFailures`]): once an address has
//!   used up its quota of failures, its requests get 429 before any key lookup until a failure
//!   fits again, so keys cannot be guessed quickly. Successes are not counted. Its memory is
//!   bounded by [`AuthFailures::prune`], which `serve` runs every minute.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
use crate::metrics::{Limit, RedisUse};
use crate::redis_link::RedisLink;
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

/// One limiter per role, keyed by key id; in Redis when it is configured and reachable.
#[derive(Debug)]
pub struct RateLimits {
    quotas: Quotas,
    admin: KeyLimiter,
    user: KeyLimiter,
    monitor: KeyLimiter,
    shared: Option<Arc<RedisLink>>,
    /// [`GCRA_SCRIPT`], hashed once: Redis runs it by its hash.
    script: redis::Script,
}

/// GCRA, the algorithm `governor` runs in process, as one atomic Redis script. The key holds
/// the theoretical arrival time (TAT) in microseconds of Redis' own clock, so instances whose
/// clocks differ still agree. ARGV: the refill interval in µs and the burst (the quota).
/// Returns `{1, requests left}` or `{0, µs until one more fits}`.
pub const GCRA_SCRIPT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then
  return {0, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((now - allow_at) / interval)}
";

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
        Self {
            quotas,
            admin: limiter(quotas.admin),
            user: limiter(quotas.user),
            monitor: limiter(quotas.monitor),
            shared: None,
            script: redis::Script::new(GCRA_SCRIPT),
        }
    }

    /// These limits kept in Redis through `link` while it is up (the in-process limiters
    /// stand in while it is not).
    pub fn shared_through(mut self, link: Arc<RedisLink>) -> Self {
        self.shared = Some(link);
        self
    }

    /// Counts one request of `caller` against its role's quota: in Redis when it is
    /// configured and answers, else in this process.
    pub async fn check(&self, caller: &Caller) -> Decision {
        if let Some(link) = &self.shared
            && let Some(decision) = self.check_shared(link, caller).await
        {
            return decision;
        }
        self.check_in_process(caller)
    }

    fn quota(&self, role: Role) -> NonZeroU32 {
        match role {
            Role::Admin => self.quotas.admin,
            Role::User => self.quotas.user,
            Role::Monitor => self.quotas.monitor,
        }
    }

    /// The decision of [`GCRA_SCRIPT`]; `None` when Redis did not answer.
    async fn check_shared(&self, link: &RedisLink, caller: &Caller) -> Option<Decision> {
        let quota = self.quota(caller.role);
        // governor's `Quota::per_minute`: one request back every minute / quota.
        let interval_micros = 60_000_000 / u64::from(quota.get());
        let key = link.key("rate", &caller.key_id.to_string());
        let script = &self.script;
        let (allowed, value): (i64, i64) = link
            .run(RedisUse::RateLimit, |mut connection| async move {
                script.key(key).arg(interval_micros).arg(quota.get()).invoke_async(&mut connection).await
            })
            .await?;
        let value = u64::try_from(value).unwrap_or_default();
        Some(if allowed == 1 {
            Decision::Allowed { quota: quota.get(), remaining: u32::try_from(value).unwrap_or(u32::MAX) }
        } else {
            Decision::Limited { quota: quota.get(), retry_after: Duration::from_micros(value) }
        })
    }

    /// Counts one request of `caller` against its role's quota in this process.
    fn check_in_process(&self, caller: &Caller) -> Decision {
        let limiter = match caller.role {
            Role::Admin => &self.admin,
            Role::User => &self.user,
            Role::Monitor => &self.monitor,
        };
        let quota = self.quota(caller.role);
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
pub async fn enforce(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Result<Response, ApiError> {
    let caller = request.extensions().get::<Caller>().cloned().ok_or(ApiError::MissingKey)?;
    match state.limits.check(&caller).await {
        Decision::Allowed { quota, remaining } => {
            let mut response = next.run(request).await;
            set_fields(response.headers_mut(), quota, remaining, None);
            Ok(response)
        }
        Decision::Limited { quota, retry_after } => {
            state.metrics.rate_limited(Limit::PerKey);
            let seconds = whole_seconds(retry_after);
            let mut response = ApiError::RateLimited { retry_after_secs: seconds }.into_response();
            set_fields(response.headers_mut(), quota, 0, Some(seconds));
            Ok(response)
        }
    }
}

/// A `Retry-After` in whole seconds, rounded up and at least 1: a client that waits this long
/// is let in.
pub fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
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

/// Failed authentications allowed per client address and minute, by default: plenty for a
/// person fixing a mistyped key, far too few to guess one.
pub const AUTH_FAILURES_PER_MINUTE: NonZeroU32 = NonZeroU32::new(20).unwrap();

type AddressLimiter = RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock, StateInformationMiddleware>;

/// Failed authentications per client address (IPv6 addresses by /64, the block one host
/// usually has).
#[derive(Debug)]
pub struct AuthFailures {
    per_minute: NonZeroU32,
    failures: AddressLimiter,
    /// Addresses whose quota is used up, and until when.
    refused: Mutex<HashMap<IpAddr, Instant>>,
}

impl AuthFailures {
    /// Allows `per_minute` failures per address and minute.
    pub fn new(per_minute: NonZeroU32) -> Self {
        let failures =
            RateLimiter::keyed(Quota::per_minute(per_minute)).with_middleware::<StateInformationMiddleware>();
        Self { per_minute, failures, refused: Mutex::new(HashMap::new()) }
    }

    /// The quota per minute.
    pub fn per_minute(&self) -> NonZeroU32 {
        self.per_minute
    }

    /// How long `address` must still wait, if its quota is used up.
    pub fn refused_for(&self, address: IpAddr) -> Option<Duration> {
        let refused = self.refused.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        refused.get(&limited_block(address)).and_then(|until| until.checked_duration_since(Instant::now()))
    }

    /// Counts one failed authentication from `address`; the one that uses up the quota starts
    /// the refusal, so the next request is refused whether its key is right or not.
    pub fn record(&self, address: IpAddr) {
        let block = limited_block(address);
        let wait = match self.failures.check_key(&block) {
            Ok(state) if state.remaining_burst_capacity() > 0 => return,
            // The quota is used up: one more failure fits after a refill interval at most.
            Ok(state) => state.quota().replenish_interval(),
            // Failures that raced past `refused_for` together.
            Err(not_until) => not_until.wait_time_from(DefaultClock::default().now()),
        };
        let mut refused = self.refused.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        refused.insert(block, Instant::now() + wait);
    }

    /// Forgets addresses whose failures are all refilled and whose refusal is over.
    pub fn prune(&self) {
        self.failures.retain_recent();
        self.failures.shrink_to_fit();
        let now = Instant::now();
        let mut refused = self.refused.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        refused.retain(|_, until| *until > now);
        refused.shrink_to_fit();
    }
}

/// The address block one client is counted as: an IPv4 address, or an IPv6 /64.
fn limited_block(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        },
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
            assert_eq!(limits.check_in_process(&alice), Decision::Allowed { quota: 3, remaining: left });
        }
        let Decision::Limited { quota: 3, retry_after } = limits.check_in_process(&alice) else {
            panic!("the fourth request in a minute must be limited");
        };
        // One request refills every 20 s.
        assert!(retry_after > Duration::from_secs(15) && retry_after <= Duration::from_secs(20), "{retry_after:?}");
        // Another key of the same role has its own quota.
        assert!(matches!(limits.check_in_process(&bob), Decision::Allowed { remaining: 2, .. }));
        let monitor = Caller { key_id: 3, role: Role::Monitor };
        assert!(matches!(limits.check_in_process(&monitor), Decision::Allowed { .. }));
        assert!(matches!(limits.check_in_process(&monitor), Decision::Limited { .. }));
    }

    #[test]
    fn an_address_is_refused_once_its_failures_are_used_up_and_only_that_address() {
        let failures = AuthFailures::new(nonzero(3));
        let client: IpAddr = "2001:db8::1".parse().unwrap();
        let same_host: IpAddr = "2001:db8::2".parse().unwrap();
        let other: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..2 {
            failures.record(client);
            assert_eq!(failures.refused_for(client), None);
        }
        failures.record(same_host);
        let wait = failures.refused_for(client).expect("the third failure in a minute uses up the quota");
        // One failure refills every 20 s.
        assert!(wait > Duration::from_secs(15) && wait <= Duration::from_secs(20), "{wait:?}");
        assert!(failures.refused_for(same_host).is_some(), "a /64 is one client");
        assert_eq!(failures.refused_for(other), None);
        assert_eq!(failures.refused_for("::ffff:192.0.2.7".parse().unwrap()), None);
        failures.prune();
        assert!(failures.refused_for(client).is_some(), "pruning keeps refusals that still run");
    }
}
