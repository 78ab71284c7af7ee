//! The editors' CLI against a real server: login saves a private profile, entries are listed,
//! shown and published, and exit codes tell scripts what happened.

use std::process::{Command, Output};

use verbund_tests::demo;
use verbund_tests::{TestApp, create_tokens, verbund_bin};

fn verbund(config: &std::path::Path, args: &[&str]) -> Output {
    Command::new(verbund_bin())
        .args(args)
        .env("VERBUND_CONFIG_DIR", config)
        .env_remove("VERBUND_URL")
        .env_remove("VERBUND_TOKEN")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn an_editor_logs_in_lists_and_publishes_a_draft() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("config");
    let tokens = create_tokens(&data, &["editor"]);
    let server = TestApp::builder().data(&data).demo().start();
    let token = &tokens["editor"];

    let out = verbund(&config, &["login", "--url", &server.url, "--token", token]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("as editor"), "{stdout}");
    assert!(!stdout.contains(token.as_str()), "login printed the token");
    let profile = config.join("profiles.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&profile).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the profile file must be private");
    }

    let out = verbund(
        &config,
        &["entry", "list", "story", "--state", "draft", "--json"],
    );
    assert!(out.status.success());
    let drafts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let draft = &drafts[0];
    assert_eq!(draft["state"], "draft");
    let id = draft["id"].as_str().unwrap();
    let slug = draft["slug"].as_str().unwrap();
    assert_eq!(
        server
            .get(&format!("/api/v1/content/story/{slug}"))
            .status(),
        404
    );

    let out = verbund(&config, &["entry", "publish", "story", id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("is now published")
    );
    assert_eq!(
        server
            .get(&format!("/api/v1/content/story/{slug}"))
            .status(),
        200
    );

    let out = verbund(&config, &["entry", "list", "story"]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("ID"), "{table}");
    // A header line and one line per story (drafts and translations too).
    assert_eq!(
        table.lines().count(),
        1 + demo::entries("story").len(),
        "{table}"
    );
}

#[test]
fn exit_codes_and_messages_say_what_went_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("config");
    let tokens = create_tokens(&data, &["reader"]);
    let server = TestApp::builder().data(&data).demo().start();

    // Not logged in at all.
    let out = verbund(&config, &["entry", "list", "story"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("verbund login"));

    // A wrong token: the server says so and the CLI tells how to fix it.
    let out = verbund(
        &config,
        &[
            "entry",
            "list",
            "story",
            "--url",
            &server.url,
            "--token",
            "vb_00000000_falsch",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not valid") && err.contains("verbund login"),
        "{err}"
    );

    // A reader may not publish; an unknown entry is "not found".
    let reader = &tokens["reader"];
    let out = verbund(
        &config,
        &[
            "entry",
            "show",
            "story",
            "gibt-es-nicht",
            "--url",
            &server.url,
            "--token",
            reader,
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "readers cannot use the management API"
    );
    let login = verbund(&config, &["login", "--url", &server.url, "--token", reader]);
    assert!(login.status.success());
    let out = verbund(
        &config,
        &["entry", "publish", "story", "01JD0000000000000000000000"],
    );
    assert!(matches!(out.status.code(), Some(1 | 3)), "{:?}", out.status);
}

#[test]
fn offline_commands_refuse_a_data_dir_a_running_server_holds() {
    if verbund_tests::sled_only("a database is meant to be shared; only a data dir is locked") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let _server = TestApp::builder().data(&data).demo().start();
    let out = Command::new(verbund_bin())
        .args(["token", "create", "--role", "admin", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another Verbund process"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "no token may be printed when none was stored"
    );
}
