//! Creating, updating, publishing and deleting entries: each one write plan, one batch.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::commit::{audit, change_event, index_keys, replace_index_keys};
use super::entry::{EntryRecord, NewEntry, RECORD_FORMAT, State};
use super::keys::{self, SCOPE_CURRENT, SCOPE_PUBLISHED};
use super::plan::Plan;
use super::refs::{RefMap, refs_of};
use super::translate::Confirm;
use super::{ContentError, ContentResult, ContentService};
use crate::schema::{ContentType, FieldError};
use crate::store::Tree;
use crate::workflow::{HistoryItem, HistoryKind};

/// Whether `s` looks like a ULID: 26 characters of Crockford base32, first one 0–7.
pub fn is_valid_id(s: &str) -> bool {
    s.len() == keys::ID_LEN
        && s.starts_with(|c: char| ('0'..='7').contains(&c))
        && s.bytes().all(|b| {
            b.is_ascii_digit()
                || (b.is_ascii_uppercase() && !matches!(b, b'I' | b'L' | b'O' | b'U'))
        })
}

/// Whether `s` is a locale Verbund takes (`de`, `en`, `de-AT`).
pub fn is_locale(s: &str) -> bool {
    is_valid_locale(s)
}

pub(super) fn is_valid_locale(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() == 2 && b.iter().all(u8::is_ascii_lowercase))
        || (b.len() == 5
            && b[..2].iter().all(u8::is_ascii_lowercase)
            && b[2] == b'-'
            && b[3..].iter().all(u8::is_ascii_uppercase))
}

impl ContentService {
    /// Creates an entry (a draft unless `new.state` says `published`).
    pub fn create(
        &self,
        ty: &str,
        new: NewEntry,
        actor: Option<&str>,
    ) -> ContentResult<EntryRecord> {
        self.create_also(ty, new, actor, Vec::new())
    }

    /// Like [`create`](Self::create), with `also` written in the same commit (a mail queued
    /// with the sign-up that causes it).
    pub fn create_also(
        &self,
        ty: &str,
        new: NewEntry,
        actor: Option<&str>,
        also: Vec<(Tree, Vec<u8>, Vec<u8>)>,
    ) -> ContentResult<EntryRecord> {
        let ct = self.content_type(ty)?.clone();
        self.check_required(&ct)?;
        let mut new = new;
        if let Some(orig) = &new.translation_of {
            let Some(source) = self.link_source_now(&ct, orig)? else {
                return Err(ContentError::Invalid {
                    errors: vec![FieldError::new(
                        "/translation_of",
                        if is_valid_id(orig) {
                            format!("{ty} {orig} does not exist")
                        } else {
                            format!(
                                "{orig:?} is not an entry id; give the id of the original (26 characters, e.g. from `verbund entry show {ty} SLUG`)"
                            )
                        },
                    )],
                });
            };
            if let Some(data) = new.data.as_object_mut() {
                // A translation holds only its translated fields; the rest is the original's.
                super::translate::take_linked(&ct, data, &source);
            }
        }
        let mut errors = ct.validate(&new.data);
        let id = new.id.clone().unwrap_or_else(|| self.new_id());
        let now = Utc::now();
        let validates = self.hooks().is_some_and(|h| h.validates(&ct));
        if validates || !errors.is_empty() {
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
                translated_from: Default::default(),
            };
            if !errors.is_empty() {
                self.store_problems(&ct, &candidate, &mut errors)?;
                return Err(self.invalid_with_plugins(&ct, &candidate, errors, &new.data));
            }
            self.run_validators(&ct, &candidate)?;
        }
        self.commit_plan(|plan| {
            let mut errors = Vec::new();
            let rec = self.plan_create(plan, &ct, &new, &id, actor, now, &mut errors)?;
            for (t, k, v) in &also {
                plan.put(*t, k.clone(), v.clone());
            }
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
            translated_from: Default::default(),
        };
        if let Some(orig) = &new.translation_of {
            rec.translation_of = self.check_translation(plan, ct, orig, &rec.locale, errors)?;
            if let Some(root) = rec.translation_of.clone() {
                self.plan_join_group(plan, ct, &mut rec, &root, errors)?;
            }
        }
        self.check_slug(plan, ct, &rec, SCOPE_CURRENT, errors)?;
        let public = state == State::PUBLISHED;
        if public && ct.is_public() {
            self.check_slug(plan, ct, &rec, SCOPE_PUBLISHED, errors)?;
        }
        let refs = refs_of(ct, &rec.data);
        self.check_refs_exist(plan, &refs, &rec.data, errors)?;
        self.check_assets(plan, ct, &rec.data, errors)?;
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
        self.update_with(ty, id, expected_version, data, actor, &Confirm::Changed)
    }

    /// Like [`update`](Self::update), with `also` written in the same commit.
    pub fn update_also(
        &self,
        ty: &str,
        id: &str,
        expected_version: Option<u64>,
        data: Value,
        actor: Option<&str>,
        also: Vec<(Tree, Vec<u8>, Vec<u8>)>,
    ) -> ContentResult<EntryRecord> {
        self.update_inner(
            ty,
            id,
            expected_version,
            data,
            actor,
            &Confirm::Changed,
            also,
        )
    }

    /// Like [`update`](Self::update); for a translation, `confirm` names translated fields
    /// the write confirms as up to date with the original besides those it changes.
    pub fn update_with(
        &self,
        ty: &str,
        id: &str,
        expected_version: Option<u64>,
        data: Value,
        actor: Option<&str>,
        confirm: &Confirm,
    ) -> ContentResult<EntryRecord> {
        self.update_inner(ty, id, expected_version, data, actor, confirm, Vec::new())
    }

    #[allow(clippy::too_many_arguments)]
    fn update_inner(
        &self,
        ty: &str,
        id: &str,
        expected_version: Option<u64>,
        mut data: Value,
        actor: Option<&str>,
        confirm: &Confirm,
        also: Vec<(Tree, Vec<u8>, Vec<u8>)>,
    ) -> ContentResult<EntryRecord> {
        let ct = self.content_type(ty)?.clone();
        self.check_required(&ct)?;
        if let Some(Value::String(root)) = self
            .get_raw(ty, id)?
            .map(|b| super::commit::parse_record(&b))
            .transpose()?
            .map(|r| r.translation_of.map(Value::String).unwrap_or(Value::Null))
            && let Some(source) = self.link_source_now(&ct, &root)?
            && let Some(obj) = data.as_object_mut()
        {
            super::translate::take_linked(&ct, obj, &source);
        }
        let mut errors = ct.validate(&data);
        if !errors.is_empty() {
            return Err(match self.get(ty, id) {
                Ok(mut candidate) => {
                    candidate.data = data.as_object().cloned().unwrap_or_default();
                    candidate.version += 1;
                    candidate.updated_by = actor.map(String::from);
                    self.store_problems(&ct, &candidate, &mut errors)?;
                    self.invalid_with_plugins(&ct, &candidate, errors, &data)
                }
                Err(_) => ContentError::Invalid { errors },
            });
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
            for (t, k, v) in &also {
                plan.put(*t, k.clone(), v.clone());
            }
            let old = self.read_current_at(plan, &ct, id, expected_version)?;
            let mut rec = old.clone();
            rec.data = data.clone();
            if let Some(root) = &old.translation_of {
                if let Some(source) = self.link_source(plan, &ct, root)? {
                    super::translate::take_linked(&ct, &mut rec.data, &source);
                }
                let original = self.read_current(plan, &ct, root)?;
                rec.translated_from =
                    super::translate::origins_after(&ct, Some(&old), &rec.data, &original, confirm);
            }
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
            self.check_assets(plan, &ct, &rec.data, &mut errors)?;
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
            let old = self.read_current_at(plan, &ct, id, expected_version)?;
            let count =
                super::plan::counter_value(plan.read(Tree::Refs, &keys::ref_count(ty, id))?);
            if count > 0 {
                return Err(ContentError::Referenced {
                    referrers: self.referrers(ty, id)?,
                });
            }
            if let Some(root) = &old.translation_of {
                let mut group = self.read_group(plan, ty, root)?;
                if group.get(&old.locale) == Some(&old.id) {
                    group.remove(&old.locale);
                    self.write_group(plan, ty, root, &group);
                }
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
}
