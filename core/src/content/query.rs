//! Delivery queries over the published view: filters, sort, cursor pagination and totals,
//! answered from the public index (see `public_index`) so that a page costs about the same
//! whatever the number of entries.
//!
//! Plan: one index range drives the scan, in sort order. When sorting by `published_at` it is
//! the composite range of the first equality filter on a filterable field
//! (`filter[topics]=cloud`), else the sort field's own range; range filters on the sort field
//! narrow it. Other filters are checked per candidate
//! against the entry's encoded index values. The cursor is the last index key returned, so a
//! page continues exactly after it, however many entries are added meanwhile.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::filter::{self, Condition, Filter, FilterOp, QueryError, View};
use super::keys;
use super::public_index::{COMPOSITE_SORT, sort_fields, values_of};
use super::{ContentError, ContentResult, ContentService};
use crate::schema::ContentType;
use crate::store::{Tree, prefix_end};

/// One sort key (`-published_at` is descending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub field: String,
    pub descending: bool,
}

/// A delivery query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryQuery {
    pub locale: String,
    pub filters: Vec<Filter>,
    /// Empty means `-published_at`.
    pub sort: Vec<SortKey>,
    pub limit: usize,
    pub cursor: Option<String>,
}

impl Default for DeliveryQuery {
    fn default() -> Self {
        Self {
            locale: "de".into(),
            filters: Vec::new(),
            sort: Vec::new(),
            limit: 20,
            cursor: None,
        }
    }
}

/// One page of published entries, as their stored public JSON.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<(String, Vec<u8>)>,
    pub next_cursor: Option<String>,
    pub total: u64,
}

/// An entry of a chained query: its index key's suffix (sort value and id), the whole key,
/// its id and its public JSON.
type Found = (Vec<u8>, Vec<u8>, String, Vec<u8>);

/// What a range scan hands each entry to: its index key, id and public JSON; answers whether
/// to go on.
type ScanItem<'a> = dyn FnMut(&[u8], &str, &[u8]) -> ContentResult<bool> + 'a;

/// The index range of a delivery query in one locale.
struct Range {
    prefix: Vec<u8>,
    start: Vec<u8>,
    end: Vec<u8>,
    /// Filters the range does not answer: checked per entry.
    residual: Vec<Condition>,
    total: u64,
    descending: bool,
    /// Whether the range's keys hold the public JSON.
    covering: bool,
}

impl Range {
    /// Moves the range's start (or end, when descending) past the key suffix (sort value
    /// and id) of the last entry of the previous page.
    fn resume_after(&mut self, suffix: &[u8]) {
        let mut key = self.prefix.clone();
        key.extend_from_slice(suffix);
        if self.descending {
            self.end = self.end.clone().min(key);
        } else {
            key.push(0);
            self.start = self.start.clone().max(key);
        }
    }
}

/// Where a page of a delivery query ends.
#[derive(Debug, Clone)]
pub struct PageMeta {
    pub next_cursor: Option<String>,
    pub total: u64,
}

impl ContentService {
    /// Runs a delivery query over the published entries of `ty`.
    pub fn query_published(&self, ty: &str, q: &DeliveryQuery) -> ContentResult<Page> {
        let mut items = Vec::with_capacity(q.limit.max(1));
        let meta = self.query_published_with(ty, q, &mut |id, doc| {
            items.push((id.to_string(), doc.to_vec()));
            Ok(())
        })?;
        Ok(Page {
            items,
            next_cursor: meta.next_cursor,
            total: meta.total,
        })
    }

    /// Runs a delivery query, handing each entry of the page (its id and public JSON) to
    /// `item` in order as it is read, without copying it first.
    pub fn query_published_with(
        &self,
        ty: &str,
        q: &DeliveryQuery,
        item: &mut dyn FnMut(&str, &[u8]) -> ContentResult<()>,
    ) -> ContentResult<PageMeta> {
        let ct = self.content_type(ty)?.clone();
        let bad = |e: QueryError| ContentError::BadQuery(e);
        let mut r = self.range_for(&ct, q, &q.locale)?;
        // Resume after the cursor.
        if let Some(c) = &q.cursor {
            let key = URL_SAFE_NO_PAD
                .decode(c.as_bytes())
                .map_err(|_| bad(QueryError::BadCursor))?;
            if !key.starts_with(&r.prefix) || key.len() < r.prefix.len() + keys::ID_LEN {
                return Err(bad(QueryError::BadCursor));
            }
            r.resume_after(&key[r.prefix.len()..]);
        }
        let limit = q.limit.max(1);
        let mut emitted = 0;
        let mut last_key: Vec<u8> = Vec::new();
        let more = self.scan(ty, &r, &mut |k, id, doc| {
            if emitted == limit {
                return Ok(false);
            }
            item(id, doc)?;
            emitted += 1;
            last_key.clear();
            last_key.extend_from_slice(k);
            Ok(true)
        })?;
        let next_cursor = (more && emitted > 0).then(|| URL_SAFE_NO_PAD.encode(&last_key));
        Ok(PageMeta {
            next_cursor,
            total: r.total,
        })
    }

    /// Runs a delivery query over a chain of locales (`locale` with `fallback`): every entry
    /// in the first locale, then every entry in a later one whose translation group has no
    /// published entry in an earlier locale, merged in the query's order.
    pub fn query_published_chain(
        &self,
        ty: &str,
        q: &DeliveryQuery,
        chain: &[String],
        item: &mut dyn FnMut(&str, &[u8]) -> ContentResult<()>,
    ) -> ContentResult<PageMeta> {
        if chain.len() < 2 {
            return self.query_published_with(ty, q, item);
        }
        // A chain is a locale and one fallback.
        let chain = &chain[..2];
        let ct = self.content_type(ty)?.clone();
        let bad = |e: QueryError| ContentError::BadQuery(e);
        let mut ranges = chain
            .iter()
            .map(|l| self.range_for(&ct, q, l))
            .collect::<ContentResult<Vec<_>>>()?;
        // An entry in the fallback locale is hidden when its public JSON names a published
        // translation in the first locale. Their number: a counter of the groups published in
        // both locales, or, with filters, the entries of the first locale that match and name a
        // published version in the fallback locale (filtered fields are linked: the same in
        // every version of a group).
        let hidden = if q.filters.is_empty() {
            super::plan::counter_value(
                self.store
                    .get(Tree::Meta, &keys::pair_count_key(ty, &chain[0], &chain[1]))?,
            )
        } else {
            let mut n = 0;
            self.scan(ty, &ranges[0], &mut |_, _, doc| {
                if super::read::translation_locales(doc).contains(&chain[1]) {
                    n += 1;
                }
                Ok(true)
            })?;
            n
        };
        let total = (ranges[0].total + ranges[1].total).saturating_sub(hidden);
        if let Some(c) = &q.cursor {
            let key = URL_SAFE_NO_PAD
                .decode(c.as_bytes())
                .map_err(|_| bad(QueryError::BadCursor))?;
            let Some(suffix) = ranges
                .iter()
                .find_map(|r| key.strip_prefix(r.prefix.as_slice()))
                .filter(|s| s.len() >= keys::ID_LEN)
                .map(<[u8]>::to_vec)
            else {
                return Err(bad(QueryError::BadCursor));
            };
            for r in &mut ranges {
                r.resume_after(&suffix);
            }
        }
        let limit = q.limit.max(1);
        let descending = ranges[0].descending;
        // (suffix of the index key, full key, id, document) of up to limit + 1 per locale.
        let mut found: Vec<Found> = Vec::new();
        for (i, r) in ranges.iter().enumerate() {
            let mut taken = 0;
            self.scan(ty, r, &mut |k, id, doc| {
                if i > 0 && super::read::translation_locales(doc).contains(&chain[0]) {
                    return Ok(true);
                }
                if taken > limit {
                    return Ok(false);
                }
                taken += 1;
                found.push((
                    k[r.prefix.len()..].to_vec(),
                    k.to_vec(),
                    id.to_string(),
                    doc.to_vec(),
                ));
                Ok(true)
            })?;
        }
        found.sort_by(|a, b| {
            if descending {
                b.0.cmp(&a.0)
            } else {
                a.0.cmp(&b.0)
            }
        });
        let more = found.len() > limit;
        found.truncate(limit);
        for (_, _, id, doc) in &found {
            item(id, doc)?;
        }
        let next_cursor = found
            .last()
            .filter(|_| more)
            .map(|(_, key, _, _)| URL_SAFE_NO_PAD.encode(key));
        Ok(PageMeta { next_cursor, total })
    }

    /// The index range that answers `q` in `locale`, with its total.
    fn range_for(&self, ct: &ContentType, q: &DeliveryQuery, locale: &str) -> ContentResult<Range> {
        let ty = ct.name.as_str();
        let bad = |e: QueryError| ContentError::BadQuery(e);

        // Sort: the first key drives the scan; ties are broken by id.
        let sortable: Vec<String> = sort_fields(ct).into_iter().map(|(n, _)| n).collect();
        for key in &q.sort {
            if !sortable.contains(&key.field) {
                return Err(bad(QueryError::UnknownField {
                    param: "sort",
                    ty: ty.into(),
                    field: key.field.clone(),
                    allowed: sortable.clone(),
                }));
            }
        }
        let (sort, descending) = q
            .sort
            .first()
            .map(|k| (k.field.clone(), k.descending))
            .unwrap_or_else(|| ("published_at".into(), true));

        // Filters, in the one filter language; `consumed` marks those the scan range answers.
        let mut filters: Vec<(Condition, bool)> = filter::resolve(ct, &q.filters, View::Published)
            .map_err(bad)?
            .into_iter()
            .map(|c| (c, false))
            .collect();

        // The driving range.
        let driver = (sort == COMPOSITE_SORT)
            .then(|| {
                filters.iter().position(|(f, _)| {
                    matches!(f.op, FilterOp::Eq | FilterOp::Contains)
                        && ct.fields.get(&f.field).is_some_and(|s| s.filterable)
                })
            })
            .flatten();
        let prefix = match driver {
            Some(i) => {
                let (f, consumed) = &mut filters[i];
                *consumed = true;
                keys::composite_prefix(ty, locale, &f.field, &f.targets[0], &sort)
            }
            None => keys::public_index_prefix(ty, locale, &sort),
        };
        let mut start = prefix.clone();
        let mut end = prefix_end(&prefix);
        for (f, consumed) in filters.iter_mut().filter(|(f, _)| f.field == sort) {
            let mut bound = prefix.clone();
            bound.extend_from_slice(&f.targets[0]);
            match f.op {
                FilterOp::Gt | FilterOp::Lte => bound.push(0xff),
                FilterOp::Gte | FilterOp::Lt => {}
                _ => continue,
            }
            match f.op {
                FilterOp::Gt | FilterOp::Gte => start = start.max(bound),
                _ => end = end.min(bound),
            }
            *consumed = true;
        }
        let residual: Vec<Condition> = filters
            .iter()
            .filter(|(_, consumed)| !consumed)
            .map(|(f, _)| f.clone())
            .collect();

        let total = if filters.is_empty() {
            super::plan::counter_value(
                self.store
                    .get(Tree::Meta, &keys::locale_count_key(ty, locale))?,
            )
        } else if filters.len() == 1 && driver.is_some() {
            let f = &filters[0].0;
            super::plan::counter_value(self.store.get(
                Tree::Meta,
                &keys::value_count_key(ty, locale, &f.field, &f.targets[0]),
            )?)
        } else {
            let residual: Vec<&Condition> = residual.iter().collect();
            self.count_range(ty, &start, &end, &residual)?
        };
        Ok(Range {
            // The default order's keys hold the public JSON (see `public_index`).
            covering: sort == COMPOSITE_SORT && driver.is_none(),
            prefix,
            start,
            end,
            residual,
            total,
            descending,
        })
    }

    /// Visits the entries of a range in order that pass its residual filters, handing `item`
    /// each index key, id and public JSON; `item` answers whether to go on. Returns whether
    /// the scan was stopped with entries left.
    fn scan(&self, ty: &str, r: &Range, item: &mut ScanItem<'_>) -> ContentResult<bool> {
        let mut more = false;
        let mut failed: Option<ContentError> = None;
        let mut step = |k: &[u8], v: &[u8]| -> ContentResult<bool> {
            let Some(id) = keys::id_of_index_key(k) else {
                return Ok(true);
            };
            if !r.residual.is_empty() {
                let Some(values) = self.store.get(Tree::Index, &keys::values_key(ty, id))? else {
                    return Ok(true);
                };
                if !r
                    .residual
                    .iter()
                    .all(|f| f.matches(&values_of(&values, &f.field)))
                {
                    return Ok(true);
                }
            }
            let go_on = if r.covering && !v.is_empty() {
                item(k, id, v)?
            } else if let Some(doc) = self.store.get(Tree::Published, &keys::entry(ty, id))? {
                item(k, id, &doc)?
            } else {
                true
            };
            if !go_on {
                more = true;
            }
            Ok(go_on)
        };
        self.store.visit_range(
            Tree::Index,
            &r.start,
            &r.end,
            r.descending,
            &mut |k, v| match step(k, v) {
                Ok(go_on) => go_on,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            },
        )?;
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(more)
    }

    fn count_range(
        &self,
        ty: &str,
        start: &[u8],
        end: &[u8],
        residual: &[&Condition],
    ) -> ContentResult<u64> {
        let keys = self
            .store
            .scan_range_keys(Tree::Index, start, end, usize::MAX)?;
        if residual.is_empty() {
            return Ok(keys.len() as u64);
        }
        let mut n = 0;
        for k in &keys {
            let Some(id) = keys::id_of_index_key(k) else {
                continue;
            };
            if let Some(values) = self.store.get(Tree::Index, &keys::values_key(ty, id))?
                && residual
                    .iter()
                    .all(|f| f.matches(&values_of(&values, &f.field)))
            {
                n += 1;
            }
        }
        Ok(n)
    }
}
