//! Admin endpoints: tokens and the audit log.

use super::Code;
use axum::extract::State;
use serde_json::{Value, json};

use super::params::blocking;
use super::typed::{
    ApiPath, ApiQuery, Data, DataSubject, DataSubjectExport, ErasureResult, FeedQuery, JsonBody,
    NewToken, Page, Reply, TokenPath,
};
use super::{ApiError, AppState};
use crate::auth::{AuditRecord, IssuedToken, TokenInfo};
use crate::auth::{Caller, Role, parse_duration};

pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<NewToken>,
) -> Result<Reply<Data<IssuedToken>, 201>, ApiError> {
    caller.require(Role::Admin)?;
    let v = body.value()?;
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
    Ok(Reply::json(&Data::of(issued)))
}

pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Reply<Data<Vec<TokenInfo>>>, ApiError> {
    caller.require(Role::Admin)?;
    let tokens = blocking(move || Ok(state.auth.list_tokens()?)).await?;
    Ok(Reply::json(&Data::of(tokens)))
}

pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(TokenPath { id }): ApiPath<TokenPath>,
) -> Result<Reply<Data<TokenInfo>>, ApiError> {
    caller.require(Role::Admin)?;
    let info = blocking(move || {
        let mut a = AuditRecord::draft(&caller.token_id, "token.revoke");
        a.id = Some(id.clone());
        Ok(state.auth.revoke_token(&id, Some(a))?)
    })
    .await?;
    Ok(Reply::json(&Data::of(info)))
}

/// Where a page of the audit log ends.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct AuditMeta {
    /// Pass as `since` to continue.
    pub next_since: u64,
}

pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(FeedQuery { since, limit }): ApiQuery<FeedQuery>,
) -> Result<Reply<Page<AuditRecord, AuditMeta>>, ApiError> {
    caller.require(Role::Admin)?;
    let records = blocking(move || Ok(state.auth.audit_records(since, limit)?)).await?;
    let next = records.last().map_or(since, |r| r.seq);
    Ok(Reply::json(&Page {
        data: records,
        meta: AuditMeta { next_since: next },
    }))
}

/// The address a data-subject request is about.
fn subject_email(body: &JsonBody<DataSubject>) -> Result<String, ApiError> {
    let v = body.value()?;
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
    body: JsonBody<DataSubject>,
) -> Result<Reply<Data<DataSubjectExport>>, ApiError> {
    caller.require(Role::Admin)?;
    let email = subject_email(&body)?;
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
    Ok(Reply::json(&Data::of(DataSubjectExport(data))))
}

/// `POST /api/v1/admin/gdpr/erase` `{"email"}`: erases that person from current entries, every
/// revision and the mail outbox (Art. 17). The audit record holds counts only.
pub async fn gdpr_erase(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<DataSubject>,
) -> Result<Reply<Data<ErasureResult>>, ApiError> {
    caller.require(Role::Admin)?;
    let email = subject_email(&body)?;
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
    Ok(Reply::json(&Data::of(ErasureResult(data))))
}
