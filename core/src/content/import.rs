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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
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
        mut on_progress: impl FnMut(ImportProgress),
    ) -> ContentResult<ImportReport> {
        let ct = self.content_type(ty)?.clone();
        let mut report = ImportReport::default();
        let mut chunk: Vec<(usize, NewEntry, String)> = Vec::with_capacity(chunk_size);
        let mut last_line = 0;
        let mut flush = |chunk: &mut Vec<(usize, NewEntry, String)>,
                         report: &mut ImportReport,
                         last_line: usize|
         -> ContentResult<()> {
            let now = Utc::now();
            let rejected = self.commit_plan(|plan| {
                let mut rejected = Vec::new();
                for (line, new, id) in chunk.iter() {
                    let mut errors = Vec::new();
                    self.plan_create(plan, &ct, new, id, None, now, &mut errors)?;
                    if !errors.is_empty() {
                        rejected.push(LineError {
                            line: *line,
                            errors,
                        });
                    }
                }
                Ok(rejected)
            })?;
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
        report.errors.sort_by_key(|e| e.line);
        Ok(report)
    }
}

impl From<LineError> for ContentError {
    fn from(e: LineError) -> Self {
        ContentError::Invalid { errors: e.errors }
    }
}
