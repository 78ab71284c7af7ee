//! Store benchmark: offline import of the benchmark stories (validation and indexes included)
//! against a bare sled load of the same bytes, reads by id, and list pages with a locale
//! fallback against pages in one locale.
//!
//! `cargo run --release -p verbund-bench --bin store [-- N RUNS]`

use std::sync::Arc;
use std::time::Instant;

use verbund_bench::{row, row_f, schemas, secs, stories};
use verbund_core::content::ImportLine;
use verbund_core::{ContentService, SledStore, Store};

fn main() -> anyhow::Result<()> {
    let n: usize = verbund_bench::arg(1, 10_000)?;
    let runs: usize = verbund_bench::arg(2, 5)?;
    let lines = stories(n)?;
    let bytes: usize = lines.iter().map(String::len).sum();
    println!(
        "## Store benchmark: {n} stories ({:.1} MB of NDJSON), {runs} runs\n",
        bytes as f64 / 1e6
    );

    let mut bare = Vec::new();
    let mut import = Vec::new();
    let mut import_rate = Vec::new();
    let mut sizes = Vec::new();
    let mut kept = None;
    for run in 0..runs {
        // Bare sled: the same bytes, one key each, one flush.
        let dir = tempfile::tempdir()?;
        let t = Instant::now();
        let db = sled::Config::new()
            .path(dir.path())
            .mode(sled::Mode::HighThroughput)
            .open()?;
        let tree = db.open_tree("bare")?;
        for (i, l) in lines.iter().enumerate() {
            tree.insert((i as u64).to_be_bytes(), l.as_bytes())?;
        }
        db.flush()?;
        bare.push(secs(t.elapsed()));
        drop(db);

        // Verbund import: parse, validate, slugs, indexes, revisions, public view, change feed.
        let dir = tempfile::tempdir()?;
        let t = Instant::now();
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path())?);
        let svc = ContentService::new(store, Arc::new(schemas()?));
        let report = svc.import(
            "bench_story",
            lines.iter().enumerate().map(|(i, l)| ImportLine {
                line: i + 1,
                text: l.clone(),
            }),
            1000,
            |_| {},
        )?;
        let dt = secs(t.elapsed());
        anyhow::ensure!(
            report.errors.is_empty(),
            "benchmark data rejected: {:?}",
            &report.errors[..1]
        );
        anyhow::ensure!(report.imported == n, "imported {} of {n}", report.imported);
        import.push(dt);
        import_rate.push(n as f64 / dt);
        sizes.push(svc.store().size_on_disk()? as f64 / 1e6);
        if run == runs - 1 {
            kept = Some((svc, dir));
        }
    }
    let (svc, _dir) = kept.expect("at least one run");

    // Reads by id: the stored public JSON (what delivery serves), and the parsed record.
    let ids: Vec<String> = svc
        .store()
        .scan_prefix(
            verbund_core::store::Tree::Published,
            b"bench_story\0",
            false,
            usize::MAX,
        )?
        .into_iter()
        .map(|(k, _)| String::from_utf8_lossy(&k[b"bench_story\0".len()..]).into_owned())
        .collect();
    const READS: usize = 200_000;
    let mut public_rate = Vec::new();
    let mut record_rate = Vec::new();
    let mut slug_rate = Vec::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |len: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x as usize) % len
    };
    let slugs: Vec<String> = lines
        .iter()
        .filter(|l| l.contains("\"state\":\"published\""))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["slug"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for _ in 0..runs {
        let t = Instant::now();
        let mut total = 0usize;
        for _ in 0..READS {
            let id = &ids[next(ids.len())];
            total += svc
                .get_published("bench_story", id, "de")?
                .map(|b| b.len())
                .unwrap_or(0);
        }
        public_rate.push(READS as f64 / secs(t.elapsed()));
        std::hint::black_box(total);

        let t = Instant::now();
        for _ in 0..READS {
            let slug = &slugs[next(slugs.len())];
            total += svc
                .get_published("bench_story", slug, "de")?
                .map(|b| b.len())
                .unwrap_or(0);
        }
        slug_rate.push(READS as f64 / secs(t.elapsed()));

        let t = Instant::now();
        for _ in 0..READS / 4 {
            let id = &ids[next(ids.len())];
            total += svc.get("bench_story", id)?.data.len();
        }
        record_rate.push((READS / 4) as f64 / secs(t.elapsed()));
        std::hint::black_box(total);
    }

    // Translations: an English version of every tenth published story, then the first page
    // of the English list with German fallback (a merge of two ranges that hides the German
    // originals of translated stories) against the first page of the German list.
    let mut translated = Vec::new();
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 10 == 0) {
        let rec = svc.get("bench_story", id)?;
        let mut line = serde_json::Value::Object(rec.data.clone());
        line["slug"] = format!("en-{i}").into();
        line["locale"] = "en".into();
        line["state"] = "published".into();
        line["translation_of"] = id.clone().into();
        translated.push(serde_json::to_string(&line)?);
    }
    let t = Instant::now();
    let report = svc.import(
        "bench_story",
        translated.iter().enumerate().map(|(i, l)| ImportLine {
            line: i + 1,
            text: l.clone(),
        }),
        1000,
        |_| {},
    )?;
    let translate_secs = secs(t.elapsed());
    anyhow::ensure!(
        report.errors.is_empty(),
        "translations rejected: {:?}",
        &report.errors[..1]
    );
    let q = verbund_core::content::DeliveryQuery::default();
    let chain = ["en".to_string(), "de".to_string()];
    const PAGES: usize = 2_000;
    let mut plain_rate = Vec::new();
    let mut chain_rate = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        for _ in 0..PAGES {
            std::hint::black_box(svc.query_published("bench_story", &q)?);
        }
        plain_rate.push(PAGES as f64 / secs(t.elapsed()));
        let t = Instant::now();
        for _ in 0..PAGES {
            let mut n = 0;
            svc.query_published_chain("bench_story", &q, &chain, &mut |_, doc| {
                n += doc.len();
                Ok(())
            })?;
            std::hint::black_box(n);
        }
        chain_rate.push(PAGES as f64 / secs(t.elapsed()));
    }

    println!("| measure | min | median | max | unit |");
    println!("|---|---:|---:|---:|---|");
    row_f(
        "bare sled load of the same bytes (1 flush)",
        "s",
        bare.clone(),
    );
    row_f(
        "Verbund import (validate, index, revisions, public view, feed; durable)",
        "s",
        import.clone(),
    );
    row("Verbund import rate", "entries/s", import_rate);
    row_f("data dir size after import", "MB", sizes);
    row("read by id: stored public JSON", "reads/s", public_rate);
    row("read by slug: stored public JSON", "reads/s", slug_rate);
    row("read by id: parsed entry record", "reads/s", record_rate);
    row("first page (20), one locale", "pages/s", plain_rate.clone());
    row(
        &format!(
            "first page (20), en with fallback de ({} translations)",
            translated.len()
        ),
        "pages/s",
        chain_rate.clone(),
    );
    let (_, p, _) = verbund_bench::spread(plain_rate);
    let (_, c, _) = verbund_bench::spread(chain_rate);
    println!(
        "\nimport of {} translations: {translate_secs:.2} s; fallback page / one-locale page (medians): {:.2}x the time",
        translated.len(),
        p / c
    );
    let (_, b, _) = verbund_bench::spread(bare);
    let (_, i, _) = verbund_bench::spread(import);
    println!("\nimport / bare sled (medians): {:.2}x", i / b);
    Ok(())
}
