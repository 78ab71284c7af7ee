//! Webhook and change-stream benchmark, in one run on this machine, against the real `verbund`
//! server (sled data dir) and stories from the benchmark data set (`bench/gen_stories.py`):
//!
//! 1. Latency: publication → webhook received by a local receiver, p50/p99 over PUBLICATIONS
//!    publications one after another; the reference is the publication request itself (its
//!    round trip), so the ratio says how much later than the editor's answer a site hears.
//! 2. Fan-out: PUBLICATIONS publications to 10 endpoints (10 × PUBLICATIONS deliveries), as
//!    deliveries per second; the reference is the same receivers taking the same number of
//!    plain POSTs from this program with the same concurrency (no store, no signing, no log).
//! 3. Live stream: CLIENTS Server-Sent-Event clients connected at once; per publication the
//!    time until every client has the event (p50/p99 over the clients, median over 20
//!    publications), against one client in the same run; the server's RSS with the clients.
//!
//! Build first: `cargo build --release -p verbund -p verbund-bench`, then
//! `target/release/webhooks [PUBLICATIONS] [RUNS] [CLIENTS]` (or `bench/run`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use verbund_bench::{arg, row, row_f, serve, sibling, spread, status_mb, token};
use verbund_tests::Receiver;

fn percentile(xs: &mut [f64], p: f64) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    if xs.is_empty() {
        return f64::NAN;
    }
    xs[((xs.len() - 1) as f64 * p).round() as usize]
}

/// A story of the benchmark data set as the `story` type takes it.
fn story_body(line: &str, n: usize) -> anyhow::Result<Value> {
    let v: Value = serde_json::from_str(line)?;
    let cut = |s: &str, max: usize| s.chars().take(max).collect::<String>();
    Ok(json!({
        "kind": "news",
        "title": cut(v["title"].as_str().unwrap_or("Meldung"), 120),
        "slug": format!("meldung-{n}"),
        "teaser": cut(v["teaser"].as_str().unwrap_or("Kurzfassung."), 280),
        "body": v["body"].as_str().unwrap_or("Text."),
        "topics": ["cloud"],
    }))
}

struct Api {
    http: reqwest::blocking::Client,
    url: String,
    token: String,
}

impl Api {
    fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let res = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(body)
            .send()?;
        let status = res.status();
        let v: Value = res.json().unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {path}: {status} {v}");
        }
        Ok(v)
    }

    fn draft(&self, lines: &[String], n: usize) -> anyhow::Result<String> {
        let body = story_body(&lines[n % lines.len()], n)?;
        let v = self.post("/api/v1/manage/story", &body)?;
        Ok(v["data"]["id"].as_str().context("id")?.to_string())
    }

    fn publish(&self, id: &str) -> anyhow::Result<()> {
        self.post(
            &format!("/api/v1/manage/story/{id}/transitions"),
            &json!({"to": "published"}),
        )?;
        Ok(())
    }

    fn add_endpoint(&self, url: &str) -> anyhow::Result<String> {
        let v = self.post(
            "/api/v1/admin/webhooks",
            &json!({"url": url, "events": ["entry.published"]}),
        )?;
        Ok(v["data"]["id"].as_str().context("id")?.to_string())
    }

    fn remove_endpoint(&self, id: &str) -> anyhow::Result<()> {
        self.http
            .delete(format!("{}/api/v1/admin/webhooks/{id}", self.url))
            .bearer_auth(&self.token)
            .send()?;
        Ok(())
    }
}

/// Waits until `f` holds, at most `limit`.
fn wait(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    false
}

/// 1: p50/p99 of publication → webhook, and of the publication request itself (ms).
fn latency(api: &Api, lines: &[String], n: usize, base: usize) -> anyhow::Result<[f64; 4]> {
    let rx = Receiver::start();
    let endpoint = api.add_endpoint(&rx.url())?;
    let (mut hook, mut request) = (Vec::new(), Vec::new());
    for i in 0..n {
        let id = api.draft(lines, base + i)?;
        let t0 = Instant::now();
        api.publish(&id)?;
        request.push(t0.elapsed().as_secs_f64() * 1000.0);
        if !wait(Duration::from_secs(30), || rx.count() > i) {
            bail!("publication {i} was not delivered within 30 s");
        }
        let at = rx.received()[i].at;
        hook.push(at.duration_since(t0).as_secs_f64() * 1000.0);
    }
    api.remove_endpoint(&endpoint)?;
    Ok([
        percentile(&mut hook, 0.5),
        percentile(&mut hook, 0.99),
        percentile(&mut request, 0.5),
        percentile(&mut request, 0.99),
    ])
}

/// 2: deliveries/s of `n` publications to 10 endpoints, and of plain POSTs to 10 receivers.
fn fan_out(api: &Api, lines: &[String], n: usize, base: usize) -> anyhow::Result<(f64, f64)> {
    let receivers: Vec<Receiver> = (0..10).map(|_| Receiver::start()).collect();
    let endpoints: Vec<String> = receivers
        .iter()
        .map(|r| api.add_endpoint(&r.url()))
        .collect::<anyhow::Result<_>>()?;
    let ids: Vec<String> = (0..n)
        .map(|i| api.draft(lines, base + i))
        .collect::<anyhow::Result<_>>()?;
    let t0 = Instant::now();
    // Publications from 4 clients at once, as an import or a busy editorial day would.
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = ids
            .chunks(n.div_ceil(4))
            .map(|chunk| s.spawn(move || chunk.iter().try_for_each(|id| api.publish(id))))
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("publisher panicked"))??;
        }
        Ok(())
    })?;
    if !wait(Duration::from_secs(300), || {
        receivers.iter().all(|r| r.count() >= n)
    }) {
        bail!("not every delivery arrived within 300 s");
    }
    let webhooks = (10 * n) as f64 / t0.elapsed().as_secs_f64();
    for e in &endpoints {
        api.remove_endpoint(e)?;
    }
    // The reference: the same receivers, the same number of requests of the same size, sent
    // by this program with 8 connections per receiver.
    let fresh: Vec<Receiver> = (0..10).map(|_| Receiver::start()).collect();
    let body = Arc::new(
        json!({"type": "entry.published", "timestamp": "2026-12-06T12:00:00Z", "data": {"seq": 1, "content_type": "story", "id": "01JEF3T9Y6M2Q8R4V5W7X0Z1AB", "locale": "de", "version": 2, "state": "published", "published_version": 2}})
            .to_string(),
    );
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for r in &fresh {
            for _ in 0..8 {
                let (url, body) = (r.url(), body.clone());
                s.spawn(move || {
                    let http = reqwest::blocking::Client::new();
                    for _ in 0..n.div_ceil(8) {
                        let _ = http
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(body.as_str().to_string())
                            .send();
                    }
                });
            }
        }
    });
    let sent: usize = fresh.iter().map(Receiver::count).sum();
    let plain = sent as f64 / t0.elapsed().as_secs_f64();
    Ok((webhooks, plain))
}

/// 3: with `clients` streams open, per publication the time until each client has its event;
/// returns (p50, p99) over clients, each the median over `pubs` publications, in ms.
async fn stream_latency(
    url: &str,
    clients: usize,
    pubs: usize,
    mut publish: impl FnMut() -> anyhow::Result<()>,
    pid: u32,
) -> anyhow::Result<(f64, f64, f64)> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let mut tasks = Vec::new();
    let ready = Arc::new(tokio::sync::Semaphore::new(0));
    for c in 0..clients {
        let (http, tx, ready) = (http.clone(), tx.clone(), ready.clone());
        let url = format!("{url}/api/v1/changes/stream");
        tasks.push(tokio::spawn(async move {
            let Ok(mut res) = http.get(&url).send().await else {
                return;
            };
            ready.add_permits(1);
            let mut buf = String::new();
            while let Ok(Some(chunk)) = res.chunk().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let event: String = buf.drain(..end + 2).collect();
                    if event.contains("event: change") {
                        let _ = tx.send((c, Instant::now()));
                    }
                }
            }
        }));
    }
    let _all = ready
        .acquire_many(u32::try_from(clients).unwrap_or(u32::MAX))
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss = status_mb(pid, "VmRSS:");
    let mut per_client: Vec<Vec<f64>> = vec![Vec::new(); clients];
    for _ in 0..pubs {
        let t0 = Instant::now();
        tokio::task::block_in_place(&mut publish)?;
        let mut got = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while got < clients {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((c, at))) => {
                    per_client[c].push(at.duration_since(t0).as_secs_f64() * 1000.0);
                    got += 1;
                }
                _ => bail!("only {got} of {clients} clients got the event within 30 s"),
            }
        }
    }
    for t in tasks {
        t.abort();
    }
    let mut medians: Vec<f64> = per_client
        .into_iter()
        .map(|mut xs| percentile(&mut xs, 0.5))
        .collect();
    Ok((
        percentile(&mut medians, 0.5),
        percentile(&mut medians, 0.99),
        rss,
    ))
}

fn main() -> anyhow::Result<()> {
    let publications: usize = arg(1, 1000)?;
    let runs: usize = arg(2, 3)?;
    let clients: usize = arg(3, 1000)?;
    let verbund = sibling("verbund")?;
    let lines = verbund_bench::stories(10_000)?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let token = token(&verbund, &data, "admin")?;
    let server = serve(
        &verbund,
        &data,
        &[
            "--no-plugins",
            "--rate-limit",
            "0",
            "--webhook-allow",
            "127.0.0.1",
            "--max-connections",
            "8192",
            // The stream clients all come from this machine's one address.
            "--max-streams-per-client",
            "100000",
        ],
    )?;
    let api = Api {
        http: reqwest::blocking::Client::new(),
        url: server.url.clone(),
        token,
    };
    let pid = server.child.id();
    let mut base = 0;

    println!("## Webhooks and the live change stream");
    println!();
    println!(
        "The `verbund` server on a sled data dir, stories from the benchmark data set, receivers on this machine; {runs} runs."
    );
    println!();
    println!("| what | min | median | max | unit |");
    println!("|---|---|---|---|---|");
    let mut lat: [Vec<f64>; 4] = Default::default();
    for _ in 0..runs {
        let r = latency(&api, &lines, publications, base)?;
        base += publications;
        for (i, v) in r.into_iter().enumerate() {
            lat[i].push(v);
        }
    }
    let ratio: Vec<f64> = lat[0].iter().zip(&lat[2]).map(|(h, r)| h / r).collect();
    row_f(
        &format!("publication → webhook received, p50 ({publications} publications)"),
        "ms",
        lat[0].clone(),
    );
    row_f("publication → webhook received, p99", "ms", lat[1].clone());
    row_f(
        "reference: the publication request's own round trip, p50",
        "ms",
        lat[2].clone(),
    );
    row_f(
        "reference: the publication request's own round trip, p99",
        "ms",
        lat[3].clone(),
    );
    row_f("ratio webhook p50 / request p50", "×", ratio);

    let (mut hooks, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (h, p) = fan_out(&api, &lines, publications, base)?;
        base += publications;
        hooks.push(h);
        plain.push(p);
    }
    let ratio: Vec<f64> = hooks.iter().zip(&plain).map(|(h, p)| h / p).collect();
    row(
        &format!(
            "fan-out: {publications} publications to 10 endpoints ({} deliveries)",
            10 * publications
        ),
        "deliveries/s",
        hooks,
    );
    row(
        "reference: plain POSTs of the same size to the same receivers",
        "requests/s",
        plain,
    );
    row_f("ratio webhooks / plain POSTs", "×", ratio);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let idle_rss = status_mb(pid, "VmRSS:");
    let (mut one, mut many, mut many99, mut rss) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let mut n = base;
        let mut publish = || {
            let id = api.draft(&lines, n)?;
            n += 1;
            api.publish(&id)
        };
        let (p50, _, _) =
            runtime.block_on(stream_latency(&server.url, 1, 20, &mut publish, pid))?;
        one.push(p50);
        let (p50, p99, r) =
            runtime.block_on(stream_latency(&server.url, clients, 20, &mut publish, pid))?;
        many.push(p50);
        many99.push(p99);
        rss.push(r);
        base = n;
    }
    let ratio: Vec<f64> = many.iter().zip(&one).map(|(m, o)| m / o).collect();
    row_f(
        &format!("change stream: publication → event at all {clients} clients, p50 of clients"),
        "ms",
        many,
    );
    row_f("change stream, p99 of clients", "ms", many99);
    row_f("reference: one client", "ms", one);
    row_f(&format!("ratio {clients} clients / one client"), "×", ratio);
    row(
        &format!("server RSS with {clients} streams open (idle before: {idle_rss:.0} MB)"),
        "MB",
        rss,
    );
    let (_, peak, _) = spread(vec![status_mb(pid, "VmHWM:")]);
    println!();
    println!("Peak RSS of the server over the whole run: {peak:.0} MB.");
    Ok(())
}
