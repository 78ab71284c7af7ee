//! Verbund's engine: the content store, content types, the content service and the HTTP API.
//!
//! Module borders: only [`store`] knows sled; [`schema`] knows JSON Schema; [`content`] knows
//! entries, references and the published view; [`http`] turns all of it into the API.

pub mod auth;
pub mod backup;
pub mod content;
pub mod demo;
pub mod http;
pub mod keys;
pub mod newsletter;
pub mod plugin;
pub mod schema;
pub mod server;
pub mod store;
pub mod workflow;

use std::path::Path;
use std::sync::Arc;

pub use content::ContentService;
pub use schema::SchemaRegistry;
pub use store::{SledStore, Store};

/// Opens a data dir with a schema registry: the usual way to get a [`ContentService`].
///
/// The dir is made private to its owner (0700), and its key file (see [`keys`]) is read, or
/// created on first use.
///
/// A type whose schema changed what it indexes or marks as personal since its entries were
/// published gets its public view rebuilt here, before anything reads it.
pub fn open(data_dir: &Path, schemas: SchemaRegistry) -> content::ContentResult<ContentService> {
    let store: Arc<dyn Store> = Arc::new(SledStore::open(data_dir)?);
    keys::private_dir(data_dir).map_err(store::StoreError::from)?;
    let keys = keys::Keys::load_or_create(&keys::Keys::path_in(data_dir))
        .map_err(|e| store::StoreError::Keys(e.to_string()))?;
    let content = ContentService::with_keys(store, Arc::new(schemas), Arc::new(keys));
    content.refresh_public_view()?;
    Ok(content)
}
