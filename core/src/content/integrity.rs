//! A full consistency check of the content trees: every derived key (revision, slug, index,
//! published view, reference, counter) must agree with the entry records, and nothing may be
//! left over. Used after crashes in tests and by operators.

use std::collections::{BTreeMap, BTreeSet};

use super::commit::index_keys;
use super::entry::{EntryRecord, render_public_with};
use super::keys::count_key;
use super::keys::{self, SCOPE_CURRENT, SCOPE_PUBLISHED};
use super::public_index::public_index;
use super::{ContentResult, ContentService};
use crate::store::Tree;

impl ContentService {
    /// Returns every inconsistency found (empty when the data dir is consistent).
    pub fn check_integrity(&self) -> ContentResult<Vec<String>> {
        let store = self.store.as_ref();
        let mut problems = Vec::new();
        let mut index = BTreeSet::new();
        let mut slugs = BTreeMap::new();
        let mut published = BTreeSet::new();
        let mut refs: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        let mut counts: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        let mut ref_keys = BTreeSet::new();
        let mut groups: BTreeMap<Vec<u8>, super::translate::Group> = BTreeMap::new();

        for (key, bytes) in store.scan_prefix(Tree::Entries, b"", false, usize::MAX)? {
            let rec = match EntryRecord::from_bytes(&bytes) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(format!(
                        "unreadable entry {}: {e}",
                        String::from_utf8_lossy(&key)
                    ));
                    continue;
                }
            };
            let Some(ct) = self.schemas.get(&rec.ty) else {
                problems.push(format!("entry {} has unknown type {}", rec.id, rec.ty));
                continue;
            };
            let name = format!("{} {}", rec.ty, rec.id);
            for v in 1..rec.version {
                if store
                    .get(Tree::Revisions, &keys::revision(&rec.ty, &rec.id, v))?
                    .is_none()
                {
                    problems.push(format!("{name}: revision {v} is missing"));
                }
            }
            if let Some(slug) = rec.slug(ct) {
                slugs.insert(
                    keys::slug(SCOPE_CURRENT, &rec.ty, &rec.locale, slug),
                    rec.id.clone(),
                );
            }
            index.extend(index_keys(&rec));
            *counts.entry(count_key(SCOPE_CURRENT, &rec.ty)).or_default() += 1;
            // Asset fields are references too (to `asset`); an asset erased with a person may
            // leave its id behind on purpose, so only the counts are checked.
            for (field, _) in ct.asset_fields() {
                for (_, tid) in super::assets::asset_ids(rec.data.get(field)) {
                    let target = crate::media::ASSET_REF;
                    let k = keys::reference(target, tid, &rec.ty, &rec.id);
                    if ref_keys.insert(k) {
                        *refs.entry(keys::ref_count(target, tid)).or_default() += 1;
                    }
                }
            }
            for (field, target) in ct.reference_fields() {
                let ids: Vec<String> = match rec.data.get(field) {
                    Some(serde_json::Value::String(s)) => vec![s.clone()],
                    Some(serde_json::Value::Array(a)) => a
                        .iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect(),
                    _ => Vec::new(),
                };
                for tid in ids {
                    let k = keys::reference(target, &tid, &rec.ty, &rec.id);
                    if ref_keys.insert(k) {
                        *refs.entry(keys::ref_count(target, &tid)).or_default() += 1;
                    }
                    if store
                        .get(Tree::Entries, &keys::entry(target, &tid))?
                        .is_none()
                    {
                        problems.push(format!(
                            "{name}: field {field} references missing {target} {tid}"
                        ));
                    }
                }
            }
            if let Some(orig) = &rec.translation_of {
                groups
                    .entry(super::translate::group_key(&rec.ty, orig))
                    .or_default()
                    .insert(rec.locale.clone(), rec.id.clone());
                let k = keys::reference(&rec.ty, orig, &rec.ty, &rec.id);
                if ref_keys.insert(k) {
                    *refs.entry(keys::ref_count(&rec.ty, orig)).or_default() += 1;
                }
            }
            if let (Some(pv), true) = (rec.published_version, ct.is_public()) {
                let prec = if pv == rec.version {
                    Some(rec.clone())
                } else {
                    store
                        .get(Tree::Revisions, &keys::revision(&rec.ty, &rec.id, pv))?
                        .and_then(|b| EntryRecord::from_bytes(&b).ok())
                };
                let Some(prec) = prec else {
                    problems.push(format!("{name}: published revision {pv} is missing"));
                    continue;
                };
                let k = keys::entry(&rec.ty, &rec.id);
                let mut reads = super::plan::Plan::new(store);
                let links = self.public_links(&mut reads, ct, &prec)?;
                for l in links.translations.iter().filter(|l| l.locale > prec.locale) {
                    *counts
                        .entry(keys::pair_count_key(&rec.ty, &prec.locale, &l.locale))
                        .or_default() += 1;
                }
                let doc = render_public_with(ct, &prec, &links);
                match store.get(Tree::Published, &k)? {
                    Some(b) if b == doc => {}
                    Some(_) => problems.push(format!("{name}: public view is not version {pv}")),
                    None => problems.push(format!("{name}: published but has no public view")),
                }
                published.insert(k);
                if let Some(slug) = prec.slug(ct) {
                    slugs.insert(
                        keys::slug(SCOPE_PUBLISHED, &rec.ty, &rec.locale, slug),
                        rec.id.clone(),
                    );
                }
                let pi = public_index(ct, &prec);
                index.extend(pi.keys);
                for c in pi.covering {
                    if store.get(Tree::Index, &c)?.as_deref() != Some(doc.as_slice()) {
                        problems.push(format!(
                            "{name}: index key {} does not hold version {pv}",
                            printable(&c)
                        ));
                    }
                    index.insert(c);
                }
                let vkey = keys::values_key(&rec.ty, &rec.id);
                if store.get(Tree::Index, &vkey)?.as_deref() != Some(pi.values.as_slice()) {
                    problems.push(format!("{name}: index values record is missing or stale"));
                }
                index.insert(vkey);
                for c in pi.counters {
                    *counts.entry(c).or_default() += 1;
                }
            }
        }

        let stored_index: BTreeSet<Vec<u8>> = store
            .scan_prefix(Tree::Index, b"", false, usize::MAX)?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        for k in index.difference(&stored_index) {
            problems.push(format!("index key missing: {}", printable(k)));
        }
        for k in stored_index.difference(&index) {
            problems.push(format!("stale index key: {}", printable(k)));
        }
        let stored_slugs: BTreeMap<Vec<u8>, String> = store
            .scan_prefix(Tree::Slugs, b"", false, usize::MAX)?
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        if stored_slugs != slugs {
            problems.push(format!(
                "slug index disagrees with entries: {} stored, {} expected",
                stored_slugs.len(),
                slugs.len()
            ));
        }
        let stored_published: BTreeSet<Vec<u8>> = store
            .scan_prefix(Tree::Published, b"", false, usize::MAX)?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        for k in stored_published.difference(&published) {
            problems.push(format!(
                "public view of an unpublished entry: {}",
                printable(k)
            ));
        }
        for (k, v) in store.scan_prefix(Tree::Refs, b"", false, usize::MAX)? {
            let is_counter = k.iter().filter(|b| **b == 0).count() == 1;
            if is_counter {
                let n = super::plan::counter_value(Some(v));
                if refs.get(&k).copied().unwrap_or(0) != n {
                    problems.push(format!(
                        "reference count of {} is {n}, expected {}",
                        printable(&k),
                        refs.get(&k).copied().unwrap_or(0)
                    ));
                }
                refs.remove(&k);
            } else if !ref_keys.remove(&k) {
                problems.push(format!("stale reference: {}", printable(&k)));
            }
        }
        for k in refs.keys().chain(ref_keys.iter()) {
            problems.push(format!("reference bookkeeping missing: {}", printable(k)));
        }
        let stored_groups: BTreeMap<Vec<u8>, super::translate::Group> = store
            .scan_prefix(Tree::Meta, b"group\0", false, usize::MAX)?
            .into_iter()
            .map(|(k, v)| (k, serde_json::from_slice(&v).unwrap_or_default()))
            .collect();
        if stored_groups != groups {
            problems.push(format!(
                "translation groups disagree with entries: {} stored, {} expected",
                stored_groups.len(),
                groups.len()
            ));
        }
        let stored_counts: BTreeMap<Vec<u8>, u64> = store
            .scan_prefix(Tree::Meta, b"count\0", false, usize::MAX)?
            .into_iter()
            .map(|(k, v)| (k, super::plan::counter_value(Some(v))))
            .filter(|(_, n)| *n > 0)
            .collect();
        for (k, n) in &counts {
            let stored = stored_counts.get(k).copied().unwrap_or(0);
            if stored != *n {
                problems.push(format!(
                    "counter {} is {stored}, expected {n}",
                    printable(k)
                ));
            }
        }
        for (k, n) in &stored_counts {
            if !counts.contains_key(k) {
                problems.push(format!("counter {} is {n}, expected 0", printable(k)));
            }
        }
        Ok(problems)
    }
}

fn printable(k: &[u8]) -> String {
    String::from_utf8_lossy(k).replace('\0', "/")
}
