//! Admin endpoints: tokens and the audit log.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::manage::json_body;
use super::params::{self, blocking};
use super::{ApiError, AppState};
use crate::auth::{AuditRecord, Caller, Role, parse_duration};

pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let v = json_body(&headers, &body)?;
    let role = v.get("role").and_then(Value::as_str).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "role is required: admin, editor, reviewer or reader",
        )
    })?;
    let role = Role::parse(role)?;
    let expires = parse_duration(v.get("expires").and_then(Value::as_str).unwrap_or("90d"))?;
    let label = v.get("label").and_then(Value::as_str).map(String::from);
    let issued = blocking(move || {
        let issued = state.auth.create_token(role, expires, label)?;
        let mut a = AuditRecord::draft(&caller.token_id, "token.create");
        a.id = Some(issued.info.id.clone());
        a.detail = Some(format!("role {}", role.name()));
        state.auth.audit(a)?;
        Ok(issued)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "data": issued }))).into_response())
}

pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let tokens = blocking(move || Ok(state.auth.list_tokens()?)).await?;
    Ok(Json(json!({ "data": tokens })).into_response())
}

pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let info = blocking(move || {
        let info = state.auth.revoke_token(&id)?;
        let mut a = AuditRecord::draft(&caller.token_id, "token.revoke");
        a.id = Some(id);
        state.auth.audit(a)?;
        Ok(info)
    })
    .await?;
    Ok(Json(json!({ "data": info })).into_response())
}

pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let (since, limit) = params::since_and_limit(raw)?;
    let records = blocking(move || Ok(state.auth.audit_records(since, limit)?)).await?;
    let next = records.last().map_or(since, |r| r.seq);
    Ok(Json(json!({ "data": records, "meta": { "next_since": next } })).into_response())
}
