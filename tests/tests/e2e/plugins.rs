//! Sandboxed plugins with real components (built by `plugins/build` into `plugins/dist/`):
//! every limit and fault is contained with a clear error while other requests keep
//! succeeding, grants are enforced, and installed plugins survive a restart.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use verbund_tests::{Api, TestApp, ok, plugin_component, run_cli, story, verbund_bin};

/// A component built by plugins/build.
fn component(name: &str) -> PathBuf {
    plugin_component(name)
}

struct Env {
    server: TestApp,
    admin: String,
    editor: String,
    config: PathBuf,
    _tmp: tempfile::TempDir,
}

fn start() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestApp::builder()
        .data(&data)
        .demo()
        .tokens(&["admin", "editor"])
        .start();
    let tokens = server.tokens.clone();
    Env {
        server,
        admin: tokens["admin"].clone(),
        editor: tokens["editor"].clone(),
        config: tmp.path().join("config"),
        _tmp: tmp,
    }
}

impl Env {
    fn cli(&self, args: &[&str]) -> Output {
        run_cli(&self.config, &self.server.url, &self.admin, args, &[])
    }

    fn install(&self, name: &str, grants: &str) -> Output {
        let path = component(name).display().to_string();
        let mut args = vec!["plugin", "install", path.as_str()];
        if !grants.is_empty() {
            args.extend(["--grant", grants]);
        }
        self.cli(&args)
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let res = Api::of(&self.server).call(method, path, Some(token), body.as_ref());
        (res.status, res.body)
    }

    fn export(&self, plugin: &str, export: &str, params: Value) -> (u16, Value, Duration) {
        let t = Instant::now();
        let (s, v) = self.request(
            reqwest::Method::POST,
            &format!("/api/v1/manage/exports/{plugin}/{export}"),
            &self.editor,
            Some(params),
        );
        (s, v, t.elapsed())
    }

    fn create_story(&self, n: usize, title: Option<&str>) -> (u16, Value) {
        let mut s = story(n);
        if let Some(t) = title {
            s["title"] = json!(t);
        }
        self.request(
            reqwest::Method::POST,
            "/api/v1/manage/story",
            &self.editor,
            Some(s),
        )
    }

    /// The public API answers normally.
    fn delivery_ok(&self) {
        let (status, body) = self.server.get_json("/api/v1/content/story?limit=3");
        assert_eq!(status, 200);
        assert_eq!(body["data"].as_array().unwrap().len(), 3);
    }
}

/// A reader of the public API in a thread, until `stop` is set; joins to how often it was
/// served (each answer must be a 200).
fn keep_reading(
    url: &str,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<usize>,
) {
    let url = url.to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let reader = std::thread::spawn(move || {
        let mut served = 0;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let res = reqwest::blocking::get(format!("{url}/api/v1/content/story")).unwrap();
            assert_eq!(res.status(), 200);
            served += 1;
        }
        served
    });
    (stop, reader)
}

/// The text of an artifact of an export's answer.
fn artifact_text(art: &Value) -> String {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(art["base64"].as_str().unwrap())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_well_behaved_plugin_validates_guards_and_exports_and_survives_a_restart() {
    let env = start();
    // What it asks for is shown; a grant it did not ask for is refused.
    let out = env.install("hello", "read:member");
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stderr(&out).contains("did not ask for read:member; it asks for: read:story"),
        "{}",
        stderr(&out)
    );
    let shown = ok(&env.install("hello", "read:story"));
    assert!(shown.contains("asks for read:story"), "{shown}");
    assert!(
        shown.contains("installed hello 0.1.0; granted: read:story"),
        "{shown}"
    );

    // validate: its issues come back like schema errors, with pointers.
    let (status, body) = env.create_story(1, Some("Lorem ipsum im Mittelstand"));
    assert_eq!(status, 422, "{body}");
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors[0]["pointer"], "/title");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("Platzhaltertext")
    );
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("plugin hello")
    );

    // on-transition: a denial is a 409 with the plugin's reason.
    let (status, created) = env.create_story(2, Some("ENTWURF: Cloud im Handwerk"));
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().unwrap();
    let (status, body) = env.request(
        reqwest::Method::POST,
        &format!("/api/v1/manage/story/{id}/transitions"),
        &env.editor,
        Some(json!({"to": "published"})),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "transition_denied");
    assert_eq!(body["plugin"], "hello");
    assert!(body["reason"].as_str().unwrap().contains("ENTWURF"));

    // export: artifacts built from a host query of the granted type.
    let (status, body, _) = env.export("hello", "summary", json!({}));
    assert_eq!(status, 200, "{body}");
    let art = &body["data"]["artifacts"][0];
    assert_eq!(art["name"], "summary.txt");
    let text = artifact_text(art);
    assert!(text.contains("Nach dem Phishing-Angriff"), "{text}");
    let (status, body, _) = env.export("hello", "gibt-es-nicht", json!({}));
    assert_eq!(status, 422);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("it offers: summary")
    );

    // Installed plugins live in the store: after a restart they load from the compiled cache.
    let data = env.server.data.clone();
    let Env {
        server,
        admin,
        editor,
        config,
        _tmp,
    } = env;
    server.stop();
    let mut child = verbund_tests::with_store(&mut Command::new(verbund_bin()), &data)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--rate-limit",
            "10000",
            "--data",
        ])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let plugins_line = lines.next().unwrap().unwrap();
    assert!(
        plugins_line.contains("Plugins: 1 loaded (1 from the compiled cache, 0 compiled)"),
        "{plugins_line}"
    );
    let _ = child.kill();
    let _ = child.wait();
    let server = TestApp::builder().data(&data).start();
    let env = Env {
        server,
        admin,
        editor,
        config,
        _tmp,
    };
    let (status, _) = env.create_story(3, Some("Lorem wieder"));
    assert_eq!(status, 422, "the validator still runs after the restart");
    let list = ok(&env.cli(&["plugin", "list", "--json"]));
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["name"], "hello");
    assert_eq!(list[0]["grants"]["granted"], json!(["read:story"]));
}

#[test]
fn components_of_another_contract_and_non_components_are_refused() {
    let env = start();
    let out = env.install("oldcontract", "");
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stderr(&out).contains(&format!(
            "does not fit this server's plugin contract verbund:plugin@{}",
            verbund_core::plugin::CONTRACT
        )),
        "{}",
        stderr(&out)
    );
    let out = env.install("oldmanifest", "");
    assert!(
        stderr(&out).contains("built against contract 0.1.0"),
        "{}",
        stderr(&out)
    );
    // A core module (not a component) and plain garbage.
    let tmp = tempfile::tempdir().unwrap();
    let garbage = tmp.path().join("kaputt.wasm");
    std::fs::write(&garbage, b"\0asm\x01\0\0\0").unwrap();
    let out = env.cli(&["plugin", "install", &garbage.display().to_string()]);
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stderr(&out).contains("not a valid WebAssembly component"),
        "{}",
        stderr(&out)
    );
    let list = ok(&env.cli(&["plugin", "list"]));
    assert!(list.contains("no plugins installed"), "{list}");
    env.delivery_ok();
}

#[test]
fn a_plugin_built_against_contract_1_0_still_links_and_its_query_means_what_the_api_means() {
    let env = start();
    // Built from a verbatim copy of the 1.0.0 WIT: it imports verbund:plugin/host@1.0.0
    // and writes `in` as a JSON array, as the 1.0 host expected.
    let out = env.install("contract-1-0", "read:story");
    assert!(out.status.success(), "{}", stderr(&out));
    let (status, body, _) = env.export("contract-1-0", "stories", json!({}));
    assert_eq!(status, 200, "{body}");
    let mut from_plugin: Vec<String> = artifact_text(&body["data"]["artifacts"][0])
        .lines()
        .map(String::from)
        .collect();
    from_plugin.sort();

    // The same condition through the management list's filter language.
    let api = Api::of(&env.server);
    let mut from_api = Vec::new();
    let mut path = "/api/v1/manage/story?state=published&filter[kind][in]=news,interview&limit=100"
        .to_string();
    loop {
        let page = api.get(&path, Some(&env.editor)).expect(200);
        for s in page.data() {
            assert!(
                ["news", "interview"].contains(&s["kind"].as_str().unwrap()),
                "{s}"
            );
            from_api.push(s["id"].as_str().unwrap().to_string());
        }
        match page.body["meta"]["next_cursor"].as_str() {
            Some(c) => {
                path = format!(
                    "/api/v1/manage/story?state=published&filter[kind][in]=news,interview&limit=100&cursor={c}"
                )
            }
            None => break,
        }
    }
    from_api.sort();
    assert!(
        !from_api.is_empty(),
        "the demo has published news and interviews"
    );
    assert_eq!(from_plugin, from_api);
}

#[test]
fn endless_loops_huge_allocations_traps_and_oversized_output_fail_only_their_call() {
    let env = start();
    for p in ["spin", "hog", "trap", "bloat"] {
        ok(&env.install(p, ""));
    }
    // Readers keep being served while the plugins misbehave.
    let (stop, reader) = keep_reading(&env.server.url);

    // An endless loop stops at the wall-time or fuel limit of the export hook (10 s at most).
    let (status, body, took) = env.export("spin", "spin", json!({}));
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "plugin_failed");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("plugin spin failed in export:"),
        "{detail}"
    );
    assert!(
        detail.contains("fuel") || detail.contains("wall-time limit"),
        "{detail}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");

    // A 1 GiB allocation hits the memory cap (256 MiB for exports).
    let (status, body, _) = env.export("hog", "hog", json!({}));
    assert_eq!(status, 502, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("exceeded its memory limit of 256 MiB"),
        "{body}"
    );
    // … while 16 MiB is fine.
    let (status, body, _) = env.export("hog", "hog", json!({"mib": "16"}));
    assert_eq!(status, 200, "{body}");

    // A panic is a trap, and the SDK's panic hook says what and where.
    let (status, body, _) = env.export("trap", "panic", json!({}));
    assert_eq!(status, 502, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("trapped"), "{body}");
    assert!(
        detail.contains("panicked at")
            && detail.contains("src/lib.rs:")
            && detail.contains("trap: export panic panics on purpose"),
        "{body}"
    );

    // An artifact over the output limit (32 MiB for exports) is refused.
    let (status, body, _) = env.export("bloat", "big", json!({"mib": "40"}));
    assert_eq!(status, 502, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("more than its output limit of 33554432 bytes"),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("refused before it was copied"),
        "{body}"
    );
    // The admin can lower a limit per plugin: now 1 MiB is too much.
    ok(&env.cli(&[
        "plugin",
        "configure",
        "bloat",
        "--limit",
        "export.output_bytes=100000",
    ]));
    let (status, body, _) = env.export("bloat", "big", json!({"mib": "1"}));
    assert_eq!(status, 502, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("output limit of 100000 bytes")
    );

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let served = reader.join().unwrap();
    assert!(served > 0, "the reader was served throughout");
    env.delivery_ok();

    // A guard that never returns is stopped by the hook's limits (200 ms, 2e8 fuel) and the
    // transition is refused, naming the plugin.
    ok(&env.install("spin", "read:story"));
    let (_, drafts) = env.request(
        reqwest::Method::GET,
        "/api/v1/manage/story?state=draft&limit=1",
        &env.editor,
        None,
    );
    let draft = drafts["data"][0]["id"].as_str().unwrap().to_string();
    let t = Instant::now();
    let (status, body) = env.request(
        reqwest::Method::POST,
        &format!("/api/v1/manage/story/{draft}/transitions"),
        &env.editor,
        Some(json!({"to": "published"})),
    );
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["plugin"], "spin");
    assert_eq!(body["hook"], "on-transition");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    ok(&env.cli(&["plugin", "remove", "spin"]));

    // A validator that traps fails the write closed, naming plugin and hook; other types and
    // reads are unaffected.
    ok(&env.cli(&[
        "plugin",
        "install",
        &component("trap").display().to_string(),
        "--grant",
        "read:story",
    ]));
    let (status, body) = env.create_story(10, None);
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["plugin"], "trap");
    assert_eq!(body["hook"], "validate");
    let (status, _) = env.request(
        reqwest::Method::GET,
        "/api/v1/manage/member?limit=1",
        &env.editor,
        None,
    );
    assert_eq!(status, 200);
}

#[test]
fn repeated_faults_disable_a_plugin_and_the_admin_sees_why() {
    let env = start();
    ok(&env.install("trap", ""));
    for i in 0..5 {
        let (status, body, _) = env.export("trap", "panic", json!({}));
        assert_eq!(status, 502, "fault {i}: {body}");
    }
    let (status, body, _) = env.export("trap", "panic", json!({}));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "plugin_disabled");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("verbund plugin enable trap")
    );
    let list = ok(&env.cli(&["plugin", "list"]));
    assert!(list.contains("disabled"), "{list}");
    assert!(
        list.contains("disabled automatically after 5 faults within 60 s"),
        "{list}"
    );
    ok(&env.cli(&["plugin", "enable", "trap"]));
    let (status, _, _) = env.export("trap", "panic", json!({}));
    assert_eq!(status, 502, "enabled again, it runs (and fails) again");
    ok(&env.cli(&["plugin", "remove", "trap"]));
    let (status, _, _) = env.export("trap", "panic", json!({}));
    assert_eq!(status, 404);
    env.delivery_ok();
}

/// What snoop was handed, by pointer (`/snoop/{type}/{get|query}`), when a story is written.
fn snoop_report(env: &Env, n: usize) -> std::collections::HashMap<String, String> {
    let (status, body) = env.create_story(n, None);
    assert_eq!(status, 422, "{body}");
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["pointer"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_plugin_reads_only_what_was_granted_and_never_ungranted_personal_data() {
    let env = start();
    // Personal data was not requested, so it cannot be granted.
    let out = env.install("snoop", "read:story,read:subscriber+personal");
    assert_eq!(out.status.code(), Some(5));
    assert!(stderr(&out).contains("did not ask for read:subscriber+personal"));

    // Granted: story only. member and subscriber are refused.
    ok(&env.install("snoop", "read:story"));
    let (_, subs) = env.request(
        reqwest::Method::GET,
        "/api/v1/manage/subscriber?limit=1",
        &env.admin,
        None,
    );
    let sub = &subs["data"][0];
    let email = sub["email"].as_str().unwrap().to_string();
    let (_, members) = env.request(
        reqwest::Method::GET,
        "/api/v1/manage/member?limit=1",
        &env.admin,
        None,
    );
    let member = &members["data"][0];
    let contact = member["contact_email"].as_str().unwrap().to_string();
    ok(&env.cli(&[
        "plugin",
        "configure",
        "snoop",
        "--set",
        &format!("subscriber-id={}", sub["id"].as_str().unwrap()),
        "--set",
        &format!("member-id={}", member["id"].as_str().unwrap()),
    ]));
    let report = snoop_report(&env, 20);
    for p in [
        "/snoop/member/get",
        "/snoop/member/query",
        "/snoop/member/translations",
        "/snoop/subscriber/get",
        "/snoop/subscriber/query",
        "/snoop/subscriber/translations",
    ] {
        assert!(
            report[p].starts_with("err not-granted:"),
            "{p}: {}",
            report[p]
        );
    }
    assert!(
        report["/snoop/story/query"].starts_with("ok "),
        "{report:?}"
    );

    // Granted: member and subscriber too, without personal data. Members come without their
    // personal fields; subscribers (personal data as a whole) stay refused.
    ok(&env.install("snoop", "read:story,read:member,read:subscriber"));
    let report = snoop_report(&env, 21);
    let member_get = &report["/snoop/member/get"];
    assert!(member_get.starts_with("ok 1:"), "{member_get}");
    assert!(
        member_get.contains(member["name"].as_str().unwrap()),
        "{member_get}"
    );
    let member_query = &report["/snoop/member/query"];
    // The member's original and its English translation, through the host's `translations`.
    let member_translations = &report["/snoop/member/translations"];
    assert!(
        member_translations.starts_with("ok 2: de,en: "),
        "{member_translations}"
    );
    for seen in [member_get, member_query, member_translations] {
        assert!(!seen.contains(&contact), "personal data leaked: {seen}");
        assert!(
            !seen.contains("contact_email"),
            "personal field leaked: {seen}"
        );
    }
    for p in ["/snoop/subscriber/get", "/snoop/subscriber/query"] {
        assert!(report[p].contains("personal data"), "{p}: {}", report[p]);
        assert!(!report[p].contains(&email));
    }

    // The bytes a call may receive from the host are capped: with 2,000 bytes the story query
    // (several full stories) is refused with a limit error the plugin sees.
    ok(&env.cli(&[
        "plugin",
        "configure",
        "snoop",
        "--limit",
        "validate.host_bytes=2000",
        "--set",
        &format!("member-id={}", member["id"].as_str().unwrap()),
    ]));
    let report = snoop_report(&env, 22);
    assert!(
        report["/snoop/story/query"].starts_with("err limit:"),
        "{}",
        report["/snoop/story/query"]
    );
    assert!(report["/snoop/story/query"].contains("at most 2000 bytes"));
}

/// The code block after `marker` in a Markdown file.
fn code_block(markdown: &str, marker: &str, lang: &str) -> String {
    let start = markdown.find(marker).expect("marker in the README") + marker.len();
    let fence = format!("```{lang}\n");
    let body = &markdown[start..];
    let from = body.find(&fence).expect("code block") + fence.len();
    let to = body[from..].find("```").expect("closing fence");
    body[from..from + to].to_string()
}

#[test]
fn the_sdk_readme_example_is_the_plugin_that_builds_and_installs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("plugins/sdk/README.md")).unwrap();
    for (marker, lang, file) in [
        (
            "`plugins/teaser-check/Cargo.toml`:\n\n",
            "toml",
            "plugins/teaser-check/Cargo.toml",
        ),
        (
            "`plugins/teaser-check/src/lib.rs`:\n\n",
            "rust",
            "plugins/teaser-check/src/lib.rs",
        ),
    ] {
        assert_eq!(
            code_block(&readme, marker, lang),
            std::fs::read_to_string(root.join(file)).unwrap(),
            "the README's {file} and the real file differ"
        );
    }

    let env = start();
    let out = ok(&env.install("teaser-check", "read:story"));
    assert!(out.contains("installed teaser-check 1.0.0"), "{out}");
    // validate: a German teaser over 300 characters.
    let mut long = story(30);
    long["teaser"] = json!("Ä".repeat(301));
    let (status, body) = env.request(
        reqwest::Method::POST,
        "/api/v1/manage/story",
        &env.editor,
        Some(long),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["pointer"], "/teaser");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("301 Zeichen")
    );
    // on-transition: the author cannot publish their own story; someone else can. Only
    // reviewers and admins may publish at all (the workflow's roles, enforced by the core).
    let (status, created) = env.create_story(31, None);
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().unwrap();
    let path = format!("/api/v1/manage/story/{id}/transitions");
    let (status, body) = env.request(
        reqwest::Method::POST,
        &path,
        &env.editor,
        Some(json!({"to": "published"})),
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "role_not_allowed");
    let mut own = story(32);
    own["slug"] = json!("eigene-geschichte-der-admin");
    let (status, own) = env.request(
        reqwest::Method::POST,
        "/api/v1/manage/story",
        &env.admin,
        Some(own),
    );
    assert_eq!(status, 201, "{own}");
    let (status, body) = env.request(
        reqwest::Method::POST,
        &format!(
            "/api/v1/manage/story/{}/transitions",
            own["data"]["id"].as_str().unwrap()
        ),
        &env.admin,
        Some(json!({"to": "published"})),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("Vier-Augen-Prinzip")
    );
    let (status, body) = env.request(
        reqwest::Method::POST,
        &path,
        &env.admin,
        Some(json!({"to": "published"})),
    );
    assert_eq!(status, 200, "{body}");
}

/// Security review #17: when every pooled plugin instance is in use, a further call is
/// answered 503 plugins_busy (Wasmtime's typed pool error, not a fault of the plugin), and the
/// plugin is not disabled for it.
#[test]
fn a_full_instance_pool_answers_busy_not_a_plugin_fault() {
    let env = start();
    ok(&env.install("spin", "read:story"));
    ok(&env.cli(&[
        "plugin",
        "configure",
        "spin",
        "--limit",
        "export.wall_ms=4000",
    ]));
    let url = format!("{}/api/v1/manage/exports/spin/spin", env.server.url);
    // All calls leave together (a loaded machine must not spread them over the spin time).
    let start = std::sync::Barrier::new(90);
    let answers: Vec<(u16, Value)> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..90)
            .map(|_| {
                let (url, token, start) = (&url, &env.editor, &start);
                s.spawn(move || {
                    let client = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(60))
                        .build()
                        .unwrap();
                    start.wait();
                    let res = client
                        .post(url)
                        .bearer_auth(token)
                        .json(&json!({}))
                        .send()
                        .unwrap();
                    let status = res.status().as_u16();
                    (status, res.json::<Value>().unwrap_or(Value::Null))
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let busy = answers
        .iter()
        .filter(|(s, b)| *s == 503 && b["code"] == "plugins_busy");
    assert!(busy.count() >= 1, "{answers:?}");
    for (status, body) in &answers {
        assert!(
            (*status == 502 && body["code"] == "plugin_failed")
                || (*status == 503 && body["code"] == "plugins_busy"),
            "{status} {body}"
        );
    }
    // Running into limits in exports does not disable it.
    let (status, body) = env.request(
        reqwest::Method::GET,
        "/api/v1/admin/plugins/spin",
        &env.admin,
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["enabled"], true, "{body}");
}

/// A plugin written in Python (componentize-py, the SDK in plugins/sdk-python) runs in the same
/// sandbox as a Rust one: its issues reach the editor as 422 pointers, a good story passes,
/// and its endless loop, memory hog, sleep and exception fail only their own call — while the
/// server keeps serving — and it sees no files, environment, network or clock of its own.
#[test]
fn a_python_plugin_checks_the_house_style_and_its_misbehaviour_is_contained() {
    // The Python SDK's README walks through exactly the shipped reference plugin.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("plugins/sdk-python/README.md")).unwrap();
    assert_eq!(
        code_block(&readme, "`plugins/style-check/app.py`:\n\n", "python"),
        std::fs::read_to_string(root.join("plugins/style-check/app.py")).unwrap(),
        "the README's app.py and plugins/style-check/app.py differ"
    );
    let env = start();
    let out = ok(&env.install("style-check", "read:story"));
    assert!(
        out.contains("installed style-check 0.1.0; granted: read:story"),
        "{out}"
    );

    let mut bad = story(1);
    bad["title"] = json!("GROSSE NEUIGKEITEN AUS DEM CLUSTER");
    bad["teaser"] = json!("Zu kurz.");
    bad["body"] = json!(
        "Einleitung.\n\n## WAS WIR VORHABEN\n\nAlles Weitere: [hier klicken](https://example.org/programm)."
    );
    let (status, body) = env.request(
        reqwest::Method::POST,
        "/api/v1/manage/story",
        &env.editor,
        Some(bad),
    );
    assert_eq!(status, 422, "{body}");
    let errors = body["errors"].as_array().unwrap();
    let at = |p: &str| -> Vec<String> {
        errors
            .iter()
            .filter(|e| e["pointer"] == p)
            .map(|e| e["message"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        at("/teaser")
            .iter()
            .any(|m| m.contains("8 Zeichen") && m.contains("mindestens 60")),
        "{body}"
    );
    assert!(
        at("/title").iter().any(|m| m.contains("Großbuchstaben")),
        "{body}"
    );
    let body_issues = at("/body");
    assert!(
        body_issues
            .iter()
            .any(|m| m.contains("Zeile 5") && m.contains("„hier klicken“")),
        "{body}"
    );
    assert!(
        body_issues
            .iter()
            .any(|m| m.contains("Zeile 3") && m.contains("WAS WIR VORHABEN")),
        "{body}"
    );
    assert!(
        errors.iter().all(|e| e["message"]
            .as_str()
            .unwrap()
            .ends_with("(plugin style-check)")),
        "{body}"
    );

    // A story the JSON Schema refuses too: the plugin's findings come with the schema's, so
    // the editor fixes everything in one round.
    let mut both = story(6);
    both["kind"] = json!("gibt-es-nicht");
    both["teaser"] = json!("Zu kurz.");
    let (status, body) = env.request(
        reqwest::Method::POST,
        "/api/v1/manage/story",
        &env.editor,
        Some(both),
    );
    assert_eq!(status, 422, "{body}");
    let errors = body["errors"].as_array().unwrap();
    assert!(errors.iter().any(|e| e["pointer"] == "/kind"), "{body}");
    assert!(
        errors.iter().any(|e| e["pointer"] == "/teaser"
            && e["message"]
                .as_str()
                .unwrap()
                .ends_with("(plugin style-check)")),
        "{body}"
    );

    let mut good = story(2);
    good["title"] = json!("Neuigkeiten aus dem Cluster");
    good["teaser"] = json!(
        "Drei Mitglieder zeigen, wie sie gemeinsam Rechenzentren in der Region sparsamer betreiben."
    );
    good["body"] = json!(
        "Einleitung.\n\n## Was wir vorhaben\n\nAlles Weitere im [Programm der Tagung](https://example.org/programm)."
    );
    let (status, body) = env.request(
        reqwest::Method::POST,
        "/api/v1/manage/story",
        &env.editor,
        Some(good),
    );
    assert_eq!(status, 201, "{body}");

    // Switched off, its checks are skipped: the write goes through, with a warning the CLI
    // shows, and `plugin list` says so.
    ok(&env.cli(&["plugin", "disable", "style-check"]));
    let mut unchecked = story(7);
    unchecked["teaser"] = json!("Zu kurz.");
    let res = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/manage/story", env.server.url))
        .bearer_auth(&env.editor)
        .json(&unchecked)
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let warning = res.headers()["verbund-warning"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        warning.contains("not checked by style-check (disabled)"),
        "{warning}"
    );
    let list = ok(&env.cli(&["plugin", "list"]));
    assert!(list.contains("disabled (checks skipped)"), "{list}");
    // Marked required, it must run: while it is off, story writes are refused, naming it.
    ok(&env.cli(&["plugin", "configure", "style-check", "--required", "true"]));
    let (status, body) = env.create_story(8, None);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "plugin_unavailable");
    assert_eq!(body["plugin"], "style-check");
    assert!(
        body["detail"].as_str().unwrap().contains("marked required"),
        "{body}"
    );
    let shown = ok(&env.cli(&["plugin", "show", "style-check"]));
    assert!(shown.contains("required: while it is off"), "{shown}");
    ok(&env.cli(&["plugin", "enable", "style-check"]));
    let (status, body) = env.create_story(8, None);
    assert_eq!(status, 201, "{body}");
    ok(&env.cli(&["plugin", "remove", "style-check"]));

    // The misbehaving one.
    ok(&env.install("py-sandbox", "read:story"));
    let (stop, reader) = keep_reading(&env.server.url);
    // What it can see of the world: nothing.
    let before = chrono::Utc::now().timestamp();
    let (status, body) = env.create_story(3, Some("Umwelt prüfen"));
    assert_eq!(status, 422, "{body}");
    let seen: Vec<String> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["message"]
                .as_str()
                .unwrap()
                .trim_end_matches(" (plugin py-sandbox)")
                .to_string()
        })
        .collect();
    assert!(
        seen.iter().any(|m| m.starts_with("dateien: verweigert")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|m| m.starts_with("passwd: verweigert")),
        "{seen:?}"
    );
    assert!(seen.contains(&"umgebung: ".to_string()), "{seen:?}");
    assert!(
        seen.iter().any(|m| m.starts_with("netz: verweigert")),
        "{seen:?}"
    );
    let clock = seen.iter().find(|m| m.starts_with("uhr: ")).unwrap();
    let parts: Vec<i64> = clock[5..].split(' ').map(|n| n.parse().unwrap()).collect();
    assert!(
        (parts[0] - before).abs() < 120,
        "the wall clock shows the call's start: {clock}"
    );
    assert_eq!(parts[1], 0, "the monotonic clock stands still: {clock}");

    let fails = |title: &str, want: &[&str]| {
        let (status, body) = env.create_story(4, Some(title));
        assert_eq!(status, 502, "{title}: {body}");
        assert_eq!(body["code"], "plugin_failed");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("plugin py-sandbox failed in validate:"),
            "{detail}"
        );
        assert!(want.iter().any(|w| detail.contains(w)), "{title}: {detail}");
        detail.to_string()
    };
    fails("Endlosschleife", &["ran out of fuel", "wall-time limit"]);
    fails("Speicherfresser", &["exceeded its memory limit of 32 MiB"]);
    fails("Schlafen", &["a plugin cannot wait"]);
    let d = fails(
        "Ausnahme",
        &["RuntimeError: absichtlicher Fehler im Plugin"],
    );
    assert!(d.contains("app.py"), "the traceback names the file: {d}");
    assert!(!d.contains("RUST_BACKTRACE"), "{d}");

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(
        reader.join().unwrap() > 0,
        "the reader was served throughout"
    );
    env.delivery_ok();
    // Four faults within a minute do not yet disable it; a harmless story still passes.
    let (status, body) = env.create_story(5, Some("Ganz normal"));
    assert_eq!(status, 201, "{body}");
    let shown = ok(&env.cli(&["plugin", "show", "py-sandbox"]));
    assert!(shown.contains("enabled"), "{shown}");
    // Per-plugin figures: 6 validate calls, 4 of them faults, in `plugin show` and /metrics.
    assert!(
        shown.contains("calls of validate since the server started: 6 (4 faults), p50 "),
        "{shown}"
    );
    let metrics = env.server.get("/metrics").text().unwrap();
    assert!(
        metrics.contains(r#"verbund_plugin_calls_total{plugin="py-sandbox",hook="validate"} 6"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"verbund_plugin_faults_total{plugin="py-sandbox",hook="validate"} 4"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"verbund_plugin_call_seconds{plugin="py-sandbox",hook="validate",quantile="0.99"}"#
        ),
        "{metrics}"
    );
}

/// Months in German, for the expected "Mitglied seit 1. März 2010".
fn german_date(iso: &str) -> String {
    const M: [&str; 12] = [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ];
    let p: Vec<u32> = iso.split('-').map(|n| n.parse().unwrap()).collect();
    format!("{}. {} {}", p[2], M[p[1] as usize - 1], p[0])
}

/// The text of a PDF as poppler's pdftotext reads it (what a screen reader or a search sees).
fn pdf_text(path: &Path) -> String {
    let out = Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(path)
        .arg("-")
        .output()
        .expect("pdftotext runs (Debian: poppler-utils; tests/run installs it)");
    assert!(
        out.status.success(),
        "pdftotext {}: {}",
        path.display(),
        stderr(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The membership certificates (a Rust plugin writing PDFs with pdf-writer and an embedded,
/// subsetted DejaVu Serif): one PDF per published member through the CLI, each readable by
/// poppler with the member's name, the German date and umlauts; page 1 rendered to a PNG kept
/// in target/test-artifacts/; a selection by date; a wrong parameter explained.
#[test]
fn membership_certificates_are_pdfs_poppler_reads_with_names_dates_and_umlauts() {
    let env = start();
    let out = ok(&env.install("membership-certificate", "read:member"));
    assert!(
        out.contains("installed membership-certificate 1.0.0; granted: read:member"),
        "{out}"
    );
    let dir = env._tmp.path().join("urkunden");
    let dir_s = dir.display().to_string();
    let out = ok(&env.cli(&[
        "plugin",
        "export",
        "membership-certificate",
        "certificates",
        "--param",
        "date=2026-12-07",
        "--out",
        &dir_s,
    ]));
    let members = verbund_tests::demo::published("member", "de");
    assert!(members.len() >= 10, "the demo has members");
    // An edit of a published member that is not yet published does not reach its
    // certificate: the plugin reads the published view.
    let edited = &members[0];
    let (_, current) = env.request(
        reqwest::Method::GET,
        &format!("/api/v1/manage/member/{}", edited["id"].as_str().unwrap()),
        &env.admin,
        None,
    );
    let res = reqwest::blocking::Client::new()
        .patch(format!(
            "{}/api/v1/manage/member/{}",
            env.server.url,
            edited["id"].as_str().unwrap()
        ))
        .bearer_auth(&env.admin)
        .header("If-Match", format!("\"{}\"", current["data"]["version"]))
        .header("content-type", "application/merge-patch+json")
        .body(json!({"name": "Noch Nicht Veröffentlicht GmbH"}).to_string())
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "{}", res.text().unwrap());
    for m in &members {
        let slug = m["slug"].as_str().unwrap();
        let file = dir.join(format!("urkunde-{slug}.pdf"));
        assert!(out.contains(&format!("urkunde-{slug}.pdf")), "{out}");
        let text = pdf_text(&file);
        let name = m["name"].as_str().unwrap();
        assert!(text.contains(name), "{slug}: the name {name:?} in\n{text}");
        let since = german_date(m["member_since"].as_str().unwrap());
        assert!(
            text.contains(&format!("Mitglied seit {since}")),
            "{slug}: {since} in\n{text}"
        );
        assert!(
            text.contains("Urkunde") && text.contains("über die Mitgliedschaft"),
            "{text}"
        );
        assert!(
            text.contains("„Gemeinsam digital stärker“"),
            "German quotes survive: {text}"
        );
        assert!(
            text.contains("Halle (Saale), den 7. Dezember 2026"),
            "{text}"
        );
    }
    let edited_text =
        pdf_text(&dir.join(format!("urkunde-{}.pdf", edited["slug"].as_str().unwrap())));
    assert!(!edited_text.contains("Noch Nicht"), "{edited_text}");
    // Names with umlauts and ß come out as written.
    let special: Vec<&str> = members
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .filter(|n| n.contains(['ä', 'ö', 'ü', 'ß', 'Ä', 'Ö', 'Ü']))
        .collect();
    assert!(!special.is_empty(), "the demo has members with umlauts");
    // Translations get no certificate of their own: exactly one PDF per German member.
    let pdfs = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "pdf")
        })
        .count();
    assert_eq!(pdfs, members.len());
    let summary = std::fs::read_to_string(dir.join("uebersicht.txt")).unwrap();
    assert!(
        summary.contains(&format!("{} Urkunden", members.len())),
        "{summary}"
    );

    // Page 1 of the oldest member's certificate, rendered by poppler: a real A4 page.
    let oldest = members
        .iter()
        .min_by_key(|m| m["member_since"].as_str().unwrap().to_string())
        .unwrap();
    let pdf = dir.join(format!("urkunde-{}.pdf", oldest["slug"].as_str().unwrap()));
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let png_base = artifacts.join("urkunde-seite-1");
    let r = Command::new("pdftoppm")
        .args(["-png", "-r", "72", "-f", "1", "-l", "1", "-singlefile"])
        .arg(&pdf)
        .arg(&png_base)
        .output()
        .expect("pdftoppm runs");
    assert!(r.status.success(), "pdftoppm: {}", stderr(&r));
    let png = std::fs::read(png_base.with_extension("png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (w, h) = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert!(
        (595..=596).contains(&w) && h == 842,
        "A4 at 72 dpi: {w}×{h}"
    );

    // The members of the first hour only.
    let first = env._tmp.path().join("erste-stunde");
    let first_s = first.display().to_string();
    ok(&env.cli(&[
        "plugin",
        "export",
        "membership-certificate",
        "certificates",
        "--param",
        "member_since_before=2012-01-01",
        "--out",
        &first_s,
    ]));
    let want: Vec<&Value> = members
        .iter()
        .filter(|m| m["member_since"].as_str().unwrap() < "2012-01-01")
        .collect();
    let summary = std::fs::read_to_string(first.join("uebersicht.txt")).unwrap();
    assert!(
        summary.contains(&format!("{} Urkunden", want.len())),
        "{summary}"
    );
    assert!(summary.contains("vor dem 1. Januar 2012"), "{summary}");
    for m in &want {
        assert!(
            first
                .join(format!("urkunde-{}.pdf", m["slug"].as_str().unwrap()))
                .is_file()
        );
    }

    // A wrong parameter is explained, and it is no fault of the plugin.
    let bad = env.cli(&[
        "plugin",
        "export",
        "membership-certificate",
        "certificates",
        "--param",
        "member_since_before=01.01.2012",
        "--out",
        &first_s,
    ]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("member_since_before must be a date like 2015-01-01"),
        "{}",
        stderr(&bad)
    );
    let shown = ok(&env.cli(&["plugin", "show", "membership-certificate"]));
    assert!(shown.contains("enabled"), "{shown}");
}

/// `verbund plugin new` makes a working plugin anywhere, in Rust or Python; `plugins/build
/// --dir` builds the folder; the plugin installs and its validate hook answers. A bad name is
/// explained. (Building is the same on either store: sled only.)
#[test]
fn a_new_plugin_from_the_template_builds_outside_the_repository_and_installs() {
    if verbund_tests::sled_only("builds plugins; the store plays no part") {
        return;
    }
    let env = start();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap();
    let work = env._tmp.path().join("eigene-plugins");
    std::fs::create_dir_all(&work).unwrap();
    let new = |args: &[&str]| {
        Command::new(verbund_bin())
            .args(["plugin", "new"])
            .args(args)
            .current_dir(&work)
            .output()
            .unwrap()
    };
    let bad = new(&["Kalender!"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("lower case letters, digits and hyphens"),
        "{}",
        stderr(&bad)
    );

    for (name, lang) in [("titel-py", "python"), ("titel-rs", "rust")] {
        let out = ok(&new(&[name, "--lang", lang]));
        assert!(out.contains("plugins/build --dir"), "{out}");
        let built = Command::new(root.join("plugins/build"))
            .args(["--dir", name])
            .current_dir(&work)
            .output()
            .unwrap();
        assert!(built.status.success(), "{name}: {}", stderr(&built));
        let wasm = work.join(name).join(format!("{name}.wasm"));
        assert!(wasm.is_file(), "{}", wasm.display());
        let out = ok(&env.cli(&[
            "plugin",
            "install",
            &wasm.display().to_string(),
            "--grant",
            "read:story",
        ]));
        assert!(
            out.contains(&format!("installed {name} 0.1.0; granted: read:story")),
            "{out}"
        );
    }
    // Both validators run on every story write: each reports the full stop.
    let (status, body) = env.create_story(40, Some("Neues aus dem Cluster."));
    assert_eq!(status, 422, "{body}");
    let plugins: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["pointer"] == "/title" && e["message"].as_str().unwrap().contains("ohne Punkt")
        })
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(plugins.len(), 2, "{body}");
    let (status, body) = env.create_story(41, Some("Neues aus dem Cluster"));
    assert_eq!(status, 201, "{body}");

    // Installing without a grant it asks for warns and says which, and how to give it.
    let out = env.install("snoop", "read:story");
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("warning: snoop asks for read:member")
            && err.contains("but was not granted it"),
        "{err}"
    );
    assert!(err.contains("--grant read:member"), "{err}");
}
