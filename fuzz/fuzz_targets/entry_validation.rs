//! Any bytes as an entry of every content type: validation answers with field errors, never a
//! panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use verbund_core::content::NewEntry;

static REGISTRY: LazyLock<verbund_core::SchemaRegistry> =
    LazyLock::new(verbund_core::SchemaRegistry::builtin);

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    match NewEntry::from_json(value) {
        Ok(new) => {
            for ct in REGISTRY.types() {
                for e in ct.validate(&new.data) {
                    assert!(e.pointer.is_empty() || e.pointer.starts_with('/'), "{e:?}");
                }
            }
        }
        Err(errors) => assert!(!errors.is_empty()),
    }
});
