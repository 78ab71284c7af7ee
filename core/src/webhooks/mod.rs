//! Webhooks: endpoints that hear about changes, delivered the Standard Webhooks way.
//!
//! **The outbox is the change feed.** Every change writes its change event in the commit of
//! the change itself (see `content::commit`), so there is no change without its event and no
//! event of a rolled-back change. The dispatcher (one node at a time, under the `webhooks`
//! lease) reads the feed from a cursor kept in the store and turns each event into one
//! delivery per matching endpoint, in a commit that moves the cursor with a check: an event is
//! fanned out exactly once, whatever crashes or how many nodes run. Deliveries wait in a due
//! queue in the store and are sent at least once: a delivery counts as done only when a 2xx
//! answer was recorded, so a crash between sending and recording sends it again (receivers
//! dedupe on `webhook-id`, which is the same for every attempt and replay of an event).
//!
//! **Secrets are never stored.** An endpoint's secret is derived from the installation's key
//! (`verbund.key`, outside the store) and the endpoint's id and secret generation, so backups
//! and database dumps carry none; every node holding the keys can sign.
//!
//! Store layout (`Tree::Webhooks`):
//! - `s\0{endpoint}` → [`Endpoint`]
//! - `d\0{endpoint}\0{delivery}` → [`Delivery`] (the delivery log, ids time-ordered)
//! - `q\0{due ms:be8}{delivery}\0{endpoint}` → empty: the due queue
//! - `Meta` `webhooks/cursor` → the last change sequence number fanned out.

mod dispatch;
mod events;
mod sign;
mod target;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::AuditRecord;
use crate::keys::Keys;
use crate::store::{Expect, Store, StoreError, Tree, WriteBatch, counter, key, prefix_end};

pub use dispatch::{Dispatcher, run as run_dispatcher};
pub use events::{EVENT_TYPES, Event, events_of};
pub use sign::{secret_text, signature};
pub use target::{AddressPolicy, parse_allow_list};

/// How webhooks are delivered on this server.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Addresses (and networks) that may be reached although they are not public, and over
    /// plain HTTP: `127.0.0.1`, `10.0.0.0/8`.
    pub allow: Vec<ipnet::IpNet>,
    /// The delay before each attempt, the first included (Standard Webhooks' schedule).
    pub schedule: Vec<Duration>,
    /// How long an attempt may take, connection included.
    pub timeout: Duration,
    /// An endpoint failing without a success for this long is disabled.
    pub disable_after: Duration,
    /// How long the previous secret still signs after a rotation.
    pub rotation_overlap: Duration,
    /// Attempts in flight at once, over all endpoints.
    pub concurrency: usize,
    /// Attempts in flight at once to one endpoint.
    pub per_endpoint: usize,
    /// How long finished deliveries stay in the log.
    pub retention: Duration,
}

/// Standard Webhooks' retry schedule: immediately, then after 5 s, 5 min, 30 min, 2 h, 5 h,
/// 10 h, 14 h, 20 h and 24 h.
pub const STANDARD_SCHEDULE: [u64; 10] = [0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400];

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            schedule: STANDARD_SCHEDULE
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            timeout: Duration::from_secs(15),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            rotation_overlap: Duration::from_secs(24 * 3600),
            concurrency: 64,
            per_endpoint: 8,
            retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Parses a retry schedule: comma-separated durations (`0,5s,5m,30m,2h`), the first the delay
/// of the first attempt.
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        out.push(parse_delay(part).ok_or_else(|| {
            format!(
                "{part:?} is not a delay: write a whole number with unit ms, s, m or h (e.g. 0,5s,5m,30m,2h)"
            )
        })?);
    }
    if out.is_empty() || out.len() > 20 {
        return Err("a retry schedule has 1 to 20 delays".into());
    }
    Ok(out)
}

fn parse_delay(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let (n, unit) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000)
    } else {
        return None;
    };
    let n: u64 = n.parse().ok()?;
    (n <= 7 * 24 * 3_600_000 / unit).then(|| Duration::from_millis(n * unit))
}

/// An endpoint as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Event types or patterns (`entry.published`, `entry.*`, `*`).
    pub events: Vec<String>,
    /// Content types whose entry events are sent (empty: all).
    #[serde(default)]
    pub types: Vec<String>,
    /// Locales whose entry events are sent (empty: all).
    #[serde(default)]
    pub locales: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<CustomHeader>,
    /// The key (of `verbund.key`) and generation the secret is derived from.
    pub key_id: String,
    pub generation: u32,
    /// The secret before the last rotation, still signing until `until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousSecret>,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Events with a higher sequence number are delivered (those before it were not asked for).
    pub since_seq: u64,
    /// When the first failure after the last success happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// A header sent with every delivery (e.g. a receiver's own token).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomHeader {
    /// The header's name; not one of the headers Verbund sets itself.
    #[schemars(example = &"X-Build-Token", length(min = 1, max = 64))]
    pub name: String,
    /// Its value (shown to nobody after it was set).
    #[schemars(length(max = 1024))]
    pub value: String,
}

/// The secret that signed before a rotation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreviousSecret {
    pub key_id: String,
    pub generation: u32,
    pub until: DateTime<Utc>,
}

/// An endpoint as an admin sees it: no secret, the custom header's name only.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct WebhookInfo {
    #[schemars(example = &"01JEF3T9Y6M2Q8R4V5W7X0Z1AB")]
    pub id: String,
    #[schemars(example = &"https://build.example.org/hooks/verbund")]
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub events: Vec<String>,
    pub types: Vec<String>,
    pub locales: Vec<String>,
    /// The name of the custom header sent, if any (its value is not shown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    pub enabled: bool,
    /// Why it is disabled (who disabled it, or the failures that did).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Since when deliveries fail without a success in between.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation still signs (both signatures are sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// Events after this sequence number of the change feed are delivered.
    pub since_seq: u64,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

impl Endpoint {
    pub fn info(&self) -> WebhookInfo {
        WebhookInfo {
            id: self.id.clone(),
            url: self.url.clone(),
            description: self.description.clone(),
            events: self.events.clone(),
            types: self.types.clone(),
            locales: self.locales.clone(),
            header: self.header.as_ref().map(|h| h.name.clone()),
            enabled: self.enabled,
            disabled_reason: self.disabled_reason.clone(),
            failing_since: self.failing_since,
            previous_secret_until: self
                .previous
                .as_ref()
                .filter(|p| p.until > Utc::now())
                .map(|p| p.until),
            since_seq: self.since_seq,
            created_at: self.created_at,
            created_by: self.created_by.clone(),
            updated_at: self.updated_at,
            version: self.version,
        }
    }

    /// Whether an event goes to this endpoint.
    pub fn wants(&self, event: &Event) -> bool {
        let kind_ok = self.events.iter().any(|p| {
            p == "*"
                || p == event.kind
                || p.strip_suffix(".*")
                    .is_some_and(|prefix| event.kind.split('.').next() == Some(prefix))
        });
        let type_ok = match &event.content_type {
            Some(t) => self.types.is_empty() || self.types.iter().any(|x| x == t),
            None => true,
        };
        let locale_ok = match &event.locale {
            Some(l) => self.locales.is_empty() || self.locales.iter().any(|x| x == l),
            None => true,
        };
        kind_ok && type_ok && locale_ok
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, WebhookError> {
        serde_json::from_slice(bytes).map_err(|e| {
            WebhookError::Store(StoreError::Corrupt {
                tree: Tree::Webhooks,
                detail: format!("webhook endpoint: {e}"),
            })
        })
    }

    fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// A 2xx answer was received.
    Succeeded,
    /// Every attempt of the schedule failed (or the endpoint answered 410 Gone).
    Failed,
    /// The endpoint was disabled or removed before the delivery succeeded.
    Cancelled,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// The HTTP status of the answer, if one came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// From sending the request to the end of the answer's headers.
    pub latency_ms: u64,
    /// What went wrong without an answer (connection refused, timeout, refused address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The beginning of the answer's body (at most 512 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
}

/// One event on its way to one endpoint, with every attempt.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Delivery {
    #[schemars(example = &"01JEF3V2M7K9P3Q5R6S8T0W2YZ")]
    pub id: String,
    /// The endpoint's id.
    pub webhook: String,
    /// The `webhook-id` header: the same for every attempt and replay of the event.
    #[schemars(example = &"msg_42_entry_published")]
    pub message_id: String,
    /// The event type.
    #[schemars(example = &"entry.published")]
    pub event: String,
    /// The change's sequence number (0 for a test delivery).
    pub seq: u64,
    pub state: DeliveryState,
    pub attempts: Vec<Attempt>,
    /// When the next attempt is due (pending deliveries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The body sent (a JSON document).
    pub payload: String,
}

impl Delivery {
    fn from_bytes(bytes: &[u8]) -> Result<Self, WebhookError> {
        serde_json::from_slice(bytes).map_err(|e| {
            WebhookError::Store(StoreError::Corrupt {
                tree: Tree::Webhooks,
                detail: format!("webhook delivery: {e}"),
            })
        })
    }

    fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Errors of the webhook operations.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TargetRefused(String),
    #[error("there is no webhook {0}; `verbund webhook list` shows the ids")]
    NotFound(String),
    #[error(
        "there is no delivery {delivery} of webhook {webhook}; `verbund webhook deliveries {webhook}` lists them"
    )]
    NoDelivery { webhook: String, delivery: String },
    #[error("the webhook was changed meanwhile (version {current}); read it again and repeat")]
    Conflict { current: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not write the audit record: {0}")]
    Audit(String),
}

pub type WebhookResult<T> = Result<T, WebhookError>;

pub(crate) const CURSOR_KEY: &[u8] = b"webhooks/cursor";

/// The longest target URL taken.
const MAX_URL: usize = 2048;
/// The most endpoints a server keeps (each change is matched against all of them).
const MAX_ENDPOINTS: usize = 1000;

fn endpoint_key(id: &str) -> Vec<u8> {
    key(&[b"s", id.as_bytes()])
}

fn delivery_prefix(endpoint: &str) -> Vec<u8> {
    let mut k = key(&[b"d", endpoint.as_bytes()]);
    k.push(0);
    k
}

fn delivery_key(endpoint: &str, delivery: &str) -> Vec<u8> {
    key(&[b"d", endpoint.as_bytes(), delivery.as_bytes()])
}

/// The delivery before the endpoint: deliveries due at the same time interleave their
/// endpoints in the queue, so that one busy endpoint does not hold up the others.
fn queue_key(due: DateTime<Utc>, endpoint: &str, delivery: &str) -> Vec<u8> {
    let mut k = b"q\0".to_vec();
    k.extend_from_slice(&(due.timestamp_millis().max(0) as u64).to_be_bytes());
    k.extend_from_slice(delivery.as_bytes());
    k.push(0);
    k.extend_from_slice(endpoint.as_bytes());
    k
}

/// `(due ms, endpoint, delivery)` of a queue key.
fn parse_queue_key(k: &[u8]) -> Option<(i64, String, String)> {
    let rest = k.strip_prefix(b"q\0")?;
    let due = i64::try_from(u64::from_be_bytes(rest.get(..8)?.try_into().ok()?)).ok()?;
    let mut parts = rest.get(8..)?.split(|b| *b == 0);
    let delivery = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let endpoint = String::from_utf8(parts.next()?.to_vec()).ok()?;
    Some((due, endpoint, delivery))
}

/// What an admin asks for when adding an endpoint.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where deliveries are POSTed: `https://…`; plain `http://` only to an address the
    /// server's allow-list names (`verbund serve --webhook-allow`).
    #[schemars(example = &"https://build.example.org/hooks/verbund", length(min = 1, max = 2048))]
    pub url: String,
    /// Event types, or patterns like `entry.*` and `*`.
    #[schemars(example = &["entry.published", "entry.unpublished"], length(min = 1, max = 32))]
    pub events: Vec<String>,
    /// Content types whose entry events are sent (none: all).
    #[serde(default)]
    #[schemars(example = &["story", "event"], length(max = 64))]
    pub types: Vec<String>,
    /// Locales whose entry events are sent (none: all).
    #[serde(default)]
    #[schemars(example = &["de"], length(max = 32))]
    pub locales: Vec<String>,
    /// A header sent with every delivery.
    pub header: Option<CustomHeader>,
    /// A note to recognise the endpoint by.
    #[schemars(example = &"Website rebuild", length(max = 500))]
    pub description: Option<String>,
}

/// Changes to an endpoint: members present replace the stored ones (`header: null` removes
/// the custom header).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    #[schemars(length(min = 1, max = 2048))]
    pub url: Option<String>,
    #[schemars(length(min = 1, max = 32))]
    pub events: Option<Vec<String>>,
    #[schemars(length(max = 64))]
    pub types: Option<Vec<String>>,
    #[schemars(length(max = 32))]
    pub locales: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub header: Option<Option<CustomHeader>>,
    #[schemars(length(max = 500))]
    pub description: Option<String>,
    /// Enable (the recent failures are forgotten) or disable it.
    pub enabled: Option<bool>,
}

fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Headers a custom header may not replace.
const RESERVED_HEADERS: [&str; 9] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "transfer-encoding",
    "connection",
];

/// The webhook operations of one store.
#[derive(Clone)]
pub struct Webhooks {
    store: Arc<dyn Store>,
    keys: Arc<Keys>,
    auth: crate::auth::AuthService,
    config: Arc<WebhookConfig>,
    policy: Arc<AddressPolicy>,
    /// Content types that exist (entry events may name only these).
    types: Vec<String>,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks").finish_non_exhaustive()
    }
}

impl Webhooks {
    pub fn new(content: &crate::ContentService, config: WebhookConfig) -> Self {
        let schemas = content.schemas();
        let types = schemas
            .names()
            .into_iter()
            .filter(|t| schemas.get(t).is_some_and(|ct| ct.is_public()))
            .map(String::from)
            .collect();
        Self {
            store: content.store().clone(),
            keys: content.keys().clone(),
            auth: crate::auth::AuthService::new(content.store().clone(), content.keys().clone()),
            policy: Arc::new(AddressPolicy::new(config.allow.clone())),
            config: Arc::new(config),
            types,
        }
    }

    pub fn config(&self) -> &Arc<WebhookConfig> {
        &self.config
    }

    pub fn policy(&self) -> &Arc<AddressPolicy> {
        &self.policy
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub(crate) fn keys(&self) -> &Arc<Keys> {
        &self.keys
    }

    /// The secret of an endpoint's current generation, as `whsec_…`.
    pub fn secret_of(&self, e: &Endpoint) -> String {
        secret_text(&sign::secret(&self.keys, &e.key_id, &e.id, e.generation).unwrap_or([0; 32]))
    }

    fn check_fields(
        &self,
        url: &str,
        events: &[String],
        types: &[String],
        locales: &[String],
        header: Option<&CustomHeader>,
        description: Option<&str>,
    ) -> WebhookResult<()> {
        if url.len() > MAX_URL {
            return Err(WebhookError::Invalid(format!(
                "the URL is {} bytes long; at most {MAX_URL}",
                url.len()
            )));
        }
        if events.len() > 32 || types.len() > 64 || locales.len() > 32 {
            return Err(WebhookError::Invalid(
                "at most 32 event types, 64 content types and 32 locales per endpoint".into(),
            ));
        }
        if events.is_empty() {
            return Err(WebhookError::Invalid(format!(
                "`events` names no event type; use one or more of {} (or a pattern like `entry.*`, or `*` for all)",
                EVENT_TYPES.join(", ")
            )));
        }
        for e in events {
            let known = e == "*"
                || EVENT_TYPES.contains(&e.as_str())
                || e.strip_suffix(".*")
                    .is_some_and(|p| EVENT_TYPES.iter().any(|t| t.split('.').next() == Some(p)));
            if !known {
                return Err(WebhookError::Invalid(format!(
                    "unknown event type {e:?}; the event types are {} (patterns: entry.*, asset.*, plugin.*, *)",
                    EVENT_TYPES.join(", ")
                )));
            }
        }
        for t in types {
            if !self.types.contains(t) {
                return Err(WebhookError::Invalid(format!(
                    "unknown or non-public content type {t:?} in `types`; webhooks can follow {}",
                    self.types.join(", ")
                )));
            }
        }
        for l in locales {
            if !crate::content::is_locale(l) {
                return Err(WebhookError::Invalid(format!(
                    "{l:?} in `locales` is not a locale; write it like de, en or de-AT"
                )));
            }
        }
        if let Some(h) = header {
            let name = h.name.to_ascii_lowercase();
            let token = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
            if !token {
                return Err(WebhookError::Invalid(format!(
                    "the header name {:?} is not a header name: 1 to 64 letters, digits, - and _",
                    h.name
                )));
            }
            if RESERVED_HEADERS.contains(&name.as_str()) {
                return Err(WebhookError::Invalid(format!(
                    "the header {:?} is set by Verbund itself; choose another name (e.g. X-Build-Token)",
                    h.name
                )));
            }
            if h.value.len() > 1024
                || h.value
                    .bytes()
                    .any(|b| b == b'\r' || b == b'\n' || b == 0 || (b < 0x20 && b != b'\t'))
            {
                return Err(WebhookError::Invalid(
                    "the header value must be at most 1024 bytes without control characters".into(),
                ));
            }
        }
        if description.is_some_and(|d| d.chars().count() > 500) {
            return Err(WebhookError::Invalid(
                "the description is longer than 500 characters".into(),
            ));
        }
        Ok(())
    }

    /// Checks a target URL: syntax, scheme, and (resolving its name) the addresses it reaches.
    pub async fn check_target(&self, url: &str) -> WebhookResult<()> {
        self.policy
            .check(url)
            .await
            .map_err(WebhookError::TargetRefused)
    }

    /// Adds an endpoint; returns it and its secret (shown this once).
    pub fn create(&self, new: NewWebhook, actor: &str) -> WebhookResult<(Endpoint, String)> {
        self.check_fields(
            &new.url,
            &new.events,
            &new.types,
            &new.locales,
            new.header.as_ref(),
            new.description.as_deref(),
        )?;
        let count = self
            .store
            .scan_range_keys(Tree::Webhooks, b"s\0", b"s\x01", MAX_ENDPOINTS + 1)?
            .len();
        if count >= MAX_ENDPOINTS {
            return Err(WebhookError::Invalid(format!(
                "this server has {MAX_ENDPOINTS} webhook endpoints, the most it keeps; remove one first (`verbund webhook list`)"
            )));
        }
        let now = Utc::now();
        let id = ulid::Ulid::new().to_string();
        let endpoint = Endpoint {
            id: id.clone(),
            url: new.url,
            description: new.description,
            events: dedup(new.events),
            types: dedup(new.types),
            locales: dedup(new.locales),
            header: new.header,
            key_id: self.keys.current_id().to_string(),
            generation: 1,
            previous: None,
            enabled: true,
            disabled_reason: None,
            since_seq: self.store.last_seq()?,
            failing_since: None,
            created_at: now,
            created_by: actor.to_string(),
            updated_at: now,
            version: 1,
        };
        let mut b = WriteBatch::new();
        b.check(Tree::Webhooks, endpoint_key(&id), Expect::Absent);
        b.put(Tree::Webhooks, endpoint_key(&id), endpoint.to_bytes());
        self.commit(
            b,
            audit(
                actor,
                "webhook.create",
                &endpoint,
                Some(endpoint.url.clone()),
            ),
        )?;
        let secret = self.secret_of(&endpoint);
        Ok((endpoint, secret))
    }

    pub fn get(&self, id: &str) -> WebhookResult<Endpoint> {
        self.read(id).map(|(e, _)| e)
    }

    fn read(&self, id: &str) -> WebhookResult<(Endpoint, Vec<u8>)> {
        let bytes = self
            .store
            .get(Tree::Webhooks, &endpoint_key(id))?
            .ok_or_else(|| WebhookError::NotFound(id.to_string()))?;
        Ok((Endpoint::from_bytes(&bytes)?, bytes))
    }

    pub fn list(&self) -> WebhookResult<Vec<Endpoint>> {
        self.store
            .scan_prefix(Tree::Webhooks, b"s\0", false, usize::MAX)?
            .iter()
            .map(|(_, v)| Endpoint::from_bytes(v))
            .collect()
    }

    /// Changes an endpoint (`expected`: the version the admin saw).
    pub fn update(
        &self,
        id: &str,
        patch: WebhookPatch,
        expected: Option<u64>,
        actor: &str,
    ) -> WebhookResult<Endpoint> {
        let now_seq = self.store.last_seq()?;
        self.modify(id, expected, actor, "webhook.update", |e| {
            if let Some(url) = patch.url.clone() {
                e.url = url;
            }
            if let Some(events) = patch.events.clone() {
                e.events = dedup(events);
            }
            if let Some(types) = patch.types.clone() {
                e.types = dedup(types);
            }
            if let Some(locales) = patch.locales.clone() {
                e.locales = dedup(locales);
            }
            if let Some(header) = patch.header.clone() {
                e.header = header;
            }
            if let Some(d) = patch.description.clone() {
                e.description = (!d.is_empty()).then_some(d);
            }
            match patch.enabled {
                Some(true) if !e.enabled => {
                    e.enabled = true;
                    e.disabled_reason = None;
                    e.failing_since = None;
                    // What happened while it was off is not sent by itself (`replay --since`).
                    e.since_seq = now_seq;
                }
                Some(false) if e.enabled => {
                    e.enabled = false;
                    e.disabled_reason = Some(format!("disabled by {actor}"));
                }
                _ => {}
            }
            Ok(())
        })
    }

    /// Makes a new secret; the old one keeps signing for the rotation overlap.
    pub fn rotate_secret(&self, id: &str, actor: &str) -> WebhookResult<(Endpoint, String)> {
        let overlap = chrono::Duration::from_std(self.config.rotation_overlap)
            .unwrap_or(chrono::Duration::hours(24));
        let current_key = self.keys.current_id().to_string();
        let e = self.modify(id, None, actor, "webhook.rotate_secret", |e| {
            e.previous = Some(PreviousSecret {
                key_id: e.key_id.clone(),
                generation: e.generation,
                until: Utc::now() + overlap,
            });
            e.key_id = current_key.clone();
            e.generation += 1;
            Ok(())
        })?;
        let secret = self.secret_of(&e);
        Ok((e, secret))
    }

    fn modify(
        &self,
        id: &str,
        expected: Option<u64>,
        actor: &str,
        action: &str,
        change: impl Fn(&mut Endpoint) -> WebhookResult<()>,
    ) -> WebhookResult<Endpoint> {
        for _ in 0..8 {
            let (mut e, bytes) = self.read(id)?;
            if let Some(v) = expected
                && v != e.version
            {
                return Err(WebhookError::Conflict { current: e.version });
            }
            change(&mut e)?;
            self.check_fields(
                &e.url,
                &e.events,
                &e.types,
                &e.locales,
                e.header.as_ref(),
                e.description.as_deref(),
            )?;
            e.version += 1;
            e.updated_at = Utc::now();
            let mut b = WriteBatch::new();
            b.check(Tree::Webhooks, endpoint_key(id), Expect::Equals(bytes));
            b.put(Tree::Webhooks, endpoint_key(id), e.to_bytes());
            match self.commit(b, audit(actor, action, &e, None)) {
                Ok(()) => return Ok(e),
                Err(WebhookError::Store(StoreError::CheckFailed { .. })) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(WebhookError::Store(StoreError::Conflict {
            detail: "the webhook kept changing".into(),
        }))
    }

    /// Removes an endpoint with its pending deliveries and its delivery log.
    pub fn remove(&self, id: &str, actor: &str) -> WebhookResult<Endpoint> {
        let (e, bytes) = self.read(id)?;
        let mut b = WriteBatch::new();
        b.check(Tree::Webhooks, endpoint_key(id), Expect::Equals(bytes));
        b.remove(Tree::Webhooks, endpoint_key(id));
        self.commit(b, audit(actor, "webhook.remove", &e, Some(e.url.clone())))?;
        // The log and the queue entries go after the record (the sender drops queue entries of
        // endpoints that no longer exist), in bounded batches.
        let prefix = delivery_prefix(id);
        loop {
            let page = self
                .store
                .scan_prefix(Tree::Webhooks, &prefix, false, 500)?;
            if page.is_empty() {
                break;
            }
            let mut b = WriteBatch::new();
            for (k, v) in &page {
                if let Ok(d) = Delivery::from_bytes(v)
                    && let Some(next) = d.next_attempt_at
                {
                    b.remove(Tree::Webhooks, queue_key(next, id, &d.id));
                }
                b.remove(Tree::Webhooks, k.clone());
            }
            self.store.commit(b)?;
        }
        Ok(e)
    }

    /// The delivery log of an endpoint, newest first, before the delivery id `before`.
    pub fn deliveries(
        &self,
        id: &str,
        limit: usize,
        before: Option<&str>,
    ) -> WebhookResult<Vec<Delivery>> {
        self.read(id)?;
        let prefix = delivery_prefix(id);
        let end = match before {
            Some(b) => delivery_key(id, b),
            None => prefix_end(&prefix),
        };
        self.store
            .scan_range(Tree::Webhooks, &prefix, &end, true, limit)?
            .iter()
            .map(|(_, v)| Delivery::from_bytes(v))
            .collect()
    }

    pub fn delivery(&self, id: &str, delivery: &str) -> WebhookResult<Delivery> {
        let bytes = self
            .store
            .get(Tree::Webhooks, &delivery_key(id, delivery))?
            .ok_or_else(|| WebhookError::NoDelivery {
                webhook: id.to_string(),
                delivery: delivery.to_string(),
            })?;
        Delivery::from_bytes(&bytes)
    }

    /// Sends one delivery again, with its `webhook-id`: due now, with a fresh schedule.
    pub fn replay(&self, id: &str, delivery: &str, actor: &str) -> WebhookResult<Delivery> {
        let (e, _) = self.read(id)?;
        if !e.enabled {
            return Err(WebhookError::Invalid(format!(
                "webhook {id} is disabled; enable it first (`verbund webhook enable {id}`)"
            )));
        }
        for _ in 0..8 {
            let k = delivery_key(id, delivery);
            let bytes =
                self.store
                    .get(Tree::Webhooks, &k)?
                    .ok_or_else(|| WebhookError::NoDelivery {
                        webhook: id.to_string(),
                        delivery: delivery.to_string(),
                    })?;
            let mut d = Delivery::from_bytes(&bytes)?;
            let mut b = WriteBatch::new();
            b.check(Tree::Webhooks, k.clone(), Expect::Equals(bytes));
            if let Some(next) = d.next_attempt_at {
                b.remove(Tree::Webhooks, queue_key(next, id, delivery));
            }
            let now = Utc::now();
            d.state = DeliveryState::Pending;
            d.next_attempt_at = Some(now);
            // A replay starts the schedule over: attempts count from here.
            d.attempts.clear();
            b.put(Tree::Webhooks, k, d.to_bytes());
            b.put(Tree::Webhooks, queue_key(now, id, delivery), Vec::new());
            let mut a = audit(
                actor,
                "webhook.replay",
                &e,
                Some(format!("delivery {delivery}")),
            );
            a.detail = Some(format!("delivery {delivery} ({})", d.event));
            match self.commit(b, a) {
                Ok(()) => return Ok(d),
                Err(WebhookError::Store(StoreError::CheckFailed { .. })) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(WebhookError::Store(StoreError::Conflict {
            detail: "the delivery kept changing".into(),
        }))
    }

    /// Queues a test event (`webhook.test`) to an endpoint, due now.
    pub fn queue_test(&self, id: &str, actor: &str) -> WebhookResult<Delivery> {
        let (e, _) = self.read(id)?;
        if !e.enabled {
            return Err(WebhookError::Invalid(format!(
                "webhook {id} is disabled; enable it first (`verbund webhook enable {id}`)"
            )));
        }
        let now = Utc::now();
        let event = Event {
            kind: "webhook.test",
            seq: 0,
            content_type: None,
            locale: None,
            at: now.to_rfc3339(),
            data: serde_json::json!({ "webhook": e.id, "message": "Testlieferung von Verbund" }),
        };
        let d = new_delivery(&e.id, &event, now);
        let mut b = WriteBatch::new();
        b.put(Tree::Webhooks, delivery_key(id, &d.id), d.to_bytes());
        b.put(Tree::Webhooks, queue_key(now, id, &d.id), Vec::new());
        self.commit(
            b,
            audit(
                actor,
                "webhook.test",
                &e,
                Some(format!("delivery {}", d.id)),
            ),
        )?;
        Ok(d)
    }

    /// Sends again everything after `since` that the endpoint asks for now (each event with
    /// its `webhook-id`). Returns the number of deliveries queued.
    pub fn replay_since(
        &self,
        id: &str,
        since: u64,
        is_public: &dyn Fn(&str) -> bool,
        actor: &str,
    ) -> WebhookResult<usize> {
        const MAX_EVENTS: u64 = 100_000;
        let (e, _) = self.read(id)?;
        if !e.enabled {
            return Err(WebhookError::Invalid(format!(
                "webhook {id} is disabled; enable it first (`verbund webhook enable {id}`)"
            )));
        }
        let last = self.store.last_seq()?;
        if last.saturating_sub(since) > MAX_EVENTS {
            return Err(WebhookError::Invalid(format!(
                "a replay covers at most {MAX_EVENTS} changes; the feed is at {last}, so start at {} or later",
                last - MAX_EVENTS
            )));
        }
        let mut pos = since;
        let mut queued = 0;
        let now = Utc::now();
        while pos < last {
            let page = self.store.changes_since(pos, 500)?;
            let Some(end) = page.last().map(|c| c.seq) else {
                break;
            };
            let mut b = WriteBatch::new();
            for c in page.iter().filter(|c| c.seq <= last) {
                for ev in events_of(c.seq, &c.payload, is_public) {
                    if e.wants(&ev) {
                        let d = new_delivery(&e.id, &ev, now);
                        b.put(Tree::Webhooks, delivery_key(&e.id, &d.id), d.to_bytes());
                        b.put(Tree::Webhooks, queue_key(now, &e.id, &d.id), Vec::new());
                        queued += 1;
                    }
                }
            }
            if !b.is_empty() {
                self.store.commit(b)?;
            }
            pos = end;
        }
        let mut a = AuditRecord::draft(actor, "webhook.replay");
        a.id = Some(e.id.clone());
        a.detail = Some(format!("{queued} deliveries of the changes after {since}"));
        self.auth
            .audit(a)
            .map_err(|x| WebhookError::Audit(x.to_string()))?;
        Ok(queued)
    }

    fn commit(&self, b: WriteBatch, audit: AuditRecord) -> WebhookResult<()> {
        self.auth.commit_audited(b, audit).map_err(|e| match e {
            crate::auth::AuthError::Store(s) => WebhookError::Store(s),
            other => WebhookError::Audit(other.to_string()),
        })
    }

    /// Disables an endpoint on the server's own account (410 Gone, days of failures).
    pub(crate) fn disable(&self, id: &str, reason: String) -> WebhookResult<()> {
        self.modify(id, None, "server", "webhook.disable", |e| {
            e.enabled = false;
            e.disabled_reason = Some(reason.clone());
            Ok(())
        })
        .map(|_| ())
    }

    /// The number of the last change fanned out.
    pub fn cursor(&self) -> WebhookResult<u64> {
        Ok(counter(self.store.get(Tree::Meta, CURSOR_KEY)?.as_deref()))
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|x| seen.insert(x.clone()));
    v
}

fn audit(actor: &str, action: &str, e: &Endpoint, detail: Option<String>) -> AuditRecord {
    let mut a = AuditRecord::draft(actor, action);
    a.ty = Some("webhook".into());
    a.id = Some(e.id.clone());
    a.version_after = Some(e.version);
    a.detail = detail.or_else(|| e.disabled_reason.clone());
    a
}

/// A new pending delivery of `event` to `endpoint`, due at `now`.
fn new_delivery(endpoint: &str, event: &Event, now: DateTime<Utc>) -> Delivery {
    Delivery {
        id: ulid::Ulid::new().to_string(),
        webhook: endpoint.to_string(),
        message_id: event.message_id(),
        event: event.kind.to_string(),
        seq: event.seq,
        state: DeliveryState::Pending,
        attempts: Vec::new(),
        next_attempt_at: Some(now),
        created_at: now,
        payload: event.body(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_keys_order_by_due_time_and_read_back() {
        let t = DateTime::from_timestamp_millis(1_796_000_000_000).unwrap();
        let a = queue_key(
            t,
            "01ENDPOINTAAAAAAAAAAAAAAAA",
            "01DELIVERY0000000000000001",
        );
        let b = queue_key(
            t + chrono::Duration::milliseconds(1),
            "01ENDPOINT0000000000000000",
            "01DELIVERY0000000000000000",
        );
        assert!(a < b, "earlier due first, whatever the ids");
        assert_eq!(
            parse_queue_key(&a),
            Some((
                1_796_000_000_000,
                "01ENDPOINTAAAAAAAAAAAAAAAA".to_string(),
                "01DELIVERY0000000000000001".to_string()
            ))
        );
    }

    #[test]
    fn schedules_parse_with_units_and_refuse_nonsense() {
        assert_eq!(
            parse_schedule("0,5s,5m,2h,250ms").unwrap(),
            [0, 5_000, 300_000, 7_200_000, 250].map(Duration::from_millis)
        );
        assert!(parse_schedule("5 Minuten").is_err());
        assert!(parse_schedule("").is_err());
        assert!(parse_schedule("9999h").is_err());
    }
}
