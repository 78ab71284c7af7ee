//! The API's one error table: every error has a stable code, an HTTP status and a
//! problem+json (RFC 9457) rendering. Handlers return `Result<_, ApiError>` and use `?`.
//! Internal details are logged, never sent to clients.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::content::ContentError;
use crate::schema::FieldError;

/// An error as the API reports it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub extra: Option<Box<Value>>,
    /// Sent as `WWW-Authenticate` with 401 answers.
    pub www_authenticate: Option<HeaderValue>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            extra: None,
            www_authenticate: None,
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }
}

impl From<ContentError> for ApiError {
    fn from(e: ContentError) -> Self {
        let detail = e.to_string();
        match e {
            ContentError::UnknownType { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_type", detail)
            }
            ContentError::NotFound { .. } => ApiError::not_found(detail),
            ContentError::Invalid { errors } => ApiError {
                errors,
                ..ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    "the entry is invalid; see errors for each field",
                )
            },
            ContentError::VersionConflict { current, .. } => ApiError {
                extra: Some(Box::new(json!({ "current_version": current }))),
                ..ApiError::new(StatusCode::CONFLICT, "version_conflict", detail)
            },
            ContentError::Referenced { referrers } => ApiError {
                extra: Some(Box::new(json!({ "referrers": referrers }))),
                ..ApiError::new(StatusCode::CONFLICT, "still_referenced", detail)
            },
            ContentError::InvalidTransition { .. } => {
                ApiError::new(StatusCode::CONFLICT, "invalid_transition", detail)
            }
            ContentError::RoleNotAllowed { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "role_not_allowed", detail)
            }
            ContentError::Denied { plugin, reason } => ApiError {
                extra: Some(Box::new(json!({ "plugin": plugin, "reason": reason }))),
                ..ApiError::new(StatusCode::CONFLICT, "transition_denied", detail)
            },
            ContentError::PluginUnavailable { plugin, .. } => ApiError {
                extra: Some(Box::new(json!({ "plugin": plugin }))),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "plugin_unavailable",
                    detail,
                )
            },
            ContentError::Hook(f) => {
                tracing::warn!(plugin = %f.plugin, hook = f.hook, "plugin failure: {}", f.detail);
                ApiError {
                    extra: Some(Box::new(json!({ "plugin": f.plugin, "hook": f.hook }))),
                    ..ApiError::new(StatusCode::BAD_GATEWAY, "plugin_failed", f.to_string())
                }
            }
            ContentError::BadQuery(q) => {
                let code = match q {
                    crate::content::QueryError::UnknownField { .. } => "unknown_field",
                    crate::content::QueryError::UnknownOperator { .. } => "unknown_operator",
                    crate::content::QueryError::BadCursor => "invalid_cursor",
                    _ => "invalid_query",
                };
                ApiError::bad_request(code, q.to_string())
            }
            ContentError::Contended => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "contended", detail)
            }
            ContentError::Store(_) | ContentError::Corrupt(_) => {
                tracing::error!(error = %detail, "storage failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the server could not complete the request; it has been logged",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": format!("urn:verbund:problem:{}", self.code),
            "title": self.title(),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        if !self.errors.is_empty() {
            body["errors"] = json!(self.errors);
        }
        if let (Some(extra), Some(obj)) = (self.extra, body.as_object_mut())
            && let Value::Object(extra) = *extra
        {
            obj.extend(extra);
        }
        let mut res = (self.status, body.to_string()).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(v) = self.www_authenticate {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        } else if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}
