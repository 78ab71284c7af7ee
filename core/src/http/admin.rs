//! Admin endpoints: tokens and the audit log.

use super::Code;
use axum::extract::State;

use super::params::blocking;
use super::typed::{
    ApiPath, ApiQuery, Data, DataSubjectExport, FeedQuery, JsonBody, Page, Reply, TokenPath,
};
use super::{ApiError, AppState};
use crate::auth::{AuditRecord, IssuedToken, TokenInfo};
use crate::auth::{Caller, Role, parse_duration};

/// A token to issue. Other keys are ignored.
#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct NewToken {
    /// What the token may do.
    pub role: Role,
    /// How long the token is valid: `never`, or a whole number from 1 with unit d, h, m or s
    /// (e.g. `90d`, `12h`) up to 36500 days (100 years). Default `90d`.
    #[schemars(regex(pattern = super::openapi::EXPIRES_PATTERN), example = &"90d")]
    pub expires: Option<String>,
    /// A note to recognise the token by.
    #[schemars(example = &"Website build")]
    pub label: Option<String>,
    /// The person the token belongs to (shown in history, queue and audit).
    #[schemars(example = &"Anna Wendt")]
    pub name: Option<String>,
    /// The person's e-mail address: two tokens with one address are one person to the
    /// four-eyes rule.
    #[schemars(
        regex(pattern = r"^[^\s@]*@[^\s]*$"),
        length(max = 254),
        example = &"anna.wendt@example.org"
    )]
    pub email: Option<String>,
}

pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<NewToken>,
) -> Result<Reply<Data<IssuedToken>, 201>, ApiError> {
    caller.require(Role::Admin)?;
    let NewToken {
        role,
        expires,
        label,
        name,
        email,
    } = body.read()?;
    let expires = parse_duration(expires.as_deref().unwrap_or("90d"))?;
    let person = crate::auth::Person { name, email };
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

/// The person a data-subject request is about. Other keys are ignored.
#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct DataSubject {
    /// Their e-mail address (spaces around it are ignored; it must contain `@`).
    #[schemars(regex(pattern = "@"), example = &"person@example.org")]
    pub email: String,
}

/// The address a data-subject request is about.
fn subject_email(body: &JsonBody<DataSubject>) -> Result<String, ApiError> {
    let email = body.read()?.email;
    let email = email.trim();
    if !email.contains('@') {
        return Err(ApiError::new(
            Code::InvalidEmail,
            "send {\"email\": \"person@example.org\"}: the address the request is about",
        ));
    }
    Ok(email.to_string())
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
        let mut data = state.content.data_subject_export(&email)?;
        // The mails sent (or queued) to the address: what, when, and how it went.
        let mails: Vec<crate::mail::MailInfo> =
            crate::mail::of_address(state.content.store().as_ref(), &email)?
                .iter()
                .map(|m| m.info())
                .collect();
        if let Some(obj) = data.as_object_mut() {
            obj.insert(
                "mails".into(),
                serde_json::to_value(mails).unwrap_or_default(),
            );
        }
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

/// What an erasure (GDPR Art. 17) removed.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct ErasureResult {
    pub erasure: crate::content::ErasureReport,
    /// Mails to the address removed from the outbox directory.
    pub outbox_mails_deleted: usize,
    /// Mails to the address removed from the mail queue (queued, sent or failed), with their
    /// places in the ledgers of newsletter issues.
    pub queued_mails_deleted: usize,
    /// Assets whose consent note named the person, deleted with their files and renditions
    /// (entries that showed them keep a dangling id and show no picture).
    pub assets_deleted: usize,
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
    let outbox = state.mail.as_ref().map(|m| m.outbox().to_path_buf());
    let media = state.media.clone();
    let st = state.clone();
    let who = caller.token_id.clone();
    let subject = email.clone();
    // Photos showing the person: their records go in the audit log's order, then their files.
    let erased_assets = blocking(move || {
        let mut out = Vec::new();
        for a in st.content.assets_of_person(&subject)? {
            out.push(
                st.content
                    .delete_asset(&a.id, None, Some(&who), "asset.erase")?,
            );
        }
        Ok(out)
    })
    .await?;
    let assets_deleted = erased_assets.len();
    if let Some(media) = &media {
        for (asset, still_used) in &erased_assets {
            if !still_used {
                media.collect(&asset.sha256).await.map_err(|e| {
                    tracing::error!(error = %e, "erasing an asset's files failed");
                    ApiError::new(
                        Code::MediaBusy,
                        "the asset records were erased, but their files could not be removed from the media storage; run the erasure again",
                    )
                })?;
            }
        }
    }
    let data = blocking(move || {
        let report = state
            .content
            .erase_data_subject(&email, Some(&caller.token_id))?;
        // The mail log of the throttle names the address (keyed); it goes too.
        crate::newsletter::forget_mail_log(&state.content, &email)?;
        let queued_mails_deleted =
            crate::mail::erase_address(state.content.store().as_ref(), &email)?;
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
        Ok(ErasureResult {
            erasure: report,
            outbox_mails_deleted: mails,
            queued_mails_deleted,
            assets_deleted,
        })
    })
    .await?;
    Ok(Reply::json(&Data::of(data)))
}
