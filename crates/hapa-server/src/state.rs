//! What every handler shares.

use std::sync::Arc;

use crate::cache::ResponseCache;
use crate::inference::Inference;
use crate::key_cache::KeyCache;
use crate::limits::{AuthFailures, RateLimits};
use crate::metrics::Metrics;
use crate::store::Store;

/// Shared by all handlers; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Keys and everything durable.
    pub store: Store,
    /// Active keys' lookups, kept in memory until a revocation.
    pub keys: Arc<KeyCache>,
    /// Per-key rate limits (in Redis when it is configured and reachable).
    pub limits: Arc<RateLimits>,
    /// Failed authentications per client address.
    pub auth_failures: Arc<AuthFailures>,
    /// What `/stats` and `/metrics` report.
    pub metrics: Arc<Metrics>,
    /// The model that generates and completes.
    pub inference: Arc<Inference>,
    /// Answers of generate and complete, per API key.
    pub cache: Arc<ResponseCache>,
}
