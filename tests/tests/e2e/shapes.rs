//! Shapes that clients and tools depend on, as `insta` snapshots: the problem+json bodies of
//! the common refusals and the OpenAPI document's table of error codes. The requests go
//! straight into the router (no process, no socket).

use serde_json::json;
use verbund_tests::TestApp;

#[test]
fn problem_bodies_keep_their_shape() {
    let app = TestApp::builder().no_plugins().tokens(&["editor"]).start();
    let api = app.router();
    let editor = app.token("editor");

    let unknown_type = api
        .get("/api/v1/content/veranstaltungen", None)
        .expect_problem(404, "unknown_type");
    insta::assert_json_snapshot!("problem_unknown_type", unknown_type.body);

    let no_token = api
        .get("/api/v1/manage/story", None)
        .expect_problem(401, "unauthorized");
    insta::assert_json_snapshot!("problem_unauthorized", no_token.body);

    // Every problem of an entry at once, each with its field.
    let invalid = api
        .post(
            "/api/v1/manage/story",
            Some(editor),
            &json!({ "kind": "gerücht", "title": "", "topics": ["cloud", "cloud"] }),
        )
        .expect_problem(422, "validation_failed");
    insta::assert_json_snapshot!("problem_validation_failed", invalid.body);

    let created = api.create(editor, "story", &verbund_tests::story(1));
    let id = created["id"].as_str().unwrap();
    let stale = api
        .json(
            reqwest::Method::PATCH,
            &format!("/api/v1/manage/story/{id}"),
            Some(editor),
            &[
                ("if-match", "\"0\""),
                ("content-type", "application/merge-patch+json"),
            ],
            &json!({ "teaser": "Neu." }),
        )
        .expect_problem(409, "version_conflict");
    insta::assert_json_snapshot!("problem_version_conflict", stale.body);
}

#[test]
fn the_documents_error_table_lists_every_code_once() {
    let app = TestApp::builder().no_plugins().start();
    let doc = app.router().get("/openapi.json", None).expect(200).body;
    let table = &doc["components"]["schemas"]["ErrorCode"]["x-error-codes"];
    let codes: Vec<&str> = table
        .as_array()
        .expect("x-error-codes is a list")
        .iter()
        .map(|row| row["code"].as_str().expect("a code"))
        .collect();
    let unique: std::collections::BTreeSet<&str> = codes.iter().copied().collect();
    assert_eq!(
        unique.len(),
        codes.len(),
        "a code is listed twice: {codes:?}"
    );
    insta::assert_json_snapshot!("openapi_error_table", table);
}
