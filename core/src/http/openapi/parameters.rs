//! Query parameters per content type (names and values of `fields`, `sort`, `include`,
//! `filter[…]`), the shared headers and the answers every operation may give.

use super::*;
use crate::content::filter::View;

pub(super) fn header_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/headers/{name}")})
}

pub(super) fn response_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

/// Names the type-dependent query parameters may use, over all types (OpenAPI cannot make a
/// parameter's schema depend on the `type` in the path; the server answers a name the type
/// does not have with 400 unknown_field).
#[derive(Default)]
pub(super) struct QueryNames {
    /// `fields` of the delivery API: metadata and the non-personal fields of public types.
    fields: BTreeSet<String>,
    /// `sort`: sortable non-personal fields of public types and `published_at`.
    sort: BTreeSet<String>,
    /// `include`: reference fields of public types.
    include: BTreeSet<String>,
    /// `filter[…]` of the delivery API: filterable or sortable non-personal fields of public
    /// types and `published_at`.
    delivery_filter: BTreeSet<String>,
}

impl QueryNames {
    fn of(types: &[&ContentType]) -> Self {
        let mut n = QueryNames::default();
        n.fields
            .extend(RESERVED_FIELDS.iter().map(|s| s.to_string()));
        n.sort.insert("published_at".into());
        n.delivery_filter.insert("published_at".into());
        for ct in types {
            if !ct.is_public() {
                continue;
            }
            for (name, f) in &ct.fields {
                if f.pii {
                    continue;
                }
                n.fields.insert(name.clone());
                if f.sortable {
                    n.sort.insert(name.clone());
                }
                if f.filterable || f.sortable {
                    n.delivery_filter.insert(name.clone());
                }
            }
            n.include
                .extend(ct.reference_fields().map(|(name, _)| name.to_string()));
        }
        n
    }
}

/// Escapes a name for a regular expression.
pub(super) fn regex_escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A comma-separated list as the delivery handlers read it (items trimmed, blank items
/// skipped), each item `prefix` then one of `names`, at most `max` items (the server's bound;
/// blank items count here, so the pattern is never wider than the server).
pub(super) fn list_pattern(names: &BTreeSet<String>, prefix: &str, max: usize) -> String {
    if names.is_empty() {
        // Only blank items, which the server skips.
        return "^[ \\t,]*$".into();
    }
    let alternatives: Vec<String> = names.iter().map(|n| regex_escape(n)).collect();
    let item = format!("[ \\t]*(?:{prefix}(?:{}))?[ \\t]*", alternatives.join("|"));
    format!("^{item}(?:,{item}){{0,{}}}$", max.saturating_sub(1))
}

/// The text a delivery filter takes for a field of `kind` (`filter[field]=value`): exactly what
/// the server parses (numbers as Rust reads an `f64`, `true`/`false`, RFC 3339 instants or
/// dates); other kinds compare as text.
pub(super) fn filter_value_schema(kind: FieldKind) -> Value {
    match kind {
        FieldKind::Number => json!({
            "type": "string",
            "pattern": "^[+-]?(?:[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN]|(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?)$",
            "examples": ["3", "2.5"],
        }),
        FieldKind::Boolean => json!({"type": "string", "enum": ["true", "false"]}),
        FieldKind::DateTime => json!({
            "type": "string",
            "anyOf": [{"format": "date-time"}, {"format": "date"}],
            "examples": ["2026-11-22T09:00:00Z", "2026-11-22"],
        }),
        FieldKind::Date => json!({"type": "string", "format": "date", "examples": ["2026-11-22"]}),
        _ => json!({"type": "string"}),
    }
}

/// The query parameters whose names depend on the content type, for `ct` (each content
/// type's paths use their own: `FieldsStory`, `SortStory`, …).
pub(super) fn type_parameters(ct: &ContentType) -> Vec<(String, Value)> {
    let p = pascal(&ct.name);
    let names = QueryNames::of(&[ct]);
    let ty = &ct.name;
    let mut out = vec![(
        format!("ManageFilter{p}"),
        json!({
            "name": "filter", "in": "query", "style": "deepObject", "explode": true,
            "description": format!("Filters `filter[field]=value` on the current versions of {ty}: any field that holds a value or a list of values, and the metadata `id`, `locale`, `state`, `created_at`, `updated_at`, `published_at` (personal fields for admins only, else 403). The same language as the delivery API: values are typed by the field's kind, a list field matches when it holds the value, and `filter[field][op]=value` takes eq, ne, in (comma-separated), lt, lte, gt, gte or contains. Another name is a 400 unknown_field."),
            "schema": {
                "type": "object",
                "properties": crate::content::filter::fields(ct, View::Current { personal: true })
                    .into_iter()
                    .map(|(name, kind)| {
                        let schema = field_filter_schema(ct, &name, kind);
                        (name, schema)
                    })
                    .collect::<Map<String, Value>>(),
                "additionalProperties": false,
                "maxProperties": crate::content::filter::MAX_FILTERS,
            },
        }),
    )];
    if !ct.is_public() {
        return out;
    }
    out.push((
        format!("Fields{p}"),
        json!({
            "name": "fields", "in": "query",
            "description": format!("Comma-separated fields of {ty} to return (id, type, locale and version are always included): metadata and its non-personal fields. Another name is a 400 unknown_field."),
            "schema": {"type": "string", "pattern": list_pattern(&names.fields, "", crate::http::delivery::MAX_FIELDS)},
        }),
    ));
    out.push((
        format!("Include{p}"),
        json!({
            "name": "include", "in": "query",
            "description": if names.include.is_empty() {
                format!("{ty} has no reference fields, so nothing to include; a name is a 400 unknown_field.")
            } else {
                format!("Comma-separated reference fields of {ty} whose published targets to return in `included`, by type. Another name is a 400 unknown_field.")
            },
            "schema": {"type": "string", "pattern": list_pattern(&names.include, "", crate::http::delivery::MAX_INCLUDES)},
        }),
    ));
    out.push((
        format!("Sort{p}"),
        json!({
            "name": "sort", "in": "query",
            "description": format!("Comma-separated sort keys, `-` for descending (`+` or nothing for ascending): the sortable fields of {ty} and `published_at` (default `-published_at`). Others are a 400 unknown_field."),
            "schema": {"type": "string", "pattern": list_pattern(&names.sort, "(?:-|\\+*)", crate::http::delivery::MAX_SORT_KEYS)},
            "examples": {"newest": {"value": "-published_at"}},
        }),
    ));
    out.push((
        format!("DeliveryFilter{p}"),
        json!({
            "name": "filter", "in": "query", "style": "deepObject", "explode": true,
            "description": format!("Equality filters `filter[field]=value` on the filterable or sortable fields of {ty} and `published_at` (values are typed: numbers, `true`/`false`, RFC 3339 instants or dates). The operator form `filter[field][op]=value` is described with the operation. A value of the wrong kind is a 400."),
            "schema": {
                "type": "object",
                "properties": delivery_filter_properties(ct, &names.delivery_filter),
                "additionalProperties": false,
                "maxProperties": crate::content::filter::MAX_FILTERS,
            },
        }),
    ));
    out
}

/// The `filter[…]` names of a public type, each with the text its field's kind takes.
pub(super) fn delivery_filter_properties(
    ct: &ContentType,
    names: &BTreeSet<String>,
) -> Map<String, Value> {
    names
        .iter()
        .map(|name| {
            let kind = match ct.fields.get(name) {
                // A list field's filter compares an item.
                Some(f) if f.kind == FieldKind::Array => f.item_kind.unwrap_or(FieldKind::Other),
                Some(f) => f.kind,
                None => FieldKind::DateTime, // published_at
            };
            (name.clone(), field_filter_schema(ct, name, kind))
        })
        .collect()
}

/// The text `filter[name]=value` takes: one of the field's values when its schema names them
/// (any other is a 400: a typo finds nothing, so it is an error), else by its kind.
fn field_filter_schema(ct: &ContentType, name: &str, kind: FieldKind) -> Value {
    match ct.fields.get(name) {
        Some(f) if !f.values.is_empty() => json!({"type": "string", "enum": f.values}),
        _ => filter_value_schema(kind),
    }
}

/// Parameters whose names depend on the content type (generic paths use them; the document
/// lists the per-type ones).
pub(super) const TYPE_PARAMETERS: [&str; 5] = [
    "Fields",
    "Include",
    "Sort",
    "DeliveryFilter",
    "ManageFilter",
];

/// A generic `{type}` path item made into the path item of `ct`: no `type` parameter, the
/// type's own schemas (`StoryPublic` for `AnyPublic`, …) and query parameters, and operation
/// ids (and the links naming them) suffixed with the type (`listContentStory`).
pub(super) fn specialize(item: &Value, ct: &ContentType, public: &BTreeSet<&str>) -> Value {
    fn is_type_param(v: &Value) -> bool {
        v.get("in").and_then(Value::as_str) == Some("path")
            && v.get("name").and_then(Value::as_str) == Some("type")
    }
    fn walk(v: &mut Value, p: &str, included: &Value) {
        match v {
            Value::Object(m)
                if m.get("$ref").and_then(Value::as_str)
                    == Some("#/components/schemas/Included") =>
            {
                *v = included.clone()
            }
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get_mut("$ref") {
                    if let Some(name) = r.strip_prefix("#/components/parameters/") {
                        if TYPE_PARAMETERS.contains(&name) {
                            *r = format!("{r}{p}");
                        }
                    } else if let Some(kind) = r.strip_prefix("#/components/schemas/Any")
                        && ["Public", "Entry", "Create", "Replace"].contains(&kind)
                    {
                        *r = format!("#/components/schemas/{p}{kind}");
                    }
                }
                if let Some(Value::String(op)) = m.get_mut("operationId") {
                    op.push_str(p);
                }
                match m.get_mut("parameters") {
                    // A link's parameters: the type is in the path now.
                    Some(Value::Object(params)) => {
                        params.remove("type");
                    }
                    Some(Value::Array(params)) => params.retain(|x| !is_type_param(x)),
                    _ => {}
                }
                m.values_mut().for_each(|c| walk(c, p, included));
            }
            Value::Array(a) => a.iter_mut().for_each(|c| walk(c, p, included)),
            _ => {}
        }
    }
    let mut v = item.clone();
    walk(&mut v, &pascal(&ct.name), &included_for(ct, public));
    v
}

pub(super) fn parameters(types: &[&ContentType]) -> Value {
    let mut params = json!({
        "IfNoneMatch": {
            "name": "If-None-Match", "in": "header",
            "description": "ETags the client has; a match (or `*`) answers 304 Not Modified.",
            "schema": {"type": "string"},
        },
        "IfMatch": {
            "name": "If-Match", "in": "header", "required": true,
            "description": "The version edited, as returned in the entry's ETag, e.g. `\"3\"`. Missing: 428 precondition_required; not a version: 400 invalid_if_match; stale: 409 version_conflict.",
            "schema": {"type": "string", "pattern": IF_MATCH_PATTERN},
            "examples": {"version": {"value": "\"1\""}},
        },
    });
    if let Some(m) = params.as_object_mut() {
        for ct in types {
            m.extend(type_parameters(ct));
        }
    }
    params
}

pub(in crate::http) fn shared_headers() -> Value {
    json!({
        "ETag": {
            "description": "Delivery: a strong validator of the body (send it as If-None-Match). Management: the entry's version, e.g. `\"3\"` (send it as If-Match).",
            "schema": {"type": "string"},
        },
        "CacheControl": {
            "description": "How the response may be cached.",
            "schema": {"type": "string"},
        },
        "SurrogateKey": {
            "description": "Space-separated cache tags of the response: the type and `type/id` of every entry in it, so that a CDN can purge exactly what changed.",
            "schema": {"type": "string"},
        },
        "Location": {
            "description": "The management URL of the new entry.",
            "schema": {"type": "string"},
        },
        "RetryAfter": {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "string"},
        },
        "WWWAuthenticate": {
            "description": "`Bearer` when a token was given but not accepted.",
            "schema": {"type": "string"},
        },
    })
}

pub(super) fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": schema_ref("Problem")}},
    })
}

pub(super) fn shared_responses() -> Value {
    let mut unauthorized = problem(
        "No token (unauthorized), a token that is not accepted (invalid_token) or an expired one (token_expired).",
    );
    unauthorized["headers"] = json!({"WWW-Authenticate": header_ref("WWWAuthenticate")});
    let mut too_many = problem("Rate limited (rate_limited); retry after `Retry-After` seconds.");
    too_many["headers"] = json!({"Retry-After": header_ref("RetryAfter")});
    json!({
        "BadRequest": problem("The request cannot be read: e.g. invalid_query, invalid_limit, unknown_parameter, unknown_field, unknown_operator, invalid_cursor, invalid_json, invalid_if_match, query_too_large (a delivery query beyond its bounds: 4096 bytes, 16 filters, 100 `in` values, 4 sort keys, 64 fields, 8 includes), or a path segment that is not UTF-8 once percent-decoded (bad_request)."),
        "Unauthorized": unauthorized,
        "Forbidden": problem("The token's role does not allow this (forbidden), or the workflow does not give this transition to the role (role_not_allowed)."),
        "NotFound": problem("Unknown content type (unknown_type) or entry (not_found)."),
        "UnsupportedMediaType": problem("The body is not sent as JSON (unsupported_media_type)."),
        "ValidationFailed": problem("The entry is invalid (validation_failed); `errors` lists every problem with its pointer."),
        "PreconditionRequired": problem("`If-Match` is missing (precondition_required)."),
        "RequestTimeout": problem("The request took too long (timeout)."),
        "PayloadTooLarge": problem("The request body is too large (payload_too_large)."),
        "TooManyRequests": too_many,
        "InternalError": problem("The server could not complete the request (internal); it has been logged."),
        "ServiceUnavailable": problem("The server is overloaded or the write kept conflicting (overloaded, contended), or has as many connections open as it allows (too_many_connections, answered before the request is read); try again."),
        "PluginsOff": problem("This server runs without the plugin host (plugins_off)."),
        "PluginFailed": problem("The plugin failed: it trapped, ran out of a limit or returned something invalid (plugin_failed)."),
    })
}

/// `specific` plus the answers every operation may give (limits, timeouts, failures).
pub(super) fn responses(specific: Value) -> Value {
    let mut m = into_map(specific);
    for (status, name) in [
        ("408", "RequestTimeout"),
        ("413", "PayloadTooLarge"),
        ("429", "TooManyRequests"),
        ("500", "InternalError"),
        ("503", "ServiceUnavailable"),
    ] {
        m.entry(status).or_insert_with(|| response_ref(name));
    }
    Value::Object(m)
}
