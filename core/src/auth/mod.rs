//! API tokens, roles and the audit log.
//!
//! Tokens are random (256 bits), shown once, stored only as a SHA-256 hash, and carry a visible
//! prefix (`vb_<prefix>_<secret>`), a role, an expiry and a last-used time. The audit log is
//! append-only and chained with MACs under the installation's audit key: each record holds the
//! MAC of the previous one, and the head (last sequence number and MAC) is kept in `meta`, so an
//! edited, removed, forged or truncated record is detected by [`AuthService::verify_audit`],
//! even when the whole chain was recomputed without the key.

mod audit;
mod tokens;

pub use audit::{AuditRecord, AuditReport, append as append_audit, chain};

pub use tokens::{Caller, IssuedToken, Person, Role, TokenInfo, parse_duration};

use std::sync::Arc;

use crate::store::{Store, StoreError};

/// Errors of authentication and the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no token: send `Authorization: Bearer <token>`; an admin creates tokens with `verbund token create`"
    )]
    Missing,
    #[error(
        "the token is not valid (it is malformed, unknown or revoked); ask an admin for a new one"
    )]
    Invalid,
    #[error("the token expired at {0}; ask an admin for a new one (`verbund token create`)")]
    Expired(String),
    #[error("this needs the {needed} role; the token has the {has} role")]
    Forbidden {
        needed: &'static str,
        has: &'static str,
    },
    #[error("unknown role {0:?}; use admin, editor, reviewer or reader")]
    UnknownRole(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("no token with id {0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a stored auth record could not be read: {0}")]
    Corrupt(String),
}

/// Tokens and the audit log over a store.
#[derive(Clone)]
pub struct AuthService {
    store: Arc<dyn Store>,
    keys: Arc<crate::keys::Keys>,
    last_used: Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>>,
}

impl std::fmt::Debug for AuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthService")
    }
}

impl AuthService {
    pub fn new(store: Arc<dyn Store>, keys: Arc<crate::keys::Keys>) -> Self {
        Self {
            store,
            keys,
            last_used: Arc::default(),
        }
    }
}
