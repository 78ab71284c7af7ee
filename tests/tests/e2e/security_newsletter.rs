//! Security findings on the newsletter: links signed with the installation's keys (key id in
//! the token, expiry capped per purpose), one subscriber per address under concurrent
//! sign-ups, mails per address throttled, sign-ups that answer alike and never overwrite a
//! subscriber, and confirmation links that work once, only by POST, only for the newest request.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use verbund_tests::TestApp;

struct Site {
    server: TestApp,
    admin: String,
    data: PathBuf,
}

fn site() -> Site {
    let server = TestApp::builder().demo().tokens(&["admin"]).start();
    Site {
        admin: server.token("admin").to_string(),
        data: server.data.clone(),
        server,
    }
}

fn sign_up(url: &str, body: &Value) -> (u16, Value) {
    let res = reqwest::blocking::Client::new()
        .post(format!("{url}/api/v1/newsletter/subscribe"))
        .json(body)
        .send()
        .unwrap();
    let s = res.status().as_u16();
    (s, res.json().unwrap_or(Value::Null))
}

impl Site {
    fn subscribers(&self, email: &str) -> Vec<Value> {
        self.server.subscribers(&self.admin, email)
    }

    fn mail_paths(&self, to: &str) -> Vec<PathBuf> {
        self.server.mail_paths(to)
    }

    fn mails_to(&self, to: &str) -> Vec<String> {
        self.server.mails_to(to)
    }
}

fn link(mail: &str, part: &str) -> String {
    mail.split_whitespace()
        .find(|w| w.starts_with("http") && w.contains(part))
        .unwrap_or_else(|| panic!("no {part} link in: {mail}"))
        .to_string()
}

fn post(url: &str, accept_json: bool) -> (u16, String) {
    let mut req = reqwest::blocking::Client::new().post(url);
    if accept_json {
        req = req.header("accept", "application/json");
    }
    let res = req.send().unwrap();
    (res.status().as_u16(), res.text().unwrap())
}

#[test]
fn concurrent_sign_ups_for_one_address_store_one_subscriber_answer_alike_and_mail_once() {
    let s = site();
    let email = "jonas.weber@example.org";
    let url = s.server.url.clone();
    let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let url = url.clone();
                // Case and spaces differ: still one address.
                let address = if i % 2 == 0 {
                    email.to_string()
                } else {
                    format!(" {} ", email.to_uppercase())
                };
                scope.spawn(move || {
                    sign_up(
                        &url,
                        &json!({"email": address, "name": format!("Jonas {i}"), "consent_text_version": "2026-01"}),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = &answers[0];
    for a in &answers {
        assert_eq!(a.0, 202, "every sign-up gets the same 202: {}", a.1);
        assert_eq!(a.1, first.1, "identical answers, no versions, no 409");
    }
    assert_eq!(s.subscribers(email).len(), 1, "exactly one entry");

    // Rapid repeats: still the same answer, but mails stay bounded.
    for _ in 0..10 {
        let (status, body) = sign_up(
            &url,
            &json!({"email": email, "consent_text_version": "2026-01"}),
        );
        assert_eq!(status, 202);
        assert_eq!(body, first.1);
    }
    let mails = s.mails_to(email);
    assert_eq!(
        mails.len(),
        1,
        "one confirmation mail per 5 minutes: {mails:?}"
    );
    assert_eq!(s.subscribers(email).len(), 1);
}

#[test]
fn confirmation_links_are_signed_with_the_key_file_work_once_by_post_and_die_on_unsubscribe() {
    let s = site();
    let email = "lea.brandt@example.org";
    let (status, _) = sign_up(
        &s.server.url,
        &json!({"email": email, "name": "Lea Brandt", "topics": ["cloud"], "consent_text_version": "2026-01"}),
    );
    assert_eq!(status, 202);
    let confirm = link(&s.mails_to(email)[0], "/api/v1/newsletter/confirm");

    // Outbox: directory 0700, mails 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::fs::metadata(&s.server.outbox)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir & 0o777, 0o700, "outbox mode {dir:o}");
        let mail = std::fs::metadata(&s.mail_paths(email)[0])
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mail & 0o777, 0o600, "mail mode {mail:o}");
    }

    // The token carries the id of the installation key that signed it.
    let token = confirm.split("token=").nth(1).unwrap().to_string();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let keys = verbund_core::keys::Keys::load(&verbund_core::keys::Keys::path_in(&s.data)).unwrap();
    assert_eq!(parts[1], keys.current_id());

    // A token signed with the real key but claiming 30 days (confirmations live 7) is refused.
    let mut payload: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    payload["e"] = json!(chrono::Utc::now().timestamp() + 30 * 86_400);
    let bytes = serde_json::to_vec(&payload).unwrap();
    let (kid, tag) = keys.sign(verbund_core::keys::Purpose::NewsletterToken, &bytes);
    let forged = format!(
        "{}/api/v1/newsletter/confirm?token={}.{kid}.{}",
        s.server.url,
        B64.encode(&bytes),
        B64.encode(tag)
    );
    let (status, body) = post(&forged, true);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_link"), "{body}");
    // An unknown key id is refused too.
    let (status, _) = post(
        &confirm.replace(&format!(".{}.", parts[1]), ".k9-00000000."),
        true,
    );
    assert_eq!(status, 400);
    assert!(
        s.subscribers(email)[0]["consent"]
            .get("confirmed_at")
            .is_none()
    );

    // GET shows a button only; POST confirms; a second POST is refused clearly.
    let page = reqwest::blocking::get(&confirm).unwrap().text().unwrap();
    assert!(page.contains("<form method=\"post\""), "{page}");
    assert!(
        s.subscribers(email)[0]["consent"]
            .get("confirmed_at")
            .is_none()
    );
    let (status, body) = post(&confirm, true);
    assert_eq!(status, 200, "{body}");
    assert!(s.subscribers(email)[0]["consent"]["confirmed_at"].is_string());
    let (status, body) = post(&confirm, true);
    assert_eq!(status, 410, "{body}");
    assert!(body.contains("link_used"), "{body}");

    // An anonymous sign-up for the subscribed address changes nothing stored.
    let before = s.subscribers(email)[0].clone();
    let (status, _) = sign_up(
        &s.server.url,
        &json!({"email": email.to_uppercase(), "name": "Mallory", "topics": ["iot"], "consent_text_version": "1999-01"}),
    );
    assert_eq!(status, 202);
    let after = s.subscribers(email)[0].clone();
    assert_eq!(after["name"], "Lea Brandt");
    assert_eq!(after["topics"], json!(["cloud"]));
    assert_eq!(after["consent"], before["consent"]);

    // Unsubscribe (link from the note), then the old confirmation link must not re-subscribe.
    let mails = s.mails_to(email);
    assert!(mails[1].contains("bereits"), "{}", mails[1]);
    let unsubscribe = link(&mails[1], "/api/v1/newsletter/unsubscribe");
    let (status, _) = post(&unsubscribe, true);
    assert_eq!(status, 200);
    let (status, page) = post(&confirm, false);
    assert_eq!(status, 410);
    assert!(page.contains("bereits verwendet"), "{page}");
    let sub = &s.subscribers(email)[0];
    assert!(
        sub["unsubscribed_at"].is_string(),
        "still unsubscribed: {sub}"
    );

    // A sign-up while unsubscribed keeps the stored data as it is until confirmed.
    let (status, _) = sign_up(
        &s.server.url,
        &json!({"email": email, "name": "Mallory", "consent_text_version": "1999-01"}),
    );
    assert_eq!(status, 202);
    let sub = &s.subscribers(email)[0];
    assert_eq!(sub["name"], "Lea Brandt");
    assert_eq!(sub["consent"]["text_version"], "2026-01");
    assert!(sub["unsubscribed_at"].is_string());
}

#[test]
fn erasure_deletes_the_outbox_mails_to_the_address_whatever_its_case() {
    let s = site();
    let email = "Ida.Kraus@Example.org";
    let (status, _) = sign_up(
        &s.server.url,
        &json!({"email": email, "consent_text_version": "2026-01"}),
    );
    assert_eq!(status, 202);
    assert_eq!(s.mail_paths(email).len(), 1);
    let res = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/admin/gdpr/erase", s.server.url))
        .bearer_auth(&s.admin)
        .json(&json!({"email": " ida.kraus@example.org "}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().unwrap();
    assert_eq!(body["data"]["outbox_mails_deleted"], 1, "{body}");
    assert!(s.mail_paths(email).is_empty(), "no mail to her is left");
    assert!(s.subscribers(email).is_empty());
}
