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
use serde_json::Value;

use super::keys::{self, TAG_NULL, encode_scalar};
use super::public_index::{COMPOSITE_SORT, sort_fields, values_of};
use super::{ContentError, ContentResult, ContentService};
use crate::schema::{ContentType, FieldKind};
use crate::store::{Tree, prefix_end};

/// A comparison of a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Eq,
    Ne,
    In,
    Lt,
    Lte,
    Gt,
    Gte,
    Contains,
}

impl FilterOp {
    pub const ALL: [(&'static str, FilterOp); 8] = [
        ("eq", FilterOp::Eq),
        ("ne", FilterOp::Ne),
        ("in", FilterOp::In),
        ("lt", FilterOp::Lt),
        ("lte", FilterOp::Lte),
        ("gt", FilterOp::Gt),
        ("gte", FilterOp::Gte),
        ("contains", FilterOp::Contains),
    ];

    pub fn parse(s: &str) -> Option<FilterOp> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, o)| *o)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, o)| *o == self)
            .map(|(n, _)| *n)
            .unwrap_or("eq")
    }
}

/// One filter as the client wrote it (`in` takes comma-separated values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub field: String,
    pub op: FilterOp,
    pub value: String,
}

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

/// What is wrong with a query; each names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("unknown field {field:?} in {param}; fields of {ty} you can use here: {}", allowed.join(", "))]
    UnknownField {
        param: &'static str,
        ty: String,
        field: String,
        allowed: Vec<String>,
    },
    #[error(
        "unknown filter operator {op:?} for {field}; use one of: eq, ne, in, lt, lte, gt, gte, contains"
    )]
    UnknownOperator { field: String, op: String },
    #[error("operator {op} does not apply to {field} ({why})")]
    OperatorMismatch {
        field: String,
        op: &'static str,
        why: &'static str,
    },
    #[error("{value:?} is not a valid value for {field}: expected {expected}")]
    BadValue {
        field: String,
        value: String,
        expected: &'static str,
    },
    #[error("the cursor is not valid for this query; start again without a cursor")]
    BadCursor,
}

/// A filter resolved against the schema: encoded targets.
struct Resolved {
    field: String,
    op: FilterOp,
    targets: Vec<Vec<u8>>,
    /// Answered by the scan range itself.
    consumed: bool,
}

fn encode_typed(field: &str, kind: FieldKind, raw: &str) -> Result<Vec<u8>, QueryError> {
    let bad = |expected| QueryError::BadValue {
        field: field.to_string(),
        value: raw.to_string(),
        expected,
    };
    let value = match kind {
        FieldKind::Number => Value::from(raw.parse::<f64>().map_err(|_| bad("a number"))?),
        FieldKind::Boolean => match raw {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad("true or false")),
        },
        FieldKind::DateTime => {
            if let Some(t) = keys::normalise_instant(raw) {
                Value::String(t)
            } else if let Ok(d) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
                // A bare date means its start, in UTC.
                Value::String(
                    d.and_hms_opt(0, 0, 0)
                        .map(|t| t.and_utc().to_rfc3339())
                        .unwrap_or_default(),
                )
            } else {
                return Err(bad(
                    "an RFC 3339 instant like 2026-11-22T09:00:00Z, or a date like 2026-11-22",
                ));
            }
        }
        _ => Value::String(raw.to_string()),
    };
    let mut out = Vec::new();
    encode_scalar(kind, &value, &mut out);
    Ok(out)
}

/// The kind of a field's (item) values, and whether the field is an array.
fn field_shape(ct: &ContentType, field: &str) -> Option<(FieldKind, bool)> {
    if field == "published_at" {
        return Some((FieldKind::DateTime, false));
    }
    let spec = ct.fields.get(field)?;
    // Personal data is never a delivery criterion: a filter would reveal it one guess at a time.
    if spec.pii || !(spec.filterable || spec.sortable) {
        return None;
    }
    Some(match spec.kind {
        FieldKind::Array => (spec.item_kind.unwrap_or(FieldKind::String), true),
        k => (k, false),
    })
}

fn filterable_names(ct: &ContentType) -> Vec<String> {
    let mut v: Vec<String> = ct
        .indexed_fields()
        .filter(|(_, f)| !f.pii)
        .map(|(n, _)| n.to_string())
        .collect();
    v.push("published_at".into());
    v
}

fn matches(values: &[&[u8]], f: &Resolved) -> bool {
    let t = &f.targets;
    match f.op {
        FilterOp::Eq | FilterOp::Contains => values.iter().any(|v| *v == t[0].as_slice()),
        FilterOp::Ne => values.iter().all(|v| *v != t[0].as_slice()),
        FilterOp::In => values.iter().any(|v| t.iter().any(|x| *v == x.as_slice())),
        FilterOp::Lt | FilterOp::Lte | FilterOp::Gt | FilterOp::Gte => {
            values.first().is_some_and(|v| {
                v.first() != Some(&TAG_NULL)
                    && match f.op {
                        FilterOp::Lt => *v < t[0].as_slice(),
                        FilterOp::Lte => *v <= t[0].as_slice(),
                        FilterOp::Gt => *v > t[0].as_slice(),
                        _ => *v >= t[0].as_slice(),
                    }
            })
        }
    }
}

impl ContentService {
    /// Runs a delivery query over the published entries of `ty`.
    pub fn query_published(&self, ty: &str, q: &DeliveryQuery) -> ContentResult<Page> {
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

        // Filters.
        let mut filters = Vec::new();
        for f in &q.filters {
            let Some((kind, is_array)) = field_shape(&ct, &f.field) else {
                return Err(bad(QueryError::UnknownField {
                    param: "filter",
                    ty: ty.into(),
                    field: f.field.clone(),
                    allowed: filterable_names(&ct),
                }));
            };
            let mismatch = |why| {
                bad(QueryError::OperatorMismatch {
                    field: f.field.clone(),
                    op: f.op.name(),
                    why,
                })
            };
            match f.op {
                FilterOp::Contains if !is_array => return Err(mismatch("it is not a list")),
                FilterOp::Lt | FilterOp::Lte | FilterOp::Gt | FilterOp::Gte if is_array => {
                    return Err(mismatch("it is a list; use contains or in"));
                }
                _ => {}
            }
            let raw: Vec<&str> = if f.op == FilterOp::In {
                f.value.split(',').collect()
            } else {
                vec![f.value.as_str()]
            };
            let targets = raw
                .iter()
                .map(|r| encode_typed(&f.field, kind, r))
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad)?;
            filters.push(Resolved {
                field: f.field.clone(),
                op: f.op,
                targets,
                consumed: false,
            });
        }

        // The driving range.
        let driver = (sort == COMPOSITE_SORT)
            .then(|| {
                filters.iter().position(|f| {
                    matches!(f.op, FilterOp::Eq | FilterOp::Contains)
                        && ct.fields.get(&f.field).is_some_and(|s| s.filterable)
                })
            })
            .flatten();
        let prefix = match driver {
            Some(i) => {
                filters[i].consumed = true;
                keys::composite_prefix(ty, locale, &filters[i].field, &filters[i].targets[0], &sort)
            }
            None => keys::public_index_prefix(ty, locale, &sort),
        };
        let mut start = prefix.clone();
        let mut end = prefix_end(&prefix);
        for f in filters.iter_mut().filter(|f| f.field == sort) {
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
            f.consumed = true;
        }
        let residual: Vec<&Resolved> = filters.iter().filter(|f| !f.consumed).collect();

        let total = if filters.is_empty() {
            super::plan::counter_value(
                self.store
                    .get(Tree::Meta, &keys::locale_count_key(ty, locale))?,
            )
        } else if filters.len() == 1 && driver.is_some() {
            let f = &filters[0];
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
        let mut items = Vec::with_capacity(limit);
        let mut last_key = None;
        let mut more = false;
        let chunk = if residual.is_empty() {
            limit + 1
        } else {
            (limit + 1) * 4
        };
        'scan: loop {
            let batch = self
                .store
                .scan_range(Tree::Index, &start, &end, descending, chunk)?;
            let exhausted = batch.len() < chunk;
            for (k, _) in &batch {
                let Some(id) = keys::id_of_index_key(k) else {
                    continue;
                };
                if !residual.is_empty() {
                    let Some(values) = self.store.get(Tree::Index, &keys::values_key(ty, id))?
                    else {
                        continue;
                    };
                    if !residual
                        .iter()
                        .all(|f| matches(&values_of(&values, &f.field), f))
                    {
                        continue;
                    }
                }
                if items.len() == limit {
                    more = true;
                    break 'scan;
                }
                if let Some(doc) = self.store.get(Tree::Published, &keys::entry(ty, id))? {
                    items.push((id.to_string(), doc));
                    last_key = Some(k.clone());
                }
            }
            match batch.last() {
                Some((k, _)) if !exhausted => {
                    if descending {
                        end = k.clone();
                    } else {
                        start = k.clone();
                        start.push(0);
                    }
                }
                _ => break,
            }
        }
        let next_cursor = if more {
            last_key.map(|k| URL_SAFE_NO_PAD.encode(k))
        } else {
            None
        };
        Ok(Page {
            items,
            next_cursor,
            total,
        })
    }

    fn count_range(
        &self,
        ty: &str,
        start: &[u8],
        end: &[u8],
        residual: &[&Resolved],
    ) -> ContentResult<u64> {
        let keys = self
            .store
            .scan_range(Tree::Index, start, end, false, usize::MAX)?;
        if residual.is_empty() {
            return Ok(keys.len() as u64);
        }
        let mut n = 0;
        for (k, _) in &keys {
            let Some(id) = keys::id_of_index_key(k) else {
                continue;
            };
            if let Some(values) = self.store.get(Tree::Index, &keys::values_key(ty, id))?
                && residual
                    .iter()
                    .all(|f| matches(&values_of(&values, &f.field), f))
            {
                n += 1;
            }
        }
        Ok(n)
    }
}
