//! The dispatcher: fans the change feed out into deliveries and sends what is due.
//!
//! One node at a time (the `webhooks` lease on a shared store; on sled the one process) runs
//! it. Both halves commit with checks, so a node that overlaps a moment with the next holder
//! neither fans an event out twice (the cursor is checked) nor records an attempt twice (the
//! queue entry is checked); the worst case is one extra send, which `webhook-id` lets
//! receivers drop.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore};

use super::target::{GuardedResolver, parse_target};
use super::{
    CURSOR_KEY, Delivery, DeliveryState, Endpoint, WebhookResult, Webhooks, delivery_key,
    delivery_prefix, endpoint_key, events_of, new_delivery, parse_queue_key, queue_key, sign,
};
use crate::ContentService;
use crate::store::{Expect, StoreError, Tree, WriteBatch, counter};

/// Changes read per fan-out commit.
const FAN_OUT_PAGE: usize = 500;
/// Due deliveries picked per look at the queue.
const PICK: usize = 512;
/// Bytes of an answer's body kept in the log.
const EXCERPT_BYTES: usize = 1024;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What one attempt brought.
#[derive(Debug, Default, Clone)]
struct Outcome {
    status: Option<u16>,
    retry_after: Option<Duration>,
    error: Option<String>,
    response: Option<String>,
    latency_ms: u64,
}

/// Sends deliveries; one per server.
pub struct Dispatcher {
    hooks: Webhooks,
    is_public: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    https: reqwest::Client,
    http: reqwest::Client,
    permits: Arc<Semaphore>,
    /// Deliveries being attempted now, and attempts per endpoint.
    busy: Mutex<(HashSet<String>, HashMap<String, usize>)>,
    /// Rung when an attempt finished (its retry may be due soon).
    finished: Notify,
    /// Where attempts go to be recorded together (see [`record_many`]), once running.
    recorder: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<ToRecord>>,
}

/// An attempt waiting to be recorded, and who waits for the result.
struct ToRecord {
    qkey: Vec<u8>,
    endpoint: String,
    delivery: String,
    outcome: Outcome,
    done: tokio::sync::oneshot::Sender<WebhookResult<Option<String>>>,
}

impl Dispatcher {
    pub fn new(content: &ContentService, hooks: Webhooks) -> Self {
        let config = hooks.config().clone();
        let client = |https: bool| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .timeout(config.timeout)
                .connect_timeout(config.timeout)
                .https_only(https)
                .pool_max_idle_per_host(config.per_endpoint)
                .user_agent(concat!("Verbund-Webhooks/", env!("CARGO_PKG_VERSION")))
                .dns_resolver(Arc::new(GuardedResolver {
                    policy: hooks.policy().clone(),
                    https,
                }))
                .build()
                .unwrap_or_default()
        };
        let schemas = content.schemas().clone();
        Self {
            https: client(true),
            http: client(false),
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            busy: Mutex::default(),
            finished: Notify::new(),
            recorder: std::sync::OnceLock::new(),
            is_public: Arc::new(move |t: &str| schemas.get(t).is_some_and(|ct| ct.is_public())),
            hooks,
        }
    }

    /// Turns the changes after the cursor into deliveries, one page per commit. Returns
    /// whether there may be more.
    pub fn fan_out(&self) -> WebhookResult<bool> {
        let store = self.hooks.store();
        let stored = store.get(Tree::Meta, CURSOR_KEY)?;
        // Only changes after the earliest start of an enabled endpoint can make a delivery:
        // without endpoints there is nothing to read or write (no commit per change).
        let Some(first) = self
            .hooks
            .list()?
            .iter()
            .filter(|e| e.enabled)
            .map(|e| e.since_seq)
            .min()
        else {
            return Ok(false);
        };
        let cursor = counter(stored.as_deref()).max(first);
        let page = store.changes_since(cursor, FAN_OUT_PAGE)?;
        let Some(end) = page.last().map(|c| c.seq) else {
            return Ok(false);
        };
        // The endpoints again, after the page: one added in between starts after the newest
        // change, so it wants nothing of this page.
        let endpoints: Vec<Endpoint> = self
            .hooks
            .list()?
            .into_iter()
            .filter(|e| e.enabled)
            .collect();
        let mut b = WriteBatch::new();
        b.check(
            Tree::Meta,
            CURSOR_KEY.to_vec(),
            match stored {
                Some(v) => Expect::Equals(v),
                None => Expect::Absent,
            },
        );
        let now = Utc::now();
        for c in &page {
            for ev in events_of(c.seq, &c.payload, self.is_public.as_ref()) {
                for e in endpoints.iter().filter(|e| c.seq > e.since_seq) {
                    if e.wants(&ev) {
                        let d = new_delivery(&e.id, &ev, now);
                        b.put(Tree::Webhooks, delivery_key(&e.id, &d.id), d.to_bytes());
                        b.put(Tree::Webhooks, queue_key(now, &e.id, &d.id), Vec::new());
                    }
                }
            }
        }
        b.put(Tree::Meta, CURSOR_KEY.to_vec(), end.to_be_bytes().to_vec());
        match store.commit(b) {
            Ok(_) => Ok(page.len() == FAN_OUT_PAGE),
            // Another node moved the cursor: look again.
            Err(StoreError::CheckFailed { .. } | StoreError::Conflict { .. }) => Ok(true),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts attempts of the due deliveries (as many as the bounds let); returns when the
    /// next one not yet due is due.
    async fn send_due(self: &Arc<Self>) -> WebhookResult<Option<DateTime<Utc>>> {
        let store = self.hooks.store().clone();
        let now_ms = Utc::now().timestamp_millis().max(0) as u64;
        let (due, next) = tokio::task::spawn_blocking(move || -> WebhookResult<_> {
            let mut end = b"q\0".to_vec();
            end.extend_from_slice(&(now_ms + 1).to_be_bytes());
            let due = store.scan_range_keys(Tree::Webhooks, b"q\0", &end, PICK)?;
            let later = store.scan_range_keys(Tree::Webhooks, &end, b"q\x01", 1)?;
            let next = later
                .first()
                .and_then(|k| parse_queue_key(k))
                .and_then(|(ms, _, _)| DateTime::from_timestamp_millis(ms));
            Ok((due, next))
        })
        .await
        .map_err(|e| StoreError::Engine(e.to_string()))??;
        let per_endpoint = self.hooks.config().per_endpoint.max(1);
        for k in due {
            let Some((ms, endpoint, delivery)) = parse_queue_key(&k) else {
                continue;
            };
            {
                let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
                let running = busy.1.get(&endpoint).copied().unwrap_or(0);
                if busy.0.contains(&delivery) {
                    continue;
                }
                // Full: look again when an attempt ends (`finished` wakes the loop).
                if running >= per_endpoint {
                    continue;
                }
                let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                    break;
                };
                busy.0.insert(delivery.clone());
                *busy.1.entry(endpoint.clone()).or_default() += 1;
                let me = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = me.attempt(&k, ms, &endpoint, &delivery).await {
                        tracing::warn!(webhook = endpoint, delivery, "webhook attempt: {e}");
                    }
                    drop(permit);
                    let mut busy = me.busy.lock().unwrap_or_else(|p| p.into_inner());
                    busy.0.remove(&delivery);
                    if let Some(n) = busy.1.get_mut(&endpoint) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            busy.1.remove(&endpoint);
                        }
                    }
                    drop(busy);
                    me.finished.notify_one();
                });
            }
        }
        Ok(next)
    }

    /// One attempt of one delivery, recorded.
    async fn attempt(
        self: &Arc<Self>,
        qkey: &[u8],
        due_ms: i64,
        endpoint: &str,
        delivery: &str,
    ) -> WebhookResult<()> {
        let hooks = self.hooks.clone();
        let (q, e, d) = (qkey.to_vec(), endpoint.to_string(), delivery.to_string());
        let loaded = blocking(move || load(&hooks, &q, due_ms, &e, &d)).await?;
        let Some((e, d)) = loaded else {
            return Ok(());
        };
        let outcome = self.send(&e, &d).await;
        let disable = match self.recorder.get() {
            Some(recorder) => {
                let (done, result) = tokio::sync::oneshot::channel();
                let item = ToRecord {
                    qkey: qkey.to_vec(),
                    endpoint: e.id.clone(),
                    delivery: d.id.clone(),
                    outcome,
                    done,
                };
                if recorder.send(item).is_err() {
                    return Ok(());
                }
                result
                    .await
                    .map_err(|_| StoreError::Engine("the recorder stopped".into()))??
            }
            None => {
                let hooks = self.hooks.clone();
                let q = qkey.to_vec();
                blocking(move || record(&hooks, &q, &e.id, &d.id, outcome)).await?
            }
        };
        if let Some(reason) = disable {
            let hooks = self.hooks.clone();
            let id = endpoint.to_string();
            tracing::warn!(webhook = id, "webhook disabled: {reason}");
            blocking(move || hooks.disable(&id, reason)).await?;
        }
        Ok(())
    }

    /// Sends one signed request.
    async fn send(&self, e: &Endpoint, d: &Delivery) -> Outcome {
        let url = match parse_target(&e.url) {
            Ok(u) => u,
            Err(why) => return Outcome::error(why),
        };
        if let Err(why) = self.hooks.policy().check_literal(&url) {
            return Outcome::error(why);
        }
        let https = url.scheme() == "https";
        let client = if https { &self.https } else { &self.http };
        let timestamp = Utc::now().timestamp();
        let mut signatures = Vec::new();
        let keys = self.hooks.keys();
        if let Some(secret) = sign::secret(keys, &e.key_id, &e.id, e.generation) {
            signatures.push(sign::signature(
                &secret,
                &d.message_id,
                timestamp,
                &d.payload,
            ));
        }
        if let Some(p) = e.previous.as_ref().filter(|p| p.until > Utc::now())
            && let Some(secret) = sign::secret(keys, &p.key_id, &e.id, p.generation)
        {
            signatures.push(sign::signature(
                &secret,
                &d.message_id,
                timestamp,
                &d.payload,
            ));
        }
        if signatures.is_empty() {
            return Outcome::error(format!(
                "this node does not hold the key {} the endpoint's secret comes from; copy verbund.key from the node that created it",
                e.key_id
            ));
        }
        let mut req = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &d.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signatures.join(" "))
            .body(d.payload.clone());
        if let Some(h) = &e.header {
            req = req.header(h.name.as_str(), h.value.as_str());
        }
        let started = Instant::now();
        let mut outcome = Outcome::default();
        match req.send().await {
            Ok(mut resp) => {
                outcome.latency_ms = started.elapsed().as_millis() as u64;
                let status = resp.status().as_u16();
                outcome.status = Some(status);
                if status == 429 || status == 503 {
                    outcome.retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                }
                let mut body = Vec::new();
                while body.len() < EXCERPT_BYTES {
                    match resp.chunk().await {
                        Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                        _ => break,
                    }
                }
                if !body.is_empty() {
                    let text = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_BYTES)]);
                    outcome.response = Some(text.chars().take(512).collect());
                }
            }
            Err(err) => {
                outcome.latency_ms = started.elapsed().as_millis() as u64;
                outcome.error = Some(if err.is_timeout() {
                    format!(
                        "no answer within {} s",
                        self.hooks.config().timeout.as_secs_f32()
                    )
                } else {
                    error_chain(&err)
                });
            }
        }
        outcome
    }

    /// Removes finished deliveries older than the retention from the log (a bounded amount
    /// per call).
    fn prune(&self) -> WebhookResult<usize> {
        let store = self.hooks.store();
        let retention = chrono::Duration::from_std(self.hooks.config().retention)
            .unwrap_or(chrono::Duration::days(30));
        let cutoff = Utc::now() - retention;
        let mut removed = 0;
        for e in self.hooks.list()? {
            let old = store.scan_prefix(Tree::Webhooks, &delivery_prefix(&e.id), false, 1000)?;
            let mut b = WriteBatch::new();
            for (k, v) in old {
                let Ok(d) = Delivery::from_bytes(&v) else {
                    continue;
                };
                if d.created_at >= cutoff {
                    break;
                }
                if d.state != DeliveryState::Pending {
                    b.remove(Tree::Webhooks, k);
                    removed += 1;
                }
            }
            if !b.is_empty() {
                store.commit(b)?;
            }
        }
        Ok(removed)
    }
}

impl Outcome {
    fn error(why: String) -> Self {
        Outcome {
            error: Some(why),
            ..Outcome::default()
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> WebhookResult<T> + Send + 'static,
) -> WebhookResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Engine(e.to_string()))?
}

/// The endpoint and delivery a queue entry is for, when an attempt is due; clears entries
/// that are stale, and cancels deliveries of disabled endpoints.
fn load(
    hooks: &Webhooks,
    qkey: &[u8],
    due_ms: i64,
    endpoint: &str,
    delivery: &str,
) -> WebhookResult<Option<(Endpoint, Delivery)>> {
    let store = hooks.store();
    let drop_entry = |extra: Option<(Vec<u8>, Delivery)>| -> WebhookResult<()> {
        let mut b = WriteBatch::new();
        b.check(Tree::Webhooks, qkey.to_vec(), Expect::Present);
        b.remove(Tree::Webhooks, qkey.to_vec());
        if let Some((k, d)) = extra {
            b.put(Tree::Webhooks, k, d.to_bytes());
        }
        match store.commit(b) {
            Ok(_) | Err(StoreError::CheckFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    };
    let Some(ebytes) = store.get(Tree::Webhooks, &endpoint_key(endpoint))? else {
        drop_entry(None)?;
        return Ok(None);
    };
    let e = Endpoint::from_bytes(&ebytes)?;
    let dkey = delivery_key(endpoint, delivery);
    let Some(dbytes) = store.get(Tree::Webhooks, &dkey)? else {
        drop_entry(None)?;
        return Ok(None);
    };
    let mut d = Delivery::from_bytes(&dbytes)?;
    let current = d.state == DeliveryState::Pending
        && d.next_attempt_at.map(|t| t.timestamp_millis()) == Some(due_ms);
    if !current {
        drop_entry(None)?;
        return Ok(None);
    }
    if !e.enabled {
        d.state = DeliveryState::Cancelled;
        d.next_attempt_at = None;
        drop_entry(Some((dkey, d)))?;
        return Ok(None);
    }
    Ok(Some((e, d)))
}

/// Records an attempt: success, a retry on the schedule, or the end. Returns a reason to
/// disable the endpoint, if the attempt gave one.
fn record(
    hooks: &Webhooks,
    qkey: &[u8],
    endpoint: &str,
    delivery: &str,
    outcome: Outcome,
) -> WebhookResult<Option<String>> {
    let store = hooks.store();
    let config = hooks.config();
    let now = Utc::now();
    for _ in 0..8 {
        let dkey = delivery_key(endpoint, delivery);
        let (Some(dbytes), Some(ebytes)) = (
            store.get(Tree::Webhooks, &dkey)?,
            store.get(Tree::Webhooks, &endpoint_key(endpoint))?,
        ) else {
            return Ok(None);
        };
        let mut d = Delivery::from_bytes(&dbytes)?;
        let mut e = Endpoint::from_bytes(&ebytes)?;
        let mut b = WriteBatch::new();
        b.check(Tree::Webhooks, qkey.to_vec(), Expect::Present);
        b.check(Tree::Webhooks, dkey.clone(), Expect::Equals(dbytes));
        b.remove(Tree::Webhooks, qkey.to_vec());
        d.attempts.push(super::Attempt {
            at: now,
            status: outcome.status,
            latency_ms: outcome.latency_ms,
            error: outcome.error.clone(),
            response: outcome.response.clone(),
        });
        // The log keeps the last attempts of a long-failing delivery.
        if d.attempts.len() > 30 {
            d.attempts.remove(0);
        }
        let success = outcome.status.is_some_and(|s| (200..300).contains(&s));
        let gone = outcome.status == Some(410);
        let mut disable = None;
        let mut endpoint_changed = false;
        if success {
            d.state = DeliveryState::Succeeded;
            d.next_attempt_at = None;
            if e.failing_since.take().is_some() {
                endpoint_changed = true;
            }
        } else {
            if e.failing_since.is_none() {
                e.failing_since = Some(now);
                endpoint_changed = true;
            }
            let attempts = d.attempts.len();
            if gone {
                d.state = DeliveryState::Failed;
                d.next_attempt_at = None;
                disable = Some(format!(
                    "disabled automatically: the endpoint answered 410 Gone at {}",
                    now.to_rfc3339()
                ));
            } else if let Some(delay) = config.schedule.get(attempts) {
                let mut wait = jitter(*delay);
                if let Some(ra) = outcome.retry_after {
                    wait = wait.max(ra);
                }
                let next = now + chrono::Duration::from_std(wait).unwrap_or_default();
                d.next_attempt_at = Some(next);
                b.put(
                    Tree::Webhooks,
                    queue_key(next, endpoint, delivery),
                    Vec::new(),
                );
            } else {
                d.state = DeliveryState::Failed;
                d.next_attempt_at = None;
            }
            let failing_for = e
                .failing_since
                .map(|t| (now - t).to_std().unwrap_or_default())
                .unwrap_or_default();
            if disable.is_none() && e.enabled && failing_for >= config.disable_after {
                disable = Some(format!(
                    "disabled automatically: every delivery failed since {} ({} hours)",
                    e.failing_since.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    failing_for.as_secs() / 3600
                ));
            }
        }
        b.put(Tree::Webhooks, dkey, d.to_bytes());
        if endpoint_changed {
            b.check(
                Tree::Webhooks,
                endpoint_key(endpoint),
                Expect::Equals(ebytes),
            );
            b.put(Tree::Webhooks, endpoint_key(endpoint), e.to_bytes());
        }
        match store.commit(b) {
            Ok(_) => return Ok(disable),
            Err(StoreError::CheckFailed { .. } | StoreError::Conflict { .. }) => {
                // The queue entry is gone (another node recorded it, or a replay moved it):
                // nothing to record. Otherwise the endpoint changed: read again.
                if store.get(Tree::Webhooks, qkey)?.is_none() {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// Records many attempts at once: the successes of endpoints that need no update share one
/// commit (one flush for a burst of deliveries); everything else, and everything of a shared
/// commit that a check refused, goes through [`record`] one by one.
fn record_many(
    hooks: &Webhooks,
    items: Vec<(Vec<u8>, String, String, Outcome)>,
) -> Vec<WebhookResult<Option<String>>> {
    let store = hooks.store();
    let now = Utc::now();
    let mut results: Vec<Option<WebhookResult<Option<String>>>> =
        items.iter().map(|_| None).collect();
    let mut batch = WriteBatch::new();
    let mut shared = Vec::new();
    for (i, (qkey, endpoint, delivery, outcome)) in items.iter().enumerate() {
        if !outcome.status.is_some_and(|s| (200..300).contains(&s)) {
            continue;
        }
        let dkey = delivery_key(endpoint, delivery);
        let read = (|| -> WebhookResult<Option<(Vec<u8>, Delivery, Endpoint)>> {
            let (Some(dbytes), Some(ebytes)) = (
                store.get(Tree::Webhooks, &dkey)?,
                store.get(Tree::Webhooks, &endpoint_key(endpoint))?,
            ) else {
                return Ok(None);
            };
            Ok(Some((
                dbytes.clone(),
                Delivery::from_bytes(&dbytes)?,
                Endpoint::from_bytes(&ebytes)?,
            )))
        })();
        match read {
            Ok(None) => results[i] = Some(Ok(None)),
            // Clearing `failing_since` changes the endpoint: one by one.
            Ok(Some((_, _, e))) if e.failing_since.is_some() => {}
            Ok(Some((dbytes, mut d, _))) => {
                d.attempts.push(super::Attempt {
                    at: now,
                    status: outcome.status,
                    latency_ms: outcome.latency_ms,
                    error: None,
                    response: outcome.response.clone(),
                });
                if d.attempts.len() > 30 {
                    d.attempts.remove(0);
                }
                d.state = DeliveryState::Succeeded;
                d.next_attempt_at = None;
                batch.check(Tree::Webhooks, qkey.clone(), Expect::Present);
                batch.check(Tree::Webhooks, dkey.clone(), Expect::Equals(dbytes));
                batch.remove(Tree::Webhooks, qkey.clone());
                batch.put(Tree::Webhooks, dkey, d.to_bytes());
                shared.push(i);
            }
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    if !shared.is_empty() && store.commit(batch).is_ok() {
        for i in shared {
            results[i] = Some(Ok(None));
        }
    }
    items
        .into_iter()
        .zip(results)
        .map(|((qkey, endpoint, delivery, outcome), r)| {
            r.unwrap_or_else(|| record(hooks, &qkey, &endpoint, &delivery, outcome))
        })
        .collect()
}

/// Takes attempts off the channel and records them in groups: while one group commits, the
/// next gathers.
async fn recorder(hooks: Webhooks, mut rx: tokio::sync::mpsc::UnboundedReceiver<ToRecord>) {
    while let Some(first) = rx.recv().await {
        let mut items = vec![first];
        while items.len() < 256 {
            match rx.try_recv() {
                Ok(item) => items.push(item),
                Err(_) => break,
            }
        }
        let (work, waiting): (Vec<_>, Vec<_>) = items
            .into_iter()
            .map(|t| ((t.qkey, t.endpoint, t.delivery, t.outcome), t.done))
            .unzip();
        let h = hooks.clone();
        match tokio::task::spawn_blocking(move || record_many(&h, work)).await {
            Ok(results) => {
                for (done, r) in waiting.into_iter().zip(results) {
                    let _ = done.send(r);
                }
            }
            Err(e) => {
                for done in waiting {
                    let _ = done.send(Err(StoreError::Engine(e.to_string()).into()));
                }
            }
        }
    }
}

/// A delay with ±10 % jitter, so that retries of many deliveries spread out.
fn jitter(delay: Duration) -> Duration {
    if delay.is_zero() {
        return delay;
    }
    let r = (ulid::Ulid::new().random() % 2001) as f64 / 10_000.0; // 0 ..= 0.2
    delay.mul_f64(0.9 + r)
}

/// `Retry-After`: seconds, or an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    let d = if let Ok(secs) = v.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
        (at - Utc::now()).to_std().unwrap_or_default()
    };
    Some(d.min(MAX_RETRY_AFTER))
}

/// An error with its causes ("error sending request: … : connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Runs the dispatcher until the task is aborted: fans out new changes and sends what is
/// due, woken by commits (`wake`), finished attempts and the next due time.
pub async fn run(
    dispatcher: Arc<Dispatcher>,
    lease: Arc<Mutex<Option<crate::lease::Lease>>>,
    mut wake: tokio::sync::watch::Receiver<u64>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    if dispatcher.recorder.set(tx).is_ok() {
        tokio::spawn(recorder(dispatcher.hooks.clone(), rx));
    }
    let mut failing = false;
    let mut last_prune: Option<Instant> = None;
    loop {
        let d = dispatcher.clone();
        let l = lease.clone();
        let round = tokio::task::spawn_blocking(move || -> WebhookResult<bool> {
            let holds = match l.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                Some(lease) => lease.hold(d.hooks.store().as_ref())?,
                None => true,
            };
            if holds {
                while d.fan_out()? {}
            }
            Ok(holds)
        })
        .await;
        let mut next = None;
        match round {
            Ok(Ok(true)) => {
                match dispatcher.send_due().await {
                    Ok(n) => next = n,
                    Err(e) => tracing::warn!("webhook queue: {e}"),
                }
                if last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
                    last_prune = Some(Instant::now());
                    let d = dispatcher.clone();
                    if let Ok(Ok(n)) = tokio::task::spawn_blocking(move || d.prune()).await
                        && n > 0
                    {
                        tracing::info!("removed {n} old webhook deliveries from the log");
                    }
                }
                if failing {
                    tracing::info!("webhook delivery works again");
                    failing = false;
                }
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) if !failing => {
                tracing::warn!("webhook dispatcher: {e}");
                failing = true;
            }
            _ => {}
        }
        let wait = next
            .map(|t| (t - Utc::now()).to_std().unwrap_or_default())
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        let changed = async {
            if wake.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = changed => {}
            _ = dispatcher.finished.notified() => {
                // Under load attempts end in bursts: one look at the queue for a few of them,
                // not one each. A lone attempt's end is looked at at once.
                let limit = dispatcher.hooks.config().concurrency.max(1);
                if limit - dispatcher.permits.available_permits().min(limit) >= 8 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates_and_is_capped() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..100 {
            let j = jitter(Duration::from_secs(100));
            assert!(j >= Duration::from_secs(90) && j <= Duration::from_secs(110));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
