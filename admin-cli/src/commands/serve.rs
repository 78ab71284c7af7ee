//! `verbund serve`: the HTTP server.
//!
//! Status lines go to stdout with `say!`, which ignores a closed stdout: a server must not die
//! because whoever started it stopped reading.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use verbund_core::demo::DemoOutcome;
use verbund_core::http;
use verbund_core::server;

use crate::DataArgs;

macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}
use crate::exit;

/// The server's settings: each is a flag, a `VERBUND_*` variable and a key of `verbund.toml`
/// (`config default` is generated from this struct, see `config::default_config`).
#[derive(Debug, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct ServeArgs {
    /// A config file (see `verbund config default`); default ./verbund.toml if it exists.
    #[arg(long, env = "VERBUND_CONFIG", value_hint = clap::ValueHint::FilePath)]
    #[serde(skip)]
    config: Option<std::path::PathBuf>,
    #[command(flatten)]
    #[serde(flatten)]
    pub data: DataArgs,
    /// The address the HTTP server listens on. Use 0.0.0.0:8080 behind a reverse proxy.
    #[arg(long, env = "VERBUND_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Load the demo content into an empty data dir.
    #[arg(long, env = "VERBUND_DEMO")]
    demo: bool,
    /// The Cache-Control header of delivery responses (for CDNs and browsers).
    #[arg(
        long,
        env = "VERBUND_CACHE_CONTROL",
        default_value = "public, max-age=60, stale-while-revalidate=600"
    )]
    cache_control: String,
    /// How many delivery responses to keep in memory (0 turns the response cache off); any
    /// change of published content empties it.
    #[arg(long, env = "VERBUND_RESPONSE_CACHE", default_value_t = 4096)]
    response_cache: usize,
    /// Origins websites may call the API from (CORS; the flag is repeatable); without any,
    /// every origin may.
    #[arg(
        long = "cors-origin",
        env = "VERBUND_CORS_ORIGINS",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// Requests per second per client on the management API (0 turns the limit off).
    #[arg(long, env = "VERBUND_RATE_LIMIT", default_value_t = 20)]
    rate_limit: u32,
    /// Proxies (addresses or networks; the flag is repeatable) in front of this server whose
    /// Forwarded or X-Forwarded-For header names the client for the rate limit; from any
    /// other peer the header is ignored.
    #[arg(
        long = "trusted-proxy",
        env = "VERBUND_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<String>,
    /// A directory of static files served at / beside the API (e.g. examples/website).
    #[arg(long, env = "VERBUND_SITE", value_hint = clap::ValueHint::DirPath)]
    site: Option<std::path::PathBuf>,
    /// Where mails are written as .eml files when no SMTP server is given (--smtp); default:
    /// DATA-outbox beside the data dir.
    #[arg(long, env = "VERBUND_OUTBOX", value_hint = clap::ValueHint::DirPath)]
    outbox: Option<std::path::PathBuf>,
    /// The SMTP server mails are sent through: smtp://USER@HOST:587 (STARTTLS, required),
    /// smtps://USER@HOST:465 (implicit TLS), smtp://HOST:25?tls=none (plain text, for a relay
    /// on a trusted network; the default for localhost). The password comes from
    /// VERBUND_SMTP_PASSWORD or --smtp-password-file, never from the URL. Without it mails go
    /// to the outbox directory.
    #[arg(long, env = "VERBUND_SMTP")]
    smtp: Option<String>,
    /// A file holding the SMTP password (one line; instead of VERBUND_SMTP_PASSWORD).
    #[arg(long, env = "VERBUND_SMTP_PASSWORD_FILE", value_hint = clap::ValueHint::FilePath)]
    smtp_password_file: Option<std::path::PathBuf>,
    /// The sender of every mail (confirmations, newsletter issues): "Name <address>".
    #[arg(long, env = "VERBUND_MAIL_FROM")]
    mail_from: Option<String>,
    /// The most mails sent per minute (0: no limit), for providers with a sending limit.
    #[arg(long, env = "VERBUND_MAIL_RATE", default_value_t = 0)]
    mail_rate: u32,
    /// SMTP connections used at once.
    #[arg(long, env = "VERBUND_SMTP_CONNECTIONS", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    smtp_connections: u64,
    /// The waits before each further attempt after a temporary failure (4xx reply, no
    /// connection); after the last, the mail is recorded as failed.
    #[arg(
        long,
        env = "VERBUND_MAIL_RETRIES",
        default_value = "1m,5m,30m,2h,6h,24h"
    )]
    mail_retries: String,
    /// The server's public URL, for links in mails (default: http://LISTEN/).
    #[arg(long, env = "VERBUND_PUBLIC_URL")]
    public_url: Option<String>,
    /// Where `--demo` finds the reference plugins built by plugins/build.
    #[arg(long, env = "VERBUND_PLUGINS_DIR", default_value = "plugins/dist", value_hint = clap::ValueHint::DirPath)]
    plugins_dir: std::path::PathBuf,
    /// Run without the plugin host (no plugin hooks, no plugin admin API).
    #[arg(long, env = "VERBUND_NO_PLUGINS")]
    no_plugins: bool,
    /// Where this node keeps its search index (rebuilt from the store when missing); default:
    /// DATA/search. Each node of a shared store keeps its own.
    #[arg(long, env = "VERBUND_SEARCH_DIR", value_hint = clap::ValueHint::DirPath)]
    search_dir: Option<std::path::PathBuf>,
    /// Run without full-text search (GET /api/v1/search answers 503).
    #[arg(long, env = "VERBUND_NO_SEARCH", conflicts_with = "search_dir")]
    no_search: bool,
    /// Largest request body in bytes.
    #[arg(long, env = "VERBUND_MAX_BODY", default_value_t = 1 << 20)]
    max_body: usize,
    /// Seconds a client has to send a request's headers (1 to 3600); also how long an idle
    /// keep-alive connection stays open.
    #[arg(long, env = "VERBUND_HEADER_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout: u64,
    /// Connections open at once; one more is answered with 503 and closed. Keep it below the
    /// process's file descriptor limit (ulimit -n).
    #[arg(long, env = "VERBUND_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
    /// Where asset files (logos, photos, documents) and their renditions live: a directory, or
    /// an S3 bucket as s3://BUCKET (endpoint and credentials from AWS_ENDPOINT, AWS_REGION,
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; AWS_ALLOW_HTTP=true for a server without
    /// TLS). Default: DATA/media. Several nodes on one database need one bucket.
    #[arg(long, env = "VERBUND_MEDIA_STORE")]
    media_store: Option<String>,
    /// Change streams (GET /api/v1/changes/stream) one client address may keep open at once.
    #[arg(long, env = "VERBUND_MAX_STREAMS_PER_CLIENT", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_streams_per_client: u64,
    /// Addresses and networks webhooks may reach although they are not public (loopback,
    /// private, link-local), also over plain http://: e.g. 127.0.0.1 or 10.0.0.0/8 (the flag
    /// is repeatable). Without them, webhook URLs must be https:// to public addresses.
    #[arg(
        long = "webhook-allow",
        env = "VERBUND_WEBHOOK_ALLOW",
        value_delimiter = ','
    )]
    webhook_allow: Vec<String>,
    /// The delays before each webhook attempt, comma-separated (units ms, s, m, h).
    #[arg(
        long,
        env = "VERBUND_WEBHOOK_RETRIES",
        default_value = "0,5s,5m,30m,2h,5h,10h,14h,20h,24h"
    )]
    webhook_retries: String,
    /// The locale the delivery API falls back to where an entry has no published translation
    /// in the asked `locale` (e.g. de; a request's `fallback=` overrides it, `fallback=none`
    /// turns it off). Default: no fallback.
    #[arg(long, env = "VERBUND_FALLBACK_LOCALE")]
    fallback_locale: Option<String>,
    /// Seconds a webhook receiver has to answer (1 to 120).
    #[arg(long, env = "VERBUND_WEBHOOK_TIMEOUT", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=120))]
    webhook_timeout: u64,
}

pub fn run(mut args: ServeArgs, matches: &clap::ArgMatches) -> anyhow::Result<u8> {
    let explicit = args.config.clone();
    if let Some(path) = super::config::layer(&mut args, matches, explicit.as_deref())? {
        say!("Settings from {}", path.display());
    }
    anyhow::ensure!(
        (1..=3600).contains(&args.header_timeout),
        "header_timeout = {} is out of range: give 1 to 3600 seconds",
        args.header_timeout
    );
    anyhow::ensure!(
        args.max_connections >= 1,
        "max_connections = 0 would refuse every connection: give at least 1"
    );
    let cache_control = axum::http::HeaderValue::from_str(&args.cache_control).map_err(|_| {
        anyhow::anyhow!(
            "--cache-control {:?} is not a valid header value; use e.g. \"public, max-age=60\"",
            args.cache_control
        )
    })?;
    if let Some(l) = &args.fallback_locale {
        anyhow::ensure!(
            verbund_core::content::is_locale(l),
            "fallback_locale = {l:?} is not a locale like \"de\", \"en\" or \"de-AT\""
        );
    }
    let delivery = http::DeliveryConfig {
        cache_control,
        cache_entries: args.response_cache,
        fallback_locale: args.fallback_locale.clone(),
        ..http::DeliveryConfig::default()
    };
    let limits = http::Limits {
        cors_origins: args.cors_origins.clone(),
        rate_per_second: args.rate_limit,
        rate_burst: args.rate_limit.saturating_mul(5),
        trusted_proxies: http::rate::parse_trusted(&args.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("--trusted-proxy: {e}"))?,
        max_body_bytes: args.max_body,
        header_timeout: std::time::Duration::from_secs(args.header_timeout),
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        max_streams_per_client: usize::try_from(args.max_streams_per_client.max(1))
            .unwrap_or(usize::MAX),
        ..http::Limits::default()
    };
    let outbox = args.outbox.clone().unwrap_or_else(|| {
        let name = args
            .data
            .data
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "verbund-data".into());
        args.data.data.with_file_name(format!("{name}-outbox"))
    });
    let mail = mail_options(&args)?;
    let webhooks = verbund_core::webhooks::WebhookConfig {
        allow: verbund_core::webhooks::parse_allow_list(&args.webhook_allow.join(","))
            .map_err(|e| anyhow::anyhow!("--webhook-allow: {e}"))?,
        schedule: verbund_core::webhooks::parse_schedule(&args.webhook_retries)
            .map_err(|e| anyhow::anyhow!("--webhook-retries: {e}"))?,
        timeout: std::time::Duration::from_secs(args.webhook_timeout.clamp(1, 120)),
        ..verbund_core::webhooks::WebhookConfig::default()
    };
    let content = Arc::new(super::open(&args.data)?);
    let media = match args.media_store.as_deref() {
        Some(url) if url.starts_with("s3://") => verbund_core::media::Blobs::s3(url)
            .map_err(|e| anyhow::anyhow!("--media-store {url}: {e}"))?,
        Some(dir) => verbund_core::media::Blobs::dir(std::path::Path::new(dir))
            .map_err(|e| anyhow::anyhow!("--media-store {dir}: {e}"))?,
        None => {
            if args.data.store.is_some() {
                eprintln!(
                    "note: asset files go to {}/media on this node only; with several nodes, give them one bucket (--media-store s3://BUCKET)",
                    args.data.data.display()
                );
            }
            verbund_core::media::Blobs::dir(&args.data.data.join("media"))
                .map_err(|e| anyhow::anyhow!("media storage in the data dir: {e}"))?
        }
    };
    let config = server::Config {
        delivery,
        limits,
        site: args.site.clone(),
        outbox,
        public_url: args.public_url.clone(),
        plugins: !args.no_plugins,
        demo: args.demo,
        plugins_dir: args.plugins_dir.clone(),
        media: Some(media),
        media_config: verbund_core::media::MediaConfig::default(),
        webhooks,
        search: (!args.no_search).then(|| {
            args.search_dir
                .clone()
                .unwrap_or_else(|| args.data.data.join("search"))
        }),
        mail,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("could not listen on {}; is another server using that port? Pick another with --listen", args.listen))?;
        let server = server::Server::start(config, content.clone(), listener).await?;
        report(&server.startup);
        if let Some(m) = &server.state().mail {
            say!("Mails: {} (from {})", m.out.describe(), m.out.options.from);
        }
        let addr = server.local_addr();
        say!(
            "Verbund is serving http://{addr}/ (store: {}, schemas: {})",
            args.data.location(),
            content.schemas().source()
        );
        if let Some(site) = &args.site {
            say!("  website ({}): http://{addr}/", site.display());
        }
        say!("  try: curl http://{addr}/api/v1/content/story");
        server.run(http::shutdown_signal()).await?;
        say!("Verbund stopped.");
        anyhow::Ok(())
    })?;
    Ok(exit::OK)
}

/// Tells what the start did, in the order it happened.
fn report(startup: &server::Startup) {
    match &startup.demo {
        Some(DemoOutcome::Loaded(counts)) => {
            let summary: Vec<String> = counts.iter().map(|(t, n)| format!("{n} {t}")).collect();
            say!("Loaded the demo content: {}", summary.join(", "));
        }
        Some(DemoOutcome::AlreadyHasContent) => {
            say!("The data dir already holds content; the demo content was not loaded again.");
        }
        None => {}
    }
    for plugin in &startup.demo_plugins {
        match plugin {
            server::DemoPlugin::Installed {
                name,
                version,
                grants,
            } => say!(
                "Installed the {name} plugin {version} (grants: {})",
                grants.join(", ")
            ),
            server::DemoPlugin::NotBuilt(name) => say!(
                "  (the {name} plugin is not built: run plugins/build to see the workflow in the demo)"
            ),
            server::DemoPlugin::Failed { name, reason } => {
                say!("Could not install the {name} plugin: {reason}")
            }
        }
    }
    if let Some((stats, took)) = startup.plugins
        && stats.plugins > 0
    {
        say!(
            "Plugins: {} loaded ({} from the compiled cache, {} compiled) in {} ms",
            stats.plugins,
            stats.from_cache,
            stats.compiled,
            took.as_millis()
        );
    }
}

/// The mail settings from flags, variables and verbund.toml; the password from
/// VERBUND_SMTP_PASSWORD or a file, never logged.
fn mail_options(args: &ServeArgs) -> anyhow::Result<verbund_core::mail::MailOptions> {
    let mut o = verbund_core::mail::MailOptions::default();
    if let Some(url) = &args.smtp {
        let password = match &args.smtp_password_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("--smtp-password-file {}: {e}", path.display()))?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            ),
            None => std::env::var("VERBUND_SMTP_PASSWORD").ok(),
        };
        o.smtp = Some(
            verbund_core::mail::SmtpConfig::parse(url, password)
                .map_err(|e| anyhow::anyhow!("--smtp: {e}"))?,
        );
    }
    if let Some(from) = &args.mail_from {
        let (_, addr) = verbund_core::newsletter::split_mailbox(from);
        anyhow::ensure!(
            addr.contains('@') && !addr.contains(' '),
            "--mail-from {from:?}: write the sender as \"Name <address>\", e.g. \"Cluster IT <newsletter@cluster-it.example>\""
        );
        o.from = from.clone();
    }
    o.rate_per_minute = args.mail_rate;
    o.connections = usize::try_from(args.smtp_connections).unwrap_or(4);
    o.retries = verbund_core::webhooks::parse_schedule(&args.mail_retries)
        .map_err(|e| anyhow::anyhow!("--mail-retries: {e}"))?;
    Ok(o)
}
