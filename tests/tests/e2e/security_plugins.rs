//! Security of the plugin host: compiled plugin code is loaded only when this installation
//! sealed it (a planted artifact is compiled again from the stored component, never mapped),
//! and backups never carry compiled code.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};
use verbund_core::Store;
use verbund_core::store::{Tree, WriteBatch};
use verbund_tests::{TestApp, create_tokens, ok, plugin_component, run_cli, story, verbund_bin};

const COMPILED: &[u8] = b"compiled\0";

/// One installation with the `hello` plugin installed (validator of stories).
struct Install {
    data: PathBuf,
    admin: String,
    editor: String,
    config: PathBuf,
    _tmp: tempfile::TempDir,
}

fn install_hello() -> Install {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let tokens = create_tokens(&data, &["admin", "editor"]);
    let config = tmp.path().join("config");
    let server = TestApp::builder().data(&data).demo().start();
    let path = plugin_component("hello").display().to_string();
    ok(&run_cli(
        &config,
        &server.url,
        &tokens["admin"],
        &["plugin", "install", &path, "--grant", "read:story"],
        &[],
    ));
    server.stop();
    Install {
        data,
        admin: tokens["admin"].clone(),
        editor: tokens["editor"].clone(),
        config,
        _tmp: tmp,
    }
}

/// The compiled-cache pairs of a stopped server's store.
fn compiled_pairs(data: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let store = verbund_core::store::open(&verbund_tests::store_for(data)).unwrap();
    store
        .scan_prefix(Tree::Plugins, COMPILED, false, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

fn put_compiled(data: &Path, key: &[u8], value: &[u8]) {
    let store: Arc<dyn Store> = verbund_core::store::open(&verbund_tests::store_for(data)).unwrap();
    let mut b = WriteBatch::new();
    b.put(Tree::Plugins, key.to_vec(), value.to_vec());
    store.commit(b).unwrap();
}

/// The first line `serve` prints: how the plugins were loaded.
fn plugins_line(data: &Path) -> String {
    let mut child = verbund_tests::with_store(&mut Command::new(verbund_bin()), data)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let line = std::io::BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    line
}

fn create_story(server: &TestApp, token: &str, title: &str) -> (u16, Value) {
    let mut s = story(7);
    s["title"] = json!(title);
    let res = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/manage/story", server.url))
        .bearer_auth(token)
        .json(&s)
        .send()
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().unwrap_or(Value::Null))
}

/// A compiled artifact that Wasmtime would accept (genuine code of the same component, made
/// by another installation, as an old backup or a copied data dir carries it) is not loaded:
/// the server compiles the stored component again, the hook works, and the planted bytes are
/// replaced. The installation's own cache still loads after a restart.
#[test]
fn compiled_code_not_sealed_by_this_installation_is_never_loaded() {
    let a = install_hello();
    let b = install_hello();
    let own = compiled_pairs(&a.data);
    let foreign = compiled_pairs(&b.data);
    assert_eq!(own.len(), 1, "one compiled artifact per component");
    assert_eq!(own[0].0, foreign[0].0, "same component, same cache key");
    assert_ne!(
        own[0].1, foreign[0].1,
        "each installation seals with its own key"
    );

    // Its own artifact loads from the cache.
    let line = plugins_line(&a.data);
    assert!(
        line.contains("Plugins: 1 loaded (1 from the compiled cache, 0 compiled)"),
        "{line}"
    );

    // The other installation's artifact, and the bare code inside it, are refused.
    let key = own[0].0.clone();
    let bare = {
        // Wasmtime's own serialization: the tail after the seal. Find it by its magic.
        let v = &foreign[0].1;
        let at = v
            .windows(4)
            .position(|w| w == b"\x7fELF")
            .expect("the artifact holds Wasmtime's ELF image");
        v[at..].to_vec()
    };
    for forged in [foreign[0].1.clone(), bare] {
        put_compiled(&a.data, &key, &forged);
        let line = plugins_line(&a.data);
        assert!(
            line.contains("Plugins: 1 loaded (0 from the compiled cache, 1 compiled)"),
            "planted code must not load: {line}"
        );
        let after = compiled_pairs(&a.data);
        assert_ne!(after[0].1, forged, "the planted bytes were replaced");
    }

    // The hook runs from the recompiled component.
    let server = TestApp::builder().data(&a.data).start();
    let (status, body) = create_story(&server, &a.editor, "Lorem ipsum");
    assert_eq!(status, 422, "the validator runs: {body}");
    let (status, body) = create_story(&server, &a.editor, "Phishing-Welle bei Banken");
    assert_eq!(status, 201, "{body}");
    server.stop();

    // Re-cached under this installation's key: the next start loads from the cache again.
    let line = plugins_line(&a.data);
    assert!(
        line.contains("Plugins: 1 loaded (1 from the compiled cache, 0 compiled)"),
        "{line}"
    );
}

/// A backup of a server with plugins holds their components but no compiled code.
#[test]
fn backups_hold_no_compiled_plugin_code() {
    let a = install_hello();
    let server = TestApp::builder().data(&a.data).start();
    let file = a.data.parent().unwrap().join("sicherung.backup");
    let f = file.display().to_string();
    ok(&run_cli(
        &a.config,
        &server.url,
        &a.admin,
        &["backup", "--out", &f],
        &[],
    ));
    server.stop();
    let text = std::fs::read_to_string(&file).unwrap();
    let keys: Vec<Vec<u8>> = text
        .lines()
        .filter_map(|l| {
            let mut cols = l.split('\t');
            let tree = cols.next()?;
            let k = cols.next()?;
            (tree == "plugins")
                .then(|| base64::engine::general_purpose::STANDARD.decode(k).unwrap())
        })
        .collect();
    assert!(
        keys.iter().any(|k| k.starts_with(b"wasm\0")),
        "the component itself is backed up"
    );
    assert!(
        !keys.iter().any(|k| k.starts_with(COMPILED)),
        "no compiled code in a backup"
    );
}

/// Transition comments are bounded before any plugin sees them: a huge one (the input that
/// pushed review-approval over its memory limit) is refused with 422 at `/comment`, the entry
/// stays where it was, and a normal comment still works.
#[test]
fn a_huge_transition_comment_is_refused_before_the_guard_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let tokens = create_tokens(&data, &["editor"]);
    let dir = verbund_tests::plugins_dir_with("review-approval");
    let server = TestApp::builder()
        .data(&data)
        .demo()
        .plugins_dir(&dir)
        .start();
    let client = reqwest::blocking::Client::new();
    let editor = &tokens["editor"];
    let (status, body) = create_story(&server, editor, "Sicherheitslücke im Router");
    assert_eq!(status, 201, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    let submit = |comment: String| {
        let res = client
            .post(format!(
                "{}/api/v1/manage/story/{id}/transitions",
                server.url
            ))
            .bearer_auth(editor)
            .json(&json!({"transition": "submit", "comment": comment}))
            .send()
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json::<Value>().unwrap_or(Value::Null))
    };
    let (status, body) = submit("ä".repeat(500_000));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["pointer"], "/comment", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("at most 2000 characters"),
        "{body}"
    );
    let (status, body) = submit("Bitte prüfen".into());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["state"], "in_review", "{body}");
}

/// Security review #17: the records a host `query` reads are charged to the call's fuel, so a
/// plugin cannot make the host scan without bound on its behalf. With the export's fuel
/// lowered, a query that reads 300 stories is stopped with a limit error the plugin sees
/// (and reports), while a query that stops after a few stories still works.
#[test]
fn host_queries_are_charged_to_the_calls_fuel() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let tokens = create_tokens(&data, &["admin", "editor"]);
    let config = tmp.path().join("config");
    let server = TestApp::builder().data(&data).demo().start();
    let admin = &tokens["admin"];
    let cli = |args: &[&str]| run_cli(&config, &server.url, admin, args, &[]);
    let path = plugin_component("hello").display().to_string();
    ok(&cli(&["plugin", "install", &path, "--grant", "read:story"]));
    let lines: Vec<String> = (0..300)
        .map(|n| {
            let mut s = story(1000 + n);
            s["state"] = json!("published");
            s.to_string()
        })
        .collect();
    let client = reqwest::blocking::Client::new();
    let res = client
        .post(format!("{}/api/v1/import/story", server.url))
        .bearer_auth(admin)
        .header("content-type", "application/x-ndjson")
        .body(lines.join("\n"))
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "{}", res.text().unwrap());
    let export = |params: Value| {
        let res = client
            .post(format!(
                "{}/api/v1/manage/exports/hello/summary",
                server.url
            ))
            .bearer_auth(&tokens["editor"])
            .json(&params)
            .send()
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json::<Value>().unwrap_or(Value::Null))
    };
    // A state no story is in: the host reads every story and finds none.
    let scan_all = json!({"state": "gibt-es-nicht", "limit": "1000"});
    let (status, body) = export(scan_all.clone());
    assert_eq!(status, 200, "with the default fuel: {body}");

    ok(&cli(&[
        "plugin",
        "configure",
        "hello",
        "--limit",
        "export.fuel=5000000",
    ]));
    let (status, body) = export(scan_all);
    assert_eq!(status, 422, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("Stories konnten nicht gelesen werden"),
        "{detail}"
    );
    assert!(detail.contains("fuel"), "{detail}");

    let (status, body) = export(json!({"limit": "3"}));
    assert_eq!(status, 200, "a small query still fits: {body}");
}
