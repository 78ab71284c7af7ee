//! Who is calling: the bearer token, checked once per request.

use super::Code;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};

use super::{ApiError, AppState};
use crate::auth::{AuthError, Caller};

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let detail = e.to_string();
        match e {
            AuthError::Missing => ApiError::new(Code::Unauthorized, detail),
            AuthError::Invalid => ApiError::new(Code::InvalidToken, detail),
            AuthError::Expired(_) => ApiError::new(Code::TokenExpired, detail),
            AuthError::Forbidden { .. } => ApiError::new(Code::Forbidden, detail),
            AuthError::UnknownRole(_) | AuthError::BadRequest(_) => {
                ApiError::new(Code::InvalidRequest, detail)
            }
            AuthError::NotFound(_) => ApiError::not_found(detail),
            AuthError::Store(s) => ApiError::storage(Some(&s), &detail),
            AuthError::Corrupt(_) => ApiError::storage(None, &detail),
        }
    }
}

/// The bearer token of a request, if any (`Authorization: Bearer <token>`).
pub fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::from(AuthError::Invalid))?;
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(Some(token.trim())),
        _ => Err(ApiError::new(
            Code::InvalidToken,
            "the Authorization header must be `Bearer <token>`",
        )),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?.ok_or(AuthError::Missing)?;
        let auth = state.auth.clone();
        let token = token.to_string();
        let caller = tokio::task::spawn_blocking(move || auth.authenticate(&token))
            .await
            .map_err(|_| ApiError::new(Code::Internal, "the token check failed"))?;
        caller.map_err(|e| {
            let mut err = ApiError::from(e);
            err.www_authenticate = Some(HeaderValue::from_static("Bearer"));
            err
        })
    }
}

/// An optional caller: `None` without an Authorization header, an error for a bad token.
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if bearer(parts)?.is_none() {
            return Ok(MaybeCaller(None));
        }
        Caller::from_request_parts(parts, state)
            .await
            .map(|c| MaybeCaller(Some(c)))
    }
}
