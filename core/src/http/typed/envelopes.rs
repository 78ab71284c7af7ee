//! The `data`/`meta` envelopes of answers, and the markers of components the document still
//! states itself.

use super::*;

// `{"data": …}`: how every JSON answer carries its payload.
#[derive(Serialize, JsonSchema)]
#[schemars(inline)]
pub struct Data<T> {
    pub data: T,
}

impl<T> Data<T> {
    pub fn of(data: T) -> Self {
        Data { data }
    }
}

// `{"data": […], "meta": …}`: a page of a list or feed.
#[derive(Serialize, JsonSchema)]
#[schemars(inline)]
pub struct Page<T, M> {
    pub data: Vec<T>,
    pub meta: M,
}

/// A schema the document states itself (`openapi.rs`): built from the content types at
/// start-up (`AnyEntry`, …, which the per-type paths turn into the type's own, `StoryEntry`),
/// or written there until a Rust type describes it. The type is a reference to it.
macro_rules! document_schema {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Serialize)]
        #[serde(transparent)]
        pub struct $name(pub Value);

        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"$ref": concat!("#/components/schemas/", stringify!($name))})
            }
        }
    };
}

document_schema!(
    /// An entry of the type in the path, as the management API returns it.
    AnyEntry
);
document_schema!(
    /// A published entry of the type in the path, without personal fields.
    AnyPublic
);
document_schema!(
    /// The fields creating an entry of the type in the path.
    AnyCreate
);
document_schema!(
    /// A JSON Merge Patch of the fields of an entry of the type in the path.
    MergePatch
);
document_schema!(
    /// With `include`: the published entries the chosen reference fields point to, by type.
    Included
);
document_schema!(
    /// The fields replacing an entry of the type in the path.
    AnyReplace
);

impl<'de> serde::Deserialize<'de> for AnyCreate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(AnyCreate)
    }
}

// Schemas the document still states itself (`openapi.rs`), until their Rust types describe
// them.
document_schema!(
    /// A stable error code: the error table (`codes.rs`) as a schema.
    ErrorCode
);
document_schema!(
    /// Everything stored about a person.
    DataSubjectExport
);
document_schema!(
    /// An installed plugin.
    Plugin
);
document_schema!(
    /// A plugin's stored record.
    PluginRecord
);
document_schema!(
    /// What an install did (or would do).
    InstallReport
);
document_schema!(
    /// A plugin's limits and settings.
    PluginSettings
);
document_schema!(
    /// The artifacts of a plugin export.
    ExportResult
);

impl<'de> serde::Deserialize<'de> for MergePatch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(MergePatch)
    }
}

impl<'de> serde::Deserialize<'de> for AnyReplace {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(AnyReplace)
    }
}
