//! Media over HTTP: the asset library of the management API (upload, list, show, edit,
//! delete) and the public delivery of originals and renditions at `/assets/{id}/{name}`.
//!
//! Uploads are sniffed, bounded and sanitised before anything is stored (`media::ingest`).
//! Renditions come from presets (`?preset=card`) or from parameters signed by the server
//! (`?w=640&fm=auto&q=80&s=…`, as the delivery API's `srcset` has them), so nobody can make the
//! server render 300,000 sizes. An asset is public when a published entry shows it; other
//! assets are served to signed-in staff only.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::caller::MaybeCaller;
use super::params::{self, blocking};
use super::typed::{ApiPath, Data, IfMatch, JsonBody, NoContent, Page, Reply};
use super::{ApiError, AppState, Code};
use crate::auth::{Caller, Role};
use crate::content::{ContentError, Referrer};
use crate::media::{
    Asset, AssetKind, Fit, IngestError, Media, MediaError, OutFormat, Variant, check_asset,
};

/// The most an upload request may carry (the configured media limit is checked inside).
pub const UPLOAD_BODY_LIMIT: usize = 256 * 1024 * 1024;

/// `{id}` of an asset.
#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct AssetPath {
    /// The asset's id.
    #[schemars(length(min = 1))]
    pub id: String,
}

/// `{id}/{name}` of a served asset (the name is the file name, for people and caches).
#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct AssetFilePath {
    /// The asset's id.
    #[schemars(length(min = 1))]
    pub id: String,
    /// The asset's file name (any name serves the asset; it is there for people and caches).
    #[schemars(length(min = 1))]
    pub name: String,
}

/// An asset as the management API shows it: the record (with the consent note), the entries
/// that use it, whether it is public and its delivery URLs.
#[derive(Serialize, schemars::JsonSchema)]
pub struct AssetView {
    #[serde(flatten)]
    pub asset: Asset,
    /// The entries whose current version uses the asset (it cannot be deleted while any do).
    pub used_by: Vec<Referrer>,
    /// Shown by a published entry, so served to anyone.
    pub public: bool,
    /// The delivery URLs: original, presets and `srcset` (images).
    pub urls: Value,
}

/// The list's paging.
#[derive(Serialize, schemars::JsonSchema)]
pub struct AssetPageMeta {
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
    /// How many assets match.
    pub total: u64,
}

fn media(state: &AppState) -> Result<&Arc<Media>, ApiError> {
    state.media.as_ref().ok_or_else(|| {
        ApiError::new(
            Code::MediaOff,
            "this server runs without media storage (start it with --media-store or a data dir)",
        )
    })
}

fn require_staff(caller: &Caller) -> Result<(), ApiError> {
    if caller.role == Role::Reader {
        return Err(ApiError::new(
            Code::Forbidden,
            "the asset library needs the editor, reviewer or admin role",
        ));
    }
    Ok(())
}

fn media_error(e: MediaError) -> ApiError {
    match e {
        MediaError::Busy => ApiError::new(Code::MediaBusy, e.to_string()),
        MediaError::Blob(b) => {
            tracing::error!(error = %b, "media storage failure");
            ApiError::new(
                Code::MediaBusy,
                "the media storage cannot be reached at the moment; try again shortly",
            )
        }
        other => {
            tracing::error!(error = %other, "media failure");
            ApiError::new(
                Code::Internal,
                "the image could not be made; it has been logged",
            )
        }
    }
}

fn ingest_error(e: IngestError) -> ApiError {
    let code = match e {
        IngestError::TooLarge { .. } | IngestError::TooManyPixels { .. } => Code::ImageTooLarge,
        _ => Code::AssetRefused,
    };
    ApiError::new(code, e.to_string())
}

fn view(state: &AppState, media: &Media, asset: Asset) -> Result<AssetView, ApiError> {
    let used_by = state.content.asset_referrers(&asset.id)?;
    let public = state.content.asset_is_public(&asset.id)?;
    let urls = media.public_view(state.content.keys(), &asset);
    Ok(AssetView {
        asset,
        used_by,
        public,
        urls,
    })
}

fn with_etag<T, const S: u16>(reply: Reply<T, S>, version: u64) -> Reply<T, S> {
    let reply = reply.header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match HeaderValue::from_str(&format!("\"{version}\"")) {
        Ok(v) => reply.header(header::ETAG, v),
        Err(_) => reply,
    }
}

/// What an upload says besides its bytes.
#[derive(Default)]
struct UploadMeta {
    filename: Option<String>,
    fields: serde_json::Map<String, Value>,
}

/// A `true`/`false` parameter.
fn flag(name: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::new(
            Code::InvalidParameter,
            format!("{name} must be true or false, got {v:?}"),
        )),
    }
}

/// Reads the metadata of an upload from query parameters or form fields: `filename`, `alt`
/// (with `locale`, default de), `decorative`, `caption`, `credit`, `license`.
fn meta_field(
    meta: &mut UploadMeta,
    locale: &mut String,
    k: &str,
    v: String,
) -> Result<(), ApiError> {
    match k {
        "filename" => meta.filename = Some(v),
        "locale" => *locale = v,
        "alt" => {
            meta.fields.insert("alt".into(), Value::String(v));
        }
        "decorative" => {
            meta.fields
                .insert("decorative".into(), Value::Bool(flag("decorative", &v)?));
        }
        "caption" | "credit" | "license" => {
            meta.fields.insert(k.into(), Value::String(v));
        }
        "meta" => {
            let parsed: serde_json::Map<String, Value> = serde_json::from_str(&v).map_err(|e| {
                ApiError::new(
                    Code::InvalidRequest,
                    format!("the meta part must be a JSON object of asset fields: {e}"),
                )
            })?;
            meta.fields.extend(parsed);
        }
        other => {
            return Err(params::unknown(
                other,
                "filename, alt, locale, decorative, caption, credit, license (or a JSON `meta` form field)",
            ));
        }
    }
    Ok(())
}

async fn read_multipart(
    headers: &HeaderMap,
    body: Bytes,
    meta: &mut UploadMeta,
    locale: &mut String,
) -> Result<Bytes, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(ct).map_err(|e| {
        ApiError::new(
            Code::BadRequest,
            format!("the multipart body has no boundary: {e}"),
        )
    })?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut file = None;
    let bad = |e: multer::Error| {
        ApiError::new(
            Code::BadRequest,
            format!("the multipart body cannot be read: {e}"),
        )
    };
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            if meta.filename.is_none() {
                meta.filename = field.file_name().map(String::from);
            }
            file = Some(field.bytes().await.map_err(bad)?);
        } else {
            let text = field.text().await.map_err(bad)?;
            meta_field(meta, locale, &name, text)?;
        }
    }
    file.ok_or_else(|| {
        ApiError::new(
            Code::EmptyBody,
            "the form has no `file` part; send the file as the part named file",
        )
    })
}

/// The query of an upload (with a raw body; a multipart form carries the same as fields).
#[allow(dead_code)] // Describes what the handler reads itself.
#[derive(schemars::JsonSchema)]
pub struct UploadQuery {
    /// The file's name (else the form part's file name).
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[^/\\]*\S[^/\\]*$"))]
    pub filename: Option<String>,
    /// Alternative text in `locale`.
    #[schemars(length(min = 1, max = 500), regex(pattern = r"\S"))]
    pub alt: Option<String>,
    /// The locale of `alt` (default de).
    #[schemars(regex(pattern = r"^[a-z]{2}(-[A-Z]{2})?$"))]
    pub locale: Option<String>,
    /// `true` for a purely decorative image that needs no alt text.
    pub decorative: Option<bool>,
    #[schemars(length(min = 1, max = 2000), regex(pattern = r"\S"))]
    pub caption: Option<String>,
    #[schemars(length(min = 1, max = 300), regex(pattern = r"\S"))]
    pub credit: Option<String>,
    #[schemars(length(min = 1, max = 300), regex(pattern = r"\S"))]
    pub license: Option<String>,
}

/// The kinds of assets.
#[derive(schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // Describes a parameter the handler reads itself.
pub enum KindParam {
    Image,
    File,
}

/// An edit of an asset's metadata: a JSON Merge Patch (RFC 7386) of these fields; `null`
/// removes a field (or one locale's alt text).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // The handler applies the patch as JSON; this type describes it.
pub struct AssetPatch {
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[^/\\]*\S[^/\\]*$"))]
    pub filename: Option<String>,
    /// Alternative text per locale (`de`, `en`, …); `null` for a locale removes it.
    pub alt: Option<BTreeMap<String, Option<AltText>>>,
    pub decorative: Option<bool>,
    #[schemars(length(min = 1, max = 2000), regex(pattern = r"\S"))]
    pub caption: Option<String>,
    #[schemars(length(min = 1, max = 300), regex(pattern = r"\S"))]
    pub credit: Option<String>,
    #[schemars(length(min = 1, max = 300), regex(pattern = r"\S"))]
    pub license: Option<String>,
    /// The point that stays in view when a rendition cuts the image (fractions 0–1).
    pub focal: Option<FocalDoc>,
    /// The part shown (fractions 0–1; inside the image, at least 16×16 pixels). Applied at
    /// delivery, never to the original.
    pub crop: Option<CropDoc>,
    /// Who agreed to be shown, when and for what (personal data: staff only).
    pub consent: Option<crate::media::Consent>,
}

/// An alt text: 1 to 500 characters.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[schemars(transparent)]
#[allow(dead_code)] // Describes JSON the handler reads as such.
pub struct AltText(#[schemars(length(min = 1, max = 500), regex(pattern = r"\S"))] String);

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Describes JSON the handler reads as such.
pub struct FocalDoc {
    #[schemars(range(min = 0.0, max = 1.0))]
    x: f64,
    #[schemars(range(min = 0.0, max = 1.0))]
    y: f64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Describes JSON the handler reads as such.
pub struct CropDoc {
    #[schemars(range(min = 0.0, max = 1.0))]
    x: f64,
    #[schemars(range(min = 0.0, max = 1.0))]
    y: f64,
    #[schemars(range(min = 0.0, max = 1.0))]
    w: f64,
    #[schemars(range(min = 0.0, max = 1.0))]
    h: f64,
}

impl super::typed::ParameterRefs for UploadQuery {
    const PARAMETERS: &'static [&'static str] = &[];
}

pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    _: super::typed::QueryDoc<UploadQuery>,
    _: super::typed::BodyDoc<super::typed::UploadFile>,
    req: Request,
) -> Result<Reply<Data<AssetView>, 201>, ApiError> {
    caller.require(Role::Editor)?;
    let media = media(&state)?.clone();
    let (parts, body) = req.into_parts();
    // The file plus room for a form's headers and fields: nothing larger is read into memory.
    let most = media
        .config
        .limits
        .max_bytes
        .saturating_add(1 << 20)
        .min(UPLOAD_BODY_LIMIT);
    let body = axum::body::to_bytes(body, most).await.map_err(|e| {
        ApiError::new(
            Code::ImageTooLarge,
            format!(
                "the upload cannot be read ({e}); files of at most {} bytes are taken",
                media.config.limits.max_bytes
            ),
        )
    })?;
    let mut meta = UploadMeta::default();
    let mut locale = "de".to_string();
    for (k, v) in params::pairs(parts.uri.query().map(String::from))? {
        meta_field(&mut meta, &mut locale, &k, v)?;
    }
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let bytes = if is_form {
        read_multipart(&parts.headers, body, &mut meta, &mut locale).await?
    } else {
        body
    };
    if bytes.is_empty() {
        return Err(ApiError::new(
            Code::AssetRefused,
            "the file is empty; send the file's bytes as the body (or a multipart form with a `file` part)",
        ));
    }
    if !crate::content::is_locale(&locale) {
        return Err(ApiError::new(
            Code::InvalidParameter,
            format!("locale must be a locale such as de or en, got {locale:?}"),
        ));
    }
    let limits = media.config.limits;
    let ingested = media
        .limited(move || crate::media::ingest::ingest(&bytes, &limits))
        .await
        .map_err(media_error)?
        .map_err(ingest_error)?;
    let ext = match ingested.format {
        crate::media::Format::Jpeg => "jpg",
        crate::media::Format::Png => "png",
        crate::media::Format::Gif => "gif",
        crate::media::Format::WebP => "webp",
        crate::media::Format::Avif => "avif",
        crate::media::Format::Pdf => "pdf",
        crate::media::Format::Svg => "svg",
    };
    let filename = meta
        .filename
        .clone()
        .unwrap_or_else(|| format!("upload.{ext}"));
    let mut asset = Asset::new(
        state.content.new_id(),
        filename,
        &ingested,
        Some(caller.token_id.clone()),
    );
    let sha = asset.sha256.clone();
    if let Some(Value::String(alt)) = meta.fields.remove("alt") {
        asset.alt.insert(locale, alt);
    }
    if !meta.fields.is_empty() {
        let mut doc = serde_json::to_value(&asset)
            .map_err(|e| ApiError::new(Code::Internal, e.to_string()))?;
        json_patch::merge(&mut doc, &Value::Object(meta.fields));
        asset = serde_json::from_value(doc).map_err(|e| {
            ApiError::new(
                Code::InvalidRequest,
                format!("the asset's fields do not fit: {e}"),
            )
        })?;
    }
    let errors = check_asset(&asset);
    if !errors.is_empty() {
        return Err(ContentError::Invalid { errors }.into());
    }
    // The file first, then the record: a crash between them leaves a file that the sweep
    // collects, never a record without its file.
    media
        .store_original(&ingested.bytes)
        .await
        .map_err(media_error)?;
    let st = state.clone();
    let who = caller.token_id.clone();
    let asset = blocking(move || Ok(st.content.create_asset(asset, Some(&who))?)).await?;
    media
        .ensure_original(&sha, &ingested.bytes)
        .await
        .map_err(media_error)?;
    let id = asset.id.clone();
    let version = asset.version;
    let v = view(&state, &media, asset)?;
    let mut reply = with_etag(Reply::json(&Data::of(v)), version);
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/v1/manage/assets/{id}")) {
        reply = reply.header(header::LOCATION, loc);
    }
    Ok(reply)
}

/// The query of the asset list, read by the handler.
#[allow(dead_code)] // Describes what the handler reads itself.
#[derive(schemars::JsonSchema)]
pub struct AssetListQuery {
    /// `image` or `file`.
    pub kind: Option<KindParam>,
    /// Text in the file name, alt texts, caption or credit (case-insensitive).
    pub q: Option<String>,
    /// `true`: only assets no entry uses.
    pub unused: Option<bool>,
    /// Page size, 1–200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<usize>,
    /// `meta.next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl super::typed::ParameterRefs for AssetListQuery {
    const PARAMETERS: &'static [&'static str] = &[];
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    _: super::typed::QueryDoc<AssetListQuery>,
    req: Request,
) -> Result<Reply<Page<AssetView, AssetPageMeta>>, ApiError> {
    require_staff(&caller)?;
    let media = media(&state)?.clone();
    let (mut kind, mut q, mut unused, mut limit, mut cursor) = (None, None, false, 50, None);
    for (k, v) in params::pairs(req.uri().query().map(String::from))? {
        match k.as_str() {
            "kind" => {
                kind = Some(match v.as_str() {
                    "image" => AssetKind::Image,
                    "file" => AssetKind::File,
                    _ => {
                        return Err(ApiError::new(
                            Code::InvalidParameter,
                            format!("kind must be image or file, got {v:?}"),
                        ));
                    }
                })
            }
            "q" => q = Some(v.to_lowercase()),
            "unused" => unused = flag("unused", &v)?,
            "limit" => limit = params::limit(&v, 200)?,
            "cursor" => cursor = Some(v),
            other => return Err(params::unknown(other, "kind, q, unused, limit, cursor")),
        }
    }
    let st = state.clone();
    let page = blocking(move || {
        let mut matching = Vec::new();
        for a in st.content.list_assets()? {
            if kind.is_some_and(|k| k != a.kind) {
                continue;
            }
            if let Some(q) = &q {
                let hay = format!(
                    "{} {} {} {}",
                    a.filename,
                    a.alt.values().cloned().collect::<Vec<_>>().join(" "),
                    a.caption.as_deref().unwrap_or(""),
                    a.credit.as_deref().unwrap_or("")
                )
                .to_lowercase();
                if !hay.contains(q.as_str()) {
                    continue;
                }
            }
            if unused && !st.content.asset_referrers(&a.id)?.is_empty() {
                continue;
            }
            matching.push(a);
        }
        Ok(matching)
    })
    .await?;
    let total = page.len() as u64;
    let start = match &cursor {
        Some(c) => page.iter().position(|a| a.id > *c).unwrap_or(page.len()),
        None => 0,
    };
    let slice: Vec<Asset> = page.into_iter().skip(start).take(limit + 1).collect();
    let next_cursor = (slice.len() > limit).then(|| slice[limit - 1].id.clone());
    let mut data = Vec::new();
    for a in slice.into_iter().take(limit) {
        data.push(view(&state, &media, a)?);
    }
    Ok(Reply::json(&Page {
        data,
        meta: AssetPageMeta { next_cursor, total },
    })
    .header(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(AssetPath { id }): ApiPath<AssetPath>,
) -> Result<Reply<Data<AssetView>>, ApiError> {
    require_staff(&caller)?;
    let media = media(&state)?.clone();
    let asset = state.content.get_asset(&id)?;
    let version = asset.version;
    Ok(with_etag(
        Reply::json(&Data::of(view(&state, &media, asset)?)),
        version,
    ))
}

pub async fn edit(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(AssetPath { id }): ApiPath<AssetPath>,
    if_match: IfMatch,
    body: JsonBody<AssetPatch>,
) -> Result<Reply<Data<AssetView>>, ApiError> {
    caller.require(Role::Editor)?;
    let media = media(&state)?.clone();
    let expected = if_match.version()?;
    let patch = body.value()?;
    let st = state.clone();
    let who = caller.token_id.clone();
    let asset = blocking(move || {
        Ok(st
            .content
            .update_asset(&id, Some(expected), &patch, Some(&who))?)
    })
    .await?;
    let version = asset.version;
    Ok(with_etag(
        Reply::json(&Data::of(view(&state, &media, asset)?)),
        version,
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(AssetPath { id }): ApiPath<AssetPath>,
    if_match: IfMatch,
) -> Result<NoContent, ApiError> {
    caller.require(Role::Editor)?;
    let media = media(&state)?.clone();
    let expected = if_match.version()?;
    let st = state.clone();
    let who = caller.token_id.clone();
    let asset_id = id.clone();
    let (asset, still_used) = blocking(move || {
        match st
            .content
            .delete_asset(&asset_id, Some(expected), Some(&who), "asset.delete")
        {
            Err(ContentError::Referenced { referrers }) => {
                let names: Vec<String> = referrers
                    .iter()
                    .map(|r| format!("{} {} (field {})", r.ty, r.id, r.fields.join(", ")))
                    .collect();
                Err(ApiError {
                    extra: Some(Box::new(serde_json::json!({ "referrers": referrers }))),
                    ..ApiError::new(
                        Code::StillReferenced,
                        format!(
                            "asset {asset_id} is used by {}; take it out of those entries first",
                            names.join(", ")
                        ),
                    )
                })
            }
            other => Ok(other?),
        }
    })
    .await?;
    if !still_used {
        media.collect(&asset.sha256).await.map_err(media_error)?;
    }
    Ok(NoContent)
}

/// The query of a served asset.
#[allow(dead_code)] // Describes what the handler reads itself.
#[derive(schemars::JsonSchema)]
pub struct AssetFileQuery {
    /// The asset's render version (from the delivery API's URLs): with the current one, the
    /// answer may be cached for a year.
    pub v: Option<String>,
    /// A preset rendition (`thumb`, `card`, `hero`, `logo`, or as configured).
    pub preset: Option<String>,
    /// Width (signed parameters only).
    #[schemars(range(min = 1, max = 2560))]
    pub w: Option<u32>,
    /// Height (signed parameters only).
    #[schemars(range(min = 1, max = 2560))]
    pub h: Option<u32>,
    /// `cover` or `inside` (signed parameters only).
    pub fit: Option<FitParam>,
    /// `webp`, `avif`, `jpg`, `png` or `auto` (negotiated from `Accept`).
    pub fm: Option<FormatParam>,
    /// Quality 1–100 (signed parameters only).
    #[schemars(range(min = 1, max = 100))]
    pub q: Option<u8>,
    /// The signature of custom parameters, as the delivery API's `srcset` URLs carry it.
    pub s: Option<String>,
}

#[derive(schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // Describes a parameter the handler reads itself.
pub enum FitParam {
    Cover,
    Inside,
}

#[derive(schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // Describes a parameter the handler reads itself.
pub enum FormatParam {
    Webp,
    Avif,
    Jpg,
    Png,
    Auto,
}

impl super::typed::ParameterRefs for AssetFileQuery {
    const PARAMETERS: &'static [&'static str] = &[];
}

fn bad_transform(detail: impl Into<String>) -> ApiError {
    ApiError::new(Code::InvalidTransform, detail)
}

/// The format `fm=auto` picks for a client: WebP where accepted (fast to make, small), then
/// AVIF, else JPEG.
fn negotiate(headers: &HeaderMap) -> OutFormat {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("image/webp") {
        OutFormat::WebP
    } else if accept.contains("image/avif") {
        OutFormat::Avif
    } else {
        OutFormat::Jpeg
    }
}

/// What a request for an asset asks for: the original, or a rendition.
struct Wanted {
    variant: Option<Variant>,
    negotiated: bool,
    v: Option<String>,
}

fn parse_wanted(
    media: &Media,
    keys: &crate::keys::Keys,
    asset: &Asset,
    raw: Option<String>,
    headers: &HeaderMap,
) -> Result<Wanted, ApiError> {
    let mut p: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in params::pairs(raw)? {
        if !["v", "preset", "w", "h", "fit", "fm", "q", "s"].contains(&k.as_str()) {
            return Err(params::unknown(
                &k,
                "v, preset, fm, or signed w, h, fit, q and s",
            ));
        }
        if p.insert(k.clone(), v).is_some() {
            return Err(bad_transform(format!("{k} is given twice")));
        }
    }
    let v = p.remove("v");
    let fm = p.remove("fm");
    if p.is_empty() && fm.is_none() {
        return Ok(Wanted {
            variant: None,
            negotiated: false,
            v,
        });
    }
    if asset.kind != AssetKind::Image {
        return Err(bad_transform(format!(
            "{} is a {}: only images have renditions; ask for the file without parameters",
            asset.filename, asset.media_type
        )));
    }
    let (fm_value, auto) = match fm.as_deref() {
        None | Some("auto") => (negotiate(headers), true),
        Some(f) => (
            OutFormat::parse(f).ok_or_else(|| {
                bad_transform(format!(
                    "fm must be webp, avif, jpg, png or auto, got {f:?}"
                ))
            })?,
            false,
        ),
    };
    if let Some(name) = p.remove("preset") {
        if !p.is_empty() {
            return Err(bad_transform(format!(
                "a preset takes no other parameters than fm and v (got {})",
                p.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let preset = media.config.presets.get(&name).ok_or_else(|| {
            bad_transform(format!(
                "there is no preset {name:?}; presets: {}",
                media
                    .config
                    .presets
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let fm_value = match (fm.as_deref(), preset.fm) {
            (None, Some(f)) => f,
            _ => fm_value,
        };
        let negotiated = fm.as_deref().is_none_or(|f| f == "auto") && preset.fm.is_none();
        return Ok(Wanted {
            variant: Some(Variant {
                w: preset.w,
                h: preset.h,
                fit: preset.fit,
                fm: fm_value,
                q: preset.q.unwrap_or(fm_value.default_quality()),
            }),
            negotiated,
            v,
        });
    }
    let Some(sig) = p.remove("s") else {
        return Err(ApiError::new(
            Code::UnsignedTransform,
            format!(
                "custom sizes and formats need a signed URL: use the URLs of the delivery API's `srcset`, or a preset (?preset={})",
                media
                    .config
                    .presets
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("|")
            ),
        ));
    };
    let num = |k: &str, max: u32| -> Result<Option<u32>, ApiError> {
        match p.get(k) {
            None => Ok(None),
            Some(s) => match s.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
                _ => Err(bad_transform(format!(
                    "{k} must be a whole number from 1 to {max}, got {s:?}"
                ))),
            },
        }
    };
    let max = media.config.max_custom_side;
    let w = num("w", max)?;
    let h = num("h", max)?;
    let fit = match p.get("fit") {
        None => Fit::Inside,
        Some(f) => Fit::parse(f)
            .ok_or_else(|| bad_transform(format!("fit must be cover or inside, got {f:?}")))?,
    };
    let q = num("q", 100)?.map_or(fm_value.default_quality(), |q| q as u8);
    let variant = Variant {
        w,
        h,
        fit,
        fm: fm_value,
        q,
    };
    // The signature covers the parameters as the server wrote them (`fm=auto` as auto).
    if !media.verify(keys, &asset.id, &variant, auto, &sig) {
        return Err(ApiError::new(
            Code::UnsignedTransform,
            "the signature does not match these parameters: use the URLs of the delivery API's `srcset` as they are, or a preset",
        ));
    }
    Ok(Wanted {
        variant: Some(variant),
        negotiated: auto,
        v,
    })
}

/// `GET /assets/{id}/{name}`: an asset's original or a rendition.
pub async fn serve(
    State(state): State<AppState>,
    ApiPath(AssetFilePath { id, name: _ }): ApiPath<AssetFilePath>,
    MaybeCaller(caller): MaybeCaller,
    _: super::typed::QueryDoc<AssetFileQuery>,
    req: Request,
) -> Result<super::typed::Raw<super::typed::AssetFile>, ApiError> {
    let media = media(&state)?.clone();
    let (parts, _) = req.into_parts();
    let asset = match state.content.get_asset(&id) {
        Ok(a) => a,
        Err(ContentError::NotFound { .. }) => {
            return Err(ApiError::not_found(format!("there is no asset {id:?}")));
        }
        Err(e) => return Err(e.into()),
    };
    let generation = state.content.public_generation();
    let public = match media.cached_public(&id, generation) {
        Some(p) => p,
        None => {
            let p = state.content.asset_is_public(&id)?;
            media.remember_public(&id, generation, p);
            p
        }
    };
    // Assets of drafts are for signed-in users only (readers preview drafts, too).
    if !public && caller.is_none() {
        return Err(ApiError::not_found(format!(
            "there is no public asset {id:?} (assets become public when a published entry shows them)"
        )));
    }
    let wanted = parse_wanted(
        &media,
        state.content.keys(),
        &asset,
        parts.uri.query().map(String::from),
        &parts.headers,
    )?;
    let (bytes, media_type, variant_tag) = match &wanted.variant {
        None => (
            media.original(&asset).await.map_err(media_error)?,
            asset.media_type.clone(),
            "o".to_string(),
        ),
        Some(v) => (
            media.rendition(&asset, v).await.map_err(media_error)?,
            v.fm.media_type().to_string(),
            format!("{:x}", xxhash_rust::xxh3::xxh3_64(v.key().as_bytes())),
        ),
    };
    let etag = format!("\"{}-{variant_tag}\"", asset.render_version());
    let current = wanted.v.as_deref() == Some(asset.render_version().as_str());
    let cache_control = if !public {
        "private, no-store"
    } else if current {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let not_modified = parts
        .headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .any(|t| t.trim_ascii() == etag.as_bytes());
    let mut res = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Response::new(axum::body::Body::from(bytes));
        if let Ok(v) = HeaderValue::from_str(&media_type) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("asset/{}", asset.id)) {
        h.insert("surrogate-key", v);
    }
    if wanted.negotiated {
        h.insert(header::VARY, HeaderValue::from_static("Accept"));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    let disposition = format!("inline; filename=\"{}\"", asset.url_name());
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(super::typed::Raw::new(res))
}
