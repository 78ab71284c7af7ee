//! The HTTP API as its users see it, over real HTTP against the real `verbund serve --demo`:
//! drafts and publishing, personal data, caching headers, cursor pagination under writes,
//! optimistic locking and references, tokens and roles, filters, the audit log, validation
//! errors and the change feed. Every test runs its own server on its own data dir.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use reqwest::Method;
use serde_json::{Value, json};
use verbund_core::store::{Tree, WriteBatch};
use verbund_tests::demo;
use verbund_tests::{Api, Res, TestApp, create_tokens, story, verbund_bin, wait_until};

/// A demo story with members, topics `industrie-4-0`, `iot`, `data-analytics`.
const RETROFIT_ID: &str = "01KQA2SMY65YDQ3XEWR0HGYNYX";
const RETROFIT_SLUG: &str = "retrofit-giesserei-erzgebirge";
/// A demo member referenced only by the demo's draft story.
const KONTOR_ID: &str = "01KERQ5AMPMHZKM9Q076PM94B7";
/// The demo's draft story (it references Kontor Nord).
const DEMO_DRAFT_ID: &str = "01M7N3S4SRAWQ7DRFJ4756RKQY";
/// A demo member with contact person data (name, e-mail, phone).
const SAALEBYTE_SLUG: &str = "saalebyte-systemhaus";
/// A demo newsletter subscriber.
const SUBSCRIBER_ID: &str = "01KJQ0MZGJXTX4Y1R0KEANG4TN";

fn published_at(entry: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(entry["published_at"].as_str().expect("published_at"))
        .expect("published_at is RFC 3339")
}

fn has_contact_field(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|o| o.keys().any(|k| k.starts_with("contact_")))
}

#[test]
fn a_draft_stays_private_until_it_is_published() {
    let (server, tokens) = TestApp::demo_with_tokens(&["editor", "reader"]);
    let api = Api::of(&server);
    let (editor, reader) = (tokens["editor"].as_str(), tokens["reader"].as_str());
    let before = api.get("/api/v1/content/story?limit=100", None).expect(200);
    let total_before = before.body["meta"]["total"].as_u64().unwrap();

    let res = api
        .post("/api/v1/manage/story", Some(editor), &story(1))
        .expect(201);
    let draft = res.body["data"].clone();
    let id = draft["id"].as_str().unwrap().to_string();
    assert_eq!(draft["state"], "draft");
    assert_eq!(res.header("etag"), Some("\"1\""));
    assert_eq!(
        res.header("location"),
        Some(format!("/api/v1/manage/story/{id}").as_str())
    );

    // Not public: by slug, by id, in the list, in a filtered list.
    for path in [
        "/api/v1/content/story/praxisbericht-1".to_string(),
        format!("/api/v1/content/story/{id}"),
    ] {
        api.get(&path, None).expect_problem(404, "not_found");
    }
    let list = api.get("/api/v1/content/story?limit=100", None).expect(200);
    assert!(
        !list.ids().contains(&id),
        "a draft is listed: {}",
        list.text
    );
    assert_eq!(list.body["meta"]["total"], total_before);
    let filtered = api
        .get(
            "/api/v1/content/story?filter[topics]=software-entwicklung",
            None,
        )
        .expect(200);
    assert!(!filtered.ids().contains(&id));
    assert_eq!(filtered.body["meta"]["total"], filtered.data().len());

    // A reader previews it; without a token or with a bad one there is no preview.
    let preview = api
        .get(
            "/api/v1/content/story/praxisbericht-1?preview=true",
            Some(reader),
        )
        .expect(200);
    assert_eq!(preview.body["data"]["id"], id.as_str());
    assert_eq!(preview.body["data"]["title"], story(1)["title"]);
    assert_eq!(preview.header("cache-control"), Some("private, no-store"));
    api.get(
        &format!("/api/v1/content/story/{id}?preview=true"),
        Some(reader),
    )
    .expect(200);
    api.get(&format!("/api/v1/content/story/{id}?preview=true"), None)
        .expect_problem(401, "unauthorized");
    api.get(
        &format!("/api/v1/content/story/{id}?preview=true"),
        Some("vb_00000000_not-a-real-token"),
    )
    .expect_problem(401, "invalid_token");

    // Published, it is public everywhere, newest first.
    let published = api.transition(editor, "story", &id, "published");
    assert_eq!(published["state"], "published");
    let one = api
        .get("/api/v1/content/story/praxisbericht-1", None)
        .expect(200);
    assert_eq!(one.body["data"]["id"], id.as_str());
    assert_eq!(one.body["data"]["title"], story(1)["title"]);
    let list = api.get("/api/v1/content/story?limit=100", None).expect(200);
    assert_eq!(list.ids().first(), Some(&id), "{}", list.text);
    assert_eq!(list.body["meta"]["total"], total_before + 1);
    let filtered = api
        .get(
            "/api/v1/content/story?filter[topics]=software-entwicklung",
            None,
        )
        .expect(200);
    assert_eq!(filtered.ids(), vec![id]);
    assert_eq!(filtered.body["meta"]["total"], 1);
}

#[test]
fn personal_data_never_leaves_through_the_delivery_api() {
    let (server, tokens) = TestApp::demo_with_tokens(&["reader"]);
    let api = Api::of(&server);
    let reader = tokens["reader"].as_str();

    // The member list, one member, and its preview: no contact person.
    let members = api
        .get("/api/v1/content/member?limit=100", None)
        .expect(200);
    assert_eq!(
        members.data().len(),
        demo::published("member", "de").len(),
        "{}",
        members.text
    );
    assert!(members.data().iter().all(|m| !has_contact_field(m)));
    assert!(!members.text.contains("@example.org"), "{}", members.text);
    for path in [
        format!("/api/v1/content/member/{SAALEBYTE_SLUG}"),
        format!("/api/v1/content/member/{SAALEBYTE_SLUG}?preview=true"),
    ] {
        let one = api.get(&path, Some(reader)).expect(200);
        assert_eq!(one.body["data"]["name"], "Saalebyte Systemhaus GmbH");
        assert!(!has_contact_field(&one.body["data"]), "{}", one.text);
        for secret in ["c.reuter@example.org", "Carolin Reuter", "5550142"] {
            assert!(!one.text.contains(secret), "{secret} leaked: {}", one.text);
        }
    }

    // Asking for it by name, filtering or sorting by it is refused.
    for path in [
        "/api/v1/content/member?fields=name,contact_email".to_string(),
        format!("/api/v1/content/member/{SAALEBYTE_SLUG}?fields=contact_email"),
        "/api/v1/content/member?filter[contact_email]=c.reuter@example.org".to_string(),
        "/api/v1/content/member?sort=contact_name".to_string(),
    ] {
        let res = api.get(&path, None).expect_problem(400, "unknown_field");
        assert!(!res.text.contains("c.reuter"), "{}", res.text);
    }
    let res = api
        .get("/api/v1/content/member?fields=name,contact_email", None)
        .expect_problem(400, "unknown_field");
    assert!(res.detail().contains("contact_email"), "{}", res.text);
    assert!(
        !res.detail().contains("contact_phone"),
        "the error lists personal fields as usable: {}",
        res.text
    );

    // Stories with their members included: the members come without contact data.
    for path in [
        "/api/v1/content/story?include=members&limit=100".to_string(),
        format!("/api/v1/content/story/{RETROFIT_SLUG}?include=members"),
    ] {
        let res = api.get(&path, None).expect(200);
        let included = res.body["included"]["member"]
            .as_array()
            .unwrap_or_else(|| panic!("no included members: {}", res.text));
        assert!(!included.is_empty(), "{}", res.text);
        assert!(
            included.iter().all(|m| !has_contact_field(m)),
            "{}",
            res.text
        );
        assert!(!res.text.contains("@example.org"), "{}", res.text);
    }

    // Subscribers are personal as a whole: no list, no entry, no preview, no change events.
    for (path, token) in [
        ("/api/v1/content/subscriber".to_string(), None),
        (format!("/api/v1/content/subscriber/{SUBSCRIBER_ID}"), None),
        (
            format!("/api/v1/content/subscriber/{SUBSCRIBER_ID}?preview=true"),
            Some(reader),
        ),
    ] {
        let res = api.get(&path, token);
        assert_eq!(res.status, 404, "{path}: {}", res.text);
        assert!(!res.text.contains("anna.wendt"), "{}", res.text);
    }
    let (events, _) = api.changes(0);
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|e| e["type"] != "subscriber"),
        "subscriber changes are in the public feed"
    );
}

#[test]
fn etags_revalidate_until_a_new_version_is_published() {
    let (server, tokens) = TestApp::demo_with_tokens(&["editor"]);
    let api = Api::of(&server);
    let editor = tokens["editor"].as_str();
    let path = format!("/api/v1/content/story/{RETROFIT_SLUG}");

    let first = api.get(&path, None).expect(200);
    let etag = first.header("etag").expect("ETag").to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let cache_control = first.header("cache-control").expect("Cache-Control");
    assert!(cache_control.contains("max-age"), "{cache_control}");
    let keys = first.header("surrogate-key").expect("Surrogate-Key");
    assert!(
        keys.split_whitespace()
            .any(|k| k == format!("story/{RETROFIT_ID}")),
        "{keys}"
    );

    // The client (or a CDN) has it: 304 without a body.
    let again = api.get_with(&path, &[("if-none-match", &etag)]).expect(304);
    assert!(again.text.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert!(again.header("cache-control").is_some());

    // The list names the type and each entry in it.
    let list = api.get("/api/v1/content/story", None).expect(200);
    let keys: Vec<&str> = list
        .header("surrogate-key")
        .expect("Surrogate-Key")
        .split_whitespace()
        .collect();
    assert!(keys.contains(&"story"), "{keys:?}");
    assert!(keys.contains(&format!("story/{RETROFIT_ID}").as_str()));

    // An edit is not public until it is published again.
    let version = api.version(editor, "story", RETROFIT_ID);
    let title = "Alte Maschinen, neue Daten: Retrofit in einer Gießerei im Erzgebirge (Update)";
    let res = api
        .send(
            Method::PATCH,
            &format!("/api/v1/manage/story/{RETROFIT_ID}"),
            Some(editor),
            &[
                ("content-type", "application/merge-patch+json"),
                ("if-match", &version),
            ],
            Some(json!({ "title": title }).to_string().into_bytes()),
        )
        .expect(200);
    assert_ne!(res.header("etag"), Some(version.as_str()));
    api.get_with(&path, &[("if-none-match", &etag)]).expect(304);

    api.transition(editor, "story", RETROFIT_ID, "published");
    let fresh = api.get_with(&path, &[("if-none-match", &etag)]).expect(200);
    let new_etag = fresh.header("etag").expect("ETag").to_string();
    assert_ne!(new_etag, etag);
    assert_eq!(fresh.body["data"]["title"], title);
    assert_eq!(fresh.body["data"]["version"], 2);
    api.get_with(&path, &[("if-none-match", &new_etag)])
        .expect(304);
    // By id it is the same document, hence the same ETag.
    let by_id = api
        .get(&format!("/api/v1/content/story/{RETROFIT_ID}"), None)
        .expect(200);
    assert_eq!(by_id.header("etag"), Some(new_etag.as_str()));
}

#[test]
fn cursor_pages_list_every_entry_once_while_new_ones_are_published() {
    let (server, tokens) = TestApp::demo_with_tokens(&["editor"]);
    let api = Api::of(&server);
    let editor = tokens["editor"].clone();
    for n in 0..30 {
        let s = api.create(&editor, "story", &story(100 + n));
        api.transition(&editor, "story", s["id"].as_str().unwrap(), "published");
    }
    let old: Vec<String> = api
        .all_published("story")
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let old_set: HashSet<String> = old.iter().cloned().collect();
    assert_eq!(old.len(), old_set.len());
    assert_eq!(old.len(), demo::published("story", "de").len() + 30);

    // A writer publishes new stories all the time; the reader pages through.
    let published = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let new_ids = Arc::new(Mutex::new(Vec::<String>::new()));
    let writer = {
        let (api, published, stop, new_ids) = (
            api.clone(),
            published.clone(),
            stop.clone(),
            new_ids.clone(),
        );
        std::thread::spawn(move || {
            let mut n = 1000;
            while !stop.load(Ordering::SeqCst) {
                let s = api.create(&editor, "story", &story(n));
                let id = s["id"].as_str().unwrap().to_string();
                api.transition(&editor, "story", &id, "published");
                new_ids.lock().unwrap().push(id);
                published.fetch_add(1, Ordering::SeqCst);
                n += 1;
            }
        })
    };

    let mut seen = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/content/story?limit=7&cursor={c}"),
            None => "/api/v1/content/story?limit=7".to_string(),
        };
        let page = api.get(&path, None).expect(200);
        pages += 1;
        assert!(page.data().len() <= 7);
        let dates: Vec<_> = page.data().iter().map(published_at).collect();
        assert!(
            dates.windows(2).all(|w| w[0] >= w[1]),
            "not newest first: {dates:?}"
        );
        seen.extend(page.ids());
        let Some(next) = page.body["meta"]["next_cursor"].as_str() else {
            break;
        };
        cursor = Some(next.to_string());
        // Make sure at least one story is published between this page and the next.
        let n = published.load(Ordering::SeqCst);
        assert!(
            wait_until(Duration::from_secs(10), || published.load(Ordering::SeqCst)
                > n),
            "the writer stalled"
        );
        assert!(pages < 100, "paging does not end");
    }
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("writer thread");
    let new_ids: HashSet<String> = new_ids.lock().unwrap().iter().cloned().collect();
    assert!(
        new_ids.len() >= 5,
        "only {} concurrent writes",
        new_ids.len()
    );

    let seen_set: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), seen_set.len(), "an entry came twice: {seen:?}");
    let missing: Vec<&String> = old_set.difference(&seen_set).collect();
    assert!(missing.is_empty(), "entries were skipped: {missing:?}");
    let strangers: Vec<&String> = seen_set
        .iter()
        .filter(|id| !old_set.contains(*id) && !new_ids.contains(*id))
        .collect();
    assert!(strangers.is_empty(), "unknown entries: {strangers:?}");
    // Everything published meanwhile is there now.
    let after: HashSet<String> = api
        .all_published("story")
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert!(after.is_superset(&old_set) && after.is_superset(&new_ids));
}

#[test]
fn writes_need_the_current_version_and_referenced_entries_stay() {
    let (server, tokens) = TestApp::demo_with_tokens(&["editor"]);
    let api = Api::of(&server);
    let editor = tokens["editor"].as_str();
    let s = api.create(editor, "story", &story(1));
    let id = s["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/manage/story/{id}");
    let patch = |if_match: Option<&str>, title: &str| {
        let mut headers = vec![("content-type", "application/merge-patch+json")];
        if let Some(v) = if_match {
            headers.push(("if-match", v));
        }
        api.send(
            Method::PATCH,
            &path,
            Some(editor),
            &headers,
            Some(json!({ "title": title }).to_string().into_bytes()),
        )
    };

    // Without If-Match: 428, nothing changes.
    let res = patch(None, "Ohne Version").expect_problem(428, "precondition_required");
    assert!(res.detail().contains("If-Match"), "{}", res.text);
    // With the current version: saved as version 2.
    let res = patch(Some("\"1\""), "Erste Änderung").expect(200);
    assert_eq!(res.header("etag"), Some("\"2\""));
    // With the version the editor had before: 409, naming the current version.
    let res = patch(Some("\"1\""), "Veraltete Änderung").expect_problem(409, "version_conflict");
    assert_eq!(res.body["current_version"], 2, "{}", res.text);
    let mut replacement = story(1);
    replacement["title"] = json!("Ganz ersetzt");
    let res = api
        .json(
            Method::PUT,
            &path,
            Some(editor),
            &[("if-match", "\"1\"")],
            &replacement,
        )
        .expect_problem(409, "version_conflict");
    assert_eq!(res.body["current_version"], 2);
    let current = api.get(&path, Some(editor)).expect(200);
    assert_eq!(current.body["data"]["title"], "Erste Änderung");
    assert_eq!(current.body["data"]["version"], 2);
    api.send(Method::DELETE, &path, Some(editor), &[], None)
        .expect_problem(428, "precondition_required");
    api.send(
        Method::DELETE,
        &path,
        Some(editor),
        &[("if-match", "\"1\"")],
        None,
    )
    .expect_problem(409, "version_conflict");

    // A member that stories point at cannot be deleted; the answer names them.
    let mut about_kontor = story(2);
    about_kontor["members"] = json!([KONTOR_ID]);
    let referrer = api.create(editor, "story", &about_kontor);
    let referrer_id = referrer["id"].as_str().unwrap().to_string();
    let member_path = format!("/api/v1/manage/member/{KONTOR_ID}");
    let member_version = api.version(editor, "member", KONTOR_ID);
    let res = api
        .send(
            Method::DELETE,
            &member_path,
            Some(editor),
            &[("if-match", &member_version)],
            None,
        )
        .expect_problem(409, "still_referenced");
    let referrers: Vec<(String, String, Value)> = res.body["referrers"]
        .as_array()
        .unwrap_or_else(|| panic!("no referrers: {}", res.text))
        .iter()
        .map(|r| {
            (
                r["type"].as_str().unwrap().to_string(),
                r["id"].as_str().unwrap().to_string(),
                r["fields"].clone(),
            )
        })
        .collect();
    for sid in [&referrer_id, &DEMO_DRAFT_ID.to_string()] {
        assert!(
            referrers
                .iter()
                .any(|(t, i, f)| t == "story" && i == sid && *f == json!(["members"])),
            "{sid} is not named: {}",
            res.text
        );
        assert!(res.detail().contains(sid.as_str()), "{}", res.text);
    }
    api.get("/api/v1/content/member/kontor-nord-digital", None)
        .expect(200);

    // Once nothing points at it, it can go.
    for sid in [referrer_id.as_str(), DEMO_DRAFT_ID] {
        let v = api.version(editor, "story", sid);
        api.send(
            Method::DELETE,
            &format!("/api/v1/manage/story/{sid}"),
            Some(editor),
            &[("if-match", &v)],
            None,
        )
        .expect(204);
    }
    api.send(
        Method::DELETE,
        &member_path,
        Some(editor),
        &[("if-match", &member_version)],
        None,
    )
    .expect(204);
    api.get(&member_path, Some(editor))
        .expect_problem(404, "not_found");
    api.get("/api/v1/content/member/kontor-nord-digital", None)
        .expect_problem(404, "not_found");
}

#[test]
fn tokens_and_roles_decide_who_may_do_what() {
    let (server, tokens) = TestApp::demo_with_tokens(&["admin", "editor", "reader"]);
    let api = Api::of(&server);
    let (admin, editor, reader) = (
        tokens["admin"].as_str(),
        tokens["editor"].as_str(),
        tokens["reader"].as_str(),
    );
    let new_story = story(1);

    // No token, a garbage token, a well-formed unknown one, another scheme.
    api.post("/api/v1/manage/story", None, &new_story)
        .expect_problem(401, "unauthorized");
    for bad in ["garbage", "vb_deadbeef_c2VjcmV0", "vb__"] {
        let res = api
            .post("/api/v1/manage/story", Some(bad), &new_story)
            .expect_problem(401, "invalid_token");
        assert_eq!(res.header("www-authenticate"), Some("Bearer"));
    }
    api.json(
        Method::POST,
        "/api/v1/manage/story",
        None,
        &[("authorization", "Basic YWRtaW46YWRtaW4=")],
        &new_story,
    )
    .expect_problem(401, "invalid_token");

    // Readers read, editors edit, admins administer.
    let res = api
        .post("/api/v1/manage/story", Some(reader), &new_story)
        .expect_problem(403, "forbidden");
    assert!(res.detail().contains("editor"), "{}", res.text);
    api.get("/api/v1/manage/story", Some(reader))
        .expect_problem(403, "forbidden");
    api.post(
        "/api/v1/admin/tokens",
        Some(editor),
        &json!({"role": "admin"}),
    )
    .expect_problem(403, "forbidden");
    api.get("/api/v1/admin/tokens", Some(editor))
        .expect_problem(403, "forbidden");
    api.get("/api/v1/admin/audit", Some(editor))
        .expect_problem(403, "forbidden");
    api.get("/api/v1/manage/story", Some(editor)).expect(200);
    api.get("/api/v1/admin/audit", Some(admin)).expect(200);

    // An admin issues an editor token over the API; it works until it is revoked.
    let res = api
        .post(
            "/api/v1/admin/tokens",
            Some(admin),
            &json!({"role": "editor", "label": "redaktion", "expires": "1h"}),
        )
        .expect(201);
    let issued = res.body["data"].clone();
    let token = issued["token"].as_str().expect("the token is shown once");
    let token_id = issued["id"].as_str().unwrap();
    assert!(token.starts_with("vb_"));
    assert_eq!(issued["role"], "editor");
    assert!(issued.get("hash").is_none(), "{}", res.text);
    api.post("/api/v1/manage/story", Some(token), &new_story)
        .expect(201);
    let list = api.get("/api/v1/admin/tokens", Some(admin)).expect(200);
    assert!(list.ids().contains(&token_id.to_string()));
    assert!(
        !list.text.contains(token) && list.data().iter().all(|t| t.get("hash").is_none()),
        "token secrets are listed: {}",
        list.text
    );
    let revoked = api
        .send(
            Method::DELETE,
            &format!("/api/v1/admin/tokens/{token_id}"),
            Some(admin),
            &[],
            None,
        )
        .expect(200);
    assert!(revoked.body["data"]["revoked_at"].is_string());
    api.post("/api/v1/manage/story", Some(token), &story(2))
        .expect_problem(401, "invalid_token");
    api.send(
        Method::DELETE,
        "/api/v1/admin/tokens/01KZZZZZZZZZZZZZZZZZZZZZZZ",
        Some(admin),
        &[],
        None,
    )
    .expect_problem(404, "not_found");
    // The other tokens still work.
    api.post("/api/v1/manage/story", Some(editor), &story(3))
        .expect(201);

    // An expired token is refused, with its own code.
    let res = api
        .post(
            "/api/v1/admin/tokens",
            Some(admin),
            &json!({"role": "reader", "expires": "1s"}),
        )
        .expect(201);
    let short = res.body["data"]["token"].as_str().unwrap().to_string();
    let preview = format!("/api/v1/content/story/{RETROFIT_ID}?preview=true");
    assert!(
        wait_until(Duration::from_secs(5), || api
            .get(&preview, Some(&short))
            .code()
            == "token_expired"),
        "a token past its expiry still works"
    );
}

/// RFC 9110 §15.5.2: a 401 answer MUST carry a `WWW-Authenticate` challenge, whatever made
/// the request unauthorised (a clients' HTTP libraries rely on it to retry with credentials).
#[test]
fn every_401_answer_names_the_bearer_scheme() {
    let server = TestApp::demo();
    let api = Api::of(&server);
    let mut missing = Vec::new();
    for (method, path, token) in [
        (Method::POST, "/api/v1/manage/story", None),
        (Method::POST, "/api/v1/manage/story", Some("garbage")),
        (Method::GET, "/api/v1/manage/story", None),
        (Method::GET, "/api/v1/admin/audit", None),
        (
            Method::GET,
            "/api/v1/content/story/retrofit-giesserei-erzgebirge?preview=true",
            None,
        ),
    ] {
        let res = if method == Method::POST {
            api.post(path, token, &story(1))
        } else {
            api.get(path, token)
        };
        assert_eq!(res.status, 401, "{method} {path}: {}", res.text);
        if res.header("www-authenticate") != Some("Bearer") {
            missing.push(format!(
                "{method} {path} (token {token:?}, code {})",
                res.code()
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "401 answers without `WWW-Authenticate: Bearer`: {missing:#?}"
    );
}

#[test]
fn filters_sort_and_limits_answer_as_documented() {
    let server = TestApp::demo();
    let api = Api::of(&server);
    let all = api.all_published("story");
    assert_eq!(all.len(), demo::published("story", "de").len());
    let ids_where = |f: &dyn Fn(&Value) -> bool| -> HashSet<String> {
        all.iter()
            .filter(|e| f(e))
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    let set = |res: &Res| -> HashSet<String> { res.ids().into_iter().collect() };

    // One topic: exactly the stories with it, and the total says how many.
    let with_topic = |t: &'static str| {
        move |e: &Value| {
            e["topics"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == t))
        }
    };
    let cloud = ids_where(&with_topic("cloud"));
    let demo_cloud = demo::published("story", "de")
        .iter()
        .filter(|s| with_topic("cloud")(s))
        .count();
    assert_eq!(cloud.len(), demo_cloud, "the demo has stories about cloud");
    assert!(demo_cloud >= 2, "the demo has stories about cloud");
    assert!(cloud.len() < all.len());
    for path in [
        "/api/v1/content/story?filter[topics]=cloud",
        "/api/v1/content/story?filter[topics][contains]=cloud",
    ] {
        let res = api.get(path, None).expect(200);
        assert_eq!(set(&res), cloud, "{path}: {}", res.text);
        assert_eq!(
            res.body["meta"]["total"],
            cloud.len(),
            "{path}: {}",
            res.text
        );
    }
    // Page through a filtered list with a small limit: same entries, total on every page.
    let mut paged = Vec::new();
    let mut path = "/api/v1/content/story?filter[topics]=datenschutz&limit=1".to_string();
    let datenschutz = ids_where(&with_topic("datenschutz"));
    loop {
        let res = api.get(&path, None).expect(200);
        assert_eq!(res.body["meta"]["total"], datenschutz.len());
        paged.extend(res.ids());
        match res.body["meta"]["next_cursor"].as_str() {
            Some(c) => {
                path =
                    format!("/api/v1/content/story?filter[topics]=datenschutz&limit=1&cursor={c}")
            }
            None => break,
        }
    }
    assert_eq!(paged.len(), datenschutz.len());
    assert_eq!(paged.into_iter().collect::<HashSet<_>>(), datenschutz);

    // Several kinds at once.
    let kinds = ids_where(&|e| e["kind"] == "interview" || e["kind"] == "news");
    assert!(kinds.len() >= 2);
    let res = api
        .get(
            "/api/v1/content/story?filter[kind][in]=interview,news",
            None,
        )
        .expect(200);
    assert_eq!(set(&res), kinds, "{}", res.text);
    assert_eq!(res.body["meta"]["total"], kinds.len());
    // Two filters together.
    let both = ids_where(&|e| e["kind"] == "success_story" && with_topic("cloud")(e));
    let res = api
        .get(
            "/api/v1/content/story?filter[kind]=success_story&filter[topics]=cloud",
            None,
        )
        .expect(200);
    assert_eq!(set(&res), both);
    assert_eq!(res.body["meta"]["total"], both.len());

    // Sorted by title, both ways, and through pages.
    let titles = |res: &Res| -> Vec<String> {
        res.data()
            .iter()
            .map(|e| e["title"].as_str().unwrap().to_string())
            .collect()
    };
    let mut expected: Vec<String> = all
        .iter()
        .map(|e| e["title"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    let res = api
        .get("/api/v1/content/story?sort=title&limit=100", None)
        .expect(200);
    assert_eq!(titles(&res), expected);
    let res = api
        .get("/api/v1/content/story?sort=-title&limit=100", None)
        .expect(200);
    let mut descending = expected.clone();
    descending.reverse();
    assert_eq!(titles(&res), descending);
    let mut paged = Vec::new();
    let mut path = "/api/v1/content/story?sort=title&limit=3".to_string();
    let mut title_cursor = None;
    loop {
        let res = api.get(&path, None).expect(200);
        paged.extend(titles(&res));
        match res.body["meta"]["next_cursor"].as_str() {
            Some(c) => {
                title_cursor = Some(c.to_string());
                path = format!("/api/v1/content/story?sort=title&limit=3&cursor={c}");
            }
            None => break,
        }
    }
    assert_eq!(paged, expected);

    // Mistakes are 400s that say what is wrong.
    let res = api
        .get("/api/v1/content/story?filter[farbe]=blau", None)
        .expect_problem(400, "unknown_field");
    assert!(res.detail().contains("farbe"), "{}", res.text);
    assert!(res.detail().contains("topics"), "{}", res.text);
    let res = api
        .get("/api/v1/content/story?filter[teaser]=x", None)
        .expect_problem(400, "unknown_field");
    assert!(res.detail().contains("teaser"), "{}", res.text);
    let res = api
        .get("/api/v1/content/story?sort=farbe", None)
        .expect_problem(400, "unknown_field");
    assert!(res.detail().contains("farbe"), "{}", res.text);
    let res = api
        .get("/api/v1/content/story?filter[kind][like]=news", None)
        .expect_problem(400, "unknown_operator");
    assert!(res.detail().contains("like"), "{}", res.text);
    for limit in ["0", "101", "zehn", "-1"] {
        let res = api
            .get(&format!("/api/v1/content/story?limit={limit}"), None)
            .expect_problem(400, "invalid_limit");
        assert!(res.detail().contains("limit"), "{}", res.text);
    }
    api.get("/api/v1/content/story?limit=100", None).expect(200);
    api.get("/api/v1/content/story?limit=1", None).expect(200);
    let title_cursor = title_cursor.expect("a title page had a cursor");
    for cursor in ["!!!", "AAAA", "", title_cursor.as_str()] {
        // The last one is a real cursor, but of another query (sort=title).
        api.get(&format!("/api/v1/content/story?cursor={cursor}"), None)
            .expect_problem(400, "invalid_cursor");
    }
    api.get("/api/v1/content/story?seite=2", None)
        .expect_problem(400, "unknown_parameter");
}

#[test]
fn the_audit_log_names_who_did_what_and_detects_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let tokens = create_tokens(&data, &["admin", "editor"]);
    let server = TestApp::builder().data(&data).demo().start();
    let api = Api::of(&server);
    let (admin, editor) = (tokens["admin"].as_str(), tokens["editor"].as_str());
    let editor_id = api.token_id(admin, editor);

    let s = api.create(editor, "story", &story(1));
    let id = s["id"].as_str().unwrap().to_string();
    api.json(
        Method::PATCH,
        &format!("/api/v1/manage/story/{id}"),
        Some(editor),
        &[("if-match", "\"1\"")],
        &json!({"teaser": "Ein neuer Teaser."}),
    )
    .expect(200);
    api.transition(editor, "story", &id, "published");

    let res = api.get("/api/v1/admin/audit", Some(admin)).expect(200);
    let records = res.data().clone();
    // The chain: 1, 2, 3, … each linked to the one before.
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["seq"], i + 1, "{}", res.text);
        if i > 0 {
            assert_eq!(r["prev_hash"], records[i - 1]["hash"], "{}", res.text);
        }
    }
    assert!(
        records[..2]
            .iter()
            .all(|r| r["action"] == "token.create" && r["actor"] == "cli"),
        "{}",
        res.text
    );
    let mine: Vec<&Value> = records.iter().filter(|r| r["id"] == id.as_str()).collect();
    let actions: Vec<&str> = mine.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["entry.create", "entry.update", "entry.transition"],
        "{}",
        res.text
    );
    for r in &mine {
        assert_eq!(r["actor"], editor_id.as_str(), "{r}");
        assert_eq!(r["type"], "story", "{r}");
    }
    assert_eq!(mine[1]["version_before"], 1);
    assert_eq!(mine[1]["version_after"], 2);
    assert!(
        mine[2]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("published"),
        "{}",
        mine[2]
    );
    // The audit log does not leak content or secrets.
    assert!(!res.text.contains(editor) && !res.text.contains("Ein neuer Teaser"));
    let page = api
        .get("/api/v1/admin/audit?since=2&limit=1", Some(admin))
        .expect(200);
    assert_eq!(page.data().len(), 1);
    assert_eq!(page.data()[0]["seq"], 3);
    assert_eq!(page.body["meta"]["next_since"], 3);
    server.stop();

    // Untouched: intact.
    let verify = |data: &Path| {
        let out = verbund_tests::with_store(&mut Command::new(verbund_bin()), data)
            .args(["audit", "verify", "--data"])
            .arg(data)
            .output()
            .expect("run verbund audit verify");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = verify(&data);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("audit log intact"), "{stdout}");

    let stored = |data: &Path| -> Vec<(Vec<u8>, Vec<u8>)> {
        let store = verbund_core::store::open(&verbund_tests::store_for(data))
            .expect("open the stopped store");
        store
            .scan_prefix(Tree::Audit, b"", false, usize::MAX)
            .expect("scan the audit log")
    };
    let commit = |data: &Path, batch: WriteBatch| {
        let store = verbund_core::store::open(&verbund_tests::store_for(data))
            .expect("open the stopped store");
        store.commit(batch).expect("write to the audit log");
    };
    let original = stored(&data);
    assert!(original.len() >= 5);

    // The last record removed: detected.
    let (last_key, last_value) = original.last().unwrap().clone();
    let mut b = WriteBatch::new();
    b.remove(Tree::Audit, last_key.clone());
    commit(&data, b);
    let (code, stdout, stderr) = verify(&data);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("removed from the end"), "{stderr}");
    assert!(!stdout.contains("intact"), "{stdout}");

    // Put back: intact again.
    let mut b = WriteBatch::new();
    b.put(Tree::Audit, last_key, last_value);
    commit(&data, b);
    let (code, stdout, stderr) = verify(&data);
    assert_eq!(code, Some(0), "{stdout}{stderr}");

    // Record 2 says another role: detected, and named.
    let (key2, value2) = original[1].clone();
    let mut rec: Value = serde_json::from_slice(&value2).unwrap();
    assert_eq!(rec["seq"], 2);
    assert_eq!(rec["detail"], "role editor");
    rec["detail"] = json!("role admin");
    let mut b = WriteBatch::new();
    b.put(Tree::Audit, key2, serde_json::to_vec(&rec).unwrap());
    commit(&data, b);
    let (code, stdout, stderr) = verify(&data);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("record 2 was changed"), "{stderr}");
    assert!(stderr.contains("tampered"), "{stderr}");
}

#[test]
fn invalid_writes_are_refused_with_reasons_and_nothing_is_stored() {
    let (server, tokens) = TestApp::demo_with_tokens(&["editor"]);
    let api = Api::of(&server);
    let editor = tokens["editor"].as_str();
    let drafts = || {
        api.get("/api/v1/manage/story?state=draft&limit=100", Some(editor))
            .expect(200)
            .data()
            .len()
    };
    let drafts_before = drafts();
    let pointers = |res: &Res| -> Vec<String> {
        res.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors: {}", res.text))
            .iter()
            .map(|e| {
                assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
                e["pointer"].as_str().unwrap().to_string()
            })
            .collect()
    };

    // A missing title.
    let mut no_title = story(1);
    no_title.as_object_mut().unwrap().remove("title");
    let res = api
        .post("/api/v1/manage/story", Some(editor), &no_title)
        .expect_problem(422, "validation_failed");
    assert_eq!(pointers(&res), ["/title"], "{}", res.text);
    // Every problem at once.
    let mut bad = no_title.clone();
    bad["kind"] = json!("blog");
    bad["members"] = json!(["01KERQ00000000000000000000"]);
    let res = api
        .post("/api/v1/manage/story", Some(editor), &bad)
        .expect_problem(422, "validation_failed");
    let p = pointers(&res);
    for want in ["/kind", "/title"] {
        assert!(
            p.contains(&want.to_string()),
            "{want} missing: {}",
            res.text
        );
    }
    // A reference to a member that does not exist.
    let mut dangling = story(2);
    dangling["members"] = json!(["01KERQ00000000000000000000"]);
    let res = api
        .post("/api/v1/manage/story", Some(editor), &dangling)
        .expect_problem(422, "validation_failed");
    assert_eq!(pointers(&res), ["/members/0"], "{}", res.text);
    // New entries start as drafts.
    let mut published = story(3);
    published["state"] = json!("published");
    let res = api
        .post("/api/v1/manage/story", Some(editor), &published)
        .expect_problem(422, "validation_failed");
    assert_eq!(pointers(&res), ["/state"], "{}", res.text);

    // Not JSON, empty, or not declared as JSON.
    let raw = |ct: Option<&str>, body: &str| {
        let headers: Vec<(&str, &str)> = ct.map(|c| ("content-type", c)).into_iter().collect();
        api.send(
            Method::POST,
            "/api/v1/manage/story",
            Some(editor),
            &headers,
            Some(body.as_bytes().to_vec()),
        )
    };
    let res =
        raw(Some("application/json"), "{\"title\": \"Halb").expect_problem(400, "invalid_json");
    assert!(res.detail().contains("JSON"), "{}", res.text);
    raw(Some("application/json"), "").expect_problem(400, "invalid_json");
    raw(Some("application/json; charset=utf-8"), "[1, 2]").expect_problem(422, "validation_failed");
    let body = story(4).to_string();
    raw(Some("text/plain"), &body).expect_problem(415, "unsupported_media_type");
    raw(Some("application/x-www-form-urlencoded"), "title=x")
        .expect_problem(415, "unsupported_media_type");
    raw(None, &body).expect_problem(415, "unsupported_media_type");
    assert_eq!(drafts(), drafts_before, "a refused write was stored");

    // An invalid edit of a published story leaves the public version alone.
    let path = format!("/api/v1/manage/story/{RETROFIT_ID}");
    let version = api.version(editor, "story", RETROFIT_ID);
    let res = api
        .json(
            Method::PATCH,
            &path,
            Some(editor),
            &[("if-match", &version)],
            &json!({"title": "", "kind": null}),
        )
        .expect_problem(422, "validation_failed");
    let p = pointers(&res);
    assert!(p.contains(&"/title".to_string()), "{}", res.text);
    assert!(p.contains(&"/kind".to_string()), "{}", res.text);
    assert_eq!(api.version(editor, "story", RETROFIT_ID), version);
    let public = api
        .get(&format!("/api/v1/content/story/{RETROFIT_ID}"), None)
        .expect(200);
    assert!(
        public.body["data"]["title"]
            .as_str()
            .unwrap()
            .starts_with("Alte Maschinen")
    );
}

#[test]
fn the_change_feed_shows_publications_but_not_drafts() {
    let (server, tokens) = TestApp::demo_with_tokens(&["editor"]);
    let api = Api::of(&server);
    let editor = tokens["editor"].as_str();

    let (events, since) = api.changes(0);
    assert_eq!(
        events.len(),
        demo::published_public(),
        "the demo content is in the feed"
    );
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(events.iter().all(|e| e.get("public").is_none()));
    assert!(
        events.iter().all(|e| e["id"] != DEMO_DRAFT_ID),
        "the demo draft is in the feed"
    );
    let res = api.get("/api/v1/changes?since=0&limit=5", None).expect(200);
    assert_eq!(res.header("cache-control"), Some("no-cache"));
    assert!(res.data().len() <= 5);

    // A new draft, and edits to it: nothing public happened.
    let s = api.create(editor, "story", &story(1));
    let id = s["id"].as_str().unwrap().to_string();
    api.json(
        Method::PATCH,
        &format!("/api/v1/manage/story/{id}"),
        Some(editor),
        &[("if-match", "\"1\"")],
        &json!({"teaser": "Noch geheim."}),
    )
    .expect(200);
    let (events, since) = api.changes(since);
    assert!(
        events.is_empty(),
        "a draft is in the public feed: {events:?}"
    );

    // Its publication is.
    api.transition(editor, "story", &id, "published");
    let (events, since) = api.changes(since);
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["id"], id.as_str());
    assert_eq!(e["type"], "story");
    assert_eq!(e["state"], "published");
    assert!(e["seq"].as_u64().unwrap() <= since);
    assert!(e["seq"].as_u64().unwrap() > *seqs.last().unwrap());

    // An edit of the published story is not public until it is published again.
    api.json(
        Method::PATCH,
        &format!("/api/v1/manage/story/{id}"),
        Some(editor),
        &[("if-match", "\"2\"")],
        &json!({"teaser": "Jetzt öffentlich."}),
    )
    .expect(200);
    let (events, since) = api.changes(since);
    assert!(events.is_empty(), "{events:?}");
    api.transition(editor, "story", &id, "published");
    let (events, _) = api.changes(since);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["id"], id.as_str());
    assert_eq!(events[0]["version"], 3);
}

/// The feed is of changes to the published view: a draft that was never public stays out of
/// it even when it is archived, while taking a published story back is a public change.
#[test]
fn the_change_feed_shows_unpublishing_but_not_archiving_a_private_draft() {
    let (server, tokens) = TestApp::demo_with_tokens(&["editor"]);
    let api = Api::of(&server);
    let editor = tokens["editor"].as_str();
    let (_, since) = api.changes(0);

    // Taking a published story back to draft removes it from the public: in the feed.
    api.transition(editor, "story", RETROFIT_ID, "draft");
    api.get(&format!("/api/v1/content/story/{RETROFIT_ID}"), None)
        .expect_problem(404, "not_found");
    let (events, since) = api.changes(since);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["id"], RETROFIT_ID);
    assert_eq!(events[0]["state"], "draft");

    // Archiving a draft nobody outside ever saw changes nothing public.
    let s = api.create(editor, "story", &story(1));
    let id = s["id"].as_str().unwrap().to_string();
    api.transition(editor, "story", &id, "archived");
    let (events, _) = api.changes(since);
    let leaked: Vec<&Value> = events.iter().filter(|e| e["id"] == id.as_str()).collect();
    assert!(
        leaked.is_empty(),
        "a never-published draft appears in the public change feed: {leaked:?}"
    );
}

/// Ids of every entry a list path returns, page by page (`cursor` from `meta.next_cursor`).
fn all_ids(api: &Api, path: &str, token: Option<&str>) -> Vec<String> {
    let mut ids = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = match &next {
            Some(c) => api.get(&format!("{path}&cursor={c}"), token),
            None => api.get(path, token),
        }
        .expect(200);
        ids.extend(
            page.data()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string()),
        );
        next = page.body["meta"]["next_cursor"].as_str().map(String::from);
        if next.is_none() {
            ids.sort();
            return ids;
        }
    }
}

#[test]
fn the_management_list_speaks_the_delivery_filter_language() {
    let (server, tokens) = TestApp::demo_with_tokens(&["editor"]);
    let api = server.router();
    let editor = Some(tokens["editor"].as_str());
    // The same conditions select the same published stories in both APIs.
    for filter in [
        "filter[topics]=cloud",
        "filter[topics][contains]=cloud",
        "filter[kind][in]=interview,news",
        "filter[kind][ne]=news",
        "filter[topics]=cloud&filter[kind]=success_story",
    ] {
        let delivered = all_ids(
            &api,
            &format!("/api/v1/content/story?{filter}&limit=100"),
            None,
        );
        let managed = all_ids(
            &api,
            &format!("/api/v1/manage/story?state=published&filter[locale]=de&{filter}&limit=100"),
            editor,
        );
        assert!(!delivered.is_empty(), "{filter}");
        assert_eq!(managed, delivered, "{filter}");
    }
    // Metadata is part of the current view, with typed values.
    let all = all_ids(&api, "/api/v1/manage/story?limit=100", editor);
    let old = all_ids(
        &api,
        "/api/v1/manage/story?filter[created_at][lt]=2000-01-01&limit=100",
        editor,
    );
    assert!(old.is_empty(), "{old:?}");
    let since = all_ids(
        &api,
        "/api/v1/manage/story?filter[created_at][gte]=2000-01-01&limit=100",
        editor,
    );
    assert_eq!(since, all);
    // And the same mistakes are the same 400s.
    let res = api
        .get("/api/v1/manage/story?filter[kind][like]=news", editor)
        .expect_problem(400, "unknown_operator");
    assert!(res.detail().contains("like"), "{}", res.text);
    let res = api
        .get(
            "/api/v1/manage/story?filter[created_at][gt]=gestern",
            editor,
        )
        .expect_problem(400, "invalid_query");
    assert!(res.detail().contains("RFC 3339"), "{}", res.text);
    let res = api
        .get("/api/v1/manage/story?filter[kind][contains]=news", editor)
        .expect_problem(400, "invalid_query");
    assert!(res.detail().contains("not a list"), "{}", res.text);
    let res = api
        .get("/api/v1/manage/story?filter[farbe]=blau", editor)
        .expect_problem(400, "unknown_field");
    assert!(res.detail().contains("topics"), "{}", res.text);
}

#[test]
fn fields_project_each_item_to_its_metadata_and_the_fields_asked_for() {
    let server = TestApp::demo();
    let api = server.router();
    let full = api.get("/api/v1/content/story?limit=100", None).expect(200);
    let projected = api
        .get(
            "/api/v1/content/story?limit=100&fields=title,slug,title",
            None,
        )
        .expect(200);
    assert_eq!(projected.data().len(), full.data().len());
    assert_eq!(projected.data().len(), demo::published("story", "de").len());
    for (p, f) in projected.data().iter().zip(full.data()) {
        let keys: Vec<&String> = p.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "type", "locale", "version", "title", "slug"]);
        for k in keys {
            assert_eq!(p[k], f[k], "{k}");
        }
    }
    let one = api
        .get(
            &format!(
                "/api/v1/content/story/{}?fields=teaser",
                full.data()[0]["slug"].as_str().unwrap()
            ),
            None,
        )
        .expect(200);
    assert_eq!(one.body["data"]["teaser"], full.data()[0]["teaser"]);
    assert!(one.body["data"].get("body").is_none());
}
