//! The installation's secret keys: kept in a file beside the store, never inside it.
//!
//! Everything Verbund authenticates — newsletter links, the audit chain, the compiled-plugin
//! cache, backup files — is keyed with a secret of this installation. The secrets live in
//! `verbund.key` (mode 0600) in the data dir, *outside* the store's trees, so that a backup
//! (which holds the trees) carries none of them: whoever holds a backup file can neither forge a
//! newsletter link, nor rewrite the audit chain undetected, nor smuggle native code into the
//! compiled-plugin cache.
//!
//! The file holds a list of keys, each with an id; the newest signs, all of them verify, so a
//! key can be rotated (`verbund keys rotate`) without breaking links already sent. Each use gets
//! its own sub-key (HMAC of the key with the purpose's name), so a MAC made for one purpose is
//! never valid for another.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The name of the key file in a data dir.
pub const KEY_FILE: &str = "verbund.key";

/// What a MAC is for; each purpose has its own sub-key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirmation and unsubscribe links of the newsletter.
    NewsletterToken,
    /// The links of the audit chain.
    AuditChain,
    /// Compiled plugin code in the store (loaded only when this installation made it).
    CompiledPlugin,
    /// The end record of a backup file.
    Backup,
    /// The record in a shared database of which keys its nodes hold.
    KeyCheck,
    /// Rendition URLs with custom parameters (sizes, formats) of media assets.
    MediaUrl,
    /// The signing secrets of webhook endpoints (derived, never stored).
    WebhookSecret,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::NewsletterToken => b"verbund/newsletter-token",
            Purpose::AuditChain => b"verbund/audit-chain",
            Purpose::CompiledPlugin => b"verbund/compiled-plugin",
            Purpose::Backup => b"verbund/backup",
            Purpose::KeyCheck => b"verbund/key-check",
            Purpose::MediaUrl => b"verbund/media-url",
            Purpose::WebhookSecret => b"verbund/webhook-secret",
        }
    }
}

/// Errors reading or writing the key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("could not read the key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not write the key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the key file {path} is damaged ({detail}); restore it from where you keep a copy of it (it is not part of backups)"
    )]
    Damaged { path: PathBuf, detail: String },
    #[error("no randomness for a new key: {0}")]
    Random(String),
}

#[derive(Clone, Serialize, Deserialize)]
struct Key {
    id: String,
    created_at: DateTime<Utc>,
    /// 32 random bytes, base64.
    secret: String,
    #[serde(skip)]
    bytes: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    verbund_keys: u32,
    keys: Vec<Key>,
}

/// The keys of one installation. `Debug` never shows a secret.
#[derive(Clone)]
pub struct Keys {
    /// Oldest first; the last one signs.
    keys: Vec<Key>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("ids", &self.ids())
            .finish_non_exhaustive()
    }
}

fn fresh_key(n: usize) -> Result<Key, KeyError> {
    let mut bytes = vec![0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
    let mut id_bytes = [0u8; 4];
    getrandom::fill(&mut id_bytes).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(Key {
        id: format!("k{n}-{}", hex::encode(id_bytes)),
        created_at: Utc::now(),
        secret: B64.encode(&bytes),
        bytes,
    })
}

impl Keys {
    /// Keys that live only in memory (tests and tools that keep nothing).
    pub fn ephemeral() -> Keys {
        let key = fresh_key(1).unwrap_or_else(|_| Key {
            id: "k1-ephemeral".into(),
            created_at: Utc::now(),
            secret: String::new(),
            bytes: ulid::Ulid::new().to_bytes().to_vec(),
        });
        Keys { keys: vec![key] }
    }

    /// The key file of the data dir `dir`.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(KEY_FILE)
    }

    /// Reads the key file at `path`, or creates it (mode 0600) with a fresh key.
    pub fn load_or_create(path: &Path) -> Result<Keys, KeyError> {
        match Self::load(path) {
            Ok(k) => Ok(k),
            Err(KeyError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                let keys = Keys {
                    keys: vec![fresh_key(1)?],
                };
                keys.write_new(path)?;
                // Two processes creating it at once: the file that won is the truth.
                Self::load(path)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads the key file at `path`.
    pub fn load(path: &Path) -> Result<Keys, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let damaged = |detail: String| KeyError::Damaged {
            path: path.to_path_buf(),
            detail,
        };
        let file: KeyFile = serde_json::from_str(&text).map_err(|e| damaged(e.to_string()))?;
        if file.verbund_keys != 1 {
            return Err(damaged(format!("unknown format {}", file.verbund_keys)));
        }
        let mut keys = file.keys;
        for k in &mut keys {
            k.bytes = B64
                .decode(&k.secret)
                .map_err(|e| damaged(format!("key {}: {e}", k.id)))?;
            if k.bytes.len() < 32 {
                return Err(damaged(format!("key {} is shorter than 32 bytes", k.id)));
            }
        }
        if keys.is_empty() {
            return Err(damaged("it holds no key".into()));
        }
        Ok(Keys { keys })
    }

    /// Writes the keys to a new file at `path` (mode 0600); an existing file is kept.
    fn write_new(&self, path: &Path) -> Result<(), KeyError> {
        let err = |source| KeyError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut f = match private_file(path, true) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
            Err(e) => return Err(err(e)),
        };
        f.write_all(self.to_file_text().as_bytes()).map_err(err)?;
        f.sync_all().map_err(err)
    }

    fn to_file_text(&self) -> String {
        let file = KeyFile {
            verbund_keys: 1,
            keys: self.keys.clone(),
        };
        serde_json::to_string_pretty(&file).unwrap_or_default() + "\n"
    }

    /// Writes the keys to `path`, replacing it atomically (mode 0600).
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let err = |source| KeyError::Write {
            path: path.to_path_buf(),
            source,
        };
        let tmp = path.with_extension("key.new");
        let _ = std::fs::remove_file(&tmp);
        let mut f = private_file(&tmp, true).map_err(err)?;
        f.write_all(self.to_file_text().as_bytes()).map_err(err)?;
        f.sync_all().map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }

    /// Adds a new signing key; the older ones keep verifying.
    pub fn rotate(&mut self) -> Result<&str, KeyError> {
        let k = fresh_key(self.keys.len() + 1)?;
        self.keys.push(k);
        Ok(self.current_id())
    }

    /// The ids of all keys, oldest first.
    /// Whether `other` holds the same keys under the same ids.
    pub fn same_as(&self, other: &Keys) -> bool {
        key_record(self) == key_record(other)
    }

    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// The id of the signing key.
    pub fn current_id(&self) -> &str {
        self.keys.last().map_or("", |k| k.id.as_str())
    }

    fn key(&self, id: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    fn sub_mac(key: &Key, purpose: Purpose) -> Option<HmacSha256> {
        let mut derive = HmacSha256::new_from_slice(&key.bytes).ok()?;
        derive.update(purpose.label());
        let sub = derive.finalize().into_bytes();
        HmacSha256::new_from_slice(&sub).ok()
    }

    /// The MAC of `msg` for `purpose` with the signing key: `(key id, tag)`.
    pub fn sign(&self, purpose: Purpose, msg: &[u8]) -> (String, [u8; 32]) {
        let id = self.current_id().to_string();
        let tag = self.tag(&id, purpose, msg).unwrap_or([0; 32]);
        (id, tag)
    }

    /// The MAC of `msg` for `purpose` with the key `id`, if this installation has it.
    pub fn tag(&self, id: &str, purpose: Purpose, msg: &[u8]) -> Option<[u8; 32]> {
        let mut m = Self::sub_mac(self.key(id)?, purpose)?;
        m.update(msg);
        Some(m.finalize().into_bytes().into())
    }

    /// Checks a MAC in constant time. An unknown key id never verifies.
    pub fn verify(&self, id: &str, purpose: Purpose, msg: &[u8], tag: &[u8]) -> bool {
        let Some(mut m) = self.key(id).and_then(|k| Self::sub_mac(k, purpose)) else {
            return false;
        };
        m.update(msg);
        m.verify_slice(tag).is_ok()
    }
}

/// The `Meta` key of a shared database's key record: key id → a MAC of a fixed message with
/// that key (so the record tells whether two nodes hold the same key, and reveals nothing).
pub(crate) const KEY_RECORD: &[u8] = b"keys";

/// Checks that a node's keys are the keys a shared database is used with, and adds keys the
/// node has and the record does not (after `verbund keys rotate`).
pub fn check_shared(
    store: &dyn crate::Store,
    keys: &Keys,
    path: &Path,
) -> crate::store::StoreResult<()> {
    use crate::store::{Expect, StoreError, Tree, WriteBatch};
    let ours = key_record(keys);
    for _ in 0..5 {
        let stored = store.get(Tree::Meta, KEY_RECORD)?;
        let record: BTreeMap<String, String> = stored
            .as_deref()
            .and_then(|v| serde_json::from_slice(v).ok())
            .unwrap_or_default();
        if let Some(why) = mismatch(&record, &ours, path) {
            return Err(StoreError::Keys(why));
        }
        if ours.keys().all(|id| record.contains_key(id)) {
            return Ok(());
        }
        let mut merged = record;
        merged.extend(ours.clone());
        let mut batch = WriteBatch::new();
        let expect = match stored {
            Some(v) => Expect::Equals(v),
            None => Expect::Absent,
        };
        batch.check(Tree::Meta, KEY_RECORD.to_vec(), expect);
        batch.put(
            Tree::Meta,
            KEY_RECORD.to_vec(),
            serde_json::to_vec(&merged).unwrap_or_default(),
        );
        match store.commit(batch) {
            Ok(_) => return Ok(()),
            Err(StoreError::CheckFailed { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A shared store's record of the keys of its installation: key id → MAC of a fixed message.
fn key_record(keys: &Keys) -> BTreeMap<String, String> {
    keys.keys
        .iter()
        .map(|k| {
            let tag = keys
                .tag(&k.id, Purpose::KeyCheck, b"verbund shared-store key check")
                .map(hex::encode)
                .unwrap_or_default();
            (k.id.clone(), tag)
        })
        .collect()
}

/// Why the keys `ours` (from the key file at `path`) are not the keys of a store whose record
/// is `record`: no key in common, or a key id in common with other key material.
fn mismatch(
    record: &BTreeMap<String, String>,
    ours: &BTreeMap<String, String>,
    path: &Path,
) -> Option<String> {
    if record.is_empty() {
        return None;
    }
    let common: Vec<&String> = record.keys().filter(|id| ours.contains_key(*id)).collect();
    if !common.is_empty() && common.iter().all(|id| record[*id] == ours[*id]) {
        return None;
    }
    Some(format!(
        "the store is used by nodes with the keys {}, but {} holds {}; copy verbund.key from a node of this installation to {} (all nodes need the same keys: they sign newsletter links and the audit chain)",
        record.keys().cloned().collect::<Vec<_>>().join(", "),
        path.display(),
        ours.keys().cloned().collect::<Vec<_>>().join(", "),
        path.display(),
    ))
}

/// Checks, without writing, that `keys` are the keys of the shared store `store` (a store that
/// records none, like every sled data dir, passes).
pub fn verify_shared(
    store: &dyn crate::Store,
    keys: &Keys,
    path: &Path,
) -> crate::store::StoreResult<()> {
    let stored = store.get(crate::store::Tree::Meta, KEY_RECORD)?;
    let record: BTreeMap<String, String> = stored
        .as_deref()
        .and_then(|v| serde_json::from_slice(v).ok())
        .unwrap_or_default();
    match mismatch(&record, &key_record(keys), path) {
        Some(why) => Err(crate::store::StoreError::Keys(why)),
        None => Ok(()),
    }
}

/// Creates a file only its owner can read and write (0600 on Unix).
pub fn private_file(path: &Path, create_new: bool) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true);
    if create_new {
        o.create_new(true);
    } else {
        o.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    o.open(path)
}

/// Makes a directory (and its parents) that only its owner can enter (0700 on Unix), or
/// narrows an existing one to that.
pub fn private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_bound_to_key_and_purpose() {
        let keys = Keys::ephemeral();
        let (id, tag) = keys.sign(Purpose::Backup, b"hello");
        assert!(keys.verify(&id, Purpose::Backup, b"hello", &tag));
        assert!(!keys.verify(&id, Purpose::Backup, b"hellO", &tag));
        assert!(!keys.verify(&id, Purpose::AuditChain, b"hello", &tag));
        assert!(!keys.verify("k9-unknown", Purpose::Backup, b"hello", &tag));
        let other = Keys::ephemeral();
        assert!(!other.verify(&id, Purpose::Backup, b"hello", &tag));
    }

    #[test]
    fn nodes_of_one_store_must_hold_the_same_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::SledStore::open(dir.path()).unwrap();
        let path = Path::new("/srv/node/verbund.key");
        let first = Keys::ephemeral();
        check_shared(&store, &first, path).unwrap();
        check_shared(&store, &first, path).unwrap();
        // A node that made a key of its own (its key file was not copied) is refused.
        let stranger = Keys::ephemeral();
        let err = check_shared(&store, &stranger, path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("copy verbund.key"), "{err}");
        // The same id with another secret (a forged or mixed-up file) is refused too.
        let mut forged = first.clone();
        forged.keys[0].bytes = vec![7; 32];
        assert!(check_shared(&store, &forged, path).is_err());
        // After `keys rotate` the node holds one more key: accepted and recorded.
        let mut rotated = first.clone();
        rotated.rotate().unwrap();
        check_shared(&store, &rotated, path).unwrap();
        check_shared(&store, &first, path).unwrap();
    }

    #[test]
    fn rotation_keeps_old_keys_verifying() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let mut keys = Keys::load_or_create(&path).unwrap();
        let (old_id, old_tag) = keys.sign(Purpose::NewsletterToken, b"x");
        keys.rotate().unwrap();
        keys.save(&path).unwrap();
        let again = Keys::load(&path).unwrap();
        assert_ne!(again.current_id(), old_id);
        assert!(again.verify(&old_id, Purpose::NewsletterToken, b"x", &old_tag));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!format!("{again:?}").contains(&again.keys[0].secret));
    }
}
