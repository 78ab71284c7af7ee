//! The HTTP face of Verbund: an axum router over the content service.
//!
//! `router(state)` builds the app without serving it (tests drive it with `oneshot`);
//! `serve(listener, state, shutdown)` serves it until `shutdown` resolves, finishing in-flight
//! requests.

mod admin;
mod cache;
mod caller;
mod delivery;
mod error;
mod manage;

pub use error::ApiError;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::ContentService;

/// Shared state of every handler.
#[derive(Clone, Debug)]
pub struct AppState {
    pub content: Arc<ContentService>,
    pub auth: crate::auth::AuthService,
    pub delivery: Arc<DeliveryConfig>,
    cache: Arc<cache::ResponseCache>,
}

impl AppState {
    pub fn new(content: Arc<ContentService>) -> Self {
        Self::with_config(content, DeliveryConfig::default())
    }

    pub fn with_config(content: Arc<ContentService>, delivery: DeliveryConfig) -> Self {
        let cache = cache::ResponseCache::new(delivery.cache_entries, delivery.cache_bytes);
        Self {
            auth: crate::auth::AuthService::new(content.store().clone()),
            content,
            delivery: Arc::new(delivery),
            cache: Arc::new(cache),
        }
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
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            cache_control: axum::http::HeaderValue::from_static(
                "public, max-age=60, stale-while-revalidate=600",
            ),
            cache_entries: 4096,
            cache_bytes: 64 << 20,
        }
    }
}

/// The whole API as a router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/content/{type}", get(delivery::list))
        .route("/api/v1/changes", get(delivery::changes))
        .route(
            "/api/v1/manage/{type}",
            post(manage::create).get(manage::list),
        )
        .route(
            "/api/v1/manage/{type}/{id}",
            get(manage::get_one)
                .put(manage::replace)
                .patch(manage::patch)
                .delete(manage::delete),
        )
        .route(
            "/api/v1/manage/{type}/{id}/revisions",
            get(manage::revisions),
        )
        .route(
            "/api/v1/manage/{type}/{id}/transitions",
            post(manage::transition),
        )
        .route(
            "/api/v1/admin/tokens",
            post(admin::create_token).get(admin::list_tokens),
        )
        .route(
            "/api/v1/admin/tokens/{id}",
            axum::routing::delete(admin::revoke_token),
        )
        .route("/api/v1/admin/audit", get(admin::audit))
        .route(
            "/api/v1/content/{type}/{id_or_slug}",
            get(delivery::get_one),
        )
        .fallback(fallback)
        .with_state(state)
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

async fn healthz() -> &'static str {
    "ok\n"
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
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
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
