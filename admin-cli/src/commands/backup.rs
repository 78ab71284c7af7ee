//! `verbund backup` and `verbund restore`.
//!
//! A backup is a consistent snapshot of a whole data dir (entries, every revision, indexes,
//! tokens, the audit log, plugins). With a running server it is taken online through the API
//! (writes wait for the moment of the snapshot, reads go on); with `--data` and no server it is
//! read from the data dir directly. A restore checks the whole file first, rebuilds the data dir
//! beside the target, checks its integrity, and only then moves it into place.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use verbund_core::backup;

use crate::client::{Client, RemoteArgs};
use crate::exit;

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The backup file to write.
    #[arg(long)]
    out: PathBuf,
    /// Read this data dir directly (when no server runs on it). Without it, the backup is
    /// taken through the server (--url/--token or the saved profile).
    #[arg(long)]
    data: Option<PathBuf>,
    #[command(flatten)]
    remote: RemoteArgs,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The backup file.
    file: PathBuf,
    /// The data dir to restore into (the server must be stopped).
    #[arg(long, env = "VERBUND_DATA")]
    data: PathBuf,
    /// A directory of content-type schemas (for the integrity check).
    #[arg(long, env = "VERBUND_SCHEMAS")]
    schemas: Option<PathBuf>,
    /// Replace an existing data dir (it is kept beside, renamed, until you delete it).
    #[arg(long)]
    force: bool,
    /// The key file of the installation that made the backup (DATA/verbund.key; it is never
    /// part of a backup, keep a copy of it apart). Default: the key file of the data dir
    /// being replaced.
    #[arg(long)]
    keys: Option<PathBuf>,
}

pub fn backup(args: BackupArgs) -> anyhow::Result<u8> {
    let tmp = args.out.with_extension("part");
    let started = std::time::Instant::now();
    let written = match &args.data {
        Some(dir) => {
            let _ = std::fs::remove_file(&tmp);
            let file = verbund_core::keys::private_file(&tmp, true)
                .with_context(|| format!("could not create {}", tmp.display()))?;
            let keys = verbund_core::keys::Keys::load(&verbund_core::keys::Keys::path_in(dir))
                .context("a backup is signed with the data dir's key file")?;
            let store = verbund_core::SledStore::open(dir).map_err(|e| match e {
                verbund_core::store::StoreError::Locked { .. } => anyhow::anyhow!(
                    "{e}\n  hint: back up a running server online: `verbund backup --out {} --url URL --token ADMIN_TOKEN` (or after `verbund login`, without --data)",
                    args.out.display()
                ),
                other => other.into(),
            })?;
            let s = backup::write_backup(&store, &keys, file)?;
            s.records
        }
        None => {
            let client = Client::from_args(&args.remote)?;
            let _ = std::fs::remove_file(&tmp);
            let mut file = std::io::BufWriter::new(
                verbund_core::keys::private_file(&tmp, true)
                    .with_context(|| format!("could not create {}", tmp.display()))?,
            );
            client.download("/api/v1/admin/backup", &mut file)?;
            std::io::Write::flush(&mut file)?;
            drop(file);
            // Check what arrived before calling it a backup.
            let f = std::io::BufReader::new(std::fs::File::open(&tmp)?);
            match backup::read_backup(f) {
                Ok(b) => b.records.len() as u64,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    bail!("the server's backup did not arrive whole: {e}");
                }
            }
        }
    };
    std::fs::rename(&tmp, &args.out)
        .with_context(|| format!("could not write {}", args.out.display()))?;
    let size = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    println!(
        "backup written to {} ({written} records, {:.1} MB, {:.1} s); restore it with `verbund restore {} --data DIR`",
        args.out.display(),
        size as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(exit::OK)
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<u8> {
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("could not open {}", args.file.display()))?;
    let backup_file = backup::read_backup(std::io::BufReader::new(file)).with_context(|| {
        format!(
            "{} cannot be restored; nothing was changed",
            args.file.display()
        )
    })?;
    let target_exists = args.data.exists()
        && std::fs::read_dir(&args.data)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true);
    if target_exists && !args.force {
        return Err(anyhow::Error::new(exit::Usage(format!(
            "{} is not empty; restore into a new directory, or add --force to replace it (the old one is kept beside it)",
            args.data.display()
        ))));
    }
    if target_exists {
        // Refuse while a server holds it.
        verbund_core::SledStore::open(&args.data)
            .with_context(|| format!("{} cannot be replaced now", args.data.display()))?;
    }
    let key_path = match &args.keys {
        Some(p) => p.clone(),
        None if target_exists => verbund_core::keys::Keys::path_in(&args.data),
        None => {
            return Err(anyhow::Error::new(exit::Usage(format!(
                "a backup is restored with the key file of the installation that made it (DATA/verbund.key of that server; it is never part of the backup): add --keys /path/to/verbund.key; {} is a new data dir and has none",
                args.data.display()
            ))));
        }
    };
    let keys = verbund_core::keys::Keys::load(&key_path)
        .with_context(|| format!("{} cannot be restored", args.file.display()))?;
    backup_file.authenticate(&keys).with_context(|| {
        format!(
            "{} cannot be restored; nothing was changed",
            args.file.display()
        )
    })?;
    let header = backup_file.header.clone();
    let staging = backup::staging_dir(&args.data);
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("could not clear {}", staging.display()))?;
    }
    let summary = backup::restore_into(&staging, backup_file, &keys)?;
    let problems = check(&staging, args.schemas.as_deref())?;
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("  {p}");
        }
        bail!(
            "the restored data is inconsistent ({} problems, listed above); {} was not changed and the restored copy is left at {} for inspection",
            problems.len(),
            args.data.display(),
            staging.display()
        );
    }
    let mut kept = None;
    if target_exists {
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
        let old = args.data.with_file_name(format!(
            "{}.before-restore-{stamp}",
            args.data
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        std::fs::rename(&args.data, &old)
            .with_context(|| format!("could not move {} aside", args.data.display()))?;
        kept = Some(old);
    } else if args.data.exists() {
        std::fs::remove_dir(&args.data)?;
    }
    std::fs::rename(&staging, &args.data).with_context(|| {
        format!(
            "could not move the restored data to {}",
            args.data.display()
        )
    })?;
    println!(
        "restored {} records (up to change {}, backup of {}) into {}",
        summary.records,
        summary.last_seq,
        header["created_at"].as_str().unwrap_or("?"),
        args.data.display()
    );
    if let Some(old) = kept {
        println!("the previous data dir is kept at {}", old.display());
    }
    Ok(exit::OK)
}

fn check(dir: &Path, schemas: Option<&Path>) -> anyhow::Result<Vec<String>> {
    let schemas = verbund_core::SchemaRegistry::load_default(schemas)
        .context("could not load the content-type schemas")?;
    let content = verbund_core::open(dir, schemas)?;
    Ok(content.check_integrity()?)
}
