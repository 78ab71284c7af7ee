//! Newsletter link tokens: `base64url(payload).KEY_ID.base64url(MAC)`, made and verified with
//! the installation's keys (see the module documentation of `newsletter`).

use super::*;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Purpose {
    #[serde(rename = "c")]
    Confirm,
    #[serde(rename = "u")]
    Unsubscribe,
}

impl Purpose {
    /// The longest validity a token of this purpose may have.
    fn max_valid(self) -> Duration {
        match self {
            Purpose::Confirm => CONFIRM_VALID,
            Purpose::Unsubscribe => UNSUBSCRIBE_VALID,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Payload {
    /// The subscriber's id.
    pub(super) s: String,
    p: Purpose,
    /// Expiry, seconds since the epoch.
    e: i64,
    /// The nonce of the pending request a confirmation applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) n: Option<String>,
}

pub(super) fn now_text() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(super) fn sign(content: &ContentService, payload: &Payload) -> String {
    let bytes = serde_json::to_vec(payload).unwrap_or_default();
    let (kid, tag) = content.keys().sign(KeyPurpose::NewsletterToken, &bytes);
    format!("{}.{kid}.{}", B64.encode(&bytes), B64.encode(tag))
}

/// A signed token for `subscriber` and `purpose`, valid for `valid` (at most what the purpose
/// allows).
pub fn token(
    content: &ContentService,
    subscriber: &str,
    purpose: Purpose,
    valid: Duration,
) -> Result<String, ContentError> {
    Ok(sign(
        content,
        &Payload {
            s: subscriber.to_string(),
            p: purpose,
            e: (Utc::now() + valid.min(purpose.max_valid())).timestamp(),
            n: None,
        },
    ))
}

pub(super) fn confirm_token(content: &ContentService, subscriber: &str, nonce: &str) -> String {
    sign(
        content,
        &Payload {
            s: subscriber.to_string(),
            p: Purpose::Confirm,
            e: (Utc::now() + CONFIRM_VALID).timestamp(),
            n: Some(nonce.to_string()),
        },
    )
}

/// The one-click unsubscribe token of a subscriber (also handed to plugins with a
/// personal-data grant, for the links in a newsletter).
pub fn unsubscribe_token(
    content: &ContentService,
    subscriber: &str,
) -> Result<String, ContentError> {
    token(content, subscriber, Purpose::Unsubscribe, UNSUBSCRIBE_VALID)
}

pub(super) fn verify_payload(
    content: &ContentService,
    token: &str,
    purpose: Purpose,
) -> Result<Payload, NewsletterError> {
    let mut parts = token.trim().split('.');
    let (Some(p), Some(kid), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(NewsletterError::BadToken);
    };
    let payload = B64.decode(p).map_err(|_| NewsletterError::BadToken)?;
    let tag = B64.decode(s).map_err(|_| NewsletterError::BadToken)?;
    if !content
        .keys()
        .verify(kid, KeyPurpose::NewsletterToken, &payload, &tag)
    {
        return Err(NewsletterError::BadToken);
    }
    let payload: Payload =
        serde_json::from_slice(&payload).map_err(|_| NewsletterError::BadToken)?;
    if payload.p != purpose {
        return Err(NewsletterError::BadToken);
    }
    let now = Utc::now().timestamp();
    // A token claiming more time than its purpose allows was not made by this code.
    if payload.e > now + purpose.max_valid().num_seconds() {
        return Err(NewsletterError::BadToken);
    }
    if payload.e < now {
        return Err(NewsletterError::Expired);
    }
    if purpose == Purpose::Confirm && payload.n.is_none() {
        return Err(NewsletterError::BadToken);
    }
    Ok(payload)
}

/// Checks a token and returns the subscriber it names.
pub fn verify(
    content: &ContentService,
    token: &str,
    purpose: Purpose,
) -> Result<String, NewsletterError> {
    Ok(verify_payload(content, token, purpose)?.s)
}
