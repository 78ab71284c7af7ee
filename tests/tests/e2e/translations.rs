//! Translations end to end: `entry translate` through a scripted `$EDITOR`, linked fields taken
//! from the original (and carried to a live translation when the original publishes), exactly
//! the changed fields marked outdated, locale fallback in delivery, per-locale publishing,
//! four-eyes review of a translation with the real review plugin, and GDPR erasure reaching
//! the personal data a translation holds.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use verbund_tests::{Api, TestApp, ok, run_cli};

/// Writes an executable shell script (a scripted `$EDITOR`).
fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\nset -e\n{body}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn cli(config: &Path, server: &TestApp, token: &str, args: &[&str], editor: &Path) -> Output {
    run_cli(
        config,
        &server.url,
        token,
        args,
        &[("EDITOR", editor.to_str().unwrap())],
    )
}

/// The management view of an entry.
fn managed(api: &Api, token: &str, ty: &str, id: &str) -> Value {
    api.get(&format!("/api/v1/manage/{ty}/{id}"), Some(token))
        .expect(200)
        .body["data"]
        .clone()
}

/// Replaces the fields of `entry` (as the management API gave it) with `fields`, at its version.
#[track_caller]
fn replace(api: &Api, token: &str, ty: &str, entry: &Value, fields: &Value) {
    api.json(
        reqwest::Method::PUT,
        &format!("/api/v1/manage/{ty}/{}", entry["id"].as_str().unwrap()),
        Some(token),
        &[("if-match", &format!("\"{}\"", entry["version"]))],
        fields,
    )
    .expect(200);
}

fn outdated(entry: &Value) -> Vec<String> {
    entry["translation"]["outdated"]
        .as_array()
        .unwrap_or_else(|| panic!("no translation status: {entry}"))
        .iter()
        .map(|o| o["field"].as_str().unwrap().to_string())
        .collect()
}

const EVENT: &str = "online-sprechstunde-ki-verordnung";

#[test]
fn an_editor_translates_in_the_editor_and_sees_exactly_the_changed_fields_outdated() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let server = TestApp::builder().demo().no_plugins().start();
    let editor = server.issue_token("editor");
    let api = Api::of(&server);
    let original = managed(&api, &editor, "event", EVENT);
    let original_id = original["id"].as_str().unwrap().to_string();

    // 1. The file shows the original's text beside each translatable field, and nothing else:
    //    the script keeps a copy, writes English text and saves.
    let seen = tmp.path().join("seen.md");
    let ed = tmp.path().join("translate.sh");
    script(
        &ed,
        &format!(
            r#"cp "$1" "{seen}"
python3 - "$1" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = re.sub(r"(?m)^title: .*$", "title: 'Online consultation: the AI Act for SMEs'", s)
s = re.sub(r"(?m)^slug: .*$", "slug: online-consultation-ai-act", s)
s = re.sub(r"(?m)^summary: .*$", "summary: An hour of questions and answers on the AI Act.", s)
head, _ = s.split("\n---\n", 1)
open(p, "w").write(head + "\n---\n\nWhat the AI Act means for small and medium-sized companies.\n")
PY"#,
            seen = seen.display()
        ),
    );
    let out = ok(&cli(
        &config,
        &server,
        &editor,
        &["entry", "translate", "event", EVENT, "--to", "en", "--json"],
        &ed,
    ));
    let created: Value = serde_json::from_str(&out).expect("--json prints the translation");
    let tid = created["id"].as_str().unwrap().to_string();
    let file = std::fs::read_to_string(&seen).unwrap();
    assert!(
        file.contains(&format!(
            "# de:\n#   {}\ntitle:",
            original["title"].as_str().unwrap()
        )),
        "the original's title is a comment above the title:\n{file}"
    );
    for linked in ["starts_at:", "organisers:", "topics:", "timezone:"] {
        assert!(
            !file.contains(&format!("\n{linked}")),
            "{linked} is taken from the original, not translated:\n{file}"
        );
    }

    // 2. The translation inherits every field that is not translatable; it is named by its
    //    own slug too.
    let t = managed(&api, &editor, "event", "online-consultation-ai-act");
    assert_eq!(t["id"], tid.as_str());
    assert_eq!(t["locale"], "en");
    assert_eq!(t["state"], "draft");
    assert_eq!(t["translation_of"], original_id.as_str());
    assert_eq!(t["title"], "Online consultation: the AI Act for SMEs");
    for f in [
        "starts_at",
        "ends_at",
        "timezone",
        "format",
        "topics",
        "organisers",
        "online_url",
    ] {
        assert_eq!(t[f], original[f], "{f} is the original's");
    }
    assert_eq!(outdated(&t), Vec::<String>::new());

    // 3. The original's summary and start change: exactly the summary is outdated (a linked
    //    field is never "outdated", it follows the original).
    let mut fields = original.clone();
    fields["summary"] =
        "Eine Stunde Fragen und Antworten zur KI-Verordnung, jetzt mit Gast.".into();
    fields["starts_at"] = "2027-02-03T15:00:00+01:00".into();
    fields["ends_at"] = "2027-02-03T16:00:00+01:00".into();
    replace(&api, &editor, "event", &original, &fields);
    let t = managed(&api, &editor, "event", &tid);
    assert_eq!(outdated(&t), vec!["summary".to_string()]);
    assert_eq!(
        t["translation"]["outdated"][0]["translated_from"],
        original["version"]
    );
    let listed = ok(&cli(
        &config,
        &server,
        &editor,
        &["entry", "list", "event", "--outdated"],
        &ed,
    ));
    assert!(
        listed.contains(&tid) && listed.contains("[outdated: summary]"),
        "{listed}"
    );
    assert!(!listed.contains(&original_id), "{listed}");

    // 4. The original's edit is published: the translation takes the new start.
    api.transition(&editor, "event", &original_id, "published");
    let t = managed(&api, &editor, "event", &tid);
    assert_eq!(t["starts_at"], "2027-02-03T15:00:00+01:00");
    assert_eq!(t["title"], "Online consultation: the AI Act for SMEs");

    // 5. Translating again shows the outdated field; writing it clears the mark.
    let seen2 = tmp.path().join("seen2.md");
    let ed2 = tmp.path().join("retranslate.sh");
    script(
        &ed2,
        &format!(
            r#"cp "$1" "{seen}"
sed -i 's/^summary: .*/summary: An hour of questions and answers on the AI Act, now with a guest./' "$1""#,
            seen = seen2.display()
        ),
    );
    ok(&cli(
        &config,
        &server,
        &editor,
        &["entry", "translate", "event", EVENT, "--to", "en"],
        &ed2,
    ));
    let file = std::fs::read_to_string(&seen2).unwrap();
    assert!(
        file.contains("# ⚠ outdated: the original changed since version")
            && file.contains("\ntranslation_current: []\n")
            && file.contains("Eine Stunde Fragen und Antworten zur KI-Verordnung, jetzt mit Gast."),
        "{file}"
    );
    let t = managed(&api, &editor, "event", &tid);
    assert_eq!(outdated(&t), Vec::<String>::new());
    let listed = ok(&cli(
        &config,
        &server,
        &editor,
        &["entry", "list", "event", "--outdated"],
        &ed,
    ));
    assert!(listed.contains("no outdated event entries"), "{listed}");
    assert_eq!(
        server.content.check_integrity().unwrap(),
        Vec::<String>::new()
    );

    // A malformed target locale is refused before the editor opens.
    let wrong = cli(
        &config,
        &server,
        &editor,
        &["entry", "translate", "event", EVENT, "--to", "EN"],
        &ed,
    );
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("is not a locale like en"));

    // 6. One translation per locale.
    let again = api.post(
        "/api/v1/manage/event",
        Some(&editor),
        &json!({"locale": "en", "translation_of": original_id, "title": "Zweite", "slug": "zweite", "summary": "x"}),
    );
    assert_eq!(again.status, 422, "{}", again.text);
    assert!(
        again.text.contains("has a translation in en already"),
        "{}",
        again.text
    );
}

#[test]
fn translations_are_published_on_their_own_and_delivery_falls_back() {
    let server = TestApp::builder().demo().no_plugins().start();
    let editor = server.issue_token("editor");
    let api = Api::of(&server);
    let de_slug = "retrofit-giesserei-erzgebirge";
    let en_slug = "retrofit-foundry-ore-mountains";

    // The German story names its published English translation, with the website path.
    let de = api
        .get(&format!("/api/v1/content/story/{de_slug}"), None)
        .expect(200)
        .body["data"]
        .clone();
    assert_eq!(
        de["translations"],
        json!([{"id": de["translations"][0]["id"], "locale": "en", "slug": en_slug, "path": format!("/en/geschichten/{en_slug}")}])
    );
    let en_id = de["translations"][0]["id"].as_str().unwrap().to_string();
    let de_id = de["id"].as_str().unwrap().to_string();

    // locale=en: any language version's slug answers with the English one.
    let en = api
        .get(&format!("/api/v1/content/story/{de_slug}?locale=en"), None)
        .expect(200);
    assert_eq!(en.body["data"]["id"], en_id.as_str());
    assert_eq!(en.body["data"]["translations"][0]["locale"], "de");

    // Referenced entries come in the same language where they have a translation.
    let with_members = api
        .get(
            &format!("/api/v1/content/story/{en_slug}?locale=en&fallback=de&include=members"),
            None,
        )
        .expect(200);
    let mut locales: Vec<(String, String)> = with_members.body["included"]["member"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["slug"].as_str().unwrap().to_string(),
                m["locale"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    locales.sort();
    assert_eq!(
        locales,
        vec![
            ("elbwerk-software".to_string(), "en".to_string()),
            (
                "institut-vernetzte-produktion-chemnitz".to_string(),
                "de".to_string()
            ),
        ]
    );

    // Without a translation: 404 in en, the German version with fallback=de.
    let untranslated = "fuenf-regeln-onlineantraege";
    let missing = api
        .get(
            &format!("/api/v1/content/story/{untranslated}?locale=en"),
            None,
        )
        .expect_problem(404, "not_found");
    assert!(
        missing.detail().contains("only in de; add fallback=de"),
        "{}",
        missing.text
    );
    let fb = api
        .get(
            &format!("/api/v1/content/story/{untranslated}?locale=en&fallback=de"),
            None,
        )
        .expect(200);
    assert_eq!(fb.body["data"]["locale"], "de");
    api.get("/api/v1/content/story?locale=en&fallback=d-e", None)
        .expect_problem(400, "invalid_parameter");

    // The English list with fallback: every story once, in its English version where there
    // is one, paged without loss or repetition.
    let de_published = verbund_tests::demo::published("story", "de").len();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/content/story?locale=en&fallback=de&limit=3&cursor={c}"),
            None => "/api/v1/content/story?locale=en&fallback=de&limit=3".to_string(),
        };
        let page = api.get(&path, None).expect(200);
        assert_eq!(
            page.body["meta"]["total"], de_published as u64,
            "{}",
            page.text
        );
        seen.extend(page.data().iter().map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["locale"].as_str().unwrap().to_string(),
            )
        }));
        match page.body["meta"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), de_published, "{seen:?}");
    assert!(seen.contains(&(en_id.clone(), "en".into())));
    assert!(
        !seen.iter().any(|(id, _)| *id == de_id),
        "the German original is replaced"
    );
    let mut ids: Vec<&String> = seen.iter().map(|(id, _)| id).collect();
    ids.dedup();
    assert_eq!(ids.len(), seen.len());

    // Per-locale publishing: the English translation goes offline alone.
    api.transition(&editor, "story", &en_id, "draft");
    api.get(&format!("/api/v1/content/story/{en_slug}?locale=en"), None)
        .expect_problem(404, "not_found");
    let de = api
        .get(&format!("/api/v1/content/story/{de_slug}"), None)
        .expect(200);
    assert!(
        de.body["data"].get("translations").is_none(),
        "an offline translation is not named: {}",
        de.text
    );
    // An old link to the English version falls back to the German one.
    let fb = api
        .get(
            &format!("/api/v1/content/story/{en_slug}?locale=en&fallback=de"),
            None,
        )
        .expect(200);
    assert_eq!(fb.body["data"]["id"], de_id.as_str());
    let fb = api
        .get(
            &format!("/api/v1/content/story/{de_slug}?locale=en&fallback=de"),
            None,
        )
        .expect(200);
    assert_eq!(fb.body["data"]["id"], de_id.as_str());
    api.transition(&editor, "story", &en_id, "published");

    // The original publishes a change of a linked field: the live translation follows in a new
    // version (its text unchanged), and is marked outdated where the original's text changed.
    let original = managed(&api, &editor, "story", &de_id);
    let mut fields = original.clone();
    fields["topics"] = json!(["industrie-4-0", "kuenstliche-intelligenz"]);
    fields["teaser"] = "Ein neuer Vorspann.".into();
    replace(&api, &editor, "story", &original, &fields);
    let before = api
        .get(&format!("/api/v1/content/story/{en_slug}?locale=en"), None)
        .expect(200);
    assert_ne!(
        before.body["data"]["topics"],
        json!(["industrie-4-0", "kuenstliche-intelligenz"])
    );
    assert!(
        before.body["data"].get("outdated").is_none(),
        "{}",
        before.text
    );
    api.transition(&editor, "story", &de_id, "published");
    let after = api
        .get(&format!("/api/v1/content/story/{en_slug}?locale=en"), None)
        .expect(200);
    assert_eq!(
        after.body["data"]["topics"],
        json!(["industrie-4-0", "kuenstliche-intelligenz"])
    );
    assert_eq!(after.body["data"]["outdated"], json!(["teaser"]));
    assert_eq!(
        after.body["data"]["title"], before.body["data"]["title"],
        "the translated text stays"
    );
    let filtered = api
        .get(
            "/api/v1/content/story?locale=en&filter[topics]=kuenstliche-intelligenz",
            None,
        )
        .expect(200);
    assert!(filtered.ids().contains(&en_id), "{}", filtered.text);

    // With a filter and a fallback: each story once, and the total says so.
    for topic in ["industrie-4-0", "kuenstliche-intelligenz", "cloud"] {
        let page = api
            .get(
                &format!(
                    "/api/v1/content/story?locale=en&fallback=de&filter[topics]={topic}&limit=100"
                ),
                None,
            )
            .expect(200);
        let ids = page.ids();
        assert_eq!(
            page.body["meta"]["total"],
            ids.len() as u64,
            "{topic}: {}",
            page.text
        );
        assert!(!(ids.contains(&en_id) && ids.contains(&de_id)), "{topic}");
    }
    // The derived data (groups, public JSON naming translations, counters) is consistent.
    assert_eq!(
        server.content.check_integrity().unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn a_translation_goes_through_the_same_four_eyes_review() {
    let server = TestApp::builder()
        .demo()
        .plugins_dir(&verbund_tests::plugins_dir_with("review-approval"))
        .start();
    let api = Api::of(&server);
    let editor = server.issue_token("editor");
    let admin = server.issue_token("admin");
    let reviewer = server.issue_token("reviewer");
    let reviewer2 = server.issue_token("reviewer");
    let original = managed(&api, &editor, "story", "fuenf-regeln-onlineantraege");
    let mut fields = json!({"locale": "en", "translation_of": original["id"],
        "slug": "five-rules-for-online-applications",
        "title": "Five rules for online applications that people actually use",
        "teaser": "Many public services are online by now, yet hardly used.",
        "body": "Putting a form online is quick. Whether people fill it in depends on details."});
    let t = api.create(&editor, "story", &fields);
    let tid = t["id"].as_str().unwrap().to_string();
    assert_eq!(t["topics"], original["topics"]);
    let step = |token: &str, body: Value| {
        api.post(
            &format!("/api/v1/manage/story/{tid}/transitions"),
            Some(token),
            &body,
        )
    };
    step(&editor, json!({"to": "published"})).expect_problem(409, "invalid_transition");
    step(&editor, json!({"transition": "submit"})).expect(200);
    // The admin polishes the text; whoever edited it may not approve it.
    fields["teaser"] = "Many public services are online by now – and yet hardly used.".into();
    api.json(
        reqwest::Method::PUT,
        &format!("/api/v1/manage/story/{tid}"),
        Some(&admin),
        &[("if-match", "\"1\"")],
        &fields,
    )
    .expect(200);
    let refused =
        step(&admin, json!({"transition": "approve"})).expect_problem(409, "transition_denied");
    assert_eq!(refused.body["plugin"], "review-approval");
    let en = "/api/v1/content/story/five-rules-for-online-applications?locale=en";
    api.get(en, None).expect_problem(404, "not_found");
    // As many approvals as the plugin asks for, each by another reviewer.
    for r in [&reviewer, &reviewer2] {
        let res = step(r, json!({"transition": "approve"})).expect(200);
        if res.body["data"]["state"] == "approved" {
            break;
        }
    }
    api.get(en, None).expect_problem(404, "not_found");
    step(&reviewer, json!({"transition": "publish"})).expect(200);
    let live = api.get(en, None).expect(200);
    assert_eq!(live.body["data"]["locale"], "en");
    assert_eq!(
        live.body["data"]["teaser"],
        "Many public services are online by now – and yet hardly used."
    );
}

#[test]
fn erasing_a_person_reaches_the_translations_that_hold_their_data() {
    let server = TestApp::builder().demo().no_plugins().start();
    let api = Api::of(&server);
    let admin = server.issue_token("admin");
    let original = managed(&api, &admin, "member", "boerde-it-beratung");
    let de_id = original["id"].as_str().unwrap().to_string();
    let mut fields = original.clone();
    fields["contact_name"] = "Frieda Beispiel".into();
    fields["contact_email"] = "frieda.beispiel@example.org".into();
    replace(&api, &admin, "member", &original, &fields);
    api.transition(&admin, "member", &de_id, "published");
    let t = api.create(
        &admin,
        "member",
        &json!({"locale": "en", "translation_of": de_id, "slug": "boerde-it-consulting",
                "description": "IT consulting for companies in the Börde."}),
    );
    let tid = t["id"].as_str().unwrap().to_string();
    assert_eq!(
        t["contact_email"], "frieda.beispiel@example.org",
        "a personal field is linked like every other untranslated field"
    );
    api.transition(&admin, "member", &tid, "published");
    let public = api
        .get(
            "/api/v1/content/member/boerde-it-consulting?locale=en",
            None,
        )
        .expect(200);
    assert!(!public.text.contains("Frieda"), "{}", public.text);

    let erased = api
        .post(
            "/api/v1/admin/gdpr/erase",
            Some(&admin),
            &json!({"email": "frieda.beispiel@example.org"}),
        )
        .expect(200);
    assert!(
        erased.body["data"]["erasure"]["entries_cleaned"]
            .as_u64()
            .unwrap()
            >= 2,
        "{}",
        erased.text
    );
    for id in [&de_id, &tid] {
        let revs = api
            .get(
                &format!("/api/v1/manage/member/{id}/revisions"),
                Some(&admin),
            )
            .expect(200);
        assert!(
            !revs.text.contains("frieda.beispiel") && !revs.text.contains("Frieda Beispiel"),
            "no version of {id} holds her data: {}",
            revs.text
        );
    }
    let export = api
        .post(
            "/api/v1/admin/gdpr/export",
            Some(&admin),
            &json!({"email": "frieda.beispiel@example.org"}),
        )
        .expect(200);
    assert!(!export.text.contains(&tid), "{}", export.text);
}
