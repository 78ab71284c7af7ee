//! The server started as a new user would (`verbund serve --demo`) answers with German demo
//! content, and never shows drafts or personal data.

use serde_json::Value;
use verbund_tests::demo;
use verbund_tests::{TestApp, TestServer};

#[test]
fn the_demo_server_serves_published_german_content_only() {
    let server = TestApp::demo();
    assert_eq!(server.get("/healthz").status().as_u16(), 200);

    let (status, body) = server.get_json("/api/v1/content/story?limit=100");
    assert_eq!(status, 200);
    let stories = body["data"].as_array().unwrap();
    assert_eq!(
        stories.len(),
        demo::published("story", "de").len(),
        "{body}"
    );
    assert!(stories.iter().all(|s| s["locale"] == "de"));
    let text = body.to_string();
    for word in ["Unternehmen", "und", "die"] {
        assert!(
            text.contains(word),
            "expected German text, missing {word:?}"
        );
    }
    // Newest first.
    let dates: Vec<&str> = stories
        .iter()
        .map(|s| s["published_at"].as_str().unwrap())
        .collect();
    let mut sorted = dates.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(dates, sorted);
    // The demo's draft story is not among them, by id or by slug.
    let demo_stories = verbund_core::demo::FILES
        .iter()
        .find(|(t, _)| *t == "story")
        .unwrap()
        .1;
    let draft: Value = demo_stories
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|s| s["state"] == "draft")
        .expect("the demo has a draft story");
    assert!(stories.iter().all(|s| s["id"] != draft["id"]));
    let slug = draft["slug"].as_str().unwrap();
    assert_eq!(
        server
            .get(&format!("/api/v1/content/story/{slug}"))
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        server
            .get(&format!(
                "/api/v1/content/story/{}",
                draft["id"].as_str().unwrap()
            ))
            .status()
            .as_u16(),
        404
    );

    // One entry by slug, and by id.
    let first = &stories[0];
    let (status, one) = server.get_json(&format!(
        "/api/v1/content/story/{}",
        first["slug"].as_str().unwrap()
    ));
    assert_eq!(status, 200);
    assert_eq!(one["data"]["id"], first["id"]);
    let (_, by_id) = server.get_json(&format!(
        "/api/v1/content/story/{}",
        first["id"].as_str().unwrap()
    ));
    assert_eq!(by_id["data"], one["data"]);
}

#[test]
fn personal_data_is_never_delivered() {
    let server = TestApp::demo();
    let (status, members) = server.get_json("/api/v1/content/member?limit=100");
    assert_eq!(status, 200);
    let text = members.to_string();
    assert_eq!(
        members["data"].as_array().unwrap().len(),
        demo::published("member", "de").len()
    );
    for field in [
        "contact_email",
        "contact_name",
        "contact_phone",
        "@example.org",
    ] {
        assert!(
            !text.contains(field),
            "{field} leaked into the delivery API"
        );
    }
    let res = server.get("/api/v1/content/subscriber");
    assert_eq!(res.status().as_u16(), 404);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let (_, problem) = server.get_json("/api/v1/content/kochrezept");
    assert_eq!(problem["code"], "unknown_type");
    assert!(problem["detail"].as_str().unwrap().contains("story"));
}

#[test]
fn a_restarted_server_serves_the_same_content() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::start(&data, &["--demo"]);
    let (_, before) = server.get_json("/api/v1/content/event?limit=100");
    server.stop();
    let server = TestServer::start(&data, &["--demo"]);
    let (_, after) = server.get_json("/api/v1/content/event?limit=100");
    assert_eq!(before, after);
    assert_eq!(
        after["data"].as_array().unwrap().len(),
        demo::published("event", "de").len()
    );
}
