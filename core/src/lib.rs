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
pub mod lease;
pub mod mail;
pub mod media;
pub mod migrate;
pub mod newsletter;
pub mod plugin;
pub mod schema;
pub mod search;
pub mod server;
pub mod store;
pub mod webhooks;
pub mod workflow;

use std::path::Path;
use std::sync::Arc;

pub use content::ContentService;
pub use schema::SchemaRegistry;
pub use store::{PgStore, SledStore, Store, StoreLocation};

/// Opens a data dir with a schema registry: the usual way to get a [`ContentService`].
///
/// The dir is made private to its owner (0700), and its key file (see [`keys`]) is read, or
/// created on first use.
///
/// A type whose schema changed what it indexes or marks as personal since its entries were
/// published gets its public view rebuilt here, before anything reads it.
pub fn open(data_dir: &Path, schemas: SchemaRegistry) -> content::ContentResult<ContentService> {
    open_at(
        &StoreLocation::Dir(data_dir.to_path_buf()),
        data_dir,
        schemas,
    )
}

/// Opens the store at `location` with a schema registry. `node_dir` is this node's own
/// directory: its key file, the compiled-plugin cache and the outbox (for a data dir it is the
/// data dir itself).
///
/// Several nodes on one database must hold the same keys (they sign newsletter links and
/// chain the audit log): the first node records which keys the database is used with, and a
/// node whose key file holds other keys is refused with a message that says what to copy.
pub fn open_at(
    location: &StoreLocation,
    node_dir: &Path,
    schemas: SchemaRegistry,
) -> content::ContentResult<ContentService> {
    let store = store::open(location)?;
    if migrate::unfinished(store.as_ref())? {
        return Err(store::StoreError::Open {
            location: location.redacted(),
            detail: "a `verbund migrate` into it has not finished; run the same `verbund migrate` again (it starts over) before a server uses it".into(),
        }
        .into());
    }
    keys::private_dir(node_dir).map_err(store::StoreError::from)?;
    let key_path = keys::Keys::path_in(node_dir);
    let keys = keys::Keys::load_or_create(&key_path)
        .map_err(|e| store::StoreError::Keys(e.to_string()))?;
    if store.shared() {
        keys::check_shared(store.as_ref(), &keys, &key_path)?;
    }
    let content = ContentService::with_keys(store, Arc::new(schemas), Arc::new(keys));
    content.refresh_public_view()?;
    if content.store().shared() {
        // Where the shared feed stands now: later looks compare with it.
        content.observe_store()?;
    }
    Ok(content)
}
