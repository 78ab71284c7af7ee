//! HTTP delivery benchmark: the real `verbund` server with the 10,000 benchmark stories,
//! loaded by `wrk` over loopback (one thread, 32 connections), repeated runs per request, and
//! in the same run the ceiling (`ceiling`: bare axum + sled over the same stories) for the
//! three requests both answer, with the ratios Verbund / ceiling first.
//!
//! Build first: `cargo build --release -p verbund -p verbund-bench`, then
//! `target/release/http [N] [RUNS] [SECONDS]` (or `bench/run`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use verbund_bench::{Wrk, bench_dir, published_slug, stories, wrk};

fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let p = exe.parent().context("exe dir")?.join(name);
    if !p.exists() {
        bail!(
            "{} is missing; build it with `cargo build --release -p verbund`",
            p.display()
        );
    }
    Ok(p)
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU time (user + system) the process has used, in seconds (clock ticks of 1/100 s).
fn cpu_secs(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // The fields after the command name (which is in parentheses).
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn main() -> anyhow::Result<()> {
    let n: usize = verbund_bench::arg(1, 10_000)?;
    let runs: usize = verbund_bench::arg(2, 3)?;
    let seconds: u64 = verbund_bench::arg(3, 8)?;
    let verbund = sibling("verbund")?;
    let lines = stories(n)?;
    let tmp = tempfile::tempdir()?;
    let file = tmp.path().join("stories.ndjson");
    std::fs::write(&file, lines.join("\n"))?;
    let data = tmp.path().join("data");
    let schemas = bench_dir().join("schemas");

    let t = Instant::now();
    verbund_bench::import(&verbund, &file, &data, &schemas)?;
    let import_s = t.elapsed().as_secs_f64();
    println!(
        "## HTTP delivery benchmark: {n} stories, wrk -t1 -c32 -d{seconds}s, {runs} runs each\n"
    );
    println!("offline import via `verbund import`: {import_s:.2} s\n");
    let (ceiling, ceiling_footprint) =
        ceiling_run(&sibling("ceiling")?, &file, &lines, runs, seconds)?;
    let mut measured = Vec::new();
    let mut footprints = Vec::new();
    let mut tables = String::new();
    for (title, cache) in [
        ("response cache on (default)", "4096"),
        ("response cache off (every request runs the query)", "0"),
    ] {
        tables.push_str(&format!("### {title}\n\n"));
        let rows = serve_and_load(&verbund, &data, &schemas, &lines, cache, runs, seconds)?;
        tables.push_str(&rows.table);
        tables.push('\n');
        measured.push(rows.medians);
        footprints.push(rows.footprint);
    }
    println!("### Against the ceiling (bare axum + sled, same data, same run)\n");
    println!(
        "| request | ceiling req/s | Verbund cache on | ratio | Verbund cache off | ratio | p99 ms ceiling / on / off |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (label, c) in &ceiling {
        let find = |m: &Vec<(String, f64, f64)>| {
            m.iter()
                .find(|(l, _, _)| l == label)
                .map(|(_, rps, p99)| (*rps, *p99))
                .unwrap_or((f64::NAN, f64::NAN))
        };
        let (on, on99) = find(&measured[0]);
        let (off, off99) = find(&measured[1]);
        println!(
            "| {label} | {:.0} | {on:.0} | {:.2}× | {off:.0} | {:.2}× | {:.2} / {on99:.2} / {off99:.2} |",
            c.rps,
            on / c.rps,
            off / c.rps,
            c.p99_ms
        );
    }
    let find = |m: &Vec<(String, f64, f64)>, label: &str| {
        m.iter()
            .find(|(l, _, _)| l == label)
            .map_or(f64::NAN, |(_, rps, _)| *rps)
    };
    let fields = "newest 20, fields=title,slug,teaser";
    let full = "newest 20, full bodies";
    println!(
        "| `fields=title,slug,teaser` against the same request without | — | {:.0} | {:.2}× | {:.0} | {:.2}× | — |",
        find(&measured[0], fields),
        find(&measured[0], fields) / find(&measured[0], full),
        find(&measured[1], fields),
        find(&measured[1], fields) / find(&measured[1], full),
    );
    println!(
        "| server RSS after the load, MB | {:.0} | {:.0} | {:.2}× | {:.0} | {:.2}× | — |",
        ceiling_footprint.rss_mb,
        footprints[0].rss_mb,
        footprints[0].rss_mb / ceiling_footprint.rss_mb,
        footprints[1].rss_mb,
        footprints[1].rss_mb / ceiling_footprint.rss_mb,
    );
    println!(
        "| start-up until serving, ms | {:.0} | {:.0} | — | {:.0} | — | — |",
        ceiling_footprint.startup_ms, footprints[0].startup_ms, footprints[1].startup_ms,
    );
    println!();
    println!(
        "The ceiling loads the stories into a fresh sled database before it listens; its start-up is that load, not an open."
    );
    println!();
    print!("{tables}");
    Ok(())
}

/// The requests both servers answer, by the label of Verbund's table.
const CEILING_CASES: [&str; 3] = [
    "entry by slug",
    "newest 20, full bodies",
    "newest 20 with topic digital",
];

/// Measures the ceiling server over `file`: the median run of each of [`CEILING_CASES`].
fn ceiling_run(
    ceiling: &std::path::Path,
    file: &std::path::Path,
    lines: &[String],
    runs: usize,
    seconds: u64,
) -> anyhow::Result<(Vec<(String, Wrk)>, Footprint)> {
    let started = Instant::now();
    let mut server = Command::new(ceiling)
        .arg(file)
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = server.stdout.take().context("stdout")?;
    let base = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("listening on ").map(String::from))
        .context("the ceiling server did not start")?;
    let startup_ms = started.elapsed().as_secs_f64() * 1000.0;
    let slug = published_slug(lines)?;
    let urls = [
        format!("{base}/story/{slug}"),
        format!("{base}/newest"),
        format!("{base}/topic/digital"),
    ];
    let mut out = Vec::new();
    for (label, url) in CEILING_CASES.iter().zip(&urls) {
        let _ = wrk(url, 2, None)?; // warm-up
        let mut results: Vec<Wrk> = (0..runs)
            .map(|_| wrk(url, seconds, None))
            .collect::<anyhow::Result<_>>()?;
        results.sort_by(|a, b| a.rps.total_cmp(&b.rps));
        let med = results.swap_remove(results.len() / 2);
        if med.errors > 0 {
            bail!("the ceiling answered {url} with {} errors", med.errors);
        }
        out.push((label.to_string(), med));
    }
    let footprint = Footprint {
        startup_ms,
        rss_mb: rss_mb(server.id()),
    };
    let _ = server.kill();
    let _ = server.wait();
    Ok((out, footprint))
}

/// Start-up time (until the server answers) and resident memory after the load.
#[derive(Clone, Copy)]
struct Footprint {
    startup_ms: f64,
    rss_mb: f64,
}

/// What one server configuration measured: its table, and per request the median req/s and
/// p99 (ms).
struct Measured {
    table: String,
    medians: Vec<(String, f64, f64)>,
    footprint: Footprint,
}

fn serve_and_load(
    verbund: &std::path::Path,
    data: &std::path::Path,
    schemas: &std::path::Path,
    lines: &[String],
    cache: &str,
    runs: usize,
    seconds: u64,
) -> anyhow::Result<Measured> {
    let mut server = Command::new(verbund)
        .arg("serve")
        .arg("--data")
        .arg(data)
        .arg("--schemas")
        .arg(schemas)
        .args(["--listen", "127.0.0.1:0", "--response-cache", cache])
        .env("VERBUND_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()?;
    let started = Instant::now();
    let stdout = server.stdout.take().context("stdout")?;
    let mut base = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(rest) = line.strip_prefix("Verbund is serving ") {
            base = rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_end_matches('/')
                .to_string();
            break;
        }
    }
    if base.is_empty() {
        bail!("the server did not start");
    }
    let startup_ms = started.elapsed().as_secs_f64() * 1000.0;
    let pid = server.id();

    let slug = published_slug(lines)?;
    let cases: Vec<(&str, String)> = vec![
        (
            "entry by slug",
            format!("{base}/api/v1/content/bench_story/{slug}"),
        ),
        (
            "newest 20, full bodies",
            format!("{base}/api/v1/content/bench_story?limit=20"),
        ),
        (
            "newest 20 with topic digital",
            format!("{base}/api/v1/content/bench_story?filter[topics]=digital&limit=20"),
        ),
        (
            "newest 20, fields=title,slug,teaser",
            format!("{base}/api/v1/content/bench_story?limit=20&fields=title,slug,teaser"),
        ),
    ];
    let mut table = format!("server start-up: {startup_ms:.0} ms\n\n");
    table.push_str("| request | body | req/s min | req/s median | req/s max | p50 ms (median run) | p99 ms (median run) | errors | server RSS MB | server CPU % |\n");
    table.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let mut medians = Vec::new();
    let client = |url: &str| -> anyhow::Result<(usize, String)> {
        let out = Command::new("curl").args(["-gsi", url]).output()?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let etag = text
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("etag:"))
            .map(|l| l[5..].trim().to_string())
            .unwrap_or_default();
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").len();
        Ok((body, etag))
    };
    let mut all = cases
        .iter()
        .map(|(l, u)| (l.to_string(), u.clone(), None))
        .collect::<Vec<_>>();
    let (_, etag) = client(&cases[1].1)?;
    all.push((
        "304 revalidation of newest 20".into(),
        cases[1].1.clone(),
        Some(format!("If-None-Match: {etag}")),
    ));
    for (label, url, header) in &all {
        let (body, _) = client(url)?;
        let _ = wrk(url, 2, header.as_deref())?; // warm-up
        let (cpu0, t0) = (cpu_secs(pid), Instant::now());
        let mut results: Vec<Wrk> = (0..runs)
            .map(|_| wrk(url, seconds, header.as_deref()))
            .collect::<anyhow::Result<_>>()?;
        let cpu = (cpu_secs(pid) - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
        results.sort_by(|a, b| a.rps.total_cmp(&b.rps));
        let med = &results[results.len() / 2];
        let errors: u64 = results.iter().map(|r| r.errors).sum();
        let body = if header.is_some() {
            "0 (304)".to_string()
        } else {
            format!("{:.1} KB", body as f64 / 1024.0)
        };
        table.push_str(&format!(
            "| {label} | {body} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {errors} | {:.0} | {cpu:.0} |\n",
            results[0].rps,
            med.rps,
            results[results.len() - 1].rps,
            med.p50_ms,
            med.p99_ms,
            rss_mb(pid)
        ));
        medians.push((label.clone(), med.rps, med.p99_ms));
    }
    let footprint = Footprint {
        startup_ms,
        rss_mb: rss_mb(pid),
    };
    let _ = server.kill();
    let _ = server.wait();
    std::thread::sleep(Duration::from_millis(100));
    Ok(Measured {
        table,
        medians,
        footprint,
    })
}
