//! Asset records in the store and what entries' asset fields must keep true: an asset field
//! names an existing asset of the right kind (the reference index keeps a referenced asset
//! from being deleted), and a published entry's images have alt text in its locale unless
//! they are marked decorative.

use chrono::Utc;
use serde_json::{Value, json};

use super::commit::audit;
use super::entry::EntryRecord;
use super::keys;
use super::plan::Plan;
use super::read::Referrer;
use super::write::is_valid_id;
use super::{ContentError, ContentResult, ContentService};
use crate::media::{ASSET_REF, Asset, AssetKind, check_asset};
use crate::schema::{ContentType, FieldError};
use crate::store::Tree;

/// `a\0{id}`: an asset's record.
pub fn asset_key(id: &str) -> Vec<u8> {
    crate::store::key(&[b"a", id.as_bytes()])
}

/// `h\0{sha256}\0{id}`: which assets use a blob.
fn by_hash(sha: &str, id: &str) -> Vec<u8> {
    crate::store::key(&[b"h", sha.as_bytes(), id.as_bytes()])
}

fn hash_prefix(sha: &str) -> Vec<u8> {
    let mut k = crate::store::key(&[b"h", sha.as_bytes()]);
    k.push(0);
    k
}

/// `p\0{asset id}\0{type}\0{entry id}`: a published version shows the asset (so it is public,
/// and it stays undeletable even when the entry's current draft no longer names it).
fn shown_key(asset: &str, ty: &str, id: &str) -> Vec<u8> {
    crate::store::key(&[b"p", asset.as_bytes(), ty.as_bytes(), id.as_bytes()])
}

fn shown_prefix(asset: &str) -> Vec<u8> {
    let mut k = crate::store::key(&[b"p", asset.as_bytes()]);
    k.push(0);
    k
}

/// The asset ids a record's asset fields hold.
fn ids_of(ct: &ContentType, rec: &EntryRecord) -> Vec<String> {
    let mut out = Vec::new();
    for (field, _) in ct.asset_fields() {
        for (_, id) in asset_ids(rec.data.get(field)) {
            if !out.iter().any(|x| x == id) {
                out.push(id.to_string());
            }
        }
    }
    out
}

/// Moves the "shown by a published version" keys from `before` (the version that was public)
/// to `after` (the one that is now; `None` when the entry goes offline).
pub(super) fn plan_shown(
    plan: &mut Plan,
    ct: &ContentType,
    before: Option<&EntryRecord>,
    after: Option<&EntryRecord>,
) {
    let old = before.map(|b| ids_of(ct, b)).unwrap_or_default();
    let new = after.map(|a| ids_of(ct, a)).unwrap_or_default();
    let (ty, id) = match (before, after) {
        (_, Some(r)) | (Some(r), None) => (r.ty.clone(), r.id.clone()),
        (None, None) => return,
    };
    for a in old.iter().filter(|a| !new.contains(a)) {
        plan.remove(Tree::Assets, shown_key(a, &ty, &id));
    }
    for a in new.iter().filter(|a| !old.contains(a)) {
        plan.put(Tree::Assets, shown_key(a, &ty, &id), Vec::new());
    }
}

/// An asset as a write reads it (a check at commit), at the version the writer edited.
fn read_for_write(plan: &mut Plan, id: &str, expected: Option<u64>) -> ContentResult<Asset> {
    let Some(bytes) = plan.read(Tree::Assets, &asset_key(id))? else {
        return Err(not_found(id));
    };
    let old = parse(&bytes)?;
    match expected {
        Some(e) if e != old.version => Err(ContentError::VersionConflict {
            expected: e,
            current: old.version,
        }),
        _ => Ok(old),
    }
}

fn parse(bytes: &[u8]) -> ContentResult<Asset> {
    serde_json::from_slice(bytes).map_err(|e| ContentError::Corrupt(format!("asset record: {e}")))
}

fn not_found(id: &str) -> ContentError {
    ContentError::NotFound {
        ty: ASSET_REF.into(),
        id: id.into(),
    }
}

fn asset_change(op: &str, a: &Asset) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "op": op,
        "type": ASSET_REF,
        "id": a.id,
        "version": a.version,
        "state": "asset",
        "public": false,
        "at": Utc::now().to_rfc3339(),
    }))
    .unwrap_or_default()
}

/// The ids an asset field holds (one, or a list).
pub(super) fn asset_ids(v: Option<&Value>) -> Vec<(Option<usize>, &str)> {
    match v {
        Some(Value::String(s)) => vec![(None, s.as_str())],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_str().map(|s| (Some(i), s)))
            .collect(),
        _ => Vec::new(),
    }
}

fn pointer(field: &str, i: Option<usize>) -> String {
    match i {
        Some(i) => format!("/{field}/{i}"),
        None => format!("/{field}"),
    }
}

impl ContentService {
    /// Stores a new asset record (its original is in the blob store already).
    pub fn create_asset(&self, asset: Asset, actor: Option<&str>) -> ContentResult<Asset> {
        let errors = check_asset(&asset);
        if !errors.is_empty() {
            return Err(ContentError::Invalid { errors });
        }
        let out = self.commit_plan(|plan| {
            plan.put(Tree::Assets, asset_key(&asset.id), to_bytes(&asset));
            plan.put(Tree::Assets, by_hash(&asset.sha256, &asset.id), Vec::new());
            plan.change(asset_change("asset.create", &asset));
            audit(
                plan,
                actor,
                "asset.create",
                (ASSET_REF.into(), asset.id.clone()),
                (None, Some(1)),
                Some(format!("{} ({})", asset.filename, asset.media_type)),
            );
            Ok(asset.clone())
        })?;
        self.asset_changed();
        Ok(out)
    }

    /// An asset's record.
    pub fn get_asset(&self, id: &str) -> ContentResult<Asset> {
        if !is_valid_id(id) {
            return Err(not_found(id));
        }
        match self.store.get(Tree::Assets, &asset_key(id))? {
            Some(b) => parse(&b),
            None => Err(not_found(id)),
        }
    }

    /// Every asset, oldest first.
    pub fn list_assets(&self) -> ContentResult<Vec<Asset>> {
        let prefix = crate::store::key(&[b"a", b""]);
        self.store
            .scan_prefix(Tree::Assets, &prefix, false, usize::MAX)?
            .iter()
            .map(|(_, v)| parse(v))
            .collect()
    }

    /// Changes an asset's metadata with a JSON merge patch of its editable fields
    /// (`filename`, `alt`, `decorative`, `caption`, `credit`, `license`, `focal`, `crop`,
    /// `consent`).
    pub fn update_asset(
        &self,
        id: &str,
        expected_version: Option<u64>,
        patch: &Value,
        actor: Option<&str>,
    ) -> ContentResult<Asset> {
        let Some(obj) = patch.as_object() else {
            return Err(ContentError::Invalid {
                errors: vec![FieldError::new(
                    "",
                    "send a JSON object of the fields to change",
                )],
            });
        };
        const EDITABLE: [&str; 9] = [
            "filename",
            "alt",
            "decorative",
            "caption",
            "credit",
            "license",
            "focal",
            "crop",
            "consent",
        ];
        let unknown: Vec<FieldError> = obj
            .keys()
            .filter(|k| !EDITABLE.contains(&k.as_str()))
            .map(|k| {
                FieldError::new(
                    format!("/{k}"),
                    format!(
                        "cannot be changed; an asset's editable fields are {}",
                        EDITABLE.join(", ")
                    ),
                )
            })
            .collect();
        if !unknown.is_empty() {
            return Err(ContentError::Invalid { errors: unknown });
        }
        let out = self.commit_plan(|plan| {
            let old = read_for_write(plan, id, expected_version)?;
            let mut doc =
                serde_json::to_value(&old).map_err(|e| ContentError::Corrupt(e.to_string()))?;
            json_patch::merge(&mut doc, patch);
            // A null `alt` or `decorative` means "none".
            if doc["alt"].is_null() {
                doc["alt"] = json!({});
            }
            if doc["decorative"].is_null() {
                doc["decorative"] = json!(false);
            }
            let mut new: Asset =
                serde_json::from_value(doc).map_err(|e| ContentError::Invalid {
                    errors: vec![FieldError::new(
                        "",
                        format!("the patch does not fit an asset: {e}"),
                    )],
                })?;
            new.id = old.id.clone();
            new.version = old.version + 1;
            new.updated_at = Utc::now();
            let errors = check_asset(&new);
            if !errors.is_empty() {
                return Err(ContentError::Invalid { errors });
            }
            plan.put(Tree::Assets, asset_key(id), to_bytes(&new));
            plan.change(asset_change("asset.update", &new));
            audit(
                plan,
                actor,
                "asset.update",
                (ASSET_REF.into(), id.to_string()),
                (Some(old.version), Some(new.version)),
                Some(obj.keys().cloned().collect::<Vec<_>>().join(", ")),
            );
            Ok(new)
        })?;
        self.asset_changed();
        Ok(out)
    }

    /// Deletes an asset that no entry uses. Returns the record and whether its blob is still
    /// used by another asset (if not, the caller collects it).
    pub fn delete_asset(
        &self,
        id: &str,
        expected_version: Option<u64>,
        actor: Option<&str>,
        action: &str,
    ) -> ContentResult<(Asset, bool)> {
        let out = self.commit_plan(|plan| {
            let old = read_for_write(plan, id, expected_version)?;
            let count =
                super::plan::counter_value(plan.read(Tree::Refs, &keys::ref_count(ASSET_REF, id))?);
            if action != "asset.erase" {
                let shown = self.published_users(id)?;
                if count > 0 || !shown.is_empty() {
                    let mut referrers = self.referrers(ASSET_REF, id)?;
                    for r in shown {
                        if !referrers.iter().any(|x| x.ty == r.ty && x.id == r.id) {
                            referrers.push(r);
                        }
                    }
                    return Err(ContentError::Referenced { referrers });
                }
            }
            plan.remove(Tree::Assets, asset_key(id));
            plan.remove(Tree::Assets, by_hash(&old.sha256, id));
            plan.change(asset_change("asset.delete", &old));
            audit(
                plan,
                actor,
                action,
                (ASSET_REF.into(), id.to_string()),
                (Some(old.version), None),
                None,
            );
            Ok(old)
        })?;
        self.asset_changed();
        let still_used = self.blob_in_use(&out.sha256)?;
        Ok((out, still_used))
    }

    /// The assets whose consent note names this address (photos showing the person).
    pub fn assets_of_person(&self, email: &str) -> ContentResult<Vec<Asset>> {
        Ok(self
            .list_assets()?
            .into_iter()
            .filter(|a| a.names_person(email))
            .collect())
    }

    /// Whether any asset uses the blob with this hash.
    pub fn blob_in_use(&self, sha: &str) -> ContentResult<bool> {
        Ok(!self
            .store
            .scan_prefix(Tree::Assets, &hash_prefix(sha), false, 1)?
            .is_empty())
    }

    /// The entries whose current version uses an asset.
    pub fn asset_referrers(&self, id: &str) -> ContentResult<Vec<Referrer>> {
        self.referrers(ASSET_REF, id)
    }

    /// Whether an asset is shown by the published version of an entry (and so may be served
    /// to anyone).
    pub fn asset_is_public(&self, id: &str) -> ContentResult<bool> {
        Ok(!self
            .store
            .scan_prefix(Tree::Assets, &shown_prefix(id), false, 1)?
            .is_empty())
    }

    /// The entries whose published version shows an asset.
    fn published_users(&self, id: &str) -> ContentResult<Vec<Referrer>> {
        let prefix = shown_prefix(id);
        let mut out = Vec::new();
        for (k, _) in self
            .store
            .scan_prefix(Tree::Assets, &prefix, false, usize::MAX)?
        {
            let rest = &k[prefix.len()..];
            let mut parts = rest.splitn(2, |b| *b == 0);
            if let (Some(ty), Some(eid)) = (parts.next(), parts.next()) {
                out.push(Referrer {
                    ty: String::from_utf8_lossy(ty).into_owned(),
                    id: String::from_utf8_lossy(eid).into_owned(),
                    fields: vec!["(published version)".into()],
                });
            }
        }
        Ok(out)
    }

    /// Asset changes alter delivery answers (their metadata is part of them).
    fn asset_changed(&self) {
        self.public_generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Checks the asset fields of entry data: each id names an asset of the field's kind.
    pub(super) fn check_assets(
        &self,
        plan: &mut Plan,
        ct: &ContentType,
        data: &serde_json::Map<String, Value>,
        errors: &mut Vec<FieldError>,
    ) -> ContentResult<()> {
        for (field, kind) in ct.asset_fields() {
            for (i, id) in asset_ids(data.get(field)) {
                let found = if is_valid_id(id) {
                    plan.read(Tree::Assets, &asset_key(id))?
                } else {
                    None
                };
                let Some(bytes) = found else {
                    errors.push(FieldError::new(
                        pointer(field, i),
                        format!(
                            "expects the id of an uploaded {} (`verbund asset upload FILE` prints it), got {id:?}, which is no asset",
                            kind.name()
                        ),
                    ));
                    continue;
                };
                let asset = parse(&bytes)?;
                if kind == AssetKind::Image && asset.kind != AssetKind::Image {
                    errors.push(FieldError::new(
                        pointer(field, i),
                        format!(
                            "expects an image, but asset {id} ({}) is a {}",
                            asset.filename, asset.media_type
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// At publication: every image of the entry has alt text in its locale or is decorative.
    pub(super) fn check_alt_texts(
        &self,
        plan: &mut Plan,
        ct: &ContentType,
        rec: &EntryRecord,
        errors: &mut Vec<FieldError>,
    ) -> ContentResult<()> {
        for (field, kind) in ct.asset_fields() {
            if kind != AssetKind::Image {
                continue;
            }
            for (i, id) in asset_ids(rec.data.get(field)) {
                let Some(bytes) = plan.read(Tree::Assets, &asset_key(id))? else {
                    continue;
                };
                let asset = parse(&bytes)?;
                let has_alt = asset
                    .alt
                    .get(&rec.locale)
                    .is_some_and(|a| !a.trim().is_empty());
                if !(has_alt || asset.decorative) {
                    errors.push(FieldError::new(
                        pointer(field, i),
                        format!(
                            "image {id} ({}) has no alt text in locale {}: describe it with `verbund asset edit {id} --alt \"…\" --locale {}` (or mark it `--decorative` if it adds no information), then publish again",
                            asset.filename, rec.locale, rec.locale
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn to_bytes(a: &Asset) -> Vec<u8> {
    serde_json::to_vec(a).unwrap_or_default()
}
