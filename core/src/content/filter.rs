//! The one filter language of Verbund. The delivery API (`filter[field][op]=value`), the
//! management list (the same syntax) and the plugin host's `query`/`query-page` all parse,
//! check and evaluate their conditions here, so an operator means the same everywhere.
//!
//! A condition is a field, an operator and a value written as text. The value is typed by the
//! field's schema kind: a number, `true`/`false`, an RFC 3339 instant or a bare date, or text;
//! `in` takes comma-separated values. Both sides are encoded with the index encoding
//! ([`keys::encode_scalar`]), so a condition answers the same whether it is checked against the
//! public index (delivery) or against a stored record (management, plugins).
//!
//! | operator | meaning |
//! |---|---|
//! | `eq` | equals; on a list: holds the value |
//! | `ne` | differs; on a list: does not hold the value |
//! | `in` | equals one of the values; on a list: holds one of them |
//! | `lt` `lte` `gt` `gte` | ordered comparison of a single value (numbers, dates, text by code point); never true for a missing value |
//! | `contains` | a list holds the value (lists only) |
//!
//! Which fields a query may name depends on its [`View`]: the published view offers the
//! schema's filterable and sortable fields and `published_at`, never a personal field; the
//! current view (editors and plugins) offers every scalar or list field and the metadata
//! fields `id`, `locale`, `state`, `created_at`, `updated_at`, `published_at`, personal ones
//! only to a caller allowed to see personal data.

use serde_json::Value;

use super::EntryRecord;
use super::keys::{self, TAG_NULL, encode_scalar};
use crate::schema::{ContentType, FieldKind};

/// At most this many conditions per query.
pub const MAX_FILTERS: usize = 16;
/// At most this many values in one `in`.
pub const MAX_IN_VALUES: usize = 100;

/// An operator of a condition.
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

    fn ordered(self) -> bool {
        matches!(
            self,
            FilterOp::Lt | FilterOp::Lte | FilterOp::Gt | FilterOp::Gte
        )
    }
}

/// One condition as the client wrote it (`in` takes comma-separated values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub field: String,
    pub op: FilterOp,
    pub value: String,
}

impl Filter {
    /// A condition from its parts; the operator by name.
    pub fn new(field: &str, op: &str, value: &str) -> Result<Filter, QueryError> {
        let op = FilterOp::parse(op).ok_or_else(|| QueryError::UnknownOperator {
            field: field.to_string(),
            op: op.to_string(),
        })?;
        let value = unquote(value);
        if op == FilterOp::In {
            let n = in_values(&value).len();
            if n > MAX_IN_VALUES {
                return Err(QueryError::TooMany {
                    what: format!("values in filter[{field}][in]"),
                    max: MAX_IN_VALUES,
                    got: n,
                });
            }
        }
        Ok(Filter {
            field: field.to_string(),
            op,
            value,
        })
    }

    /// Reads a query-string parameter `filter[field]` (meaning `eq`) or `filter[field][op]`;
    /// `None` when `key` is not a filter parameter.
    pub fn from_param(key: &str, value: &str) -> Option<Result<Filter, QueryError>> {
        let rest = key.strip_prefix("filter[")?;
        let (field, op) = match rest.split_once("][") {
            Some((f, op)) => (f, op.strip_suffix(']').unwrap_or(op)),
            None => (rest.strip_suffix(']').unwrap_or(rest), "eq"),
        };
        if field.is_empty() || field.contains(['[', ']']) {
            return Some(Err(QueryError::Malformed {
                param: key.to_string(),
            }));
        }
        Some(Filter::new(field, op, value))
    }
}

/// A value may also be written as a JSON string or, for `in`, a JSON array of scalars (what
/// plugins built against contract 1.0 sent); both mean their text.
fn unquote(raw: &str) -> String {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::String(s)) => s,
        Ok(Value::Array(items)) if items.iter().all(|i| !i.is_array() && !i.is_object()) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        _ => raw.to_string(),
    }
}

fn in_values(value: &str) -> Vec<&str> {
    value.split(',').collect()
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
    #[error("{value:?} is not a value of {field}; use one of: {}", allowed.join(", "))]
    NotAllowed {
        field: String,
        value: String,
        allowed: Vec<String>,
    },
    #[error(
        "{field} is personal data; only a caller allowed to see personal data may filter on it"
    )]
    PersonalData { field: String },
    #[error("at most {max} {what} per query, got {got}; split the query or narrow it")]
    TooMany {
        what: String,
        max: usize,
        got: usize,
    },
    #[error("{param:?} is not a filter; write filter[field]=value or filter[field][op]=value")]
    Malformed { param: String },
    #[error("the cursor is not valid for this query; start again without a cursor")]
    BadCursor,
}

/// The entries a query runs over; it decides which fields a condition may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The published view (delivery): filterable and sortable fields, never personal data.
    Published,
    /// The current versions in any state (management list, plugin queries).
    Current {
        /// Whether the caller may see (and so filter on) personal fields.
        personal: bool,
    },
}

/// Metadata fields of the current view, with their kind.
const META: [(&str, FieldKind); 6] = [
    ("id", FieldKind::String),
    ("locale", FieldKind::String),
    ("state", FieldKind::String),
    ("created_at", FieldKind::DateTime),
    ("updated_at", FieldKind::DateTime),
    ("published_at", FieldKind::DateTime),
];

/// A condition checked against the schema, its value encoded.
#[derive(Debug, Clone)]
pub struct Condition {
    pub field: String,
    pub op: FilterOp,
    /// The encoded value(s); several only for `in`.
    pub targets: Vec<Vec<u8>>,
    kind: FieldKind,
    meta: bool,
}

/// Checks `filters` against the schema of `ct` for `view` and encodes their values.
pub fn resolve(
    ct: &ContentType,
    filters: &[Filter],
    view: View,
) -> Result<Vec<Condition>, QueryError> {
    if filters.len() > MAX_FILTERS {
        return Err(QueryError::TooMany {
            what: "filters".into(),
            max: MAX_FILTERS,
            got: filters.len(),
        });
    }
    filters.iter().map(|f| condition(ct, f, view)).collect()
}

fn condition(ct: &ContentType, f: &Filter, view: View) -> Result<Condition, QueryError> {
    let field = f.field.as_str();
    let unknown = || QueryError::UnknownField {
        param: "filter",
        ty: ct.name.clone(),
        field: field.to_string(),
        allowed: allowed_fields(ct, view),
    };
    let mismatch = |why| QueryError::OperatorMismatch {
        field: field.to_string(),
        op: f.op.name(),
        why,
    };
    let mut allowed: &[String] = &[];
    let (kind, is_array, meta) = match (view, META.iter().find(|(n, _)| *n == field)) {
        (View::Published, _) if field == "published_at" => (FieldKind::DateTime, false, true),
        (View::Current { .. }, Some((_, kind))) => (*kind, false, true),
        _ => {
            let spec = ct.fields.get(field).ok_or_else(unknown)?;
            match view {
                // Personal data is never a delivery criterion: a filter would reveal it one
                // guess at a time.
                View::Published if spec.pii || !(spec.filterable || spec.sortable) => {
                    return Err(unknown());
                }
                View::Current { personal: false } if spec.pii => {
                    return Err(QueryError::PersonalData {
                        field: field.to_string(),
                    });
                }
                _ => {}
            }
            allowed = &spec.values;
            match spec.kind {
                FieldKind::Array => match spec.item_kind.unwrap_or(FieldKind::String) {
                    FieldKind::Array | FieldKind::Object => {
                        return Err(mismatch(
                            "it is a list of objects, which cannot be filtered",
                        ));
                    }
                    k => (k, true, false),
                },
                FieldKind::Object => {
                    return Err(mismatch("it is an object, which cannot be filtered"));
                }
                k => (k, false, false),
            }
        }
    };
    match f.op {
        FilterOp::Contains if !is_array => return Err(mismatch("it is not a list")),
        op if op.ordered() && is_array => {
            return Err(mismatch("it is a list; use contains or in"));
        }
        _ => {}
    }
    let raw = if f.op == FilterOp::In {
        in_values(&f.value)
    } else {
        vec![f.value.as_str()]
    };
    // A value the field can never hold is a mistake (a typo, a label instead of the value),
    // not a query with no results.
    if !allowed.is_empty()
        && matches!(
            f.op,
            FilterOp::Eq | FilterOp::Ne | FilterOp::In | FilterOp::Contains
        )
        && let Some(bad) = raw.iter().find(|r| !allowed.iter().any(|a| a == r.trim()))
    {
        return Err(QueryError::NotAllowed {
            field: field.to_string(),
            value: bad.to_string(),
            allowed: allowed.to_vec(),
        });
    }
    let targets = raw
        .iter()
        .map(|r| encode_typed(field, kind, r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Condition {
        field: field.to_string(),
        op: f.op,
        targets,
        kind,
        meta,
    })
}

/// The fields a condition may name in `view`, each with the kind its value is read as (a
/// list field's: its items').
pub fn fields(ct: &ContentType, view: View) -> Vec<(String, FieldKind)> {
    // `Other` (an enum without a type, a union) holds scalars as far as the index is concerned.
    let scalar = |k: FieldKind| !matches!(k, FieldKind::Array | FieldKind::Object);
    let own = ct.fields.iter().filter_map(move |(n, f)| {
        let kind = match f.kind {
            FieldKind::Array => f.item_kind.unwrap_or(FieldKind::String),
            k => k,
        };
        let visible = match view {
            View::Published => !f.pii && (f.filterable || f.sortable),
            View::Current { personal } => personal || !f.pii,
        };
        (visible && scalar(kind)).then(|| (n.clone(), kind))
    });
    match view {
        View::Published => own
            .chain([("published_at".to_string(), FieldKind::DateTime)])
            .collect(),
        View::Current { .. } => META
            .iter()
            .map(|(n, k)| (n.to_string(), *k))
            .chain(own)
            .collect(),
    }
}

/// The names of [`fields`], for error messages.
pub fn allowed_fields(ct: &ContentType, view: View) -> Vec<String> {
    fields(ct, view).into_iter().map(|(n, _)| n).collect()
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
        FieldKind::Date => {
            if chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").is_err() {
                return Err(bad("a date like 2026-11-22"));
            }
            Value::String(raw.to_string())
        }
        _ => Value::String(raw.to_string()),
    };
    let mut out = Vec::new();
    encode_scalar(kind, &value, &mut out);
    Ok(out)
}

/// The encoded values of a stored field: one per item of a list, one for a scalar, none when
/// the field is missing or holds something that cannot be compared.
pub fn encoded(kind: FieldKind, v: Option<&Value>) -> Vec<Vec<u8>> {
    let one = |v: &Value| {
        let mut e = Vec::new();
        encode_scalar(kind, v, &mut e).then_some(e)
    };
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(one).collect(),
        Some(v) => one(v).into_iter().collect(),
        None => Vec::new(),
    }
}

impl Condition {
    /// Whether a field with these encoded values meets the condition.
    pub fn matches(&self, values: &[&[u8]]) -> bool {
        let t = &self.targets;
        match self.op {
            FilterOp::Eq | FilterOp::Contains => values.iter().any(|v| *v == t[0].as_slice()),
            FilterOp::Ne => values.iter().all(|v| *v != t[0].as_slice()),
            FilterOp::In => values.iter().any(|v| t.iter().any(|x| *v == x.as_slice())),
            FilterOp::Lt | FilterOp::Lte | FilterOp::Gt | FilterOp::Gte => {
                values.first().is_some_and(|v| {
                    v.first() != Some(&TAG_NULL)
                        && match self.op {
                            FilterOp::Lt => *v < t[0].as_slice(),
                            FilterOp::Lte => *v <= t[0].as_slice(),
                            FilterOp::Gt => *v > t[0].as_slice(),
                            _ => *v >= t[0].as_slice(),
                        }
                })
            }
        }
    }

    /// Whether a stored record (its current version) meets the condition.
    pub fn holds(&self, rec: &EntryRecord) -> bool {
        let values = if self.meta {
            let text = |s: &str| Some(Value::String(s.to_string()));
            let time = |t: &chrono::DateTime<chrono::Utc>| Some(Value::String(t.to_rfc3339()));
            let v = match self.field.as_str() {
                "id" => text(&rec.id),
                "locale" => text(&rec.locale),
                "state" => text(&rec.state),
                "created_at" => time(&rec.created_at),
                "updated_at" => time(&rec.updated_at),
                _ => rec.published_at.as_ref().and_then(time),
            };
            encoded(self.kind, v.as_ref())
        } else {
            encoded(self.kind, rec.data.get(&self.field))
        };
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        self.matches(&refs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::SchemaRegistry;

    fn story() -> std::sync::Arc<ContentType> {
        SchemaRegistry::builtin().get("story").unwrap().clone()
    }

    fn rec(data: Value) -> EntryRecord {
        serde_json::from_value(serde_json::json!({
            "format": 1, "id": "01J0000000000000000000000A", "type": "story", "locale": "de",
            "state": "draft", "version": 1,
            "created_at": "2026-11-02T09:00:00Z", "updated_at": "2026-11-03T09:00:00Z",
            "data": data
        }))
        .unwrap()
    }

    fn holds(field: &str, op: &str, value: &str, data: Value) -> bool {
        let f = Filter::new(field, op, value).unwrap();
        let c = resolve(&story(), &[f], View::Current { personal: false }).unwrap();
        c[0].holds(&rec(data))
    }

    #[test]
    fn operators_mean_the_same_on_records_as_in_the_index() {
        let d = serde_json::json!({"kind": "news", "topics": ["cloud", "ki"], "title": "Über"});
        assert!(holds("kind", "eq", "news", d.clone()));
        assert!(!holds("kind", "ne", "news", d.clone()));
        assert!(holds("kind", "in", "interview,news", d.clone()));
        assert!(holds("kind", "in", r#"["interview","news"]"#, d.clone()));
        assert!(holds("topics", "contains", "ki", d.clone()));
        assert!(holds("topics", "eq", "cloud", d.clone()));
        assert!(!holds("topics", "ne", "cloud", d.clone()));
        assert!(holds("state", "eq", "draft", d.clone()));
        assert!(holds("created_at", "lt", "2026-11-03", d.clone()));
        assert!(!holds("created_at", "gt", "2026-11-03", d.clone()));
        assert!(holds("id", "gt", "01J0000000000000000000000", d.clone()));
        // A missing value is never ordered.
        assert!(!holds("kind", "lt", "zzz", serde_json::json!({})));
        assert!(holds("kind", "ne", "news", serde_json::json!({})));
    }

    #[test]
    fn mistakes_are_named() {
        let ct = story();
        let cur = View::Current { personal: false };
        let err = |f: Filter, view| resolve(&ct, &[f], view).unwrap_err();
        let e = err(Filter::new("kind", "contains", "news").unwrap(), cur);
        assert!(matches!(e, QueryError::OperatorMismatch { .. }), "{e}");
        let e = err(Filter::new("topics", "lt", "x").unwrap(), cur);
        assert!(e.to_string().contains("use contains or in"), "{e}");
        let e = err(Filter::new("farbe", "eq", "blau").unwrap(), cur);
        assert!(e.to_string().contains("fields of story"), "{e}");
        let e = err(Filter::new("created_at", "gt", "gestern").unwrap(), cur);
        assert!(e.to_string().contains("RFC 3339"), "{e}");
        // Metadata other than published_at is not part of the published view.
        let e = err(
            Filter::new("state", "eq", "draft").unwrap(),
            View::Published,
        );
        assert!(matches!(e, QueryError::UnknownField { .. }), "{e}");
        assert!(matches!(
            Filter::new("kind", "like", "x"),
            Err(QueryError::UnknownOperator { .. })
        ));
        assert!(matches!(
            Filter::from_param("filter[]", "x"),
            Some(Err(QueryError::Malformed { .. }))
        ));
        assert!(Filter::from_param("sort", "x").is_none());
    }
}
