//! The in-process tier: the real server (`verbund_core::server`) inside the test process.
//!
//! A [`TestApp`] runs [`Server`] on `127.0.0.1:0` on its own tokio runtime, so tests that only
//! talk HTTP need no `verbund` process; [`TestApp::router`] goes further and hands requests to
//! `router(state)` with `oneshot`, without a socket. Tests of the process itself (signals,
//! crashes, its output, the CLI) use [`crate::TestServer`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use verbund_core::auth::Role;
use verbund_core::http::{self, AppState};
use verbund_core::server::{Config, Server, Startup};
use verbund_core::{ContentService, StoreLocation, open_at};

use crate::{Api, repo_schemas};

/// How to start a [`TestApp`].
pub struct AppBuilder {
    config: Config,
    data: Option<PathBuf>,
    roles: Vec<&'static str>,
    store: Option<StoreLocation>,
    /// The node dir whose key file this node copies (another node of the installation).
    keys_from: Option<PathBuf>,
    /// Run without media storage (the demo then has no pictures).
    no_media: bool,
    search: bool,
}

impl AppBuilder {
    /// Loads the demo content into the new data dir.
    pub fn demo(mut self) -> Self {
        self.config.demo = true;
        self
    }

    /// With `demo`: installs the reference plugins built by `plugins/build`.
    pub fn demo_plugins(mut self) -> Self {
        self.config.plugins_dir = crate::plugin_component("review-approval")
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        self
    }

    /// Without the plugin host.
    pub fn no_plugins(mut self) -> Self {
        self.config.plugins = false;
        self
    }

    /// Requests per second per client on the management API (tests default to 10,000).
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.config.limits.rate_per_second = per_second;
        self.config.limits.rate_burst = per_second.saturating_mul(5);
        self
    }

    /// Proxies whose forwarding headers name the client.
    pub fn trusted_proxies(mut self, proxies: &[&str]) -> Self {
        let list: Vec<String> = proxies.iter().map(|p| p.to_string()).collect();
        self.config.limits.trusted_proxies =
            http::rate::parse_trusted(&list).expect("valid trusted proxies");
        self
    }

    /// Changes any other setting.
    pub fn config(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.config);
        self
    }

    /// Where the demo finds plugin components (default: none installed).
    pub fn plugins_dir(mut self, dir: &str) -> Self {
        self.config.plugins_dir = PathBuf::from(dir);
        self
    }

    /// Serves the static files of `dir` at `/` beside the API.
    pub fn site(mut self, dir: &Path) -> Self {
        self.config.site = Some(dir.to_path_buf());
        self
    }

    /// An origin allowed by CORS (repeatable); without any, every origin is.
    pub fn cors_origin(mut self, origin: &str) -> Self {
        self.config.limits.cors_origins.push(origin.to_string());
        self
    }

    /// Seconds a client has to send a request's headers (also the idle timeout).
    pub fn header_timeout(mut self, secs: u64) -> Self {
        self.config.limits.header_timeout = Duration::from_secs(secs);
        self
    }

    /// Connections open at once.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.config.limits.max_connections = n;
        self
    }

    /// A second node of `other`'s installation: the same store (which must be shared, i.e.
    /// PostgreSQL) and a copy of its key file in a node dir of its own.
    pub fn node_of(mut self, other: &TestApp) -> Self {
        self.store = Some(other.location.clone());
        self.keys_from = Some(other.data.clone());
        self
    }

    /// On the store at `location` instead of the data dir's own (see [`crate::store_for`]).
    pub fn store(mut self, location: StoreLocation) -> Self {
        self.store = Some(location);
        self
    }

    /// Uses `data` instead of a new temporary data dir.
    /// No media storage: the demo content comes without pictures (and asset ids), so that
    /// its export fits an installation without those assets.
    /// Webhooks may reach 127.0.0.1 (over plain http), with these retry delays and attempt
    /// timeout instead of the hours of the standard schedule.
    pub fn webhooks_local(mut self, schedule: &str, timeout: std::time::Duration) -> Self {
        self.config.webhooks.allow =
            verbund_core::webhooks::parse_allow_list("127.0.0.1").expect("allow-list");
        self.config.webhooks.schedule =
            verbund_core::webhooks::parse_schedule(schedule).expect("schedule");
        self.config.webhooks.timeout = timeout;
        self
    }

    /// With a search index (in the data dir's `search/`), as `verbund serve` has.
    pub fn search(mut self) -> Self {
        self.search = true;
        self
    }

    pub fn no_media(mut self) -> Self {
        self.no_media = true;
        self
    }

    /// Where asset files go (default: a directory of the test's own).
    pub fn media(mut self, blobs: verbund_core::media::Blobs) -> Self {
        self.config.media = Some(blobs);
        self
    }

    pub fn data(mut self, data: &Path) -> Self {
        self.data = Some(data.to_path_buf());
        self
    }

    /// Creates a never-expiring token per role before the start, in [`TestApp::tokens`].
    pub fn tokens(mut self, roles: &[&'static str]) -> Self {
        self.roles.extend_from_slice(roles);
        self
    }

    pub fn start(self) -> TestApp {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = self.data.unwrap_or_else(|| tmp.path().join("data"));
        if let Some(first) = &self.keys_from {
            // Another node of the same installation: the same keys.
            std::fs::create_dir_all(&data).expect("node dir");
            std::fs::copy(
                first.join(verbund_core::keys::KEY_FILE),
                data.join(verbund_core::keys::KEY_FILE),
            )
            .expect("copy the key file of the first node");
        }
        let location = self.store.unwrap_or_else(|| crate::store_for(&data));
        let content = Arc::new(open_at(&location, &data, repo_schemas()).expect("open the store"));
        let tokens = self
            .roles
            .iter()
            .map(|role| {
                let issued = content
                    .auth()
                    .create_token(Role::parse(role).expect("a role"), None, None)
                    .expect("create token");
                (role.to_string(), issued.token)
            })
            .collect();
        let mut config = self.config;
        config.outbox = tmp.path().join("outbox");
        if self.search {
            config.search = Some(data.join("search"));
        }
        if config.media.is_none() && !self.no_media {
            config.media = Some(
                verbund_core::media::Blobs::dir(&tmp.path().join("media")).expect("media dir"),
            );
        }
        let runtime = Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime"),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1:0");
            Server::start(config, content.clone(), listener)
                .await
                .expect("server starts")
        });
        let addr = server.local_addr();
        let state = server.state().clone();
        let startup = server.startup.clone();
        let outbox = tmp.path().join("outbox");
        let running = runtime.spawn(server.run(async {
            let _ = stopped.await;
        }));
        TestApp {
            location,
            url: format!("http://{addr}"),
            addr,
            data,
            outbox,
            content,
            state,
            startup,
            tokens,
            stop: Some(stop),
            running: Some(running),
            runtime,
            _tmp: tmp,
        }
    }
}

/// A server running inside the test process; stopped on drop.
pub struct TestApp {
    /// Where its store is (the data dir, or a PostgreSQL schema).
    pub location: StoreLocation,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    pub addr: SocketAddr,
    pub data: PathBuf,
    /// Where the newsletter's mails are written.
    pub outbox: PathBuf,
    pub content: Arc<ContentService>,
    pub state: AppState,
    pub startup: Startup,
    /// Tokens by role, from [`AppBuilder::tokens`].
    pub tokens: HashMap<String, String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    runtime: Arc<tokio::runtime::Runtime>,
    _tmp: tempfile::TempDir,
}

impl TestApp {
    /// Plugins on, nothing loaded, management rate limit 10,000/s.
    pub fn builder() -> AppBuilder {
        let mut config = Config::new(PathBuf::new());
        config.limits.rate_per_second = 10_000;
        config.limits.rate_burst = 50_000;
        // Not a directory: the demo installs no plugin unless asked with `demo_plugins`.
        config.plugins_dir = PathBuf::from("/nonexistent/plugins");
        AppBuilder {
            config,
            data: None,
            roles: Vec::new(),
            store: None,
            keys_from: None,
            no_media: false,
            search: false,
        }
    }

    /// The demo content, no plugins installed.
    pub fn demo() -> Self {
        Self::builder().demo().start()
    }

    /// The demo content and a never-expiring token per role, keyed by role.
    pub fn demo_with_tokens(roles: &[&'static str]) -> (Self, HashMap<String, String>) {
        let app = Self::builder().demo().tokens(roles).start();
        let tokens = app.tokens.clone();
        (app, tokens)
    }

    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        reqwest::blocking::get(format!("{}{path}", self.url)).expect("HTTP request")
    }

    pub fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let res = self.get(path);
        let status = res.status().as_u16();
        (status, res.json().expect("JSON body"))
    }

    /// A client over the socket.
    pub fn api(&self) -> Api {
        Api::at(&self.url)
    }

    /// A client that calls the router directly (no socket, no accept loop).
    pub fn router(&self) -> Api {
        Api::router(http::router(self.state.clone()), self.runtime.clone())
    }

    /// Issues another never-expiring token for `role` (several people with one role).
    pub fn issue_token(&self, role: &str) -> String {
        self.content
            .auth()
            .create_token(Role::parse(role).expect("a role"), None, None)
            .expect("create token")
            .token
    }

    /// The token made for `role`.
    #[track_caller]
    pub fn token(&self, role: &str) -> &str {
        self.tokens
            .get(role)
            .unwrap_or_else(|| panic!("no {role} token: ask for it with .tokens(&[\"{role}\"])"))
    }

    /// Subscribers with this address (any case), as an admin sees them.
    pub fn subscribers(&self, admin: &str, email: &str) -> Vec<serde_json::Value> {
        let res = self
            .api()
            .get("/api/v1/manage/subscriber?limit=100", Some(admin))
            .expect(200);
        res.data()
            .iter()
            .filter(|s| {
                s["email"]
                    .as_str()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .cloned()
            .collect()
    }

    /// Waits (up to 10 s) until the mail queue has sent everything that is due: mails are
    /// queued with what causes them and sent a moment later.
    pub fn settle_mail(&self) {
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_secs(10) {
            let counts = verbund_core::mail::counts(self.content.store().as_ref())
                .expect("the mail queue is readable");
            let waiting: u64 = counts
                .iter()
                .filter(|(s, _)| {
                    matches!(
                        s,
                        verbund_core::mail::MailState::Queued
                            | verbund_core::mail::MailState::Sending
                    )
                })
                .map(|(_, n)| n)
                .sum();
            if waiting == 0 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The mails in the outbox addressed to `to` (any case), oldest first (once the queue
    /// has sent what is due).
    pub fn mail_paths(&self, to: &str) -> Vec<PathBuf> {
        self.settle_mail();
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.outbox)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        paths.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        paths.sort();
        paths.retain(|p| {
            verbund_core::newsletter::mail_recipient(p)
                .is_some_and(|r| r.eq_ignore_ascii_case(to.trim()))
        });
        paths
    }

    /// The mails to `to`, oldest first, each as "subject\ntext".
    pub fn mails_to(&self, to: &str) -> Vec<String> {
        self.mail_paths(to)
            .iter()
            .map(|p| verbund_core::newsletter::mail_text(p).expect("a readable mail"))
            .collect()
    }

    /// Stops serving and waits until requests in flight are answered.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(running) = self.running.take() {
            let _ = self
                .runtime
                .block_on(async { tokio::time::timeout(Duration::from_secs(10), running).await });
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shut_down();
    }
}
