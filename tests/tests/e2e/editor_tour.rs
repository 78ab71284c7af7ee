//! The editor's day (issue 24), through the real CLI against a real server: which version is
//! public, every error at once in the editor's words, references by slug, re-imports, older
//! versions and reverts, named people in history, queue and mail, tokens listed and revoked,
//! times with their offset, private drafts, and the README's editor tour run command by command.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use verbund_core::auth::{Person, Role};
use verbund_tests::{Api, TestApp, ok, run_cli, verbund_bin};

/// A never-expiring token of `role` for a named person.
fn person_token(app: &TestApp, role: &str, name: &str, email: &str) -> String {
    app.content
        .auth()
        .create_token_for(
            Role::parse(role).expect("a role"),
            None,
            None,
            Person {
                name: Some(name.into()),
                email: Some(email.into()),
            },
            None,
        )
        .expect("create token")
        .token
}

fn cli(config: &Path, app: &TestApp, token: &str, args: &[&str]) -> Output {
    run_cli(config, &app.url, token, args, &[])
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn fails(out: &Output, code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit {code}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
    stderr(out)
}

/// Writes an executable script (a scripted `$EDITOR`).
fn script(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// After an edit of a published member the website still shows version 1: `entry show` and
/// `entry list` say so, its output goes back through `entry edit --file`, an older version is
/// shown and reverted to, and publishing makes the current version the public one.
#[test]
fn which_version_is_public_is_said_plainly_and_older_versions_come_back() {
    let app = TestApp::builder().demo().tokens(&["admin"]).start();
    let editor = person_token(&app, "editor", "Erik Editor", "erik@example.org");
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let run = |args: &[&str]| cli(&config, &app, &editor, args);
    let slug = "saalebyte-systemhaus";

    let shown = ok(&run(&["entry", "show", "member", slug]));
    assert!(shown.starts_with("---\n# member "), "{shown}");
    assert!(
        shown.contains("public: version 1 is what the website shows"),
        "{shown}"
    );
    // The output, changed, goes straight back (it used to have header lines before `---`).
    let file = tmp.path().join("firma.md");
    std::fs::write(
        &file,
        shown.replace("city: Halle (Saale)", "city: Halle an der Saale"),
    )
    .unwrap();
    let saved = ok(&run(&[
        "entry",
        "edit",
        "member",
        slug,
        "--file",
        file.to_str().unwrap(),
    ]));
    assert!(
        saved.contains("version 2 is a working copy"),
        "the save says the change is not public yet: {saved}"
    );
    let (_, public) = app.get_json(&format!("/api/v1/content/member/{slug}"));
    assert_eq!(public["data"]["city"], "Halle (Saale)");
    let shown = ok(&run(&["entry", "show", "member", slug]));
    assert!(
        shown.contains("public: version 1 is what the website shows; version 2 is a working copy"),
        "{shown}"
    );
    let list = ok(&run(&["entry", "list", "member", "--limit", "100"]));
    let row = list
        .lines()
        .find(|l| l.contains(slug))
        .expect("a row with the slug");
    assert!(row.contains("1 (2 pending)"), "{list}");
    assert!(list.lines().next().unwrap().contains("SLUG"), "{list}");

    // The older version, and back to it as a new version.
    let v1 = ok(&run(&["entry", "show", "member", slug, "--version", "1"]));
    assert!(
        v1.contains("city: Halle (Saale)") && v1.contains("an older version"),
        "{v1}"
    );
    let err = fails(
        &run(&["entry", "show", "member", slug, "--version", "9"]),
        3,
    );
    assert!(err.contains("versions 1 to 2"), "{err}");
    let reverted = ok(&run(&["entry", "revert", "member", slug, "--to", "1"]));
    assert!(reverted.contains("version 3"), "{reverted}");
    let now = ok(&run(&["entry", "show", "member", slug, "--json"]));
    let now: Value = serde_json::from_str(&now).unwrap();
    assert_eq!(now["city"], "Halle (Saale)");
    assert_eq!(now["version"], 3);

    // Published, the current version is the public one; the history names the person.
    ok(&run(&["entry", "publish", "member", slug]));
    let shown = ok(&run(&["entry", "show", "member", slug]));
    assert!(
        shown.contains("public: version 3 is what the website shows"),
        "{shown}"
    );
    let history = ok(&run(&["entry", "history", "member", slug]));
    assert!(
        history.contains("Erik Editor <erik@example.org>"),
        "{history}"
    );

    // A translation by its locale; a locale without one says how to make it.
    let en = ok(&run(&["entry", "show", "member", slug, "--locale", "en"]));
    assert!(
        en.contains("locale en") && en.contains("translation of"),
        "{en}"
    );
    let err = fails(
        &run(&["entry", "show", "member", slug, "--locale", "fr"]),
        3,
    );
    assert!(err.contains("entry translate member"), "{err}");
}

/// An event with several faults reports all of them at once, each in the editor's words; a
/// YAML slip names the file's line and the fix; references written as slugs are resolved.
#[test]
fn every_fault_at_once_in_the_editors_words_and_references_by_slug() {
    let (app, tokens) = TestApp::demo_with_tokens(&["editor"]);
    let editor = &tokens["editor"];
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let file = tmp.path().join("forum.md");
    let doc = |title: &str, slug: &str, ends: &str, venue: &str, organisers: &str| {
        format!(
            "---\ntitle: {title}\nslug: {slug}\nsummary: Ein Abend zur Cloud im Handwerk.\ntopics: [cloud]\nstarts_at: 2027-02-10T18:00:00+01:00\nends_at: {ends}\ntimezone: Europe/Berlin\nformat: on_site\nvenue: {venue}\norganisers: {organisers}\n---\n\nEin Abend für Handwerksbetriebe.\n"
        )
    };
    let new = |config: &Path| {
        cli(
            config,
            &app,
            editor,
            &["entry", "new", "event", "--file", file.to_str().unwrap()],
        )
    };
    // An unquoted colon: the line of the file (not of the front matter) and how to quote it.
    std::fs::write(
        &file,
        doc(
            "Fachforum: Cloud im Handwerk",
            "fachforum-cloud",
            "2027-02-10T21:00:00+01:00",
            "{name: Kontor, city: Leipzig}",
            "[saalebyte-systemhaus]",
        ),
    )
    .unwrap();
    let err = fails(&new(&config), 1);
    assert!(err.contains("in line 2,"), "{err}");
    assert!(
        err.contains(r#"title: "Fachforum: Cloud im Handwerk""#),
        "the fix is shown: {err}"
    );

    // Four faults: a rule, a slug taken, a member that does not exist, an object as text.
    std::fs::write(
        &file,
        doc(
            "\"Fachforum: Cloud im Handwerk\"",
            "mitgliederversammlung-herbst-2026",
            "2027-02-10T17:00:00+01:00",
            "Leipzig",
            "[saalebyte-systemhaus, gibt-es-nicht]",
        ),
    )
    .unwrap();
    let err = fails(&new(&config), 5);
    assert!(err.contains("/ends_at: must be after starts_at"), "{err}");
    assert!(
        err.contains("/slug: \"mitgliederversammlung-herbst-2026\" is already used"),
        "{err}"
    );
    assert!(
        err.contains("/organisers/1: expects the id or slug of a member; no member has the slug \"gibt-es-nicht\""),
        "{err}"
    );
    assert!(!err.contains("pattern"), "no regular expressions: {err}");
    assert!(err.contains("/venue: must be of type"), "{err}");
    assert!(
        err.contains("name (required)") && err.contains("city (required)"),
        "{err}"
    );

    // Fixed: the slug of the member is stored as its id.
    std::fs::write(
        &file,
        doc(
            "\"Fachforum: Cloud im Handwerk\"",
            "fachforum-cloud",
            "2027-02-10T21:00:00+01:00",
            "{name: Kontor Nord, city: Leipzig}",
            "[saalebyte-systemhaus]",
        ),
    )
    .unwrap();
    let out = ok(&cli(
        &config,
        &app,
        editor,
        &[
            "entry",
            "new",
            "event",
            "--file",
            file.to_str().unwrap(),
            "--json",
        ],
    ));
    let created: Value = serde_json::from_str(&out).unwrap();
    let (_, member) = app.get_json("/api/v1/content/member/saalebyte-systemhaus");
    assert_eq!(created["organisers"][0], member["data"]["id"]);

    // A filter value the field can never hold is an error that lists the values.
    let err = fails(
        &cli(
            &config,
            &app,
            editor,
            &["entry", "list", "story", "--filter", "kind=quatsch"],
        ),
        2,
    );
    assert!(err.contains("use one of: success_story"), "{err}");
}

/// Importing a corrected file again: lines already stored are unchanged (not rejected), a
/// changed one is named with its fields, and --update updates it by slug.
#[test]
fn a_second_import_reports_unchanged_lines_and_update_updates_by_slug() {
    let (app, tokens) = TestApp::demo_with_tokens(&["admin"]);
    let admin = &tokens["admin"];
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let all = tmp.path().join("alle.ndjson");
    ok(&cli(
        &config,
        &app,
        admin,
        &["export", "--type", "member", "--out", all.to_str().unwrap()],
    ));
    // Three lines without ids (as someone writes them by hand), one with a new city.
    let lines: Vec<String> = std::fs::read_to_string(&all)
        .unwrap()
        .lines()
        .take(3)
        .enumerate()
        .map(|(i, l)| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("id");
            if i == 1 {
                o.insert("city".into(), "Dresden-Neustadt".into());
            }
            v.to_string()
        })
        .collect();
    let changed_slug: String = serde_json::from_str::<Value>(&lines[1]).unwrap()["slug"]
        .as_str()
        .unwrap()
        .into();
    let file = tmp.path().join("mitglieder.ndjson");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let args = ["import", file.to_str().unwrap(), "--type", "member"];
    let out = cli(&config, &app, admin, &args);
    let err = fails(&out, 5);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("0 entries imported, 2 unchanged, 1 lines rejected"),
        "{stdout}"
    );
    assert!(
        err.contains(&format!(
            "member {changed_slug} exists already with other values in city"
        )) && err.contains("--update"),
        "{err}"
    );
    let out = ok(&cli(
        &config,
        &app,
        admin,
        &[&args[..], &["--update"]].concat(),
    ));
    assert!(
        out.contains("1 updated, 2 unchanged, 0 lines rejected"),
        "{out}"
    );
    let e = Api::of(&app)
        .get(
            &format!("/api/v1/manage/member/{changed_slug}"),
            Some(admin),
        )
        .expect(200);
    assert_eq!(e.body["data"]["city"], "Dresden-Neustadt");
}

/// Tokens belong to people: the review queue shows who submitted with which comment, how long
/// it waits and for whom; the reviewer gets a mail; admins list and revoke tokens.
#[test]
fn people_by_name_in_queue_mail_and_token_list_and_revoked_tokens_stop() {
    let app = TestApp::builder()
        .demo()
        .demo_plugins()
        .tokens(&["admin"])
        .start();
    let admin = app.tokens["admin"].clone();
    let editor = person_token(&app, "editor", "Erik Editor", "erik@example.org");
    let reviewer = person_token(&app, "reviewer", "Rita Review", "rita.review@example.org");
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let run = |args: &[&str]| cli(&config, &app, &editor, args);
    let file = tmp.path().join("neu.md");
    std::fs::write(
        &file,
        "---\nkind: news\ntitle: Neue Räume in Magdeburg\nslug: neue-raeume-magdeburg\nteaser: Der Cluster zieht um.\ntopics: [fachkraefte]\n---\n\nAb Januar in neuen Räumen.\n",
    )
    .unwrap();
    ok(&run(&[
        "entry",
        "new",
        "story",
        "--file",
        file.to_str().unwrap(),
    ]));
    let err = fails(
        &run(&["entry", "publish", "story", "neue-raeume-magdeburg"]),
        4,
    );
    assert!(!err.is_empty());
    ok(&run(&[
        "entry",
        "submit",
        "story",
        "neue-raeume-magdeburg",
        "--comment",
        "Bitte bis Freitag prüfen",
    ]));
    let queue = ok(&run_cli(
        &config,
        &app.url,
        &reviewer,
        &["entry", "queue"],
        &[("TZ", "Europe/Berlin")],
    ));
    let at = queue
        .find("neue-raeume-magdeburg")
        .expect("the story waits");
    let item = &queue[at..];
    assert!(item.contains("waiting less than a minute"), "{queue}");
    assert!(
        item.contains("+01:00)"),
        "local time with its offset: {queue}"
    );
    assert!(
        item.contains("from Erik Editor <erik@example.org>: „Bitte bis Freitag prüfen“"),
        "{queue}"
    );
    assert!(
        item.contains("for: Rita Review <rita.review@example.org>"),
        "{queue}"
    );
    let mails = app.mails_to("rita.review@example.org");
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0].contains("Zur Prüfung: „Neue Räume in Magdeburg“"),
        "{}",
        mails[0]
    );
    assert!(
        mails[0].contains("verbund entry approve story neue-raeume-magdeburg"),
        "{}",
        mails[0]
    );
    assert!(
        mails[0].contains("Bitte bis Freitag prüfen"),
        "{}",
        mails[0]
    );
    assert!(
        app.mails_to("erik@example.org").is_empty(),
        "the author is not asked"
    );

    // Tokens: listed with their people; a revoked one stops at once.
    let list = ok(&cli(&config, &app, &admin, &["token", "list"]));
    let line = list
        .lines()
        .find(|l| l.contains("Rita Review"))
        .expect("Rita's token");
    assert!(line.contains("reviewer"), "{list}");
    let id = line.split_whitespace().next().unwrap().to_string();
    let out = ok(&cli(&config, &app, &admin, &["token", "revoke", &id]));
    assert!(
        out.contains("revoked token") && out.contains("Rita Review"),
        "{out}"
    );
    let err = fails(&cli(&config, &app, &reviewer, &["entry", "queue"]), 1);
    assert!(err.contains("log in again"), "{err}");
    let all = ok(&cli(&config, &app, &admin, &["token", "list", "--all"]));
    assert!(all.contains("revoked"), "{all}");
    let err = fails(&run(&["token", "list"]), 1);
    assert!(err.contains("admin"), "{err}");
}

/// Drafts are readable by their owner only, and a new entry's template says how to write
/// the other languages.
#[test]
fn drafts_are_private_and_the_template_names_translations() {
    let (app, tokens) = TestApp::demo_with_tokens(&["editor"]);
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let seen = tmp.path().join("seen");
    let ed = tmp.path().join("editor.sh");
    // The editor notes the draft's mode, keeps a copy, and fails: the draft stays.
    script(
        &ed,
        &format!(
            "#!/bin/sh\nstat -c %a \"$1\" > \"{s}.mode\"\ncp \"$1\" \"{s}.md\"\nexit 1\n",
            s = seen.display()
        ),
    );
    let out = run_cli(
        &config,
        &app.url,
        &tokens["editor"],
        &["entry", "new", "story"],
        &[("EDITOR", ed.to_str().unwrap())],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("draft is kept"), "{}", stderr(&out));
    let mode = std::fs::read_to_string(seen.with_extension("mode")).unwrap();
    assert_eq!(mode.trim(), "600");
    let template = std::fs::read_to_string(seen.with_extension("md")).unwrap();
    assert!(
        template.contains("verbund entry translate story SLUG --to en"),
        "{template}"
    );
    assert!(template.contains("translation_of"), "{template}");
}

/// The README's editor tour, every command in order, against a demo server with the review
/// plugin: a scripted `$EDITOR` fills the template, edits and translates.
#[test]
fn the_readme_editor_tour_runs_command_by_command() {
    let app = TestApp::builder()
        .demo()
        .demo_plugins()
        .search()
        .tokens(&["admin"])
        .start();
    let admin = app.tokens["admin"].clone();
    let editor = person_token(&app, "editor", "Jonas Beck", "jonas.beck@example.org");
    let reviewer = person_token(&app, "reviewer", "Anna Wendt", "anna.wendt@example.org");
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let tour = readme
        .split("## For editors: the command line")
        .nth(1)
        .and_then(|s| s.split("```sh\n").nth(1))
        .and_then(|s| s.split("\n```").next())
        .expect("the tour's code block");
    let mut commands = 0;
    let script_text: String = tour
        .lines()
        .map(|l| {
            if l.starts_with("verbund ") {
                commands += 1;
            }
            if l.starts_with("verbund login") {
                let token = if l.contains("--profile pruefung") {
                    &reviewer
                } else if l.contains("--profile admin") {
                    &admin
                } else {
                    &editor
                };
                l.replace("https://cms.example.org", app.url.trim_end_matches('/'))
                    .replace("vb_…", token)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(commands >= 25, "{tour}");
    let tmp = tempfile::tempdir().unwrap();
    let ed = tmp.path().join("editor.py");
    script(
        &ed,
        r##"#!/usr/bin/env python3
import re, sys
p = sys.argv[1]
s = open(p).read()
if "# New " in s:
    s = "---\nkind: news\ntitle: Vorlage ausgefüllt\nslug: vorlage-ausgefuellt\nteaser: Ein Test der Vorlage.\ntopics: [fachkraefte]\n---\n\nText aus der Vorlage.\n"
elif "# de:" in s:
    s = re.sub(r"(?m)^title: .*$", "title: 'Training network starts: twelve companies train together'", s)
    s = re.sub(r"(?m)^slug: .*$", "slug: training-network-starts", s)
    s = re.sub(r"(?m)^teaser: .*$", "teaser: Twelve member companies train apprentices together.", s)
    head, _ = s.split("\n---\n", 1)
    s = head + "\n---\n\nTwelve member companies train apprentices together from autumn.\n"
else:
    s = s.rstrip("\n") + "\n\nNachtrag: Bewerbungen bis Ende März.\n"
open(p, "w").write(s)
"##,
    );
    let bin_dir = verbund_bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\nset -x\n{script_text}\n"))
        .current_dir(tmp.path())
        .env("PATH", path)
        .env("VERBUND_CONFIG_DIR", tmp.path().join("config"))
        .env("EDITOR", &ed)
        .env("NO_COLOR", "1")
        .env("TZ", "Europe/Berlin")
        .env_remove("VERBUND_URL")
        .env_remove("VERBUND_TOKEN")
        .env_remove("VISUAL")
        .output()
        .unwrap();
    let (stdout, err) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(out.status.success(), "the tour failed:\n{stdout}\n{err}");
    // What an editor would look for along the way.
    assert!(
        stdout.contains("logged in to") && stdout.contains("Jonas Beck"),
        "{stdout}"
    );
    assert!(stdout.contains("reverted to version 1"), "{stdout}");
    assert!(stdout.contains("„Bitte bis Freitag prüfen“"), "{stdout}");
    assert!(stdout.contains("is now published"), "{stdout}");
    assert!(
        stdout.contains("Anna Wendt <anna.wendt@example.org> (reviewer)"),
        "{stdout}"
    );
    assert!(stdout.contains("+01:00"), "{stdout}");
    let (_, public) = app.get_json("/api/v1/content/story/ausbildungsverbund-startet");
    assert_eq!(public["data"]["members"].as_array().map(Vec::len), Some(1));
    // The translation is a draft of its own, waiting for its review.
    let en = Api::of(&app)
        .get("/api/v1/manage/story/training-network-starts", Some(&admin))
        .expect(200);
    assert_eq!(en.body["data"]["locale"], "en");
    assert_eq!(en.body["data"]["state"], "draft");
    assert_eq!(app.mails_to("anna.wendt@example.org").len(), 1);
}

/// A server that rate-limits this client (429 with Retry-After) slows the CLI down instead of
/// failing it: every command that makes several requests waits and goes on.
#[test]
fn a_rate_limited_cli_waits_and_goes_on() {
    let app = TestApp::builder()
        .demo()
        .rate_limit(1)
        .tokens(&["editor"])
        .start();
    let editor = app.tokens["editor"].clone();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    // Each show makes two requests; the burst allows five, then one per second.
    for _ in 0..4 {
        let shown = ok(&cli(
            &config,
            &app,
            &editor,
            &["entry", "show", "member", "saalebyte-systemhaus"],
        ));
        assert!(shown.contains("name: Saalebyte Systemhaus GmbH"), "{shown}");
    }
}
