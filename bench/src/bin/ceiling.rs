//! The ceiling of the delivery benchmark: a bare axum 0.8 + sled server over the same
//! benchmark stories, which reads the stored bytes and does nothing else — no validation, no
//! middleware, no cache, no query language. What Verbund serves at a fraction of this is what
//! its own layers cost.
//!
//! `target/release/ceiling STORIES.ndjson` loads the published stories into a fresh sled
//! database (one tree by slug, one by a stored sort key — newest first — and one per topic and
//! sort key), listens on `127.0.0.1:0` and prints `listening on http://ADDR` once it serves:
//!
//! - `GET /story/{slug}`: `{"data": STORED}`;
//! - `GET /newest`: `{"data": [20 newest]}`;
//! - `GET /topic/{topic}`: `{"data": [20 newest with that topic]}`.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

struct Db {
    by_slug: sled::Tree,
    newest: sled::Tree,
    topics: sled::Tree,
}

/// A key that sorts newest first: the inverted publication time, then the slug.
fn newest_key(published_at: &str, slug: &str) -> Vec<u8> {
    let mut k: Vec<u8> = published_at.bytes().map(|b| !b).collect();
    k.push(0);
    k.extend_from_slice(slug.as_bytes());
    k
}

fn load(file: &std::path::Path, dir: &std::path::Path) -> anyhow::Result<Db> {
    let db = sled::open(dir)?;
    let store = Db {
        by_slug: db.open_tree("by_slug")?,
        newest: db.open_tree("newest")?,
        topics: db.open_tree("topics")?,
    };
    let text = std::fs::read_to_string(file).with_context(|| file.display().to_string())?;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)?;
        if v["state"] != "published" {
            continue;
        }
        let slug = v["slug"].as_str().context("a story without slug")?;
        let at = v["published_at"].as_str().unwrap_or("");
        let bytes = serde_json::to_vec(&v)?;
        store.by_slug.insert(slug, bytes.as_slice())?;
        let key = newest_key(at, slug);
        store.newest.insert(&key, bytes.as_slice())?;
        for t in v["topics"].as_array().into_iter().flatten() {
            let mut k = t.as_str().unwrap_or("").as_bytes().to_vec();
            k.push(0);
            k.extend_from_slice(&key);
            store.topics.insert(k, bytes.as_slice())?;
        }
    }
    db.flush()?;
    Ok(store)
}

fn json(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn page(values: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>) -> Response {
    let mut out = b"{\"data\":[".to_vec();
    for (i, item) in values.take(20).enumerate() {
        let Ok((_, v)) = item else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&v);
    }
    out.extend_from_slice(b"]}");
    json(out)
}

async fn story(State(db): State<Arc<Db>>, Path(slug): Path<String>) -> Response {
    match db.by_slug.get(slug.as_bytes()) {
        Ok(Some(v)) => {
            let mut out = Vec::with_capacity(v.len() + 10);
            out.extend_from_slice(b"{\"data\":");
            out.extend_from_slice(&v);
            out.push(b'}');
            json(out)
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn newest(State(db): State<Arc<Db>>) -> Response {
    page(db.newest.iter())
}

async fn topic(State(db): State<Arc<Db>>, Path(topic): Path<String>) -> Response {
    let mut prefix = topic.into_bytes();
    prefix.push(0);
    page(db.topics.scan_prefix(prefix))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let file = std::env::args()
        .nth(1)
        .context("usage: ceiling STORIES.ndjson")?;
    let tmp = tempfile::tempdir()?;
    let db = Arc::new(load(std::path::Path::new(&file), tmp.path())?);
    let app = Router::new()
        .route("/story/{slug}", get(story))
        .route("/newest", get(newest))
        .route("/topic/{topic}", get(topic))
        .with_state(db);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
