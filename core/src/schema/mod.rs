//! The content-type registry: loads `schemas/`, compiles one validator per type and reads the
//! `x-verbund` keywords (title, slug, indexes, references, personal data, cross-field rules).
//!
//! Content schemas are data, not code: they are read at start-up from a directory (or, when
//! none is given and `./schemas` does not exist, from the copies built into the binary), so a
//! schema can change without a rebuild.

pub(crate) mod components;
mod keywords;
mod validate;

pub use keywords::{FieldKind, FieldSpec, Rule, TypeOptions};
pub use validate::{FieldError, json_kind};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

/// Names every entry carries as metadata; a schema may not use them as properties.
pub const RESERVED_FIELDS: &[&str] = &[
    "id",
    "type",
    "locale",
    "state",
    "version",
    "created_at",
    "updated_at",
    "published_at",
    "translations",
    "translation_of",
    "outdated",
    "translation",
];

/// The schemas shipped with Verbund, used when no schema directory is configured.
const BUILTIN: &[(&str, &str)] = &[
    ("common.json", include_str!("../../../schemas/common.json")),
    ("member.json", include_str!("../../../schemas/member.json")),
    ("story.json", include_str!("../../../schemas/story.json")),
    ("event.json", include_str!("../../../schemas/event.json")),
    (
        "cooperation.json",
        include_str!("../../../schemas/cooperation.json"),
    ),
    (
        "subscriber.json",
        include_str!("../../../schemas/subscriber.json"),
    ),
];

/// Why a set of schemas could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("could not read schema directory {path}: {source}")]
    ReadDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("schema {file}: {detail}")]
    Invalid { file: String, detail: String },
}

/// One content type: its schema, compiled validator and Verbund options.
pub struct ContentType {
    pub name: String,
    /// The schema document as written.
    pub schema: Value,
    pub options: TypeOptions,
    /// Top-level properties in schema order.
    pub fields: BTreeMap<String, FieldSpec>,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for ContentType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentType")
            .field("name", &self.name)
            .field("options", &self.options)
            .finish()
    }
}

impl ContentType {
    /// Validates entry data against the schema and the type's cross-field rules. Returns every
    /// problem at once; an empty list means valid. References are checked by the content
    /// layer, which can see the store.
    pub fn validate(&self, data: &Value) -> Vec<FieldError> {
        validate::validate(self, &self.validator, data)
    }

    /// Fields holding references, with the type they point to.
    pub fn reference_fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .filter_map(|(name, f)| f.reference.as_deref().map(|t| (name.as_str(), t)))
    }

    /// Fields holding assets, with the kind they hold.
    pub fn asset_fields(&self) -> impl Iterator<Item = (&str, crate::media::AssetKind)> {
        self.fields
            .iter()
            .filter_map(|(name, f)| f.asset.map(|k| (name.as_str(), k)))
    }

    /// Fields with a secondary index (filterable or sortable).
    pub fn indexed_fields(&self) -> impl Iterator<Item = (&str, &FieldSpec)> {
        self.fields
            .iter()
            .filter(|(_, f)| f.filterable || f.sortable)
            .map(|(n, f)| (n.as_str(), f))
    }

    /// Whether a field is translated (a translation has its own value), or linked: taken from
    /// the original.
    pub fn is_translatable(&self, field: &str) -> bool {
        self.fields.get(field).is_some_and(|f| f.translatable)
    }

    /// The translatable fields, in schema order.
    pub fn translatable_fields(&self) -> impl Iterator<Item = &str> {
        self.fields
            .iter()
            .filter(|(_, f)| f.translatable)
            .map(|(n, _)| n.as_str())
    }

    /// The website path of an entry, from the type's `path` pattern (if it has one).
    pub fn path_of(&self, locale: &str, slug: Option<&str>, id: &str) -> Option<String> {
        let pattern = self.options.path.as_deref()?;
        Some(
            pattern
                .replace("{locale}", locale)
                .replace("{slug}", slug.unwrap_or(id))
                .replace("{id}", id),
        )
    }

    /// Whether entries of this type may ever be served publicly.
    pub fn is_public(&self) -> bool {
        !self.options.personal
    }
}

/// All content types of a Verbund instance.
#[derive(Debug, Default)]
pub struct SchemaRegistry {
    types: BTreeMap<String, Arc<ContentType>>,
    /// Every schema document with an `$id`, by that id (for resolving `$ref`s for clients).
    documents: BTreeMap<String, Value>,
    source: String,
}

impl SchemaRegistry {
    /// Loads every `*.json` file of a directory. Files with a root `x-verbund` keyword are
    /// content types (named after the file); the others are shared definitions that content
    /// types may `$ref` by their `$id`.
    pub fn load_dir(dir: &Path) -> Result<Self, SchemaError> {
        let read_err = |source| SchemaError::ReadDir {
            path: dir.to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        for item in std::fs::read_dir(dir).map_err(read_err)? {
            let path = item.map_err(read_err)?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(read_err)?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push((name, text));
        }
        files.sort();
        let mut registry = Self::from_sources(&files)?;
        registry.source = dir.display().to_string();
        Ok(registry)
    }

    /// The schemas built into this binary.
    pub fn builtin() -> Self {
        let files: Vec<(String, String)> = BUILTIN
            .iter()
            .map(|(n, t)| ((*n).to_string(), (*t).to_string()))
            .collect();
        match Self::from_sources(&files) {
            Ok(mut r) => {
                r.source = "built-in".into();
                r
            }
            // The built-in schemas are checked by the test suite; an error here is a build bug.
            Err(e) => panic!("built-in schemas are invalid: {e}"),
        }
    }

    /// `dir` if given, else `./schemas` if it exists, else the built-in schemas.
    pub fn load_default(dir: Option<&Path>) -> Result<Self, SchemaError> {
        match dir {
            Some(d) => Self::load_dir(d),
            None if Path::new("schemas").is_dir() => Self::load_dir(Path::new("schemas")),
            None => Ok(Self::builtin()),
        }
    }

    /// Builds a registry from `(file name, JSON text)` pairs.
    pub fn from_sources(files: &[(String, String)]) -> Result<Self, SchemaError> {
        let mut docs = Vec::new();
        for (file, text) in files {
            let doc: Value = serde_json::from_str(text).map_err(|e| SchemaError::Invalid {
                file: file.clone(),
                detail: format!("not valid JSON: {e}"),
            })?;
            keywords::check_labels(&doc, "").map_err(|detail| SchemaError::Invalid {
                file: file.clone(),
                detail,
            })?;
            docs.push((file.clone(), doc));
        }
        let mut resources = jsonschema::Registry::new();
        for (file, doc) in &docs {
            if let Some(id) = doc.get("$id").and_then(Value::as_str) {
                resources = resources
                    .add(id, doc.clone())
                    .map_err(|e| SchemaError::Invalid {
                        file: file.clone(),
                        detail: format!("cannot register $id {id}: {e}"),
                    })?;
            }
        }
        let resources = resources.prepare().map_err(|e| SchemaError::Invalid {
            file: "(registry)".into(),
            detail: e.to_string(),
        })?;
        let mut types = BTreeMap::new();
        for (file, doc) in &docs {
            if doc.get("x-verbund").is_none() {
                continue;
            }
            let name = file.trim_end_matches(".json").to_string();
            let invalid = |detail: String| SchemaError::Invalid {
                file: file.clone(),
                detail,
            };
            if !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(invalid(format!(
                    "type name {name:?} must be lowercase letters, digits and _"
                )));
            }
            let resolve = |base: &str| -> Option<&Value> {
                docs.iter()
                    .map(|(_, d)| d)
                    .find(|d| d.get("$id").and_then(Value::as_str) == Some(base))
            };
            let (options, fields) = keywords::read(doc, &resolve).map_err(invalid)?;
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .with_registry(&resources)
                .build(doc)
                .map_err(|e| invalid(format!("does not compile: {e}")))?;
            types.insert(
                name.clone(),
                Arc::new(ContentType {
                    name,
                    schema: doc.clone(),
                    options,
                    fields,
                    validator,
                }),
            );
        }
        if types.contains_key(crate::media::ASSET_REF) {
            return Err(SchemaError::Invalid {
                file: format!("{}.json", crate::media::ASSET_REF),
                detail: "the name \"asset\" is taken by media assets; name the type otherwise"
                    .into(),
            });
        }
        for t in types.values() {
            for (field, target) in t.reference_fields() {
                if !types.contains_key(target) {
                    return Err(SchemaError::Invalid {
                        file: format!("{}.json", t.name),
                        detail: format!(
                            "field {field} references type {target:?}, which has no schema"
                        ),
                    });
                }
            }
        }
        let documents = docs
            .into_iter()
            .filter_map(|(_, d)| Some((d.get("$id")?.as_str()?.to_string(), d)))
            .collect();
        Ok(Self {
            types,
            documents,
            source: String::new(),
        })
    }

    /// A content type's schema with every `$ref` replaced by what it points to (siblings of
    /// the `$ref`, such as a `description`, win), for clients that build forms or templates.
    pub fn resolved_schema(&self, name: &str) -> Value {
        let Some(ct) = self.types.get(name) else {
            return Value::Null;
        };
        let base = ct.schema.get("$id").and_then(Value::as_str).unwrap_or("");
        self.resolve_refs(&ct.schema, base, 0)
    }

    fn resolve_refs(&self, v: &Value, base: &str, depth: usize) -> Value {
        match v {
            Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(Value::as_str)
                    && depth < 32
                {
                    let (doc_id, pointer) = r.split_once('#').unwrap_or((r, ""));
                    let doc_id = if doc_id.is_empty() { base } else { doc_id };
                    if let Some(target) =
                        self.documents.get(doc_id).and_then(|d| d.pointer(pointer))
                    {
                        let mut out = self.resolve_refs(target, doc_id, depth + 1);
                        if let Value::Object(o) = &mut out {
                            for (k, sib) in map {
                                if k != "$ref" {
                                    o.insert(k.clone(), self.resolve_refs(sib, base, depth + 1));
                                }
                            }
                        }
                        return out;
                    }
                }
                Value::Object(
                    map.iter()
                        .filter(|(k, _)| k.as_str() != "$defs")
                        .map(|(k, x)| (k.clone(), self.resolve_refs(x, base, depth + 1)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|x| self.resolve_refs(x, base, depth + 1))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<ContentType>> {
        self.types.get(name)
    }

    pub fn types(&self) -> impl Iterator<Item = &Arc<ContentType>> {
        self.types.values()
    }

    pub fn names(&self) -> Vec<&str> {
        self.types.keys().map(String::as_str).collect()
    }

    /// Where the schemas came from (a directory or "built-in").
    pub fn source(&self) -> &str {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_schemas_load_with_their_keywords() {
        let r = SchemaRegistry::builtin();
        assert_eq!(
            r.names(),
            vec!["cooperation", "event", "member", "story", "subscriber"]
        );
        let story = r.get("story").unwrap();
        assert_eq!(story.options.title, "title");
        assert_eq!(story.options.slug.as_deref(), Some("slug"));
        assert!(
            story
                .reference_fields()
                .any(|(f, t)| f == "members" && t == "member")
        );
        assert!(!r.get("subscriber").unwrap().is_public());
        assert!(r.get("member").unwrap().fields["contact_email"].pii);
    }

    #[test]
    fn reserved_property_names_are_refused() {
        let files = vec![(
            "thing.json".to_string(),
            r#"{"type":"object","x-verbund":{"title":"version"},"properties":{"version":{"type":"string"}}}"#
                .to_string(),
        )];
        let err = SchemaRegistry::from_sources(&files)
            .unwrap_err()
            .to_string();
        assert!(err.contains("reserved"), "{err}");
    }

    #[test]
    fn labels_must_name_values_of_their_enum() {
        let with = |labels: &str| {
            vec![(
                "thing.json".to_string(),
                format!(
                    r#"{{"type":"object","x-verbund":{{"title":"name"}},"properties":{{"name":{{"type":"string"}},"farbe":{{"type":"string","enum":["rot","blau"],"x-verbund":{{"labels":{labels}}}}}}}}}"#
                ),
            )]
        };
        assert!(SchemaRegistry::from_sources(&with(r#"{"de":{"rot":"Rot"}}"#)).is_ok());
        let err = SchemaRegistry::from_sources(&with(r#"{"de":{"gruen":"Grün"}}"#))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"gruen\", which is not one of its enum values"),
            "{err}"
        );
        let err = SchemaRegistry::from_sources(&with(r#"{"de":{"rot":1}}"#))
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be text"), "{err}");
    }
}
