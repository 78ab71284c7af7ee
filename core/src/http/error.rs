//! Errors as the API answers them: a [`Code`] of the one error table (`codes.rs`, which fixes
//! its status and title) with a detail, rendered as problem+json (RFC 9457). Handlers return
//! `Result<_, ApiError>` and use `?`. Internal details are logged, never sent to clients.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub use super::codes::Code;
use crate::content::ContentError;
use crate::schema::FieldError;

/// An error as the API reports it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Code,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub extra: Option<Box<Value>>,
    /// Sent as `WWW-Authenticate` with 401 answers.
    pub www_authenticate: Option<HeaderValue>,
}

impl ApiError {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self {
            status: code.status(),
            code,
            detail: detail.into(),
            errors: Vec::new(),
            extra: None,
            www_authenticate: None,
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(Code::NotFound, detail)
    }

    /// A failure of the store: while the database cannot be reached, a 503 with
    /// `Retry-After` (the request can be repeated as it is); anything else is logged and
    /// answered with a 500 that reveals nothing.
    pub fn storage(error: Option<&crate::store::StoreError>, detail: &str) -> Self {
        match error {
            Some(crate::store::StoreError::Unavailable { .. }) => {
                tracing::warn!(error = %detail, "the store is unavailable");
                return ApiError::new(
                    Code::StoreUnavailable,
                    "the database cannot be reached at the moment; try again in a few seconds",
                );
            }
            Some(crate::store::StoreError::Conflict { .. }) => {
                return ApiError::new(
                    Code::Contended,
                    "the write kept conflicting with concurrent writes; try again",
                );
            }
            _ => {}
        }
        tracing::error!(error = %detail, "storage failure");
        ApiError::new(
            Code::Internal,
            "the server could not complete the request; it has been logged",
        )
    }
}

impl From<ContentError> for ApiError {
    fn from(e: ContentError) -> Self {
        let detail = e.to_string();
        match e {
            ContentError::UnknownType { .. } => ApiError::new(Code::UnknownType, detail),
            ContentError::NotFound { .. } => ApiError::not_found(detail),
            ContentError::Invalid { errors } => ApiError {
                errors,
                ..ApiError::new(
                    Code::ValidationFailed,
                    "the entry is invalid; see errors for each field",
                )
            },
            ContentError::VersionConflict { current, .. } => ApiError {
                extra: Some(Box::new(json!({ "current_version": current }))),
                ..ApiError::new(Code::VersionConflict, detail)
            },
            ContentError::Referenced { referrers } => ApiError {
                extra: Some(Box::new(json!({ "referrers": referrers }))),
                ..ApiError::new(Code::StillReferenced, detail)
            },
            ContentError::InvalidTransition { .. } => {
                ApiError::new(Code::InvalidTransition, detail)
            }
            ContentError::RoleNotAllowed { .. } => ApiError::new(Code::RoleNotAllowed, detail),
            ContentError::Denied { plugin, reason } => ApiError {
                extra: Some(Box::new(json!({ "plugin": plugin, "reason": reason }))),
                ..ApiError::new(Code::TransitionDenied, detail)
            },
            ContentError::RequiredPluginOff { plugin, .. } => ApiError {
                extra: Some(Box::new(json!({ "plugin": plugin }))),
                ..ApiError::new(Code::PluginUnavailable, detail)
            },
            ContentError::PluginUnavailable { plugin, .. } => ApiError {
                extra: Some(Box::new(json!({ "plugin": plugin }))),
                ..ApiError::new(Code::PluginUnavailable, detail)
            },
            ContentError::Hook(f) => {
                tracing::warn!(plugin = %f.plugin, hook = f.hook, "plugin failure: {}", f.detail);
                ApiError {
                    extra: Some(Box::new(json!({ "plugin": f.plugin, "hook": f.hook }))),
                    ..ApiError::new(Code::PluginFailed, f.to_string())
                }
            }
            ContentError::BadQuery(q) => {
                let code = match q {
                    crate::content::QueryError::UnknownField { .. } => Code::UnknownField,
                    crate::content::QueryError::UnknownOperator { .. } => Code::UnknownOperator,
                    crate::content::QueryError::BadCursor => Code::InvalidCursor,
                    crate::content::QueryError::PersonalData { .. } => Code::PersonalDataForbidden,
                    crate::content::QueryError::TooMany { .. } => Code::QueryTooLarge,
                    _ => Code::InvalidQuery,
                };
                ApiError::new(code, q.to_string())
            }
            ContentError::Contended => ApiError::new(Code::Contended, detail),
            ContentError::Store(s) => ApiError::storage(Some(&s), &detail),
            ContentError::Corrupt(_) => ApiError::storage(None, &detail),
        }
    }
}

/// An error as the API answers it (RFC 9457 problem details, `application/problem+json`):
/// `code` is stable; `type` is `urn:verbund:problem:<code>`. Some codes carry more members
/// (`current_version` with version_conflict, `referrers` with still_referenced, `plugin` and
/// `reason` with transition_denied, …).
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct Problem {
    /// `urn:verbund:problem:<code>`.
    #[serde(rename = "type")]
    pub ty: String,
    /// The title of the code (see `ErrorCode`).
    pub title: &'static str,
    #[schemars(range(min = 100, max = 599))]
    pub status: u16,
    #[schemars(with = "super::typed::ErrorCode")]
    pub code: &'static str,
    /// What went wrong and what to do, for humans.
    pub detail: String,
    /// With validation_failed: every problem of the entry.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// With version_conflict: the entry's current version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
    /// With still_referenced: the entries that reference this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Vec<crate::content::Referrer>>")]
    pub referrers: Option<Value>,
    /// The members some codes carry (see above).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut extra = match self.extra.map(|e| *e) {
            Some(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        let current_version = extra.remove("current_version").and_then(|v| v.as_u64());
        let referrers = extra.remove("referrers");
        let body = serde_json::to_string(&Problem {
            ty: format!("urn:verbund:problem:{}", self.code.name()),
            title: self.code.title(),
            status: self.status.as_u16(),
            code: self.code.name(),
            detail: self.detail,
            errors: self.errors,
            current_version,
            referrers,
            extra,
        })
        .unwrap_or_default();
        let mut res = (self.status, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if matches!(
            self.code,
            Code::StoreUnavailable | Code::Contended | Code::PluginsBusy | Code::RateLimited
        ) {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        if let Some(v) = self.www_authenticate {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        } else if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}
