//! Creating, updating, publishing and deleting entries: each one write plan, one batch.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::entry::{EntryRecord, NewEntry, RECORD_FORMAT, State, render_public};
use super::keys::{self, SCOPE_CURRENT, SCOPE_PUBLISHED};
use super::plan::Plan;
use super::public_index::{self, public_index};
use super::{ContentError, ContentResult, ContentService};
use crate::schema::{ContentType, FieldError, FieldKind};
use crate::store::{StoreError, Tree};
use crate::workflow::{HistoryItem, HistoryKind};

const MAX_ATTEMPTS: usize = 32;

/// `{target type, target id}` → the fields of the source that reference it.
type RefMap = BTreeMap<(String, String), Vec<String>>;

/// Whether `s` looks like a ULID: 26 characters of Crockford base32, first one 0–7.
pub(super) fn is_valid_id(s: &str) -> bool {
    s.len() == keys::ID_LEN
        && s.starts_with(|c: char| ('0'..='7').contains(&c))
        && s.bytes().all(|b| {
            b.is_ascii_digit()
                || (b.is_ascii_uppercase() && !matches!(b, b'I' | b'L' | b'O' | b'U'))
        })
}

pub(super) fn is_valid_locale(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() == 2 && b.iter().all(u8::is_ascii_lowercase))
        || (b.len() == 5
            && b[..2].iter().all(u8::is_ascii_lowercase)
            && b[2] == b'-'
            && b[3..].iter().all(u8::is_ascii_uppercase))
}

fn parse_record(bytes: &[u8]) -> ContentResult<EntryRecord> {
    EntryRecord::from_bytes(bytes).map_err(ContentError::Corrupt)
}

/// The references a record's fields make, by target.
fn refs_of(ct: &ContentType, data: &serde_json::Map<String, Value>) -> RefMap {
    let mut out = RefMap::new();
    for (field, target) in ct.reference_fields() {
        let ids: Vec<&str> = match data.get(field) {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for id in ids {
            let fields = out.entry((target.to_string(), id.to_string())).or_default();
            if !fields.iter().any(|f| f == field) {
                fields.push(field.to_string());
            }
        }
    }
    out
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
    serde_json::to_vec(&json!({
        "op": op,
        "type": rec.ty,
        "id": rec.id,
        "version": rec.version,
        "state": rec.state,
        "public": public,
        "at": at.to_rfc3339(),
    }))
    .unwrap_or_default()
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
                let head = plan.read(Tree::Meta, crate::auth::audit_head_key())?;
                for (tree, key, value) in crate::auth::chain(&self.keys, head.as_deref(), draft) {
                    plan.put(tree, key, value);
                }
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
            match self.store.commit(plan.batch) {
                Ok(_) => {
                    if public {
                        self.public_generation
                            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                    }
                    return Ok(out);
                }
                Err(StoreError::CheckFailed { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ContentError::Contended)
    }

    /// Creates an entry (a draft unless `new.state` says `published`).
    pub fn create(
        &self,
        ty: &str,
        new: NewEntry,
        actor: Option<&str>,
    ) -> ContentResult<EntryRecord> {
        let ct = self.content_type(ty)?.clone();
        let errors = ct.validate(&new.data);
        if !errors.is_empty() {
            return Err(ContentError::Invalid { errors });
        }
        let id = new.id.clone().unwrap_or_else(|| self.new_id());
        let now = Utc::now();
        if self.hooks().is_some_and(|h| h.validates(&ct)) {
            let candidate = EntryRecord {
                format: RECORD_FORMAT,
                id: id.clone(),
                ty: ct.name.clone(),
                locale: new.locale.clone().unwrap_or_else(|| "de".into()),
                state: new.state.clone().unwrap_or_else(|| State::DRAFT.into()),
                version: 1,
                published_version: None,
                created_at: now,
                updated_at: now,
                published_at: new.published_at,
                translation_of: new.translation_of.clone(),
                created_by: actor.map(String::from),
                updated_by: actor.map(String::from),
                data: new.data.as_object().cloned().unwrap_or_default(),
                scheduled: None,
            };
            self.run_validators(&ct, &candidate)?;
        }
        self.commit_plan(|plan| {
            let mut errors = Vec::new();
            let rec = self.plan_create(plan, &ct, &new, &id, actor, now, &mut errors)?;
            self.plan_history(
                plan,
                ty,
                &id,
                &HistoryItem::change(
                    HistoryKind::Create,
                    None,
                    ("", &rec.state),
                    actor,
                    rec.version,
                    now,
                ),
            );
            audit(
                plan,
                actor,
                "entry.create",
                (ct.name.clone(), rec.id.clone()),
                (None, Some(rec.version)),
                None,
            );
            if errors.is_empty() {
                Ok(rec)
            } else {
                Err(ContentError::Invalid { errors })
            }
        })
    }

    /// Adds the writes of one new entry to `plan`. Problems that depend on the store (slug
    /// taken, reference missing) are pushed to `errors`; nothing is planned then.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn plan_create(
        &self,
        plan: &mut Plan,
        ct: &ContentType,
        new: &NewEntry,
        id: &str,
        actor: Option<&str>,
        now: DateTime<Utc>,
        errors: &mut Vec<FieldError>,
    ) -> ContentResult<EntryRecord> {
        let start = errors.len();
        let ty = ct.name.as_str();
        if !is_valid_id(id) {
            errors.push(FieldError::new(
                "/id",
                format!("{id:?} is not an entry id (26 characters of Crockford base32, a ULID)"),
            ));
        } else if new.id.is_some() && plan.read(Tree::Entries, &keys::entry(ty, id))?.is_some() {
            errors.push(FieldError::new(
                "/id",
                format!("an entry with id {id} already exists"),
            ));
        }
        let locale = new.locale.clone().unwrap_or_else(|| "de".into());
        if !is_valid_locale(&locale) {
            errors.push(FieldError::new(
                "/locale",
                format!("{locale:?} is not a locale like \"de\", \"en\" or \"de-AT\""),
            ));
        }
        let state = new.state.clone().unwrap_or_else(|| State::DRAFT.into());
        if state != State::DRAFT && state != State::PUBLISHED && state != State::ARCHIVED {
            errors.push(FieldError::new(
                "/state",
                format!(
                    "a new entry starts as \"draft\", \"published\" or (in imports) \"archived\", not {state:?}"
                ),
            ));
        }
        let data = new.data.as_object().cloned().unwrap_or_default();
        let mut rec = EntryRecord {
            format: RECORD_FORMAT,
            id: id.to_string(),
            ty: ty.to_string(),
            locale,
            state: State::DRAFT.into(),
            version: 1,
            published_version: None,
            created_at: now,
            updated_at: now,
            published_at: new.published_at,
            translation_of: None,
            created_by: actor.map(String::from),
            updated_by: actor.map(String::from),
            data,
            scheduled: None,
        };
        self.check_slug(plan, ct, &rec, SCOPE_CURRENT, errors)?;
        let public = state == State::PUBLISHED;
        if public && ct.is_public() {
            self.check_slug(plan, ct, &rec, SCOPE_PUBLISHED, errors)?;
        }
        let refs = refs_of(ct, &rec.data);
        self.check_refs_exist(plan, &refs, &rec.data, errors)?;
        if let Some(orig) = &new.translation_of {
            rec.translation_of = self.check_translation(plan, ct, orig, &rec.locale, errors)?;
        }
        if errors.len() > start {
            return Ok(rec);
        }

        let entry_key = keys::entry(ty, id);
        if let Some(slug) = rec.slug(ct) {
            plan.put(
                Tree::Slugs,
                keys::slug(SCOPE_CURRENT, ty, &rec.locale, slug),
                id.as_bytes().to_vec(),
            );
        }
        self.add_refs(plan, ct, id, &refs)?;
        if let Some(orig) = rec.translation_of.clone() {
            self.add_refs(
                plan,
                ct,
                id,
                &RefMap::from([((ty.to_string(), orig), vec!["translation_of".to_string()])]),
            )?;
        }
        plan.add_counter(Tree::Meta, &keys::count_key(SCOPE_CURRENT, ty), 1)?;
        if public {
            rec.state = State::PUBLISHED.into();
            self.plan_publish(plan, ct, &mut rec, None, now, errors)?;
            if errors.len() > start {
                return Ok(rec);
            }
        }
        if state == State::ARCHIVED {
            rec.state = State::ARCHIVED.into();
        }
        for k in index_keys(&rec) {
            plan.put(Tree::Index, k, Vec::new());
        }
        // The current version lives in `entries`; `revisions` receives it once superseded.
        plan.put(Tree::Entries, entry_key, rec.to_bytes());
        plan.change(change_event("create", &rec, public, now));
        Ok(rec)
    }

    /// Replaces the fields of an entry. `expected_version` guards against lost updates.
    pub fn update(
        &self,
        ty: &str,
        id: &str,
        expected_version: Option<u64>,
        data: Value,
        actor: Option<&str>,
    ) -> ContentResult<EntryRecord> {
        let ct = self.content_type(ty)?.clone();
        let errors = ct.validate(&data);
        if !errors.is_empty() {
            return Err(ContentError::Invalid { errors });
        }
        let now = Utc::now();
        let data = data.as_object().cloned().unwrap_or_default();
        let (_, lifecycle) = self.lifecycle(&ct);
        if self.hooks().is_some_and(|h| h.validates(&ct)) {
            let mut candidate = self.get(ty, id)?;
            candidate.data = data.clone();
            candidate.version += 1;
            candidate.updated_at = now;
            candidate.updated_by = actor.map(String::from);
            self.run_validators(&ct, &candidate)?;
        }
        self.commit_plan(|plan| {
            let old = self.read_current(plan, &ct, id)?;
            if let Some(expected) = expected_version
                && expected != old.version
            {
                return Err(ContentError::VersionConflict {
                    expected,
                    current: old.version,
                });
            }
            let mut rec = old.clone();
            rec.data = data.clone();
            rec.version = old.version + 1;
            rec.updated_at = now;
            rec.updated_by = actor.map(String::from);
            // An edit may move the entry (e.g. back to review after an approval); the public
            // version stays as it is, and a pending schedule is dropped.
            let on_edit = lifecycle.on_edit(&old.state).cloned();
            if let Some(t) = &on_edit {
                rec.state = t.to_state.clone();
                if let Some(s) = &old.scheduled {
                    plan.remove(Tree::Meta, keys::schedule(s.at.timestamp_millis(), ty, id));
                    rec.scheduled = None;
                }
            }
            self.plan_history(
                plan,
                ty,
                id,
                &HistoryItem::change(
                    HistoryKind::Edit,
                    on_edit.as_ref().map(|t| t.name.as_str()),
                    (&old.state, &rec.state),
                    actor,
                    rec.version,
                    now,
                ),
            );

            let mut errors = Vec::new();
            if rec.slug(&ct) != old.slug(&ct) {
                self.check_slug(plan, &ct, &rec, SCOPE_CURRENT, &mut errors)?;
            }
            let old_refs = refs_of(&ct, &old.data);
            let new_refs = refs_of(&ct, &rec.data);
            let added: RefMap = new_refs
                .iter()
                .filter(|(k, _)| !old_refs.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            self.check_refs_exist(plan, &added, &rec.data, &mut errors)?;
            if !errors.is_empty() {
                return Err(ContentError::Invalid { errors });
            }

            if let Some(slug) = old.slug(&ct) {
                plan.remove(
                    Tree::Slugs,
                    keys::slug(SCOPE_CURRENT, ty, &old.locale, slug),
                );
            }
            if let Some(slug) = rec.slug(&ct) {
                plan.put(
                    Tree::Slugs,
                    keys::slug(SCOPE_CURRENT, ty, &rec.locale, slug),
                    id.as_bytes().to_vec(),
                );
            }
            let removed: RefMap = old_refs
                .iter()
                .filter(|(k, _)| !new_refs.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            self.remove_refs(plan, &ct, id, &removed)?;
            self.add_refs(plan, &ct, id, &added)?;
            for (k, fields) in &new_refs {
                if old_refs.get(k).is_some_and(|f| f != fields) {
                    plan.put(
                        Tree::Refs,
                        keys::reference(&k.0, &k.1, ty, id),
                        fields.join(",").into_bytes(),
                    );
                }
            }
            replace_index_keys(plan, &old, &rec);
            plan.put(
                Tree::Revisions,
                keys::revision(ty, id, old.version),
                old.to_bytes(),
            );
            plan.put(Tree::Entries, keys::entry(ty, id), rec.to_bytes());
            plan.change(change_event("update", &rec, false, now));
            audit(
                plan,
                actor,
                "entry.update",
                (ty.to_string(), id.to_string()),
                (Some(old.version), Some(rec.version)),
                None,
            );

            Ok(rec)
        })
    }

    /// Deletes an entry that nothing references. Its revisions are kept.
    pub fn delete(
        &self,
        ty: &str,
        id: &str,
        expected_version: Option<u64>,
        actor: Option<&str>,
    ) -> ContentResult<EntryRecord> {
        let ct = self.content_type(ty)?.clone();
        let now = Utc::now();
        self.commit_plan(|plan| {
            let old = self.read_current(plan, &ct, id)?;
            if let Some(expected) = expected_version
                && expected != old.version
            {
                return Err(ContentError::VersionConflict {
                    expected,
                    current: old.version,
                });
            }
            let count =
                super::plan::counter_value(plan.read(Tree::Refs, &keys::ref_count(ty, id))?);
            if count > 0 {
                return Err(ContentError::Referenced {
                    referrers: self.referrers(ty, id)?,
                });
            }
            if let Some(before) = self.published_record(plan, &ct, &old)? {
                self.plan_unpublish(plan, &ct, &before)?;
            }
            if let Some(slug) = old.slug(&ct) {
                plan.remove(
                    Tree::Slugs,
                    keys::slug(SCOPE_CURRENT, ty, &old.locale, slug),
                );
            }
            self.remove_refs(plan, &ct, id, &refs_of(&ct, &old.data))?;
            if let Some(orig) = &old.translation_of {
                self.remove_refs(
                    plan,
                    &ct,
                    id,
                    &RefMap::from([(
                        (ty.to_string(), orig.clone()),
                        vec!["translation_of".to_string()],
                    )]),
                )?;
            }
            for k in index_keys(&old) {
                plan.remove(Tree::Index, k);
            }
            plan.add_counter(Tree::Meta, &keys::count_key(SCOPE_CURRENT, ty), -1)?;
            // Every version stays readable: the last one joins the earlier revisions.
            plan.put(
                Tree::Revisions,
                keys::revision(ty, id, old.version),
                old.to_bytes(),
            );
            plan.remove(Tree::Entries, keys::entry(ty, id));
            plan.change(change_event(
                "delete",
                &old,
                old.published_version.is_some(),
                now,
            ));
            audit(
                plan,
                actor,
                "entry.delete",
                (ty.to_string(), id.to_string()),
                (Some(old.version), None),
                None,
            );
            Ok(old)
        })
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

    /// The record of the version the public currently sees, if any.
    pub(super) fn published_record(
        &self,
        plan: &mut Plan,
        ct: &ContentType,
        current: &EntryRecord,
    ) -> ContentResult<Option<EntryRecord>> {
        let Some(v) = current.published_version else {
            return Ok(None);
        };
        if v == current.version {
            return Ok(Some(current.clone()));
        }
        match plan.read(Tree::Revisions, &keys::revision(&ct.name, &current.id, v))? {
            Some(bytes) => parse_record(&bytes).map(Some),
            None => Err(ContentError::Corrupt(format!(
                "{} {} is published at version {v}, but that revision is missing",
                ct.name, current.id
            ))),
        }
    }

    /// Makes `rec`'s current version the public one, replacing `before` (if published).
    pub(super) fn plan_publish(
        &self,
        plan: &mut Plan,
        ct: &ContentType,
        rec: &mut EntryRecord,
        before: Option<&EntryRecord>,
        now: DateTime<Utc>,
        errors: &mut Vec<FieldError>,
    ) -> ContentResult<()> {
        let ty = ct.name.as_str();
        rec.published_version = Some(rec.version);
        if rec.published_at.is_none() {
            rec.published_at = Some(now);
        }
        if !ct.is_public() {
            // Personal types have a lifecycle but no public view.
            return Ok(());
        }
        let slug_changes = before.and_then(|b| b.slug(ct)) != rec.slug(ct);
        if slug_changes || before.is_none() {
            self.check_slug(plan, ct, rec, SCOPE_PUBLISHED, errors)?;
            if !errors.is_empty() {
                return Ok(());
            }
        }
        if let Some(b) = before
            && slug_changes
            && let Some(slug) = b.slug(ct)
        {
            plan.remove(
                Tree::Slugs,
                keys::slug(SCOPE_PUBLISHED, ty, &b.locale, slug),
            );
        }
        let before_index = before.map(|b| public_index(ct, b));
        public_index::apply(
            plan,
            ty,
            &rec.id,
            before_index.as_ref(),
            Some(&public_index(ct, rec)),
        )?;
        if let Some(slug) = rec.slug(ct) {
            plan.put(
                Tree::Slugs,
                keys::slug(SCOPE_PUBLISHED, ty, &rec.locale, slug),
                rec.id.as_bytes().to_vec(),
            );
        }
        plan.put(
            Tree::Published,
            keys::entry(ty, &rec.id),
            render_public(ct, rec),
        );
        Ok(())
    }

    /// Removes the public view of an entry (`before` is the published version's record).
    pub(super) fn plan_unpublish(
        &self,
        plan: &mut Plan,
        ct: &ContentType,
        before: &EntryRecord,
    ) -> ContentResult<()> {
        let ty = ct.name.as_str();
        if !ct.is_public() {
            return Ok(());
        }
        if let Some(slug) = before.slug(ct) {
            plan.remove(
                Tree::Slugs,
                keys::slug(SCOPE_PUBLISHED, ty, &before.locale, slug),
            );
        }
        public_index::apply(plan, ty, &before.id, Some(&public_index(ct, before)), None)?;
        plan.remove(Tree::Published, keys::entry(ty, &before.id));
        Ok(())
    }

    fn check_slug(
        &self,
        plan: &mut Plan,
        ct: &ContentType,
        rec: &EntryRecord,
        scope: u8,
        errors: &mut Vec<FieldError>,
    ) -> ContentResult<()> {
        let (Some(field), Some(slug)) = (&ct.options.slug, rec.slug(ct)) else {
            return Ok(());
        };
        if let Some(owner) =
            plan.read(Tree::Slugs, &keys::slug(scope, &ct.name, &rec.locale, slug))?
            && owner != rec.id.as_bytes()
        {
            let owner = String::from_utf8_lossy(&owner);
            let whose = if scope == SCOPE_PUBLISHED {
                "the public version of"
            } else {
                ""
            };
            errors.push(FieldError::new(
                format!("/{field}"),
                format!(
                    "{slug:?} is already used by {whose} {} {owner} in locale {}; choose another slug",
                    ct.name, rec.locale
                )
                .replace("  ", " "),
            ));
        }
        Ok(())
    }

    fn check_refs_exist(
        &self,
        plan: &mut Plan,
        refs: &RefMap,
        data: &serde_json::Map<String, Value>,
        errors: &mut Vec<FieldError>,
    ) -> ContentResult<()> {
        for ((target, target_id), fields) in refs {
            if is_valid_id(target_id)
                && plan
                    .read(Tree::Entries, &keys::entry(target, target_id))?
                    .is_some()
            {
                continue;
            }
            for field in fields {
                let pointer = match data.get(field) {
                    Some(Value::Array(items)) => items
                        .iter()
                        .position(|v| v.as_str() == Some(target_id))
                        .map(|i| format!("/{field}/{i}"))
                        .unwrap_or_else(|| format!("/{field}")),
                    _ => format!("/{field}"),
                };
                errors.push(FieldError::new(
                    pointer,
                    format!("references {target} {target_id:?}, which does not exist"),
                ));
            }
        }
        Ok(())
    }

    fn check_translation(
        &self,
        plan: &mut Plan,
        ct: &ContentType,
        orig: &str,
        locale: &str,
        errors: &mut Vec<FieldError>,
    ) -> ContentResult<Option<String>> {
        let found = if is_valid_id(orig) {
            plan.read(Tree::Entries, &keys::entry(&ct.name, orig))?
        } else {
            None
        };
        let Some(bytes) = found else {
            errors.push(FieldError::new(
                "/translation_of",
                format!("{} {orig:?} does not exist", ct.name),
            ));
            return Ok(None);
        };
        let orig_rec = parse_record(&bytes)?;
        if orig_rec.locale == locale {
            errors.push(FieldError::new(
                "/translation_of",
                format!(
                    "{} {orig} is in locale {locale} already; a translation needs another locale",
                    ct.name
                ),
            ));
        }
        // Translations always point at the original, so the group is one hop wide.
        Ok(Some(orig_rec.translation_of.unwrap_or(orig_rec.id)))
    }

    fn add_refs(
        &self,
        plan: &mut Plan,
        ct: &ContentType,
        id: &str,
        refs: &RefMap,
    ) -> ContentResult<()> {
        for ((target, target_id), fields) in refs {
            plan.put(
                Tree::Refs,
                keys::reference(target, target_id, &ct.name, id),
                fields.join(",").into_bytes(),
            );
            plan.add_counter(Tree::Refs, &keys::ref_count(target, target_id), 1)?;
        }
        Ok(())
    }

    fn remove_refs(
        &self,
        plan: &mut Plan,
        ct: &ContentType,
        id: &str,
        refs: &RefMap,
    ) -> ContentResult<()> {
        for (target, target_id) in refs.keys() {
            plan.remove(Tree::Refs, keys::reference(target, target_id, &ct.name, id));
            plan.add_counter(Tree::Refs, &keys::ref_count(target, target_id), -1)?;
        }
        Ok(())
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
