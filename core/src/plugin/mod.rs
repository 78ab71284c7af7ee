//! Sandboxed plugins: install, upgrade, enable, disable and remove them, and run their hooks.
//!
//! - A plugin is a WebAssembly component of the contract in `plugins/wit` (world
//!   `verbund:plugin/plugin@1.x`). Installing it validates and links it (a component built
//!   against another contract is refused), asks it to `describe` itself, and stores the
//!   component, its compiled form (cached by content hash and sealed with a MAC of the
//!   installation key, so a restart does not recompile; unsealed or forged code is never
//!   loaded but compiled again from the component) and
//!   a [`PluginRecord`] in the store's `plugins` tree: plugins survive restarts and backups.
//! - Every call gets a fresh instance from the pooling allocator and runs under the limits of
//!   its hook (see [`CallLimits`]); a fault fails that call with an error naming the plugin, the
//!   hook and the limit, and the server goes on. [`FAULT_LIMIT`] faults within
//!   [`FAULT_WINDOW`] disable the plugin, with the reason kept for the admin.
//! - `get`/`query` see only the types the admin granted, without personal-data fields unless
//!   that was granted too.

mod cache;
mod calls;
mod install;
mod record;
mod runtime;
mod wasi;

pub use calls::Artifact;

pub use record::{
    CallLimits, ExportDef, Grant, HookKind, LimitOverride, PluginRecord, StateDef, TransitionDef,
    WorkflowDef,
};

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use crate::auth::{AuditRecord, AuthService};
use crate::content::{ContentHooks, ContentService, EntryRecord, HookFailure, TransitionContext};
use crate::schema::{ContentType, FieldError};
use crate::store::{Store, StoreError, Tree, WriteBatch};
use cache::seal_compiled;
use install::link_error;
use runtime::{HostState, PluginPre, Runtime, wit};

/// The contract this server implements (major.minor of `plugins/wit`).
pub const CONTRACT: &str = "1.3.0";
/// Faults within [`FAULT_WINDOW`] that disable a plugin.
pub const FAULT_LIMIT: usize = 5;
pub const FAULT_WINDOW: Duration = Duration::from_secs(60);
/// The largest component the server accepts (a Python plugin carries CPython: about 20 MB).
pub const MAX_COMPONENT_BYTES: usize = 64 << 20;

const RECORD_PREFIX: &str = "plugin\0";

/// How many recent call times per plugin and hook the percentiles are taken over.
pub const USAGE_WINDOW: usize = 1000;

#[derive(Default)]
struct Usage {
    calls: u64,
    faults: u64,
    /// Call times in µs, the newest last.
    recent: VecDeque<u32>,
}

impl Usage {
    fn summary(&self, hook: HookKind) -> HookUsage {
        let mut v: Vec<u32> = self.recent.iter().copied().collect();
        v.sort_unstable();
        let q = |p: f64| -> f64 {
            if v.is_empty() {
                return 0.0;
            }
            let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
            f64::from(v[i]) / 1000.0
        };
        HookUsage {
            hook: hook.name(),
            calls: self.calls,
            faults: self.faults,
            p50_ms: q(0.5),
            p99_ms: q(0.99),
        }
    }
}

/// What a plugin's hook cost on this node since it started.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HookUsage {
    pub hook: &'static str,
    pub calls: u64,
    /// Calls that failed (trap, limit, malformed output).
    pub faults: u64,
    /// Median call time of the recent calls, instantiation included, in ms.
    pub p50_ms: f64,
    /// 99th percentile of the recent call times, in ms.
    pub p99_ms: f64,
}
const WASM_PREFIX: &str = "wasm\0";
const COMPILED_PREFIX: &str = "compiled\0";
/// The key prefix of the compiled-plugin cache in the `plugins` tree (never backed up).
pub const COMPILED_KEY_PREFIX: &[u8] = COMPILED_PREFIX.as_bytes();

/// Errors of plugin management and calls.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("{0}")]
    Invalid(String),
    #[error("no plugin named {0:?} is installed")]
    NotFound(String),
    #[error("plugin {plugin} is disabled{}; an admin enables it with `verbund plugin enable {plugin}`", reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Disabled {
        plugin: String,
        reason: Option<String>,
    },
    #[error("plugin {plugin} failed in {hook}: {detail}")]
    Fault {
        plugin: String,
        hook: &'static str,
        detail: String,
        /// The call hit one of its resource limits (fuel, time, memory, host bytes, output),
        /// rather than trapping on its own.
        limit: bool,
    },
    #[error("too many plugin calls at once; try again")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not record this in the audit log: {0}")]
    Audit(String),
}

impl From<PluginError> for HookFailure {
    fn from(e: PluginError) -> Self {
        match e {
            PluginError::Fault {
                plugin,
                hook,
                detail,
                ..
            } => HookFailure {
                plugin,
                hook,
                detail,
            },
            other => HookFailure {
                plugin: String::new(),
                hook: "call",
                detail: other.to_string(),
            },
        }
    }
}

/// What an install or upgrade did (or, for a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct InstallReport {
    pub plugin: PluginRecord,
    /// The version replaced, for an upgrade.
    pub upgraded_from: Option<String>,
    /// Grants the new version asks for that the old one did not.
    pub requests_added: Vec<String>,
    /// Grants the old version asked for that the new one does not (they are dropped).
    pub requests_removed: Vec<String>,
    pub dry_run: bool,
}

/// A loaded plugin: its record and its linked component.
struct Loaded {
    record: Arc<PluginRecord>,
    pre: PluginPre<HostState>,
}

/// The plugin host of one server.
pub struct PluginHost {
    rt: Runtime,
    store: Arc<dyn Store>,
    /// This installation's keys: compiled code is loaded only under their MAC.
    keys: Arc<crate::keys::Keys>,
    content: Weak<ContentService>,
    auth: AuthService,
    loaded: RwLock<BTreeMap<String, Arc<Loaded>>>,
    faults: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// Calls, faults and recent call times per plugin and hook, since this node started.
    usage: Mutex<BTreeMap<(String, HookKind), Usage>>,
    /// The plugin epoch (see [`EPOCH_KEY`]) the loaded plugins were last synced with.
    epoch_seen: Mutex<Option<Vec<u8>>>,
}

/// The `Meta` key every change of the plugin records rewrites with a new value, so that other
/// nodes on the same store notice it with one read (see [`PluginHost::sync_from_store`]).
const EPOCH_KEY: &[u8] = b"plugins/epoch";

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost").finish_non_exhaustive()
    }
}

fn key(prefix: &str, name: &str) -> Vec<u8> {
    let mut k = prefix.as_bytes().to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

/// What a load at start-up cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadStats {
    pub plugins: usize,
    pub from_cache: usize,
    pub compiled: usize,
}

impl PluginHost {
    /// Starts the host and loads every installed plugin (from the compiled cache when it can).
    /// A plugin that no longer loads is disabled with the reason, and the others go on.
    pub fn start(content: &Arc<ContentService>) -> Result<(Arc<Self>, LoadStats), PluginError> {
        let rt = Runtime::new()
            .map_err(|e| PluginError::Invalid(format!("the plugin runtime did not start: {e}")))?;
        let store = content.store().clone();
        let host = Arc::new(PluginHost {
            rt,
            auth: content.auth(),
            keys: content.keys().clone(),
            store,
            content: Arc::downgrade(content),
            loaded: RwLock::new(BTreeMap::new()),
            faults: Mutex::new(HashMap::new()),
            usage: Mutex::new(BTreeMap::new()),
            epoch_seen: Mutex::new(None),
        });
        *host.epoch_seen.lock().unwrap_or_else(|p| p.into_inner()) =
            host.store.get(Tree::Meta, EPOCH_KEY)?;
        let mut stats = LoadStats::default();
        for rec in host.records()? {
            stats.plugins += 1;
            match host.load(&rec) {
                Ok(cached) => {
                    if cached {
                        stats.from_cache += 1;
                    } else {
                        stats.compiled += 1;
                    }
                }
                Err(e) => {
                    tracing::error!(plugin = %rec.name, "plugin does not load: {e}");
                    let mut r = rec.clone();
                    r.enabled = false;
                    r.disabled_reason = Some(format!("it does not load: {e}"));
                    let mut a = AuditRecord::draft("server", "plugin.disable");
                    a.id = Some(r.name.clone());
                    a.detail = r.disabled_reason.clone();
                    host.put_record(&r, a)?;
                }
            }
        }
        content.set_hooks(host.clone());
        Ok((host, stats))
    }

    /// Every installed plugin, by name.
    pub fn records(&self) -> Result<Vec<PluginRecord>, PluginError> {
        let mut out = Vec::new();
        for (_, v) in
            self.store
                .scan_prefix(Tree::Plugins, RECORD_PREFIX.as_bytes(), false, usize::MAX)?
        {
            let rec: PluginRecord =
                serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt {
                    tree: Tree::Plugins,
                    detail: e.to_string(),
                })?;
            out.push(rec);
        }
        Ok(out)
    }

    /// One installed plugin.
    pub fn record(&self, name: &str) -> Result<PluginRecord, PluginError> {
        let v = self
            .store
            .get(Tree::Plugins, &key(RECORD_PREFIX, name))?
            .ok_or_else(|| PluginError::NotFound(name.to_string()))?;
        serde_json::from_slice(&v).map_err(|e| {
            PluginError::Store(StoreError::Corrupt {
                tree: Tree::Plugins,
                detail: e.to_string(),
            })
        })
    }

    /// Faults of a plugin within the current window.
    /// Calls of `name` since this node started, per hook, with faults and the p50/p99 of the
    /// last [`USAGE_WINDOW`] calls' times.
    pub fn usage(&self, name: &str) -> Vec<HookUsage> {
        let all = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .filter(|((n, _), _)| n == name)
            .map(|((_, hook), u)| u.summary(*hook))
            .collect()
    }

    /// Every plugin's usage, for `/metrics`.
    pub fn all_usage(&self) -> Vec<(String, HookUsage)> {
        let all = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .map(|((n, hook), u)| (n.clone(), u.summary(*hook)))
            .collect()
    }

    pub(super) fn note_call(&self, name: &str, hook: HookKind, took: Duration, fault: bool) {
        let mut all = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        let u = all.entry((name.to_string(), hook)).or_default();
        u.calls += 1;
        u.faults += u64::from(fault);
        if u.recent.len() == USAGE_WINDOW {
            u.recent.pop_front();
        }
        u.recent
            .push_back(took.as_micros().min(u32::MAX as u128) as u32);
    }

    pub fn recent_faults(&self, name: &str) -> usize {
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        match faults.get_mut(name) {
            Some(q) => {
                while q.front().is_some_and(|t| t.elapsed() > FAULT_WINDOW) {
                    q.pop_front();
                }
                q.len()
            }
            None => 0,
        }
    }

    fn put_record(&self, rec: &PluginRecord, audit: AuditRecord) -> Result<(), PluginError> {
        self.put_record_noting(rec, audit, None)
    }

    /// [`Self::put_record`] with a change event in the same commit (a plugin the server
    /// disabled after faults: webhooks announce it as `plugin.faulted`).
    fn put_record_noting(
        &self,
        rec: &PluginRecord,
        audit: AuditRecord,
        change: Option<Vec<u8>>,
    ) -> Result<(), PluginError> {
        let mut b = WriteBatch::new();
        if let Some(c) = change {
            b.change(c);
        }
        b.put(
            Tree::Plugins,
            key(RECORD_PREFIX, &rec.name),
            serde_json::to_vec(rec).unwrap_or_default(),
        );
        self.commit_audited(b, audit)
    }

    /// Commits a change of the plugin records with its audit record, atomically, and moves
    /// the plugin epoch on.
    fn commit_audited(&self, mut b: WriteBatch, audit: AuditRecord) -> Result<(), PluginError> {
        let epoch = ulid::Ulid::new().to_bytes().to_vec();
        b.put(Tree::Meta, EPOCH_KEY.to_vec(), epoch.clone());
        self.auth.commit_audited(b, audit).map_err(|e| match e {
            crate::auth::AuthError::Store(s) => PluginError::from(s),
            other => PluginError::Audit(other.to_string()),
        })?;
        // This node's own change: nothing to sync (the caller updates what it loaded).
        *self.epoch_seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(epoch);
        Ok(())
    }

    /// Brings the loaded plugins in line with the store's records when another node installed,
    /// configured, disabled or removed a plugin (the plugin epoch moved). Returns whether
    /// anything changed here.
    pub fn sync_from_store(&self) -> Result<bool, PluginError> {
        let epoch = self.store.get(Tree::Meta, EPOCH_KEY)?;
        if *self.epoch_seen.lock().unwrap_or_else(|p| p.into_inner()) == epoch {
            return Ok(false);
        }
        let records = self.records()?;
        let mut changed = false;
        for rec in &records {
            let current = self
                .loaded
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&rec.name)
                .map(|l| l.record.clone());
            match current {
                Some(r) if *r == *rec => {}
                Some(r) if r.hash == rec.hash => {
                    self.replace_record(rec);
                    changed = true;
                }
                _ => {
                    if let Err(e) = self.load(rec) {
                        tracing::error!(plugin = %rec.name, "plugin installed by another node does not load here: {e}");
                    }
                    changed = true;
                }
            }
        }
        let names: std::collections::BTreeSet<&str> =
            records.iter().map(|r| r.name.as_str()).collect();
        self.loaded
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|name, _| {
                let keep = names.contains(name.as_str());
                changed |= !keep;
                keep
            });
        *self.epoch_seen.lock().unwrap_or_else(|p| p.into_inner()) = epoch;
        Ok(changed)
    }

    /// Loads an installed plugin into memory (if enabled). Returns whether the compiled cache
    /// was used.
    fn load(&self, rec: &PluginRecord) -> Result<bool, PluginError> {
        let (component, cached) = self.component(&rec.hash, None)?;
        let pre = self.rt.link(&component).map_err(|e| link_error(&e))?;
        let mut loaded = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        loaded.insert(
            rec.name.clone(),
            Arc::new(Loaded {
                record: Arc::new(rec.clone()),
                pre,
            }),
        );
        Ok(cached)
    }
}
