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

mod record;
mod runtime;

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
use runtime::{HostState, PluginPre, Runtime, wit};

/// The contract this server implements (major.minor of `plugins/wit`).
pub const CONTRACT: &str = "1.0.0";
/// Faults within [`FAULT_WINDOW`] that disable a plugin.
pub const FAULT_LIMIT: usize = 5;
pub const FAULT_WINDOW: Duration = Duration::from_secs(60);
/// The largest component the server accepts.
pub const MAX_COMPONENT_BYTES: usize = 16 << 20;

const RECORD_PREFIX: &str = "plugin\0";
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
}

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
        });
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
        let mut b = WriteBatch::new();
        b.put(
            Tree::Plugins,
            key(RECORD_PREFIX, &rec.name),
            serde_json::to_vec(rec).unwrap_or_default(),
        );
        self.commit_audited(b, audit)
    }

    /// Commits a change of the plugin records with its audit record, atomically.
    fn commit_audited(&self, b: WriteBatch, audit: AuditRecord) -> Result<(), PluginError> {
        self.auth.commit_audited(b, audit).map_err(|e| match e {
            crate::auth::AuthError::Store(s) => PluginError::from(s),
            other => PluginError::Audit(other.to_string()),
        })
    }

    /// The component from the compiled cache, or compiled now and put into the cache.
    /// Returns whether it came from the cache.
    fn component(
        &self,
        hash: &str,
        bytes: Option<&[u8]>,
    ) -> Result<(Component, bool), PluginError> {
        if let Some(stored) = self.store.get(Tree::Plugins, &key(COMPILED_PREFIX, hash))? {
            match open_compiled(&self.keys, hash, &stored) {
                Some(code) => {
                    if let Some(c) = deserialize_authenticated(&self.rt, code) {
                        return Ok((c, true));
                    }
                }
                None => tracing::warn!(
                    component = hash,
                    "the compiled cache entry is not authenticated by this installation's keys; compiling the component again"
                ),
            }
        }
        let owned;
        let bytes = match bytes {
            Some(b) => b,
            None => {
                owned = self
                    .store
                    .get(Tree::Plugins, &key(WASM_PREFIX, hash))?
                    .ok_or_else(|| {
                        PluginError::Invalid(format!(
                            "the component {hash} is missing from the store"
                        ))
                    })?;
                &owned
            }
        };
        let component = self.rt.compile(bytes).map_err(|e| {
            PluginError::Invalid(format!(
                "this is not a valid WebAssembly component ({}); build plugins with plugins/build, which turns the compiled module into a component",
                e.root_cause()
            ))
        })?;
        if let Ok(compiled) = component.serialize() {
            let mut b = WriteBatch::new();
            b.put(
                Tree::Plugins,
                key(COMPILED_PREFIX, hash),
                seal_compiled(&self.keys, hash, compiled),
            );
            self.store.commit(b)?;
        }
        Ok((component, false))
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

    /// Validates a component, reads its manifest and, unless `dry_run`, installs it (or
    /// upgrades the installed plugin of that name) with `grants`. On an upgrade without
    /// grants given, the grants still requested are kept.
    pub fn install(
        &self,
        bytes: &[u8],
        grants: Option<Vec<Grant>>,
        dry_run: bool,
        actor: &str,
    ) -> Result<InstallReport, PluginError> {
        if bytes.len() > MAX_COMPONENT_BYTES {
            return Err(PluginError::Invalid(format!(
                "the component has {} bytes; the limit is {MAX_COMPONENT_BYTES}",
                bytes.len()
            )));
        }
        let hash = hex::encode(Sha256::digest(bytes));
        let (component, _) = {
            // Compile without caching until the manifest was accepted.
            let c = self.rt.compile(bytes).map_err(|e| {
                PluginError::Invalid(format!(
                    "this is not a valid WebAssembly component ({}); build plugins with plugins/build, which turns the compiled module into a component",
                    e.root_cause()
                ))
            })?;
            (c, false)
        };
        let pre = self.rt.link(&component).map_err(|e| link_error(&e))?;
        let probe = Arc::new(PluginRecord {
            name: "(installing)".into(),
            version: String::new(),
            contract: String::new(),
            description: String::new(),
            hash: hash.clone(),
            size: bytes.len() as u64,
            hooks: Vec::new(),
            requested: Vec::new(),
            granted: Vec::new(),
            workflows: Vec::new(),
            exports: Vec::new(),
            enabled: true,
            disabled_reason: None,
            limits: BTreeMap::new(),
            config: BTreeMap::new(),
            installed_at: Utc::now(),
            updated_at: Utc::now(),
        });
        let manifest = self
            .call_raw(
                &probe,
                &pre,
                HookKind::Describe,
                |p, s| p.call_describe(s),
                manifest_size,
            )
            .map_err(|e| PluginError::Invalid(format!("its describe hook {e}")))?;
        let mut rec = record_from_manifest(&manifest, &hash, bytes.len() as u64)?;
        let previous = self.record(&rec.name).ok();
        let requested: Vec<String> = rec.requested.iter().map(Grant::label).collect();
        rec.granted = match grants {
            Some(gs) => {
                for g in &gs {
                    if !rec.requested.contains(g) {
                        return Err(PluginError::Invalid(format!(
                            "plugin {} did not ask for {}; it asks for: {}",
                            rec.name,
                            g.label(),
                            if requested.is_empty() {
                                "nothing".to_string()
                            } else {
                                requested.join(", ")
                            }
                        )));
                    }
                }
                let mut gs = gs;
                gs.sort();
                gs.dedup();
                gs
            }
            None => previous
                .as_ref()
                .map(|p| {
                    p.granted
                        .iter()
                        .filter(|g| rec.requested.contains(g))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default(),
        };
        let labels =
            |r: &PluginRecord| -> Vec<String> { r.requested.iter().map(Grant::label).collect() };
        let (upgraded_from, requests_added, requests_removed) = match &previous {
            Some(p) => {
                let old = labels(p);
                let new = labels(&rec);
                rec.installed_at = p.installed_at;
                rec.limits = p.limits.clone();
                rec.config = p.config.clone();
                (
                    Some(p.version.clone()),
                    new.iter().filter(|g| !old.contains(g)).cloned().collect(),
                    old.iter().filter(|g| !new.contains(g)).cloned().collect(),
                )
            }
            None => (None, Vec::new(), Vec::new()),
        };
        let report = InstallReport {
            plugin: rec.clone(),
            upgraded_from,
            requests_added,
            requests_removed,
            dry_run,
        };
        if dry_run {
            return Ok(report);
        }
        let mut b = WriteBatch::new();
        b.put(Tree::Plugins, key(WASM_PREFIX, &hash), bytes.to_vec());
        b.put(
            Tree::Plugins,
            key(RECORD_PREFIX, &rec.name),
            serde_json::to_vec(&rec).unwrap_or_default(),
        );
        if let Ok(compiled) = component.serialize() {
            b.put(
                Tree::Plugins,
                key(COMPILED_PREFIX, &hash),
                seal_compiled(&self.keys, &hash, compiled),
            );
        }
        let mut a = AuditRecord::draft(
            actor,
            if previous.is_some() {
                "plugin.upgrade"
            } else {
                "plugin.install"
            },
        );
        a.id = Some(rec.name.clone());
        a.detail = Some(format!(
            "version {}, hash {}, grants: {}",
            rec.version,
            &hash[..12],
            rec.granted
                .iter()
                .map(Grant::label)
                .collect::<Vec<_>>()
                .join(",")
        ));
        self.commit_audited(b, a)?;
        if let Some(p) = &previous
            && p.hash != hash
        {
            self.drop_component_if_unused(&p.hash)?;
        }
        self.loaded
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                rec.name.clone(),
                Arc::new(Loaded {
                    record: Arc::new(rec.clone()),
                    pre,
                }),
            );
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&rec.name);
        Ok(report)
    }

    fn drop_component_if_unused(&self, hash: &str) -> Result<(), PluginError> {
        if self.records()?.iter().any(|r| r.hash == hash) {
            return Ok(());
        }
        let mut b = WriteBatch::new();
        b.remove(Tree::Plugins, key(WASM_PREFIX, hash));
        b.remove(Tree::Plugins, key(COMPILED_PREFIX, hash));
        self.store.commit(b)?;
        Ok(())
    }

    /// Enables or disables a plugin.
    pub fn set_enabled(
        &self,
        name: &str,
        enabled: bool,
        reason: Option<String>,
        actor: &str,
    ) -> Result<PluginRecord, PluginError> {
        let mut rec = self.record(name)?;
        rec.enabled = enabled;
        rec.disabled_reason = if enabled { None } else { reason };
        rec.updated_at = Utc::now();
        let mut a = AuditRecord::draft(
            actor,
            if enabled {
                "plugin.enable"
            } else {
                "plugin.disable"
            },
        );
        a.id = Some(name.to_string());
        a.detail = rec.disabled_reason.clone();
        self.put_record(&rec, a)?;
        if enabled {
            self.faults
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(name);
        }
        self.replace_record(&rec);
        Ok(rec)
    }

    /// Sets the admin's limit overrides and settings of a plugin.
    pub fn configure(
        &self,
        name: &str,
        limits: Option<BTreeMap<HookKind, LimitOverride>>,
        config: Option<BTreeMap<String, String>>,
        actor: &str,
    ) -> Result<PluginRecord, PluginError> {
        let mut rec = self.record(name)?;
        if let Some(l) = limits {
            rec.limits = l;
        }
        let config_changed = config.is_some();
        if let Some(c) = config {
            rec.config = c;
        }
        rec.updated_at = Utc::now();
        if config_changed {
            // A plugin may describe itself after its settings (e.g. which types it governs).
            let loaded = self.loaded(name).ok();
            if let Some(l) = loaded {
                let probe = Arc::new(rec.clone());
                let m = self
                    .call_raw(
                        &probe,
                        &l.pre,
                        HookKind::Describe,
                        |p, s| p.call_describe(s),
                        manifest_size,
                    )
                    .map_err(|e| {
                        PluginError::Invalid(format!("with these settings, its describe hook {e}"))
                    })?;
                let fresh = record_from_manifest(&m, &rec.hash, rec.size)?;
                rec.hooks = fresh.hooks;
                rec.workflows = fresh.workflows;
                rec.exports = fresh.exports;
                rec.granted.retain(|g| fresh.requested.contains(g));
                rec.requested = fresh.requested;
            }
        }
        let mut a = AuditRecord::draft(actor, "plugin.configure");
        a.id = Some(name.to_string());
        self.put_record(&rec, a)?;
        self.replace_record(&rec);
        Ok(rec)
    }

    fn replace_record(&self, rec: &PluginRecord) {
        let mut loaded = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = loaded.get(&rec.name).cloned() {
            loaded.insert(
                rec.name.clone(),
                Arc::new(Loaded {
                    record: Arc::new(rec.clone()),
                    pre: l.pre.clone(),
                }),
            );
        }
    }

    /// Removes a plugin and its component.
    pub fn remove(&self, name: &str, actor: &str) -> Result<PluginRecord, PluginError> {
        let rec = self.record(name)?;
        let mut b = WriteBatch::new();
        b.remove(Tree::Plugins, key(RECORD_PREFIX, name));
        let mut a = AuditRecord::draft(actor, "plugin.remove");
        a.id = Some(name.to_string());
        self.commit_audited(b, a)?;
        self.drop_component_if_unused(&rec.hash)?;
        self.loaded
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        Ok(rec)
    }

    /// Enabled plugins with `hook`, in name order.
    fn with_hook(&self, hook: HookKind) -> Vec<Arc<Loaded>> {
        self.loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|l| l.record.enabled && l.record.has_hook(hook))
            .cloned()
            .collect()
    }

    fn loaded(&self, name: &str) -> Result<Arc<Loaded>, PluginError> {
        let l = self
            .loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned();
        match l {
            Some(l) if l.record.enabled => Ok(l),
            Some(l) => Err(PluginError::Disabled {
                plugin: name.to_string(),
                reason: l.record.disabled_reason.clone(),
            }),
            None => match self.record(name) {
                Ok(r) => Err(PluginError::Disabled {
                    plugin: name.to_string(),
                    reason: r.disabled_reason,
                }),
                Err(e) => Err(e),
            },
        }
    }

    /// One call: a fresh instance, the hook's limits, the output checked against its cap.
    fn call_raw<R>(
        &self,
        rec: &Arc<PluginRecord>,
        pre: &PluginPre<HostState>,
        hook: HookKind,
        f: impl FnOnce(&runtime::Plugin, &mut wasmtime::Store<HostState>) -> wasmtime::Result<R>,
        size: impl FnOnce(&R) -> usize,
    ) -> Result<R, PluginError> {
        let fault_of = |detail: String, limit: bool| PluginError::Fault {
            plugin: rec.name.clone(),
            hook: hook.name(),
            detail,
            limit,
        };
        let fault = |detail: String| fault_of(detail, false);
        let (mut store, limits) =
            runtime::new_store(&self.rt, rec.clone(), self.content.clone(), hook)
                .map_err(|e| fault(format!("could not start: {e}")))?;
        let instance = match pre.instantiate(&mut store) {
            Ok(i) => i,
            Err(e) => {
                // A full pool is Wasmtime's typed error, not a fault of the plugin.
                if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                    .is_some()
                {
                    return Err(PluginError::Busy);
                }
                return Err(fault(runtime::describe_failure(&e, store.data(), &limits)));
            }
        };
        // Wasmtime charges "hostcall fuel" for every string and list byte it lifts out of the
        // guest, before copying: with the output limit as that fuel, an oversized result is
        // refused without being copied (security review #17; it used to be copied whole, 22 MB
        // against 1 MiB, and measured afterwards).
        store.set_hostcall_fuel(usize::try_from(limits.output_bytes).unwrap_or(usize::MAX));
        match f(&instance, &mut store) {
            Ok(out) => {
                let n = size(&out);
                if n as u64 > limits.output_bytes {
                    return Err(fault_of(
                        format!(
                            "returned {n} bytes, more than its output limit of {} bytes",
                            limits.output_bytes
                        ),
                        true,
                    ));
                }
                Ok(out)
            }
            Err(e) if runtime::over_hostcall_fuel(&e) => Err(fault_of(
                format!(
                    "returned more than its output limit of {} bytes (or passed that much to a host call); it was refused before it was copied",
                    limits.output_bytes
                ),
                true,
            )),
            Err(e) => Err(fault_of(
                runtime::describe_failure(&e, store.data(), &limits),
                runtime::hit_limit(&e, store.data()),
            )),
        }
    }

    /// A call of an installed plugin; a fault is counted and may disable the plugin.
    fn call<R>(
        &self,
        l: &Loaded,
        hook: HookKind,
        f: impl FnOnce(&runtime::Plugin, &mut wasmtime::Store<HostState>) -> wasmtime::Result<R>,
        size: impl FnOnce(&R) -> usize,
    ) -> Result<R, PluginError> {
        let r = self.call_raw(&l.record, &l.pre, hook, f, size);
        // Exports are started by a caller and sized by the data (a year of stories): an export
        // that runs into a resource limit fails, but does not count toward disabling the
        // plugin, or anyone could switch it off by asking for a big export. Its traps (its own
        // defects) count. Validators and guards get bounded input (entries up to the body
        // limit, comments and history capped), so all their faults count.
        if let Err(PluginError::Fault { detail, limit, .. }) = &r
            && !(hook == HookKind::Export && *limit)
        {
            self.note_fault(&l.record.name, hook, detail);
        }
        r
    }

    fn note_fault(&self, name: &str, hook: HookKind, detail: &str) {
        tracing::warn!(plugin = name, hook = hook.name(), "plugin fault: {detail}");
        let n = {
            let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
            let q = faults.entry(name.to_string()).or_default();
            q.push_back(Instant::now());
            while q.front().is_some_and(|t| t.elapsed() > FAULT_WINDOW) {
                q.pop_front();
            }
            q.len()
        };
        if n >= FAULT_LIMIT {
            let reason = format!(
                "disabled automatically after {n} faults within {} s; the last, in {}: {detail}",
                FAULT_WINDOW.as_secs(),
                hook.name()
            );
            tracing::error!(plugin = name, "{reason}");
            if let Err(e) = self.set_enabled(name, false, Some(reason), "server") {
                tracing::error!(plugin = name, "could not disable the plugin: {e}");
            }
        }
    }

    /// Runs the `export` hook of a plugin.
    pub fn export(
        &self,
        name: &str,
        export: &str,
        params: Vec<(String, String)>,
    ) -> Result<Vec<Artifact>, PluginError> {
        let l = self.loaded(name)?;
        if !l.record.exports.iter().any(|e| e.name == export) {
            return Err(PluginError::Invalid(format!(
                "plugin {name} has no export {export:?}; it offers: {}",
                l.record
                    .exports
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let result = self.call(
            &l,
            HookKind::Export,
            |p, s| p.call_export(s, export, &params),
            |r| match r {
                Ok(arts) => arts.iter().map(|a| a.bytes.len() + a.name.len() + 64).sum(),
                Err(m) => m.len(),
            },
        )?;
        match result {
            Ok(arts) => Ok(arts
                .into_iter()
                .map(|a| Artifact {
                    name: a.name,
                    media_type: a.media_type,
                    bytes: a.bytes,
                })
                .collect()),
            Err(msg) => Err(PluginError::Invalid(format!(
                "plugin {name} could not export {export}: {msg}"
            ))),
        }
    }

    /// An entry as `l` may see it (personal-data fields only with a personal-data grant).
    fn entry_for(&self, l: &Loaded, rec: &EntryRecord) -> Result<wit::Entry, PluginError> {
        let content = self
            .content
            .upgrade()
            .ok_or_else(|| PluginError::Invalid("the server is shutting down".into()))?;
        let personal = l.record.grant_for(&rec.ty).is_some_and(|g| g.personal_data);
        Ok(runtime::entry_for_plugin(&content, rec, personal))
    }

    /// Calls `validate` of one plugin directly (benchmarks, tests).
    pub fn validate_with(
        &self,
        name: &str,
        rec: &EntryRecord,
    ) -> Result<Vec<FieldError>, PluginError> {
        let l = self.loaded(name)?;
        self.validate_one(&l, rec)
    }

    fn validate_one(&self, l: &Loaded, rec: &EntryRecord) -> Result<Vec<FieldError>, PluginError> {
        let entry = self.entry_for(l, rec)?;
        let issues = self.call(
            l,
            HookKind::Validate,
            |p, s| p.call_validate(s, &entry),
            |v: &Vec<wit::Issue>| {
                v.iter()
                    .map(|i| i.pointer.len() + i.message.len() + 16)
                    .sum()
            },
        )?;
        Ok(issues
            .into_iter()
            .map(|i| {
                FieldError::new(
                    i.pointer,
                    format!("{} (plugin {})", i.message, l.record.name),
                )
            })
            .collect())
    }

    /// Calls `on-transition` of one plugin directly (benchmarks, tests): the transition of
    /// `rec` to `to` in the plugin's workflow (or a plain one), with an empty history.
    pub fn on_transition_with(
        &self,
        name: &str,
        rec: &EntryRecord,
        to: &str,
        actor: &str,
    ) -> Result<Option<String>, PluginError> {
        let l = self.loaded(name)?;
        let t = l
            .record
            .workflows
            .iter()
            .filter(|w| w.content_type == rec.ty)
            .flat_map(|w| w.transitions.iter())
            .find(|t| t.to_state == to)
            .cloned()
            .unwrap_or_else(|| TransitionDef {
                name: to.to_string(),
                from_states: vec![rec.state.clone()],
                to_state: to.to_string(),
                roles: Vec::new(),
                comment_required: false,
            });
        self.guard_one(&l, rec, &t, Some(actor), &TransitionContext::default(), &[])
    }

    fn guard_one(
        &self,
        l: &Loaded,
        rec: &EntryRecord,
        t: &TransitionDef,
        actor: Option<&str>,
        ctx: &TransitionContext,
        history: &[crate::workflow::HistoryItem],
    ) -> Result<Option<String>, PluginError> {
        let entry = self.entry_for(l, rec)?;
        let transition = wit::Transition {
            name: t.name.clone(),
            from_state: rec.state.clone(),
            to_state: t.to_state.clone(),
            actor: actor.unwrap_or_default().to_string(),
            actor_role: ctx.role.clone().unwrap_or_default(),
            comment: ctx.comment.clone(),
        };
        let history: Vec<wit::HistoryItem> = history
            .iter()
            .map(|h| wit::HistoryItem {
                kind: match h.kind {
                    crate::workflow::HistoryKind::Create => wit::HistoryKind::Create,
                    crate::workflow::HistoryKind::Edit => wit::HistoryKind::Edit,
                    crate::workflow::HistoryKind::Transition => wit::HistoryKind::Transition,
                    crate::workflow::HistoryKind::Schedule => wit::HistoryKind::Schedule,
                    crate::workflow::HistoryKind::ScheduleFailed => {
                        wit::HistoryKind::ScheduleFailed
                    }
                },
                transition: h.transition.clone(),
                from_state: h.from_state.clone(),
                to_state: h.to_state.clone(),
                actor: h.actor.clone(),
                at: h.at.to_rfc3339(),
                comment: h.comment.clone(),
                version: h.version,
            })
            .collect();
        let decision = self.call(
            l,
            HookKind::OnTransition,
            |p, s| p.call_on_transition(s, &entry, &transition, &history),
            |d| match d {
                wit::Decision::Allow => 0,
                wit::Decision::Deny(r) => r.len(),
            },
        )?;
        Ok(match decision {
            wit::Decision::Allow => None,
            wit::Decision::Deny(reason) => Some(reason),
        })
    }
}

/// A file an export produced.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    pub name: String,
    pub media_type: String,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// Whether a plugin's hooks see entries of `ct`: it needs a grant for the type, and for a type
/// that is personal data as a whole, a personal-data grant.
fn sees(rec: &PluginRecord, ct: &ContentType) -> bool {
    match rec.grant_for(&ct.name) {
        Some(g) => g.personal_data || ct.is_public(),
        None => false,
    }
}

impl ContentHooks for PluginHost {
    fn validates(&self, ct: &ContentType) -> bool {
        self.with_hook(HookKind::Validate)
            .iter()
            .any(|l| sees(&l.record, ct))
    }

    fn validate(
        &self,
        ct: &ContentType,
        rec: &EntryRecord,
    ) -> Result<Vec<FieldError>, HookFailure> {
        let mut all = Vec::new();
        for l in self.with_hook(HookKind::Validate) {
            if !sees(&l.record, ct) {
                continue;
            }
            all.extend(self.validate_one(&l, rec)?);
        }
        Ok(all)
    }

    fn lifecycle(&self, ct: &ContentType) -> Option<(String, WorkflowDef)> {
        let governs = |r: &PluginRecord| {
            (r.has_hook(HookKind::OnTransition) && sees(r, ct))
                .then(|| r.workflows.iter().find(|w| w.content_type == ct.name))
                .flatten()
                .map(|w| (r.name.clone(), w.clone()))
        };
        // Enabled plugins first; then disabled ones, which still govern (fail closed).
        let loaded: Vec<Arc<Loaded>> = self
            .loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        if let Some(found) = loaded
            .iter()
            .filter(|l| l.record.enabled)
            .find_map(|l| governs(&l.record))
        {
            return Some(found);
        }
        // Installed but disabled, or not loadable (those are only in the store).
        self.records().ok()?.iter().find_map(governs)
    }

    fn available(&self, plugin: &str) -> bool {
        self.loaded(plugin).is_ok()
    }

    fn on_transition(
        &self,
        plugin: &str,
        _ct: &ContentType,
        rec: &EntryRecord,
        t: &TransitionDef,
        actor: Option<&str>,
        ctx: &TransitionContext,
        history: &[crate::workflow::HistoryItem],
    ) -> Result<Option<String>, HookFailure> {
        let l = self.loaded(plugin)?;
        Ok(self.guard_one(&l, rec, t, actor, ctx, history)?)
    }
}

fn link_error(e: &wasmtime::Error) -> PluginError {
    PluginError::Invalid(format!(
        "the component does not fit this server's plugin contract verbund:plugin@{CONTRACT} (built against another contract version?): {}",
        format!("{e:#}").replace('\n', " ")
    ))
}

fn manifest_size(m: &wit::Manifest) -> usize {
    serde_json::to_vec(&manifest_json(m)).map_or(0, |v| v.len())
}

fn manifest_json(m: &wit::Manifest) -> serde_json::Value {
    serde_json::json!({
        "name": m.name,
        "version": m.version,
        "contract": m.contract,
        "description": m.description,
        "grants": m.grants.iter().map(|g| (g.content_type.clone(), g.personal_data)).collect::<Vec<_>>(),
        "workflows": m.workflows.len(),
        "exports": m.exports.iter().map(|e| (e.name.clone(), e.description.clone())).collect::<Vec<_>>(),
    })
}

/// Checks a manifest and turns it into a record (grants still empty).
fn record_from_manifest(
    m: &wit::Manifest,
    hash: &str,
    size: u64,
) -> Result<PluginRecord, PluginError> {
    let invalid = |s: String| PluginError::Invalid(s);
    if m.name.is_empty()
        || m.name.len() > 64
        || !m
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(invalid(format!(
            "the plugin's name {:?} must be 1 to 64 lower-case letters, digits and -",
            m.name
        )));
    }
    let major = |v: &str| v.split('.').next().and_then(|x| x.parse::<u64>().ok());
    if major(&m.contract) != major(CONTRACT) {
        return Err(invalid(format!(
            "plugin {} was built against contract {}, but this server speaks contract {CONTRACT}; rebuild it with the current SDK (verbund-plugin) and plugins/build",
            m.name, m.contract
        )));
    }
    let hooks = m
        .hooks
        .iter()
        .map(|h| match h {
            wit::Hook::Validate => HookKind::Validate,
            wit::Hook::OnTransition => HookKind::OnTransition,
            wit::Hook::Export => HookKind::Export,
        })
        .collect();
    let now = Utc::now();
    let rec = PluginRecord {
        name: m.name.clone(),
        version: m.version.clone(),
        contract: m.contract.clone(),
        description: m.description.clone(),
        hash: hash.to_string(),
        size,
        hooks,
        requested: m
            .grants
            .iter()
            .map(|g| Grant {
                content_type: g.content_type.clone(),
                personal_data: g.personal_data,
            })
            .collect(),
        granted: Vec::new(),
        workflows: m
            .workflows
            .iter()
            .map(|w| WorkflowDef {
                content_type: w.content_type.clone(),
                initial: w.initial.clone(),
                states: w
                    .states
                    .iter()
                    .map(|s| StateDef {
                        name: s.name.clone(),
                        label: s.label.clone(),
                        public: s.public,
                    })
                    .collect(),
                transitions: w
                    .transitions
                    .iter()
                    .map(|t| TransitionDef {
                        name: t.name.clone(),
                        from_states: t.from_states.clone(),
                        to_state: t.to_state.clone(),
                        roles: t.roles.clone(),
                        comment_required: t.comment_required,
                    })
                    .collect(),
            })
            .collect(),
        exports: m
            .exports
            .iter()
            .map(|e| ExportDef {
                name: e.name.clone(),
                description: e.description.clone(),
            })
            .collect(),
        enabled: true,
        disabled_reason: None,
        limits: BTreeMap::new(),
        config: BTreeMap::new(),
        installed_at: now,
        updated_at: now,
    };
    for w in &rec.workflows {
        w.check()
            .map_err(|e| invalid(format!("plugin {}: {e}", rec.name)))?;
    }
    Ok(rec)
}

/// The tag of a sealed compiled artifact: `SEAL_MAGIC`, the key id's length (one byte), the
/// key id, the 32-byte MAC, then Wasmtime's serialization.
const SEAL_MAGIC: &[u8] = b"VBC1";

/// What the MAC of a compiled artifact covers: the component hash it was compiled from, the
/// key id, and the SHA-256 of the code. Binding the hash means a valid artifact of one
/// component cannot be planted under another component's key.
fn compiled_mac_input(hash: &str, key_id: &str, code: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(hash.len() + key_id.len() + 34);
    m.extend_from_slice(hash.as_bytes());
    m.push(0);
    m.extend_from_slice(key_id.as_bytes());
    m.push(0);
    m.extend_from_slice(&Sha256::digest(code));
    m
}

/// Wraps Wasmtime's serialization of the component `hash` with this installation's MAC.
fn seal_compiled(keys: &crate::keys::Keys, hash: &str, code: Vec<u8>) -> Vec<u8> {
    let id = keys.current_id().to_string();
    let (id, tag) = keys.sign(
        crate::keys::Purpose::CompiledPlugin,
        &compiled_mac_input(hash, &id, &code),
    );
    let mut out = Vec::with_capacity(code.len() + id.len() + 40);
    out.extend_from_slice(SEAL_MAGIC);
    out.push(id.len().min(255) as u8);
    out.extend_from_slice(&id.as_bytes()[..id.len().min(255)]);
    out.extend_from_slice(&tag);
    out.extend_from_slice(&code);
    out
}

/// The code of a sealed artifact of component `hash`, only when its MAC verifies with this
/// installation's keys; `None` for anything else (old unsealed entries, forged or copied ones,
/// another installation's, another component's).
fn open_compiled<'a>(keys: &crate::keys::Keys, hash: &str, stored: &'a [u8]) -> Option<&'a [u8]> {
    let rest = stored.strip_prefix(SEAL_MAGIC)?;
    let (&n, rest) = rest.split_first()?;
    let n = n as usize;
    if rest.len() < n + 32 {
        return None;
    }
    let id = std::str::from_utf8(&rest[..n]).ok()?;
    let tag = &rest[n..n + 32];
    let code = &rest[n + 32..];
    keys.verify(
        id,
        crate::keys::Purpose::CompiledPlugin,
        &compiled_mac_input(hash, id, code),
        tag,
    )
    .then_some(code)
}

/// Loads compiled code whose MAC [`open_compiled`] verified.
///
/// `Component::deserialize` trusts its input to be Wasmtime's own output: it maps the code
/// and runs it, so bytes from anyone else are arbitrary native code in this process. The store
/// is NOT trusted for this: its contents travel in backups and can be edited by anyone who can
/// write the data dir's database files. What is trusted is the key file (`verbund.key`, 0600,
/// outside the store, never in a backup): only code sealed by [`seal_compiled`] under one of
/// its keys, for exactly this component hash, reaches this function. Wasmtime also checks the
/// version and configuration of the artifact and refuses an incompatible one, in which case
/// the caller compiles the component again.
#[allow(unsafe_code)]
fn deserialize_authenticated(rt: &Runtime, code: &[u8]) -> Option<Component> {
    // SAFETY: `code` carries a MAC of this installation's secret key over the component hash
    // and the code's digest, and only `seal_compiled` computes that MAC, over the output of
    // `Component::serialize` on this engine. So these are bytes this server's Wasmtime wrote.
    unsafe { Component::deserialize(&rt.engine, code) }.ok()
}
