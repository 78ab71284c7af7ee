//! Admin endpoints: tokens and the audit log.

use super::Code;
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
            Code::InvalidRequest,
            "role is required: admin, editor, reviewer or reader",
        )
    })?;
    let role = Role::parse(role)?;
    let expires = parse_duration(v.get("expires").and_then(Value::as_str).unwrap_or("90d"))?;
    let label = v.get("label").and_then(Value::as_str).map(String::from);
    let person = crate::auth::Person {
        name: v.get("name").and_then(Value::as_str).map(String::from),
        email: v.get("email").and_then(Value::as_str).map(String::from),
    };
    let issued = blocking(move || {
        let mut a = AuditRecord::draft(&caller.token_id, "token.create");
        a.detail = Some(format!("role {}", role.name()));
        Ok(state
            .auth
            .create_token_for(role, expires, label, person, Some(a))?)
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
        let mut a = AuditRecord::draft(&caller.token_id, "token.revoke");
        a.id = Some(id.clone());
        Ok(state.auth.revoke_token(&id, Some(a))?)
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

/// The address a data-subject request is about.
fn subject_email(
    headers: &axum::http::HeaderMap,
    body: &axum::body::Bytes,
) -> Result<String, ApiError> {
    let v = super::manage::json_body(headers, body)?;
    v.get("email")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|e| e.contains('@'))
        .map(String::from)
        .ok_or_else(|| {
            ApiError::new(
                Code::InvalidEmail,
                "send {\"email\": \"person@example.org\"}: the address the request is about",
            )
        })
}

/// `POST /api/v1/admin/gdpr/export` `{"email"}`: everything stored about that person (Art. 15).
pub async fn gdpr_export(
    State(state): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let email = subject_email(&headers, &body)?;
    let data = blocking(move || {
        let data = state.content.data_subject_export(&email)?;
        let mut a = AuditRecord::draft(&caller.token_id, "gdpr.export");
        a.detail = Some(format!(
            "{} entries exported",
            data["entries"].as_array().map_or(0, Vec::len)
        ));
        state.auth.audit(a)?;
        Ok(data)
    })
    .await?;
    Ok(Json(json!({ "data": data })).into_response())
}

/// `POST /api/v1/admin/gdpr/erase` `{"email"}`: erases that person from current entries, every
/// revision and the mail outbox (Art. 17). The audit record holds counts only.
pub async fn gdpr_erase(
    State(state): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let email = subject_email(&headers, &body)?;
    let outbox = state.mail.as_ref().map(|m| m.outbox.clone());
    let data = blocking(move || {
        let report = state
            .content
            .erase_data_subject(&email, Some(&caller.token_id))?;
        // The mail log of the throttle names the address (keyed); it goes too.
        crate::newsletter::forget_mail_log(&state.content, &email)?;
        let mut mails = 0;
        if let Some(dir) = outbox
            && let Ok(items) = std::fs::read_dir(&dir)
        {
            let to = crate::newsletter::normalise(&email);
            for item in items.flatten() {
                let p = item.path();
                if crate::newsletter::mail_recipient(&p).is_some_and(|r| r == to)
                    && std::fs::remove_file(&p).is_ok()
                {
                    mails += 1;
                }
            }
        }
        Ok(json!({ "erasure": report, "outbox_mails_deleted": mails }))
    })
    .await?;
    Ok(Json(json!({ "data": data })).into_response())
}
