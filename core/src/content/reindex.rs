//! Keeps the derived public view (published copies, public index, published counters) in step
//! with the schemas and with this build's index layout.
//!
//! The public view is computed at publication from the schema of that moment: which fields are
//! indexed, which are personal. When a schema changes what it indexes or marks a field as
//! personal, or a release changes the index layout, the stored view no longer matches: a field
//! made filterable would find nothing, a field made personal would still be served. So every
//! type's view records a fingerprint of what it was built from (`index_spec\0{type}` in
//! `meta`), and opening a data dir rebuilds the view of every type whose fingerprint differs.
//!
//! The rebuild is restartable: it first removes the type's whole view, then writes it again in
//! chunks, and records the fingerprint last. A crash in between leaves the old fingerprint, so
//! the next open starts over. It runs before the server serves, so nobody sees it half done.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::commit::parse_record;
use super::entry::render_public;
use super::keys::{self, SCOPE_PUBLISHED};
use super::public_index::public_index;
use super::{ContentResult, ContentService};
use crate::schema::ContentType;
use crate::store::{Tree, WriteBatch, prefix_end};

/// The layout of the public index; bump it when `public_index` writes other keys or values.
/// 2: the keys of the default order and of every filter value hold the public JSON;
/// 3: only the keys of the default order do.
const LAYOUT: u32 = 3;

/// Entries (or removed keys) per write batch of a rebuild.
const CHUNK: usize = 500;

fn spec_key(ty: &str) -> Vec<u8> {
    let mut k = b"index_spec\0".to_vec();
    k.extend_from_slice(ty.as_bytes());
    k
}

/// What the public view of `ct` is built from: the layout, whether the type is public, and per
/// field its kind and the flags that decide indexing and rendering.
fn fingerprint(ct: &ContentType) -> Vec<u8> {
    let mut s = format!("layout {LAYOUT}; public {}", ct.is_public());
    for (name, f) in &ct.fields {
        let _ = write!(
            s,
            "; {name} {:?}/{:?} filter {} sort {} pii {}",
            f.kind, f.item_kind, f.filterable, f.sortable, f.pii
        );
    }
    s.into_bytes()
}

impl ContentService {
    /// Rebuilds the public view of every type whose schema or index layout changed since the
    /// view was built (see the module comment). Returns the names of the types rebuilt.
    pub fn refresh_public_view(&self) -> ContentResult<Vec<String>> {
        let mut rebuilt = Vec::new();
        let mut done = WriteBatch::new();
        for ct in self.schemas.types() {
            let want = fingerprint(ct);
            if self.store.get(Tree::Meta, &spec_key(&ct.name))?.as_deref() == Some(&want) {
                continue;
            }
            let entries = self.rebuild_public_view(ct)?;
            done.put(Tree::Meta, spec_key(&ct.name), want);
            if entries > 0 {
                tracing::info!(
                    ty = %ct.name,
                    entries,
                    "rebuilt the public view: the schema or the index layout changed"
                );
                rebuilt.push(ct.name.clone());
            }
        }
        if !done.is_empty() {
            self.store.commit(done)?;
        }
        if !rebuilt.is_empty() {
            self.public_generation
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(rebuilt)
    }

    /// Removes and rewrites the public view of `ct`; returns how many entries it had.
    fn rebuild_public_view(&self, ct: &ContentType) -> ContentResult<usize> {
        let ty = ct.name.as_str();
        let own = |scope: u8| {
            let mut p = vec![scope];
            p.extend_from_slice(&keys::entry(ty, ""));
            p
        };
        let mut counter_prefixes = vec![keys::count_key(SCOPE_PUBLISHED, ty)];
        for p in [&b"count\0l\0"[..], &b"count\0q\0"[..]] {
            let mut k = p.to_vec();
            k.extend_from_slice(&keys::entry(ty, ""));
            counter_prefixes.push(k);
        }
        let mut doomed: Vec<(Tree, Vec<u8>)> = Vec::new();
        for scope in [SCOPE_PUBLISHED, keys::SCOPE_COMPOSITE, keys::SCOPE_VALUES] {
            let p = own(scope);
            for k in self
                .store
                .scan_range_keys(Tree::Index, &p, &prefix_end(&p), usize::MAX)?
            {
                doomed.push((Tree::Index, k));
            }
        }
        for p in counter_prefixes.iter().chain([&keys::entry(ty, "")]) {
            let tree = if p.starts_with(b"count\0") {
                Tree::Meta
            } else {
                Tree::Published
            };
            for k in self
                .store
                .scan_range_keys(tree, p, &prefix_end(p), usize::MAX)?
            {
                // `count\0p\0{type}` is a prefix of other types' keys (`count\0p\0{type}x`).
                if tree == Tree::Meta && p == &counter_prefixes[0] && k != *p {
                    continue;
                }
                doomed.push((tree, k));
            }
        }
        for chunk in doomed.chunks(CHUNK) {
            let mut batch = WriteBatch::new();
            for (tree, k) in chunk {
                batch.remove(*tree, k.clone());
            }
            self.store.commit(batch)?;
        }
        if !ct.is_public() {
            return Ok(0);
        }

        let mut counters: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        let mut batch = WriteBatch::new();
        let mut in_batch = 0;
        let mut entries = 0;
        let records =
            self.store
                .scan_prefix(Tree::Entries, &keys::entry(ty, ""), false, usize::MAX)?;
        for (_, bytes) in records {
            let rec = parse_record(&bytes)?;
            let Some(pv) = rec.published_version else {
                continue;
            };
            let published = if pv == rec.version {
                rec
            } else {
                match self
                    .store
                    .get(Tree::Revisions, &keys::revision(ty, &rec.id, pv))?
                {
                    Some(b) => parse_record(&b)?,
                    None => {
                        return Err(super::ContentError::Corrupt(format!(
                            "{ty} {} is published at version {pv}, but that revision is missing",
                            rec.id
                        )));
                    }
                }
            };
            let doc = render_public(ct, &published);
            let pi = public_index(ct, &published);
            for k in pi.keys {
                batch.put(Tree::Index, k, Vec::new());
            }
            for k in pi.covering {
                batch.put(Tree::Index, k, doc.clone());
            }
            batch.put(Tree::Index, keys::values_key(ty, &published.id), pi.values);
            batch.put(Tree::Published, keys::entry(ty, &published.id), doc);
            for c in pi.counters {
                *counters.entry(c).or_default() += 1;
            }
            entries += 1;
            in_batch += 1;
            if in_batch == CHUNK {
                self.store.commit(std::mem::take(&mut batch))?;
                in_batch = 0;
            }
        }
        for (k, n) in counters {
            batch.put(Tree::Meta, k, n.to_be_bytes().to_vec());
        }
        self.store.commit(batch)?;
        Ok(entries)
    }
}
