//! Mail benchmark: a newsletter issue sent by the real `verbund serve` (the newsletter-export
//! plugin builds it, the queue holds one personalised mail per recipient, the sender delivers
//! them over 4 pooled SMTP connections) to a local SMTP server (aiosmtpd, `tests/smtp/server.py`,
//! which writes every message to disk), for 1,000 and 10,000 confirmed subscribers.
//!
//! Measured from the request that sends the issue (export, queueing) to the last mail recorded
//! as sent. The reference, in the same run and against the same server: Python's `smtplib`
//! sending a message of the same size the same number of times over one connection, with
//! nothing stored: what the SMTP server itself takes.
//!
//! Build first: `cargo build --release -p verbund -p verbund-bench` and `plugins/build`, then
//! `target/release/mail [SIZES] [RUNS]` (default 1000,10000 and 3; or `bench/run`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use verbund_bench::{bench_dir, serve, sibling, spread, token};

struct Smtp {
    child: Child,
    port: u16,
    spool: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smtp(dir: &Path) -> anyhow::Result<Smtp> {
    let spool = dir.join("spool");
    let mut child = Command::new("python3")
        .arg(bench_dir().join("../tests/smtp/server.py"))
        .arg(&spool)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("python3 with aiosmtpd (python3 -m pip install aiosmtpd)")?;
    let out = child.stdout.take().context("stdout")?;
    let mut port = 0;
    for line in BufReader::new(out).lines() {
        if let Some(p) = line?.strip_prefix("READY ") {
            port = p.trim().parse()?;
            break;
        }
    }
    if port == 0 {
        bail!("the SMTP server did not start (is aiosmtpd installed?)");
    }
    Ok(Smtp { child, port, spool })
}

fn subscribers(url: &str, admin: &str, n: usize) -> anyhow::Result<()> {
    // In parts of 2,000 lines: a request body has a limit (1 MiB by default).
    for start in (0..n).step_by(2000) {
        import(url, admin, start..(start + 2000).min(n))?;
    }
    Ok(())
}

fn import(url: &str, admin: &str, range: std::ops::Range<usize>) -> anyhow::Result<()> {
    let mut lines = String::new();
    for i in range {
        lines.push_str(
            &json!({
                "email": format!("leser{i:05}@example.org"),
                "name": format!("Leserin {i}"),
                "consent": {
                    "requested_at": "2026-10-01T08:00:00Z",
                    "confirmed_at": "2026-10-01T09:00:00Z",
                    "text_version": "2026-01",
                    "source": "import"
                }
            })
            .to_string(),
        );
        lines.push('\n');
    }
    let res = reqwest::blocking::Client::new()
        .post(format!("{url}/api/v1/import/subscriber"))
        .bearer_auth(admin)
        .body(lines)
        .timeout(Duration::from_secs(600))
        .send()?;
    if !res.status().is_success() {
        bail!("import: {}", res.text()?);
    }
    Ok(())
}

/// One run: seconds from the send request to the last mail sent, and the mails.
fn verbund_run(verbund: &Path, plugins: &Path, n: usize) -> anyhow::Result<(f64, u64, PathBuf)> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let admin = token(verbund, &data, "admin")?;
    let server_smtp = smtp(tmp.path())?;
    let smtp_url = format!("smtp://127.0.0.1:{}", server_smtp.port);
    let plugins = plugins.display().to_string();
    let server = serve(
        verbund,
        &data,
        &[
            "--demo",
            "--plugins-dir",
            &plugins,
            "--smtp",
            &smtp_url,
            "--mail-from",
            "Cluster IT Mitteldeutschland <newsletter@cluster-it.example>",
            "--rate-limit",
            "100000",
        ],
    )?;
    subscribers(&server.url, &admin, n)?;
    let http = reqwest::blocking::Client::new();
    let started = Instant::now();
    let res: Value = http
        .post(format!("{}/api/v1/admin/newsletter/issues", server.url))
        .bearer_auth(&admin)
        .json(&json!({"since": "2020-01-01", "until": "2026-12-31"}))
        .timeout(Duration::from_secs(600))
        .send()?
        .json()?;
    let id = res["data"]["id"]
        .as_str()
        .context("an issue id")?
        .to_string();
    let sent = loop {
        let st: Value = http
            .get(format!(
                "{}/api/v1/admin/newsletter/issues/{id}",
                server.url
            ))
            .bearer_auth(&admin)
            .send()?
            .json()?;
        let st = &st["data"];
        if st["queued"] == 0 && st["sending"] == 0 {
            if st["failed"] != 0 || st["unknown"] != 0 {
                bail!("not every mail was sent: {st}");
            }
            break st["sent"].as_u64().unwrap_or(0);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let secs = started.elapsed().as_secs_f64();
    // Keep one message for the reference, then let the spool go.
    let sample =
        std::env::temp_dir().join(format!("verbund-mail-sample-{}.eml", std::process::id()));
    let first = std::fs::read_dir(&server_smtp.spool)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "eml"))
        .context("a mail in the spool")?;
    std::fs::copy(first, &sample)?;
    drop(server);
    Ok((secs, sent, sample))
}

const REFERENCE: &str = r#"
import smtplib, sys, time
port, n, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
msg = open(path, "rb").read().split(b"\r\n", 1)[1]
s = smtplib.SMTP("127.0.0.1", port)
t = time.perf_counter()
for i in range(n):
    s.sendmail("newsletter@cluster-it.example", ["leser%05d@example.org" % i], msg)
print(time.perf_counter() - t)
s.quit()
"#;

fn reference(n: u64, sample: &Path) -> anyhow::Result<f64> {
    let tmp = tempfile::tempdir()?;
    let server = smtp(tmp.path())?;
    let out = Command::new("python3")
        .args(["-c", REFERENCE, &server.port.to_string(), &n.to_string()])
        .arg(sample)
        .output()?;
    if !out.status.success() {
        bail!("smtplib: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "1000,10000".into())
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let runs: usize = verbund_bench::arg(2, 3)?;
    let verbund = sibling("verbund")?;
    let plugins = bench_dir().join("../plugins/dist");
    if !plugins.join("newsletter-export.wasm").is_file() {
        bail!("plugins/dist/newsletter-export.wasm is missing: run plugins/build");
    }
    println!("## Mail: a newsletter issue over SMTP");
    println!();
    println!(
        "`verbund serve --smtp` (4 connections, no rate limit) sends an issue of the demo content to N confirmed subscribers through a local SMTP server (aiosmtpd, writing each message to disk): from the send request (plugin export, one queued mail per recipient) to the last mail recorded as sent. Reference in the same run: Python's smtplib sending a message of the same size N times over one connection to the same kind of server, storing nothing. {runs} runs; min / median / max."
    );
    println!();
    println!(
        "| recipients | Verbund mails/s | smtplib mails/s | Verbund / smtplib | message size |"
    );
    println!("|---|---|---|---|---|");
    for n in sizes {
        let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let mut size = 0;
        for _ in 0..runs {
            let (secs, sent, sample) = verbund_run(&verbund, &plugins, n)?;
            size = std::fs::metadata(&sample)?.len();
            let ref_secs = reference(sent, &sample)?;
            let _ = std::fs::remove_file(&sample);
            let (a, b) = (sent as f64 / secs, sent as f64 / ref_secs);
            ours.push(a);
            theirs.push(b);
            ratios.push(a / b);
        }
        let f = |xs: Vec<f64>, d: usize| {
            let (lo, med, hi) = spread(xs);
            format!("{lo:.d$} / {med:.d$} / {hi:.d$}")
        };
        println!(
            "| {n} | {} | {} | {} | {:.1} KB |",
            f(ours, 0),
            f(theirs, 0),
            f(ratios, 2),
            size as f64 / 1024.0
        );
    }
    Ok(())
}
