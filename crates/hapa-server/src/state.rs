//! What every handler shares.

use crate::store::Store;

/// Shared by all handlers; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Keys and everything durable.
    pub store: Store,
}
