//! Any query string on the delivery list: parsed as the API does, then run against the demo
//! content. A bad query is an error that names the problem, never a panic or a storage error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verbund_core::content::ContentError;
use verbund_fuzz::DEMO;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let Ok(q) = verbund_core::http::parse_delivery_query(&raw) else {
        return;
    };
    for ty in ["story", "event", "member"] {
        match DEMO.query_published(ty, &q) {
            Ok(page) => assert!(page.items.len() <= q.limit.max(1)),
            Err(ContentError::BadQuery(_)) => {}
            Err(e) => panic!("{ty}?{raw}: {e}"),
        }
    }
});
