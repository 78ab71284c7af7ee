//! The admin API of plugins (`/api/v1/admin/plugins`) and plugin exports
//! (`POST /api/v1/manage/exports/{plugin}/{export}`).

use super::Code;
use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine as _;
use serde_json::{Value, json};

use super::manage::json_body;
use super::params::{self, blocking};
use super::typed::{
    ApiPath, ApiQuery, Data, ExportPath, ExportResult, InstallReport, JsonBody, Media,
    ParameterRefs, Plugin, PluginPath, PluginRecord as PluginRecordDoc, PluginSettings,
    QueryParams, RawBody, Reply,
};
use super::{ApiError, AppState};
use crate::auth::{Caller, Role};
use crate::plugin::{Grant, HookKind, LimitOverride, PluginError, PluginHost, PluginRecord};

impl From<PluginError> for ApiError {
    fn from(e: PluginError) -> Self {
        let detail = e.to_string();
        match e {
            PluginError::Invalid(_) => ApiError::new(Code::PluginInvalid, detail),
            PluginError::NotFound(_) => ApiError::new(Code::NotFound, detail),
            PluginError::Disabled { .. } => ApiError::new(Code::PluginDisabled, detail),
            PluginError::Fault { .. } => ApiError::new(Code::PluginFailed, detail),
            PluginError::Busy => ApiError::new(Code::PluginsBusy, detail),
            PluginError::Store(s) => ApiError::storage(Some(&s), &detail),
            PluginError::Audit(_) => ApiError::storage(None, &detail),
        }
    }
}

fn host(state: &AppState) -> Result<std::sync::Arc<PluginHost>, ApiError> {
    state
        .plugins
        .clone()
        .ok_or_else(|| ApiError::new(Code::PluginsOff, "this server runs without plugins"))
}

/// A plugin as the admin sees it: the record plus its recent faults.
fn view(host: &PluginHost, rec: &PluginRecord) -> Value {
    let mut v = serde_json::to_value(rec).unwrap_or_default();
    v["faults"] = json!(host.recent_faults(&rec.name));
    v["usage"] = json!(host.usage(&rec.name));
    v["grants"] = json!({
        "requested": rec.requested.iter().map(Grant::label).collect::<Vec<_>>(),
        "granted": rec.granted.iter().map(Grant::label).collect::<Vec<_>>(),
    });
    let limits: BTreeMap<&str, _> = [
        HookKind::Describe,
        HookKind::Validate,
        HookKind::OnTransition,
        HookKind::Export,
    ]
    .into_iter()
    .map(|h| (h.name(), rec.limits_for(h)))
    .collect();
    v["effective_limits"] = json!(limits);
    v
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Reply<Data<Vec<Plugin>>>, ApiError> {
    caller.require(Role::Admin)?;
    let host = host(&state)?;
    let data = blocking(move || {
        let recs = host.records()?;
        Ok(recs
            .iter()
            .map(|r| Plugin(view(&host, r)))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Reply::json(&Data::of(data)))
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(PluginPath { name }): ApiPath<PluginPath>,
) -> Result<Reply<Data<Plugin>>, ApiError> {
    caller.require(Role::Admin)?;
    let host = host(&state)?;
    let data = blocking(move || Ok(view(&host, &host.record(&name)?))).await?;
    Ok(Reply::json(&Data::of(Plugin(data))))
}

/// `POST /api/v1/admin/plugins?grant=read:story&grant=…[&dry_run=true]` with the component as
/// the body: installs, or upgrades the plugin of the same name.
/// The query of an install.
#[derive(schemars::JsonSchema)]
pub struct InstallQuery {
    /// What to grant: `read:TYPE` or `read:TYPE+personal`, repeated or comma-separated (400 invalid_grant otherwise). Without any, the plugin gets everything it asks for; with some, only those (and only what it asks for).
    #[schemars(
        with = "Option<Vec<GrantList>>",
        example = vec!["read:story"]
    )]
    pub grant: Option<Vec<Grant>>,
    /// `true` or `1`: check the component and report what an install would do, without installing. Any other value means false.
    #[schemars(with = "Option<String>", example = &"true")]
    pub dry_run: bool,
}

/// Grants as a query value: comma-separated `read:TYPE` or `read:TYPE+personal`, blank items
/// skipped.
#[allow(dead_code)] // Only describes the query value.
#[derive(schemars::JsonSchema)]
#[schemars(inline)]
struct GrantList(#[schemars(regex(pattern = super::openapi::GRANT_PATTERN))] String);

impl ParameterRefs for InstallQuery {}

impl QueryParams for InstallQuery {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut q = InstallQuery {
            grant: None,
            dry_run: false,
        };
        for (k, v) in params::pairs(raw.map(String::from))? {
            match k.as_str() {
                "grant" => {
                    let list = q.grant.get_or_insert_with(Vec::new);
                    for part in v.split(',').filter(|p| !p.trim().is_empty()) {
                        list.push(
                            Grant::parse(part).map_err(|e| ApiError::new(Code::InvalidGrant, e))?,
                        );
                    }
                }
                "dry_run" => q.dry_run = v == "true" || v == "1",
                other => return Err(params::unknown(other, "grant and dry_run")),
            }
        }
        Ok(q)
    }
}

/// A plugin: a WebAssembly component.
pub struct Component;

impl Media for Component {
    fn content() -> Value {
        let schema = json!({"schema": {"type": "string", "format": "binary", "minLength": 1}});
        json!({"application/wasm": schema.clone(), "application/octet-stream": schema})
    }
}

pub async fn install(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(InstallQuery {
        grant: grants,
        dry_run,
    }): ApiQuery<InstallQuery>,
    RawBody(body, ..): RawBody<Component>,
) -> Result<Reply<Data<InstallReport>, 201>, ApiError> {
    caller.require(Role::Admin)?;
    let host = host(&state)?;
    if body.is_empty() {
        return Err(ApiError::new(
            Code::EmptyBody,
            "send the plugin component (.wasm) as the request body",
        ));
    }
    let actor = caller.token_id.clone();
    let report = blocking(move || Ok(host.install(&body, grants, dry_run, &actor)?)).await?;
    let status = if dry_run {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(Reply::from_response(
        (status, Json(json!({ "data": report }))).into_response(),
    ))
}

pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(PluginPath { name }): ApiPath<PluginPath>,
) -> Result<Reply<Data<PluginRecordDoc>>, ApiError> {
    caller.require(Role::Admin)?;
    let host = host(&state)?;
    let actor = caller.token_id.clone();
    let rec = blocking(move || Ok(host.remove(&name, &actor)?)).await?;
    Ok(Reply::json(&Data::of(PluginRecordDoc(json!(rec)))))
}

async fn set_enabled(
    state: AppState,
    caller: Caller,
    name: String,
    enabled: bool,
) -> Result<Reply<Data<Plugin>>, ApiError> {
    caller.require(Role::Admin)?;
    let host = host(&state)?;
    let actor = caller.token_id.clone();
    let data = blocking(move || {
        let reason = (!enabled).then(|| format!("disabled by {actor}"));
        let rec = host.set_enabled(&name, enabled, reason, &actor)?;
        Ok(view(&host, &rec))
    })
    .await?;
    Ok(Reply::json(&Data::of(Plugin(data))))
}

pub async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(PluginPath { name }): ApiPath<PluginPath>,
) -> Result<Reply<Data<Plugin>>, ApiError> {
    set_enabled(state, caller, name, true).await
}

pub async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(PluginPath { name }): ApiPath<PluginPath>,
) -> Result<Reply<Data<Plugin>>, ApiError> {
    set_enabled(state, caller, name, false).await
}

/// `PATCH …/{name}` with `{"limits": {"validate": {"wall_ms": 50}}, "config": {"k": "v"}}`.
pub async fn configure(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(PluginPath { name }): ApiPath<PluginPath>,
    body: JsonBody<PluginSettings>,
) -> Result<Reply<Data<Plugin>>, ApiError> {
    caller.require(Role::Admin)?;
    let host = host(&state)?;
    let value = body.value()?;
    if !value.is_object() {
        return Err(ApiError::new(
            Code::InvalidJson,
            "send the settings as a JSON object: {\"limits\": {…}, \"config\": {…}}",
        ));
    }
    let invalid_limits = |e: String| {
        ApiError::new(
            Code::InvalidLimits,
            format!(
                "limits must map hooks (describe, validate, on-transition, export) to {{fuel, wall_ms, memory_mib, host_bytes, output_bytes}}: {e}"
            ),
        )
    };
    let limits: Option<BTreeMap<HookKind, LimitOverride>> = match value.get("limits") {
        Some(l) => {
            // Each hook's limits are an object (serde would also read a list as one).
            if let Some((hook, _)) = l
                .as_object()
                .and_then(|m| m.iter().find(|(_, v)| !v.is_object()))
            {
                return Err(invalid_limits(format!(
                    "the limits of {hook} are not an object"
                )));
            }
            Some(
                serde_json::from_value(whole_numbers(l.clone()))
                    .map_err(|e| invalid_limits(e.to_string()))?,
            )
        }
        None => None,
    };
    let config: Option<BTreeMap<String, String>> = match value.get("config") {
        Some(c) => Some(serde_json::from_value(c.clone()).map_err(|e| {
            ApiError::new(
                Code::InvalidConfig,
                format!("config must be an object of strings: {e}"),
            )
        })?),
        None => None,
    };
    let required = match value.get("required") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(ApiError::new(
                Code::InvalidConfig,
                "required must be true or false",
            ));
        }
    };
    let actor = caller.token_id.clone();
    let data = blocking(move || {
        let rec = host.configure(&name, limits, config, required, &actor)?;
        Ok(view(&host, &rec))
    })
    .await?;
    Ok(Reply::json(&Data::of(Plugin(data))))
}

/// JSON numbers with no fraction written as floats (`50.0`) as integers, so that limits read
/// them like `50`.
fn whole_numbers(v: Value) -> Value {
    match v {
        Value::Number(n) if !n.is_u64() && !n.is_i64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f) => {
                Value::from(f as u64)
            }
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(whole_numbers).collect()),
        Value::Object(m) => {
            Value::Object(m.into_iter().map(|(k, v)| (k, whole_numbers(v))).collect())
        }
        other => other,
    }
}

/// Runs a plugin's export with the JSON object body as parameters; the artifacts come back
/// base64-encoded.
/// The parameters of an export: a JSON object, or nothing.
pub struct ExportParams;

impl Media for ExportParams {
    const REQUIRED: bool = false;
    fn content() -> Value {
        json!({"application/json": {"schema": {
            "type": "object",
            "description": "The export's parameters, e.g. `{\"since\": \"2026-11-01\"}`; which ones an export takes is up to the plugin (it answers 422 for what it cannot use).",
            "additionalProperties": true,
            "examples": [{"since": "2026-11-01"}],
        }}})
    }
}

pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(ExportPath { plugin, export }): ApiPath<ExportPath>,
    headers: HeaderMap,
    RawBody(body, ..): RawBody<ExportParams>,
) -> Result<Reply<Data<ExportResult>>, ApiError> {
    if caller.role == Role::Reader {
        caller.require(Role::Editor)?;
    }
    let host = host(&state)?;
    let params: Vec<(String, String)> = if body.is_empty() {
        Vec::new()
    } else {
        let value = json_body(&headers, &body)?;
        let Some(obj) = value.as_object() else {
            return Err(ApiError::new(
                Code::InvalidJson,
                "the export parameters must be a JSON object, e.g. {\"since\": \"2026-11-01\"}",
            ));
        };
        obj.iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect()
    };
    // An export of a plugin that reads personal data (newsletter recipients) is for admins,
    // and every export is audited: it is a bulk read.
    let personal = host
        .record(&plugin)
        .map(|r| r.granted.iter().any(|g| g.personal_data))
        .unwrap_or(false);
    if personal && caller.role != Role::Admin {
        return Err(ApiError::new(
            Code::PersonalDataForbidden,
            format!(
                "plugin {plugin} reads personal data (it holds a +personal grant): only admins may run its exports"
            ),
        ));
    }
    let auth = state.auth.clone();
    let actor = caller.token_id.clone();
    let artifacts = blocking(move || {
        let artifacts = host.export(&plugin, &export, params)?;
        let mut a = crate::auth::AuditRecord::draft(&actor, "plugin.export");
        a.id = Some(plugin.clone());
        a.detail = Some(format!(
            "{export}: {} files{}",
            artifacts.len(),
            if personal { ", with personal data" } else { "" }
        ));
        auth.audit(a)?;
        Ok(artifacts)
    })
    .await?;
    let data: Vec<Value> = artifacts
        .iter()
        .map(|a| {
            json!({
                "name": a.name,
                "media_type": a.media_type,
                "size": a.bytes.len(),
                "base64": base64::engine::general_purpose::STANDARD.encode(&a.bytes),
            })
        })
        .collect();
    Ok(Reply::json(&Data::of(ExportResult(
        json!({ "artifacts": data }),
    ))))
}
