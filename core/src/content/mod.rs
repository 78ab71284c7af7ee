//! Entries, revisions, references and the published view, on top of the [`Store`].
//!
//! Invariants:
//! - Every write (create, update, state change, delete, one import chunk) is one
//!   [`WriteBatch`](crate::store::WriteBatch): the record, its revision, slug keys, reverse
//!   references, index keys, the published view and the change event land together or not at
//!   all.
//! - Writes are optimistic: everything a write read is re-checked at commit; on a conflict the
//!   write is planned again from fresh reads.
//! - The published view (`published` tree, `p` slugs and `p` index keys) changes only when an
//!   entry is published, unpublished or deleted; editing a published entry leaves the public
//!   version in place until the new version is published.

pub mod assets;
mod commit;
mod entry;
pub mod filter;
mod gdpr;
mod hooks;
mod import;
mod integrity;
pub mod keys;
mod plan;
mod public_index;
mod publish;
mod query;
mod read;
mod refs;
mod reindex;
mod schedule;
mod transition;
pub mod translate;
mod write;

pub use entry::{
    EntryRecord, FieldOrigin, NewEntry, PublicLinks, Scheduled, State, TranslationLink,
    render_public, render_public_with,
};
pub use filter::{Filter, FilterOp, QueryError};
pub use gdpr::ErasureReport;
pub use hooks::{ContentHooks, HookFailure, TransitionContext};
pub use import::{ImportLine, ImportProgress, ImportReport, LineError};
pub use query::{DeliveryQuery, Page, PageMeta, SortKey};
pub use read::{ChangeEvent, ChangeFeed, Referrer, public_id};
pub use transition::{ScheduleOutcome, TransitionRequest};
pub use translate::{Confirm, OutdatedField, TranslationStatus};
pub use write::{is_locale, is_valid_id};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::schema::{ContentType, FieldError, SchemaRegistry};
use crate::store::{Store, StoreError};

/// Errors of content operations; each maps to one API error code.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("unknown content type {name:?}; known types: {}", known.join(", "))]
    UnknownType { name: String, known: Vec<String> },
    #[error("no {ty} entry with id or slug {id:?}")]
    NotFound { ty: String, id: String },
    #[error("the entry is invalid: {}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid { errors: Vec<FieldError> },
    #[error(
        "the entry was changed meanwhile: you edited version {expected}, the current version is {current}; reload it and apply your change again"
    )]
    VersionConflict { expected: u64, current: u64 },
    #[error("the entry is still referenced by {}; remove those references first", referrers.iter().map(|r| format!("{} {} (field {})", r.ty, r.id, r.fields.join(", "))).collect::<Vec<_>>().join(", "))]
    Referenced { referrers: Vec<Referrer> },
    #[error("cannot {to} from {from}; allowed from {from}: {}", allowed.join(", "))]
    InvalidTransition {
        from: String,
        to: String,
        allowed: Vec<String>,
    },
    #[error("{transition} may be taken by {}, not by the role {role:?}", if roles.is_empty() { "editors and reviewers".to_string() } else { roles.join(" or ") })]
    RoleNotAllowed {
        transition: String,
        roles: Vec<String>,
        role: String,
    },
    #[error("plugin {plugin} refused: {reason}")]
    Denied { plugin: String, reason: String },
    #[error(
        "{ty} entries are governed by the plugin {plugin}, which is disabled or does not load; nothing of this type changes state (except being taken offline) until an admin enables it again (`verbund plugin enable {plugin}`)"
    )]
    PluginUnavailable { ty: String, plugin: String },
    #[error(
        "{ty} entries must be checked by the plugin {plugin}, which an admin marked required and which is off{}; nothing of this type is written or published until it runs again (`verbund plugin enable {plugin}`)",
        reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
    )]
    RequiredPluginOff {
        ty: String,
        plugin: String,
        reason: Option<String>,
    },
    #[error(transparent)]
    Hook(#[from] HookFailure),
    #[error("invalid query: {0}")]
    BadQuery(#[from] QueryError),
    #[error("the write kept conflicting with concurrent writes; try again")]
    Contended,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a stored record could not be read: {0}")]
    Corrupt(String),
}

pub type ContentResult<T> = Result<T, ContentError>;

/// The content engine: validation, references and the published view over a store.
pub struct ContentService {
    store: Arc<dyn Store>,
    schemas: Arc<SchemaRegistry>,
    ids: Mutex<ulid::Generator>,
    /// Bumped after every commit that changed the published view (see `public_generation`).
    public_generation: AtomicU64,
    /// The newest change sequence number this process has seen (see `observe_store`).
    seen_seq: AtomicU64,
    /// Validators and guards (the plugin host), if any.
    hooks: RwLock<Option<Arc<dyn ContentHooks>>>,
    /// The installation's secret keys (kept outside the store).
    keys: Arc<crate::keys::Keys>,
    /// The newest change sequence number this process knows of, for whoever follows the
    /// feed live (webhooks, the change stream): moved by own commits and `observe_store`.
    feed: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for ContentService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentService")
            .field("types", &self.schemas.names())
            .finish()
    }
}

impl ContentService {
    /// A service with keys that live only in memory (tests, benchmarks); a data dir that
    /// outlives the process is opened with [`crate::open`], which keeps its keys.
    pub fn new(store: Arc<dyn Store>, schemas: Arc<SchemaRegistry>) -> Self {
        Self::with_keys(store, schemas, Arc::new(crate::keys::Keys::ephemeral()))
    }

    pub fn with_keys(
        store: Arc<dyn Store>,
        schemas: Arc<SchemaRegistry>,
        keys: Arc<crate::keys::Keys>,
    ) -> Self {
        Self {
            store,
            schemas,
            ids: Mutex::new(ulid::Generator::new()),
            public_generation: AtomicU64::new(0),
            seen_seq: AtomicU64::new(0),
            feed: tokio::sync::watch::Sender::new(0),
            hooks: RwLock::new(None),
            keys,
        }
    }

    /// The installation's secret keys.
    pub fn keys(&self) -> &Arc<crate::keys::Keys> {
        &self.keys
    }

    /// Tokens and the audit log of this service's store, keyed with its keys.
    pub fn auth(&self) -> crate::auth::AuthService {
        crate::auth::AuthService::new(self.store.clone(), self.keys.clone())
    }

    /// Installs the validators and guards every write asks.
    pub fn set_hooks(&self, hooks: Arc<dyn ContentHooks>) {
        *self.hooks.write().unwrap_or_else(|p| p.into_inner()) = Some(hooks);
    }

    pub(crate) fn hooks(&self) -> Option<Arc<dyn ContentHooks>> {
        self.hooks.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs the validators on a record about to be written.
    /// The schema's `errors` of an entry, with what the validators find in it too (when its
    /// data is an object they can read), so that editors see every problem in one round.
    fn invalid_with_plugins(
        &self,
        ct: &ContentType,
        rec: &EntryRecord,
        mut errors: Vec<FieldError>,
        data: &serde_json::Value,
    ) -> ContentError {
        if data.is_object()
            && let Some(h) = self.hooks()
            && h.validates(ct)
        {
            for e in h.validate_advisory(ct, rec) {
                if !errors.contains(&e) {
                    errors.push(e);
                }
            }
        }
        ContentError::Invalid { errors }
    }

    /// Refuses a write of `ct` while a plugin an admin marked required for it is off.
    pub(crate) fn check_required(&self, ct: &ContentType) -> ContentResult<()> {
        if let Some(h) = self.hooks()
            && let Some((plugin, reason)) = h.required_off(ct)
        {
            return Err(ContentError::RequiredPluginOff {
                ty: ct.name.clone(),
                plugin,
                reason,
            });
        }
        Ok(())
    }

    fn run_validators(&self, ct: &ContentType, rec: &EntryRecord) -> ContentResult<()> {
        if let Some(h) = self.hooks() {
            let errors = h.validate(ct, rec)?;
            if !errors.is_empty() {
                return Err(ContentError::Invalid { errors });
            }
        }
        Ok(())
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn schemas(&self) -> &Arc<SchemaRegistry> {
        &self.schemas
    }

    /// The content type named `name`, or an error listing the known ones.
    pub fn content_type(&self, name: &str) -> ContentResult<&Arc<ContentType>> {
        self.schemas
            .get(name)
            .ok_or_else(|| ContentError::UnknownType {
                name: name.to_string(),
                known: self.schemas.names().into_iter().map(String::from).collect(),
            })
    }

    /// A number that changes whenever the published view changes. Read it before computing a
    /// response to cache, and the response is valid while the number stays the same. This
    /// process's own commits move it at once; on a store shared with other nodes, their
    /// commits move it when [`ContentService::observe_store`] sees them.
    pub fn public_generation(&self) -> u64 {
        self.public_generation.load(Ordering::Acquire)
    }

    /// Follows the shared change feed: when the store's newest sequence number moved since the
    /// last look (another node committed), everything derived from the published view here is
    /// out of date, so the public generation moves on. Returns whether it did. Nodes call it
    /// a few times a second (see `server`).
    pub fn observe_store(&self) -> ContentResult<bool> {
        let last = self.store.last_seq()?;
        let seen = self.seen_seq.swap(last, Ordering::AcqRel);
        if seen != last {
            self.public_generation.fetch_add(1, Ordering::AcqRel);
        }
        self.announce(last);
        Ok(seen != last)
    }

    /// This process's own commit needs no look at the feed when it directly follows what was
    /// seen (its effect on the published view moved the generation already); one that skips
    /// sequence numbers leaves them to `observe_store`, which then sees another node's commits.
    fn saw_own_commit(&self, committed: crate::store::Committed) {
        if committed.first_seq.is_some() {
            self.announce(committed.last_seq);
        }
        if let Some(first) = committed.first_seq {
            let _ = self.seen_seq.compare_exchange(
                first - 1,
                committed.last_seq,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    /// Tells followers of the feed that it reached `seq`.
    fn announce(&self, seq: u64) {
        self.feed.send_if_modified(|known| {
            let newer = seq > *known;
            if newer {
                *known = seq;
            }
            newer
        });
    }

    /// A receiver that changes whenever this process learns of newer changes in the feed.
    pub fn watch_feed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.feed.subscribe()
    }

    /// A new time-ordered id (monotonic within one process).
    pub fn new_id(&self) -> String {
        let mut g = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        match g.generate() {
            Ok(id) => id.to_string(),
            // The generator overflows only after 2^80 ids in one millisecond.
            Err(_) => ulid::Ulid::new().to_string(),
        }
    }
}
