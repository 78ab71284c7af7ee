//! Backups: a consistent snapshot of a whole data dir in one file, and its checked restore.
//!
//! The file is text, one record per line, so that it streams, compresses well and can be
//! inspected with standard tools:
//!
//! ```text
//! {"verbund_backup":1,"store_format":1,"created_at":"…"}
//! entries<TAB>base64(key)<TAB>base64(value)
//! …
//! {"end":true,"records":1234,"last_seq":42,"sha256":"<hex of every byte before this line>","key_id":"k1-…","mac":"<hex>"}
//! ```
//!
//! A restore reads and checks the whole file (header, every line, record count, checksum and
//! the MAC of the end record under the installation's backup key) before it writes anything,
//! writes into a fresh directory beside the target, and only then moves it into place.
//!
//! What a backup never holds: the installation's keys (they live in the key file beside the
//! store, see [`crate::keys`]), the compiled-plugin cache (native code; a restored server
//! compiles the stored components again) and secrets of older releases kept in the store. So a
//! backup file can neither forge links nor carry code into a server, and a changed backup is
//! refused because its MAC cannot be recomputed without the key file.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::keys::{Keys, Purpose};
use crate::store::{FORMAT_VERSION, SledStore, Store, StoreError, Tree, WriteBatch};

/// Whether a stored pair is left out of backups (and refused in restores): compiled plugin
/// code, which the server would map and run, and secrets an older release kept in the store.
pub fn excluded(tree: Tree, key: &[u8]) -> bool {
    match tree {
        Tree::Plugins => key.starts_with(crate::plugin::COMPILED_KEY_PREFIX),
        Tree::Meta => key == b"newsletter_secret",
        _ => false,
    }
}

/// What the MAC of a backup covers: its checksum, record count and last sequence number.
fn mac_input(sha: &str, records: u64, last_seq: u64) -> Vec<u8> {
    format!("verbund-backup\n{sha}\n{records}\n{last_seq}").into_bytes()
}

/// The backup file format this build writes and reads.
pub const BACKUP_VERSION: u64 = 1;

/// What a backup or restore handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupSummary {
    pub records: u64,
    pub bytes: u64,
    pub last_seq: u64,
}

/// Why a backup file cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Invalid(String),
    #[error("could not read the backup: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counts bytes and hashes them on their way to `inner`.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a consistent snapshot of `store` to `out`. Commits wait while the snapshot is read;
/// reads go on.
pub fn write_backup(
    store: &dyn Store,
    keys: &Keys,
    out: impl Write,
) -> Result<BackupSummary, BackupError> {
    let mut w = Hashing {
        inner: std::io::BufWriter::with_capacity(1 << 20, out),
        hash: Sha256::new(),
        bytes: 0,
    };
    let header = json!({
        "verbund_backup": BACKUP_VERSION,
        "store_format": FORMAT_VERSION,
        "created_at": chrono::Utc::now().to_rfc3339(),
    });
    writeln!(w, "{header}")?;
    let mut last_seq = 0;
    let mut line: Vec<u8> = Vec::new();
    let mut records = 0u64;
    store.snapshot(&mut |tree, key, value| {
        if tree == Tree::Meta
            && key == b"seq"
            && let Ok(b) = <[u8; 8]>::try_from(value)
        {
            last_seq = u64::from_be_bytes(b);
        }
        if excluded(tree, key) {
            return Ok(());
        }
        records += 1;
        line.clear();
        line.extend_from_slice(tree.name().as_bytes());
        line.push(b'\t');
        line.extend_from_slice(B64.encode(key).as_bytes());
        line.push(b'\t');
        line.extend_from_slice(B64.encode(value).as_bytes());
        line.push(b'\n');
        w.write_all(&line)
    })?;
    let sha = hex::encode(w.hash.clone().finalize());
    let bytes = w.bytes;
    let (key_id, mac) = keys.sign(Purpose::Backup, &mac_input(&sha, records, last_seq));
    writeln!(
        w.inner,
        "{}",
        json!({ "end": true, "records": records, "last_seq": last_seq, "sha256": sha, "key_id": key_id, "mac": hex::encode(mac) })
    )?;
    w.inner.flush()?;
    Ok(BackupSummary {
        records,
        bytes,
        last_seq,
    })
}

/// One checked record of a backup file.
type Record = (Tree, Vec<u8>, Vec<u8>);

/// A backup file read and checked for integrity (not yet for authenticity).
#[derive(Debug)]
pub struct BackupFile {
    pub header: Value,
    pub trailer: Value,
    pub records: Vec<Record>,
}

impl BackupFile {
    /// Checks that this installation made the backup and nobody changed it since: the end
    /// record's MAC must verify under `keys`.
    pub fn authenticate(&self, keys: &Keys) -> Result<(), BackupError> {
        let sha = self.trailer["sha256"].as_str().unwrap_or_default();
        let records = self.trailer["records"].as_u64().unwrap_or_default();
        let last_seq = self.trailer["last_seq"].as_u64().unwrap_or_default();
        let key_id = self.trailer["key_id"].as_str().unwrap_or_default();
        let mac = hex::decode(self.trailer["mac"].as_str().unwrap_or_default()).unwrap_or_default();
        if key_id.is_empty() || mac.is_empty() {
            return Err(BackupError::Invalid(
                "the backup carries no MAC (it was made by an older release or changed); it cannot be authenticated".into(),
            ));
        }
        if !keys.ids().contains(&key_id) {
            return Err(BackupError::Invalid(format!(
                "the backup was signed with key {key_id:?}, which is not in this key file (it holds {}); pass the key file of the installation that made it with --keys",
                keys.ids().join(", ")
            )));
        }
        if !keys.verify(
            key_id,
            Purpose::Backup,
            &mac_input(sha, records, last_seq),
            &mac,
        ) {
            return Err(BackupError::Invalid(
                "the backup was changed after it was made: its MAC does not verify with the installation key".into(),
            ));
        }
        if let Some((tree, _, _)) = self.records.iter().find(|(t, k, _)| excluded(*t, k)) {
            return Err(BackupError::Invalid(format!(
                "the backup holds a record that backups never hold (compiled code or a secret in {})",
                tree.name()
            )));
        }
        Ok(())
    }
}

/// Reads and checks a whole backup file: header, every record line, count and checksum.
pub fn read_backup(input: impl BufRead) -> Result<BackupFile, BackupError> {
    let bad = |line: usize, what: String| {
        BackupError::Invalid(format!(
            "the backup is damaged or cut off at line {line}: {what}"
        ))
    };
    let mut hash = Sha256::new();
    let mut header: Option<Value> = None;
    let mut records = Vec::new();
    let mut trailer: Option<Value> = None;
    for (i, line) in input.split(b'\n').enumerate() {
        let line = line?;
        let n = i + 1;
        if trailer.is_some() {
            if line.is_empty() {
                continue;
            }
            return Err(bad(n, "there is data after the end record".into()));
        }
        if header.is_none() {
            let h: Value = serde_json::from_slice(&line).map_err(|_| {
                BackupError::Invalid(
                    "this is not a Verbund backup (the first line is not its header)".into(),
                )
            })?;
            match h["verbund_backup"].as_u64() {
                Some(BACKUP_VERSION) => {}
                Some(v) => {
                    return Err(BackupError::Invalid(format!(
                        "the backup has format {v}; this build of Verbund restores format {BACKUP_VERSION}"
                    )));
                }
                None => {
                    return Err(BackupError::Invalid(
                        "this is not a Verbund backup (its header lacks \"verbund_backup\")".into(),
                    ));
                }
            }
            if h["store_format"].as_u64() != Some(u64::from(FORMAT_VERSION)) {
                return Err(BackupError::Invalid(format!(
                    "the backup holds a data dir of format {}, this build reads format {FORMAT_VERSION}; restore it with the Verbund release that made it",
                    h["store_format"]
                )));
            }
            hash.update(&line);
            hash.update(b"\n");
            header = Some(h);
            continue;
        }
        if line.first() == Some(&b'{') {
            let t: Value = serde_json::from_slice(&line)
                .map_err(|e| bad(n, format!("the end record is not valid JSON: {e}")))?;
            trailer = Some(t);
            continue;
        }
        hash.update(&line);
        hash.update(b"\n");
        let mut parts = line.split(|b| *b == b'\t');
        let (Some(t), Some(k), Some(v), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad(n, "expected three tab-separated fields".into()));
        };
        let name = String::from_utf8_lossy(t);
        let tree =
            Tree::from_name(&name).ok_or_else(|| bad(n, format!("unknown tree {name:?}")))?;
        let key = B64
            .decode(k)
            .map_err(|e| bad(n, format!("the key is not base64: {e}")))?;
        let value = B64
            .decode(v)
            .map_err(|e| bad(n, format!("the value is not base64: {e}")))?;
        records.push((tree, key, value));
    }
    let header = header.ok_or_else(|| BackupError::Invalid("the backup file is empty".into()))?;
    let trailer = trailer.ok_or_else(|| {
        BackupError::Invalid(
            "the backup is incomplete: its end record is missing (was the copy cut off?)".into(),
        )
    })?;
    if trailer["records"].as_u64() != Some(records.len() as u64) {
        return Err(BackupError::Invalid(format!(
            "the backup is incomplete: its end record counts {} records, the file holds {}",
            trailer["records"],
            records.len()
        )));
    }
    let sha = hex::encode(hash.finalize());
    if trailer["sha256"].as_str() != Some(sha.as_str()) {
        return Err(BackupError::Invalid(
            "the backup is damaged: its checksum does not match its content".into(),
        ));
    }
    Ok(BackupFile {
        header,
        trailer,
        records,
    })
}

/// Writes an authenticated backup into a new data dir at `dir` (which must not exist yet),
/// with the key file `keys` (the installation's keys go with its data).
pub fn restore_into(
    dir: &Path,
    file: BackupFile,
    keys: &Keys,
) -> Result<BackupSummary, BackupError> {
    if dir.exists() {
        return Err(BackupError::Invalid(format!(
            "{} already exists; restore into a new directory",
            dir.display()
        )));
    }
    file.authenticate(keys)?;
    let records = file.records;
    let store = SledStore::open(dir)?;
    crate::keys::private_dir(dir)?;
    keys.save(&Keys::path_in(dir))
        .map_err(|e| BackupError::Invalid(e.to_string()))?;
    let total = records.len() as u64;
    let mut bytes = 0;
    let mut batch = WriteBatch::new();
    let mut batch_bytes = 0usize;
    for (tree, key, value) in records {
        batch_bytes += key.len() + value.len();
        bytes += (key.len() + value.len()) as u64;
        batch.put(tree, key, value);
        if batch_bytes > 8 << 20 || batch.writes.len() >= 20_000 {
            store.commit(std::mem::take(&mut batch))?;
            batch_bytes = 0;
        }
    }
    store.commit(batch)?;
    let last_seq = store.last_seq()?;
    Ok(BackupSummary {
        records: total,
        bytes,
        last_seq,
    })
}

/// Where a restore writes before it moves the result into place.
pub fn staging_dir(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    target.with_file_name(format!(".{name}.restoring"))
}
