//! Media: member logos, event photos, story images and documents, stored and served by Verbund.
//!
//! An asset is a record in the store (`Tree::Assets`: file name, type, size, per-locale alt
//! text, caption, credit, licence, focal point, crop, consent note) and a sanitised original in
//! the blob store ([`blob`]), content-addressed by the SHA-256 of its bytes. Entries hold asset
//! ids in fields marked `x-verbund: {"asset": "image"}` (or `"file"`), with the referential
//! integrity of references. Renditions are made on request ([`render`]) from presets or from
//! signed parameters, cached in the blob store and in memory, and served with immutable
//! caching on versioned URLs. The crop and focal point are applied at delivery, never to the
//! original.

pub mod blob;
pub mod ingest;
pub mod render;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use blob::{BlobError, Blobs};
pub use ingest::{AssetKind, Format, IngestError, IngestLimits, Ingested};
pub use render::{Crop, Fit, Focal, OutFormat, Variant};

use crate::keys::{Keys, Purpose};

/// The target "type" of asset references in the reference index (`refs`). No content type may
/// have this name.
pub const ASSET_REF: &str = "asset";

/// Who agreed to be shown in a photo, when, and for what use (event photo notices).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// The person (or people) shown who agreed.
    pub person: String,
    /// Their e-mail address, so that a data-subject request finds the photo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// When they agreed (YYYY-MM-DD).
    pub given_at: String,
    /// For what use, e.g. "Website und Newsletter des Clusters".
    pub scope: String,
}

/// An asset's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Asset {
    pub id: String,
    pub version: u64,
    pub kind: AssetKind,
    pub filename: String,
    pub media_type: String,
    /// Size of the stored (sanitised) original.
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// SHA-256 of the stored original (hex).
    pub sha256: String,
    /// Alternative text per locale.
    #[serde(default)]
    pub alt: BTreeMap<String, String>,
    /// A purely decorative image needs no alt text.
    #[serde(default)]
    pub decorative: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focal: Option<Focal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<Crop>,
    /// Personal data: shown to staff only, never delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<Consent>,
    /// What ingest removed from the upload (metadata, trailing bytes) or changed.
    #[serde(default)]
    pub sanitised: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

impl Asset {
    /// The record of a newly taken-in file: version 1, no metadata yet.
    pub fn new(id: String, filename: String, file: &Ingested, created_by: Option<String>) -> Self {
        let now = Utc::now();
        Asset {
            id,
            version: 1,
            kind: file.kind,
            filename,
            media_type: file.format.media_type().into(),
            bytes: file.bytes.len() as u64,
            width: file.width,
            height: file.height,
            sha256: hex::encode(Sha256::digest(&file.bytes)),
            alt: BTreeMap::new(),
            decorative: false,
            caption: None,
            credit: None,
            license: None,
            focal: None,
            crop: None,
            consent: None,
            sanitised: file.removed.clone(),
            created_at: now,
            updated_at: now,
            created_by,
        }
    }

    /// The version of what renditions look like (original, crop, focal point): part of every
    /// URL, so that a URL's bytes never change and can be cached for a year.
    pub fn render_version(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.sha256.as_bytes());
        h.update(serde_json::to_vec(&(&self.crop, &self.focal)).unwrap_or_default());
        hex::encode(&h.finalize()[..6])
    }

    pub fn format(&self) -> Option<Format> {
        Format::from_media_type(&self.media_type)
    }

    /// The file name as a URL path segment.
    pub fn url_name(&self) -> String {
        let mut out = String::new();
        for c in self.filename.chars() {
            match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' => out.push(c),
                'ä' => out.push_str("ae"),
                'ö' => out.push_str("oe"),
                'ü' => out.push_str("ue"),
                'Ä' => out.push_str("Ae"),
                'Ö' => out.push_str("Oe"),
                'Ü' => out.push_str("Ue"),
                'ß' => out.push_str("ss"),
                _ => out.push('-'),
            }
        }
        let out = out.trim_matches(|c| c == '-' || c == '.').to_string();
        if out.is_empty() { "file".into() } else { out }
    }

    /// Whether the consent note names this address.
    pub fn names_person(&self, email: &str) -> bool {
        self.consent
            .as_ref()
            .and_then(|c| c.email.as_deref())
            .is_some_and(|e| e.eq_ignore_ascii_case(email.trim()))
    }
}

/// A rendition every website can ask for by name.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub w: Option<u32>,
    pub h: Option<u32>,
    pub fit: Fit,
    /// `None`: negotiated from `Accept` (`fm=auto`).
    pub fm: Option<OutFormat>,
    pub q: Option<u8>,
}

/// Media settings of a server.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    pub limits: IngestLimits,
    pub presets: BTreeMap<String, Preset>,
    /// The widths of an image's `srcset` (those below its own width, and its width).
    pub srcset_widths: Vec<u32>,
    /// Transforms running at once; more wait.
    pub transform_concurrency: usize,
    /// How long a request waits for a transform (queue and work).
    pub transform_timeout: Duration,
    /// Bytes of originals and renditions kept in memory.
    pub memory_cache_bytes: usize,
    /// The largest side a signed custom rendition may have (also the widest `srcset` entry:
    /// wider renditions of large photos cost much memory and no screen needs them).
    pub max_custom_side: u32,
}

impl Default for MediaConfig {
    fn default() -> Self {
        let preset = |w, h, fit| Preset {
            w: Some(w),
            h: Some(h),
            fit,
            fm: None,
            q: None,
        };
        Self {
            limits: IngestLimits::default(),
            presets: BTreeMap::from([
                ("thumb".to_string(), preset(160, 160, Fit::Cover)),
                ("card".to_string(), preset(640, 360, Fit::Cover)),
                ("hero".to_string(), preset(1600, 700, Fit::Cover)),
                ("logo".to_string(), preset(320, 160, Fit::Inside)),
            ]),
            srcset_widths: vec![320, 640, 960, 1280, 1920, 2560],
            transform_concurrency: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .clamp(1, 8),
            transform_timeout: Duration::from_secs(30),
            memory_cache_bytes: 128 * 1024 * 1024,
            max_custom_side: 2560,
        }
    }
}

/// Why media could not be served or stored.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Render(#[from] render::RenderError),
    #[error("the original of asset {0} is missing from the media storage")]
    Missing(String),
    #[error("too many images are being transformed right now; try again in a moment")]
    Busy,
}

/// A byte-bounded in-memory cache (first in, first out).
#[derive(Default)]
struct ByteCache {
    map: HashMap<String, Bytes>,
    order: VecDeque<String>,
    bytes: usize,
}

impl ByteCache {
    fn get(&self, k: &str) -> Option<Bytes> {
        self.map.get(k).cloned()
    }
    fn put(&mut self, k: String, v: Bytes, max: usize) {
        if v.len() > max / 8 || self.map.contains_key(&k) {
            return;
        }
        self.bytes += v.len();
        self.order.push_back(k.clone());
        self.map.insert(k, v);
        while self.bytes > max {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(b) = self.map.remove(&old) {
                self.bytes -= b.len();
            }
        }
    }
    fn remove_prefix(&mut self, prefix: &str) {
        let gone: Vec<String> = self
            .map
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        for k in gone {
            if let Some(b) = self.map.remove(&k) {
                self.bytes -= b.len();
            }
        }
        self.order.retain(|k| self.map.contains_key(k));
    }
}

/// The media service of a server: blob store, transforms and caches.
pub struct Media {
    pub blobs: Blobs,
    pub config: MediaConfig,
    permits: tokio::sync::Semaphore,
    memory: Mutex<ByteCache>,
    /// Whether an asset is public, as of a generation of the published view.
    public: Mutex<HashMap<String, (u64, bool)>>,
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media")
            .field("blobs", &self.blobs.describe())
            .finish()
    }
}

/// The parameters of a custom rendition, as signed.
fn signed_message(id: &str, v: &Variant, auto: bool) -> String {
    format!(
        "{id}\n{}\n{}\n{}\n{}\n{}",
        v.w.unwrap_or(0),
        v.h.unwrap_or(0),
        v.fit.name(),
        if auto { "auto" } else { v.fm.name() },
        v.q
    )
}

impl Media {
    pub fn new(blobs: Blobs, config: MediaConfig) -> Self {
        Self {
            blobs,
            permits: tokio::sync::Semaphore::new(config.transform_concurrency.max(1)),
            config,
            memory: Mutex::default(),
            public: Mutex::default(),
        }
    }

    /// Whether an asset was public at this generation of the published view, if known.
    pub fn cached_public(&self, id: &str, generation: u64) -> Option<bool> {
        let map = self.public.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id)
            .filter(|(g, _)| *g == generation)
            .map(|(_, p)| *p)
    }

    /// Remembers whether an asset is public at this generation.
    pub fn remember_public(&self, id: &str, generation: u64, public: bool) {
        let mut map = self.public.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.clear();
        }
        map.insert(id.to_string(), (generation, public));
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, ByteCache> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs CPU-heavy media work (an upload's ingest) on the blocking pool under the same
    /// bound as transforms: at most `transform_concurrency` at once, within the time limit.
    pub async fn limited<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, MediaError> {
        let work = async {
            let _permit = self.permits.acquire().await.map_err(|_| MediaError::Busy)?;
            tokio::task::spawn_blocking(f)
                .await
                .map_err(|e| MediaError::Render(render::RenderError::Encode(e.to_string())))
        };
        tokio::time::timeout(self.config.transform_timeout, work)
            .await
            .map_err(|_| MediaError::Busy)?
    }

    /// Stores a sanitised original; returns its SHA-256 (hex).
    pub async fn store_original(&self, bytes: &Bytes) -> Result<String, MediaError> {
        let sha = hex::encode(Sha256::digest(bytes));
        let key = blob::original_key(&sha);
        if !self.blobs.exists(&key).await? {
            self.blobs.put(&key, bytes.clone()).await?;
        }
        Ok(sha)
    }

    /// Makes sure the original of a committed asset is there (a concurrent collection of the
    /// same bytes may have removed it between the upload and its commit).
    pub async fn ensure_original(&self, sha: &str, bytes: &Bytes) -> Result<(), MediaError> {
        let key = blob::original_key(sha);
        if !self.blobs.exists(&key).await? {
            self.blobs.put(&key, bytes.clone()).await?;
        }
        Ok(())
    }

    /// Removes an original and all its renditions (no asset uses the bytes any more).
    pub async fn collect(&self, sha: &str) -> Result<usize, MediaError> {
        let prefix = blob::renditions_prefix(sha);
        let mut n = self.blobs.delete_prefix(&prefix).await?;
        self.blobs.delete(&blob::original_key(sha)).await?;
        n += 1;
        let mut mem = self.memory();
        mem.remove_prefix(&prefix);
        mem.remove_prefix(&blob::original_key(sha));
        Ok(n)
    }

    /// Collects files no asset uses: originals left by an upload that never committed (a
    /// crash, a refused record) and their renditions. Only files older than `grace` are
    /// looked at, so an upload in flight keeps its file. Returns how many originals went.
    pub async fn sweep(
        &self,
        content: &crate::ContentService,
        grace: Duration,
    ) -> Result<usize, MediaError> {
        let mut collected = 0;
        for key in self.blobs.older_than("originals/", grace).await? {
            let Some(sha) = key.strip_prefix("originals/") else {
                continue;
            };
            let used = content.blob_in_use(sha).map_err(|e| {
                MediaError::Blob(BlobError::Io(std::io::Error::other(e.to_string())))
            })?;
            if !used {
                self.collect(sha).await?;
                collected += 1;
            }
        }
        Ok(collected)
    }

    /// The original's bytes.
    pub async fn original(&self, asset: &Asset) -> Result<Bytes, MediaError> {
        let key = blob::original_key(&asset.sha256);
        if let Some(b) = self.memory().get(&key) {
            return Ok(b);
        }
        let b = self
            .blobs
            .get(&key)
            .await?
            .ok_or_else(|| MediaError::Missing(asset.id.clone()))?;
        self.memory()
            .put(key, b.clone(), self.config.memory_cache_bytes);
        Ok(b)
    }

    /// A rendition: from memory, from the blob store, or made now (bounded: at most
    /// `transform_concurrency` at once, each within `transform_timeout`).
    pub async fn rendition(&self, asset: &Asset, v: &Variant) -> Result<Bytes, MediaError> {
        let key = format!(
            "{}{}-{}",
            blob::renditions_prefix(&asset.sha256),
            asset.render_version(),
            v.key()
        );
        if let Some(b) = self.memory().get(&key) {
            return Ok(b);
        }
        if let Some(b) = self.blobs.get(&key).await? {
            self.memory()
                .put(key, b.clone(), self.config.memory_cache_bytes);
            return Ok(b);
        }
        let work = async {
            let _permit = self.permits.acquire().await.map_err(|_| MediaError::Busy)?;
            // Made meanwhile by a request that held the permit before us?
            if let Some(b) = self.memory().get(&key) {
                return Ok(b);
            }
            let original = self.original(asset).await?;
            let format = asset
                .format()
                .ok_or_else(|| MediaError::Missing(asset.id.clone()))?;
            let size = (asset.width.unwrap_or(1), asset.height.unwrap_or(1));
            let (crop, focal, variant) = (asset.crop, asset.focal, *v);
            let made = tokio::task::spawn_blocking(move || {
                render::render(&original, format, size, crop, focal, &variant)
            })
            .await
            .map_err(|e| render::RenderError::Encode(e.to_string()))??;
            let bytes = Bytes::from(made.0);
            self.blobs.put(&key, bytes.clone()).await?;
            self.memory()
                .put(key.clone(), bytes.clone(), self.config.memory_cache_bytes);
            Ok(bytes)
        };
        tokio::time::timeout(self.config.transform_timeout, work)
            .await
            .map_err(|_| MediaError::Busy)?
    }

    /// The signature of a custom rendition's parameters.
    pub fn sign(&self, keys: &Keys, id: &str, v: &Variant, auto: bool) -> String {
        let (kid, tag) = keys.sign(Purpose::MediaUrl, signed_message(id, v, auto).as_bytes());
        format!("{kid}.{}", B64.encode(&tag[..16]))
    }

    /// Checks a signature made by [`Media::sign`] (with any key of the installation).
    pub fn verify(&self, keys: &Keys, id: &str, v: &Variant, auto: bool, s: &str) -> bool {
        let Some((kid, tag)) = s.rsplit_once('.') else {
            return false;
        };
        let Ok(tag) = B64.decode(tag) else {
            return false;
        };
        if tag.len() != 16 {
            return false;
        }
        keys.tag(
            kid,
            Purpose::MediaUrl,
            signed_message(id, v, auto).as_bytes(),
        )
        .is_some_and(|full| {
            // Constant time over the 16 bytes compared.
            full[..16]
                .iter()
                .zip(&tag)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        })
    }

    /// The URL of an asset's original.
    pub fn original_url(&self, asset: &Asset) -> String {
        format!(
            "/assets/{}/{}?v={}",
            asset.id,
            asset.url_name(),
            asset.render_version()
        )
    }

    /// The signed URL of a custom rendition (format negotiated).
    pub fn custom_url(&self, keys: &Keys, asset: &Asset, w: u32) -> String {
        let v = Variant {
            w: Some(w),
            h: None,
            fit: Fit::Inside,
            fm: OutFormat::WebP,
            q: OutFormat::WebP.default_quality(),
        };
        format!(
            "/assets/{}/{}?v={}&w={w}&fm=auto&q={}&s={}",
            asset.id,
            asset.url_name(),
            asset.render_version(),
            v.q,
            self.sign(keys, &asset.id, &v, true)
        )
    }

    /// What the delivery API says about an asset: its public metadata (never the consent
    /// note), the URL of its original, of every preset and a `srcset`.
    pub fn public_view(&self, keys: &Keys, asset: &Asset) -> Value {
        let mut v = json!({
            "id": asset.id,
            "kind": asset.kind,
            "media_type": asset.media_type,
            "filename": asset.filename,
            "bytes": asset.bytes,
            "url": self.original_url(asset),
        });
        let m = v.as_object_mut().expect("an object");
        for (k, val) in [
            ("caption", &asset.caption),
            ("credit", &asset.credit),
            ("license", &asset.license),
        ] {
            if let Some(s) = val {
                m.insert(k.into(), json!(s));
            }
        }
        if asset.kind == AssetKind::Image {
            let (w, h) = (asset.width.unwrap_or(0), asset.height.unwrap_or(0));
            // The displayed size: the crop's.
            let (cw, ch) = match asset.crop {
                Some(c) => (
                    (w as f64 * c.w).round() as u32,
                    (h as f64 * c.h).round() as u32,
                ),
                None => (w, h),
            };
            m.insert("width".into(), json!(cw));
            m.insert("height".into(), json!(ch));
            m.insert("alt".into(), json!(asset.alt));
            m.insert("decorative".into(), json!(asset.decorative));
            if let Some(f) = asset.focal {
                m.insert("focal".into(), json!(f));
            }
            let mut presets = serde_json::Map::new();
            for (name, p) in &self.config.presets {
                let variant = Variant {
                    w: p.w,
                    h: p.h,
                    fit: p.fit,
                    fm: p.fm.unwrap_or(OutFormat::WebP),
                    q: 0,
                };
                let (pw, ph) = variant.output_size(cw.max(1), ch.max(1));
                presets.insert(
                    name.clone(),
                    json!({
                        "url": format!("/assets/{}/{}?v={}&preset={name}", asset.id, asset.url_name(), asset.render_version()),
                        "width": pw,
                        "height": ph,
                    }),
                );
            }
            m.insert("presets".into(), Value::Object(presets));
            let mut widths: Vec<u32> = self
                .config
                .srcset_widths
                .iter()
                .copied()
                .filter(|x| *x < cw)
                .collect();
            widths.push(cw.min(self.config.max_custom_side));
            widths.dedup();
            let srcset: Vec<String> = widths
                .iter()
                .map(|w| format!("{} {w}w", self.custom_url(keys, asset, *w)))
                .collect();
            m.insert("srcset".into(), json!(srcset.join(", ")));
        }
        v
    }
}

/// Checks the editable part of an asset (after a patch); every problem at once.
pub fn check_asset(a: &Asset) -> Vec<crate::schema::FieldError> {
    use crate::schema::FieldError;
    let mut errors = Vec::new();
    if a.filename.trim().is_empty() || a.filename.len() > 255 || a.filename.contains(['/', '\\']) {
        errors.push(FieldError::new(
            "/filename",
            "must be a file name of 1 to 255 characters without slashes",
        ));
    }
    for (locale, text) in &a.alt {
        if !crate::content::is_locale(locale) {
            errors.push(FieldError::new(
                format!("/alt/{locale}"),
                "must be keyed by a locale such as de or en",
            ));
        }
        if text.trim().is_empty() || text.chars().count() > 500 {
            errors.push(FieldError::new(
                format!("/alt/{locale}"),
                "must describe the image in 1 to 500 characters (remove the locale to leave it without alt text)",
            ));
        }
    }
    for (field, val, max) in [
        ("caption", &a.caption, 2000),
        ("credit", &a.credit, 300),
        ("license", &a.license, 300),
    ] {
        if let Some(s) = val
            && (s.trim().is_empty() || s.chars().count() > max)
        {
            errors.push(FieldError::new(
                format!("/{field}"),
                format!("must be 1 to {max} characters (null removes it)"),
            ));
        }
    }
    let unit = |x: f64| (0.0..=1.0).contains(&x);
    if let Some(f) = a.focal
        && !(unit(f.x) && unit(f.y))
    {
        errors.push(FieldError::new(
            "/focal",
            "x and y are fractions of the width and height, from 0 to 1 (0.5, 0.5 is the centre)",
        ));
    }
    if let Some(c) = a.crop {
        let ok = unit(c.x)
            && unit(c.y)
            && c.w > 0.0
            && c.h > 0.0
            && c.x + c.w <= 1.000001
            && c.y + c.h <= 1.000001;
        let px = |frac: f64, of: Option<u32>| frac * of.unwrap_or(0) as f64;
        if !ok {
            errors.push(FieldError::new(
                "/crop",
                "x, y, w and h are fractions of the width and height (0 to 1) and the crop must lie inside the image, e.g. {\"x\": 0.1, \"y\": 0, \"w\": 0.8, \"h\": 1}",
            ));
        } else if px(c.w, a.width) < 16.0 || px(c.h, a.height) < 16.0 {
            errors.push(FieldError::new(
                "/crop",
                "the crop must keep at least 16×16 pixels of the image",
            ));
        }
        if a.kind != AssetKind::Image {
            errors.push(FieldError::new("/crop", "only images can be cropped"));
        }
    }
    if let Some(c) = &a.consent {
        if c.person.trim().is_empty() || c.person.len() > 500 {
            errors.push(FieldError::new(
                "/consent/person",
                "must name who agreed (1 to 500 characters)",
            ));
        }
        if chrono::NaiveDate::parse_from_str(&c.given_at, "%Y-%m-%d").is_err() {
            errors.push(FieldError::new(
                "/consent/given_at",
                "must be the date of the consent as YYYY-MM-DD",
            ));
        }
        if c.scope.trim().is_empty() || c.scope.len() > 1000 {
            errors.push(FieldError::new(
                "/consent/scope",
                "must say for what use the person agreed (1 to 1000 characters)",
            ));
        }
        if let Some(e) = &c.email
            && !(e.contains('@') && e.len() <= 254 && !e.contains(char::is_whitespace))
        {
            errors.push(FieldError::new(
                "/consent/email",
                "must be an e-mail address",
            ));
        }
    }
    errors
}
