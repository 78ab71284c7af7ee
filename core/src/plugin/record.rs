//! What the store keeps of an installed plugin: its manifest as read at install time, the
//! grants the admin gave, its state and the admin's limit overrides.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One hook of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookKind {
    Describe,
    Validate,
    OnTransition,
    Export,
}

impl HookKind {
    pub fn name(self) -> &'static str {
        match self {
            HookKind::Describe => "describe",
            HookKind::Validate => "validate",
            HookKind::OnTransition => "on-transition",
            HookKind::Export => "export",
        }
    }
}

/// Read access to one content type, optionally with its personal-data fields.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Grant {
    pub content_type: String,
    pub personal_data: bool,
}

impl Grant {
    /// `read:story` or `read:subscriber+personal`.
    pub fn label(&self) -> String {
        if self.personal_data {
            format!("read:{}+personal", self.content_type)
        } else {
            format!("read:{}", self.content_type)
        }
    }

    /// Parses `read:TYPE` or `read:TYPE+personal`.
    pub fn parse(text: &str) -> Result<Grant, String> {
        let t = text.trim();
        let rest = t.strip_prefix("read:").ok_or_else(|| {
            format!(
                "grant {t:?} is not of the form read:TYPE (or read:TYPE+personal for personal data)"
            )
        })?;
        let (ty, personal) = match rest.strip_suffix("+personal") {
            Some(ty) => (ty, true),
            None => (rest, false),
        };
        if ty.is_empty()
            || !ty
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(format!("grant {t:?} names no content type"));
        }
        Ok(Grant {
            content_type: ty.to_string(),
            personal_data: personal,
        })
    }
}

/// Limits of one call. Every field is a ceiling the call fails at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallLimits {
    /// Wasm fuel (about one unit per instruction).
    pub fuel: u64,
    /// Wall time in milliseconds (enforced in 10 ms epochs).
    pub wall_ms: u64,
    /// Linear memory in MiB.
    pub memory_mib: u64,
    /// Bytes the plugin may receive from host calls (get, query, config, log) in one call.
    pub host_bytes: u64,
    /// Bytes of the result (issues, reason, artifacts).
    pub output_bytes: u64,
}

impl CallLimits {
    /// The defaults of a hook: guards and validators must be quick; an export may take a while.
    pub fn default_for(hook: HookKind) -> CallLimits {
        match hook {
            HookKind::Describe | HookKind::Validate | HookKind::OnTransition => CallLimits {
                fuel: 200_000_000,
                wall_ms: 200,
                memory_mib: 32,
                host_bytes: 8 << 20,
                output_bytes: 1 << 20,
            },
            HookKind::Export => CallLimits {
                fuel: 20_000_000_000,
                wall_ms: 10_000,
                memory_mib: 256,
                host_bytes: 128 << 20,
                output_bytes: 32 << 20,
            },
        }
    }
}

/// The admin's overrides of the default limits, per hook; unset fields keep the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<u64>,
}

/// The largest memory cap an admin can set (the pooling allocator reserves this per slot).
pub const MAX_MEMORY_MIB: u64 = 512;

impl LimitOverride {
    pub fn apply(&self, mut l: CallLimits) -> CallLimits {
        if let Some(v) = self.fuel {
            l.fuel = v;
        }
        if let Some(v) = self.wall_ms {
            l.wall_ms = v;
        }
        if let Some(v) = self.memory_mib {
            l.memory_mib = v.min(MAX_MEMORY_MIB);
        }
        if let Some(v) = self.host_bytes {
            l.host_bytes = v;
        }
        if let Some(v) = self.output_bytes {
            l.output_bytes = v;
        }
        l
    }
}

pub use crate::workflow::{StateDef, TransitionDef, WorkflowDef};

/// A named artifact set the plugin's `export` produces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportDef {
    pub name: String,
    pub description: String,
}

/// An installed plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginRecord {
    pub name: String,
    pub version: String,
    /// The contract version the plugin was built against.
    pub contract: String,
    pub description: String,
    /// SHA-256 of the component, hex.
    pub hash: String,
    pub size: u64,
    pub hooks: Vec<HookKind>,
    /// What the plugin asked for.
    pub requested: Vec<Grant>,
    /// What the admin granted (a subset of `requested`).
    pub granted: Vec<Grant>,
    pub workflows: Vec<WorkflowDef>,
    pub exports: Vec<ExportDef>,
    pub enabled: bool,
    /// Why the plugin was disabled, when the server disabled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    #[serde(default)]
    pub limits: BTreeMap<HookKind, LimitOverride>,
    /// Settings the plugin reads with `config(key)`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// The admin's word that its validators and guards must run: while it is off, writes of
    /// the types they see are refused (503) instead of going unchecked.
    #[serde(default)]
    pub required: bool,
    pub installed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PluginRecord {
    /// The limits of one call of `hook`.
    pub fn limits_for(&self, hook: HookKind) -> CallLimits {
        let base = CallLimits::default_for(hook);
        match self.limits.get(&hook) {
            Some(o) => o.apply(base),
            None => base,
        }
    }

    /// The grant for `ty`, if the admin gave one.
    pub fn grant_for(&self, ty: &str) -> Option<&Grant> {
        self.granted.iter().find(|g| g.content_type == ty)
    }

    pub fn has_hook(&self, hook: HookKind) -> bool {
        self.hooks.contains(&hook)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_parse_and_print() {
        let g = Grant::parse("read:subscriber+personal").unwrap();
        assert!(g.personal_data);
        assert_eq!(g.label(), "read:subscriber+personal");
        assert_eq!(Grant::parse(" read:story ").unwrap().label(), "read:story");
        assert!(
            Grant::parse("write:story")
                .unwrap_err()
                .contains("read:TYPE")
        );
        assert!(Grant::parse("read:").is_err());
    }

    #[test]
    fn overrides_replace_only_what_they_set_and_memory_is_capped() {
        let o = LimitOverride {
            wall_ms: Some(50),
            memory_mib: Some(4096),
            ..Default::default()
        };
        let l = o.apply(CallLimits::default_for(HookKind::Validate));
        assert_eq!(l.wall_ms, 50);
        assert_eq!(l.memory_mib, MAX_MEMORY_MIB);
        assert_eq!(l.fuel, CallLimits::default_for(HookKind::Validate).fuel);
    }
}
