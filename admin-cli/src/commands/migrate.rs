//! `verbund migrate --from SOURCE --to DESTINATION`: copies an installation's whole store into
//! another engine (a data dir into PostgreSQL, or back), then compares both record by record.
//! See `verbund_core::migrate`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use verbund_core::StoreLocation;
use verbund_core::keys::Keys;
use verbund_core::migrate;
use verbund_core::store::{self, Store, StoreError};

use crate::exit;

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Where the installation is now: a data dir or a PostgreSQL URL. Every server on it must
    /// be stopped.
    #[arg(long)]
    from: String,
    /// Where it goes: a new (or empty) data dir, or a PostgreSQL database or schema that holds
    /// no Verbund data yet.
    #[arg(long)]
    to: String,
    /// The installation's key file. Default: verbund.key in the --from data dir; from
    /// PostgreSQL, the key file of one of its nodes (DATA/verbund.key).
    #[arg(long)]
    keys: Option<PathBuf>,
}

fn usage(text: String) -> anyhow::Error {
    anyhow::Error::new(exit::Usage(text))
}

/// Opens a store for the copy: a data dir's lock error gets the hint what to do about it.
fn open(location: &StoreLocation, role: &str) -> anyhow::Result<Arc<dyn Store>> {
    store::open(location).map_err(|e| match e {
        StoreError::Locked { .. } => anyhow::anyhow!(
            "{e}\n  hint: stop the server on the {role} first; a migration copies a store nobody writes to"
        ),
        other => anyhow::Error::new(other).context(format!("could not open the {role} {location}")),
    })
}

pub fn run(args: MigrateArgs) -> anyhow::Result<u8> {
    let from = StoreLocation::parse(&args.from);
    let to = StoreLocation::parse(&args.to);
    if from == to {
        return Err(usage(format!(
            "--from and --to both name {from}; name the store the installation moves to with --to"
        )));
    }
    if let StoreLocation::Dir(dir) = &from
        && !dir.join(verbund_core::keys::KEY_FILE).exists()
    {
        return Err(usage(format!(
            "{} is not a Verbund data dir (it has no verbund.key); name the data dir a server runs on with --from",
            dir.display()
        )));
    }
    if let StoreLocation::Dir(dir) = &to {
        let used = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        let unfinished_copy = dir.join(verbund_core::keys::KEY_FILE).exists();
        if used && !unfinished_copy {
            return Err(usage(format!(
                "{} is not empty; migrate into a new directory",
                dir.display()
            )));
        }
    }
    let key_path = match (&args.keys, &from) {
        (Some(path), _) => path.clone(),
        (None, StoreLocation::Dir(dir)) => Keys::path_in(dir),
        (None, StoreLocation::Postgres(_)) => {
            return Err(usage(
                "name the installation's key file with --keys (verbund.key in the data dir of any of its nodes): the destination needs it, and it is not in the database".into(),
            ));
        }
    };
    let keys =
        Keys::load(&key_path).with_context(|| format!("could not read {}", key_path.display()))?;

    let source = open(&from, "source")?;
    if source.shared() {
        if let Some(node) = migrate::running_node(source.as_ref())? {
            anyhow::bail!(
                "a node is still working on {from} (node {node} renewed its lease seconds ago); stop every node first, so that no write lands after the copy"
            );
        }
        verbund_core::keys::verify_shared(source.as_ref(), &keys, &key_path)?;
    }
    let destination = open(&to, "destination")?;
    if let StoreLocation::Dir(dir) = &to {
        verbund_core::keys::private_dir(dir)?;
        let path = Keys::path_in(dir);
        if path.exists() {
            let theirs = Keys::load(&path)?;
            if !theirs.same_as(&keys) {
                anyhow::bail!(
                    "{} holds other keys than {}; migrate into a new directory",
                    path.display(),
                    key_path.display()
                );
            }
        } else {
            keys.save(&path)
                .with_context(|| format!("could not write {}", path.display()))?;
        }
    }

    let started = std::time::Instant::now();
    let show = std::io::stderr().is_terminal();
    let copied = migrate::copy(source.as_ref(), destination.as_ref(), &mut |n| {
        if show {
            eprint!("\rcopied {n} records");
        }
    })?;
    if show {
        eprintln!();
    }
    if destination.shared() {
        // The destination's record of the keys its nodes must hold.
        verbund_core::keys::check_shared(destination.as_ref(), &keys, &key_path)?;
    }
    let check = migrate::fingerprint(destination.as_ref())?;
    if check != copied {
        anyhow::bail!(
            "the copy in {to} differs from what was read from {from} ({} records, sha256 {}, against {} records, sha256 {}); was a server writing to either? Stop it and run the same command again",
            check.records,
            check.digest,
            copied.records,
            copied.digest
        );
    }
    let source_now = migrate::fingerprint(source.as_ref())?;
    if source_now != copied {
        anyhow::bail!(
            "{from} changed while it was copied (a server is writing to it); stop every server on it and run the same command again (it starts over)"
        );
    }
    println!(
        "copied {} records ({:.1} MB, change feed up to {}) from {from} to {to} in {:.1} s; both hold the same records (sha256 {})",
        copied.records,
        copied.bytes as f64 / 1e6,
        copied.last_seq,
        started.elapsed().as_secs_f64(),
        &copied.digest[..16],
    );
    match &to {
        StoreLocation::Postgres(_) => println!(
            "next: start every node with `verbund serve --store {to} --data NODE_DIR`, with a copy of {} as NODE_DIR/verbund.key",
            key_path.display()
        ),
        StoreLocation::Dir(dir) => println!(
            "next: `verbund serve --data {}` (its key file is in place)",
            dir.display()
        ),
    }
    Ok(exit::OK)
}
