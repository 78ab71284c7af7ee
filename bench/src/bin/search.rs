//! Full-text search benchmark: Verbund's search (the real `verbund serve`, its tantivy index,
//! `GET /api/v1/search` over loopback HTTP) against PostgreSQL's full-text search (Debian's
//! server, a private cluster: `german` configuration, a weighted `tsvector` column with a GIN
//! index, queried over loopback TCP) on the same published benchmark stories, in the same run.
//!
//! For each size: the index build time (Verbund: the server's build from the published view
//! at start, as `GET /api/v1/admin/search` reports it; PostgreSQL: loading the rows and
//! creating the GIN index), then for single words, two words, phrases and prefixes: p50 and
//! p99 latency and queries per second of one client asking one query after the other. Both
//! answer the same page: the 10 best hits by relevance (newer first among equals) with a
//! highlighted passage and the total; Verbund also counts its facets and matches words with
//! typos and the last word as a prefix, which PostgreSQL is not asked to do.
//!
//! Build first: `cargo build --release -p verbund -p verbund-bench`, then
//! `target/release/search [SIZES] [RUNS] [QUERIES]` (SIZES comma-separated, default
//! 10000,100000; or `bench/run`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use verbund_bench::{Postgres, bench_dir, serve, sibling, spread, stories, token};

const SINGLE: [&str; 8] = [
    "Energie",
    "Feuerwehr",
    "Bürgermeister",
    "Krankenhaus",
    "Klima",
    "Schule",
    "Landkreis",
    "Wohnungen",
];
const TWO: [&str; 8] = [
    "Energie Klima",
    "Schule Verkehr",
    "Feuerwehr Landkreis",
    "Krankenhaus Millionen",
    "Bahnhof Sitzung",
    "Regierung Haushalt",
    "Gutachten Beschluss",
    "Kultur Verein",
];
const PREFIX: [&str; 8] = [
    "Bürgerm",
    "Feuerw",
    "Krankenh",
    "Wohnun",
    "Regier",
    "Arbeitspl",
    "Gutach",
    "Bahnh",
];

/// Latencies of one series, in milliseconds, and its queries per second.
struct Series {
    p50: f64,
    p99: f64,
    qps: f64,
}

fn series(mut ms: Vec<f64>, total: Duration) -> Series {
    let n = ms.len();
    ms.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| ms[((n as f64 * q).ceil() as usize).clamp(1, n) - 1];
    Series {
        p50: at(0.50),
        p99: at(0.99),
        qps: n as f64 / total.as_secs_f64(),
    }
}

/// Frequent adjacent word pairs of the bodies (the phrases to search for).
fn phrases(lines: &[String]) -> Vec<String> {
    let mut counts: HashMap<(String, String), usize> = HashMap::new();
    for l in lines.iter().take(2000) {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
        let body = v["body"].as_str().unwrap_or("");
        let words: Vec<&str> = body
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() > 3)
            .collect();
        for w in words.windows(2) {
            *counts
                .entry((w[0].to_string(), w[1].to_string()))
                .or_default() += 1;
        }
    }
    let mut pairs: Vec<_> = counts.into_iter().collect();
    pairs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    pairs
        .into_iter()
        .skip(20)
        .take(8)
        .map(|((a, b), _)| format!("\"{a} {b}\""))
        .collect()
}

fn verbund_series(
    client: &reqwest::blocking::Client,
    url: &str,
    queries: &[String],
    count: usize,
) -> anyhow::Result<(Series, u64)> {
    let mut ms = Vec::with_capacity(count);
    let mut hits = 0;
    let started = Instant::now();
    for i in 0..count {
        let q = &queries[i % queries.len()];
        let t = Instant::now();
        let res = client
            .get(format!(
                "{url}/api/v1/search?q={}&locale=de&limit=10",
                verbund_tests::urlencode(q)
            ))
            .send()?;
        if !res.status().is_success() {
            bail!("search {q:?}: HTTP {}", res.status());
        }
        let body: serde_json::Value = res.json()?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        hits += body["meta"]["total"].as_u64().unwrap_or(0);
    }
    Ok((series(ms, started.elapsed()), hits / count as u64))
}

const PG_QUERY: &str = "WITH q AS (SELECT {TSQUERY} AS q), \
     hits AS (SELECT id, title, body, published, ts_rank(tsv, q.q) AS r FROM stories, q WHERE tsv @@ q.q) \
     SELECT id, title, ts_headline('german', body, (SELECT q FROM q), 'MaxFragments=1, MaxWords=30, MinWords=10') AS snippet, r, \
            (SELECT count(*) FROM hits) AS total \
     FROM (SELECT * FROM hits ORDER BY r DESC, published DESC LIMIT 10) top ORDER BY r DESC, published DESC";

async fn pg_series(
    pg: &tokio_postgres::Client,
    prefix: bool,
    queries: &[String],
    count: usize,
) -> anyhow::Result<(Series, u64)> {
    let sql = PG_QUERY.replace(
        "{TSQUERY}",
        if prefix {
            "to_tsquery('german', $1 || ':*')"
        } else {
            "websearch_to_tsquery('german', $1)"
        },
    );
    let stmt = pg.prepare(&sql).await?;
    let mut ms = Vec::with_capacity(count);
    let mut hits = 0u64;
    let started = Instant::now();
    for i in 0..count {
        let q = &queries[i % queries.len()];
        let t = Instant::now();
        let rows = pg.query(&stmt, &[q]).await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        hits += rows.first().map_or(0, |r| r.get::<_, i64>("total") as u64);
    }
    Ok((series(ms, started.elapsed()), hits / count as u64))
}

fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "10000,100000".into())
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let runs: usize = verbund_bench::arg(2, 3)?;
    let count: usize = verbund_bench::arg(3, 400)?;
    let verbund = sibling("verbund")?;
    let pg = Postgres::start()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (client, connection) =
        rt.block_on(tokio_postgres::connect(&pg.url, tokio_postgres::NoTls))?;
    rt.spawn(connection);

    println!(
        "## Full-text search: Verbund (tantivy, GET /api/v1/search) against PostgreSQL full-text search\n"
    );
    println!(
        "One client, one query after the other, {count} queries per kind and run (the kind's queries in turn), {runs} runs; \
         figures are the median run's (min–max of qps over the runs in brackets). Both answer the 10 best hits with a \
         highlighted passage and the total; PostgreSQL: `german` configuration, title/teaser/body weighted A/B/C in a \
         stored `tsvector` with a GIN index, `websearch_to_tsquery` (prefixes: `to_tsquery('…:*')`), `ts_rank`, \
         `ts_headline`. Verbund also counts facets and forgives typos.\n"
    );
    println!(
        "| stories (published) | kind | Verbund p50 ms | Verbund p99 ms | Verbund q/s | PostgreSQL p50 ms | PostgreSQL p99 ms | PostgreSQL q/s | q/s ratio | hits per query V / PG |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut builds = Vec::new();
    for &n in &sizes {
        let lines = stories(n)?;
        let published: Vec<serde_json::Value> = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["state"] == "published")
            .collect();
        let tmp = tempfile::tempdir()?;
        let file = tmp.path().join("stories.ndjson");
        std::fs::write(&file, lines.join("\n"))?;
        let data = tmp.path().join("data");
        let schemas = bench_dir().join("schemas");
        verbund_bench::import(&verbund, &file, &data, &schemas)?;
        let admin = token(&verbund, &data, "admin")?;
        let schemas_arg = schemas.to_string_lossy().to_string();
        let server = serve(
            &verbund,
            &data,
            &[
                "--schemas",
                &schemas_arg,
                "--no-plugins",
                "--rate-limit",
                "0",
            ],
        )?;
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        // The index is built from the published view at the first start.
        let status = loop {
            let s: serde_json::Value = http
                .get(format!("{}/api/v1/admin/search", server.url))
                .bearer_auth(&admin)
                .send()?
                .json()?;
            if s["data"]["ready"] == true && s["data"]["seq"] == s["data"]["last_seq"] {
                break s["data"].clone();
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let verbund_build = status["build_ms"].as_u64().context("no build time")? as f64 / 1000.0;
        let docs = status["documents"].as_u64().unwrap_or(0);
        let index_mb = status["bytes"].as_u64().unwrap_or(0) as f64 / 1e6;

        // PostgreSQL: the same published stories.
        let pg_build = rt.block_on(async {
            client
                .batch_execute(
                    "DROP TABLE IF EXISTS stories; CREATE TABLE stories (id serial PRIMARY KEY, title text, teaser text, body text, published timestamptz);",
                )
                .await?;
            let t = Instant::now();
            let insert = client
                .prepare("INSERT INTO stories (title, teaser, body, published) SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[])")
                .await?;
            for chunk in published.chunks(2000) {
                let col = |k: &str| -> Vec<String> {
                    chunk.iter().map(|v| v[k].as_str().unwrap_or("").to_string()).collect()
                };
                let times: Vec<std::time::SystemTime> = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, _)| std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + i as u64))
                    .collect();
                client
                    .execute(&insert, &[&col("title"), &col("teaser"), &col("body"), &times])
                    .await?;
            }
            client
                .batch_execute(
                    "ALTER TABLE stories ADD COLUMN tsv tsvector GENERATED ALWAYS AS ( \
                       setweight(to_tsvector('german', coalesce(title, '')), 'A') || \
                       setweight(to_tsvector('german', coalesce(teaser, '')), 'B') || \
                       setweight(to_tsvector('german', coalesce(body, '')), 'C')) STORED; \
                     CREATE INDEX stories_tsv ON stories USING gin (tsv); ANALYZE stories;",
                )
                .await?;
            anyhow::Ok(t.elapsed().as_secs_f64())
        })?;
        let pg_mb: i64 = rt.block_on(async {
            anyhow::Ok(
                client
                    .query_one("SELECT pg_total_relation_size('stories')", &[])
                    .await?
                    .get(0),
            )
        })?;
        builds.push((
            n,
            docs,
            verbund_build,
            index_mb,
            pg_build,
            pg_mb as f64 / 1e6,
        ));

        let kinds: Vec<(&str, Vec<String>, bool)> = vec![
            (
                "single word",
                SINGLE.iter().map(|s| s.to_string()).collect(),
                false,
            ),
            (
                "two words",
                TWO.iter().map(|s| s.to_string()).collect(),
                false,
            ),
            ("phrase", phrases(&lines), false),
            (
                "prefix",
                PREFIX.iter().map(|s| s.to_string()).collect(),
                true,
            ),
        ];
        for (kind, queries, prefix) in &kinds {
            // Warm both (page cache, connections, prepared plans).
            verbund_series(&http, &server.url, queries, queries.len() * 2)?;
            rt.block_on(pg_series(&client, *prefix, queries, queries.len() * 2))?;
            let mut v_runs = Vec::new();
            let mut p_runs = Vec::new();
            let (mut v_hits, mut p_hits) = (0, 0);
            for _ in 0..runs {
                let (s, h) = verbund_series(&http, &server.url, queries, count)?;
                v_runs.push(s);
                v_hits = h;
                let (s, h) = rt.block_on(pg_series(&client, *prefix, queries, count))?;
                p_runs.push(s);
                p_hits = h;
            }
            let median = |r: &mut Vec<Series>| {
                r.sort_by(|a, b| a.qps.total_cmp(&b.qps));
                let (min, _, max) = spread(r.iter().map(|s| s.qps).collect());
                let m = r.remove(r.len() / 2);
                (m, min, max)
            };
            let (v, vmin, vmax) = median(&mut v_runs);
            let (p, pmin, pmax) = median(&mut p_runs);
            println!(
                "| {n} ({docs}) | {kind} | {:.2} | {:.2} | {:.0} ({vmin:.0}–{vmax:.0}) | {:.2} | {:.2} | {:.0} ({pmin:.0}–{pmax:.0}) | {:.1}× | {v_hits} / {p_hits} |",
                v.p50,
                v.p99,
                v.qps,
                p.p50,
                p.p99,
                p.qps,
                v.qps / p.qps
            );
        }
        drop(server);
    }
    println!("\nIndex build (once per size):\n");
    println!(
        "| stories | documents indexed | Verbund build s | Verbund index MB | PostgreSQL load + GIN index s | PostgreSQL table + index MB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for (n, docs, vb, vmb, pb, pmb) in builds {
        println!("| {n} | {docs} | {vb:.2} | {vmb:.0} | {pb:.2} | {pmb:.0} |");
    }
    Ok(())
}
