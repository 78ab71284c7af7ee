//! `verbund keys rotate|list`: the installation's secret keys (`DATA/verbund.key`).
//!
//! The newest key signs newsletter links, audit records, backups and the compiled-plugin cache;
//! every key in the file keeps verifying, so links already mailed and the audit chain written so
//! far stay valid after a rotation.

use anyhow::Context;
use verbund_core::keys::Keys;

use crate::DataArgs;
use crate::exit;

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key (server stopped); older keys keep verifying.
    #[command(after_help = "Example:\n  verbund keys rotate --data verbund-data")]
    Rotate {
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the key ids (never the keys), oldest first; the last one signs.
    #[command(after_help = "Example:\n  verbund keys list --data verbund-data")]
    List {
        #[command(flatten)]
        data: DataArgs,
    },
}

pub fn run(cmd: KeysCommand) -> anyhow::Result<u8> {
    match cmd {
        KeysCommand::Rotate { data } => {
            // Opening the data dir refuses while a server holds it, and creates the file.
            drop(super::open(&data)?);
            let path = Keys::path_in(&data.data);
            let mut keys = Keys::load(&path)?;
            let id = keys.rotate()?.to_string();
            keys.save(&path)
                .with_context(|| format!("could not write {}", path.display()))?;
            println!(
                "new signing key {id} in {}; keep a copy of the file apart from backups",
                path.display()
            );
        }
        KeysCommand::List { data } => {
            drop(super::open(&data)?);
            let keys = Keys::load(&Keys::path_in(&data.data))?;
            for id in keys.ids() {
                let mark = if id == keys.current_id() {
                    " (signs)"
                } else {
                    ""
                };
                println!("{id}{mark}");
            }
        }
    }
    Ok(exit::OK)
}
