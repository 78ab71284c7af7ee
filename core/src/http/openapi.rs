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

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::schema::components::{any_of, into_map, pascal, shared_docs, type_components};
use crate::schema::{ContentType, FieldKind, RESERVED_FIELDS, SchemaRegistry};

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
                    "description": "An API token (`Authorization: Bearer vb_…`), issued by an admin with POST /api/v1/admin/tokens or the CLI. Roles: admin (everything), editor (write drafts, publish), reviewer (transitions), reader (delivery previews of drafts).",
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

// ---------------------------------------------------------------------------------------------
// Fixed schemas
// ---------------------------------------------------------------------------------------------

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn api_schemas() -> Vec<(&'static str, Value)> {
    let date_time = json!({"type": "string", "format": "date-time"});
    vec![
        ("ErrorCode", error_code_schema()),
        (
            "Grant",
            json!({
                "type": "object",
                "description": "Read access of a plugin to a content type, with or without its personal data.",
                "required": ["content_type", "personal_data"],
                "properties": {
                    "content_type": {"type": "string"},
                    "personal_data": {"type": "boolean"},
                },
            }),
        ),
        (
            "CallLimits",
            json!({
                "type": "object",
                "description": "Limits of one call of a plugin hook; the call fails at any of them.",
                "required": ["fuel", "wall_ms", "memory_mib", "host_bytes", "output_bytes"],
                "properties": {
                    "fuel": {"type": "integer", "minimum": 0, "description": "Wasm fuel (about one unit per instruction)."},
                    "wall_ms": {"type": "integer", "minimum": 0, "description": "Wall time in milliseconds."},
                    "memory_mib": {"type": "integer", "minimum": 0, "description": "Linear memory in MiB (at most 512)."},
                    "host_bytes": {"type": "integer", "minimum": 0, "description": "Bytes the plugin may receive from host calls in one call."},
                    "output_bytes": {"type": "integer", "minimum": 0, "description": "Bytes of the result."},
                },
            }),
        ),
        (
            "LimitOverride",
            json!({
                "type": "object",
                "description": "An admin's override of a hook's default limits; unset (or null) fields keep the default, other keys are ignored.",
                "properties": {
                    "fuel": {"type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX},
                    "wall_ms": {"type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX},
                    "memory_mib": {"type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX, "description": "Capped at 512."},
                    "host_bytes": {"type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX},
                    "output_bytes": {"type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX},
                },
            }),
        ),
        (
            "PluginRecord",
            json!({
                "type": "object",
                "description": "An installed plugin as stored: its manifest, the grants it asked for and was given, its state and the admin's settings.",
                "required": ["name", "version", "contract", "description", "hash", "size", "hooks", "requested", "granted", "workflows", "exports", "enabled", "limits", "config", "installed_at", "updated_at"],
                "properties": plugin_record_properties(),
            }),
        ),
        (
            "Plugin",
            json!({
                "type": "object",
                "description": "An installed plugin as the admin API shows it: the stored record plus its recent faults, its grants as labels and the limits in effect per hook.",
                "required": ["name", "version", "enabled", "faults", "grants", "effective_limits"],
                "properties": {
                    "faults": {"type": "integer", "minimum": 0, "description": "Faults in the recent window (the server disables a plugin that keeps failing)."},
                    "grants": {
                        "type": "object",
                        "required": ["requested", "granted"],
                        "properties": {
                            "requested": {"type": "array", "items": {"type": "string", "examples": ["read:story", "read:subscriber+personal"]}},
                            "granted": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                    "effective_limits": {
                        "type": "object",
                        "propertyNames": {"enum": ["describe", "validate", "on-transition", "export"]},
                        "additionalProperties": schema_ref("CallLimits"),
                    },
                },
                "allOf": [schema_ref("PluginRecord")],
            }),
        ),
        (
            "InstallReport",
            json!({
                "type": "object",
                "description": "What an install (or its dry run) did or would do.",
                "required": ["plugin", "upgraded_from", "requests_added", "requests_removed", "dry_run"],
                "properties": {
                    "plugin": schema_ref("PluginRecord"),
                    "upgraded_from": {"type": ["string", "null"], "description": "The version replaced, for an upgrade."},
                    "requests_added": {"type": "array", "items": {"type": "string"}, "description": "Grants the new version asks for that the old one did not."},
                    "requests_removed": {"type": "array", "items": {"type": "string"}, "description": "Grants the old version asked for that the new one does not (they are dropped)."},
                    "dry_run": {"type": "boolean"},
                },
            }),
        ),
        (
            "PluginSettings",
            json!({
                "type": "object",
                "description": "New settings of a plugin: `limits` replaces the limit overrides (by hook), `config` replaces the settings the plugin reads with `config(key)`. Absent keys keep what is set; other keys are ignored.",
                "properties": {
                    "limits": {
                        "type": "object",
                        "propertyNames": {"enum": ["describe", "validate", "on-transition", "export"]},
                        "additionalProperties": schema_ref("LimitOverride"),
                        "examples": [{"validate": {"wall_ms": 50}}],
                    },
                    "config": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "examples": [{"website": "https://www.example.org/"}],
                    },
                },
            }),
        ),
        (
            "ExportResult",
            json!({
                "type": "object",
                "description": "The artifacts a plugin export produced.",
                "required": ["artifacts"],
                "properties": {
                    "artifacts": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "media_type", "size", "base64"],
                            "properties": {
                                "name": {"type": "string", "examples": ["issue.html"]},
                                "media_type": {"type": "string", "examples": ["text/html"]},
                                "size": {"type": "integer", "minimum": 0, "description": "Bytes before encoding."},
                                "base64": {"type": "string", "contentEncoding": "base64"},
                            },
                        },
                    },
                },
            }),
        ),
        (
            "DataSubjectExport",
            json!({
                "type": "object",
                "description": "Everything stored about a person (GDPR Art. 15): entries of personal types with every version and their history, and the personal fields of other entries in every version.",
                "required": ["email", "exported_at", "entries", "note"],
                "properties": {
                    "email": {"type": "string"},
                    "exported_at": date_time.clone(),
                    "entries": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["type", "id", "versions"],
                            "properties": {
                                "type": {"type": "string"},
                                "id": {"type": "string"},
                                "current": {"type": "object"},
                                "history": {"type": "array", "items": schema_ref("HistoryItem")},
                                "title": {},
                                "personal_fields": {"type": "object"},
                                "versions": {"type": "array", "items": {"type": "object"}},
                            },
                        },
                    },
                    "note": {"type": "string"},
                },
            }),
        ),
        (
            "MergePatch",
            json!({
                "type": "object",
                "description": "A JSON Merge Patch (RFC 7386) of the entry's fields: keys set a field, `null` removes it, objects merge. The result is validated like a full replacement. Metadata keys are ignored.",
            }),
        ),
    ]
}

fn plugin_record_properties() -> Value {
    let date_time = json!({"type": "string", "format": "date-time"});
    json!({
        "name": {"type": "string", "examples": ["newsletter-export"]},
        "version": {"type": "string"},
        "contract": {"type": "string", "description": "The contract version the plugin was built against."},
        "description": {"type": "string"},
        "hash": {"type": "string", "description": "SHA-256 of the component, hex."},
        "size": {"type": "integer", "minimum": 0},
        "hooks": {"type": "array", "items": {"type": "string", "enum": ["describe", "validate", "on-transition", "export"]}},
        "requested": {"type": "array", "items": schema_ref("Grant")},
        "granted": {"type": "array", "items": schema_ref("Grant")},
        "workflows": {"type": "array", "items": {"type": "object"}, "description": "The workflows (states and transitions) the plugin defines."},
        "exports": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "description"],
                "properties": {"name": {"type": "string"}, "description": {"type": "string"}},
            },
        },
        "enabled": {"type": "boolean"},
        "disabled_reason": {"type": "string"},
        "limits": {"type": "object", "additionalProperties": schema_ref("LimitOverride")},
        "config": {"type": "object", "additionalProperties": {"type": "string"}},
        "installed_at": date_time.clone(),
        "updated_at": date_time,
    })
}

// ---------------------------------------------------------------------------------------------
// Parameters, headers, shared responses
// ---------------------------------------------------------------------------------------------

fn header_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/headers/{name}")})
}

fn response_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

/// Names the type-dependent query parameters may use, over all types (OpenAPI cannot make a
/// parameter's schema depend on the `type` in the path; the server answers a name the type
/// does not have with 400 unknown_field).
#[derive(Default)]
struct QueryNames {
    /// `fields` of the delivery API: metadata and the non-personal fields of public types.
    fields: BTreeSet<String>,
    /// `sort`: sortable non-personal fields of public types and `published_at`.
    sort: BTreeSet<String>,
    /// `include`: reference fields of public types.
    include: BTreeSet<String>,
    /// `filter[…]` of the delivery API: filterable or sortable non-personal fields of public
    /// types and `published_at`.
    delivery_filter: BTreeSet<String>,
    /// `filter[…]` of the management list: every field of every type, and `locale`.
    manage_filter: BTreeSet<String>,
}

impl QueryNames {
    fn of(types: &[&ContentType]) -> Self {
        let mut n = QueryNames::default();
        n.fields
            .extend(RESERVED_FIELDS.iter().map(|s| s.to_string()));
        n.sort.insert("published_at".into());
        n.delivery_filter.insert("published_at".into());
        n.manage_filter.insert("locale".into());
        for ct in types {
            n.manage_filter.extend(ct.fields.keys().cloned());
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
fn regex_escape(name: &str) -> String {
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
fn list_pattern(names: &BTreeSet<String>, prefix: &str, max: usize) -> String {
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
fn filter_value_schema(kind: FieldKind) -> Value {
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
        _ => json!({"type": "string"}),
    }
}

/// The query parameters whose names depend on the content type, for `ct` (each content
/// type's paths use their own: `FieldsStory`, `SortStory`, …).
fn type_parameters(ct: &ContentType) -> Vec<(String, Value)> {
    let p = pascal(&ct.name);
    let names = QueryNames::of(&[ct]);
    let ty = &ct.name;
    let mut out = vec![(
        format!("ManageFilter{p}"),
        json!({
            "name": "filter", "in": "query", "style": "deepObject", "explode": true,
            "description": format!("Filters `filter[field]=value`: {ty} entries whose field equals the value as text (for a list field: holds such an item), or `filter[locale]=de`. Another name is a 400 unknown_field."),
            "schema": {
                "type": "object",
                "propertyNames": {"enum": names.manage_filter},
                "additionalProperties": {"type": "string"},
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
            "schema": {"type": "string", "pattern": list_pattern(&names.fields, "", super::delivery::MAX_FIELDS)},
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
            "schema": {"type": "string", "pattern": list_pattern(&names.include, "", super::delivery::MAX_INCLUDES)},
        }),
    ));
    out.push((
        format!("Sort{p}"),
        json!({
            "name": "sort", "in": "query",
            "description": format!("Comma-separated sort keys, `-` for descending (`+` or nothing for ascending): the sortable fields of {ty} and `published_at` (default `-published_at`). Others are a 400 unknown_field."),
            "schema": {"type": "string", "pattern": list_pattern(&names.sort, "(?:-|\\+*)", super::delivery::MAX_SORT_KEYS)},
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
                "maxProperties": super::delivery::MAX_FILTERS,
            },
        }),
    ));
    out
}

/// The `filter[…]` names of a public type, each with the text its field's kind takes.
fn delivery_filter_properties(ct: &ContentType, names: &BTreeSet<String>) -> Map<String, Value> {
    names
        .iter()
        .map(|name| {
            let kind = match ct.fields.get(name) {
                // A list field's filter compares an item.
                Some(f) if f.kind == FieldKind::Array => f.item_kind.unwrap_or(FieldKind::Other),
                Some(f) => f.kind,
                None => FieldKind::DateTime, // published_at
            };
            (name.clone(), filter_value_schema(kind))
        })
        .collect()
}

/// Parameters whose names depend on the content type (generic paths use them; the document
/// lists the per-type ones).
const TYPE_PARAMETERS: [&str; 5] = [
    "Fields",
    "Include",
    "Sort",
    "DeliveryFilter",
    "ManageFilter",
];

/// A generic `{type}` path item made into the path item of `ct`: no `type` parameter, the
/// type's own schemas (`StoryPublic` for `AnyPublic`, …) and query parameters, and operation
/// ids (and the links naming them) suffixed with the type (`listContentStory`).
fn specialize(item: &Value, ct: &ContentType, public: &BTreeSet<&str>) -> Value {
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

fn parameters(types: &[&ContentType]) -> Value {
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

pub(super) fn shared_headers() -> Value {
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

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": schema_ref("Problem")}},
    })
}

fn shared_responses() -> Value {
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
fn responses(specific: Value) -> Value {
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

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

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

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        document(&SchemaRegistry::builtin())
    }

    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                m.values().for_each(|c| walk(c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }

    /// Every code a description names in parentheses, like "(version_conflict)", is in the
    /// error table, so the document cannot promise a code the server does not have.
    #[test]
    fn described_codes_are_in_the_error_table() {
        let text = doc().to_string();
        let names: BTreeSet<&str> = super::super::Code::ALL.iter().map(|c| c.name()).collect();
        let mut unknown = BTreeSet::new();
        for part in text.split('(').skip(1) {
            let Some(word) = part.split(')').next() else {
                continue;
            };
            let is_code =
                word.contains('_') && word.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            if is_code && !names.contains(word) {
                unknown.insert(word.to_string());
            }
        }
        assert!(unknown.is_empty(), "codes not in codes.rs: {unknown:?}");
    }

    /// Which paths and methods there are is checked against the router itself
    /// (`http::tests::the_document_lists_exactly_the_routes_of_the_router`).
    #[test]
    fn is_openapi_3_1_without_generic_type_paths() {
        let d = doc();
        assert_eq!(d["openapi"], "3.1.0");
        assert_eq!(d["info"]["title"], "Verbund API");
        assert_eq!(d["servers"][0]["url"], "/");
        let paths = d["paths"].as_object().unwrap();
        assert!(
            paths.keys().all(|p| !p.contains("{type}")),
            "{:?}",
            paths.keys()
        );
    }

    #[test]
    fn every_operation_is_named_tagged_and_limited() {
        let d = doc();
        let mut ids = BTreeSet::new();
        for (path, item) in d["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if method == "parameters" {
                    continue;
                }
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
                assert!(op["summary"].is_string(), "{method} {path}");
                let tag = op["tags"][0].as_str().unwrap();
                assert!(
                    ["delivery", "management", "admin", "newsletter", "ops"].contains(&tag),
                    "{tag}"
                );
                for status in ["408", "413", "429", "503"] {
                    assert!(
                        op["responses"].get(status).is_some(),
                        "{method} {path} lacks {status}"
                    );
                }
                // A token is checked before anything else: every operation that takes one
                // documents 401.
                if op["security"].to_string().contains("bearerAuth") {
                    assert!(op["responses"].get("401").is_some(), "{method} {path}");
                }
                // JSON bodies are refused in other media types.
                if op["requestBody"]["content"]
                    .get("application/json")
                    .is_some()
                {
                    assert!(op["responses"].get("415").is_some(), "{method} {path}");
                }
            }
        }
        assert!(ids.contains("listContentStory") && ids.contains("createEntryMember"));
    }

    /// Whether `value` matches `pattern` as a JSON Schema validator reads it.
    fn matches(pattern: &str, value: &str) -> bool {
        jsonschema::validator_for(&json!({"type": "string", "pattern": pattern}))
            .unwrap()
            .is_valid(&json!(value))
    }

    #[test]
    fn token_expiry_pattern_is_what_the_server_accepts() {
        let mut samples: Vec<String> = [
            "never",
            "Never",
            "never ",
            " 90d",
            "90d",
            "90D",
            "d",
            "5",
            "5dd",
            "-1d",
            "+1d",
            "1.5d",
            "0d",
            "00d",
            "0001d",
            "1w",
            "",
            "18446744073709551616d",
            "99999999999999999999s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for (unit, max) in [
            ("d", 36_500u64),
            ("h", 876_000),
            ("m", 52_560_000),
            ("s", 3_153_600_000),
        ] {
            for n in [
                1,
                9,
                10,
                99,
                100,
                max / 7,
                max / 2,
                max - 1,
                max,
                max + 1,
                max * 10,
            ] {
                samples.push(format!("{n}{unit}"));
                samples.push(format!("000{n}{unit}"));
            }
            // Every boundary of each digit of the maximum.
            let digits = max.to_string();
            for i in 0..digits.len() {
                for d in 0..=9u8 {
                    let mut v = digits.clone().into_bytes();
                    v[i] = b'0' + d;
                    samples.push(format!("{}{unit}", String::from_utf8(v).unwrap()));
                }
            }
        }
        for s in samples {
            let server = crate::auth::parse_duration(&s).is_ok();
            assert_eq!(matches(EXPIRES_PATTERN, &s), server, "expires {s:?}");
        }
    }

    #[test]
    fn grant_and_if_match_patterns() {
        for (grants, ok) in [
            ("read:story", true),
            ("read:story, read:subscriber+personal", true),
            (",read:story,,", true),
            ("", true),
            ("write:story", false),
            ("read:", false),
            ("read:Story", false),
            ("read:story+private", false),
        ] {
            assert_eq!(matches(GRANT_PATTERN, grants), ok, "{grants:?}");
            let server = grants
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .all(|p| crate::plugin::Grant::parse(p).is_ok());
            assert_eq!(server, ok, "{grants:?}");
        }
        for (v, ok) in [
            ("\"3\"", true),
            ("3", true),
            ("W/\"3\"", true),
            (" \"+0003\" ", true),
            ("\"18446744073709551615\"", false),
            ("\"9999999999999999999\"", true),
            ("\"-1\"", false),
            ("\"3\", \"4\"", false),
            ("*", false),
        ] {
            assert_eq!(matches(IF_MATCH_PATTERN, v), ok, "{v:?}");
        }
    }

    #[test]
    fn type_dependent_query_parameters_name_the_fields_of_public_types() {
        let d = doc();
        let p = &d["components"]["parameters"];
        let fields = p["FieldsStory"]["schema"]["pattern"].as_str().unwrap();
        assert!(matches(fields, "title, slug"));
        assert!(matches(fields, "id,,version"));
        assert!(!matches(fields, "nope"));
        assert!(!matches(fields, "city"), "a field of member, not of story");
        let fields = p["FieldsMember"]["schema"]["pattern"].as_str().unwrap();
        assert!(matches(fields, "name,city"));
        assert!(
            !matches(fields, "contact_email"),
            "personal fields are not deliverable"
        );
        let sort = p["SortStory"]["schema"]["pattern"].as_str().unwrap();
        assert!(matches(sort, "-published_at,+title"));
        assert!(!matches(sort, "--title"));
        let include = p["IncludeStory"]["schema"]["pattern"].as_str().unwrap();
        assert!(matches(include, "members"));
        assert!(!matches(include, "title"));
        let filters = p["ManageFilterSubscriber"]["schema"]["propertyNames"]["enum"].to_string();
        assert!(filters.contains("\"email\"") && filters.contains("\"locale\""));
        assert!(
            p.get("FieldsSubscriber").is_none(),
            "no delivery of a personal type"
        );
        let filters = &p["DeliveryFilterStory"]["schema"];
        assert_eq!(filters["additionalProperties"], false);
        assert!(filters["properties"].get("email").is_none());
        assert_eq!(filters["properties"]["topics"]["type"], "string");
        // Each filter takes the text its field's kind parses from.
        let at = &filters["properties"]["published_at"];
        assert_eq!(at["anyOf"][0]["format"], "date-time", "{at}");
        let number = p["DeliveryFilterCooperation"]["schema"]["properties"]["year"]["pattern"]
            .as_str()
            .unwrap();
        for ok in ["2026", "-2.5", "1e3", ".5", "inf", "NaN"] {
            assert!(matches(number, ok), "{ok}");
            assert!(ok.parse::<f64>().is_ok());
        }
        for bad in ["", " 3", "3,4", "1e", "0x10", "--1"] {
            assert!(!matches(number, bad), "{bad}");
            assert!(bad.parse::<f64>().is_err(), "{bad}");
        }
        // Lists are bounded as the server bounds them.
        let four = "title,title,title,title";
        assert!(matches(sort, four) && !matches(sort, &format!("{four},title")));
        // The per-type paths use them, with the type's own schemas.
        let list = &d["paths"]["/api/v1/content/story"]["get"];
        assert_eq!(list["operationId"], "listContentStory");
        let text = list.to_string();
        assert!(
            text.contains("#/components/parameters/FieldsStory"),
            "{text}"
        );
        assert!(text.contains("#/components/schemas/StoryPublic"), "{text}");
        assert!(
            !text.contains("AnyPublic") && !text.contains("DeliveryType"),
            "{text}"
        );
        assert!(d["paths"].get("/api/v1/content/subscriber").is_none());
        let create = d["paths"]["/api/v1/manage/member"]["post"].to_string();
        assert!(
            create.contains("#/components/schemas/MemberCreate"),
            "{create}"
        );
    }

    #[test]
    fn personal_data_stays_out_of_public_schemas() {
        let d = doc();
        let s = &d["components"]["schemas"];
        let public = s["MemberPublic"].to_string();
        assert!(!public.contains("contact_email"), "{public}");
        assert!(!public.contains("contact_phone"));
        assert!(public.contains("\"city\""));
        assert!(s["MemberEntry"].to_string().contains("contact_email"));
        assert!(!s["StoryPublic"].to_string().contains("contact_email"));
        assert!(s["StoryPublic"]["properties"]["title"].is_object());
        // Personal types have no public schema and no delivery path.
        assert!(s.get("SubscriberPublic").is_none());
        assert!(s.get("SubscriberEntry").is_some());
        let paths = &d["paths"];
        assert!(paths.get("/api/v1/content/subscriber").is_none());
        assert!(
            paths
                .get("/api/v1/content/subscriber/{id_or_slug}")
                .is_none()
        );
        assert!(paths.get("/api/v1/content/story").is_some());
        assert!(paths.get("/api/v1/manage/subscriber/{id}").is_some());
    }

    #[test]
    fn type_schemas_use_components_for_common_definitions() {
        let d = doc();
        let s = &d["components"]["schemas"];
        let story = &s["StoryFields"];
        assert!(story.get("$schema").is_none() && story.get("$id").is_none());
        assert_eq!(
            story["properties"]["slug"]["$ref"],
            "#/components/schemas/Common_slug"
        );
        assert_eq!(
            s["Common_topics"]["items"]["$ref"],
            "#/components/schemas/Common_topic"
        );
        assert_eq!(s["StoryCreate"]["additionalProperties"], false);
        assert!(s["StoryCreate"]["properties"]["locale"].is_object());
        assert!(s["StoryReplace"]["properties"]["version"].is_object());
    }

    #[test]
    fn every_ref_resolves_inside_the_document() {
        let d = doc();
        let mut refs = Vec::new();
        walk(&d, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("external $ref {r}"));
            assert!(d.pointer(pointer).is_some(), "dangling $ref {r}");
        }
    }
}
