//! Security findings of the review, each reproduced against the real server or CLI: the attack
//! or the mistake, and the safe answer it now gets.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use verbund_tests::{
    Api, TestApp, create_tokens, ok, plugins_dir_with, run_cli, story, verbund_bin, wait_until,
};

/// A demo member with contact person data (name, e-mail, phone).
const SAALEBYTE_SLUG: &str = "saalebyte-systemhaus";
/// A demo newsletter subscriber.
const SUBSCRIBER_ID: &str = "01KJQ0MZGJXTX4Y1R0KEANG4TN";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn has_contact_field(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|o| o.keys().any(|k| k.starts_with("contact_")))
}

/// A demo server with the newsletter-export plugin and one token per role.
fn demo_with_plugins(
    roles: &[&str],
) -> (
    TestApp,
    std::collections::HashMap<String, String>,
    tempfile::TempDir,
) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let tokens = create_tokens(&data, roles);
    let dir = plugins_dir_with("newsletter-export");
    let server = TestApp::builder()
        .data(&data)
        .demo()
        .plugins_dir(&dir)
        .start();
    (server, tokens, tmp)
}

#[test]
fn staff_without_the_admin_role_never_see_subscribers_or_contact_persons() {
    let (server, tokens, _tmp) = demo_with_plugins(&["admin", "editor", "reviewer"]);
    let api = Api::of(&server);
    let (admin, editor, reviewer) = (
        tokens["admin"].as_str(),
        tokens["editor"].as_str(),
        tokens["reviewer"].as_str(),
    );
    for token in [editor, reviewer] {
        api.get("/api/v1/manage/subscriber", Some(token))
            .expect_problem(403, "forbidden");
        api.get(
            &format!("/api/v1/manage/subscriber/{SUBSCRIBER_ID}"),
            Some(token),
        )
        .expect_problem(403, "forbidden");
        api.get(
            &format!("/api/v1/manage/subscriber/{SUBSCRIBER_ID}/revisions"),
            Some(token),
        )
        .expect_problem(403, "forbidden");
        // Members, yes; their contact persons, no.
        let m = api
            .get(
                &format!("/api/v1/manage/member/{SAALEBYTE_SLUG}"),
                Some(token),
            )
            .expect(200);
        assert!(!has_contact_field(&m.body["data"]), "{}", m.text);
        let list = api
            .get("/api/v1/manage/member?limit=100", Some(token))
            .expect(200);
        assert!(
            list.data().iter().all(|m| !has_contact_field(m)),
            "{}",
            list.text
        );
        // Nor through the revisions or a filter on a personal field.
        let id = m.body["data"]["id"].as_str().unwrap().to_string();
        let revs = api
            .get(
                &format!("/api/v1/manage/member/{id}/revisions"),
                Some(token),
            )
            .expect(200);
        assert!(revs.data().iter().all(|m| !has_contact_field(m)));
        api.get(
            "/api/v1/manage/member?filter[contact_email]=c.reuter@example.org",
            Some(token),
        )
        .expect_problem(403, "personal_data_forbidden");
        // The newsletter's recipient list is an export of personal data: admins only.
        api.post(
            "/api/v1/manage/exports/newsletter-export/issue",
            Some(token),
            &json!({"since": "2026-01-01", "until": "2026-12-31"}),
        )
        .expect_problem(403, "personal_data_forbidden");
    }
    // An editor cannot create a "confirmed" subscriber without opt-in.
    api.post(
        "/api/v1/manage/subscriber",
        Some(editor),
        &json!({"email": "jemand@example.org", "consent": {"requested_at": "2026-01-01T00:00:00Z", "confirmed_at": "2026-01-01T00:00:00Z", "text_version": "2026-01", "source": "website"}}),
    )
    .expect_problem(403, "forbidden");

    // An editor edits a member without ever seeing its contact person: the contact is kept.
    let before = api
        .get(
            &format!("/api/v1/manage/member/{SAALEBYTE_SLUG}"),
            Some(admin),
        )
        .expect(200);
    assert!(has_contact_field(&before.body["data"]));
    let seen = api
        .get(
            &format!("/api/v1/manage/member/{SAALEBYTE_SLUG}"),
            Some(editor),
        )
        .expect(200);
    let id = seen.body["data"]["id"].as_str().unwrap().to_string();
    let etag = seen.header("etag").unwrap().to_string();
    let mut fields = seen.body["data"].clone();
    fields["name"] = json!("SaaleByte Systemhaus GmbH & Co. KG");
    api.json(
        Method::PUT,
        &format!("/api/v1/manage/member/{id}"),
        Some(editor),
        &[("if-match", &etag)],
        &fields,
    )
    .expect(200);
    let after = api
        .get(&format!("/api/v1/manage/member/{id}"), Some(admin))
        .expect(200);
    assert_eq!(
        after.body["data"]["name"],
        "SaaleByte Systemhaus GmbH & Co. KG"
    );
    for k in ["contact_name", "contact_email"] {
        assert_eq!(
            after.body["data"][k], before.body["data"][k],
            "{k} kept: {}",
            after.text
        );
    }
    // … and cannot set one.
    let etag = after.header("etag").unwrap().to_string();
    let res = api
        .json(
            Method::PATCH,
            &format!("/api/v1/manage/member/{id}"),
            Some(editor),
            &[("if-match", &etag)],
            &json!({"contact_email": "umgeleitet@example.org"}),
        )
        .expect_problem(403, "personal_data_forbidden");
    assert!(res.detail().contains("contact_email"), "{}", res.text);

    // Bulk reads: the export strips contact persons for editors, and both are audited.
    let export = api.get("/api/v1/export/member", Some(editor)).expect(200);
    assert!(!export.text.contains("contact_email"), "{}", export.text);
    assert!(export.text.contains("SaaleByte"));
    let admin_export = api
        .post(
            "/api/v1/manage/exports/newsletter-export/issue",
            Some(admin),
            &json!({"since": "2026-01-01", "until": "2026-12-31"}),
        )
        .expect(200);
    assert!(
        admin_export.text.contains("recipients.csv"),
        "{}",
        admin_export.text
    );
    let audit = api
        .get("/api/v1/admin/audit?limit=1000", Some(admin))
        .expect(200);
    let actions: Vec<&str> = audit
        .data()
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert!(actions.contains(&"entry.export"), "{actions:?}");
    assert!(actions.contains(&"plugin.export"), "{actions:?}");
}

#[test]
fn a_sign_up_moves_no_public_counter_or_sequence() {
    let server = TestApp::demo();
    let api = Api::of(&server);
    let metrics = |api: &Api| api.get("/metrics", None).expect(200).text;
    let last_seq = |api: &Api| {
        api.get("/api/v1/changes?limit=1", None).expect(200).body["meta"]["last_seq"]
            .as_u64()
            .unwrap()
    };
    let m = metrics(&api);
    assert!(!m.contains("subscriber"), "{m}");
    let seq_before = last_seq(&api);
    for email in ["neu.person@example.org", "greta.lindner@example.org"] {
        api.post(
            "/api/v1/newsletter/subscribe",
            None,
            &json!({"email": email, "consent_text_version": "2026-01"}),
        )
        .expect(202);
    }
    assert_eq!(
        last_seq(&api),
        seq_before,
        "a sign-up must not move the public change feed"
    );
    let m = metrics(&api);
    assert!(!m.contains("subscriber"), "{m}");
}

#[test]
fn a_revoked_token_stays_revoked_while_it_is_being_used() {
    let (server, tokens) = TestApp::demo_with_tokens(&["admin"]);
    let api = Api::of(&server);
    let admin = tokens["admin"].clone();
    for round in 0..15 {
        let issued = api
            .post(
                "/api/v1/admin/tokens",
                Some(&admin),
                &json!({"role": "reader", "label": format!("Runde {round}")}),
            )
            .expect(201);
        let token = issued.body["data"]["token"].as_str().unwrap().to_string();
        let id = issued.body["data"]["id"].as_str().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let ready = Arc::new(std::sync::Barrier::new(5));
        let users: Vec<_> = (0..4)
            .map(|_| {
                let (api, token, stop, ready) =
                    (api.clone(), token.clone(), stop.clone(), ready.clone());
                std::thread::spawn(move || {
                    api.get("/api/v1/auth/whoami", Some(&token)).expect(200);
                    ready.wait();
                    while !stop.load(Ordering::Relaxed) {
                        api.get("/api/v1/auth/whoami", Some(&token));
                    }
                })
            })
            .collect();
        ready.wait();
        api.send(
            Method::DELETE,
            &format!("/api/v1/admin/tokens/{id}"),
            Some(&admin),
            &[],
            None,
        );
        std::thread::sleep(Duration::from_millis(30));
        stop.store(true, Ordering::Relaxed);
        for u in users {
            u.join().unwrap();
        }
        api.get("/api/v1/auth/whoami", Some(&token))
            .expect_problem(401, "invalid_token");
    }
    // Last use is still shown.
    let list = api.get("/api/v1/admin/tokens", Some(&admin)).expect(200);
    assert!(
        list.data()
            .iter()
            .filter(|t| t["role"] == "reader")
            .all(|t| t["last_used_at"].is_string() && t["revoked_at"].is_string()),
        "{}",
        list.text
    );
}

/// The records of a backup file: (tree, key, value).
fn backup_records(bytes: &[u8]) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    text(bytes)
        .lines()
        .filter(|l| !l.starts_with('{'))
        .map(|l| {
            let mut p = l.split('\t');
            let tree = p.next().unwrap().to_string();
            let k = B64.decode(p.next().unwrap()).unwrap();
            let v = B64.decode(p.next().unwrap()).unwrap();
            (tree, k, v)
        })
        .collect()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_backup_holds_no_code_or_secret_and_a_tampered_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let tokens = create_tokens(&data, &["admin"]);
    let admin = tokens["admin"].as_str();
    let dir = plugins_dir_with("review-approval");
    let server = TestApp::builder()
        .data(&data)
        .demo()
        .plugins_dir(&dir)
        .start();
    let config = tmp.path().join("cli");
    // A newsletter link exists (the secret of its signature must not be in the backup).
    Api::of(&server)
        .post(
            "/api/v1/newsletter/subscribe",
            None,
            &json!({"email": "neu@example.org", "consent_text_version": "2026-01"}),
        )
        .expect(202);
    let bk = tmp.path().join("sicherung.backup");
    ok(&run_cli(
        &config,
        &server.url,
        admin,
        &["backup", "--out", &bk.display().to_string()],
        &[],
    ));
    server.stop();
    #[cfg(unix)]
    {
        assert_eq!(mode(&bk), 0o600, "a backup is readable by its owner only");
        assert_eq!(mode(&data), 0o700, "the data dir is private");
        assert_eq!(mode(&data.join("verbund.key")), 0o600);
    }
    let bytes = std::fs::read(&bk).unwrap();
    let records = backup_records(&bytes);
    assert!(
        records
            .iter()
            .any(|(t, k, _)| t == "plugins" && k.starts_with(b"wasm\0"))
    );
    assert!(
        !records
            .iter()
            .any(|(t, k, _)| t == "plugins" && k.starts_with(b"compiled")),
        "compiled native code is never backed up"
    );
    assert!(!records.iter().any(|(_, k, _)| k == b"newsletter_secret"));
    let key_file = std::fs::read_to_string(data.join("verbund.key")).unwrap();
    let key: Value = serde_json::from_str(&key_file).unwrap();
    let secret = key["keys"][0]["secret"].as_str().unwrap();
    assert!(!text(&bytes).contains(secret));

    // The attack: drop an audit record, forge another's actor, fix the checksum, restore.
    let mut lines: Vec<String> = text(&bytes).lines().map(String::from).collect();
    let trailer: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    let audit_at: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("audit\t"))
        .map(|(i, _)| i)
        .collect();
    assert!(audit_at.len() >= 2);
    let forged_at = audit_at[1];
    let parts: Vec<String> = lines[forged_at].split('\t').map(String::from).collect();
    let mut rec: Value = serde_json::from_slice(&B64.decode(&parts[2]).unwrap()).unwrap();
    rec["actor"] = json!("jemand-anderes");
    lines[forged_at] = format!(
        "audit\t{}\t{}",
        parts[1],
        B64.encode(serde_json::to_vec(&rec).unwrap())
    );
    lines.remove(audit_at[0]);
    let body_lines = &lines[..lines.len() - 1];
    let mut sha = Sha256::new();
    for l in body_lines {
        sha.update(l.as_bytes());
        sha.update(b"\n");
    }
    let mut t = trailer.clone();
    t["records"] = json!(trailer["records"].as_u64().unwrap() - 1);
    t["sha256"] = json!(hex::encode(sha.finalize()));
    let mut forged = body_lines.join("\n");
    forged.push('\n');
    forged.push_str(&t.to_string());
    forged.push('\n');
    let forged_path = tmp.path().join("gefaelscht.backup");
    std::fs::write(&forged_path, forged).unwrap();
    let target = tmp.path().join("wiederhergestellt");
    let out = Command::new(verbund_bin())
        .args(["restore"])
        .arg(&forged_path)
        .arg("--data")
        .arg(&target)
        .arg("--keys")
        .arg(data.join("verbund.key"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("MAC") && err.contains("nothing was changed"),
        "{err}"
    );
    assert!(!target.exists());

    // The untouched backup restores, with a working plugin compiled afresh.
    let out = Command::new(verbund_bin())
        .args(["restore"])
        .arg(&bk)
        .arg("--data")
        .arg(&target)
        .arg("--keys")
        .arg(data.join("verbund.key"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let audit = |dir: &Path| -> Value {
        let out = Command::new(verbund_bin())
            .args(["audit", "verify", "--json", "--data"])
            .arg(dir)
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out.stderr)))
    };
    assert_eq!(audit(&target)["intact"], true);

    // Re-chaining the log in the data dir itself, without the key file, is detected too.
    {
        let store = verbund_core::SledStore::open(&target).unwrap();
        use verbund_core::Store as _;
        use verbund_core::store::{Tree, WriteBatch};
        let all = store
            .scan_prefix(Tree::Audit, b"", false, usize::MAX)
            .unwrap();
        let (k, v) = all.last().unwrap().clone();
        let mut rec: verbund_core::auth::AuditRecord = serde_json::from_slice(&v).unwrap();
        let prev: Option<Vec<u8>> = (all.len() >= 2).then(|| {
            let before: verbund_core::auth::AuditRecord =
                serde_json::from_slice(&all[all.len() - 2].1).unwrap();
            serde_json::to_vec(&json!({"seq": before.seq, "hash": before.hash})).unwrap()
        });
        rec.actor = "jemand-anderes".into();
        let mut b = WriteBatch::new();
        b.remove(Tree::Audit, k);
        for (t, k, v) in
            verbund_core::auth::chain(&verbund_core::keys::Keys::ephemeral(), prev.as_deref(), rec)
        {
            b.put(t, k, v);
        }
        store.commit(b).unwrap();
    }
    let report = audit(&target);
    assert_eq!(report["intact"], false, "{report}");
    assert!(
        report
            .to_string()
            .contains("not signed with a key of this installation"),
        "{report}"
    );
}

#[test]
fn a_stalled_backup_download_does_not_hold_up_writes() {
    let (server, tokens) = TestApp::demo_with_tokens(&["admin", "editor"]);
    let api = Api::of(&server);
    // Enough content that the backup does not fit into the socket buffers.
    let all: String = (0..4000)
        .map(|n| {
            let mut s = story(n);
            s["body"] =
                json!("Ein längerer Absatz über Digitalisierung im Mittelstand. ".repeat(20));
            s["state"] = json!("published");
            s.to_string() + "\n"
        })
        .collect();
    let lines: Vec<&str> = all.lines().collect();
    for part in lines.chunks(500) {
        let res = api.send(
            Method::POST,
            "/api/v1/import/story",
            Some(&tokens["admin"]),
            &[("content-type", "application/x-ndjson")],
            Some(part.join("\n").into_bytes()),
        );
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.body["data"]["rejected"], 0, "{}", res.text);
    }
    // A client that starts the download and then stops reading.
    let addr = server.url.trim_start_matches("http://").to_string();
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stalled,
        "GET /api/v1/admin/backup HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\r\n",
        tokens["admin"]
    )
    .unwrap();
    let mut first = [0u8; 64];
    stalled.read_exact(&mut first).unwrap();
    assert!(text(&first).starts_with("HTTP/1.1 200"), "{}", text(&first));
    // Writes go on while it stalls.
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    for n in 0..5 {
        let res = client
            .post(format!("{}/api/v1/manage/story", server.url))
            .bearer_auth(&tokens["editor"])
            .json(&story(90_000 + n))
            .send()
            .expect("a write while a backup download stalls is answered");
        assert_eq!(res.status(), 201);
    }
    drop(stalled);
}

/// An `$EDITOR` that waits for `go` beside it, then changes the title.
fn slow_editor(dir: &Path) -> String {
    let path = dir.join("langsam.sh");
    let go = dir.join("go");
    let started = dir.join("started");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nset -e\ntouch '{}'\nwhile [ ! -f '{}' ]; do sleep 0.05; done\nsed -i 's/^title: .*/title: Meine Fassung des Titels/' \"$1\"\n",
            started.display(),
            go.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    path.display().to_string()
}

#[test]
fn a_kept_draft_never_overwrites_a_colleagues_change() {
    let (server, tokens) = TestApp::demo_with_tokens(&["editor", "admin"]);
    let api = Api::of(&server);
    let editor = tokens["editor"].clone();
    let created = api.create(&editor, "story", &story(7));
    let id = created["id"].as_str().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("cli");
    let editor_cmd = slow_editor(tmp.path());
    let (url, cfg, tok, sid) = (
        server.url.clone(),
        config.clone(),
        editor.clone(),
        id.clone(),
    );
    let session = std::thread::spawn(move || -> Output {
        run_cli(
            &cfg,
            &url,
            &tok,
            &["entry", "edit", "story", &sid],
            &[("EDITOR", &editor_cmd)],
        )
    });
    assert!(wait_until(Duration::from_secs(30), || tmp
        .path()
        .join("started")
        .exists()));
    // Meanwhile a colleague changes the teaser.
    let etag = api.version(&tokens["admin"], "story", &id);
    api.json(
        Method::PATCH,
        &format!("/api/v1/manage/story/{id}"),
        Some(&tokens["admin"]),
        &[("if-match", &etag)],
        &json!({"teaser": "Die Fassung der Kollegin, die nicht verloren gehen darf."}),
    )
    .expect(200);
    std::fs::write(tmp.path().join("go"), "").unwrap();
    let out = session.join().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let draft = err
        .split_whitespace()
        .find(|w| w.contains("/drafts/"))
        .unwrap_or_else(|| panic!("the draft's path is printed: {err}"))
        .trim_end_matches([',', '.', ')'])
        .to_string();
    #[cfg(unix)]
    assert_eq!(mode(Path::new(&draft)), 0o600, "drafts are private");
    // Sending the kept draft, as the CLI suggests, is refused: it is based on version 1.
    let out = run_cli(
        &config,
        &server.url,
        &editor,
        &["entry", "edit", "story", &id, "--file", &draft],
        &[],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("based on version 1"), "{err}");
    let now = api
        .get(&format!("/api/v1/manage/story/{id}"), Some(&editor))
        .expect(200);
    assert_eq!(
        now.body["data"]["teaser"],
        "Die Fassung der Kollegin, die nicht verloren gehen darf."
    );
    assert_eq!(now.body["data"]["version"], 2);
}

#[test]
fn a_rotated_key_signs_new_records_while_old_ones_keep_verifying() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let tokens = create_tokens(&data, &["admin"]);
    let run = |args: &[&str]| -> Output {
        verbund_tests::with_store(&mut Command::new(verbund_bin()), &data)
            .args(args)
            .arg("--data")
            .arg(&data)
            .output()
            .unwrap()
    };
    let out = run(&["keys", "rotate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&run(&["keys", "list"]).stdout);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        listed.lines().nth(1).unwrap().ends_with("(signs)"),
        "{listed}"
    );
    // New records are signed with the new key; the chain stays intact across the rotation.
    let server = TestApp::builder().data(&data).start();
    Api::of(&server)
        .post(
            "/api/v1/admin/tokens",
            Some(&tokens["admin"]),
            &json!({"role": "editor", "name": "Jonas Beck", "email": "jonas.beck@example.org"}),
        )
        .expect(201);
    server.stop();
    let report: Value =
        serde_json::from_slice(&run(&["audit", "verify", "--json"]).stdout).unwrap();
    assert_eq!(report["intact"], true, "{report}");
    assert!(report["records"].as_u64().unwrap() >= 2, "{report}");
}

#[test]
fn erasure_reaches_old_versions_and_deleted_entries_and_spares_other_people() {
    let (server, tokens) = TestApp::demo_with_tokens(&["admin"]);
    let api = Api::of(&server);
    let admin = tokens["admin"].as_str();
    let member = api
        .get(
            &format!("/api/v1/manage/member/{SAALEBYTE_SLUG}"),
            Some(admin),
        )
        .expect(200)
        .body["data"]
        .clone();
    let id = member["id"].as_str().unwrap().to_string();
    let first_contact = member["contact_email"].as_str().unwrap().to_string();
    let patch = |fields: Value| {
        let etag = api.version(admin, "member", &id);
        api.json(
            Method::PATCH,
            &format!("/api/v1/manage/member/{id}"),
            Some(admin),
            &[("if-match", &etag)],
            &fields,
        )
        .expect(200);
    };
    // Anna was the contact person for a while; then Bernd took over.
    patch(json!({"contact_name": "Anna Wendt", "contact_email": "anna.wendt@example.org"}));
    patch(json!({"contact_name": "Bernd Kühn", "contact_email": "bernd.kuehn@example.org"}));
    // Anna was also the contact of a member deleted since.
    let mut other = member.clone();
    for k in [
        "id",
        "type",
        "locale",
        "state",
        "version",
        "created_at",
        "updated_at",
        "published_at",
        "translations",
        "translation_of",
        "published_version",
        "created_by",
        "updated_by",
    ] {
        other.as_object_mut().unwrap().remove(k);
    }
    other["name"] = json!("Kurzzeit GmbH");
    other["slug"] = json!("kurzzeit-gmbh");
    other["contact_name"] = json!("Anna Wendt");
    other["contact_email"] = json!("anna.wendt@example.org");
    let gone = api.create(admin, "member", &other);
    let gone_id = gone["id"].as_str().unwrap().to_string();
    api.send(
        Method::DELETE,
        &format!("/api/v1/manage/member/{gone_id}"),
        Some(admin),
        &[("if-match", "\"1\"")],
        None,
    )
    .expect(204);

    // Art. 15: both are found, with the address written in another case.
    let export = api
        .post(
            "/api/v1/admin/gdpr/export",
            Some(admin),
            &json!({"email": " Anna.Wendt@Example.org "}),
        )
        .expect(200);
    let entries = export.body["data"]["entries"].as_array().unwrap().clone();
    let ids: Vec<&str> = entries.iter().filter_map(|e| e["id"].as_str()).collect();
    assert!(
        ids.contains(&id.as_str()) && ids.contains(&gone_id.as_str()),
        "{}",
        export.text
    );
    let saale = entries.iter().find(|e| e["id"] == id.as_str()).unwrap();
    assert_eq!(
        saale["versions"].as_array().unwrap().len(),
        1,
        "only her version: {saale}"
    );

    // Art. 17: her data goes from every version that held it, and only from those.
    api.post(
        "/api/v1/admin/gdpr/erase",
        Some(admin),
        &json!({"email": "anna.wendt@example.org"}),
    )
    .expect(200);
    let revs = api
        .get(
            &format!("/api/v1/manage/member/{id}/revisions"),
            Some(admin),
        )
        .expect(200);
    assert!(!revs.text.contains("anna.wendt"), "{}", revs.text);
    assert!(
        revs.text.contains(&first_contact),
        "the earlier contact stays: {}",
        revs.text
    );
    assert!(
        revs.text.contains("bernd.kuehn@example.org"),
        "{}",
        revs.text
    );
    let gone_revs = api
        .get(
            &format!("/api/v1/manage/member/{gone_id}/revisions"),
            Some(admin),
        )
        .expect(200);
    assert!(!gone_revs.text.contains("anna.wendt"), "{}", gone_revs.text);
    let again = api
        .post(
            "/api/v1/admin/gdpr/export",
            Some(admin),
            &json!({"email": "anna.wendt@example.org"}),
        )
        .expect(200);
    assert!(!again.text.contains(&gone_id), "{}", again.text);
}

#[test]
fn a_scheduled_publication_does_not_outlive_a_revoked_token() {
    let (server, tokens) = TestApp::demo_with_tokens(&["admin", "editor"]);
    let api = Api::of(&server);
    let (admin, editor) = (tokens["admin"].as_str(), tokens["editor"].as_str());
    let created = api.create(editor, "story", &story(31));
    let id = created["id"].as_str().unwrap().to_string();
    let at = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    api.post(
        &format!("/api/v1/manage/story/{id}/transitions"),
        Some(editor),
        &json!({"to": "published", "at": at}),
    )
    .expect(200);
    let editor_id = api.token_id(admin, editor);
    api.send(
        Method::DELETE,
        &format!("/api/v1/admin/tokens/{editor_id}"),
        Some(admin),
        &[],
        None,
    );
    // The schedule comes due and is dropped, with the reason in the history.
    assert!(wait_until(Duration::from_secs(15), || {
        let h = api
            .get(&format!("/api/v1/manage/story/{id}/history"), Some(admin))
            .expect(200);
        h.text.contains("revoked")
    }));
    api.get(&format!("/api/v1/content/story/{id}"), None)
        .expect_problem(404, "not_found");
    let now = api
        .get(&format!("/api/v1/manage/story/{id}"), Some(admin))
        .expect(200);
    assert_eq!(now.body["data"]["state"], "draft", "{}", now.text);
}

#[test]
fn one_person_with_two_tokens_cannot_approve_their_own_story() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let tokens = create_tokens(&data, &["admin"]);
    let admin = tokens["admin"].as_str();
    let dir = plugins_dir_with("review-approval");
    let server = TestApp::builder()
        .data(&data)
        .demo()
        .plugins_dir(&dir)
        .start();
    let api = Api::of(&server);
    let issue = |role: &str, name: &str, email: &str| -> String {
        api.post(
            "/api/v1/admin/tokens",
            Some(admin),
            &json!({"role": role, "name": name, "email": email}),
        )
        .expect(201)
        .body["data"]["token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let paula_writes = issue("editor", "Paula Sommer", "paula.sommer@example.org");
    let paula_reviews = issue("reviewer", "Paula Sommer", "Paula.Sommer@example.org");
    let other = issue("reviewer", "Tobias Gerber", "tobias.gerber@example.org");
    let id = api.create(&paula_writes, "story", &story(41))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let step = |token: &str, body: Value| {
        api.post(
            &format!("/api/v1/manage/story/{id}/transitions"),
            Some(token),
            &body,
        )
    };
    step(&paula_writes, json!({"transition": "submit"})).expect(200);
    // Her second token is still her.
    let res = step(&paula_reviews, json!({"transition": "approve"})).expect(409);
    assert!(res.text.contains("review-approval"), "{}", res.text);
    // The queue of her reviewer token does not offer her own story either.
    let queue = api
        .get("/api/v1/manage/review-queue", Some(&paula_reviews))
        .expect(200);
    assert!(!queue.ids().contains(&id), "{}", queue.text);
    // Someone else approves.
    step(&other, json!({"transition": "approve"})).expect(200);
}
