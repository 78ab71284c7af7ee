//! What an entry's references must keep true: slugs unique per type and locale, referenced
//! entries existing, translations pointing at an entry of the same type, and the referrer
//! index that keeps a referenced entry from being deleted.

use std::collections::BTreeMap;

use serde_json::Value;

use super::commit::parse_record;
use super::entry::EntryRecord;
use super::keys::{self, SCOPE_CURRENT, SCOPE_PUBLISHED};
use super::plan::Plan;
use super::write::is_valid_id;
use super::{ContentResult, ContentService};
use crate::schema::{ContentType, FieldError};
use crate::store::Tree;

/// `{target type, target id}` → the fields of the source that reference it.
pub(super) type RefMap = BTreeMap<(String, String), Vec<String>>;

/// The references a record's fields make, by target.
pub(super) fn refs_of(ct: &ContentType, data: &serde_json::Map<String, Value>) -> RefMap {
    let mut out = RefMap::new();
    let assets = ct.asset_fields().map(|(f, _)| (f, crate::media::ASSET_REF));
    for (field, target) in ct.reference_fields().chain(assets) {
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

impl ContentService {
    pub(super) fn check_slug(
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

    /// The problems only the store can tell (a slug taken, a reference to no entry), added to
    /// `errors` of an entry whose fields have other problems too: one answer names them all.
    pub(super) fn store_problems(
        &self,
        ct: &ContentType,
        rec: &EntryRecord,
        errors: &mut Vec<FieldError>,
    ) -> ContentResult<()> {
        let mut plan = Plan::new(self.store.as_ref());
        let slug_field = ct.options.slug.as_deref().map(|f| format!("/{f}"));
        if !errors
            .iter()
            .any(|e| Some(&e.pointer) == slug_field.as_ref())
        {
            self.check_slug(&mut plan, ct, rec, SCOPE_CURRENT, errors)?;
        }
        // Only well-formed ids: a malformed one has its own error already.
        let refs: RefMap = refs_of(ct, &rec.data)
            .into_iter()
            .filter(|((_, id), _)| is_valid_id(id))
            .collect();
        self.check_refs_exist(&mut plan, &refs, &rec.data, errors)?;
        errors.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        errors.dedup();
        Ok(())
    }

    pub(super) fn check_refs_exist(
        &self,
        plan: &mut Plan,
        refs: &RefMap,
        data: &serde_json::Map<String, Value>,
        errors: &mut Vec<FieldError>,
    ) -> ContentResult<()> {
        for ((target, target_id), fields) in refs {
            // Asset fields are checked by `check_assets`, with their kind.
            if target == crate::media::ASSET_REF {
                continue;
            }
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

    pub(super) fn check_translation(
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

    pub(super) fn add_refs(
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

    pub(super) fn remove_refs(
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
