//! One module per command.

pub mod asset;
pub mod audit;
pub mod backup;
pub mod config;
pub mod entry;
pub mod export;
pub mod gdpr;
pub mod import;
pub mod keys;
pub mod login;
pub mod mail;
pub mod migrate;
pub mod newsletter;
pub mod plugin;
pub mod search;
pub mod serve;
pub mod token;
pub mod webhook;

use anyhow::Context;
use verbund_core::{ContentService, SchemaRegistry};

use crate::DataArgs;

/// Opens the data dir and schemas named by `args`.
pub fn open(args: &DataArgs) -> anyhow::Result<ContentService> {
    let schemas = SchemaRegistry::load_default(args.schemas.as_deref())
        .context("could not load the content-type schemas")?;
    let location = args.location();
    verbund_core::open_at(&location, &args.data, schemas)
        .with_context(|| format!("could not open the store {location}"))
}

impl DataArgs {
    /// Where the store is: `--store`, else the data dir.
    pub fn location(&self) -> verbund_core::StoreLocation {
        match &self.store {
            Some(url) => verbund_core::StoreLocation::parse(url),
            None => verbund_core::StoreLocation::Dir(self.data.clone()),
        }
    }
}
