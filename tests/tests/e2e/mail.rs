//! Mail that is really sent: sign-up confirmations and newsletter issues over SMTP to a real
//! server started by the test (aiosmtpd), with retries of temporary failures, permanent
//! failures recorded, an issue to 1,000 recipients exactly once each across a killed CLI and a
//! SIGKILLed server, headers parsed by Python's `email` module.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use verbund_core::mail::SmtpConfig;
use verbund_tests::{
    Api, SmtpServer, TestApp, TestServer, create_tokens, ok, plugins_dir_with, run_cli,
    verbund_bin, wait_until,
};

const FROM: &str = "Cluster IT Mitteldeutschland <newsletter@cluster-it.example>";

fn app_with(smtp: &SmtpServer) -> TestApp {
    let url = smtp.url();
    TestApp::builder()
        .demo()
        .tokens(&["admin"])
        .config(move |c| {
            c.mail.smtp = Some(SmtpConfig::parse(&url, None).expect("an SMTP URL"));
            c.mail.retries = vec![Duration::from_millis(300); 3];
            c.mail.from = FROM.into();
        })
        .start()
}

fn sign_up(api: &Api, email: &str) {
    let res = api.post(
        "/api/v1/newsletter/subscribe",
        None,
        &json!({"email": email, "name": "Jana Köhler", "consent_text_version": "2026-01"}),
    );
    assert_eq!(res.status, 202, "{}", res.body);
}

/// The mail record of the queue to `to` (the newest).
fn record(api: &Api, admin: &str, to: &str) -> Value {
    let res = api
        .get("/api/v1/admin/mail?limit=500", Some(admin))
        .expect(200);
    res.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["to"] == to)
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn a_sign_up_arrives_over_smtp_and_its_confirmation_link_works() {
    let smtp = SmtpServer::start(&[]);
    let app = app_with(&smtp);
    let api = Api::of(&app);
    let admin = app.token("admin");
    let email = "jana.koehler@example.org";
    sign_up(&api, email);
    assert!(
        wait_until(Duration::from_secs(10), || smtp.count() == 1),
        "the confirmation mail did not arrive at the SMTP server"
    );
    let mail = &smtp.mails_to(email)[0];
    assert_eq!(mail["envelope_to"], email);
    assert_eq!(mail["from"], FROM);
    assert!(
        mail["subject"]
            .as_str()
            .unwrap()
            .contains("Bitte bestätigen"),
        "{mail}"
    );
    assert_eq!(mail["to_name"], "", "the name is not confirmed yet");
    let text = mail["text"].as_str().unwrap();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/api/v1/newsletter/confirm?token="))
        .unwrap_or_else(|| panic!("no confirmation link in: {text}"));
    let res = reqwest::blocking::Client::new()
        .post(link)
        .header("accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().unwrap();
    assert_eq!(body["data"]["status"], "confirmed", "{body}");
    let sub = &app.subscribers(admin, email)[0];
    assert!(sub["consent"]["confirmed_at"].is_string(), "{sub}");

    // The queue recorded it as sent, with the server's reply; nobody sees the link there.
    let rec = record(&api, admin, email);
    assert_eq!(rec["state"], "sent", "{rec}");
    assert_eq!(rec["kind"], "confirm");
    assert!(
        rec["last_reply"].as_str().unwrap().starts_with("250"),
        "{rec}"
    );
    let listing = api.get("/api/v1/admin/mail", Some(admin)).expect(200);
    assert!(!listing.text.contains("token="), "{}", listing.text);
    assert!(
        listing.body["meta"]["transport"]
            .as_str()
            .unwrap()
            .starts_with("smtp://127.0.0.1:")
    );
    // Only admins see the queue.
    assert_eq!(api.get("/api/v1/admin/mail", None).status, 401);
}

#[test]
fn a_451_is_retried_a_550_is_recorded_and_the_cli_shows_both() {
    let smtp = SmtpServer::start(&["--tempfails", "2"]);
    let app = app_with(&smtp);
    let api = Api::of(&app);
    let admin = app.token("admin");
    let tmp = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| run_cli(tmp.path(), &app.url, admin, args, &[]);

    // Greylisted twice (451), accepted on the third attempt.
    sign_up(&api, "grau.liste@example.org");
    // Refused for good (550 at RCPT TO).
    sign_up(&api, "abgelehnt@example.org");
    assert!(wait_until(Duration::from_secs(15), || {
        record(&api, admin, "grau.liste@example.org")["state"] == "sent"
            && record(&api, admin, "abgelehnt@example.org")["state"] == "failed"
    }));
    let grey = record(&api, admin, "grau.liste@example.org");
    assert_eq!(grey["attempts"], 3, "{grey}");
    assert_eq!(
        smtp.mails_to("grau.liste@example.org").len(),
        1,
        "exactly once"
    );
    let refused = record(&api, admin, "abgelehnt@example.org");
    assert_eq!(refused["attempts"], 1, "a 5xx is not retried: {refused}");
    assert!(
        refused["last_reply"].as_str().unwrap().contains("550"),
        "{refused}"
    );
    assert!(smtp.mails_to("abgelehnt@example.org").is_empty());

    // `verbund mail queue` shows the failure with the server's words.
    let out = ok(&cli(&["mail", "queue", "--state", "failed"]));
    assert!(out.contains("abgelehnt@example.org"), "{out}");
    assert!(out.contains("550"), "{out}");
    assert!(out.contains("1 failed"), "{out}");
    assert!(!out.contains("grau.liste"), "{out}");
    // A retry is an admin's decision; it fails again here and says so.
    let id = refused["id"].as_str().unwrap();
    ok(&cli(&["mail", "retry", id]));
    assert!(wait_until(Duration::from_secs(10), || {
        record(&api, admin, "abgelehnt@example.org")["attempts"] == 2
            && record(&api, admin, "abgelehnt@example.org")["state"] == "failed"
    }));
    // A sent mail cannot be sent again.
    let again = cli(&["mail", "retry", grey["id"].as_str().unwrap()]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("only failed or unknown"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // `verbund mail test` waits for the answer.
    let out = ok(&cli(&["mail", "test", "redaktion@cluster-it.example"]));
    assert!(
        out.contains("sent to redaktion@cluster-it.example: 250"),
        "{out}"
    );
    let out = cli(&["mail", "test", "abgelehnt.test@cluster-it.example"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("550"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // GDPR: the export lists the mails to the address, the erasure removes them.
    let export = api
        .post(
            "/api/v1/admin/gdpr/export",
            Some(admin),
            &json!({"email": "grau.liste@example.org"}),
        )
        .expect(200);
    let mails = export.body["data"]["mails"].as_array().unwrap();
    assert_eq!(mails.len(), 1, "{}", export.body);
    assert_eq!(mails[0]["state"], "sent");
    let erased = api
        .post(
            "/api/v1/admin/gdpr/erase",
            Some(admin),
            &json!({"email": "Grau.Liste@example.org"}),
        )
        .expect(200);
    assert_eq!(
        erased.body["data"]["queued_mails_deleted"], 1,
        "{}",
        erased.body
    );
    assert_eq!(record(&api, admin, "grau.liste@example.org"), Value::Null);
}

#[test]
fn smtp_auth_works_and_the_password_never_shows() {
    let smtp = SmtpServer::start(&["--auth", "verbund:Geheim-123"]);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let tokens = create_tokens(&data, &["admin"]);
    let pw = tmp.path().join("smtp-password");
    std::fs::write(&pw, "Geheim-123\n").unwrap();
    let url = format!("smtp://verbund@127.0.0.1:{}", smtp.port);
    let server = TestServer::start(
        &data,
        &[
            "--smtp",
            &url,
            "--smtp-password-file",
            &pw.display().to_string(),
            "--mail-from",
            FROM,
        ],
    );
    let cfg = tmp.path().join("config");
    let out = ok(&run_cli(
        &cfg,
        &server.url,
        &tokens["admin"],
        &["mail", "test", "redaktion@cluster-it.example"],
        &[],
    ));
    assert!(out.contains("250"), "{out}");
    assert_eq!(smtp.mails_to("redaktion@cluster-it.example").len(), 1);
    let queue = ok(&run_cli(
        &cfg,
        &server.url,
        &tokens["admin"],
        &["mail", "queue", "--json"],
        &[],
    ));
    assert!(queue.contains("smtp://verbund@127.0.0.1"), "{queue}");
    assert!(!queue.contains("Geheim"), "{queue}");

    // A password in the URL is refused with what to do instead.
    let out = Command::new(verbund_bin())
        .args(["serve", "--data"])
        .arg(tmp.path().join("other"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--smtp",
            "smtp://u:Geheim@mail.example.org",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("VERBUND_SMTP_PASSWORD"), "{err}");
    assert!(
        !err.contains("Geheim"),
        "the password is not repeated: {err}"
    );
}

/// 1,000 confirmed subscribers, 15 unconfirmed, 15 unsubscribed, through the import API.
fn subscribers(url: &str, admin: &str) -> Vec<String> {
    let mut lines = String::new();
    let mut confirmed = Vec::new();
    for i in 0..1030 {
        let email = format!("empfaenger{i:04}@example.org");
        let mut consent = json!({
            "requested_at": "2026-10-01T08:00:00Z",
            "text_version": "2026-01",
            "source": "import"
        });
        let mut s =
            json!({"email": email, "name": format!("Empfänger {i}"), "consent": consent.clone()});
        match i {
            0..1000 => {
                consent["confirmed_at"] = json!("2026-10-01T09:00:00Z");
                confirmed.push(email);
            }
            1000..1015 => {}
            _ => {
                consent["confirmed_at"] = json!("2026-10-01T09:00:00Z");
                s["unsubscribed_at"] = json!("2026-10-20T09:00:00Z");
            }
        }
        s["consent"] = consent;
        lines.push_str(&s.to_string());
        lines.push('\n');
    }
    let res = reqwest::blocking::Client::new()
        .post(format!("{url}/api/v1/import/subscriber"))
        .bearer_auth(admin)
        .header("content-type", "application/x-ndjson")
        .body(lines)
        .timeout(Duration::from_secs(120))
        .send()
        .unwrap();
    let status = res.status();
    let body: Value = res.json().unwrap();
    assert!(status.is_success(), "{body}");
    confirmed
}

#[test]
fn an_issue_reaches_1000_recipients_exactly_once_across_a_killed_cli_and_a_sigkilled_server() {
    let smtp = SmtpServer::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let tokens = create_tokens(&data, &["admin"]);
    let admin = tokens["admin"].clone();
    let plugins = plugins_dir_with("newsletter-export");
    let smtp_url = smtp.url();
    // About 100 mails a second, so that the kills land half-way.
    let args = [
        "--demo",
        "--plugins-dir",
        plugins.as_str(),
        "--smtp",
        smtp_url.as_str(),
        "--mail-from",
        FROM,
        "--mail-rate",
        "6000",
    ];
    let server = TestServer::start(&data, &args);
    let confirmed = subscribers(&server.url, &admin);
    let cfg = tmp.path().join("config");
    let send = [
        "newsletter",
        "send",
        "--since",
        "2020-01-01",
        "--until",
        "2026-12-31",
    ];

    // A dry run says how many, and sends nothing.
    let out = ok(&run_cli(
        &cfg,
        &server.url,
        &admin,
        &[&send[..], &["--dry-run"]].concat(),
        &[],
    ));
    // The demo has confirmed German subscribers of its own besides the 1,000.
    let demo_recipients = {
        let n: u64 = out
            .split("items), ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{out}"));
        assert!(n >= 1000, "{out}");
        n - 1000
    };
    assert!(out.contains("dry run"), "{out}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(smtp.count(), 0, "a dry run sends nothing");

    // The CLI is killed (SIGKILL) while it follows the sending; the server goes on.
    let mut cli = Command::new(verbund_bin())
        .args(send)
        .env("VERBUND_CONFIG_DIR", &cfg)
        .env("VERBUND_URL", &server.url)
        .env("VERBUND_TOKEN", &admin)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(60), || smtp.count() >= 250));
    cli.kill().unwrap();
    let _ = cli.wait();

    // Then the server itself is killed half-way (SIGKILL), and started again.
    assert!(wait_until(Duration::from_secs(60), || smtp.count() >= 500));
    let mut server = server;
    server.child.kill().unwrap();
    let _ = server.child.wait();
    let at_kill = smtp.count();
    assert!(
        at_kill < 1000 + demo_recipients as usize,
        "killed too late: {at_kill}"
    );
    let server = TestServer::start(&data, &args);

    // The same command again resumes: it queues nobody twice and reports at the end.
    let out = run_cli(&cfg, &server.url, &admin, &send, &[]);
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(printed.contains("queued 0 mails now"), "{printed}");
    assert!(printed.contains("done: "), "{printed}");

    let mails = smtp.mails();
    let mut per: HashMap<String, usize> = HashMap::new();
    for m in &mails {
        *per.entry(m["to"].as_str().unwrap().to_string())
            .or_default() += 1;
        // Every mail parses, with a valid RFC 8058 pair and its own link.
        assert_eq!(m["rfc8058"], true, "{m}");
        assert!(
            m["list_id"]
                .as_str()
                .unwrap()
                .contains("<newsletter.cluster-it.example>"),
            "{m}"
        );
        assert_eq!(m["has_html"], true, "{m}");
        assert_eq!(m["html_has_link"], true, "{m}");
        assert!(
            m["text"]
                .as_str()
                .unwrap()
                .contains(m["unsubscribe_url"].as_str().unwrap()),
            "{m}"
        );
    }
    let twice: Vec<_> = per.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "mailed twice: {twice:?}");
    let ids: std::collections::HashSet<_> = mails.iter().map(|m| m["message_id"].clone()).collect();
    assert_eq!(ids.len(), mails.len(), "Message-IDs are unique");
    // Unconfirmed and unsubscribed addresses get nothing.
    for i in 1000..1030 {
        assert!(!per.contains_key(&format!("empfaenger{i:04}@example.org")));
    }
    // Every confirmed recipient got it exactly once, except the mails a SIGKILL cut off
    // mid-conversation: their fate is unknown, so they are not sent again on their own
    // (listed for an admin to decide), at most one per SMTP connection.
    let queue = Api::at(&server.url)
        .get("/api/v1/admin/mail?state=unknown&limit=500", Some(&admin))
        .expect(200);
    let unknown: Vec<String> = queue.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["to"].as_str().unwrap().to_string())
        .collect();
    assert!(unknown.len() <= 4, "{unknown:?}");
    eprintln!(
        "{} mails arrived ({at_kill} before the server was killed), {} unknown",
        mails.len(),
        unknown.len()
    );
    for e in &confirmed {
        assert!(
            per.get(e) == Some(&1) || unknown.contains(e),
            "{e} got {:?} mails",
            per.get(e)
        );
    }
    assert!(
        per.len() + unknown.iter().filter(|u| !per.contains_key(*u)).count()
            == 1000 + demo_recipients as usize,
        "{} received, {} unknown",
        per.len(),
        unknown.len()
    );

    // A recipient's own link unsubscribes them in one click (RFC 8058 POST). (The restarted
    // server listens on another port; its public URL would be fixed in production.)
    let m = &mails[0];
    let link = m["unsubscribe_url"].as_str().unwrap();
    let path = &link[link.find("/api/").unwrap()..];
    let res = reqwest::blocking::Client::new()
        .post(format!("{}{path}", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
}
