//! `verbund migrate`: an installation moves from a data dir to PostgreSQL and back, and each
//! move keeps everything a user sees: the export, the change feed, the audit log, tokens.
//! Runs in the PostgreSQL pass of the suite (it needs a server).

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use verbund_core::StoreLocation;
use verbund_tests::{Api, TestApp, story, verbund_bin};

fn migrate(args: &[&str]) -> Output {
    std::process::Command::new(verbund_bin())
        .arg("migrate")
        .args(args)
        .output()
        .expect("run verbund migrate")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "verbund failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What an installation shows its users: `verbund export` (run against the server), the
/// change feed, the audit log and a published story by slug.
fn what_users_see(app: &TestApp, admin: &str, out: &Path) -> (String, Vec<Value>, Value, Value) {
    let export = std::process::Command::new(verbund_bin())
        .args(["export", "--out"])
        .arg(out)
        .args(["--url", &app.url, "--token", admin])
        .output()
        .expect("run verbund export");
    ok(&export);
    let api = Api::of(app);
    let (changes, _) = api.changes(0);
    let audit = api
        .get("/api/v1/admin/audit?limit=1000", Some(admin))
        .expect(200)
        .body["data"]
        .clone();
    let by_slug = api
        .get("/api/v1/content/story/umzug-in-die-datenbank", None)
        .expect(200)
        .body["data"]
        .clone();
    (
        std::fs::read_to_string(out).expect("the export"),
        changes,
        audit,
        by_slug,
    )
}

/// The audit log `after` holds every entry of `before` unchanged, and its chain goes on from
/// there (an export is itself audited, so `after` has more).
fn assert_audit_goes_on(before: &Value, after: &Value) {
    let (before, after) = (before.as_array().unwrap(), after.as_array().unwrap());
    assert!(after.len() > before.len());
    assert_eq!(after[..before.len()], before[..], "the audit log differs");
    assert_eq!(
        after[before.len()]["prev_hash"],
        before.last().unwrap()["hash"],
        "the audit chain goes on where it stood"
    );
}

#[test]
fn an_installation_moves_to_postgres_and_back_and_shows_the_same_everywhere() {
    let Some(server) = verbund_tests::postgres_server() else {
        eprintln!(
            "a migration needs PostgreSQL: run with VERBUND_E2E_STORE=postgres (tests/run does)"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let sled = tmp.path().join("verbund-data");
    let app = TestApp::builder()
        .demo()
        .tokens(&["admin", "editor"])
        .store(StoreLocation::Dir(sled.clone()))
        .data(&sled)
        .start();
    let admin = app.token("admin").to_string();
    let editor = app.token("editor").to_string();
    let api = Api::of(&app);
    // An editor's day: a published story, a draft edit on it, an archived one.
    let mut s = story(1);
    s["title"] = json!("Umzug in die Datenbank: ein Erfahrungsbericht");
    s["slug"] = json!("umzug-in-die-datenbank");
    let created = api.create(&editor, "story", &s);
    let id = created["id"].as_str().unwrap().to_string();
    api.transition(&admin, "story", &id, "published");
    let other = api.create(&editor, "story", &story(2));
    let other_id = other["id"].as_str().unwrap().to_string();
    api.transition(&admin, "story", &other_id, "published");
    api.transition(&admin, "story", &other_id, "archived");
    let before = what_users_see(&app, &admin, &tmp.path().join("vorher.ndjson"));
    assert!(before.0.contains("Umzug in die Datenbank"));
    drop(app);

    // To PostgreSQL.
    let url = verbund_core::store::scratch_schema(&server).unwrap();
    let sled_arg = sled.display().to_string();
    let said = ok(&migrate(&["--from", &sled_arg, "--to", &url]));
    assert!(said.contains("both hold the same records"), "{said}");
    // A second run finds the destination in use and changes nothing.
    let again = migrate(&["--from", &sled_arg, "--to", &url]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds data"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let node = tmp.path().join("knoten-a");
    std::fs::create_dir_all(&node).unwrap();
    std::fs::copy(sled.join("verbund.key"), node.join("verbund.key")).unwrap();
    let on_pg = TestApp::builder()
        .store(StoreLocation::Postgres(url.clone()))
        .data(&node)
        .start();
    let after = what_users_see(&on_pg, &admin, &tmp.path().join("postgres.ndjson"));
    assert_eq!(after.0, before.0, "the export on PostgreSQL differs");
    assert_eq!(after.1, before.1, "the change feed differs");
    assert_audit_goes_on(&before.2, &after.2);
    assert_eq!(after.3, before.3, "the published story differs");
    // The installation goes on working there: the old editor token writes.
    Api::of(&on_pg).create(&editor, "story", &story(3));
    let moved = what_users_see(&on_pg, &admin, &tmp.path().join("postgres2.ndjson"));
    drop(on_pg);

    // And back into a new data dir; without the key file it cannot be done.
    let back = tmp.path().join("zurueck");
    let back_arg = back.display().to_string();
    let no_keys = migrate(&["--from", &url, "--to", &back_arg]);
    assert_eq!(no_keys.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_keys.stderr).contains("--keys"));
    let key = node.join("verbund.key").display().to_string();
    ok(&migrate(&[
        "--from", &url, "--to", &back_arg, "--keys", &key,
    ]));
    let on_sled = TestApp::builder()
        .store(StoreLocation::Dir(back.clone()))
        .data(&back)
        .start();
    let returned = what_users_see(&on_sled, &admin, &tmp.path().join("zurueck.ndjson"));
    assert_eq!(returned.0, moved.0, "the export after the way back differs");
    assert_eq!(returned.1, moved.1);
    assert_audit_goes_on(&moved.2, &returned.2);
    assert!(returned.0.contains("Praxisbericht Nummer 3"));
}

#[test]
fn a_migration_refuses_what_would_lose_data() {
    let tmp = tempfile::tempdir().unwrap();
    // No data dir there.
    let nothing = tmp.path().join("gibt-es-nicht").display().to_string();
    let target = tmp.path().join("neu").display().to_string();
    let out = migrate(&["--from", &nothing, "--to", &target]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a Verbund data dir"));
    // A running server holds its data dir.
    if verbund_tests::sled_only("sled's lock on a data dir") {
        return;
    }
    let src = tmp.path().join("quelle");
    let app = TestApp::builder().demo().data(&src).start();
    let from = src.display().to_string();
    let out = migrate(&["--from", &from, "--to", &target]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stop the server"), "{err}");
    drop(app);
    // Into a directory that is in use.
    let used = tmp.path().join("belegt");
    std::fs::create_dir_all(&used).unwrap();
    std::fs::write(used.join("notizen.txt"), "bitte nicht löschen").unwrap();
    let out = migrate(&["--from", &from, "--to", &used.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(used.join("notizen.txt").exists());
}
