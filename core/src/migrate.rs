//! Moving an installation between engines: a whole store copied into an empty one (a sled data
//! dir into PostgreSQL when it outgrows one machine, or back), then compared record by record.
//!
//! Both engines keep the same keyspaces, keys and values (the change feed is the `Changes` tree
//! and its newest sequence number `Meta/seq` on both), so a copy is a snapshot of the source
//! written as plain puts: entries, every revision, indexes, history, tokens, the audit chain,
//! plugins and the change feed arrive as they were, with the same sequence numbers. Left out
//! are what the destination derives for itself: compiled plugin code (native code for the
//! machine that compiled it), the leases and presence rows of the source's nodes and a shared
//! store's record of its nodes' keys (made again from the key file).
//!
//! While the copy runs, the destination carries a marker that keeps servers from opening it;
//! the last commit removes it. A copy that stopped half-way is cleared and started over by the
//! next run.

use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError, StoreResult, Tree, WriteBatch, prefix_end};

/// The `Meta` key that marks a store into which a copy has not finished.
pub const MARKER: &[u8] = b"migration_incomplete";
/// The prefix of the lease rows in `Meta` (see [`crate::lease`]).
const LEASE_PREFIX: &[u8] = b"lease/";
/// A batch is committed when it holds this many bytes or records.
const BATCH_BYTES: usize = 4 << 20;
const BATCH_RECORDS: usize = 10_000;

/// Why a copy cannot run.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a copy or a comparison saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub records: u64,
    pub bytes: u64,
    /// The newest change sequence number.
    pub last_seq: u64,
    /// SHA-256 over every copied record (tree, key, value) in order.
    pub digest: String,
}

/// Whether a record is the destination's own business rather than the installation's data.
fn derived(tree: Tree, key: &[u8]) -> bool {
    match tree {
        Tree::Plugins => key.starts_with(crate::plugin::COMPILED_KEY_PREFIX),
        Tree::Meta => {
            key.starts_with(LEASE_PREFIX)
                || key.starts_with(crate::lease::PRESENCE_PREFIX)
                || key == MARKER
                || key == crate::keys::KEY_RECORD
        }
        _ => false,
    }
}

/// A node that still works on `store`: one whose presence row (renewed every second) or
/// lease has not expired.
pub fn running_node(store: &dyn Store) -> StoreResult<Option<String>> {
    if let Some(node) = crate::lease::present(store)?.into_iter().next() {
        return Ok(Some(node));
    }
    let now = chrono::Utc::now().timestamp_millis();
    let leases = store.scan_range(
        Tree::Meta,
        LEASE_PREFIX,
        &prefix_end(LEASE_PREFIX),
        false,
        100,
    )?;
    Ok(leases.into_iter().find_map(|(_, v)| {
        let h: serde_json::Value = serde_json::from_slice(&v).ok()?;
        (h["until"].as_i64()? > now).then(|| h["node"].as_str().unwrap_or("?").to_string())
    }))
}

/// Whether `store` holds an unfinished copy (see [`MARKER`]).
pub fn unfinished(store: &dyn Store) -> StoreResult<bool> {
    Ok(store.get(Tree::Meta, MARKER)?.is_some())
}

/// The first tree of `store` that holds the installation's data, if any (a store that a node
/// only opened holds bookkeeping in `Meta` and nothing else).
fn first_used_tree(store: &dyn Store) -> StoreResult<Option<Tree>> {
    for tree in Tree::ALL {
        if tree == Tree::Meta {
            continue;
        }
        if !store
            .scan_range_keys(tree, &[], &prefix_end(&[]), 1)?
            .is_empty()
        {
            return Ok(Some(tree));
        }
    }
    Ok((store.last_seq()? > 0).then_some(Tree::Changes))
}

/// Removes every record of `store` (an unfinished copy), in batches.
fn clear(store: &dyn Store) -> StoreResult<()> {
    for tree in Tree::ALL {
        loop {
            let keys = store.scan_range_keys(tree, &[], &prefix_end(&[]), BATCH_RECORDS)?;
            let keys: Vec<Vec<u8>> = keys
                .into_iter()
                .filter(|k| !(tree == Tree::Meta && (k == MARKER || k == b"format")))
                .collect();
            if keys.is_empty() {
                break;
            }
            let mut batch = WriteBatch::new();
            for k in keys {
                batch.remove(tree, k);
            }
            store.commit(batch)?;
        }
    }
    Ok(())
}

/// Counts and hashes the records a copy carries (the same way for a copy and a fingerprint).
#[derive(Default)]
struct Tally {
    hash: Sha256,
    records: u64,
    bytes: u64,
    last_seq: u64,
}

impl Tally {
    /// Takes a record in; false for one a copy leaves out.
    fn take(&mut self, tree: Tree, key: &[u8], value: &[u8]) -> bool {
        if derived(tree, key) {
            return false;
        }
        if tree == Tree::Meta && key == b"seq" {
            self.last_seq = crate::store::counter(Some(value));
        }
        self.hash.update(tree.name().as_bytes());
        self.hash.update((key.len() as u64).to_be_bytes());
        self.hash.update(key);
        self.hash.update((value.len() as u64).to_be_bytes());
        self.hash.update(value);
        self.records += 1;
        self.bytes += (key.len() + value.len()) as u64;
        true
    }

    fn finish(self) -> Copied {
        Copied {
            records: self.records,
            bytes: self.bytes,
            last_seq: self.last_seq,
            digest: hex::encode(self.hash.finalize()),
        }
    }
}

/// Copies every record of `from` into `to`, which must hold no data (or an unfinished copy,
/// which is cleared first). `progress` hears the number of records copied so far.
pub fn copy(
    from: &dyn Store,
    to: &dyn Store,
    progress: &mut dyn FnMut(u64),
) -> Result<Copied, MigrateError> {
    if unfinished(from)? {
        return Err(MigrateError::Refused(
            "the source holds an unfinished copy itself (a `verbund migrate` into it did not finish); copy from the store it was copied from".into(),
        ));
    }
    if !unfinished(to)?
        && let Some(tree) = first_used_tree(to)?
    {
        return Err(MigrateError::Refused(format!(
            "the destination already holds data (its {} are not empty); migrate into a new database, schema or data dir",
            tree.name()
        )));
    }
    // An unfinished copy, or the bookkeeping of a node that only opened the store (such as
    // its record of other keys), goes.
    clear(to)?;
    let mut marker = WriteBatch::new();
    marker.put(Tree::Meta, MARKER.to_vec(), b"1".to_vec());
    to.commit(marker)?;

    let mut tally = Tally::default();
    let mut batch = WriteBatch::new();
    let mut batch_bytes = 0usize;
    let mut failed: Option<StoreError> = None;
    from.snapshot(&mut |tree, key, value| {
        if !tally.take(tree, key, value) {
            return Ok(());
        }
        batch_bytes += key.len() + value.len();
        batch.put(tree, key.to_vec(), value.to_vec());
        if batch_bytes >= BATCH_BYTES || batch.writes.len() >= BATCH_RECORDS {
            batch_bytes = 0;
            if let Err(e) = to.commit(std::mem::take(&mut batch)) {
                failed = Some(e);
                return Err(std::io::Error::other("the destination refused a write"));
            }
            progress(tally.records);
        }
        Ok(())
    })
    .map_err(|e| failed.take().unwrap_or(e))?;
    // The last records and the end of the marker land together.
    batch.remove(Tree::Meta, MARKER.to_vec());
    to.commit(batch)?;
    progress(tally.records);
    Ok(tally.finish())
}

/// What [`copy`] would have copied from `store`, counted and hashed the same way: equal
/// results for source and destination mean equal contents.
pub fn fingerprint(store: &dyn Store) -> StoreResult<Copied> {
    let mut tally = Tally::default();
    store.snapshot(&mut |tree, key, value| {
        tally.take(tree, key, value);
        Ok(())
    })?;
    Ok(tally.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledStore;

    fn filled(dir: &std::path::Path) -> SledStore {
        let s = SledStore::open(dir).unwrap();
        for part in 0..25u32 {
            let mut b = WriteBatch::new();
            for i in part * 1000..(part + 1) * 1000 {
                b.put(
                    Tree::Entries,
                    format!("story\0{i:06}").into_bytes(),
                    vec![7; 40],
                );
                b.put(
                    Tree::Plugins,
                    format!("compiled\0{i}").into_bytes(),
                    b"native".to_vec(),
                );
            }
            b.change(format!("{{\"n\":{}}}", part * 1000).into_bytes());
            s.commit(b).unwrap();
        }
        let mut b = WriteBatch::new();
        b.put(Tree::Meta, b"lease/scheduler".to_vec(), b"{}".to_vec());
        s.commit(b).unwrap();
        s
    }

    #[test]
    fn a_copy_has_the_same_records_and_feed_without_derived_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let from = filled(&tmp.path().join("a"));
        let to = SledStore::open(tmp.path().join("b")).unwrap();
        let mut seen = Vec::new();
        let copied = copy(&from, &to, &mut |n| seen.push(n)).unwrap();
        assert_eq!(copied.last_seq, 25);
        assert!(seen.len() > 2, "progress is reported per batch: {seen:?}");
        assert_eq!(fingerprint(&to).unwrap(), copied);
        assert_eq!(fingerprint(&from).unwrap(), copied);
        assert_eq!(to.last_seq().unwrap(), 25);
        assert_eq!(
            to.changes_since(24, 10).unwrap()[0].payload,
            b"{\"n\":24000}".to_vec()
        );
        assert!(to.get(Tree::Plugins, b"compiled\x000").unwrap().is_none());
        assert!(to.get(Tree::Meta, b"lease/scheduler").unwrap().is_none());
        assert!(!unfinished(&to).unwrap());
        // A second copy into the now used store is refused, naming what is there.
        let again = copy(&from, &to, &mut |_| {}).unwrap_err().to_string();
        assert!(again.contains("already holds data"), "{again}");
    }

    #[test]
    fn an_unfinished_copy_is_cleared_and_done_again() {
        let tmp = tempfile::tempdir().unwrap();
        let from = filled(&tmp.path().join("a"));
        let to = SledStore::open(tmp.path().join("b")).unwrap();
        // What a copy that died half-way leaves: the marker and some records, one of which
        // the source no longer has.
        let mut b = WriteBatch::new();
        b.put(Tree::Meta, MARKER.to_vec(), b"1".to_vec());
        b.put(Tree::Entries, b"story\0gone".to_vec(), b"old".to_vec());
        b.put(Tree::Entries, b"story\x00000001".to_vec(), b"old".to_vec());
        to.commit(b).unwrap();
        assert!(unfinished(&to).unwrap());
        let copied = copy(&from, &to, &mut |_| {}).unwrap();
        assert_eq!(fingerprint(&to).unwrap(), copied);
        assert!(to.get(Tree::Entries, b"story\0gone").unwrap().is_none());
    }
}
