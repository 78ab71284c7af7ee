//! Several nodes on one PostgreSQL store: each node is a `TestApp` with its own node dir (a
//! copy of the installation's key file) on the same database. On sled, where a data dir
//! belongs to one process, there is nothing to test here.

use std::time::Duration;

use serde_json::json;
use verbund_core::plugin::Grant;
use verbund_tests::{Api, TestApp, plugin_component, story, wait_until};

fn member(name: &str, slug: &str) -> serde_json::Value {
    json!({
        "name": name,
        "slug": slug,
        "legal_form": "GmbH",
        "city": "Halle (Saale)",
        "state_region": "Sachsen-Anhalt",
        "services": ["cloud"],
        "member_since": "2021-03-01",
    })
}

/// Node A (demo content, an admin and an editor token) and node B of the same installation;
/// `None` on sled.
fn two_nodes(plugins: bool) -> Option<(TestApp, TestApp)> {
    if verbund_tests::postgres_server().is_none() {
        eprintln!(
            "several nodes need a shared store: run with VERBUND_E2E_STORE=postgres (tests/run does)"
        );
        return None;
    }
    let mut a = TestApp::builder().demo().tokens(&["admin", "editor"]);
    if !plugins {
        a = a.no_plugins();
    }
    let a = a.start();
    let mut b = TestApp::builder().node_of(&a);
    if !plugins {
        b = b.no_plugins();
    }
    Some((a, b.start()))
}

#[test]
fn a_write_on_one_node_is_read_on_the_other_and_empties_its_cached_responses() {
    let Some((a, b)) = two_nodes(false) else {
        return;
    };
    let (on_a, on_b) = (Api::of(&a), Api::of(&b));
    let admin = &a.tokens["admin"];
    // B answers (and caches) the member list.
    let before = on_b
        .get("/api/v1/content/member?limit=100", None)
        .expect(200);
    let count = before.data().len();
    assert_eq!(
        on_b.get("/api/v1/content/member?limit=100", None)
            .expect(200)
            .data()
            .len(),
        count
    );
    // A token made on A works on B: same store, same keys.
    let created = on_b.create(
        admin,
        "member",
        &member("Clusterwerk Test GmbH", "clusterwerk-test"),
    );
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(
        on_a.get(&format!("/api/v1/manage/member/{id}"), Some(admin))
            .expect(200)
            .body["data"]["name"],
        "Clusterwerk Test GmbH"
    );

    // Published on A: B's cached list follows within about a second.
    on_a.transition(admin, "member", &id, "published");
    assert!(
        wait_until(Duration::from_secs(3), || {
            on_b.get("/api/v1/content/member?limit=100", None)
                .expect(200)
                .data()
                .len()
                == count + 1
        }),
        "node B still serves its cached list without the member published on A"
    );
    assert_eq!(
        on_b.get("/api/v1/content/member/clusterwerk-test", None)
            .expect(200)
            .body["data"]["name"],
        "Clusterwerk Test GmbH"
    );
}

#[test]
fn a_plugin_installed_on_one_node_runs_on_the_other() {
    let Some((a, b)) = two_nodes(true) else {
        return;
    };
    let bytes = std::fs::read(plugin_component("hello")).expect("plugins/build built hello");
    a.state
        .plugins
        .as_ref()
        .expect("plugin host")
        .install(
            &bytes,
            Some(vec![Grant::parse("read:story").unwrap()]),
            false,
            "test",
        )
        .expect("install hello on A");
    // hello refuses placeholder text in titles: B refuses it too, once it has loaded hello.
    let on_b = Api::of(&b);
    let editor = &a.tokens["editor"];
    let mut bad = story(1);
    bad["title"] = json!("Lorem ipsum im Mittelstand");
    bad["slug"] = json!("lorem-ipsum");
    // Within a second or so (B follows the store's plugin epoch); each try a new slug, as a
    // try before B loaded hello is stored.
    let mut tries = 0;
    let refused_by_hello = wait_until(Duration::from_secs(3), || {
        tries += 1;
        bad["slug"] = json!(format!("lorem-ipsum-{tries}"));
        let res = on_b.post("/api/v1/manage/story", Some(editor), &bad);
        res.status == 422
            && res.body["errors"][0]["message"]
                .as_str()
                .unwrap_or("")
                .contains("plugin hello")
    });
    assert!(
        refused_by_hello,
        "node B does not run the validator installed on A"
    );

    // Disabled on B: A stops running it as well.
    b.state
        .plugins
        .as_ref()
        .unwrap()
        .set_enabled(
            "hello",
            false,
            Some("Test: auf Knoten B abgeschaltet".into()),
            "test",
        )
        .expect("disable on B");
    let on_a = Api::of(&a);
    assert!(
        wait_until(Duration::from_secs(3), || {
            tries += 1;
            bad["slug"] = json!(format!("lorem-ipsum-{tries}"));
            on_a.post("/api/v1/manage/story", Some(editor), &bad).status == 201
        }),
        "node A still runs the validator disabled on B"
    );
}

#[test]
fn a_scheduled_publication_happens_once_with_two_nodes_and_after_the_lease_holder_dies() {
    let Some((a, b)) = two_nodes(false) else {
        return;
    };
    let on_a = Api::of(&a);
    let admin = &a.tokens["admin"].clone();
    let schedule = |n: usize, secs: i64| -> String {
        let created = on_a.create(
            admin,
            "member",
            &member(
                &format!("Terminfirma {n} GmbH"),
                &format!("terminfirma-{n}"),
            ),
        );
        let id = created["id"].as_str().unwrap().to_string();
        let at = (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339();
        on_a.post(
            &format!("/api/v1/manage/member/{id}/transitions"),
            Some(admin),
            &json!({"to": "published", "at": at}),
        )
        .expect(200);
        id
    };
    let published_events = |id: &str| -> usize {
        let (changes, _) = on_a.changes(0);
        changes
            .iter()
            .filter(|c| c["id"] == id && c["state"] == "published")
            .count()
    };
    let first = schedule(1, 2);
    assert!(
        wait_until(Duration::from_secs(6), || published_events(&first) > 0),
        "the scheduled publication did not happen"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        published_events(&first),
        1,
        "published exactly once by two nodes"
    );

    // Whichever node holds the lease goes away; the other takes over and publishes.
    let second = schedule(2, 2);
    let survivor = {
        let holder_is_a = a
            .content
            .store()
            .get(verbund_core::store::Tree::Meta, b"lease/scheduler")
            .unwrap()
            .is_some();
        assert!(holder_is_a, "a node holds the scheduler lease");
        drop(a);
        b
    };
    let on_b = Api::of(&survivor);
    assert!(
        wait_until(Duration::from_secs(10), || {
            on_b.get(&format!("/api/v1/manage/member/{second}"), Some(admin))
                .expect(200)
                .body["data"]["state"]
                == "published"
        }),
        "the remaining node did not take over the schedule"
    );
}

/// A PostgreSQL server of the test's own (it is stopped and started again), stopped on drop.
pub(crate) struct OwnServer {
    dir: tempfile::TempDir,
    pub(crate) url: String,
}

impl OwnServer {
    fn script(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("postgres")
            .join(name)
    }

    pub(crate) fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = Self::start_in(dir.path());
        OwnServer { dir, url }
    }

    fn start_in(dir: &std::path::Path) -> String {
        let out = std::process::Command::new(Self::script("start"))
            .arg(dir)
            .env("FAST", "1")
            .output()
            .expect("run tests/postgres/start");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Stops it the way a crash or power cut would (no checkpoint, connections cut).
    pub(crate) fn crash(&self) {
        let ok = std::process::Command::new(Self::script("stop"))
            .arg(self.dir.path())
            .arg("immediate")
            .status()
            .unwrap()
            .success();
        assert!(ok, "tests/postgres/stop failed");
    }

    pub(crate) fn restart(&self) {
        assert_eq!(Self::start_in(self.dir.path()), self.url, "same port again");
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new(Self::script("stop"))
            .arg(self.dir.path())
            .arg("immediate")
            .status();
    }
}

#[test]
fn while_the_database_is_down_the_api_answers_503_and_the_node_recovers_by_itself() {
    if verbund_tests::postgres_server().is_none() {
        eprintln!("needs PostgreSQL: run with VERBUND_E2E_STORE=postgres (tests/run does)");
        return;
    }
    let pg = OwnServer::start();
    let app = TestApp::builder()
        .store(verbund_core::StoreLocation::Postgres(pg.url.clone()))
        .demo()
        .no_plugins()
        .tokens(&["admin"])
        .start();
    let api = Api::of(&app);
    let admin = &app.tokens["admin"];
    let listed = api.get("/api/v1/content/member?limit=5", None).expect(200);

    pg.crash();
    // What the node answered before, it still answers from its cache.
    assert_eq!(
        api.get("/api/v1/content/member?limit=5", None)
            .expect(200)
            .body,
        listed.body
    );
    // Everything else: a 503 that says to come back, never a 500 or a hang.
    let res = api
        .post(
            "/api/v1/manage/member",
            Some(admin),
            &member("Ausfallsicher GmbH", "ausfallsicher"),
        )
        .expect_problem(503, "store_unavailable");
    assert!(res.header("retry-after").is_some(), "Retry-After is sent");
    api.get("/api/v1/content/member/nicht-im-cache", None)
        .expect_problem(503, "store_unavailable");

    // The database returns: the node uses it again without a restart.
    pg.restart();
    assert!(
        wait_until(Duration::from_secs(15), || {
            api.post(
                "/api/v1/manage/member",
                Some(admin),
                &member("Ausfallsicher GmbH", "ausfallsicher"),
            )
            .status
                == 201
        }),
        "the node did not recover after the database came back"
    );
    assert_eq!(
        api.get("/api/v1/manage/member?limit=100", Some(admin))
            .expect(200)
            .data()
            .iter()
            .filter(|m| m["slug"] == "ausfallsicher")
            .count(),
        1,
        "nothing was stored while the database was down"
    );
}

#[test]
fn the_management_rate_limit_is_shared_among_the_nodes() {
    if verbund_tests::postgres_server().is_none() {
        eprintln!(
            "several nodes need PostgreSQL: run with VERBUND_E2E_STORE=postgres (tests/run does)"
        );
        return;
    }
    // 4 requests a second with bursts of 20 for the whole installation.
    let a = TestApp::builder()
        .no_plugins()
        .tokens(&["editor"])
        .rate_limit(4)
        .start();
    let burst_alone = |app: &TestApp| {
        let api = Api::of(app);
        (0..40)
            .filter(|_| {
                api.get("/api/v1/manage/story?limit=1", Some(&a.tokens["editor"]))
                    .status
                    == 200
            })
            .count()
    };
    let rate = a.state.rate.clone().expect("a rate limit");
    assert!(
        wait_until(Duration::from_secs(5), || rate.nodes() == 1),
        "one node alone"
    );
    assert_eq!(burst_alone(&a), 20, "alone, a node allows the whole burst");
    let b = TestApp::builder()
        .node_of(&a)
        .no_plugins()
        .rate_limit(4)
        .start();
    assert!(
        wait_until(Duration::from_secs(5), || rate.nodes() == 2),
        "node A counts node B within a few seconds"
    );
    let b_rate = b.state.rate.clone().expect("a rate limit");
    assert!(wait_until(Duration::from_secs(5), || b_rate.nodes() == 2));
    // Each node now allows half: a client spread over both gets the configured burst in all.
    let on_a = burst_alone(&a);
    let on_b = burst_alone(&b);
    assert_eq!((on_a, on_b), (10, 10));
    // B stops cleanly: A has the whole rate again.
    b.stop();
    assert!(
        wait_until(Duration::from_secs(8), || rate.nodes() == 1),
        "node A no longer counts the stopped node"
    );
}

#[test]
fn each_node_keeps_its_own_search_index_from_the_shared_change_feed() {
    if verbund_tests::postgres_server().is_none() {
        eprintln!("several nodes need a shared store: run with VERBUND_E2E_STORE=postgres");
        return;
    }
    let a = TestApp::builder()
        .demo()
        .no_plugins()
        .search()
        .tokens(&["admin"])
        .start();
    let b = TestApp::builder().node_of(&a).no_plugins().search().start();
    let (on_a, on_b) = (Api::of(&a), Api::of(&b));
    let admin = &a.tokens["admin"];
    let total = |api: &Api, q: &str| {
        let res = api.get(&format!("/api/v1/search?q={q}"), None);
        (res.status == 200).then(|| res.body["meta"]["total"].as_u64().unwrap_or(0))
    };
    // Both nodes built their index from the shared published view.
    assert!(wait_until(Duration::from_secs(30), || {
        total(&on_a, "Rechenzentrum").is_some_and(|n| n > 0)
            && total(&on_b, "Rechenzentrum") == total(&on_a, "Rechenzentrum")
    }));
    // Published on A: found on B, from the shared change feed.
    let mut s = story(8801);
    s["title"] = "Zuckertütenfest im Rechenzentrum".into();
    s["slug"] = "zuckertuetenfest".into();
    let id = on_a.create(admin, "story", &s)["id"]
        .as_str()
        .unwrap()
        .to_string();
    on_a.transition(admin, "story", &id, "published");
    assert!(
        wait_until(Duration::from_secs(5), || total(&on_b, "Zuckertuetenfest")
            == Some(1)),
        "node B's index did not follow node A's publication"
    );
    // Archived on B: gone on A.
    on_b.transition(admin, "story", &id, "archived");
    assert!(wait_until(Duration::from_secs(5), || {
        total(&on_a, "Zuckertütenfest") == Some(0) && total(&on_b, "Zuckertütenfest") == Some(0)
    }));
    assert_ne!(a.data.join("search"), b.data.join("search"));
    assert!(a.data.join("search/CURRENT").is_file() && b.data.join("search/CURRENT").is_file());
}

#[test]
fn two_nodes_send_the_shared_mail_queue_once() {
    if verbund_tests::postgres_server().is_none() {
        eprintln!("several nodes need a shared store: run with VERBUND_E2E_STORE=postgres");
        return;
    }
    let smtp = verbund_tests::SmtpServer::start(&[]);
    let url = smtp.url();
    let with_smtp = |c: &mut verbund_core::server::Config| {
        c.mail.smtp = Some(verbund_core::mail::SmtpConfig::parse(&url, None).unwrap());
    };
    let a = TestApp::builder()
        .demo()
        .no_plugins()
        .tokens(&["admin"])
        .config(with_smtp)
        .start();
    let b = TestApp::builder()
        .node_of(&a)
        .no_plugins()
        .config(with_smtp)
        .start();
    // Sign-ups on both nodes: each queues its mail in the shared store; one node at a time
    // sends the queue, so every address gets exactly one mail.
    let apis = [Api::of(&a), Api::of(&b)];
    let n = 40;
    for i in 0..n {
        let res = apis[i % 2].post(
            "/api/v1/newsletter/subscribe",
            None,
            &json!({"email": format!("knoten{i}@example.org"), "consent_text_version": "2026-01"}),
        );
        assert_eq!(res.status, 202, "{}", res.body);
    }
    assert!(
        wait_until(Duration::from_secs(20), || smtp.count() >= n),
        "{} of {n} mails arrived",
        smtp.count()
    );
    std::thread::sleep(Duration::from_millis(500));
    let mails = smtp.mails();
    assert_eq!(mails.len(), n, "every mail once");
    let mut to: Vec<&str> = mails.iter().map(|m| m["to"].as_str().unwrap()).collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), n);
}
