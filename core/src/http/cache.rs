//! An in-memory cache of delivery responses, keyed by path and query.
//!
//! Entries are tagged with the content service's public generation read *before* the response
//! was computed; any change of the published view bumps the generation, which empties the cache
//! on the next lookup. So a cached response is never older than the published view it was
//! computed from. Bounded in entries and bytes; when full it starts over.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::http::HeaderValue;

/// A cached delivery response.
#[derive(Debug)]
pub struct CachedResponse {
    pub body: Bytes,
    pub etag: HeaderValue,
    pub surrogate: HeaderValue,
}

#[derive(Debug, Default)]
struct Inner {
    generation: u64,
    bytes: usize,
    map: HashMap<String, Arc<CachedResponse>>,
}

/// The response cache.
#[derive(Debug)]
pub struct ResponseCache {
    inner: RwLock<Inner>,
    max_entries: usize,
    max_bytes: usize,
}

impl ResponseCache {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            max_entries,
            max_bytes,
        }
    }

    /// The response cached for `key`, if it is of `generation`.
    pub fn get(&self, key: &str, generation: u64) -> Option<Arc<CachedResponse>> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        if inner.generation != generation {
            return None;
        }
        inner.map.get(key).cloned()
    }

    /// Stores a response computed from the published view of `generation`.
    pub fn put(&self, key: String, generation: u64, response: Arc<CachedResponse>) {
        if self.max_entries == 0 {
            return;
        }
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if inner.generation != generation {
            if generation < inner.generation {
                return; // computed from an older view than the cache holds
            }
            inner.map.clear();
            inner.bytes = 0;
            inner.generation = generation;
        }
        let size = response.body.len() + key.len();
        if inner.map.len() >= self.max_entries || inner.bytes + size > self.max_bytes {
            inner.map.clear();
            inner.bytes = 0;
        }
        inner.bytes += size;
        inner.map.insert(key, response);
    }
}
