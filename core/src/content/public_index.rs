//! The index of the published view, built for delivery queries.
//!
//! For a published record of type T in locale L it holds:
//! - `p{T}\0{L}\0{field}\0{value}{id}` for every sortable field and `published_at` (sorting,
//!   range filters on the sort field); a sortable field an entry lacks is indexed as null, so
//!   that sorting by it never hides the entry;
//! - `q{T}\0{L}\0{filter field}\0{value}published_at\0{time}{id}` for every filterable field
//!   value, so that "filter by one value, newest first" is one range scan;
//! - the keys of the default order (`published_at`) are *covering*: their value is the entry's
//!   public JSON, so the list websites ask for most is one range read, with no point read per
//!   entry (on a networked store, one round trip instead of one per entry). Other keys have
//!   empty values: covering every filter value too (a story has 2–3 topics) made the data dir
//!   2.8× as large and durable creates up to a third slower, for 0.1× of the ceiling on one
//!   request (docs/benchmarks.md);
//! - `v{T}\0{id}` → the entry's encoded index values, for checking further filters without
//!   reading the document;
//! - counters in `meta` (per type, per locale, per filter value), so that totals are reads.

use std::collections::BTreeSet;

use serde_json::Value;

use super::entry::EntryRecord;
use super::keys::{self, encode_scalar};
use super::plan::Plan;
use crate::schema::{ContentType, FieldKind};
use crate::store::{StoreResult, Tree};

/// Derived public-index data of one published record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PublicIndex {
    /// Keys with an empty value.
    pub keys: BTreeSet<Vec<u8>>,
    /// Keys whose value is the public JSON (see the module comment).
    pub covering: BTreeSet<Vec<u8>>,
    pub values: Vec<u8>,
    pub counters: BTreeSet<Vec<u8>>,
}

/// The sort field of the composite (filter value, sort) index: the default order of delivery
/// lists. Other sorts combined with a filter scan the sort field's index and check the filter.
pub const COMPOSITE_SORT: &str = "published_at";

/// The sort fields of a type: its sortable fields and `published_at`.
pub fn sort_fields(ct: &ContentType) -> Vec<(String, FieldKind)> {
    let mut out: Vec<(String, FieldKind)> = ct
        .fields
        .iter()
        .filter(|(_, f)| f.sortable && !f.pii)
        .map(|(n, f)| (n.clone(), f.kind))
        .collect();
    out.push(("published_at".into(), FieldKind::DateTime));
    out
}

/// The encoded values of every indexed field of a record (arrays give several).
fn field_values(ct: &ContentType, rec: &EntryRecord) -> Vec<(String, bool, Vec<Vec<u8>>)> {
    let mut out = Vec::new();
    // Personal data never enters the public index.
    for (name, spec) in ct.indexed_fields().filter(|(_, f)| !f.pii) {
        let kind = match spec.kind {
            FieldKind::Array => spec.item_kind.unwrap_or(FieldKind::String),
            k => k,
        };
        let mut encoded = super::filter::encoded(kind, rec.data.get(name));
        if encoded.is_empty() && spec.sortable && rec.data.get(name).is_none() {
            let mut e = Vec::new();
            encode_scalar(spec.kind, &Value::Null, &mut e);
            encoded.push(e);
        }
        out.push((name.to_string(), spec.filterable, encoded));
    }
    let mut e = Vec::new();
    let published = rec
        .published_at
        .map(|t| Value::String(t.to_rfc3339()))
        .unwrap_or(Value::Null);
    encode_scalar(FieldKind::DateTime, &published, &mut e);
    out.push(("published_at".into(), false, vec![e]));
    out
}

/// Computes the public index of a published record.
pub(super) fn public_index(ct: &ContentType, rec: &EntryRecord) -> PublicIndex {
    let ty = rec.ty.as_str();
    let locale = rec.locale.as_str();
    let values = field_values(ct, rec);
    let sorts: Vec<(&str, &Vec<u8>)> = sort_fields(ct)
        .into_iter()
        .filter_map(|(s, _)| {
            values
                .iter()
                .find(|(n, _, _)| *n == s)
                .and_then(|(n, _, vs)| vs.first().map(|v| (n.as_str(), v)))
        })
        .collect();
    let mut keys = BTreeSet::new();
    let mut covering = BTreeSet::new();
    let mut counters = BTreeSet::new();
    counters.insert(keys::count_key(keys::SCOPE_PUBLISHED, ty));
    counters.insert(keys::locale_count_key(ty, locale));
    for (field, filterable, encoded) in &values {
        let sortable = sorts.iter().any(|(s, _)| s == field);
        for e in encoded {
            if sortable {
                let mut k = keys::public_index_prefix(ty, locale, field);
                k.extend_from_slice(e);
                k.extend_from_slice(rec.id.as_bytes());
                if field == COMPOSITE_SORT {
                    covering.insert(k);
                } else {
                    keys.insert(k);
                }
            }
            if *filterable {
                counters.insert(keys::value_count_key(ty, locale, field, e));
                for (sort, sv) in sorts.iter().filter(|(s, _)| *s == COMPOSITE_SORT) {
                    let mut k = keys::composite_prefix(ty, locale, field, e, sort);
                    k.extend_from_slice(sv);
                    k.extend_from_slice(rec.id.as_bytes());
                    keys.insert(k);
                }
            }
        }
    }
    PublicIndex {
        keys,
        covering,
        values: encode_values(&values),
        counters,
    }
}

/// `[u8 name len][name][u16 count]([u16 len][bytes])*` per field.
fn encode_values(values: &[(String, bool, Vec<Vec<u8>>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, _, encoded) in values {
        let name = &name.as_bytes()[..name.len().min(255)];
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.extend_from_slice(&(encoded.len().min(u16::MAX as usize) as u16).to_be_bytes());
        for e in encoded.iter().take(u16::MAX as usize) {
            let e = &e[..e.len().min(u16::MAX as usize)];
            out.extend_from_slice(&(e.len() as u16).to_be_bytes());
            out.extend_from_slice(e);
        }
    }
    out
}

/// The encoded values of `field` in a values record (empty if absent).
pub fn values_of<'a>(record: &'a [u8], field: &str) -> Vec<&'a [u8]> {
    let mut rest = record;
    while let Some((&n, r)) = rest.split_first() {
        let n = n as usize;
        if r.len() < n + 2 {
            break;
        }
        let (name, r) = r.split_at(n);
        let count = u16::from_be_bytes([r[0], r[1]]) as usize;
        let mut r = &r[2..];
        let mut vals = Vec::with_capacity(count);
        for _ in 0..count {
            if r.len() < 2 {
                return Vec::new();
            }
            let len = u16::from_be_bytes([r[0], r[1]]) as usize;
            if r.len() < 2 + len {
                return Vec::new();
            }
            vals.push(&r[2..2 + len]);
            r = &r[2 + len..];
        }
        if name == field.as_bytes() {
            return vals;
        }
        rest = r;
    }
    Vec::new()
}

/// Replaces the public index `before` with `after` (either may be absent) in `plan`; `after`
/// comes with the public JSON its covering keys hold.
pub(super) fn apply(
    plan: &mut Plan,
    ty: &str,
    id: &str,
    before: Option<&PublicIndex>,
    after: Option<(&PublicIndex, &[u8])>,
) -> StoreResult<()> {
    let empty = BTreeSet::new();
    let (bk, bv, bc) = before.map_or((&empty, &empty, &empty), |b| {
        (&b.keys, &b.covering, &b.counters)
    });
    let (ak, av, ac) = after.map_or((&empty, &empty, &empty), |(a, _)| {
        (&a.keys, &a.covering, &a.counters)
    });
    for k in bk.difference(ak).chain(bv.difference(av)) {
        plan.remove(Tree::Index, k.clone());
    }
    for k in ak.difference(bk) {
        plan.put(Tree::Index, k.clone(), Vec::new());
    }
    if let Some((_, doc)) = after {
        // Written even where the key stays: the document under it is the new version.
        for k in av {
            plan.put(Tree::Index, k.clone(), doc.to_vec());
        }
    }
    let after = after.map(|(a, _)| a);
    for k in bc.difference(ac) {
        plan.add_counter(Tree::Meta, k, -1)?;
    }
    for k in ac.difference(bc) {
        plan.add_counter(Tree::Meta, k, 1)?;
    }
    let vkey = keys::values_key(ty, id);
    match after {
        Some(a) if before.map(|b| &b.values) != Some(&a.values) => {
            plan.put(Tree::Index, vkey, a.values.clone());
        }
        Some(_) => {}
        None => plan.remove(Tree::Index, vkey),
    }
    Ok(())
}
