//! Micro-benchmarks (criterion): JSON Schema validation of an entry, parsing a delivery query
//! string, and index scans of the delivery query (first page, a filtered page, the page after a
//! cursor) over the 10,000 benchmark stories.
//!
//! `cargo bench -p verbund-bench --bench micro`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use verbund_core::content::{DeliveryQuery, Filter, FilterOp, ImportLine};

fn benches(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let content = Arc::new(
        verbund_core::open(
            &tmp.path().join("data"),
            verbund_bench::schemas().expect("schemas"),
        )
        .expect("data dir"),
    );
    let lines = verbund_bench::stories(10_000).expect("benchmark stories");
    content
        .import(
            "bench_story",
            lines.iter().enumerate().map(|(i, l)| ImportLine {
                line: i + 1,
                text: l.clone(),
            }),
            1000,
            |_| {},
        )
        .expect("import");

    let ct = content.content_type("bench_story").expect("type").clone();
    let entry: serde_json::Value = serde_json::from_str(&lines[0]).expect("json");
    let mut data = entry.clone();
    for k in ["state", "published_at", "id"] {
        data.as_object_mut().expect("object").remove(k);
    }
    c.bench_function("validate one story (JSON Schema + formats)", |b| {
        b.iter(|| black_box(ct.validate(black_box(&data))))
    });

    c.bench_function("parse a delivery query string", |b| {
        b.iter(|| {
            black_box(verbund_core::http::parse_delivery_query(black_box(
                "filter[topics][contains]=digital&sort=-published_at,title&limit=20&fields=title,slug,teaser",
            )))
        })
    });

    let newest = DeliveryQuery::default();
    c.bench_function("index scan: newest 20 published", |b| {
        b.iter(|| {
            black_box(
                content
                    .query_published("bench_story", &newest)
                    .expect("page"),
            )
        })
    });
    let topic = DeliveryQuery {
        filters: vec![Filter {
            field: "topics".into(),
            op: FilterOp::Contains,
            value: "digital".into(),
        }],
        ..DeliveryQuery::default()
    };
    c.bench_function("index scan: newest 20 with a topic", |b| {
        b.iter(|| {
            black_box(
                content
                    .query_published("bench_story", &topic)
                    .expect("page"),
            )
        })
    });
    let first = content
        .query_published("bench_story", &newest)
        .expect("page");
    let page2 = DeliveryQuery {
        cursor: first.next_cursor.clone(),
        ..DeliveryQuery::default()
    };
    c.bench_function(
        "index scan: the page after a cursor (decode + resume)",
        |b| {
            b.iter(|| {
                black_box(
                    content
                        .query_published("bench_story", &page2)
                        .expect("page"),
                )
            })
        },
    );
}

criterion_group! {
    name = micro;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(micro);
