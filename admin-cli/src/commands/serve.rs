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

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// A config file (see `verbund config default`); default ./verbund.toml if it exists.
    #[arg(long, env = "VERBUND_CONFIG")]
    config: Option<std::path::PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    /// Address to listen on.
    #[arg(long, env = "VERBUND_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Load the demo content into an empty data dir.
    #[arg(long)]
    demo: bool,
    /// The Cache-Control header of delivery responses.
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
    /// An origin websites call the API from (repeatable); without any, every origin may.
    #[arg(
        long = "cors-origin",
        env = "VERBUND_CORS_ORIGINS",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// Requests per second per client on the management API (0 turns the limit off).
    #[arg(long, env = "VERBUND_RATE_LIMIT", default_value_t = 20)]
    rate_limit: u32,
    /// A proxy (address or network, repeatable) whose Forwarded / X-Forwarded-For header names
    /// the client for rate limits; the header from any other peer is ignored.
    #[arg(
        long = "trusted-proxy",
        env = "VERBUND_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<String>,
    /// A directory of static files to serve at `/` beside the API (e.g. examples/website).
    #[arg(long, env = "VERBUND_SITE")]
    site: Option<std::path::PathBuf>,
    /// Where newsletter mails (confirmation links) are written as .eml files for the mail
    /// service; default: DATA-outbox beside the data dir.
    #[arg(long, env = "VERBUND_OUTBOX")]
    outbox: Option<std::path::PathBuf>,
    /// The server's public URL, for links in mails (default: http://LISTEN/).
    #[arg(long, env = "VERBUND_PUBLIC_URL")]
    public_url: Option<String>,
    /// Where `--demo` finds the reference plugins built by plugins/build.
    #[arg(long, env = "VERBUND_PLUGINS_DIR", default_value = "plugins/dist")]
    plugins_dir: std::path::PathBuf,
    /// Run without the plugin host (no plugin hooks, no plugin admin API).
    #[arg(long, env = "VERBUND_NO_PLUGINS")]
    no_plugins: bool,
    /// Largest request body in bytes.
    #[arg(long, env = "VERBUND_MAX_BODY", default_value_t = 1 << 20)]
    max_body: usize,
    /// Seconds a client has to send a request's headers; also how long an idle keep-alive
    /// connection stays open.
    #[arg(long, env = "VERBUND_HEADER_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout: u64,
    /// Connections open at once; one more is answered with 503 and closed.
    #[arg(long, env = "VERBUND_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
}

/// Fills every setting that was left at its built-in default from the config file.
fn apply_config(args: &mut ServeArgs, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let Some((path, cfg)) = super::config::load(args.config.as_deref())? else {
        return Ok(());
    };
    let defaulted = |id: &str| {
        matches!(
            matches.value_source(id),
            None | Some(clap::parser::ValueSource::DefaultValue)
        )
    };
    macro_rules! layer {
        ($field:ident, $target:expr) => {
            if let Some(v) = cfg.$field
                && defaulted(stringify!($field))
            {
                $target = v.into();
            }
        };
    }
    layer!(data, args.data.data);
    layer!(schemas, args.data.schemas);
    layer!(listen, args.listen);
    layer!(site, args.site);
    layer!(cache_control, args.cache_control);
    layer!(response_cache, args.response_cache);
    layer!(cors_origins, args.cors_origins);
    layer!(rate_limit, args.rate_limit);
    layer!(trusted_proxies, args.trusted_proxies);
    layer!(max_body, args.max_body);
    layer!(header_timeout, args.header_timeout);
    if let Some(v) = cfg.max_connections
        && defaulted("max_connections")
    {
        args.max_connections = v as u64;
    }
    say!("Settings from {}", path.display());
    Ok(())
}

pub fn run(mut args: ServeArgs, matches: &clap::ArgMatches) -> anyhow::Result<u8> {
    apply_config(&mut args, matches)?;
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
    let delivery = http::DeliveryConfig {
        cache_control,
        cache_entries: args.response_cache,
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
    let config = server::Config {
        delivery,
        limits,
        site: args.site.clone(),
        outbox,
        public_url: args.public_url.clone(),
        plugins: !args.no_plugins,
        demo: args.demo,
        plugins_dir: args.plugins_dir.clone(),
    };
    let content = Arc::new(super::open(&args.data)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("could not listen on {}; is another server using that port? Pick another with --listen", args.listen))?;
        let server = server::Server::start(config, content.clone(), listener)?;
        report(&server.startup);
        let addr = server.local_addr();
        say!(
            "Verbund is serving http://{addr}/ (data: {}, schemas: {})",
            args.data.data.display(),
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
