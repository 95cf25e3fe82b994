//! What every handler shares.

use std::sync::Arc;

use crate::limits::RateLimits;
use crate::store::Store;

/// Shared by all handlers; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Keys and everything durable.
    pub store: Store,
    /// Per-key rate limits.
    pub limits: Arc<RateLimits>,
}
