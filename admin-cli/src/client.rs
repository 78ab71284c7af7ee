//! The HTTP client of the remote commands: where the server is, which token to send, and how
//! the server's problem+json answers become errors with the right exit code.
//!
//! Connection settings come from `--url`/`--token`, else `VERBUND_URL`/`VERBUND_TOKEN`, else the
//! profile saved by `verbund login` (`--profile`, default `default`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Options of every command that talks to a server.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoteArgs {
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "VERBUND_URL", global = true)]
    pub url: Option<String>,
    /// An API token (see `verbund token create`); never printed.
    #[arg(long, env = "VERBUND_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// The saved profile to use.
    #[arg(
        long,
        env = "VERBUND_PROFILE",
        global = true,
        default_value = "default"
    )]
    pub profile: String,
}

/// A saved connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    pub url: String,
    pub token: String,
}

/// The profiles file: `$VERBUND_CONFIG_DIR` or `$XDG_CONFIG_HOME/verbund` or `~/.config/verbund`.
pub fn profiles_path() -> anyhow::Result<PathBuf> {
    let dir = if let Some(d) = std::env::var_os("VERBUND_CONFIG_DIR") {
        PathBuf::from(d)
    } else if let Some(d) = std::env::var_os("XDG_CONFIG_HOME") {
        PathBuf::from(d).join("verbund")
    } else {
        let home = std::env::var_os("HOME").context("HOME is not set; set VERBUND_CONFIG_DIR")?;
        PathBuf::from(home).join(".config").join("verbund")
    };
    Ok(dir.join("profiles.json"))
}

pub fn load_profiles() -> anyhow::Result<BTreeMap<String, Profile>> {
    let path = profiles_path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid profiles file", path.display())),
        Err(_) => Ok(BTreeMap::new()),
    }
}

/// Writes the profiles file readable by its owner only (it holds tokens).
pub fn save_profiles(profiles: &BTreeMap<String, Profile>) -> anyhow::Result<PathBuf> {
    let path = profiles_path()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(profiles)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&path)
        .with_context(|| format!("could not write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    std::io::Write::write_all(&mut f, text.as_bytes())?;
    Ok(path)
}

/// An error answer of the server, kept whole so the CLI can print it and pick an exit code.
#[derive(Debug)]
pub struct ServerError {
    pub status: u16,
    pub problem: Value,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let detail = self.problem["detail"]
            .as_str()
            .unwrap_or("the server refused the request");
        write!(f, "{detail}")?;
        if let Some(errors) = self.problem["errors"].as_array() {
            for e in errors {
                write!(
                    f,
                    "\n  {}: {}",
                    e["pointer"]
                        .as_str()
                        .filter(|p| !p.is_empty())
                        .unwrap_or("/"),
                    e["message"]
                        .as_str()
                        .unwrap_or("")
                        .replace('\n', "\n      ")
                )?;
            }
        }
        if matches!(self.status, 401) {
            write!(
                f,
                "\n  hint: log in again with `verbund login --url URL --token TOKEN`; an admin creates tokens with `verbund token create`"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ServerError {}

/// How often a request the server was too busy for is sent again (after its Retry-After).
const MAX_RETRIES: u32 = 5;

/// A connection to a Verbund server.
pub struct Client {
    pub url: String,
    token: String,
    http: reqwest::blocking::Client,
}

impl Client {
    /// Resolves flags, environment and profile into a client.
    pub fn from_args(args: &RemoteArgs) -> anyhow::Result<Self> {
        let mut profiles = load_profiles()?;
        let profile = profiles.remove(&args.profile);
        if profile.is_none() && args.profile != "default" {
            let known: Vec<&str> = profiles.keys().map(String::as_str).collect();
            anyhow::bail!(
                "there is no profile {:?}; {}. Save one with `verbund login --profile {} --url URL --token TOKEN`",
                args.profile,
                if known.is_empty() {
                    "no profile is saved yet".to_string()
                } else {
                    format!("saved profiles: {}", known.join(", "))
                },
                args.profile
            );
        }
        let url = args
            .url
            .clone()
            .or_else(|| profile.as_ref().map(|p| p.url.clone()))
            .context("no server given: pass --url (or set VERBUND_URL), or log in once with `verbund login --url URL --token TOKEN`")?;
        let token = args
            .token
            .clone()
            .or_else(|| profile.as_ref().map(|p| p.token.clone()))
            .context("no token given: pass --token (or set VERBUND_TOKEN), or log in once with `verbund login`")?;
        Self::new(&url, &token)
    }

    pub fn new(url: &str, token: &str) -> anyhow::Result<Self> {
        let http = reqwest::blocking::Client::builder()
            .user_agent(concat!("verbund-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        Ok(Self {
            url: url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http,
        })
    }

    /// Sends a request and returns the JSON answer (or `Value::Null` for 204).
    pub fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<u64>,
    ) -> anyhow::Result<Value> {
        // A busy server (429: this client's rate limit; 503 with Retry-After: a moment of
        // contention) says when to come back; commands that make many requests (an import
        // that compares lines, many references by slug) wait instead of failing.
        let mut attempt = 0;
        loop {
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.url))
                .bearer_auth(&self.token);
            if let Some(v) = if_match {
                req = req.header("If-Match", format!("\"{v}\""));
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let res = req.send().with_context(|| self.unreachable())?;
            let wait = res
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let busy = res.status() == 429 || (res.status() == 503 && wait.is_some());
            if busy && attempt < MAX_RETRIES {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_secs(
                    wait.unwrap_or(1).clamp(1, 10),
                ));
                continue;
            }
            return Self::answer(res);
        }
    }

    /// Sends a body that is not JSON (NDJSON for imports) and returns the JSON answer.
    pub fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: String,
        content_type: &str,
    ) -> anyhow::Result<Value> {
        self.send_bytes(method, path, body.into_bytes(), content_type)
    }

    /// Sends raw bytes (a plugin component, NDJSON) and returns the JSON answer.
    pub fn send_bytes(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> anyhow::Result<Value> {
        let res = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .with_context(|| self.unreachable())?;
        Self::answer(res)
    }

    /// Streams a GET answer into `out`, returning the byte count; errors as in [`Self::send`].
    pub fn download(&self, path: &str, out: &mut dyn std::io::Write) -> anyhow::Result<u64> {
        let http = reqwest::blocking::Client::builder()
            .user_agent(concat!("verbund-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut res = http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .with_context(|| self.unreachable())?;
        if !res.status().is_success() {
            return Self::answer(res).map(|_| 0);
        }
        Ok(res.copy_to(out)?)
    }

    fn unreachable(&self) -> String {
        format!(
            "could not reach the server at {}; is it running (`verbund serve`)?",
            self.url
        )
    }

    fn answer(res: reqwest::blocking::Response) -> anyhow::Result<Value> {
        let status = res.status().as_u16();
        // A write that a disabled plugin did not check says so.
        if let Some(w) = res
            .headers()
            .get("verbund-warning")
            .and_then(|v| v.to_str().ok())
        {
            eprintln!("warning: {w}");
        }
        if status == 204 {
            return Ok(Value::Null);
        }
        let text = res.text().unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status >= 400 {
            bail!(ServerError {
                status,
                problem: value
            });
        }
        Ok(value)
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::GET, path, None, None)
    }
}
