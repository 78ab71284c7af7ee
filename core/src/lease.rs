//! Leases for singleton work across the nodes of one store (the scheduler; later the webhook
//! and mail senders): a row in `Meta` naming the holder and an expiry, taken and renewed with a
//! checked commit. No advisory locks and no LISTEN/NOTIFY, so it works on sled (where the one
//! process always holds it) and on every PostgreSQL-compatible engine. A node that dies stops
//! renewing, and another takes the lease over once it expires.
//!
//! A lease makes singleton work *efficient*, not *correct*: a holder that stalls past its expiry
//! may overlap with the next holder for a moment, so the work itself must commit with checks
//! (a scheduled transition removes its schedule key in the commit that takes it).

use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::store::{Expect, Store, StoreError, StoreResult, Tree, WriteBatch};

#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    node: String,
    /// Milliseconds since the Unix epoch.
    until: i64,
}

/// One node's view of a named lease.
#[derive(Debug)]
pub struct Lease {
    key: Vec<u8>,
    node: String,
    ttl: Duration,
    /// Until when this node holds it (ms since the epoch), as far as it knows.
    held_until: i64,
}

impl Lease {
    /// The lease `name` as seen by the node `node` (any id unique per process).
    pub fn new(name: &str, node: &str, ttl: Duration) -> Self {
        Self {
            key: format!("lease/{name}").into_bytes(),
            node: node.to_string(),
            ttl,
            held_until: 0,
        }
    }

    /// Whether this node holds the lease now: renews it when half of it has run out, takes it
    /// when it is free or expired, and otherwise leaves it to its holder.
    pub fn hold(&mut self, store: &dyn Store) -> StoreResult<bool> {
        let now = Utc::now().timestamp_millis();
        let ttl = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        if self.held_until - now > ttl / 2 {
            return Ok(true);
        }
        let stored = store.get(Tree::Meta, &self.key)?;
        let current: Option<Holder> = stored
            .as_deref()
            .and_then(|v| serde_json::from_slice(v).ok());
        if let Some(h) = &current
            && h.node != self.node
            && h.until > now
        {
            self.held_until = 0;
            return Ok(false);
        }
        let mine = Holder {
            node: self.node.clone(),
            until: now + ttl,
        };
        let mut batch = WriteBatch::new();
        let expect = match stored {
            Some(v) => Expect::Equals(v),
            None => Expect::Absent,
        };
        batch.check(Tree::Meta, self.key.clone(), expect);
        batch.put(
            Tree::Meta,
            self.key.clone(),
            serde_json::to_vec(&mine).unwrap_or_default(),
        );
        match store.commit(batch) {
            Ok(_) => {
                self.held_until = mine.until;
                Ok(true)
            }
            // Another node took or renewed it at the same moment.
            Err(StoreError::CheckFailed { .. }) => {
                self.held_until = 0;
                Ok(false)
            }
            Err(e) => {
                self.held_until = 0;
                Err(e)
            }
        }
    }

    /// Gives the lease up (a clean shutdown), so that another node takes over at once.
    pub fn release(&mut self, store: &dyn Store) {
        if self.held_until == 0 {
            return;
        }
        self.held_until = 0;
        if let Ok(Some(v)) = store.get(Tree::Meta, &self.key)
            && serde_json::from_slice::<Holder>(&v).is_ok_and(|h| h.node == self.node)
        {
            let mut batch = WriteBatch::new();
            batch.check(Tree::Meta, self.key.clone(), Expect::Equals(v));
            batch.remove(Tree::Meta, self.key.clone());
            let _ = store.commit(batch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_node_holds_a_lease_until_it_expires_or_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::SledStore::open(dir.path()).unwrap();
        let ttl = Duration::from_millis(300);
        let mut a = Lease::new("scheduler", "a", ttl);
        let mut b = Lease::new("scheduler", "b", ttl);
        assert!(a.hold(&store).unwrap());
        assert!(!b.hold(&store).unwrap(), "b waits while a holds it");
        assert!(a.hold(&store).unwrap(), "a keeps it");
        std::thread::sleep(Duration::from_millis(350));
        assert!(b.hold(&store).unwrap(), "a stopped renewing: b takes over");
        assert!(!a.hold(&store).unwrap(), "and a knows it lost it");
        b.release(&store);
        assert!(a.hold(&store).unwrap(), "released: a takes it at once");
    }
}
