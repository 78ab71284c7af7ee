//! The newsletter's data protection: double opt-in with signed links sent through the outbox,
//! one-click unsubscribe (RFC 8058), no duplicates and no information leak on a second sign-up,
//! data-subject export and erasure; and an issue built by the real `newsletter-export`
//! component.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use verbund_tests::{Api, TestApp, run_cli};

struct Site {
    server: TestApp,
    admin: String,
    config: PathBuf,
    _tmp: tempfile::TempDir,
}

/// The demo with an admin token; `plugins` is where the demo finds its plugins.
fn site(plugins: Option<&str>) -> Site {
    let tmp = tempfile::tempdir().unwrap();
    let mut builder = TestApp::builder().demo().tokens(&["admin"]);
    if let Some(dir) = plugins {
        builder = builder.plugins_dir(dir);
    }
    let server = builder.start();
    Site {
        admin: server.token("admin").to_string(),
        server,
        config: tmp.path().join("config"),
        _tmp: tmp,
    }
}

impl Site {
    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let res = Api::of(&self.server).post(path, None, &body);
        (res.status, res.body)
    }

    fn admin_call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let res = Api::of(&self.server).call(method, path, Some(&self.admin), body.as_ref());
        (res.status, res.body)
    }

    fn subscribers(&self, email: &str) -> Vec<Value> {
        self.server.subscribers(&self.admin, email)
    }

    fn mails_to(&self, to: &str) -> Vec<String> {
        self.server.mails_to(to)
    }

    fn cli(&self, args: &[&str]) -> Output {
        run_cli(&self.config, &self.server.url, &self.admin, args, &[])
    }
}

/// The first link in a mail text that contains `part`.
fn link(mail: &str, part: &str) -> String {
    mail.split_whitespace()
        .find(|w| w.starts_with("http") && w.contains(part))
        .unwrap_or_else(|| panic!("no {part} link in: {mail}"))
        .to_string()
}

#[test]
fn double_opt_in_one_click_unsubscribe_and_no_duplicates() {
    let s = site(None);
    let email = "greta.lindner@example.org";
    let form = json!({
        "email": email,
        "name": "Greta Lindner",
        "topics": ["cloud"],
        "consent_text_version": "2026-01"
    });
    let (status, first) = s.post("/api/v1/newsletter/subscribe", form.clone());
    assert_eq!(status, 202, "{first}");
    let subs = s.subscribers(email);
    assert_eq!(subs.len(), 1);
    assert!(
        subs[0]["consent"].get("confirmed_at").is_none(),
        "not confirmed before the click"
    );
    assert_eq!(subs[0]["consent"]["text_version"], "2026-01");
    // Never public.
    assert_eq!(s.server.get("/api/v1/content/subscriber").status(), 404);

    let mails = s.mails_to(email);
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].starts_with("Bitte bestätigen Sie Ihre Anmeldung zum Newsletter\n"),
        "{}",
        mails[0]
    );
    // On the wire the German subject is RFC 2047 encoded, each encoded word within 75
    // characters, and no header line is longer than 78.
    let raw = std::fs::read_to_string(&s.server.mail_paths(email)[0]).unwrap();
    let (head, _) = raw.split_once("\r\n\r\n").unwrap();
    assert!(
        head.contains("=?utf-8?") || head.contains("=?UTF-8?"),
        "{head}"
    );
    for word in head.split_whitespace().filter(|w| w.starts_with("=?")) {
        assert!(word.len() <= 75, "encoded word too long: {word}");
    }
    assert!(head.lines().all(|l| l.len() <= 78), "{head}");
    let confirm = link(&mails[0], "/api/v1/newsletter/confirm");

    // A tampered link is refused with a clear message.
    let tampered = confirm.replace("token=", "token=x");
    let res = reqwest::blocking::Client::new()
        .get(&tampered)
        .header("accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().unwrap()["code"], "invalid_link");

    // GET only shows the button (link scanners must not confirm); the POST confirms.
    let page = reqwest::blocking::get(&confirm).unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().unwrap().contains("<form method=\"post\""));
    assert!(
        s.subscribers(email)[0]["consent"]
            .get("confirmed_at")
            .is_none()
    );
    let page = reqwest::blocking::Client::new()
        .post(&confirm)
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().unwrap().contains("Anmeldung bestätigt"));
    let confirmed = &s.subscribers(email)[0];
    assert!(
        confirmed["consent"]["confirmed_at"].is_string(),
        "{confirmed}"
    );
    let again = reqwest::blocking::Client::new()
        .post(&confirm)
        .send()
        .unwrap();
    assert_eq!(again.status(), 410, "a confirmation link works once");
    assert!(again.text().unwrap().contains("bereits verwendet"));

    // Signing up again: the same answer (nothing leaks), no duplicate; the address itself
    // learns that it is subscribed already, with an unsubscribe link.
    let (status, second) = s.post("/api/v1/newsletter/subscribe", form.clone());
    assert_eq!(status, 202);
    assert_eq!(second, first);
    let (status, _) = s.post(
        "/api/v1/newsletter/subscribe",
        json!({"email": email.to_uppercase(), "consent_text_version": "2026-01"}),
    );
    assert_eq!(status, 202);
    assert_eq!(s.subscribers(email).len(), 1, "no duplicate");
    let mails = s.mails_to(email);
    assert!(mails[1].contains("bereits"), "{}", mails[1]);

    // A malformed address: 422 naming the field; nothing stored.
    let (status, body) = s.post(
        "/api/v1/newsletter/subscribe",
        json!({"email": "kein-at-zeichen", "consent_text_version": "2026-01"}),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["pointer"], "/email");
    assert!(s.subscribers("kein-at-zeichen").is_empty());

    // One-click unsubscribe: GET only shows the button (link scanners must not unsubscribe);
    // the POST that mail programs send does it.
    let unsubscribe = link(&mails[1], "/api/v1/newsletter/unsubscribe");
    let page = reqwest::blocking::get(&unsubscribe)
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("<form method=\"post\""), "{page}");
    assert!(s.subscribers(email)[0].get("unsubscribed_at").is_none());
    let res = reqwest::blocking::Client::new()
        .post(&unsubscribe)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(s.subscribers(email)[0]["unsubscribed_at"].is_string());
}

#[test]
fn a_person_can_see_everything_stored_about_them_and_have_it_erased() {
    let s = site(None);
    let email = "anna.wendt@example.org";
    // Anna is also the contact person of a member.
    let (_, members) = s.admin_call(reqwest::Method::GET, "/api/v1/manage/member?limit=1", None);
    let member = &members["data"][0];
    let member_id = member["id"].as_str().unwrap().to_string();
    let res = reqwest::blocking::Client::new()
        .patch(format!("{}/api/v1/manage/member/{member_id}", s.server.url))
        .bearer_auth(&s.admin)
        .header("If-Match", format!("\"{}\"", member["version"]))
        .json(&json!({"contact_name": "Anna Wendt", "contact_email": email}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("auskunft.json");
    let out = s.cli(&[
        "gdpr",
        "export",
        "--email",
        email,
        "--out",
        &file.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let entries = export["entries"].as_array().unwrap();
    let sub = entries
        .iter()
        .find(|e| e["type"] == "subscriber")
        .expect("her subscription");
    assert_eq!(sub["current"]["email"], email);
    assert!(
        sub["current"]["consent"]["confirmed_at"].is_string(),
        "the consent record"
    );
    assert!(!sub["versions"].as_array().unwrap().is_empty());
    let m = entries
        .iter()
        .find(|e| e["type"] == "member")
        .expect("the member contact");
    assert_eq!(m["personal_fields"]["contact_name"], "Anna Wendt");
    assert!(
        m.get("current").is_none(),
        "only her personal fields, not the company's entry"
    );

    // Erase: confirmation needed off a terminal.
    let out = s.cli(&["gdpr", "erase", "--email", email]);
    assert_eq!(out.status.code(), Some(2));
    let out = s.cli(&["gdpr", "erase", "--email", email, "--yes", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["erasure"]["entries_deleted"], 1);
    assert_eq!(report["erasure"]["entries_cleaned"], 1);
    assert!(report["erasure"]["versions_cleaned"].as_u64().unwrap() >= 1);

    assert!(s.subscribers(email).is_empty());
    let sub_id = sub["id"].as_str().unwrap();
    let (status, _) = s.admin_call(
        reqwest::Method::GET,
        &format!("/api/v1/manage/subscriber/{sub_id}/revisions"),
        None,
    );
    assert_eq!(status, 404, "no revision of her subscription is left");
    let (_, revs) = s.admin_call(
        reqwest::Method::GET,
        &format!("/api/v1/manage/member/{member_id}/revisions"),
        None,
    );
    let text = revs.to_string();
    assert!(
        !text.contains(email) && !text.contains("Anna Wendt"),
        "{text}"
    );
    assert!(
        text.contains(member["name"].as_str().unwrap()),
        "the company stays"
    );
    let again = s.cli(&["gdpr", "export", "--email", email]);
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(again["entries"].as_array().unwrap().is_empty());
    // The audit log notes the erasure without personal data.
    let (_, audit) = s.admin_call(reqwest::Method::GET, "/api/v1/admin/audit?limit=1000", None);
    let audit_text = audit.to_string();
    assert!(audit_text.contains("gdpr.erase"));
    assert!(!audit_text.contains("anna.wendt") && !audit_text.contains("Wendt"));
}

fn plugins_dir() -> String {
    verbund_tests::plugins_dir_with("newsletter-export")
}

#[test]
fn an_issue_goes_to_confirmed_subscribers_only_each_with_a_working_unsubscribe_link() {
    let dir = plugins_dir();
    let s = site(Some(&dir));
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("ausgabe");
    let out = s.cli(&[
        "newsletter",
        "export",
        "--since",
        "2026-09-01",
        "--until",
        "2026-12-31",
        "--out",
        &out_dir.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("recipients"), "{printed}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();

    // The HTML and the text hold exactly the German stories published in the period: every
    // one of them, and none published before it, no draft, no translation.
    let html = std::fs::read_to_string(out_dir.join("newsletter.html")).unwrap();
    // The text is wrapped at 72 columns: compare with whitespace collapsed.
    let flat = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = flat(&std::fs::read_to_string(out_dir.join("newsletter.txt")).unwrap());
    let (_, stories) = s.admin_call(reqwest::Method::GET, "/api/v1/manage/story?limit=100", None);
    let escape = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for st in stories["data"].as_array().unwrap() {
        let title = st["title"].as_str().unwrap().to_string();
        let in_period = st["state"] == "published"
            && st["locale"] == "de"
            && st["published_at"]
                .as_str()
                .is_some_and(|p| p >= "2026-09-01");
        if in_period {
            inside.push(title);
        } else {
            outside.push(title);
        }
    }
    assert!(
        inside.len() >= 3 && !outside.is_empty(),
        "{inside:?} / {outside:?}"
    );
    assert_eq!(summary["stories"].as_u64().unwrap() as usize, inside.len());
    for t in &inside {
        assert!(html.contains(&escape(t)), "missing in the HTML: {t}");
        assert!(text.contains(&flat(t)), "missing in the text: {t}");
    }
    for t in &outside {
        assert!(!html.contains(&escape(t)), "must not be in the HTML: {t}");
        assert!(!text.contains(&flat(t)), "must not be in the text: {t}");
    }
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("<style"));
    // Upcoming events (from the day of the export) come with German dates and times.
    if summary["events"].as_u64().unwrap() > 0 {
        assert!(html.contains(" Uhr ("), "German event times");
    }

    // It renders well in a browser (headless Chromium, as tests/run installs it).
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    let status = std::process::Command::new("node")
        .arg("newsletter.mjs")
        .current_dir(&browser_dir)
        .env("NEWSLETTER_HTML", out_dir.join("newsletter.html"))
        .env("EXPECT", inside.join("|"))
        .env("SCREENSHOT_DIR", &shots)
        .status()
        .expect("node runs (install Node.js)");
    assert!(
        status.success(),
        "the newsletter does not render well; see above"
    );

    // Recipients: confirmed and not unsubscribed only (the demo has one unconfirmed and one
    // unsubscribed subscriber), each with a personal one-click link that works.
    let csv = std::fs::read_to_string(out_dir.join("recipients.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "email,name,unsubscribe_url");
    assert!(csv.contains("anna.wendt@example.org"));
    assert!(!csv.contains("k.oehme@example.org"), "unconfirmed");
    assert!(
        !csv.contains("friederike.sauer@example.org"),
        "unsubscribed"
    );
    assert_eq!(
        rows.len() - 1,
        summary["recipients"].as_u64().unwrap() as usize
    );
    let anna = rows.iter().find(|r| r.contains("anna.wendt")).unwrap();
    let link = anna.rsplit(',').next().unwrap().trim_matches('"');
    assert!(link.starts_with(&s.server.url), "{link}");
    let res = reqwest::blocking::Client::new()
        .post(link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(s.subscribers("anna.wendt@example.org")[0]["unsubscribed_at"].is_string());

    // The sample mail carries the RFC 8058 headers.
    let eml = std::fs::read_to_string(out_dir.join("sample.eml")).unwrap();
    assert!(eml.contains("List-Unsubscribe: <http"), "{eml}");
    assert!(eml.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    assert!(eml.contains("multipart/alternative"));
}

#[test]
fn an_english_issue_holds_the_english_stories_and_goes_to_english_subscribers_only() {
    let dir = plugins_dir();
    let s = site(Some(&dir));
    // An English reader signs up and confirms.
    let email = "oliver.grant@example.org";
    let (status, _) = s.post(
        "/api/v1/newsletter/subscribe",
        json!({"email": email, "consent_text_version": "2026-01", "locale": "en"}),
    );
    assert_eq!(status, 202);
    assert_eq!(s.subscribers(email)[0]["locale"], "en");
    let mails = s.mails_to(email);
    let confirm = link(&mails[0], "/api/v1/newsletter/confirm");
    let page = reqwest::blocking::Client::new()
        .post(&confirm)
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let (status, bad) = s.post(
        "/api/v1/newsletter/subscribe",
        json!({"email": "x@example.org", "consent_text_version": "2026-01", "locale": "english"}),
    );
    assert_eq!(status, 422, "{bad}");

    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("issue-en");
    let out = s.cli(&[
        "newsletter",
        "export",
        "--since",
        "2026-01-01",
        "--until",
        "2026-12-31",
        "--locale",
        "en",
        "--out",
        &out_dir.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(out_dir.join("newsletter.html")).unwrap();
    assert!(html.contains("lang=\"en\""));
    for en in verbund_tests::demo::published("story", "en") {
        let title = en["title"].as_str().unwrap().replace('&', "&amp;");
        assert!(
            html.contains(&title),
            "English story {title} is in the issue"
        );
    }
    for de in verbund_tests::demo::published("story", "de") {
        let title = de["title"].as_str().unwrap().replace('&', "&amp;");
        assert!(!html.contains(&title), "German story {title} is not");
    }
    assert!(html.contains("#/en/geschichten/retrofit-foundry-ore-mountains"));
    let csv = std::fs::read_to_string(out_dir.join("recipients.csv")).unwrap();
    assert!(csv.contains(email), "{csv}");
    assert!(
        !csv.contains("anna.wendt@example.org"),
        "a German subscriber gets the German issue: {csv}"
    );
}
