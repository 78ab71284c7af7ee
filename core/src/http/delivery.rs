//! The public delivery API: published entries only, never personal data.
//!
//! Responses are assembled from the stored public JSON without parsing it again.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{ApiError, AppState};

#[derive(Debug, Deserialize)]
pub struct ListParams {
    locale: Option<String>,
    limit: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct OneParams {
    locale: Option<String>,
}

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

fn json_response(body: Vec<u8>) -> Response {
    let mut res = body.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

fn public_type(state: &AppState, ty: &str) -> Result<(), ApiError> {
    let ct = state.content.content_type(ty)?;
    if !ct.is_public() {
        return Err(ApiError::not_found(format!(
            "{ty} entries hold personal data and are never served by the delivery API"
        )));
    }
    Ok(())
}

pub async fn list(
    State(state): State<AppState>,
    Path(ty): Path<String>,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    public_type(&state, &ty)?;
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}, got {s:?}"),
                ));
            }
        },
    };
    let locale = params.locale.unwrap_or_else(|| "de".into());
    let page = state.content.list_published(&ty, &locale, limit)?;
    let mut body =
        Vec::with_capacity(page.items.iter().map(|(_, b)| b.len() + 1).sum::<usize>() + 64);
    body.extend_from_slice(b"{\"data\":[");
    for (i, (_, item)) in page.items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.extend_from_slice(
        format!(
            "],\"meta\":{{\"next_cursor\":null,\"total\":{}}}}}",
            page.total
        )
        .as_bytes(),
    );
    Ok(json_response(body))
}

pub async fn get_one(
    State(state): State<AppState>,
    Path((ty, id_or_slug)): Path<(String, String)>,
    Query(params): Query<OneParams>,
) -> Result<Response, ApiError> {
    public_type(&state, &ty)?;
    let locale = params.locale.unwrap_or_else(|| "de".into());
    match state.content.get_published(&ty, &id_or_slug, &locale)? {
        Some(item) => {
            let mut body = Vec::with_capacity(item.len() + 10);
            body.extend_from_slice(b"{\"data\":");
            body.extend_from_slice(&item);
            body.push(b'}');
            Ok(json_response(body))
        }
        None => Err(ApiError::not_found(format!(
            "no published {ty} with id or slug {id_or_slug:?} in locale {locale}"
        ))),
    }
}
