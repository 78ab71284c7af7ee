//! Search: `GET /api/v1/search` (the published view, for websites), the editors' search with
//! working copies, and the index's admin endpoints.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use schemars::JsonSchema;

use super::params::{self, blocking};
use super::typed::{ApiQuery, Data, NoQuery, Page, ParameterRefs, QueryParams, Reply};
use super::{ApiError, AppState, Code};
use crate::auth::{Caller, Role};
use crate::search::{Facets, Hit, SearchError, SearchIndex, SearchRequest};

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        let detail = e.to_string();
        match e {
            SearchError::Invalid(_) => ApiError::new(Code::InvalidSearch, detail),
            SearchError::UnknownField(_) => ApiError::new(Code::UnknownField, detail),
            SearchError::Cursor(_) => ApiError::new(Code::InvalidCursor, detail),
            SearchError::NotReady => ApiError::new(Code::SearchUnavailable, detail),
            SearchError::Index(err) => {
                tracing::error!("search: {err}");
                ApiError::new(Code::Internal, "the search failed; it has been logged")
            }
        }
    }
}

impl From<crate::search::IndexError> for ApiError {
    fn from(e: crate::search::IndexError) -> Self {
        tracing::error!("{e}");
        ApiError::new(
            Code::Internal,
            "the search index failed; it has been logged",
        )
    }
}

/// The query of a search.
#[derive(JsonSchema)]
pub struct SearchQuery {
    /// Words and `"phrases"` (at most 200 characters, 8 words and phrases). Every word must
    /// occur, in any inflected form, umlaut spelling (ü/ue, ß/ss) or as part of a compound;
    /// words of 5 letters or more also match with a typo, and the last word, unless followed by
    /// a space, also as the beginning of a word.
    #[schemars(example = &"Cloud Migration Halle", length(min = 1, max = 200))]
    pub q: String,
    /// Only these types, comma-separated (default: every public type).
    #[schemars(rename = "type", example = &"story,event", regex(pattern = r"^[a-z][a-z0-9_]{0,63}(,[a-z][a-z0-9_]{0,63}){0,15}$"))]
    pub types: Option<String>,
    /// Only entries in this locale, searched with its language's analyser (default: every
    /// locale).
    #[schemars(example = &"de", regex(pattern = r"^[a-z]{2}(-[A-Z]{2})?$"))]
    pub locale: Option<String>,
    /// Hits per page (400 invalid_limit outside 1–50).
    #[schemars(range(min = 1, max = 50))]
    #[serde(default = "SearchQuery::default_limit")]
    pub limit: usize,
    /// `meta.next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `filter[field]=value,value`: facet filters (documented as `SearchFilter`).
    #[schemars(skip)]
    pub filters: BTreeMap<String, Vec<String>>,
}

impl SearchQuery {
    fn default_limit() -> usize {
        10
    }

    fn request(self) -> SearchRequest {
        SearchRequest {
            q: self.q,
            types: self
                .types
                .map(|t| {
                    t.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            locale: self.locale,
            filters: self.filters,
            limit: self.limit,
            cursor: self.cursor,
        }
    }
}

/// `filter[…]` is documented by the route (`search_routes`).
impl ParameterRefs for SearchQuery {}

impl QueryParams for SearchQuery {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut q = SearchQuery {
            q: String::new(),
            types: None,
            locale: None,
            limit: Self::default_limit(),
            cursor: None,
            filters: BTreeMap::new(),
        };
        let mut has_q = false;
        for (k, v) in params::pairs(raw.map(String::from))? {
            match k.as_str() {
                "q" => {
                    q.q = v;
                    has_q = true;
                }
                "type" => q.types = Some(v),
                "locale" => q.locale = Some(params::locale(v)?),
                "limit" => q.limit = params::limit(&v, crate::search::MAX_LIMIT)?,
                // An empty cursor is the first page.
                "cursor" => q.cursor = Some(v).filter(|c| !c.is_empty()),
                other => {
                    let field = other
                        .strip_prefix("filter[")
                        .and_then(|f| f.strip_suffix(']'))
                        .filter(|f| !f.is_empty() && !f.contains(['[', ']']));
                    let Some(field) = field else {
                        return Err(params::unknown(
                            other,
                            "q, type, locale, filter[field]=value, limit and cursor",
                        ));
                    };
                    let values: Vec<String> = v
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect();
                    if values.is_empty() || values.len() > 20 {
                        return Err(ApiError::new(
                            Code::InvalidParameter,
                            format!("filter[{field}] takes 1 to 20 comma-separated values"),
                        ));
                    }
                    q.filters
                        .entry(field.to_string())
                        .or_default()
                        .extend(values);
                }
            }
        }
        if !has_q {
            return Err(ApiError::new(
                Code::InvalidSearch,
                "q is missing: give the words to search for, e.g. ?q=Cloud Migration",
            ));
        }
        Ok(q)
    }
}

/// Totals, facets and where a page of search results ends.
#[derive(serde::Serialize, JsonSchema)]
pub struct SearchMeta {
    /// Hits in all (every page).
    pub total: u64,
    /// Pass as `cursor` for the next page; absent on the last (results page up to 1000 deep).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Counts over all hits per facet: `type`, `topics`, `state_region` (a member's region),
    /// each value with its count, most frequent first.
    pub facets: Facets,
    /// Editors' search only: whether working copies were looked through in full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drafts_complete: Option<bool>,
}

fn index(state: &AppState) -> Result<std::sync::Arc<SearchIndex>, ApiError> {
    state.search.clone().ok_or_else(|| {
        ApiError::new(
            Code::SearchUnavailable,
            "this server runs without a search index (start it with --search-dir or without --no-search)",
        )
    })
}

pub async fn search(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Reply<Page<Hit, SearchMeta>>, ApiError> {
    let index = index(&state)?;
    let request = query.request();
    let results = blocking(move || Ok(index.search(&request)?)).await?;
    let page = Page {
        data: results.hits,
        meta: SearchMeta {
            total: results.total,
            next_cursor: results.next_cursor,
            facets: results.facets,
            drafts_complete: None,
        },
    };
    // The index follows the store within a second: not cached, so a publication is found as
    // soon as it is indexed.
    Ok(Reply::json(&page).header(header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
}

/// The editors' search: published entries as on the website, then working copies (drafts,
/// entries in review, unpublished changes of published entries) that match, marked by
/// their `state`.
pub async fn search_manage(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Reply<Page<Hit, SearchMeta>>, ApiError> {
    caller.require(Role::Reader)?;
    let index = index(&state)?;
    let request = query.request();
    let (results, drafts, complete) = blocking(move || {
        let results = index.search(&request)?;
        let (drafts, complete) = index.search_drafts(&request)?;
        Ok((results, drafts, complete))
    })
    .await?;
    let mut data = results.hits;
    data.extend(drafts);
    Ok(Reply::json(&Page {
        data,
        meta: SearchMeta {
            total: results.total,
            next_cursor: results.next_cursor,
            facets: results.facets,
            drafts_complete: Some(complete),
        },
    }))
}

pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    _: ApiQuery<NoQuery>,
) -> Result<Reply<Data<crate::search::IndexStatus>>, ApiError> {
    caller.require(Role::Admin)?;
    let index = index(&state)?;
    let status = blocking(move || Ok(index.status()?)).await?;
    Ok(Reply::json(&Data::of(status)))
}

/// What a rebuild request did.
#[derive(serde::Serialize, JsonSchema)]
pub struct RebuildStarted {
    /// The generation every node's index is rebuilt for: done on a node when its status
    /// shows this generation.
    pub generation: u64,
}

pub async fn rebuild(
    State(state): State<AppState>,
    caller: Caller,
    _: ApiQuery<NoQuery>,
) -> Result<Reply<Data<RebuildStarted>, 202>, ApiError> {
    caller.require(Role::Admin)?;
    let index = index(&state)?;
    let who = caller.token_id.clone();
    let generation = blocking(move || Ok(index.request_rebuild(&who)?)).await?;
    Ok(Reply::json(&Data::of(RebuildStarted { generation })))
}
