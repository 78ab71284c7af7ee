//! Each schema accepts the demo content and rejects wrong entries with the right pointers.

use serde_json::{Value, json};
use verbund_core::content::{ContentError, NewEntry};
use verbund_core::demo::{self, DemoOutcome};
use verbund_tests::demo as demo_files;
use verbund_tests::{open_service, repo_schemas};

fn pointers(err: ContentError) -> Vec<String> {
    match err {
        ContentError::Invalid { errors } => errors.into_iter().map(|e| e.pointer).collect(),
        other => panic!("expected a validation error, got {other}"),
    }
}

fn validate(ty: &str, data: Value) -> Vec<String> {
    let schemas = repo_schemas();
    schemas
        .get(ty)
        .unwrap()
        .validate(&data)
        .into_iter()
        .map(|e| e.pointer)
        .collect()
}

fn demo_entry(ty: &str, index: usize) -> Value {
    let (_, text) = demo::FILES.iter().find(|(t, _)| *t == ty).unwrap();
    let mut v: Value = serde_json::from_str(text.lines().nth(index).unwrap()).unwrap();
    for k in ["id", "state", "locale", "published_at", "translation_of"] {
        v.as_object_mut().unwrap().remove(k);
    }
    v
}

#[test]
fn the_demo_content_loads_completely() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open_service(dir.path());
    let DemoOutcome::Loaded(counts) = block_on(demo::load(&svc, None)).unwrap() else {
        panic!("an empty data dir must get the demo content");
    };
    let count = |t: &str| {
        counts
            .iter()
            .find(|(n, _)| n == t)
            .map(|(_, c)| *c)
            .unwrap()
    };
    for ty in ["member", "story", "event", "cooperation", "subscriber"] {
        assert_eq!(count(ty), demo_files::entries(ty).len(), "{ty}: {counts:?}");
    }
    // Loading again leaves the content alone.
    assert_eq!(
        block_on(demo::load(&svc, None)).unwrap(),
        DemoOutcome::AlreadyHasContent
    );
    assert_eq!(svc.count("member", false).unwrap(), count("member") as u64);
}

#[test]
fn member_rejects_missing_and_wrong_fields() {
    let mut m = demo_entry("member", 0);
    let obj = m.as_object_mut().unwrap();
    obj.remove("name");
    obj.insert("state_region".into(), json!("Bavaria"));
    obj.insert("member_since".into(), json!("im Jahr 2011"));
    obj.insert("colour".into(), json!("blau"));
    assert_eq!(
        validate("member", m),
        vec!["/colour", "/member_since", "/name", "/state_region"]
    );
}

#[test]
fn story_rejects_unknown_kind_and_topic() {
    let mut s = demo_entry("story", 0);
    s["kind"] = json!("gerücht");
    s["topics"] = json!(["cloud", "astrologie"]);
    assert_eq!(validate("story", s), vec!["/kind", "/topics/1"]);
}

#[test]
fn event_must_end_after_it_starts() {
    let mut e = demo_entry("event", 0);
    e["starts_at"] = json!("2026-10-29T19:30:00+01:00");
    e["ends_at"] = json!("2026-10-29T18:00:00Z"); // 19:00 in Berlin: before the start
    let schemas = repo_schemas();
    let errors = schemas.get("event").unwrap().validate(&e);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].pointer, "/ends_at");
    assert!(
        errors[0].message.contains("after starts_at"),
        "{}",
        errors[0].message
    );
}

#[test]
fn event_rejects_times_without_zone() {
    let mut e = demo_entry("event", 0);
    e["starts_at"] = json!("2026-10-29 15:00");
    let p = validate("event", e);
    assert!(p.contains(&"/starts_at".to_string()), "{p:?}");
}

#[test]
fn cooperation_needs_two_partners() {
    let mut c = demo_entry("cooperation", 0);
    let first = c["partners"][0].clone();
    c["partners"] = json!([first]);
    assert_eq!(validate("cooperation", c), vec!["/partners"]);
}

#[test]
fn subscriber_rejects_a_malformed_address() {
    let mut s = demo_entry("subscriber", 0);
    s["email"] = json!("nicht-erreichbar");
    assert!(validate("subscriber", s).contains(&"/email".to_string()));
}

#[test]
fn all_errors_come_at_once_from_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open_service(dir.path());
    let err = svc
        .create(
            "story",
            NewEntry {
                data: json!({"kind": "news", "title": "", "teaser": 5, "topics": []}),
                ..Default::default()
            },
            None,
        )
        .unwrap_err();
    let p = pointers(err);
    for want in ["/body", "/slug", "/teaser", "/title", "/topics"] {
        assert!(p.contains(&want.to_string()), "{want} missing in {p:?}");
    }
}

/// A schema of a small public type: `thema` filterable or not, `kontakt` personal or not.
fn notiz_schema(dir: &std::path::Path, filterable: bool, personal: bool) {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://schemas.verbund.dev/notiz.json",
        "title": "Notiz",
        "type": "object",
        "additionalProperties": false,
        "x-verbund": { "title": "titel", "slug": "slug" },
        "required": ["titel", "slug"],
        "properties": {
            "titel": { "type": "string", "minLength": 1 },
            "slug": { "type": "string", "pattern": "^[a-z0-9-]+$" },
            "thema": { "type": "string", "x-verbund": { "filterable": filterable } },
            "kontakt": { "type": "string", "x-verbund": { "pii": personal } }
        }
    });
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("notiz.json"), schema.to_string()).unwrap();
}

/// Entries published under one schema are served by the next one as if they had been published
/// under it: a field made filterable finds them, a field made personal is no longer served.
#[test]
fn a_changed_schema_rebuilds_the_public_view_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let (schemas, data) = (tmp.path().join("schemas"), tmp.path().join("data"));
    notiz_schema(&schemas, false, false);
    {
        let svc = verbund_core::open(
            &data,
            verbund_core::SchemaRegistry::load_dir(&schemas).unwrap(),
        )
        .unwrap();
        for (i, thema) in ["cloud", "ki", "cloud"].iter().enumerate() {
            svc.create(
                "notiz",
                NewEntry {
                    state: Some("published".into()),
                    data: json!({
                        "titel": format!("Notiz {i} über {thema}"),
                        "slug": format!("notiz-{i}"),
                        "thema": thema,
                        "kontakt": "erika.mustermann@example.org"
                    }),
                    ..NewEntry::default()
                },
                None,
            )
            .unwrap();
        }
        let doc = svc
            .get_published("notiz", "notiz-0", "de")
            .unwrap()
            .unwrap();
        assert!(String::from_utf8(doc).unwrap().contains("erika.mustermann"));
    }

    notiz_schema(&schemas, true, true);
    let svc = verbund_core::open(
        &data,
        verbund_core::SchemaRegistry::load_dir(&schemas).unwrap(),
    )
    .unwrap();
    let doc = String::from_utf8(
        svc.get_published("notiz", "notiz-0", "de")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert!(
        !doc.contains("erika.mustermann"),
        "a field marked personal is still served: {doc}"
    );
    let q = verbund_core::content::DeliveryQuery {
        filters: vec![verbund_core::content::filter::Filter::new("thema", "eq", "cloud").unwrap()],
        ..Default::default()
    };
    let page = svc.query_published("notiz", &q).unwrap();
    assert_eq!(
        page.total, 2,
        "the new filter counts the entries published before"
    );
    let slugs: Vec<String> = page
        .items
        .iter()
        .map(|(_, d)| serde_json::from_slice::<Value>(d).unwrap()["slug"].to_string())
        .collect();
    assert_eq!(slugs, ["\"notiz-2\"", "\"notiz-0\""]);
    let newest = svc.query_published("notiz", &Default::default()).unwrap();
    assert!(
        newest
            .items
            .iter()
            .all(|(_, d)| !String::from_utf8_lossy(d).contains("erika.mustermann")),
        "the covering index still holds the personal field"
    );
    assert_eq!(svc.check_integrity().unwrap(), Vec::<String>::new());
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}
