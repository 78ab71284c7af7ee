//! Content types as OpenAPI components: each type's JSON Schema with its `$ref`s rewritten to
//! component names (shared `$defs` hoisted), and the per-type request and response schemas
//! built from it (`TCreate`, `TReplace`, `TEntry`, and `TPublic` without personal-data fields).
//! The HTTP layer's OpenAPI module places them into the document.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::{ContentType, RESERVED_FIELDS};

/// The shared definitions shipped with Verbund (not a content type, so not in the registry).
const COMMON_JSON: &str = include_str!("../../../schemas/common.json");

/// Component-name prefix of the shared definitions of `common.json`.
const COMMON_PREFIX: &str = "Common_";

/// Pattern of entry ids (ULIDs), as `is_valid_id` checks them.
pub(crate) const ID_PATTERN: &str = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$";

/// Pattern of locales, as the write path checks them (`de`, `en`, `de-AT`).
pub(crate) const LOCALE_PATTERN: &str = "^[a-z]{2}(-[A-Z]{2})?$";

/// Where the `$ref`s of one schema document may point: its `$defs` (as components named
/// `prefix + name`) and, for content types, its root.
pub(crate) struct DocRefs {
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
pub(crate) fn is_component_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `story` → `Story`, `case_study` → `CaseStudy`.
pub(crate) fn pascal(name: &str) -> String {
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
pub(crate) fn resolve_ref(r: &str, own: &DocRefs, shared: &[DocRefs]) -> Option<String> {
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
pub(crate) const SCHEMA_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// Keywords whose values are data, not subschemas.
pub(crate) const DATA_KEYWORDS: &[&str] = &[
    "enum", "const", "default", "examples", "example", "required",
];

/// Rewrites a schema in place for the OpenAPI document: drops `$schema`/`$id`, points `$ref`s
/// at components, and drops `$ref`s that cannot be resolved.
pub(crate) fn rewrite(schema: &mut Value, own: &DocRefs, shared: &[DocRefs]) {
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
pub(crate) fn hoist_defs(
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
pub(crate) fn shared_docs(components: &mut Map<String, Value>) -> Vec<DocRefs> {
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

pub(crate) fn is_pii(ct: &ContentType, name: &str, schema: &Value) -> bool {
    ct.fields.get(name).is_some_and(|f| f.pii)
        || schema.pointer("/x-verbund/pii").and_then(Value::as_bool) == Some(true)
}

/// Adds `TFields`, `TCreate`, `TReplace`, `TEntry` and, for public types, `TPublic`.
pub(crate) fn type_components(
    ct: &ContentType,
    shared: &[DocRefs],
    components: &mut Map<String, Value>,
) {
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
    let mut ignored = ignored;
    ignored.insert(
        "translation_current".into(),
        json!({"type": ["boolean", "array", "null"], "items": {"type": "string"}, "description": "For a translation: `true` (or a list of field names) confirms translated fields as up to date with the original's current text, besides those the write changes."}),
    );
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
            "additionalProperties": false,
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
                "additionalProperties": false,
            }),
        );
    }

    components.insert(format!("{p}Fields"), fields);
}

pub(crate) fn add_properties(schema: &mut Value, extra: Map<String, Value>) {
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

pub(crate) fn set_doc(schema: &mut Value, title: &str, description: &str) {
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("title".into(), Value::String(title.into()));
        obj.insert("description".into(), Value::String(description.into()));
    }
}

pub(crate) fn public_meta(ty: &str) -> Map<String, Value> {
    let v = json!({
        "id": {"type": "string", "description": "The entry's id (a ULID)."},
        "type": {"type": "string", "const": ty, "description": "The content type."},
        "locale": {"type": "string", "description": "The entry's locale, e.g. `de`."},
        "version": {"type": "integer", "minimum": 1, "description": "The published version."},
        "published_at": {"type": "string", "format": "date-time", "description": "When the entry was (first) published."},
        "updated_at": {"type": "string", "format": "date-time", "description": "When this version was written."},
        "translation_of": {"type": "string", "description": "The id of the entry this one translates."},
        "translations": {
            "type": "array",
            "description": "The other published versions of this entry in other locales (the original and its translations), for a language switch and `hreflang` links.",
            "items": {
                "type": "object",
                "required": ["id", "locale"],
                "additionalProperties": false,
                "properties": {
                    "id": {"type": "string"},
                    "locale": {"type": "string"},
                    "slug": {"type": "string"},
                    "path": {"type": "string", "description": "Where the website shows it (the type's `x-verbund.path`)."},
                },
            },
        },
        "outdated": {
            "type": "array",
            "items": {"type": "string"},
            "description": "A translation's fields whose original text changed (in its published version) since they were translated.",
        },
    });
    into_map(v)
}

pub(crate) fn entry_meta(ty: &str) -> Map<String, Value> {
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
        "translation": {
            "type": "object",
            "description": "For a translation: where it stands against its original's current version.",
            "required": ["original", "original_locale", "original_version", "outdated"],
            "properties": {
                "original": {"type": "string"},
                "original_locale": {"type": "string"},
                "original_version": {"type": "integer", "minimum": 1},
                "outdated": {
                    "type": "array",
                    "description": "Translated fields whose original text changed since they were translated.",
                    "items": {
                        "type": "object",
                        "required": ["field", "translated_from"],
                        "properties": {
                            "field": {"type": "string"},
                            "translated_from": {"type": ["integer", "null"], "description": "The original's version the field was translated from (null: never translated)."},
                        },
                    },
                },
            },
        },
        "review": {
            "type": "object",
            "description": "In the review queue only: who moved the entry into its state, when and with which comment, and the people (not its authors) whose role may act on it now.",
            "required": ["reviewers"],
            "properties": {
                "since": {"type": "string", "format": "date-time"},
                "by": {"type": "string", "description": "The token id."},
                "by_name": {"type": "string", "description": "The token's person: \"Name <e-mail>\"."},
                "comment": {"type": "string"},
                "reviewers": {"type": "array", "items": {"type": "string"}},
            },
        },
        "scheduled": {
            "type": "object",
            "description": "A transition planned for later (POST …/transitions with `at`).",
            "required": ["transition", "to", "at", "actor"],
            "properties": {
                "transition": {"type": "string"},
                "to": {"type": "string"},
                "at": {"type": "string", "format": "date-time"},
                "actor": {"type": "string"},
                "role": {"type": "string"},
                "comment": {"type": "string"},
            },
        },
    });
    into_map(v)
}

pub(crate) fn into_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `anyOf` over components, discriminated by `type`; an empty list gives any object.
pub(crate) fn any_of<'a>(
    items: impl Iterator<Item = (&'a str, String)>,
    description: &str,
) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;

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
