//! The four-eyes review workflow with the real `review-approval` component, installed by
//! `serve --demo`: the happy path to public, self-approval refused, N approvals, an edit after
//! approval resets, roles, comments, the history, scheduled publishing across a restart, and
//! the old public version served until the new one is published.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};
use verbund_tests::{Api, TestApp, TestServer, ok, run_cli, story, wait_until};

fn plugins_dir() -> String {
    verbund_tests::plugins_dir_with("review-approval")
}

struct Team {
    server: TestApp,
    data: PathBuf,
    editor: String,
    editor2: String,
    reviewer: String,
    reviewer2: String,
    admin: String,
    config: PathBuf,
    _tmp: tempfile::TempDir,
}

fn team() -> Team {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dir = plugins_dir();
    let server = TestApp::builder()
        .data(&data)
        .demo()
        .plugins_dir(&dir)
        .start();
    let t = |role| server.issue_token(role);
    let (editor, editor2, reviewer, reviewer2, admin) = (
        t("editor"),
        t("editor"),
        t("reviewer"),
        t("reviewer"),
        t("admin"),
    );
    Team {
        server,
        data,
        editor,
        editor2,
        reviewer,
        reviewer2,
        admin,
        config: tmp.path().join("config"),
        _tmp: tmp,
    }
}

impl Team {
    fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let res = Api::of(&self.server).call(method, path, Some(token), body.as_ref());
        (res.status, res.body)
    }

    fn step(&self, token: &str, id: &str, body: Value) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/manage/story/{id}/transitions"),
            token,
            Some(body),
        )
    }

    fn state(&self, id: &str) -> String {
        let (_, e) = self.call(
            reqwest::Method::GET,
            &format!("/api/v1/manage/story/{id}"),
            &self.admin,
            None,
        );
        e["data"]["state"].as_str().unwrap_or("").to_string()
    }

    /// Whether the review queue of `token` offers the entry `id`.
    fn queued(&self, token: &str, id: &str) -> bool {
        let (status, q) = self.call(
            reqwest::Method::GET,
            "/api/v1/manage/review-queue",
            token,
            None,
        );
        assert_eq!(status, 200, "{q}");
        q["data"].as_array().unwrap().iter().any(|e| e["id"] == id)
    }

    fn new_story(&self, n: usize) -> String {
        let (status, body) = self.call(
            reqwest::Method::POST,
            "/api/v1/manage/story",
            &self.editor,
            Some(story(n)),
        );
        assert_eq!(status, 201, "{body}");
        body["data"]["id"].as_str().unwrap().to_string()
    }

    fn cli(&self, token: &str, args: &[&str]) -> Output {
        run_cli(&self.config, &self.server.url, token, args, &[])
    }

    fn public_title(&self, slug: &str) -> Option<String> {
        let (status, body) = self
            .server
            .get_json(&format!("/api/v1/content/story/{slug}"));
        (status == 200).then(|| body["data"]["title"].as_str().unwrap_or("").to_string())
    }
}

#[test]
fn a_story_goes_public_only_after_someone_else_approved_it() {
    let t = team();
    let id = t.new_story(1);
    let slug = "praxisbericht-1";
    assert_eq!(t.state(&id), "draft");

    // Publishing a draft directly, or from review, is not a transition of this workflow.
    let (status, body) = t.step(&t.reviewer, &id, json!({"to": "published"}));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "invalid_transition");

    // The editor submits with the CLI; a reviewer approves and publishes.
    let out = ok(&t.cli(
        &t.editor,
        &["entry", "submit", "story", &id, "--comment", "Bitte prüfen"],
    ));
    assert!(out.contains("is now in_review"), "{out}");
    let (status, body) = t.step(&t.reviewer, &id, json!({"transition": "publish"}));
    assert_eq!(status, 409, "publish from in_review is refused: {body}");
    assert!(
        t.public_title(slug).is_none(),
        "nothing public before approval"
    );

    // An editor cannot approve: it needs the reviewer role.
    let (status, body) = t.step(&t.editor2, &id, json!({"transition": "approve"}));
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "role_not_allowed");
    assert!(body["detail"].as_str().unwrap().contains("reviewer"));

    let out = ok(&t.cli(
        &t.reviewer,
        &["entry", "approve", "story", &id, "--comment", "Passt."],
    ));
    assert!(out.contains("is now approved"), "{out}");
    assert!(t.public_title(slug).is_none(), "approved is not public yet");
    let out = ok(&t.cli(&t.reviewer, &["entry", "publish", "story", &id]));
    assert!(out.contains("is now published"), "{out}");
    assert_eq!(
        t.public_title(slug).as_deref(),
        Some("Praxisbericht Nummer 1: Digitalisierung im Mittelstand")
    );

    // The history is complete and ordered, with actors, roles and comments.
    let (_, h) = t.call(
        reqwest::Method::GET,
        &format!("/api/v1/manage/story/{id}/history"),
        &t.reviewer,
        None,
    );
    let steps: Vec<(String, String, String)> = h["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap().to_string(),
                i["transition"].as_str().unwrap_or("").to_string(),
                i["to_state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("create", "", "draft"),
        ("transition", "submit", "in_review"),
        ("transition", "approve", "approved"),
        ("transition", "publish", "published"),
    ];
    assert_eq!(
        steps,
        want.iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect::<Vec<_>>()
    );
    let items = h["data"].as_array().unwrap();
    assert_eq!(items[1]["comment"], "Bitte prüfen");
    assert_eq!(items[1]["role"], "editor");
    assert_eq!(items[2]["comment"], "Passt.");
    assert_eq!(items[2]["role"], "reviewer");
    let times: Vec<&str> = items.iter().map(|i| i["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "oldest first");
    let timeline = ok(&t.cli(&t.editor, &["entry", "history", "story", &id]));
    assert!(timeline.contains("submit: draft → in_review"), "{timeline}");
    assert!(timeline.contains("„Passt.“"), "{timeline}");

    // Members keep the default lifecycle: an editor takes one offline and publishes it again.
    let (_, members) = t.call(
        reqwest::Method::GET,
        "/api/v1/manage/member?limit=1",
        &t.editor,
        None,
    );
    let member = members["data"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/manage/member/{member}/transitions");
    let (status, body) = t.call(
        reqwest::Method::POST,
        &path,
        &t.editor,
        Some(json!({"to": "draft"})),
    );
    assert_eq!(
        (status, body["data"]["state"].as_str()),
        (200, Some("draft")),
        "{body}"
    );
    let (status, body) = t.call(
        reqwest::Method::POST,
        &path,
        &t.editor,
        Some(json!({"to": "published"})),
    );
    assert_eq!(
        (status, body["data"]["state"].as_str()),
        (200, Some("published")),
        "{body}"
    );
}

#[test]
fn four_eyes_n_approvals_and_an_edit_resets_the_review() {
    let t = team();
    let id = t.new_story(2);
    t.step(&t.editor, &id, json!({"transition": "submit"}));

    // Whoever wrote or edited it cannot approve it — not even an admin.
    let client = reqwest::blocking::Client::new();
    let res = client
        .patch(format!("{}/api/v1/manage/story/{id}", t.server.url))
        .bearer_auth(&t.admin)
        .header("If-Match", "\"1\"")
        .json(&json!({"teaser": "Vom Admin nachgeschärft."}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, body) = t.step(&t.admin, &id, json!({"transition": "approve"}));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "transition_denied");
    assert_eq!(body["plugin"], "review-approval");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("Vier-Augen-Prinzip"),
        "{body}"
    );

    // Two approvals for stories.
    ok(&t.cli(
        &t.admin,
        &[
            "plugin",
            "configure",
            "review-approval",
            "--set",
            "approvals.story=2",
        ],
    ));
    let (status, body) = t.step(&t.reviewer, &id, json!({"transition": "approve"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["state"], "in_review",
        "one approval is not enough"
    );
    // The queue asks the plugin: it waits for the second reviewer only, not for the one who
    // approved already nor for the admin who edited it.
    assert!(!t.queued(&t.reviewer, &id));
    assert!(!t.queued(&t.admin, &id));
    assert!(t.queued(&t.reviewer2, &id));
    let (status, body) = t.step(&t.reviewer, &id, json!({"transition": "approve"}));
    assert_eq!(status, 409, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("bereits freigegeben"),
        "{body}"
    );
    let (status, body) = t.step(&t.reviewer2, &id, json!({"transition": "approve"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["state"], "approved");
    // Approved by two: now it waits to be published, which either reviewer may do.
    assert!(t.queued(&t.reviewer, &id));

    // An edit after approval sends it back to review and drops the approvals.
    let res = client
        .patch(format!("{}/api/v1/manage/story/{id}", t.server.url))
        .bearer_auth(&t.editor)
        .header("If-Match", "\"2\"")
        .json(&json!({"title": "Praxisbericht, überarbeitet"}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(t.state(&id), "in_review");
    let (status, _) = t.step(&t.reviewer, &id, json!({"transition": "publish"}));
    assert_eq!(status, 409, "no publishing from review");
    let (_, body) = t.step(&t.reviewer, &id, json!({"transition": "approve"}));
    assert_eq!(
        body["data"]["state"], "in_review",
        "the earlier approvals no longer count"
    );
    let (_, body) = t.step(&t.reviewer2, &id, json!({"transition": "approve"}));
    assert_eq!(body["data"]["state"], "approved");

    // Requesting changes needs a comment, which the history keeps.
    let (status, body) = t.step(&t.reviewer, &id, json!({"transition": "request_changes"}));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["pointer"], "/comment");
    let out = ok(&t.cli(
        &t.reviewer,
        &[
            "entry",
            "request-changes",
            "story",
            &id,
            "--comment",
            "Bitte Quelle ergänzen",
        ],
    ));
    assert!(out.contains("changes_requested"), "{out}");
    let (_, h) = t.call(
        reqwest::Method::GET,
        &format!("/api/v1/manage/story/{id}/history"),
        &t.editor,
        None,
    );
    let last = h["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["comment"], "Bitte Quelle ergänzen");
    let edits: Vec<&Value> = h["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "edit")
        .collect();
    assert_eq!(edits.len(), 2);
    assert_eq!(edits[1]["from_state"], "approved");
    assert_eq!(edits[1]["to_state"], "in_review");

    // The review queue shows what waits for a reviewer.
    let id2 = t.new_story(3);
    t.step(&t.editor, &id2, json!({"transition": "submit"}));
    let queue = ok(&t.cli(&t.reviewer, &["entry", "queue", "--json"]));
    let queue: Value = serde_json::from_str(&queue).unwrap();
    assert!(
        queue
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == id2.as_str())
    );
}

#[test]
fn the_old_public_version_stays_until_the_new_one_is_published() {
    let t = team();
    // A demo story that is public.
    let (_, page) = t.server.get_json("/api/v1/content/story?limit=1");
    let public = &page["data"][0];
    let slug = public["slug"].as_str().unwrap().to_string();
    let old_title = public["title"].as_str().unwrap().to_string();
    let (_, current) = t.call(
        reqwest::Method::GET,
        &format!("/api/v1/manage/story/{slug}"),
        &t.editor,
        None,
    );
    let id = current["data"]["id"].as_str().unwrap().to_string();
    let version = current["data"]["version"].as_u64().unwrap();

    let res = reqwest::blocking::Client::new()
        .patch(format!("{}/api/v1/manage/story/{id}", t.server.url))
        .bearer_auth(&t.editor)
        .header("If-Match", format!("\"{version}\""))
        .json(&json!({"title": "Neue Fassung, noch ungeprüft"}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        t.state(&id),
        "draft",
        "an edit of a published story needs review again"
    );
    assert_eq!(t.public_title(&slug).as_deref(), Some(old_title.as_str()));
    t.step(&t.editor, &id, json!({"transition": "submit"}));
    assert_eq!(t.public_title(&slug).as_deref(), Some(old_title.as_str()));
    t.step(&t.reviewer, &id, json!({"transition": "approve"}));
    assert_eq!(t.public_title(&slug).as_deref(), Some(old_title.as_str()));
    let (status, body) = t.step(&t.reviewer, &id, json!({"transition": "publish"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        t.public_title(&slug).as_deref(),
        Some("Neue Fassung, noch ungeprüft")
    );
}

#[test]
fn a_scheduled_publication_happens_on_time_also_after_a_restart() {
    let t = team();
    let id = t.new_story(4);
    t.step(&t.editor, &id, json!({"transition": "submit"}));
    t.step(&t.reviewer, &id, json!({"transition": "approve"}));
    let at = (chrono::Utc::now() + chrono::Duration::seconds(4)).to_rfc3339();
    let out = ok(&t.cli(
        &t.reviewer,
        &["entry", "publish", "story", &id, "--at", &at],
    ));
    assert!(out.contains("is scheduled for"), "{out}");
    assert_eq!(t.state(&id), "approved");
    let (_, e) = t.call(
        reqwest::Method::GET,
        &format!("/api/v1/manage/story/{id}"),
        &t.admin,
        None,
    );
    assert_eq!(e["data"]["scheduled"]["transition"], "publish");
    assert!(t.public_title("praxisbericht-4").is_none());

    // The server is down when the time comes; on start it publishes at once.
    let Team {
        server,
        data,
        admin,
        reviewer,
        ..
    } = t;
    server.stop();
    std::thread::sleep(Duration::from_secs(5));
    let server = TestServer::start(&data, &["--plugins-dir", &plugins_dir()]);
    assert!(
        wait_until(Duration::from_secs(3), || {
            server.get("/api/v1/content/story/praxisbericht-4").status() == 200
        }),
        "published within a second or two of the restart"
    );
    let res = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/manage/story/{id}/history", server.url))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    let h: Value = res.json().unwrap();
    let kinds: Vec<&str> = h["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "create",
            "transition",
            "transition",
            "schedule",
            "transition"
        ]
    );
    let items = h["data"].as_array().unwrap();
    let (schedule, done) = (&items[3], &items[4]);
    assert_eq!(schedule["transition"], "publish");
    assert_eq!(done["transition"], "publish");
    assert_eq!(done["to_state"], "published");
    assert_eq!(
        done["actor"], schedule["actor"],
        "taken in the name of who scheduled it"
    );
    let planned =
        chrono::DateTime::parse_from_rfc3339(schedule["at_planned"].as_str().unwrap()).unwrap();
    let taken = chrono::DateTime::parse_from_rfc3339(done["at"].as_str().unwrap()).unwrap();
    assert!(taken >= planned, "not before its time");

    // While the server runs, a scheduled step happens within about a second of its time.
    let (status, created) = {
        let res = reqwest::blocking::Client::new()
            .post(format!("{}/api/v1/manage/story", server.url))
            .bearer_auth(&admin)
            .json(&story(5))
            .send()
            .unwrap();
        (res.status().as_u16(), res.json::<Value>().unwrap())
    };
    assert_eq!(status, 201);
    let id5 = created["data"]["id"].as_str().unwrap().to_string();
    let at = chrono::Utc::now() + chrono::Duration::seconds(2);
    let res = reqwest::blocking::Client::new()
        .post(format!(
            "{}/api/v1/manage/story/{id5}/transitions",
            server.url
        ))
        .bearer_auth(&reviewer)
        .json(&json!({"transition": "archive", "at": at.to_rfc3339()}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(wait_until(Duration::from_secs(6), || {
        let res = reqwest::blocking::Client::new()
            .get(format!("{}/api/v1/manage/story/{id5}", server.url))
            .bearer_auth(&admin)
            .send()
            .unwrap();
        res.json::<Value>().unwrap()["data"]["state"] == "archived"
    }));
    assert!(chrono::Utc::now() < at + chrono::Duration::seconds(3));
}

/// Security review #2: when the governing plugin is off (disabled by an admin, or
/// automatically after repeated faults), its type does not fall back to the default lifecycle
/// where an editor publishes directly. Every transition is refused with 503
/// plugin_unavailable and nothing becomes public; taking a public entry offline still works.
/// Once the plugin is back, the workflow goes on where it was.
#[test]
fn without_its_governing_plugin_a_type_takes_no_transition_but_going_offline() {
    let t = team();
    let draft = t.new_story(31);
    let public = t.new_story(32);
    for (token, step) in [
        (&t.editor, "submit"),
        (&t.reviewer, "approve"),
        (&t.reviewer, "publish"),
    ] {
        let (status, body) = t.step(token, &public, json!({"transition": step}));
        assert_eq!(status, 200, "{step}: {body}");
    }
    assert!(t.public_title("praxisbericht-32").is_some());

    let (status, body) = t.call(
        reqwest::Method::POST,
        "/api/v1/admin/plugins/review-approval/disable",
        &t.admin,
        None,
    );
    assert_eq!(status, 200, "{body}");

    // The type keeps the plugin's workflow: the default lifecycle's direct publication is
    // still no transition of it, for anyone.
    for token in [&t.editor, &t.reviewer, &t.admin] {
        let (status, answer) = t.step(token, &draft, json!({"to": "published"}));
        assert_eq!(status, 409, "{answer}");
        assert_eq!(answer["code"], "invalid_transition", "{answer}");
        assert!(
            answer["detail"]
                .as_str()
                .unwrap()
                .starts_with("cannot go to published from draft"),
            "{answer}"
        );
    }
    // And the workflow's own transitions wait for the plugin that guards them.
    for (token, body) in [
        (&t.editor, json!({"transition": "submit"})),
        (&t.admin, json!({"transition": "submit"})),
        (&t.editor, json!({"to": "in_review"})),
    ] {
        let (status, answer) = t.step(token, &draft, body.clone());
        assert_eq!(status, 503, "{body}: {answer}");
        assert_eq!(answer["code"], "plugin_unavailable", "{answer}");
        assert!(
            answer["detail"]
                .as_str()
                .unwrap()
                .contains("review-approval"),
            "{answer}"
        );
    }
    assert_eq!(t.state(&draft), "draft");
    assert!(
        t.public_title("praxisbericht-31").is_none(),
        "nothing public"
    );

    // Going offline is always possible.
    let (status, body) = t.step(&t.editor, &public, json!({"transition": "unpublish"}));
    assert_eq!(status, 200, "{body}");
    assert!(t.public_title("praxisbericht-32").is_none());

    // Back on: the four-eyes workflow again, not a direct publication.
    let (status, body) = t.call(
        reqwest::Method::POST,
        "/api/v1/admin/plugins/review-approval/enable",
        &t.admin,
        None,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = t.step(&t.editor, &draft, json!({"to": "published"}));
    assert_eq!(status, 409, "{body}");
    let (status, body) = t.step(&t.editor, &draft, json!({"transition": "submit"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["state"], "in_review");
}
