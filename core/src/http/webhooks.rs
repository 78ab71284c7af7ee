//! Admin endpoints of webhooks: endpoints, their secrets, the delivery log and replays.

use std::time::{Duration, Instant};

use axum::extract::State;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::params::{self, blocking};
use super::typed::{
    ApiPath, ApiQuery, Data, JsonBody, NoContent, ParameterRefs, QueryParams, Reply,
};
use super::{ApiError, AppState, Code};
use crate::auth::{Caller, Role};
use crate::webhooks::{Delivery, NewWebhook, WebhookError, WebhookInfo, WebhookPatch};

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        let detail = e.to_string();
        match e {
            WebhookError::Invalid(_) => ApiError::new(Code::InvalidWebhook, detail),
            WebhookError::TargetRefused(_) => ApiError::new(Code::WebhookTargetRefused, detail),
            WebhookError::NotFound(_) | WebhookError::NoDelivery { .. } => {
                ApiError::new(Code::NotFound, detail)
            }
            WebhookError::Conflict { .. } => ApiError::new(Code::VersionConflict, detail),
            WebhookError::Store(s) => ApiError::from(crate::content::ContentError::from(s)),
            WebhookError::Audit(_) => {
                tracing::error!("{detail}");
                ApiError::new(Code::Internal, "the request failed; it has been logged")
            }
        }
    }
}

/// `{id}` of a webhook endpoint.
#[derive(Deserialize, JsonSchema)]
pub struct WebhookPath {
    /// The endpoint's id (see GET /api/v1/admin/webhooks).
    #[schemars(length(min = 1))]
    pub id: String,
}

/// `{id}/deliveries/{delivery}`: one delivery of an endpoint.
#[derive(Deserialize, JsonSchema)]
pub struct DeliveryPath {
    /// The endpoint's id.
    #[schemars(length(min = 1))]
    pub id: String,
    /// The delivery's id (see GET /api/v1/admin/webhooks/{id}/deliveries).
    #[schemars(length(min = 1))]
    pub delivery: String,
}

/// An endpoint with its secret: the only time the secret is shown.
#[derive(Serialize, JsonSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: WebhookInfo,
    /// The signing secret (`whsec_…`): configure it in the receiver now, it is not shown again.
    #[schemars(example = &"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<NewWebhook>,
) -> Result<Reply<Data<WebhookWithSecret>, 201>, ApiError> {
    caller.require(Role::Admin)?;
    let new = body.read()?;
    state.webhooks.check_target(&new.url).await?;
    let hooks = state.webhooks.clone();
    let (e, secret) = blocking(move || Ok(hooks.create(new, &caller.token_id)?)).await?;
    Ok(Reply::json(&Data::of(WebhookWithSecret {
        webhook: e.info(),
        secret,
    })))
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Reply<Data<Vec<WebhookInfo>>>, ApiError> {
    caller.require(Role::Admin)?;
    let hooks = state.webhooks.clone();
    let all = blocking(move || Ok(hooks.list()?)).await?;
    Ok(Reply::json(&Data::of(
        all.iter().map(|e| e.info()).collect::<Vec<_>>(),
    )))
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(WebhookPath { id }): ApiPath<WebhookPath>,
) -> Result<Reply<Data<WebhookInfo>>, ApiError> {
    caller.require(Role::Admin)?;
    let hooks = state.webhooks.clone();
    let e = blocking(move || Ok(hooks.get(&id)?)).await?;
    Ok(Reply::json(&Data::of(e.info())))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(WebhookPath { id }): ApiPath<WebhookPath>,
    headers: axum::http::HeaderMap,
    body: JsonBody<WebhookPatch>,
) -> Result<Reply<Data<WebhookInfo>>, ApiError> {
    caller.require(Role::Admin)?;
    let expected = match headers.get(axum::http::header::IF_MATCH) {
        Some(v) => Some(super::manage::if_match(Some(v))?),
        None => None,
    };
    let patch = body.read()?;
    if let Some(url) = &patch.url {
        state.webhooks.check_target(url).await?;
    }
    let hooks = state.webhooks.clone();
    let e = blocking(move || Ok(hooks.update(&id, patch, expected, &caller.token_id)?)).await?;
    Ok(Reply::json(&Data::of(e.info())))
}

pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(WebhookPath { id }): ApiPath<WebhookPath>,
) -> Result<NoContent, ApiError> {
    caller.require(Role::Admin)?;
    let hooks = state.webhooks.clone();
    blocking(move || Ok(hooks.remove(&id, &caller.token_id)?)).await?;
    Ok(NoContent)
}

pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(WebhookPath { id }): ApiPath<WebhookPath>,
) -> Result<Reply<Data<WebhookWithSecret>>, ApiError> {
    caller.require(Role::Admin)?;
    let hooks = state.webhooks.clone();
    let (e, secret) = blocking(move || Ok(hooks.rotate_secret(&id, &caller.token_id)?)).await?;
    Ok(Reply::json(&Data::of(WebhookWithSecret {
        webhook: e.info(),
        secret,
    })))
}

pub async fn test(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(WebhookPath { id }): ApiPath<WebhookPath>,
) -> Result<Reply<Data<Delivery>>, ApiError> {
    caller.require(Role::Admin)?;
    let hooks = state.webhooks.clone();
    let wid = id.clone();
    let d = blocking(move || Ok(hooks.queue_test(&wid, &caller.token_id)?)).await?;
    // The dispatcher sends it at once; wait for its first attempt (or the attempt timeout).
    let deadline = Instant::now() + state.webhooks.config().timeout + Duration::from_secs(2);
    loop {
        let hooks = state.webhooks.clone();
        let (wid, did) = (id.clone(), d.id.clone());
        let now = blocking(move || Ok(hooks.delivery(&wid, &did)?)).await?;
        if !now.attempts.is_empty() || Instant::now() > deadline {
            return Ok(Reply::json(&Data::of(now)));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `limit` and `before` of the delivery log.
#[derive(JsonSchema)]
pub struct DeliveriesQuery {
    /// How many deliveries, newest first (1–200, default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: usize,
    /// Continue with the deliveries older than this delivery id (`meta.next_before`).
    pub before: Option<String>,
}

impl ParameterRefs for DeliveriesQuery {}

impl QueryParams for DeliveriesQuery {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut q = DeliveriesQuery {
            limit: 50,
            before: None,
        };
        for (k, v) in params::pairs(raw.map(String::from))? {
            match k.as_str() {
                "limit" => q.limit = params::limit(&v, 200)?,
                "before" => q.before = Some(v),
                other => return Err(params::unknown(other, "limit and before")),
            }
        }
        Ok(q)
    }
}

/// Where the delivery log continues.
#[derive(Serialize, JsonSchema)]
pub struct DeliveriesMeta {
    /// Pass as `before` for older deliveries; absent at the oldest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<String>,
}

pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(WebhookPath { id }): ApiPath<WebhookPath>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> Result<Reply<super::typed::Page<Delivery, DeliveriesMeta>>, ApiError> {
    caller.require(Role::Admin)?;
    let hooks = state.webhooks.clone();
    let limit = q.limit;
    let list = blocking(move || Ok(hooks.deliveries(&id, limit, q.before.as_deref())?)).await?;
    let next_before = (list.len() == limit)
        .then(|| list.last().map(|d| d.id.clone()))
        .flatten();
    Ok(Reply::json(&super::typed::Page {
        data: list,
        meta: DeliveriesMeta { next_before },
    }))
}

pub async fn replay_one(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(DeliveryPath { id, delivery }): ApiPath<DeliveryPath>,
) -> Result<Reply<Data<Delivery>, 202>, ApiError> {
    caller.require(Role::Admin)?;
    let hooks = state.webhooks.clone();
    let d = blocking(move || Ok(hooks.replay(&id, &delivery, &caller.token_id)?)).await?;
    Ok(Reply::json(&Data::of(d)))
}

/// Which changes to send again.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaySince {
    /// Every change with a higher sequence number (of the change feed) that the endpoint
    /// asks for now is sent again, with its original `webhook-id`.
    #[schemars(example = &1200)]
    pub since: u64,
}

/// How many deliveries a replay queued.
#[derive(Serialize, JsonSchema)]
pub struct Replayed {
    pub queued: usize,
}

pub async fn replay_since(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(WebhookPath { id }): ApiPath<WebhookPath>,
    body: JsonBody<ReplaySince>,
) -> Result<Reply<Data<Replayed>, 202>, ApiError> {
    caller.require(Role::Admin)?;
    let since = body.read()?.since;
    let hooks = state.webhooks.clone();
    let schemas = state.content.schemas().clone();
    let queued = blocking(move || {
        let is_public = |t: &str| schemas.get(t).is_some_and(|ct| ct.is_public());
        Ok(hooks.replay_since(&id, since, &is_public, &caller.token_id)?)
    })
    .await?;
    Ok(Reply::json(&Data::of(Replayed { queued })))
}
