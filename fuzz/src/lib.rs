//! Shared pieces of the fuzz targets: a data dir with the demo content, opened once per
//! process.

use std::sync::{Arc, LazyLock};

use verbund_core::ContentService;

/// The demo content in a temporary data dir (kept for the life of the process).
pub static DEMO: LazyLock<Arc<ContentService>> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let content = verbund_core::open(&dir.join("data"), verbund_core::SchemaRegistry::builtin())
        .expect("open a data dir");
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(verbund_core::demo::load(&content, None))
        .expect("demo content");
    Arc::new(content)
});
