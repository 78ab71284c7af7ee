//! The HTTP face of Verbund: an axum router over the content service.
//!
//! `router(state)` builds the app without serving it (tests drive it with `oneshot`);
//! `serve(listener, state, shutdown)` serves it until `shutdown` resolves, finishing in-flight
//! requests.

mod admin;
pub mod assets;
mod bulk;
mod cache;
mod caller;
mod codes;
mod delivery;
mod error;
mod layers;
mod mail;
mod manage;
mod metrics;
mod newsletter;
mod openapi;
mod params;
mod plugins;
pub mod rate;
mod routes;
mod search;
mod server;
mod stream;
mod typed;
mod webhooks;

pub use codes::Code;
pub use error::ApiError;
pub use layers::Limits;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::ContentService;

/// Shared state of every handler: a handle (one `Arc`), so that axum's per-request clone of
/// the router state costs one reference count, not one per field. Fields are read through
/// `Deref`; [`AppState::configure`] changes them before the server starts.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every handler shares (see [`AppState`]).
#[derive(Clone, Debug)]
pub struct Shared {
    pub content: Arc<ContentService>,
    pub auth: crate::auth::AuthService,
    pub delivery: Arc<DeliveryConfig>,
    pub limits: Arc<Limits>,
    cache: Arc<cache::ResponseCache>,
    /// The management rate limit (shared out among the nodes of a shared store).
    pub rate: Option<Arc<rate::RateLimiter>>,
    metrics: Arc<metrics::Metrics>,
    /// A directory of static files served at `/` (a website pulling from this API).
    pub site: Option<std::path::PathBuf>,
    /// The plugin host, when plugins are on.
    pub plugins: Option<Arc<crate::plugin::PluginHost>>,
    /// Media storage and transforms, when media are on.
    pub media: Option<Arc<crate::media::Media>>,
    /// Where newsletter mails go and how their links start, when the newsletter is on.
    pub mail: Option<Arc<crate::newsletter::MailSettings>>,
    /// Webhook endpoints and their deliveries.
    pub webhooks: crate::webhooks::Webhooks,
    /// This node's search index, when search is on.
    pub search: Option<Arc<crate::search::SearchIndex>>,
    /// Change streams open at once (bounded by `Limits::max_streams`).
    pub streams: Arc<tokio::sync::Semaphore>,
    /// Set when the server stops: open change streams end, so that the stop is not held up.
    pub closing: Arc<tokio::sync::watch::Sender<bool>>,
    /// Change streams open per client address.
    stream_clients: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
    /// The last page of the feed a change stream read: the streams at one position share it.
    feed_memo: Arc<tokio::sync::Mutex<Option<stream::FeedMemo>>>,
    /// The OpenAPI document, made when the router is built (it depends only on the routes and
    /// the content types).
    openapi: Arc<std::sync::OnceLock<axum::body::Bytes>>,
}

impl AppState {
    pub fn new(content: Arc<ContentService>) -> Self {
        Self::with_config(content, DeliveryConfig::default(), Limits::default())
    }

    pub fn with_config(
        content: Arc<ContentService>,
        delivery: DeliveryConfig,
        limits: Limits,
    ) -> Self {
        let cache = cache::ResponseCache::new(delivery.cache_entries, delivery.cache_bytes);
        let rate = rate::RateLimiter::new(limits.rate_per_second, limits.rate_burst).map(Arc::new);
        let streams = Arc::new(tokio::sync::Semaphore::new(limits.max_streams));
        let webhooks =
            crate::webhooks::Webhooks::new(&content, crate::webhooks::WebhookConfig::default());
        Self(Arc::new(Shared {
            webhooks,
            streams,
            closing: Arc::new(tokio::sync::watch::Sender::new(false)),
            feed_memo: Arc::default(),
            stream_clients: Arc::default(),
            auth: content.auth(),
            content,
            delivery: Arc::new(delivery),
            limits: Arc::new(limits),
            cache: Arc::new(cache),
            rate,
            metrics: Arc::default(),
            site: None,
            plugins: None,
            media: None,
            mail: None,
            search: None,
            openapi: Arc::default(),
        }))
    }

    /// The fields to set up before the state is shared (a copy if it is shared already).
    pub fn configure(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.0)
    }
}

/// How delivery responses may be cached.
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    /// The `Cache-Control` header of delivery responses.
    pub cache_control: axum::http::HeaderValue,
    /// How many delivery responses the server keeps in memory (0 turns the cache off).
    pub cache_entries: usize,
    /// How many bytes of delivery responses the server keeps in memory.
    pub cache_bytes: usize,
    /// The locale delivery falls back to where an entry has no translation in the asked
    /// `locale` (a request's `fallback` overrides it); none by default.
    pub fallback_locale: Option<String>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            cache_control: axum::http::HeaderValue::from_static(
                "public, max-age=60, stale-while-revalidate=600",
            ),
            cache_entries: 4096,
            cache_bytes: 64 << 20,
            fallback_locale: None,
        }
    }
}

/// Parses a delivery query string (what follows `?`) the way `GET /api/v1/content/{type}`
/// does; the error is the message a client would get. For fuzzing and tools.
pub fn parse_delivery_query(raw: &str) -> Result<crate::content::DeliveryQuery, String> {
    delivery::parse_query(Some(raw.to_string()))
        .map(|(q, _)| q)
        .map_err(|e| e.detail)
}

/// The whole API as a router.
pub fn router(state: AppState) -> Router {
    let limits = state.limits.clone();
    let routed = routed(state.clone());
    // The layers wrap the router once, as one service, instead of every route (what
    // `Router::layer` does): a request then clones one boxed service instead of one per layer,
    // and the concurrency limit is one limit for the server, not one per route.
    // Outermost first. The edge (rate limit, problem rendering, hardening headers) sits inside
    // compression, so that it reads error bodies uncompressed, and outside everything else, so
    // that panics, overload answers and CORS preflights get its headers.
    let edge = ServiceBuilder::new()
        .layer(CompressionLayer::new().compress_when(compressible()))
        .layer(from_fn_with_state(state, layers::edge))
        .layer(CatchPanicLayer::custom(layers::panic_response))
        .layer(cors_layer(&limits.cors_origins))
        .layer(HandleErrorLayer::new(layers::overload_response))
        .load_shed()
        .concurrency_limit(limits.max_concurrency.max(1))
        .layer(from_fn_with_state(limits.request_timeout, layers::deadline))
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_body_bytes))
        .service(routed);
    Router::new().fallback_service(edge)
}

/// The routes of the API (with the site or the fallback), without the layers around them.
fn routed(state: AppState) -> Router {
    let site = state.site.clone();
    // The operations aide generates while building the router are the document's: made once,
    // here, and served as they are.
    let mut api = aide::openapi::OpenApi::default();
    let app = routes::api_routes().finish_api(&mut api);
    let _ = state.openapi.set(axum::body::Bytes::from(
        serde_json::to_vec(&openapi::assemble(&api, state.content.schemas())).unwrap_or_default(),
    ));
    let app = match site {
        Some(dir) => {
            let site = Arc::new(Site::new(dir));
            app.fallback(move |req: axum::extract::Request| {
                let site = site.clone();
                async move { site.serve(req).await }
            })
        }
        None => app.fallback(fallback),
    };
    app.route_layer(from_fn_with_state(state.clone(), layers::record_metrics))
        .with_state(state)
}

/// Which responses are compressed: bodies of at least 1 KiB (below that, gzip's header and
/// the CPU cost more than the bytes saved), not images or event streams.
fn compressible() -> impl tower_http::compression::Predicate {
    use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
    SizeAbove::new(1024)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
}

/// Which CORS policy a path falls under (security review #16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CorsClass {
    /// The public read API (delivery, changes, schemas, OpenAPI): websites on any origin read
    /// it, unless `--cors-origin` names the allowed ones.
    PublicRead,
    /// Newsletter sign-up, confirm and unsubscribe: they act on behalf of a visitor, so only the
    /// configured origins may drive them from a browser; none by default.
    SignUp,
    /// Everything else (management, admin, import/export, metrics): never called from a
    /// website, so no CORS at all and browsers block cross-site calls.
    None,
}

fn cors_class(path: &str) -> CorsClass {
    let public = path == "/openapi.json"
        || path == "/api/v1/changes"
        || path == "/api/v1/changes/stream"
        || path == "/api/v1/schemas"
        || path.starts_with("/api/v1/content/")
        || path.starts_with("/api/v1/schemas/");
    if public {
        CorsClass::PublicRead
    } else if path.starts_with("/api/v1/newsletter/") {
        CorsClass::SignUp
    } else {
        CorsClass::None
    }
}

/// CORS by route class (see [`CorsClass`]): one layer whose origin check looks at the path, so
/// a refused origin gets no `Access-Control-Allow-Origin` on preflights and simple requests.
fn cors_layer(origins: &[String]) -> CorsLayer {
    use axum::http::{HeaderName, Method, header};
    let list: Arc<Vec<axum::http::HeaderValue>> = Arc::new(
        origins
            .iter()
            .filter_map(|o| axum::http::HeaderValue::from_str(o.trim_end_matches('/')).ok())
            .collect(),
    );
    let any_public = origins.is_empty();
    CorsLayer::new()
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            HeaderName::from_static("surrogate-key"),
        ])
        .max_age(std::time::Duration::from_secs(600))
        .allow_origin(AllowOrigin::predicate(
            move |origin, parts| match cors_class(parts.uri.path()) {
                CorsClass::PublicRead => any_public || list.contains(origin),
                CorsClass::SignUp => list.contains(origin),
                CorsClass::None => false,
            },
        ))
}

/// The `--site` folder. Invariant (security review #15): only files whose canonical path lies
/// inside the folder are served, and no path segment may start with `.` (`/.env`,
/// `/.git/config`): hidden files are deployment leftovers, never website content. Anything
/// refused is a plain 404, like a missing file.
struct Site {
    root: std::path::PathBuf,
    files: tower_http::services::ServeDir,
}

impl Site {
    fn new(dir: std::path::PathBuf) -> Self {
        let root = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
        Self {
            files: tower_http::services::ServeDir::new(&root),
            root,
        }
    }

    /// The file `path` (the URL path) names, if serving it is allowed; `None` → 404.
    /// Missing files pass (ServeDir answers them with 404 itself).
    fn allowed(&self, path: &str) -> bool {
        let mut target = self.root.clone();
        for raw in path.split('/').filter(|s| !s.is_empty()) {
            let segment = match percent_decode(raw) {
                Some(s) => s,
                None => return false,
            };
            // `.` and `..` are covered here too: no traversal, no hidden files.
            if segment.starts_with('.') || segment.contains(['/', '\\', '\0']) {
                return false;
            }
            target.push(segment);
        }
        let inside = |p: &std::path::Path| match std::fs::canonicalize(p) {
            Ok(real) => real.starts_with(&self.root),
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        };
        inside(&target) && (!target.is_dir() || inside(&target.join("index.html")))
    }

    async fn serve(&self, req: axum::extract::Request) -> axum::response::Response {
        use axum::response::IntoResponse;
        use tower::ServiceExt;
        if !self.allowed(req.uri().path()) {
            return ApiError::not_found("not found").into_response();
        }
        match self.files.clone().oneshot(req).await {
            Ok(res) => res.map(axum::body::Body::new),
            Err(never) => match never {},
        }
    }
}

/// Decodes `%XX` escapes of one URL path segment; `None` when it is not valid UTF-8.
fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

async fn openapi_json(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> typed::Reply<serde_json::Map<String, serde_json::Value>> {
    // Made by `router`, which every served state goes through.
    let body = state.openapi.get().cloned().unwrap_or_default();
    typed::Reply::from_response(
        (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
    )
}

/// Who a token belongs to.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct WhoAmI {
    token_id: String,
    role: crate::auth::Role,
    /// The token's person, "Name <e-mail>", if the token names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

/// Who the token belongs to: lets clients check a token (`verbund login`).
async fn whoami(
    axum::extract::State(state): axum::extract::State<AppState>,
    caller: crate::auth::Caller,
) -> typed::Reply<typed::Data<WhoAmI>> {
    let auth = state.auth.clone();
    let id = caller.token_id.clone();
    let name = tokio::task::spawn_blocking(move || auth.display_name_of(&id))
        .await
        .ok()
        .flatten();
    typed::Reply::json(&typed::Data::of(WhoAmI {
        token_id: caller.token_id,
        role: caller.role,
        name,
    }))
}

async fn healthz() -> typed::Raw<typed::Text> {
    typed::Raw::new("ok\n".into_response())
}

async fn fallback(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route for {}; the delivery API lives under /api/v1/content/{{type}}",
        uri.path()
    ))
}

/// Serves `router(state)` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.limits.clone();
    let closing = state.closing.clone();
    let shutdown = async move {
        shutdown.await;
        closing.send_replace(true);
    };
    server::serve_with_limits(listener, router(state), &limits, shutdown).await
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use std::collections::BTreeSet;
    use tower::ServiceExt;

    /// The paths of a router, read off the router itself (its route table, as `Debug` shows
    /// it): a route added without aide's `api_route` is found here, too.
    fn router_paths(app: &Router) -> BTreeSet<String> {
        let table = format!("{app:?}");
        table
            .split('"')
            .filter(|s| s.starts_with('/') && !s.contains(' '))
            // The fallback (`/` and `/{*__private__axum_fallback}`) is axum's, not a route.
            .filter(|s| *s != "/" && !s.contains("__private__axum"))
            .map(String::from)
            .collect()
    }

    /// The document lists exactly the router's routes, method by method (each `{type}` route
    /// once per content type it serves): a route without an operation, or an operation
    /// without a route, fails here. The paths and methods come from the router itself: its
    /// route table, and a request with a method no route has is answered 405 with `Allow`.
    #[tokio::test]
    async fn the_document_lists_exactly_the_routes_of_the_router() {
        let tmp = tempfile::tempdir().unwrap();
        let store: Arc<dyn crate::Store> = Arc::new(crate::SledStore::open(tmp.path()).unwrap());
        let schemas = Arc::new(crate::SchemaRegistry::builtin());
        let content = Arc::new(ContentService::new(store, schemas.clone()));
        let limits = Limits {
            rate_per_second: 0,
            ..Limits::default()
        };
        let state = AppState::with_config(content, DeliveryConfig::default(), limits);
        let app = router(state.clone());
        let mut from_router = BTreeSet::new();
        let paths = router_paths(&routed(state));
        assert!(paths.contains("/api/v1/manage/{type}/{id}"), "{paths:?}");
        for path in paths {
            let concrete: Vec<String> = if path.contains("{type}") {
                schemas
                    .types()
                    .filter(|t| !path.starts_with("/api/v1/content/") || t.is_public())
                    .map(|t| path.replace("{type}", &t.name))
                    .collect()
            } else {
                vec![path.to_string()]
            };
            for documented in concrete {
                let uri = ["{id_or_slug}", "{id}", "{plugin}", "{export}", "{name}"]
                    .iter()
                    .fold(documented.clone(), |u, p| u.replace(p, "x"));
                let res = app
                    .clone()
                    .oneshot(
                        Request::builder()
                            .method("TRACE")
                            .uri(&uri)
                            .body(Body::empty())
                            .unwrap(),
                    )
                    .await
                    .unwrap();
                assert_eq!(res.status(), 405, "TRACE {uri}");
                let allow = res.headers()["allow"].to_str().unwrap().to_string();
                for m in allow.split(',').map(str::trim).filter(|m| *m != "HEAD") {
                    from_router.insert((documented.clone(), m.to_ascii_lowercase()));
                }
            }
        }
        let doc = openapi::document(&schemas);
        let mut from_doc = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if method != "parameters" {
                    from_doc.insert((path.clone(), method.clone()));
                }
            }
        }
        let undocumented: Vec<_> = from_router.difference(&from_doc).collect();
        let unrouted: Vec<_> = from_doc.difference(&from_router).collect();
        assert!(
            undocumented.is_empty(),
            "routes without an operation: {undocumented:?}"
        );
        assert!(
            unrouted.is_empty(),
            "operations without a route: {unrouted:?}"
        );
        assert!(from_doc.len() > 80, "{}", from_doc.len());
    }

    /// Typed bodies refuse what does not fit them, naming the member, before anything is
    /// written: a token with a wrong-typed expiry, a transition to `null`.
    #[tokio::test]
    async fn typed_bodies_refuse_what_does_not_fit_them() {
        let tmp = tempfile::tempdir().unwrap();
        let store: Arc<dyn crate::Store> = Arc::new(crate::SledStore::open(tmp.path()).unwrap());
        let schemas = Arc::new(crate::SchemaRegistry::builtin());
        let content = Arc::new(ContentService::new(store, schemas));
        let admin = content
            .auth()
            .create_token_for(
                crate::auth::Role::Admin,
                None,
                None,
                crate::auth::Person::default(),
                None,
            )
            .unwrap()
            .token;
        let limits = Limits {
            rate_per_second: 0,
            ..Limits::default()
        };
        let app = router(AppState::with_config(
            content.clone(),
            DeliveryConfig::default(),
            limits,
        ));
        let send = |uri: &str, body: &str| {
            Request::builder()
                .method("POST")
                .uri(uri)
                .header("authorization", format!("Bearer {admin}"))
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap()
        };
        let problem = |res: axum::response::Response| async move {
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), 1 << 20)
                .await
                .unwrap();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            )
        };
        let tokens_before = content.auth().list_tokens().unwrap().len();
        let res = app
            .clone()
            .oneshot(send(
                "/api/v1/admin/tokens",
                r#"{"role": "editor", "expires": 90}"#,
            ))
            .await
            .unwrap();
        let (status, body) = problem(res).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["code"], "invalid_request");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("expected a string"),
            "{body}"
        );
        assert_eq!(content.auth().list_tokens().unwrap().len(), tokens_before);

        let res = app
            .oneshot(send(
                "/api/v1/manage/story/01M8XKJ37CTRD4NCKX3W7KMB9B/transitions",
                r#"{"to": null}"#,
            ))
            .await
            .unwrap();
        let (status, body) = problem(res).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["code"], "invalid_request");
    }
}
