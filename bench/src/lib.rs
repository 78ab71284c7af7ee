//! Shared pieces of Verbund's benchmark programs: the benchmark data set and result tables.
//!
//! The data comes from `bench/gen_stories.py` (10,000 German-like stories, fixed seed), the
//! same data the peer CMS was measured with.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The `bench/` directory of the repository.
pub fn bench_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Generates (once) the benchmark stories and returns them as import lines: the generator's
/// `status` becomes the entry `state`.
pub fn stories(n: usize) -> anyhow::Result<Vec<String>> {
    let dir = bench_dir().join("data");
    std::fs::create_dir_all(&dir)?;
    let raw = dir.join(format!("stories-{n}.ndjson"));
    if !raw.exists() {
        let status = Command::new("python3")
            .arg(bench_dir().join("gen_stories.py"))
            .arg(n.to_string())
            .arg(&raw)
            .status()
            .context("could not run python3 bench/gen_stories.py")?;
        if !status.success() {
            bail!("bench/gen_stories.py failed with {status}");
        }
    }
    let text = std::fs::read_to_string(&raw)?;
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l)?;
            let obj = v.as_object_mut().context("a story line is not an object")?;
            let status = obj.remove("status").unwrap_or_else(|| "draft".into());
            obj.insert("state".into(), status);
            Ok(v.to_string())
        })
        .collect()
}

/// The benchmark's own content type, `bench_story`.
pub fn schemas() -> anyhow::Result<verbund_core::SchemaRegistry> {
    Ok(verbund_core::SchemaRegistry::load_dir(
        &bench_dir().join("schemas"),
    )?)
}

/// The `i`-th command-line argument as a number, or `default`.
pub fn arg<T: std::str::FromStr>(i: usize, default: T) -> anyhow::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    Ok(match std::env::args().nth(i) {
        Some(s) => s.parse()?,
        None => default,
    })
}

/// Min, median and max of some measurements.
pub fn spread(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len();
    if n == 0 {
        return (0.0, 0.0, 0.0);
    }
    (xs[0], xs[n / 2], xs[n - 1])
}

pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Prints a Markdown table row of min/median/max.
pub fn row(label: &str, unit: &str, xs: Vec<f64>) {
    let (min, med, max) = spread(xs);
    println!("| {label} | {min:.0} | {med:.0} | {max:.0} | {unit} |");
}

pub fn row_f(label: &str, unit: &str, xs: Vec<f64>) {
    let (min, med, max) = spread(xs);
    println!("| {label} | {min:.2} | {med:.2} | {max:.2} | {unit} |");
}

/// What one `wrk` run measured.
pub struct Wrk {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Non-2xx/3xx answers and socket errors.
    pub errors: u64,
}

fn parse_ms(s: &str) -> f64 {
    let s = s.trim();
    let (num, mult) = if let Some(v) = s.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (s, 1.0)
    };
    num.parse::<f64>().unwrap_or(f64::NAN) * mult
}

/// Loads `url` with `wrk -t1 -c32` for `seconds` (with an extra header line if given).
pub fn wrk(url: &str, seconds: u64, header: Option<&str>) -> anyhow::Result<Wrk> {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t1", "-c32", &format!("-d{seconds}s"), "--latency"]);
    if let Some(h) = header {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .arg(url)
        .output()
        .context("could not run wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut r = Wrk {
        rps: 0.0,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        errors: 0,
    };
    for line in text.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            r.rps = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("50%") {
            r.p50_ms = parse_ms(v);
        } else if let Some(v) = t.strip_prefix("99%") {
            r.p99_ms = parse_ms(v);
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            r.errors += v.trim().parse::<u64>().unwrap_or(0);
        } else if t.starts_with("Socket errors:") {
            r.errors += t
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    Ok(r)
}

/// Creates `bodies` with `clients` concurrent clients; returns entries per second.
pub fn creates(url: &str, token: &str, bodies: Vec<String>, clients: usize) -> anyhow::Result<f64> {
    let bodies = Arc::new(bodies);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (bodies, next) = (bodies.clone(), next.clone());
            let (url, token) = (url.to_string(), token.to_string());
            std::thread::spawn(move || -> anyhow::Result<()> {
                let client = reqwest::blocking::Client::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else {
                        return Ok(());
                    };
                    let res = client
                        .post(format!("{url}/api/v1/manage/bench_story"))
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()?;
                    if res.status() != 201 {
                        bail!("create failed: {} {}", res.status(), res.text()?);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| anyhow::anyhow!("a client panicked"))??;
    }
    Ok(bodies.len() as f64 / t.elapsed().as_secs_f64())
}

/// Draft bodies for the API (the state comes from the lifecycle), with unique slugs.
pub fn bodies(lines: &[String], tag: &str) -> anyhow::Result<Vec<String>> {
    lines
        .iter()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l)?;
            let o = v.as_object_mut().context("object")?;
            o.remove("state");
            o.remove("published_at");
            let slug = o["slug"].as_str().unwrap_or("s").to_string();
            o.insert("slug".into(), format!("{slug}-{tag}").into());
            Ok(v.to_string())
        })
        .collect()
}

/// The slug of the first published story.
pub fn published_slug(lines: &[String]) -> anyhow::Result<String> {
    let first: serde_json::Value = serde_json::from_str(
        lines
            .iter()
            .find(|l| l.contains("\"state\":\"published\""))
            .context("a published story")?,
    )?;
    Ok(first["slug"].as_str().context("slug")?.to_string())
}

/// A program built next to the running benchmark (`target/release/NAME`).
pub fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let p = std::env::current_exe()?
        .parent()
        .context("exe dir")?
        .join(name);
    if !p.exists() {
        bail!(
            "{} is missing; build it with `cargo build --release -p verbund`",
            p.display()
        );
    }
    Ok(p)
}

/// A `verbund serve` process, killed on drop.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `verbund serve` on `data` on a free port with `extra` flags, once it listens.
pub fn serve(verbund: &Path, data: &Path, extra: &[&str]) -> anyhow::Result<Server> {
    let mut child = Command::new(verbund)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--data")
        .arg(data)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut url = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(rest) = line.split("serving ").nth(1) {
            url = Some(
                rest.split_whitespace()
                    .next()
                    .unwrap_or("")
                    .trim_end_matches('/')
                    .to_string(),
            );
            break;
        }
    }
    Ok(Server {
        url: url.context("the server printed no address")?,
        child,
    })
}

/// Imports the benchmark stories in `file` as `bench_story` into the data dir `data` with
/// `verbund import` (offline).
pub fn import(verbund: &Path, file: &Path, data: &Path, schemas: &Path) -> anyhow::Result<()> {
    let out = Command::new(verbund)
        .arg("import")
        .arg(file)
        .arg("--data")
        .arg(data)
        .arg("--schemas")
        .arg(schemas)
        .args(["--type", "bench_story"])
        .output()?;
    if !out.status.success() {
        bail!("import failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// A token of `role` made with `verbund token create` on a stopped server's data dir.
pub fn token(verbund: &Path, data: &Path, role: &str) -> anyhow::Result<String> {
    let out = Command::new(verbund)
        .args([
            "token",
            "create",
            "--role",
            role,
            "--expires",
            "1d",
            "--data",
        ])
        .arg(data)
        .output()?;
    if !out.status.success() {
        bail!("token create: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// A memory figure of a process from `/proc/PID/status` (`VmRSS:`, `VmHWM:`), in MB.
pub fn status_mb(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(key)).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// A private PostgreSQL server, stopped on drop.
pub struct Postgres {
    dir: tempfile::TempDir,
    pub url: String,
}

impl Postgres {
    fn script(name: &str) -> PathBuf {
        bench_dir().join("../tests/postgres").join(name)
    }

    pub fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let out = Command::new(Self::script("start"))
            .arg(dir.path())
            .output()
            .context("could not run tests/postgres/start")?;
        if !out.status.success() {
            bail!(
                "PostgreSQL did not start: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let url = String::from_utf8(out.stdout)?.trim().to_string();
        Ok(Postgres { dir, url })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new(Self::script("stop"))
            .arg(self.dir.path())
            .status();
    }
}
