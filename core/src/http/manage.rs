//! The management API: editors and admins create, edit, publish and delete entries.
//!
//! Every write needs a token with a fitting role; `PUT`, `PATCH` and `DELETE` need
//! `If-Match: "<version>"` (428 without, 409 with a stale one); every write lands in the audit
//! log in the same transaction.
//!
//! Personal data is for admins only: types that are personal data as a whole (subscribers) can
//! be read and written only with the admin role, and personal-data fields (`pii`, e.g. a member's
//! contact person) are left out of every answer to other roles. Their writes may not set such
//! fields; the stored values are kept when they send an entry back without them.

use super::Code;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use serde_json::Value;

use super::params::{self, blocking};
use super::typed::{
    AnyCreate, AnyEntry, AnyReplace, ApiPath, ApiQuery, Data, EntryPath, IfMatch, JsonBody,
    MergePatchBody, NoContent, Page, ParameterRefs, QueryParams, Reply, TypePath,
};
use super::{ApiError, AppState};
use crate::auth::{Caller, Role};
use crate::content::filter::{self, Filter, View};
use crate::content::{ContentError, EntryRecord, NewEntry};

/// Parses a JSON request body, with problem+json answers for everything a client can get wrong.
pub fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !(mime == "application/json" || mime.ends_with("+json")) {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            format!(
                "send JSON with `Content-Type: application/json` (got {:?})",
                ct
            ),
        ));
    }
    if body.is_empty() {
        return Err(ApiError::new(
            Code::InvalidJson,
            "the request body is empty; send a JSON object",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            Code::InvalidJson,
            format!("the request body is not valid JSON: {e}"),
        )
    })
}

/// The version in `If-Match`; a write without one is refused with 428.
pub(super) fn if_match(header: Option<&HeaderValue>) -> Result<u64, ApiError> {
    let Some(v) = header else {
        return Err(ApiError::new(
            Code::PreconditionRequired,
            "send `If-Match: \"<version>\"` with the version you edited (the ETag of GET …/{id}), so that no one else's change is overwritten",
        ));
    };
    let text = v.to_str().unwrap_or("");
    text.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse::<u64>()
        .map_err(|_| {
            ApiError::new(
                Code::InvalidIfMatch,
                format!("If-Match must be a version like \"3\", got {text:?}"),
            )
        })
}

/// The management JSON of an entry: its fields and metadata, and for a translation where it
/// stands against the original (`translation`).
fn flat(state: &AppState, rec: &EntryRecord) -> AnyEntry {
    let mut v = rec.to_flat_json();
    if let Ok(Some(status)) = state.content.translation_status(rec)
        && let Some(obj) = v.as_object_mut()
    {
        obj.insert(
            "translation".into(),
            serde_json::to_value(status).unwrap_or_default(),
        );
    }
    AnyEntry(v)
}

/// An entry with its version as ETag.
fn entry_response<const S: u16>(state: &AppState, rec: &EntryRecord) -> Reply<Data<AnyEntry>, S> {
    let mut res = Reply::json(&Data::of(flat(state, rec)))
        .header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", rec.version)) {
        res = res.header(header::ETAG, v);
    }
    res
}

/// Management reads need a role that edits or reviews: readers get the delivery preview.
fn require_staff(caller: &Caller) -> Result<(), ApiError> {
    if caller.role == Role::Reader {
        return Err(ApiError::new(
            Code::Forbidden,
            "this needs the editor, reviewer or admin role; readers can preview drafts with GET /api/v1/content/{type}/{id}?preview=true",
        ));
    }
    Ok(())
}

/// Types that are personal data as a whole are for admins only.
fn require_type(state: &AppState, caller: &Caller, ty: &str) -> Result<(), ApiError> {
    let ct = state.content.content_type(ty)?;
    if !ct.is_public() && caller.role != Role::Admin {
        return Err(ApiError::new(
            Code::Forbidden,
            format!(
                "{ty} entries are personal data as a whole: only admins may read or change them (this token has the {} role)",
                caller.role.name()
            ),
        ));
    }
    Ok(())
}

/// Whether the caller may see and set personal-data (`pii`) fields.
fn sees_personal(caller: &Caller) -> bool {
    caller.role == Role::Admin
}

/// The entry as the caller may see it: without personal-data fields unless admin.
fn redact(state: &AppState, caller: &Caller, mut rec: EntryRecord) -> EntryRecord {
    if !sees_personal(caller)
        && let Ok(ct) = state.content.content_type(&rec.ty)
    {
        rec.data
            .retain(|k, _| ct.fields.get(k).is_none_or(|f| !f.pii));
    }
    rec
}

/// Refuses a write by a non-admin that sets personal-data fields.
fn refuse_personal_fields(
    state: &AppState,
    caller: &Caller,
    ty: &str,
    value: &Value,
) -> Result<(), ApiError> {
    if sees_personal(caller) {
        return Ok(());
    }
    let ct = state.content.content_type(ty)?;
    let named: Vec<&str> = value
        .as_object()
        .map(|o| {
            o.keys()
                .filter(|k| ct.fields.get(*k).is_some_and(|f| f.pii))
                .map(String::as_str)
                .collect()
        })
        .unwrap_or_default();
    if named.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        Code::PersonalDataForbidden,
        format!(
            "only admins may set personal-data fields ({}); send the entry without them, and their stored values are kept",
            named.join(", ")
        ),
    ))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(TypePath { ty }): ApiPath<TypePath>,
    body: JsonBody<AnyCreate>,
) -> Result<Reply<Data<AnyEntry>, 201>, ApiError> {
    caller.require(Role::Editor)?;
    require_type(&state, &caller, &ty)?;
    let AnyCreate(value) = body.read()?;
    refuse_personal_fields(&state, &caller, &ty, &value)?;
    let new = NewEntry::from_json(value)
        .map_err(|errors| ApiError::from(crate::content::ContentError::Invalid { errors }))?;
    if new.state.as_deref().is_some_and(|s| s != "draft") {
        return Err(ApiError::from(crate::content::ContentError::Invalid {
            errors: vec![crate::schema::FieldError::new(
                "/state",
                "new entries start as drafts; publish with POST …/{id}/transitions {\"to\": \"published\"}",
            )],
        }));
    }
    let st = state.clone();
    let who = caller.clone();
    let rec = blocking(move || Ok(st.content.create(&ty, new, Some(&who.token_id))?)).await?;
    let rec = redact(&state, &caller, rec);
    let mut res = entry_response(&state, &rec);
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/manage/{}/{}", rec.ty, rec.id)) {
        res = res.header(header::LOCATION, v);
    }
    Ok(with_checks_skipped(&state, &rec.ty, res))
}

/// The query of the management list.
#[derive(schemars::JsonSchema)]
pub struct ListQuery {
    /// Only entries in this state, e.g. draft, published or archived.
    pub state: Option<String>,
    /// `meta.next_cursor` of the previous page (the id to continue after).
    pub cursor: Option<String>,
    /// Page size (400 invalid_limit outside 1–100).
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "ListQuery::default_limit")]
    pub limit: usize,
    /// Only entries in this locale, e.g. `en`.
    #[schemars(example = &"en", regex(pattern = r"^[a-z]{2}(-[A-Z]{2})?$"))]
    pub locale: Option<String>,
    /// `true`: only translations with a field whose original text changed since it was
    /// translated.
    #[schemars(example = &"true")]
    pub outdated: Option<bool>,
    /// `filter[field]=value` and `filter[field][op]=value`, the language of `content::filter`
    /// (documented per type: `ManageFilter<Type>`).
    #[schemars(skip)]
    pub filters: Vec<Filter>,
}

impl ListQuery {
    fn default_limit() -> usize {
        20
    }
}

impl ParameterRefs for ListQuery {
    const PARAMETERS: &'static [&'static str] = &["ManageFilter"];
}

impl QueryParams for ListQuery {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut q = ListQuery {
            state: None,
            locale: None,
            outdated: None,
            cursor: None,
            limit: Self::default_limit(),
            filters: Vec::new(),
        };
        for (k, v) in params::pairs(raw.map(String::from))? {
            match k.as_str() {
                "state" => q.state = Some(v),
                "locale" => q.locale = Some(params::locale(v)?),
                "outdated" => {
                    q.outdated = Some(match v.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(ApiError::new(
                                Code::InvalidParameter,
                                format!("outdated={v:?}: give true or false"),
                            ));
                        }
                    })
                }
                "cursor" => q.cursor = Some(v),
                "limit" => q.limit = params::limit(&v, 100)?,
                other => {
                    if !params::filter(other, &v, &mut q.filters)? {
                        return Err(params::unknown(
                            other,
                            "state, locale, outdated, filter[field]=value, filter[field][op]=value, limit and cursor",
                        ));
                    }
                }
            }
        }
        Ok(q)
    }
}

/// Where a page of the management list ends.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct CursorMeta {
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(TypePath { ty }): ApiPath<TypePath>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Reply<Page<AnyEntry, CursorMeta>>, ApiError> {
    require_staff(&caller)?;
    require_type(&state, &caller, &ty)?;
    let ListQuery {
        state: filter_state,
        locale,
        outdated,
        cursor,
        limit,
        filters,
    } = query;
    let st = state.clone();
    let who = caller.clone();
    let (items, next) = blocking(move || {
        let state = st;
        let caller = who;
        let ct = state.content.content_type(&ty)?;
        let view = View::Current {
            personal: sees_personal(&caller),
        };
        let conditions = filter::resolve(ct, &filters, view).map_err(ContentError::BadQuery)?;
        Ok(state
            .content
            .list_current_where(&ty, cursor.as_deref(), limit, |rec| {
                filter_state.as_deref().is_none_or(|s| s == rec.state)
                    && locale.as_deref().is_none_or(|l| l == rec.locale)
                    && conditions.iter().all(|c| c.holds(rec))
                    && outdated.is_none_or(|want| {
                        let behind = state
                            .content
                            .translation_status(rec)
                            .ok()
                            .flatten()
                            .is_some_and(|t| !t.outdated.is_empty());
                        behind == want
                    })
            })?)
    })
    .await?;
    let data: Vec<AnyEntry> = items
        .into_iter()
        .map(|r| flat(&state, &redact(&state, &caller, r)))
        .collect();
    Ok(Reply::json(&Page {
        data,
        meta: CursorMeta { next_cursor: next },
    }))
}

pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(EntryPath { ty, id }): ApiPath<EntryPath>,
) -> Result<Reply<Data<AnyEntry>>, ApiError> {
    require_staff(&caller)?;
    require_type(&state, &caller, &ty)?;
    let st = state.clone();
    let rec = blocking(move || Ok(st.content.get_by_id_or_slug(&ty, &id, "de")?)).await?;
    Ok(entry_response(&state, &redact(&state, &caller, rec)))
}

pub async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(EntryPath { ty, id }): ApiPath<EntryPath>,
    if_match: IfMatch,
    body: JsonBody<AnyReplace>,
) -> Result<Reply<Data<AnyEntry>>, ApiError> {
    write_fields(
        state,
        caller,
        ty,
        id,
        &if_match,
        || Ok(body.read()?.0),
        false,
    )
    .await
}

pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(EntryPath { ty, id }): ApiPath<EntryPath>,
    if_match: IfMatch,
    MergePatchBody(body): MergePatchBody,
) -> Result<Reply<Data<AnyEntry>>, ApiError> {
    write_fields(state, caller, ty, id, &if_match, || body.value(), true).await
}

/// PUT (the body replaces the fields) and PATCH (the body is a JSON Merge Patch of them).
async fn write_fields(
    state: AppState,
    caller: Caller,
    ty: String,
    id: String,
    if_match: &IfMatch,
    body: impl FnOnce() -> Result<Value, ApiError>,
    merge: bool,
) -> Result<Reply<Data<AnyEntry>>, ApiError> {
    caller.require(Role::Editor)?;
    require_type(&state, &caller, &ty)?;
    let version = if_match.version()?;
    let mut value = body()?;
    if merge && !value.is_object() {
        return Err(ApiError::new(
            Code::InvalidJson,
            "a JSON Merge Patch (RFC 7386) body must be an object",
        ));
    }
    let confirm = crate::content::Confirm::from_value(
        value
            .as_object_mut()
            .and_then(|o| o.remove("translation_current")),
    )
    .map_err(|e| {
        ApiError::from(crate::content::ContentError::Invalid {
            errors: vec![crate::schema::FieldError::new("/translation_current", e)],
        })
    })?;
    strip_meta(&mut value);
    refuse_personal_fields(&state, &caller, &ty, &value)?;
    let keep_personal = !sees_personal(&caller);
    let st = state.clone();
    let who = caller.clone();
    let rec = blocking(move || {
        let state = st;
        let current = state.content.get(&ty, &id)?;
        let data = if merge {
            let mut data = Value::Object(current.data);
            json_patch::merge(&mut data, &value);
            data
        } else if keep_personal {
            // The caller never saw the personal fields: keep their stored values.
            let ct = state.content.content_type(&ty)?;
            let mut data = value;
            if let Some(obj) = data.as_object_mut() {
                for (k, v) in current.data {
                    if ct.fields.get(&k).is_some_and(|f| f.pii) {
                        obj.insert(k, v);
                    }
                }
            }
            data
        } else {
            value
        };
        Ok(state.content.update_with(
            &ty,
            &id,
            Some(version),
            data,
            Some(&who.token_id),
            &confirm,
        )?)
    })
    .await?;
    let ty = rec.ty.clone();
    let res = entry_response(&state, &redact(&state, &caller, rec));
    Ok(with_checks_skipped(&state, &ty, res))
}

/// Metadata a client may send back from a GET is not part of the fields.
fn strip_meta(v: &mut Value) {
    if let Some(obj) = v.as_object_mut() {
        for k in crate::schema::RESERVED_FIELDS
            .iter()
            .chain(["published_version"].iter())
        {
            obj.remove(*k);
        }
    }
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(EntryPath { ty, id }): ApiPath<EntryPath>,
    if_match: IfMatch,
) -> Result<NoContent, ApiError> {
    caller.require(Role::Editor)?;
    require_type(&state, &caller, &ty)?;
    let version = if_match.version()?;
    blocking(move || {
        Ok(state
            .content
            .delete(&ty, &id, Some(version), Some(&caller.token_id))?)
    })
    .await?;
    Ok(NoContent)
}

/// The original and every translation of an entry, the original first.
pub async fn translations(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(EntryPath { ty, id }): ApiPath<EntryPath>,
) -> Result<Reply<Data<Vec<AnyEntry>>>, ApiError> {
    require_staff(&caller)?;
    require_type(&state, &caller, &ty)?;
    let st = state.clone();
    let group = blocking(move || {
        let rec = st.content.get_by_id_or_slug(&ty, &id, "de")?;
        Ok(st.content.translations(&ty, &rec.id)?)
    })
    .await?;
    let data: Vec<AnyEntry> = group
        .into_iter()
        .map(|r| flat(&state, &redact(&state, &caller, r)))
        .collect();
    Ok(Reply::json(&Data::of(data))
        .header(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
}

pub async fn revisions(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(EntryPath { ty, id }): ApiPath<EntryPath>,
) -> Result<Reply<Data<Vec<AnyEntry>>>, ApiError> {
    require_staff(&caller)?;
    require_type(&state, &caller, &ty)?;
    let st = state.clone();
    let revs = blocking(move || Ok(st.content.revisions(&ty, &id)?)).await?;
    let data: Vec<AnyEntry> = revs
        .into_iter()
        .map(|r| AnyEntry(redact(&state, &caller, r).to_flat_json()))
        .collect();
    Ok(Reply::json(&Data::of(data)))
}

/// A state change, by target state (`to`) or by the name of a transition of the type's
/// workflow (`transition`, which wins when both are given). Default workflow: draft →
/// published | archived; published → published (publish the current version) | draft |
/// archived; archived → draft | published. Plugins may govern a type with their own workflow
/// (e.g. review, approve). Other keys are ignored; `null` is not a value here.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[schemars(extend("anyOf" = [{"required": ["to"]}, {"required": ["transition"]}]))]
pub struct TransitionBody {
    /// The state to go to.
    #[serde(default, deserialize_with = "present")]
    #[schemars(transform = no_default, with = "String", example = &"published")]
    pub to: Option<String>,
    /// The name of the transition to take.
    #[serde(default, deserialize_with = "present")]
    #[schemars(transform = no_default, with = "String", example = &"publish")]
    pub transition: Option<String>,
    /// A note on the change, kept in the history. Some transitions need one (422 otherwise).
    #[serde(default, deserialize_with = "present")]
    #[schemars(transform = no_default, with = "String")]
    pub comment: Option<String>,
    /// When to take the transition (RFC 3339, e.g. `2026-12-24T08:00:00+01:00`): a future time
    /// schedules it (the entry shows `scheduled`), a past one means now.
    #[serde(default, deserialize_with = "present")]
    #[schemars(transform = no_default, with = "chrono::DateTime<chrono::Utc>")]
    pub at: Option<String>,
}

/// Drops `"default": null` from a member that may be absent but is never `null`.
fn no_default(schema: &mut schemars::Schema) {
    schema.remove("default");
}

/// An optional member that, when present, is a string (not `null`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    <String as serde::Deserialize>::deserialize(d).map(Some)
}

pub async fn transition(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(EntryPath { ty, id }): ApiPath<EntryPath>,
    body: JsonBody<TransitionBody>,
) -> Result<Reply<Data<AnyEntry>>, ApiError> {
    if caller.role == Role::Reader {
        caller.require(Role::Editor)?;
    }
    require_type(&state, &caller, &ty)?;
    let TransitionBody {
        to,
        transition,
        comment,
        at,
    } = body.read()?;
    let wanted = match (transition, to) {
        (Some(name), _) => crate::workflow::Wanted::Name(name),
        (None, Some(to)) => crate::workflow::Wanted::To(to),
        (None, None) => {
            return Err(ApiError::from(crate::content::ContentError::Invalid {
                errors: vec![crate::schema::FieldError::new(
                    "/to",
                    "say where to: {\"to\": \"published\"} (a state) or {\"transition\": \"approve\"} (a transition's name)",
                )],
            }));
        }
    };
    let at = match at {
        None => None,
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(&t)
                .map_err(|_| {
                    ApiError::from(crate::content::ContentError::Invalid {
                        errors: vec![crate::schema::FieldError::new(
                            "/at",
                            format!(
                                "{t:?} is not an RFC 3339 instant, e.g. 2026-12-24T08:00:00+01:00"
                            ),
                        )],
                    })
                })?
                .with_timezone(&chrono::Utc),
        ),
    };
    let req = crate::content::TransitionRequest {
        wanted,
        comment,
        at,
        role: Some(caller.role.name().to_string()),
    };
    let st = state.clone();
    let who = caller.clone();
    let rec = blocking(move || {
        let rec = st
            .content
            .request_transition(&ty, &id, &req, Some(&who.token_id))?;
        // The step is taken; a note that cannot be queued does not undo it.
        if rec.scheduled.is_none() {
            match notify_reviewers(&st, &ty, &rec, &who.token_id) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(entry = %rec.id, reviewers = n, "reviewers notified by mail");
                    if let Some(m) = &st.mail {
                        m.out.wake.notify_one();
                    }
                }
                Err(e) => {
                    tracing::warn!(entry = %rec.id, "could not notify reviewers: {}", e.detail)
                }
            }
        }
        Ok(rec)
    })
    .await?;
    Ok(entry_response(&state, &redact(&state, &caller, rec)))
}

/// The history of an entry (creation, edits, transitions, schedules), oldest first.
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(EntryPath { ty, id }): ApiPath<EntryPath>,
) -> Result<Reply<Data<Vec<crate::workflow::HistoryItem>>>, ApiError> {
    require_staff(&caller)?;
    require_type(&state, &caller, &ty)?;
    let items = blocking(move || {
        let rec = state.content.get_by_id_or_slug(&ty, &id, "de")?;
        let mut items = state.content.history(&ty, &rec.id)?;
        for h in &mut items {
            h.actor_name = state.auth.display_name_of(&h.actor);
        }
        Ok(items)
    })
    .await?;
    Ok(Reply::json(&Data::of(items)))
}

/// The people (person keys) who created or edited an entry, from its history.
fn authors_of(state: &AppState, history: &[crate::workflow::HistoryItem]) -> Vec<String> {
    history
        .iter()
        .filter(|h| {
            matches!(
                h.kind,
                crate::workflow::HistoryKind::Create | crate::workflow::HistoryKind::Edit
            )
        })
        .map(|h| state.auth.person_of(&h.actor))
        .collect()
}

/// The live tokens of `roles` whose people are not among `authors` (person keys).
fn reviewer_tokens<'a>(
    tokens: &'a [crate::auth::TokenInfo],
    authors: &[String],
    roles: &[&str],
) -> impl Iterator<Item = &'a crate::auth::TokenInfo> {
    let now = chrono::Utc::now();
    tokens.iter().filter(move |t| {
        t.revoked_at.is_none()
            && t.expires_at.is_none_or(|e| e > now)
            && roles.contains(&t.role.name())
            && !authors.contains(&t.person())
    })
}

/// The roles that move an entry on toward publication from `from` (reviewers, not editors:
/// a state editors move on from waits for nobody else).
fn waiting_for(wf: &crate::workflow::WorkflowDef, from: &str) -> Vec<String> {
    let mut roles: Vec<String> = wf
        .transitions
        .iter()
        .filter(|t| {
            t.name != crate::workflow::ON_EDIT
                && t.from_states.iter().any(|f| f == from)
                && wf.advances(from, t)
        })
        .flat_map(|t| t.roles.iter().cloned())
        .collect();
    if roles.iter().any(|r| r == "editor") {
        return Vec::new();
    }
    roles.sort();
    roles.dedup();
    roles
}

/// After a transition into a state that waits for reviewers: one mail to each reviewer with
/// an address (not the entry's authors, not whoever took the step), queued on the server's
/// mail queue. Without mail configured, nothing is sent (the queue shows it all the same).
fn notify_reviewers(
    state: &AppState,
    ty: &str,
    rec: &crate::content::EntryRecord,
    actor: &str,
) -> Result<usize, ApiError> {
    if state.mail.is_none() {
        return Ok(0);
    }
    let ct = state.content.content_type(ty)?.clone();
    let (plugin, wf) = state.content.lifecycle(&ct);
    if plugin.is_none() {
        return Ok(0);
    }
    let roles = waiting_for(&wf, &rec.state);
    if roles.is_empty() {
        return Ok(0);
    }
    let history = state.content.history(ty, &rec.id)?;
    let mut authors = authors_of(state, &history);
    authors.push(state.auth.person_of(actor));
    let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
    let comment = history
        .iter()
        .rev()
        .find(|h| h.to_state == rec.state)
        .and_then(|h| h.comment.clone());
    let by = state
        .auth
        .display_name_of(actor)
        .unwrap_or_else(|| "Jemand".into());
    // One line, however the title was typed (it goes into the Subject header).
    let title: String = rec
        .data
        .get(&ct.options.title)
        .and_then(serde_json::Value::as_str)
        .unwrap_or(&rec.id)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(150)
        .collect();
    let name = rec.slug(&ct).unwrap_or(&rec.id).to_string();
    let mut writes = Vec::new();
    let mut sent = std::collections::BTreeSet::new();
    let tokens = state.auth.list_tokens()?;
    for t in reviewer_tokens(&tokens, &authors, &roles) {
        let Some(to) = t.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) else {
            continue;
        };
        if !sent.insert(to.to_lowercase()) {
            continue;
        }
        let mut m = crate::mail::new_mail(
            crate::mail::MailKind::Review,
            to,
            &format!("Zur Prüfung: „{title}“"),
        );
        m.name = t.name.clone();
        m.body = Some(format!(
            "Guten Tag{},\r\n\r\n{by} bittet um Prüfung: {ty} „{title}“ (Version {}, Zustand {}).\r\n{}\r\nAnsehen und entscheiden:\r\n\r\n  verbund entry show {ty} {name}\r\n  verbund entry approve {ty} {name}\r\n  verbund entry request-changes {ty} {name} --comment \"…\"\r\n\r\nAlles, was auf Sie wartet: verbund entry queue\r\n",
            t.name
                .as_deref()
                .map(|n| format!(" {n}"))
                .unwrap_or_default(),
            rec.version,
            rec.state,
            comment
                .as_ref()
                .map(|c| format!("Kommentar: „{c}“\r\n"))
                .unwrap_or_default(),
        ));
        writes.extend(crate::mail::queue_writes(&m));
    }
    let n = sent.len();
    if n > 0 {
        let mut b = crate::store::WriteBatch::new();
        for (t, k, v) in writes {
            b.put(t, k, v);
        }
        state
            .content
            .store()
            .commit(b)
            .map_err(crate::content::ContentError::from)?;
    }
    Ok(n)
}

/// Where an entry of the review queue stands: who moved it into its state, when, with which
/// comment, and which people (other than its authors) may act on it now.
fn review_of(
    state: &AppState,
    ct: &crate::schema::ContentType,
    rec: &crate::content::EntryRecord,
    roles: &[&str],
    tokens: &[crate::auth::TokenInfo],
) -> Result<Value, ApiError> {
    let history = state.content.history(&ct.name, &rec.id)?;
    let arrived = history
        .iter()
        .rev()
        .find(|h| h.to_state == rec.state && h.from_state != rec.state);
    let authors = authors_of(state, &history);
    let mut reviewers: Vec<String> = reviewer_tokens(tokens, &authors, roles)
        .map(|t| {
            t.display_name()
                .unwrap_or_else(|| format!("token {}", t.id))
        })
        .collect();
    reviewers.sort();
    reviewers.dedup();
    let mut review = serde_json::Map::new();
    if let Some(h) = arrived {
        review.insert("since".into(), serde_json::json!(h.at));
        review.insert("by".into(), serde_json::json!(h.actor));
        if let Some(n) = state.auth.display_name_of(&h.actor) {
            review.insert("by_name".into(), serde_json::json!(n));
        }
        if let Some(c) = &h.comment {
            review.insert("comment".into(), serde_json::json!(c));
        }
    }
    review.insert("reviewers".into(), serde_json::json!(reviewers));
    Ok(Value::Object(review))
}

/// What waits for the caller: entries in a state with a transition that names the caller's
/// role, which the caller neither created nor last edited.
pub async fn review_queue(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Reply<Data<Vec<AnyEntry>>>, ApiError> {
    require_staff(&caller)?;
    let items = blocking(move || {
        let role = caller.role.name();
        let mut out = Vec::new();
        // Read once for every item's reviewers.
        let tokens = state.auth.list_tokens()?;
        for ct in state.content.schemas().types() {
            let (plugin, wf) = state.content.lifecycle(ct);
            if plugin.is_none() || (!ct.is_public() && caller.role != Role::Admin) {
                continue;
            }
            // States from which the caller's role could move an entry toward publication;
            // whether this caller may, for this entry, is the governing plugin's answer.
            let waiting: Vec<&str> = wf
                .states
                .iter()
                .map(|s| s.name.as_str())
                .filter(|s| {
                    wf.transitions.iter().any(|t| {
                        t.name != crate::workflow::ON_EDIT
                            && t.from_states.iter().any(|f| f == s)
                            && crate::workflow::role_may(t, Some(role))
                            && wf.advances(s, t)
                    })
                })
                .collect();
            if waiting.is_empty() {
                continue;
            }
            let (recs, _) = state
                .content
                .list_current_where(&ct.name, None, 500, |r| waiting.contains(&r.state.as_str()))?;
            // The roles that move entries on from the waiting states: whom the entry waits for.
            let roles: Vec<&str> = wf
                .transitions
                .iter()
                .filter(|t| {
                    t.name != crate::workflow::ON_EDIT
                        && t.from_states.iter().any(|f| waiting.contains(&f.as_str()))
                })
                .flat_map(|t| t.roles.iter().map(String::as_str))
                .collect();
            for r in recs {
                if !state
                    .content
                    .actions_for(ct, &r, role, &caller.token_id)?
                    .is_empty()
                {
                    let review = review_of(&state, ct, &r, &roles, &tokens)?;
                    let mut flat = redact(&state, &caller, r).to_flat_json();
                    if let Some(o) = flat.as_object_mut() {
                        o.insert("review".into(), review);
                    }
                    out.push(AnyEntry(flat));
                }
            }
        }
        Ok(out)
    })
    .await?;
    Ok(Reply::json(&Data::of(items)))
}

/// The `Verbund-Warning` header of a write that validators did not check because their
/// plugins are disabled (not required: a required one refuses the write instead).
pub fn with_checks_skipped<T, const S: u16>(
    state: &AppState,
    ty: &str,
    res: Reply<T, S>,
) -> Reply<T, S> {
    let off = match (state.plugins.as_ref(), state.content.content_type(ty)) {
        (Some(h), Ok(ct)) => crate::content::ContentHooks::validators_off(h.as_ref(), ct),
        _ => Vec::new(),
    };
    if off.is_empty() {
        return res;
    }
    let text = format!(
        "not checked by {} (disabled); ask an admin to enable it (verbund plugin enable {})",
        off.join(", "),
        off[0]
    );
    match HeaderValue::from_str(&text) {
        Ok(v) => res.header(HeaderName::from_static("verbund-warning"), v),
        Err(_) => res,
    }
}
