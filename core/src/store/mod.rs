//! The storage boundary: a narrow [`Store`] trait and its sled implementation.
//!
//! Everything Verbund persists goes through this trait, so that another engine (redb, fjall,
//! PostgreSQL for several nodes) can stand behind it later. The trait knows keyspaces
//! ([`Tree`]), byte keys and byte values; it knows nothing about entries or schemas.
//!
//! Invariants every implementation keeps:
//! - [`Store::commit`] applies one [`WriteBatch`] atomically: either every check holds and every
//!   write and change event lands, or nothing does.
//! - Change events get gap-free, strictly increasing sequence numbers in commit order.
//! - [`Store::commit`] returns only once the batch is durable; concurrent committers share
//!   flushes (group commit).
//! - A data dir records its format version; a dir from an unknown format is refused.

#[cfg(test)]
mod conformance;
mod location;
mod postgres;
mod sled_store;

pub use location::{StoreLocation, open};
pub use postgres::{PgStore, scratch_schema};
pub use sled_store::SledStore;

use std::path::PathBuf;

/// The format version this build writes and reads. Bump it when the on-disk layout changes in
/// a way older builds cannot read.
pub const FORMAT_VERSION: u32 = 1;

/// The keyspaces of a store. Each maps to one sled tree, or to one value of the `tree` column
/// of PostgreSQL's key/value table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tree {
    /// `{type}\0{id}` → current entry record.
    Entries,
    /// `{type}\0{id}\0{version:be}` → full entry snapshot of that version.
    Revisions,
    /// `{type}\0{locale}\0{slug}` → id.
    Slugs,
    /// `{target type}\0{target id}\0{source type}\0{source id}` → field names (reverse references).
    Refs,
    /// Secondary indexes: `{scope}{type}\0{field}\0{encoded value}{id}` → empty.
    Index,
    /// `{type}\0{id}` → the rendered public JSON of the published version.
    Published,
    /// `{seq:be}` → change event (JSON).
    Changes,
    /// API tokens.
    Tokens,
    /// Audit log.
    Audit,
    /// Installed plugins.
    Plugins,
    /// `{type}\0{id}\0{ulid}` → history item of an entry (creation, edits, transitions).
    History,
    /// Format version, counters and other bookkeeping.
    Meta,
    /// `a\0{id}` → asset record (media); `h\0{sha256}\0{id}` → empty (assets by blob).
    Assets,
    /// Webhook subscriptions, their deliveries (the delivery log) and the due queue.
    Webhooks,
    /// The mail queue: mails, their due queue, the per-issue ledgers of newsletter issues.
    Mail,
}

impl Tree {
    /// The tree with this on-disk name.
    pub fn from_name(name: &str) -> Option<Tree> {
        Tree::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Every tree, in a fixed order (the order of the views inside a transaction).
    pub const ALL: [Tree; 15] = [
        Tree::Entries,
        Tree::Revisions,
        Tree::Slugs,
        Tree::Refs,
        Tree::Index,
        Tree::Published,
        Tree::Changes,
        Tree::Tokens,
        Tree::Audit,
        Tree::Plugins,
        Tree::History,
        Tree::Meta,
        Tree::Assets,
        Tree::Webhooks,
        Tree::Mail,
    ];

    /// The on-disk name of this tree.
    pub fn name(self) -> &'static str {
        match self {
            Tree::Entries => "entries",
            Tree::Revisions => "revisions",
            Tree::Slugs => "slugs",
            Tree::Refs => "refs",
            Tree::Index => "idx",
            Tree::Published => "published",
            Tree::Changes => "changes",
            Tree::Tokens => "tokens",
            Tree::Audit => "audit",
            Tree::Plugins => "plugins",
            Tree::History => "history",
            Tree::Meta => "meta",
            Tree::Assets => "assets",
            Tree::Webhooks => "webhooks",
            Tree::Mail => "mail",
        }
    }

    fn position(self) -> usize {
        Tree::ALL
            .iter()
            .position(|t| *t == self)
            .unwrap_or_default()
    }
}

/// A condition a batch needs to hold at commit time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// The key must not exist.
    Absent,
    /// The key must exist, with any value.
    Present,
    /// The key must hold exactly these bytes.
    Equals(Vec<u8>),
}

/// One check of a batch: `tree[key]` must satisfy `expect`.
#[derive(Debug, Clone)]
pub struct Check {
    pub tree: Tree,
    pub key: Vec<u8>,
    pub expect: Expect,
}

/// An atomic unit of writes: checks, puts/removes and change events.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    pub checks: Vec<Check>,
    pub writes: Vec<(Tree, Vec<u8>, Option<Vec<u8>>)>,
    /// Counter increments, applied at commit after `writes` to the value the key holds then
    /// (an 8-byte big-endian u64, absent = 0; a result of 0 removes the key). They need no
    /// check, so writers that only count (every create counts its type) never conflict.
    pub adds: Vec<(Tree, Vec<u8>, i64)>,
    /// Change event payloads; the store assigns each a sequence number at commit.
    pub changes: Vec<Vec<u8>>,
    /// Writes made at commit from the value a key holds then (after `writes` and `adds`,
    /// in order): appending to a chain this way needs no check that every concurrent writer
    /// would fail.
    pub derived: Vec<Derive>,
}

/// What turns the value of a key at commit time into writes.
pub type DeriveFn = dyn Fn(Option<&[u8]>) -> Vec<(Tree, Vec<u8>, Vec<u8>)> + Send + Sync;

/// A write computed at commit (see [`WriteBatch::derive`]).
#[derive(Clone)]
pub struct Derive {
    pub tree: Tree,
    pub key: Vec<u8>,
    pub make: std::sync::Arc<DeriveFn>,
}

impl std::fmt::Debug for Derive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Derive")
            .field("tree", &self.tree)
            .field("key", &String::from_utf8_lossy(&self.key))
            .finish_non_exhaustive()
    }
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn check(&mut self, tree: Tree, key: impl Into<Vec<u8>>, expect: Expect) {
        self.checks.push(Check {
            tree,
            key: key.into(),
            expect,
        });
    }
    pub fn put(&mut self, tree: Tree, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.writes.push((tree, key.into(), Some(value.into())));
    }
    pub fn remove(&mut self, tree: Tree, key: impl Into<Vec<u8>>) {
        self.writes.push((tree, key.into(), None));
    }
    pub fn change(&mut self, payload: impl Into<Vec<u8>>) {
        self.changes.push(payload.into());
    }
    pub fn add(&mut self, tree: Tree, key: impl Into<Vec<u8>>, delta: i64) {
        self.adds.push((tree, key.into(), delta));
    }
    /// At commit, in the commit order: reads `tree[key]` as it stands after every earlier
    /// commit and this batch's own writes, and applies the writes `make` returns for it. `make`
    /// may run more than once (a database retries a transaction) and must not have effects.
    pub fn derive(
        &mut self,
        tree: Tree,
        key: impl Into<Vec<u8>>,
        make: impl Fn(Option<&[u8]>) -> Vec<(Tree, Vec<u8>, Vec<u8>)> + Send + Sync + 'static,
    ) {
        self.derived.push(Derive {
            tree,
            key: key.into(),
            make: std::sync::Arc::new(make),
        });
    }
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
            && self.changes.is_empty()
            && self.adds.is_empty()
            && self.derived.is_empty()
    }
}

/// A counter or sequence number as stored: 8 bytes big-endian; absent (or malformed) is 0.
pub fn counter(value: Option<&[u8]>) -> u64 {
    value
        .and_then(|v| <[u8; 8]>::try_from(v).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

/// The value a counter increment leaves: `current` (see [`counter`]) plus `delta`, never below
/// 0; `None` (remove the key) at 0.
pub fn add_to_counter(current: Option<&[u8]>, delta: i64) -> Option<Vec<u8>> {
    match counter(current).saturating_add_signed(delta) {
        0 => None,
        n => Some(n.to_be_bytes().to_vec()),
    }
}

/// What a successful commit tells the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The sequence number of the batch's first change event, if it had any.
    pub first_seq: Option<u64>,
    /// The sequence number of the last change event in the store after this commit.
    pub last_seq: u64,
}

/// A change event as read back from the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: u64,
    pub payload: Vec<u8>,
}

/// What [`Store::snapshot`] hands every pair to.
pub type SnapshotVisitor<'a> = dyn FnMut(Tree, &[u8], &[u8]) -> std::io::Result<()> + 'a;

/// Key/value pairs returned by scans.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the store {location} was written by format version {found}, but this build of Verbund reads format version {supported}; use a Verbund release that supports format {found}, or restore a backup made with this release"
    )]
    UnsupportedFormat {
        location: String,
        found: String,
        supported: u32,
    },
    #[error(
        "the data dir {path} is in use by another Verbund process (a running server?); stop it first, or work through its HTTP API"
    )]
    Locked { path: PathBuf },
    #[error("could not open the store {location}: {detail}")]
    Open { location: String, detail: String },
    #[error(
        "the database is unavailable ({detail}); Verbund retries on the next request, check that the database server is running and reachable"
    )]
    Unavailable { detail: String },
    #[error("the database could not order this commit against concurrent ones ({detail})")]
    Conflict { detail: String },
    #[error("a write conflicted: {tree:?} key {key} did not hold what the write expected")]
    CheckFailed { tree: Tree, key: String },
    #[error("storage engine error: {0}")]
    Engine(String),
    #[error("corrupt record in {tree:?}: {detail}")]
    Corrupt { tree: Tree, detail: String },
    #[error("could not write the snapshot: {0}")]
    Snapshot(#[from] std::io::Error),
    #[error("{0}")]
    Keys(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The storage interface. Keys and values are bytes; ordering is bytewise.
pub trait Store: Send + Sync + 'static {
    /// Reads one value.
    fn get(&self, tree: Tree, key: &[u8]) -> StoreResult<Option<Vec<u8>>>;

    /// Reads many values of one tree at once, in the order of `keys` (one round trip on a
    /// networked engine instead of one per key).
    fn get_many(&self, tree: Tree, keys: &[Vec<u8>]) -> StoreResult<Vec<Option<Vec<u8>>>> {
        keys.iter().map(|k| self.get(tree, k)).collect()
    }

    /// Follows a pointer: the value of `to[prefix + from[key]]`, if `from[key]` exists (a slug
    /// to its entry's published document). Engines with a network round trip per read do it
    /// in one.
    fn get_through(
        &self,
        from: Tree,
        key: &[u8],
        to: Tree,
        prefix: &[u8],
    ) -> StoreResult<Option<Vec<u8>>> {
        match self.get(from, key)? {
            Some(pointer) => {
                let mut target = prefix.to_vec();
                target.extend_from_slice(&pointer);
                self.get(to, &target)
            }
            None => Ok(None),
        }
    }

    /// Whether other processes may write this store at the same time (several nodes on one
    /// database). Then whatever a process derives from the store (response caches, loaded
    /// plugins) must follow the change feed instead of trusting its own writes to be all.
    fn shared(&self) -> bool {
        false
    }

    /// Reads every pair whose key starts with `prefix`, in key order (or reversed), stopping
    /// after `limit` pairs.
    fn scan_prefix(
        &self,
        tree: Tree,
        prefix: &[u8],
        reverse: bool,
        limit: usize,
    ) -> StoreResult<Vec<KvPair>>;

    /// Hands every pair of every tree to `visit`, as of one instant: commits wait until the
    /// snapshot is taken, reads go on. Returns the number of pairs.
    fn snapshot(&self, visit: &mut SnapshotVisitor<'_>) -> StoreResult<u64>;

    /// Reads pairs with `start <= key < end` in key order (or reversed), at most `limit`.
    fn scan_range(
        &self,
        tree: Tree,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        limit: usize,
    ) -> StoreResult<Vec<KvPair>>;

    /// Hands the pairs with `start <= key < end` to `visit` in key order (or reversed) until it
    /// returns false, without copying them. The default reads in chunks through
    /// [`Store::scan_range`]; engines that can lend their buffers do better.
    fn visit_range(
        &self,
        tree: Tree,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> StoreResult<()> {
        const CHUNK: usize = 64;
        let (mut start, mut end) = (start.to_vec(), end.to_vec());
        loop {
            let batch = self.scan_range(tree, &start, &end, reverse, CHUNK)?;
            let exhausted = batch.len() < CHUNK;
            for (k, v) in &batch {
                if !visit(k, v) {
                    return Ok(());
                }
            }
            match batch.into_iter().last() {
                Some((k, _)) if !exhausted => {
                    if reverse {
                        end = k;
                    } else {
                        start = k;
                        start.push(0);
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// The keys with `start <= key < end` in key order, at most `limit`, without their values
    /// (counting index ranges whose values are documents).
    fn scan_range_keys(
        &self,
        tree: Tree,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> StoreResult<Vec<Vec<u8>>>;

    /// Applies a batch atomically and durably (see the module invariants).
    fn commit(&self, batch: WriteBatch) -> StoreResult<Committed>;

    /// Change events with `seq > since`, oldest first, at most `limit`.
    fn changes_since(&self, since: u64, limit: usize) -> StoreResult<Vec<Change>>;

    /// The sequence number of the newest change event (0 when there is none).
    fn last_seq(&self) -> StoreResult<u64>;

    /// Bytes the data dir takes on disk.
    fn size_on_disk(&self) -> StoreResult<u64>;
}

/// Appends a `\0`-separated key from parts.
pub fn key(parts: &[&[u8]]) -> Vec<u8> {
    let len = parts.iter().map(|p| p.len() + 1).sum();
    let mut k = Vec::with_capacity(len);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p);
    }
    k
}

/// The smallest key greater than every key starting with `prefix` (for range ends).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff (or empty): no finite upper bound; use a long run of 0xff.
    vec![0xff; prefix.len() + 8]
}
