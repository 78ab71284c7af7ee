//! Any cursor, with any sort: decoded and checked, a bad one is `invalid_cursor`, never a
//! panic, and a page never holds more than asked for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verbund_core::content::{ContentError, DeliveryQuery, SortKey};
use verbund_fuzz::DEMO;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let sort = match sel % 4 {
        0 => vec![],
        1 => vec![SortKey { field: "published_at".into(), descending: true }],
        2 => vec![SortKey { field: "title".into(), descending: false }],
        _ => vec![SortKey { field: "title".into(), descending: true }],
    };
    let q = DeliveryQuery {
        sort,
        limit: 1 + (sel as usize % 5),
        cursor: Some(String::from_utf8_lossy(rest).into_owned()),
        ..DeliveryQuery::default()
    };
    match DEMO.query_published("story", &q) {
        Ok(page) => assert!(page.items.len() <= q.limit),
        Err(ContentError::BadQuery(_)) => {}
        Err(e) => panic!("{e}"),
    }
});
