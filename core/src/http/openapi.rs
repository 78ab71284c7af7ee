//! The OpenAPI 3.1 description of the whole HTTP API, as served by `GET /openapi.json`.
//!
//! [`document`] builds it from the content types of a [`SchemaRegistry`], so that it always
//! matches the schemas the server runs with. For every type `t` (component name `T`, the type
//! name in PascalCase) `components.schemas` holds:
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
//! The description is meant to be exact enough for contract testing (e.g. schemathesis): every
//! status a handler can answer with is listed, query parameters the handlers accept leniently
//! are described leniently, and the filter parameters of the delivery list (`filter[field]`,
//! `filter[field][op]`), which OpenAPI cannot express generically, are described in prose.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::schema::{ContentType, RESERVED_FIELDS, SchemaRegistry};

/// The shared definitions shipped with Verbund (not a content type, so not in the registry).
const COMMON_JSON: &str = include_str!("../../../schemas/common.json");

/// Component-name prefix of the shared definitions of `common.json`.
const COMMON_PREFIX: &str = "Common_";

/// Pattern of entry ids (ULIDs), as `is_valid_id` checks them.
const ID_PATTERN: &str = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$";

/// Pattern of locales, as the write path checks them (`de`, `en`, `de-AT`).
const LOCALE_PATTERN: &str = "^[a-z]{2}(-[A-Z]{2})?$";

/// The OpenAPI 3.1.0 document of the whole API, with the content types of `schemas`.
pub fn document(schemas: &SchemaRegistry) -> Value {
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

    let public_names: Vec<&str> = public.iter().map(|t| t.name.as_str()).collect();
    let all_names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();

    let mut paths = Map::new();
    paths.insert("/healthz".into(), healthz_path());
    paths.insert("/metrics".into(), metrics_path());
    paths.insert("/openapi.json".into(), openapi_path());
    paths.insert("/api/v1/content/{type}".into(), content_list_path(&public));
    paths.insert(
        "/api/v1/content/{type}/{id_or_slug}".into(),
        content_get_path(),
    );
    paths.insert("/api/v1/changes".into(), changes_path());
    paths.insert("/api/v1/manage/{type}".into(), manage_collection_path());
    paths.insert("/api/v1/manage/{type}/{id}".into(), manage_entry_path());
    paths.insert(
        "/api/v1/manage/{type}/{id}/revisions".into(),
        revisions_path(),
    );
    paths.insert(
        "/api/v1/manage/{type}/{id}/transitions".into(),
        transitions_path(),
    );
    paths.insert("/api/v1/admin/tokens".into(), tokens_path());
    paths.insert("/api/v1/admin/tokens/{id}".into(), token_path());
    paths.insert("/api/v1/admin/audit".into(), audit_path());

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
            {"name": "admin", "description": "Tokens and the audit log; needs an admin token."},
            {"name": "ops", "description": "Health, metrics and this description."},
        ],
        "paths": paths,
        "components": {
            "schemas": components,
            "parameters": parameters(&public_names, &all_names),
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
        "- **Admin** (`/api/v1/admin`): tokens and the audit log, admin role.",
        "",
        "Errors are RFC 9457 `application/problem+json` with a stable `code`; validation errors \
         list every problem as `errors[]` of `{pointer, message}`. Any request may be answered \
         with 408/503 (timeout, overload), 413 (body too large) or 429 (rate limited, with \
         `Retry-After`).",
    ]
    .join("\n")
}

// ---------------------------------------------------------------------------------------------
// Content-type schemas
// ---------------------------------------------------------------------------------------------

/// Where the `$ref`s of one schema document may point: its `$defs` (as components named
/// `prefix + name`) and, for content types, its root.
struct DocRefs {
    id: Option<String>,
    prefix: String,
    defs: BTreeSet<String>,
    root: Option<String>,
}

impl DocRefs {
    fn of(doc: &Value, prefix: String, root: Option<String>) -> Self {
        let defs = doc
            .get("$defs")
            .and_then(Value::as_object)
            .map(|m| {
                m.keys()
                    .filter(|k| is_component_name(&format!("{prefix}{k}")))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        DocRefs {
            id: doc.get("$id").and_then(Value::as_str).map(String::from),
            prefix,
            defs,
            root,
        }
    }
}

/// Component names must match `^[a-zA-Z0-9._-]+$`.
fn is_component_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `story` → `Story`, `case_study` → `CaseStudy`.
fn pascal(name: &str) -> String {
    name.split(['_', '-'])
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(first) => first.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// Where a `$ref` of a document described by `own` points in the OpenAPI document, if it
/// points anywhere this document holds.
fn resolve_ref(r: &str, own: &DocRefs, shared: &[DocRefs]) -> Option<String> {
    let (base, pointer) = r.split_once('#').unwrap_or((r, ""));
    let doc = if base.is_empty() || own.id.as_deref() == Some(base) {
        own
    } else {
        shared.iter().find(|d| d.id.as_deref() == Some(base))?
    };
    if pointer.is_empty() {
        return doc
            .root
            .as_ref()
            .map(|root| format!("#/components/schemas/{root}"));
    }
    if let Some(rest) = pointer.strip_prefix("/$defs/") {
        let (name, tail) = match rest.split_once('/') {
            Some((n, t)) => (n, Some(t)),
            None => (rest, None),
        };
        if !doc.defs.contains(name) {
            return None;
        }
        let mut out = format!("#/components/schemas/{}{name}", doc.prefix);
        if let Some(tail) = tail {
            out.push('/');
            out.push_str(tail);
        }
        return Some(out);
    }
    let root = doc.root.as_ref()?;
    pointer
        .starts_with('/')
        .then(|| format!("#/components/schemas/{root}{pointer}"))
}

/// Keywords whose values are maps of subschemas.
const SCHEMA_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// Keywords whose values are data, not subschemas.
const DATA_KEYWORDS: &[&str] = &[
    "enum", "const", "default", "examples", "example", "required",
];

/// Rewrites a schema in place for the OpenAPI document: drops `$schema`/`$id`, points `$ref`s
/// at components, and drops `$ref`s that cannot be resolved.
fn rewrite(schema: &mut Value, own: &DocRefs, shared: &[DocRefs]) {
    match schema {
        Value::Object(obj) => {
            obj.remove("$schema");
            obj.remove("$id");
            if let Some(r) = obj.get("$ref").and_then(Value::as_str).map(String::from) {
                match resolve_ref(&r, own, shared) {
                    Some(to) => {
                        obj.insert("$ref".into(), Value::String(to));
                    }
                    None => {
                        obj.remove("$ref");
                    }
                }
            }
            for (k, child) in obj.iter_mut() {
                if SCHEMA_MAPS.contains(&k.as_str()) {
                    if let Value::Object(m) = child {
                        for sub in m.values_mut() {
                            rewrite(sub, own, shared);
                        }
                    }
                } else if !(DATA_KEYWORDS.contains(&k.as_str()) || k.starts_with("x-")) {
                    rewrite(child, own, shared);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                rewrite(item, own, shared);
            }
        }
        _ => {}
    }
}

/// Moves a document's `$defs` into `components` (rewritten) and returns them removed.
fn hoist_defs(
    doc: &mut Value,
    refs: &DocRefs,
    shared: &[DocRefs],
    components: &mut Map<String, Value>,
) {
    let Some(Value::Object(defs)) = doc.as_object_mut().and_then(|o| o.remove("$defs")) else {
        return;
    };
    for (name, mut def) in defs {
        if !refs.defs.contains(&name) {
            continue;
        }
        rewrite(&mut def, refs, shared);
        components.insert(format!("{}{name}", refs.prefix), def);
    }
}

/// The shared definition documents (`common.json`), their `$defs` added to `components`.
fn shared_docs(components: &mut Map<String, Value>) -> Vec<DocRefs> {
    let Ok(mut common) = serde_json::from_str::<Value>(COMMON_JSON) else {
        return Vec::new();
    };
    let refs = DocRefs::of(&common, COMMON_PREFIX.into(), None);
    if refs.id.is_none() {
        return Vec::new();
    }
    let shared = vec![refs];
    hoist_defs(&mut common, &shared[0], &shared, components);
    shared
}

fn is_pii(ct: &ContentType, name: &str, schema: &Value) -> bool {
    ct.fields.get(name).is_some_and(|f| f.pii)
        || schema.pointer("/x-verbund/pii").and_then(Value::as_bool) == Some(true)
}

/// Adds `TFields`, `TCreate`, `TReplace`, `TEntry` and, for public types, `TPublic`.
fn type_components(ct: &ContentType, shared: &[DocRefs], components: &mut Map<String, Value>) {
    let p = pascal(&ct.name);
    let mut fields = ct.schema.clone();
    let refs = DocRefs::of(&fields, format!("{p}_"), Some(format!("{p}Fields")));
    hoist_defs(&mut fields, &refs, shared, components);
    rewrite(&mut fields, &refs, shared);
    let properties = fields
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();

    // Request bodies: the fields schema, plus the metadata the handler takes or strips.
    let mut create = fields.clone();
    let mut create_meta = Map::new();
    create_meta.insert(
        "id".into(),
        json!({"type": ["string", "null"], "pattern": ID_PATTERN, "description": "A fixed id for the new entry (a ULID); generated when absent."}),
    );
    create_meta.insert(
        "locale".into(),
        json!({"type": ["string", "null"], "pattern": LOCALE_PATTERN, "description": "The entry's locale; `de` when absent."}),
    );
    create_meta.insert(
        "state".into(),
        json!({"enum": ["draft", null], "description": "New entries start as drafts; publish with POST …/{id}/transitions."}),
    );
    create_meta.insert(
        "published_at".into(),
        json!({"type": ["string", "null"], "format": "date-time", "description": "The publication time to show once published (RFC 3339)."}),
    );
    create_meta.insert(
        "translation_of".into(),
        json!({"type": ["string", "null"], "description": "The id of the entry (same type, another locale) this one translates."}),
    );
    add_properties(&mut create, create_meta);
    set_doc(
        &mut create,
        &format!("New {} entry", ct.name),
        &format!(
            "The fields of a new {} entry, plus optional metadata (id, locale, state, published_at, translation_of).",
            ct.name
        ),
    );
    components.insert(format!("{p}Create"), create);

    let mut replace = fields.clone();
    let ignored: Map<String, Value> = RESERVED_FIELDS
        .iter()
        .chain(["published_version"].iter())
        .map(|k| {
            (
                (*k).to_string(),
                json!({"description": "Metadata: ignored, so that an entry read with GET can be sent back."}),
            )
        })
        .collect();
    add_properties(&mut replace, ignored);
    set_doc(
        &mut replace,
        &format!("{} fields", ct.name),
        &format!(
            "All fields of a {} entry (they replace the current ones). Metadata keys are ignored.",
            ct.name
        ),
    );
    components.insert(format!("{p}Replace"), replace);

    let mut entry_props = entry_meta(&ct.name);
    for (name, schema) in &properties {
        entry_props.insert(name.clone(), schema.clone());
    }
    components.insert(
        format!("{p}Entry"),
        json!({
            "type": "object",
            "title": format!("{} entry", ct.name),
            "description": format!("A {} entry as the management API returns it: metadata and all fields, personal data included.", ct.name),
            "required": ["id", "type", "locale", "version", "state", "created_at", "updated_at"],
            "properties": entry_props,
            "additionalProperties": true,
        }),
    );

    if ct.is_public() {
        let mut public_props = public_meta(&ct.name);
        for (name, schema) in &properties {
            if !is_pii(ct, name, schema) {
                public_props.insert(name.clone(), schema.clone());
            }
        }
        components.insert(
            format!("{p}Public"),
            json!({
                "type": "object",
                "title": format!("Published {} entry", ct.name),
                "description": format!("A published {} entry as the delivery API returns it: metadata and every field that is not personal data. With `fields`, only id, type, locale, version and the chosen fields.", ct.name),
                "required": ["id", "type", "locale", "version"],
                "properties": public_props,
                "additionalProperties": true,
            }),
        );
    }

    components.insert(format!("{p}Fields"), fields);
}

fn add_properties(schema: &mut Value, extra: Map<String, Value>) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let props = obj
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(props) = props {
        for (k, v) in extra {
            props.entry(k).or_insert(v);
        }
    }
}

fn set_doc(schema: &mut Value, title: &str, description: &str) {
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("title".into(), Value::String(title.into()));
        obj.insert("description".into(), Value::String(description.into()));
    }
}

fn public_meta(ty: &str) -> Map<String, Value> {
    let v = json!({
        "id": {"type": "string", "description": "The entry's id (a ULID)."},
        "type": {"type": "string", "const": ty, "description": "The content type."},
        "locale": {"type": "string", "description": "The entry's locale, e.g. `de`."},
        "version": {"type": "integer", "minimum": 1, "description": "The published version."},
        "published_at": {"type": "string", "format": "date-time", "description": "When the entry was (first) published."},
        "updated_at": {"type": "string", "format": "date-time", "description": "When this version was written."},
        "translation_of": {"type": "string", "description": "The id of the entry this one translates."},
    });
    into_map(v)
}

fn entry_meta(ty: &str) -> Map<String, Value> {
    let v = json!({
        "id": {"type": "string", "description": "The entry's id (a ULID)."},
        "type": {"type": "string", "const": ty, "description": "The content type."},
        "locale": {"type": "string", "description": "The entry's locale, e.g. `de`."},
        "version": {"type": "integer", "minimum": 1, "description": "Incremented by every change of the fields; send it as `If-Match`."},
        "state": {"type": "string", "description": "Lifecycle state: draft, published or archived (default workflow)."},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "published_at": {"type": "string", "format": "date-time"},
        "published_version": {"type": "integer", "minimum": 1, "description": "The version the public sees, if any."},
        "translation_of": {"type": "string", "description": "The id of the entry this one translates."},
    });
    into_map(v)
}

fn into_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `anyOf` over components, discriminated by `type`; an empty list gives any object.
fn any_of<'a>(items: impl Iterator<Item = (&'a str, String)>, description: &str) -> Value {
    let items: Vec<(&str, String)> = items.collect();
    if items.is_empty() {
        return json!({"type": "object", "description": description});
    }
    let refs: Vec<Value> = items
        .iter()
        .map(|(_, c)| json!({"$ref": format!("#/components/schemas/{c}")}))
        .collect();
    let mapping: Map<String, Value> = items
        .iter()
        .map(|(t, c)| {
            (
                (*t).to_string(),
                Value::String(format!("#/components/schemas/{c}")),
            )
        })
        .collect();
    json!({
        "description": description,
        "anyOf": refs,
        "discriminator": {"propertyName": "type", "mapping": mapping},
    })
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
        (
            "Problem",
            json!({
                "type": "object",
                "description": "An error (RFC 9457 problem details). `code` is stable; `type` is `urn:verbund:problem:<code>`.",
                "required": ["type", "title", "status", "code", "detail"],
                "properties": {
                    "type": {"type": "string", "description": "`urn:verbund:problem:<code>`."},
                    "title": {"type": "string", "description": "The HTTP status text."},
                    "status": {"type": "integer", "minimum": 100, "maximum": 599},
                    "code": {"type": "string", "description": "Stable error code, e.g. not_found, validation_failed, version_conflict."},
                    "detail": {"type": "string", "description": "What went wrong and what to do, for humans."},
                    "errors": {
                        "type": "array",
                        "description": "With validation_failed: every problem of the entry.",
                        "items": schema_ref("FieldError"),
                    },
                    "current_version": {"type": "integer", "minimum": 0, "description": "With version_conflict: the entry's current version."},
                    "referrers": {
                        "type": "array",
                        "description": "With still_referenced: the entries that reference this one.",
                        "items": schema_ref("Referrer"),
                    },
                },
                "additionalProperties": true,
            }),
        ),
        (
            "FieldError",
            json!({
                "type": "object",
                "description": "One problem of an entry: where (a JSON pointer into the fields) and what.",
                "required": ["pointer", "message"],
                "properties": {
                    "pointer": {"type": "string", "examples": ["/ends_at"]},
                    "message": {"type": "string"},
                },
            }),
        ),
        (
            "Referrer",
            json!({
                "type": "object",
                "description": "An entry that references another one.",
                "required": ["type", "id", "fields"],
                "properties": {
                    "type": {"type": "string"},
                    "id": {"type": "string"},
                    "fields": {"type": "array", "items": {"type": "string"}},
                },
            }),
        ),
        (
            "ChangeEvent",
            json!({
                "type": "object",
                "description": "A change of the published view.",
                "required": ["seq", "op", "type", "id"],
                "properties": {
                    "seq": {"type": "integer", "minimum": 1, "description": "Sequence number; pass the last one as `since`."},
                    "op": {"type": "string", "description": "create, update, state (a transition) or delete.", "examples": ["create", "update", "state", "delete"]},
                    "type": {"type": "string"},
                    "id": {"type": "string"},
                    "version": {"type": "integer", "minimum": 0},
                    "state": {"type": "string"},
                    "at": date_time.clone(),
                },
                "additionalProperties": true,
            }),
        ),
        (
            "Role",
            json!({"type": "string", "enum": ["admin", "editor", "reviewer", "reader"]}),
        ),
        (
            "TokenInfo",
            json!({
                "type": "object",
                "description": "A token as stored: never the secret itself.",
                "required": ["id", "prefix", "role", "created_at", "expires_at", "last_used_at"],
                "properties": token_info_properties(false),
            }),
        ),
        (
            "IssuedToken",
            json!({
                "type": "object",
                "description": "A freshly issued token: the only time the secret `token` is shown.",
                "required": ["token", "id", "prefix", "role", "created_at", "expires_at", "last_used_at"],
                "properties": token_info_properties(true),
            }),
        ),
        (
            "NewToken",
            json!({
                "type": "object",
                "description": "A token to issue.",
                "required": ["role"],
                "properties": {
                    "role": schema_ref("Role"),
                    "expires": {
                        "description": "How long the token is valid: a whole number with unit d, h, m or s (e.g. `90d`, `12h`), or `never`. Default `90d`; a value that is not a string is ignored.",
                        "pattern": "^([0-9]+[dhms]|never)$",
                        "examples": ["90d", "never"],
                    },
                    "label": {
                        "description": "A note to recognise the token by (a string; other values are ignored).",
                        "examples": ["website build"],
                    },
                },
            }),
        ),
        (
            "Transition",
            json!({
                "type": "object",
                "description": "A state change. Default workflow: draft → published | archived; published → published (publish the current version) | draft | archived; archived → draft | published.",
                "required": ["to"],
                "properties": {
                    "to": {"type": "string", "description": "The state to go to.", "examples": ["published", "draft", "archived"]},
                    "comment": {"description": "A note on the change (a string)."},
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
        (
            "AuditRecord",
            json!({
                "type": "object",
                "description": "One audited action; records are hash-chained (`prev_hash` → `hash`).",
                "required": ["seq", "at", "actor", "action", "prev_hash", "hash"],
                "properties": {
                    "seq": {"type": "integer", "minimum": 1},
                    "at": date_time.clone(),
                    "actor": {"type": "string", "description": "The id of the token that acted (or `cli`)."},
                    "action": {"type": "string", "examples": ["entry.create", "entry.update", "entry.transition", "entry.delete", "token.create", "token.revoke"]},
                    "type": {"type": "string"},
                    "id": {"type": "string"},
                    "version_before": {"type": "integer", "minimum": 0},
                    "version_after": {"type": "integer", "minimum": 0},
                    "detail": {"type": "string"},
                    "prev_hash": {"type": "string"},
                    "hash": {"type": "string"},
                },
            }),
        ),
    ]
}

fn token_info_properties(with_secret: bool) -> Map<String, Value> {
    let nullable_time = json!({"type": ["string", "null"], "format": "date-time"});
    let mut m = Map::new();
    if with_secret {
        m.insert(
            "token".into(),
            json!({"type": "string", "pattern": "^vb_[0-9a-f]+_", "description": "The secret: send it as `Authorization: Bearer <token>`. Shown only now."}),
        );
    }
    m.insert("id".into(), json!({"type": "string"}));
    m.insert(
        "prefix".into(),
        json!({"type": "string", "description": "The visible part of the token (`vb_<prefix>_…`)."}),
    );
    m.insert("role".into(), schema_ref("Role"));
    m.insert("label".into(), json!({"type": "string"}));
    m.insert(
        "created_at".into(),
        json!({"type": "string", "format": "date-time"}),
    );
    m.insert("expires_at".into(), nullable_time.clone());
    m.insert("last_used_at".into(), nullable_time);
    m.insert(
        "revoked_at".into(),
        json!({"type": "string", "format": "date-time"}),
    );
    m
}

// ---------------------------------------------------------------------------------------------
// Parameters, headers, shared responses
// ---------------------------------------------------------------------------------------------

fn param_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

fn header_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/headers/{name}")})
}

fn response_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

fn type_enum(names: &[&str]) -> Value {
    if names.is_empty() {
        json!({"type": "string", "minLength": 1})
    } else {
        json!({"type": "string", "enum": names})
    }
}

fn parameters(public: &[&str], all: &[&str]) -> Value {
    json!({
        "DeliveryType": {
            "name": "type", "in": "path", "required": true,
            "description": "A public content type. Personal types (and unknown names) answer 404.",
            "schema": type_enum(public),
        },
        "ManageType": {
            "name": "type", "in": "path", "required": true,
            "description": "A content type.",
            "schema": type_enum(all),
        },
        "IdOrSlug": {
            "name": "id_or_slug", "in": "path", "required": true,
            "description": "The entry's id, or its slug in the requested locale.",
            "schema": {"type": "string", "minLength": 1},
        },
        "EntryId": {
            "name": "id", "in": "path", "required": true,
            "description": "The entry's id (GET also takes a slug in locale `de`).",
            "schema": {"type": "string", "minLength": 1},
        },
        "TokenId": {
            "name": "id", "in": "path", "required": true,
            "description": "The token's id (not the secret).",
            "schema": {"type": "string", "minLength": 1},
        },
        "Limit100": {
            "name": "limit", "in": "query",
            "description": "Page size (400 invalid_limit outside 1–100).",
            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
        },
        "Limit1000": {
            "name": "limit", "in": "query",
            "description": "How many records to scan at most (400 invalid_limit outside 1–1000).",
            "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
        },
        "Since": {
            "name": "since", "in": "query",
            "description": "Return what comes after this sequence number (`meta.next_since` of the previous page).",
            "schema": {"type": "integer", "minimum": 0, "maximum": u64::MAX, "default": 0},
        },
        "Cursor": {
            "name": "cursor", "in": "query",
            "description": "Opaque: `meta.next_cursor` of the previous page, with the same other parameters (400 invalid_cursor otherwise).",
            "schema": {"type": "string"},
        },
        "ManageCursor": {
            "name": "cursor", "in": "query",
            "description": "`meta.next_cursor` of the previous page (the id to continue after).",
            "schema": {"type": "string"},
        },
        "Locale": {
            "name": "locale", "in": "query",
            "description": "The locale of the entries, e.g. `de` (default) or `en`.",
            "schema": {"type": "string", "default": "de"},
        },
        "Fields": {
            "name": "fields", "in": "query",
            "description": "Comma-separated fields to return (id, type, locale and version are always included); an unknown or personal field is a 400 unknown_field.",
            "schema": {"type": "string"},
        },
        "Include": {
            "name": "include", "in": "query",
            "description": "Comma-separated reference fields whose published targets to return in `included`, by type; a field that is not a reference is a 400 unknown_field.",
            "schema": {"type": "string"},
        },
        "Sort": {
            "name": "sort", "in": "query",
            "description": "Comma-separated sort keys, `-` for descending; sortable fields of the type and `published_at` (default `-published_at`). Others are a 400 unknown_field.",
            "schema": {"type": "string"},
            "examples": {"newest": {"value": "-published_at"}},
        },
        "Preview": {
            "name": "preview", "in": "query",
            "description": "`true` returns the current version (a draft, too) instead of the published one; needs a token (reader role or above). Any other value means false. Preview responses are `Cache-Control: private, no-store` and have no ETag.",
            "schema": {"type": "string"},
            "examples": {"preview": {"value": "true"}},
        },
        "State": {
            "name": "state", "in": "query",
            "description": "Only entries in this state, e.g. draft, published or archived.",
            "schema": {"type": "string"},
        },
        "IfNoneMatch": {
            "name": "If-None-Match", "in": "header",
            "description": "ETags the client has; a match (or `*`) answers 304 Not Modified.",
            "schema": {"type": "string"},
        },
        "IfMatch": {
            "name": "If-Match", "in": "header", "required": true,
            "description": "The version edited, as returned in the entry's ETag, e.g. `\"3\"`. Missing: 428 precondition_required; not a version: 400 invalid_if_match; stale: 409 version_conflict.",
            "schema": {"type": "string", "pattern": "^\\s*(W/)*\"*\\+?[0-9]+\"*\\s*$"},
            "examples": {"version": {"value": "\"1\""}},
        },
    })
}

fn shared_headers() -> Value {
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
        "BadRequest": problem("The request cannot be read: e.g. invalid_query, invalid_limit, unknown_parameter, unknown_field, unknown_operator, invalid_cursor, invalid_json, invalid_if_match."),
        "Unauthorized": unauthorized,
        "Forbidden": problem("The token's role does not allow this (forbidden)."),
        "NotFound": problem("Unknown content type (unknown_type) or entry (not_found)."),
        "UnsupportedMediaType": problem("The body is not sent as JSON (unsupported_media_type)."),
        "ValidationFailed": problem("The entry is invalid (validation_failed); `errors` lists every problem with its pointer."),
        "PreconditionRequired": problem("`If-Match` is missing (precondition_required)."),
        "RequestTimeout": problem("The request took too long (timeout)."),
        "PayloadTooLarge": problem("The request body is too large (payload_too_large)."),
        "TooManyRequests": too_many,
        "InternalError": problem("The server could not complete the request (internal); it has been logged."),
        "ServiceUnavailable": problem("The server is overloaded or the write kept conflicting (overloaded, contended); try again."),
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

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn bearer() -> Value {
    json!([{"bearerAuth": []}])
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

fn healthz_path() -> Value {
    json!({
        "get": {
            "operationId": "healthz",
            "summary": "Liveness check",
            "tags": ["ops"],
            "security": [],
            "responses": responses(json!({
                "200": {
                    "description": "The server is up.",
                    "content": {"text/plain": {"schema": {"type": "string", "examples": ["ok\n"]}}},
                },
            })),
        }
    })
}

fn metrics_path() -> Value {
    json!({
        "get": {
            "operationId": "metrics",
            "summary": "Metrics in the Prometheus text format",
            "tags": ["ops"],
            "security": [],
            "responses": responses(json!({
                "200": {
                    "description": "Prometheus text exposition format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
            })),
        }
    })
}

fn openapi_path() -> Value {
    json!({
        "get": {
            "operationId": "getOpenApi",
            "summary": "This description of the API",
            "description": "The OpenAPI 3.1 document of the whole API, with the content types generated from the schemas the server runs with.",
            "tags": ["ops"],
            "security": [],
            "responses": responses(json!({
                "200": {
                    "description": "The OpenAPI document.",
                    "content": json_content(json!({"type": "object"})),
                },
            })),
        }
    })
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

/// A header of a response, inline (a `$ref` cannot carry `required`).
fn required_header(component: &str, required: bool) -> Value {
    let headers = shared_headers();
    let mut h = headers[component].clone();
    h["required"] = Value::Bool(required);
    h
}

fn delivery_ok_headers(cacheable: bool) -> Value {
    json!({
        "ETag": required_header("ETag", cacheable),
        "Cache-Control": required_header("CacheControl", true),
        "Surrogate-Key": required_header("SurrogateKey", cacheable),
    })
}

fn not_modified() -> Value {
    json!({
        "description": "Not modified: the client's `If-None-Match` matches.",
        "headers": {
            "ETag": header_ref("ETag"),
            "Cache-Control": header_ref("CacheControl"),
            "Surrogate-Key": header_ref("SurrogateKey"),
        },
    })
}

fn included_schema() -> Value {
    json!({
        "type": "object",
        "description": "With `include`: the published entries the chosen reference fields point to, each once, by type.",
        "additionalProperties": {"type": "array", "items": schema_ref("AnyPublic")},
    })
}

fn content_list_path(public: &[&ContentType]) -> Value {
    let description = format!(
        "Published entries of a public type, newest first unless `sort` says otherwise.\n\n\
         Filters are query parameters `filter[field]=value` (equality) or \
         `filter[field][op]=value` with op one of eq, ne, in (comma-separated values), lt, lte, \
         gt, gte (not on lists) and contains (lists only). Unknown fields, operators or \
         parameters are a 400. The fields of each type:\n\n{}",
        query_fields_description(public)
    );
    json!({
        "get": {
            "operationId": "listContent",
            "summary": "List published entries",
            "description": description,
            "tags": ["delivery"],
            "security": [],
            "parameters": [
                param_ref("DeliveryType"),
                param_ref("Limit100"),
                param_ref("Cursor"),
                param_ref("Locale"),
                param_ref("Sort"),
                param_ref("Fields"),
                param_ref("Include"),
                param_ref("IfNoneMatch"),
            ],
            "responses": responses(json!({
                "200": {
                    "description": "A page of published entries.",
                    "links": {
                        "GetContent": {
                            "operationId": "getContent",
                            "parameters": {"type": "$request.path.type", "id_or_slug": "$response.body#/data/0/id"},
                        },
                    },
                    "headers": delivery_ok_headers(true),
                    "content": json_content(json!({
                        "type": "object",
                        "required": ["data", "meta"],
                        "properties": {
                            "data": {"type": "array", "items": schema_ref("AnyPublic")},
                            "included": included_schema(),
                            "meta": {
                                "type": "object",
                                "required": ["next_cursor", "total"],
                                "properties": {
                                    "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last one."},
                                    "total": {"type": "integer", "minimum": 0, "description": "How many entries match."},
                                },
                            },
                        },
                    })),
                },
                "304": not_modified(),
                "400": response_ref("BadRequest"),
                "404": response_ref("NotFound"),
            })),
        }
    })
}

fn content_get_path() -> Value {
    json!({
        "get": {
            "operationId": "getContent",
            "summary": "Get one published entry by id or slug",
            "description": "The published version of an entry, by id or by slug in `locale` (default `de`). With `preview=true` and a token: the current version, drafts included.",
            "tags": ["delivery"],
            "security": [{}, {"bearerAuth": []}],
            "parameters": [
                param_ref("DeliveryType"),
                param_ref("IdOrSlug"),
                param_ref("Locale"),
                param_ref("Fields"),
                param_ref("Include"),
                param_ref("Preview"),
                param_ref("IfNoneMatch"),
            ],
            "responses": responses(json!({
                "200": {
                    "description": "The entry.",
                    "headers": delivery_ok_headers(false),
                    "content": json_content(json!({
                        "type": "object",
                        "required": ["data"],
                        "properties": {
                            "data": schema_ref("AnyPublic"),
                            "included": included_schema(),
                        },
                    })),
                },
                "304": not_modified(),
                "400": response_ref("BadRequest"),
                "401": response_ref("Unauthorized"),
                "403": response_ref("Forbidden"),
                "404": response_ref("NotFound"),
            })),
        }
    })
}

fn changes_path() -> Value {
    json!({
        "get": {
            "operationId": "listChanges",
            "summary": "The change feed of the published view",
            "description": "Changes with a sequence number above `since` that touched the published view of public types (for caches, static-site builds and replicas). `limit` bounds the events scanned, so a page may hold fewer; continue with `since=meta.next_since` until it equals `meta.last_seq`.",
            "tags": ["delivery"],
            "security": [],
            "parameters": [param_ref("Since"), param_ref("Limit1000")],
            "responses": responses(json!({
                "200": {
                    "description": "A page of the feed.",
                    "headers": {"Cache-Control": required_header("CacheControl", true)},
                    "content": json_content(json!({
                        "type": "object",
                        "required": ["data", "meta"],
                        "properties": {
                            "data": {"type": "array", "items": schema_ref("ChangeEvent")},
                            "meta": {
                                "type": "object",
                                "required": ["next_since", "last_seq"],
                                "properties": {
                                    "next_since": {"type": "integer", "minimum": 0, "description": "Pass as `since` to continue."},
                                    "last_seq": {"type": "integer", "minimum": 0, "description": "The newest sequence number."},
                                },
                            },
                        },
                    })),
                },
                "400": response_ref("BadRequest"),
            })),
        }
    })
}

fn entry_ok(status_description: &str) -> Value {
    json!({
        "description": status_description,
        "headers": {
            "ETag": required_header("ETag", true),
            "Cache-Control": required_header("CacheControl", true),
        },
        "content": json_content(json!({
            "type": "object",
            "required": ["data"],
            "properties": {"data": schema_ref("AnyEntry")},
        })),
    })
}

/// Links from a response naming an entry (`id`, a runtime expression) to the operations on
/// it; with `etag`, also to the writes that need `If-Match`.
fn entry_links(id: &str, etag: Option<&str>) -> Value {
    let base = json!({"type": "$request.path.type", "id": id});
    let mut links = Map::new();
    for (name, op) in [
        ("GetEntry", "getEntry"),
        ("ListRevisions", "listRevisions"),
        ("TransitionEntry", "transitionEntry"),
    ] {
        links.insert(
            name.into(),
            json!({"operationId": op, "parameters": base.clone()}),
        );
    }
    if let Some(etag) = etag {
        for (name, op) in [
            ("ReplaceEntry", "replaceEntry"),
            ("PatchEntry", "patchEntry"),
            ("DeleteEntry", "deleteEntry"),
        ] {
            let mut parameters = base.clone();
            parameters["header.If-Match"] = Value::String(etag.into());
            links.insert(
                name.into(),
                json!({"operationId": op, "parameters": parameters}),
            );
        }
    }
    Value::Object(links)
}

/// `entry_ok` with links to the operations on the returned entry.
fn entry_ok_linked(description: &str) -> Value {
    let mut res = entry_ok(description);
    res["links"] = entry_links("$response.body#/data/id", Some("$response.header.ETag"));
    res
}

fn conflict(description: &str) -> Value {
    problem(description)
}

fn manage_collection_path() -> Value {
    let mut created = entry_ok_linked("Created: the new draft.");
    created["headers"]["Location"] = required_header("Location", true);
    json!({
        "post": {
            "operationId": "createEntry",
            "summary": "Create an entry (a draft)",
            "description": "Creates a draft of the type in the path from its fields (see `<Type>Create`). The entry is validated with every problem reported at once; references must point at existing entries and the slug must be free. Needs the editor role.",
            "tags": ["management"],
            "security": bearer(),
            "parameters": [param_ref("ManageType")],
            "requestBody": {
                "required": true,
                "content": json_content(schema_ref("AnyCreate")),
            },
            "responses": responses(json!({
                "201": created,
                "400": response_ref("BadRequest"),
                "401": response_ref("Unauthorized"),
                "403": response_ref("Forbidden"),
                "404": response_ref("NotFound"),
                "415": response_ref("UnsupportedMediaType"),
                "422": response_ref("ValidationFailed"),
            })),
        },
        "get": {
            "operationId": "listEntries",
            "summary": "List current entries (any state)",
            "description": "The current version of every entry of the type, in id order. Needs the editor, reviewer or admin role.",
            "tags": ["management"],
            "security": bearer(),
            "parameters": [
                param_ref("ManageType"),
                param_ref("State"),
                param_ref("Limit100"),
                param_ref("ManageCursor"),
            ],
            "responses": responses(json!({
                "200": {
                    "description": "A page of entries.",
                    "links": entry_links("$response.body#/data/0/id", None),
                    "content": json_content(json!({
                        "type": "object",
                        "required": ["data", "meta"],
                        "properties": {
                            "data": {"type": "array", "items": schema_ref("AnyEntry")},
                            "meta": {
                                "type": "object",
                                "required": ["next_cursor"],
                                "properties": {
                                    "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last one."},
                                },
                            },
                        },
                    })),
                },
                "400": response_ref("BadRequest"),
                "401": response_ref("Unauthorized"),
                "403": response_ref("Forbidden"),
                "404": response_ref("NotFound"),
            })),
        },
    })
}

fn manage_entry_path() -> Value {
    let write_conflict =
        conflict("The entry was changed meanwhile (version_conflict, with `current_version`).");
    let delete_conflict = conflict(
        "The entry was changed meanwhile (version_conflict, with `current_version`) or is still referenced (still_referenced, with `referrers`).",
    );
    let write_responses = responses(json!({
        "200": entry_ok_linked("The entry's new version."),
        "400": response_ref("BadRequest"),
        "401": response_ref("Unauthorized"),
        "403": response_ref("Forbidden"),
        "404": response_ref("NotFound"),
        "409": write_conflict,
        "415": response_ref("UnsupportedMediaType"),
        "422": response_ref("ValidationFailed"),
        "428": response_ref("PreconditionRequired"),
    }));
    json!({
        "parameters": [param_ref("ManageType"), param_ref("EntryId")],
        "get": {
            "operationId": "getEntry",
            "summary": "Get an entry's current version",
            "description": "By id, or by slug in locale `de`. Needs the editor, reviewer or admin role.",
            "tags": ["management"],
            "security": bearer(),
            "responses": responses(json!({
                "200": entry_ok_linked("The entry; its ETag is the version to send as If-Match."),
                "401": response_ref("Unauthorized"),
                "403": response_ref("Forbidden"),
                "404": response_ref("NotFound"),
            })),
        },
        "put": {
            "operationId": "replaceEntry",
            "summary": "Replace an entry's fields",
            "description": "The body holds all fields (see `<Type>Replace`); metadata keys are ignored, so an entry read with GET can be edited and sent back. Needs the editor role and `If-Match`.",
            "tags": ["management"],
            "security": bearer(),
            "parameters": [param_ref("IfMatch")],
            "requestBody": {
                "required": true,
                "content": json_content(schema_ref("AnyReplace")),
            },
            "responses": write_responses.clone(),
        },
        "patch": {
            "operationId": "patchEntry",
            "summary": "Change some fields (JSON Merge Patch)",
            "description": "An RFC 7386 merge patch of the fields; the result is validated like a replacement. Needs the editor role and `If-Match`.",
            "tags": ["management"],
            "security": bearer(),
            "parameters": [param_ref("IfMatch")],
            "requestBody": {
                "required": true,
                "content": {
                    "application/merge-patch+json": {"schema": schema_ref("MergePatch")},
                    "application/json": {"schema": schema_ref("MergePatch")},
                },
            },
            "responses": write_responses,
        },
        "delete": {
            "operationId": "deleteEntry",
            "summary": "Delete an entry",
            "description": "Deletes an entry that nothing references (its revisions are kept). Needs the editor role and `If-Match`.",
            "tags": ["management"],
            "security": bearer(),
            "parameters": [param_ref("IfMatch")],
            "responses": responses(json!({
                "204": {"description": "Deleted."},
                "400": response_ref("BadRequest"),
                "401": response_ref("Unauthorized"),
                "403": response_ref("Forbidden"),
                "404": response_ref("NotFound"),
                "409": delete_conflict,
                "428": response_ref("PreconditionRequired"),
            })),
        },
    })
}

fn revisions_path() -> Value {
    json!({
        "parameters": [param_ref("ManageType"), param_ref("EntryId")],
        "get": {
            "operationId": "listRevisions",
            "summary": "Every version of an entry",
            "description": "All stored versions, oldest first. Needs the editor, reviewer or admin role.",
            "tags": ["management"],
            "security": bearer(),
            "responses": responses(json!({
                "200": {
                    "description": "The versions.",
                    "content": json_content(json!({
                        "type": "object",
                        "required": ["data"],
                        "properties": {"data": {"type": "array", "items": schema_ref("AnyEntry")}},
                    })),
                },
                "401": response_ref("Unauthorized"),
                "403": response_ref("Forbidden"),
                "404": response_ref("NotFound"),
            })),
        },
    })
}

fn transitions_path() -> Value {
    json!({
        "parameters": [param_ref("ManageType"), param_ref("EntryId")],
        "post": {
            "operationId": "transitionEntry",
            "summary": "Move an entry to another state (publish, unpublish, archive)",
            "description": "Publishing makes the entry's current version the public one (and validates it against the published view: slug free, references published). Needs the editor, reviewer or admin role.",
            "tags": ["management"],
            "security": bearer(),
            "requestBody": {
                "required": true,
                "content": json_content(schema_ref("Transition")),
            },
            "responses": responses(json!({
                "200": entry_ok_linked("The entry in its new state."),
                "400": response_ref("BadRequest"),
                "401": response_ref("Unauthorized"),
                "403": response_ref("Forbidden"),
                "404": response_ref("NotFound"),
                "409": conflict("The workflow does not allow this transition from the entry's state (invalid_transition)."),
                "415": response_ref("UnsupportedMediaType"),
                "422": response_ref("ValidationFailed"),
            })),
        },
    })
}

fn tokens_path() -> Value {
    json!({
        "post": {
            "operationId": "createToken",
            "summary": "Issue a token",
            "description": "Issues a token with a role; the secret is in the answer only. Needs the admin role.",
            "tags": ["admin"],
            "security": bearer(),
            "requestBody": {
                "required": true,
                "content": json_content(schema_ref("NewToken")),
            },
            "responses": responses(json!({
                "201": {
                    "description": "The new token, with its secret.",
                    "links": {
                        "RevokeToken": {
                            "operationId": "revokeToken",
                            "parameters": {"id": "$response.body#/data/id"},
                        },
                    },
                    "content": json_content(json!({
                        "type": "object",
                        "required": ["data"],
                        "properties": {"data": schema_ref("IssuedToken")},
                    })),
                },
                "400": response_ref("BadRequest"),
                "401": response_ref("Unauthorized"),
                "403": response_ref("Forbidden"),
                "415": response_ref("UnsupportedMediaType"),
                "422": problem("No or an unknown role, or an expiry that is not a duration (invalid_request)."),
            })),
        },
        "get": {
            "operationId": "listTokens",
            "summary": "List tokens",
            "description": "Every token, revoked ones included, without secrets. Needs the admin role.",
            "tags": ["admin"],
            "security": bearer(),
            "responses": responses(json!({
                "200": {
                    "description": "The tokens.",
                    "content": json_content(json!({
                        "type": "object",
                        "required": ["data"],
                        "properties": {"data": {"type": "array", "items": schema_ref("TokenInfo")}},
                    })),
                },
                "401": response_ref("Unauthorized"),
                "403": response_ref("Forbidden"),
            })),
        },
    })
}

fn token_path() -> Value {
    json!({
        "parameters": [param_ref("TokenId")],
        "delete": {
            "operationId": "revokeToken",
            "summary": "Revoke a token",
            "description": "The token stops working at once; its record stays (with `revoked_at`). Needs the admin role.",
            "tags": ["admin"],
            "security": bearer(),
            "responses": responses(json!({
                "200": {
                    "description": "The revoked token.",
                    "content": json_content(json!({
                        "type": "object",
                        "required": ["data"],
                        "properties": {"data": schema_ref("TokenInfo")},
                    })),
                },
                "401": response_ref("Unauthorized"),
                "403": response_ref("Forbidden"),
                "404": response_ref("NotFound"),
            })),
        },
    })
}

fn audit_path() -> Value {
    json!({
        "get": {
            "operationId": "listAudit",
            "summary": "Read the audit log",
            "description": "Audit records after `since`, oldest first. Needs the admin role.",
            "tags": ["admin"],
            "security": bearer(),
            "parameters": [param_ref("Since"), param_ref("Limit1000")],
            "responses": responses(json!({
                "200": {
                    "description": "A page of the audit log.",
                    "content": json_content(json!({
                        "type": "object",
                        "required": ["data", "meta"],
                        "properties": {
                            "data": {"type": "array", "items": schema_ref("AuditRecord")},
                            "meta": {
                                "type": "object",
                                "required": ["next_since"],
                                "properties": {
                                    "next_since": {"type": "integer", "minimum": 0, "description": "Pass as `since` to continue."},
                                },
                            },
                        },
                    })),
                },
                "400": response_ref("BadRequest"),
                "401": response_ref("Unauthorized"),
                "403": response_ref("Forbidden"),
            })),
        },
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

    #[test]
    fn is_openapi_3_1_with_every_path() {
        let d = doc();
        assert_eq!(d["openapi"], "3.1.0");
        assert_eq!(d["info"]["title"], "Verbund API");
        assert_eq!(d["servers"][0]["url"], "/");
        let paths = d["paths"].as_object().unwrap();
        for (path, methods) in [
            ("/healthz", &["get"][..]),
            ("/metrics", &["get"]),
            ("/openapi.json", &["get"]),
            ("/api/v1/content/{type}", &["get"]),
            ("/api/v1/content/{type}/{id_or_slug}", &["get"]),
            ("/api/v1/changes", &["get"]),
            ("/api/v1/manage/{type}", &["get", "post"]),
            (
                "/api/v1/manage/{type}/{id}",
                &["get", "put", "patch", "delete"],
            ),
            ("/api/v1/manage/{type}/{id}/revisions", &["get"]),
            ("/api/v1/manage/{type}/{id}/transitions", &["post"]),
            ("/api/v1/admin/tokens", &["get", "post"]),
            ("/api/v1/admin/tokens/{id}", &["delete"]),
            ("/api/v1/admin/audit", &["get"]),
        ] {
            let item = paths.get(path).unwrap_or_else(|| panic!("missing {path}"));
            for m in methods {
                assert!(item.get(*m).is_some(), "missing {m} {path}");
            }
        }
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
                    ["delivery", "management", "admin", "ops"].contains(&tag),
                    "{tag}"
                );
                for status in ["408", "413", "429", "503"] {
                    assert!(
                        op["responses"].get(status).is_some(),
                        "{method} {path} lacks {status}"
                    );
                }
            }
        }
        assert_eq!(ids.len(), 18);
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
        let delivery = d["components"]["parameters"]["DeliveryType"]["schema"]["enum"]
            .as_array()
            .unwrap();
        assert!(delivery.iter().all(|t| t != "subscriber"));
        assert!(delivery.iter().any(|t| t == "story"));
        let manage = d["components"]["parameters"]["ManageType"]["schema"]["enum"]
            .as_array()
            .unwrap();
        assert!(manage.iter().any(|t| t == "subscriber"));
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

    #[test]
    fn unresolvable_refs_are_dropped_with_their_siblings_kept() {
        let mut schema = json!({
            "$id": "https://example.com/x.json",
            "properties": {
                "a": {"$ref": "https://elsewhere.example/y.json#/$defs/z", "description": "kept"},
                "b": {"$ref": "#/properties/a"},
                "$id": {"type": "string"},
            },
            "enum": [{"$ref": "data"}],
        });
        let own = DocRefs::of(&schema, "X_".into(), Some("XFields".into()));
        rewrite(&mut schema, &own, &[]);
        assert_eq!(schema["properties"]["a"], json!({"description": "kept"}));
        assert_eq!(
            schema["properties"]["b"]["$ref"],
            "#/components/schemas/XFields/properties/a"
        );
        assert!(schema["properties"]["$id"].is_object());
        assert!(schema.get("$id").is_none());
        assert_eq!(schema["enum"][0]["$ref"], "data");
        assert_eq!(pascal("case_study"), "CaseStudy");
    }
}
