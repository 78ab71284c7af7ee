//! The path and query parameters of the routes.

use super::*;

/// `{type}`: a content type of this server (the document gives each its own path).
#[derive(serde::Deserialize, JsonSchema)]
pub struct TypePath {
    /// The content type.
    #[serde(rename = "type")]
    pub ty: String,
}

/// `{type}/{id}` of the management API.
#[derive(serde::Deserialize, JsonSchema)]
pub struct EntryPath {
    /// The content type.
    #[serde(rename = "type")]
    pub ty: String,
    /// The entry's id (GET also takes a slug in locale `de`).
    #[schemars(length(min = 1))]
    pub id: String,
}

/// `{type}/{id_or_slug}` of the delivery API.
#[derive(serde::Deserialize, JsonSchema)]
pub struct ContentPath {
    /// The content type.
    #[serde(rename = "type")]
    pub ty: String,
    /// The entry's id, or its slug in the requested locale.
    #[schemars(length(min = 1))]
    pub id_or_slug: String,
}

/// `{id}` of a token.
#[derive(serde::Deserialize, JsonSchema)]
pub struct TokenPath {
    /// The token's id (not the secret).
    #[schemars(length(min = 1))]
    pub id: String,
}

/// `{name}` of a plugin.
#[derive(serde::Deserialize, JsonSchema)]
pub struct PluginPath {
    /// The name of an installed plugin (see GET /api/v1/admin/plugins).
    #[schemars(length(min = 1))]
    pub name: String,
}

/// `{plugin}/{export}`: one export of a plugin.
#[derive(serde::Deserialize, JsonSchema)]
pub struct ExportPath {
    /// The name of an installed plugin with exports.
    #[schemars(length(min = 1), example = &"newsletter-export")]
    pub plugin: String,
    /// One of the plugin's exports (see `exports` of GET /api/v1/admin/plugins/{name}).
    #[schemars(length(min = 1), example = &"issue")]
    pub export: String,
}

/// `since` and `limit` of the feeds (the change feed, the audit log).
#[derive(JsonSchema)]
pub struct FeedQuery {
    /// Return what comes after this sequence number (`meta.next_since` of the previous page).
    #[schemars(range(max = 18446744073709551615u64))]
    #[serde(default)]
    pub since: u64,
    /// How many records to scan at most (400 invalid_limit outside 1–1000).
    #[schemars(range(min = 1, max = 1000))]
    #[serde(default = "FeedQuery::default_limit")]
    pub limit: usize,
}

impl FeedQuery {
    fn default_limit() -> usize {
        100
    }
}

impl ParameterRefs for FeedQuery {}

impl QueryParams for FeedQuery {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let (since, limit) = crate::http::params::since_and_limit(raw.map(String::from))?;
        Ok(FeedQuery { since, limit })
    }
}

/// No query parameters: any is a 400 unknown_parameter.
#[derive(JsonSchema)]
pub struct NoQuery {}

impl ParameterRefs for NoQuery {}

impl QueryParams for NoQuery {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        match crate::http::params::pairs(raw.map(String::from))?
            .into_iter()
            .next()
        {
            Some((k, _)) => Err(crate::http::params::unknown(&k, "no parameters")),
            None => Ok(NoQuery {}),
        }
    }
}
