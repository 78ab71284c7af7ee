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
        let locale = q.locale.as_str();

        // Sort: the first key drives the scan; ties are broken by id.
        let sortable: Vec<String> = sort_fields(&ct).into_iter().map(|(n, _)| n).collect();
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
        let mut filters: Vec<(Condition, bool)> = filter::resolve(&ct, &q.filters, View::Published)
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
        let residual: Vec<&Condition> = filters
            .iter()
            .filter(|(_, consumed)| !consumed)
            .map(|(f, _)| f)
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
            self.count_range(ty, &start, &end, &residual)?
        };

        // Resume after the cursor.
        if let Some(c) = &q.cursor {
            let key = URL_SAFE_NO_PAD
                .decode(c.as_bytes())
                .map_err(|_| bad(QueryError::BadCursor))?;
            if !key.starts_with(&prefix) || key.len() < prefix.len() + keys::ID_LEN {
                return Err(bad(QueryError::BadCursor));
            }
            if descending {
                end = end.min(key);
            } else {
                let mut after = key;
                after.push(0);
                start = start.max(after);
            }
        }

        let limit = q.limit.max(1);
        let mut emitted = 0;
        let mut last_key: Vec<u8> = Vec::new();
        let mut more = false;
        let mut failed: Option<ContentError> = None;
        // The default order's keys hold the public JSON (see `public_index`): no point reads.
        let covering = sort == COMPOSITE_SORT && driver.is_none();
        let mut step = |k: &[u8], v: &[u8]| -> ContentResult<bool> {
            let Some(id) = keys::id_of_index_key(k) else {
                return Ok(true);
            };
            if !residual.is_empty() {
                let Some(values) = self.store.get(Tree::Index, &keys::values_key(ty, id))? else {
                    return Ok(true);
                };
                if !residual
                    .iter()
                    .all(|f| f.matches(&values_of(&values, &f.field)))
                {
                    return Ok(true);
                }
            }
            if emitted == limit {
                more = true;
                return Ok(false);
            }
            if covering && !v.is_empty() {
                item(id, v)?;
            } else if let Some(doc) = self.store.get(Tree::Published, &keys::entry(ty, id))? {
                item(id, &doc)?;
            } else {
                return Ok(true);
            }
            emitted += 1;
            last_key.clear();
            last_key.extend_from_slice(k);
            Ok(true)
        };
        self.store.visit_range(
            Tree::Index,
            &start,
            &end,
            descending,
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
        let next_cursor = (more && emitted > 0).then(|| URL_SAFE_NO_PAD.encode(&last_key));
        Ok(PageMeta { next_cursor, total })
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
