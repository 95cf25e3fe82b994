//! The request cache: an LRU of answers with a time to live and a size bound
//! ([`Lru`]), keyed by a SHA-256 of the request ([`request_key`]) whose code is normalised
//! first, so an edit that only touches whitespace or comments still hits.

mod key;
mod lru;

pub use key::{KeyScope, RequestKey, normalise, request_key};
pub use lru::{DEFAULT_CAPACITY, DEFAULT_MAX_BYTES, ENTRY_OVERHEAD_BYTES, Lru};
