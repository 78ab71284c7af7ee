//! The registry: installing, upgrading, enabling, configuring and removing plugins, and their
//! records in the store (each change committed with its audit record).

use super::*;

impl PluginHost {
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
            required: false,
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
                rec.required = p.required;
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

    pub(super) fn drop_component_if_unused(&self, hash: &str) -> Result<(), PluginError> {
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
        // Disabled by the server itself after faults: an event for webhooks (the name only;
        // the fault's text may quote content).
        let faulted = (!enabled && actor == "server").then(|| {
            serde_json::to_vec(&serde_json::json!({
                "op": "plugin.faulted",
                "type": "plugin",
                "id": name,
                "version": 0,
                "state": "disabled",
                "public": false,
                "at": rec.updated_at.to_rfc3339(),
            }))
            .unwrap_or_default()
        });
        self.put_record_noting(&rec, a, faulted)?;
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
        required: Option<bool>,
        actor: &str,
    ) -> Result<PluginRecord, PluginError> {
        let mut rec = self.record(name)?;
        if let Some(r) = required {
            rec.required = r;
        }
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

    pub(super) fn replace_record(&self, rec: &PluginRecord) {
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
}

pub(super) fn link_error(e: &wasmtime::Error) -> PluginError {
    PluginError::Invalid(format!(
        "the component does not fit this server's plugin contract verbund:plugin@{CONTRACT} (built against another contract version?): {}",
        format!("{e:#}").replace('\n', " ")
    ))
}

pub(super) fn manifest_size(m: &wit::Manifest) -> usize {
    serde_json::to_vec(&manifest_json(m)).map_or(0, |v| v.len())
}

pub(super) fn manifest_json(m: &wit::Manifest) -> serde_json::Value {
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
pub(super) fn record_from_manifest(
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
        required: false,
        installed_at: now,
        updated_at: now,
    };
    for w in &rec.workflows {
        w.check()
            .map_err(|e| invalid(format!("plugin {}: {e}", rec.name)))?;
    }
    Ok(rec)
}
