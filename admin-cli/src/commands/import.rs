//! `verbund import FILE`: bulk import of NDJSON entries, through a running server (default)
//! or straight into a data dir with the server stopped (`--data`).
//!
//! Remote imports send the file in parts; after each acknowledged part the position is saved,
//! so that an interrupted import (network, server restart, Ctrl-C) resumes where it stopped
//! when the same command runs again. Lines without an `id` get one derived from the file and
//! the line number, so a part sent twice cannot create an entry twice.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use verbund_core::content::ImportLine;

use crate::client::{Client, RemoteArgs};
use crate::commands::entry::enc;
use crate::exit;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The NDJSON file (one entry per line); `-` reads standard input (no resume then).
    file: PathBuf,
    /// The content type of the entries; without it, each line names its own in "type".
    #[arg(long = "type")]
    ty: Option<String>,
    /// Import straight into this data dir (the server must be stopped) instead of through
    /// the server.
    #[arg(long)]
    data: Option<PathBuf>,
    /// With --data: the store shared by several nodes, if the installation has one (a
    /// PostgreSQL URL; see `verbund serve --store`). Then the import goes into it directly.
    #[arg(long, env = "VERBUND_STORE")]
    store: Option<String>,
    /// With --data: a directory of content-type schemas.
    #[arg(long, env = "VERBUND_SCHEMAS")]
    schemas: Option<PathBuf>,
    /// Entries per part (each part is one atomic, durable write).
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Ignore a saved position and start from the first line.
    #[arg(long)]
    restart: bool,
    /// Update entries that exist already (found by the line's id, else by its slug) with the
    /// line's fields, as a new version. Without it, such a line counts as unchanged when its
    /// fields are the stored ones, and is rejected when they differ.
    #[arg(long)]
    update: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub fn run(args: ImportArgs) -> anyhow::Result<u8> {
    match &args.data {
        Some(dir) => offline(&args, dir),
        None => remote(&args),
    }
}

/// Splits a line into its type (from `"type"`) and the entry without it.
fn take_type(text: &str) -> Result<(Option<String>, String), String> {
    if !text.contains("\"type\"") {
        return Ok((None, text.to_string()));
    }
    let mut v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let ty = match v.as_object_mut().and_then(|o| o.remove("type")) {
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err("\"type\" must be the name of a content type".into()),
        None => None,
    };
    Ok((ty, v.to_string()))
}

fn offline(args: &ImportArgs, data: &Path) -> anyhow::Result<u8> {
    let Some(ty) = args.ty.clone() else {
        return Err(anyhow::Error::new(exit::Usage(
            "an import with --data needs --type TYPE".into(),
        )));
    };
    let schemas = verbund_core::SchemaRegistry::load_default(args.schemas.as_deref())
        .context("could not load the content-type schemas")?;
    let location = match &args.store {
        Some(url) => verbund_core::StoreLocation::parse(url),
        None => verbund_core::StoreLocation::Dir(data.to_path_buf()),
    };
    let content = verbund_core::open_at(&location, data, schemas)
        .with_context(|| format!("could not open the store {location}"))?;
    content.content_type(&ty)?;
    let reader = open_input(&args.file)?;
    let mut read_error = None;
    let mut type_errors = Vec::new();
    let lines = reader.lines().enumerate().map_while(|(i, l)| match l {
        Ok(text) => {
            let text = match take_type(&text) {
                Ok((Some(t), rest)) if t == ty => rest,
                Ok((Some(t), _)) => {
                    type_errors.push(format!("line {}: the line is a {t}, not a {ty}", i + 1));
                    String::new()
                }
                Ok((None, rest)) => rest,
                Err(_) => text,
            };
            Some(ImportLine { line: i + 1, text })
        }
        Err(e) => {
            read_error = Some((i + 1, e));
            None
        }
    });
    let started = std::time::Instant::now();
    let report = content.import(&ty, lines, args.batch.max(1), |p| {
        println!(
            "imported {} entries (input decided through line {}, {} rejected)",
            p.imported, p.last_line, p.rejected
        );
    })?;
    if let Some((line, e)) = read_error {
        bail!("could not read line {line} of {}: {e}", args.file.display());
    }
    for e in &type_errors {
        eprintln!("{e}");
    }
    for err in &report.errors {
        for fe in &err.errors {
            eprintln!("line {}: {fe}", err.line);
        }
    }
    let rejected = report.errors.len() + type_errors.len();
    println!(
        "done: {} entries imported, {} lines rejected, in {:.2} s",
        report.imported,
        rejected,
        started.elapsed().as_secs_f64()
    );
    if rejected == 0 {
        Ok(exit::OK)
    } else {
        eprintln!("fix the rejected lines and import them again; the accepted ones are stored");
        Ok(exit::VALIDATION)
    }
}

fn open_input(file: &Path) -> anyhow::Result<Box<dyn BufRead>> {
    Ok(if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(file)
            .with_context(|| format!("could not open {}", file.display()))?;
        Box::new(std::io::BufReader::with_capacity(1 << 20, f))
    })
}

/// Where a remote import stands, saved after every acknowledged part.
#[derive(Debug, Serialize, Deserialize)]
struct Position {
    file: String,
    size: u64,
    modified: u64,
    /// Milliseconds since the epoch when the import began (the time part of derived ids).
    started_ms: u64,
    /// The first line not yet acknowledged.
    next_line: usize,
    imported: usize,
    rejected: usize,
}

fn position_path(file: &Path) -> anyhow::Result<PathBuf> {
    let abs = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let hash = hex_of(&Sha256::digest(abs.to_string_lossy().as_bytes())[..8]);
    let dir = crate::client::profiles_path()?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
        .join("imports");
    Ok(dir.join(format!("{hash}.json")))
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A ULID for line `line` of this import: the import's start time and a hash of file and line.
fn derived_id(pos: &Position, line: usize) -> String {
    let digest = Sha256::digest(format!("{}\n{}\n{line}", pos.file, pos.started_ms).as_bytes());
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    let r = u128::from_be_bytes(random);
    ulid::Ulid::from_parts(pos.started_ms, r).to_string()
}

/// One line ready to send: its number and JSON text (type removed, id ensured).
struct Prepared {
    line: usize,
    ty: String,
    text: String,
    /// Whether the id was derived here (not given in the file).
    derived: bool,
}

fn prepare(
    pos: &Position,
    fixed_type: Option<&str>,
    line: usize,
    text: &str,
) -> Result<Option<Prepared>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let mut v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let Some(obj) = v.as_object_mut() else {
        return Err("an entry must be a JSON object of fields".into());
    };
    let ty = match (obj.remove("type"), fixed_type) {
        (Some(Value::String(t)), Some(f)) if t != f => {
            return Err(format!("the line is a {t}, not a {f}"));
        }
        (Some(Value::String(t)), _) => t,
        (None, Some(f)) => f.to_string(),
        (None, None) => {
            return Err(
                "the line has no \"type\"; add one, or import with --type TYPE".to_string(),
            );
        }
        (Some(_), _) => return Err("\"type\" must be the name of a content type".into()),
    };
    let derived = !obj.contains_key("id");
    if derived {
        obj.insert("id".into(), Value::String(derived_id(pos, line)));
    }
    Ok(Some(Prepared {
        line,
        ty,
        text: v.to_string(),
        derived,
    }))
}

/// Reports rejected lines: the first [`SHOWN`] on stderr, every one in a report file.
struct Rejections {
    shown: usize,
    path: PathBuf,
    file: Option<std::fs::File>,
}

const SHOWN: usize = 100;

impl Rejections {
    fn new(input: &Path) -> Self {
        let mut name = input.file_name().unwrap_or_default().to_os_string();
        name.push(".rejected.txt");
        Rejections {
            shown: 0,
            path: input.with_file_name(name),
            file: None,
        }
    }

    fn report(&mut self, bar: &indicatif::ProgressBar, text: &str) {
        use std::io::Write as _;
        if self.shown < SHOWN {
            bar.suspend(|| eprintln!("{text}"));
        } else if self.shown == SHOWN {
            bar.suspend(|| {
                eprintln!(
                    "… more rejected lines are listed in {} only",
                    self.path.display()
                )
            });
        }
        self.shown += 1;
        if self.file.is_none() {
            self.file = std::fs::File::create(&self.path).ok();
        }
        if let Some(f) = &mut self.file {
            let _ = writeln!(f, "{text}");
        }
    }
}

fn remote(args: &ImportArgs) -> anyhow::Result<u8> {
    let client = Client::from_args(&args.remote)?;
    if args.file.as_os_str() == "-" {
        bail!(
            "a remote import reads a file (it needs to resume); save standard input to a file first"
        );
    }
    let meta = std::fs::metadata(&args.file)
        .with_context(|| format!("could not open {}", args.file.display()))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let state_path = position_path(&args.file)?;
    let file_name = std::fs::canonicalize(&args.file)
        .unwrap_or_else(|_| args.file.clone())
        .to_string_lossy()
        .into_owned();
    let saved: Option<Position> = std::fs::read_to_string(&state_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .filter(|p: &Position| {
            p.file == file_name && p.size == meta.len() && p.modified == modified
        });
    let mut pos = match saved {
        Some(p) if !args.restart => {
            eprintln!(
                "Resuming the import of {} at line {} ({} imported, {} rejected before); --restart starts over.",
                args.file.display(),
                p.next_line,
                p.imported,
                p.rejected
            );
            p
        }
        _ => Position {
            file: file_name,
            size: meta.len(),
            modified,
            started_ms: chrono::Utc::now().timestamp_millis().max(0) as u64,
            next_line: 1,
            imported: 0,
            rejected: 0,
        },
    };
    let total_lines = std::io::BufReader::new(std::fs::File::open(&args.file)?)
        .lines()
        .count();
    let bar = progress_bar(total_lines as u64, pos.next_line.saturating_sub(1) as u64);
    let reader = open_input(&args.file)?;
    let mut part: Vec<Prepared> = Vec::new();
    let mut part_bytes = 0usize;
    let rejections = std::cell::RefCell::new(Rejections::new(&args.file));
    let started = std::time::Instant::now();
    let mut sent_lines = 0usize;
    let unchanged = std::cell::Cell::new(0usize);
    let stored = std::cell::RefCell::new(std::collections::HashMap::new());
    let updated = std::cell::Cell::new(0usize);

    let send = |part: &mut Vec<Prepared>, pos: &mut Position, upto: usize| -> anyhow::Result<()> {
        let mut i = 0;
        while i < part.len() {
            // One request per run of lines of the same type.
            let ty = part[i].ty.clone();
            let mut j = i;
            let mut body = String::new();
            while j < part.len() && part[j].ty == ty {
                body.push_str(&part[j].text);
                body.push('\n');
                j += 1;
            }
            let lines: Vec<(usize, bool)> =
                part[i..j].iter().map(|p| (p.line, p.derived)).collect();
            let texts: Vec<&str> = part[i..j].iter().map(|p| p.text.as_str()).collect();
            let res = client
                .send_raw(
                    reqwest::Method::POST,
                    &format!("/api/v1/import/{}", enc(&ty)),
                    body,
                    "application/x-ndjson",
                )
                .with_context(|| {
                    format!(
                        "the import stopped at line {}; run the same command again to resume there",
                        lines[0].0
                    )
                })?;
            let data = &res["data"];
            // Lines resent after an interruption whose first sending did land: their derived
            // id exists already. That is success, not an error.
            let mut already = 0;
            for e in data["errors"].as_array().into_iter().flatten() {
                let idx = e["line"].as_u64().unwrap_or(0) as usize;
                let (line, derived) = lines
                    .get(idx.saturating_sub(1))
                    .copied()
                    .unwrap_or((0, false));
                let errs: Vec<&Value> = e["errors"].as_array().into_iter().flatten().collect();
                let resent = derived
                    && errs.len() == 1
                    && errs[0]["pointer"] == "/id"
                    && errs[0]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("already exists"));
                if resent {
                    already += 1;
                    continue;
                }
                // The line's entry exists already (its slug or its own id is taken): the
                // same fields are nothing to do, other ones an update when asked for.
                let clash = !errs.is_empty()
                    && errs.iter().all(|fe| {
                        let m = fe["message"].as_str().unwrap_or("");
                        m.contains("is already used by")
                            || (fe["pointer"] == "/id" && m.contains("already exists"))
                    });
                if clash {
                    let text = texts.get(idx.saturating_sub(1)).copied().unwrap_or("");
                    match settle_existing(
                        &client,
                        &mut stored.borrow_mut(),
                        &ty,
                        text,
                        derived,
                        args.update,
                    ) {
                        Ok(Settled::Unchanged) => {
                            unchanged.set(unchanged.get() + 1);
                            continue;
                        }
                        Ok(Settled::Updated) => {
                            updated.set(updated.get() + 1);
                            continue;
                        }
                        Ok(Settled::Differs(what)) => {
                            rejections.borrow_mut().report(
                                &bar,
                                &format!(
                                    "line {line}: {what}; run the import with --update to update it"
                                ),
                            );
                            pos.rejected += 1;
                            continue;
                        }
                        Err(e) => {
                            rejections
                                .borrow_mut()
                                .report(&bar, &format!("line {line}: {e:#}"));
                            pos.rejected += 1;
                            continue;
                        }
                    }
                }
                for fe in errs {
                    let pointer = fe["pointer"].as_str().unwrap_or("");
                    let msg = fe["message"].as_str().unwrap_or("");
                    let text = if pointer.is_empty() {
                        format!("line {line}: {msg}")
                    } else {
                        format!("line {line}: {pointer}: {msg}")
                    };
                    rejections.borrow_mut().report(&bar, &text);
                }
                pos.rejected += 1;
            }
            pos.imported += data["imported"].as_u64().unwrap_or(0) as usize + already;
            i = j;
        }
        part.clear();
        pos.next_line = upto + 1;
        save_position(&state_path, pos)?;
        Ok(())
    };

    for (i, line) in reader.lines().enumerate() {
        let n = i + 1;
        let text =
            line.with_context(|| format!("could not read line {n} of {}", args.file.display()))?;
        if n < pos.next_line {
            continue;
        }
        sent_lines += 1;
        match prepare(&pos, args.ty.as_deref(), n, &text) {
            Ok(Some(p)) => {
                part_bytes += p.text.len();
                part.push(p);
            }
            Ok(None) => {}
            Err(msg) => {
                rejections
                    .borrow_mut()
                    .report(&bar, &format!("line {n}: {msg}"));
                pos.rejected += 1;
            }
        }
        if part.len() >= args.batch.max(1) || part_bytes >= 512 << 10 {
            send(&mut part, &mut pos, n)?;
            part_bytes = 0;
            bar.set_position(n as u64);
            if bar.is_hidden() {
                println!(
                    "line {n} of {total_lines}: {} imported, {} rejected",
                    pos.imported, pos.rejected
                );
            }
        }
    }
    send(&mut part, &mut pos, total_lines)?;
    bar.finish_and_clear();
    let _ = std::fs::remove_file(&state_path);
    let secs = started.elapsed().as_secs_f64();
    // Existing entries only when there were any: "3 imported, 1 updated, 2 unchanged, …".
    let mut existing = String::new();
    if updated.get() > 0 || args.update {
        existing.push_str(&format!(", {} updated", updated.get()));
    }
    if unchanged.get() > 0 {
        existing.push_str(&format!(", {} unchanged", unchanged.get()));
    }
    println!(
        "done: {} entries imported{existing}, {} lines rejected ({} lines in {:.1} s, {:.0} lines/s)",
        pos.imported,
        pos.rejected,
        sent_lines,
        secs,
        sent_lines as f64 / secs.max(1e-6)
    );
    if pos.rejected == 0 {
        Ok(exit::OK)
    } else {
        let r = rejections.borrow();
        if r.file.is_some() {
            eprintln!(
                "every rejected line is listed in {}; fix them and import them again, the accepted ones are stored",
                r.path.display()
            );
        } else {
            eprintln!("fix the rejected lines and import them again; the accepted ones are stored");
        }
        Ok(exit::VALIDATION)
    }
}

/// What became of a line whose entry exists already.
enum Settled {
    Unchanged,
    Updated,
    /// The stored entry has other values (which fields).
    Differs(String),
}

/// Entry metadata in an import line: not compared, not sent with an update.
const META: [&str; 13] = [
    "id",
    "type",
    "locale",
    "version",
    "state",
    "created_at",
    "updated_at",
    "published_at",
    "published_version",
    "translation_of",
    "translation",
    "translation_current",
    "scheduled",
];

/// The current entries of one type, read once (one export request) when the first line of
/// that type turns out to exist already: re-running a large import compares its lines
/// without a request per line.
struct Stored {
    slug_field: String,
    by_id: std::collections::HashMap<String, Value>,
    by_slug: std::collections::HashMap<(String, String), Value>,
}

impl Stored {
    fn read(client: &Client, ty: &str) -> anyhow::Result<Self> {
        let info = crate::commands::entry::type_info(client, ty)?;
        let slug_field = info.schema["x-verbund"]["slug"]
            .as_str()
            .unwrap_or("slug")
            .to_string();
        let mut bytes = Vec::new();
        client.download(&format!("/api/v1/export/{}", enc(ty)), &mut bytes)?;
        let mut stored = Stored {
            slug_field,
            by_id: Default::default(),
            by_slug: Default::default(),
        };
        for line in String::from_utf8_lossy(&bytes).lines() {
            let Ok(e) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if let Some(slug) = e[stored.slug_field.as_str()].as_str() {
                let locale = e["locale"].as_str().unwrap_or("de").to_string();
                stored.by_slug.insert((locale, slug.to_string()), e.clone());
            }
            if let Some(id) = e["id"].as_str() {
                stored.by_id.insert(id.to_string(), e);
            }
        }
        Ok(stored)
    }
}

/// Finds the stored entry of an import line (by its id unless the import made that up, else
/// by its slug in the line's locale), compares the fields and, with `update`, saves the
/// line's as a new version.
fn settle_existing(
    client: &Client,
    cache: &mut std::collections::HashMap<String, Stored>,
    ty: &str,
    text: &str,
    derived_id: bool,
    update: bool,
) -> anyhow::Result<Settled> {
    let line: Value = serde_json::from_str(text)?;
    if !cache.contains_key(ty) {
        cache.insert(ty.to_string(), Stored::read(client, ty)?);
    }
    let stored = &cache[ty];
    let locale = line["locale"].as_str().unwrap_or("de").to_string();
    let (key, found) = match (
        line["id"].as_str(),
        line[stored.slug_field.as_str()].as_str(),
    ) {
        (Some(id), _) if !derived_id => (id.to_string(), stored.by_id.get(id)),
        (_, Some(slug)) => (
            slug.to_string(),
            stored.by_slug.get(&(locale, slug.to_string())),
        ),
        _ => bail!("the entry exists already, and the line names it by neither id nor slug"),
    };
    // Not among the entries read at the start: stored by this import (a line given twice).
    let found = match found {
        Some(e) => e.clone(),
        None => client.get(&format!("/api/v1/manage/{}/{}", enc(ty), enc(&key)))?["data"].take(),
    };
    let fields = |v: &Value| -> serde_json::Map<String, Value> {
        v.as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| !META.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (new, old) = (fields(&line), fields(&found));
    let mut differ: Vec<&str> = new
        .keys()
        .chain(old.keys())
        .filter(|k| new.get(*k) != old.get(*k))
        .map(String::as_str)
        .collect();
    differ.sort_unstable();
    differ.dedup();
    if differ.is_empty() {
        return Ok(Settled::Unchanged);
    }
    if !update {
        return Ok(Settled::Differs(format!(
            "{ty} {key} exists already with other values in {}",
            differ.join(", ")
        )));
    }
    // --update means the line wins; If-Match with the version read just now makes a change
    // made in between a conflict reported for this line rather than lost.
    let id = found["id"].as_str().unwrap_or(&key).to_string();
    let current = client.get(&format!("/api/v1/manage/{}/{}", enc(ty), enc(&id)))?["data"].take();
    client.send(
        reqwest::Method::PUT,
        &format!("/api/v1/manage/{}/{}", enc(ty), enc(&id)),
        Some(&Value::Object(new)),
        current["version"].as_u64(),
    )?;
    // A later line for the same entry compares with what is stored now (read afresh).
    if let Some(c) = cache.get_mut(ty) {
        c.by_id.remove(&id);
        c.by_slug
            .retain(|_, e| e["id"].as_str() != Some(id.as_str()));
    }
    Ok(Settled::Updated)
}

fn save_position(path: &Path, pos: &Position) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(pos)?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// A progress bar with items, rate and ETA on a terminal; hidden otherwise.
pub fn progress_bar(len: u64, done: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} lines · {per_sec} · ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_position(done);
    bar
}
