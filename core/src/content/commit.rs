//! Committing a write plan: the audit record and the change event that go with a write, the
//! editors' lifecycle indexes, and the retry loop that plans again after a conflict. Shared
//! by every write (create, update, delete, transitions, GDPR erasure, imports).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::entry::EntryRecord;
use super::keys::{self, SCOPE_CURRENT};
use super::plan::Plan;
use super::{ContentError, ContentResult, ContentService};
use crate::schema::{ContentType, FieldKind};
use crate::store::{StoreError, Tree};

/// Plans tried before a write gives up on conflicts.
const MAX_ATTEMPTS: usize = 32;

pub(super) fn parse_record(bytes: &[u8]) -> ContentResult<EntryRecord> {
    EntryRecord::from_bytes(bytes).map_err(ContentError::Corrupt)
}

/// The index keys of an entry's current version: the lifecycle metadata editors list by
/// (`c{type}\0{field}\0…` for `state`, `updated_at` and `created_at`). The published view has
/// its own index (see `public_index`).
pub(super) fn index_keys(rec: &EntryRecord) -> BTreeSet<Vec<u8>> {
    let mut out = Vec::new();
    let instant = |t: &DateTime<Utc>| Value::String(t.to_rfc3339());
    for (field, kind, value) in [
        ("state", FieldKind::String, Value::String(rec.state.clone())),
        ("updated_at", FieldKind::DateTime, instant(&rec.updated_at)),
        ("created_at", FieldKind::DateTime, instant(&rec.created_at)),
    ] {
        keys::index_keys_for(
            &keys::index_prefix(SCOPE_CURRENT, &rec.ty, field),
            kind,
            None,
            &value,
            &rec.id,
            &mut out,
        );
    }
    out.into_iter().collect()
}

/// Notes the audit record of a management write (one with an actor); `commit_plan` chains it
/// into the log in the same batch.
pub(super) fn audit(
    plan: &mut Plan,
    actor: Option<&str>,
    action: &str,
    (ty, id): (String, String),
    (before, after): (Option<u64>, Option<u64>),
    detail: Option<String>,
) {
    if let Some(actor) = actor {
        let mut a = crate::auth::AuditRecord::draft(actor, action);
        a.ty = Some(ty);
        a.id = Some(id);
        a.version_before = before;
        a.version_after = after;
        a.detail = detail;
        plan.audit = Some(a);
    }
}

pub(super) fn change_event(
    op: &str,
    rec: &EntryRecord,
    public: bool,
    at: DateTime<Utc>,
) -> Vec<u8> {
    transition_event(op, rec, None, public, at)
}

/// A change event; `from` is the state before a transition. The event is the outbox of
/// everything that follows the store (webhooks, the live stream, other nodes' caches): it is
/// written in the commit of the change, so it carries what they need to tell what happened.
pub(super) fn transition_event(
    op: &str,
    rec: &EntryRecord,
    from: Option<&str>,
    public: bool,
    at: DateTime<Utc>,
) -> Vec<u8> {
    let mut event = json!({
        "op": op,
        "type": rec.ty,
        "id": rec.id,
        "locale": rec.locale,
        "version": rec.version,
        "state": rec.state,
        "published_version": rec.published_version,
        "public": public,
        "at": at.to_rfc3339(),
    });
    if let Some(from) = from {
        event["from"] = json!(from);
    }
    serde_json::to_vec(&event).unwrap_or_default()
}

impl ContentService {
    /// Whether a change event is about an entry of a type that is personal data as a whole.
    pub(super) fn is_personal_change(&self, payload: &[u8]) -> bool {
        #[derive(serde::Deserialize)]
        struct Head<'a> {
            #[serde(rename = "type", borrow)]
            ty: std::borrow::Cow<'a, str>,
        }
        serde_json::from_slice::<Head<'_>>(payload)
            .ok()
            .and_then(|h| self.schemas.get(&h.ty).map(|ct| !ct.is_public()))
            .unwrap_or(false)
    }

    /// Runs `f` on fresh plans until its batch commits without a conflict.
    pub(super) fn commit_plan<T>(
        &self,
        mut f: impl FnMut(&mut Plan) -> ContentResult<T>,
    ) -> ContentResult<T> {
        for _ in 0..MAX_ATTEMPTS {
            let mut plan = Plan::new(self.store.as_ref());
            let out = f(&mut plan)?;
            if let Some(draft) = plan.audit.take() {
                crate::auth::append_audit(&mut plan.batch, self.keys.clone(), draft);
            }
            // Personal types (subscribers) never enter the change feed: its sequence numbers
            // are public, and a sign-up must not move them (nobody may learn from the feed
            // that someone signed up or confirmed).
            plan.batch.changes.retain(|c| !self.is_personal_change(c));
            let public = plan
                .batch
                .writes
                .iter()
                .any(|(t, _, _)| *t == Tree::Published);
            match self.store.commit(plan.into_batch()) {
                Ok(committed) => {
                    if public {
                        self.public_generation
                            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                    }
                    self.saw_own_commit(committed);
                    return Ok(out);
                }
                // A check failed, or the database gave up ordering it: plan again.
                Err(StoreError::CheckFailed { .. } | StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ContentError::Contended)
    }

    pub(super) fn read_current(
        &self,
        plan: &mut Plan,
        ct: &ContentType,
        id: &str,
    ) -> ContentResult<EntryRecord> {
        match plan.read(Tree::Entries, &keys::entry(&ct.name, id))? {
            Some(bytes) => parse_record(&bytes),
            None => Err(ContentError::NotFound {
                ty: ct.name.clone(),
                id: id.to_string(),
            }),
        }
    }

    /// [`Self::read_current`], refused with a version conflict when `expected` is given and
    /// is not the current version.
    pub(super) fn read_current_at(
        &self,
        plan: &mut Plan,
        ct: &ContentType,
        id: &str,
        expected: Option<u64>,
    ) -> ContentResult<EntryRecord> {
        let old = self.read_current(plan, ct, id)?;
        match expected {
            Some(expected) if expected != old.version => Err(ContentError::VersionConflict {
                expected,
                current: old.version,
            }),
            _ => Ok(old),
        }
    }
}

pub(super) fn replace_index_keys(plan: &mut Plan, old: &EntryRecord, new: &EntryRecord) {
    let before = index_keys(old);
    let after = index_keys(new);
    for k in before.difference(&after) {
        plan.remove(Tree::Index, k.clone());
    }
    for k in after.difference(&before) {
        plan.put(Tree::Index, k.clone(), Vec::new());
    }
}
