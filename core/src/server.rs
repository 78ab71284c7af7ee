//! The composition root: a content service, the plugin host, the scheduler and the HTTP edge
//! put together into one running server.
//!
//! The binary parses flags and calls [`Server::start`] and [`Server::run`]; tests and
//! benchmarks do the same on `127.0.0.1:0` without spawning a process (à la mini-redis'
//! `server::run(listener, shutdown)`). Everything a start did (demo content, plugins loaded and
//! installed) is reported in [`Startup`], so the caller decides how to tell its user.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use crate::ContentService;
use crate::demo::{self, DemoOutcome};
use crate::http::{self, AppState, DeliveryConfig, Limits};
use crate::newsletter::MailSettings;
use crate::plugin::{Grant, LoadStats, PluginHost};

/// The reference plugins the demo installs, when they are built.
pub const DEMO_PLUGINS: [&str; 2] = ["review-approval", "newsletter-export"];

/// The sender of the newsletter's own mails (confirmation links).
const MAIL_FROM: &str = "Cluster IT Mitteldeutschland <newsletter@cluster-it.example>";

/// Everything a server needs besides its listener.
#[derive(Debug, Clone)]
pub struct Config {
    pub delivery: DeliveryConfig,
    pub limits: Limits,
    /// A directory of static files served at `/` beside the API.
    pub site: Option<PathBuf>,
    /// Where newsletter mails are written as `.eml` files.
    pub outbox: PathBuf,
    /// The server's public URL for links in mails; default `http://<listen address>/`.
    pub public_url: Option<String>,
    /// Run the plugin host.
    pub plugins: bool,
    /// Load the demo content into an empty data dir and install the reference plugins.
    pub demo: bool,
    /// Where the demo finds the reference plugins built by `plugins/build`.
    pub plugins_dir: PathBuf,
    /// Where asset files live (none: media off).
    pub media: Option<crate::media::Blobs>,
    /// Limits, presets and caches of media.
    pub media_config: crate::media::MediaConfig,
    /// How webhooks are delivered (allow-list, retry schedule, timeout).
    pub webhooks: crate::webhooks::WebhookConfig,
    /// Where this node keeps its search index (none: search off).
    pub search: Option<PathBuf>,
    /// How mails leave (SMTP or the outbox), the sender, the rate and the retries.
    pub mail: crate::mail::MailOptions,
}

impl Config {
    /// Defaults with the outbox at `outbox`: no site, plugins on, no demo.
    pub fn new(outbox: PathBuf) -> Self {
        Self {
            delivery: DeliveryConfig::default(),
            limits: Limits::default(),
            site: None,
            outbox,
            public_url: None,
            plugins: true,
            demo: false,
            plugins_dir: PathBuf::from("plugins/dist"),
            media: None,
            media_config: crate::media::MediaConfig::default(),
            webhooks: crate::webhooks::WebhookConfig::default(),
            search: None,
            mail: crate::mail::MailOptions::default(),
        }
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("--site {0}: there is no index.html in that directory")]
    NoSiteIndex(PathBuf),
    #[error("could not load the demo content: {0}")]
    Demo(#[source] crate::content::ContentError),
    #[error("could not start the plugin host: {0}")]
    Plugins(#[source] crate::plugin::PluginError),
    #[error("the listener has no local address: {0}")]
    Listener(#[source] std::io::Error),
    #[error("the mail settings do not work: {0}")]
    Mail(String),
}

/// What happened to one reference plugin at a demo start.
#[derive(Debug, Clone)]
pub enum DemoPlugin {
    /// Installed with these grants.
    Installed {
        name: String,
        version: String,
        grants: Vec<String>,
    },
    /// Not built: `plugins/build` makes it.
    NotBuilt(String),
    /// Built but refused.
    Failed { name: String, reason: String },
}

/// What a start did, for the caller to report.
#[derive(Debug, Clone, Default)]
pub struct Startup {
    pub demo: Option<DemoOutcome>,
    /// Plugins loaded from the data dir, and how long that took.
    pub plugins: Option<(LoadStats, std::time::Duration)>,
    pub demo_plugins: Vec<DemoPlugin>,
}

/// A server bound to its listener, ready to run.
pub struct Server {
    listener: TcpListener,
    state: AppState,
    addr: SocketAddr,
    pub startup: Startup,
    sender: Arc<crate::mail::Sender>,
}

impl Server {
    /// Puts the server together on `listener`: media, demo content, plugin host, mail settings.
    pub async fn start(
        config: Config,
        content: Arc<ContentService>,
        listener: TcpListener,
    ) -> Result<Self, ServerError> {
        if let Some(site) = &config.site
            && !site.join("index.html").is_file()
        {
            return Err(ServerError::NoSiteIndex(site.clone()));
        }
        let addr = listener.local_addr().map_err(ServerError::Listener)?;
        let mut startup = Startup::default();
        let media = config
            .media
            .clone()
            .map(|blobs| Arc::new(crate::media::Media::new(blobs, config.media_config.clone())));
        if config.demo {
            startup.demo = Some(
                demo::load(&content, media.as_deref())
                    .await
                    .map_err(ServerError::Demo)?,
            );
        }
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}/"));
        let mut state = AppState::with_config(content.clone(), config.delivery, config.limits);
        state.configure().site = config.site;
        state.configure().media = media;
        state.configure().webhooks = crate::webhooks::Webhooks::new(&content, config.webhooks);
        state.configure().search = config
            .search
            .as_deref()
            .map(|dir| Arc::new(crate::search::SearchIndex::new(dir, content.clone())));
        let mut mail = config.mail.clone();
        if config.demo && mail.from == crate::mail::MailOptions::default().from {
            mail.from = MAIL_FROM.into();
        }
        let out = crate::mail::Outgoing::new(mail, config.outbox);
        let sender =
            crate::mail::Sender::new(content.clone(), out.clone(), &ulid::Ulid::new().to_string())
                .map_err(ServerError::Mail)?;
        state.configure().mail = Some(Arc::new(MailSettings {
            public_url: public_url.clone(),
            out,
        }));
        if config.plugins {
            let started = Instant::now();
            let (host, stats) = PluginHost::start(&content).map_err(ServerError::Plugins)?;
            if config.demo {
                startup.demo_plugins =
                    install_demo_plugins(&host, &config.plugins_dir, &public_url);
            }
            startup.plugins = Some((stats, started.elapsed()));
            state.configure().plugins = Some(host);
        }
        Ok(Self {
            listener,
            state,
            addr,
            startup,
            sender: Arc::new(sender),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The application state the router is built from.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Runs the scheduler and serves HTTP until `shutdown` completes; requests in flight
    /// finish first.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let content = self.state.content.clone();
        let shared = content.store().shared();
        let node = ulid::Ulid::new().to_string();
        let lease = Arc::new(std::sync::Mutex::new(shared.then(|| {
            crate::lease::Lease::new("scheduler", &node, Duration::from_secs(3))
        })));
        let scheduler = tokio::spawn(crate::workflow::run_scheduler(
            content.clone(),
            lease.clone(),
        ));
        let sweeper = self.state.media.clone().map(|media| {
            let content = content.clone();
            tokio::spawn(async move {
                // Files of uploads that never became assets, once at start and every 6 hours.
                loop {
                    match media.sweep(&content, MEDIA_SWEEP_GRACE).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!("collected {n} media files no asset uses"),
                        Err(e) => tracing::warn!(error = %e, "media sweep failed"),
                    }
                    tokio::time::sleep(Duration::from_secs(6 * 3600)).await;
                }
            })
        });
        // Webhooks: one sender among the nodes of a shared store.
        let webhook_lease =
            Arc::new(std::sync::Mutex::new(shared.then(|| {
                crate::lease::Lease::new("webhooks", &node, Duration::from_secs(5))
            })));
        let dispatcher = tokio::spawn(crate::webhooks::run_dispatcher(
            Arc::new(crate::webhooks::Dispatcher::new(
                &content,
                self.state.webhooks.clone(),
            )),
            webhook_lease.clone(),
            content.watch_feed(),
        ));
        // Mail: one sender among the nodes of a shared store.
        let mail_lease =
            Arc::new(std::sync::Mutex::new(shared.then(|| {
                crate::lease::Lease::new("mail", &node, Duration::from_secs(5))
            })));
        let mailer = tokio::spawn(crate::mail::run_sender(
            self.sender.clone(),
            mail_lease.clone(),
        ));
        // Search: every node keeps its own index from the (shared) change feed.
        let indexer = self
            .state
            .search
            .clone()
            .map(|index| tokio::spawn(crate::search::run_indexer(index, content.watch_feed())));
        let presence = Arc::new(crate::lease::Presence::new(&node, PRESENCE_TTL));
        let follower =
            shared.then(|| tokio::spawn(follow_store(self.state.clone(), presence.clone())));
        let served = http::serve(self.listener, self.state, shutdown).await;
        scheduler.abort();
        let _ = scheduler.await;
        dispatcher.abort();
        let _ = dispatcher.await;
        mailer.abort();
        let _ = mailer.await;
        if let Some(s) = sweeper {
            s.abort();
        }
        if let Some(i) = indexer {
            i.abort();
            let _ = i.await;
        }
        if let Some(f) = follower {
            f.abort();
        }
        // A clean stop hands the scheduler lease on at once (and lets `verbund migrate` see
        // that no node is left).
        let _ = tokio::task::spawn_blocking(move || {
            for lease in [lease, webhook_lease, mail_lease] {
                if let Some(lease) = lease.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                    lease.release(content.store().as_ref());
                }
            }
            if shared {
                presence.leave(content.store().as_ref());
            }
        })
        .await;
        served
    }
}

/// How old an unused media file must be before the sweep removes it (an upload's file is
/// written a moment before its record commits).
const MEDIA_SWEEP_GRACE: Duration = Duration::from_secs(3600);

/// How often a node on a shared store looks for other nodes' commits: a publication elsewhere
/// reaches this node's response cache within this time (plus one query).
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);
/// Every how many looks at the feed a node renews its presence (once a second).
const PRESENCE_EVERY: u32 = 5;
/// How long a node's presence row counts without renewal.
const PRESENCE_TTL: Duration = Duration::from_secs(4);

/// Follows a store shared with other nodes: their commits empty this node's response cache
/// (through the public generation), and their plugin installs, settings and removals are
/// loaded here. Correctness rests on these reads alone, not on any notification.
///
/// Every [`PRESENCE_EVERY`] looks it also renews this node's presence row and shares the
/// management rate limit among the nodes present.
async fn follow_store(state: AppState, presence: Arc<crate::lease::Presence>) {
    let mut failing = false;
    let mut looks = 0u32;
    loop {
        let s = state.clone();
        let renew = looks % PRESENCE_EVERY == 0;
        looks = looks.wrapping_add(1);
        let presence = presence.clone();
        let looked = tokio::task::spawn_blocking(move || -> Result<(), String> {
            s.content.observe_store().map_err(|e| e.to_string())?;
            if let Some(host) = &s.plugins {
                host.sync_from_store().map_err(|e| e.to_string())?;
            }
            if renew {
                let nodes = presence
                    .renew(s.content.store().as_ref())
                    .map_err(|e| e.to_string())?;
                if let Some(rate) = &s.rate {
                    rate.share_among(nodes);
                }
            }
            Ok(())
        })
        .await;
        match looked {
            Ok(Ok(())) if failing => {
                tracing::info!("the shared store is reachable again");
                failing = false;
            }
            Ok(Err(e)) if !failing => {
                tracing::warn!("could not follow the shared store: {e}");
                failing = true;
            }
            _ => {}
        }
        tokio::time::sleep(FOLLOW_INTERVAL).await;
    }
}

/// Starts a server on `listener` and serves until `shutdown` completes.
pub async fn serve(
    config: Config,
    content: Arc<ContentService>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Server::start(config, content, listener)
        .await?
        .run(shutdown)
        .await?;
    Ok(())
}

/// Installs the built reference plugins (with everything they ask for) that are not installed.
fn install_demo_plugins(
    host: &PluginHost,
    dir: &std::path::Path,
    public_url: &str,
) -> Vec<DemoPlugin> {
    let mut out = Vec::new();
    for name in DEMO_PLUGINS {
        if host.record(name).is_ok() {
            continue;
        }
        let Ok(bytes) = std::fs::read(dir.join(format!("{name}.wasm"))) else {
            out.push(DemoPlugin::NotBuilt(name.into()));
            continue;
        };
        let result = host
            .install(&bytes, None, true, "demo")
            .and_then(|r| host.install(&bytes, Some(r.plugin.requested.clone()), false, "demo"))
            .and_then(|r| {
                // The newsletter's links point at this server (website and unsubscribe links).
                if name == "newsletter-export" {
                    let settings = [("website", public_url), ("api", public_url)]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    host.configure(name, None, Some(settings), None, "demo")?;
                }
                Ok(r)
            });
        out.push(match result {
            Ok(r) => DemoPlugin::Installed {
                name: name.into(),
                version: r.plugin.version.clone(),
                grants: r.plugin.granted.iter().map(Grant::label).collect(),
            },
            Err(e) => DemoPlugin::Failed {
                name: name.into(),
                reason: e.to_string(),
            },
        });
    }
    out
}
