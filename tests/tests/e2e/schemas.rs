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
    let DemoOutcome::Loaded(counts) = demo::load(&svc).unwrap() else {
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
    assert_eq!(demo::load(&svc).unwrap(), DemoOutcome::AlreadyHasContent);
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
