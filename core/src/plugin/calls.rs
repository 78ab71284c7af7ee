//! Calls into plugins: a fresh instance per call under the hook's limits, faults counted
//! (enough of them disable the plugin), and the content hooks the content service runs.

use super::*;

impl PluginHost {
    /// Enabled plugins with `hook`, in name order.
    pub(super) fn with_hook(&self, hook: HookKind) -> Vec<Arc<Loaded>> {
        self.loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|l| l.record.enabled && l.record.has_hook(hook))
            .cloned()
            .collect()
    }

    pub(super) fn loaded(&self, name: &str) -> Result<Arc<Loaded>, PluginError> {
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
    pub(super) fn call_raw<R>(
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
        let r = match f(&instance, &mut store) {
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
            Err(e) => {
                let mut detail = runtime::describe_failure(&e, store.data(), &limits);
                let st = store.data();
                if let Some(w) = &st.wasi
                    && let tail = wasi::last_lines(&w.stderr.text(), 6)
                    && !tail.is_empty()
                {
                    detail.push_str(&format!("; its last output on stderr:\n{tail}"));
                } else if let Some(last) = &st.last_error {
                    detail.push_str(&format!("; it logged before: {last}"));
                }
                Err(fault_of(detail, runtime::hit_limit(&e, store.data())))
            }
        };
        // What a plugin printed (a Python plugin's print() and tracebacks) goes to the log.
        if let Some(w) = &store.data().wasi {
            let plugin = rec.name.as_str();
            for line in w.stdout.text().lines().filter(|l| !l.trim().is_empty()) {
                tracing::info!(plugin, hook = hook.name(), "stdout: {line}");
            }
            for line in w.stderr.text().lines().filter(|l| !l.trim().is_empty()) {
                tracing::warn!(plugin, hook = hook.name(), "stderr: {line}");
            }
        }
        r
    }

    /// A call of an installed plugin; a fault is counted and may disable the plugin.
    pub(super) fn call<R>(
        &self,
        l: &Loaded,
        hook: HookKind,
        f: impl FnOnce(&runtime::Plugin, &mut wasmtime::Store<HostState>) -> wasmtime::Result<R>,
        size: impl FnOnce(&R) -> usize,
    ) -> Result<R, PluginError> {
        let started = Instant::now();
        let r = self.call_raw(&l.record, &l.pre, hook, f, size);
        self.note_call(
            &l.record.name,
            hook,
            started.elapsed(),
            matches!(r, Err(PluginError::Fault { .. })),
        );
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

    pub(super) fn note_fault(&self, name: &str, hook: HookKind, detail: &str) {
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
    pub(super) fn entry_for(
        &self,
        l: &Loaded,
        rec: &EntryRecord,
    ) -> Result<wit::Entry, PluginError> {
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

    pub(super) fn validate_one(
        &self,
        l: &Loaded,
        rec: &EntryRecord,
    ) -> Result<Vec<FieldError>, PluginError> {
        self.validate_one_as(l, rec, true)
    }

    /// `validate` of one plugin; `counted`: a fault counts toward disabling the plugin (not
    /// for an entry the schema refused, which the plugin may not expect).
    fn validate_one_as(
        &self,
        l: &Loaded,
        rec: &EntryRecord,
        counted: bool,
    ) -> Result<Vec<FieldError>, PluginError> {
        let entry = self.entry_for(l, rec)?;
        let size = |v: &Vec<wit::Issue>| {
            v.iter()
                .map(|i| i.pointer.len() + i.message.len() + 16)
                .sum()
        };
        let issues = if counted {
            self.call(
                l,
                HookKind::Validate,
                |p, s| p.call_validate(s, &entry),
                size,
            )?
        } else {
            self.call_raw(
                &l.record,
                &l.pre,
                HookKind::Validate,
                |p, s| p.call_validate(s, &entry),
                size,
            )?
        };
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

    pub(super) fn guard_one(
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

    fn required_off(&self, ct: &ContentType) -> Option<(String, Option<String>)> {
        let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        loaded
            .values()
            .map(|l| &l.record)
            .find(|r| {
                r.required
                    && !r.enabled
                    && (r.has_hook(HookKind::Validate) || r.has_hook(HookKind::OnTransition))
                    && sees(r, ct)
            })
            .map(|r| (r.name.clone(), r.disabled_reason.clone()))
    }

    fn validators_off(&self, ct: &ContentType) -> Vec<String> {
        let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        loaded
            .values()
            .map(|l| &l.record)
            .filter(|r| !r.required && !r.enabled && r.has_hook(HookKind::Validate) && sees(r, ct))
            .map(|r| r.name.clone())
            .collect()
    }

    fn validate_advisory(&self, ct: &ContentType, rec: &EntryRecord) -> Vec<FieldError> {
        let mut all = Vec::new();
        for l in self.with_hook(HookKind::Validate) {
            if !sees(&l.record, ct) {
                continue;
            }
            // A plugin that cannot cope with the invalid entry says nothing about it now;
            // it will be asked again once the schema accepts the entry.
            if let Ok(issues) = self.validate_one_as(&l, rec, false) {
                all.extend(issues);
            }
        }
        all
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
