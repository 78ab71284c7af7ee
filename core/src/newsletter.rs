//! Newsletter sign-up with double opt-in, confirmation and one-click unsubscribe (RFC 8058),
//! with signed, expiring tokens.
//!
//! - Tokens are `base64url(payload).base64url(HMAC-SHA256(secret, payload))`; the payload
//!   names the subscriber, the purpose (confirm or unsubscribe) and the expiry. The secret is
//!   32 random bytes kept in the data dir (so backups keep links working).
//! - A sign-up answers the same whatever the address's state, so that nobody learns through
//!   the form whether someone is subscribed; what differs is the mail to the address itself
//!   (a confirmation link, or a note that it is subscribed already).
//! - Mails go to an outbox directory as `.eml` files, for the mail service of the platform.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::content::{ContentError, ContentService, EntryRecord, NewEntry};
use crate::schema::FieldError;
use crate::store::{Expect, Tree, WriteBatch};

const SECRET_KEY: &[u8] = b"newsletter_secret";
/// The content type of subscribers.
pub const SUBSCRIBER: &str = "subscriber";
/// How long a confirmation link works.
pub const CONFIRM_VALID: Duration = Duration::days(7);
/// How long an unsubscribe link works (newsletters are kept for a long time).
pub const UNSUBSCRIBE_VALID: Duration = Duration::days(400);

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Purpose {
    #[serde(rename = "c")]
    Confirm,
    #[serde(rename = "u")]
    Unsubscribe,
}

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    /// The subscriber's id.
    s: String,
    p: Purpose,
    /// Expiry, seconds since the epoch.
    e: i64,
}

/// Errors of the newsletter operations.
#[derive(Debug, thiserror::Error)]
pub enum NewsletterError {
    #[error(
        "this link is not valid (it was changed or is incomplete); use the link from the e-mail exactly as it is"
    )]
    BadToken,
    #[error("this link has expired; sign up again to get a new one")]
    Expired,
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error("could not write the mail to the outbox {path}: {source}")]
    Outbox {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The newsletter secret of this data dir, created on first use.
fn secret(content: &ContentService) -> Result<Vec<u8>, ContentError> {
    let store = content.store();
    if let Some(s) = store.get(Tree::Meta, SECRET_KEY)? {
        return Ok(s);
    }
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh).map_err(|e| {
        ContentError::Corrupt(format!("no randomness for the newsletter secret: {e}"))
    })?;
    let mut b = WriteBatch::new();
    b.check(Tree::Meta, SECRET_KEY.to_vec(), Expect::Absent);
    b.put(Tree::Meta, SECRET_KEY.to_vec(), fresh.to_vec());
    // Two first uses at once: the loser reads the winner's secret.
    let _ = store.commit(b);
    Ok(store
        .get(Tree::Meta, SECRET_KEY)?
        .unwrap_or_else(|| fresh.to_vec()))
}

/// A signed token for `subscriber` and `purpose`, valid for `valid`.
pub fn token(
    content: &ContentService,
    subscriber: &str,
    purpose: Purpose,
    valid: Duration,
) -> Result<String, ContentError> {
    let payload = serde_json::to_vec(&Payload {
        s: subscriber.to_string(),
        p: purpose,
        e: (Utc::now() + valid).timestamp(),
    })
    .unwrap_or_default();
    let sig = hmac(&secret(content)?, &payload);
    Ok(format!("{}.{}", B64.encode(&payload), B64.encode(sig)))
}

/// The one-click unsubscribe token of a subscriber (also handed to plugins with a
/// personal-data grant, for the links in a newsletter).
pub fn unsubscribe_token(
    content: &ContentService,
    subscriber: &str,
) -> Result<String, ContentError> {
    token(content, subscriber, Purpose::Unsubscribe, UNSUBSCRIBE_VALID)
}

/// Checks a token and returns the subscriber it names.
pub fn verify(
    content: &ContentService,
    token: &str,
    purpose: Purpose,
) -> Result<String, NewsletterError> {
    let (p, s) = token
        .trim()
        .split_once('.')
        .ok_or(NewsletterError::BadToken)?;
    let payload = B64.decode(p).map_err(|_| NewsletterError::BadToken)?;
    let sig = B64.decode(s).map_err(|_| NewsletterError::BadToken)?;
    let want = hmac(&secret(content)?, &payload);
    // Constant-time comparison.
    if sig.len() != want.len()
        || sig
            .iter()
            .zip(want.iter())
            .fold(0u8, |a, (x, y)| a | (x ^ y))
            != 0
    {
        return Err(NewsletterError::BadToken);
    }
    let payload: Payload =
        serde_json::from_slice(&payload).map_err(|_| NewsletterError::BadToken)?;
    if payload.p != purpose {
        return Err(NewsletterError::BadToken);
    }
    if payload.e < Utc::now().timestamp() {
        return Err(NewsletterError::Expired);
    }
    Ok(payload.s)
}

/// A sign-up request from the public form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub topics: Option<Vec<String>>,
    /// The version of the consent text the person agreed to (e.g. `2026-01`).
    pub consent_text_version: String,
}

/// Where mails go and how links are built.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub outbox: PathBuf,
    /// The server's public base URL, e.g. `https://cms.example.org/`.
    pub public_url: String,
    pub from: String,
}

/// The subscriber with this address, if any (addresses compare case-insensitively).
pub fn find_by_email(
    content: &ContentService,
    email: &str,
) -> Result<Option<EntryRecord>, ContentError> {
    let want = email.trim().to_lowercase();
    let (found, _) = content.list_current_where(SUBSCRIBER, None, 1, |r| {
        r.data
            .get("email")
            .and_then(Value::as_str)
            .is_some_and(|e| e.to_lowercase() == want)
    })?;
    Ok(found.into_iter().next())
}

/// What a sign-up did (never shown to the requester beyond "check your mail").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignUpOutcome {
    /// A new subscriber; a confirmation mail was sent.
    Created,
    /// Not confirmed yet (or unsubscribed before): a new confirmation mail was sent.
    ConfirmationResent,
    /// Confirmed already: the address got a note, nothing changed.
    AlreadySubscribed,
}

fn link(settings: &MailSettings, path: &str, token: &str) -> String {
    format!(
        "{}/{path}?token={token}",
        settings.public_url.trim_end_matches('/')
    )
}

/// Handles a sign-up: creates or refreshes the subscriber and mails the address.
pub fn sign_up(
    content: &ContentService,
    settings: &MailSettings,
    req: SignUp,
) -> Result<SignUpOutcome, NewsletterError> {
    let email = req.email.trim().to_string();
    let now = Utc::now();
    let consent = json!({
        "requested_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "text_version": req.consent_text_version,
        "source": "website",
    });
    let (rec, outcome) = match find_by_email(content, &email)? {
        Some(existing) => {
            let confirmed = existing
                .data
                .get("consent")
                .and_then(|c| c.get("confirmed_at"))
                .is_some();
            let unsubscribed = existing.data.contains_key("unsubscribed_at");
            if confirmed && !unsubscribed {
                (existing, SignUpOutcome::AlreadySubscribed)
            } else {
                // A fresh request: new consent record, confirmation pending again.
                let mut data = existing.data.clone();
                data.insert("consent".into(), consent);
                if let Some(t) = &req.topics {
                    data.insert("topics".into(), json!(t));
                }
                if let Some(n) = &req.name {
                    data.insert("name".into(), json!(n));
                }
                let rec = content.update(
                    SUBSCRIBER,
                    &existing.id,
                    Some(existing.version),
                    Value::Object(data),
                    Some("newsletter"),
                )?;
                (rec, SignUpOutcome::ConfirmationResent)
            }
        }
        None => {
            let mut data = Map::new();
            data.insert("email".into(), json!(email));
            if let Some(n) = req.name.as_ref().filter(|n| !n.trim().is_empty()) {
                data.insert("name".into(), json!(n.trim()));
            }
            if let Some(t) = &req.topics {
                data.insert("topics".into(), json!(t));
            }
            data.insert("consent".into(), consent);
            let rec = content.create(
                SUBSCRIBER,
                NewEntry {
                    data: Value::Object(data),
                    ..NewEntry::default()
                },
                Some("newsletter"),
            )?;
            (rec, SignUpOutcome::Created)
        }
    };
    let (subject, body) = match outcome {
        SignUpOutcome::AlreadySubscribed => (
            "Sie sind bereits für unseren Newsletter angemeldet".to_string(),
            format!(
                "Guten Tag,\r\n\r\njemand hat diese Adresse soeben erneut für unseren Newsletter angemeldet. Sie sind bereits angemeldet; es ändert sich nichts.\r\n\r\nAbmelden können Sie sich jederzeit mit einem Klick:\r\n{}\r\n",
                link(
                    settings,
                    "api/v1/newsletter/unsubscribe",
                    &unsubscribe_token(content, &rec.id)?
                )
            ),
        ),
        _ => (
            "Bitte bestätigen Sie Ihre Anmeldung zum Newsletter".to_string(),
            format!(
                "Guten Tag,\r\n\r\nbitte bestätigen Sie Ihre Anmeldung zu unserem Newsletter mit einem Klick auf diesen Link (gültig für 7 Tage):\r\n{}\r\n\r\nWenn Sie sich nicht angemeldet haben, ignorieren Sie diese E-Mail einfach; Sie erhalten dann keine weiteren Nachrichten.\r\n",
                link(
                    settings,
                    "api/v1/newsletter/confirm",
                    &token(content, &rec.id, Purpose::Confirm, CONFIRM_VALID)?
                )
            ),
        ),
    };
    write_mail(settings, &email, &subject, &body, &rec.id)?;
    Ok(outcome)
}

/// Confirms a subscription (second opt-in). Confirming twice is fine.
pub fn confirm(content: &ContentService, token: &str) -> Result<EntryRecord, NewsletterError> {
    let id = verify(content, token, Purpose::Confirm)?;
    let rec = content.get(SUBSCRIBER, &id)?;
    let mut data = rec.data.clone();
    let mut changed = false;
    if let Some(c) = data.get_mut("consent").and_then(Value::as_object_mut)
        && !c.contains_key("confirmed_at")
    {
        c.insert(
            "confirmed_at".into(),
            json!(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        );
        changed = true;
    }
    if data.remove("unsubscribed_at").is_some() {
        changed = true;
    }
    if !changed {
        return Ok(rec);
    }
    Ok(content.update(
        SUBSCRIBER,
        &id,
        Some(rec.version),
        Value::Object(data),
        Some("newsletter"),
    )?)
}

/// Unsubscribes (one click). Unsubscribing twice is fine.
pub fn unsubscribe(content: &ContentService, token: &str) -> Result<EntryRecord, NewsletterError> {
    let id = verify(content, token, Purpose::Unsubscribe)?;
    let rec = content.get(SUBSCRIBER, &id)?;
    if rec.data.contains_key("unsubscribed_at") {
        return Ok(rec);
    }
    let mut data = rec.data.clone();
    data.insert(
        "unsubscribed_at".into(),
        json!(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    );
    Ok(content.update(
        SUBSCRIBER,
        &id,
        Some(rec.version),
        Value::Object(data),
        Some("newsletter"),
    )?)
}

/// RFC 2047 encoded-word for a header with non-ASCII text.
fn encode_header(text: &str) -> String {
    if text.is_ascii() {
        text.to_string()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(text)
        )
    }
}

fn write_mail(
    settings: &MailSettings,
    to: &str,
    subject: &str,
    body: &str,
    id: &str,
) -> Result<PathBuf, NewsletterError> {
    let outbox = &settings.outbox;
    let err = |source| NewsletterError::Outbox {
        path: outbox.clone(),
        source,
    };
    std::fs::create_dir_all(outbox).map_err(err)?;
    let now: DateTime<Utc> = Utc::now();
    let body64 = base64::engine::general_purpose::STANDARD.encode(body);
    let wrapped: Vec<&str> = body64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    let mail = format!(
        "From: {}\r\nTo: {to}\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <{}.{id}@verbund>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        settings.from,
        encode_header(subject),
        now.to_rfc2822(),
        now.timestamp_nanos_opt().unwrap_or_default(),
        wrapped.join("\r\n")
    );
    let path = outbox.join(format!("{}-{id}.eml", now.format("%Y%m%dT%H%M%S%.6f")));
    std::fs::write(&path, mail).map_err(err)?;
    Ok(path)
}

/// Reads the text of a mail written to the outbox (tests, the CLI).
pub fn mail_text(path: &Path) -> std::io::Result<String> {
    let raw = std::fs::read_to_string(path)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let subject = head
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or("")
        .to_string();
    let joined: String = body.split_whitespace().collect();
    let text = base64::engine::general_purpose::STANDARD
        .decode(joined)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    Ok(format!("{subject}\n{text}"))
}

/// Checks a sign-up before anything is stored: every problem with a pointer.
pub fn check_sign_up(content: &ContentService, req: &SignUp) -> Result<(), ContentError> {
    let mut probe = Map::new();
    probe.insert("email".into(), json!(req.email.trim()));
    if let Some(t) = &req.topics {
        probe.insert("topics".into(), json!(t));
    }
    if let Some(n) = req.name.as_ref().filter(|n| !n.trim().is_empty()) {
        probe.insert("name".into(), json!(n.trim()));
    }
    probe.insert(
        "consent".into(),
        json!({"requested_at": "2026-01-01T00:00:00Z", "text_version": req.consent_text_version, "source": "website"}),
    );
    let mut errors: Vec<FieldError> = content
        .content_type(SUBSCRIBER)?
        .validate(&Value::Object(probe));
    for e in &mut errors {
        if e.pointer == "/consent/text_version" {
            e.pointer = "/consent_text_version".into();
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ContentError::Invalid { errors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
