//! Engines and nodes: one node on sled against one node on PostgreSQL and two nodes on
//! PostgreSQL behind nginx, with the same benchmark stories, in the same run: delivery (by
//! slug, newest 20; response cache on and off), durable creates through the API (1 and 8
//! clients) and the offline bulk import.
//!
//! Starts its own PostgreSQL server (`tests/postgres/start`, a private cluster on a free port,
//! fsync on) and nginx (Debian's package). Usage: `cluster [N] [RUNS] [SECONDS] [CREATES]`
//! (defaults 10000, 3, 5, 2000) after `cargo build --release -p verbund -p verbund-bench`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use verbund_bench::{
    Postgres, arg, bench_dir, bodies, creates, published_slug, spread, stories, wrk,
};

fn verbund() -> anyhow::Result<PathBuf> {
    let p = std::env::current_exe()?
        .parent()
        .context("exe dir")?
        .join("verbund");
    if !p.exists() {
        bail!(
            "{} is missing: cargo build --release -p verbund",
            p.display()
        );
    }
    Ok(p)
}

/// A process stopped on drop: SIGTERM first (nginx's master then stops its workers, which
/// SIGKILL would leave behind), SIGKILL if it is still there after a second.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..20 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where a node keeps its store.
#[derive(Clone)]
enum Store {
    Sled,
    Postgres(String),
}

fn with_store<'c>(cmd: &'c mut Command, store: &Store) -> &'c mut Command {
    if let Store::Postgres(url) = store {
        cmd.arg("--store").arg(url);
    }
    cmd
}

fn token(bin: &Path, node: &Path, store: &Store) -> anyhow::Result<String> {
    let mut cmd = Command::new(bin);
    cmd.args(["token", "create", "--role", "editor", "--expires", "1d"])
        .arg("--data")
        .arg(node);
    let out = with_store(&mut cmd, store).output()?;
    if !out.status.success() {
        bail!(
            "token create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

fn import(bin: &Path, node: &Path, store: &Store, file: &Path) -> anyhow::Result<f64> {
    let t = Instant::now();
    let mut cmd = Command::new(bin);
    cmd.arg("import")
        .arg(file)
        .arg("--data")
        .arg(node)
        .arg("--schemas")
        .arg(bench_dir().join("schemas"))
        .args(["--type", "bench_story"]);
    let out = with_store(&mut cmd, store).output()?;
    if !out.status.success() {
        bail!("import failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(t.elapsed().as_secs_f64())
}

fn serve(bin: &Path, node: &Path, store: &Store, cache: &str) -> anyhow::Result<(Running, String)> {
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .arg("--data")
        .arg(node)
        .arg("--schemas")
        .arg(bench_dir().join("schemas"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--rate-limit",
            "0",
            "--no-plugins",
        ])
        .args(["--response-cache", cache])
        .env("VERBUND_LOG", "warn")
        .stdout(Stdio::piped());
    let mut child = Running(with_store(&mut cmd, store).spawn()?);
    let out = child.0.stdout.take().context("stdout")?;
    for line in BufReader::new(out).lines() {
        if let Some(rest) = line?.strip_prefix("Verbund is serving ") {
            let url = rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_end_matches('/');
            return Ok((child, url.to_string()));
        }
    }
    bail!("the server did not start")
}

/// nginx balancing `upstreams` (round robin, keep-alive to the nodes) on a free port.
fn nginx(dir: &Path, upstreams: &[String]) -> anyhow::Result<(Running, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let servers: String = upstreams
        .iter()
        .map(|u| format!("    server {};\n", u.trim_start_matches("http://")))
        .collect();
    let d = dir.display();
    let conf = format!(
        "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\ndaemon off;\n\
events {{ worker_connections 1024; }}\n\
http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
  upstream verbund {{\n{servers}    keepalive 64;\n  }}\n\
  server {{\n    listen 127.0.0.1:{port};\n    client_max_body_size 2m;\n\
    location / {{\n      proxy_pass http://verbund;\n      proxy_http_version 1.1;\n\
      proxy_set_header Connection \"\";\n      proxy_set_header Host $host;\n\
      proxy_buffering off;\n    }}\n  }}\n}}\n"
    );
    std::fs::create_dir_all(dir)?;
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf)?;
    let bin = ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|b| Command::new(b).arg("-v").output().is_ok())
        .context("nginx is missing: apt-get install nginx-light")?;
    let child = Running(
        Command::new(bin)
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok((child, url));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    bail!("nginx did not start (see {d}/nginx-error.log)")
}

/// One measured figure of one setup: median (and min, max) over the runs.
#[derive(Clone, Copy)]
struct Figure {
    median: f64,
    min: f64,
    max: f64,
    p99: f64,
}

fn figure(xs: Vec<f64>, p99: f64) -> Figure {
    let (min, median, max) = spread(xs);
    Figure {
        median,
        min,
        max,
        p99,
    }
}

/// `wrk` on `url`, `runs` times after a warm-up.
fn load(url: &str, runs: usize, seconds: u64) -> anyhow::Result<Figure> {
    let _ = wrk(url, 2, None)?;
    let mut results: Vec<verbund_bench::Wrk> = (0..runs)
        .map(|_| wrk(url, seconds, None))
        .collect::<anyhow::Result<_>>()?;
    let errors: u64 = results.iter().map(|r| r.errors).sum();
    if errors > 0 {
        bail!("{url} answered {errors} errors under load");
    }
    results.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    let p99 = results[results.len() / 2].p99_ms;
    Ok(figure(results.iter().map(|r| r.rps).collect(), p99))
}

const SETUPS: [&str; 3] = [
    "sled, 1 node",
    "PostgreSQL, 1 node",
    "PostgreSQL, 2 nodes + nginx",
];

fn main() -> anyhow::Result<()> {
    let n: usize = arg(1, 10_000)?;
    let runs: usize = arg(2, 3)?;
    let seconds: u64 = arg(3, 5)?;
    let n_creates: usize = arg(4, 2000)?;
    let bin = verbund()?;
    let lines = stories(n)?;
    let create_lines = stories(n.max(n_creates))?;
    let tmp = tempfile::tempdir()?;
    let file = tmp.path().join("stories.ndjson");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file)?);
        for l in &lines {
            writeln!(f, "{l}")?;
        }
    }
    let slug = published_slug(&lines)?;
    let pg = Postgres::start()?;
    let schema = verbund_core::store::scratch_schema(&pg.url)?;
    let stores = [Store::Sled, Store::Postgres(schema)];
    let node_a = |i: usize| tmp.path().join(format!("node-a-{i}"));
    let node_b = tmp.path().join("node-b");

    // Rows: label → one figure per setup.
    let mut rows: Vec<(String, String, Vec<Option<Figure>>)> = Vec::new();
    let mut put = |label: &str, unit: &str, setup: usize, f: Figure| {
        if let Some(r) = rows.iter_mut().find(|r| r.0 == label) {
            r.2[setup] = Some(f);
        } else {
            let mut v = vec![None; SETUPS.len()];
            v[setup] = Some(f);
            rows.push((label.to_string(), unit.to_string(), v));
        }
    };

    // The import (one run per engine: a second would find the stories there).
    for (i, store) in stores.iter().enumerate() {
        let secs = import(&bin, &node_a(i), store, &file)?;
        put(
            &format!("bulk import of {n} (`verbund import`, durable)"),
            "entries/s",
            i,
            figure(vec![n as f64 / secs], f64::NAN),
        );
    }
    // Tokens now: a sled data dir is the server's while it runs.
    let tokens = stores
        .iter()
        .enumerate()
        .map(|(i, store)| token(&bin, &node_a(i), store))
        .collect::<anyhow::Result<Vec<_>>>()?;
    std::fs::create_dir_all(&node_b)?;
    std::fs::copy(node_a(1).join("verbund.key"), node_b.join("verbund.key"))?;

    let cases = [
        (
            "entry by slug",
            format!("/api/v1/content/bench_story/{slug}"),
        ),
        (
            "newest 20, full bodies",
            "/api/v1/content/bench_story?limit=20".to_string(),
        ),
    ];
    for (cache, cache_label) in [("4096", "cache on"), ("0", "cache off")] {
        for (setup, _) in SETUPS.iter().enumerate() {
            let store = &stores[setup.min(1)];
            let (_a, a_url) = serve(&bin, &node_a(setup.min(1)), store, cache)?;
            let mut keep = Vec::new();
            let base = if setup == 2 {
                let (b, b_url) = serve(&bin, &node_b, store, cache)?;
                keep.push(b);
                let (lb, lb_url) = nginx(&tmp.path().join("nginx"), &[a_url.clone(), b_url])?;
                keep.push(lb);
                lb_url
            } else {
                a_url.clone()
            };
            for (label, path) in &cases {
                let f = load(&format!("{base}{path}"), runs, seconds)?;
                put(&format!("{label}, {cache_label}"), "req/s", setup, f);
            }
            if cache == "4096" {
                let token = &tokens[setup.min(1)];
                for clients in [1usize, 8] {
                    let mut xs = Vec::new();
                    for r in 0..runs {
                        let tag = format!("s{setup}-c{clients}-r{r}");
                        xs.push(creates(
                            &base,
                            token,
                            bodies(&create_lines[..n_creates], &tag)?,
                            clients,
                        )?);
                    }
                    put(
                        &format!("creates via the API, {clients} client(s)"),
                        "entries/s",
                        setup,
                        figure(xs, f64::NAN),
                    );
                }
            }
        }
    }

    println!("## One node on sled, one on PostgreSQL, two on PostgreSQL behind nginx\n");
    println!(
        "{n} benchmark stories; delivery with wrk -t1 -c32 -d{seconds}s, {runs} runs each (median, with min–max); \
         {n_creates} durable creates per run. PostgreSQL {} runs on this machine with fsync on; in the \
         two-node setup both nodes, nginx, PostgreSQL and wrk share the same cores, so a second node adds \
         no CPU here: it shows the cost of the balancer and of following the shared change feed, \
         not the gain of a second machine.\n",
        pg_version(&pg.url)
    );
    println!(
        "| what | {} | {} | ratio to sled | {} | ratio to sled | unit |",
        SETUPS[0], SETUPS[1], SETUPS[2]
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    let cell = |f: &Option<Figure>| match f {
        Some(f) if f.min != f.max => format!("{:.0} ({:.0}–{:.0})", f.median, f.min, f.max),
        Some(f) => format!("{:.0}", f.median),
        None => "—".into(),
    };
    let ratio = |a: &Option<Figure>, b: &Option<Figure>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.2}×", b.median / a.median),
        _ => "—".into(),
    };
    for (label, unit, figs) in &rows {
        println!(
            "| {label} | {} | {} | {} | {} | {} | {unit} |",
            cell(&figs[0]),
            cell(&figs[1]),
            ratio(&figs[0], &figs[1]),
            cell(&figs[2]),
            ratio(&figs[0], &figs[2]),
        );
    }
    println!();
    println!("p99 latency of the median delivery run, ms:\n");
    println!(
        "| request | {} | {} | {} |",
        SETUPS[0], SETUPS[1], SETUPS[2]
    );
    println!("|---|---:|---:|---:|");
    for (label, unit, figs) in &rows {
        if unit == "req/s" {
            let p = |f: &Option<Figure>| f.map_or("—".into(), |f| format!("{:.2}", f.p99));
            println!(
                "| {label} | {} | {} | {} |",
                p(&figs[0]),
                p(&figs[1]),
                p(&figs[2])
            );
        }
    }
    Ok(())
}

fn pg_version(url: &str) -> String {
    Command::new("psql")
        .args([url, "-Atc", "SHOW server_version"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "?".into())
}
