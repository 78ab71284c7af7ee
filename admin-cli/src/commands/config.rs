//! `verbund.toml`: the server's settings in a file, `verbund init` and `verbund config default`.
//!
//! Settings come in layers: built-in defaults, then the config file (`--config`, else
//! `$VERBUND_CONFIG`, else `./verbund.toml` when it exists), then environment variables, then
//! flags. Each layer overrides the one before.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;
use verbund_core::auth::{AuditRecord, Role};

use crate::exit;

/// The commented default configuration, as `config default` prints and `init` writes it.
pub const DEFAULT_CONFIG: &str = r#"# Verbund server configuration (verbund.toml).
#
# `verbund serve` reads this file from --config, $VERBUND_CONFIG or ./verbund.toml.
# Environment variables (VERBUND_LISTEN, VERBUND_DATA …) override it, and flags of
# `verbund serve` override both. Remove the leading # of a line to change a setting.

# The data dir: entries, revisions, indexes, tokens, audit log, plugins.
data = "verbund-data"

# A directory of content-type schemas (JSON Schema 2020-12 with x-verbund keywords).
# Without it: ./schemas if it exists, else the schemas built into the binary.
#schemas = "schemas"

# The address the HTTP server listens on. Use 0.0.0.0:8080 behind a reverse proxy.
listen = "127.0.0.1:8080"

# A directory of static files served at / beside the API (e.g. the example website).
#site = "examples/website"

# Cache-Control header of delivery responses (for CDNs and browsers).
cache_control = "public, max-age=60, stale-while-revalidate=600"

# How many delivery responses to keep in memory; 0 turns the response cache off.
response_cache = 4096

# Origins websites may call the API from (CORS). Empty: every origin.
cors_origins = []

# Requests per second per client on the management API; 0 turns the limit off.
rate_limit = 20

# Proxies (addresses or networks) in front of this server whose Forwarded or X-Forwarded-For
# header names the client for the rate limit; from any other peer the header is ignored.
trusted_proxies = []

# Largest request body in bytes.
max_body = 1048576

# Seconds a client has to send a request's headers; also how long an idle keep-alive
# connection stays open.
header_timeout = 10

# Connections open at once; one more is answered with 503 and closed. Keep it below the
# process's file descriptor limit (ulimit -n).
max_connections = 4096
"#;

/// The settings a config file may hold; each is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data: Option<PathBuf>,
    pub schemas: Option<PathBuf>,
    pub listen: Option<std::net::SocketAddr>,
    pub site: Option<PathBuf>,
    pub cache_control: Option<String>,
    pub response_cache: Option<usize>,
    pub cors_origins: Option<Vec<String>>,
    pub rate_limit: Option<u32>,
    pub trusted_proxies: Option<Vec<String>>,
    pub max_body: Option<usize>,
    pub header_timeout: Option<u64>,
    pub max_connections: Option<usize>,
}

/// Reads the config file named by `explicit`, else ./verbund.toml if present. Relative paths
/// in the file are relative to the file's directory.
pub fn load(explicit: Option<&Path>) -> anyhow::Result<Option<(PathBuf, FileConfig)>> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if Path::new("verbund.toml").is_file() => PathBuf::from("verbund.toml"),
        None => return Ok(None),
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("could not read the config file {}", path.display()))?;
    let mut cfg: FileConfig = toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "the config file {} is not valid: {e}\n  hint: `verbund config default` prints every setting with its explanation",
            path.display()
        )
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    for p in [&mut cfg.data, &mut cfg.schemas, &mut cfg.site]
        .into_iter()
        .flatten()
    {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    }
    Ok(Some((path, cfg)))
}

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Print the default configuration with an explanation of every setting.
    #[command(after_help = "Example:\n  verbund config default > verbund.toml")]
    Default,
}

pub fn run(cmd: ConfigCommand) -> anyhow::Result<u8> {
    match cmd {
        ConfigCommand::Default => {
            print!("{DEFAULT_CONFIG}");
            Ok(exit::OK)
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The directory to set up: it gets verbund.toml and the data dir `verbund-data`.
    #[arg(default_value = ".")]
    dir: PathBuf,
}

pub fn init(args: InitArgs) -> anyhow::Result<u8> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("could not create {}", args.dir.display()))?;
    let config = args.dir.join("verbund.toml");
    if config.exists() {
        println!("{} exists already; it was left as it is", config.display());
    } else {
        std::fs::write(&config, DEFAULT_CONFIG)
            .with_context(|| format!("could not write {}", config.display()))?;
        println!(
            "wrote {} (every setting explained inside)",
            config.display()
        );
    }
    let (_, cfg) = load(Some(&config))?.unwrap_or_default();
    let data = cfg.data.unwrap_or_else(|| args.dir.join("verbund-data"));
    let schemas = verbund_core::SchemaRegistry::load_default(cfg.schemas.as_deref())
        .context("could not load the content-type schemas")?;
    let content = verbund_core::open(&data, schemas)
        .with_context(|| format!("could not create the data dir {}", data.display()))?;
    let auth = content.auth();
    if !auth.list_tokens()?.is_empty() {
        println!(
            "the data dir {} has tokens already; no new one was made (create more with `verbund token create`)",
            data.display()
        );
        return Ok(exit::OK);
    }
    let mut a = AuditRecord::draft("cli", "token.create");
    a.detail = Some("role admin (init)".into());
    let issued = auth
        .create_token_for(
            Role::Admin,
            verbund_core::auth::parse_duration("365d")?,
            Some("first admin (verbund init)".into()),
            verbund_core::auth::Person::default(),
            Some(a),
        )
        .context("could not store the first token")?;
    println!("created the data dir {}", data.display());
    println!();
    println!("The first admin token (valid for a year, shown only this once; keep it safe):");
    println!("  {}", issued.token);
    println!();
    println!("Next:");
    println!("  verbund serve --config {}", config.display());
    println!(
        "  verbund login --url http://{} --token {}",
        cfg.listen
            .map_or_else(|| "127.0.0.1:8080".to_string(), |l| l.to_string()),
        issued.token
    );
    Ok(exit::OK)
}
