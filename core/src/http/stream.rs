//! The live change stream: the public change feed as Server-Sent Events.
//!
//! Each event is one change of the published view (`id:` its sequence number, `event:
//! change`, `data:` the event as `GET /api/v1/changes` gives it). A client that reconnects
//! sends `Last-Event-ID` (browsers' `EventSource` does it by itself) and gets every change
//! after it, read from the store, so a reconnect leaves no gap. A stream holds at most one page
//! of events in memory and is polled only as fast as its client reads; the number of streams a
//! server keeps open is bounded (`Limits::max_streams`), and streams end when the server stops.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use schemars::JsonSchema;

use super::params;
use super::typed::{EventStream, ParameterRefs, QueryParams, Raw};
use super::{ApiError, AppState, Code};
use crate::content::ChangeEvent;

/// Events read from the store at once per stream.
const PAGE: usize = 200;
/// How often a stream without events sends a comment, so that proxies keep it open and
/// clients notice a dead connection.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// How long a stream waits for news before it looks at the store anyway.
const LOOK_EVERY: Duration = Duration::from_secs(5);

/// Where a stream starts.
#[derive(JsonSchema)]
pub struct StreamQuery {
    /// Start after this sequence number (`Last-Event-ID` wins when both are given); without
    /// either, the stream starts with the next change.
    pub since: Option<u64>,
}

impl ParameterRefs for StreamQuery {}

impl QueryParams for StreamQuery {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut q = StreamQuery { since: None };
        for (k, v) in params::pairs(raw.map(String::from))? {
            match k.as_str() {
                "since" => {
                    q.since = Some(v.parse().map_err(|_| {
                        ApiError::new(
                            Code::InvalidQuery,
                            format!("since must be a sequence number (a whole number), got {v:?}"),
                        )
                    })?)
                }
                other => return Err(params::unknown(other, "since")),
            }
        }
        Ok(q)
    }
}

/// A page of the feed read for the streams at `pos` when the newest known change was `known`.
#[derive(Debug)]
pub(super) struct FeedMemo {
    pos: u64,
    known: u64,
    feed: std::sync::Arc<crate::content::ChangeFeed>,
}

/// The page after `pos`: read once for all streams at the same position (a publication with a
/// thousand streams open is one read, not a thousand).
async fn page_after(
    state: &AppState,
    pos: u64,
    known: u64,
) -> Option<std::sync::Arc<crate::content::ChangeFeed>> {
    let mut memo = state.feed_memo.lock().await;
    if let Some(m) = memo.as_ref()
        && m.pos == pos
        && m.known >= known
    {
        return Some(m.feed.clone());
    }
    let content = state.content.clone();
    let feed = tokio::task::spawn_blocking(move || content.public_changes(pos, PAGE))
        .await
        .ok()?
        .ok()?;
    let feed = std::sync::Arc::new(feed);
    *memo = Some(FeedMemo {
        pos,
        known,
        feed: feed.clone(),
    });
    Some(feed)
}

/// The address of the connection's peer, if the request came over one.
pub struct Peer(Option<std::net::IpAddr>);

impl axum::extract::FromRequestParts<AppState> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

impl aide::OperationInput for Peer {}

/// One open stream of a client address; counted down when the stream ends.
struct ClientSlot {
    clients: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
    client: std::net::IpAddr,
}

impl ClientSlot {
    fn take(state: &AppState, client: std::net::IpAddr) -> Option<Self> {
        let mut open = state
            .stream_clients
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let n = open.entry(client).or_default();
        if *n >= state.limits.max_streams_per_client.max(1) {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            clients: state.stream_clients.clone(),
            client,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.client);
            }
        }
    }
}

struct Cursor {
    state: AppState,
    pos: u64,
    buf: VecDeque<ChangeEvent>,
    wake: tokio::sync::watch::Receiver<u64>,
    closing: tokio::sync::watch::Receiver<bool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
    _slot: ClientSlot,
}

pub async fn stream(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    super::typed::ApiQuery(q): super::typed::ApiQuery<StreamQuery>,
) -> Result<Raw<EventStream>, ApiError> {
    let last_event_id = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::new(
                        Code::BadRequest,
                        "Last-Event-ID must be the sequence number of an event of this stream",
                    )
                })?,
        ),
        None => None,
    };
    let client = super::rate::client_address(peer, &headers, &state.limits.trusted_proxies);
    let slot = ClientSlot::take(&state, client).ok_or_else(|| {
        ApiError::new(
            Code::RateLimited,
            format!(
                "this client has {} change streams open, the most one client may; one per page is enough (EventSource)",
                state.limits.max_streams_per_client
            ),
        )
    })?;
    let permit = state.streams.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            Code::Overloaded,
            "this server has as many change streams open as it keeps; try again later or poll GET /api/v1/changes",
        )
    })?;
    let pos = match last_event_id.or(q.since) {
        Some(p) => p,
        None => {
            let content = state.content.clone();
            params::blocking(move || {
                Ok(content
                    .store()
                    .last_seq()
                    .map_err(crate::content::ContentError::from)?)
            })
            .await?
        }
    };
    let cursor = Cursor {
        wake: state.content.watch_feed(),
        closing: state.closing.subscribe(),
        state,
        pos,
        buf: VecDeque::new(),
        _permit: permit,
        _slot: slot,
    };
    let events = futures_util::stream::unfold(cursor, next_event);
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"));
    let mut response = sse.into_response();
    // Through nginx and other buffering proxies, as it happens.
    response.headers_mut().insert(
        axum::http::HeaderName::from_static("x-accel-buffering"),
        axum::http::HeaderValue::from_static("no"),
    );
    Ok(Raw::new(response))
}

async fn next_event(mut c: Cursor) -> Option<(Result<Event, Infallible>, Cursor)> {
    loop {
        if *c.closing.borrow() {
            return None;
        }
        if let Some(ev) = c.buf.pop_front() {
            let id = ev.seq.to_string();
            let data = serde_json::to_string(&ev).unwrap_or_default();
            let event = Event::default().id(id).event("change").data(data);
            return Some((Ok(event), c));
        }
        // Mark what the feed said before reading, so that a commit during the read wakes us.
        let known = *c.wake.borrow_and_update();
        let caught_up = match page_after(&c.state, c.pos, known).await {
            Some(feed) => {
                c.pos = feed.next_since;
                c.buf.extend(feed.events.iter().cloned());
                feed.next_since >= feed.last_seq
            }
            None => true,
        };
        if c.buf.is_empty() && caught_up {
            let closing = async {
                let _ = c.closing.changed().await;
            };
            tokio::select! {
                _ = c.wake.changed() => {}
                _ = tokio::time::sleep(LOOK_EVERY) => {}
                _ = closing => return None,
            }
        }
    }
}
