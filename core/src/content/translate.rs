//! Translations: an entry in another locale that points at its original (`translation_of`).
//!
//! - **Translated and linked fields.** Fields marked `x-verbund: {"translatable": true}` (and
//!   the slug, which is unique per locale) belong to the translation. Every other field is
//!   *linked*: taken from the original, from its published version (or its current one while
//!   it has none) — on every write of the translation, and again whenever the original
//!   publishes a version whose linked fields differ. A translation that was live as it was then
//!   gets that new version published at once: only fields the original's publication approved
//!   changed.
//! - **Outdated fields.** A translation records per translated field the original's version and
//!   a hash of its value at the time it was translated (`translated_from`); a field whose
//!   original value has changed since is outdated. Writing the field again (or confirming it
//!   with `translation_current`) clears that.
//! - **Groups.** `group\0{type}\0{original}` in `meta` maps each locale to the id of the
//!   original's translation in it (one per locale). The public JSON of every published member
//!   names the other published members (`translations`: id, locale, slug, website path) and,
//!   for a translation, the fields outdated against the original's public version; it is
//!   rendered again whenever a member is published or taken offline.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::commit::{change_event, parse_record, replace_index_keys};
use super::entry::{EntryRecord, FieldOrigin, PublicLinks, TranslationLink, render_public_with};
use super::keys;
use super::plan::Plan;
use super::public_index::public_index;
use super::refs::{RefMap, refs_of};
use super::{ContentError, ContentResult, ContentService};
use crate::schema::ContentType;
use crate::store::Tree;
use crate::workflow::{HistoryItem, HistoryKind};

/// `{locale: id}` of an original's translations (the original itself is not in it).
pub(super) type Group = BTreeMap<String, String>;

/// `group\0{type}\0{original}` in `meta`.
pub(super) fn group_key(ty: &str, root: &str) -> Vec<u8> {
    let mut k = b"group\0".to_vec();
    k.extend_from_slice(&keys::entry(ty, root));
    k
}

/// A translated field whose original changed after it was translated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct OutdatedField {
    pub field: String,
    /// The original's version the field was translated from (absent: never translated).
    pub translated_from: Option<u64>,
}

/// Where a translation stands against its original (management view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TranslationStatus {
    /// The original's id, locale and current version.
    pub original: String,
    pub original_locale: String,
    pub original_version: u64,
    /// Translated fields whose original text changed since they were translated.
    pub outdated: Vec<OutdatedField>,
}

/// Which translated fields a write confirms as translated from the original's current text,
/// besides those whose value it changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Confirm {
    /// Only the changed fields.
    #[default]
    Changed,
    /// Every translated field (the translator went through all of them).
    All,
    /// These fields too.
    Fields(Vec<String>),
}

impl Confirm {
    fn covers(&self, field: &str) -> bool {
        match self {
            Confirm::Changed => false,
            Confirm::All => true,
            Confirm::Fields(f) => f.iter().any(|x| x == field),
        }
    }

    /// Reads `translation_current` of a write: `true` or a list of field names.
    pub fn from_value(v: Option<Value>) -> Result<Self, String> {
        match v {
            None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(Confirm::Changed),
            Some(Value::Bool(true)) => Ok(Confirm::All),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s),
                    other => Err(format!(
                        "translation_current lists field names, got {}",
                        crate::schema::json_kind(&other)
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Confirm::Fields),
            Some(other) => Err(format!(
                "translation_current must be true or a list of field names, got {}",
                crate::schema::json_kind(&other)
            )),
        }
    }
}

/// Replaces the linked (not translatable) fields of `data` with the original's.
pub(super) fn take_linked(ct: &ContentType, data: &mut Map<String, Value>, original: &EntryRecord) {
    for (name, spec) in &ct.fields {
        if spec.translatable {
            continue;
        }
        match original.data.get(name) {
            Some(v) => {
                data.insert(name.clone(), v.clone());
            }
            None => {
                data.remove(name);
            }
        }
    }
}

/// Whether a translated field is tracked for being outdated (the slug is the translation's
/// own address, not a text translated from the original's).
fn tracked<'a>(ct: &'a ContentType) -> impl Iterator<Item = &'a str> + 'a {
    ct.translatable_fields()
        .filter(move |f| ct.options.slug.as_deref() != Some(*f))
}

/// The `translated_from` of a translation after a write of `data` (`old`: the version before,
/// if any), against the original's current version.
pub(super) fn origins_after(
    ct: &ContentType,
    old: Option<&EntryRecord>,
    data: &Map<String, Value>,
    original: &EntryRecord,
    confirm: &Confirm,
) -> BTreeMap<String, FieldOrigin> {
    let mut out = BTreeMap::new();
    for f in tracked(ct) {
        if data.get(f).is_none() {
            continue;
        }
        let kept = old.and_then(|o| {
            (o.data.get(f) == data.get(f) && !confirm.covers(f))
                .then(|| o.translated_from.get(f).cloned())
                .flatten()
        });
        let origin = kept.unwrap_or_else(|| FieldOrigin {
            version: original.version,
            hash: FieldOrigin::hash_of(original.data.get(f)),
        });
        out.insert(f.to_string(), origin);
    }
    out
}

/// The translated fields of `rec` whose text in `original` differs from what they were
/// translated from.
pub fn outdated_fields(
    ct: &ContentType,
    rec: &EntryRecord,
    original: &EntryRecord,
) -> Vec<OutdatedField> {
    let mut out = Vec::new();
    for f in tracked(ct) {
        let source = original.data.get(f);
        match rec.translated_from.get(f) {
            Some(o) if o.hash == FieldOrigin::hash_of(source) => {}
            Some(o) => out.push(OutdatedField {
                field: f.to_string(),
                translated_from: Some(o.version),
            }),
            None if source.is_some() => out.push(OutdatedField {
                field: f.to_string(),
                translated_from: None,
            }),
            None => {}
        }
    }
    out
}

impl ContentService {
    pub(super) fn read_group(&self, plan: &mut Plan, ty: &str, root: &str) -> ContentResult<Group> {
        match plan.read(Tree::Meta, &group_key(ty, root))? {
            Some(b) => serde_json::from_slice(&b)
                .map_err(|e| ContentError::Corrupt(format!("translation group of {root}: {e}"))),
            None => Ok(Group::new()),
        }
    }

    pub(super) fn write_group(&self, plan: &mut Plan, ty: &str, root: &str, group: &Group) {
        if group.is_empty() {
            plan.remove(Tree::Meta, group_key(ty, root));
        } else {
            plan.put(
                Tree::Meta,
                group_key(ty, root),
                serde_json::to_vec(group).unwrap_or_default(),
            );
        }
    }

    fn read_record(
        &self,
        plan: &mut Plan,
        ty: &str,
        id: &str,
    ) -> ContentResult<Option<EntryRecord>> {
        plan.read(Tree::Entries, &keys::entry(ty, id))?
            .map(|b| parse_record(&b))
            .transpose()
    }

    /// The record a translation's linked fields come from: the original's published version,
    /// or its current version while it has none.
    pub(super) fn link_source(
        &self,
        plan: &mut Plan,
        ct: &ContentType,
        root: &str,
    ) -> ContentResult<Option<EntryRecord>> {
        let Some(current) = self.read_record(plan, &ct.name, root)? else {
            return Ok(None);
        };
        Ok(Some(match self.published_record(plan, ct, &current)? {
            Some(p) => p,
            None => current,
        }))
    }

    /// [`link_source`](Self::link_source) outside a plan, for `orig` (the original or one of
    /// its translations), to complete a translation's fields before they are validated.
    pub(super) fn link_source_now(
        &self,
        ct: &ContentType,
        orig: &str,
    ) -> ContentResult<Option<EntryRecord>> {
        if !super::write::is_valid_id(orig) {
            return Ok(None);
        }
        let mut reads = Plan::new(self.store.as_ref());
        let Some(rec) = self.read_record(&mut reads, &ct.name, orig)? else {
            return Ok(None);
        };
        let root = rec.translation_of.unwrap_or(rec.id);
        self.link_source(&mut reads, ct, &root)
    }

    /// Makes the new record `rec` the translation of `root` in its locale: one per locale,
    /// the linked fields from the original, the origins of its translated fields.
    pub(super) fn plan_join_group(
        &self,
        plan: &mut Plan,
        ct: &ContentType,
        rec: &mut EntryRecord,
        root: &str,
        errors: &mut Vec<crate::schema::FieldError>,
    ) -> ContentResult<()> {
        let ty = ct.name.as_str();
        let Some(original) = self.read_record(plan, ty, root)? else {
            return Ok(());
        };
        if original.locale == rec.locale {
            errors.push(crate::schema::FieldError::new(
                "/locale",
                format!(
                    "the original {ty} {root} is in locale {} already; a translation needs another locale",
                    rec.locale
                ),
            ));
            return Ok(());
        }
        let mut group = self.read_group(plan, ty, root)?;
        if let Some(other) = group.get(&rec.locale)
            && *other != rec.id
        {
            errors.push(crate::schema::FieldError::new(
                "/translation_of",
                format!(
                    "{ty} {root} has a translation in {} already ({other}); edit that one (`verbund entry translate {ty} {root} --to {}`)",
                    rec.locale, rec.locale
                ),
            ));
            return Ok(());
        }
        if let Some(source) = self.link_source(plan, ct, root)? {
            take_linked(ct, &mut rec.data, &source);
        }
        rec.translated_from = origins_after(ct, None, &rec.data, &original, &Confirm::All);
        group.insert(rec.locale.clone(), rec.id.clone());
        self.write_group(plan, ty, root, &group);
        Ok(())
    }

    /// What the public JSON of the published record `p` says about its translations.
    pub(super) fn public_links(
        &self,
        plan: &mut Plan,
        ct: &ContentType,
        p: &EntryRecord,
    ) -> ContentResult<PublicLinks> {
        let ty = ct.name.as_str();
        let root = p.translation_of.clone().unwrap_or_else(|| p.id.clone());
        let group = self.read_group(plan, ty, &root)?;
        let mut links = PublicLinks::default();
        if group.is_empty() && p.translation_of.is_none() {
            return Ok(links);
        }
        let members = std::iter::once(root.clone()).chain(group.into_values());
        for m in members {
            if m == p.id {
                continue;
            }
            let Some(current) = self.read_record(plan, ty, &m)? else {
                continue;
            };
            let Some(published) = self.published_record(plan, ct, &current)? else {
                continue;
            };
            if m == root && p.translation_of.is_some() {
                links.outdated = outdated_fields(ct, p, &published)
                    .into_iter()
                    .map(|o| o.field)
                    .collect();
            }
            let slug = published.slug(ct).map(String::from);
            links.translations.push(TranslationLink {
                path: ct.path_of(&published.locale, slug.as_deref(), &published.id),
                id: published.id.clone(),
                locale: published.locale.clone(),
                slug,
            });
        }
        links.translations.sort_by(|a, b| a.locale.cmp(&b.locale));
        Ok(links)
    }

    /// Renders the public JSON of every published member of `root`'s group except `except`
    /// again (after a member was published, changed its slug or was taken offline).
    pub(super) fn refresh_group(
        &self,
        plan: &mut Plan,
        ct: &ContentType,
        root: &str,
        except: &str,
    ) -> ContentResult<()> {
        let ty = ct.name.as_str();
        let group = self.read_group(plan, ty, root)?;
        if group.is_empty() {
            return Ok(());
        }
        let members: Vec<String> = std::iter::once(root.to_string())
            .chain(group.into_values())
            .filter(|m| m != except)
            .collect();
        for m in members {
            let Some(current) = self.read_record(plan, ty, &m)? else {
                continue;
            };
            let Some(published) = self.published_record(plan, ct, &current)? else {
                continue;
            };
            let links = self.public_links(plan, ct, &published)?;
            let doc = render_public_with(ct, &published, &links);
            let key = keys::entry(ty, &m);
            if plan.read(Tree::Published, &key)?.as_deref() == Some(doc.as_slice()) {
                continue;
            }
            for k in public_index(ct, &published).covering {
                plan.put(Tree::Index, k, doc.clone());
            }
            plan.put(Tree::Published, key, doc);
        }
        Ok(())
    }

    /// After the original `source` got a new public version: every translation takes its
    /// linked fields (a new version by the system); one that was live as it was is published
    /// in that version at once.
    pub(super) fn propagate_linked(
        &self,
        plan: &mut Plan,
        ct: &ContentType,
        source: &EntryRecord,
        now: DateTime<Utc>,
    ) -> ContentResult<()> {
        let ty = ct.name.as_str();
        let group = self.read_group(plan, ty, &source.id)?;
        for tid in group.into_values() {
            let Some(old) = self.read_record(plan, ty, &tid)? else {
                continue;
            };
            let mut data = old.data.clone();
            take_linked(ct, &mut data, source);
            if data == old.data {
                continue;
            }
            let mut t = old.clone();
            t.data = data;
            t.version = old.version + 1;
            t.updated_at = now;
            let old_refs = refs_of(ct, &old.data);
            let new_refs = refs_of(ct, &t.data);
            let removed: RefMap = old_refs
                .iter()
                .filter(|(k, _)| !new_refs.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let added: RefMap = new_refs
                .iter()
                .filter(|(k, _)| !old_refs.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            self.remove_refs(plan, ct, &tid, &removed)?;
            self.add_refs(plan, ct, &tid, &added)?;
            for (k, fields) in &new_refs {
                if old_refs.get(k).is_some_and(|f| f != fields) {
                    plan.put(
                        Tree::Refs,
                        keys::reference(&k.0, &k.1, ty, &tid),
                        fields.join(",").into_bytes(),
                    );
                }
            }
            let mut public = false;
            if old.published_version == Some(old.version) {
                let mut errors = Vec::new();
                self.plan_publish(plan, ct, &mut t, Some(&old), now, &mut errors)?;
                if errors.is_empty() {
                    public = true;
                } else {
                    // Cannot go live as it is (e.g. an image without alt text in its locale):
                    // the new version waits as a working copy.
                    t.published_version = old.published_version;
                }
            }
            replace_index_keys(plan, &old, &t);
            plan.put(
                Tree::Revisions,
                keys::revision(ty, &tid, old.version),
                old.to_bytes(),
            );
            plan.put(Tree::Entries, keys::entry(ty, &tid), t.to_bytes());
            plan.change(change_event("update", &t, public, now));
            let mut item = HistoryItem::change(
                HistoryKind::Edit,
                None,
                (&old.state, &t.state),
                None,
                t.version,
                now,
            );
            item.comment = Some(format!(
                "linked fields taken from the original ({} version {})",
                source.locale, source.version
            ));
            self.plan_history(plan, ty, &tid, &item);
        }
        Ok(())
    }

    /// Where a translation stands against its original's current version (`None` for an
    /// entry that is no translation).
    pub fn translation_status(
        &self,
        rec: &EntryRecord,
    ) -> ContentResult<Option<TranslationStatus>> {
        let Some(root) = &rec.translation_of else {
            return Ok(None);
        };
        let ct = self.content_type(&rec.ty)?.clone();
        let original = self.get(&rec.ty, root)?;
        Ok(Some(TranslationStatus {
            outdated: outdated_fields(&ct, rec, &original),
            original: original.id,
            original_locale: original.locale,
            original_version: original.version,
        }))
    }

    /// The translation of `id`'s group in `locale`, if there is one (the original when it is
    /// in that locale).
    pub fn translation_in(
        &self,
        ty: &str,
        id: &str,
        locale: &str,
    ) -> ContentResult<Option<EntryRecord>> {
        let ct = self.content_type(ty)?.clone();
        let rec = self.get(ty, id)?;
        if rec.locale == locale {
            return Ok(Some(rec));
        }
        let root = rec.translation_of.clone().unwrap_or_else(|| rec.id.clone());
        let mut reads = Plan::new(self.store.as_ref());
        let original = self.read_record(&mut reads, &ct.name, &root)?;
        if let Some(o) = original.filter(|o| o.locale == locale) {
            return Ok(Some(o));
        }
        match self.read_group(&mut reads, ty, &root)?.get(locale) {
            Some(tid) => Ok(self.read_record(&mut reads, ty, tid)?),
            None => Ok(None),
        }
    }

    /// The locales in which `ty` has published entries.
    pub fn published_locales(&self, ty: &str) -> ContentResult<Vec<String>> {
        let prefix = keys::locale_count_key(ty, "");
        Ok(self
            .store
            .scan_prefix(Tree::Meta, &prefix, false, 64)?
            .into_iter()
            .filter(|(_, v)| super::plan::counter_value(Some(v.clone())) > 0)
            .map(|(k, _)| String::from_utf8_lossy(&k[prefix.len()..]).into_owned())
            .collect())
    }

    /// The published public JSON of `id`'s group member in the first locale of `chain` that
    /// has one (the delivery API's `locale` with `fallback`).
    pub fn published_in_chain(
        &self,
        ty: &str,
        id: &str,
        chain: &[&str],
    ) -> ContentResult<Option<Vec<u8>>> {
        let ct = self.content_type(ty)?.clone();
        if !ct.is_public() {
            return Ok(None);
        }
        let mut reads = Plan::new(self.store.as_ref());
        let Some(rec) = self.read_record(&mut reads, ty, id)? else {
            return Ok(None);
        };
        let root = rec.translation_of.clone().unwrap_or_else(|| rec.id.clone());
        let group = self.read_group(&mut reads, ty, &root)?;
        for locale in chain {
            let member = match group.get(*locale) {
                Some(tid) => Some(tid.clone()),
                None => self
                    .read_record(&mut reads, ty, &root)?
                    .filter(|o| o.locale == *locale)
                    .map(|o| o.id),
            };
            if let Some(m) = member
                && let Some(doc) = self.store.get(Tree::Published, &keys::entry(ty, &m))?
            {
                return Ok(Some(doc));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::content::{ImportLine, NewEntry};

    /// The demo's members and stories (with their English translations) in a fresh store.
    fn demo() -> (tempfile::TempDir, ContentService) {
        let tmp = tempfile::tempdir().unwrap();
        let store: Arc<dyn crate::Store> = Arc::new(crate::SledStore::open(tmp.path()).unwrap());
        let svc = ContentService::new(store, Arc::new(crate::SchemaRegistry::builtin()));
        for (ty, text) in crate::demo::FILES.iter().take(2) {
            let lines = text.lines().enumerate().map(|(i, l)| ImportLine {
                line: i + 1,
                text: l.to_string(),
            });
            let report = svc.import(ty, lines, 1000, |_| {}).unwrap();
            assert!(report.errors.is_empty(), "{:?}", report.errors);
        }
        // As opening a data dir does: records what the public view was built from.
        svc.refresh_public_view().unwrap();
        (tmp, svc)
    }

    #[test]
    fn a_rebuilt_public_view_names_the_same_translations_and_counts_the_same_pairs() {
        let (_tmp, svc) = demo();
        assert_eq!(svc.check_integrity().unwrap(), Vec::<String>::new());
        let before = svc.public_changes(0, 10_000).unwrap().last_seq;
        let published = |svc: &ContentService| {
            svc.store()
                .scan_prefix(Tree::Published, b"", false, usize::MAX)
                .unwrap()
        };
        let docs = published(&svc);
        assert!(
            docs.iter()
                .any(|(_, d)| super::super::read::translation_locales(d) == ["en"]),
            "a German original names its English translation"
        );
        // Forget what the story view was built from: opening rebuilds it.
        svc.store()
            .commit({
                let mut b = crate::store::WriteBatch::new();
                b.remove(Tree::Meta, b"index_spec\0story".to_vec());
                b
            })
            .unwrap();
        assert_eq!(
            svc.refresh_public_view().unwrap(),
            vec!["story".to_string()]
        );
        assert_eq!(published(&svc), docs);
        assert_eq!(svc.check_integrity().unwrap(), Vec::<String>::new());
        assert_eq!(svc.public_changes(0, 10_000).unwrap().last_seq, before);
    }

    #[test]
    fn a_translation_cannot_take_a_locale_its_group_has() {
        let (_tmp, svc) = demo();
        let original = svc
            .get_by_id_or_slug("story", "retrofit-giesserei-erzgebirge", "de")
            .unwrap();
        let err = svc
            .create(
                "story",
                NewEntry {
                    locale: Some("de".into()),
                    translation_of: Some(original.id.clone()),
                    data: serde_json::json!({"title": "Doppelt", "slug": "doppelt", "teaser": "x", "body": "y"}),
                    ..NewEntry::default()
                },
                None,
            )
            .unwrap_err();
        assert!(err.to_string().contains("in locale de already"), "{err}");
        let err = svc
            .create(
                "story",
                NewEntry {
                    locale: Some("en".into()),
                    translation_of: Some(original.id.clone()),
                    data: serde_json::json!({"title": "Twice", "slug": "twice", "teaser": "x", "body": "y"}),
                    ..NewEntry::default()
                },
                None,
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("has a translation in en already"),
            "{err}"
        );
        let fr = svc
            .create(
                "story",
                NewEntry {
                    locale: Some("fr".into()),
                    translation_of: Some(original.id.clone()),
                    data: serde_json::json!({"title": "Vieilles machines", "slug": "vieilles-machines", "teaser": "x", "body": "y"}),
                    ..NewEntry::default()
                },
                None,
            )
            .unwrap();
        assert_eq!(fr.data["topics"], original.data["topics"], "linked");
        assert_eq!(fr.data["kind"], original.data["kind"], "linked");
        let group = svc.translations("story", &original.id).unwrap();
        let locales: Vec<&str> = group.iter().map(|r| r.locale.as_str()).collect();
        assert_eq!(locales[0], "de");
        assert!(locales.contains(&"en") && locales.contains(&"fr"));
        assert_eq!(svc.check_integrity().unwrap(), Vec::<String>::new());
    }
}
