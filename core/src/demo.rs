//! Demo content for `verbund serve --demo`: a fictional German IT cluster's members, stories,
//! events, cooperation examples and a few newsletter subscribers, written in German.
//!
//! The files in `core/demo/` are NDJSON in the import format and are built into the binary.

use crate::content::{ContentError, ContentService, ImportLine};

/// The demo files, in an order where every reference points backwards.
pub const FILES: &[(&str, &str)] = &[
    ("member", include_str!("../demo/member.ndjson")),
    ("story", include_str!("../demo/story.ndjson")),
    ("event", include_str!("../demo/event.ndjson")),
    ("cooperation", include_str!("../demo/cooperation.ndjson")),
    ("subscriber", include_str!("../demo/subscriber.ndjson")),
];

/// What loading the demo did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoOutcome {
    /// Entries were loaded, per type.
    Loaded(Vec<(String, usize)>),
    /// The data dir already holds entries; nothing was changed.
    AlreadyHasContent,
}

/// Loads the demo content into an empty data dir. A data dir that already holds entries is
/// left alone, so `--demo` is safe to pass on every start.
pub fn load(content: &ContentService) -> Result<DemoOutcome, ContentError> {
    for ty in content.schemas().names() {
        if content.count(ty, false)? > 0 {
            return Ok(DemoOutcome::AlreadyHasContent);
        }
    }
    let mut loaded = Vec::new();
    for (ty, text) in FILES {
        if content.schemas().get(ty).is_none() {
            continue;
        }
        let lines = text.lines().enumerate().map(|(i, l)| ImportLine {
            line: i + 1,
            text: l.to_string(),
        });
        let report = content.import(ty, lines, 1000, |_| {})?;
        if let Some(first) = report.errors.first() {
            return Err(ContentError::Corrupt(format!(
                "demo file {ty}.ndjson line {}: {}",
                first.line,
                first
                    .errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }
        loaded.push(((*ty).to_string(), report.imported));
    }
    Ok(DemoOutcome::Loaded(loaded))
}
