//! Where the bytes of assets live: a small blob interface with two real backends, a directory
//! (the embedded default, `DATA/media`) and S3-compatible object storage (several nodes).
//!
//! Keys are `originals/{sha256}` (content-addressed: the SHA-256 of the sanitised bytes) and
//! `renditions/{sha256}/{variant}`. A put is atomic on both backends: a directory write goes to
//! a temporary file in the same directory, is flushed and renamed; an S3 PUT is atomic by
//! itself. A crash therefore never leaves a half-written or 0-byte blob under its key.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

/// Errors of the blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("media storage: {0}")]
    Io(#[from] std::io::Error),
    #[error("media object storage: {0}")]
    Object(#[from] object_store::Error),
    #[error("media storage: invalid key {0:?}")]
    BadKey(String),
}

/// The key of an original.
pub fn original_key(sha256: &str) -> String {
    format!("originals/{sha256}")
}

/// The prefix of an original's renditions.
pub fn renditions_prefix(sha256: &str) -> String {
    format!("renditions/{sha256}/")
}

/// The blob store of a server.
#[derive(Clone, Debug)]
pub enum Blobs {
    /// Files under a directory.
    Dir(PathBuf),
    /// An S3 bucket (or any store `object_store` speaks).
    Object(Arc<dyn ObjectStore>, String),
}

fn checked(key: &str) -> Result<&str, BlobError> {
    let ok = !key.is_empty()
        && key
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.@".contains(&b));
    if ok {
        Ok(key)
    } else {
        Err(BlobError::BadKey(key.to_string()))
    }
}

impl Blobs {
    /// Blobs in a directory (created when missing, private to its owner).
    pub fn dir(path: &Path) -> Result<Self, BlobError> {
        std::fs::create_dir_all(path)?;
        Ok(Blobs::Dir(path.to_path_buf()))
    }

    /// An S3 bucket, `s3://bucket`: endpoint, region and credentials come from the usual
    /// variables (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_ALLOW_HTTP=true` for a local server without TLS).
    pub fn s3(url: &str) -> Result<Self, BlobError> {
        let bucket = url
            .strip_prefix("s3://")
            .map(|b| b.trim_end_matches('/'))
            .filter(|b| !b.is_empty() && !b.contains('/'))
            .ok_or_else(|| BlobError::BadKey(format!("{url} (expected s3://BUCKET)")))?;
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()?;
        Ok(Blobs::Object(Arc::new(store), url.to_string()))
    }

    /// What the store is, for logs.
    pub fn describe(&self) -> String {
        match self {
            Blobs::Dir(p) => p.display().to_string(),
            Blobs::Object(_, url) => url.clone(),
        }
    }

    fn file(root: &Path, key: &str) -> Result<PathBuf, BlobError> {
        Ok(root.join(checked(key)?))
    }

    /// Stores `bytes` under `key`, atomically.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), BlobError> {
        match self {
            Blobs::Dir(root) => {
                let path = Self::file(root, key)?;
                tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))?
            }
            Blobs::Object(store, _) => {
                store
                    .put(&ObjectPath::from(checked(key)?), bytes.into())
                    .await?;
                Ok(())
            }
        }
    }

    /// The bytes under `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, BlobError> {
        match self {
            Blobs::Dir(root) => {
                let path = Self::file(root, key)?;
                match tokio::fs::read(&path).await {
                    Ok(b) => Ok(Some(Bytes::from(b))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
            Blobs::Object(store, _) => match store.get(&ObjectPath::from(checked(key)?)).await {
                Ok(r) => Ok(Some(r.bytes().await?)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Whether `key` exists.
    pub async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        match self {
            Blobs::Dir(root) => Ok(tokio::fs::try_exists(Self::file(root, key)?).await?),
            Blobs::Object(store, _) => match store.head(&ObjectPath::from(checked(key)?)).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Removes `key` (absent is fine).
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self {
            Blobs::Dir(root) => match tokio::fs::remove_file(Self::file(root, key)?).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            },
            Blobs::Object(store, _) => match store.delete(&ObjectPath::from(checked(key)?)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Every key under `prefix` (which ends with `/`).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        match self {
            Blobs::Dir(root) => {
                let base = Self::file(root, prefix.trim_end_matches('/'))?;
                let prefix = prefix.to_string();
                tokio::task::spawn_blocking(move || {
                    let mut out = Vec::new();
                    list_dir(&base, &prefix, &mut out)?;
                    Ok(out)
                })
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?
            }
            Blobs::Object(store, _) => {
                let p = ObjectPath::from(checked(prefix.trim_end_matches('/'))?);
                let mut stream = store.list(Some(&p));
                let mut out = Vec::new();
                while let Some(meta) = stream.next().await {
                    out.push(meta?.location.to_string());
                }
                Ok(out)
            }
        }
    }

    /// The keys under `prefix` (which ends with `/`) last written more than `age` ago.
    pub async fn older_than(
        &self,
        prefix: &str,
        age: std::time::Duration,
    ) -> Result<Vec<String>, BlobError> {
        let cutoff = std::time::SystemTime::now()
            .checked_sub(age)
            .unwrap_or(std::time::UNIX_EPOCH);
        match self {
            Blobs::Dir(root) => {
                let mut out = Vec::new();
                for key in self.list(prefix).await? {
                    let meta = tokio::fs::metadata(Self::file(root, &key)?).await?;
                    if meta.modified()? < cutoff {
                        out.push(key);
                    }
                }
                Ok(out)
            }
            Blobs::Object(store, _) => {
                let p = ObjectPath::from(checked(prefix.trim_end_matches('/'))?);
                let mut stream = store.list(Some(&p));
                let mut out = Vec::new();
                let cutoff: chrono::DateTime<chrono::Utc> = cutoff.into();
                while let Some(meta) = stream.next().await {
                    let meta = meta?;
                    if meta.last_modified < cutoff {
                        out.push(meta.location.to_string());
                    }
                }
                Ok(out)
            }
        }
    }

    /// Removes every key under `prefix`.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, BlobError> {
        let keys = self.list(prefix).await?;
        for k in &keys {
            self.delete(k).await?;
        }
        if let Blobs::Dir(root) = self {
            let _ = tokio::fs::remove_dir(Self::file(root, prefix.trim_end_matches('/'))?).await;
        }
        Ok(keys.len())
    }
}

fn list_dir(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<(), BlobError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp") {
            continue;
        }
        let key = format!("{}/{name}", prefix.trim_end_matches('/'));
        if entry.file_type()?.is_dir() {
            list_dir(&entry.path(), &key, out)?;
        } else {
            out.push(key);
        }
    }
    Ok(())
}

/// Writes a file so that it is either absent or complete: a temporary file in the same
/// directory, flushed to disk, then renamed over the target.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), BlobError> {
    let dir = path
        .parent()
        .ok_or_else(|| BlobError::BadKey(path.display().to_string()))?;
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_data()?;
    tmp.persist(path).map_err(|e| BlobError::Io(e.error))?;
    Ok(())
}
