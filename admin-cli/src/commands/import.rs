//! `verbund import FILE --data DIR --type TYPE`: offline bulk import.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use verbund_core::content::ImportLine;

use crate::DataArgs;
use crate::exit;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The NDJSON file (one entry per line); `-` reads standard input.
    file: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// The content type of the entries.
    #[arg(long = "type")]
    ty: String,
    /// Entries per atomic, durable batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
}

pub fn run(args: ImportArgs) -> anyhow::Result<u8> {
    let content = super::open(&args.data)?;
    content.content_type(&args.ty)?;
    let reader: Box<dyn BufRead> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(&args.file)
            .with_context(|| format!("could not open {}", args.file.display()))?;
        Box::new(std::io::BufReader::with_capacity(1 << 20, f))
    };
    let mut read_error = None;
    let lines = reader.lines().enumerate().map_while(|(i, l)| match l {
        Ok(text) => Some(ImportLine { line: i + 1, text }),
        Err(e) => {
            read_error = Some((i + 1, e));
            None
        }
    });
    let started = std::time::Instant::now();
    let report = content.import(&args.ty, lines, args.batch.max(1), |p| {
        println!(
            "imported {} entries (input decided through line {}, {} rejected)",
            p.imported, p.last_line, p.rejected
        );
    })?;
    if let Some((line, e)) = read_error {
        anyhow::bail!("could not read line {line} of {}: {e}", args.file.display());
    }
    for err in &report.errors {
        for fe in &err.errors {
            eprintln!("line {}: {fe}", err.line);
        }
    }
    println!(
        "done: {} entries imported, {} lines rejected, in {:.2} s",
        report.imported,
        report.errors.len(),
        started.elapsed().as_secs_f64()
    );
    if report.errors.is_empty() {
        Ok(exit::OK)
    } else {
        eprintln!("fix the rejected lines and import them again; the accepted ones are stored");
        Ok(exit::VALIDATION)
    }
}
