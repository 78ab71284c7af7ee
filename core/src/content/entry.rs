//! The stored shape of an entry and its public rendition.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

use crate::schema::ContentType;

/// Format of [`EntryRecord`] as stored; bump with a migration when the shape changes.
pub const RECORD_FORMAT: u32 = 1;

/// Well-known lifecycle states. Workflows may add their own; these three always exist.
pub struct State;

impl State {
    pub const DRAFT: &'static str = "draft";
    pub const PUBLISHED: &'static str = "published";
    pub const ARCHIVED: &'static str = "archived";
}

/// One entry as stored in `entries` (current version) and `revisions` (every version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EntryRecord {
    /// Record format version.
    #[serde(rename = "format")]
    pub format: u32,
    pub id: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub locale: String,
    pub state: String,
    /// Incremented by every change of the fields.
    pub version: u64,
    /// The version the public sees, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_version: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<DateTime<Utc>>,
    /// The original this entry translates (same type, another locale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translation_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    /// A transition planned for later (`publish_at`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled: Option<Scheduled>,
    /// For a translation: per translatable field, the original's text it was translated from
    /// (its version and a hash of the value), so that a later change of the original marks
    /// exactly that field outdated.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub translated_from: BTreeMap<String, FieldOrigin>,
    /// The fields, as validated against the type's schema.
    pub data: Map<String, Value>,
}

/// The original's text a translated field was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FieldOrigin {
    /// The original's version at the time.
    pub version: u64,
    /// A hash of the original's value of the field then (xxh3, hex).
    pub hash: String,
}

impl FieldOrigin {
    /// The hash of a field's value (absent values hash as `null`).
    pub fn hash_of(value: Option<&Value>) -> String {
        let bytes = serde_json::to_vec(value.unwrap_or(&Value::Null)).unwrap_or_default();
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes))
    }
}

/// What the public JSON of an entry says about its translations: the other published
/// members of its group and, for a translation, the fields whose original changed since.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PublicLinks {
    pub translations: Vec<TranslationLink>,
    pub outdated: Vec<String>,
}

/// A published translation (or the original) of an entry, as delivery answers name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TranslationLink {
    pub id: String,
    pub locale: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// The website path (from the type's `path` pattern), if the type has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A transition that the server takes at `at` (e.g. publishing at a set time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Scheduled {
    pub transition: String,
    pub to: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl EntryRecord {
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising a struct of strings, numbers and JSON values cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let rec: EntryRecord =
            serde_json::from_slice(bytes).map_err(|e| format!("entry record: {e}"))?;
        if rec.format > RECORD_FORMAT {
            return Err(format!(
                "entry {} has record format {}, newer than this build's {RECORD_FORMAT}",
                rec.id, rec.format
            ));
        }
        Ok(rec)
    }

    /// The slug, if the type has one and the entry sets it.
    pub fn slug<'a>(&'a self, ty: &ContentType) -> Option<&'a str> {
        ty.options
            .slug
            .as_ref()
            .and_then(|f| self.data.get(f))
            .and_then(Value::as_str)
    }

    /// The entry as a flat JSON object: metadata and fields side by side (for management).
    pub fn to_flat_json(&self) -> Value {
        let mut m = meta_object(self, self.version);
        m.insert("state".into(), Value::String(self.state.clone()));
        m.insert(
            "created_at".into(),
            Value::String(self.created_at.to_rfc3339()),
        );
        if let Some(p) = self.published_version {
            m.insert("published_version".into(), Value::from(p));
        }
        if let Some(s) = &self.scheduled {
            m.insert(
                "scheduled".into(),
                serde_json::to_value(s).unwrap_or_default(),
            );
        }
        for (k, v) in &self.data {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

impl EntryRecord {
    /// The entry as one line of an export file: the fields plus the metadata an import takes
    /// back (`id`, `locale`, `state`, `published_at`, `translation_of`).
    pub fn to_export_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), Value::String(self.id.clone()));
        m.insert("locale".into(), Value::String(self.locale.clone()));
        m.insert("state".into(), Value::String(self.state.clone()));
        if let Some(p) = self.published_at {
            m.insert("published_at".into(), Value::String(p.to_rfc3339()));
        }
        if let Some(t) = &self.translation_of {
            m.insert("translation_of".into(), Value::String(t.clone()));
        }
        for (k, v) in &self.data {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

fn meta_object(rec: &EntryRecord, version: u64) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), Value::String(rec.id.clone()));
    m.insert("type".into(), Value::String(rec.ty.clone()));
    m.insert("locale".into(), Value::String(rec.locale.clone()));
    m.insert("version".into(), Value::from(version));
    if let Some(p) = rec.published_at {
        m.insert("published_at".into(), Value::String(p.to_rfc3339()));
    }
    m.insert(
        "updated_at".into(),
        Value::String(rec.updated_at.to_rfc3339()),
    );
    if let Some(t) = &rec.translation_of {
        m.insert("translation_of".into(), Value::String(t.clone()));
    }
    m
}

/// The public JSON of a record: metadata and every field not marked personal data.
pub fn render_public(ty: &ContentType, rec: &EntryRecord) -> Vec<u8> {
    render_public_with(ty, rec, &PublicLinks::default())
}

/// The public JSON of a record with what it says about its translations.
pub fn render_public_with(ty: &ContentType, rec: &EntryRecord, links: &PublicLinks) -> Vec<u8> {
    let mut m = meta_object(rec, rec.version);
    if !links.translations.is_empty() {
        m.insert(
            "translations".into(),
            serde_json::to_value(&links.translations).unwrap_or_default(),
        );
    }
    if !links.outdated.is_empty() {
        m.insert(
            "outdated".into(),
            serde_json::to_value(&links.outdated).unwrap_or_default(),
        );
    }
    for (k, v) in &rec.data {
        if ty.fields.get(k).is_some_and(|f| f.pii) {
            continue;
        }
        m.insert(k.clone(), v.clone());
    }
    serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
}

/// What a client supplies to create an entry.
#[derive(Debug, Clone, Default)]
pub struct NewEntry {
    /// A fixed id (imports, demo content); generated when absent.
    pub id: Option<String>,
    pub locale: Option<String>,
    /// Initial state; `draft` when absent. Only `draft` and `published` are accepted.
    pub state: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub translation_of: Option<String>,
    pub data: Value,
}

impl NewEntry {
    /// Splits a JSON object into metadata and fields. Errors carry pointers.
    pub fn from_json(mut obj: Value) -> Result<Self, Vec<crate::schema::FieldError>> {
        use crate::schema::FieldError;
        let Some(map) = obj.as_object_mut() else {
            return Err(vec![FieldError::new(
                "",
                "an entry must be a JSON object of fields",
            )]);
        };
        let mut errors = Vec::new();
        let mut take_string = |map: &mut Map<String, Value>, key: &str| match map.remove(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                errors.push(FieldError::new(
                    format!("/{key}"),
                    format!("must be a string, got {}", crate::schema::json_kind(&other)),
                ));
                None
            }
        };
        let id = take_string(map, "id");
        let locale = take_string(map, "locale");
        let state = take_string(map, "state");
        let published_at = take_string(map, "published_at");
        let translation_of = take_string(map, "translation_of");
        let published_at = match published_at {
            None => None,
            Some(s) => match DateTime::parse_from_rfc3339(&s) {
                Ok(t) => Some(t.with_timezone(&Utc)),
                Err(_) => {
                    errors.push(FieldError::new(
                        "/published_at",
                        format!("{s:?} is not an RFC 3339 instant (e.g. 2026-11-22T09:00:00Z)"),
                    ));
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(NewEntry {
            id,
            locale,
            state,
            published_at,
            translation_of,
            data: obj,
        })
    }
}
