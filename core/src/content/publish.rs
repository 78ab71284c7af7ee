//! The public view of an entry: making a version the published one (its copy, public index
//! keys and change event) and taking it away. Shared by writes and transitions.

use chrono::{DateTime, Utc};

use super::commit::parse_record;
use super::entry::{EntryRecord, render_public_with};
use super::keys::{self, SCOPE_PUBLISHED};
use super::plan::Plan;
use super::public_index::{self, public_index};
use super::{ContentError, ContentResult, ContentService};
use crate::schema::{ContentType, FieldError};
use crate::store::Tree;

impl ContentService {
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
        self.check_alt_texts(plan, ct, rec, errors)?;
        if !errors.is_empty() {
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
        let links = self.public_links(plan, ct, rec)?;
        if before.is_none() {
            // Newly public: its group is now published in its locale and each of theirs.
            for l in &links.translations {
                plan.add_counter(
                    Tree::Meta,
                    &keys::pair_count_key(ty, &rec.locale, &l.locale),
                    1,
                )?;
            }
        }
        let doc = render_public_with(ct, rec, &links);
        public_index::apply(
            plan,
            ty,
            &rec.id,
            before_index.as_ref(),
            Some((&public_index(ct, rec), &doc)),
        )?;
        if let Some(slug) = rec.slug(ct) {
            plan.put(
                Tree::Slugs,
                keys::slug(SCOPE_PUBLISHED, ty, &rec.locale, slug),
                rec.id.as_bytes().to_vec(),
            );
        }
        plan.put(Tree::Published, keys::entry(ty, &rec.id), doc);
        super::assets::plan_shown(plan, ct, before, Some(rec));
        let root = rec.translation_of.clone().unwrap_or_else(|| rec.id.clone());
        if rec.translation_of.is_some() || !self.read_group(plan, ty, &root)?.is_empty() {
            // The other members read this one's record: it is public now (the caller writes
            // its final record later in the same batch).
            plan.put(Tree::Entries, keys::entry(ty, &rec.id), rec.to_bytes());
            if rec.translation_of.is_none() {
                self.propagate_linked(plan, ct, rec, now)?;
            }
            self.refresh_group(plan, ct, &root, &rec.id)?;
        }
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
        for l in self.public_links(plan, ct, before)?.translations {
            plan.add_counter(
                Tree::Meta,
                &keys::pair_count_key(ty, &before.locale, &l.locale),
                -1,
            )?;
        }
        public_index::apply(plan, ty, &before.id, Some(&public_index(ct, before)), None)?;
        plan.remove(Tree::Published, keys::entry(ty, &before.id));
        super::assets::plan_shown(plan, ct, Some(before), None);
        let root = before
            .translation_of
            .clone()
            .unwrap_or_else(|| before.id.clone());
        if before.translation_of.is_some() || !self.read_group(plan, ty, &root)?.is_empty() {
            // The other members must no longer name this one (see `plan_publish`).
            if let Some(bytes) = plan.read(Tree::Entries, &keys::entry(ty, &before.id))? {
                let mut current = parse_record(&bytes)?;
                current.published_version = None;
                plan.put(
                    Tree::Entries,
                    keys::entry(ty, &before.id),
                    current.to_bytes(),
                );
            }
            self.refresh_group(plan, ct, &root, &before.id)?;
        }
        Ok(())
    }
}
