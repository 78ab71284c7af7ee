//! Shared pieces of Verbund's benchmark programs: the benchmark data set and result tables.
//!
//! The data comes from `bench/gen_stories.py` (10,000 German-like stories, fixed seed), the
//! same data the peer CMS was measured with.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

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
