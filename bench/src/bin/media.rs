//! Media benchmark, in one run on this machine:
//!
//! 1. Serving: the real `verbund` server, `wrk` on a cached rendition (`?preset=card`,
//!    WebP) against the same bytes served as an original (the rendition uploaded as an asset
//!    of its own), so the ratio is the cost of finding a rendition over serving a stored file.
//! 2. Making renditions: 4000×3000 JPEG photos → 800 px wide WebP and AVIF, Verbund's
//!    renderer (one thread) against `vipsthumbnail` (libvips, Debian's `libvips-tools`) on
//!    the same files with `VIPS_CONCURRENCY=1`, and libvips with its default threads.
//! 3. Memory: the server's peak RSS while 8 transforms of large photos are asked for at once.
//!
//! Build first: `cargo build --release -p verbund -p verbund-bench`, then
//! `target/release/media [RUNS] [SECONDS]` (or `bench/run`).

use std::io::Cursor;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use verbund_bench::{row, row_f, serve, sibling, spread, status_mb, token, wrk};
use verbund_core::media::{Fit, Format, OutFormat, Variant, render};

/// A photo-like 4000×3000 JPEG (sky, hills, a light, grain), different per seed.
fn photo(seed: u32) -> Vec<u8> {
    let (w, h) = (4000u32, 3000u32);
    let s = seed as f64;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f64, y as f64);
        let horizon = 1700.0 + 180.0 * (fx / 480.0 + s).sin() + 60.0 * (fx / 130.0).sin();
        let grain =
            ((x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663) ^ seed) % 23) as f64 - 11.0;
        let d = ((fx - 1200.0 - 300.0 * s).powi(2) + (fy - 700.0).powi(2)).sqrt();
        let glow = (1.0 - d / 900.0).max(0.0).powi(2) * 120.0;
        let (r, g, b) = if fy < horizon {
            (90.0 + fy / 30.0, 140.0 + fy / 25.0, 220.0 - fy / 40.0)
        } else {
            (
                70.0 + (fx / 50.0).sin() * 20.0,
                110.0 - (fy - horizon) / 20.0,
                50.0,
            )
        };
        let c = |v: f64| (v + glow + grain).clamp(0.0, 255.0) as u8;
        image::Rgb([c(r), c(g), c(b)])
    });
    let mut out = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(Cursor::new(&mut out), 90);
    enc.encode_image(&img).expect("encode");
    out
}

fn upload(
    http: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    name: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<Value> {
    let res = http
        .post(format!(
            "{url}/api/v1/manage/assets?filename={name}&alt=Testbild"
        ))
        .bearer_auth(token)
        .body(bytes)
        .send()?;
    let status = res.status();
    let v: Value = res.json()?;
    if !status.is_success() {
        bail!("upload {name}: {v}");
    }
    Ok(v["data"].clone())
}

/// A published story showing `asset`, so that the asset is public.
fn publish_with(
    http: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    n: usize,
    asset: &str,
) -> anyhow::Result<()> {
    let body = json!({
        "kind": "news", "title": format!("Bildbericht {n}"), "slug": format!("bildbericht-{n}"),
        "teaser": "Ein Bericht mit Bild.", "body": "Text.", "topics": ["cloud"], "image": asset,
    });
    let res: Value = http
        .post(format!("{url}/api/v1/manage/story"))
        .bearer_auth(token)
        .json(&body)
        .send()?
        .json()?;
    let id = res["data"]["id"].as_str().context("story id")?.to_string();
    let res = http
        .post(format!("{url}/api/v1/manage/story/{id}/transitions"))
        .bearer_auth(token)
        .json(&json!({"to": "published"}))
        .send()?;
    if !res.status().is_success() {
        bail!("publish: {}", res.text()?);
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let runs: usize = verbund_bench::arg(1, 3)?;
    let seconds: u64 = verbund_bench::arg(2, 8)?;
    let verbund = sibling("verbund")?;
    let tmp = tempfile::tempdir()?;
    let photos: Vec<Vec<u8>> = (0..4).map(photo).collect();
    let mut files = Vec::new();
    for (i, p) in photos.iter().enumerate() {
        let f = tmp.path().join(format!("foto{i}.jpg"));
        std::fs::write(&f, p)?;
        files.push(f);
    }

    println!("## Media");
    println!();
    println!(
        "Photos: 4 generated 4000×3000 JPEGs (quality 90, {:.1} MB each on average). Serving: `wrk -t1 -c32`, {seconds} s per run, {runs} runs, `Accept: image/webp`.",
        photos.iter().map(Vec::len).sum::<usize>() as f64 / 4.0 / 1e6
    );
    println!();

    // 1. Serving a cached rendition vs the same bytes as an original.
    let data = tmp.path().join("data");
    let token = token(&verbund, &data, "editor")?;
    let server = serve(&verbund, &data, &["--no-plugins", "--rate-limit", "100000"])?;
    let http = reqwest::blocking::Client::new();
    let a = upload(&http, &server.url, &token, "foto0.jpg", photos[0].clone())?;
    let a_id = a["id"].as_str().context("id")?.to_string();
    publish_with(&http, &server.url, &token, 1, &a_id)?;
    let card = format!(
        "{}{}",
        server.url,
        a["urls"]["presets"]["card"]["url"]
            .as_str()
            .context("card url")?
    );
    let rendition = http
        .get(&card)
        .header("accept", "image/webp")
        .send()?
        .bytes()?
        .to_vec();
    let b = upload(&http, &server.url, &token, "card.webp", rendition.clone())?;
    let b_id = b["id"].as_str().context("id")?.to_string();
    publish_with(&http, &server.url, &token, 2, &b_id)?;
    let original = format!(
        "{}{}",
        server.url,
        b["urls"]["url"].as_str().context("url")?
    );
    let same = http.get(&original).send()?.bytes()?.to_vec();
    if same != rendition {
        bail!(
            "the original of the re-uploaded rendition differs from the rendition ({} vs {} bytes)",
            same.len(),
            rendition.len()
        );
    }
    let (mut r_rps, mut o_rps, mut errors) = (Vec::new(), Vec::new(), 0);
    for _ in 0..runs {
        let r = wrk(&card, seconds, Some("Accept: image/webp"))?;
        let o = wrk(&original, seconds, Some("Accept: image/webp"))?;
        errors += r.errors + o.errors;
        r_rps.push(r.rps);
        o_rps.push(o.rps);
    }
    let ratio = spread(r_rps.clone()).1 / spread(o_rps.clone()).1;
    println!(
        "| request ({} bytes each) | min | median | max | unit |",
        rendition.len()
    );
    println!("|---|---|---|---|---|");
    row("cached rendition (`?preset=card`, WebP)", "req/s", r_rps);
    row("the same bytes as an original", "req/s", o_rps);
    println!();
    println!("Cached rendition / original: **{ratio:.2}×** (goal ≥ 0.8×); errors: {errors}.");
    println!();

    // 3. Peak memory while 8 large transforms run at once (distinct, uncached variants).
    let pid = server.child.id();
    let mut urls = Vec::new();
    for (i, p) in photos.iter().enumerate() {
        let a = upload(
            &http,
            &server.url,
            &token,
            &format!("gross{i}.jpg"),
            p.clone(),
        )?;
        let id = a["id"].as_str().context("id")?.to_string();
        publish_with(&http, &server.url, &token, 10 + i, &id)?;
        let srcset = a["urls"]["srcset"].as_str().context("srcset")?;
        let widest: Vec<&str> = srcset
            .split(", ")
            .map(|c| c.split(' ').next().unwrap_or(""))
            .collect();
        let full = widest.last().copied().unwrap_or("");
        let hero = a["urls"]["presets"]["hero"]["url"].as_str().unwrap_or("");
        urls.push((format!("{}{full}", server.url), "image/webp"));
        urls.push((format!("{}{hero}", server.url), "image/jpeg"));
    }
    let before = status_mb(pid, "VmRSS:");
    let started = Instant::now();
    let handles: Vec<_> = urls
        .into_iter()
        .map(|(u, accept)| {
            std::thread::spawn(move || {
                reqwest::blocking::Client::builder()
                    .timeout(std::time::Duration::from_secs(120))
                    .build()
                    .and_then(|c| c.get(&u).header("accept", accept).send())
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap_or(0)).collect();
    let took = started.elapsed().as_secs_f64();
    let peak = status_mb(pid, "VmHWM:");
    println!(
        "Memory: 8 transforms of 4000×3000 photos asked for at once (4 of the widest `srcset` width, 2560 px WebP, 4 hero JPEG; {} at a time, the rest wait): answers {:?} in {took:.1} s; server RSS before {before:.0} MB, peak (VmHWM, whole run so far) **{peak:.0} MB**.",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 8),
        statuses
    );
    println!();
    drop(server);

    // 2. Renditions per second: Verbund's renderer vs vipsthumbnail on the same files.
    let mut table = Vec::new();
    for fm in [OutFormat::WebP, OutFormat::Avif] {
        let variant = Variant {
            w: Some(800),
            h: None,
            fit: Fit::Inside,
            fm,
            q: fm.default_quality(),
        };
        let mut ours = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            for p in &photos {
                let (out, w, _) =
                    render::render(p, Format::Jpeg, (4000, 3000), None, None, &variant)?;
                if w != 800 || out.is_empty() {
                    bail!("a rendition came out {w} px wide");
                }
            }
            ours.push(photos.len() as f64 / t.elapsed().as_secs_f64());
        }
        let ext = match fm {
            OutFormat::WebP => format!("webp[Q={}]", fm.default_quality()),
            _ => format!("avif[Q={}]", fm.default_quality()),
        };
        let vips = |threads: Option<&str>| -> anyhow::Result<Vec<f64>> {
            let outdir = tmp.path().join("vips");
            std::fs::create_dir_all(&outdir)?;
            let mut rates = Vec::new();
            for _ in 0..runs {
                let mut cmd = Command::new("vipsthumbnail");
                cmd.args(&files)
                    .args(["--size", "800"])
                    .arg("-o")
                    .arg(outdir.join(format!("%s.{ext}")));
                if let Some(t) = threads {
                    cmd.env("VIPS_CONCURRENCY", t);
                }
                let t = Instant::now();
                let out = cmd
                    .output()
                    .context("vipsthumbnail (apt-get install libvips-tools)")?;
                if !out.status.success() {
                    bail!("vipsthumbnail: {}", String::from_utf8_lossy(&out.stderr));
                }
                rates.push(files.len() as f64 / t.elapsed().as_secs_f64());
            }
            Ok(rates)
        };
        let single = vips(Some("1"))?;
        let default = vips(None)?;
        table.push((fm, ours, single, default));
    }
    println!("| 4000×3000 JPEG → 800 px | min | median | max | unit |");
    println!("|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for (fm, ours, single, default) in table {
        let name = fm.name().to_uppercase();
        ratios.push((
            name.clone(),
            spread(ours.clone()).1 / spread(single.clone()).1,
        ));
        row_f(
            &format!("Verbund, {name} (one thread)"),
            "renditions/s",
            ours,
        );
        row_f(
            &format!("vipsthumbnail, {name} (VIPS_CONCURRENCY=1)"),
            "renditions/s",
            single,
        );
        row_f(
            &format!("vipsthumbnail, {name} (default threads)"),
            "renditions/s",
            default,
        );
    }
    println!();
    let r: Vec<String> = ratios
        .iter()
        .map(|(n, r)| format!("{n} **{r:.2}×**"))
        .collect();
    println!(
        "Verbund / libvips on one thread: {} (goal ≥ 0.5×). Both decode the JPEG at a reduced DCT scale (shrink-on-load) and resize with Lanczos; the vipsthumbnail figures include its process start (one process for the 4 files).",
        r.join(", ")
    );
    Ok(())
}
