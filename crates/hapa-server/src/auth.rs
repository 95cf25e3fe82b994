//! Who may do what: roles, their permissions, and the middleware that turns the request's
//! key (`X-API-Key: hapa_…` or `Authorization: Bearer hapa_…`) into a [`Caller`] or a
//! 401/403. Every route but `/health` goes through it: deny by default. Failed
//! authentications are counted per client address ([`crate::limits::AuthFailures`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::metrics::Limit;
use crate::state::AppState;
use crate::{api_key, limits};

/// Something a route needs the caller to be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// `POST /api/v1/code/generate`.
    CodeGeneration,
    /// `POST /api/v1/code/complete`.
    CodeCompletion,
    /// `POST /api/v1/code/validate`.
    Validation,
    /// `POST /api/v1/feedback`.
    Feedback,
    /// `GET /stats`, `GET /metrics`.
    Stats,
    /// Key management.
    Admin,
}

/// A key's role: a fixed set of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// What the extension needs: generation, completion, validation, feedback.
    User,
    /// Read-only operations: validation, stats and metrics.
    Monitor,
}

impl Role {
    /// Whether this role carries `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::User => matches!(permission, CodeGeneration | CodeCompletion | Validation | Feedback),
            Role::Monitor => matches!(permission, Validation | Stats),
        }
    }

    /// The role's name as stored and typed.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
            Role::Monitor => "monitor",
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            "monitor" => Ok(Role::Monitor),
            other => Err(format!("unknown role {other:?}; roles are admin, user, monitor")),
        }
    }
}

/// The authenticated caller, put into the request's extensions by [`authenticate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The key's id in the store (the owner of cache entries and feedback).
    pub key_id: i64,
    /// What the key may do.
    pub role: Role,
}

/// The key a request presents, from `X-API-Key` or `Authorization: Bearer`.
fn presented_key(headers: &HeaderMap) -> Result<&str, ApiError> {
    let from_header = headers.get("x-api-key").map(|v| v.to_str().unwrap_or(""));
    // The scheme is case-insensitive (RFC 9110); anything but Bearer presents no usable key.
    let from_bearer =
        headers.get(axum::http::header::AUTHORIZATION).map(|v| match v.to_str().unwrap_or("").split_once(' ') {
            Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key,
            _ => "",
        });
    match (from_header, from_bearer) {
        (None, None) => Err(ApiError::MissingKey),
        (Some(a), Some(b)) if a != b => Err(ApiError::InvalidKey),
        (Some(key), _) | (None, Some(key)) => Ok(key),
    }
}

/// Middleware: authenticates the request's key or answers 401; an address that failed too
/// often is answered 429 before its key is even looked at.
pub async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    // Only `serve` knows the peer; a router driven some other way counts as one client.
    let address =
        request.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    if let Some(wait) = state.auth_failures.refused_for(address) {
        state.metrics.rate_limited(Limit::AuthFailures);
        return Err(ApiError::TooManyAuthFailures { retry_after_secs: limits::whole_seconds(wait) });
    }
    match caller(&state, request.headers()).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            Ok(next.run(request).await)
        }
        Err(error @ (ApiError::MissingKey | ApiError::InvalidKey)) => {
            state.metrics.auth_failure();
            state.auth_failures.record(address);
            Err(error)
        }
        Err(error) => Err(error),
    }
}

/// The caller whose key the request presents.
async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let key = presented_key(headers)?;
    // A malformed key is rejected here, before the store is asked.
    api_key::check(key).map_err(|_| ApiError::InvalidKey)?;
    // Active keys come from memory until a revocation (`crate::key_cache`).
    state.keys.caller(&state.store, &api_key::digest(key)).await?.ok_or(ApiError::InvalidKey)
}

/// Route middleware (its state is the route's permission): 403 unless the authenticated
/// caller's role has it.
pub async fn require(State(permission): State<Permission>, request: Request, next: Next) -> Result<Response, ApiError> {
    let caller = request.extensions().get::<Caller>().ok_or(ApiError::MissingKey)?;
    if !caller.role.allows(permission) {
        return Err(ApiError::Forbidden { role: caller.role.as_str() });
    }
    Ok(next.run(request).await)
}
