//! The keyed, hash-chained, append-only audit log.
//!
//! Each record's `hash` is an HMAC (with the installation's audit key, see [`crate::keys`]) over
//! the previous record's hash and the record itself. Without the key file nobody can re-chain
//! the log after dropping or changing a record — not from a backup file, not by editing the
//! store — and `verify` notices.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AuthError, AuthService};
use crate::keys::{Keys, Purpose};
use crate::store::{Tree, WriteBatch};

/// The `meta` key holding the last record's sequence number and hash.
pub const HEAD_KEY: &[u8] = b"audit_head";

/// One audited action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditRecord {
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// The id of the token that acted (or `cli` for offline commands).
    pub actor: String,
    /// e.g. `entry.create`, `entry.update`, `entry.transition`, `token.create`.
    pub action: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_before: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_after: Option<u64>,
    /// A short, non-personal note (e.g. the target state of a transition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub prev_hash: String,
    /// The id of the installation key the record's MAC was made with.
    #[serde(default)]
    pub key_id: String,
    #[serde(default)]
    pub hash: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

impl AuditRecord {
    /// A record to append; `seq`, `prev_hash` and `hash` are filled in by [`chain`].
    pub fn draft(actor: &str, action: &str) -> Self {
        AuditRecord {
            seq: 0,
            at: Utc::now(),
            actor: actor.to_string(),
            action: action.to_string(),
            ty: None,
            id: None,
            version_before: None,
            version_after: None,
            detail: None,
            prev_hash: String::new(),
            key_id: String::new(),
            hash: String::new(),
        }
    }

    /// What the MAC covers: the previous hash and the record without its own hash.
    fn mac_input(&self) -> Vec<u8> {
        let unhashed = AuditRecord {
            hash: String::new(),
            ..self.clone()
        };
        let mut msg = self.prev_hash.as_bytes().to_vec();
        msg.push(b'\n');
        msg.extend_from_slice(&serde_json::to_vec(&unhashed).unwrap_or_default());
        msg
    }

    /// Whether the record's hash is the MAC of its content under a key of `keys`.
    fn verifies(&self, keys: &Keys) -> bool {
        hex::decode(&self.hash).is_ok_and(|tag| {
            keys.verify(&self.key_id, Purpose::AuditChain, &self.mac_input(), &tag)
        })
    }
}

fn record_key(seq: u64) -> Vec<u8> {
    seq.to_be_bytes().to_vec()
}

/// Links `draft` to the chain whose head is `head` (the stored head bytes, if any). Returns
/// the writes: the record and the new head.
pub fn chain(
    keys: &Keys,
    head: Option<&[u8]>,
    mut draft: AuditRecord,
) -> Vec<(Tree, Vec<u8>, Vec<u8>)> {
    let head: Option<Head> = head.and_then(|h| serde_json::from_slice(h).ok());
    draft.seq = head.as_ref().map_or(1, |h| h.seq + 1);
    draft.prev_hash = head.map_or_else(|| "0".repeat(64), |h| h.hash);
    draft.key_id = keys.current_id().to_string();
    draft.hash = String::new();
    let (_, tag) = keys.sign(Purpose::AuditChain, &draft.mac_input());
    draft.hash = hex::encode(tag);
    let new_head = Head {
        seq: draft.seq,
        hash: draft.hash.clone(),
    };
    vec![
        (
            Tree::Audit,
            record_key(draft.seq),
            serde_json::to_vec(&draft).unwrap_or_default(),
        ),
        (
            Tree::Meta,
            HEAD_KEY.to_vec(),
            serde_json::to_vec(&new_head).unwrap_or_default(),
        ),
    ]
}

/// Chains `draft` into the audit log when `batch` commits, after the head the log has then
/// (see [`WriteBatch::derive`]): writers append without checking the head, so concurrent
/// writers on several nodes do not fail each other's commits.
pub fn append(batch: &mut WriteBatch, keys: std::sync::Arc<Keys>, draft: AuditRecord) {
    batch.derive(Tree::Meta, HEAD_KEY.to_vec(), move |head| {
        chain(&keys, head, draft.clone())
    });
}

/// The result of checking the chain.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub records: u64,
    pub problems: Vec<String>,
}

impl AuthService {
    /// Appends one record in a batch of its own (for actions that change nothing, e.g. reads
    /// of personal data).
    pub fn audit(&self, draft: AuditRecord) -> Result<(), AuthError> {
        self.commit_audited(WriteBatch::new(), draft)
    }

    /// Commits `batch` and chains `draft` into the audit log in the same atomic commit: the
    /// change and its record are stored together or not at all. The record is linked to the
    /// head the log has at commit time, so concurrent audited writes never conflict; a failed
    /// check of `batch` is the caller's answer.
    pub fn commit_audited(&self, batch: WriteBatch, draft: AuditRecord) -> Result<(), AuthError> {
        let mut b = batch;
        append(&mut b, self.keys.clone(), draft);
        self.store.commit(b)?;
        Ok(())
    }

    /// Audit records with `seq > since`, oldest first.
    pub fn audit_records(&self, since: u64, limit: usize) -> Result<Vec<AuditRecord>, AuthError> {
        let start = record_key(since.saturating_add(1));
        let end = record_key(u64::MAX);
        self.store
            .scan_range(Tree::Audit, &start, &end, false, limit)?
            .into_iter()
            .map(|(_, v)| serde_json::from_slice(&v).map_err(|e| AuthError::Corrupt(e.to_string())))
            .collect()
    }

    /// Walks the whole chain: sequence numbers, links and hashes, and the head.
    pub fn verify_audit(&self) -> Result<AuditReport, AuthError> {
        let mut problems = Vec::new();
        let mut expected_seq = 1;
        let mut prev = "0".repeat(64);
        let mut n = 0;
        for (k, v) in self
            .store
            .scan_prefix(Tree::Audit, b"", false, usize::MAX)?
        {
            n += 1;
            let key_seq = <[u8; 8]>::try_from(k.as_slice())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            let rec: AuditRecord = match serde_json::from_slice(&v) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(format!("record {key_seq} cannot be read: {e}"));
                    continue;
                }
            };
            if rec.seq != key_seq {
                problems.push(format!(
                    "record stored at {key_seq} says it is record {}",
                    rec.seq
                ));
            }
            if rec.seq != expected_seq {
                problems.push(format!(
                    "record {expected_seq} is missing (next is {})",
                    rec.seq
                ));
            }
            if rec.prev_hash != prev {
                problems.push(format!(
                    "record {} does not link to the record before it",
                    rec.seq
                ));
            }
            if !rec.verifies(&self.keys) {
                problems.push(if self.keys.ids().contains(&rec.key_id.as_str()) {
                    format!(
                        "record {} was changed after it was written (its MAC does not match)",
                        rec.seq
                    )
                } else {
                    format!(
                        "record {} is not signed with a key of this installation (key {:?}); it was forged, or the key file is not the one this log was written with",
                        rec.seq, rec.key_id
                    )
                });
            }
            prev = rec.hash.clone();
            expected_seq = rec.seq + 1;
        }
        let head: Option<Head> = self
            .store
            .get(Tree::Meta, HEAD_KEY)?
            .and_then(|h| serde_json::from_slice(&h).ok());
        match head {
            Some(h) if h.seq != expected_seq - 1 || h.hash != prev => problems.push(format!(
                "the log ends at record {} but its head says {}: records were removed from the end",
                expected_seq - 1,
                h.seq
            )),
            None if n > 0 => problems.push("the log has records but no head".into()),
            _ => {}
        }
        Ok(AuditReport {
            records: n,
            problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Expect, SledStore, Store};
    use std::sync::Arc;

    fn service() -> (AuthService, Arc<dyn Store>, tempfile::TempDir) {
        let tmp = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SledStore::open(tmp.path()).unwrap());
        let auth = AuthService::new(store.clone(), Arc::new(crate::keys::Keys::ephemeral()));
        (auth, store, tmp)
    }

    /// A change and its audit record are stored together or not at all.
    #[test]
    fn an_audited_write_commits_with_its_record_or_not_at_all() {
        let (auth, store, _tmp) = service();
        let mut ok = WriteBatch::new();
        ok.put(Tree::Tokens, b"t1".to_vec(), b"eins".to_vec());
        auth.commit_audited(ok, AuditRecord::draft("admin", "token.create"))
            .unwrap();
        assert_eq!(
            store.get(Tree::Tokens, b"t1").unwrap().as_deref(),
            Some(&b"eins"[..])
        );
        assert_eq!(auth.audit_records(0, 10).unwrap().len(), 1);

        // A write whose own check fails leaves no record behind.
        let mut refused = WriteBatch::new();
        refused.check(Tree::Tokens, b"t1".to_vec(), Expect::Absent);
        refused.put(Tree::Tokens, b"t1".to_vec(), b"zwei".to_vec());
        let err = auth
            .commit_audited(refused, AuditRecord::draft("admin", "token.create"))
            .unwrap_err();
        assert!(err.to_string().contains("t1"), "{err}");
        assert_eq!(
            store.get(Tree::Tokens, b"t1").unwrap().as_deref(),
            Some(&b"eins"[..])
        );
        assert_eq!(auth.audit_records(0, 10).unwrap().len(), 1);

        // Audited writes from many threads: every change has its record, the chain holds.
        std::thread::scope(|s| {
            for n in 0..8 {
                let auth = &auth;
                s.spawn(move || {
                    let mut b = WriteBatch::new();
                    b.put(Tree::Tokens, format!("p{n}").into_bytes(), b"x".to_vec());
                    auth.commit_audited(b, AuditRecord::draft("admin", "plugin.configure"))
                        .unwrap();
                });
            }
        });
        assert_eq!(auth.audit_records(0, 100).unwrap().len(), 9);
        let report = auth.verify_audit().unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.records, 9);
    }
}
