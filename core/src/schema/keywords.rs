//! Reading the `x-verbund` keywords of a content schema.
//!
//! Root: `{"title": "name", "slug": "slug", "markdown": ["body"], "personal": false,
//! "rules": [{"field": "ends_at", "after": "starts_at"}], "workflow": "default"}`.
//! Top-level property: `{"filterable": true, "sortable": true, "ref": "member", "pii": true,
//! "translatable": true}`. Root `path`: where a website shows an entry, e.g.
//! `"/{locale}/geschichten/{slug}"` (for `hreflang` links).
//! Unknown keys are errors, so that a typo does not silently switch a feature off.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::RESERVED_FIELDS;

/// Options of a content type (the root `x-verbund` keyword).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeOptions {
    /// The property shown as the entry's title.
    pub title: String,
    /// The property holding the entry's slug, unique per type and locale.
    #[serde(default)]
    pub slug: Option<String>,
    /// Properties holding Markdown.
    #[serde(default)]
    pub markdown: Vec<String>,
    /// The whole type is personal data: never served publicly.
    #[serde(default)]
    pub personal: bool,
    /// Cross-field rules JSON Schema cannot express.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// The lifecycle the type uses.
    #[serde(default = "default_workflow")]
    pub workflow: String,
    /// Where a website shows an entry: a pattern with `{locale}`, `{slug}` and `{id}`, e.g.
    /// `/{locale}/geschichten/{slug}`; delivery answers give each translation's path.
    #[serde(default)]
    pub path: Option<String>,
}

fn default_workflow() -> String {
    "default".into()
}

/// A cross-field rule: `field` must be later than (or greater than) `after`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub field: String,
    pub after: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PropertyKeywords {
    #[serde(default)]
    filterable: bool,
    #[serde(default)]
    sortable: bool,
    #[serde(default, rename = "ref")]
    reference: Option<String>,
    #[serde(default)]
    pii: bool,
    /// The field holds asset ids: `"image"` or `"file"`.
    #[serde(default)]
    asset: Option<crate::media::AssetKind>,
    /// The field is translated: a translation has its own value (see `content::translate`).
    #[serde(default)]
    translatable: bool,
    /// Labels of enum values per locale (checked by [`check_labels`]).
    #[serde(default)]
    #[allow(dead_code)]
    labels: Option<Value>,
}

/// Checks every `x-verbund.labels` of a schema document: `{"de": {"cloud": "Cloud", …}, …}`,
/// beside an `enum` that holds each labelled value, with text labels. Websites, plugins and
/// tools read the labels from the schema (`GET /api/v1/schemas/{type}`, the plugin host's
/// `schema`), so they are written once.
pub fn check_labels(v: &Value, at: &str) -> Result<(), String> {
    match v {
        Value::Object(m) => {
            if let Some(labels) = m.get("x-verbund").and_then(|x| x.get("labels")) {
                let values = m.get("enum").and_then(Value::as_array).ok_or_else(|| {
                    format!(
                        "x-verbund.labels at {at:?} labels an enum, but there is no enum beside it"
                    )
                })?;
                let locales = labels.as_object().ok_or_else(|| {
                    format!("x-verbund.labels at {at:?} must map locales to labels, e.g. {{\"de\": {{\"cloud\": \"Cloud\"}}}}")
                })?;
                for (locale, map) in locales {
                    let map = map.as_object().ok_or_else(|| {
                        format!(
                            "x-verbund.labels.{locale} at {at:?} must map enum values to labels"
                        )
                    })?;
                    for (value, label) in map {
                        if !values.iter().any(|e| e.as_str() == Some(value)) {
                            return Err(format!(
                                "x-verbund.labels.{locale} at {at:?} labels {value:?}, which is not one of its enum values"
                            ));
                        }
                        if !label.is_string() {
                            return Err(format!(
                                "x-verbund.labels.{locale}.{value} at {at:?} must be text"
                            ));
                        }
                    }
                }
            }
            for (k, child) in m {
                check_labels(child, &format!("{at}/{k}"))?;
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                check_labels(child, &format!("{at}/{i}"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The JSON shape of a top-level property, as far as indexing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    String,
    DateTime,
    Date,
    Number,
    Boolean,
    Array,
    Object,
    Other,
}

/// What Verbund knows about one top-level property.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    pub kind: FieldKind,
    /// For arrays: the kind of the items.
    pub item_kind: Option<FieldKind>,
    pub filterable: bool,
    pub sortable: bool,
    /// The type this field references (by id), if any.
    pub reference: Option<String>,
    /// Personal data: never served publicly, covered by data-subject export and erasure.
    pub pii: bool,
    pub required: bool,
    /// The field holds the id (or a list of ids) of assets of this kind.
    pub asset: Option<crate::media::AssetKind>,
    /// A translation has its own value; other fields are taken from the original.
    pub translatable: bool,
    /// The values the field (for a list: each item) may take, when the schema names them
    /// (`enum`); empty otherwise.
    pub values: Vec<String>,
}

/// Resolves `$ref`s of a schema: `(base URI or "" for the same document, JSON pointer)`.
pub type Resolver<'a> = dyn Fn(&str) -> Option<&'a Value> + 'a;

/// Follows `$ref` (a few hops at most) to the schema that says what the value is.
fn deref<'a>(doc: &'a Value, schema: &'a Value, resolve: &Resolver<'a>) -> &'a Value {
    let mut current = schema;
    for _ in 0..8 {
        let Some(r) = current.get("$ref").and_then(Value::as_str) else {
            break;
        };
        if current.get("type").is_some() {
            break;
        }
        let (base, pointer) = r.split_once('#').unwrap_or((r, ""));
        let target = if base.is_empty() {
            Some(doc)
        } else {
            resolve(base)
        };
        match target.and_then(|d| d.pointer(pointer)) {
            Some(t) => current = t,
            None => break,
        }
    }
    current
}

fn kind_of<'a>(doc: &'a Value, schema: &'a Value, resolve: &Resolver<'a>) -> FieldKind {
    let schema = deref(doc, schema, resolve);
    let ty = schema.get("type").and_then(Value::as_str);
    match ty {
        Some("string") => match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => FieldKind::DateTime,
            Some("date") => FieldKind::Date,
            _ => FieldKind::String,
        },
        Some("number" | "integer") => FieldKind::Number,
        Some("boolean") => FieldKind::Boolean,
        Some("array") => FieldKind::Array,
        Some("object") => FieldKind::Object,
        None if schema.get("enum").is_some() || schema.get("const").is_some() => FieldKind::String,
        _ => FieldKind::Other,
    }
}

/// The text values of an `enum` of a property, or of its items.
fn enum_of<'a>(doc: &'a Value, schema: &'a Value, resolve: &Resolver<'a>) -> Vec<String> {
    let schema = deref(doc, schema, resolve);
    let values = match schema.get("items") {
        Some(items) => deref(doc, items, resolve).get("enum"),
        None => schema.get("enum"),
    };
    values
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn items_of<'a>(doc: &'a Value, schema: &'a Value, resolve: &Resolver<'a>) -> Option<FieldKind> {
    let schema = deref(doc, schema, resolve);
    schema.get("items").map(|i| kind_of(doc, i, resolve))
}

/// Reads the root options and the top-level property specs of a schema.
pub fn read<'a>(
    doc: &'a Value,
    resolve: &Resolver<'a>,
) -> Result<(TypeOptions, BTreeMap<String, FieldSpec>), String> {
    let options: TypeOptions = serde_json::from_value(doc["x-verbund"].clone())
        .map_err(|e| format!("root x-verbund keyword: {e}"))?;
    let required: Vec<&str> = doc
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut fields = BTreeMap::new();
    if let Some(props) = doc.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            if RESERVED_FIELDS.contains(&name.as_str()) {
                return Err(format!(
                    "property {name:?} is reserved for entry metadata ({}); rename it",
                    RESERVED_FIELDS.join(", ")
                ));
            }
            let kw: PropertyKeywords = match prop.get("x-verbund") {
                Some(v) => serde_json::from_value(v.clone())
                    .map_err(|e| format!("x-verbund keyword of property {name}: {e}"))?,
                None => PropertyKeywords::default(),
            };
            let kind = kind_of(doc, prop, resolve);
            let item_kind = (kind == FieldKind::Array)
                .then(|| items_of(doc, prop, resolve))
                .flatten();
            if kw.sortable && kind == FieldKind::Array {
                return Err(format!(
                    "property {name} is marked sortable but is a list; only scalars can be sorted by"
                ));
            }
            if (kw.filterable || kw.sortable)
                && matches!(kind, FieldKind::Object | FieldKind::Other)
            {
                return Err(format!(
                    "property {name} is marked filterable/sortable but is not a scalar or an array of scalars"
                ));
            }
            if kw.asset.is_some() {
                let holds_ids = kind == FieldKind::String
                    || (kind == FieldKind::Array && item_kind == Some(FieldKind::String));
                if !holds_ids || kw.reference.is_some() || kw.pii {
                    return Err(format!(
                        "property {name} is marked as an asset field, so it must hold an asset id (a string, or a list of strings) and be neither a ref nor pii"
                    ));
                }
            }
            if kw.translatable {
                let text = kind == FieldKind::String
                    || (kind == FieldKind::Array && item_kind == Some(FieldKind::String));
                if !text || kw.reference.is_some() || kw.pii || kw.asset.is_some() || kw.filterable
                {
                    return Err(format!(
                        "property {name} is marked translatable, so it must hold text (a string or a list of strings) and be neither a ref, an asset, pii nor filterable (a filter value is the same in every locale)"
                    ));
                }
            }
            fields.insert(
                name.clone(),
                FieldSpec {
                    kind,
                    item_kind,
                    filterable: kw.filterable,
                    sortable: kw.sortable,
                    reference: kw.reference,
                    pii: kw.pii,
                    required: required.contains(&name.as_str()),
                    asset: kw.asset,
                    translatable: kw.translatable,
                    values: enum_of(doc, prop, resolve),
                },
            );
        }
    }
    if let Some(slug) = &options.slug
        && let Some(f) = fields.get_mut(slug)
    {
        // Slugs are unique per locale: every translation has its own.
        f.translatable = true;
    }
    let known = |f: &str| fields.contains_key(f);
    if !known(&options.title) {
        return Err(format!(
            "x-verbund.title names {:?}, which is not a property",
            options.title
        ));
    }
    if let Some(slug) = &options.slug
        && !known(slug)
    {
        return Err(format!(
            "x-verbund.slug names {slug:?}, which is not a property"
        ));
    }
    if let Some(path) = &options.path
        && (!path.starts_with('/') || path.contains("//"))
    {
        return Err(format!(
            "x-verbund.path {path:?} must be a path like \"/{{locale}}/geschichten/{{slug}}\""
        ));
    }
    for f in &options.markdown {
        if !known(f) {
            return Err(format!(
                "x-verbund.markdown names {f:?}, which is not a property"
            ));
        }
    }
    for r in &options.rules {
        if !known(&r.field) || !known(&r.after) {
            return Err(format!(
                "rule {} after {} names a field that is not a property",
                r.field, r.after
            ));
        }
    }
    Ok((options, fields))
}
