//! Data-subject rights (DSGVO Art. 15 and 17): everything stored about an e-mail address, and
//! its erasure from current entries and every revision.
//!
//! A person is found by an e-mail address held in a field marked personal data (`pii`). In a
//! type that is personal data as a whole (subscribers) the whole entry is theirs: the export
//! has it with every revision (the consent history) and its workflow history, and erasure
//! deletes all of it. In other types (a member's contact person) the export has the entry's
//! personal fields in every version, and erasure removes those fields from the current version
//! and every revision. The audit record of an erasure holds counts only, no personal data.

use serde::Serialize;
use serde_json::{Value, json};

use super::commit::{audit, index_keys, replace_index_keys};
use super::entry::EntryRecord;
use super::keys::{self, SCOPE_CURRENT};
use super::{ContentError, ContentResult, ContentService};
use crate::schema::ContentType;
use crate::store::Tree;

/// What an erasure did (counts only).
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ErasureReport {
    /// Entries of personal-data types deleted with all their versions.
    pub entries_deleted: usize,
    /// Versions (current and earlier) of those entries.
    pub versions_deleted: usize,
    /// Entries of other types whose personal fields were removed.
    pub entries_cleaned: usize,
    /// Versions of those entries rewritten without the personal fields.
    pub versions_cleaned: usize,
}

fn holds(rec: &EntryRecord, ct: &ContentType, email: &str) -> bool {
    ct.fields.iter().any(|(name, f)| {
        f.pii
            && rec
                .data
                .get(name)
                .and_then(Value::as_str)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case(email))
    })
}

fn pii_only(rec: &EntryRecord, ct: &ContentType) -> serde_json::Map<String, Value> {
    rec.data
        .iter()
        .filter(|(k, _)| ct.fields.get(*k).is_some_and(|f| f.pii))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// One entry (current or deleted) in which some version holds the address.
struct Found {
    ct: std::sync::Arc<ContentType>,
    id: String,
    /// The current version, if the entry still exists.
    current: Option<EntryRecord>,
    /// Every stored earlier version, with its key (also of deleted entries).
    revisions: Vec<(Vec<u8>, EntryRecord)>,
}

impl Found {
    /// The versions (earlier ones and the current one) that hold the address.
    fn holding<'a>(&'a self, email: &'a str) -> impl Iterator<Item = &'a EntryRecord> + 'a {
        self.revisions
            .iter()
            .map(|(_, r)| r)
            .chain(self.current.iter())
            .filter(move |r| holds(r, &self.ct, email))
    }
}

impl ContentService {
    /// Every entry of every type with personal fields in which any version — the current one,
    /// an earlier one, or one of an entry deleted since — holds `email` in a personal field.
    fn holding(&self, email: &str) -> ContentResult<Vec<Found>> {
        let mut out = Vec::new();
        for ct in self.schemas().types() {
            if !ct.fields.values().any(|f| f.pii) {
                continue;
            }
            let mut by_id: std::collections::BTreeMap<String, Found> = Default::default();
            let (recs, _) =
                self.list_current_where(&ct.name, None, usize::MAX, |r| holds(r, ct, email))?;
            for r in recs {
                by_id.insert(
                    r.id.clone(),
                    Found {
                        ct: ct.clone(),
                        id: r.id.clone(),
                        current: Some(r),
                        revisions: Vec::new(),
                    },
                );
            }
            let prefix = crate::store::key(&[ct.name.as_bytes(), b""]);
            let mut hit_ids = std::collections::BTreeSet::new();
            for (_, v) in self
                .store
                .scan_prefix(Tree::Revisions, &prefix, false, usize::MAX)?
            {
                let r = EntryRecord::from_bytes(&v).map_err(ContentError::Corrupt)?;
                if holds(&r, ct, email) {
                    hit_ids.insert(r.id.clone());
                }
            }
            for id in hit_ids {
                by_id.entry(id.clone()).or_insert_with(|| Found {
                    ct: ct.clone(),
                    current: self
                        .store
                        .get(Tree::Entries, &keys::entry(&ct.name, &id))
                        .ok()
                        .flatten()
                        .and_then(|b| EntryRecord::from_bytes(&b).ok()),
                    id,
                    revisions: Vec::new(),
                });
            }
            for f in by_id.values_mut() {
                for (k, v) in self.store.scan_prefix(
                    Tree::Revisions,
                    &keys::revisions_prefix(&ct.name, &f.id),
                    false,
                    usize::MAX,
                )? {
                    f.revisions.push((
                        k,
                        EntryRecord::from_bytes(&v).map_err(ContentError::Corrupt)?,
                    ));
                }
            }
            out.extend(by_id.into_values());
        }
        Ok(out)
    }

    /// Everything stored about the person with this address, as JSON.
    pub fn data_subject_export(&self, email: &str) -> ContentResult<Value> {
        let email = email.trim();
        let mut entries = Vec::new();
        for f in self.holding(email)? {
            let ct = &f.ct;
            if !ct.is_public() {
                entries.push(json!({
                    "type": ct.name,
                    "id": f.id,
                    "deleted": f.current.is_none(),
                    "current": f.current.as_ref().map(EntryRecord::to_flat_json),
                    "versions": f.revisions.iter().map(|(_, r)| r).chain(f.current.iter()).map(EntryRecord::to_flat_json).collect::<Vec<_>>(),
                    "history": self.history(&ct.name, &f.id)?,
                }));
            } else {
                let latest = f.current.as_ref().or(f.revisions.last().map(|(_, r)| r));
                entries.push(json!({
                    "type": ct.name,
                    "id": f.id,
                    "deleted": f.current.is_none(),
                    "title": latest.and_then(|r| r.data.get(&ct.options.title).cloned()),
                    "personal_fields": f.current.as_ref().filter(|r| holds(r, ct, email)).map(|r| pii_only(r, ct)),
                    "versions": f
                        .holding(email)
                        .map(|r| json!({"version": r.version, "updated_at": r.updated_at, "personal_fields": pii_only(r, ct)}))
                        .collect::<Vec<_>>(),
                }));
            }
        }
        let assets = self.assets_of_person(email)?;
        Ok(json!({
            "email": email,
            "exported_at": chrono::Utc::now().to_rfc3339(),
            "entries": entries,
            "assets": assets,
            "note": "Alle in Verbund gespeicherten Daten zu dieser E-Mail-Adresse: Newsletter-Anmeldungen mit jeder Fassung (Einwilligungsverlauf) und Verlauf, personenbezogene Felder anderer Einträge in jeder Fassung, sowie Bilder, deren Einwilligungsvermerk die Person nennt (die Dateien unter ihrer URL).",
        }))
    }

    /// Erases the person with this address from current entries and every revision.
    pub fn erase_data_subject(
        &self,
        email: &str,
        actor: Option<&str>,
    ) -> ContentResult<ErasureReport> {
        let email = email.trim();
        let mut report = ErasureReport::default();
        for f in self.holding(email)? {
            let ct = f.ct.clone();
            let ty = ct.name.clone();
            let id = f.id.clone();
            let revision_keys: Vec<Vec<u8>> = f.revisions.iter().map(|(k, _)| k.clone()).collect();
            let history_keys: Vec<Vec<u8>> = self
                .store
                .scan_prefix(
                    Tree::History,
                    &keys::history_prefix(&ty, &id),
                    false,
                    usize::MAX,
                )?
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            if !ct.is_public() {
                // The entry is the person's as a whole: every version and its history go.
                self.commit_plan(|plan| {
                    let exists = plan.read(Tree::Entries, &keys::entry(&ty, &id))?.is_some();
                    if exists {
                        let old = self.read_current(plan, &ct, &id)?;
                        if let Some(before) = self.published_record(plan, &ct, &old)? {
                            self.plan_unpublish(plan, &ct, &before)?;
                        }
                        for k in index_keys(&old) {
                            plan.remove(Tree::Index, k);
                        }
                        if let Some(s) = &old.scheduled {
                            plan.remove(
                                Tree::Meta,
                                keys::schedule(s.at.timestamp_millis(), &ty, &id),
                            );
                        }
                        plan.add_counter(Tree::Meta, &keys::count_key(SCOPE_CURRENT, &ty), -1)?;
                        plan.remove(Tree::Entries, keys::entry(&ty, &id));
                    }
                    for k in &revision_keys {
                        plan.remove(Tree::Revisions, k.clone());
                    }
                    for k in &history_keys {
                        plan.remove(Tree::History, k.clone());
                    }
                    audit(
                        plan,
                        actor,
                        "gdpr.erase",
                        (ty.clone(), String::new()),
                        (None, None),
                        Some(format!(
                            "deleted one {ty} entry with {} versions",
                            revision_keys.len() + usize::from(exists)
                        )),
                    );
                    Ok(())
                })?;
                report.entries_deleted += 1;
                report.versions_deleted += revision_keys.len() + usize::from(f.current.is_some());
            } else {
                // Only the versions that hold this address lose their personal fields: an
                // earlier or later contact person's data in other versions is theirs, not hers.
                let pii: Vec<String> = ct
                    .fields
                    .iter()
                    .filter(|(_, f)| f.pii)
                    .map(|(n, _)| n.clone())
                    .collect();
                let mut cleaned_versions = 0;
                self.commit_plan(|plan| {
                    cleaned_versions = 0;
                    let mut version_after = None;
                    if plan.read(Tree::Entries, &keys::entry(&ty, &id))?.is_some() {
                        let old = self.read_current(plan, &ct, &id)?;
                        version_after = Some(old.version);
                        if holds(&old, &ct, email) {
                            let mut new = old.clone();
                            new.data.retain(|k, _| !pii.contains(k));
                            replace_index_keys(plan, &old, &new);
                            plan.put(Tree::Entries, keys::entry(&ty, &id), new.to_bytes());
                            cleaned_versions += 1;
                        }
                    }
                    for k in &revision_keys {
                        if let Some(bytes) = plan.read(Tree::Revisions, k)? {
                            let mut r =
                                EntryRecord::from_bytes(&bytes).map_err(ContentError::Corrupt)?;
                            if holds(&r, &ct, email) {
                                r.data.retain(|k, _| !pii.contains(k));
                                plan.put(Tree::Revisions, k.clone(), r.to_bytes());
                                cleaned_versions += 1;
                            }
                        }
                    }
                    audit(
                        plan,
                        actor,
                        "gdpr.erase",
                        (ty.clone(), id.clone()),
                        (version_after, version_after),
                        Some(format!(
                            "removed the personal fields from {cleaned_versions} versions"
                        )),
                    );
                    Ok(())
                })?;
                report.entries_cleaned += 1;
                report.versions_cleaned += cleaned_versions;
            }
        }
        Ok(report)
    }
}
