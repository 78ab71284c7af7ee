//! Newsletter sign-up with double opt-in, confirmation and one-click unsubscribe (RFC 8058),
//! with signed, expiring tokens.
//!
//! - Tokens are `base64url(payload).KEY_ID.base64url(MAC)`, the MAC made with the
//!   installation's keys ([`crate::keys`], `Purpose::NewsletterToken`) — never with anything
//!   stored in the store, so a backup cannot forge links. The key id lets a rotated key still
//!   verify links already sent. The payload names the subscriber, the purpose (confirm or
//!   unsubscribe), the expiry and, for a confirmation, the nonce of the pending request. On
//!   verify, an expiry further ahead than the purpose allows ([`CONFIRM_VALID`],
//!   [`UNSUBSCRIBE_VALID`]) is refused.
//! - Consent integrity: a sign-up never changes the stored name, topics or consent of an
//!   existing subscriber. It stores a *pending request* (`consent.pending`: nonce, time, text
//!   version, the name and topics asked for); the confirmation link names subscriber + nonce,
//!   and confirming applies exactly that request, once. A newer sign-up replaces the pending
//!   request (older links stop working); an unsubscribe drops it.
//! - One subscriber per address: a new subscriber's id is derived from the normalised address
//!   (keyed, see [`subscriber_id`]), so concurrent sign-ups for one address collide on the entry
//!   key in the create batch and exactly one entry is stored.
//! - A sign-up answers the same whatever the address's state or races (conflicts are retried
//!   inside), so that nobody learns through the form whether someone is subscribed; what differs
//!   is the mail to the address itself (a confirmation link, or a note that it is subscribed).
//! - Mails per address are throttled ([`MAIL_GAP`] per kind, [`MAILS_PER_DAY`]); beyond, the
//!   sign-up answers the same but sends nothing.
//! - Mails go through the mail queue ([`crate::mail`]), written in the commit of the sign-up:
//!   sent over SMTP, or written to an outbox directory (0700) as `.eml` files (0600).

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::content::{ContentError, ContentService, EntryRecord, NewEntry};
use crate::keys::Purpose as KeyPurpose;
use crate::schema::FieldError;
use crate::store::{Expect, StoreError, Tree, WriteBatch};

mod mail;
mod token;

use crate::mail::MailKind;
use mail::{confirmation_mail, link, queue_mail};
pub use mail::{mail_recipient, mail_text, split_mailbox};
pub use token::{Purpose, token, unsubscribe_token, verify};
use token::{confirm_token, now_text, verify_payload};

/// The content type of subscribers.
pub const SUBSCRIBER: &str = "subscriber";
/// How long a confirmation link works (and the most a confirmation token may claim).
pub const CONFIRM_VALID: Duration = Duration::days(7);
/// How long an unsubscribe link works (newsletters are kept for a long time).
pub const UNSUBSCRIBE_VALID: Duration = Duration::days(400);
/// The least time between two mails of one kind to one address.
pub const MAIL_GAP: Duration = Duration::minutes(5);
/// The most mails to one address per 24 hours.
pub const MAILS_PER_DAY: usize = 5;
/// How often a sign-up retries when a concurrent write got in between.
const SIGN_UP_ATTEMPTS: usize = 16;

/// Errors of the newsletter operations.
#[derive(Debug, thiserror::Error)]
pub enum NewsletterError {
    #[error(
        "this link is not valid (it was changed or is incomplete); use the link from the e-mail exactly as it is"
    )]
    BadToken,
    #[error("this link has expired; sign up again to get a new one")]
    Expired,
    #[error(
        "this confirmation link was used already, or replaced by a newer sign-up or an unsubscribe; sign up again to get a new one"
    )]
    Used,
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error("could not queue the mail: {0}")]
    Queue(#[from] crate::mail::MailError),
}

/// A newsletter sign-up from a website form. Unknown keys are refused (400 invalid_sign_up).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    /// The address (spaces around it are ignored).
    #[schemars(email, length(max = 254))]
    pub email: String,
    /// The person's name, optional; blank means none.
    #[serde(default)]
    #[schemars(length(max = 200))]
    pub name: Option<String>,
    /// Topics of interest; absent means all topics.
    #[serde(default)]
    #[schemars(schema_with = "topics_schema")]
    pub topics: Option<Vec<String>>,
    /// The version of the consent text the person agreed to.
    #[schemars(length(min = 1, max = 50), example = &"2026-01")]
    pub consent_text_version: String,
    /// The language of the issues the person receives (`de` when absent), e.g. `en`; set at
    /// the first sign-up.
    #[serde(default)]
    #[schemars(example = &"en", regex(pattern = r"^[a-z]{2}(-[A-Z]{2})?$"))]
    pub locale: Option<String>,
}

/// The topics of `schemas/common.json` (a component of the OpenAPI document), or null.
fn topics_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "anyOf": [{"$ref": "#/components/schemas/Common_topics"}, {"type": "null"}],
        "description": "Topics of interest; absent means all topics.",
    })
}

/// Where mails go and how links are built.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The server's public base URL, e.g. `https://cms.example.org/`.
    pub public_url: String,
    /// The mail queue's settings and the sender's bell.
    pub out: Arc<crate::mail::Outgoing>,
}

impl MailSettings {
    /// The outbox directory (written when there is no SMTP server).
    pub fn outbox(&self) -> &Path {
        &self.out.outbox
    }
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
            .is_some_and(|e| e.trim().to_lowercase() == want)
    })?;
    Ok(found.into_iter().next())
}

/// What a sign-up did (never shown to the requester beyond "check your mail").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignUpOutcome {
    /// A new subscriber; a confirmation mail was sent.
    Created,
    /// Not confirmed yet (or unsubscribed before): a new pending request, a new confirmation
    /// mail was sent.
    ConfirmationResent,
    /// Confirmed already: the address got a note, nothing changed.
    AlreadySubscribed,
    /// Too many mails to this address lately: nothing changed, nothing sent.
    Throttled,
}

/// The normalised form of an address: trimmed, lower-cased.
pub fn normalise(email: &str) -> String {
    email.trim().to_lowercase()
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The id a new subscriber with this address gets: 128 bits of a MAC of the normalised
/// address, written like a ULID. Concurrent sign-ups for one address therefore create the
/// same entry key, which the create batch checks absent, so only one of them is stored. Keyed
/// (not a bare hash), so that an id does not reveal the address to whoever guesses it; after a
/// key rotation new ids differ, which is harmless because a sign-up finds an existing
/// subscriber by address first.
pub fn subscriber_id(content: &ContentService, email: &str) -> String {
    let msg = [b"subscriber-id\0".as_slice(), normalise(email).as_bytes()].concat();
    let (_, tag) = content.keys().sign(KeyPurpose::NewsletterToken, &msg);
    let mut b = [0u8; 16];
    b.copy_from_slice(&tag[..16]);
    let v = u128::from_be_bytes(b);
    (0..26)
        .map(|i| {
            let shift = 125 - 5 * i;
            let digit = if i == 0 { v >> 125 } else { (v >> shift) & 31 };
            CROCKFORD[digit as usize] as char
        })
        .collect()
}

fn nonce() -> Result<String, ContentError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| ContentError::Corrupt(format!("no randomness for a nonce: {e}")))?;
    Ok(hex::encode(b))
}

/// The `meta` key holding the recent mail times of one address (by its subscriber id).
fn throttle_key(id: &str) -> Vec<u8> {
    format!("newsletter-mails\0{id}").into_bytes()
}

/// Removes the mail log of an address (erasure).
pub fn forget_mail_log(content: &ContentService, email: &str) -> Result<(), ContentError> {
    let mut b = WriteBatch::new();
    b.remove(Tree::Meta, throttle_key(&subscriber_id(content, email)));
    content.store().commit(b)?;
    Ok(())
}

/// Reserves a mail of `kind` to the address, or says no (too many lately). Atomic: concurrent
/// sign-ups cannot both pass.
fn reserve_mail(content: &ContentService, email: &str, kind: &str) -> Result<bool, ContentError> {
    let key = throttle_key(&subscriber_id(content, email));
    let store = content.store();
    for _ in 0..SIGN_UP_ATTEMPTS {
        let old = store.get(Tree::Meta, &key)?;
        let now = Utc::now().timestamp();
        let mut log: Vec<(i64, String)> = old
            .as_deref()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_default();
        log.retain(|(t, _)| *t > now - 86_400);
        if log.len() >= MAILS_PER_DAY
            || log
                .iter()
                .any(|(t, k)| k == kind && *t > now - MAIL_GAP.num_seconds())
        {
            return Ok(false);
        }
        log.push((now, kind.to_string()));
        let mut b = WriteBatch::new();
        b.check(
            Tree::Meta,
            key.clone(),
            old.map_or(Expect::Absent, Expect::Equals),
        );
        b.put(
            Tree::Meta,
            key.clone(),
            serde_json::to_vec(&log).unwrap_or_default(),
        );
        match store.commit(b) {
            Ok(_) => return Ok(true),
            Err(StoreError::CheckFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ContentError::Contended)
}

/// Whether an error is a concurrent write that a retry resolves.
fn is_race(e: &ContentError) -> bool {
    match e {
        ContentError::VersionConflict { .. } | ContentError::Contended => true,
        ContentError::Invalid { errors } => errors.iter().any(|e| e.pointer == "/id"),
        _ => false,
    }
}

fn pending_request(req: &SignUp, nonce: &str) -> Value {
    let mut p = Map::new();
    p.insert("nonce".into(), json!(nonce));
    p.insert("requested_at".into(), json!(now_text()));
    p.insert("text_version".into(), json!(req.consent_text_version));
    if let Some(n) = req
        .name
        .as_ref()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
    {
        p.insert("name".into(), json!(n));
    }
    if let Some(t) = &req.topics {
        p.insert("topics".into(), json!(t));
    }
    Value::Object(p)
}

/// Handles a sign-up: creates the subscriber or stores a pending request, and mails the
/// address. Concurrent writes are retried here; the caller always sees the same answer.
pub fn sign_up(
    content: &ContentService,
    settings: &MailSettings,
    req: SignUp,
) -> Result<SignUpOutcome, NewsletterError> {
    let email = req.email.trim().to_string();
    for _ in 0..SIGN_UP_ATTEMPTS {
        match sign_up_once(content, settings, &req, &email) {
            Err(NewsletterError::Content(e)) if is_race(&e) => continue,
            other => return other,
        }
    }
    // Still contended after all attempts: the caller gets the same answer as always (a
    // conflict must not tell anyone that the address is busy); the person can sign up again.
    tracing::warn!("newsletter sign-up gave up after {SIGN_UP_ATTEMPTS} concurrent writes");
    Ok(SignUpOutcome::Throttled)
}

fn sign_up_once(
    content: &ContentService,
    settings: &MailSettings,
    req: &SignUp,
    email: &str,
) -> Result<SignUpOutcome, NewsletterError> {
    let existing = find_by_email(content, email)?;
    let subscribed = existing.as_ref().is_some_and(|r| {
        r.data
            .get("consent")
            .and_then(|c| c.get("confirmed_at"))
            .is_some()
            && !r.data.contains_key("unsubscribed_at")
    });
    let kind = if subscribed { "note" } else { "confirm" };
    if !reserve_mail(content, email, kind)? {
        return Ok(SignUpOutcome::Throttled);
    }
    let outcome = match existing {
        Some(rec) if subscribed => {
            let mail = (
                "Sie sind bereits für unseren Newsletter angemeldet".to_string(),
                format!(
                    "Guten Tag,\r\n\r\njemand hat diese Adresse soeben erneut für unseren Newsletter angemeldet. Sie sind bereits angemeldet; es ändert sich nichts.\r\n\r\nAbmelden können Sie sich jederzeit mit einem Klick:\r\n{}\r\n",
                    link(
                        settings,
                        "api/v1/newsletter/unsubscribe",
                        &unsubscribe_token(content, &rec.id)?
                    )
                ),
            );
            // Nothing of the subscriber changes: the note is queued on its own.
            let mut b = WriteBatch::new();
            for (t, k, v) in queue_mail(MailKind::Note, email, &mail.0, &mail.1, &rec.id) {
                b.put(t, k, v);
            }
            content.store().commit(b).map_err(ContentError::from)?;
            SignUpOutcome::AlreadySubscribed
        }
        Some(rec) => {
            // Only the pending request changes; name, topics and the consent given stay
            // until the address owner confirms.
            let n = nonce()?;
            let mut data = rec.data.clone();
            let consent = data
                .entry("consent")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .ok_or_else(|| ContentError::Corrupt("consent is not an object".into()))?;
            consent.insert("pending".into(), pending_request(req, &n));
            // The mail is queued in the commit of the pending request: no request without
            // its mail, no mail of a request that was not stored.
            let mail = confirmation_mail(settings, &confirm_token(content, &rec.id, &n));
            content.update_also(
                SUBSCRIBER,
                &rec.id,
                Some(rec.version),
                Value::Object(data),
                Some("newsletter"),
                queue_mail(MailKind::Confirm, email, &mail.0, &mail.1, &rec.id),
            )?;
            SignUpOutcome::ConfirmationResent
        }
        None => {
            let n = nonce()?;
            let mut data = Map::new();
            data.insert("email".into(), json!(email));
            if let Some(n) = req.name.as_ref().filter(|n| !n.trim().is_empty()) {
                data.insert("name".into(), json!(n.trim()));
            }
            if let Some(t) = &req.topics {
                data.insert("topics".into(), json!(t));
            }
            data.insert(
                "consent".into(),
                json!({
                    "requested_at": now_text(),
                    "text_version": req.consent_text_version,
                    "source": "website",
                    "pending": pending_request(req, &n),
                }),
            );
            let id = subscriber_id(content, email);
            let mail = confirmation_mail(settings, &confirm_token(content, &id, &n));
            content.create_also(
                SUBSCRIBER,
                NewEntry {
                    id: Some(id.clone()),
                    locale: req.locale.clone(),
                    data: Value::Object(data),
                    ..NewEntry::default()
                },
                Some("newsletter"),
                queue_mail(MailKind::Confirm, email, &mail.0, &mail.1, &id),
            )?;
            SignUpOutcome::Created
        }
    };
    settings.out.wake.notify_one();
    Ok(outcome)
}

/// Checks a confirmation token without using it: `Ok` while it names the subscriber's
/// current pending request (for the page with the button).
pub fn check_confirm(content: &ContentService, token: &str) -> Result<(), NewsletterError> {
    let p = verify_payload(content, token, Purpose::Confirm)?;
    let rec = content.get(SUBSCRIBER, &p.s).map_err(|e| match e {
        ContentError::NotFound { .. } => NewsletterError::Used,
        e => e.into(),
    })?;
    pending_of(&rec, p.n.as_deref()).map(|_| ())
}

fn pending_of<'a>(
    rec: &'a EntryRecord,
    nonce: Option<&str>,
) -> Result<&'a Map<String, Value>, NewsletterError> {
    rec.data
        .get("consent")
        .and_then(|c| c.get("pending"))
        .and_then(Value::as_object)
        .filter(|p| p.get("nonce").and_then(Value::as_str) == nonce)
        .ok_or(NewsletterError::Used)
}

/// Confirms a subscription (second opt-in): applies exactly the pending request the token
/// names, once. A used, replaced or withdrawn request is refused ([`NewsletterError::Used`]).
pub fn confirm(content: &ContentService, token: &str) -> Result<EntryRecord, NewsletterError> {
    let p = verify_payload(content, token, Purpose::Confirm)?;
    change_subscriber(content, &p.s, |rec| {
        let pending = pending_of(rec, p.n.as_deref())?.clone();
        let mut data = rec.data.clone();
        data.insert(
            "consent".into(),
            json!({
                "requested_at": pending.get("requested_at").cloned().unwrap_or(json!(now_text())),
                "confirmed_at": now_text(),
                "text_version": pending.get("text_version").cloned().unwrap_or(json!("")),
                // The request confirmed came through the public form.
                "source": "website",
            }),
        );
        for field in ["name", "topics"] {
            if let Some(v) = pending.get(field) {
                data.insert(field.into(), v.clone());
            }
        }
        data.remove("unsubscribed_at");
        Ok(Some(data))
    })
    .map_err(|e| match e {
        NewsletterError::Content(ContentError::NotFound { .. }) => NewsletterError::Used,
        e => e,
    })
}

/// Unsubscribes (one click) and withdraws a pending request. Unsubscribing twice is fine.
pub fn unsubscribe(content: &ContentService, token: &str) -> Result<EntryRecord, NewsletterError> {
    let id = verify(content, token, Purpose::Unsubscribe)?;
    change_subscriber(content, &id, |rec| {
        let pending = rec
            .data
            .get("consent")
            .is_some_and(|c| c.get("pending").is_some());
        if rec.data.contains_key("unsubscribed_at") && !pending {
            return Ok(None);
        }
        let mut data = rec.data.clone();
        if let Some(c) = data.get_mut("consent").and_then(Value::as_object_mut) {
            c.remove("pending");
        }
        data.entry("unsubscribed_at")
            .or_insert_with(|| json!(now_text()));
        Ok(Some(data))
    })
}

/// Writes the data `change` makes of subscriber `id` (`None`: nothing to change), planned
/// again on the current version when another write got there first.
fn change_subscriber(
    content: &ContentService,
    id: &str,
    mut change: impl FnMut(&EntryRecord) -> Result<Option<Map<String, Value>>, NewsletterError>,
) -> Result<EntryRecord, NewsletterError> {
    for _ in 0..SIGN_UP_ATTEMPTS {
        let rec = content.get(SUBSCRIBER, id)?;
        let Some(data) = change(&rec)? else {
            return Ok(rec);
        };
        match content.update(
            SUBSCRIBER,
            id,
            Some(rec.version),
            Value::Object(data),
            Some("newsletter"),
        ) {
            Err(e) if is_race(&e) => continue,
            other => return Ok(other?),
        }
    }
    Err(ContentError::Contended.into())
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
    if let Some(l) = &req.locale
        && !crate::content::is_locale(l)
    {
        errors.push(FieldError::new(
            "/locale",
            format!("{l:?} is not a language like \"de\" or \"en\""),
        ));
    }
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
