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
use super::entry::render_public_with;
use super::keys::{self, SCOPE_PUBLISHED};
use super::plan::Plan;
use super::public_index::public_index;
use super::{ContentResult, ContentService};
use crate::schema::ContentType;
use crate::store::{Tree, WriteBatch, prefix_end};

/// The layout of the public index; bump it when `public_index` writes other keys or values.
/// 2: the keys of the default order and of every filter value hold the public JSON;
/// 3: only the keys of the default order do;
/// 4: public JSON names the entry's published translations (and translation groups exist).
const LAYOUT: u32 = 4;

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
            "; {name} {:?}/{:?} filter {} sort {} pii {} translated {}",
            f.kind, f.item_kind, f.filterable, f.sortable, f.pii, f.translatable
        );
    }
    if let Some(path) = &ct.options.path {
        let _ = write!(s, "; path {path}");
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

    /// Removes and rewrites the public view of `ct`; returns how many entries it had. Reads
    /// and writes in chunks, so that a large type never sits in memory as a whole.
    fn rebuild_public_view(&self, ct: &ContentType) -> ContentResult<usize> {
        let ty = ct.name.as_str();
        let own = |head: &[u8]| {
            let mut p = head.to_vec();
            p.extend_from_slice(&keys::entry(ty, ""));
            p
        };
        let ranges = [
            (Tree::Index, own(&[SCOPE_PUBLISHED])),
            (Tree::Index, own(&[keys::SCOPE_COMPOSITE])),
            (Tree::Index, own(&[keys::SCOPE_VALUES])),
            (Tree::Published, own(b"")),
            (Tree::Meta, own(b"count\0l\0")),
            (Tree::Meta, own(b"count\0q\0")),
            (Tree::Meta, own(b"count\0t\0")),
            (Tree::Meta, own(b"group\0")),
        ];
        for (tree, p) in &ranges {
            loop {
                let doomed = self
                    .store
                    .scan_range_keys(*tree, p, &prefix_end(p), CHUNK)?;
                if doomed.is_empty() {
                    break;
                }
                let mut batch = WriteBatch::new();
                for k in doomed {
                    batch.remove(*tree, k);
                }
                self.store.commit(batch)?;
            }
        }
        let mut batch = WriteBatch::new();
        batch.remove(Tree::Meta, keys::count_key(SCOPE_PUBLISHED, ty));
        self.store.commit(batch)?;
        if !ct.is_public() {
            return Ok(0);
        }

        // The translation groups first: the public JSON names the published members.
        let mut groups: BTreeMap<String, super::translate::Group> = BTreeMap::new();
        self.each_chunk(ty, |records| {
            for (_, bytes) in records {
                let rec = parse_record(&bytes)?;
                if let Some(root) = rec.translation_of {
                    groups.entry(root).or_default().insert(rec.locale, rec.id);
                }
            }
            Ok(())
        })?;
        for chunk in groups.iter().collect::<Vec<_>>().chunks(CHUNK) {
            let mut batch = WriteBatch::new();
            for (root, group) in chunk {
                batch.put(
                    Tree::Meta,
                    super::translate::group_key(ty, root),
                    serde_json::to_vec(group).unwrap_or_default(),
                );
            }
            self.store.commit(batch)?;
        }

        let mut counters: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        let mut entries = 0;
        self.each_chunk(ty, |records| {
            let mut batch = WriteBatch::new();
            let mut reads = Plan::new(self.store.as_ref());
            for (_, bytes) in records {
                let rec = parse_record(&bytes)?;
                let Some(published) = self.published_record(&mut reads, ct, &rec)? else {
                    continue;
                };
                let links = self.public_links(&mut reads, ct, &published)?;
                for l in links
                    .translations
                    .iter()
                    .filter(|l| l.locale > published.locale)
                {
                    *counters
                        .entry(keys::pair_count_key(ty, &published.locale, &l.locale))
                        .or_default() += 1;
                }
                let doc = render_public_with(ct, &published, &links);
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
            }
            self.store.commit(batch)?;
            Ok(())
        })?;
        let mut batch = WriteBatch::new();
        for (k, n) in counters {
            batch.put(Tree::Meta, k, n.to_be_bytes().to_vec());
        }
        self.store.commit(batch)?;
        Ok(entries)
    }

    /// Hands the entries of `ty` to `f` in chunks of [`CHUNK`], so that a large type never
    /// sits in memory as a whole.
    fn each_chunk(
        &self,
        ty: &str,
        mut f: impl FnMut(Vec<(Vec<u8>, Vec<u8>)>) -> ContentResult<()>,
    ) -> ContentResult<()> {
        let prefix = keys::entry(ty, "");
        let (mut from, end) = (prefix.clone(), prefix_end(&prefix));
        loop {
            let records = self
                .store
                .scan_range(Tree::Entries, &from, &end, false, CHUNK)?;
            let Some((last, _)) = records.last() else {
                return Ok(());
            };
            from = last.clone();
            from.push(0);
            f(records)?;
        }
    }
}
