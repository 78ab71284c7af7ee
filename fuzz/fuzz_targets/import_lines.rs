//! Any NDJSON as an import: every non-empty line is either stored or reported with its line
//! number, never a panic, and the data dir stays consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verbund_core::content::ImportLine;
use verbund_fuzz::DEMO;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<ImportLine> = text
        .lines()
        .take(50)
        .enumerate()
        .map(|(i, l)| ImportLine {
            line: i + 1,
            text: l.to_string(),
        })
        .collect();
    let non_empty = lines.iter().filter(|l| !l.text.trim().is_empty()).count();
    for ty in ["story", "member"] {
        let report = DEMO
            .import(ty, lines.clone(), 7, |_| {})
            .expect("an import of bad lines reports them, it does not fail");
        assert_eq!(report.imported + report.errors.len(), non_empty);
        for e in &report.errors {
            assert!(e.line >= 1 && e.line <= lines.len());
            assert!(!e.errors.is_empty());
        }
    }
});
