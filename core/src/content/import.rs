//! Bulk import of NDJSON lines: every invalid line is reported with its number and pointers,
//! valid lines are written in chunks, one atomic and durable batch per chunk.

use chrono::Utc;
use serde::Serialize;

use super::entry::NewEntry;
use super::{ContentError, ContentResult, ContentService};
use crate::schema::FieldError;

/// One input line.
#[derive(Debug, Clone)]
pub struct ImportLine {
    /// 1-based line number in the input.
    pub line: usize,
    pub text: String,
}

/// The problems of one rejected line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LineError {
    /// The line number (counted from `first_line`).
    #[schemars(range(min = 1))]
    pub line: usize,
    pub errors: Vec<FieldError>,
}

/// Reported after each chunk is durable: everything up to `last_line` is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportProgress {
    pub imported: usize,
    pub rejected: usize,
    pub last_line: usize,
}

/// The outcome of an import.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub imported: usize,
    pub errors: Vec<LineError>,
}

impl ContentService {
    /// Imports lines into `ty` in chunks of `chunk_size`. `on_progress` is called after each
    /// chunk is on disk. Invalid lines are skipped and reported; nothing of them is stored.
    pub fn import(
        &self,
        ty: &str,
        lines: impl IntoIterator<Item = ImportLine>,
        chunk_size: usize,
        on_progress: impl FnMut(ImportProgress),
    ) -> ContentResult<ImportReport> {
        self.import_as(ty, lines, chunk_size, None, on_progress)
    }

    /// [`import`](Self::import) on behalf of `actor` (a token id): each chunk's entries are
    /// committed together with one audit record of the chunk (`entry.import`, with the counts
    /// and lines), so that the log and the store never disagree; an import that stores nothing
    /// is audited on its own.
    pub fn import_as(
        &self,
        ty: &str,
        lines: impl IntoIterator<Item = ImportLine>,
        chunk_size: usize,
        actor: Option<&str>,
        mut on_progress: impl FnMut(ImportProgress),
    ) -> ContentResult<ImportReport> {
        let ct = self.content_type(ty)?.clone();
        let mut committed = false;
        let import_audit = |imported: usize, rejected: usize, lines: Option<(usize, usize)>| {
            actor.map(|actor| {
                let mut a = crate::auth::AuditRecord::draft(actor, "entry.import");
                a.ty = Some(ct.name.clone());
                a.detail = Some(match lines {
                    Some((first, last)) => {
                        format!("{imported} imported, {rejected} rejected (lines {first}–{last})")
                    }
                    None => format!("{imported} imported, {rejected} rejected"),
                });
                a
            })
        };
        let mut report = ImportReport::default();
        let mut chunk: Vec<(usize, NewEntry, String)> = Vec::with_capacity(chunk_size);
        let mut last_line = 0;
        let mut flush = |chunk: &mut Vec<(usize, NewEntry, String)>,
                         report: &mut ImportReport,
                         last_line: usize|
         -> ContentResult<()> {
            let now = Utc::now();
            let first_line = chunk.first().map_or(last_line, |(l, ..)| *l);
            let rejected = self.commit_plan(|plan| {
                let mut rejected = Vec::new();
                for (line, new, id) in chunk.iter() {
                    let mut errors = Vec::new();
                    self.plan_create(plan, &ct, new, id, actor, now, &mut errors)?;
                    if !errors.is_empty() {
                        rejected.push(LineError {
                            line: *line,
                            errors,
                        });
                    }
                }
                // One record for the chunk, in its batch (not one per entry).
                plan.audit = import_audit(
                    chunk.len() - rejected.len(),
                    rejected.len(),
                    Some((first_line, last_line)),
                );
                Ok(rejected)
            })?;
            committed = true;
            report.imported += chunk.len() - rejected.len();
            report.errors.extend(rejected);
            chunk.clear();
            on_progress(ImportProgress {
                imported: report.imported,
                rejected: report.errors.len(),
                last_line,
            });
            Ok(())
        };
        for ImportLine { line, text } in lines {
            last_line = line;
            if text.trim().is_empty() {
                continue;
            }
            let parsed = serde_json::from_str::<serde_json::Value>(&text)
                .map_err(|e| vec![FieldError::new("", format!("not valid JSON: {e}"))])
                .and_then(NewEntry::from_json);
            let new = match parsed {
                Ok(new) => new,
                Err(errors) => {
                    report.errors.push(LineError { line, errors });
                    continue;
                }
            };
            let errors = ct.validate(&new.data);
            if !errors.is_empty() {
                report.errors.push(LineError { line, errors });
                continue;
            }
            let id = new.id.clone().unwrap_or_else(|| self.new_id());
            chunk.push((line, new, id));
            if chunk.len() >= chunk_size {
                flush(&mut chunk, &mut report, last_line)?;
            }
        }
        if !chunk.is_empty() {
            flush(&mut chunk, &mut report, last_line)?;
        }
        if !committed && let Some(record) = import_audit(0, report.errors.len(), None) {
            // Nothing was stored; the attempt is audited all the same.
            self.commit_plan(|plan| {
                plan.audit = Some(record.clone());
                Ok(())
            })?;
        }
        report.errors.sort_by_key(|e| e.line);
        Ok(report)
    }
}

impl From<LineError> for ContentError {
    fn from(e: LineError) -> Self {
        ContentError::Invalid { errors: e.errors }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn service() -> (tempfile::TempDir, ContentService) {
        let tmp = tempfile::tempdir().unwrap();
        let store: Arc<dyn crate::Store> = Arc::new(crate::SledStore::open(tmp.path()).unwrap());
        let schemas = Arc::new(crate::SchemaRegistry::builtin());
        (tmp, ContentService::new(store, schemas))
    }

    fn member_lines(n: usize, broken_at: Option<usize>) -> Vec<ImportLine> {
        let (_, text) = crate::demo::FILES[0];
        text.lines()
            .take(n)
            .enumerate()
            .map(|(i, l)| ImportLine {
                line: i + 1,
                text: if Some(i + 1) == broken_at {
                    "{\"not\": \"a member\"}".into()
                } else {
                    l.to_string()
                },
            })
            .collect()
    }

    /// Each chunk lands with exactly one audit record naming its counts and lines, in one
    /// chain that verifies; the entries name the importer as their creator.
    #[test]
    fn an_import_is_audited_chunk_by_chunk_in_the_same_commit() {
        let (_tmp, svc) = service();
        let report = svc
            .import_as(
                "member",
                member_lines(5, Some(2)),
                2,
                Some("tok_admin"),
                |_| {},
            )
            .unwrap();
        assert_eq!((report.imported, report.errors.len()), (4, 1));
        let auth = svc.auth();
        let records = auth.audit_records(0, 100).unwrap();
        let imports: Vec<_> = records
            .iter()
            .filter(|r| r.action == "entry.import")
            .collect();
        let details: Vec<&str> = imports
            .iter()
            .map(|r| r.detail.as_deref().unwrap())
            .collect();
        assert_eq!(
            details,
            [
                "2 imported, 0 rejected (lines 1–3)",
                "2 imported, 0 rejected (lines 4–5)"
            ]
        );
        assert!(imports.iter().all(|r| r.actor == "tok_admin"));
        assert_eq!(records.len(), imports.len(), "no record per entry");
        assert!(auth.verify_audit().unwrap().problems.is_empty());
        let (entries, _) = svc
            .list_current_where("member", None, 10, |_| true)
            .unwrap();
        assert_eq!(entries.len(), 4);
        assert!(
            entries
                .iter()
                .all(|e| e.created_by.as_deref() == Some("tok_admin"))
        );
    }

    /// An import that stores nothing is still on the record; one without an actor (the demo
    /// content, offline tools) writes no audit record.
    #[test]
    fn an_import_storing_nothing_is_audited_and_one_without_actor_is_not() {
        let (_tmp, svc) = service();
        let report = svc
            .import_as("member", member_lines(1, Some(1)), 10, Some("tok"), |_| {})
            .unwrap();
        assert_eq!((report.imported, report.errors.len()), (0, 1));
        let records = svc.auth().audit_records(0, 100).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].detail.as_deref(), Some("0 imported, 1 rejected"));
        svc.import("member", member_lines(3, None), 10, |_| {})
            .unwrap();
        assert_eq!(svc.auth().audit_records(0, 100).unwrap().len(), 1);
    }
}
