//! Slugs, references, revisions, translations, restarts and the change feed.

use std::sync::Arc;

use serde_json::{Value, json};
use verbund_core::content::{ContentError, NewEntry};
use verbund_tests::{open_service, story};

fn new(data: Value) -> NewEntry {
    NewEntry {
        data,
        ..Default::default()
    }
}

fn member(slug: &str) -> Value {
    json!({
        "name": format!("Testfirma {slug} GmbH"),
        "slug": slug,
        "legal_form": "GmbH",
        "city": "Jena",
        "state_region": "Thüringen",
        "services": ["cloud"],
        "member_since": "2020-05-01",
        "contact_email": "kontakt@example.org"
    })
}

#[test]
fn slugs_are_unique_per_type_and_locale() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open_service(dir.path());
    svc.create("story", new(story(1)), None).unwrap();
    let err = svc.create("story", new(story(1)), None).unwrap_err();
    let ContentError::Invalid { errors } = err else {
        panic!("expected a validation error, got {err}");
    };
    assert_eq!(errors[0].pointer, "/slug");
    assert!(
        errors[0].message.contains("already used"),
        "{}",
        errors[0].message
    );

    // The same slug in another locale, and in another type, is fine.
    let en = svc
        .create(
            "story",
            NewEntry {
                locale: Some("en".into()),
                ..new(story(1))
            },
            None,
        )
        .unwrap();
    assert_eq!(en.locale, "en");
    let mut m = member("praxisbericht-1");
    m["slug"] = json!("praxisbericht-1");
    svc.create("member", new(m), None).unwrap();

    // Renaming frees the old slug.
    let first = svc
        .get_by_id_or_slug("story", "praxisbericht-1", "de")
        .unwrap();
    let mut renamed = story(1);
    renamed["slug"] = json!("praxisbericht-eins");
    svc.update("story", &first.id, Some(1), renamed, None)
        .unwrap();
    svc.create("story", new(story(1)), None).unwrap();
}

#[test]
fn references_must_exist_and_block_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open_service(dir.path());
    let mut s = story(1);
    s["members"] = json!(["01JD0000000000000000000000"]);
    let err = svc.create("story", new(s.clone()), None).unwrap_err();
    let ContentError::Invalid { errors } = err else {
        panic!("expected a validation error, got {err}");
    };
    assert_eq!(errors[0].pointer, "/members/0");
    assert!(errors[0].message.contains("does not exist"));

    let m = svc
        .create("member", new(member("elster-it")), None)
        .unwrap();
    s["members"] = json!([m.id]);
    let st = svc.create("story", new(s), None).unwrap();

    let err = svc.delete("member", &m.id, None, None).unwrap_err();
    let ContentError::Referenced { referrers } = &err else {
        panic!("expected a refusal, got {err}");
    };
    assert_eq!(referrers.len(), 1);
    assert_eq!(referrers[0].ty, "story");
    assert_eq!(referrers[0].id, st.id);
    assert_eq!(referrers[0].fields, vec!["members"]);
    assert!(err.to_string().contains(&st.id), "{err}");

    // Dropping the reference allows the delete.
    svc.update("story", &st.id, Some(1), story(1), None)
        .unwrap();
    svc.delete("member", &m.id, Some(1), None).unwrap();
    assert!(matches!(
        svc.get("member", &m.id),
        Err(ContentError::NotFound { .. })
    ));
}

#[test]
fn every_version_is_kept_and_stale_writes_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open_service(dir.path());
    let e = svc
        .create("story", new(story(7)), Some("redaktion"))
        .unwrap();
    let mut v2 = story(7);
    v2["title"] = json!("Zweite Fassung");
    svc.update("story", &e.id, Some(1), v2, Some("lektorat"))
        .unwrap();
    let mut v3 = story(7);
    v3["title"] = json!("Dritte Fassung");
    svc.update("story", &e.id, Some(2), v3.clone(), None)
        .unwrap();

    let err = svc.update("story", &e.id, Some(2), v3, None).unwrap_err();
    assert!(
        matches!(
            err,
            ContentError::VersionConflict {
                expected: 2,
                current: 3
            }
        ),
        "{err}"
    );

    let revs = svc.revisions("story", &e.id).unwrap();
    let titles: Vec<&str> = revs
        .iter()
        .map(|r| r.data["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        vec![
            "Praxisbericht Nummer 7: Digitalisierung im Mittelstand",
            "Zweite Fassung",
            "Dritte Fassung"
        ]
    );
    assert_eq!(revs[1].updated_by.as_deref(), Some("lektorat"));
    assert_eq!(svc.revision("story", &e.id, 2).unwrap().version, 2);
}

#[test]
fn translations_are_linked_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open_service(dir.path());
    let de = svc.create("story", new(story(3)), None).unwrap();
    let en = svc
        .create(
            "story",
            NewEntry {
                locale: Some("en".into()),
                translation_of: Some(de.id.clone()),
                ..new(story(3))
            },
            None,
        )
        .unwrap();
    let group: Vec<(String, String)> = svc
        .translations("story", &en.id)
        .unwrap()
        .into_iter()
        .map(|r| (r.locale, r.id))
        .collect();
    assert_eq!(
        group,
        vec![("de".into(), de.id.clone()), ("en".into(), en.id)]
    );
    // The original cannot be deleted while a translation points at it.
    assert!(matches!(
        svc.delete("story", &de.id, None, None),
        Err(ContentError::Referenced { .. })
    ));
    // A translation into the same locale is refused.
    let err = svc
        .create(
            "story",
            NewEntry {
                translation_of: Some(de.id.clone()),
                ..new(story(4))
            },
            None,
        )
        .unwrap_err();
    assert!(err.to_string().contains("another locale"), "{err}");
}

#[test]
fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let svc = open_service(dir.path());
        let e = svc.create("story", new(story(5)), None).unwrap();
        svc.transition("story", &e.id, "published", None).unwrap();
        e.id
    };
    let svc = open_service(dir.path());
    let e = svc.get("story", &id).unwrap();
    assert_eq!(e.state, "published");
    assert_eq!(svc.revisions("story", &id).unwrap().len(), 1);
    let public = svc
        .get_published("story", "praxisbericht-5", "de")
        .unwrap()
        .unwrap();
    let public: Value = serde_json::from_slice(&public).unwrap();
    assert_eq!(public["id"], json!(id));
    assert_eq!(svc.count("story", true).unwrap(), 1);
}

#[test]
fn edits_of_a_published_entry_stay_private_until_published() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open_service(dir.path());
    let e = svc
        .create(
            "story",
            NewEntry {
                state: Some("published".into()),
                ..new(story(9))
            },
            None,
        )
        .unwrap();
    let mut v2 = story(9);
    v2["title"] = json!("Neue Überschrift");
    svc.update("story", &e.id, Some(1), v2, None).unwrap();
    let public = |svc: &verbund_core::ContentService| -> Value {
        serde_json::from_slice(&svc.get_published("story", &e.id, "de").unwrap().unwrap()).unwrap()
    };
    assert_eq!(public(&svc)["version"], json!(1));
    assert_ne!(public(&svc)["title"], json!("Neue Überschrift"));
    svc.transition("story", &e.id, "published", None).unwrap();
    assert_eq!(public(&svc)["title"], json!("Neue Überschrift"));
    svc.transition("story", &e.id, "archived", None).unwrap();
    assert!(svc.get_published("story", &e.id, "de").unwrap().is_none());
    assert_eq!(svc.count("story", true).unwrap(), 0);
}

#[test]
fn personal_fields_never_reach_the_public_view() {
    let dir = tempfile::tempdir().unwrap();
    let svc = open_service(dir.path());
    let m = svc
        .create(
            "member",
            NewEntry {
                state: Some("published".into()),
                ..new(member("datenhof"))
            },
            None,
        )
        .unwrap();
    let public =
        String::from_utf8(svc.get_published("member", &m.id, "de").unwrap().unwrap()).unwrap();
    assert!(public.contains("Testfirma datenhof GmbH"));
    assert!(!public.contains("kontakt@example.org"), "{public}");
    assert!(!public.contains("contact_email"), "{public}");
}

#[test]
fn the_change_feed_is_gap_free_and_ordered_under_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Arc::new(open_service(dir.path()));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let svc = svc.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let e = svc.create("story", new(story(t * 1000 + i)), None).unwrap();
                    svc.transition("story", &e.id, "published", None).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let changes = svc.store().changes_since(0, 10_000).unwrap();
    let seqs: Vec<u64> = changes.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (1..=400).collect::<Vec<u64>>());
    // Each entry's create comes before its publication.
    let mut created = std::collections::HashSet::new();
    for c in &changes {
        let ev: Value = serde_json::from_slice(&c.payload).unwrap();
        let id = ev["id"].as_str().unwrap().to_string();
        match ev["op"].as_str().unwrap() {
            "create" => assert!(created.insert(id)),
            "state" => assert!(created.contains(&id), "published before created: {ev}"),
            other => panic!("unexpected op {other}"),
        }
    }
    assert_eq!(svc.count("story", true).unwrap(), 200);
    // Reading from the middle continues exactly after the given sequence number.
    let tail = svc.store().changes_since(390, 100).unwrap();
    assert_eq!(tail.first().map(|c| c.seq), Some(391));
    assert_eq!(tail.len(), 10);
}
