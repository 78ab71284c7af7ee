//! The schemas of the document that do not depend on the content types: tokens, audit
//! records, plugins, errors.

use super::*;

pub(super) fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

pub(super) fn api_schemas() -> Vec<(&'static str, Value)> {
    let date_time = json!({"type": "string", "format": "date-time"});
    vec![
        ("ErrorCode", error_code_schema()),
        (
            "Grant",
            json!({
                "type": "object",
                "description": "Read access of a plugin to a content type, with or without its personal data.",
                "required": ["content_type", "personal_data"],
                "properties": {
                    "content_type": {"type": "string"},
                    "personal_data": {"type": "boolean"},
                },
            }),
        ),
        (
            "CallLimits",
            json!({
                "type": "object",
                "description": "Limits of one call of a plugin hook; the call fails at any of them.",
                "required": ["fuel", "wall_ms", "memory_mib", "host_bytes", "output_bytes"],
                "properties": {
                    "fuel": {"type": "integer", "minimum": 0, "description": "Wasm fuel (about one unit per instruction)."},
                    "wall_ms": {"type": "integer", "minimum": 0, "description": "Wall time in milliseconds."},
                    "memory_mib": {"type": "integer", "minimum": 0, "description": "Linear memory in MiB (at most 512)."},
                    "host_bytes": {"type": "integer", "minimum": 0, "description": "Bytes the plugin may receive from host calls in one call."},
                    "output_bytes": {"type": "integer", "minimum": 0, "description": "Bytes of the result."},
                },
            }),
        ),
        (
            "LimitOverride",
            json!({
                "type": "object",
                "description": "An admin's override of a hook's default limits; unset (or null) fields keep the default, other keys are ignored.",
                "properties": {
                    "fuel": {"type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX},
                    "wall_ms": {"type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX},
                    "memory_mib": {"type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX, "description": "Capped at 512."},
                    "host_bytes": {"type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX},
                    "output_bytes": {"type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX},
                },
            }),
        ),
        (
            "PluginRecord",
            json!({
                "type": "object",
                "description": "An installed plugin as stored: its manifest, the grants it asked for and was given, its state and the admin's settings.",
                "required": ["name", "version", "contract", "description", "hash", "size", "hooks", "requested", "granted", "workflows", "exports", "enabled", "limits", "config", "installed_at", "updated_at"],
                "properties": plugin_record_properties(),
            }),
        ),
        (
            "Plugin",
            json!({
                "type": "object",
                "description": "An installed plugin as the admin API shows it: the stored record plus its recent faults, its grants as labels and the limits in effect per hook.",
                "required": ["name", "version", "enabled", "faults", "grants", "effective_limits", "usage"],
                "properties": {
                    "faults": {"type": "integer", "minimum": 0, "description": "Faults in the recent window (the server disables a plugin that keeps failing)."},
                    "grants": {
                        "type": "object",
                        "required": ["requested", "granted"],
                        "properties": {
                            "requested": {"type": "array", "items": {"type": "string", "examples": ["read:story", "read:subscriber+personal"]}},
                            "granted": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                    "effective_limits": {
                        "type": "object",
                        "propertyNames": {"enum": ["describe", "validate", "on-transition", "export"]},
                        "additionalProperties": schema_ref("CallLimits"),
                    },
                    "usage": {
                        "type": "array",
                        "description": "Calls per hook on this node since it started: how many, how many failed, and the p50/p99 of the last 1000 calls' times (instantiation included).",
                        "items": {
                            "type": "object",
                            "required": ["hook", "calls", "faults", "p50_ms", "p99_ms"],
                            "properties": {
                                "hook": {"type": "string", "enum": ["describe", "validate", "on-transition", "export"]},
                                "calls": {"type": "integer", "minimum": 0},
                                "faults": {"type": "integer", "minimum": 0},
                                "p50_ms": {"type": "number", "minimum": 0},
                                "p99_ms": {"type": "number", "minimum": 0},
                            },
                        },
                    },
                },
                "allOf": [schema_ref("PluginRecord")],
            }),
        ),
        (
            "InstallReport",
            json!({
                "type": "object",
                "description": "What an install (or its dry run) did or would do.",
                "required": ["plugin", "upgraded_from", "requests_added", "requests_removed", "dry_run"],
                "properties": {
                    "plugin": schema_ref("PluginRecord"),
                    "upgraded_from": {"type": ["string", "null"], "description": "The version replaced, for an upgrade."},
                    "requests_added": {"type": "array", "items": {"type": "string"}, "description": "Grants the new version asks for that the old one did not."},
                    "requests_removed": {"type": "array", "items": {"type": "string"}, "description": "Grants the old version asked for that the new one does not (they are dropped)."},
                    "dry_run": {"type": "boolean"},
                },
            }),
        ),
        (
            "PluginSettings",
            json!({
                "type": "object",
                "description": "New settings of a plugin: `limits` replaces the limit overrides (by hook), `config` replaces the settings the plugin reads with `config(key)`, `required` marks it required. Absent keys keep what is set; other keys are ignored.",
                "properties": {
                    "limits": {
                        "type": "object",
                        "propertyNames": {"enum": ["describe", "validate", "on-transition", "export"]},
                        "additionalProperties": schema_ref("LimitOverride"),
                        "examples": [{"validate": {"wall_ms": 50}}],
                    },
                    "config": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "examples": [{"website": "https://www.example.org/"}],
                    },
                    "required": {
                        "type": ["boolean", "null"],
                        "description": "`true`: its validators and guards must run; while the plugin is off (disabled by an admin or after faults), writes of the types they see, and publishing them, are refused with 503 plugin_unavailable instead of going unchecked.",
                    },
                },
            }),
        ),
        (
            "ExportResult",
            json!({
                "type": "object",
                "description": "The artifacts a plugin export produced.",
                "required": ["artifacts"],
                "properties": {
                    "artifacts": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "media_type", "size", "base64"],
                            "properties": {
                                "name": {"type": "string", "examples": ["issue.html"]},
                                "media_type": {"type": "string", "examples": ["text/html"]},
                                "size": {"type": "integer", "minimum": 0, "description": "Bytes before encoding."},
                                "base64": {"type": "string", "contentEncoding": "base64"},
                            },
                        },
                    },
                },
            }),
        ),
        (
            "DataSubjectExport",
            json!({
                "type": "object",
                "description": "Everything stored about a person (GDPR Art. 15): entries of personal types with every version and their history, and the personal fields of other entries in every version.",
                "required": ["email", "exported_at", "entries", "note"],
                "properties": {
                    "email": {"type": "string"},
                    "exported_at": date_time.clone(),
                    "entries": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["type", "id", "versions"],
                            "properties": {
                                "type": {"type": "string"},
                                "id": {"type": "string"},
                                "current": {"type": "object"},
                                "history": {"type": "array", "items": schema_ref("HistoryItem")},
                                "title": {},
                                "personal_fields": {"type": "object"},
                                "versions": {"type": "array", "items": {"type": "object"}},
                            },
                        },
                    },
                    "note": {"type": "string"},
                },
            }),
        ),
        (
            "MergePatch",
            json!({
                "type": "object",
                "description": "A JSON Merge Patch (RFC 7386) of the entry's fields: keys set a field, `null` removes it, objects merge. The result is validated like a full replacement. Metadata keys are ignored.",
            }),
        ),
    ]
}

pub(super) fn plugin_record_properties() -> Value {
    let date_time = json!({"type": "string", "format": "date-time"});
    json!({
        "name": {"type": "string", "examples": ["newsletter-export"]},
        "version": {"type": "string"},
        "contract": {"type": "string", "description": "The contract version the plugin was built against."},
        "description": {"type": "string"},
        "hash": {"type": "string", "description": "SHA-256 of the component, hex."},
        "size": {"type": "integer", "minimum": 0},
        "hooks": {"type": "array", "items": {"type": "string", "enum": ["describe", "validate", "on-transition", "export"]}},
        "requested": {"type": "array", "items": schema_ref("Grant")},
        "granted": {"type": "array", "items": schema_ref("Grant")},
        "workflows": {"type": "array", "items": {"type": "object"}, "description": "The workflows (states and transitions) the plugin defines."},
        "exports": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "description"],
                "properties": {"name": {"type": "string"}, "description": {"type": "string"}},
            },
        },
        "enabled": {"type": "boolean"},
        "disabled_reason": {"type": "string"},
        "limits": {"type": "object", "additionalProperties": schema_ref("LimitOverride")},
        "config": {"type": "object", "additionalProperties": {"type": "string"}},
        "required": {"type": "boolean", "description": "Whether an admin marked it required (writes of the types it checks are refused while it is off)."},
        "installed_at": date_time.clone(),
        "updated_at": date_time,
    })
}
