//! The tower layers around the API: limits, rate limiting, CORS, compression, metrics,
//! panic catching, and one rendering of every error as problem+json.

use super::Code;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

/// Limits and policies of the HTTP layer.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Longest a request may take before it is answered with 408.
    pub request_timeout: Duration,
    /// Requests handled at once; more are answered with 503 at once.
    pub max_concurrency: usize,
    /// Sustained requests per second per client on the management and admin API (and for any
    /// request carrying a token); 0 turns the limit off.
    pub rate_per_second: u32,
    /// Burst allowance of the rate limit.
    pub rate_burst: u32,
    /// Proxies whose `Forwarded`/`X-Forwarded-For` name the client (addresses or networks);
    /// from any other peer those headers are ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Origins allowed by CORS; empty means any origin.
    pub cors_origins: Vec<String>,
    /// Longest a client may take to send a request's headers, and longest an idle keep-alive
    /// connection stays open; the connection is closed after it (security review #7).
    pub header_timeout: Duration,
    /// Connections open at once; a connection beyond them is answered with 503 and closed.
    pub max_connections: usize,
    /// Change streams (`GET /api/v1/changes/stream`) open at once; one more is answered 503.
    pub max_streams: usize,
    /// Change streams one client address may keep open at once (so that one client cannot
    /// take them all); one more is answered 429.
    pub max_streams_per_client: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(30),
            max_concurrency: 1024,
            rate_per_second: 20,
            rate_burst: 100,
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            header_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_streams: 2048,
            max_streams_per_client: 16,
        }
    }
}

/// Rate limits the management and admin API, and every request that carries a token.
fn rate_limited(state: &AppState, req: &Request) -> Option<Response> {
    let limits = &state.limits;
    let path = req.uri().path();
    let has_token = req.headers().contains_key(header::AUTHORIZATION);
    let applies = limits.rate_per_second > 0
        && (has_token
            || path.starts_with("/api/v1/manage")
            || path.starts_with("/api/v1/admin")
            || path.starts_with("/api/v1/newsletter"));
    if applies && let Some(rate) = &state.rate {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        // Per client address: varying the token (guessing) does not buy a fresh bucket.
        let client = super::rate::client_address(peer, req.headers(), &limits.trusted_proxies);
        if let Err(wait) = rate.take(client) {
            let mut res = ApiError::new(
                Code::RateLimited,
                format!("too many requests from this client; try again in {wait} s"),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Some(res);
        }
    }
    None
}

/// Counts requests and latencies per route for `/metrics`.
pub async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let started = Instant::now();
    let res = next.run(req).await;
    state.metrics.observe(
        &method,
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        res.status().as_u16(),
        started.elapsed(),
    );
    res
}

/// The edge of the API, one middleware to keep the per-request cost low: rate limiting, every
/// error answer that is not problem+json yet rendered as problem+json, the browser-hardening
/// headers on every answer, and a debug line per request when debug logging is on.
pub async fn edge(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let api_page = req.uri().path().starts_with("/api/");
    let logged = tracing::enabled!(tracing::Level::DEBUG)
        .then(|| (req.method().clone(), req.uri().clone(), Instant::now()));
    let mut res = match rate_limited(&state, &req) {
        Some(refused) => refused,
        None => as_problem(next.run(req).await).await,
    };
    harden(&mut res, api_page);
    if let Some((method, uri, started)) = logged {
        tracing::debug!(%method, %uri, status = res.status().as_u16(), elapsed = ?started.elapsed(), "request");
    }
    res
}

/// An error answer that is not problem+json yet (rejections of extractors, limits, timeouts,
/// unknown methods), rendered as problem+json with a stable code.
async fn as_problem(res: Response) -> Response {
    let status = res.status();
    if status.as_u16() < 400 {
        return res;
    }
    // Problems pass as they are, and so do error pages handlers made for browsers (the
    // newsletter's links).
    let is_problem_or_page = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.starts_with(b"application/problem+json") || v.starts_with(b"text/html")
    });
    if is_problem_or_page {
        return res;
    }
    let retry_after = res.headers().get(header::RETRY_AFTER).cloned();
    let allow = res.headers().get(header::ALLOW).cloned();
    let (_, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let code = Code::for_status(status);
    let detail = match code {
        Code::PayloadTooLarge => {
            "the request body is too large; the limit is set with --max-body".to_string()
        }
        Code::Timeout => "the request took too long and was stopped".to_string(),
        Code::MethodNotAllowed => format!(
            "this method is not allowed here{}",
            allow
                .as_ref()
                .and_then(|a| a.to_str().ok())
                .map(|a| format!("; allowed: {a}"))
                .unwrap_or_default()
        ),
        Code::Overloaded => {
            "the server is handling too many requests; try again shortly".to_string()
        }
        Code::Internal => {
            tracing::error!(status = %status, body = %text, "internal error");
            "the server could not complete the request; it has been logged".to_string()
        }
        Code::NotFound if text.is_empty() => "not found".to_string(),
        _ if text.is_empty() => "the request is malformed".to_string(),
        _ => text,
    };
    let mut out = ApiError::new(code, detail).into_response();
    if let Some(v) = retry_after {
        out.headers_mut().insert(header::RETRY_AFTER, v);
    }
    if let Some(v) = allow {
        out.headers_mut().insert(header::ALLOW, v);
    }
    out
}

/// A panic in a handler becomes a 500 problem; the server keeps serving.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a request handler panicked");
    ApiError::new(
        Code::Internal,
        "the server could not complete the request; it has been logged",
    )
    .into_response()
}

/// How long installing a plugin may take: the server compiles the component to native code
/// first, which for a Python plugin (CPython inside, about 20 MB of Wasm) takes seconds to
/// tens of seconds on a small machine.
pub const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// Stops a request that takes longer than `limit` (plugin installs: [`INSTALL_TIMEOUT`]).
pub async fn deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    let limit = if req.method() == axum::http::Method::POST
        && req.uri().path() == "/api/v1/admin/plugins"
    {
        INSTALL_TIMEOUT.max(limit)
    } else {
        limit
    };
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::new(Code::Timeout, "the request took too long and was stopped")
            .into_response(),
    }
}

/// Load shedding answers (the concurrency limit is full) and timeouts.
pub async fn overload_response(err: tower::BoxError) -> Response {
    if err.is::<tower::timeout::error::Elapsed>() {
        return ApiError::new(Code::Timeout, "the request took too long and was stopped")
            .into_response();
    }
    let mut res = ApiError::new(
        Code::Overloaded,
        "the server is handling too many requests; try again shortly",
    )
    .into_response();
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    res
}

/// The CSP of the API's own HTML pages (newsletter confirm/unsubscribe): no scripts at all,
/// inline `style=` attributes (they carry their look), forms only back to this server.
const CSP_API_PAGE: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The CSP of `--site` pages: scripts and styles only from the site itself (the example
/// website loads `app.js` and `style.css`, no inline code); `connect-src` stays open because
/// the site may read an API on another origin (`?api=…`), and images may come from content
/// (member logos on their own hosts).
const CSP_SITE: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: https: http:; connect-src 'self' https: http:; object-src 'none'; \
     base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// Browser-hardening headers on every response (security review #15): no MIME sniffing, no
/// framing (clickjacking), no full URLs (with tokens in query strings) in `Referer`, and a CSP
/// on HTML. Set by [`edge`], outside panic catching, load shedding and CORS, so panics,
/// overload answers and CORS preflights get them too.
fn harden(res: &mut Response, api_page: bool) {
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    let html = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    let csp = if html {
        if api_page { CSP_API_PAGE } else { CSP_SITE }
    } else {
        // JSON and other data: nothing to run, nothing to frame.
        "default-src 'none'; frame-ancestors 'none'"
    };
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
    }
}
