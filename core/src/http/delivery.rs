//! The public delivery API: published entries only, never personal data.
//!
//! Responses are assembled from the stored public JSON without parsing it again, unless the
//! client asks for `fields` or `include`. Every response carries a strong `ETag` (and answers
//! `If-None-Match` with 304), `Cache-Control`, and a `Surrogate-Key` naming the entries in it.

use super::Code;
use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Request, State};
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::cache::CachedResponse;
use super::caller::MaybeCaller;
use super::params;
use super::typed::{
    AnyPublic, ApiPath, ApiQuery, ContentPath, FeedQuery, Included, Page, ParameterRefs, QueryDoc,
    Reply, TypePath,
};
use super::{ApiError, AppState};
use crate::content::{DeliveryQuery, FilterOp, SortKey};
use crate::schema::{ContentType, RESERVED_FIELDS};

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

/// Bounds of a delivery query, so that no anonymous request costs more than a page should
/// (security review #9: 9,000 `in` values over 20k stories took 0.44 s).
pub const MAX_QUERY_BYTES: usize = 4096;
pub const MAX_SORT_KEYS: usize = 4;
pub const MAX_FIELDS: usize = 64;
pub const MAX_INCLUDES: usize = 8;

fn check_length(raw: Option<&str>) -> Result<(), ApiError> {
    match raw {
        Some(raw) if raw.len() > MAX_QUERY_BYTES => Err(ApiError::new(
            Code::QueryTooLarge,
            format!(
                "the query string has {} bytes, at most {MAX_QUERY_BYTES} are allowed; split the query or narrow it",
                raw.len()
            ),
        )),
        _ => Ok(()),
    }
}

fn check_shape_size(shape: &Shape) -> Result<(), ApiError> {
    if let Some(f) = &shape.fields
        && f.len() > MAX_FIELDS
    {
        return Err(params::too_many("fields", MAX_FIELDS, f.len()));
    }
    if shape.include.len() > MAX_INCLUDES {
        return Err(params::too_many(
            "include fields",
            MAX_INCLUDES,
            shape.include.len(),
        ));
    }
    Ok(())
}

fn public_type(state: &AppState, ty: &str) -> Result<std::sync::Arc<ContentType>, ApiError> {
    let ct = state.content.content_type(ty)?.clone();
    if !ct.is_public() {
        return Err(ApiError::not_found(format!(
            "{ty} entries hold personal data and are never served by the delivery API"
        )));
    }
    Ok(ct)
}

/// Options shared by both delivery routes.
#[derive(Default)]
pub(crate) struct Shape {
    locale: Option<String>,
    /// `fallback=`: a locale, or `none`.
    fallback: Option<String>,
    fields: Option<Vec<String>>,
    include: Vec<String>,
}

impl Shape {
    /// The locales to look in, in order: `locale`, then `fallback` (or the platform's
    /// fallback locale unless `fallback=none`). Empty when no `locale` was asked for.
    fn chain(&self, state: &AppState) -> Result<Vec<String>, ApiError> {
        if let Some(f) = self.fallback.as_deref().filter(|f| *f != "none") {
            check_locale("fallback", f)?;
        }
        let Some(locale) = &self.locale else {
            return Ok(Vec::new());
        };
        let mut chain = vec![check_locale("locale", locale)?];
        let fallback = match self.fallback.as_deref() {
            Some("none") => None,
            Some(f) => Some(check_locale("fallback", f)?),
            None => state.delivery.fallback_locale.clone(),
        };
        if let Some(f) = fallback
            && f != *locale
        {
            chain.push(f);
        }
        Ok(chain)
    }
}

fn check_locale(param: &str, v: &str) -> Result<String, ApiError> {
    if crate::content::is_locale(v) {
        Ok(v.to_string())
    } else {
        Err(ApiError::new(
            Code::InvalidParameter,
            format!(
                "{param}={v:?} is not a locale like \"de\", \"en\" or \"de-AT\"{}",
                if param == "fallback" { ", or none" } else { "" }
            ),
        ))
    }
}

fn list_param(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn check_shape(ct: &ContentType, shape: &Shape) -> Result<(), ApiError> {
    if let Some(fields) = &shape.fields {
        let allowed: Vec<String> = RESERVED_FIELDS
            .iter()
            .map(|s| s.to_string())
            .chain(
                ct.fields
                    .iter()
                    .filter(|(_, f)| !f.pii)
                    .map(|(n, _)| n.clone()),
            )
            .collect();
        for f in fields {
            if !allowed.contains(f) {
                return Err(ApiError::new(
                    Code::UnknownField,
                    format!(
                        "unknown field {f:?} in fields; fields of {}: {}",
                        ct.name,
                        allowed.join(", ")
                    ),
                ));
            }
        }
    }
    let refs: Vec<&str> = ct.reference_fields().map(|(f, _)| f).collect();
    for inc in &shape.include {
        if !refs.contains(&inc.as_str()) {
            return Err(ApiError::new(
                Code::UnknownField,
                format!(
                    "include={inc:?} is not a reference field of {}; reference fields: {}",
                    ct.name,
                    if refs.is_empty() {
                        "none".to_string()
                    } else {
                        refs.join(", ")
                    }
                ),
            ));
        }
    }
    Ok(())
}

/// Writes one item, projected to `fields` if asked. The projection reads the stored document
/// as raw values (keys parsed, values only delimited, never decoded), so `fields=` costs about
/// a scan of the document, not a parse and a re-serialisation of every value.
fn write_item(out: &mut Vec<u8>, doc: &[u8], fields: Option<&[String]>) -> Result<(), ApiError> {
    let Some(fields) = fields else {
        out.extend_from_slice(doc);
        return Ok(());
    };
    let full: std::collections::HashMap<std::borrow::Cow<'_, str>, &serde_json::value::RawValue> =
        serde_json::from_slice(doc).map_err(stored_json)?;
    out.push(b'{');
    let always = ["id", "type", "locale", "version"];
    let mut written: Vec<&str> = Vec::with_capacity(always.len() + fields.len());
    for k in always
        .iter()
        .copied()
        .chain(fields.iter().map(String::as_str))
    {
        if written.contains(&k) {
            continue;
        }
        if let Some(v) = full.get(k) {
            if !written.is_empty() {
                out.push(b',');
            }
            written.push(k);
            serde_json::to_writer(&mut *out, k).map_err(stored_json)?;
            out.push(b':');
            out.extend_from_slice(v.get().as_bytes());
        }
    }
    out.push(b'}');
    Ok(())
}

fn stored_json(e: serde_json::Error) -> ApiError {
    tracing::error!(error = %e, "stored public JSON does not parse");
    ApiError::new(
        Code::Internal,
        "a stored entry could not be read; it has been logged",
    )
}

/// Resolves `include` for a set of documents: every referenced entry that is published, once
/// (with a chain of locales, in the first of them it is published in).
fn included(
    state: &AppState,
    ct: &ContentType,
    docs: &[&[u8]],
    include: &[String],
    chain: &[String],
    keys: &mut Vec<String>,
) -> Result<Vec<u8>, ApiError> {
    let locales: Vec<&str> = chain.iter().map(String::as_str).collect();
    let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for doc in docs {
        let v: Map<String, Value> = serde_json::from_slice(doc).map_err(stored_json)?;
        for field in include {
            let Some(target) = ct.fields.get(field).and_then(|f| f.reference.clone()) else {
                continue;
            };
            let ids: Vec<String> = match v.get(field) {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect(),
                _ => Vec::new(),
            };
            wanted.entry(target).or_default().extend(ids);
        }
    }
    let mut out = b"{".to_vec();
    for (i, (target, ids)) in wanted.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&serde_json::to_vec(target).unwrap_or_default());
        out.extend_from_slice(b":[");
        let mut first = true;
        let target_public = state
            .content
            .content_type(target)
            .map(|t| t.is_public())
            .unwrap_or(false);
        for id in ids {
            if !target_public {
                break;
            }
            let doc = if locales.is_empty() {
                state.content.get_published(target, id, "")?
            } else {
                state.content.published_in_chain(target, id, &locales)?
            };
            if let Some(doc) = doc {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(&doc);
                let shown = crate::content::public_id(&doc).unwrap_or_else(|| id.clone());
                keys.push(format!("{target}/{shown}"));
            }
        }
        out.push(b']');
    }
    out.push(b'}');
    Ok(out)
}

/// The asset fields of a type that an answer shows (all, or those in `fields`).
fn shown_asset_fields<'a>(ct: &'a ContentType, shape: &Shape) -> Vec<&'a str> {
    ct.asset_fields()
        .map(|(f, _)| f)
        .filter(|f| {
            shape
                .fields
                .as_ref()
                .is_none_or(|fs| fs.iter().any(|x| x == f))
        })
        .collect()
}

/// `"assets": {id: {url, presets, srcset, alt, …}}` for the assets the documents show: what a
/// website needs to render `<img srcset>` and `<picture>` without another request. `None`
/// when the type has no asset fields (or media are off).
fn assets_of(
    state: &AppState,
    fields: &[&str],
    docs: &[&[u8]],
    keys: &mut Vec<String>,
) -> Result<Option<Vec<u8>>, ApiError> {
    let Some(media) = &state.media else {
        return Ok(None);
    };
    if fields.is_empty() {
        return Ok(None);
    }
    let mut ids = BTreeSet::new();
    for doc in docs {
        let v: Map<String, Value> = serde_json::from_slice(doc).map_err(stored_json)?;
        for f in fields {
            match v.get(*f) {
                Some(Value::String(s)) => {
                    ids.insert(s.clone());
                }
                Some(Value::Array(a)) => {
                    ids.extend(a.iter().filter_map(|x| x.as_str().map(String::from)));
                }
                _ => {}
            }
        }
    }
    let mut out = Map::new();
    for id in ids {
        match state.content.get_asset(&id) {
            Ok(asset) => {
                out.insert(id.clone(), media.public_view(state.content.keys(), &asset));
                keys.push(format!("asset/{id}"));
            }
            Err(crate::content::ContentError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(serde_json::to_vec(&out).unwrap_or_default()))
}

/// Turns a computed body and its space-separated surrogate keys into a cacheable response.
fn finish(body: Vec<u8>, surrogate: String) -> Arc<CachedResponse> {
    let etag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&body));
    Arc::new(CachedResponse {
        body: Bytes::from(body),
        etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\"")),
        surrogate: HeaderValue::from_maybe_shared(Bytes::from(surrogate))
            .unwrap_or(HeaderValue::from_static("")),
    })
}

/// Answers with the response and its caching headers, or 304 if the client has it.
fn respond(state: &AppState, req: &HeaderMap, cached: &CachedResponse) -> Response {
    let etag = cached.etag.as_bytes();
    let not_modified = req
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .any(|t| {
            let t = t.trim_ascii();
            t == etag || t == b"*"
        });
    let mut res = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = cached.body.clone().into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    };
    let h = res.headers_mut();
    h.insert(header::ETAG, cached.etag.clone());
    h.insert(header::CACHE_CONTROL, state.delivery.cache_control.clone());
    h.insert("surrogate-key", cached.surrogate.clone());
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    res
}

/// The cache key of a delivery request.
fn cache_key(uri: &Uri) -> String {
    uri.path_and_query()
        .map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string())
}

/// Parses the query string of a delivery list: filters, sort, limit, cursor and the shape of
/// the answer. Every unknown parameter or operator is an error that names it.
pub(crate) fn parse_query(raw: Option<String>) -> Result<(DeliveryQuery, Shape), ApiError> {
    let mut q = DeliveryQuery {
        limit: DEFAULT_LIMIT,
        ..DeliveryQuery::default()
    };
    let mut shape = Shape::default();
    check_length(raw.as_deref())?;
    for (k, v) in params::pairs(raw)? {
        if params::filter(&k, &v, &mut q.filters)? {
            continue;
        }
        match k.as_str() {
            "sort" => {
                q.sort = list_param(&v)
                    .into_iter()
                    .map(|s| match s.strip_prefix('-') {
                        Some(f) => SortKey {
                            field: f.to_string(),
                            descending: true,
                        },
                        None => SortKey {
                            field: s.trim_start_matches('+').to_string(),
                            descending: false,
                        },
                    })
                    .collect();
            }
            "limit" => q.limit = params::limit(&v, MAX_LIMIT)?,
            "cursor" => q.cursor = Some(v),
            "locale" => shape.locale = Some(v),
            "fallback" => shape.fallback = Some(v),
            "fields" => shape.fields = Some(list_param(&v)),
            "include" => shape.include = list_param(&v),
            other => {
                return Err(params::unknown(
                    other,
                    "filter[field][op], sort, limit, cursor, fields, include, locale or fallback",
                ));
            }
        }
    }
    if q.sort.len() > MAX_SORT_KEYS {
        return Err(params::too_many("sort keys", MAX_SORT_KEYS, q.sort.len()));
    }
    check_shape_size(&shape)?;
    Ok((q, shape))
}

// The delivery types below are the document's description of what the hot path reads and
// writes without serde: the query is parsed after the response cache (a hit parses nothing),
// the bodies are written as bytes and cached as they are.

/// The query of a delivery list, read by [`parse_query`] after the response cache.
#[allow(dead_code)] // Describes what the handler reads or writes as bytes (see above).
#[derive(schemars::JsonSchema)]
pub struct ListQuery {
    /// Page size (400 invalid_limit outside 1–100).
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "ListQuery::default_limit")]
    pub limit: usize,
    /// Opaque: `meta.next_cursor` of the previous page, with the same other parameters (400 invalid_cursor otherwise).
    pub cursor: Option<String>,
    /// The locale of the entries, e.g. `de` (default) or `en`.
    #[serde(default = "ListQuery::default_locale")]
    #[schemars(regex(pattern = r"^[a-z]{2}(-[A-Z]{2})?$"))]
    pub locale: String,
    /// With `locale`: where an entry has no published translation in `locale`, its version in
    /// this locale is listed instead (its `locale` says so); `none` turns the platform's
    /// default fallback off.
    #[schemars(example = &"de", regex(pattern = r"^([a-z]{2}(-[A-Z]{2})?|none)$"))]
    pub fallback: Option<String>,
}

impl ListQuery {
    fn default_limit() -> usize {
        20
    }
    fn default_locale() -> String {
        "de".into()
    }
}

/// The names that depend on the content type: made per type from the registry.
impl ParameterRefs for ListQuery {
    const PARAMETERS: &'static [&'static str] = &["Sort", "Fields", "Include", "DeliveryFilter"];
}

/// The query of a delivery read, read by the handler after the response cache.
#[allow(dead_code)] // Describes what the handler reads or writes as bytes (see above).
#[derive(schemars::JsonSchema)]
pub struct GetQuery {
    /// The locale of the entry's slug and fields, e.g. `de` (default) or `en`. With a locale, an
    /// id or slug of any translation answers with the translation in this locale.
    #[serde(default = "ListQuery::default_locale")]
    #[schemars(regex(pattern = r"^[a-z]{2}(-[A-Z]{2})?$"))]
    pub locale: String,
    /// With `locale`: the locale to answer in where there is no published translation in
    /// `locale` (the answer's `locale` says which one it is); `none` turns the platform's
    /// default fallback off.
    #[schemars(example = &"de", regex(pattern = r"^([a-z]{2}(-[A-Z]{2})?|none)$"))]
    pub fallback: Option<String>,
    /// `true` returns the current version (a draft, too) instead of the published one; needs a token (reader role or above). Any other value means false. Preview responses are `Cache-Control: private, no-store` and have no ETag.
    #[schemars(example = &"true")]
    pub preview: Option<String>,
}

impl ParameterRefs for GetQuery {
    const PARAMETERS: &'static [&'static str] = &["Fields", "Include"];
}

/// A page of published entries.
// Written as bytes by `list_page`; this type describes them.
#[allow(dead_code)] // Describes what the handler reads or writes as bytes (see above).
#[derive(schemars::JsonSchema)]
#[schemars(inline)]
pub struct ContentPage {
    pub data: Vec<AnyPublic>,
    #[serde(default)]
    #[schemars(with = "Included")]
    pub included: Option<Included>,
    /// For types with asset fields: every asset the page shows, by id.
    #[serde(default)]
    pub assets: Option<BTreeMap<String, DeliveredAsset>>,
    pub meta: ContentPageMeta,
}

#[allow(dead_code)] // Describes what the handler reads or writes as bytes (see above).
#[derive(schemars::JsonSchema)]
pub struct ContentPageMeta {
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
    /// How many entries match.
    pub total: u64,
}

/// One published entry, with what it references when asked.
// Written as bytes by `one_entry`; this type describes them.
#[allow(dead_code)] // Describes what the handler reads or writes as bytes (see above).
#[derive(schemars::JsonSchema)]
#[schemars(inline)]
pub struct ContentOne {
    pub data: AnyPublic,
    #[serde(default)]
    #[schemars(with = "Included")]
    pub included: Option<Included>,
    /// For types with asset fields: every asset the entry shows, by id.
    #[serde(default)]
    pub assets: Option<BTreeMap<String, DeliveredAsset>>,
}

/// An asset as the delivery API shows it (never its consent note).
#[allow(dead_code)] // Describes what the handler writes as bytes.
#[derive(schemars::JsonSchema)]
pub struct DeliveredAsset {
    pub id: String,
    /// `image` or `file`.
    pub kind: String,
    pub media_type: String,
    pub filename: String,
    pub bytes: u64,
    /// The original (sanitised), with its version: cacheable for a year.
    pub url: String,
    pub caption: Option<String>,
    pub credit: Option<String>,
    pub license: Option<String>,
    /// Images: the displayed size (the crop's).
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Images: alternative text per locale.
    pub alt: Option<BTreeMap<String, String>>,
    pub decorative: Option<bool>,
    pub focal: Option<crate::media::Focal>,
    /// Images: each preset's URL and size.
    pub presets: Option<BTreeMap<String, DeliveredPreset>>,
    /// Images: an `srcset` of signed widths (format negotiated from `Accept`).
    pub srcset: Option<String>,
}

/// A preset rendition of an image.
#[allow(dead_code)] // Describes what the handler writes as bytes.
#[derive(schemars::JsonSchema)]
pub struct DeliveredPreset {
    pub url: String,
    pub width: u32,
    pub height: u32,
}

pub async fn list(
    State(state): State<AppState>,
    ApiPath(TypePath { ty }): ApiPath<TypePath>,
    _: QueryDoc<ListQuery>,
    req: Request,
) -> Result<Reply<ContentPage>, ApiError> {
    // Borrow what is needed from the request: cache hits should cost next to nothing.
    let (parts, _) = req.into_parts();
    let raw = parts.uri.query().map(String::from);
    let key = cache_key(&parts.uri);
    let generation = state.content.public_generation();
    if let Some(hit) = state.cache.get(&key, generation) {
        return Ok(Reply::from_response(respond(&state, &parts.headers, &hit)));
    }
    // A query that one index range answers (no filter, or one equality filter: the range of
    // that value) costs about its page and runs here. Any other filter is checked entry by
    // entry and may read every entry of the type, so such a query runs on the blocking pool,
    // where it cannot stall other requests (security review #9).
    let ct = public_type(&state, &ty)?;
    let (mut q, shape) = parse_query(raw)?;
    check_shape(&ct, &shape)?;
    let chain = shape.chain(&state)?;
    if let Some(l) = chain.first() {
        q.locale = l.clone();
    }
    let by_published = match q.sort.as_slice() {
        [] => true,
        [k] => k.field == "published_at",
        _ => false,
    };
    let one_range = chain.len() < 2
        && match q.filters.as_slice() {
            [] => true,
            [f] => {
                by_published
                    && matches!(f.op, FilterOp::Eq | FilterOp::Contains)
                    && ct.fields.get(&f.field).is_some_and(|spec| spec.filterable)
            }
            _ => false,
        };
    let response = if one_range {
        list_page(&state, &ct, &q, &shape, &chain)?
    } else {
        let worker = state.clone();
        params::blocking(move || list_page(&worker, &ct, &q, &shape, &chain)).await?
    };
    state.cache.put(key, generation, response.clone());
    Ok(Reply::from_response(respond(
        &state,
        &parts.headers,
        &response,
    )))
}

/// Computes a delivery list page (store work). The entries are written into the body as the
/// store hands them over; without `include`, nothing else reads them.
fn list_page(
    state: &AppState,
    ct: &ContentType,
    q: &DeliveryQuery,
    shape: &Shape,
    chain: &[String],
) -> Result<Arc<CachedResponse>, ApiError> {
    let ty = ct.name.as_str();
    let mut body = Vec::with_capacity(16 * 1024);
    body.extend_from_slice(b"{\"data\":[");
    let mut surrogate = String::with_capacity(ty.len() * (q.limit + 1) * 2 + 32 * q.limit);
    surrogate.push_str(ty);
    let mut ids: Vec<String> = Vec::new();
    let mut docs: Vec<Vec<u8>> = Vec::new();
    let mut first = true;
    let mut projection_error = None;
    let asset_fields = shown_asset_fields(ct, shape);
    let keep_docs = !shape.include.is_empty() || !asset_fields.is_empty();
    let meta = state
        .content
        .query_published_chain(ty, q, chain, &mut |id, doc| {
            if !first {
                body.push(b',');
            }
            first = false;
            if let Err(e) = write_item(&mut body, doc, shape.fields.as_deref()) {
                projection_error = Some(e);
            }
            surrogate.push(' ');
            surrogate.push_str(ty);
            surrogate.push('/');
            surrogate.push_str(id);
            if keep_docs {
                ids.push(id.to_string());
                docs.push(doc.to_vec());
            }
            Ok(())
        })?;
    if let Some(e) = projection_error {
        return Err(e);
    }
    body.extend_from_slice(b"]");
    if !shape.include.is_empty() {
        let mut keys = Vec::new();
        let docs: Vec<&[u8]> = docs.iter().map(Vec::as_slice).collect();
        body.extend_from_slice(b",\"included\":");
        body.extend_from_slice(&included(
            state,
            ct,
            &docs,
            &shape.include,
            chain,
            &mut keys,
        )?);
        for k in keys {
            surrogate.push(' ');
            surrogate.push_str(&k);
        }
    }
    let mut keys = Vec::new();
    let doc_refs: Vec<&[u8]> = docs.iter().map(Vec::as_slice).collect();
    if let Some(assets) = assets_of(state, &asset_fields, &doc_refs, &mut keys)? {
        body.extend_from_slice(b",\"assets\":");
        body.extend_from_slice(&assets);
        for k in keys {
            surrogate.push(' ');
            surrogate.push_str(&k);
        }
    }
    body.extend_from_slice(b",\"meta\":{\"next_cursor\":");
    match &meta.next_cursor {
        Some(c) => body.extend_from_slice(&serde_json::to_vec(c).unwrap_or_default()),
        None => body.extend_from_slice(b"null"),
    }
    body.extend_from_slice(b",\"total\":");
    body.extend_from_slice(meta.total.to_string().as_bytes());
    body.extend_from_slice(b"}}");
    Ok(finish(body, surrogate))
}

pub async fn get_one(
    State(state): State<AppState>,
    ApiPath(ContentPath { ty, id_or_slug }): ApiPath<ContentPath>,
    MaybeCaller(caller): MaybeCaller,
    _: QueryDoc<GetQuery>,
    req: Request,
) -> Result<Reply<ContentOne>, ApiError> {
    let (parts, _) = req.into_parts();
    let raw = parts.uri.query().map(String::from);
    let key = cache_key(&parts.uri);
    let generation = state.content.public_generation();
    let may_preview = raw.as_deref().is_some_and(|q| q.contains("preview"));
    if !may_preview && let Some(hit) = state.cache.get(&key, generation) {
        return Ok(Reply::from_response(respond(&state, &parts.headers, &hit)));
    }
    // A point read (by id or slug), plus at most the entry's own references: bounded work.
    let one = one_entry(&state, &ty, &id_or_slug, caller, raw)?;
    match one {
        One::Preview(res) => Ok(Reply::from_response(res)),
        One::Published(response) => {
            state.cache.put(key, generation, response.clone());
            Ok(Reply::from_response(respond(
                &state,
                &parts.headers,
                &response,
            )))
        }
    }
}

/// What `GET /content/{type}/{id_or_slug}` answers with.
enum One {
    /// A draft shown to a signed-in reader: never cached.
    Preview(Response),
    Published(Arc<CachedResponse>),
}

/// Reads one entry: a point read, bounded work, so it runs on the async worker.
fn one_entry(
    state: &AppState,
    ty: &str,
    id_or_slug: &str,
    caller: Option<crate::auth::Caller>,
    raw: Option<String>,
) -> Result<One, ApiError> {
    let mut shape = Shape::default();
    let mut preview = false;
    check_length(raw.as_deref())?;
    for (k, v) in params::pairs(raw)? {
        match k.as_str() {
            "locale" => shape.locale = Some(v),
            "fallback" => shape.fallback = Some(v),
            "fields" => shape.fields = Some(list_param(&v)),
            "include" => shape.include = list_param(&v),
            "preview" => preview = v == "true",
            other => {
                return Err(params::unknown(
                    other,
                    "fields, include, locale, fallback or preview",
                ));
            }
        }
    }
    check_shape_size(&shape)?;
    if preview {
        let caller = caller.ok_or(crate::auth::AuthError::Missing)?;
        caller.require(crate::auth::Role::Reader)?;
        let ct = public_type(state, ty)?;
        check_shape(&ct, &shape)?;
        let locale = shape.locale.clone().unwrap_or_else(|| "de".into());
        let doc = state.content.preview(ty, id_or_slug, &locale)?;
        let mut body = b"{\"data\":".to_vec();
        write_item(&mut body, &doc, shape.fields.as_deref())?;
        if let Some(assets) = assets_of(
            state,
            &shown_asset_fields(&ct, &shape),
            &[&doc],
            &mut Vec::new(),
        )? {
            body.extend_from_slice(b",\"assets\":");
            body.extend_from_slice(&assets);
        }
        body.push(b'}');
        let mut res = body.into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
        return Ok(One::Preview(res));
    }
    let ct = public_type(state, ty)?;
    check_shape(&ct, &shape)?;
    let chain = shape.chain(state)?;
    let Some(doc) = published_one(state, ty, id_or_slug, &chain)? else {
        return Err(not_published(state, ty, id_or_slug, &chain)?);
    };
    let id = crate::content::public_id(&doc).unwrap_or_default();
    let mut keys = vec![format!("{ty}/{id}")];
    let mut body = Vec::with_capacity(doc.len() + 16);
    body.extend_from_slice(b"{\"data\":");
    write_item(&mut body, &doc, shape.fields.as_deref())?;
    if !shape.include.is_empty() {
        body.extend_from_slice(b",\"included\":");
        body.extend_from_slice(&included(
            state,
            &ct,
            &[&doc],
            &shape.include,
            &chain,
            &mut keys,
        )?);
    }
    if let Some(assets) = assets_of(state, &shown_asset_fields(&ct, &shape), &[&doc], &mut keys)? {
        body.extend_from_slice(b",\"assets\":");
        body.extend_from_slice(&assets);
    }
    body.push(b'}');
    Ok(One::Published(finish(body, keys.join(" "))))
}

/// The public JSON of one entry. Without a locale: by id, or by slug in `de`. With a chain of
/// locales: the entry (by id, or by slug in the first locale that has it) in the first locale
/// of the chain in which it or a translation of it is published.
fn published_one(
    state: &AppState,
    ty: &str,
    id_or_slug: &str,
    chain: &[String],
) -> Result<Option<Vec<u8>>, ApiError> {
    if chain.is_empty() {
        // By id, or by slug in de, else in another locale the type is published in.
        if let Some(doc) = state.content.get_published(ty, id_or_slug, "de")? {
            return Ok(Some(doc));
        }
        for l in state.content.published_locales(ty)? {
            if let Some(doc) = state.content.get_published(ty, id_or_slug, &l)? {
                return Ok(Some(doc));
            }
        }
        return Ok(None);
    }
    let locales: Vec<&str> = chain.iter().map(String::as_str).collect();
    // A slug of any language version names the entry (the chain's locales first).
    let mut look_in: Vec<String> = chain.to_vec();
    for l in state.content.published_locales(ty)? {
        if !look_in.contains(&l) {
            look_in.push(l);
        }
    }
    for locale in &look_in {
        if let Some(doc) = state.content.get_published(ty, id_or_slug, locale)?
            && let Some(id) = crate::content::public_id(&doc)
        {
            return Ok(state.content.published_in_chain(ty, &id, &locales)?);
        }
    }
    // An entry that is not published itself may have a published translation.
    match state.content.get_by_id_or_slug(ty, id_or_slug, locales[0]) {
        Ok(rec) => Ok(state.content.published_in_chain(ty, &rec.id, &locales)?),
        Err(crate::content::ContentError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The 404 of a single entry: in which locales it is published instead, if any, and how to
/// ask for one of them.
fn not_published(
    state: &AppState,
    ty: &str,
    id_or_slug: &str,
    chain: &[String],
) -> Result<ApiError, ApiError> {
    let Some(locale) = chain.first() else {
        return Ok(ApiError::not_found(format!(
            "no published {ty} with id or slug {id_or_slug:?}"
        )));
    };
    let mut elsewhere = Vec::new();
    for l in state.content.published_locales(ty)? {
        if chain.contains(&l) {
            continue;
        }
        let probe = [locale.clone(), l.clone()];
        if let Some(doc) = published_one(state, ty, id_or_slug, &probe)?
            && crate::content::public_id(&doc).is_some()
        {
            elsewhere.push(l);
        }
    }
    let asked = chain.join(" or ");
    Ok(ApiError::not_found(match elsewhere.first() {
        Some(l) => format!(
            "{ty} {id_or_slug:?} is not published in {asked}, only in {}; add fallback={l} to get that version where there is no translation",
            elsewhere.join(", ")
        ),
        None => format!("no published {ty} with id or slug {id_or_slug:?} in locale {asked}"),
    }))
}

/// Where a page of a feed ends.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct FeedMeta {
    /// Pass as `since` to continue.
    pub next_since: u64,
    /// The newest sequence number.
    pub last_seq: u64,
}

pub async fn changes(
    State(state): State<AppState>,
    ApiQuery(FeedQuery { since, limit }): ApiQuery<FeedQuery>,
) -> Result<Reply<Page<crate::content::ChangeEvent, FeedMeta>>, ApiError> {
    // At most `limit` (≤ 1000) events of the feed: bounded work.
    let feed = state.content.public_changes(since, limit)?;
    let page = Page {
        data: feed.events,
        meta: FeedMeta {
            next_since: feed.next_since,
            last_seq: feed.last_seq,
        },
    };
    Ok(Reply::json(&page).header(header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
}
