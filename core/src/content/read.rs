//! Reading entries: current records, revisions, referrers and the published view.

use serde::Serialize;

use super::entry::EntryRecord;
use super::keys::count_key;
use super::keys::{self, SCOPE_CURRENT, SCOPE_PUBLISHED};
use super::write::is_valid_id;
use super::{ContentError, ContentResult, ContentService};
use crate::store::Tree;

/// An entry that references another one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Referrer {
    #[serde(rename = "type")]
    pub ty: String,
    pub id: String,
    pub fields: Vec<String>,
}

fn parse(bytes: &[u8]) -> ContentResult<EntryRecord> {
    EntryRecord::from_bytes(bytes).map_err(ContentError::Corrupt)
}

impl ContentService {
    /// The current version of an entry by id.
    pub fn get(&self, ty: &str, id: &str) -> ContentResult<EntryRecord> {
        self.content_type(ty)?;
        match self.store.get(Tree::Entries, &keys::entry(ty, id))? {
            Some(b) => parse(&b),
            None => Err(ContentError::NotFound {
                ty: ty.into(),
                id: id.into(),
            }),
        }
    }

    /// The stored record bytes of an entry (no parsing), if it exists.
    pub fn get_raw(&self, ty: &str, id: &str) -> ContentResult<Option<Vec<u8>>> {
        Ok(self.store.get(Tree::Entries, &keys::entry(ty, id))?)
    }

    /// The current version by id, or by slug in `locale`.
    pub fn get_by_id_or_slug(
        &self,
        ty: &str,
        id_or_slug: &str,
        locale: &str,
    ) -> ContentResult<EntryRecord> {
        self.content_type(ty)?;
        if is_valid_id(id_or_slug)
            && let Some(b) = self
                .store
                .get(Tree::Entries, &keys::entry(ty, id_or_slug))?
        {
            return parse(&b);
        }
        // The slug in `locale`, else in the other locales the type is published in (a
        // translation is named by its own slug).
        let mut locales = vec![locale.to_string()];
        for l in self.published_locales(ty)? {
            if !locales.contains(&l) {
                locales.push(l);
            }
        }
        for l in &locales {
            let slug_key = keys::slug(SCOPE_CURRENT, ty, l, id_or_slug);
            if let Some(id) = self.store.get(Tree::Slugs, &slug_key)?
                && let Some(b) = self.store.get(
                    Tree::Entries,
                    &keys::entry(ty, &String::from_utf8_lossy(&id)),
                )?
            {
                return parse(&b);
            }
        }
        Err(ContentError::NotFound {
            ty: ty.into(),
            id: id_or_slug.into(),
        })
    }

    /// Every stored version of an entry, oldest first.
    pub fn revisions(&self, ty: &str, id: &str) -> ContentResult<Vec<EntryRecord>> {
        self.content_type(ty)?;
        let revs = self.store.scan_prefix(
            Tree::Revisions,
            &keys::revisions_prefix(ty, id),
            false,
            usize::MAX,
        )?;
        let mut out = revs
            .iter()
            .map(|(_, v)| parse(v))
            .collect::<ContentResult<Vec<_>>>()?;
        // The current version lives in `entries` (absent once the entry is deleted).
        if let Some(b) = self.store.get(Tree::Entries, &keys::entry(ty, id))? {
            out.push(parse(&b)?);
        }
        if out.is_empty() {
            return Err(ContentError::NotFound {
                ty: ty.into(),
                id: id.into(),
            });
        }
        Ok(out)
    }

    /// One version of an entry.
    pub fn revision(&self, ty: &str, id: &str, version: u64) -> ContentResult<EntryRecord> {
        self.content_type(ty)?;
        if let Some(b) = self.store.get(Tree::Entries, &keys::entry(ty, id))? {
            let current = parse(&b)?;
            if current.version == version {
                return Ok(current);
            }
        }
        match self
            .store
            .get(Tree::Revisions, &keys::revision(ty, id, version))?
        {
            Some(b) => parse(&b),
            None => Err(ContentError::NotFound {
                ty: ty.into(),
                id: format!("{id} version {version}"),
            }),
        }
    }

    /// The entries that reference `ty`/`id`, with the fields that do.
    pub fn referrers(&self, ty: &str, id: &str) -> ContentResult<Vec<Referrer>> {
        let prefix = keys::refs_to(ty, id);
        let mut out = Vec::new();
        for (k, v) in self
            .store
            .scan_prefix(Tree::Refs, &prefix, false, usize::MAX)?
        {
            let rest = &k[prefix.len()..];
            let mut parts = rest.splitn(2, |b| *b == 0);
            let (Some(sty), Some(sid)) = (parts.next(), parts.next()) else {
                continue;
            };
            out.push(Referrer {
                ty: String::from_utf8_lossy(sty).into_owned(),
                id: String::from_utf8_lossy(sid).into_owned(),
                fields: String::from_utf8_lossy(&v)
                    .split(',')
                    .map(String::from)
                    .collect(),
            });
        }
        Ok(out)
    }

    /// The original and every translation of an entry, the original first.
    pub fn translations(&self, ty: &str, id: &str) -> ContentResult<Vec<EntryRecord>> {
        let rec = self.get(ty, id)?;
        let root = rec.translation_of.clone().unwrap_or_else(|| rec.id.clone());
        let mut out = vec![self.get(ty, &root)?];
        for r in self.referrers(ty, &root)? {
            if r.ty == ty && r.fields.iter().any(|f| f == "translation_of") {
                out.push(self.get(ty, &r.id)?);
            }
        }
        Ok(out)
    }

    /// The public JSON of a published entry, by id or by slug in `locale`.
    pub fn get_published(
        &self,
        ty: &str,
        id_or_slug: &str,
        locale: &str,
    ) -> ContentResult<Option<Vec<u8>>> {
        let ct = self.content_type(ty)?;
        if !ct.is_public() {
            return Ok(None);
        }
        if is_valid_id(id_or_slug)
            && let Some(b) = self
                .store
                .get(Tree::Published, &keys::entry(ty, id_or_slug))?
        {
            return Ok(Some(b));
        }
        let slug_key = keys::slug(SCOPE_PUBLISHED, ty, locale, id_or_slug);
        Ok(self.store.get_through(
            Tree::Slugs,
            &slug_key,
            Tree::Published,
            &keys::entry(ty, ""),
        )?)
    }

    /// Number of entries of a type: all, or only published ones.
    pub fn count(&self, ty: &str, published_only: bool) -> ContentResult<u64> {
        self.content_type(ty)?;
        let scope = if published_only {
            SCOPE_PUBLISHED
        } else {
            SCOPE_CURRENT
        };
        Ok(super::plan::counter_value(
            self.store.get(Tree::Meta, &count_key(scope, ty))?,
        ))
    }
}

/// A change of the published view (what caches, static-site builds and replicas follow), as
/// the change feed gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ChangeEvent {
    /// Sequence number; pass the last one as `since`.
    #[serde(default)]
    #[schemars(range(min = 1), transform = drop_default)]
    pub seq: u64,
    /// create, update, state (a transition), schedule or delete.
    #[schemars(example = &"state")]
    pub op: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub id: String,
    /// The entry's locale (absent on events recorded before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"de")]
    pub locale: Option<String>,
    /// The entry's version after the change.
    pub version: u64,
    /// The entry's state after the change.
    pub state: String,
    /// The state before a transition (`op` = state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"review")]
    pub from: Option<String>,
    /// The version the public sees after the change; absent when none (unpublished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub published_version: Option<u64>,
    /// When it happened.
    #[schemars(with = "chrono::DateTime<chrono::Utc>")]
    pub at: String,
    /// Whether the published view changed (stored with the event, not sent).
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub public: bool,
}

/// The sequence number is not stored in the event (the feed knows it), so it has a default
/// when read back; the feed always sends it.
fn drop_default(schema: &mut schemars::Schema) {
    schema.remove("default");
}

/// A page of the public change feed.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeFeed {
    /// Events that changed the published view, each with its `seq`.
    pub events: Vec<ChangeEvent>,
    /// Pass as `since` to continue.
    pub next_since: u64,
    /// The newest sequence number in the store.
    pub last_seq: u64,
}

impl ContentService {
    /// Change events with `seq > since` that touched the published view (what caches and
    /// static-site builds need), scanning at most `limit` events.
    pub fn public_changes(&self, since: u64, limit: usize) -> ContentResult<ChangeFeed> {
        let raw = self.store.changes_since(since, limit)?;
        let next_since = raw.last().map_or(since, |c| c.seq);
        let mut events = Vec::new();
        for c in raw {
            let mut event: ChangeEvent = serde_json::from_slice(&c.payload)
                .map_err(|e| ContentError::Corrupt(format!("change {}: {e}", c.seq)))?;
            let personal = self.schemas.get(&event.ty).is_none_or(|t| !t.is_public());
            if !event.public || personal {
                continue;
            }
            event.seq = c.seq;
            events.push(event);
        }
        Ok(ChangeFeed {
            events,
            next_since,
            last_seq: self.store.last_seq()?,
        })
    }
}

/// The `id` of a stored public JSON document, read without parsing the rest.
pub fn public_id(doc: &[u8]) -> Option<String> {
    // `render_public` writes the id first, and an id is plain ASCII: no parsing at all.
    if let Some(rest) = doc.strip_prefix(b"{\"id\":\"")
        && let Some(end) = rest.iter().position(|b| *b == b'"')
        && rest[..end].iter().all(u8::is_ascii_alphanumeric)
    {
        return std::str::from_utf8(&rest[..end]).ok().map(String::from);
    }
    #[derive(serde::Deserialize)]
    struct Head {
        id: String,
    }
    serde_json::from_slice::<Head>(doc).ok().map(|h| h.id)
}

/// The locales of the published translations a stored public JSON document names (its
/// `translations`). Most documents have none: they are passed over by a byte search, without
/// parsing.
pub fn translation_locales(doc: &[u8]) -> Vec<String> {
    const KEY: &[u8] = b"\"translations\":[";
    if !doc.windows(KEY.len()).any(|w| w == KEY) {
        return Vec::new();
    }
    #[derive(serde::Deserialize)]
    struct Link {
        locale: String,
    }
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(default)]
        translations: Vec<Link>,
    }
    serde_json::from_slice::<Head>(doc)
        .map(|h| h.translations.into_iter().map(|l| l.locale).collect())
        .unwrap_or_default()
}

impl ContentService {
    /// Current versions of a type (any state, or one state), in id order after `after`.
    /// Returns the page and the id to continue after, if there is more.
    pub fn list_current(
        &self,
        ty: &str,
        state: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> ContentResult<(Vec<EntryRecord>, Option<String>)> {
        self.list_current_where(ty, after, limit, |rec| state.is_none_or(|s| s == rec.state))
    }

    /// Current versions of `ty` in id order that satisfy `keep`, after the id `after`; the
    /// second value is the cursor of the next page.
    pub fn list_current_where(
        &self,
        ty: &str,
        after: Option<&str>,
        limit: usize,
        keep: impl Fn(&EntryRecord) -> bool,
    ) -> ContentResult<(Vec<EntryRecord>, Option<String>)> {
        self.list_current_until(ty, after, limit, |rec, _| Some(keep(rec)))
    }

    /// Like [`list_current_where`](Self::list_current_where), but `keep` also sees each
    /// record's stored size and may end the scan early by answering `None` (e.g. when the
    /// caller's budget is spent); what was kept so far is returned, without a cursor.
    pub fn list_current_until(
        &self,
        ty: &str,
        after: Option<&str>,
        limit: usize,
        mut keep: impl FnMut(&EntryRecord, usize) -> Option<bool>,
    ) -> ContentResult<(Vec<EntryRecord>, Option<String>)> {
        self.content_type(ty)?;
        let prefix = keys::entry(ty, "");
        let mut start = match after {
            Some(id) => {
                let mut k = keys::entry(ty, id);
                k.push(0);
                k
            }
            None => prefix.clone(),
        };
        let end = crate::store::prefix_end(&prefix);
        let mut out = Vec::new();
        loop {
            let chunk = self
                .store
                .scan_range(Tree::Entries, &start, &end, false, 256)?;
            let exhausted = chunk.len() < 256;
            for (_, v) in &chunk {
                let rec = parse(v)?;
                let Some(kept) = keep(&rec, v.len()) else {
                    return Ok((out, None));
                };
                if kept {
                    if out.len() == limit {
                        let next = out.last().map(|r: &EntryRecord| r.id.clone());
                        return Ok((out, next));
                    }
                    out.push(rec);
                }
            }
            match chunk.last() {
                Some((k, _)) if !exhausted => {
                    start = k.clone();
                    start.push(0);
                }
                _ => return Ok((out, None)),
            }
        }
    }

    /// The public rendition of an entry's current version (for previews of drafts).
    pub fn preview(&self, ty: &str, id_or_slug: &str, locale: &str) -> ContentResult<Vec<u8>> {
        let ct = self.content_type(ty)?.clone();
        let rec = self.get_by_id_or_slug(ty, id_or_slug, locale)?;
        Ok(super::entry::render_public(&ct, &rec))
    }
}
