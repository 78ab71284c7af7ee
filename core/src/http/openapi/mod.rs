//! The OpenAPI 3.1 description of the whole HTTP API, as served by `GET /openapi.json`.
//!
//! The operations are generated: `routes.rs` registers every handler with aide, which makes
//! each operation from the handler's types (`typed.rs`). [`document`] takes them and adds what
//! comes from the content types of a [`SchemaRegistry`] at start-up: one path per content type
//! in place of each generic `{type}` path, with that type's schemas and query names, and the
//! answers every operation may give. For every type `t` (component name `T`, the type name in
//! PascalCase) `components.schemas` holds:
//!
//! - `TFields`: the type's JSON Schema as written, without `$schema`/`$id`, with its `$ref`s
//!   rewritten to components (`https://schemas.verbund.dev/common.json#/$defs/x` becomes
//!   `#/components/schemas/Common_x`; refs that cannot be resolved are dropped, keeping their
//!   sibling keywords such as `description`);
//! - `TCreate` / `TReplace`: request bodies of `POST /api/v1/manage/t` and `PUT …/{id}` (the
//!   fields plus the metadata the handlers accept or ignore);
//! - `TEntry`: an entry as the management API returns it (metadata and every field);
//! - `TPublic` (public types only): an entry as the delivery API returns it, without the
//!   fields marked `x-verbund.pii`.
//!
//! The registry keeps content types only, not shared definition files, so the `$defs` of
//! `common.json` come from the copy built into this binary.
//!
//! The description is meant to be exact enough for contract testing (tests/contract/run runs
//! schemathesis against a live server): every route of the router is here, every status a
//! handler can answer with is listed, and each per-type path states exactly the names and
//! values that type's `fields`, `sort`, `include` and `filter[…]` take; the operator form of
//! delivery filters (`filter[field][op]`) is described in prose.

mod fixed;
mod parameters;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::schema::components::{any_of, into_map, pascal, shared_docs, type_components};
use crate::schema::{ContentType, FieldKind, RESERVED_FIELDS, SchemaRegistry};
use fixed::*;
pub(super) use parameters::shared_headers;
use parameters::*;

/// Token lifetimes `parse_duration` accepts: `never`, or 1 up to 36500 days written in d, h, m
/// or s (leading zeros allowed).
pub(super) const EXPIRES_PATTERN: &str = concat!(
    "^(?:never",
    "|0*(?:[1-9][0-9]{0,3}|[12][0-9]{4}|3[0-5][0-9]{3}|36[0-4][0-9]{2}|36500)d",
    "|0*(?:[1-9][0-9]{0,4}|[1-7][0-9]{5}|8[0-6][0-9]{4}|87[0-5][0-9]{3}|876000)h",
    "|0*(?:[1-9][0-9]{0,6}|[1-4][0-9]{7}|5[01][0-9]{6}|52[0-4][0-9]{5}|525[0-5][0-9]{4}|52560000)m",
    "|0*(?:[1-9][0-9]{0,8}|[12][0-9]{9}|30[0-9]{8}|31[0-4][0-9]{7}|315[0-2][0-9]{6}|3153[0-5][0-9]{5}|3153600000)s",
    ")$"
);

/// `If-Match` values the write handlers read as a version: surrounding spaces, any `W/`
/// prefixes and quotes around an optional `+` and a number that fits 64 bits.
const IF_MATCH_PATTERN: &str = "^[ \\t]*(?:W/)*\"*\\+?0*[0-9]{1,19}\"*[ \\t]*$";

/// Grants as `POST /api/v1/admin/plugins?grant=` takes them: comma-separated `read:TYPE` or
/// `read:TYPE+personal`, blank items skipped.
pub(super) const GRANT_PATTERN: &str = "^[ \\t]*(?:read:[a-z0-9_]+(?:\\+personal)?)?[ \\t]*(?:,[ \\t]*(?:read:[a-z0-9_]+(?:\\+personal)?)?[ \\t]*)*$";

/// Newsletter link tokens: `base64url(payload).base64url(signature)`.
pub(super) const LINK_TOKEN_PATTERN: &str = "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$";

/// The OpenAPI 3.1.0 document of the whole API, with the content types of `schemas` (what
/// `router` serves; for tests).
#[cfg(test)]
pub fn document(schemas: &SchemaRegistry) -> Value {
    let mut api = aide::openapi::OpenApi::default();
    let _ = super::routes::api_routes().finish_api(&mut api);
    assemble(&api, schemas)
}

/// The document from the operations aide generated while building the router (`api`) and the
/// content types of `schemas`.
pub(super) fn assemble(api: &aide::openapi::OpenApi, schemas: &SchemaRegistry) -> Value {
    let types: Vec<&ContentType> = schemas.types().map(|t| t.as_ref()).collect();
    let public: Vec<&ContentType> = types.iter().copied().filter(|t| t.is_public()).collect();

    let mut components = Map::new();
    let shared = shared_docs(&mut components);
    for ct in &types {
        type_components(ct, &shared, &mut components);
    }
    components.insert(
        "AnyPublic".into(),
        any_of(
            public
                .iter()
                .map(|t| (t.name.as_str(), pascal(&t.name) + "Public")),
            "A published entry of any public type (its `type` tells which).",
        ),
    );
    components.insert(
        "AnyEntry".into(),
        any_of(
            types
                .iter()
                .map(|t| (t.name.as_str(), pascal(&t.name) + "Entry")),
            "An entry of any type, as the management API returns it.",
        ),
    );
    components.insert(
        "AnyCreate".into(),
        any_of(
            types
                .iter()
                .map(|t| (t.name.as_str(), pascal(&t.name) + "Create")),
            "The body creating an entry of the type in the path: see `<Type>Create`.",
        ),
    );
    components.insert(
        "AnyReplace".into(),
        any_of(
            types.iter().map(|t| (t.name.as_str(), pascal(&t.name) + "Replace")),
            "The body replacing the fields of an entry of the type in the path: see `<Type>Replace`.",
        ),
    );
    for (name, schema) in api_schemas() {
        components.insert(name.into(), schema);
    }
    // Where every type refuses unknown properties, so does a merge patch (after merging).
    if !types.is_empty()
        && types
            .iter()
            .all(|t| t.schema.get("additionalProperties") == Some(&Value::Bool(false)))
    {
        let names: BTreeSet<&str> = types
            .iter()
            .filter_map(|t| t.schema.get("properties").and_then(Value::as_object))
            .flat_map(|props| props.keys().map(String::as_str))
            .chain(RESERVED_FIELDS.iter().copied())
            .chain(["published_version"])
            .collect();
        if let Some(patch) = components.get_mut("MergePatch") {
            patch["propertyNames"] = json!({"enum": names});
        }
    }

    // The operations, generated from the router and its handlers' types.
    let generated = serde_json::to_value(api).unwrap_or_default();
    let mut derived_names = Vec::new();
    if let Some(derived) = generated["components"]["schemas"].as_object() {
        for (name, schema) in derived {
            if !components.contains_key(name) {
                derived_names.push(name.clone());
                components.insert(name.clone(), schema.clone());
            }
        }
    }
    // The error body every problem response has: the type `ApiError` renders.
    let mut generator = schemars::generate::SchemaSettings::draft07()
        .with(|s| s.definitions_path = "#/components/schemas/".into())
        .for_serialize()
        .into_generator();
    generator.subschema_for::<super::error::Problem>();
    for (name, schema) in generator.take_definitions(true) {
        components.insert(name, schema);
    }
    let mut paths = generated["paths"].as_object().cloned().unwrap_or_default();
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut() {
            finish_operation(op);
        }
    }

    // One path per content type, with that type's exact schemas and query names; the
    // server also answers the generic `{type}` forms, which the document leaves out.
    let generic: Vec<(String, Value)> = paths
        .iter()
        .filter(|(k, _)| k.contains("{type}"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (path, _) in &generic {
        paths.remove(path);
    }
    let public_names: BTreeSet<&str> = public.iter().map(|t| t.name.as_str()).collect();
    for ct in &types {
        for (path, item) in &generic {
            if path.starts_with("/api/v1/content/") && !ct.is_public() {
                continue;
            }
            paths.insert(
                path.replace("{type}", &ct.name),
                specialize(item, ct, &public_names),
            );
        }
    }

    // The fields each public type can be filtered, sorted and included by.
    for ct in &public {
        if let Some(op) = paths
            .get_mut(&format!("/api/v1/content/{}", ct.name))
            .and_then(|item| item.get_mut("get"))
            && let Some(d) = op["description"].as_str()
        {
            op["description"] = json!(format!(
                "{d} The fields of this type:\n\n{}",
                query_fields_description(&[ct])
            ));
        }
    }

    // Types derived only for parameters (path and query structs) are not schemas of bodies.
    let referenced = referenced_schemas(&paths, &components);
    for name in derived_names {
        if !referenced.contains(&name) {
            components.remove(&name);
        }
    }

    // A path parameter that is not UTF-8 once percent-decoded is a 400 wherever there is one.
    for (path, item) in paths.iter_mut() {
        if !path.contains('{') {
            continue;
        }
        if let Some(item) = item.as_object_mut() {
            for (method, op) in item.iter_mut() {
                if method != "parameters" && op["responses"].get("400").is_none() {
                    op["responses"]["400"] = response_ref("BadRequest");
                }
            }
        }
    }

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Verbund API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": info_description(),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "delivery", "description": "Public, read-only, cacheable: published entries of public types, without personal data."},
            {"name": "management", "description": "Creating, editing, publishing and deleting entries; needs a token with a role."},
            {"name": "admin", "description": "Tokens, the audit log, backups, data-subject requests and plugins; needs an admin token."},
            {"name": "media", "description": "The asset library: uploading, listing, editing and deleting logos, photos and documents; needs a token with a role. Their files are served under /assets (tag delivery)."},
            {"name": "newsletter", "description": "Public newsletter sign-up with double opt-in, confirmation and one-click unsubscribe (RFC 8058)."},
            {"name": "ops", "description": "Health, metrics, this description and the content types' schemas."},
        ],
        "paths": paths,
        "components": {
            "schemas": components,
            "parameters": parameters(&types),
            "responses": shared_responses(),
            "headers": shared_headers(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "vb_<prefix>_<secret>",
                    "description": "An API token (`Authorization: Bearer vb_…`), issued by an admin with POST /api/v1/admin/tokens or the CLI. Roles: admin (everything), editor (write drafts; publish the types no review plugin governs), reviewer (transitions: approve and publish), reader (delivery previews of drafts).",
                }
            },
        },
    })
}

/// The names of the component schemas `paths` refers to, directly or through other schemas.
fn referenced_schemas(
    paths: &Map<String, Value>,
    components: &Map<String, Value>,
) -> BTreeSet<String> {
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(name) = m
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    out.push(name.to_string());
                }
                m.values().for_each(|c| refs(c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| refs(c, out)),
            _ => {}
        }
    }
    let mut todo = Vec::new();
    paths.values().for_each(|p| refs(p, &mut todo));
    let mut seen = BTreeSet::new();
    while let Some(name) = todo.pop() {
        if seen.insert(name.clone())
            && let Some(schema) = components.get(&name)
        {
            refs(schema, &mut todo);
        }
    }
    seen
}

/// What the route docs leave to the document: the answers every operation may give (limits,
/// timeouts, failures).
fn finish_operation(op: &mut Value) {
    let specific = std::mem::take(&mut op["responses"]);
    op["responses"] = responses(specific);
}

/// The error table as a schema: every code, each with its status and meaning.
fn error_code_schema() -> Value {
    let codes = super::Code::ALL;
    json!({
        "type": "string",
        "description": "A stable error code. Each has one HTTP status:\n\n".to_string()
            + &super::Code::markdown_table(),
        "enum": codes.iter().map(|c| c.name()).collect::<Vec<_>>(),
        "x-error-codes": codes
            .iter()
            .map(|c| json!({"code": c.name(), "status": c.status().as_u16(), "title": c.title(), "description": c.doc()}))
            .collect::<Vec<_>>(),
    })
}

fn info_description() -> String {
    [
        "Verbund is a headless CMS: content types are JSON Schemas, every entry is validated, \
         every version kept, and published entries are served over a cacheable delivery API.",
        "",
        "- **Delivery** (`/api/v1/content`, `/api/v1/changes`): public, no token needed. \
         Responses carry a strong `ETag` (send it back as `If-None-Match` for a 304), \
         `Cache-Control` and a `Surrogate-Key` naming the entries they contain. Fields marked \
         as personal data and personal types never appear here.",
        "- **Management** (`/api/v1/manage`): a bearer token with a role. `PUT`, `PATCH` and \
         `DELETE` need `If-Match: \"<version>\"` (428 without, 409 with a stale version).",
        "- **Admin** (`/api/v1/admin`): tokens, the audit log, online backups, data-subject \
         requests (GDPR export and erasure) and plugins, admin role; NDJSON import and export of \
         entries live at `/api/v1/import` and `/api/v1/export`.",
        "- **Newsletter** (`/api/v1/newsletter`): public sign-up with double opt-in, \
         confirmation and one-click unsubscribe; the links answer browsers with pages.",
        "",
        "Every content type has its own paths (`/api/v1/content/story`, \
         `/api/v1/manage/member/{id}`, …) with its exact schemas: bodies, entries, and the \
         names `fields`, `sort`, `include` and `filter[…]` take. The server also answers the \
         generic forms with `{type}` in the path, which this document leaves out.",
        "",
        "Errors are RFC 9457 `application/problem+json` with a stable `code` from one table \
         (the `ErrorCode` schema and `x-error-codes` list each code with its status, title and \
         meaning); validation errors list every problem as `errors[]` of `{pointer, message}`. Any request may be answered \
         with 408/503 (timeout, overload), 413 (body too large) or 429 (rate limited, with \
         `Retry-After`).",
    ]
    .join("\n")
}

/// Which fields of each public type can be filtered and sorted on, for the list description.
fn query_fields_description(public: &[&ContentType]) -> String {
    let mut lines = Vec::new();
    for ct in public {
        let filterable: Vec<&str> = ct
            .indexed_fields()
            .filter(|(_, f)| !f.pii)
            .map(|(n, _)| n)
            .chain(["published_at"])
            .collect();
        let sortable: Vec<&str> = ct
            .fields
            .iter()
            .filter(|(_, f)| f.sortable && !f.pii)
            .map(|(n, _)| n.as_str())
            .chain(["published_at"])
            .collect();
        let include: Vec<&str> = ct.reference_fields().map(|(n, _)| n).collect();
        lines.push(format!(
            "- `{}`: filter on {}; sort by {}; include {}",
            ct.name,
            filterable.join(", "),
            sortable.join(", "),
            if include.is_empty() {
                "nothing".to_string()
            } else {
                include.join(", ")
            }
        ));
    }
    lines.join("\n")
}

/// `included` of a type: for each type its reference fields point to, that type's published
/// entries (none for a type that is never delivered).
fn included_for(ct: &ContentType, public: &BTreeSet<&str>) -> Value {
    let mut props = Map::new();
    for (_, target) in ct.reference_fields() {
        let items = if public.contains(target) {
            json!({"type": "array", "items": schema_ref(&(pascal(target) + "Public"))})
        } else {
            json!({"type": "array", "maxItems": 0})
        };
        props.insert(target.to_string(), items);
    }
    json!({
        "type": "object",
        "description": "With `include`: the published entries the chosen reference fields point to, each once, by type.",
        "properties": props,
        "additionalProperties": false,
    })
}
