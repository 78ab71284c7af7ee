//! Webhooks end to end, with a real receiver (an HTTP server in the test) and a third-party
//! verifier (the `standardwebhooks` package from PyPI): one signed delivery per event, thin
//! payloads without personal data, retries after 500s and timeouts, `410 Gone`, `Retry-After`,
//! replays, the SSRF guard, secret rotation, a `kill -9` between commit and send, several
//! nodes, and the live change stream with `Last-Event-ID`.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::time::Duration;

use serde_json::{Value, json};
use verbund_tests::{
    Answer, Receiver, TestApp, TestServer, ok, run_cli, story, verify_with_standardwebhooks,
    wait_until,
};

const WAIT: Duration = Duration::from_secs(20);

fn app(schedule: &str, timeout_ms: u64) -> TestApp {
    TestApp::builder()
        .tokens(&["admin", "editor"])
        .webhooks_local(schedule, Duration::from_millis(timeout_ms))
        .start()
}

/// Adds an endpoint; returns (id, secret).
fn add(app: &TestApp, url: &str, body: Value) -> (String, String) {
    let mut body = body;
    body["url"] = json!(url);
    let res = app
        .api()
        .post("/api/v1/admin/webhooks", Some(app.token("admin")), &body)
        .expect(201);
    (
        res.body["data"]["id"].as_str().unwrap().to_string(),
        res.body["data"]["secret"].as_str().unwrap().to_string(),
    )
}

fn publish_story(app: &TestApp, n: usize) -> String {
    let api = app.api();
    let editor = app.token("editor");
    let e = api.create(editor, "story", &story(n));
    let id = e["id"].as_str().unwrap().to_string();
    api.transition(app.token("admin"), "story", &id, "published");
    id
}

fn deliveries(app: &TestApp, id: &str) -> Vec<Value> {
    app.api()
        .get(
            &format!("/api/v1/admin/webhooks/{id}/deliveries?limit=200"),
            Some(app.token("admin")),
        )
        .expect(200)
        .data()
        .clone()
}

/// Waits until the endpoint is disabled; returns why.
fn disabled_reason(app: &TestApp, id: &str) -> String {
    let admin = app.token("admin");
    let get = || {
        app.api()
            .get(&format!("/api/v1/admin/webhooks/{id}"), Some(admin))
            .expect(200)
            .body["data"]
            .clone()
    };
    assert!(
        wait_until(WAIT, || get()["enabled"] == false),
        "webhook {id} stays enabled"
    );
    get()["disabled_reason"].as_str().unwrap_or("").to_string()
}

fn ids(got: &[verbund_tests::Received]) -> Vec<String> {
    got.iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect()
}

#[test]
fn each_event_arrives_once_signed_thin_and_verifiable_by_a_third_party() {
    let app = app("0,200ms,200ms", 2000);
    let rx = Receiver::start();
    let (_, secret) = add(
        &app,
        &rx.url(),
        json!({"events": ["entry.published", "entry.unpublished"], "types": ["story", "member"]}),
    );
    let all = Receiver::start();
    let (_, all_secret) = add(&app, &all.url(), json!({"events": ["*"]}));

    let stories: Vec<String> = (1..=3).map(|n| publish_story(&app, n)).collect();
    // A member with contact details (personal fields), published.
    let api = app.api();
    // Contact details are for admins to set.
    let member = api.create(
        app.token("admin"),
        "member",
        &json!({
            "name": "Saalebyte Systemhaus GmbH", "slug": "saalebyte-systemhaus", "legal_form": "GmbH",
            "city": "Halle (Saale)", "state_region": "Sachsen-Anhalt", "services": ["cloud"],
            "member_since": "2019-04-01", "contact_name": "Erika Mustermann",
            "contact_email": "erika.mustermann@saalebyte.example", "contact_phone": "+49 345 1234567",
        }),
    );
    let member_id = member["id"].as_str().unwrap().to_string();
    api.transition(app.token("admin"), "member", &member_id, "published");
    // A draft and a newsletter sign-up: no publication, and a subscriber is personal data.
    api.create(app.token("editor"), "story", &story(9));
    let signup = api.post(
        "/api/v1/newsletter/subscribe",
        None,
        &json!({"email": "leser@example.org", "name": "Lea Leser", "topics": ["cloud"], "consent_text_version": "2026-01"}),
    );
    assert_eq!(signup.status, 202, "{}", signup.text);

    let got = rx.wait_for(WAIT, |r| r.len() >= 4);
    std::thread::sleep(Duration::from_millis(500));
    let got_now = rx.received();
    assert_eq!(
        got_now.len(),
        4,
        "one delivery per publication: {:?}",
        ids(&got_now)
    );
    assert_eq!(got.len(), 4);
    let unique: HashSet<String> = ids(&got).into_iter().collect();
    assert_eq!(unique.len(), 4, "distinct webhook-ids per event");

    let verified = verify_with_standardwebhooks(&secret, &got);
    for (r, v) in got.iter().zip(&verified) {
        let payload = v
            .as_ref()
            .unwrap_or_else(|e| panic!("standardwebhooks refused {}: {e}", r.header("webhook-id")));
        assert_eq!(payload["type"], "entry.published");
        let data = payload["data"].as_object().unwrap();
        let keys: HashSet<&str> = data.keys().map(String::as_str).collect();
        let allowed: HashSet<&str> = [
            "seq",
            "content_type",
            "id",
            "locale",
            "version",
            "state",
            "published_version",
        ]
        .into();
        assert!(keys.is_subset(&allowed), "thin payload: {keys:?}");
        assert_eq!(r.header("content-type"), "application/json");
    }
    // A wrong secret does not verify.
    let wrong = verify_with_standardwebhooks(&all_secret, &got[..1]);
    assert!(
        wrong[0].is_err(),
        "another endpoint's secret must not verify"
    );

    let published: HashSet<String> = verified
        .iter()
        .map(|v| {
            v.as_ref().unwrap()["data"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut expected: HashSet<String> = stories.iter().cloned().collect();
    expected.insert(member_id.clone());
    assert_eq!(published, expected);

    // The catch-all endpoint saw drafts being created too, but never a subscriber and never a
    // personal field.
    let everything = all.wait_for(WAIT, |r| r.len() >= 15);
    let kinds: Vec<String> = everything
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(kinds.iter().any(|k| k == "entry.created"));
    assert!(kinds.iter().any(|k| k == "entry.transitioned"));
    for r in &everything {
        assert!(
            !r.body.contains("subscriber"),
            "a subscriber event: {}",
            r.body
        );
        for secret in ["Erika", "erika.mustermann", "1234567", "leser@example.org"] {
            assert!(
                !r.body.contains(secret),
                "personal data in a payload: {}",
                r.body
            );
        }
    }
    for v in verify_with_standardwebhooks(&all_secret, &everything) {
        v.expect("every delivery of the catch-all endpoint verifies");
    }
}

#[test]
fn failures_are_retried_with_the_same_id_until_the_receiver_takes_them() {
    let app = app("0,200ms,200ms,200ms", 700);
    // 500, then no answer within the timeout, then 200.
    let rx = Receiver::with(|n, _| match n {
        0 => Answer::status(500),
        1 => Answer::Status(200, Vec::new(), Duration::from_millis(2500)),
        _ => Answer::ok(),
    });
    let (hook, secret) = add(&app, &rx.url(), json!({"events": ["entry.published"]}));
    publish_story(&app, 1);
    let got = rx.wait_for(WAIT, |r| r.len() >= 3);
    assert_eq!(got.len(), 3, "three attempts");
    let first = got[0].header("webhook-id");
    assert!(
        got.iter().all(|r| r.header("webhook-id") == first),
        "one id for every attempt"
    );
    assert!(
        verify_with_standardwebhooks(&secret, &got)
            .iter()
            .all(Result::is_ok)
    );
    assert!(wait_until(WAIT, || deliveries(&app, &hook)
        .first()
        .is_some_and(|d| d["state"] == "succeeded")));
    let d = &deliveries(&app, &hook)[0];
    let attempts = d["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{d}");
    assert_eq!(attempts[0]["status"], 500);
    assert!(
        attempts[1]["error"]
            .as_str()
            .unwrap_or("")
            .contains("no answer within"),
        "a timeout is recorded as such: {}",
        attempts[1]
    );
    assert_eq!(attempts[2]["status"], 200);
    assert_eq!(attempts[2]["response"], "{\"received\":2}");
    // Nothing more comes.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(rx.received().len(), 3);
}

#[test]
fn gone_disables_the_endpoint_and_retry_after_is_honoured() {
    let app = app("0,100ms,100ms", 2000);
    let gone = Receiver::with(|_, _| Answer::status(410));
    let (gone_id, _) = add(&app, &gone.url(), json!({"events": ["entry.published"]}));
    let busy = Receiver::with(|n, _| match n {
        0 => Answer::Status(
            429,
            vec![("Retry-After".into(), "2".into())],
            Duration::ZERO,
        ),
        _ => Answer::ok(),
    });
    let (busy_id, _) = add(&app, &busy.url(), json!({"events": ["entry.published"]}));
    publish_story(&app, 1);

    let got = busy.wait_for(WAIT, |r| r.len() >= 2);
    assert_eq!(got.len(), 2);
    let waited = got[1].at - got[0].at;
    assert!(
        waited >= Duration::from_millis(1900),
        "Retry-After: 2 honoured (the schedule alone says 100 ms), waited {waited:?}"
    );

    let admin = app.token("admin");
    let reason = disabled_reason(&app, &gone_id);
    assert!(reason.contains("410"), "{reason}");
    let audit = app
        .api()
        .get("/api/v1/admin/audit?limit=1000", Some(admin))
        .expect(200);
    assert!(
        audit
            .data()
            .iter()
            .any(|a| a["action"] == "webhook.disable" && a["id"] == gone_id.as_str()),
        "the disabling is audited"
    );
    // A disabled endpoint gets nothing more.
    publish_story(&app, 2);
    busy.wait_for(WAIT, |r| r.len() >= 3);
    assert_eq!(gone.received().len(), 1);
    let _ = busy_id;
}

#[test]
fn replay_sends_a_delivery_again_and_everything_since_a_sequence_number() {
    let app = app("0,200ms", 2000);
    let rx = Receiver::start();
    let (hook, _) = add(&app, &rx.url(), json!({"events": ["entry.published"]}));
    let before = app.api().changes(0).1;
    for n in 1..=3 {
        publish_story(&app, n);
    }
    let got = rx.wait_for(WAIT, |r| r.len() >= 3);
    assert_eq!(got.len(), 3);
    let log = deliveries(&app, &hook);
    let oldest = log.last().unwrap();
    let admin = app.token("admin");
    app.api()
        .post(
            &format!(
                "/api/v1/admin/webhooks/{hook}/deliveries/{}/replay",
                oldest["id"].as_str().unwrap()
            ),
            Some(admin),
            &json!({}),
        )
        .expect(202);
    let got = rx.wait_for(WAIT, |r| r.len() >= 4);
    assert_eq!(
        got[3].header("webhook-id"),
        oldest["message_id"].as_str().unwrap()
    );

    let res = app
        .api()
        .post(
            &format!("/api/v1/admin/webhooks/{hook}/replay"),
            Some(admin),
            &json!({"since": before}),
        )
        .expect(202);
    assert_eq!(res.body["data"]["queued"], 3);
    let got = rx.wait_for(WAIT, |r| r.len() >= 7);
    let replayed: HashSet<&str> = got[4..].iter().map(|r| r.header("webhook-id")).collect();
    let original: HashSet<&str> = got[..3].iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(replayed, original, "a replay keeps the events' ids");
}

#[test]
fn private_targets_are_refused_unless_allow_listed() {
    let app = TestApp::builder().tokens(&["admin"]).start();
    let rx = Receiver::start();
    let admin = app.token("admin");
    for url in [
        rx.url(),
        "https://127.0.0.1/hook".to_string(),
        "https://localhost/hook".to_string(),
        "https://169.254.169.254/latest/meta-data/".to_string(),
        "https://[::ffff:127.0.0.1]/hook".to_string(),
        "https://10.0.0.7/hook".to_string(),
        "https://[fd00:ec2::254]/".to_string(),
        "http://93.184.215.14/hook".to_string(),
        "https://user:pw@93.184.215.14/hook".to_string(),
        "ftp://93.184.215.14/hook".to_string(),
    ] {
        let res = app.api().post(
            "/api/v1/admin/webhooks",
            Some(admin),
            &json!({"url": url, "events": ["entry.published"]}),
        );
        res.expect_problem(422, "webhook_target_refused");
    }
    // An unknown event type or content type is a clear 422 too.
    app.api()
        .post(
            "/api/v1/admin/webhooks",
            Some(admin),
            &json!({"url": "https://93.184.215.14/hook", "events": ["entry.publish"]}),
        )
        .expect_problem(422, "invalid_webhook");
    app.api()
        .post(
            "/api/v1/admin/webhooks",
            Some(admin),
            &json!({"url": "https://93.184.215.14/hook", "events": ["*"], "types": ["subscriber"]}),
        )
        .expect_problem(422, "invalid_webhook");
    // Only admins.
    let editor = app.issue_token("editor");
    app.api()
        .get("/api/v1/admin/webhooks", Some(&editor))
        .expect(403);

    // With the allow-list, the same receiver is reachable.
    let allowed = TestApp::builder()
        .tokens(&["admin", "editor"])
        .webhooks_local("0", Duration::from_secs(2))
        .start();
    let (hook, _) = add(&allowed, &rx.url(), json!({"events": ["entry.published"]}));
    let test = allowed
        .api()
        .post(
            &format!("/api/v1/admin/webhooks/{hook}/test"),
            Some(allowed.token("admin")),
            &json!({}),
        )
        .expect(200);
    assert_eq!(test.body["data"]["state"], "succeeded", "{}", test.text);
    assert_eq!(rx.received()[0].json()["type"], "webhook.test");
}

#[test]
fn a_rotated_secret_signs_beside_the_old_one_and_the_cli_manages_endpoints() {
    let app = app("0,200ms", 2000);
    let rx = Receiver::start();
    let cfg = tempfile::tempdir().unwrap();
    let admin = app.token("admin").to_string();
    let cli = |args: &[&str]| run_cli(cfg.path(), &app.url, &admin, args, &[]);

    let out = cli(&[
        "webhook",
        "add",
        &rx.url(),
        "--events",
        "entry.published",
        "--types",
        "story",
        "--header",
        "X-Build-Token: geheim-42",
        "--description",
        "Website neu bauen",
    ]);
    let text = ok(&out);
    let secret = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("secret: "))
        .unwrap_or_else(|| panic!("the secret is printed: {text}"))
        .to_string();
    let id = text.split_whitespace().nth(1).unwrap().to_string();
    assert!(ok(&cli(&["webhook", "list"])).contains(&id));

    let test = ok(&cli(&["webhook", "test", &id]));
    assert!(test.contains("HTTP 200"), "{test}");
    assert_eq!(rx.received()[0].header("x-build-token"), "geheim-42");

    let rotated = ok(&cli(&["webhook", "rotate-secret", &id]));
    let new_secret = rotated
        .lines()
        .find_map(|l| l.strip_prefix("new secret: "))
        .unwrap()
        .to_string();
    assert_ne!(new_secret, secret);
    publish_story(&app, 1);
    let got = rx.wait_for(WAIT, |r| r.len() >= 2);
    let last = &got[1..2];
    assert_eq!(last[0].header("webhook-signature").split(' ').count(), 2);
    assert!(
        verify_with_standardwebhooks(&secret, last)[0].is_ok(),
        "old secret still verifies"
    );
    assert!(
        verify_with_standardwebhooks(&new_secret, last)[0].is_ok(),
        "new secret verifies"
    );

    let log = ok(&cli(&["webhook", "deliveries", &id]));
    assert!(
        log.contains("entry.published") && log.contains("succeeded"),
        "{log}"
    );
    let show = ok(&cli(&["webhook", "show", &id]));
    assert!(
        show.contains("X-Build-Token") && !show.contains("geheim-42"),
        "{show}"
    );
    ok(&cli(&["webhook", "disable", &id]));
    publish_story(&app, 2);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(rx.received().len(), 2, "a disabled endpoint gets nothing");
    // Enabled again, it hears what happens from now on, not what it missed.
    ok(&cli(&["webhook", "enable", &id]));
    let third = publish_story(&app, 3);
    let got = rx.wait_for(WAIT, |r| r.len() >= 3);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.received().len(), 3);
    assert_eq!(got[2].json()["data"]["id"], third.as_str());
    ok(&cli(&["webhook", "remove", &id]));
    let out = cli(&["webhook", "show", &id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no webhook"));
}

/// The server is killed (SIGKILL) while deliveries are in flight and right after a commit:
/// after a restart every event is delivered.
#[test]
fn kill_9_between_commit_and_send_loses_no_delivery() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let tokens = verbund_tests::create_tokens(&data, &["admin", "editor"]);
    let flags = [
        "--webhook-allow",
        "127.0.0.1",
        "--webhook-retries",
        "0,300ms,300ms,300ms,300ms,300ms,300ms,300ms",
    ];
    let rx = Receiver::with(|_, _| Answer::Hang(Duration::from_secs(30)));
    let server = TestServer::start(&data, &flags);
    let api = verbund_tests::Api::at(&server.url);
    let body = json!({"url": rx.url(), "events": ["entry.published"]});
    let hook = api
        .post("/api/v1/admin/webhooks", Some(&tokens["admin"]), &body)
        .expect(201);
    let _hook = hook.body["data"]["id"].as_str().unwrap().to_string();
    let mut published = Vec::new();
    for n in 1..=5 {
        let e = api.create(&tokens["editor"], "story", &story(n));
        let id = e["id"].as_str().unwrap().to_string();
        api.transition(&tokens["admin"], "story", &id, "published");
        published.push(id);
    }
    // Sends are in flight (the receiver holds them)…
    rx.wait_for(WAIT, |r| !r.is_empty());
    // …and one more publication is committed just before the kill.
    let e = api.create(&tokens["editor"], "story", &story(6));
    let id = e["id"].as_str().unwrap().to_string();
    api.transition(&tokens["admin"], "story", &id, "published");
    published.push(id);
    server.stop(); // SIGKILL

    rx.set(|_, _| Answer::ok());
    let server = TestServer::start(&data, &flags);
    let got = rx.wait_for(Duration::from_secs(30), |r| {
        let ids: HashSet<String> = r
            .iter()
            .filter_map(|x| x.json()["data"]["id"].as_str().map(String::from))
            .collect();
        published.iter().all(|p| ids.contains(p))
    });
    let delivered: HashSet<String> = got
        .iter()
        .filter_map(|x| x.json()["data"]["id"].as_str().map(String::from))
        .collect();
    for p in &published {
        assert!(
            delivered.contains(p),
            "the publication of {p} was never delivered"
        );
    }
    server.stop();
}

/// Several nodes on one database: each event is delivered by one node, once.
#[test]
fn several_nodes_deliver_each_event_once() {
    if verbund_tests::postgres_server().is_none() {
        eprintln!("several nodes need a shared store: run with VERBUND_E2E_STORE=postgres");
        return;
    }
    let a = TestApp::builder()
        .tokens(&["admin", "editor"])
        .webhooks_local("0,200ms", Duration::from_secs(2))
        .start();
    let b = TestApp::builder()
        .node_of(&a)
        .webhooks_local("0,200ms", Duration::from_secs(2))
        .start();
    let rx = Receiver::start();
    add(&a, &rx.url(), json!({"events": ["entry.published"]}));
    let (editor, admin) = (a.token("editor").to_string(), a.token("admin").to_string());
    for n in 1..=10 {
        let node = if n % 2 == 0 { &a } else { &b };
        let api = node.api();
        let e = api.create(&editor, "story", &story(n));
        api.transition(&admin, "story", e["id"].as_str().unwrap(), "published");
    }
    let got = rx.wait_for(WAIT, |r| r.len() >= 10);
    std::thread::sleep(Duration::from_secs(1));
    let got_now = rx.received();
    assert_eq!(got.len(), 10);
    assert_eq!(
        got_now.len(),
        10,
        "no event delivered twice: {:?}",
        ids(&got_now)
    );
}

/// Reads SSE events (id, data) from a response until `n` arrived.
fn read_events(reader: &mut impl BufRead, n: usize) -> Vec<(u64, Value)> {
    let mut out = Vec::new();
    let (mut id, mut data) = (None, String::new());
    while out.len() < n {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if let Some(v) = line.strip_prefix("id:") {
            id = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim_start());
        } else if line.is_empty() && !data.is_empty() {
            out.push((id.unwrap_or(0), serde_json::from_str(&data).unwrap()));
            data.clear();
        }
    }
    out
}

#[test]
fn the_change_stream_is_live_and_resumes_from_last_event_id_without_gaps() {
    let app = TestApp::builder()
        .tokens(&["admin", "editor"])
        .config(|c| c.limits.max_streams = 2)
        .start();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let open = |last: Option<u64>| {
        let mut req = client.get(format!("{}/api/v1/changes/stream", app.url));
        if let Some(l) = last {
            req = req.header("Last-Event-ID", l.to_string());
        }
        let res = req.send().unwrap();
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        BufReader::new(res)
    };
    let mut stream = open(None);
    let first: Vec<String> = (1..=3).map(|n| publish_story(&app, n)).collect();
    // A draft is no change of the published view.
    app.api().create(app.token("editor"), "story", &story(50));
    let events = read_events(&mut stream, 3);
    let got: Vec<String> = events
        .iter()
        .map(|(_, e)| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, first);
    assert!(events.windows(2).all(|w| w[0].0 < w[1].0), "ids ascend");
    let last = events[2].0;
    drop(stream);

    // Missed while disconnected: delivered on reconnect with Last-Event-ID, in order.
    let missed: Vec<String> = (4..=5).map(|n| publish_story(&app, n)).collect();
    let mut stream = open(Some(last));
    let events = read_events(&mut stream, 2);
    let got: Vec<String> = events
        .iter()
        .map(|(_, e)| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, missed);
    let (feed, _) = app.api().changes(last);
    let expected: Vec<u64> = feed.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let seen: Vec<u64> = events.iter().map(|(s, _)| *s).collect();
    assert_eq!(seen, expected, "the stream is the feed, without gaps");

    // Bounded: two streams are open (this one and one more); a third is refused.
    let _second = open(None);
    let third = client
        .get(format!("{}/api/v1/changes/stream", app.url))
        .send()
        .unwrap();
    assert_eq!(third.status(), 503);
    let bad = client
        .get(format!("{}/api/v1/changes/stream", app.url))
        .header("Last-Event-ID", "gestern")
        .send()
        .unwrap();
    assert_eq!(bad.status(), 400);

    // One client address cannot take every stream of the server.
    let one_each = TestApp::builder()
        .config(|c| c.limits.max_streams_per_client = 1)
        .start();
    let url = format!("{}/api/v1/changes/stream", one_each.url);
    let first = client.get(&url).send().unwrap();
    assert_eq!(first.status(), 200);
    let second = client.get(&url).send().unwrap();
    assert_eq!(second.status(), 429);
    drop(first);
    assert!(
        wait_until(WAIT, || client.get(&url).send().unwrap().status() == 200),
        "a closed stream frees its client's slot"
    );
}

/// A redirect is a failure and is not followed; an endpoint that keeps failing for the
/// configured time (5 days by default) is disabled, with an audit record.
#[test]
fn redirects_are_not_followed_and_a_long_failing_endpoint_is_disabled() {
    let app = TestApp::builder()
        .tokens(&["admin", "editor"])
        .webhooks_local(
            "0,150ms,150ms,150ms,150ms,150ms,150ms",
            Duration::from_secs(2),
        )
        .config(|c| c.webhooks.disable_after = Duration::from_millis(500))
        .start();
    let elsewhere = Receiver::start();
    let target = elsewhere.url();
    let rx = Receiver::with(move |_, _| {
        Answer::Status(
            302,
            vec![("Location".into(), target.clone())],
            Duration::ZERO,
        )
    });
    let (hook, _) = add(&app, &rx.url(), json!({"events": ["entry.published"]}));
    publish_story(&app, 1);
    let admin = app.token("admin");
    let reason = disabled_reason(&app, &hook);
    assert!(rx.received().len() >= 2, "retried after the 302");
    assert!(elsewhere.received().is_empty(), "the redirect was followed");
    assert!(reason.contains("every delivery failed since"), "{reason}");
    let d = &deliveries(&app, &hook)[0];
    assert!(
        d["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == 302),
        "{d}"
    );
    let audit = app
        .api()
        .get("/api/v1/admin/audit?limit=1000", Some(admin))
        .expect(200);
    assert!(
        audit
            .data()
            .iter()
            .any(|a| a["action"] == "webhook.disable" && a["actor"] == "server"),
        "the server's disabling is audited"
    );
    // Its pending delivery is cancelled, not sent later.
    assert!(wait_until(WAIT, || deliveries(&app, &hook)[0]["state"] != "pending"));
}
