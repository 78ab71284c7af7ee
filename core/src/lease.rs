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

/// The `Meta` key prefix of the nodes' presence rows.
pub const PRESENCE_PREFIX: &[u8] = b"node/";

/// A node's presence on a shared store: a row it renews while it runs, so that every node
/// knows how many nodes there are (the management rate limit is shared out among them) and
/// `verbund migrate` knows that one still runs. A node that dies stops renewing; its row
/// counts until it expires.
#[derive(Debug)]
pub struct Presence {
    key: Vec<u8>,
    ttl: Duration,
    /// Whether the node left; held while the row is written, so that a renewal in flight
    /// cannot bring the row back after [`Presence::leave`].
    left: std::sync::Mutex<bool>,
}

impl Presence {
    pub fn new(node: &str, ttl: Duration) -> Self {
        let mut key = PRESENCE_PREFIX.to_vec();
        key.extend_from_slice(node.as_bytes());
        Self {
            key,
            ttl,
            left: std::sync::Mutex::new(false),
        }
    }

    /// Renews this node's row and returns how many nodes are present (this one included).
    pub fn renew(&self, store: &dyn Store) -> StoreResult<usize> {
        let left = self.left.lock().unwrap_or_else(|p| p.into_inner());
        if *left {
            return Ok(present(store)?.len().max(1));
        }
        let now = Utc::now().timestamp_millis();
        let ttl = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        let mut batch = WriteBatch::new();
        batch.put(
            Tree::Meta,
            self.key.clone(),
            serde_json::json!({ "until": now + ttl })
                .to_string()
                .into_bytes(),
        );
        store.commit(batch)?;
        drop(left);
        Ok(present(store)?.len().max(1))
    }

    /// Removes this node's row (a clean shutdown).
    pub fn leave(&self, store: &dyn Store) {
        let mut left = self.left.lock().unwrap_or_else(|p| p.into_inner());
        *left = true;
        let mut batch = WriteBatch::new();
        batch.remove(Tree::Meta, self.key.clone());
        let _ = store.commit(batch);
    }
}

/// The nodes whose presence row has not expired.
pub fn present(store: &dyn Store) -> StoreResult<Vec<String>> {
    let now = Utc::now().timestamp_millis();
    let rows = store.scan_range(
        Tree::Meta,
        PRESENCE_PREFIX,
        &crate::store::prefix_end(PRESENCE_PREFIX),
        false,
        10_000,
    )?;
    Ok(rows
        .into_iter()
        .filter(|(_, v)| {
            serde_json::from_slice::<serde_json::Value>(v)
                .ok()
                .and_then(|h| h["until"].as_i64())
                .is_some_and(|until| until > now)
        })
        .map(|(k, _)| String::from_utf8_lossy(&k[PRESENCE_PREFIX.len()..]).into_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_count_while_they_renew_and_not_after_they_leave_or_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::SledStore::open(dir.path()).unwrap();
        let a = Presence::new("a", Duration::from_millis(300));
        let b = Presence::new("b", Duration::from_secs(60));
        assert_eq!(a.renew(&store).unwrap(), 1);
        assert_eq!(b.renew(&store).unwrap(), 2);
        b.leave(&store);
        assert_eq!(present(&store).unwrap(), vec!["a".to_string()]);
        std::thread::sleep(Duration::from_millis(350));
        assert!(present(&store).unwrap().is_empty(), "a stopped renewing");
        assert_eq!(b.renew(&store).unwrap(), 1);
    }

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
