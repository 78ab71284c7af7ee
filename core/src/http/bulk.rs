//! Bulk and operations endpoints: content-type schemas for clients, NDJSON import and export,
//! and online backups.
//!
//! - `GET /api/v1/schemas`, `GET /api/v1/schemas/{type}`: the content types and their JSON
//!   Schemas with Verbund's annotations (editors' tools build templates from them).
//! - `POST /api/v1/import/{type}` (admin): NDJSON lines, each stored or rejected on its own;
//!   `?first_line=N` numbers the lines of this request from N, so that a client sending a big
//!   file in parts gets line numbers of the whole file.
//! - `GET /api/v1/export/{type}` (editor or reviewer; admin for personal-data types): every
//!   current entry as one NDJSON line that `import` takes back.
//! - `GET /api/v1/admin/backup` (admin): a consistent snapshot of the whole data dir, streamed
//!   (see [`crate::backup`]); writes wait while it is read, reads go on.

use super::Code;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::params::{self, blocking};
use super::typed::{
    ApiPath, ApiQuery, Data, Media, Ndjson, NdjsonLines, NoQuery, ParameterRefs, QueryParams, Raw,
    RawBody, Reply, TypePath,
};
use super::{ApiError, AppState};
use crate::auth::{AuditRecord, Caller, Role};
use crate::content::ImportLine;

/// A content type this server knows.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct TypeSummary {
    pub name: String,
    /// The schema's title (null when it has none).
    pub title: Value,
    /// The schema's description (null when it has none).
    pub description: Value,
    /// Personal types hold personal data throughout: never delivered, admin-only export.
    pub personal: bool,
}

/// A content type's JSON Schema (draft 2020-12) with Verbund's `x-verbund` annotations and
/// its `$ref`s to shared definitions resolved.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct TypeSchema {
    pub name: String,
    pub personal: bool,
    pub schema: serde_json::Map<String, Value>,
}

/// What an import did: lines stored, and each rejected line with its problems.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct ImportReport {
    pub imported: usize,
    pub rejected: usize,
    pub errors: Vec<crate::content::LineError>,
}

/// The content types this server knows.
pub async fn schemas(State(state): State<AppState>) -> Reply<Data<Vec<TypeSummary>>> {
    let types: Vec<TypeSummary> = state
        .content
        .schemas()
        .types()
        .map(|ct| TypeSummary {
            name: ct.name.clone(),
            title: ct.schema["title"].clone(),
            description: ct.schema["description"].clone(),
            personal: !ct.is_public(),
        })
        .collect();
    Reply::json(&Data::of(types))
}

/// One content type's JSON Schema, with `$ref`s to shared definitions resolved.
pub async fn schema(
    State(state): State<AppState>,
    ApiPath(TypePath { ty }): ApiPath<TypePath>,
) -> Result<Reply<Data<TypeSchema>>, ApiError> {
    let ct = state.content.content_type(&ty)?;
    let schema = match state.content.schemas().resolved_schema(&ct.name) {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    Ok(Reply::json(&Data::of(TypeSchema {
        name: ct.name.clone(),
        personal: !ct.is_public(),
        schema,
    })))
}

fn require_type_access(state: &AppState, caller: &Caller, ty: &str) -> Result<(), ApiError> {
    let ct = state.content.content_type(ty)?;
    if ct.is_public() {
        if caller.role == Role::Reader {
            caller.require(Role::Editor)?;
        }
    } else {
        caller.require(Role::Admin)?;
    }
    Ok(())
}

/// The query of an import.
#[derive(schemars::JsonSchema)]
pub struct ImportQuery {
    /// The number of the body's first line, for error reports when a big file is sent in parts (400 invalid_parameter unless a whole number from 1).
    #[schemars(range(min = 1, max = 18446744073709551615u64))]
    #[serde(default = "ImportQuery::default_first_line")]
    pub first_line: usize,
}

impl ImportQuery {
    fn default_first_line() -> usize {
        1
    }
}

impl ParameterRefs for ImportQuery {}

impl QueryParams for ImportQuery {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut first_line = 1usize;
        for (k, v) in params::pairs(raw.map(String::from))? {
            match k.as_str() {
                "first_line" => {
                    first_line = v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                        ApiError::new(
                            Code::InvalidParameter,
                            format!("first_line must be a line number from 1 on, got {v:?}"),
                        )
                    })?
                }
                other => return Err(params::unknown(other, "first_line")),
            }
        }
        Ok(ImportQuery { first_line })
    }
}

pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(TypePath { ty }): ApiPath<TypePath>,
    ApiQuery(ImportQuery { first_line }): ApiQuery<ImportQuery>,
    RawBody(body, ..): RawBody<Ndjson>,
) -> Result<Reply<Data<ImportReport>>, ApiError> {
    caller.require(Role::Admin)?;
    state.content.content_type(&ty)?;
    let text = String::from_utf8(body.to_vec()).map_err(|e| {
        ApiError::new(
            Code::InvalidBody,
            format!(
                "the NDJSON body is not UTF-8 (at byte {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    let report = blocking(move || {
        let lines = text.lines().enumerate().map(|(i, l)| ImportLine {
            line: first_line.saturating_add(i),
            text: l.to_string(),
        });
        let report = state
            .content
            .import_as(&ty, lines, 500, Some(&caller.token_id), |_| {})?;
        Ok(report)
    })
    .await?;
    Ok(Reply::json(&Data::of(ImportReport {
        imported: report.imported,
        rejected: report.errors.len(),
        errors: report.errors,
    })))
}

pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(TypePath { ty }): ApiPath<TypePath>,
    _: ApiQuery<NoQuery>,
) -> Result<Raw<NdjsonLines>, ApiError> {
    require_type_access(&state, &caller, &ty)?;
    let body = blocking(move || {
        let ct = state.content.content_type(&ty)?.clone();
        // Personal-data fields only for admins (the export is a bulk read).
        let personal = caller.role == Role::Admin;
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        let mut lines = 0usize;
        loop {
            let (page, next) =
                state
                    .content
                    .list_current_where(&ty, after.as_deref(), 500, |_| true)?;
            for rec in page {
                let mut rec = rec;
                if !personal {
                    rec.data
                        .retain(|k, _| ct.fields.get(k).is_none_or(|f| !f.pii));
                }
                lines += 1;
                serde_json::to_writer(&mut out, &rec.to_export_json())
                    .map_err(|e| ApiError::new(Code::Internal, e.to_string()))?;
                out.push(b'\n');
            }
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let mut a = AuditRecord::draft(&caller.token_id, "entry.export");
        a.ty = Some(ty.clone());
        a.detail = Some(format!(
            "{lines} entries{}",
            if personal {
                " with personal-data fields"
            } else {
                ""
            }
        ));
        state.auth.audit(a)?;
        Ok(out)
    })
    .await?;
    let mut res = Response::new(Body::from(body));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(Raw::new(res))
}

/// Streams an online backup. The snapshot is first written to an unnamed temporary file
/// (readable only by this process), so that the store's snapshot gate — which makes writes
/// wait — is held only for as long as the local copy takes, never for as long as a slow or
/// stalled client takes to download it.
/// A backup file (`verbund backup restore` reads it).
pub struct BackupFile;

impl Media for BackupFile {
    fn content() -> Value {
        json!({"application/vnd.verbund.backup": {"schema": {"type": "string", "format": "binary"}}})
    }
}

pub async fn backup(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Raw<BackupFile>, ApiError> {
    caller.require(Role::Admin)?;
    let store = state.content.store().clone();
    let keys = state.content.keys().clone();
    let auth = state.auth.clone();
    let actor = caller.token_id.clone();
    let file = blocking(move || {
        let fail = |e: &dyn std::fmt::Display| {
            tracing::error!("backup failed: {e}");
            ApiError::new(
                Code::BackupFailed,
                "the backup could not be written; the server log says why",
            )
        };
        let mut file = tempfile::tempfile().map_err(|e| fail(&e))?;
        let summary =
            crate::backup::write_backup(store.as_ref(), &keys, &mut file).map_err(|e| fail(&e))?;
        let mut a = AuditRecord::draft(&actor, "backup");
        a.detail = Some(format!(
            "{} records up to change {}",
            summary.records, summary.last_seq
        ));
        auth.audit(a)?;
        std::io::Seek::rewind(&mut file).map_err(|e| fail(&e))?;
        Ok(file)
    })
    .await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let mut file = file;
        loop {
            let mut buf = vec![0u8; 256 << 10];
            match std::io::Read::read(&mut file, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        break; // the client went away
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut res = Response::new(Body::from_stream(stream));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.verbund.backup"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(Raw::new(res))
}
