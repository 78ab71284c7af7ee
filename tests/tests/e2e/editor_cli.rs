//! The editors' everyday CLI against a real server: writing in `$EDITOR` (with errors shown in
//! the file and drafts kept), Markdown files with front matter, revisions and diffs, deleting,
//! bulk import/export with resume, online backup and checked restore, `init` and completions.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use verbund_tests::demo;
use verbund_tests::{TestApp, create_tokens, ok, run_cli, story, verbund_bin};

/// Runs the CLI with a private config dir, connected to `server` with `token`.
fn cli(config: &Path, server: &TestApp, token: &str, args: &[&str]) -> Output {
    run_cli(config, &server.url, token, args, &[])
}

fn cli_env(
    config: &Path,
    server: &TestApp,
    token: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    run_cli(config, &server.url, token, args, env)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).expect("--json prints JSON")
}

/// Writes an executable shell script (a scripted `$EDITOR`).
fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\nset -e\n{body}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

const STORY_MD: &str = r#"---
kind: interview
title: "„Ohne Netzwerk kein Fachkräftenachwuchs“"
slug: interview-fachkraefte-netzwerk
teaser: Ein Gespräch über Ausbildung im Verbund und was kleine Betriebe davon haben.
topics:
  - fachkraefte
  - netzwerke-infrastruktur
---

## Warum ein Verbund?

Kleine Betriebe bilden selten allein aus. **Gemeinsam** geht es besser.
"#;

#[test]
fn an_editor_writes_in_the_editor_fixes_errors_shown_in_the_file_and_keeps_drafts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("config");
    let tokens = create_tokens(&data, &["editor"]);
    let server = TestApp::builder().data(&data).demo().start();
    let token = &tokens["editor"];

    // 1. A new story through $EDITOR: the first save leaves the required teaser empty; the
    //    editor must open again with the error at the top, and the second save fixes it.
    let editor = tmp.path().join("editor.sh");
    let log = tmp.path().join("editor.log");
    script(
        &editor,
        &format!(
            r#"f="$1"
cp "$f" "{log}.$(date +%s%N)"
if grep -q "Verbund could not save" "$f"; then
  sed -i "s/^teaser: .*/teaser: Wie ein Netzwerk Ausbildung in kleinen Betrieben möglich macht./" "$f"
else
  cat > "$f" <<'EOF'
---
kind: news
title: Ausbildungsverbund startet mit zwölf Betrieben
slug: ausbildungsverbund-startet
teaser: ''
topics: [fachkraefte]
---

Zwölf Mitgliedsunternehmen bilden ab Herbst **gemeinsam** aus.
EOF
fi"#,
            log = log.display()
        ),
    );
    let editor_cmd = editor.display().to_string();
    let out = cli_env(
        &config,
        &server,
        token,
        &["entry", "new", "story", "--json"],
        &[("EDITOR", &editor_cmd)],
    );
    let created = json_of(&out);
    assert_eq!(
        created["title"],
        "Ausbildungsverbund startet mit zwölf Betrieben"
    );
    assert_eq!(created["state"], "draft");
    assert_eq!(
        created["body"],
        "Zwölf Mitgliedsunternehmen bilden ab Herbst **gemeinsam** aus."
    );
    assert!(
        text(&out.stderr).contains("1 problem(s)"),
        "{}",
        text(&out.stderr)
    );
    // The editor saw the template first, then the error inside the front matter.
    let mut seen: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("editor.log."))
        .collect();
    seen.sort();
    assert_eq!(seen.len(), 2, "the editor opens twice");
    let first = std::fs::read_to_string(&seen[0]).unwrap();
    assert!(first.contains("# New Story (story)"), "{first}");
    assert!(first.contains("# one of: success_story"), "{first}");
    let second = std::fs::read_to_string(&seen[1]).unwrap();
    assert!(
        second.starts_with("---\n# ┌ Verbund could not save this entry:"),
        "{second}"
    );
    assert!(second.contains("# │ teaser:"), "{second}");
    // A saved entry leaves no draft behind.
    let drafts = config.join("drafts");
    assert_eq!(std::fs::read_dir(&drafts).unwrap().count(), 0);

    // 2. Edit it: a scripted editor that breaks the title and then gives up (saves nothing
    //    more). Nothing is stored, the exit code says validation, the draft is kept and named.
    let id = created["id"].as_str().unwrap();
    let stubborn = tmp.path().join("stubborn.sh");
    script(
        &stubborn,
        r#"f="$1"
grep -q "Verbund could not save" "$f" && exit 0
sed -i "s/^title: .*/title: ''/" "$f""#,
    );
    let stubborn_cmd = stubborn.display().to_string();
    let out = cli_env(
        &config,
        &server,
        token,
        &["entry", "edit", "story", id],
        &[("EDITOR", &stubborn_cmd)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("Your draft is kept at"), "{err}");
    let kept: Vec<_> = std::fs::read_dir(&drafts)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "{err}");
    assert!(err.contains(&kept[0].display().to_string()), "{err}");
    let draft = std::fs::read_to_string(&kept[0]).unwrap();
    assert!(draft.contains("title: ''") && draft.contains("Zwölf Mitgliedsunternehmen"));
    let shown = json_of(&cli(
        &config,
        &server,
        token,
        &["entry", "show", "story", id, "--json"],
    ));
    assert_eq!(shown["version"], 1, "nothing was saved");

    // 3. An editor that fails: nothing saved, the draft kept.
    let out = cli_env(
        &config,
        &server,
        token,
        &["entry", "edit", "story", id],
        &[("EDITOR", "false")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("nothing was saved"),
        "{}",
        text(&out.stderr)
    );

    // 4. The kept draft, fixed, goes in with --file; the diff shows exactly the change.
    std::fs::write(
        &kept[0],
        draft.replace(
            "title: ''",
            "title: Ausbildungsverbund startet mit 14 Betrieben",
        ),
    )
    .unwrap();
    let kept_path = kept[0].display().to_string();
    let saved = json_of(&cli(
        &config,
        &server,
        token,
        &["entry", "edit", "story", id, "--file", &kept_path, "--json"],
    ));
    assert_eq!(saved["version"], 2);
    let diff = ok(&cli(
        &config,
        &server,
        token,
        &["entry", "diff", "story", id],
    ));
    assert!(
        diff.contains("-title: Ausbildungsverbund startet mit zwölf Betrieben")
            && diff.contains("+title: Ausbildungsverbund startet mit 14 Betrieben"),
        "{diff}"
    );
    assert_eq!(
        diff.lines()
            .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
            .count(),
        1
    );
    let revs = json_of(&cli(
        &config,
        &server,
        token,
        &["entry", "revisions", "story", id, "--json"],
    ));
    assert_eq!(revs.as_array().unwrap().len(), 2);
    let out = cli(
        &config,
        &server,
        token,
        &["entry", "diff", "story", id, "1", "7"],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "a missing version is 'not found'"
    );
}

#[test]
fn markdown_files_round_trip_and_deleting_needs_confirmation() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("config");
    let tokens = create_tokens(&data, &["editor"]);
    let server = TestApp::builder().data(&data).demo().start();
    let token = &tokens["editor"];

    let file = tmp.path().join("interview.md");
    std::fs::write(&file, STORY_MD).unwrap();
    let f = file.display().to_string();
    let created = json_of(&cli(
        &config,
        &server,
        token,
        &["entry", "new", "story", "--file", &f, "--json"],
    ));
    assert_eq!(created["kind"], "interview");
    assert_eq!(created["title"], "„Ohne Netzwerk kein Fachkräftenachwuchs“");
    assert!(
        created["body"]
            .as_str()
            .unwrap()
            .starts_with("## Warum ein Verbund?")
    );
    assert_eq!(
        created["topics"],
        serde_json::json!(["fachkraefte", "netzwerke-infrastruktur"])
    );

    // `entry show` prints the same document `entry edit` opens: it parses back to the fields.
    let shown = ok(&cli(
        &config,
        &server,
        token,
        &["entry", "show", "story", "interview-fachkraefte-netzwerk"],
    ));
    assert!(
        shown.starts_with("---\n"),
        "the output is the document: {shown}"
    );
    let again = tmp.path().join("again.md");
    std::fs::write(&again, &shown).unwrap();
    let a = again.display().to_string();
    let id = created["id"].as_str().unwrap();
    let out = cli(
        &config,
        &server,
        token,
        &["entry", "edit", "story", id, "--file", &a, "--json"],
    );
    let same = json_of(&out);
    for field in ["kind", "title", "slug", "teaser", "body", "topics"] {
        assert_eq!(
            same[field], created[field],
            "{field} changed in the round trip"
        );
    }

    // A validation error from a file: exit code 5 and each field named.
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "name: ''\nlegal_form: Verein\n").unwrap();
    let b = bad.display().to_string();
    let out = cli(
        &config,
        &server,
        token,
        &["entry", "new", "member", "--file", &b],
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("/name"), "{}", text(&out.stderr));
    // An unreadable document names the problem and the line.
    std::fs::write(&bad, "name: [Kaputt\n").unwrap();
    let out = cli(
        &config,
        &server,
        token,
        &["entry", "new", "member", "--file", &b],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("line"), "{}", text(&out.stderr));

    // Filters on the list.
    let members_where = |filter: &str| {
        json_of(&cli(
            &config,
            &server,
            token,
            &["entry", "list", "member", "--filter", filter, "--json"],
        ))
    };
    let sachsen = members_where("state_region=Sachsen");
    let all = json_of(&cli(
        &config,
        &server,
        token,
        &["entry", "list", "member", "--json"],
    ));
    let n = sachsen.as_array().unwrap().len();
    assert!(n > 0 && n < all.as_array().unwrap().len(), "{n}");
    assert!(
        sachsen
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["state_region"] == "Sachsen")
    );
    // Another operator of the same filter language: the rest of the members, exactly.
    let elsewhere = members_where("state_region:ne=Sachsen");
    assert_eq!(
        elsewhere.as_array().unwrap().len(),
        all.as_array().unwrap().len() - n
    );
    let out = cli(
        &config,
        &server,
        token,
        &["entry", "list", "member", "--filter", "bundesland=Sachsen"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("state_region"),
        "names the real fields"
    );

    // Deleting without a terminal needs --yes.
    let out = cli(&config, &server, token, &["entry", "delete", "story", id]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--yes"));
    ok(&cli(
        &config,
        &server,
        token,
        &["entry", "show", "story", id],
    ));
    ok(&cli(
        &config,
        &server,
        token,
        &["entry", "delete", "story", id, "--yes"],
    ));
    let out = cli(&config, &server, token, &["entry", "show", "story", id]);
    assert_eq!(out.status.code(), Some(3));
}

/// The number of entries of every type, as `export` sees them, and the export's lines sorted.
fn export_lines(config: &Path, server: &TestApp, token: &str, out: &Path) -> Vec<String> {
    let o = out.display().to_string();
    ok(&cli(config, server, token, &["export", "--out", &o]));
    let mut lines: Vec<String> = std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|l| canonical(&serde_json::from_str(l).unwrap()).to_string())
        .collect();
    lines.sort();
    lines
}

/// The JSON with object keys in sorted order, so that field order does not count.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: std::collections::BTreeMap<_, _> =
                m.iter().map(|(k, x)| (k.clone(), canonical(x))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Compares two exports and names the first difference (not the whole files).
fn assert_same_lines(a: &[String], b: &[String]) {
    assert_eq!(a.len(), b.len(), "different numbers of entries");
    for (x, y) in a.iter().zip(b) {
        if x != y {
            let at = x
                .bytes()
                .zip(y.bytes())
                .position(|(p, q)| p != q)
                .unwrap_or(0);
            let from = at.saturating_sub(120);
            panic!(
                "entries differ at byte {at}:\n  {}\n  {}",
                &x[from..(at + 80).min(x.len())],
                &y[from..(at + 80).min(y.len())]
            );
        }
    }
}

#[test]
fn export_import_and_an_interrupted_import_resumes_without_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let data_a = tmp.path().join("a");
    let data_b = tmp.path().join("b");
    let ta = create_tokens(&data_a, &["admin"]);
    let tb = create_tokens(&data_b, &["admin"]);
    // Without pictures: an export carries asset ids, not files, and B has no assets.
    let a = TestApp::builder().data(&data_a).demo().no_media().start();
    let b = TestApp::builder().data(&data_b).start();

    // Everything of server A goes into the empty server B and comes out the same.
    let file = tmp.path().join("alles.ndjson");
    let lines_a = export_lines(&config, &a, &ta["admin"], &file);
    let demo_entries: usize = demo::PUBLIC_TYPES
        .iter()
        .chain(["subscriber"].iter())
        .map(|t| demo::entries(t).len())
        .sum();
    assert_eq!(lines_a.len(), demo_entries, "{}", lines_a.len());
    let f = file.display().to_string();
    let out = ok(&cli(&config, &b, &tb["admin"], &["import", &f]));
    assert!(
        out.contains(&format!(
            "done: {} entries imported, 0 lines rejected",
            lines_a.len()
        )),
        "{out}"
    );
    let lines_b = export_lines(&config, &b, &tb["admin"], &tmp.path().join("b.ndjson"));
    assert_same_lines(&lines_a, &lines_b);
    // Published entries are public on B too.
    let (status, body) = b.get_json("/api/v1/content/story?limit=100");
    assert_eq!(status, 200);
    assert_eq!(
        body["data"].as_array().unwrap().len(),
        a.get_json("/api/v1/content/story?limit=100").1["data"]
            .as_array()
            .unwrap()
            .len()
    );

    // A big import killed half-way resumes where it stopped: every line exactly once.
    let big = tmp.path().join("viele.ndjson");
    let mut text_lines = String::new();
    for n in 0..3000 {
        let mut s = story(n);
        s["slug"] = format!("massenimport-{n}").into();
        text_lines.push_str(&s.to_string());
        text_lines.push('\n');
    }
    text_lines.push_str("{\"title\": \"ohne alles\"}\n");
    std::fs::write(&big, text_lines).unwrap();
    let bg = big.display().to_string();
    let mut child = Command::new(verbund_bin())
        .args(["import", &bg, "--type", "story", "--batch", "50"])
        .env("VERBUND_CONFIG_DIR", &config)
        .env("VERBUND_URL", &b.url)
        .env("VERBUND_TOKEN", &tb["admin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut progressed = 0;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.starts_with("line ") {
            progressed += 1;
            if progressed == 10 {
                child.kill().unwrap();
                break;
            }
        }
    }
    let _ = child.wait();
    assert_eq!(progressed, 10, "the import printed its progress");
    let count = |s: &TestApp| -> usize {
        let all = json_of(&cli(
            &config,
            s,
            &tb["admin"],
            &["entry", "list", "story", "--limit", "100000", "--json"],
        ));
        all.as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["slug"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("massenimport-")
            })
            .count()
    };
    let before = count(&b);
    assert!(
        (500..3000).contains(&before),
        "{before} imported before the kill"
    );
    let out = cli(
        &config,
        &b,
        &tb["admin"],
        &["import", &bg, "--type", "story", "--batch", "50"],
    );
    assert_eq!(
        out.status.code(),
        Some(5),
        "the one broken line is a validation failure"
    );
    assert!(
        text(&out.stderr).contains("Resuming the import"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("line 3001: /kind"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("done: 3000 entries imported, 1 lines rejected"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(count(&b), 3000, "every line imported exactly once");
}

#[test]
fn an_online_backup_restores_to_identical_content_and_a_damaged_one_is_refused() {
    if verbund_tests::sled_only("restore writes a data dir, and the test serves it") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let data = tmp.path().join("data");
    let tokens = create_tokens(&data, &["admin", "editor"]);
    let server = TestApp::builder().data(&data).demo().start();
    let admin = &tokens["admin"];

    // The backup is taken while the server runs and writes go on.
    let backup = tmp.path().join("sicherung.backup");
    let bk = backup.display().to_string();
    let out = cli(
        &config,
        &server,
        &tokens["editor"],
        &["backup", "--out", &bk],
    );
    assert_eq!(out.status.code(), Some(1), "only admins back up");
    assert!(text(&out.stderr).contains("admin"), "{}", text(&out.stderr));
    let out = ok(&cli(&config, &server, admin, &["backup", "--out", &bk]));
    assert!(out.contains("backup written to"), "{out}");
    let before = export_lines(&config, &server, admin, &tmp.path().join("vorher.ndjson"));
    let changes_before = server.get_json("/api/v1/changes?limit=1000").1["data"]
        .as_array()
        .unwrap()
        .len();
    let server_data = server.data.clone();
    server.stop();

    // A data dir in use cannot be backed up offline; the message points to the online way.
    // Restore into a new dir and serve it: same entries, same change feed, tokens still work.
    let restored = tmp.path().join("restored");
    let r = restored.display().to_string();
    // Without the installation's key file a new dir cannot be restored into: the backup is
    // authenticated with it, and it is never part of the backup.
    let out = Command::new(verbund_bin())
        .args(["restore", &bk, "--data", &r])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--keys"),
        "{}",
        text(&out.stderr)
    );
    assert!(!restored.exists());
    let key_file = server_data.join("verbund.key").display().to_string();
    let out = Command::new(verbund_bin())
        .args(["restore", &bk, "--data", &r, "--keys", &key_file])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = TestApp::builder().data(&restored).start();
    let after = export_lines(&config, &again, admin, &tmp.path().join("nachher.ndjson"));
    assert_same_lines(&before, &after);
    let changes_after = again.get_json("/api/v1/changes?limit=1000").1["data"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(changes_before, changes_after);
    again.stop();
    let out = Command::new(verbund_bin())
        .args(["audit", "verify", "--json", "--data", &r])
        .output()
        .unwrap();
    let audit: Value = serde_json::from_slice(&out.stdout).expect("audit verify --json");
    assert_eq!(audit["intact"], true, "the audit chain survives: {audit}");
    assert!(audit["records"].as_u64().unwrap() >= 2, "{audit}");

    // A damaged backup is refused before anything is touched.
    let mut bytes = std::fs::read(&backup).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
    let damaged = tmp.path().join("kaputt.backup");
    std::fs::write(&damaged, &bytes).unwrap();
    let d = damaged.display().to_string();
    let out = Command::new(verbund_bin())
        .args(["restore", &d, "--data", &r, "--force"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("nothing was changed"), "{err}");
    // A cut-off copy too.
    std::fs::write(&damaged, &std::fs::read(&backup).unwrap()[..mid]).unwrap();
    let out = Command::new(verbund_bin())
        .args([
            "restore",
            &d,
            "--data",
            &tmp.path().join("neu").display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("incomplete") || text(&out.stderr).contains("damaged"));
    assert!(!tmp.path().join("neu").exists());
    let again = TestApp::builder().data(&restored).start();
    assert_eq!(
        export_lines(&config, &again, admin, &tmp.path().join("zuletzt.ndjson")),
        before
    );
}

#[test]
fn init_sets_up_a_directory_that_serves_and_accepts_its_first_token() {
    if verbund_tests::sled_only("init sets up a data dir") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("verbund");
    let out = Command::new(verbund_bin())
        .arg("init")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let toml = std::fs::read_to_string(dir.join("verbund.toml")).unwrap();
    let default = Command::new(verbund_bin())
        .args(["config", "default"])
        .output()
        .unwrap();
    assert_eq!(
        text(&default.stdout),
        toml,
        "init writes the default config"
    );
    assert!(toml.contains("# The address the HTTP server listens on"));
    let token = stdout
        .split_whitespace()
        .find(|w| w.starts_with("vb_"))
        .expect("init prints the first token")
        .to_string();

    // The config file is read: a wrong setting in it is named.
    std::fs::write(dir.join("broken.toml"), "listen = 8080\n").unwrap();
    let out = Command::new(verbund_bin())
        .args(["serve", "--config"])
        .arg(dir.join("broken.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("listen"),
        "{}",
        text(&out.stderr)
    );

    let server = TestApp::builder().data(&dir.join("verbund-data")).start();
    let config = tmp.path().join("config");
    let out = Command::new(verbund_bin())
        .args(["login", "--url", &server.url, "--token", &token])
        .env("VERBUND_CONFIG_DIR", &config)
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).contains("as admin"),
        "{}",
        text(&out.stderr)
    );

    let out = Command::new(verbund_bin())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    let script = text(&out.stdout);
    assert!(
        script.contains("complete") && script.contains("verbund"),
        "{script}"
    );
    assert!(script.contains("backup") && script.contains("restore"));
}
