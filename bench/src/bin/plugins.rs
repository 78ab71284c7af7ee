//! Plugin costs: one `validate` and one `on-transition` call end to end (store, fresh instance
//! from the pool, limits, the call, the result checked), and the start-up of the plugin host
//! and of the whole server with two plugins, from the compiled cache and without it.
//!
//! Usage: `plugins [CALLS] [RUNS]` (defaults 5000 and 5), after `plugins/build`.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use verbund_bench::{arg, row, row_f, secs};
use verbund_core::plugin::{Grant, PluginHost};
use verbund_core::store::{Tree, WriteBatch};

fn component(name: &str) -> anyhow::Result<Vec<u8>> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/dist")
        .join(format!("{name}.wasm"));
    std::fs::read(&p).with_context(|| format!("{} is missing: run plugins/build", p.display()))
}

fn grant(t: &str) -> Grant {
    Grant::parse(t).expect("grant")
}

/// p50, p99 and mean of per-call times, in microseconds.
fn percentiles(mut us: Vec<f64>) -> (f64, f64, f64) {
    us.sort_by(|a, b| a.total_cmp(b));
    let n = us.len();
    let mean = us.iter().sum::<f64>() / n as f64;
    (us[n / 2], us[n * 99 / 100], mean)
}

/// Per-call times of `call` over `runs` runs of `calls` calls after `warm` warm-up calls:
/// p50 as (min, median, max) over the runs, and the median p99 and mean, in µs.
struct Timed {
    p50: (f64, f64, f64),
    p99: f64,
    mean: f64,
}

fn timed(
    warm: usize,
    calls: usize,
    runs: usize,
    call: &dyn Fn() -> anyhow::Result<()>,
) -> anyhow::Result<Timed> {
    for _ in 0..warm {
        call()?;
    }
    let (mut p50s, mut p99s, mut means) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let mut us = Vec::with_capacity(calls);
        for _ in 0..calls {
            let t = Instant::now();
            call()?;
            us.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let (p50, p99, mean) = percentiles(us);
        p50s.push(p50);
        p99s.push(p99);
        means.push(mean);
    }
    Ok(Timed {
        p50: verbund_bench::spread(p50s),
        p99: verbund_bench::spread(p99s).1,
        mean: verbund_bench::spread(means).1,
    })
}

fn drop_compiled_cache(data: &Path) -> anyhow::Result<()> {
    let content = verbund_core::open(data, verbund_core::SchemaRegistry::builtin())?;
    let mut b = WriteBatch::new();
    for (k, _) in content
        .store()
        .scan_prefix(Tree::Plugins, b"compiled\0", false, usize::MAX)?
    {
        b.remove(Tree::Plugins, k);
    }
    content.store().commit(b)?;
    Ok(())
}

/// Spawns `verbund serve` and returns the time until it listens.
fn serve_startup(bin: &Path, data: &Path) -> anyhow::Result<f64> {
    let t = Instant::now();
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let out = child.stdout.take().context("stdout")?;
    let mut ms = None;
    for line in std::io::BufReader::new(out).lines() {
        if line?.starts_with("Verbund is serving") {
            ms = Some(t.elapsed().as_secs_f64() * 1e3);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    ms.context("the server did not start")
}

fn main() -> anyhow::Result<()> {
    let calls: usize = arg(1, 5000)?;
    let runs: usize = arg(2, 5)?;
    let hello = component("hello")?;
    let snoop = component("snoop")?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");

    // Install two plugins on a data dir with one story.
    let story_id;
    {
        let content = Arc::new(verbund_core::open(
            &data,
            verbund_core::SchemaRegistry::builtin(),
        )?);
        futures_block_on(verbund_core::demo::load(&content, None))?;
        let (host, _) = PluginHost::start(&content)?;
        host.install(&hello, Some(vec![grant("read:story")]), false, "bench")?;
        host.install(&snoop, Some(vec![grant("read:story")]), false, "bench")?;
        let (recs, _) = content.list_current("story", None, None, 1)?;
        story_id = recs[0].id.clone();
    }

    println!("## Plugin hooks, end to end ({calls} calls per run, {runs} runs)\n");
    println!(
        "Each call: a new store with its limits, a fresh instance from the pooling allocator, the"
    );
    println!(
        "entry converted for the plugin, the call, the result checked. Plugin `hello` (Rust SDK).\n"
    );
    println!("| hook | p50 µs (min/median/max of runs) | p99 µs | mean µs |");
    println!("|---|---|---|---|");
    let content = Arc::new(verbund_core::open(
        &data,
        verbund_core::SchemaRegistry::builtin(),
    )?);
    let (host, _) = PluginHost::start(&content)?;
    let rec = content.get("story", &story_id)?;
    type Call<'a> = Box<dyn Fn() -> anyhow::Result<()> + 'a>;
    let hooks: Vec<(&str, Call)> = vec![
        (
            "validate",
            Box::new(|| {
                host.validate_with("hello", &rec)?;
                Ok(())
            }),
        ),
        (
            "on-transition",
            Box::new(|| {
                host.on_transition_with("hello", &rec, "published", "bench")?;
                Ok(())
            }),
        ),
    ];
    for (name, call) in &hooks {
        let t = timed(200, calls, runs, call.as_ref())?;
        println!(
            "| {name} | {:.1} / {:.1} / {:.1} | {:.1} | {:.1} |",
            t.p50.0, t.p50.1, t.p50.2, t.p99, t.mean
        );
    }
    drop(hooks);
    drop(host);
    drop(content);

    println!("\n## Start-up with 2 plugins ({runs} runs)\n");
    println!("| what | min | median | max | unit |");
    println!("|---|---|---|---|---|");
    let mut cached = Vec::new();
    let mut cold = Vec::new();
    for _ in 0..runs {
        let content = Arc::new(verbund_core::open(
            &data,
            verbund_core::SchemaRegistry::builtin(),
        )?);
        let t = Instant::now();
        let (_host, stats) = PluginHost::start(&content)?;
        cached.push(secs(t.elapsed()) * 1e3);
        if stats.from_cache != 2 {
            bail!("expected 2 plugins from the cache, got {stats:?}");
        }
    }
    for _ in 0..runs {
        drop_compiled_cache(&data)?;
        let content = Arc::new(verbund_core::open(
            &data,
            verbund_core::SchemaRegistry::builtin(),
        )?);
        let t = Instant::now();
        let (_host, stats) = PluginHost::start(&content)?;
        cold.push(secs(t.elapsed()) * 1e3);
        if stats.compiled != 2 {
            bail!("expected 2 plugins compiled, got {stats:?}");
        }
    }
    row_f("plugin host start, from the compiled cache", "ms", cached);
    row_f("plugin host start, compiling both", "ms", cold);

    // A newsletter issue of 100 stories through the newsletter-export plugin.
    if let Ok(newsletter) = component("newsletter-export") {
        let data = tmp.path().join("newsletter");
        let content = Arc::new(verbund_core::open(
            &data,
            verbund_core::SchemaRegistry::builtin(),
        )?);
        futures_block_on(verbund_core::demo::load(&content, None))?;
        let (host, _) = PluginHost::start(&content)?;
        host.install(
            &newsletter,
            Some(vec![
                grant("read:story"),
                grant("read:event"),
                grant("read:subscriber+personal"),
            ]),
            false,
            "bench",
        )?;
        let (existing, _) = content.list_current_where("story", None, 1000, |r| {
            r.state == "published" && r.locale == "de"
        })?;
        for n in existing.len()..100 {
            let rec = content.create(
                "story",
                verbund_core::content::NewEntry {
                    data: serde_json::json!({
                        "kind": "best_practice",
                        "title": format!("Praxisbericht Nummer {n}: Digitalisierung im Mittelstand"),
                        "slug": format!("praxisbericht-{n}"),
                        "teaser": "Wie ein Familienbetrieb aus Sachsen seine Auftragsabwicklung umgestellt hat.",
                        "body": "## Ausgangslage\n\nDie Aufträge kamen per Fax.\n\n## Ergebnis\n\nHeute läuft alles über ein Portal.",
                        "topics": ["software-entwicklung", "cloud"]
                    }),
                    ..Default::default()
                },
                Some("bench"),
            )?;
            content.transition("story", &rec.id, "published", Some("bench"))?;
        }
        let params = vec![("since".to_string(), "2000-01-01".to_string())];
        let mut ms = Vec::new();
        let mut items = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let arts = host.export("newsletter-export", "issue", params.clone())?;
            ms.push(secs(t.elapsed()) * 1e3);
            if let Some(summary) = arts.iter().find(|a| a.name == "summary.json") {
                let v: serde_json::Value = serde_json::from_slice(&summary.bytes)?;
                items = v["stories"].as_u64().unwrap_or(0);
            }
        }
        row_f(
            &format!("newsletter issue of {items} stories (newsletter-export)"),
            "ms",
            ms,
        );
    }

    let bin: PathBuf = std::env::current_exe()?
        .parent()
        .context("target dir")?
        .join("verbund");
    if bin.is_file() {
        let mut serve = Vec::new();
        for _ in 0..runs {
            serve.push(serve_startup(&bin, &data)?);
        }
        row(
            "`verbund serve` until listening (2 plugins, cached)",
            "ms",
            serve,
        );
    } else {
        println!("(build the verbund binary for the server start-up figure)");
    }
    python_vs_rust(&tmp.path().join("languages"), calls, runs)?;
    Ok(())
}

/// The same kind of `validate` hook in Python (style-check, componentize-py) and in Rust
/// (teaser-check, the Rust SDK): per-call cost with instantiation, compile time at install,
/// component size. Both check a German story's teaser; the Python one also scans the body.
fn python_vs_rust(data: &Path, calls: usize, runs: usize) -> anyhow::Result<()> {
    let (py, rs) = (component("style-check")?, component("teaser-check")?);
    let content = Arc::new(verbund_core::open(
        data,
        verbund_core::SchemaRegistry::builtin(),
    )?);
    futures_block_on(verbund_core::demo::load(&content, None))?;
    let (host, _) = PluginHost::start(&content)?;
    let mut compile = Vec::new();
    for (name, bytes) in [("style-check", &py), ("teaser-check", &rs)] {
        let t = Instant::now();
        host.install(bytes, Some(vec![grant("read:story")]), false, "bench")?;
        compile.push((name, secs(t.elapsed())));
    }
    let (recs, _) = content.list_current("story", None, None, 1)?;
    let rec = &recs[0];
    println!("\n## The same validate hook in Python and in Rust ({runs} runs)\n");
    println!(
        "Per call: a fresh instance (CPython's heap comes pre-initialised in the component and"
    );
    println!("is mapped copy-on-write), the entry handed over, the hook run, the issues checked.");
    println!(
        "Python: `style-check` (componentize-py 0.25.1, CPython 3.14); Rust: `teaser-check`.\n"
    );
    println!(
        "| plugin | component bytes | compile at install s | p50 µs (min/median/max) | p99 µs | mean µs |"
    );
    println!("|---|---|---|---|---|---|");
    let mut medians = Vec::new();
    for (name, bytes, n) in [
        ("style-check (Python)", py.len(), (calls / 10).max(50)),
        ("teaser-check (Rust)", rs.len(), calls),
    ] {
        let plugin = name.split(' ').next().unwrap_or(name);
        let t = timed(20, n, runs, &|| {
            host.validate_with(plugin, rec)?;
            Ok(())
        })?;
        let (a, b, c) = t.p50;
        let (p99, mean) = (t.p99, t.mean);
        let secs_compile = compile
            .iter()
            .find(|(n, _)| *n == plugin)
            .map(|(_, s)| *s)
            .unwrap_or(0.0);
        println!(
            "| {name} | {bytes} | {secs_compile:.2} | {a:.0} / {b:.0} / {c:.0} | {p99:.0} | {mean:.0} |"
        );
        medians.push(b);
    }
    println!(
        "\nPython / Rust per call (median p50): {:.1}×",
        medians[0] / medians[1].max(0.001)
    );
    Ok(())
}

/// Runs a future to completion on a small runtime of its own (the demo loader is async).
fn futures_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}
