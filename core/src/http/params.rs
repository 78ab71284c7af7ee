//! Small pieces every handler shares: query-string pairs, bounded numbers, and running store
//! work off the async threads.

use super::Code;

use super::ApiError;

/// Query parameters as pairs; a malformed query string is a 400.
pub fn pairs(raw: Option<String>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw.as_deref().unwrap_or("")).map_err(|e| {
        ApiError::new(
            Code::InvalidQuery,
            format!("the query string cannot be read: {e}"),
        )
    })
}

/// `locale`: a locale like `de`, `en` or `de-AT`.
pub fn locale(v: String) -> Result<String, ApiError> {
    if crate::content::is_locale(&v) {
        Ok(v)
    } else {
        Err(ApiError::new(
            super::Code::InvalidParameter,
            format!("locale={v:?} is not a locale like \"de\", \"en\" or \"de-AT\""),
        ))
    }
}

/// `limit`: a whole number from 1 to `max`.
pub fn limit(v: &str, max: usize) -> Result<usize, ApiError> {
    match v.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::new(
            Code::InvalidLimit,
            format!("limit must be a whole number from 1 to {max}, got {v:?}"),
        )),
    }
}

/// `since`: a sequence number.
pub fn since(v: &str) -> Result<u64, ApiError> {
    v.parse().map_err(|_| {
        ApiError::new(
            Code::InvalidQuery,
            format!("since must be a sequence number (a whole number ≥ 0), got {v:?}"),
        )
    })
}

/// `since` (default 0) and `limit` (default 100, at most 1000): the parameters of the feeds.
pub fn since_and_limit(raw: Option<String>) -> Result<(u64, usize), ApiError> {
    let (mut since_value, mut limit_value) = (0u64, 100usize);
    for (k, v) in pairs(raw)? {
        match k.as_str() {
            "since" => since_value = since(&v)?,
            "limit" => limit_value = limit(&v, 1000)?,
            other => return Err(unknown(other, "since and limit")),
        }
    }
    Ok((since_value, limit_value))
}

/// An unknown query parameter, naming the ones that exist.
pub fn unknown(name: &str, known: &str) -> ApiError {
    ApiError::new(
        Code::UnknownParameter,
        format!("unknown query parameter {name:?}; use {known}"),
    )
}

/// Runs blocking store work on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::new(Code::Internal, "the request failed; it has been logged"))?
}

/// A query beyond one of the bounds that keep a request cheap.
pub fn too_many(what: &str, max: usize, got: usize) -> ApiError {
    ApiError::new(
        Code::QueryTooLarge,
        format!("at most {max} {what} per query, got {got}; split the query or narrow it"),
    )
}

/// Reads one `filter[field]` / `filter[field][op]` parameter (the one filter language, see
/// `content::filter`) into `filters`; `false` when `key` is not a filter parameter.
pub fn filter(
    key: &str,
    value: &str,
    filters: &mut Vec<crate::content::Filter>,
) -> Result<bool, ApiError> {
    let Some(f) = crate::content::Filter::from_param(key, value) else {
        return Ok(false);
    };
    filters.push(f.map_err(crate::content::ContentError::BadQuery)?);
    let max = crate::content::filter::MAX_FILTERS;
    if filters.len() > max {
        return Err(too_many("filters", max, filters.len()));
    }
    Ok(true)
}
