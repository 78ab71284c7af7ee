//! A write plan: reads that are re-checked at commit, and the writes of one batch.
//!
//! Reading through a [`Plan`] records what was seen; the commit fails with a check error if
//! any of it changed meanwhile, and the caller plans again. Writes made earlier in the same
//! plan are visible to later reads, so one plan can hold many entries (an import chunk) that
//! refer to each other.

use std::collections::HashMap;

use crate::store::{Expect, Store, StoreResult, Tree, WriteBatch};

pub(super) struct Plan<'a> {
    store: &'a dyn Store,
    pub batch: WriteBatch,
    /// The audit record of this write, chained in at commit (management writes only).
    pub audit: Option<crate::auth::AuditRecord>,
    overlay: HashMap<(Tree, Vec<u8>), Seen>,
    /// Counter increments not yet read by this plan (see `add_counter`).
    pending: HashMap<(Tree, Vec<u8>), i64>,
}

/// What the plan knows about a key: a value read from the store, or the index of the write
/// in `batch.writes` that last set it (so large values are not copied twice).
enum Seen {
    Read(Option<Vec<u8>>),
    Written(usize),
}

impl<'a> Plan<'a> {
    pub fn new(store: &'a dyn Store) -> Self {
        Self {
            store,
            batch: WriteBatch::new(),
            audit: None,
            overlay: HashMap::new(),
            pending: HashMap::new(),
        }
    }

    /// Reads a key as this plan sees it; the first read from the store becomes a check.
    pub fn read(&mut self, tree: Tree, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        if let Some(delta) = self.pending.remove(&(tree, key.to_vec())) {
            // From now on this counter is read: its increments become a checked write.
            let v = self.read(tree, key)?;
            let next = crate::store::add_to_counter(v.as_deref(), delta);
            self.write(tree, key.to_vec(), next.clone());
            return Ok(next);
        }
        match self.overlay.get(&(tree, key.to_vec())) {
            Some(Seen::Read(v)) => return Ok(v.clone()),
            Some(Seen::Written(i)) => return Ok(self.batch.writes[*i].2.clone()),
            None => {}
        }
        let v = self.store.get(tree, key)?;
        let expect = match &v {
            Some(bytes) => Expect::Equals(bytes.clone()),
            None => Expect::Absent,
        };
        self.batch.check(tree, key.to_vec(), expect);
        self.overlay
            .insert((tree, key.to_vec()), Seen::Read(v.clone()));
        Ok(v)
    }

    pub fn put(&mut self, tree: Tree, key: Vec<u8>, value: Vec<u8>) {
        self.write(tree, key, Some(value));
    }

    pub fn remove(&mut self, tree: Tree, key: Vec<u8>) {
        self.write(tree, key, None);
    }

    /// A key written twice in one plan (counters in an import chunk) is written once: the
    /// later value replaces the earlier write.
    fn write(&mut self, tree: Tree, key: Vec<u8>, value: Option<Vec<u8>>) {
        let slot = (tree, key);
        if let Some(Seen::Written(i)) = self.overlay.get(&slot) {
            self.batch.writes[*i].2 = value;
            return;
        }
        let index = self.batch.writes.len();
        self.batch.writes.push((tree, slot.1.clone(), value));
        self.overlay.insert(slot, Seen::Written(index));
    }

    /// Adds `delta` to a u64 counter key. A counter this plan has not read is incremented at
    /// commit without a check (see [`WriteBatch::add`]), so concurrent writers that only
    /// count do not conflict; one it read (a check depends on it) is read, checked and
    /// written like any other key.
    pub fn add_counter(&mut self, tree: Tree, key: &[u8], delta: i64) -> StoreResult<()> {
        if self.overlay.contains_key(&(tree, key.to_vec())) {
            let next = crate::store::add_to_counter(self.read(tree, key)?.as_deref(), delta);
            self.write(tree, key.to_vec(), next);
        } else {
            *self.pending.entry((tree, key.to_vec())).or_default() += delta;
        }
        Ok(())
    }

    /// The batch to commit: the writes, with the pending increments summed per key.
    pub fn into_batch(mut self) -> WriteBatch {
        for ((tree, key), delta) in std::mem::take(&mut self.pending) {
            if delta != 0 {
                self.batch.add(tree, key, delta);
            }
        }
        self.batch
    }

    pub fn change(&mut self, payload: Vec<u8>) {
        self.batch.change(payload);
    }
}

/// Reads a u64 counter stored big-endian.
pub(super) fn counter_value(v: Option<Vec<u8>>) -> u64 {
    crate::store::counter(v.as_deref())
}
