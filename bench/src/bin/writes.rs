//! Write benchmark: durable creates through the HTTP API (one client, and eight at once) on the
//! real server, and the offline bulk import of 10,000 and 100,000 benchmark stories, with the
//! data-dir size per 1,000 entries.
//!
//! Usage: `writes [CREATES] [RUNS] [BIG]` (defaults 2000, 3, 100000) after
//! `cargo build --release -p verbund -p verbund-bench`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use verbund_bench::{arg, bench_dir, bodies, creates, row, row_f, stories};

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

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    let m = e.metadata().ok();
                    if m.as_ref().is_some_and(|m| m.is_dir()) {
                        dir_size(&e.path())
                    } else {
                        m.map_or(0, |m| m.len())
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token(bin: &Path, data: &Path) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .args([
            "token",
            "create",
            "--role",
            "editor",
            "--expires",
            "1d",
            "--data",
        ])
        .arg(data)
        .output()?;
    if !out.status.success() {
        bail!(
            "token create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

fn serve(bin: &Path, data: &Path) -> anyhow::Result<Server> {
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--data")
        .arg(data)
        .arg("--schemas")
        .arg(bench_dir().join("schemas"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--rate-limit",
            "0",
            "--no-plugins",
        ])
        .env("VERBUND_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()?;
    let out = child.stdout.take().context("stdout")?;
    for line in BufReader::new(out).lines() {
        if let Some(rest) = line?.strip_prefix("Verbund is serving ") {
            let url = rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_end_matches('/');
            return Ok(Server {
                child,
                url: url.to_string(),
            });
        }
    }
    bail!("the server did not start")
}

fn import(bin: &Path, data: &Path, lines: &[String]) -> anyhow::Result<f64> {
    let file = data.with_extension("ndjson");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&file)?);
    for l in lines {
        writeln!(f, "{l}")?;
    }
    f.flush()?;
    drop(f);
    let t = Instant::now();
    let out = Command::new(bin)
        .arg("import")
        .arg(&file)
        .arg("--data")
        .arg(data)
        .arg("--schemas")
        .arg(bench_dir().join("schemas"))
        .args(["--type", "bench_story"])
        .output()?;
    if !out.status.success() {
        bail!("import failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(lines.len() as f64 / t.elapsed().as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    let n: usize = arg(1, 2000)?;
    let runs: usize = arg(2, 3)?;
    let big: usize = arg(3, 100_000)?;
    let bin = verbund()?;
    let tmp = tempfile::tempdir()?;
    let lines = stories(n.max(10_000))?;

    println!("## Writes ({runs} runs)\n");
    println!("Durable creates through the HTTP API (each answered only when on disk; concurrent");
    println!(
        "writers share flushes), the real release server, benchmark stories of about 3.6 KB.\n"
    );
    println!("| what | min | median | max | unit |");
    println!("|---|---|---|---|---|");
    let (mut seq, mut conc) = (Vec::new(), Vec::new());
    for r in 0..runs {
        let data = tmp.path().join(format!("api-{r}"));
        let token = token(&bin, &data)?;
        let server = serve(&bin, &data)?;
        seq.push(creates(
            &server.url,
            &token,
            bodies(&lines[..n], &format!("s{r}"))?,
            1,
        )?);
        conc.push(creates(
            &server.url,
            &token,
            bodies(&lines[..n], &format!("c{r}"))?,
            8,
        )?);
    }
    row(
        &format!("creates via the API, 1 client ({n} entries)"),
        "entries/s",
        seq,
    );
    row(
        &format!("creates via the API, 8 clients ({n} entries)"),
        "entries/s",
        conc,
    );

    for (count, reps) in [(10_000usize, runs), (big, 1)] {
        let lines = stories(count)?;
        let (mut rate, mut size) = (Vec::new(), Vec::new());
        for r in 0..reps {
            let data = tmp.path().join(format!("import-{count}-{r}"));
            rate.push(import(&bin, &data, &lines)?);
            size.push(dir_size(&data) as f64 / (count as f64 / 1000.0) / 1e6);
        }
        row(
            &format!("bulk import of {count} (`verbund import`, durable)"),
            "entries/s",
            rate,
        );
        row_f(
            &format!("data dir per 1,000 entries after importing {count}"),
            "MB",
            size,
        );
    }
    Ok(())
}
