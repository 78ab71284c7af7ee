//! The sandbox: Wasmtime with the component model, one fresh instance per call, and every call
//! under limits (fuel, an epoch deadline for wall time, a memory cap, a cap on bytes the host
//! hands the plugin, a cap on the size of its result).
//!
//! Host functions are the plugin's only authority: `get` and `query` read the types the admin
//! granted (personal-data fields only with a personal-data grant), `config` reads the plugin's
//! own settings, `log` writes to the server log, `now` tells the time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    Trap,
};

use super::record::{CallLimits, HookKind, MAX_MEMORY_MIB, PluginRecord};
use crate::content::filter::{self, Filter, QueryError, View};
use crate::content::{ContentService, EntryRecord};

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../plugins/wit",
});

pub use verbund::plugin::types as wit;

/// How often the epoch advances; wall-time limits are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How many calls may run at once (the size of the instance pool).
const POOL_INSTANCES: u32 = 64;

/// The engine shared by all plugins, with its epoch ticker.
pub struct Runtime {
    pub engine: Engine,
    pub linker: Linker<HostState>,
    stop: Arc<AtomicBool>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

impl Runtime {
    pub fn new() -> wasmtime::Result<Self> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_INSTANCES);
        pool.total_core_instances(POOL_INSTANCES * 2);
        pool.total_memories(POOL_INSTANCES * 2);
        pool.total_tables(POOL_INSTANCES * 2);
        pool.max_memory_size((MAX_MEMORY_MIB as usize) << 20);
        let mut c = Config::new();
        c.consume_fuel(true);
        c.epoch_interruption(true);
        c.max_wasm_stack(1 << 20);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&c)?;
        let mut linker = Linker::new(&engine);
        Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        super::wasi::add_to_linker(&mut linker)?;
        let stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("verbund-plugin-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })?;
        }
        Ok(Runtime {
            engine,
            linker,
            stop,
        })
    }

    /// Compiles a component (tens of milliseconds; the caller caches the result).
    pub fn compile(&self, bytes: &[u8]) -> wasmtime::Result<Component> {
        Component::new(&self.engine, bytes)
    }

    /// Links a component against the contract: fails when its imports or exports do not
    /// match the world this server implements.
    pub fn link(&self, component: &Component) -> wasmtime::Result<PluginPre<HostState>> {
        PluginPre::new(self.linker.instantiate_pre(component)?)
    }
}

/// Records whether a memory growth was refused, so that the trap that follows can be named.
pub struct Limiter {
    max_bytes: usize,
    pub refused: Option<usize>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.refused = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// What one call's instance may reach.
pub struct HostState {
    pub plugin: Arc<PluginRecord>,
    pub content: Weak<ContentService>,
    pub limiter: Limiter,
    /// Bytes the host may still hand the plugin in this call, of `host_bytes_limit`.
    pub host_bytes_left: u64,
    pub host_bytes_limit: u64,
    /// Set when a host call was refused for exceeding `host_bytes`.
    pub host_bytes_exceeded: bool,
    /// Fuel the host may still spend on this call's behalf: work done in host calls (the
    /// records a `query` reads) is charged here, at [`HOST_FUEL_PER_RECORD`] plus
    /// [`HOST_FUEL_PER_BYTE`] per record read. It is a meter of its own, as large as the
    /// call's fuel limit (Wasmtime's meter is not reachable from a host function), so a call
    /// spends at most twice its limit (security review #17: host queries escaped fuel and
    /// time accounting).
    pub host_fuel_left: u64,
    /// When the call's wall-time limit is over; host calls stop their work at it.
    pub deadline: std::time::Instant,
    wall_ms: u64,
    /// Set when a host call stopped because the call ran out of fuel or time.
    pub host_limit: Option<HostLimit>,
    /// When the call began: the host's `now`, and where WASI's wall clock stands still.
    pub started: std::time::SystemTime,
    /// The last message the plugin logged at level `error` in this call (the SDKs log a
    /// panic's message and location there before the instance traps).
    pub last_error: Option<String>,
    /// The empty WASI context, made on first use (only components that import WASI, such as
    /// Python plugins, touch it).
    pub wasi: Option<super::wasi::Wasi>,
}

impl wasmtime_wasi::WasiView for HostState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        let started = self.started;
        let w = self
            .wasi
            .get_or_insert_with(|| super::wasi::Wasi::empty(started));
        wasmtime_wasi::WasiCtxView {
            ctx: &mut w.ctx,
            table: &mut w.table,
        }
    }
}

/// Which limit a host call ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostLimit {
    Fuel,
    Time,
}

/// Fuel charged for each record a host `query` reads: about what parsing and checking it in
/// the plugin would cost.
pub const HOST_FUEL_PER_RECORD: u64 = 20_000;
/// Fuel charged per byte of each record a host `query` reads.
pub const HOST_FUEL_PER_BYTE: u64 = 20;

impl HostState {
    pub fn new(plugin: Arc<PluginRecord>, content: Weak<ContentService>, l: &CallLimits) -> Self {
        HostState {
            plugin,
            content,
            limiter: Limiter {
                max_bytes: (l.memory_mib as usize) << 20,
                refused: None,
            },
            host_bytes_left: l.host_bytes,
            host_bytes_limit: l.host_bytes,
            host_bytes_exceeded: false,
            host_fuel_left: l.fuel,
            deadline: std::time::Instant::now() + Duration::from_millis(l.wall_ms),
            wall_ms: l.wall_ms,
            host_limit: None,
            started: std::time::SystemTime::now(),
            last_error: None,
            wasi: None,
        }
    }

    /// Charges the host work of reading one record of `bytes`; `false` once the call's fuel
    /// or time is spent (the reason is kept in `host_limit`).
    fn spend(&mut self, bytes: usize) -> bool {
        let cost =
            HOST_FUEL_PER_RECORD.saturating_add(HOST_FUEL_PER_BYTE.saturating_mul(bytes as u64));
        if cost > self.host_fuel_left {
            self.host_limit = Some(HostLimit::Fuel);
            return false;
        }
        self.host_fuel_left -= cost;
        if std::time::Instant::now() >= self.deadline {
            self.host_limit = Some(HostLimit::Time);
            return false;
        }
        true
    }

    fn host_limit_error(&self) -> wit::HostError {
        wit::HostError::Limit(match self.host_limit {
            Some(HostLimit::Time) => format!(
                "the query ran past this call's wall-time limit of {} ms; filter more narrowly or ask for fewer entries",
                self.wall_ms
            ),
            _ => "the query read more entries than this call's fuel allows; filter more narrowly or ask for fewer entries".to_string(),
        })
    }

    fn charge(&mut self, bytes: usize) -> Result<(), wit::HostError> {
        let bytes = bytes as u64;
        if bytes > self.host_bytes_left {
            self.host_bytes_exceeded = true;
            return Err(wit::HostError::Limit(format!(
                "this call may receive at most {} bytes from the host and the answer would exceed that; ask for fewer entries",
                self.host_bytes_limit
            )));
        }
        self.host_bytes_left -= bytes;
        Ok(())
    }

    fn content(&self) -> Result<Arc<ContentService>, wit::HostError> {
        self.content
            .upgrade()
            .ok_or_else(|| wit::HostError::Invalid("the server is shutting down".into()))
    }

    /// Whether the plugin may read `ty` with personal-data fields, or the error it gets.
    /// A type that is personal data as a whole (subscribers) needs a personal-data grant.
    /// One page of a host query: the current versions of `ty` that meet every filter (the
    /// language of `content::filter`), ordered by id, after `cursor`.
    fn page(
        &mut self,
        ty: &str,
        filters: &[wit::Filter],
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<wit::Page, wit::HostError> {
        let personal = self.granted(ty)?;
        let content = self.content()?;
        let ct = content
            .content_type(ty)
            .map_err(|e| wit::HostError::Invalid(e.to_string()))?
            .clone();
        let filters = filters
            .iter()
            .map(|f| Filter::new(&f.field, &f.op, &f.value))
            .collect::<Result<Vec<_>, _>>()
            .map_err(query_error)?;
        let conditions =
            filter::resolve(&ct, &filters, View::Current { personal }).map_err(query_error)?;
        let limit = (limit as usize).clamp(1, MAX_QUERY_LIMIT);
        let (recs, next) = content
            .list_current_until(ty, cursor, limit, |rec, bytes| {
                self.spend(bytes)
                    .then(|| conditions.iter().all(|c| c.holds(rec)))
            })
            .map_err(|e| wit::HostError::Invalid(e.to_string()))?;
        if self.host_limit.is_some() {
            return Err(self.host_limit_error());
        }
        let mut entries = Vec::with_capacity(recs.len());
        for rec in &recs {
            let e = entry_for_plugin(&content, rec, personal);
            self.charge(entry_size(&e))?;
            entries.push(e);
        }
        Ok(wit::Page {
            entries,
            next_cursor: next,
        })
    }

    fn granted(&self, ty: &str) -> Result<bool, wit::HostError> {
        let personal_type = self
            .content
            .upgrade()
            .and_then(|c| c.content_type(ty).ok().map(|ct| !ct.is_public()))
            .unwrap_or(false);
        match self.plugin.grant_for(ty) {
            Some(g) if g.personal_data => Ok(true),
            Some(_) if personal_type => Err(wit::HostError::NotGranted(format!(
                "{ty} entries are personal data as a whole; plugin {} needs the grant read:{ty}+personal to read them",
                self.plugin.name
            ))),
            Some(_) => Ok(false),
            None => Err(wit::HostError::NotGranted(format!(
                "plugin {} has no read grant for {ty:?}; an admin grants it with `verbund plugin install … --grant read:{ty}`",
                self.plugin.name
            ))),
        }
    }
}

/// An entry as a plugin sees it: personal-data fields removed unless `personal`.
pub fn entry_for_plugin(content: &ContentService, rec: &EntryRecord, personal: bool) -> wit::Entry {
    let mut data = rec.data.clone();
    if !personal && let Ok(ct) = content.content_type(&rec.ty) {
        data.retain(|k, _| ct.fields.get(k).is_none_or(|f| !f.pii));
    }
    if personal
        && rec.ty == crate::newsletter::SUBSCRIBER
        && let Ok(token) = crate::newsletter::unsubscribe_token(content, &rec.id)
    {
        data.insert("unsubscribe_token".into(), serde_json::Value::String(token));
    }
    wit::Entry {
        content_type: rec.ty.clone(),
        id: rec.id.clone(),
        locale: rec.locale.clone(),
        version: rec.version,
        state: rec.state.clone(),
        data: serde_json::Value::Object(data).to_string(),
        created_by: rec.created_by.clone().unwrap_or_default(),
        updated_by: rec.updated_by.clone().unwrap_or_default(),
        created_at: rec.created_at.to_rfc3339(),
        updated_at: rec.updated_at.to_rfc3339(),
        published_at: rec.published_at.map(|t| t.to_rfc3339()),
    }
}

/// An entry of the published view (its public JSON: metadata and public fields) as a plugin
/// sees it.
fn published_entry(ty: &str, doc: &[u8]) -> wit::Entry {
    let mut v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(doc).unwrap_or_default();
    let text = |v: &mut serde_json::Map<String, serde_json::Value>, k: &str| match v.remove(k) {
        Some(serde_json::Value::String(s)) => s,
        _ => String::new(),
    };
    let id = text(&mut v, "id");
    let locale = text(&mut v, "locale");
    let version = v.remove("version").and_then(|n| n.as_u64()).unwrap_or(0);
    let published_at = Some(text(&mut v, "published_at")).filter(|s| !s.is_empty());
    let updated_at = text(&mut v, "updated_at");
    let created_at = text(&mut v, "created_at");
    for k in crate::schema::RESERVED_FIELDS {
        v.remove(*k);
    }
    wit::Entry {
        content_type: ty.to_string(),
        id,
        locale,
        version,
        state: "published".into(),
        data: serde_json::Value::Object(v).to_string(),
        created_by: String::new(),
        updated_by: String::new(),
        created_at: if created_at.is_empty() {
            published_at.clone().unwrap_or_default()
        } else {
            created_at
        },
        updated_at,
        published_at,
    }
}

fn entry_size(e: &wit::Entry) -> usize {
    e.data.len() + e.id.len() + e.content_type.len() + e.state.len() + 128
}

impl verbund::plugin::types::Host for HostState {}

impl verbund::plugin::host::Host for HostState {
    fn log(&mut self, level: wit::LogLevel, message: String) {
        let message: String = message.chars().take(4096).collect();
        let plugin = self.plugin.name.as_str();
        match level {
            wit::LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            wit::LogLevel::Info => tracing::info!(plugin, "{message}"),
            wit::LogLevel::Warn => tracing::warn!(plugin, "{message}"),
            wit::LogLevel::Error => {
                tracing::error!(plugin, "{message}");
                self.last_error = Some(message);
            }
        }
    }

    fn get(
        &mut self,
        content_type: String,
        id: String,
    ) -> Result<Option<wit::Entry>, wit::HostError> {
        let personal = self.granted(&content_type)?;
        let content = self.content()?;
        if !self.spend(0) {
            return Err(self.host_limit_error());
        }
        match content.get_by_id_or_slug(&content_type, &id, "de") {
            Ok(rec) => {
                let e = entry_for_plugin(&content, &rec, personal);
                self.charge(entry_size(&e))?;
                Ok(Some(e))
            }
            Err(crate::content::ContentError::NotFound { .. }) => Ok(None),
            Err(e) => Err(wit::HostError::Invalid(e.to_string())),
        }
    }

    fn query(
        &mut self,
        content_type: String,
        filters: Vec<wit::Filter>,
        limit: u32,
    ) -> Result<Vec<wit::Entry>, wit::HostError> {
        Ok(self.page(&content_type, &filters, limit, None)?.entries)
    }

    fn query_page(
        &mut self,
        content_type: String,
        filters: Vec<wit::Filter>,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<wit::Page, wit::HostError> {
        self.page(&content_type, &filters, limit, cursor.as_deref())
    }

    fn schema(&mut self, content_type: String) -> Result<String, wit::HostError> {
        self.granted(&content_type)?;
        let content = self.content()?;
        content
            .content_type(&content_type)
            .map_err(|e| wit::HostError::Invalid(e.to_string()))?;
        let text = content.schemas().resolved_schema(&content_type).to_string();
        self.charge(text.len())?;
        Ok(text)
    }

    fn translations(
        &mut self,
        content_type: String,
        id: String,
    ) -> Result<Vec<wit::Entry>, wit::HostError> {
        let personal = self.granted(&content_type)?;
        let content = self.content()?;
        if !self.spend(0) {
            return Err(self.host_limit_error());
        }
        let rec = match content.get_by_id_or_slug(&content_type, &id, "de") {
            Ok(rec) => rec,
            Err(crate::content::ContentError::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(wit::HostError::Invalid(e.to_string())),
        };
        let group = content
            .translations(&content_type, &rec.id)
            .map_err(|e| wit::HostError::Invalid(e.to_string()))?;
        let mut out = Vec::with_capacity(group.len());
        for r in &group {
            let e = entry_for_plugin(&content, r, personal);
            self.charge(entry_size(&e))?;
            out.push(e);
        }
        Ok(out)
    }

    fn query_published(
        &mut self,
        content_type: String,
        locale: String,
        filters: Vec<wit::Filter>,
        sort: Vec<String>,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<wit::Page, wit::HostError> {
        self.granted(&content_type)?;
        let content = self.content()?;
        let filters = filters
            .iter()
            .map(|f| Filter::new(&f.field, &f.op, &f.value))
            .collect::<Result<Vec<_>, _>>()
            .map_err(query_error)?;
        let sort = sort
            .iter()
            .map(|s| match s.strip_prefix('-') {
                Some(f) => crate::content::SortKey {
                    field: f.to_string(),
                    descending: true,
                },
                None => crate::content::SortKey {
                    field: s.to_string(),
                    descending: false,
                },
            })
            .collect();
        let q = crate::content::DeliveryQuery {
            locale,
            filters,
            sort,
            limit: (limit as usize).clamp(1, MAX_QUERY_LIMIT),
            cursor,
        };
        let mut entries = Vec::new();
        let mut failed = None;
        let meta = content
            .query_published_with(&content_type, &q, &mut |_, doc| {
                if failed.is_some() {
                    return Ok(());
                }
                if !self.spend(doc.len()) {
                    failed = Some(self.host_limit_error());
                    return Ok(());
                }
                let e = published_entry(&content_type, doc);
                if let Err(e) = self.charge(entry_size(&e)) {
                    failed = Some(e);
                    return Ok(());
                }
                entries.push(e);
                Ok(())
            })
            .map_err(|e| match e {
                crate::content::ContentError::BadQuery(q) => query_error(q),
                other => wit::HostError::Invalid(other.to_string()),
            })?;
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(wit::Page {
            entries,
            next_cursor: meta.next_cursor,
        })
    }

    fn now(&mut self) -> String {
        chrono::Utc::now().to_rfc3339()
    }

    fn config(&mut self, key: String) -> Option<String> {
        let v = self.plugin.config.get(&key).cloned()?;
        self.charge(v.len()).ok()?;
        Some(v)
    }
}

/// At most this many entries per host query (page).
const MAX_QUERY_LIMIT: usize = 1000;

/// A query the filter language refused, as the plugin sees it.
fn query_error(e: QueryError) -> wit::HostError {
    match e {
        QueryError::PersonalData { field } => wit::HostError::NotGranted(format!(
            "{field} is personal data; filtering on it needs a personal-data grant"
        )),
        other => wit::HostError::Invalid(other.to_string()),
    }
}

/// A new store for one call of `hook`, with its limits set.
pub fn new_store(
    rt: &Runtime,
    plugin: Arc<PluginRecord>,
    content: Weak<ContentService>,
    hook: HookKind,
) -> wasmtime::Result<(Store<HostState>, CallLimits)> {
    let limits = plugin.limits_for(hook);
    let mut store = Store::new(&rt.engine, HostState::new(plugin, content, &limits));
    store.limiter(|s| &mut s.limiter);
    store.set_fuel(limits.fuel)?;
    // One tick more than the limit spans: the tick in progress when the call starts has
    // partly elapsed already, so without it a 10 ms limit could fire after 0 to 10 ms.
    let ticks = limits
        .wall_ms
        .div_ceil(EPOCH_TICK.as_millis() as u64)
        .max(1)
        + 1;
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_trap();
    Ok((store, limits))
}

/// Whether a call failed because the guest handed over more bytes than the store's hostcall
/// fuel (set to the output limit). Wasmtime's error type for it is private, so this matches
/// its message; the plugin tests pin it (an oversized artifact must get the output-limit
/// answer).
pub fn over_hostcall_fuel(err: &wasmtime::Error) -> bool {
    err.chain().any(|c| {
        c.to_string()
            .contains("fuel allocated for hostcalls has been exhausted")
    })
}

/// Whether a failed call ran into one of its resource limits (not a trap of its own).
pub fn hit_limit(err: &wasmtime::Error, state: &HostState) -> bool {
    state.limiter.refused.is_some()
        || state.host_bytes_exceeded
        || state.host_limit.is_some()
        || matches!(
            err.downcast_ref::<Trap>(),
            Some(Trap::OutOfFuel | Trap::Interrupt)
        )
}

/// Names the limit or fault behind a failed call.
pub fn describe_failure(err: &wasmtime::Error, state: &HostState, limits: &CallLimits) -> String {
    match state.host_limit {
        Some(HostLimit::Fuel) => {
            return format!(
                "ran out of fuel (limit {} units, host queries included; it read too many entries)",
                limits.fuel
            );
        }
        Some(HostLimit::Time) => {
            return format!(
                "exceeded its wall-time limit of {} ms in a host query",
                limits.wall_ms
            );
        }
        None => {}
    }
    if let Some(bytes) = state.limiter.refused {
        return format!(
            "exceeded its memory limit of {} MiB (it tried to grow to {} MiB)",
            limits.memory_mib,
            bytes >> 20
        );
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => format!(
            "ran out of fuel (limit {} units; it computed too long)",
            limits.fuel
        ),
        Some(Trap::Interrupt) => format!("exceeded its wall-time limit of {} ms", limits.wall_ms),
        Some(Trap::StackOverflow) => "overflowed its stack".into(),
        Some(Trap::UnreachableCodeReached) => {
            "trapped (it panicked or aborted: wasm `unreachable`)".into()
        }
        Some(t) => format!("trapped: {t}"),
        None => format!("failed: {}", err.root_cause()),
    }
}
