//! The sled implementation of [`Store`]: the only code in Verbund that names sled.
//!
//! Every commit is one sled transaction over all trees. Durability comes from an explicit
//! flush after the transaction; a small group-commit gate lets concurrent committers share one
//! flush instead of queueing one each.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{
    Change, Committed, Expect, FORMAT_VERSION, KvPair, Store, StoreError, StoreResult, Tree,
    WriteBatch,
};

/// The file that marks a Verbund data dir and records its format version.
const FORMAT_FILE: &str = "VERBUND_FORMAT";
const SEQ_KEY: &[u8] = b"seq";
const FORMAT_KEY: &[u8] = b"format";

/// A data dir on sled.
pub struct SledStore {
    path: PathBuf,
    db: sled::Db,
    trees: Vec<sled::Tree>,
    durability: GroupCommit,
    /// Commits hold it shared; a snapshot holds it exclusively, so that it sees no half of a
    /// concurrent commit.
    snapshot_gate: RwLock<()>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.path)
            .finish()
    }
}

/// Shares flushes between concurrent committers.
///
/// `committed` counts transactions that have committed in memory; `flushed` is the highest
/// count known to be on disk. A committer whose number is already covered returns at once;
/// otherwise it takes the gate, re-checks (a flush may have covered it meanwhile) and flushes
/// everything committed so far.
#[derive(Default)]
struct GroupCommit {
    gate: Mutex<()>,
    committed: AtomicU64,
    flushed: AtomicU64,
}

impl SledStore {
    /// Opens (or creates) a data dir. Refuses a dir written in another format, or a non-empty
    /// dir that is not a Verbund data dir, with a message that says what to do.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        check_format_marker(&path)?;
        let db = open_db(&path)?;
        let trees = Tree::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<Result<Vec<_>, _>>()?;
        let store = SledStore {
            path,
            db,
            trees,
            durability: GroupCommit::default(),
            snapshot_gate: RwLock::new(()),
        };
        store.check_format_record()?;
        Ok(store)
    }

    /// The data dir this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn tree(&self, tree: Tree) -> &sled::Tree {
        &self.trees[tree.position()]
    }

    fn check_format_record(&self) -> StoreResult<()> {
        let meta = self.tree(Tree::Meta);
        match meta.get(FORMAT_KEY)? {
            Some(v) if v.as_ref() == FORMAT_VERSION.to_string().as_bytes() => Ok(()),
            Some(v) => Err(StoreError::UnsupportedFormat {
                location: self.path.display().to_string(),
                found: String::from_utf8_lossy(&v).into_owned(),
                supported: FORMAT_VERSION,
            }),
            None => {
                meta.insert(FORMAT_KEY, FORMAT_VERSION.to_string().as_bytes())?;
                self.db.flush()?;
                Ok(())
            }
        }
    }

    /// Waits until every transaction committed before this call is on disk.
    fn make_durable(&self, my_number: u64) -> StoreResult<()> {
        let gc = &self.durability;
        if gc.flushed.load(Ordering::Acquire) >= my_number {
            return Ok(());
        }
        let _gate = gc.gate.lock().unwrap_or_else(|p| p.into_inner());
        if gc.flushed.load(Ordering::Acquire) >= my_number {
            return Ok(());
        }
        let target = gc.committed.load(Ordering::Acquire);
        self.db.flush()?;
        gc.flushed.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }
}

/// Opens sled on `path`. A lock held by this same process (a store dropped a moment ago whose
/// background work is still finishing) is waited for briefly; a lock held by another process
/// becomes [`StoreError::Locked`].
fn open_db(path: &Path) -> StoreResult<sled::Db> {
    let started = std::time::Instant::now();
    loop {
        let result = sled::Config::new()
            .path(path)
            .cache_capacity(256 << 20)
            .mode(sled::Mode::LowSpace)
            // Durability comes from the explicit flush of every commit.
            .flush_every_ms(None)
            .open();
        match result {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.to_string().contains("could not acquire lock") =>
            {
                if started.elapsed() > std::time::Duration::from_secs(3) {
                    return Err(StoreError::Locked {
                        path: path.to_path_buf(),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(source) => {
                return Err(StoreError::Open {
                    location: path.display().to_string(),
                    detail: source.to_string(),
                });
            }
        }
    }
}

/// Checks (or writes) the marker file before sled touches the dir.
fn check_format_marker(path: &Path) -> StoreResult<()> {
    let marker = path.join(FORMAT_FILE);
    let unsupported = |found: String| StoreError::UnsupportedFormat {
        location: path.display().to_string(),
        found,
        supported: FORMAT_VERSION,
    };
    match fs::read_to_string(&marker) {
        Ok(text) => {
            let found = text
                .trim()
                .strip_prefix("verbund-data-format ")
                .unwrap_or(text.trim())
                .to_string();
            if found == FORMAT_VERSION.to_string() {
                Ok(())
            } else {
                Err(unsupported(found))
            }
        }
        Err(_) => {
            let non_empty = fs::read_dir(path)
                .map(|mut d| d.next().is_some())
                .unwrap_or(false);
            if non_empty {
                return Err(unsupported(
                    "unknown (the dir is not empty and has no VERBUND_FORMAT file, so it is not a Verbund data dir)"
                        .into(),
                ));
            }
            let failed = |e: std::io::Error| StoreError::Open {
                location: path.display().to_string(),
                detail: e.to_string(),
            };
            fs::create_dir_all(path).map_err(failed)?;
            fs::write(&marker, format!("verbund-data-format {FORMAT_VERSION}\n")).map_err(failed)
        }
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Engine(e.to_string())
    }
}

fn collect(
    iter: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
    limit: usize,
) -> StoreResult<Vec<KvPair>> {
    let mut out = Vec::new();
    for item in iter.take(limit) {
        let (k, v) = item?;
        out.push((k.to_vec(), v.to_vec()));
    }
    Ok(out)
}

fn read_seq(v: Option<sled::IVec>) -> u64 {
    super::counter(v.as_deref())
}

impl Store for SledStore {
    fn get(&self, tree: Tree, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.tree(tree).get(key)?.map(|v| v.to_vec()))
    }

    fn scan_prefix(
        &self,
        tree: Tree,
        prefix: &[u8],
        reverse: bool,
        limit: usize,
    ) -> StoreResult<Vec<KvPair>> {
        let iter = self.tree(tree).scan_prefix(prefix);
        if reverse {
            collect(iter.rev(), limit)
        } else {
            collect(iter, limit)
        }
    }

    fn scan_range(
        &self,
        tree: Tree,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        limit: usize,
    ) -> StoreResult<Vec<KvPair>> {
        if start >= end {
            return Ok(Vec::new());
        }
        let iter = self.tree(tree).range(start..end);
        if reverse {
            collect(iter.rev(), limit)
        } else {
            collect(iter, limit)
        }
    }

    fn visit_range(
        &self,
        tree: Tree,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> StoreResult<()> {
        if start >= end {
            return Ok(());
        }
        let iter = self.tree(tree).range(start..end);
        let mut each = |item: sled::Result<(sled::IVec, sled::IVec)>| -> StoreResult<bool> {
            let (k, v) = item?;
            Ok(visit(&k, &v))
        };
        if reverse {
            for item in iter.rev() {
                if !each(item)? {
                    break;
                }
            }
        } else {
            for item in iter {
                if !each(item)? {
                    break;
                }
            }
        }
        Ok(())
    }

    fn scan_range_keys(
        &self,
        tree: Tree,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> StoreResult<Vec<Vec<u8>>> {
        if start >= end {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for k in self.tree(tree).range(start..end).keys().take(limit) {
            out.push(k?.to_vec());
        }
        Ok(out)
    }

    fn commit(&self, batch: WriteBatch) -> StoreResult<Committed> {
        if batch.is_empty() && batch.checks.is_empty() {
            return Ok(Committed {
                first_seq: None,
                last_seq: self.last_seq()?,
            });
        }
        let views: Vec<&sled::Tree> = self.trees.iter().collect();
        let gate = self.snapshot_gate.read().unwrap_or_else(|p| p.into_inner());
        let result = views.as_slice().transaction(|tx| {
            for check in &batch.checks {
                let current = tx[check.tree.position()].get(&check.key)?;
                let holds = match (&check.expect, &current) {
                    (Expect::Absent, None) | (Expect::Present, Some(_)) => true,
                    (Expect::Equals(want), Some(have)) => want.as_slice() == have.as_ref(),
                    _ => false,
                };
                if !holds {
                    return Err(ConflictableTransactionError::Abort(
                        StoreError::CheckFailed {
                            tree: check.tree,
                            key: String::from_utf8_lossy(&check.key).replace('\0', "/"),
                        },
                    ));
                }
            }
            for (tree, key, value) in &batch.writes {
                let view = &tx[tree.position()];
                match value {
                    Some(v) => view.insert(key.as_slice(), v.as_slice())?,
                    None => view.remove(key.as_slice())?,
                };
            }
            for (tree, key, delta) in &batch.adds {
                let view = &tx[tree.position()];
                let current = view.get(key.as_slice())?;
                match super::add_to_counter(current.as_deref(), *delta) {
                    Some(v) => view.insert(key.as_slice(), v)?,
                    None => view.remove(key.as_slice())?,
                };
            }
            for d in &batch.derived {
                let current = tx[d.tree.position()].get(d.key.as_slice())?;
                for (tree, key, value) in (d.make)(current.as_deref()) {
                    tx[tree.position()].insert(key, value)?;
                }
            }
            let meta = &tx[Tree::Meta.position()];
            let mut seq = read_seq(meta.get(SEQ_KEY)?);
            let first_seq = (!batch.changes.is_empty()).then_some(seq + 1);
            if !batch.changes.is_empty() {
                let changes = &tx[Tree::Changes.position()];
                for payload in &batch.changes {
                    seq += 1;
                    changes.insert(&seq.to_be_bytes(), payload.as_slice())?;
                }
                meta.insert(SEQ_KEY, &seq.to_be_bytes())?;
            }
            Ok(Committed {
                first_seq,
                last_seq: seq,
            })
        });
        let committed = match result {
            Ok(c) => c,
            Err(TransactionError::Abort(e)) => return Err(e),
            Err(TransactionError::Storage(e)) => return Err(e.into()),
        };
        let my_number = self.durability.committed.fetch_add(1, Ordering::AcqRel) + 1;
        drop(gate);
        self.make_durable(my_number)?;
        Ok(committed)
    }

    fn snapshot(&self, visit: &mut super::SnapshotVisitor<'_>) -> StoreResult<u64> {
        let _gate = self
            .snapshot_gate
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let mut n = 0;
        for tree in Tree::ALL {
            for item in self.tree(tree).iter() {
                let (k, v) = item?;
                visit(tree, &k, &v)?;
                n += 1;
            }
        }
        Ok(n)
    }

    fn changes_since(&self, since: u64, limit: usize) -> StoreResult<Vec<Change>> {
        let start = since.saturating_add(1).to_be_bytes();
        let mut out = Vec::new();
        for item in self.tree(Tree::Changes).range(start..).take(limit) {
            let (k, v) = item?;
            let seq = <[u8; 8]>::try_from(k.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    tree: Tree::Changes,
                    detail: format!("key of {} bytes, expected 8", k.len()),
                })?;
            out.push(Change {
                seq,
                payload: v.to_vec(),
            });
        }
        Ok(out)
    }

    fn last_seq(&self) -> StoreResult<u64> {
        Ok(read_seq(self.tree(Tree::Meta).get(SEQ_KEY)?))
    }

    fn size_on_disk(&self) -> StoreResult<u64> {
        Ok(self.db.size_on_disk()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_feed_is_gap_free_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path()).unwrap();
            for i in 0..5u8 {
                let mut b = WriteBatch::new();
                b.change(vec![i]);
                b.change(vec![i + 100]);
                store.commit(b).unwrap();
            }
        }
        let store = SledStore::open(dir.path()).unwrap();
        let seqs: Vec<u64> = store
            .changes_since(0, 100)
            .unwrap()
            .iter()
            .map(|c| c.seq)
            .collect();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
        assert_eq!(store.changes_since(7, 2).unwrap()[0].payload, vec![103]);
    }

    #[test]
    fn refuses_unknown_format_and_foreign_dirs() {
        let dir = tempfile::tempdir().unwrap();
        drop(SledStore::open(dir.path()).unwrap());
        fs::write(dir.path().join(FORMAT_FILE), "verbund-data-format 99\n").unwrap();
        let err = SledStore::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("format version 99"), "{err}");

        let foreign = tempfile::tempdir().unwrap();
        fs::write(foreign.path().join("notes.txt"), "hello").unwrap();
        let err = SledStore::open(foreign.path()).unwrap_err().to_string();
        assert!(err.contains("not a Verbund data dir"), "{err}");
    }
}
