//! Full-text search over the published view: an embedded tantivy index per node.
//!
//! **What is indexed** is exactly what the delivery API serves: the public JSON of each
//! published entry of a public type (one document per language version), read from the
//! published view — never a working copy, never a personal field (they are not in the public
//! JSON), never an entry of a personal type. Per type a [`TypePlan`] says which fields are the
//! title, the teaser-like texts and the body (Markdown, stripped), and which fields are facets
//! (filterable fields whose values are codes of an `enum`: topics, a member's region, …).
//!
//! **Kept in step with the change feed.** The indexer follows the store's change feed (on
//! PostgreSQL the shared one: every node keeps its own index) and re-reads the published
//! version of every entry a change touched: present → replaced, absent → deleted. The sequence
//! number it has indexed up to is the payload of the index's own commit, so after a crash or
//! `kill -9` it goes on from there (re-applying a change is harmless). The index is rebuilt
//! from the published view when it is missing, was made from other schemas or analysers (a
//! fingerprint in the payload), or an admin asked for it (`verbund search rebuild` bumps a
//! generation in the store that every node follows). A rebuild writes a new directory and
//! switches to it atomically (the `CURRENT` file names the live one); searches go on against
//! the old index meanwhile.
//!
//! **Removal is physical.** When an entry is unpublished or deleted, the segments that held it
//! are merged at once, so its text leaves the index files (not only a deletion mark), old files
//! are collected, and the purge is recorded in the audit log (`search.purge`, ids only).

mod analysis;
mod query;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tantivy::schema::{
    FAST, Facet, FacetOptions, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions,
};
use tantivy::store::Compressor;
use tantivy::{
    Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, TantivyDocument, Term,
};

pub use analysis::{GROUPS, fold, group_of};
pub use query::{
    COUNTED_FACETS, FacetCount, Facets, Hit, MAX_LIMIT, SearchError, SearchRequest, SearchResults,
};

use crate::ContentService;
use crate::content::keys;
use crate::schema::{ContentType, FieldKind, SchemaRegistry};
use crate::store::{Tree, counter};

/// Most facet filters of a search (for the API document).
pub const fn query_limits_max_filters() -> usize {
    query::MAX_FILTERS
}

/// Bumped when what is indexed or how changes: an index of another version is rebuilt.
const INDEX_VERSION: u32 = 3;
/// The store key of the rebuild generation admins bump (`verbund search rebuild`).
pub const GENERATION_KEY: &[u8] = b"search/generation";
/// Changes read per index commit.
const PAGE: usize = 1000;
/// Memory of the index writer (tantivy splits it among its threads).
const WRITER_HEAP: usize = 64 << 20;

/// Why search could not be set up or kept.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("search index: {0}")]
    Io(#[from] std::io::Error),
    #[error("search index: {0}")]
    Content(#[from] crate::content::ContentError),
    #[error("search index: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// What of a content type is searchable.
#[derive(Debug, Clone, Default)]
pub struct TypePlan {
    /// The field shown as the title.
    pub title: String,
    /// Short plain texts (teaser, summary, city, …): ranked below the title.
    pub teaser: Vec<String>,
    /// Markdown and nested texts: ranked lowest.
    pub body: Vec<String>,
    /// Fields whose values are counted and filtered as facets.
    pub facets: Vec<String>,
}

/// The searchable fields of every public type, from the schemas.
pub fn plans(schemas: &SchemaRegistry) -> BTreeMap<String, TypePlan> {
    let mut out = BTreeMap::new();
    for ct in schemas.types().filter(|ct| ct.is_public()) {
        let resolved = schemas.resolved_schema(&ct.name);
        out.insert(ct.name.clone(), plan_of(ct, &resolved));
    }
    out
}

fn plan_of(ct: &ContentType, resolved: &Value) -> TypePlan {
    let mut plan = TypePlan {
        title: ct.options.title.clone(),
        ..TypePlan::default()
    };
    let slug = ct.options.slug.as_deref();
    for (name, spec) in &ct.fields {
        if spec.pii || spec.reference.is_some() || spec.asset.is_some() {
            continue;
        }
        if *name == plan.title || Some(name.as_str()) == slug {
            continue;
        }
        let prop = &resolved["properties"][name];
        let is_enum = prop.get("enum").is_some() || prop["items"].get("enum").is_some();
        let has_format = prop.get("format").is_some() || prop["items"].get("format").is_some();
        if ct.options.markdown.contains(name) {
            plan.body.push(name.clone());
        } else if is_enum {
            if spec.filterable {
                plan.facets.push(name.clone());
            }
        } else if has_format {
            continue;
        } else {
            match (spec.kind, spec.item_kind) {
                (FieldKind::String, _) | (FieldKind::Array, Some(FieldKind::String)) => {
                    plan.teaser.push(name.clone())
                }
                (FieldKind::Object, _) | (FieldKind::Array, Some(FieldKind::Object)) => {
                    plan.body.push(name.clone())
                }
                _ => {}
            }
        }
    }
    plan
}

/// The fields of the index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    /// `{type}\0{id}`: what a document is replaced and deleted by.
    key: Field,
    ty: Field,
    id: Field,
    slug: Field,
    locale: Field,
    path: Field,
    /// `published_at` in seconds: the tie-breaker.
    published: Field,
    /// `/type/story`, `/topics/cloud`, `/state_region/sachsen-anhalt`, …: filters.
    facets: Field,
    /// The same as `{field}\u{1f}{value}` in a fast column: counted.
    facet_codes: Field,
    /// Per analyser group: consecutive stemmed words as `a_b` (phrases of two words are one
    /// lookup, longer ones one per pair).
    pairs: [Field; 3],
    /// Per analyser group (de, en, xx): title, teaser, body (stemmed, with positions, stored
    /// for highlights) and words (unstemmed, for prefixes and typos).
    text: [[Field; 4]; 3],
}

pub(crate) const TITLE: usize = 0;
pub(crate) const TEASER: usize = 1;
pub(crate) const BODY: usize = 2;
pub(crate) const WORDS: usize = 3;

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let key = b.add_text_field("key", STRING);
    let ty = b.add_text_field("type", STRING | STORED | FAST);
    let id = b.add_text_field("id", STRING | STORED);
    let slug = b.add_text_field("slug", STORED);
    let locale = b.add_text_field("locale", STRING | STORED);
    let path = b.add_text_field("path", STORED);
    let published = b.add_i64_field("published", INDEXED | STORED | FAST);
    let facets = b.add_facet_field("facets", FacetOptions::default());
    let facet_codes = b.add_text_field("facet_codes", STRING | FAST);
    let mut text = [[key; 4]; 3];
    let mut pairs = [key; 3];
    for (g, group) in GROUPS.iter().enumerate() {
        let stemmed = TextOptions::default().set_stored().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(group)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let words = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(&format!("{group}_words"))
                .set_index_option(IndexRecordOption::Basic),
        );
        text[g] = [
            b.add_text_field(&format!("title_{group}"), stemmed.clone()),
            b.add_text_field(&format!("teaser_{group}"), stemmed.clone()),
            b.add_text_field(&format!("body_{group}"), stemmed),
            b.add_text_field(&format!("words_{group}"), words),
        ];
        pairs[g] = b.add_text_field(
            &format!("pairs_{group}"),
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("pairs")
                    .set_index_option(IndexRecordOption::WithFreqs),
            ),
        );
    }
    (
        b.build(),
        Fields {
            key,
            ty,
            id,
            slug,
            locale,
            path,
            published,
            facets,
            facet_codes,
            pairs,
            text,
        },
    )
}

/// What the index's commits carry: where it is in the change feed and what it was built from.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
struct Payload {
    seq: u64,
    fingerprint: String,
    generation: u64,
}

/// One open index directory.
pub(crate) struct Live {
    pub(crate) reader: IndexReader,
    writer: Mutex<IndexWriter<TantivyDocument>>,
    pub(crate) f: Fields,
    tokenizers: tantivy::tokenizer::TokenizerManager,
    dir: PathBuf,
    payload: Mutex<Payload>,
}

/// The node's search index and its indexer state.
pub struct SearchIndex {
    base: PathBuf,
    content: Arc<ContentService>,
    plans: BTreeMap<String, TypePlan>,
    fingerprint: String,
    live: RwLock<Option<Arc<Live>>>,
    /// Set while a rebuild runs (searches go on against the previous index).
    building: AtomicBool,
    /// When the last rebuild finished, and how long it took.
    last_build: Mutex<Option<(chrono::DateTime<chrono::Utc>, Duration, u64)>>,
    /// Documents removed and merged away since start (for the status).
    purged: AtomicU64,
}

/// What `GET /api/v1/admin/search` tells.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct IndexStatus {
    /// Whether an index is open (false only before the first build on this node).
    pub ready: bool,
    /// Whether a rebuild is running now.
    pub building: bool,
    /// Documents (published language versions) in the index.
    pub documents: u64,
    /// The change sequence number the index is in step with.
    pub seq: u64,
    /// The newest change sequence number of the store.
    pub last_seq: u64,
    /// The rebuild generation the index was built for (a rebuild request raises it).
    pub generation: u64,
    /// Segments of the index.
    pub segments: usize,
    /// When the last rebuild on this node finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub built_at: Option<chrono::DateTime<chrono::Utc>>,
    /// How long it took, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_ms: Option<u64>,
    /// Bytes of the index files.
    pub bytes: u64,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("dir", &self.base)
            .finish()
    }
}

impl Live {
    pub(crate) fn tokenizers(&self) -> &tantivy::tokenizer::TokenizerManager {
        &self.tokenizers
    }
}

impl SearchIndex {
    pub(crate) fn content(&self) -> &ContentService {
        &self.content
    }

    /// The index under `base` for the content of `content` (opened, not yet built: the
    /// indexer builds or catches up, see [`run_indexer`]).
    pub fn new(base: &Path, content: Arc<ContentService>) -> Self {
        let plans = plans(content.schemas());
        let fingerprint = fingerprint(&plans);
        Self {
            base: base.to_path_buf(),
            content,
            plans,
            fingerprint,
            live: RwLock::new(None),
            building: AtomicBool::new(false),
            last_build: Mutex::new(None),
            purged: AtomicU64::new(0),
        }
    }

    /// The directory the indexes live in.
    pub fn dir(&self) -> &Path {
        &self.base
    }

    pub(crate) fn live(&self) -> Option<Arc<Live>> {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The searchable fields of each type.
    pub fn plans(&self) -> &BTreeMap<String, TypePlan> {
        &self.plans
    }

    /// The facet fields of all types, sorted.
    pub fn facet_fields(&self) -> BTreeSet<&str> {
        self.plans
            .values()
            .flat_map(|p| p.facets.iter().map(String::as_str))
            .collect()
    }

    /// Opens the live index named by `CURRENT`, if it was built from these schemas.
    fn open_current(&self) -> Result<Option<Arc<Live>>, IndexError> {
        let Ok(name) = std::fs::read_to_string(self.base.join("CURRENT")) else {
            return Ok(None);
        };
        let dir = self.base.join(name.trim());
        if !dir.join("meta.json").is_file() {
            return Ok(None);
        }
        let live = match open_dir(&dir) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(
                    "the search index in {} cannot be read ({e}); rebuilding it",
                    dir.display()
                );
                return Ok(None);
            }
        };
        let payload = live
            .payload
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if payload.fingerprint != self.fingerprint {
            tracing::info!("the schemas changed what is searchable: rebuilding the search index");
            return Ok(None);
        }
        Ok(Some(Arc::new(live)))
    }

    /// Builds a new index from the published view and switches to it. Returns the documents
    /// indexed.
    pub fn rebuild(&self) -> Result<u64, IndexError> {
        let started = Instant::now();
        self.building.store(true, Ordering::SeqCst);
        let result = self.rebuild_inner();
        self.building.store(false, Ordering::SeqCst);
        let docs = result?;
        *self.last_build.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((chrono::Utc::now(), started.elapsed(), docs));
        Ok(docs)
    }

    fn rebuild_inner(&self) -> Result<u64, IndexError> {
        let store = self.content.store().clone();
        // Changes after this one are applied by the catch-up that follows (again, if the scan
        // already saw them: harmless).
        let seq = store.last_seq()?;
        let generation = counter(
            store
                .get(crate::store::Tree::Meta, GENERATION_KEY)?
                .as_deref(),
        );
        std::fs::create_dir_all(&self.base)?;
        let name = format!("index-{}", ulid::Ulid::new());
        let dir = self.base.join(&name);
        std::fs::create_dir_all(&dir)?;
        // A build uses the cores there are (the running index answers meanwhile).
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4);
        let live = create_dir(&dir, threads)?;
        let mut docs = 0u64;
        {
            let writer = live.writer.lock().unwrap_or_else(|p| p.into_inner());
            for (ty, plan) in &self.plans {
                let prefix = keys::entry(ty, "");
                let end = crate::store::prefix_end(&prefix);
                let mut start = prefix.clone();
                loop {
                    let chunk = store.scan_range(Tree::Published, &start, &end, false, 512)?;
                    for (_, v) in &chunk {
                        if let Some(doc) = self.document(&live, ty, plan, v) {
                            writer.add_document(doc)?;
                            docs += 1;
                        }
                    }
                    match chunk.last() {
                        Some((k, _)) if chunk.len() == 512 => {
                            start = k.clone();
                            start.push(0);
                        }
                        _ => break,
                    }
                }
            }
        }
        let payload = Payload {
            seq,
            fingerprint: self.fingerprint.clone(),
            generation,
        };
        commit(&live, &payload)?;
        // One segment: searches visit each segment once.
        {
            let mut writer = live.writer.lock().unwrap_or_else(|p| p.into_inner());
            let ids = live.reader.searcher().index().searchable_segment_ids()?;
            if ids.len() > 1 {
                writer.merge(&ids).wait()?;
            }
            writer.garbage_collect_files().wait()?;
        }
        live.reader.reload()?;
        // Switch: CURRENT names the new directory (written aside and renamed: atomic).
        let tmp = self.base.join("CURRENT.tmp");
        std::fs::write(&tmp, &name)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, self.base.join("CURRENT"))?;
        let old = self
            .live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .replace(Arc::new(live));
        drop(old);
        // Every other index directory is an older one (or a build a crash interrupted).
        for entry in std::fs::read_dir(&self.base)?.flatten() {
            let n = entry.file_name();
            if n.to_string_lossy().starts_with("index-") && n != name.as_str() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(docs)
    }

    /// The index document of a stored public JSON document (`None`: nothing to index).
    fn document(
        &self,
        live: &Live,
        ty: &str,
        plan: &TypePlan,
        json: &[u8],
    ) -> Option<TantivyDocument> {
        let f = &live.f;
        let v: Value = serde_json::from_slice(json).ok()?;
        let id = v.get("id")?.as_str()?;
        let locale = v.get("locale").and_then(Value::as_str).unwrap_or("de");
        let g = GROUPS
            .iter()
            .position(|x| *x == group_of(locale))
            .unwrap_or(2);
        let data = v.get("data").unwrap_or(&v);
        let ct = self.content.schemas().get(ty)?;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.key, format!("{ty}\0{id}"));
        doc.add_text(f.ty, ty);
        doc.add_text(f.id, id);
        doc.add_text(f.locale, locale);
        let slug = ct
            .options
            .slug
            .as_deref()
            .and_then(|s| data.get(s))
            .and_then(Value::as_str);
        if let Some(slug) = slug {
            doc.add_text(f.slug, slug);
        }
        if let Some(path) = ct.path_of(locale, slug, id) {
            doc.add_text(f.path, path);
        }
        let published = v
            .get("published_at")
            .and_then(Value::as_str)
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map_or(0, |d| d.timestamp());
        doc.add_i64(f.published, published);
        doc.add_facet(f.facets, Facet::from_path(["type", ty]));
        doc.add_text(f.facet_codes, format!("type\u{1f}{ty}"));
        for field in &plan.facets {
            let spec = ct.fields.get(field);
            if spec.is_some_and(|s| s.pii) {
                continue;
            }
            let values: Vec<&str> = match data.get(field) {
                Some(Value::String(s)) => vec![s.as_str()],
                Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            for v in values {
                doc.add_facet(f.facets, Facet::from_path([field.as_str(), v]));
                doc.add_text(f.facet_codes, format!("{field}\u{1f}{v}"));
            }
        }
        let [title_f, teaser_f, body_f, words_f] = f.text[g];
        let (title, teaser, body) = texts(ct, plan, data);
        doc.add_text(title_f, &title);
        if !teaser.is_empty() {
            doc.add_text(teaser_f, &teaser);
        }
        if !body.is_empty() {
            doc.add_text(body_f, &body);
        }
        let all = format!("{title}\n{teaser}\n{body}");
        let pairs = analysis::pairs(live.tokenizers(), GROUPS[g], &all);
        doc.add_text(f.pairs[g], pairs);
        doc.add_text(words_f, all);
        Some(doc)
    }

    /// Applies the changes after the index's sequence number. Returns whether there may be
    /// more.
    pub fn catch_up(&self) -> Result<bool, IndexError> {
        let Some(live) = self.live() else {
            return Ok(false);
        };
        let store = self.content.store().clone();
        let seq = live.payload.lock().unwrap_or_else(|p| p.into_inner()).seq;
        let page = store.changes_since(seq, PAGE)?;
        let Some(end) = page.last().map(|c| c.seq) else {
            return Ok(false);
        };
        let mut removed: BTreeSet<(String, String)> = BTreeSet::new();
        let mut touched: BTreeSet<(String, String)> = BTreeSet::new();
        for c in &page {
            #[derive(serde::Deserialize)]
            struct Head {
                #[serde(rename = "type")]
                ty: String,
                id: String,
            }
            let Ok(h) = serde_json::from_slice::<Head>(&c.payload) else {
                continue;
            };
            if self.plans.contains_key(&h.ty) {
                touched.insert((h.ty, h.id));
            }
        }
        {
            let writer = live.writer.lock().unwrap_or_else(|p| p.into_inner());
            let searcher = live.reader.searcher();
            for (ty, id) in &touched {
                let plan = &self.plans[ty];
                let key = Term::from_field_text(live.f.key, &format!("{ty}\0{id}"));
                let was_indexed = searcher.doc_freq(&key).unwrap_or(0) > 0;
                writer.delete_term(key);
                match store.get(Tree::Published, &keys::entry(ty, id))? {
                    Some(json) => {
                        if let Some(doc) = self.document(&live, ty, plan, &json) {
                            writer.add_document(doc)?;
                        }
                    }
                    None if was_indexed => {
                        removed.insert((ty.clone(), id.clone()));
                    }
                    None => {}
                }
            }
        }
        let mut payload = live
            .payload
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        payload.seq = end;
        commit(&live, &payload)?;
        if !removed.is_empty() {
            self.purge(&live, &removed)?;
        } else {
            compact(&live, false)?;
        }
        Ok(page.len() == PAGE)
    }

    /// Merges away the deleted documents of `removed` (their text leaves the files), collects
    /// old files and records the purge in the audit log.
    fn purge(&self, live: &Live, removed: &BTreeSet<(String, String)>) -> Result<(), IndexError> {
        compact(live, true)?;
        self.purged
            .fetch_add(removed.len() as u64, Ordering::Relaxed);
        let names: Vec<String> = removed.iter().map(|(t, i)| format!("{t}/{i}")).collect();
        let mut draft = crate::auth::AuditRecord::draft("search", "search.purge");
        if let [(ty, id)] = removed.iter().cloned().collect::<Vec<_>>().as_slice() {
            draft.ty = Some(ty.clone());
            draft.id = Some(id.clone());
        }
        draft.detail = Some(format!(
            "removed {} unpublished or deleted entries from the search index files: {}",
            names.len(),
            names.join(", ")
        ));
        if let Err(e) = self.content.auth().audit(draft) {
            tracing::warn!("could not record the search purge in the audit log: {e}");
        }
        Ok(())
    }

    /// Whether the store asks for a rebuild this index was not built for.
    fn wants_rebuild(&self) -> Result<bool, IndexError> {
        let Some(live) = self.live() else {
            return Ok(true);
        };
        let stored = counter(
            self.content
                .store()
                .get(crate::store::Tree::Meta, GENERATION_KEY)?
                .as_deref(),
        );
        Ok(live
            .payload
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .generation
            < stored)
    }

    /// Asks every node to rebuild its index (bumps the generation in the store).
    pub fn request_rebuild(&self, actor: &str) -> Result<u64, IndexError> {
        let store = self.content.store();
        let mut b = crate::store::WriteBatch::new();
        b.add(crate::store::Tree::Meta, GENERATION_KEY.to_vec(), 1);
        let mut draft = crate::auth::AuditRecord::draft(actor, "search.rebuild");
        draft.detail = Some("asked every node to rebuild its search index".into());
        self.content
            .auth()
            .commit_audited(b, draft)
            .map_err(|e| IndexError::Store(crate::store::StoreError::Engine(e.to_string())))?;
        Ok(counter(
            store
                .get(crate::store::Tree::Meta, GENERATION_KEY)?
                .as_deref(),
        ))
    }

    /// The index's state.
    pub fn status(&self) -> Result<IndexStatus, IndexError> {
        let last_seq = self.content.store().last_seq()?;
        let built = *self.last_build.lock().unwrap_or_else(|p| p.into_inner());
        let building = self.building.load(Ordering::SeqCst);
        let Some(live) = self.live() else {
            return Ok(IndexStatus {
                ready: false,
                building,
                documents: 0,
                seq: 0,
                last_seq,
                generation: 0,
                segments: 0,
                built_at: None,
                build_ms: None,
                bytes: 0,
            });
        };
        let searcher = live.reader.searcher();
        let payload = live
            .payload
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let bytes = std::fs::read_dir(&live.dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        Ok(IndexStatus {
            ready: true,
            building,
            documents: searcher.num_docs(),
            seq: payload.seq,
            last_seq,
            generation: payload.generation,
            segments: searcher.segment_readers().len(),
            built_at: built.map(|b| b.0),
            build_ms: built.map(|b| b.1.as_millis() as u64),
            bytes,
        })
    }

    /// One round of the indexer: open or build the index if needed, then catch up.
    pub fn step(&self) -> Result<bool, IndexError> {
        if self.live().is_none()
            && let Some(live) = self.open_current()?
        {
            *self.live.write().unwrap_or_else(|p| p.into_inner()) = Some(live);
        }
        if self.wants_rebuild()? {
            let docs = self.rebuild()?;
            tracing::info!("built the search index: {docs} documents");
        }
        self.catch_up()
    }
}

/// The title, the teaser-like texts and the body of an entry's data, as indexed.
pub(crate) fn texts(ct: &ContentType, plan: &TypePlan, data: &Value) -> (String, String, String) {
    let title = data
        .get(&plan.title)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut teaser = Vec::new();
    for field in &plan.teaser {
        collect_strings(data.get(field), &mut teaser, 0);
    }
    let mut body = Vec::new();
    for field in &plan.body {
        let value = data.get(field);
        if ct.options.markdown.contains(field) {
            if let Some(md) = value.and_then(Value::as_str) {
                body.push(plain_text(md));
            }
        } else {
            collect_strings(value, &mut body, 0);
        }
    }
    (title, teaser.join(" · "), body.join("\n\n"))
}

/// Collects the strings of a value (nested objects and lists a few levels deep), leaving out
/// addresses and dates.
fn collect_strings(v: Option<&Value>, out: &mut Vec<String>, depth: usize) {
    match v {
        Some(Value::String(s)) => {
            let s = s.trim();
            let skip = s.is_empty()
                || s.starts_with("http://")
                || s.starts_with("https://")
                || s.contains('@')
                || chrono::DateTime::parse_from_rfc3339(s).is_ok()
                || chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok();
            if !skip {
                out.push(s.to_string());
            }
        }
        Some(Value::Array(items)) if depth < 3 => {
            for i in items {
                collect_strings(Some(i), out, depth + 1);
            }
        }
        Some(Value::Object(map)) if depth < 3 => {
            for v in map.values() {
                collect_strings(Some(v), out, depth + 1);
            }
        }
        _ => {}
    }
}

/// The text of Markdown without its markup: headings, emphasis, links (their text kept, the
/// address dropped), images, code fences and HTML tags.
pub fn plain_text(md: &str) -> String {
    let mut out = String::with_capacity(md.len());
    for line in md.lines() {
        let mut l = line.trim_start();
        if l.starts_with("```") {
            continue;
        }
        l = l
            .trim_start_matches('#')
            .trim_start_matches('>')
            .trim_start();
        if let Some(rest) = l.strip_prefix("- ").or_else(|| l.strip_prefix("* ")) {
            l = rest;
        }
        let mut chars = l.chars().peekable();
        let mut in_tag = false;
        while let Some(c) = chars.next() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => in_tag = false,
                _ if in_tag => {}
                '*' | '_' | '`' | '[' => {}
                '!' if chars.peek() == Some(&'[') => {}
                ']' if chars.peek() == Some(&'(') => {
                    // Skip the link's address.
                    for d in chars.by_ref() {
                        if d == ')' {
                            break;
                        }
                    }
                }
                ']' => {}
                c => out.push(c),
            }
        }
        out.push('\n');
    }
    out.trim().to_string()
}

/// What the index is built from: the index layout, the analysers and the searchable fields.
fn fingerprint(plans: &BTreeMap<String, TypePlan>) -> String {
    let mut s = format!("v{INDEX_VERSION}\n{}\n", analysis::COMPOUND_WORDS);
    for (ty, p) in plans {
        s.push_str(&format!(
            "{ty}:{}:{:?}:{:?}:{:?}\n",
            p.title, p.teaser, p.body, p.facets
        ));
    }
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(s.as_bytes()))
}

fn settings() -> IndexSettings {
    // Stored texts uncompressed: highlights read them without decompressing a block, and a
    // purge can be checked by anyone with grep.
    IndexSettings {
        docstore_compression: Compressor::None,
        ..IndexSettings::default()
    }
}

/// A new index in `dir`, written by `threads` threads.
fn create_dir(dir: &Path, threads: usize) -> Result<Live, IndexError> {
    let (schema, f) = schema();
    let index = Index::builder()
        .schema(schema)
        .settings(settings())
        .create_in_dir(dir)?;
    finish_open(index, f, dir, Payload::default(), threads)
}

fn open_dir(dir: &Path) -> Result<Live, IndexError> {
    let index = Index::open_in_dir(dir)?;
    let (schema, f) = schema();
    if index.schema() != schema {
        return Err(IndexError::Tantivy(tantivy::TantivyError::SchemaError(
            "the index has other fields".into(),
        )));
    }
    let payload = index
        .load_metas()?
        .payload
        .and_then(|p| serde_json::from_str(&p).ok())
        .unwrap_or_default();
    finish_open(index, f, dir, payload, 1)
}

fn finish_open(
    index: Index,
    f: Fields,
    dir: &Path,
    payload: Payload,
    threads: usize,
) -> Result<Live, IndexError> {
    analysis::register(index.tokenizers());
    let writer: IndexWriter<TantivyDocument> =
        index.writer_with_num_threads(threads, WRITER_HEAP * threads)?;
    // Merges are this module's business (see `compact`): a purge must know when its segment
    // was rewritten.
    writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()?;
    Ok(Live {
        tokenizers: index.tokenizers().clone(),
        reader,
        writer: Mutex::new(writer),
        f,
        dir: dir.to_path_buf(),
        payload: Mutex::new(payload),
    })
}

fn commit(live: &Live, payload: &Payload) -> Result<(), IndexError> {
    let mut writer = live.writer.lock().unwrap_or_else(|p| p.into_inner());
    let text = serde_json::to_string(payload).unwrap_or_default();
    let mut prepared = writer.prepare_commit()?;
    prepared.set_payload(&text);
    prepared.commit()?;
    drop(writer);
    *live.payload.lock().unwrap_or_else(|p| p.into_inner()) = payload.clone();
    live.reader.reload()?;
    Ok(())
}

/// Merges segments: with `purge`, every segment holding deleted documents (their text goes);
/// else only segments more than a fifth deleted, and small segments once there are many.
fn compact(live: &Live, purge: bool) -> Result<(), IndexError> {
    let searcher = live.reader.searcher();
    let segments = searcher.segment_readers();
    let mut merges: Vec<Vec<tantivy::index::SegmentId>> = Vec::new();
    for s in segments {
        let deleted = s.num_deleted_docs();
        if deleted > 0 && (purge || deleted * 5 > s.max_doc()) {
            merges.push(vec![s.segment_id()]);
        }
    }
    let small: Vec<_> = segments
        .iter()
        .filter(|s| s.max_doc() < 20_000 && !merges.iter().any(|m| m[0] == s.segment_id()))
        .map(|s| s.segment_id())
        .collect();
    if small.len() > 8 {
        merges.push(small);
    }
    if merges.is_empty() {
        return Ok(());
    }
    drop(searcher);
    {
        let mut writer = live.writer.lock().unwrap_or_else(|p| p.into_inner());
        for ids in merges {
            writer.merge(&ids).wait()?;
        }
    }
    live.reader.reload()?;
    let writer = live.writer.lock().unwrap_or_else(|p| p.into_inner());
    writer.garbage_collect_files().wait()?;
    Ok(())
}

/// Keeps `index` in step with the change feed until the task is aborted: woken by this
/// node's commits (and, on a shared store, by what the follower sees), and once a second.
pub async fn run_indexer(index: Arc<SearchIndex>, mut wake: tokio::sync::watch::Receiver<u64>) {
    let mut failing = false;
    loop {
        let i = index.clone();
        let stepped = tokio::task::spawn_blocking(move || i.step()).await;
        let more = match stepped {
            Ok(Ok(more)) => {
                if failing {
                    tracing::info!("the search index is in step again");
                    failing = false;
                }
                more
            }
            Ok(Err(e)) => {
                if !failing {
                    tracing::warn!("could not update the search index: {e}");
                    failing = true;
                }
                false
            }
            Err(_) => false,
        };
        if more {
            continue;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), wake.changed()).await;
    }
}
